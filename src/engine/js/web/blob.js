// blob.js — File API: Blob and File, held in memory as one byte array.
// No stream() (there are no ReadableStreams here).
(function (host, global) {
  "use strict";
  const encodeUtf8 = host.encodeUtf8;
  const decodeUtf8 = host.decodeUtf8;
  const web = host.webInternals || (host.webInternals = {});
  const usv = web.usv;
  const bytesOf = web.bytesOf;
  const CUSTOM = Symbol.for("nodejs.util.inspect.custom");
  const D = Symbol("Blob");
  const F = Symbol("File");
  const ASCII_PRINTABLE = /^[\x20-\x7e]*$/;
  const EMPTY = new Uint8Array(0);

  function define(name, value) {
    Object.defineProperty(global, name, { value: value, writable: true, configurable: true, enumerable: false });
  }
  function tag(proto, name) {
    Object.defineProperty(proto, Symbol.toStringTag, { value: name, configurable: true });
  }
  // Internal state: { bytes: Uint8Array (never changed, never handed out), type }.
  function blob(self) {
    const s = self !== null && typeof self === "object" ? self[D] : undefined;
    if (s === undefined) throw new TypeError("Illegal invocation: not a Blob");
    return s;
  }
  function normalizeType(t) {
    const s = String(t);
    return ASCII_PRINTABLE.test(s) ? s.toLowerCase() : "";
  }
  // "Process blob parts": the bytes of a sequence of BufferSource, Blob and
  // USVString, concatenated.
  function processParts(parts, native, what) {
    if (parts === undefined) return EMPTY;
    if (parts === null || (typeof parts !== "object" && typeof parts !== "function") ||
        typeof parts[Symbol.iterator] !== "function") {
      throw new TypeError(what + ": Argument 1 can't be converted to a sequence.");
    }
    const chunks = [];
    let total = 0;
    for (const part of parts) {
      let bytes;
      if (part !== null && typeof part === "object" && part[D] !== undefined) {
        bytes = part[D].bytes;
      } else if (part !== null && typeof part === "object" && (ArrayBuffer.isView(part) || isBufferLike(part))) {
        bytes = bytesOf(part, what).slice();
      } else {
        let s = usv(part);
        if (native) s = s.replace(/\r\n|\r/g, "\n");
        bytes = encodeUtf8(s);
      }
      chunks.push(bytes);
      total += bytes.length;
    }
    // Every chunk is a fresh copy or the bytes of a Blob, never changed.
    if (chunks.length === 1) return chunks[0];
    const out = new Uint8Array(total);
    let at = 0;
    for (let i = 0; i < chunks.length; i++) {
      out.set(chunks[i], at);
      at += chunks[i].length;
    }
    return out;
  }
  function isBufferLike(v) {
    try {
      bytesOf(v, "");
      return true;
    } catch (e) {
      return false;
    }
  }
  function options(o, what) {
    if (o === undefined || o === null) return { type: "", native: false };
    if (typeof o !== "object" && typeof o !== "function") throw new TypeError(what + ": options must be an object");
    const endings = o.endings === undefined ? "transparent" : String(o.endings);
    if (endings !== "transparent" && endings !== "native") {
      throw new TypeError(what + ": '" + endings + "' is not a valid value for enumeration EndingType.");
    }
    return { type: o.type === undefined ? "" : normalizeType(o.type), native: endings === "native" };
  }
  function relative(v, size) {
    let n = Number(v);
    n = n !== n ? 0 : Math.trunc(n);
    return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
  }
  function make(proto, bytes, type) {
    const b = Object.create(proto);
    b[D] = { bytes: bytes, type: type };
    return b;
  }

  class Blob {
    constructor(parts, opts) {
      const o = options(opts, "Blob constructor");
      this[D] = { bytes: processParts(parts, o.native, "Blob constructor"), type: o.type };
    }
    get size() { return blob(this).bytes.length; }
    get type() { return blob(this).type; }
    slice(start, end, contentType) {
      const s = blob(this);
      const size = s.bytes.length;
      const from = start === undefined ? 0 : relative(start, size);
      const to = end === undefined ? size : relative(end, size);
      const type = contentType === undefined ? "" : normalizeType(contentType);
      return make(Blob.prototype, to > from ? s.bytes.slice(from, to) : EMPTY, type);
    }
    text() {
      try {
        return Promise.resolve(decodeUtf8(blob(this).bytes, false, false));
      } catch (e) {
        return Promise.reject(e);
      }
    }
    arrayBuffer() {
      try {
        return Promise.resolve(blob(this).bytes.slice().buffer);
      } catch (e) {
        return Promise.reject(e);
      }
    }
    bytes() {
      try {
        return Promise.resolve(blob(this).bytes.slice());
      } catch (e) {
        return Promise.reject(e);
      }
    }
    [CUSTOM](depth, opts, inspect) {
      const s = blob(this);
      return "Blob { size: " + s.bytes.length + ", type: " + inspect(s.type) + " }";
    }
  }
  tag(Blob.prototype, "Blob");

  class File extends Blob {
    constructor(bits, name, opts) {
      if (arguments.length < 2) throw new TypeError("File constructor: 2 arguments required, but only " + arguments.length + " present");
      super(bits, opts);
      const n = usv(name);
      let modified = Date.now();
      if (opts !== undefined && opts !== null && opts.lastModified !== undefined) {
        const m = Number(opts.lastModified);
        modified = m !== m || m === Infinity || m === -Infinity ? 0 : Math.trunc(m);
      }
      this[F] = { name: n, lastModified: modified };
    }
    get name() { return file(this).name; }
    get lastModified() { return file(this).lastModified; }
    get webkitRelativePath() { file(this); return ""; }
    [CUSTOM](depth, opts, inspect) {
      const s = blob(this);
      return "File { size: " + s.bytes.length + ", type: " + inspect(s.type) + ", name: " + inspect(file(this).name) +
        ", lastModified: " + file(this).lastModified + " }";
    }
  }
  function file(self) {
    const s = self !== null && typeof self === "object" ? self[F] : undefined;
    if (s === undefined) throw new TypeError("Illegal invocation: not a File");
    return s;
  }
  tag(File.prototype, "File");

  web.blob = {
    // The bytes of a Blob, or undefined for anything else. Never to be changed.
    bytes: function (v) {
      return v !== null && typeof v === "object" && v[D] !== undefined ? v[D].bytes : undefined;
    },
    type: function (v) { return v[D].type; },
    // A new Blob over `bytes` (taken over: not to be changed afterwards).
    create: function (bytes, type) { return make(Blob.prototype, bytes, normalizeType(type)); },
  };

  define("Blob", Blob);
  define("File", File);
})
