// response.js — Fetch Response (no streams).
(function (host, global) {
  "use strict";
  const urlParse = host.urlParse;
  const CUSTOM = Symbol.for("nodejs.util.inspect.custom");
  const web = host.webInternals;
  const H = web.headers;
  const body = web.body;
  const JSONstringify = JSON.stringify;
  const R = Symbol("Response");
  const usv = web.usv;
  const REASON = /^[\t\x20-\x7e\x80-\xff]*$/;
  const REDIRECTS = { 301: 1, 302: 1, 303: 1, 307: 1, 308: 1 };

  function slot(self) {
    const s = self !== null && typeof self === "object" ? self[R] : undefined;
    if (s === undefined) throw new TypeError("Illegal invocation: not a Response");
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

  // "Initialize a response": validates init, sets status, headers and body.
  function setup(self, init, src, type) {
    if (init === undefined || init === null) init = {};
    else if (typeof init !== "object" && typeof init !== "function") {
      throw new TypeError("Response constructor: init must be an object");
    }
    const status = init.status === undefined ? 200 : toUint16(init.status);
    if (status < 200 || status > 599) {
      throw new RangeError('init["status"] must be in the range of 200 to 599, inclusive.');
    }
    let statusText = "";
    if (init.statusText !== undefined) {
      statusText = String(init.statusText);
      if (!REASON.test(statusText)) throw new TypeError("Invalid statusText");
    }
    const headers = H.create(init.headers);
    if (src !== null) {
      if (isNullBodyStatus(status)) throw new TypeError("Response constructor: Invalid response status code " + status);
      if (type !== null && !H.has(headers, "content-type")) H.set(headers, "content-type", type);
    }
    self[R] = { type: "default", url: "", redirected: false, status: status, statusText: statusText, headers: headers };
    body.init(self, src, headers);
  }

  class Response {
    constructor(b, init) {
      const ext = body.extract(b);
      setup(this, init, ext.src, ext.type);
    }
    static json(data, init) {
      const text = JSONstringify(data);
      if (text === undefined) throw new TypeError("Value is not JSON serializable");
      const res = Object.create(Response.prototype);
      setup(res, init, text, "application/json");
      return res;
    }
    static redirect(url, status) {
      const s = usv(url);
      const c = urlParse(s);
      if (c === null) throw new TypeError("Failed to parse URL from " + s);
      const code = status === undefined ? 302 : toUint16(status);
      if (REDIRECTS[code] !== 1) throw new RangeError("Invalid status code " + code);
      const res = Object.create(Response.prototype);
      const headers = H.create(undefined);
      H.set(headers, "location", c.href);
      H.setGuard(headers, "immutable");
      res[R] = { type: "default", url: "", redirected: false, status: code, statusText: "", headers: headers };
      body.init(res, null, headers);
      return res;
    }
    static error() {
      const res = Object.create(Response.prototype);
      const headers = H.create(undefined, "immutable");
      res[R] = { type: "error", url: "", redirected: false, status: 0, statusText: "", headers: headers };
      body.init(res, null, headers);
      return res;
    }
    get type() { return slot(this).type; }
    get url() { return slot(this).url; }
    get redirected() { return slot(this).redirected; }
    get status() { return slot(this).status; }
    get ok() { const s = slot(this).status; return s >= 200 && s <= 299; }
    get statusText() { return slot(this).statusText; }
    get headers() { return slot(this).headers; }
    clone() {
      const r = slot(this);
      const b = body.state(this);
      if (b.used) throw new TypeError("Response.clone: Body has already been consumed.");
      const copy = Object.create(Response.prototype);
      const headers = H.create(r.headers);
      if (r.headers !== null && H.isImmutable(r.headers)) H.setGuard(headers, "immutable");
      copy[R] = Object.assign({}, r, { headers: headers });
      body.init(copy, body.cloneSrc(b.src), headers);
      return copy;
    }
    [CUSTOM](depth, options, inspect) {
      const r = slot(this);
      return "Response { status: " + r.status + ", statusText: " + inspect(r.statusText) + ", headers: " +
        inspect(r.headers) + ", bodyUsed: " + this.bodyUsed + ", ok: " + this.ok + ", redirected: " +
        r.redirected + ", type: " + inspect(r.type) + ", url: " + inspect(r.url) + " }";
    }
  }
  body.install(Response.prototype);
  Object.defineProperty(Response.prototype, Symbol.toStringTag, { value: "Response", configurable: true });

  // For the engine's HTTP adapter: the parts of a Response, taking its
  // body as it is held (a string or bytes, no promise, no copy).
  web.response = {
    toHost: function (res) {
      const r = slot(res);
      const b = body.state(res);
      if (b.src !== null && b.used) throw new TypeError("the Response body was already read");
      const src = b.src === null ? undefined : body.take(b);
      return { status: r.status, statusText: r.statusText, headers: H.entries(r.headers), body: src };
    },
  };

  Object.defineProperty(global, "Response", {
    value: Response, writable: true, configurable: true, enumerable: false,
  });
})
