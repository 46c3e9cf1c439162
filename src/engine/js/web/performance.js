// performance.js — High Resolution Time: performance.now() and timeOrigin.
(function (host, global) {
  "use strict";
  const now = host.now;
  const timeOrigin = Date.now() - now();
  class Performance {
    get timeOrigin() { return timeOrigin; }
    now() { return now(); }
    toJSON() { return { timeOrigin: timeOrigin }; }
  }
  Object.defineProperty(Performance.prototype, Symbol.toStringTag, { value: "Performance", configurable: true });
  const performance = new Performance();
  // Own property so that a detached `const { now } = performance` works.
  Object.defineProperty(performance, "now", { value: { now() { return now(); } }.now, writable: true, configurable: true });
  Object.defineProperty(global, "Performance", { value: Performance, writable: true, configurable: true, enumerable: false });
  // An attribute of the global object: enumerable (WebIDL), as in Node.
  Object.defineProperty(global, "performance", { value: performance, writable: true, configurable: true, enumerable: true });
})
