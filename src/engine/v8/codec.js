// codec.js: the V8 shim's value codec: how JavaScript values become wire
// bytes (see src/engine/wire.rs) and wire values become JavaScript values.
//
// It is JavaScript so that V8's JIT compiles it: walking an object through
// V8's C++ API costs a call per property and per key list (and the API's key
// collection is V8's slow path), while optimized JavaScript reads properties
// through inline caches and builds objects from literal boilerplates. The C++
// half (shim.cc) does what JavaScript cannot do without side effects or
// cheaply: telling a Proxy or a Promise from a plain object, copying bytes,
// converting strings, and compiling one object literal per key list.
//
// shim.cc runs this script in every isolate before anything else, so the
// intrinsics below are captured before any app code could replace them, and
// it is reachable only through the `host` object the shim builds from it.
//
// Encoding (JavaScript -> bytes). The rules are structured clone's reads,
// restricted like the QuickJS backend's conversion (quickjs/convert.rs):
// undefined, null, booleans, numbers (incl. -0), BigInts, strings, arrays,
// plain objects (prototype Object.prototype or null) and Uint8Arrays; own
// enumerable string keys only, read with [[Get]] (getters run); at most
// MAX_DEPTH levels (src/value.rs says what counts); a cycle, or anything
// else, is refused with the path to it. Strings and keys keep lone
// surrogates (the splice writes them as UTF-16). The encoder writes the wire format with two differences the shim's
// splice (shim.cc) undoes: the characters of strings, keys, BigInt digits
// and refusal texts are not written but appended to one JavaScript string
// (`chars`), and each of them is written as a length in UTF-16 code units.
// One string concatenation is much cheaper here than a native call per
// string; the shim then copies the characters out in one go.
//
// Decoding (a list -> JavaScript value). The shim walks the wire bytes and
// hands over a flat list: numbers, strings, BigInts, Uint8Arrays,
// undefined, null, booleans and JSON-parsed values stand for themselves; a
// symbol is an instruction (see the constants below; a value that crosses
// never holds a symbol). An object whose key list the shim has seen before
// comes with a constructor the shim compiled for that key list
// (`return {"a": v(), "b": v()}`), so V8 builds it from a literal
// boilerplate with its final hidden class; any other object is built key
// by key, its keys listed after the value.
(function (kindOf, copyBytes, hostCall) {
  "use strict";

  // ---- intrinsics, captured before any other script runs -----------------
  const keysOf = Object.keys;
  const hasOwn = Object.hasOwn;
  const defineProperty = Object.defineProperty;
  const apply = Reflect.apply;
  const ObjectProto = Object.prototype;
  const ArrayCtor = Array;
  const U8 = Uint8Array;
  const typedArraySet = Object.getPrototypeOf(Uint8Array.prototype).set;
  const F64 = new Float64Array(1);
  const F64B = new U8(F64.buffer);

  // ---- wire tags (src/engine/wire.rs) -------------------------------------
  const UNDEFINED = 0, NULL = 1, FALSE = 2, TRUE = 3, NUMBER = 4, BIGINT = 5;
  const ARRAY = 8, OBJECT = 9, REFUSED = 10, LATIN1 = 12;

  // ---- what kindOf (shim.cc) answers for an object ------------------------
  const K_PLAIN = 0, K_ARRAY = 1, K_BYTES = 2, K_PROMISE = 3, K_PROXY = 4, K_INSTANCE = 5;

  // ---- instructions in a decoding list (shim.cc) --------------------------
  // I_ARRAY, n, then n values; I_SHAPE, constructor index, then the
  // values in key order; I_OBJECT, index of [n, key...] in the list, then
  // the n values.
  const I_ARRAY = Symbol("array"), I_OBJECT = Symbol("object"), I_SHAPE = Symbol("shape");

  // Deepest nesting accepted (src/value.rs MAX_DEPTH), and the words for a
  // value nested deeper (src/value.rs TOO_DEEP).
  const MAX_DEPTH = 256;
  const TOO_DEEP = "nested more than 256 levels deep";
  // Levels the store operation wraps its values in, which do not count
  // (src/engine/host_ops.rs STORE_OP_WRAPPING).
  const STORE_OP_WRAPPING = 3;
  // Encodings nested in one another (a getter that sends a value while one
  // is being encoded) share the ancestor stack, each above the last.
  const STACK = 4 * (MAX_DEPTH + STORE_OP_WRAPPING + 1);

  // ---- encoder state --------------------------------------------------------
  // The bytes; nested encodings continue after the outer one's bytes.
  let out = new U8(4096);
  let pos = 0;
  // The characters of the strings written so far (see the header).
  let chars = "";
  // Ancestors of the value being encoded: stack[base .. depth); `high` is
  // the highest slot used since it was last cleared.
  const stack = new ArrayCtor(STACK).fill(null);
  let base = 0;
  let depth = 0;
  let high = 0;
  // Deepest nesting accepted in the current host call's arguments.
  let limit = MAX_DEPTH;
  // A refusal on its way up: what was found, and the path segments,
  // innermost first.
  const path = new ArrayCtor(MAX_DEPTH + STORE_OP_WRAPPING + 2).fill("");
  let npath = 0;
  let found = "";

  function grow(n) {
    let size = out.length * 2;
    while (size < pos + n) size *= 2;
    const next = new U8(size);
    apply(typedArraySet, next, [out]);
    out = next;
  }

  function u32(n) {
    out[pos] = n & 255;
    out[pos + 1] = (n >>> 8) & 255;
    out[pos + 2] = (n >>> 16) & 255;
    out[pos + 3] = (n >>> 24) & 255;
    pos += 4;
  }

  // A string's characters: its length here, the characters in `chars`.
  function text(tag, s) {
    if (pos + 5 > out.length) grow(5);
    out[pos++] = tag;
    u32(s.length);
    chars += s;
  }

  function refuse(what) {
    found = what;
    return false;
  }

  function enter(o) {
    for (let j = base; j < depth; j++) {
      if (stack[j] === o) return refuse("refers back to an object that contains it (a cycle)");
    }
    if (depth - base >= limit || depth >= STACK) return refuse(TOO_DEEP);
    stack[depth++] = o;
    if (depth > high) high = depth;
    return true;
  }

  function encode(v) {
    switch (typeof v) {
      case "string":
        text(LATIN1, v);
        return true;
      case "number":
        if (pos + 9 > out.length) grow(9);
        F64[0] = v;
        out[pos] = NUMBER;
        out[pos + 1] = F64B[0];
        out[pos + 2] = F64B[1];
        out[pos + 3] = F64B[2];
        out[pos + 4] = F64B[3];
        out[pos + 5] = F64B[4];
        out[pos + 6] = F64B[5];
        out[pos + 7] = F64B[6];
        out[pos + 8] = F64B[7];
        pos += 9;
        return true;
      case "boolean":
        if (pos + 1 > out.length) grow(1);
        out[pos++] = v ? TRUE : FALSE;
        return true;
      case "undefined":
        if (pos + 1 > out.length) grow(1);
        out[pos++] = UNDEFINED;
        return true;
      case "bigint": {
        let digits;
        try {
          digits = "" + v;
        } catch (e) {
          return refuse("a BigInt that cannot be printed");
        }
        text(BIGINT, digits);
        return true;
      }
      case "symbol":
        return refuse("a symbol");
      case "function":
        return refuse("a function");
    }
    if (v === null) {
      if (pos + 1 > out.length) grow(1);
      out[pos++] = NULL;
      return true;
    }
    switch (kindOf(v)) {
      case K_PLAIN:
        return object(v);
      case K_ARRAY:
        return array(v);
      case K_BYTES: {
        let end = copyBytes(v, out, pos);
        if (end < 0) {
          grow(-end - pos);
          end = copyBytes(v, out, pos);
        }
        pos = end;
        return true;
      }
      case K_PROMISE:
        return refuse("a Promise (did you forget an `await`?)");
      case K_PROXY:
        return refuse("a Proxy");
      case K_INSTANCE:
        return refuse(describe(v));
      default:
        return refuse("an engine-internal value");
    }
  }

  function array(a) {
    if (!enter(a)) return false;
    const n = a.length;
    if (pos + 5 > out.length) grow(5);
    out[pos++] = ARRAY;
    u32(n);
    for (let i = 0; i < n; i++) {
      let item;
      try {
        item = a[i];
      } catch (e) {
        return refuse("an array with an unreadable element");
      }
      if (!encode(item)) {
        path[npath++] = "[" + i + "]";
        return false;
      }
    }
    depth--;
    return true;
  }

  function object(o) {
    if (!enter(o)) return false;
    let keys;
    try {
      keys = keysOf(o);
    } catch (e) {
      return refuse("an object with an unreadable key");
    }
    const n = keys.length;
    if (pos + 5 > out.length) grow(5);
    out[pos++] = OBJECT;
    u32(n);
    for (let i = 0; i < n; i++) {
      const key = keys[i];
      let item;
      try {
        item = o[key];
      } catch (e) {
        return refuse("an object whose property getter threw");
      }
      if (pos + 4 > out.length) grow(4);
      u32(key.length);
      chars += key;
      if (!encode(item)) {
        path[npath++] = "." + key;
        return false;
      }
    }
    depth--;
    return true;
  }

  // What a non-plain object is, for the refusal message.
  function describe(o) {
    try {
      const ctor = o.constructor;
      if ((typeof ctor === "object" && ctor !== null) || typeof ctor === "function") {
        const name = ctor.name;
        if (typeof name === "string" && name.length > 0) return "an instance of " + name;
      }
    } catch (e) {
      // A throwing getter: say what is known.
    }
    return "an object with a non-plain prototype";
  }

  // One top-level argument: its encoding, or a refusal record in its place.
  function argument(v) {
    const mark = pos;
    const markChars = chars;
    const markDepth = depth;
    npath = 0;
    if (encode(v)) return;
    pos = mark;
    chars = markChars;
    depth = markDepth;
    if (pos + 5 > out.length) grow(5);
    out[pos++] = REFUSED;
    u32(npath);
    for (let i = 0; i < npath; i++) {
      if (pos + 4 > out.length) grow(4);
      u32(path[i].length);
      chars += path[i];
      path[i] = "";
    }
    if (pos + 4 > out.length) grow(4);
    u32(found.length);
    chars += found;
    npath = 0;
    found = "";
  }

  // The host operation `index`: encodes its arguments (an array), calls the
  // shim, and builds what it answers (a primitive as it is, or a list).
  // `wrapping` levels of each argument are the operation's own.
  function call(index, args, wrapping) {
    const start = pos;
    const outerChars = chars;
    const outerBase = base;
    const outerDepth = depth;
    const outerLimit = limit;
    let end, strings;
    base = depth;
    limit = MAX_DEPTH + wrapping;
    chars = "";
    try {
      if (pos + 5 > out.length) grow(5);
      out[pos++] = ARRAY;
      u32(args.length);
      for (let i = 0; i < args.length; i++) argument(args[i]);
      end = pos;
      strings = chars;
    } finally {
      for (let j = base; j < high; j++) stack[j] = null;
      high = base;
      pos = start;
      chars = outerChars;
      base = outerBase;
      depth = outerDepth;
      limit = outerLimit;
    }
    const answer = hostCall(index, out, start, end, strings);
    if (start === 0 && out.length > 1048576) out = new U8(4096);
    return typeof answer === "object" && answer !== null ? build(answer) : answer;
  }

  // The `host` object: one function per operation name, numbered in order.
  function host(names) {
    const h = {};
    for (let i = 0; i < names.length; i++) h[names[i]] = op(i, names[i] === "store" ? STORE_OP_WRAPPING : 0);
    return h;
  }

  function op(index, wrapping) {
    return (...args) => call(index, args, wrapping);
  }

  // ---- decoding ---------------------------------------------------------------
  let list = null;
  let at = 0;
  // Constructors per key list, appended by the shim.
  const ctors = [];

  function build(items) {
    const outerList = list;
    const outerAt = at;
    list = items;
    at = 0;
    try {
      return node();
    } finally {
      list = outerList;
      at = outerAt;
    }
  }

  function node() {
    const x = list[at++];
    if (typeof x !== "symbol") return x;
    if (x === I_SHAPE) return ctors[list[at++]](node);
    if (x === I_ARRAY) {
      const n = list[at++];
      const a = new ArrayCtor(n);
      for (let i = 0; i < n; i++) a[i] = node();
      return a;
    }
    // I_OBJECT
    let k = list[at++];
    const n = list[k++];
    const o = {};
    for (let i = 0; i < n; i++) {
      const key = list[k + i];
      const v = node();
      // Define, never set: "__proto__" (or anything the app defined on
      // Object.prototype) must become an own data property.
      if (hasOwn(ObjectProto, key)) {
        defineProperty(o, key, { __proto__: null, value: v, writable: true, enumerable: true, configurable: true });
      } else {
        o[key] = v;
      }
    }
    return o;
  }

  // A dispatcher function called with a value to build: fn(a, b, value).
  function deliver(fn, a, b, items) {
    return fn(a, b, build(items));
  }

  return { host, deliver, ctors, instructions: [I_ARRAY, I_OBJECT, I_SHAPE] };
})
