// The Node.js side of the two-service benchmark: the back process, the same
// logic as bench/apps/two-services/back.js behind an HTTP/JSON endpoint.
"use strict";
const http = require("node:http");

const port = Number(process.argv[2] || 8082);
const host = process.argv[3] || "127.0.0.1";

function greet({ name }) {
  return { hello: name, from: "back" };
}

http
  .createServer((req, res) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => (data += chunk));
    req.on("end", () => {
      const text = JSON.stringify(greet(JSON.parse(data)));
      res.writeHead(200, { "content-type": "application/json" });
      res.end(text);
    });
  })
  .listen(port, host, () => console.error(`node two-back listening on http://${host}:${port}`));
