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
// release, log, methods, serviceNames, service, store, storeOpen, storeGet,
// clone (only when an invocation fails: which error properties can cross),
// fetch, fetchBody, fetchCancel, encodeUtf8.
// No reference to `host` escapes to user code.
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
  // For AbortSignal.timeout (web/abort.js): the timers, whatever user code does to setTimeout.
  web.setTimeout = (fn, ms) => arm(fn, ms, [], false);

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

  // ---- errors across calls -------------------------------------------------
  //
  // A failed invocation completes with an error record (errorRecord); the
  // caller's promise rejects with what remoteError rebuilds from it. The
  // record's fields are listed in engine/error.rs (JsError). What crosses,
  // as in Workers RPC (with its enhanced error serialization), plus the
  // stack and origin, which Workers does not keep:
  // - an Error: its name (built-in constructors rebuilt as the same class,
  //   other names kept on an Error), message, stack frames, its `cause`
  //   (recursively, an Error or any value that can be cloned), and its own
  //   enumerable data properties that can be cloned (`code`, `status`, ...);
  //   the others (functions, class instances, accessors) are skipped;
  // - any other thrown value: itself (a copy), if it can be cloned; else an
  //   Error whose message describes it ("Uncaught ...").
  // Nothing here runs unless an invocation fails.

  // Captured before user code runs, like ErrorCtors.
  const apply = Reflect.apply;
  const hasOwnProperty = Object.prototype.hasOwnProperty;
  const hasOwn = (o, k) => apply(hasOwnProperty, o, [k]);
  const getOwnDesc = Object.getOwnPropertyDescriptor;
  const defineProperty = Object.defineProperty;
  const objectKeys = Object.keys;
  const isArray = Array.isArray;
  const BaseError = ErrorCtors.Error;
  const hostClone = host.clone;
  const inspect = web.inspect;
  // Keys an error record carries in its own fields, never among props.
  const RECORD_KEYS = new Set(["name", "message", "stack", "cause", "service", "method"]);
  // A chain of causes is followed this deep (a cycle, e.cause = e, ends here).
  const MAX_CAUSE_DEPTH = 16;
  // A value's description (the message of a thrown non-Error) is cut here.
  const MAX_DESCRIPTION = 1000;
  const UNCLONABLE = Symbol("unclonable");
  // Rebuilt remote errors (and thrown objects) -> where they were first
  // thrown ({service, method, file?, line?}), so that a caller that
  // rethrows one passes its origin on. Invisible to user code.
  const origins = new WeakMap();
  // Whether this engine's stacks begin with "Name: message" (V8) or with
  // the frames (QuickJS): rebuilt errors follow the engine's habit.
  const STACK_HEADER = (() => {
    try {
      return /^Error: probe/.test(String(new Error("probe").stack));
    } catch {
      return false;
    }
  })();
  const FRAME = /^\s*at /;
  const INTERNAL_FRAME = /^\s*at (?:.* \()?pyrosome:/;

  // A copy of `v` through the boundary's codec, or UNCLONABLE.
  function cloned(v) {
    if (v === null || (typeof v !== "object" && typeof v !== "function" && typeof v !== "symbol")) return v;
    try {
      return hostClone(v);
    } catch {
      return UNCLONABLE;
    }
  }

  function describe(v) {
    let text;
    try {
      text = typeof v === "string" ? v : inspect(v);
    } catch {
      try {
        text = String(v);
      } catch {
        text = "<unprintable value>";
      }
    }
    return text.length > MAX_DESCRIPTION ? `${text.slice(0, MAX_DESCRIPTION)}…` : text;
  }

  // The frames of a stack, without the "Name: message" lines V8 starts with
  // and without the dispatcher's own frames (pyrosome:prelude).
  function framesOf(stack) {
    if (typeof stack !== "string") return undefined;
    const lines = stack.split("\n");
    let i = 0;
    while (i < lines.length && !FRAME.test(lines[i])) i++;
    const frames = [];
    for (; i < lines.length; i++) {
      if (lines[i].trim() !== "" && !INTERNAL_FRAME.test(lines[i])) frames.push(lines[i]);
    }
    return frames.length === 0 ? undefined : frames.join("\n");
  }

  // The record of a value that is not an Error: the value itself when it
  // can be cloned. `prefix` is "Uncaught " for a thrown value.
  function valueRecord(v, prefix) {
    const record = { name: "Error", message: prefix + describe(v) };
    const copy = cloned(v);
    if (copy !== UNCLONABLE) record.thrown = [copy];
    // A rethrown remote object keeps its origin; a primitive cannot be
    // told apart from an equal one thrown here.
    const origin = v !== null && typeof v === "object" ? origins.get(v) : undefined;
    if (origin !== undefined) record.origin = origin;
    return record;
  }

  function errorObjectRecord(e, depth) {
    let name, message, stack;
    try { name = e.name; } catch { /* a throwing getter: not carried */ }
    try { message = e.message; } catch { /* idem */ }
    try { stack = e.stack; } catch { /* idem */ }
    const record = {
      name: typeof name === "string" ? name : "Error",
      message: typeof message === "string" ? message : "",
    };
    const frames = framesOf(stack);
    if (frames !== undefined) record.stack = frames;
    const origin = origins.get(e);
    if (origin !== undefined) record.origin = origin;
    // Own data properties only: accessors are not run.
    const cause = getOwnDesc(e, "cause");
    if (cause !== undefined && hasOwn(cause, "value") && depth < MAX_CAUSE_DEPTH) {
      const c = cause.value;
      if (c instanceof BaseError) record.cause = errorObjectRecord(c, depth + 1);
      else {
        const r = valueRecord(c, "");
        if (r.thrown !== undefined) record.cause = r;
      }
    }
    let props;
    for (const key of objectKeys(e)) {
      if (RECORD_KEYS.has(key)) continue;
      const d = getOwnDesc(e, key);
      if (d === undefined || !hasOwn(d, "value")) continue;
      const copy = cloned(d.value);
      if (copy === UNCLONABLE) continue;
      if (props === undefined) props = {};
      // Defined, not assigned: a "__proto__" key stays a key.
      defineProperty(props, key, { value: copy, writable: true, enumerable: true, configurable: true });
    }
    if (props !== undefined) record.props = props;
    return record;
  }

  // What an invocation failed with, as a record every engine can carry.
  function errorRecord(e) {
    try {
      return e instanceof BaseError ? errorObjectRecord(e, 0) : valueRecord(e, "Uncaught ");
    } catch {
      // A Proxy whose traps throw, and the like.
      return { name: "Error", message: "Uncaught exception that could not be read" };
    }
  }

  // The stack of a rebuilt error: the callee's frames, then one line for
  // the call they were reached through.
  function remoteStack(r, name, message) {
    let frames = typeof r.stack === "string" ? r.stack.trimEnd() : "";
    if (typeof r.service === "string") {
      if (frames !== "") frames += "\n";
      frames += `    at services.${r.service}.${r.method} (remote)`;
    }
    if (STACK_HEADER) {
      const header = message === "" ? name : `${name}: ${message}`;
      return frames === "" ? header : `${header}\n${frames}`;
    }
    return frames === "" ? "" : `${frames}\n`;
  }

  // What the caller's promise rejects with, from an error record.
  function remoteError(r, depth = 0) {
    if (r === null || typeof r !== "object") return r;
    if (isArray(r.thrown)) {
      const value = r.thrown[0];
      if (r.origin !== undefined && value !== null && typeof value === "object") origins.set(value, r.origin);
      return value;
    }
    const name = typeof r.name === "string" ? r.name : "Error";
    const message = typeof r.message === "string" ? r.message : "";
    const builtin = hasOwn(ErrorCtors, name);
    const err = new (builtin ? ErrorCtors[name] : BaseError)(message);
    if (!builtin) define(err, "name", name);
    if (r.cause !== undefined && depth < MAX_CAUSE_DEPTH) define(err, "cause", remoteError(r.cause, depth + 1));
    const props = r.props;
    if (props !== null && typeof props === "object") {
      for (const key of objectKeys(props)) {
        if (RECORD_KEYS.has(key)) continue;
        defineProperty(err, key, { value: props[key], writable: true, enumerable: true, configurable: true });
      }
    }
    if (typeof r.service === "string") {
      define(err, "service", r.service);
      define(err, "method", r.method);
    }
    define(err, "stack", remoteStack(r, name, message));
    if (r.origin !== undefined) origins.set(err, r.origin);
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

  // ---- outbound fetch() -----------------------------------------------------
  //
  // fetch(input, init) makes a Request (as the standard says), hands what it
  // holds to host.fetch and resolves when the response head arrives; the
  // body stays on the host until it is first read (a Deferred of body.js:
  // host.fetchBody). The host checks the service's grants, follows
  // redirects and bounds the body. An abort rejects at once with the
  // signal's reason and tells the host (host.fetchCancel); what the host
  // answers later for it is ignored (no pending entry any more).

  const RequestCtor = global.Request;
  const requestInt = web.request;
  const responseInt = web.response;
  const bodyInt = web.body;
  const onAbort = web.onAbort;
  const encodeUtf8 = host.encodeUtf8;
  const hostFetch = host.fetch;
  const hostFetchBody = host.fetchBody;
  const hostFetchCancel = host.fetchCancel;

  // A host error rebuilt by remoteError has no frames of its own: give it
  // those of the fetch() call.
  function atCallSite(e, site) {
    const frames = framesOf(site.stack);
    if (frames !== undefined && e instanceof BaseError) {
      const header = e.message === "" ? e.name : `${e.name}: ${e.message}`;
      define(e, "stack", STACK_HEADER ? `${header}\n${frames}` : `${frames}\n`);
    }
    return e;
  }

  function readBody(id, signal) {
    return new Promise((resolve, reject) => {
      if (signal !== null && signal.aborted) {
        hostFetchCancel(id);
        reject(signal.reason);
        return;
      }
      const call = hostFetchBody(id);
      pending.set(call, { resolve, reject });
      if (signal !== null) {
        onAbort(signal, () => {
          if (!pending.delete(call)) return;
          hostFetchCancel(id);
          reject(signal.reason);
        });
      }
    });
  }

  // The Response of fetch `id` from the head the host answered with.
  function networkResponse(id, head, signal) {
    let src = head[5];
    if (src === true) {
      src = bodyInt.deferred(() => readBody(id, signal), () => hostFetchCancel(id));
      // Aborted before the body is read: the host lets it go.
      if (signal !== null) onAbort(signal, () => hostFetchCancel(id));
    }
    return responseInt.fromNetwork(head[0], head[1], head[2], head[3], head[4], src);
  }

  function fetch(input, init = undefined) {
    if (arguments.length < 1) {
      return Promise.reject(new TypeError("fetch: 1 argument required, but only 0 present"));
    }
    const site = new BaseError();
    let request;
    try {
      request = requestInt.outbound(new RequestCtor(input, init));
    } catch (e) {
      return Promise.reject(e);
    }
    const signal = request[5];
    if (signal !== null && signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const send = (src) => {
        if (signal !== null && signal.aborted) {
          reject(signal.reason);
          return;
        }
        let id;
        try {
          id = src === null
            ? hostFetch(request[0], request[1], request[2], request[4])
            : hostFetch(request[0], request[1], request[2], request[4], typeof src === "string" ? encodeUtf8(src) : src);
        } catch (e) {
          reject(e);
          return;
        }
        pending.set(id, {
          resolve: (head) => resolve(networkResponse(id, head, signal)),
          reject: (e) => reject(atCallSite(e, site)),
        });
        if (signal !== null) {
          onAbort(signal, () => {
            if (!pending.delete(id)) return;
            hostFetchCancel(id);
            reject(signal.reason);
          });
        }
      };
      const src = request[3];
      if (bodyInt.isDeferred(src)) then.call(bodyInt.load(src), send, reject);
      else send(src);
    });
  }
  define(global, "fetch", fetch);
  Object.defineProperty(global, "fetch", { enumerable: true });

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
  // ...], statusText?]. Observably it is
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
  const settled = web.response.settled;

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
    const response = await result;
    // The body of a fetch() response passed on, still on the network.
    const arriving = settled(response);
    if (arriving !== null) await arriving;
    return responseToHost(response);
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
    if (settled(result) !== null) {
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
      else {
        let error;
        try {
          error = remoteError(value);
        } catch {
          // Built-ins changed by user code: still settle the promise.
          error = new BaseError(typeof value?.message === "string" ? value.message : "remote error");
        }
        p.reject(error);
      }
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
