// abort.js — DOM AbortController and AbortSignal (abort(), timeout() on the
// isolate's timers, any(), reason, throwIfAborted, onabort).
(function (host, global) {
  "use strict";
  const DOMException = global.DOMException;
  const EventTarget = global.EventTarget;
  const web = host.webInternals || (host.webInternals = {});
  const events = web.events;
  const A = Symbol("AbortSignal");
  const C = Symbol("AbortController");
  let constructing = false;

  function define(name, value) {
    Object.defineProperty(global, name, { value: value, writable: true, configurable: true, enumerable: false });
  }
  function tag(proto, name) {
    Object.defineProperty(proto, Symbol.toStringTag, { value: name, configurable: true });
  }
  function sig(self) {
    const s = self !== null && typeof self === "object" ? self[A] : undefined;
    if (s === undefined) throw new TypeError("Illegal invocation: not an AbortSignal");
    return s;
  }
  function create() {
    constructing = true;
    try {
      return new AbortSignal();
    } finally {
      constructing = false;
    }
  }
  // "Signal abort": set the reason, run the abort algorithms (listeners
  // removed, dependent signals aborted), then fire "abort".
  function signalAbort(signal, reason) {
    const s = signal[A];
    if (s.aborted) return;
    s.aborted = true;
    s.reason = reason === undefined ? new DOMException("This operation was aborted", "AbortError") : reason;
    const algorithms = s.algorithms;
    s.algorithms = [];
    for (let i = 0; i < algorithms.length; i++) algorithms[i]();
    events.fire(signal, "abort");
  }

  class AbortSignal extends EventTarget {
    constructor() {
      if (!constructing) throw new TypeError("Illegal constructor");
      super();
      this[A] = { aborted: false, reason: undefined, algorithms: [] };
    }
    get aborted() { return sig(this).aborted; }
    get reason() { return sig(this).reason; }
    throwIfAborted() {
      const s = sig(this);
      if (s.aborted) throw s.reason;
    }
    static abort(reason) {
      const signal = create();
      signalAbort(signal, reason);
      return signal;
    }
    static timeout(ms) {
      const n = Number(ms);
      if (!(n >= 0) || n === Infinity || n > Number.MAX_SAFE_INTEGER) {
        throw new TypeError("AbortSignal.timeout: Argument 1 is out of range for unsigned long long");
      }
      const signal = create();
      // The timer belongs to the current invocation, like any other: once
      // that has answered, the signal never times out.
      web.setTimeout(() => {
        signalAbort(signal, new DOMException("The operation was aborted due to timeout", "TimeoutError"));
      }, Math.trunc(n));
      return signal;
    }
    static any(signals) {
      const list = [];
      for (const s of signals) {
        sig(s);
        list.push(s);
      }
      const result = create();
      for (let i = 0; i < list.length; i++) {
        if (list[i][A].aborted) {
          signalAbort(result, list[i][A].reason);
          return result;
        }
      }
      for (let i = 0; i < list.length; i++) {
        const source = list[i];
        source[A].algorithms.push(() => signalAbort(result, source[A].reason));
      }
      return result;
    }
  }
  events.handlerAttribute(AbortSignal.prototype, "abort");
  tag(AbortSignal.prototype, "AbortSignal");

  function ctl(self) {
    const s = self !== null && typeof self === "object" ? self[C] : undefined;
    if (s === undefined) throw new TypeError("Illegal invocation: not an AbortController");
    return s;
  }
  class AbortController {
    constructor() {
      this[C] = create();
    }
    get signal() { return ctl(this); }
    abort(reason) { signalAbort(ctl(this), reason); }
  }
  tag(AbortController.prototype, "AbortController");

  web.isAbortSignal = function (v) {
    return v !== null && typeof v === "object" && v[A] !== undefined;
  };
  // Runs fn when signal aborts (an "abort algorithm"), unless it already has.
  web.onAbort = function (signal, fn) {
    const s = sig(signal);
    if (!s.aborted) s.algorithms.push(fn);
  };
  web.abortSignal = { create: create, abort: signalAbort, any: AbortSignal.any };

  define("AbortController", AbortController);
  define("AbortSignal", AbortSignal);
})
