// clone.js — structuredClone(value), as the HTML standard defines it
// (StructuredSerializeInternal followed by StructuredDeserialize, done in one
// walk): every object is copied once, so shared references stay shared and
// cycles are rebuilt; array holes stay holes and an array's other own
// enumerable properties are copied; a typed array or DataView keeps its
// byteOffset and length over a copy of its whole buffer (two views of one
// buffer stay views of one buffer); Date, RegExp (source and flags), Map,
// Set, ArrayBuffer (resizable ones stay resizable), Error (the standard's
// names, message, stack, cause), boxed primitives and BigInts are copied as
// what they are; other objects as plain objects of their own enumerable
// string-keyed properties (their prototype is not kept). Functions,
// symbols, WeakMap, WeakSet, WeakRef, Promise and other objects that cannot
// be copied throw a DOMException named "DataCloneError", as does a value
// nested more than 256 levels deep (src/value.rs MAX_DEPTH; a reference back
// to an object being copied does not count as a level).
//
// This is not the service-boundary codec (calls and the store keep a simpler
// model: no shared references, no cycles, no holes; see docs/store.md "The
// value model"); it is plain JavaScript, with the intrinsics it uses captured
// before any app code runs.
(function (host, global) {
  "use strict";
  const DOMException = global.DOMException;
  const MapCtor = Map;
  const SetCtor = Set;
  const ArrayCtor = Array;
  const ArrayBufferCtor = ArrayBuffer;
  const DataViewCtor = DataView;
  const DateCtor = Date;
  const RegExpCtor = RegExp;
  const ObjectCtor = Object;
  const TypeErrorCtor = TypeError;
  const StringCtor = String;
  const objToString = Object.prototype.toString;
  const keysOf = Object.keys;
  const getDesc = Object.getOwnPropertyDescriptor;
  const defineProperty = Object.defineProperty;
  const create = Object.create;
  const getProto = Object.getPrototypeOf;
  const isArray = Array.isArray;
  const apply = Reflect.apply;
  // f(thisArg, ...args) for a captured method: no array per call, and
  // immune to later changes of Function.prototype.call.
  const uncurry = Function.prototype.bind.bind(Function.prototype.call);
  const mapGet = MapCtor.prototype.get;
  const mapSet = MapCtor.prototype.set;
  const mapGetOf = uncurry(mapGet);
  const mapSetOf = uncurry(mapSet);
  const objToStringOf = uncurry(objToString);
  const mapForEach = MapCtor.prototype.forEach;
  const setAdd = SetCtor.prototype.add;
  const setForEach = SetCtor.prototype.forEach;
  const abProto = ArrayBufferCtor.prototype;
  const abByteLength = getDesc(abProto, "byteLength").get;
  const abSlice = abProto.slice;
  const abResizableDesc = getDesc(abProto, "resizable");
  const abResizable = abResizableDesc === undefined ? undefined : abResizableDesc.get;
  const abMaxDesc = getDesc(abProto, "maxByteLength");
  const abMaxByteLength = abMaxDesc === undefined ? undefined : abMaxDesc.get;
  const typedArrayProto = getProto(Uint8Array.prototype);
  const taTag = getDesc(typedArrayProto, Symbol.toStringTag).get;
  const taBuffer = getDesc(typedArrayProto, "buffer").get;
  const taByteOffset = getDesc(typedArrayProto, "byteOffset").get;
  const taLength = getDesc(typedArrayProto, "length").get;
  const dvBuffer = getDesc(DataViewCtor.prototype, "buffer").get;
  const dvByteOffset = getDesc(DataViewCtor.prototype, "byteOffset").get;
  const dvByteLength = getDesc(DataViewCtor.prototype, "byteLength").get;
  const u8Set = typedArrayProto.set;
  const dateGetTime = DateCtor.prototype.getTime;
  const regExpSource = getDesc(RegExpCtor.prototype, "source").get;
  const regExpFlags = getDesc(RegExpCtor.prototype, "flags").get;
  const booleanValueOf = Boolean.prototype.valueOf;
  const numberValueOf = Number.prototype.valueOf;
  const stringValueOf = String.prototype.valueOf;
  const bigintValueOf = BigInt.prototype.valueOf;
  const ObjectProto = ObjectCtor.prototype;
  const ERRORS = {
    __proto__: null, Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError,
  };
  const VIEWS = { __proto__: null };
  ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
    "Float16Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array"].forEach((n) => {
    if (typeof global[n] === "function") VIEWS[n] = global[n];
  });
  // Objects with internal state that cannot be copied (by Object.prototype.toString).
  const UNCLONEABLE = {
    __proto__: null, "[object WeakMap]": 1, "[object WeakSet]": 1, "[object WeakRef]": 1,
    "[object FinalizationRegistry]": 1, "[object Promise]": 1, "[object Symbol]": 1, "[object Generator]": 1,
    "[object AsyncGenerator]": 1, "[object Module]": 1, "[object Array Iterator]": 1, "[object Map Iterator]": 1,
    "[object Set Iterator]": 1, "[object String Iterator]": 1, "[object RegExp String Iterator]": 1,
    "[object Iterator Helper]": 1, "[object SharedArrayBuffer]": 1, "[object WebAssembly.Module]": 1,
    "[object WebAssembly.Instance]": 1, "[object WebAssembly.Memory]": 1,
  };

  // The nesting limit (src/value.rs MAX_DEPTH, TOO_DEEP, NESTING_RULE).
  const MAX_DEPTH = 256;
  const TOO_DEEP = "nested more than 256 levels deep";
  const NESTING_RULE =
    "values passed between services, stored or cloned may nest at most 256 levels of arrays and objects";

  function dataCloneError(message) {
    return new DOMException(message, "DataCloneError");
  }

  function uncloneable(v) {
    let what;
    try {
      what = typeof v === "function" ? StringCtor(v) : typeof v === "symbol" ? v.toString() : objToStringOf(v);
    } catch (e) {
      what = "The value";
    }
    return dataCloneError(what + " could not be cloned.");
  }

  // The path as the Rust side shows it (src/value.rs path_text).
  function pathText(segments) {
    const n = segments.length;
    let out = "";
    for (let i = 0; i < n; i++) {
      if (n <= 16 || i < 12 || i >= n - 3) out += segments[i];
      else if (i === 12) out += "…(" + (n - 15) + " more)…";
    }
    return out;
  }

  function is(getter, v) {
    try {
      apply(getter, v, []);
      return true;
    } catch (e) {
      return false;
    }
  }

  function cloneBuffer(buffer, memory) {
    let len;
    try {
      len = apply(abByteLength, buffer, []);
    } catch (e) {
      throw dataCloneError("An ArrayBuffer could not be cloned.");
    }
    let out;
    if (abResizable !== undefined && apply(abResizable, buffer, [])) {
      out = new ArrayBufferCtor(len, { maxByteLength: apply(abMaxByteLength, buffer, []) });
      apply(u8Set, new VIEWS.Uint8Array(out), [new VIEWS.Uint8Array(buffer)]);
    } else {
      try {
        out = apply(abSlice, buffer, [0]);
      } catch (e) {
        // A detached buffer.
        throw dataCloneError("An ArrayBuffer is detached and could not be cloned.");
      }
    }
    apply(mapSet, memory, [buffer, out]);
    return out;
  }

  // The copy of `value`, `depth` containers down. A leaf (a primitive, Date,
  // RegExp, boxed primitive, ArrayBuffer, view) is copied whole; a container
  // (array, object, Map, Set, Error) is made empty, registered in `memory`,
  // and a frame to fill it is pushed on `stack`: the caller's loop fills the
  // top frame first, so contents are read depth first and in order, as a
  // recursive walk would read them, but without recursion (a value 256
  // levels deep would overflow QuickJS's native stack).
  function copy(value, memory, stack, depth) {
    const t = typeof value;
    if (t === "function" || t === "symbol") throw uncloneable(value);
    if (value === null || t !== "object") return value;
    const seen = mapGetOf(memory, value);
    if (seen !== undefined) return seen;
    // The common cases first: an array, a plain object.
    if (isArray(value)) return container(memory, stack, depth, value, new ArrayCtor(value.length), PROPS, keysOf(value));
    const tag = objToStringOf(value);
    if (tag === "[object Object]") return container(memory, stack, depth, value, {}, PROPS, keysOf(value));
    if (UNCLONEABLE[tag] === 1) throw uncloneable(value);
    const ta = apply(taTag, value, []);
    if (ta !== undefined) {
      const buffer = apply(taBuffer, value, []);
      const copied = apply(mapGet, memory, [buffer]) || cloneBuffer(buffer, memory);
      const out = new VIEWS[ta](copied, apply(taByteOffset, value, []), apply(taLength, value, []));
      return remember(memory, value, out);
    }
    switch (tag) {
      case "[object ArrayBuffer]":
        if (is(abByteLength, value)) return cloneBuffer(value, memory);
        break;
      case "[object DataView]":
        if (is(dvBuffer, value)) {
          const buffer = apply(dvBuffer, value, []);
          const copied = apply(mapGet, memory, [buffer]) || cloneBuffer(buffer, memory);
          const out = new DataViewCtor(copied, apply(dvByteOffset, value, []), apply(dvByteLength, value, []));
          return remember(memory, value, out);
        }
        break;
      case "[object Date]":
        if (is(dateGetTime, value)) return remember(memory, value, new DateCtor(apply(dateGetTime, value, [])));
        break;
      case "[object RegExp]":
        if (is(regExpFlags, value) && is(regExpSource, value)) {
          // lastIndex is not copied (the standard).
          return remember(memory, value, new RegExpCtor(apply(regExpSource, value, []), apply(regExpFlags, value, [])));
        }
        break;
      case "[object Boolean]":
        if (is(booleanValueOf, value)) return remember(memory, value, ObjectCtor(apply(booleanValueOf, value, [])));
        break;
      case "[object Number]":
        if (is(numberValueOf, value)) return remember(memory, value, ObjectCtor(apply(numberValueOf, value, [])));
        break;
      case "[object String]":
        if (is(stringValueOf, value)) return remember(memory, value, ObjectCtor(apply(stringValueOf, value, [])));
        break;
      case "[object BigInt]":
        if (is(bigintValueOf, value)) return remember(memory, value, ObjectCtor(apply(bigintValueOf, value, [])));
        break;
      case "[object Map]":
        if (isMap(value)) {
          const entries = [];
          apply(mapForEach, value, [(v, k) => { entries[entries.length] = k; entries[entries.length] = v; }]);
          return container(memory, stack, depth, value, new MapCtor(), MAP, entries);
        }
        break;
      case "[object Set]":
        if (isSet(value)) {
          const items = [];
          apply(setForEach, value, [(v) => { items[items.length] = v; }]);
          return container(memory, stack, depth, value, new SetCtor(), SET, items);
        }
        break;
      case "[object Error]":
        return error(value, memory, stack, depth);
    }
    // Arguments objects, class instances with their own toStringTag, ...
    return container(memory, stack, depth, value, {}, PROPS, keysOf(value));
  }

  function isMap(v) {
    try {
      apply(mapGet, v, [undefined]);
      return true;
    } catch (e) {
      return false;
    }
  }

  function isSet(v) {
    try {
      apply(setForEach, v, [() => {}]);
      return true;
    } catch (e) {
      return false;
    }
  }

  // Whether a key is an array index ("0", "17"; not "01").
  function isIndex(k) {
    const n = k.length;
    if (n === 0 || (n > 1 && k[0] === "0")) return false;
    for (let i = 0; i < n; i++) {
      if (k[i] < "0" || k[i] > "9") return false;
    }
    return true;
  }

  function remember(memory, value, out) {
    mapSetOf(memory, value, out);
    return out;
  }

  // Kinds of frame: own enumerable properties (arrays and objects), Map
  // entries (keys and values alternating), Set items, an Error's cause.
  const PROPS = 0, MAP = 1, SET = 2, CAUSE = 3;

  // A container `depth` containers down: its empty copy, and a frame that
  // fills it from `items`.
  function container(memory, stack, depth, value, out, kind, items) {
    if (depth >= MAX_DEPTH) throw tooDeep(stack);
    mapSetOf(memory, value, out);
    stack[stack.length] = { kind, src: value, out, items, i: 0, depth: depth + 1, key: undefined };
    return out;
  }

  function error(value, memory, stack, depth) {
    if (depth >= MAX_DEPTH) throw tooDeep(stack);
    const name = value.name;
    const Ctor = typeof name === "string" && ERRORS[name] !== undefined ? ERRORS[name] : ERRORS.Error;
    const out = create(Ctor.prototype);
    mapSetOf(memory, value, out);
    const md = getDesc(value, "message");
    if (md !== undefined && "value" in md) {
      defineProperty(out, "message", { value: StringCtor(md.value), writable: true, configurable: true });
    }
    const stackText = value.stack;
    if (typeof stackText === "string") {
      defineProperty(out, "stack", { value: stackText, writable: true, configurable: true });
    }
    if ("cause" in value) {
      stack[stack.length] = { kind: CAUSE, src: value, out, items: null, i: 0, depth: depth + 1, key: undefined };
    }
    return out;
  }

  // Copies the next item of frame `f`; false when it has none left. (The
  // item being copied is `f.items[f.i - 1]`: tooDeep() names it.)
  function step(f, memory, stack) {
    const items = f.items;
    switch (f.kind) {
      case PROPS: {
        // Primitives are copied here, in one loop; a container is made and
        // its frame pushed, which the caller's loop fills next.
        const src = f.src;
        const out = f.out;
        const n = items.length;
        const height = stack.length;
        while (f.i < n) {
          const k = items[f.i++];
          const v = src[k];
          const t = typeof v;
          const item = v === null || (t !== "object" && t !== "function" && t !== "symbol")
            ? v
            : copy(v, memory, stack, f.depth);
          // Define, never set: a setter on a prototype must not run, and
          // "__proto__" must become an own property.
          if (k in out) {
            defineProperty(out, k, { __proto__: null, value: item, writable: true, enumerable: true, configurable: true });
          } else {
            out[k] = item;
          }
          if (stack.length !== height) return true;
        }
        return false;
      }
      case MAP:
        if (f.i >= items.length) return false;
        if (f.i % 2 === 0) {
          f.key = copy(items[f.i++], memory, stack, f.depth);
        } else {
          mapSetOf(f.out, f.key, copy(items[f.i++], memory, stack, f.depth));
          f.key = undefined;
        }
        return true;
      case SET:
        if (f.i >= items.length) return false;
        apply(setAdd, f.out, [copy(items[f.i++], memory, stack, f.depth)]);
        return true;
      default: // CAUSE
        if (f.i++ > 0) return false;
        defineProperty(f.out, "cause", {
          value: copy(f.src.cause, memory, stack, f.depth), writable: true, configurable: true,
        });
        return true;
    }
  }

  // The path segment of the item frame `f` is copying.
  function segment(f) {
    const i = f.i - 1;
    switch (f.kind) {
      case PROPS: {
        const k = f.items[i];
        return isArray(f.src) && isIndex(k) ? "[" + k + "]" : "." + k;
      }
      case MAP:
        return i % 2 === 0 ? "<Map key " + i / 2 + ">" : "<Map value " + (i - 1) / 2 + ">";
      case SET:
        return "<Set item " + i + ">";
      default:
        return ".cause";
    }
  }

  function tooDeep(stack) {
    const path = [];
    for (let i = 0; i < stack.length; i++) path[i] = segment(stack[i]);
    return dataCloneError("the value" + pathText(path) + " is " + TOO_DEEP + ": " + NESTING_RULE);
  }

  // options.transfer is ignored (nothing is transferable here).
  function structuredClone(value) {
    if (arguments.length === 0) throw new TypeErrorCtor("structuredClone: 1 argument required, but only 0 present");
    if (value === null || (typeof value !== "object" && typeof value !== "function" && typeof value !== "symbol")) {
      return value;
    }
    const memory = new MapCtor();
    const stack = [];
    const root = copy(value, memory, stack, 0);
    while (stack.length > 0) {
      if (!step(stack[stack.length - 1], memory, stack)) stack.length--;
    }
    return root;
  }

  // An operation on the global object: enumerable (WebIDL), as in Node.
  defineProperty(global, "structuredClone", {
    value: structuredClone, writable: true, configurable: true, enumerable: true,
  });
})
