// The "pyrosome" module for Node.js: `services` calls other service
// processes over HTTP/1.1 keep-alive with tagged JSON bodies; `store(name)`
// is the store API on Redis (redis-store.mjs). Semantics follow
// src/engine/js/bootstrap.js.
import http from "node:http";
import { state } from "./runtime.mjs";
import { encode, decode } from "./value.mjs";

const agent = new http.Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 256, noDelay: true });

function remoteError(e, service, method) {
  const ctors = { Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError };
  const Ctor = ctors[e.name] || Error;
  const err = new Ctor(e.message);
  const define = (name, value) =>
    Object.defineProperty(err, name, { value, writable: true, configurable: true, enumerable: false });
  if (!(e.name in ctors)) define("name", e.name);
  define("service", e.service ?? service);
  define("method", e.method ?? method);
  if (e.stack) define("remoteStack", e.stack);
  return err;
}

function call(service, method, arg) {
  const target = state.directory?.[service];
  if (target === undefined) {
    return Promise.reject(new Error(`service "${service}" is not up (no address known yet)`));
  }
  const body = Buffer.from(encode(arg)); // throws TypeError at the call site, as in Pyrosome
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: "127.0.0.1",
        port: target.port,
        method: "POST",
        path: `/${method}`,
        headers: { "content-type": "application/json", "content-length": body.length },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => {
          const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
          try {
            if (res.statusCode === 200) resolve(decode(buf));
            else reject(remoteError(JSON.parse(buf.toString("utf8")), service, method));
          } catch (e) {
            reject(e);
          }
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const probes = new Set(["then", "toJSON", "constructor", "inspect", "valueOf", "toString"]);

function serviceProxy(service) {
  const fns = new Map();
  return new Proxy(Object.create(null), {
    get(_, name) {
      if (typeof name !== "string") return undefined;
      let fn = fns.get(name);
      if (fn) return fn;
      const methods = state.directory?.[service]?.methods;
      if (methods !== undefined && !methods.includes(name)) {
        if (probes.has(name)) return undefined;
        throw new TypeError(`service "${service}" has no method "${name}" (its methods: ${methods.join(", ") || "none"})`);
      }
      fn = (arg) => call(service, name, arg);
      if (methods !== undefined) fns.set(name, fn);
      return fn;
    },
  });
}

const proxies = new Map();

export const services = new Proxy(Object.create(null), {
  get(_, name) {
    if (typeof name !== "string") return undefined;
    let proxy = proxies.get(name);
    if (proxy) return proxy;
    const known = Object.keys(state.manifest?.services ?? {});
    if (!known.includes(name)) {
      if (probes.has(name)) return undefined;
      throw new TypeError(`unknown service "${name}" (services of this app: ${known.join(", ")})`);
    }
    proxy = serviceProxy(name);
    proxies.set(name, proxy);
    return proxy;
  },
  has: (_, name) => typeof name === "string" && name in (state.manifest?.services ?? {}),
  ownKeys: () => Object.keys(state.manifest?.services ?? {}),
});

const handles = new Map();

export function store(name) {
  if (typeof name !== "string") throw new TypeError("store(name) takes the store's name as a string");
  let handle = handles.get(name);
  if (handle === undefined) {
    const { stores, services: svcs } = state.manifest;
    if (!(name in stores)) {
      throw new TypeError(`unknown store "${name}" (stores of this app: ${Object.keys(stores).join(", ")})`);
    }
    const access = svcs[state.self].grants[name];
    if (access === undefined) {
      throw new TypeError(`store "${name}" is not granted to service "${state.self}" (pyrosome.toml)`);
    }
    handle = state.storeHost.handle(name, access === "read-write");
    handles.set(name, handle);
  }
  return handle;
}

// The service's `env`: the manifest's [vars] (app, then the service's own)
// and its declared secrets from the environment, as in Pyrosome.
function deepFreeze(o) {
  if (o !== null && typeof o === "object") {
    for (const k of Object.keys(o)) deepFreeze(o[k]);
    Object.freeze(o);
  }
  return o;
}
function makeEnv() {
  const manifest = state.manifest ?? {};
  const spec = manifest.services?.[state.self] ?? {};
  const out = { ...(manifest.vars ?? {}), ...(spec.vars ?? {}) };
  for (const name of [...(manifest.secrets ?? []), ...(spec.secrets ?? [])]) {
    const value = process.env[name];
    if (value === undefined) throw new Error(`missing secret "${name}": set the environment variable ${name}`);
    out[name] = value;
  }
  return deepFreeze(out);
}
export const env = makeEnv();

export default { services, store, env };
