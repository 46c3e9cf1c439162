// headers.js — Fetch Headers: lower-cased names, validated names and values,
// values combined with ", " on get, set-cookie kept apart, sorted iteration.
(function (host, global) {
  "use strict";
  const CUSTOM = Symbol.for("nodejs.util.inspect.custom");
  const H = Symbol("Headers");
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const BAD_VALUE = /[\0\r\n]/;
  const TRIM = /^[\t\n\r ]+|[\t\n\r ]+$/g;
  const WIDE = /[^\x00-\xff]/;
  // Captured once: internals must not depend on what user code does to the
  // globals later, and a captured function costs no lookups per call.
  const ITERATOR = Symbol.iterator;
  const ObjectProto = Object.prototype;
  const getPrototypeOf = Object.getPrototypeOf;
  const getOwnPropertySymbols = Object.getOwnPropertySymbols;
  const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const objectKeys = Object.keys;
  const ownKeys = Reflect.ownKeys;
  const isArray = Array.isArray;
  const arrayFrom = Array.from;

  function define(name, value) {
    Object.defineProperty(global, name, { value: value, writable: true, configurable: true, enumerable: false });
  }
  function slot(self) {
    const s = self !== null && typeof self === "object" ? self[H] : undefined;
    if (s === undefined) throw new TypeError("Illegal invocation: not a Headers");
    return s;
  }
  function need(args, n, what) {
    if (args.length < n) {
      throw new TypeError("Headers." + what + ": " + n + " argument" + (n > 1 ? "s" : "") + " required, but only " + args.length + " present");
    }
  }
  function byteString(v) {
    const s = typeof v === "string" ? v : String(v);
    if (WIDE.test(s)) {
      const i = s.search(WIDE);
      throw new TypeError("Cannot convert argument to a ByteString because the character at index " + i +
        " has a value of " + s.charCodeAt(i) + " which is greater than 255.");
    }
    return s;
  }
  // A header value that needs no trimming and holds no forbidden or wide
  // character: the common case, checked with one regex.
  const PLAIN_VALUE = /^[^\0\r\n\t \u0100-\uffff](?:[^\0\r\n\u0100-\uffff]*[^\0\r\n\t \u0100-\uffff])?$/;
  // Validated names and values, remembered: an app uses few distinct header
  // names and values ("content-type", "text/plain"), and a Map lookup is
  // several times cheaper than a regex match in an interpreter. Bounded so
  // a stream of distinct values cannot grow it without limit.
  const CACHE_MAX = 512;
  const CACHEABLE_VALUE = 64;
  const names = new Map();
  const values = new Map();
  function remember(cache, key, v) {
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(key, v);
  }
  function checkName(name, what) {
    if (typeof name === "string") {
      const known = names.get(name);
      if (known !== undefined) return known;
      // A token is ASCII, so it is a ByteString too.
      if (TOKEN.test(name)) {
        const lower = name.toLowerCase();
        remember(names, name, lower);
        return lower;
      }
    }
    name = byteString(name);
    if (!TOKEN.test(name)) throw new TypeError("Headers." + what + ': "' + name + '" is an invalid header name.');
    return name.toLowerCase();
  }
  function checkValue(value, what) {
    if (typeof value === "string") {
      if (value === "" || values.has(value)) return value;
      if (PLAIN_VALUE.test(value)) {
        if (value.length <= CACHEABLE_VALUE) remember(values, value, true);
        return value;
      }
    }
    value = byteString(value);
    if (value.length > 0) {
      const a = value.charCodeAt(0);
      const z = value.charCodeAt(value.length - 1);
      if (a === 32 || a === 9 || a === 10 || a === 13 || z === 32 || z === 9 || z === 10 || z === 13) {
        value = value.replace(TRIM, "");
      }
    }
    if (BAD_VALUE.test(value)) throw new TypeError("Headers." + what + ': "' + value + '" is an invalid header value.');
    return value;
  }
  function checkGuard(h) {
    if (h.guard === "immutable") throw new TypeError("immutable");
  }

  // Internal state: { map: Map<lower-case name, string[]>, guard: "none" | "immutable" }
  function appendTo(h, name, value) {
    const list = h.map.get(name);
    if (list === undefined) h.map.set(name, [value]);
    else list.push(value);
  }
  // Reads a HeadersInit and hands each validated (lower-case name, value)
  // pair to add(target, name, value), in order. Every read, conversion and
  // error is the same whatever the target, so building a header list
  // instead of a Headers (see `list` below) is unobservable.
  function fill(init, add, target) {
    if (init === null || (typeof init !== "object" && typeof init !== "function")) {
      throw new TypeError("Headers constructor: Argument 1 could not be converted to one of: sequence<sequence<ByteString>>, record<ByteString, ByteString>.");
    }
    const other = init[H];
    if (other !== undefined) {
      other.map.forEach((values, name) => {
        for (let i = 0; i < values.length; i++) add(target, name, values[i]);
      });
      return;
    }
    if (typeof init[ITERATOR] === "function") {
      for (const pair of init) {
        if (pair === null || (typeof pair !== "object" && typeof pair !== "function") ||
            typeof pair[ITERATOR] !== "function") {
          throw new TypeError("Headers constructor: expected name/value pair to be length 2, found " + typeof pair + ".");
        }
        const kv = isArray(pair) ? pair : arrayFrom(pair);
        if (kv.length !== 2) {
          throw new TypeError("Headers constructor: expected name/value pair to be length 2, found " + kv.length + ".");
        }
        add(target, checkName(kv[0], "append"), checkValue(kv[1], "append"));
      }
      return;
    }
    if (getPrototypeOf(init) === ObjectProto && getOwnPropertySymbols(init).length === 0) {
      // A plain object literal: its own enumerable string keys, in order.
      const own = objectKeys(init);
      for (let i = 0; i < own.length; i++) {
        // checkName and checkValue, their cached cases inlined: this runs
        // for nearly every `new Response(body, { headers: {...} })`.
        const k = own[i];
        let name = names.get(k);
        if (name === undefined) name = checkName(k, "append");
        let value = init[k];
        if (typeof value !== "string" || (value !== "" && !values.has(value))) value = checkValue(value, "append");
        add(target, name, value);
      }
      return;
    }
    const keys = ownKeys(init);
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const d = getOwnPropertyDescriptor(init, k);
      if (d === undefined || !d.enumerable) continue;
      if (typeof k === "symbol") throw new TypeError("Headers constructor: cannot convert a Symbol key to a string");
      add(target, checkName(k, "append"), checkValue(init[k], "append"));
    }
  }
  function pushPair(list, name, value) {
    const n = list.length;
    list[n] = name;
    list[n + 1] = value;
  }

  // The "sort and combine" list: [[name, value], ...].
  function sorted(h) {
    const names = Array.from(h.map.keys()).sort();
    const out = [];
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      const values = h.map.get(name);
      if (name === "set-cookie") {
        for (let j = 0; j < values.length; j++) out.push([name, values[j]]);
      } else {
        out.push([name, values.length === 1 ? values[0] : values.join(", ")]);
      }
    }
    return out;
  }

  class Headers {
    constructor(init) {
      const h = { map: new Map(), guard: "none" };
      this[H] = h;
      if (init !== undefined) fill(init, appendTo, h);
    }
    append(name, value) {
      const h = slot(this);
      need(arguments, 2, "append");
      name = checkName(name, "append");
      value = checkValue(value, "append");
      checkGuard(h);
      appendTo(h, name, value);
    }
    delete(name) {
      const h = slot(this);
      need(arguments, 1, "delete");
      name = checkName(name, "delete");
      checkGuard(h);
      h.map.delete(name);
    }
    get(name) {
      const h = slot(this);
      need(arguments, 1, "get");
      const values = h.map.get(checkName(name, "get"));
      if (values === undefined) return null;
      return values.length === 1 ? values[0] : values.join(", ");
    }
    getSetCookie() {
      const values = slot(this).map.get("set-cookie");
      return values === undefined ? [] : values.slice();
    }
    has(name) {
      const h = slot(this);
      need(arguments, 1, "has");
      return h.map.has(checkName(name, "has"));
    }
    set(name, value) {
      const h = slot(this);
      need(arguments, 2, "set");
      name = checkName(name, "set");
      value = checkValue(value, "set");
      checkGuard(h);
      h.map.set(name, [value]);
    }
    forEach(callback, thisArg) {
      const h = slot(this);
      if (typeof callback !== "function") throw new TypeError("Headers.forEach: callback is not a function");
      const list = sorted(h);
      for (let i = 0; i < list.length; i++) callback.call(thisArg, list[i][1], list[i][0], this);
    }
    *entries() {
      const list = sorted(slot(this));
      for (let i = 0; i < list.length; i++) yield list[i];
    }
    *keys() {
      const list = sorted(slot(this));
      for (let i = 0; i < list.length; i++) yield list[i][0];
    }
    *values() {
      const list = sorted(slot(this));
      for (let i = 0; i < list.length; i++) yield list[i][1];
    }
    [CUSTOM](depth, options, inspect) {
      const list = sorted(slot(this));
      if (list.length === 0) return "Headers {}";
      return "Headers { " + list.map((e) => (/^[A-Za-z_$][\w$]*$/.test(e[0]) ? e[0] : inspect(e[0])) + ": " + inspect(e[1])).join(", ") + " }";
    }
  }
  Object.defineProperty(Headers.prototype, Symbol.iterator, {
    value: Headers.prototype.entries, writable: true, configurable: true,
  });
  Object.defineProperty(Headers.prototype, Symbol.toStringTag, { value: "Headers", configurable: true });

  // ---- header lists ------------------------------------------------------
  // A header list is a flat array [name0, value0, name1, value1, ...] of
  // validated lower-case names and their values, in append order: what a
  // Headers holds, without the Headers. A Request or Response keeps one
  // until its `headers` is first read (most fetch handlers never read the
  // request's, nobody reads the returned response's), and the host gets
  // one for the response (the gateway sorts and combines it as iterating a
  // Headers would). A list is never changed once it is kept, so Requests
  // and Responses can share one.
  function getTrusted(headers, name) {
    const values = headers[H].map.get(name);
    return values === undefined ? null : values.length === 1 ? values[0] : values.join(", ");
  }
  function listGet(list, name) {
    let out = null;
    for (let i = 0; i < list.length; i += 2) {
      if (list[i] === name) out = out === null ? list[i + 1] : out + ", " + list[i + 1];
    }
    return out;
  }
  function listHas(list, name) {
    for (let i = 0; i < list.length; i += 2) if (list[i] === name) return true;
    return false;
  }
  function fromList(list) {
    const headers = new Headers();
    const h = headers[H];
    for (let i = 0; i < list.length; i += 2) appendTo(h, list[i], list[i + 1]);
    return headers;
  }
  function listOf(h) {
    const list = [];
    h.map.forEach((values, name) => {
      for (let i = 0; i < values.length; i++) pushPair(list, name, values[i]);
    });
    return list;
  }

  // Internals for body.js / request.js / response.js.
  const web = host.webInternals || (host.webInternals = {});
  web.headers = {
    // new Headers(init) with the given guard, without going through user-patchable globals.
    create: function (init, guard) {
      const headers = new Headers(init);
      if (guard !== undefined) headers[H].guard = guard;
      return headers;
    },
    setGuard: function (headers, guard) { headers[H].guard = guard; },
    isImmutable: function (headers) { return headers[H].guard === "immutable"; },
    // Fast internal reads/writes on already-validated lower-case names.
    get: getTrusted,
    has: function (headers, name) { return headers[H].map.has(name); },
    set: function (headers, name, value) { headers[H].map.set(name, [value]); },

    // A new header list from a HeadersInit (undefined: empty), with the
    // reads, conversions and errors of new Headers(init).
    list: function (init) {
      const list = [];
      if (init !== undefined) fill(init, pushPair, list);
      return list;
    },
    listHas: listHas,
    // A new list: `list` plus one pair.
    withPair: function (list, name, value) {
      const out = list.slice();
      pushPair(out, name, value);
      return out;
    },
    listGet: listGet,
    fromList: fromList,
    listOf: function (headers) { return listOf(headers[H]); },
  };

  define("Headers", Headers);
})
