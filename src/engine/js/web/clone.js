// clone.js — structuredClone(value).
// Fast path: host.clone (the service-boundary value types: undefined, null,
// booleans, numbers, bigints, strings, arrays, plain objects, Uint8Array).
// When the host refuses a value with a TypeError, a JS implementation of the
// HTML structured clone handles the rest: Date, RegExp, Map, Set, ArrayBuffer,
// typed arrays, DataView, Error, boxed primitives, class instances (cloned as
// plain objects) and shared/cyclic references. Uncloneable values (functions,
// symbols, WeakMap, Promise, ...) throw a DOMException "DataCloneError".
(function (host, global) {
  "use strict";
  const hostClone = host.clone;
  const DOMException = global.DOMException;
  const objToString = Object.prototype.toString;
  const getDesc = Object.getOwnPropertyDescriptor;
  const getProto = Object.getPrototypeOf;
  const isArray = Array.isArray;
  const abByteLength = getDesc(ArrayBuffer.prototype, "byteLength").get;
  const abSlice = ArrayBuffer.prototype.slice;
  const taTag = getDesc(getProto(Uint8Array.prototype), Symbol.toStringTag).get;
  const mapSize = getDesc(Map.prototype, "size").get;
  const setSize = getDesc(Set.prototype, "size").get;
  const mapForEach = Map.prototype.forEach;
  const setForEach = Set.prototype.forEach;
  const dateGetTime = Date.prototype.getTime;
  const ERRORS = { Error: Error, EvalError: EvalError, RangeError: RangeError, ReferenceError: ReferenceError,
    SyntaxError: SyntaxError, TypeError: TypeError, URIError: URIError };

  const ctors = {};
  ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
    "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"].forEach((n) => { ctors[n] = global[n]; });

  function is(getter, v) {
    try { getter.call(v); return true; } catch (e) { return false; }
  }
  function fail(v) {
    let what;
    try { what = typeof v === "function" ? String(v) : typeof v === "symbol" ? v.toString() : objToString.call(v); }
    catch (e) { what = "value"; }
    return new DOMException(what + " could not be cloned.", "DataCloneError");
  }

  function cloneJS(value, memory) {
    const t = typeof value;
    if (t === "function" || t === "symbol") throw fail(value);
    if (value === null || t !== "object") return value;
    const seen = memory.get(value);
    if (seen !== undefined) return seen;
    const tag = objToString.call(value);
    let out;
    if (isArray(value)) {
      out = new Array(value.length);
      memory.set(value, out);
      const keys = Object.keys(value);
      for (let i = 0; i < keys.length; i++) out[keys[i]] = cloneJS(value[keys[i]], memory);
      return out;
    }
    if (is(abByteLength, value)) {
      out = abSlice.call(value, 0);
      memory.set(value, out);
      return out;
    }
    const ta = taTag.call(value);
    if (ta !== undefined) {
      const buf = cloneJS(value.buffer, memory);
      out = new ctors[ta](buf, value.byteOffset, value.length);
      memory.set(value, out);
      return out;
    }
    if (tag === "[object DataView]") {
      out = new DataView(cloneJS(value.buffer, memory), value.byteOffset, value.byteLength);
      memory.set(value, out);
      return out;
    }
    if (tag === "[object Date]") { out = new Date(dateGetTime.call(value)); memory.set(value, out); return out; }
    if (tag === "[object RegExp]") { out = new RegExp(value.source, value.flags); memory.set(value, out); return out; }
    if (tag === "[object Boolean]" || tag === "[object Number]" || tag === "[object String]" || tag === "[object BigInt]") {
      out = Object(value.valueOf());
      memory.set(value, out);
      return out;
    }
    if (is(mapSize, value)) {
      out = new Map();
      memory.set(value, out);
      const entries = [];
      mapForEach.call(value, (v, k) => { entries.push(k, v); });
      for (let i = 0; i < entries.length; i += 2) out.set(cloneJS(entries[i], memory), cloneJS(entries[i + 1], memory));
      return out;
    }
    if (is(setSize, value)) {
      out = new Set();
      memory.set(value, out);
      const items = [];
      setForEach.call(value, (v) => { items.push(v); });
      for (let i = 0; i < items.length; i++) out.add(cloneJS(items[i], memory));
      return out;
    }
    if (tag === "[object Error]") {
      const name = value.name;
      const Ctor = ERRORS[name] !== undefined ? ERRORS[name] : Error;
      out = Object.create(Ctor.prototype);
      memory.set(value, out);
      const md = getDesc(value, "message");
      if (md !== undefined && "value" in md) {
        Object.defineProperty(out, "message", { value: String(md.value), writable: true, configurable: true });
      }
      const stack = value.stack;
      if (typeof stack === "string") Object.defineProperty(out, "stack", { value: stack, writable: true, configurable: true });
      if ("cause" in value) Object.defineProperty(out, "cause", { value: cloneJS(value.cause, memory), writable: true, configurable: true });
      return out;
    }
    if (tag !== "[object Object]" && tag !== "[object Arguments]") throw fail(value);
    out = {};
    memory.set(value, out);
    const keys = Object.keys(value);
    for (let i = 0; i < keys.length; i++) out[keys[i]] = cloneJS(value[keys[i]], memory);
    return out;
  }
  // options.transfer is ignored (nothing is transferable here).
  function structuredClone(value) {
    if (arguments.length === 0) throw new TypeError("structuredClone: 1 argument required, but only 0 present");
    if (value === null || (typeof value !== "object" && typeof value !== "function" && typeof value !== "symbol")) {
      return value;
    }
    try {
      return hostClone(value);
    } catch (e) {
      // The host refuses values outside its set with a TypeError (or an Error
      // whose message names DataCloneError); anything else propagates.
      if (!(e instanceof TypeError) && !(e instanceof Error && /DataCloneError/.test(String(e.message)))) throw e;
    }
    return cloneJS(value, new Map());
  }

  // An operation on the global object: enumerable (WebIDL), as in Node.
  Object.defineProperty(global, "structuredClone", {
    value: structuredClone, writable: true, configurable: true, enumerable: true,
  });
})
