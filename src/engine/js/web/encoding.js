// encoding.js — WHATWG Encoding: TextEncoder (UTF-8, as the standard has it)
// and TextDecoder for every WHATWG encoding. UTF-8 is decoded by
// `decodeUtf8`, and its stream chunks are split here; the other encodings
// go to `decode` (Rust's encoding_rs), which also says how many bytes at
// the end of a stream chunk it held back.
(function (host, global) {
  "use strict";
  const encodeUtf8 = host.encodeUtf8;
  const decodeUtf8 = host.decodeUtf8;
  const encodingName = host.encodingName;
  const decodeAs = host.decode;
  const getDesc = Object.getOwnPropertyDescriptor;
  const taTag = getDesc(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
  const abByteLength = getDesc(ArrayBuffer.prototype, "byteLength").get;
  const S = Symbol("encoding");
  const LABELS = ["unicode-1-1-utf-8", "unicode11utf8", "unicode20utf8", "utf-8", "utf8", "x-unicode20utf8"];

  function define(name, value) {
    Object.defineProperty(global, name, { value: value, writable: true, configurable: true, enumerable: false });
  }
  function tag(proto, name) {
    Object.defineProperty(proto, Symbol.toStringTag, { value: name, configurable: true });
  }
  function isArrayBuffer(v) {
    try { abByteLength.call(v); return true; } catch (e) { return false; }
  }
  // Any BufferSource as a Uint8Array over the same bytes (no copy).
  function bytesOf(input, what) {
    if (taTag.call(input) === "Uint8Array") return input;
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    if (isArrayBuffer(input)) return new Uint8Array(input);
    if (typeof SharedArrayBuffer === "function" && input instanceof SharedArrayBuffer) return new Uint8Array(input);
    throw new TypeError(what + ": argument must be an ArrayBuffer or ArrayBufferView");
  }

  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(input) {
      return encodeUtf8(input === undefined ? "" : String(input));
    }
    encodeInto(source, destination) {
      source = String(source);
      if (taTag.call(destination) !== "Uint8Array") {
        throw new TypeError("TextEncoder.encodeInto: destination must be a Uint8Array");
      }
      const n = source.length;
      const cap = destination.length;
      let read = 0;
      let w = 0;
      while (read < n) {
        let c = source.charCodeAt(read);
        if (c < 0x80) {
          if (w >= cap) break;
          destination[w++] = c;
          read++;
          continue;
        }
        let units = 1;
        if (c >= 0xd800 && c <= 0xdbff && read + 1 < n) {
          const d = source.charCodeAt(read + 1);
          if (d >= 0xdc00 && d <= 0xdfff) {
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            units = 2;
          }
        }
        if (units === 1 && c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
        if (c < 0x800) {
          if (w + 2 > cap) break;
          destination[w++] = 0xc0 | (c >> 6);
          destination[w++] = 0x80 | (c & 0x3f);
        } else if (c < 0x10000) {
          if (w + 3 > cap) break;
          destination[w++] = 0xe0 | (c >> 12);
          destination[w++] = 0x80 | ((c >> 6) & 0x3f);
          destination[w++] = 0x80 | (c & 0x3f);
        } else {
          if (w + 4 > cap) break;
          destination[w++] = 0xf0 | (c >> 18);
          destination[w++] = 0x80 | ((c >> 12) & 0x3f);
          destination[w++] = 0x80 | ((c >> 6) & 0x3f);
          destination[w++] = 0x80 | (c & 0x3f);
        }
        read += units;
      }
      return { read: read, written: w };
    }
  }
  tag(TextEncoder.prototype, "TextEncoder");

  // Number of trailing bytes that start an incomplete UTF-8 sequence.
  function incompleteTail(b) {
    const n = b.length;
    const stop = n > 3 ? n - 3 : 0;
    for (let i = n - 1; i >= stop; i--) {
      const x = b[i];
      if ((x & 0xc0) === 0x80) continue;
      const need = x >= 0xf0 && x <= 0xf4 ? 4 : x >= 0xe0 && x <= 0xef ? 3 : x >= 0xc2 && x <= 0xdf ? 2 : 1;
      return need > n - i ? n - i : 0;
    }
    return 0;
  }

  function state(self) {
    const s = self !== null && typeof self === "object" ? self[S] : undefined;
    if (s === undefined) throw new TypeError("Illegal invocation");
    return s;
  }

  function decodeOther(s, bytes, stream) {
    let r;
    try {
      r = decodeAs(s.name, bytes, s.fatal, s.ignoreBOM || s.started, stream);
    } catch (e) {
      s.started = false;
      throw e;
    }
    const held = r[1];
    if (held > 0) s.pending = bytes.slice(bytes.length - held);
    if (bytes.length > held) s.started = true;
    if (!stream) s.started = false;
    return r[0];
  }

  class TextDecoder {
    constructor(label, options) {
      let name = "utf-8";
      if (label !== undefined) {
        const l = String(label);
        if (LABELS.indexOf(l.replace(/^[\t\n\f\r ]+|[\t\n\f\r ]+$/g, "").toLowerCase()) === -1) {
          name = encodingName(l);
          if (typeof name !== "string") throw new RangeError('The "' + l + '" encoding is not supported');
        }
      }
      const o = options === undefined || options === null ? {} : options;
      this[S] = {
        name: name, utf8: name === "utf-8", fatal: !!o.fatal, ignoreBOM: !!o.ignoreBOM, pending: null, started: false,
      };
    }
    get encoding() { return state(this).name; }
    get fatal() { return state(this).fatal; }
    get ignoreBOM() { return state(this).ignoreBOM; }
    decode(input, options) {
      const s = state(this);
      const stream = options !== undefined && options !== null && !!options.stream;
      let bytes = input === undefined ? new Uint8Array(0) : bytesOf(input, "TextDecoder.decode");
      if (s.pending !== null) {
        const joined = new Uint8Array(s.pending.length + bytes.length);
        joined.set(s.pending, 0);
        joined.set(bytes, s.pending.length);
        bytes = joined;
        s.pending = null;
      }
      if (!s.utf8) return decodeOther(s, bytes, stream);
      if (stream) {
        const tail = incompleteTail(bytes);
        if (tail > 0) {
          s.pending = bytes.slice(bytes.length - tail);
          bytes = bytes.subarray(0, bytes.length - tail);
        }
      }
      let out = "";
      if (bytes.length > 0) {
        try {
          out = decodeUtf8(bytes, s.fatal, s.ignoreBOM || s.started);
        } catch (e) {
          s.pending = null;
          s.started = false;
          throw e;
        }
        s.started = true;
      }
      if (!stream) s.started = false;
      return out;
    }
  }
  tag(TextDecoder.prototype, "TextDecoder");

  // Shared with later files: any BufferSource as a Uint8Array view (no copy).
  const web = host.webInternals || (host.webInternals = {});
  web.bytesOf = bytesOf;

  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);
})
