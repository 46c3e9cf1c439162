// events.js — DOM Event and EventTarget (no tree: dispatch reaches the target
// only, so there is no capture or bubble phase). An exception thrown by a
// listener is reported (logged, as Workers and browsers do) and dispatch
// goes on with the next listener.
(function (host, global) {
  "use strict";
  const hostLog = host.log;
  const now = host.now;
  const DOMException = global.DOMException;
  const E = Symbol("Event");
  const T = Symbol("EventTarget");
  const NONE = 0;
  const AT_TARGET = 2;

  function define(name, value) {
    Object.defineProperty(global, name, { value: value, writable: true, configurable: true, enumerable: false });
  }
  function tag(proto, name) {
    Object.defineProperty(proto, Symbol.toStringTag, { value: name, configurable: true });
  }
  function ev(self) {
    const s = self !== null && typeof self === "object" ? self[E] : undefined;
    if (s === undefined) throw new TypeError("Illegal invocation: not an Event");
    return s;
  }

  class Event {
    constructor(type, init) {
      if (arguments.length < 1) throw new TypeError("Event constructor: 1 argument required, but only 0 present");
      if (init !== undefined && init !== null && typeof init !== "object" && typeof init !== "function") {
        throw new TypeError("Event constructor: eventInitDict must be an object");
      }
      const o = init === undefined || init === null ? {} : init;
      this[E] = {
        type: String(type), bubbles: !!o.bubbles, cancelable: !!o.cancelable, composed: !!o.composed,
        target: null, current: null, phase: NONE, canceled: false, stop: false, stopNow: false,
        passive: false, dispatching: false, trusted: false, time: now(),
      };
    }
    get type() { return ev(this).type; }
    get target() { return ev(this).target; }
    get srcElement() { return ev(this).target; }
    get currentTarget() { return ev(this).current; }
    get eventPhase() { return ev(this).phase; }
    get bubbles() { return ev(this).bubbles; }
    get cancelable() { return ev(this).cancelable; }
    get composed() { return ev(this).composed; }
    get defaultPrevented() { return ev(this).canceled; }
    get isTrusted() { return ev(this).trusted; }
    get timeStamp() { return ev(this).time; }
    get returnValue() { return !ev(this).canceled; }
    set returnValue(v) { if (!v) cancel(ev(this)); }
    get cancelBubble() { return ev(this).stop; }
    set cancelBubble(v) { if (v) ev(this).stop = true; }
    composedPath() {
      const s = ev(this);
      return s.dispatching && s.current !== null ? [s.current] : [];
    }
    stopPropagation() { ev(this).stop = true; }
    stopImmediatePropagation() { const s = ev(this); s.stop = true; s.stopNow = true; }
    preventDefault() { cancel(ev(this)); }
    initEvent(type, bubbles, cancelable) {
      const s = ev(this);
      if (s.dispatching) return;
      s.type = String(type);
      s.bubbles = !!bubbles;
      s.cancelable = !!cancelable;
      s.stop = s.stopNow = s.canceled = false;
      s.target = null;
    }
  }
  function cancel(s) {
    if (s.cancelable && !s.passive) s.canceled = true;
  }
  const PHASES = { NONE: 0, CAPTURING_PHASE: 1, AT_TARGET: 2, BUBBLING_PHASE: 3 };
  for (const k in PHASES) {
    Object.defineProperty(Event, k, { value: PHASES[k], enumerable: true });
    Object.defineProperty(Event.prototype, k, { value: PHASES[k], enumerable: true });
  }
  tag(Event.prototype, "Event");

  // ---- EventTarget ---------------------------------------------------------

  // Internal state: Map type -> [listener, ...], a listener being
  // { callback, capture, once, passive, removed }.
  function target(self) {
    const s = self !== null && typeof self === "object" ? self[T] : undefined;
    if (s === undefined) throw new TypeError("Illegal invocation: not an EventTarget");
    return s;
  }
  function flatten(options) {
    if (options === null || (typeof options !== "object" && typeof options !== "function")) {
      return { capture: !!options, once: false, passive: false, signal: undefined };
    }
    const o = { capture: !!options.capture, once: !!options.once, passive: !!options.passive, signal: options.signal };
    if (o.signal !== undefined && !web.isAbortSignal(o.signal)) {
      throw new TypeError("EventTarget.addEventListener: 'signal' member of AddEventListenerOptions is not an AbortSignal");
    }
    return o;
  }
  function checkCallback(callback, what) {
    if (callback !== null && typeof callback !== "function" && typeof callback !== "object") {
      throw new TypeError(what + ": the listener must be an object or a function");
    }
  }
  function remove(map, type, callback, capture) {
    const list = map.get(type);
    if (list === undefined) return;
    for (let i = 0; i < list.length; i++) {
      const l = list[i];
      if (l.callback === callback && l.capture === capture) {
        l.removed = true;
        list.splice(i, 1);
        return;
      }
    }
  }
  function report(e) {
    hostLog("error", "Uncaught " + (e !== null && typeof e === "object" && typeof e.stack === "string" && e.stack !== ""
      ? String(e.name) + ": " + String(e.message) + "\n" + e.stack : String(e)));
  }

  class EventTarget {
    constructor() {
      this[T] = new Map();
    }
    addEventListener(type, callback, options) {
      const map = target(this);
      if (arguments.length < 2) throw new TypeError("EventTarget.addEventListener: 2 arguments required, but only " + arguments.length + " present");
      checkCallback(callback, "EventTarget.addEventListener");
      const o = flatten(options);
      type = String(type);
      if (callback === null) return;
      if (o.signal !== undefined && o.signal.aborted) return;
      let list = map.get(type);
      if (list === undefined) {
        list = [];
        map.set(type, list);
      }
      for (let i = 0; i < list.length; i++) {
        if (list[i].callback === callback && list[i].capture === o.capture) return;
      }
      list.push({ callback: callback, capture: o.capture, once: o.once, passive: o.passive, removed: false });
      if (o.signal !== undefined) {
        const capture = o.capture;
        web.onAbort(o.signal, () => remove(map, type, callback, capture));
      }
    }
    removeEventListener(type, callback, options) {
      const map = target(this);
      if (arguments.length < 2) throw new TypeError("EventTarget.removeEventListener: 2 arguments required, but only " + arguments.length + " present");
      checkCallback(callback, "EventTarget.removeEventListener");
      const capture = options !== null && (typeof options === "object" || typeof options === "function") ? !!options.capture : !!options;
      remove(map, String(type), callback, capture);
    }
    dispatchEvent(event) {
      target(this);
      const s = event !== null && typeof event === "object" ? event[E] : undefined;
      if (s === undefined) throw new TypeError("EventTarget.dispatchEvent: Argument 1 is not an Event");
      if (s.dispatching) throw new DOMException("The event is already being dispatched", "InvalidStateError");
      s.trusted = false;
      return dispatch(this, event, s);
    }
  }
  tag(EventTarget.prototype, "EventTarget");

  function dispatch(self, event, s) {
    s.dispatching = true;
    s.target = self;
    s.current = self;
    s.phase = AT_TARGET;
    const map = self[T];
    const list = map.get(s.type);
    if (list !== undefined && !s.stop) {
      const snapshot = list.slice();
      for (let i = 0; i < snapshot.length; i++) {
        const l = snapshot[i];
        if (l.removed) continue;
        if (l.once) remove(map, s.type, l.callback, l.capture);
        s.passive = l.passive;
        try {
          const cb = l.callback;
          if (typeof cb === "function") {
            cb.call(self, event);
          } else {
            const handle = cb.handleEvent;
            if (typeof handle !== "function") throw new TypeError("the listener has no handleEvent method");
            handle.call(cb, event);
          }
        } catch (e) {
          report(e);
        }
        s.passive = false;
        if (s.stopNow) break;
      }
    }
    s.dispatching = false;
    s.phase = NONE;
    s.current = null;
    s.stop = false;
    s.stopNow = false;
    return !s.canceled;
  }

  const addListener = EventTarget.prototype.addEventListener;
  // An event handler IDL attribute (`onabort`): its listener is added when
  // it is first set to a function and calls whatever it is set to then.
  function handlerAttribute(proto, type) {
    const H = Symbol("on" + type);
    Object.defineProperty(proto, "on" + type, {
      get() { target(this); const h = this[H]; return h === undefined ? null : h.value; },
      set(v) {
        target(this);
        const value = typeof v === "function" || (v !== null && typeof v === "object") ? v : null;
        let h = this[H];
        if (h === undefined) {
          if (value === null) return;
          h = { value: value };
          this[H] = h;
          const self = this;
          addListener.call(this, type, function (e) {
            const f = h.value;
            if (typeof f === "function") return f.call(self, e);
          });
        }
        h.value = value;
      },
      enumerable: true, configurable: true,
    });
  }

  const web = host.webInternals || (host.webInternals = {});
  web.events = {
    // Fires a trusted event of `type` at target (no options).
    fire: function (self, type) {
      const event = new Event(type);
      const s = event[E];
      s.trusted = true;
      return dispatch(self, event, s);
    },
    handlerAttribute: handlerAttribute,
  };

  define("Event", Event);
  define("EventTarget", EventTarget);
})
