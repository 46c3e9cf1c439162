// Starts a Pyrosome app the standard way: one Node.js process per service
// (service.mjs), calling each other over HTTP/1.1 keep-alive, storing in
// Redis. Stops them all when it is stopped (SIGINT/SIGTERM) or when any of
// them dies.
//
//   node bench/socialnetwork/node/cluster.mjs --app examples/socialnetwork \
//        --listen 127.0.0.1:8080 --redis 127.0.0.1:6379
//
// --memcached HOST:PORT --memcached-stores a,b,...: those stores (an app's
// Memcached tiers) live in that Memcached server instead of Redis
// (memcached-store.mjs); every other store stays on Redis.
import { fork } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { readManifest } from "./toml.mjs";

const { values: args } = parseArgs({
  options: {
    app: { type: "string" },
    listen: { type: "string", default: "127.0.0.1:8080" },
    redis: { type: "string", default: "127.0.0.1:6379" },
    memcached: { type: "string" },
    "memcached-stores": { type: "string", default: "" },
  },
});
if (!args.app) {
  console.error("usage: cluster.mjs --app DIR [--listen HOST:PORT] [--redis HOST:PORT]");
  process.exit(2);
}
const app = resolve(args.app);
const here = fileURLToPath(new URL(".", import.meta.url));
const manifest = await readManifest(app);
const names = Object.keys(manifest.services);
const children = new Map();
let stopping = false;

function stopAll(code) {
  stopping = true;
  for (const c of children.values()) c.kill("SIGTERM");
  setTimeout(() => process.exit(code), 200).unref();
  if ([...children.values()].every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(code);
}
process.on("SIGINT", () => stopAll(0));
process.on("SIGTERM", () => stopAll(0));
process.on("exit", () => {
  for (const c of children.values()) if (c.exitCode === null) c.kill("SIGKILL");
});

const ready = new Map();
const directory = {};
await new Promise((resolveAll, reject) => {
  for (const name of names) {
    const child = fork(
      resolve(here, "service.mjs"),
      [
        "--app", app, "--service", name, "--redis", args.redis, "--listen", args.listen,
        ...(args.memcached ? ["--memcached", args.memcached, "--memcached-stores", args["memcached-stores"]] : []),
      ],
      {
        execArgv: [...process.execArgv, "--import", pathToFileURL(resolve(here, "register.mjs")).href],
        env: { ...process.env, PYROSOME_APP_URL: pathToFileURL(app + "/").href },
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      },
    );
    children.set(name, child);
    child.on("exit", (code, signal) => {
      if (stopping) return;
      console.error(`service ${name} exited (${signal ?? code}); stopping the others`);
      reject(new Error(`service ${name} exited`));
      stopAll(1);
    });
    child.on("message", (msg) => {
      if (msg?.type === "ready") {
        ready.set(name, msg);
        directory[name] = { port: msg.port, methods: msg.methods };
        if (ready.size === names.length) {
          for (const c of children.values()) c.send({ type: "directory", directory });
        }
      } else if (msg?.type === "serving") {
        ready.get(name).serving = true;
        if ([...ready.values()].every((m) => m.serving)) resolveAll();
      }
    });
  }
});
console.log(
  `${manifest.name} on Node.js: ${names.length} processes, http://${args.listen}/ (redis ${args.redis}` +
    (args.memcached ? `; memcached ${args.memcached}: ${args["memcached-stores"]}` : "") + ")",
);
