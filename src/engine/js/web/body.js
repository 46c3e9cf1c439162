// body.js — the Fetch "Body" mixin shared by Request and Response, without
// streams. Installs nothing on the global object: it hands request.js and
// response.js its internals through host.webInternals.body.
//
// A body's source is kept as it was given (string, or an owned Uint8Array
// copy) and converted only when read, so text() of a string body costs no
// encode/decode round trip. The body of a fetch() response is a Deferred:
// still on the network until it is first read.
//
// A Request or Response keeps all its internal state in one array under
// the symbol B, indexed by the slot constants below: its kind (REQUEST or
// RESPONSE), the body (SRC, USED, STREAM), the lazy headers (HEADERS,
// HLIST) and, from CLASS on, the fields of its own class. One array and
// one property per instance: an interpreter makes an array literal
// several times faster than an object literal with as many properties,
// and this is made for every request and every response.
(function (host, global) {
  "use strict";
  const encodeUtf8 = host.encodeUtf8;
  const decodeUtf8 = host.decodeUtf8;
  const formEncode = host.formEncode;
  const formDecode = host.formDecode;
  const web = host.webInternals || (host.webInternals = {});
  const headersInt = web.headers;
  const formDataInt = web.formData;
  const blobInt = web.blob;
  const URLSearchParams = global.URLSearchParams;
  const uspToString = URLSearchParams.prototype.toString;
  const getDesc = Object.getOwnPropertyDescriptor;
  const abByteLength = getDesc(ArrayBuffer.prototype, "byteLength").get;
  const JSONparse = JSON.parse;
  const B = Symbol("Body");
  // Slots of the state array.
  const KIND = 0;
  const SRC = 1; // string | Uint8Array | null (no body); "" once taken
  const USED = 2;
  const STREAM = 3; // the `body` object, once made
  const HEADERS = 4; // the Headers, once made (then HLIST is null) ...
  const HLIST = 5; // ... else a header list (headers.js), shared, never changed
  const CLASS = 6;
  const usv = web.usv;
  const TEXT = "text/plain;charset=UTF-8";
  const FORM = "application/x-www-form-urlencoded;charset=UTF-8";

  // ---- bodies still on the network (fetch() responses) -------------------
  // `start()` asks for the bytes (a promise of a Uint8Array), at most once;
  // `cancel()` says they are not wanted. Clones share one Deferred; each of
  // them then reads its own copy.
  const then = Promise.prototype.then;
  class Deferred {
    constructor(start, cancel) {
      this.start = start;
      this.cancel = cancel;
      this.promise = null;
      this.shares = 1;
    }
  }
  function isDeferred(src) {
    return src instanceof Deferred;
  }
  function load(d) {
    if (d.promise === null) {
      const start = d.start;
      d.start = null;
      d.promise = start();
    }
    return d.shares > 1 ? then.call(d.promise, (b) => b.slice()) : d.promise;
  }
  // Drops a Deferred that will not be read.
  function discard(src) {
    if (isDeferred(src) && src.promise === null && --src.shares === 0) src.cancel();
  }

  function isArrayBuffer(v) {
    try { abByteLength.call(v); return true; } catch (e) { return false; }
  }

  // ---- a minimal stand-in for ReadableStream (the `body` getter) --------
  // Not a real ReadableStream: getReader() / read() / releaseLock() / cancel(),
  // `locked`, and async iteration, delivering the whole body as one chunk.
  const S = Symbol("BodyStream");
  class BodyStream {
    get locked() { return this[S].locked; }
    getReader() {
      const state = this[S];
      if (state.locked) throw new TypeError("ReadableStream is locked");
      state.locked = true;
      return new BodyReader(this);
    }
    cancel() {
      const body = this[S].body;
      if (!body[USED]) { discard(body[SRC]); body[USED] = true; body[SRC] = ""; }
      return Promise.resolve();
    }
    [Symbol.asyncIterator]() {
      const reader = this.getReader();
      return {
        next: () => reader.read(),
        return: () => { reader.releaseLock(); return Promise.resolve({ value: undefined, done: true }); },
        [Symbol.asyncIterator]() { return this; },
      };
    }
  }
  Object.defineProperty(BodyStream.prototype, Symbol.toStringTag, { value: "ReadableStream", configurable: true });
  class BodyReader {
    constructor(stream) { this[S] = { stream: stream, done: false }; }
    read() {
      const r = this[S];
      if (r.stream === null) return Promise.reject(new TypeError("Reader was released"));
      const body = r.stream[S].body;
      if (r.done || body[USED]) {
        r.done = true;
        return Promise.resolve({ value: undefined, done: true });
      }
      const src = take(body);
      r.done = true;
      if (isDeferred(src)) return then.call(load(src), chunk);
      return Promise.resolve(chunk(toBytes(src)));
    }
    releaseLock() {
      const r = this[S];
      if (r.stream !== null) { r.stream[S].locked = false; r.stream = null; }
    }
    cancel() {
      const r = this[S];
      if (r.stream !== null) return r.stream.cancel();
      return Promise.resolve();
    }
    get closed() { return Promise.resolve(undefined); }
  }
  function chunk(bytes) {
    return bytes.length === 0 ? { value: undefined, done: true } : { value: bytes, done: false };
  }

  // ---- body state --------------------------------------------------------

  // Extract a body from BodyInit: { src: string | Uint8Array | null, type }.
  function extract(body) {
    if (body === null || body === undefined) return { src: null, type: null };
    if (typeof body === "string") return { src: usv(body), type: TEXT };
    if (typeof body === "object") {
      if (ArrayBuffer.isView(body)) {
        return { src: new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)), type: null };
      }
      if (isArrayBuffer(body)) return { src: new Uint8Array(body.slice(0)), type: null };
      if (body instanceof URLSearchParams) return { src: uspToString.call(body), type: FORM };
      const blobBytes = blobInt.bytes(body);
      if (blobBytes !== undefined) {
        const type = blobInt.type(body);
        return { src: blobBytes.slice(), type: type === "" ? null : type };
      }
      const list = formDataInt.list(body);
      if (list !== undefined) return { src: formEncode(list), type: FORM };
      const st = body[S];
      if (st !== undefined && st.body !== undefined) {
        // Our own `body` object passed on, e.g. new Response(other.body, other).
        if (st.locked || st.body[USED]) throw new TypeError("Response body object should not be disturbed or locked");
        const src = take(st.body);
        return { src: isDeferred(src) ? src : toBytes(src), type: null };
      }
    }
    return { src: usv(String(body)), type: TEXT };
  }

  function state(self) {
    const s = self !== null && typeof self === "object" ? self[B] : undefined;
    if (s === undefined) throw new TypeError("Illegal invocation");
    return s;
  }
  // Mark used and return the source ("" for a null body).
  function take(s) {
    if (s[SRC] === null) return "";
    if (s[USED]) throw new TypeError("Body is unusable: Body has already been read");
    const src = s[SRC];
    s[USED] = true;
    s[SRC] = "";
    return src;
  }
  function toBytes(src) {
    return typeof src === "string" ? encodeUtf8(src) : src;
  }
  function cloneSrc(src) {
    if (isDeferred(src)) {
      src.shares++;
      return src;
    }
    return src === null || typeof src === "string" ? src : src.slice();
  }
  function toText(src) {
    if (typeof src === "string") return src.charCodeAt(0) === 0xfeff ? src.slice(1) : src;
    return decodeUtf8(src, false, false);
  }

  const methods = {
    async arrayBuffer() {
      let src = take(state(this));
      if (isDeferred(src)) src = await load(src);
      const bytes = toBytes(src);
      if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return bytes.buffer;
      return bytes.slice().buffer;
    },
    async bytes() {
      const src = take(state(this));
      return isDeferred(src) ? await load(src) : toBytes(src);
    },
    async blob() {
      const s = state(this);
      const type = lookup(s, "content-type");
      let src = take(s);
      if (isDeferred(src)) src = await load(src);
      return blobInt.create(toBytes(src), type === null ? "" : type);
    },
    async text() {
      const src = take(state(this));
      return toText(isDeferred(src) ? await load(src) : src);
    },
    async json() {
      const src = take(state(this));
      return JSONparse(toText(isDeferred(src) ? await load(src) : src));
    },
    async formData() {
      const s = state(this);
      let src = take(s);
      if (isDeferred(src)) src = await load(src);
      const text = toText(src);
      const ct = lookup(s, "content-type");
      const essence = ct === null ? "" : ct.split(";")[0].replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "").toLowerCase();
      if (essence === "application/x-www-form-urlencoded") {
        return formDataInt.fromPairs(text === "" ? [] : formDecode(text));
      }
      if (essence === "multipart/form-data") {
        throw new TypeError("formData(): multipart/form-data bodies are not supported by this runtime");
      }
      throw new TypeError('Content-Type was not one of "multipart/form-data" or "application/x-www-form-urlencoded".');
    },
  };
  const accessors = {
    bodyUsed: { get() { const s = state(this); return s[SRC] !== null && s[USED]; } },
    body: {
      get() {
        const s = state(this);
        if (s[SRC] === null) return null;
        if (s[STREAM] === null) {
          const stream = new BodyStream();
          stream[S] = { body: s, locked: false };
          s[STREAM] = stream;
        }
        return s[STREAM];
      },
    },
  };

  // ---- lazy headers --------------------------------------------------------

  // The Headers of a state, made from its header list on first use.
  function headersOf(s) {
    if (s[HEADERS] === null) {
      s[HEADERS] = headersInt.fromList(s[HLIST]);
      s[HLIST] = null;
    }
    return s[HEADERS];
  }
  // A header's combined value, or null, without making the Headers.
  function lookup(s, name) {
    return s[HEADERS] === null ? headersInt.listGet(s[HLIST], name) : headersInt.get(s[HEADERS], name);
  }
  // A header list equal to the state's headers now (shared: never to be changed).
  function listFrom(s) {
    return s[HEADERS] === null ? s[HLIST] : headersInt.listOf(s[HEADERS]);
  }

  // Define the body members on a class prototype.
  function install(proto) {
    const names = Object.keys(methods);
    for (let i = 0; i < names.length; i++) {
      Object.defineProperty(proto, names[i], { value: methods[names[i]], writable: true, configurable: true, enumerable: true });
    }
    Object.defineProperty(proto, "bodyUsed", { get: accessors.bodyUsed.get, configurable: true, enumerable: true });
    Object.defineProperty(proto, "body", { get: accessors.body.get, configurable: true, enumerable: true });
  }

  web.body = {
    B: B,
    REQUEST: 1,
    RESPONSE: 2,
    KIND: KIND, SRC: SRC, USED: USED, STREAM: STREAM, HEADERS: HEADERS, HLIST: HLIST, CLASS: CLASS,
    TEXT: TEXT,
    headersOf: headersOf,
    lookup: lookup,
    listFrom: listFrom,
    extract: extract,
    state: state,
    // The source of a body for a new Request/Response that takes it over.
    take: function (s) { return s[SRC] === null ? null : take(s); },
    // A body still on the network: see Deferred.
    deferred: function (start, cancel) { return new Deferred(start, cancel); },
    isDeferred: isDeferred,
    load: load,
    // null, or a promise that settles once a body still on the network
    // has arrived and replaced it (then the state is read synchronously).
    settle: function (s) {
      const src = s[SRC];
      if (s[USED] || !isDeferred(src)) return null;
      return then.call(load(src), (bytes) => {
        if (s[SRC] === src && !s[USED]) s[SRC] = bytes;
      });
    },
    cloneSrc: cloneSrc,
    install: install,
  };
})
