// request.js — Fetch Request (no streams).
(function (host, global) {
  "use strict";
  const urlParse = host.urlParse;
  const CUSTOM = Symbol.for("nodejs.util.inspect.custom");
  const web = host.webInternals;
  const H = web.headers;
  const body = web.body;
  const B = body.B;
  const REQUEST = body.REQUEST;
  const KIND = body.KIND;
  const SRC = body.SRC;
  const USED = body.USED;
  const METHOD = body.CLASS;
  const URL_ = body.CLASS + 1;
  const OPTS = body.CLASS + 2;
  const SIGNAL = body.CLASS + 3; // an AbortSignal, or null until `signal` is read
  const abortSignal = web.abortSignal;
  const isAbortSignal = web.isAbortSignal;
  const usv = web.usv;
  const create = Object.create;
  const assign = Object.assign;
  const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
  const NORMALIZE = { DELETE: 1, GET: 1, HEAD: 1, OPTIONS: 1, POST: 1, PUT: 1 };
  const FORBIDDEN = { CONNECT: 1, TRACE: 1, TRACK: 1 };
  const REDIRECT = { follow: 1, error: 1, manual: 1 };
  // The attributes that almost every Request has at their defaults, in one
  // object shared by all such Requests (never changed: a Request that sets
  // any of them gets its own copy).
  const DEFAULTS = Object.freeze({
    redirect: "follow", cache: "default", credentials: "same-origin", mode: "cors", integrity: "",
    keepalive: false, referrer: "about:client", referrerPolicy: "",
  });

  // Internal state (this[B], see body.js): the body and header slots,
  // then METHOD, URL_ and OPTS, an object of redirect, cache, credentials,
  // mode, integrity, keepalive, referrer, referrerPolicy, and SIGNAL.
  function state(src, hlist, method, url, opts, signal) {
    return [REQUEST, src, false, null, null, hlist, method, url, opts, signal];
  }
  // A signal that follows `signal` (the standard's "dependent signal"), or null.
  function follow(signal) {
    return signal === null ? null : abortSignal.any([signal]);
  }
  function isRequest(s) {
    return s !== undefined && s[KIND] === REQUEST;
  }
  function slot(self) {
    const s = self !== null && typeof self === "object" ? self[B] : undefined;
    if (!isRequest(s)) throw new TypeError("Illegal invocation: not a Request");
    return s;
  }
  function normalizeMethod(m) {
    m = String(m);
    if (!TOKEN.test(m)) throw new TypeError("'" + m + "' is not a valid HTTP method.");
    const upper = m.toUpperCase();
    if (FORBIDDEN[upper] === 1) throw new TypeError("'" + m + "' HTTP method is unsupported.");
    return NORMALIZE[upper] === 1 ? upper : m;
  }

  class Request {
    constructor(input, init) {
      if (arguments.length < 1) throw new TypeError("Request constructor: 1 argument required, but only 0 present");
      if (init === undefined || init === null) init = {};
      else if (typeof init !== "object" && typeof init !== "function") {
        throw new TypeError("Request constructor: init must be an object");
      }
      const inS = input !== null && typeof input === "object" ? input[B] : undefined;
      const fromRequest = isRequest(inS);
      let method, url;
      let opts = DEFAULTS;
      if (fromRequest) {
        method = inS[METHOD];
        url = inS[URL_];
        opts = inS[OPTS];
      } else {
        const s = usv(input);
        const c = urlParse(s);
        if (c === null) throw new TypeError("Failed to parse URL from " + s);
        if (c.username !== "" || c.password !== "") {
          throw new TypeError("Request cannot be constructed from a URL that includes credentials: " + s);
        }
        method = "GET";
        url = c.href;
      }
      // `opts` may be shared (DEFAULTS, the input's): copied before the first change.
      let shared = true;
      const own = () => {
        if (shared) {
          opts = assign({}, opts);
          shared = false;
        }
        return opts;
      };
      if (init.method !== undefined) method = normalizeMethod(init.method);
      if (init.redirect !== undefined) {
        const v = String(init.redirect);
        if (REDIRECT[v] !== 1) {
          throw new TypeError("Request constructor: " + v + " is not an accepted type. Expected one of follow, manual, error.");
        }
        own().redirect = v;
      }
      if (init.cache !== undefined) own().cache = String(init.cache);
      if (init.credentials !== undefined) own().credentials = String(init.credentials);
      if (init.mode !== undefined) {
        const v = String(init.mode);
        if (v === "navigate") throw new TypeError("Request constructor: invalid request mode navigate.");
        own().mode = v;
      }
      if (init.integrity !== undefined) own().integrity = String(init.integrity);
      if (init.keepalive !== undefined) own().keepalive = !!init.keepalive;
      if (init.referrerPolicy !== undefined) own().referrerPolicy = String(init.referrerPolicy);
      let signal = fromRequest ? inS[SIGNAL] : null;
      if (init.signal !== undefined) {
        if (init.signal !== null && !isAbortSignal(init.signal)) {
          throw new TypeError("Request constructor: 'signal' member of RequestInit is not an AbortSignal");
        }
        signal = init.signal;
      }
      if (init.referrer !== undefined) {
        const v = usv(init.referrer);
        if (v === "") own().referrer = "";
        else {
          const c = urlParse(v);
          if (c === null) throw new TypeError("Referrer \"" + v + "\" is not a valid URL.");
          own().referrer = c.href === "about:client" ? "about:client" : c.href;
        }
      }

      // A fresh list from init.headers, or the input's (shared: withPair copies).
      let hlist = init.headers !== undefined ? H.list(init.headers) : fromRequest ? body.listFrom(inS) : [];

      const hasInitBody = init.body !== undefined && init.body !== null;
      if ((hasInitBody || (fromRequest && inS[SRC] !== null)) && (method === "GET" || method === "HEAD")) {
        throw new TypeError("Request with GET/HEAD method cannot have body.");
      }
      let src = null;
      if (hasInitBody) {
        const ext = body.extract(init.body);
        src = ext.src;
        if (ext.type !== null && !H.listHas(hlist, "content-type")) hlist = H.withPair(hlist, "content-type", ext.type);
      } else if (fromRequest && inS[SRC] !== null && init.body === undefined) {
        if (inS[USED]) {
          throw new TypeError("Cannot construct a Request with a Request object that has already been used.");
        }
        src = body.take(inS);
      }
      this[B] = state(src, hlist, method, url, opts, follow(signal));
    }
    get method() { return slot(this)[METHOD]; }
    get url() { return slot(this)[URL_]; }
    get headers() { return body.headersOf(slot(this)); }
    get redirect() { return slot(this)[OPTS].redirect; }
    get cache() { return slot(this)[OPTS].cache; }
    get credentials() { return slot(this)[OPTS].credentials; }
    get mode() { return slot(this)[OPTS].mode; }
    get integrity() { return slot(this)[OPTS].integrity; }
    get keepalive() { return slot(this)[OPTS].keepalive; }
    get referrer() { return slot(this)[OPTS].referrer; }
    get referrerPolicy() { return slot(this)[OPTS].referrerPolicy; }
    get signal() {
      const r = slot(this);
      if (r[SIGNAL] === null) r[SIGNAL] = abortSignal.create();
      return r[SIGNAL];
    }
    get destination() { slot(this); return ""; }
    get duplex() { slot(this); return "half"; }
    get isReloadNavigation() { slot(this); return false; }
    get isHistoryNavigation() { slot(this); return false; }
    clone() {
      const r = slot(this);
      if (r[USED]) throw new TypeError("Request.clone: Body has already been consumed.");
      const copy = create(Request.prototype);
      copy[B] = state(body.cloneSrc(r[SRC]), body.listFrom(r), r[METHOD], r[URL_], r[OPTS], follow(r[SIGNAL]));
      return copy;
    }
    [CUSTOM](depth, options, inspect) {
      const r = slot(this);
      return "Request { method: " + inspect(r[METHOD]) + ", url: " + inspect(r[URL_]) + ", headers: " +
        inspect(body.headersOf(r)) + ", bodyUsed: " + this.bodyUsed + " }";
    }
  }
  body.install(Request.prototype);
  Object.defineProperty(Request.prototype, Symbol.toStringTag, { value: "Request", configurable: true });

  // For the engine's HTTP adapter: a Request from what the host's HTTP
  // parser produced (method token, absolute serialized URL, header list of
  // lower-case names and ByteString values, body bytes or undefined),
  // skipping the parsing and validation the public constructor does on
  // untrusted input. Its Headers is made only if it is read.
  web.request = {
    // What fetch() sends of a Request (taking its body): [method, url,
    // header list, body source or null, redirect mode, signal or null].
    outbound: function (req) {
      const r = slot(req);
      return [r[METHOD], r[URL_], body.listFrom(r), body.take(r), r[OPTS].redirect, r[SIGNAL]];
    },
    fromHost: function (method, url, hlist, bytes) {
      const req = create(Request.prototype);
      req[B] = state(bytes === undefined || bytes === null ? null : bytes, hlist, method, url, DEFAULTS, null);
      return req;
    },
  };

  Object.defineProperty(global, "Request", {
    value: Request, writable: true, configurable: true, enumerable: false,
  });
})
