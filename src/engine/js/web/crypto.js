// crypto.js — Web Crypto: crypto.getRandomValues and crypto.randomUUID.
// crypto.subtle is not provided (no host op for it yet).
(function (host, global) {
  "use strict";
  const randomBytes = host.randomBytes;
  const DOMException = global.DOMException;
  const taTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
  const INTEGER = {
    Int8Array: 1, Uint8Array: 1, Uint8ClampedArray: 1, Int16Array: 1, Uint16Array: 1,
    Int32Array: 1, Uint32Array: 1, BigInt64Array: 1, BigUint64Array: 1,
  };
  let HEX = null; // byte -> two hex digits, built on first randomUUID()

  class Crypto {
    getRandomValues(array) {
      if (arguments.length < 1) throw new TypeError("Crypto.getRandomValues: 1 argument required, but only 0 present");
      if (INTEGER[taTag.call(array)] !== 1) {
        throw new DOMException("The data argument must be an integer-type TypedArray", "TypeMismatchError");
      }
      const n = array.byteLength;
      if (n > 65536) throw new DOMException("The requested length exceeds 65,536 bytes", "QuotaExceededError");
      if (n > 0) new Uint8Array(array.buffer, array.byteOffset, n).set(randomBytes(n));
      return array;
    }
    randomUUID() {
      if (HEX === null) {
        HEX = [];
        for (let i = 0; i < 256; i++) HEX.push((i < 16 ? "0" : "") + i.toString(16));
      }
      const b = randomBytes(16);
      b[6] = (b[6] & 0x0f) | 0x40;
      b[8] = (b[8] & 0x3f) | 0x80;
      return HEX[b[0]] + HEX[b[1]] + HEX[b[2]] + HEX[b[3]] + "-" + HEX[b[4]] + HEX[b[5]] + "-" +
        HEX[b[6]] + HEX[b[7]] + "-" + HEX[b[8]] + HEX[b[9]] + "-" + HEX[b[10]] + HEX[b[11]] +
        HEX[b[12]] + HEX[b[13]] + HEX[b[14]] + HEX[b[15]];
    }
  }
  Object.defineProperty(Crypto.prototype, Symbol.toStringTag, { value: "Crypto", configurable: true });
  const crypto = new Crypto();
  // Detached use (const { getRandomValues } = crypto) works too.
  crypto.getRandomValues = Crypto.prototype.getRandomValues;
  crypto.randomUUID = Crypto.prototype.randomUUID;
  Object.defineProperty(crypto, "getRandomValues", { enumerable: false });
  Object.defineProperty(crypto, "randomUUID", { enumerable: false });

  Object.defineProperty(global, "Crypto", { value: Crypto, writable: true, configurable: true, enumerable: false });
  // An attribute of the global object: enumerable (WebIDL), as in Node.
  Object.defineProperty(global, "crypto", { value: crypto, writable: true, configurable: true, enumerable: true });
})
