// base64.js — HTML atob / btoa (forgiving-base64), in plain JS.
(function (host, global) {
  "use strict";
  const DOMException = global.DOMException;
  const fromCharCode = String.fromCharCode;
  const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  let DECODE = null; // char code -> 6-bit value, built on first atob

  // Operations on the global object are enumerable (WebIDL), as in Node.
  function define(name, value) {
    Object.defineProperty(global, name, { value: value, writable: true, configurable: true, enumerable: true });
  }

  function btoa(data) {
    if (arguments.length === 0) throw new TypeError("btoa: 1 argument required, but only 0 present");
    const s = String(data);
    const n = s.length;
    for (let i = 0; i < n; i++) {
      if (s.charCodeAt(i) > 0xff) throw new DOMException("Invalid character", "InvalidCharacterError");
    }
    const parts = [];
    let chunk = "";
    let i = 0;
    for (; i + 2 < n; i += 3) {
      const v = (s.charCodeAt(i) << 16) | (s.charCodeAt(i + 1) << 8) | s.charCodeAt(i + 2);
      chunk += ALPHABET[v >> 18] + ALPHABET[(v >> 12) & 63] + ALPHABET[(v >> 6) & 63] + ALPHABET[v & 63];
      if (chunk.length >= 8192) { parts.push(chunk); chunk = ""; }
    }
    if (n - i === 1) {
      const v = s.charCodeAt(i) << 16;
      chunk += ALPHABET[v >> 18] + ALPHABET[(v >> 12) & 63] + "==";
    } else if (n - i === 2) {
      const v = (s.charCodeAt(i) << 16) | (s.charCodeAt(i + 1) << 8);
      chunk += ALPHABET[v >> 18] + ALPHABET[(v >> 12) & 63] + ALPHABET[(v >> 6) & 63] + "=";
    }
    parts.push(chunk);
    return parts.length === 1 ? parts[0] : parts.join("");
  }

  function invalid() {
    return new DOMException("The string to be decoded is not correctly encoded.", "InvalidCharacterError");
  }

  function atob(data) {
    if (arguments.length === 0) throw new TypeError("atob: 1 argument required, but only 0 present");
    if (DECODE === null) {
      DECODE = new Int8Array(128).fill(-1);
      for (let i = 0; i < 64; i++) DECODE[ALPHABET.charCodeAt(i)] = i;
    }
    let s = String(data);
    if (/[\t\n\f\r ]/.test(s)) s = s.replace(/[\t\n\f\r ]+/g, "");
    let n = s.length;
    if (n % 4 === 0 && n > 0 && s.charCodeAt(n - 1) === 61) {
      n--;
      if (s.charCodeAt(n - 1) === 61) n--;
    }
    if (n % 4 === 1) throw invalid();
    const parts = [];
    let chunk = "";
    let acc = 0;
    let bits = 0;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      const v = c < 128 ? DECODE[c] : -1;
      if (v < 0) throw invalid();
      acc = (acc << 6) | v;
      bits += 6;
      if (bits >= 8) {
        bits -= 8;
        chunk += fromCharCode((acc >> bits) & 0xff);
        acc &= (1 << bits) - 1;
        if (chunk.length >= 8192) { parts.push(chunk); chunk = ""; }
      }
    }
    parts.push(chunk);
    return parts.length === 1 ? parts[0] : parts.join("");
  }

  define("btoa", btoa);
  define("atob", atob);
})
