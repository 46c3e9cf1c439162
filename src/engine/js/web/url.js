// url.js — WHATWG URL and URLSearchParams. Parsing and setters are host ops
// (Rust `url` crate); the URLSearchParams list lives here.
(function (host, global) {
  "use strict";
  const urlParse = host.urlParse;
  const urlSet = host.urlSet;
  const formDecode = host.formDecode;
  const formEncode = host.formEncode;
  const CUSTOM = Symbol.for("nodejs.util.inspect.custom");
  const U = Symbol("URL");
  const P = Symbol("URLSearchParams");
  const LONE = /[\uD800-\uDFFF]/;

  function define(name, value) {
    Object.defineProperty(global, name, { value: value, writable: true, configurable: true, enumerable: false });
  }
  function tag(proto, name) {
    Object.defineProperty(proto, Symbol.toStringTag, { value: name, configurable: true });
  }
  // WebIDL USVString: lone surrogates become U+FFFD.
  // String.prototype.isWellFormed (ES2024) is native where the engine has
  // it; the regex is the fallback for older engines.
  const isWellFormed = String.prototype.isWellFormed;
  function usv(v) {
    const s = typeof v === "string" ? v : String(v);
    if (isWellFormed !== undefined ? isWellFormed.call(s) : !LONE.test(s)) return s;
    let out = "";
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) { out += s[i] + s[i + 1]; i++; continue; }
      }
      out += c >= 0xd800 && c <= 0xdfff ? "\uFFFD" : s[i];
    }
    return out;
  }
  function need(args, n, what) {
    if (args.length < n) {
      throw new TypeError(what + ": " + n + " argument" + (n > 1 ? "s" : "") + " required, but only " + args.length + " present");
    }
  }
  function slot(self, key, name) {
    const s = self !== null && typeof self === "object" ? self[key] : undefined;
    if (s === undefined) throw new TypeError("Illegal invocation: not a " + name);
    return s;
  }

  // ---- URLSearchParams -------------------------------------------------

  // Internal state: { list: [[name, value], ...], url: URL state or null }
  function paramsUpdate(p) {
    const u = p.url;
    if (u === null) return;
    const query = formEncode(p.list);
    const c = urlSet(u.c.href, "search", query);
    if (c !== null) u.c = c;
  }

  class URLSearchParams {
    constructor(init) {
      let list = [];
      if (init === undefined) {
        // empty
      } else if (init !== null && (typeof init === "object" || typeof init === "function")) {
        if (init[P] !== undefined) {
          const src = init[P].list;
          for (let i = 0; i < src.length; i++) list.push([src[i][0], src[i][1]]);
        } else if (typeof init[Symbol.iterator] === "function") {
          for (const pair of init) {
            if (pair === null || (typeof pair !== "object" && typeof pair !== "function") ||
                typeof pair[Symbol.iterator] !== "function") {
              throw new TypeError("URLSearchParams: each query pair must be an iterable [name, value] tuple");
            }
            const kv = Array.from(pair);
            if (kv.length !== 2) {
              throw new TypeError("URLSearchParams: each query pair must be an iterable [name, value] tuple");
            }
            list.push([usv(kv[0]), usv(kv[1])]);
          }
        } else {
          const keys = Reflect.ownKeys(init);
          for (let i = 0; i < keys.length; i++) {
            const k = keys[i];
            const d = Object.getOwnPropertyDescriptor(init, k);
            if (d === undefined || !d.enumerable) continue;
            if (typeof k === "symbol") throw new TypeError("URLSearchParams: cannot convert a Symbol key to a string");
            list.push([usv(k), usv(init[k])]);
          }
        }
      } else {
        let s = usv(init);
        if (s.charCodeAt(0) === 63) s = s.slice(1); // '?'
        if (s !== "") list = formDecode(s);
      }
      this[P] = { list: list, url: null };
    }
    get size() { return slot(this, P, "URLSearchParams").list.length; }
    append(name, value) {
      const p = slot(this, P, "URLSearchParams");
      need(arguments, 2, "URLSearchParams.append");
      p.list.push([usv(name), usv(value)]);
      paramsUpdate(p);
    }
    delete(name, value) {
      const p = slot(this, P, "URLSearchParams");
      need(arguments, 1, "URLSearchParams.delete");
      name = usv(name);
      const list = p.list;
      const byValue = value !== undefined;
      if (byValue) value = usv(value);
      let j = 0;
      for (let i = 0; i < list.length; i++) {
        const e = list[i];
        if (e[0] === name && (!byValue || e[1] === value)) continue;
        list[j++] = e;
      }
      list.length = j;
      paramsUpdate(p);
    }
    get(name) {
      const list = slot(this, P, "URLSearchParams").list;
      need(arguments, 1, "URLSearchParams.get");
      name = usv(name);
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) return list[i][1];
      return null;
    }
    getAll(name) {
      const list = slot(this, P, "URLSearchParams").list;
      need(arguments, 1, "URLSearchParams.getAll");
      name = usv(name);
      const out = [];
      for (let i = 0; i < list.length; i++) if (list[i][0] === name) out.push(list[i][1]);
      return out;
    }
    has(name, value) {
      const list = slot(this, P, "URLSearchParams").list;
      need(arguments, 1, "URLSearchParams.has");
      name = usv(name);
      const byValue = value !== undefined;
      if (byValue) value = usv(value);
      for (let i = 0; i < list.length; i++) {
        if (list[i][0] === name && (!byValue || list[i][1] === value)) return true;
      }
      return false;
    }
    set(name, value) {
      const p = slot(this, P, "URLSearchParams");
      need(arguments, 2, "URLSearchParams.set");
      name = usv(name);
      value = usv(value);
      const list = p.list;
      let found = false;
      let j = 0;
      for (let i = 0; i < list.length; i++) {
        const e = list[i];
        if (e[0] === name) {
          if (found) continue;
          found = true;
          list[j++] = [name, value];
        } else {
          list[j++] = e;
        }
      }
      list.length = j;
      if (!found) list.push([name, value]);
      paramsUpdate(p);
    }
    sort() {
      const p = slot(this, P, "URLSearchParams");
      // Stable sort by UTF-16 code units of the name (Array.prototype.sort is stable).
      p.list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      paramsUpdate(p);
    }
    toString() {
      return formEncode(slot(this, P, "URLSearchParams").list);
    }
    forEach(callback, thisArg) {
      const list = slot(this, P, "URLSearchParams").list;
      if (typeof callback !== "function") throw new TypeError("URLSearchParams.forEach: callback is not a function");
      for (let i = 0; i < list.length; i++) callback.call(thisArg, list[i][1], list[i][0], this);
    }
    *entries() {
      const list = slot(this, P, "URLSearchParams").list;
      for (let i = 0; i < list.length; i++) yield [list[i][0], list[i][1]];
    }
    *keys() {
      const list = slot(this, P, "URLSearchParams").list;
      for (let i = 0; i < list.length; i++) yield list[i][0];
    }
    *values() {
      const list = slot(this, P, "URLSearchParams").list;
      for (let i = 0; i < list.length; i++) yield list[i][1];
    }
    [CUSTOM](depth, options, inspect) {
      const list = slot(this, P, "URLSearchParams").list;
      if (list.length === 0) return "URLSearchParams {}";
      return "URLSearchParams { " + list.map((e) => inspect(e[0]) + " => " + inspect(e[1])).join(", ") + " }";
    }
  }
  Object.defineProperty(URLSearchParams.prototype, Symbol.iterator, {
    value: URLSearchParams.prototype.entries, writable: true, configurable: true,
  });
  tag(URLSearchParams.prototype, "URLSearchParams");

  // ---- URL -------------------------------------------------------------

  // Internal state: { c: components from host, params: URLSearchParams or null }
  function parse(url, base, what) {
    const c = base === undefined ? urlParse(usv(url)) : urlParse(usv(url), usv(base));
    if (c === null) {
      const e = new TypeError("Invalid URL" + (what ? ": " + what : ""));
      e.code = "ERR_INVALID_URL";
      throw e;
    }
    return c;
  }
  function refreshParams(u) {
    if (u.params === null) return;
    const q = u.c.search;
    u.params[P].list = q.length > 1 ? formDecode(q.slice(1)) : [];
  }
  function setter(component) {
    return function (value) {
      const u = slot(this, U, "URL");
      const c = urlSet(u.c.href, component, usv(value));
      if (c === null) {
        if (component === "href") {
          const e = new TypeError("Invalid URL: " + String(value));
          e.code = "ERR_INVALID_URL";
          throw e;
        }
        return;
      }
      u.c = c;
      if (component === "href" || component === "search") refreshParams(u);
    };
  }
  function getter(component) {
    return function () { return slot(this, U, "URL").c[component]; };
  }

  class URL {
    constructor(url, base) {
      need(arguments, 1, "URL");
      this[U] = { c: parse(url, base, String(url)), params: null };
    }
    static canParse(url, base) {
      need(arguments, 1, "URL.canParse");
      return (base === undefined ? urlParse(usv(url)) : urlParse(usv(url), usv(base))) !== null;
    }
    static parse(url, base) {
      need(arguments, 1, "URL.parse");
      const c = base === undefined ? urlParse(usv(url)) : urlParse(usv(url), usv(base));
      if (c === null) return null;
      const u = Object.create(URL.prototype);
      u[U] = { c: c, params: null };
      return u;
    }
    get searchParams() {
      const u = slot(this, U, "URL");
      if (u.params === null) {
        const p = new URLSearchParams(u.c.search);
        p[P].url = u;
        u.params = p;
      }
      return u.params;
    }
    get origin() { return slot(this, U, "URL").c.origin; }
    toString() { return slot(this, U, "URL").c.href; }
    toJSON() { return slot(this, U, "URL").c.href; }
    [CUSTOM](depth, options, inspect) {
      const c = slot(this, U, "URL").c;
      const keys = ["href", "origin", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search"];
      const parts = keys.map((k) => k + ": " + inspect(c[k]));
      parts.push("searchParams: " + inspect(this.searchParams));
      parts.push("hash: " + inspect(c.hash));
      return "URL { " + parts.join(", ") + " }";
    }
  }
  const comps = ["href", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"];
  for (let i = 0; i < comps.length; i++) {
    Object.defineProperty(URL.prototype, comps[i], {
      get: getter(comps[i]), set: setter(comps[i]), enumerable: true, configurable: true,
    });
  }
  tag(URL.prototype, "URL");

  // Shared with later files.
  const web = host.webInternals || (host.webInternals = {});
  web.usv = usv;

  define("URL", URL);
  define("URLSearchParams", URLSearchParams);
})
