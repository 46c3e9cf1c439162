// response.js — Fetch Response (no streams), and the responses fetch() makes.
(function (host, global) {
  "use strict";
  const urlParse = host.urlParse;
  const CUSTOM = Symbol.for("nodejs.util.inspect.custom");
  const web = host.webInternals;
  const H = web.headers;
  const body = web.body;
  const B = body.B;
  const RESPONSE = body.RESPONSE;
  const KIND = body.KIND;
  const SRC = body.SRC;
  const USED = body.USED;
  const HEADERS = body.HEADERS;
  const TYPE = body.CLASS;
  const STATUS = body.CLASS + 1;
  const STATUS_TEXT = body.CLASS + 2;
  const NET = body.CLASS + 3; // null, or [url, redirected] of a fetch() response
  const TEXT = body.TEXT;
  const headerList = H.list;
  const listHas = H.listHas;
  const take = body.take;
  const listFrom = body.listFrom;
  const JSONstringify = JSON.stringify;
  const create = Object.create;
  const usv = web.usv;
  const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;
  const REDIRECTS = { 301: 1, 302: 1, 303: 1, 307: 1, 308: 1 };

  // Internal state (this[B], see body.js): the body and header slots, then
  // TYPE, STATUS, STATUS_TEXT and NET. `url` is "" and `redirected` false
  // except for the responses fetch() makes.
  function state(src, headers, hlist, type, status, statusText, net) {
    return [RESPONSE, src, false, null, headers, hlist, type, status, statusText, net];
  }
  function slot(self) {
    const s = self !== null && typeof self === "object" ? self[B] : undefined;
    if (s === undefined || s[KIND] !== RESPONSE) throw new TypeError("Illegal invocation: not a Response");
    return s;
  }
  function toUint16(v) {
    const n = Number(v);
    if (n !== n || n === Infinity || n === -Infinity) return 0;
    const t = Math.trunc(n) % 65536;
    return t < 0 ? t + 65536 : t;
  }
  function isNullBodyStatus(s) {
    return s === 101 || s === 103 || s === 204 || s === 205 || s === 304;
  }

  // "Initialize a response": validates init, then the state with status,
  // headers (as a header list: a Headers is made only if `headers` is
  // read) and body.
  function setup(init, src, type) {
    let status = 200;
    let statusText = "";
    let hlist;
    if (init === undefined || init === null) {
      hlist = [];
    } else {
      if (typeof init !== "object" && typeof init !== "function") {
        throw new TypeError("Response constructor: init must be an object");
      }
      const s = init.status;
      if (s !== undefined) {
        status = toUint16(s);
        if (status < 200 || status > 599) {
          throw new RangeError('init["status"] must be in the range of 200 to 599, inclusive.');
        }
      }
      const t = init.statusText;
      if (t !== undefined) {
        statusText = String(t);
        if (!REASON.test(statusText)) throw new TypeError("Invalid statusText");
      }
      hlist = headerList(init.headers);
    }
    if (src !== null) {
      if (isNullBodyStatus(status)) throw new TypeError("Response constructor: Invalid response status code " + status);
      const n = hlist.length;
      if (type !== null && (n === 0 || !listHas(hlist, "content-type"))) {
        hlist[n] = "content-type";
        hlist[n + 1] = type;
      }
    }
    return [RESPONSE, src, false, null, null, hlist, "default", status, statusText, null]; // state()
  }

  class Response {
    constructor(b, init) {
      if (typeof b === "string") {
        this[B] = setup(init, usv(b), TEXT);
      } else {
        const ext = body.extract(b);
        this[B] = setup(init, ext.src, ext.type);
      }
    }
    static json(data, init) {
      const text = JSONstringify(data);
      if (text === undefined) throw new TypeError("Value is not JSON serializable");
      const res = create(Response.prototype);
      res[B] = setup(init, text, "application/json");
      return res;
    }
    static redirect(url, status) {
      const s = usv(url);
      const c = urlParse(s);
      if (c === null) throw new TypeError("Failed to parse URL from " + s);
      const code = status === undefined ? 302 : toUint16(status);
      if (REDIRECTS[code] !== 1) throw new RangeError("Invalid status code " + code);
      const res = create(Response.prototype);
      const headers = H.create(undefined);
      H.set(headers, "location", c.href);
      H.setGuard(headers, "immutable");
      res[B] = state(null, headers, null, "default", code, "", null);
      return res;
    }
    static error() {
      const res = create(Response.prototype);
      res[B] = state(null, H.create(undefined, "immutable"), null, "error", 0, "", null);
      return res;
    }
    get type() { return slot(this)[TYPE]; }
    get url() { const n = slot(this)[NET]; return n === null ? "" : n[0]; }
    get redirected() { const n = slot(this)[NET]; return n !== null && n[1]; }
    get status() { return slot(this)[STATUS]; }
    get ok() { const s = slot(this)[STATUS]; return s >= 200 && s <= 299; }
    get statusText() { return slot(this)[STATUS_TEXT]; }
    get headers() { return body.headersOf(slot(this)); }
    clone() {
      const r = slot(this);
      if (r[USED]) throw new TypeError("Response.clone: Body has already been consumed.");
      const copy = create(Response.prototype);
      const src = body.cloneSrc(r[SRC]);
      if (r[HEADERS] !== null && H.isImmutable(r[HEADERS])) {
        copy[B] = state(src, H.create(r[HEADERS], "immutable"), null, r[TYPE], r[STATUS], r[STATUS_TEXT], r[NET]);
      } else {
        copy[B] = state(src, null, body.listFrom(r), r[TYPE], r[STATUS], r[STATUS_TEXT], r[NET]);
      }
      return copy;
    }
    [CUSTOM](depth, options, inspect) {
      const r = slot(this);
      return "Response { status: " + r[STATUS] + ", statusText: " + inspect(r[STATUS_TEXT]) + ", headers: " +
        inspect(body.headersOf(r)) + ", bodyUsed: " + this.bodyUsed + ", ok: " + this.ok + ", redirected: " +
        this.redirected + ", type: " + inspect(r[TYPE]) + ", url: " + inspect(this.url) + " }";
    }
  }
  body.install(Response.prototype);
  Object.defineProperty(Response.prototype, Symbol.toStringTag, { value: "Response", configurable: true });

  // For the engine's HTTP adapter: what the host needs of a Response,
  // [status, body, header list, statusText?] (the reason phrase only when
  // not empty), taking its body as it is held (a string
  // or bytes; null for no body), with no promise and no copy, and its
  // headers as a header list in append order (the gateway sorts and
  // combines them, as iterating a Headers would).
  web.response = {
    // A response fetch() received: immutable headers from the network's
    // header list (lower-case names, ByteString values), the final URL and
    // whether redirects led there, a body (null, bytes, or a Deferred).
    fromNetwork: function (status, statusText, hlist, url, redirected, src) {
      const res = create(Response.prototype);
      const headers = H.fromList(hlist);
      H.setGuard(headers, "immutable");
      res[B] = state(src, headers, null, "basic", status, statusText, [url, redirected]);
      return res;
    },
    // null, or a promise that settles when the body of `res` (any value) is
    // no longer on the network, so that toHost can take it.
    settled: function (res) {
      const s = res !== null && typeof res === "object" ? res[B] : undefined;
      return s === undefined || s[KIND] !== RESPONSE ? null : body.settle(s);
    },
    toHost: function (res) {
      const r = slot(res);
      if (r[SRC] !== null && r[USED]) throw new TypeError("the Response body was already read");
      const text = r[STATUS_TEXT];
      if (text === "") return [r[STATUS], take(r), listFrom(r)];
      return [r[STATUS], take(r), listFrom(r), text];
    },
  };

  Object.defineProperty(global, "Response", {
    value: Response, writable: true, configurable: true, enumerable: false,
  });
})
