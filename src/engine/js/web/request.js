// request.js — Fetch Request (no streams, no AbortSignal).
(function (host, global) {
  "use strict";
  const urlParse = host.urlParse;
  const CUSTOM = Symbol.for("nodejs.util.inspect.custom");
  const web = host.webInternals;
  const H = web.headers;
  const body = web.body;
  const B = body.B;
  const R = Symbol("Request");
  const usv = web.usv;
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const NORMALIZE = { DELETE: 1, GET: 1, HEAD: 1, OPTIONS: 1, POST: 1, PUT: 1 };
  const FORBIDDEN = { CONNECT: 1, TRACE: 1, TRACK: 1 };
  const REDIRECT = { follow: 1, error: 1, manual: 1 };

  function slot(self) {
    const s = self !== null && typeof self === "object" ? self[R] : undefined;
    if (s === undefined) throw new TypeError("Illegal invocation: not a Request");
    return s;
  }
  function normalizeMethod(m) {
    m = String(m);
    if (!TOKEN.test(m)) throw new TypeError("'" + m + "' is not a valid HTTP method.");
    const upper = m.toUpperCase();
    if (FORBIDDEN[upper] === 1) throw new TypeError("'" + m + "' HTTP method is unsupported.");
    return NORMALIZE[upper] === 1 ? upper : m;
  }

  // Internal state: { method, url, headers, redirect, cache, credentials, mode,
  // integrity, keepalive, referrer, referrerPolicy }
  class Request {
    constructor(input, init) {
      if (arguments.length < 1) throw new TypeError("Request constructor: 1 argument required, but only 0 present");
      if (init === undefined || init === null) init = {};
      else if (typeof init !== "object" && typeof init !== "function") {
        throw new TypeError("Request constructor: init must be an object");
      }
      const inS = input !== null && typeof input === "object" ? input[R] : undefined;
      let r;
      let inputBody = null;
      if (inS !== undefined) {
        r = {
          method: inS.method, url: inS.url, headers: null, redirect: inS.redirect, cache: inS.cache,
          credentials: inS.credentials, mode: inS.mode, integrity: inS.integrity,
          keepalive: inS.keepalive, referrer: inS.referrer, referrerPolicy: inS.referrerPolicy,
        };
        inputBody = input[B];
      } else {
        const s = usv(input);
        const c = urlParse(s);
        if (c === null) throw new TypeError("Failed to parse URL from " + s);
        if (c.username !== "" || c.password !== "") {
          throw new TypeError("Request cannot be constructed from a URL that includes credentials: " + s);
        }
        r = {
          method: "GET", url: c.href, headers: null, redirect: "follow", cache: "default",
          credentials: "same-origin", mode: "cors", integrity: "", keepalive: false,
          referrer: "about:client", referrerPolicy: "",
        };
      }
      if (init.method !== undefined) r.method = normalizeMethod(init.method);
      if (init.redirect !== undefined) {
        const v = String(init.redirect);
        if (REDIRECT[v] !== 1) {
          throw new TypeError("Request constructor: " + v + " is not an accepted type. Expected one of follow, manual, error.");
        }
        r.redirect = v;
      }
      if (init.cache !== undefined) r.cache = String(init.cache);
      if (init.credentials !== undefined) r.credentials = String(init.credentials);
      if (init.mode !== undefined) {
        const v = String(init.mode);
        if (v === "navigate") throw new TypeError("Request constructor: invalid request mode navigate.");
        r.mode = v;
      }
      if (init.integrity !== undefined) r.integrity = String(init.integrity);
      if (init.keepalive !== undefined) r.keepalive = !!init.keepalive;
      if (init.referrerPolicy !== undefined) r.referrerPolicy = String(init.referrerPolicy);
      if (init.referrer !== undefined) {
        const v = usv(init.referrer);
        if (v === "") r.referrer = "";
        else {
          const c = urlParse(v);
          if (c === null) throw new TypeError("Referrer \"" + v + "\" is not a valid URL.");
          r.referrer = c.href === "about:client" ? "about:client" : c.href;
        }
      }

      const headers = H.create(init.headers !== undefined ? init.headers : inS !== undefined ? inS.headers : undefined);
      r.headers = headers;

      const hasInitBody = init.body !== undefined && init.body !== null;
      if ((hasInitBody || (inputBody !== null && inputBody !== undefined && inputBody.src !== null)) &&
          (r.method === "GET" || r.method === "HEAD")) {
        throw new TypeError("Request with GET/HEAD method cannot have body.");
      }
      let src = null;
      if (hasInitBody) {
        const ext = body.extract(init.body);
        src = ext.src;
        if (ext.type !== null && !H.has(headers, "content-type")) H.set(headers, "content-type", ext.type);
      } else if (inputBody !== null && inputBody.src !== null && init.body === undefined) {
        if (inputBody.used) {
          throw new TypeError("Cannot construct a Request with a Request object that has already been used.");
        }
        src = body.take(inputBody);
      }
      this[R] = r;
      body.init(this, src, headers);
    }
    get method() { return slot(this).method; }
    get url() { return slot(this).url; }
    get headers() { return slot(this).headers; }
    get redirect() { return slot(this).redirect; }
    get cache() { return slot(this).cache; }
    get credentials() { return slot(this).credentials; }
    get mode() { return slot(this).mode; }
    get integrity() { return slot(this).integrity; }
    get keepalive() { return slot(this).keepalive; }
    get referrer() { return slot(this).referrer; }
    get referrerPolicy() { return slot(this).referrerPolicy; }
    get destination() { slot(this); return ""; }
    get duplex() { slot(this); return "half"; }
    get isReloadNavigation() { slot(this); return false; }
    get isHistoryNavigation() { slot(this); return false; }
    clone() {
      const r = slot(this);
      const b = body.state(this);
      if (b.used) throw new TypeError("Request.clone: Body has already been consumed.");
      const copy = Object.create(Request.prototype);
      const headers = H.create(r.headers);
      copy[R] = Object.assign({}, r, { headers: headers });
      body.init(copy, body.cloneSrc(b.src), headers);
      return copy;
    }
    [CUSTOM](depth, options, inspect) {
      const r = slot(this);
      return "Request { method: " + inspect(r.method) + ", url: " + inspect(r.url) + ", headers: " +
        inspect(r.headers) + ", bodyUsed: " + this.bodyUsed + " }";
    }
  }
  body.install(Request.prototype);
  Object.defineProperty(Request.prototype, Symbol.toStringTag, { value: "Request", configurable: true });

  // For the engine's HTTP adapter: a Request from what the host's HTTP
  // parser produced (method token, absolute serialized URL, lower-case
  // header pairs, body bytes), skipping the parsing and validation the
  // public constructor does on untrusted input.
  web.request = {
    fromHost: function (method, url, pairs, bytes) {
      const req = Object.create(Request.prototype);
      const headers = H.fromTrusted(pairs);
      req[R] = {
        method: method, url: url, headers: headers, redirect: "follow", cache: "default",
        credentials: "same-origin", mode: "cors", integrity: "", keepalive: false,
        referrer: "about:client", referrerPolicy: "",
      };
      body.init(req, bytes === undefined ? null : bytes, headers);
      return req;
    },
  };

  Object.defineProperty(global, "Request", {
    value: Request, writable: true, configurable: true, enumerable: false,
  });
})
