// bootstrap.js — the JavaScript half of the engine boundary, shared by every
// engine backend. It runs after the Web APIs in web/ are installed and before
// any user code. It receives the host operations object from Rust, installs
// timers and the internals of the "pyrosome" module, and returns the
// dispatcher through which Rust drives the isolate:
//
//   dispatcher.setModule(namespace)       the service's module namespace
//   dispatcher.invoke(id, method, arg)    start an invocation; completes via host.complete
//   dispatcher.reply(callId, ok, value)   a call made by host.call finished
//   dispatcher.timer(id, live)            a timer armed by host.setTimer fired; if
//                                         its invocation has ended (live false)
//                                         it is forgotten without running
//
// Host operations used here: call, complete, setTimer, clearTimer, hold,
// release, log, methods, serviceNames, service, store, storeOpen, storeGet. No reference to `host` escapes to user code.
(function (host, global) {
  "use strict";

  const FETCH = "@fetch";
  const define = (obj, name, value) =>
    Object.defineProperty(obj, name, { value, writable: true, configurable: true, enumerable: false });
  const Response = global.Response;
  const web = host.webInternals;
  const ErrorCtors = {
    Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError,
  };

  // ---- hardening -------------------------------------------------------------

  // Blocking waits would hold a worker thread, unreachable by the CPU-budget
  // interrupt; shared memory has no use without threads to share it with.
  delete global.SharedArrayBuffer;
  // WebAssembly (V8 only) would make the engines differ, and its memories
  // are reserved outside the isolate's heap limit.
  delete global.WebAssembly;
  if (typeof Atomics === "object") {
    delete Atomics.wait;
    delete Atomics.waitAsync;
  }

  // `Error.prepareStackTrace` hands user code a CallSite per frame, and
  // QuickJS's `getFunction()` returns the frame's function even in strict
  // code: the dispatcher's own closures (invoke, reply, ...) would be one
  // call away. V8 returns undefined for strict frames, which every ES
  // module frame is; make that the rule for every frame on both engines,
  // and `getThis()` with it. The methods are replaced on the CallSite
  // prototype, non-writable and non-configurable, before user code runs.
  {
    const previous = Error.prepareStackTrace;
    let site;
    try {
      Error.prepareStackTrace = (_, frames) => frames;
      const frames = new Error().stack;
      site = Array.isArray(frames) ? frames[0] : undefined;
    } finally {
      Error.prepareStackTrace = previous;
    }
    const proto = site !== undefined ? Object.getPrototypeOf(site) : undefined;
    if (proto !== undefined && proto !== null) {
      for (const name of ["getFunction", "getThis"]) {
        try {
          Object.defineProperty(proto, name, {
            value: { [name]() { return undefined; } }[name],
            writable: false, configurable: false, enumerable: false,
          });
        } catch {
          // V8's own CallSite methods cannot be redefined; they already
          // return undefined for strict frames, and all of ours are strict.
        }
      }
    }
  }

  // ---- timers -------------------------------------------------------------

  const timers = new Map(); // id -> { fn, args, interval (ms) | -1 }
  let nextTimer = 1;

  function arm(fn, ms, args, repeat) {
    if (typeof fn !== "function") {
      throw new TypeError("The \"callback\" argument must be of type function");
    }
    let delay = Number(ms);
    if (!(delay >= 1) || delay > 2147483647) delay = repeat ? 1 : 0;
    const id = nextTimer++;
    timers.set(id, { fn, args, interval: repeat ? delay : -1 });
    host.setTimer(id, delay);
    return id;
  }

  function disarm(id) {
    const key = Number(id);
    if (timers.delete(key)) host.clearTimer(key);
  }

  define(global, "setTimeout", (fn, ms, ...args) => arm(fn, ms, args, false));
  define(global, "setInterval", (fn, ms, ...args) => arm(fn, ms, args, true));
  define(global, "clearTimeout", disarm);
  define(global, "clearInterval", disarm);

  // ---- calls to other services ------------------------------------------

  const methodsOf = new Map(); // service -> [method, ...], cached once known
  function lookup(service) {
    let methods = methodsOf.get(service);
    if (methods === undefined) {
      methods = host.methods(service); // undefined for an unknown service
      if (methods !== undefined) methodsOf.set(service, methods);
    }
    return methods;
  }
  const pending = new Map(); // callId -> { resolve, reject }
  // Never empty: V8 shrinks a Map's table when its last entry goes and
  // grows it again at the next set, on every call (call ids start at 1).
  pending.set(0, null);

  function remoteError(e) {
    const Ctor = ErrorCtors[e.name] || Error;
    const err = new Ctor(e.message);
    if (!(e.name in ErrorCtors)) define(err, "name", e.name);
    define(err, "service", e.service);
    define(err, "method", e.method);
    if (e.stack) define(err, "remoteStack", e.stack);
    return err;
  }

  function call(service, method, arg) {
    const id = host.call(service, method, arg); // throws TypeError for uncloneable args
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
    });
  }

  // Names that JavaScript probes on any object (await, JSON, inspection):
  // they must not be mistaken for services or methods.
  const probes = new Set(["then", "toJSON", "constructor", "inspect", "valueOf", "toString"]);

  // A service is a frozen object with one own function per method, so a
  // call is a plain property load; its prototype is a Proxy that only sees
  // names that are not methods, and throws for them.
  function serviceObject(service, methods) {
    const missing = new Proxy(Object.create(null), {
      get(_, name) {
        if (typeof name !== "string" || probes.has(name)) return undefined;
        throw new TypeError(
          `service "${service}" has no method "${name}" (its methods: ${methods.join(", ") || "none"})`,
        );
      },
      set: () => false,
    });
    const obj = Object.create(missing);
    for (const m of methods) {
      const fn = (arg) => call(service, m, arg);
      Object.defineProperty(fn, "name", { value: m });
      Object.defineProperty(obj, m, { value: fn, enumerable: true });
    }
    return Object.freeze(obj);
  }

  // `services` works the same way: known services become own properties on
  // first use (the directory is only complete once every service loaded),
  // and its Proxy prototype answers for names that are not services.
  let populated = false;
  const services = Object.create(
    new Proxy(Object.create(null), {
      get(_, name) {
        if (typeof name !== "string") return undefined;
        if (!populated) {
          for (const s of host.serviceNames()) {
            Object.defineProperty(services, s, { value: serviceObject(s, lookup(s)), enumerable: true });
          }
          populated = true;
          if (Object.prototype.hasOwnProperty.call(services, name)) return services[name];
        }
        if (probes.has(name)) return undefined;
        throw new TypeError(
          `unknown service "${name}" (services of this app: ${host.serviceNames().join(", ")})`,
        );
      },
      has: (_, name) => typeof name === "string" && lookup(name) !== undefined,
      set: () => false,
    }),
  );

  // ---- stores --------------------------------------------------------------

  // Every operation is a host request: answered at once (a one-element
  // array: local reads), or later like a call (a call id, then
  // dispatcher.reply).
  function request(name, op) {
    let answer;
    try {
      answer = host.store(name, op); // throws TypeError for bad keys, values, grants
    } catch (e) {
      return Promise.reject(e);
    }
    if (typeof answer !== "number") return Promise.resolve(answer[0]);
    return new Promise((resolve, reject) => {
      pending.set(answer, { resolve, reject });
    });
  }

  function rangeOf(options, what) {
    if (options === undefined || options === null) return {};
    if (typeof options !== "object") throw new TypeError(`${what} options must be an object`);
    const { prefix, start, end } = options;
    return { prefix, start, end };
  }

  const storeGet = host.storeGet;

  class StoreHandle {
    #name;
    #writable;
    #local;
    constructor(name, writable, local) {
      this.#name = name;
      this.#writable = writable;
      this.#local = local;
    }
    get name() { return this.#name; }
    get writable() { return this.#writable; }
    /** The value under `key`, or undefined. */
    get(key) {
      if (!this.#local) return request(this.#name, { op: "get", key });
      // The most frequent operation, for a store in this process: one host
      // call, answered at once.
      try {
        return Promise.resolve(storeGet(this.#name, key));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    /** Stores `value` under `key`. */
    put(key, value) {
      return request(this.#name, { op: "write", ops: [{ op: "put", key, value }] }).then(() => undefined);
    }
    /** Stores `value` under `key` only if the key is absent; true if it was stored. */
    putIfAbsent(key, value) {
      return request(this.#name, { op: "write", ops: [{ op: "putIfAbsent", key, value }] }).then((r) => r.ok);
    }
    /** Removes `key` (absent keys are fine). */
    delete(key) {
      return request(this.#name, { op: "write", ops: [{ op: "delete", key }] }).then(() => undefined);
    }
    /** Entries `{key, value}` in key order: `{prefix}` or `{start, end}`, `limit`, `reverse`. */
    list(options) {
      let op;
      try {
        op = { op: "list", ...rangeOf(options, "list"), limit: options?.limit, reverse: !!options?.reverse };
      } catch (e) {
        return Promise.reject(e);
      }
      return request(this.#name, op);
    }
    /** Number of keys in `{prefix}` or `{start, end}` (all keys without options). */
    count(options) {
      let op;
      try {
        op = { op: "count", ...rangeOf(options, "count") };
      } catch (e) {
        return Promise.reject(e);
      }
      return request(this.#name, op);
    }
    /**
     * Applies `[{op: "put"|"delete"|"putIfAbsent", key, value}]` atomically.
     * Resolves `{ok: true}`, or `{ok: false, conflict: i}` when the putIfAbsent
     * at index i found its key present (then nothing was applied).
     */
    batch(ops) {
      if (!Array.isArray(ops)) return Promise.reject(new TypeError("batch() takes an array of operations"));
      return request(this.#name, { op: "write", ops });
    }
  }
  Object.defineProperty(StoreHandle, "name", { value: "Store" });

  const handles = new Map();
  function store(name) {
    if (typeof name !== "string") throw new TypeError("store(name) takes the store's name as a string");
    let handle = handles.get(name);
    if (handle === undefined) {
      const access = host.storeOpen(name); // throws for unknown or ungranted stores
      handle = Object.freeze(new StoreHandle(name, access.writable, access.local));
      handles.set(name, handle);
    }
    return handle;
  }

  // ---- the "pyrosome" module ----------------------------------------------

  // Read (and deleted) once by the builtin module's source; see quickjs/loader.rs.
  // The `env` of the service: its vars and secrets (pyrosome.toml
  // [vars], `secrets`), deeply frozen. The second argument of every
  // `fetch(request, env, ctx)`, and `import { env } from "pyrosome"`.
  const ENV = (function freeze(o) {
    if (o !== null && typeof o === "object") {
      for (const k of Object.keys(o)) freeze(o[k]);
      Object.freeze(o);
    }
    return o;
  })(host.env());

  Object.defineProperty(global, "__pyrosome_internal", {
    value: Object.freeze({ services, store, env: ENV }),
    configurable: true,
    enumerable: false,
    writable: false,
  });

  // ---- invocations --------------------------------------------------------

  let mod = Object.create(null);

  const promiseThen = Promise.prototype.then;
  const promiseResolve = Promise.resolve;
  const workerContext = Object.freeze({
    // Keeps the invocation live (its timers running) until `promise`
    // settles, after the response was sent.
    waitUntil(promise) {
      const held = host.hold();
      promiseThen.call(
        promiseResolve.call(Promise, promise),
        () => host.release(held),
        (e) => {
          host.release(held);
          host.log("error", `waitUntil promise rejected: ${e && e.stack || e}`);
        },
      );
    },
    passThroughOnException() {},
  });

  // ---- the fetch adapter ----------------------------------------------------
  //
  // `@fetch` gets the request value of gateway/convert.rs::request_value,
  // [method, url, [name0, value0, ...], body?], and completes with the
  // response value of web.response.toHost, [status, body, [name0, value0,
  // ...]]. Observably it is
  //
  //   async function handleFetch(req) {
  //     const response = await handler.fetch(request, env, ctx);
  //     if (!(response instanceof Response)) throw new TypeError(...);
  //     return toHost(response);
  //   }
  //   handleFetch(req).then((v) => complete(id, true, v), (e) => complete(id, false, e));
  //
  // with its microtask ticks: the response is read one tick after the
  // handler returned (so microtasks the handler queued run first) and the
  // invocation completes one tick later. For a handler that returns
  // anything but a promise or thenable (a Response, usually), both ticks
  // are made by two plain reactions on a settled promise, which costs a
  // fraction of an async function, its await and the reactions on its
  // promise.

  const then = Promise.prototype.then;
  const RESOLVED = Promise.resolve();
  const complete = host.complete;
  const fromHost = web.request.fromHost;
  const toHost = web.response.toHost;

  function fetchHandler() {
    const handler = mod.default;
    if (!handler || typeof handler.fetch !== "function") {
      throw new TypeError(`service "${host.service}" has no fetch handler (export default { fetch(request) { ... } })`);
    }
    return handler;
  }

  function responseToHost(response) {
    if (!(response instanceof Response)) {
      throw new TypeError(
        `the fetch handler of "${host.service}" must return a Response, got ${response === null ? "null" : typeof response}`,
      );
    }
    return toHost(response);
  }

  async function awaitResponse(result) {
    return responseToHost(await result);
  }

  // Completes invocation `id` one tick from now.
  function completeNextTick(id, ok, value) {
    then.call(RESOLVED, () => complete(id, ok, ok ? value : errorRecord(value)));
  }

  function startFetch(id, req) {
    let result;
    try {
      const handler = fetchHandler();
      const request = fromHost(req[0], req[1], req[2], req[3]);
      result = handler.fetch(request, ENV, workerContext);
    } catch (e) {
      // The async function's promise would be rejected: one tick.
      completeNextTick(id, false, e);
      return;
    }
    if (result !== null && (typeof result === "object" || typeof result === "function") &&
        typeof result.then === "function") {
      // A promise (an async handler) or another thenable: awaited as such.
      then.call(
        awaitResponse(result),
        (v) => complete(id, true, v),
        (e) => complete(id, false, errorRecord(e)),
      );
      return;
    }
    then.call(RESOLVED, () => {
      let value;
      try {
        value = responseToHost(result);
      } catch (e) {
        completeNextTick(id, false, e);
        return;
      }
      completeNextTick(id, true, value);
    });
  }

  // What an invocation failed with, as a plain record every engine can
  // carry: {name, message, stack} of an Error-like object, else the thrown
  // value printed ("Uncaught 42").
  function errorRecord(e) {
    if (e !== null && (typeof e === "object" || typeof e === "function")) {
      let name, message, stack;
      try {
        ({ name, message, stack } = e);
      } catch {
        // A throwing getter: report what could be read.
      }
      if (typeof name === "string" || typeof message === "string") {
        return {
          name: typeof name === "string" ? name : "Error",
          message: typeof message === "string" ? message : "",
          stack: typeof stack === "string" && stack !== "" ? stack : undefined,
        };
      }
    }
    let text;
    try {
      text = String(e);
    } catch {
      text = "<unprintable value>";
    }
    return { name: "Error", message: `Uncaught ${text}` };
  }

  function settle(id, result) {
    if (result !== null && typeof result === "object" && typeof result.then === "function") {
      result.then((v) => host.complete(id, true, v), (e) => host.complete(id, false, errorRecord(e)));
    } else {
      host.complete(id, true, result);
    }
  }

  return Object.freeze({
    setModule(namespace) {
      mod = namespace;
    },
    invoke(id, method, arg) {
      if (method === FETCH) {
        startFetch(id, arg);
        return;
      }
      let result;
      try {
        const fn = mod[method];
        if (typeof fn !== "function") {
          throw new TypeError(`service "${host.service}" has no method "${method}"`);
        }
        result = fn(arg);
      } catch (e) {
        host.complete(id, false, errorRecord(e));
        return;
      }
      settle(id, result);
    },
    reply(callId, ok, value) {
      const p = pending.get(callId);
      if (!p) return;
      pending.delete(callId);
      if (ok) p.resolve(value);
      else p.reject(remoteError(value));
    },
    timer(id, live) {
      const t = timers.get(id);
      if (t === undefined) return;
      if (!live) {
        // Its invocation answered and nothing waits on it any more.
        timers.delete(id);
        return;
      }
      if (t.interval >= 0) host.setTimer(id, t.interval);
      else timers.delete(id);
      t.fn(...t.args);
    },
  });
})
