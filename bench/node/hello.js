// The Node.js side of bench/http-hello.sh: the standard `http` hello world,
// one process (Node runs JavaScript on one thread).
"use strict";
const http = require("node:http");

const port = Number(process.argv[2] || 8081);
const host = process.argv[3] || "127.0.0.1";

http
  .createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.end("Hello, world!\n");
  })
  .listen(port, host, () => {
    console.error(`node hello listening on http://${host}:${port}`);
  });
