// The Node.js side of the two-service benchmark (bench/http-hello.sh,
// WORKLOAD=two): the front process. For every request it calls the back
// process over HTTP/JSON on a keep-alive connection pool, the standard way
// two Node microservices talk, and answers with what back returned.
"use strict";
const http = require("node:http");

const port = Number(process.argv[2] || 8081);
const host = process.argv[3] || "127.0.0.1";
const backPort = Number(process.argv[4] || 8082);
const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
const body = JSON.stringify({ name: "world" });

function callBack() {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host, port: backPort, path: "/greet", method: "POST", agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        let data = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (data += chunk));
        res.on("end", () => {
          try { resolve(JSON.parse(data)); } catch (e) { reject(e); }
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

http
  .createServer(async (req, res) => {
    try {
      const greeting = await callBack();
      const text = JSON.stringify(greeting);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(text);
    } catch (e) {
      res.writeHead(500);
      res.end(String(e));
    }
  })
  .listen(port, host, () => console.error(`node two-front listening on http://${host}:${port}`));
