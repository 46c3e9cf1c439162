// One service of a Pyrosome app as one Node.js process (started by
// cluster.mjs with `--import register.mjs` and an IPC channel):
//   - methods: POST /<method> with a tagged-JSON argument on 127.0.0.1:<ephemeral>;
//     200 + tagged-JSON result, or 500 + {name, message, stack};
//   - a service with routes also serves the public HTTP port: each request
//     becomes a WHATWG Request for the module's fetch handler (+ /healthz).
// Usage (normally by cluster.mjs): node --import ./register.mjs service.mjs
//        --app DIR --service NAME --redis HOST:PORT [--listen HOST:PORT]
//        [--memcached HOST:PORT --memcached-stores a,b,...]
import http from "node:http";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { readManifest } from "./toml.mjs";
import { Redis } from "./resp.mjs";
import { StoreHost } from "./redis-store.mjs";
import { Memcached, MemcachedStoreHost } from "./memcached-store.mjs";
import { state } from "./runtime.mjs";
import { encode, decode } from "./value.mjs";

const { values: args } = parseArgs({
  options: {
    app: { type: "string" },
    service: { type: "string" },
    redis: { type: "string", default: "127.0.0.1:6379" },
    listen: { type: "string" },
    memcached: { type: "string" },
    "memcached-stores": { type: "string", default: "" },
  },
});

const KEEPALIVE_MS = 120_000;

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

function send(res, status, headers, body) {
  res.writeHead(status, { ...headers, "content-length": body.length });
  res.end(body);
}

async function main() {
  const manifest = await readManifest(args.app);
  const spec = manifest.services[args.service];
  if (!spec) throw new Error(`no service "${args.service}" in ${args.app}/pyrosome.toml`);
  const [rhost, rport] = args.redis.split(":");
  const redis = await new Redis({ host: rhost, port: Number(rport) }).connect();
  let storeHost = new StoreHost(redis);
  await storeHost.init();
  // The stores on Memcached (its Memcached tiers), if any; the others on Redis.
  const onMemcached = new Set(args["memcached-stores"].split(",").filter((s) => s !== ""));
  const granted = Object.keys(spec.grants).filter((s) => onMemcached.has(s));
  if (args.memcached && granted.length > 0) {
    const [mhost, mport] = args.memcached.split(":");
    const mc = new MemcachedStoreHost(await new Memcached({ host: mhost, port: Number(mport) }).connect());
    const redisHost = storeHost;
    storeHost = { handle: (name, writable) => (onMemcached.has(name) ? mc : redisHost).handle(name, writable) };
  }
  Object.assign(state, { self: args.service, manifest, storeHost });

  const mod = await import(pathToFileURL(join(args.app, spec.module)).href);
  const methods = Object.keys(mod).filter((k) => k !== "default" && typeof mod[k] === "function");

  // The method server.
  const server = http.createServer(async (req, res) => {
    const method = req.url.slice(1);
    let body;
    try {
      body = await readBody(req);
      const fn = methods.includes(method) ? mod[method] : undefined;
      if (fn === undefined) throw new TypeError(`service "${args.service}" has no method "${method}"`);
      const result = await fn(decode(body));
      send(res, 200, { "content-type": "application/json" }, Buffer.from(encode(result)));
    } catch (e) {
      const err = {
        name: e?.name ?? "Error",
        message: e?.message !== undefined ? String(e.message) : String(e),
        stack: e?.stack,
        service: e?.service ?? args.service,
        method: e?.method ?? method,
      };
      send(res, 500, { "content-type": "application/json" }, Buffer.from(JSON.stringify(err)));
    }
  });
  server.keepAliveTimeout = KEEPALIVE_MS;
  server.headersTimeout = KEEPALIVE_MS + 1000;
  await new Promise((r) => server.listen(0, "127.0.0.1", r));

  process.on("message", async (msg) => {
    if (msg?.type !== "directory") return;
    state.directory = msg.directory;
    if (spec.routes.length > 0 && args.listen) await serveHttp(mod, spec.routes);
    process.send({ type: "serving", name: args.service });
  });
  process.send({ type: "ready", name: args.service, port: server.address().port, methods });
}

// The public HTTP front door for the module's fetch handler.
async function serveHttp(mod, routes) {
  const handler = mod.default;
  if (!handler || typeof handler.fetch !== "function") {
    throw new TypeError(`service "${args.service}" has routes but no fetch handler`);
  }
  const ctx = Object.freeze({ waitUntil() {}, passThroughOnException() {} });
  const [host, port] = args.listen.split(":");
  const server = http.createServer(async (req, res) => {
    try {
      const path = req.url.split("?")[0];
      if (path === "/healthz") return send(res, 200, { "content-type": "text/plain" }, Buffer.from("ok\n"));
      if (!routes.some((r) => path.startsWith(r))) {
        return send(res, 404, { "content-type": "text/plain" }, Buffer.from("not found\n"));
      }
      const body = await readBody(req);
      const headers = new Headers();
      for (let i = 0; i < req.rawHeaders.length; i += 2) headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
      const init = { method: req.method, headers };
      if (body.length > 0 && req.method !== "GET" && req.method !== "HEAD") init.body = body;
      const request = new Request(`http://${req.headers.host ?? args.listen}${req.url}`, init);
      const response = await handler.fetch(request, Object.freeze({}), ctx);
      if (!(response instanceof Response)) throw new TypeError("the fetch handler must return a Response");
      const out = {};
      for (const [k, v] of response.headers) if (k !== "set-cookie") out[k] = v;
      const cookies = response.headers.getSetCookie();
      if (cookies.length > 0) out["set-cookie"] = cookies;
      send(res, response.status, out, Buffer.from(await response.arrayBuffer()));
    } catch (e) {
      console.error(`${args.service}: fetch failed: ${e?.stack ?? e}`);
      if (!res.headersSent) send(res, 500, { "content-type": "text/plain" }, Buffer.from("Internal Server Error\n"));
    }
  });
  server.keepAliveTimeout = KEEPALIVE_MS;
  server.headersTimeout = KEEPALIVE_MS + 1000;
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(port), host, resolve);
  });
}

// Exit with the cluster: its IPC channel closes when it dies, even by SIGKILL.
process.on("disconnect", () => process.exit(0));
process.on("SIGTERM", () => process.exit(0)); // a normal exit (e.g. --cpu-prof writes its profile)

main().catch((e) => {
  console.error(`${args.service}: ${e?.stack ?? e}`);
  process.exit(1);
});
