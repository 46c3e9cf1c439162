// microtask.js — queueMicrotask. An exception thrown by the callback becomes
// an unhandled promise rejection, which the engine reports.
(function (host, global) {
  "use strict";
  const then = Promise.prototype.then;
  const resolved = Promise.resolve();
  function queueMicrotask(callback) {
    if (typeof callback !== "function") {
      throw new TypeError("queueMicrotask: Argument 1 is not a function");
    }
    then.call(resolved, function () { callback(); });
  }
  // An operation on the global object: enumerable (WebIDL), as in Node.
  Object.defineProperty(global, "queueMicrotask", {
    value: queueMicrotask, writable: true, configurable: true, enumerable: true,
  });
})
