// crypto.js — Web Crypto: crypto.getRandomValues, crypto.randomUUID and
// crypto.subtle with digest (SHA-1/256/384/512) and HMAC keys (importKey,
// exportKey, generateKey, sign, verify). Hashing and HMAC are host ops
// (Rust's sha1, sha2 and hmac crates); key material lives in a WeakMap
// that no user code can reach.
(function (host, global) {
  "use strict";
  const randomBytes = host.randomBytes;
  const hostDigest = host.digest;
  const hostHmac = host.hmac;
  const DOMException = global.DOMException;
  const web = host.webInternals || (host.webInternals = {});
  const bytesOf = web.bytesOf;
  const CUSTOM = Symbol.for("nodejs.util.inspect.custom");
  const taTag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
  const INTEGER = {
    Int8Array: 1, Uint8Array: 1, Uint8ClampedArray: 1, Int16Array: 1, Uint16Array: 1,
    Int32Array: 1, Uint32Array: 1, BigInt64Array: 1, BigUint64Array: 1,
  };
  let HEX = null; // byte -> two hex digits, built on first randomUUID()


  // ---- SubtleCrypto --------------------------------------------------------

  const HASHES = { "sha-1": "SHA-1", "sha-256": "SHA-256", "sha-384": "SHA-384", "sha-512": "SHA-512" };
  // HMAC's default key length is the hash's block size.
  const BLOCK_BITS = { "SHA-1": 512, "SHA-256": 512, "SHA-384": 1024, "SHA-512": 1024 };
  const KEYS = new WeakMap(); // CryptoKey -> { bytes, hash, type, extractable, algorithm, usages }
  let constructing = false;

  function notSupported(what) {
    return new DOMException("Unrecognized algorithm name: " + what, "NotSupportedError");
  }
  // WebIDL AlgorithmIdentifier -> its name as given and the dictionary.
  function algorithmName(alg) {
    if (typeof alg === "string") return alg;
    if (alg === null || (typeof alg !== "object" && typeof alg !== "function")) {
      throw new TypeError("Algorithm: expected a string or an object with a name");
    }
    if (alg.name === undefined) throw new TypeError("Algorithm: name is required");
    return String(alg.name);
  }
  function normalizeHash(alg) {
    const name = algorithmName(alg);
    const hash = HASHES[name.toLowerCase()];
    if (hash === undefined) throw notSupported(name);
    return hash;
  }
  // "normalize an algorithm" for HMAC operations: { hash, length }.
  function normalizeHmac(alg, withParams) {
    const name = algorithmName(alg);
    const lower = name.toLowerCase();
    if (lower !== "hmac") {
      throw notSupported(name);
    }
    if (!withParams) return null;
    if (typeof alg !== "object" || alg === null) throw new TypeError("HmacImportParams: hash is required");
    if (alg.hash === undefined) throw new TypeError("HmacImportParams: hash is required");
    const hash = normalizeHash(alg.hash);
    let length;
    if (alg.length !== undefined) {
      const n = Number(alg.length);
      if (!(n >= 0) || n > 4294967295) throw new TypeError("HmacImportParams: length is out of range");
      length = Math.trunc(n);
    }
    return { hash: hash, length: length };
  }
  function copyBytes(data, what) {
    return bytesOf(data, what).slice();
  }
  function usagesOf(usages, allowed, what) {
    if (usages === null || typeof usages !== "object" || typeof usages[Symbol.iterator] !== "function") {
      throw new TypeError(what + ": keyUsages must be a sequence");
    }
    const out = [];
    for (const u of usages) {
      const v = String(u);
      if (["encrypt", "decrypt", "sign", "verify", "deriveKey", "deriveBits", "wrapKey", "unwrapKey"].indexOf(v) === -1) {
        throw new TypeError(what + ": '" + v + "' is not a valid value for enumeration KeyUsage.");
      }
      if (allowed.indexOf(v) === -1) throw new DOMException("Unsupported key usage for an HMAC key: " + v, "SyntaxError");
      if (out.indexOf(v) === -1) out.push(v);
    }
    if (out.length === 0) throw new DOMException("Usages cannot be empty when creating a key.", "SyntaxError");
    return out;
  }
  function hmacKey(bytes, hash, length, extractable, usages) {
    constructing = true;
    let key;
    try {
      key = new CryptoKey();
    } finally {
      constructing = false;
    }
    KEYS.set(key, {
      bytes: bytes, hash: hash, type: "secret", extractable: !!extractable,
      algorithm: { name: "HMAC", hash: { name: hash }, length: length }, usages: usages,
    });
    return key;
  }
  function keyOf(key, what) {
    const k = key !== null && typeof key === "object" ? KEYS.get(key) : undefined;
    if (k === undefined) throw new TypeError(what + ": key is not a CryptoKey");
    return k;
  }
  const atob = global.atob;
  const btoa = global.btoa;
  function base64url(bytes) {
    let bin = "";
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function fromBase64url(s) {
    if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new DOMException("Invalid keyData: k is not base64url", "DataError");
    const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  const JWK_ALG = { "SHA-1": "HS1", "SHA-256": "HS256", "SHA-384": "HS384", "SHA-512": "HS512" };

  class CryptoKey {
    constructor() {
      if (!constructing) throw new TypeError("Illegal constructor");
    }
    get type() { return keyOf(this, "CryptoKey").type; }
    get extractable() { return keyOf(this, "CryptoKey").extractable; }
    get algorithm() { return keyOf(this, "CryptoKey").algorithm; }
    get usages() { return keyOf(this, "CryptoKey").usages; }
    [CUSTOM](depth, options, inspect) {
      const k = keyOf(this, "CryptoKey");
      return "CryptoKey { type: " + inspect(k.type) + ", extractable: " + k.extractable + ", algorithm: " +
        inspect(k.algorithm) + ", usages: " + inspect(k.usages) + " }";
    }
  }
  Object.defineProperty(CryptoKey.prototype, Symbol.toStringTag, { value: "CryptoKey", configurable: true });

  function importHmac(format, keyData, params, extractable, usages) {
    let bytes;
    if (format === "raw") {
      bytes = copyBytes(keyData, "SubtleCrypto.importKey");
    } else if (format === "jwk") {
      if (keyData === null || typeof keyData !== "object") throw new TypeError("SubtleCrypto.importKey: a JWK must be an object");
      if (keyData.kty !== "oct") throw new DOMException("Invalid JWK: kty must be \"oct\"", "DataError");
      if (typeof keyData.k !== "string") throw new DOMException("Invalid JWK: k is required", "DataError");
      bytes = fromBase64url(keyData.k);
      if (keyData.alg !== undefined && keyData.alg !== JWK_ALG[params.hash]) {
        throw new DOMException("Invalid JWK: alg does not match the hash", "DataError");
      }
      if (keyData.use !== undefined && keyData.use !== "sig") throw new DOMException("Invalid JWK: use must be \"sig\"", "DataError");
      if (keyData.ext === false && extractable) throw new DOMException("Invalid JWK: the key is not extractable", "DataError");
    } else {
      throw new DOMException("Unsupported key format for HMAC: " + format, "NotSupportedError");
    }
    const bits = bytes.length * 8;
    if (bits === 0) throw new DOMException("HMAC key data must not be empty", "DataError");
    let length = bits;
    if (params.length !== undefined) {
      if (params.length > bits || params.length <= bits - 8) {
        throw new DOMException("The HMAC key length does not match the key data", "DataError");
      }
      length = params.length;
    }
    return hmacKey(bytes, params.hash, length, extractable, usages);
  }

  class SubtleCrypto {
    constructor() {
      if (!constructing) throw new TypeError("Illegal constructor");
    }
    async digest(algorithm, data) {
      if (arguments.length < 2) throw new TypeError("SubtleCrypto.digest: 2 arguments required");
      const hash = normalizeHash(algorithm);
      return hostDigest(hash, copyBytes(data, "SubtleCrypto.digest")).buffer;
    }
    async importKey(format, keyData, algorithm, extractable, keyUsages) {
      if (arguments.length < 5) throw new TypeError("SubtleCrypto.importKey: 5 arguments required");
      format = String(format);
      if (["raw", "spki", "pkcs8", "jwk"].indexOf(format) === -1) {
        throw new TypeError("SubtleCrypto.importKey: '" + format + "' is not a valid value for enumeration KeyFormat.");
      }
      const params = normalizeImport(algorithm);
      const usages = usagesOf(keyUsages, ["sign", "verify"], "SubtleCrypto.importKey");
      return importHmac(format, keyData, params, extractable, usages);
    }
    async exportKey(format, key) {
      if (arguments.length < 2) throw new TypeError("SubtleCrypto.exportKey: 2 arguments required");
      format = String(format);
      const k = keyOf(key, "SubtleCrypto.exportKey");
      if (!k.extractable) throw new DOMException("The key is not extractable", "InvalidAccessError");
      if (format === "raw") return k.bytes.slice().buffer;
      if (format === "jwk") {
        return { kty: "oct", k: base64url(k.bytes), alg: JWK_ALG[k.hash], key_ops: k.usages.slice(), ext: true };
      }
      throw new DOMException("Unsupported key format for HMAC: " + format, "NotSupportedError");
    }
    async generateKey(algorithm, extractable, keyUsages) {
      if (arguments.length < 3) throw new TypeError("SubtleCrypto.generateKey: 3 arguments required");
      const params = normalizeImport(algorithm);
      const usages = usagesOf(keyUsages, ["sign", "verify"], "SubtleCrypto.generateKey");
      const length = params.length === undefined ? BLOCK_BITS[params.hash] : params.length;
      if (length === 0) throw new DOMException("The HMAC key length must not be 0", "OperationError");
      const bytes = length > 65536 * 8 ? null : randomBytes(Math.ceil(length / 8));
      if (bytes === null) throw new DOMException("The HMAC key length is too large", "OperationError");
      if (length % 8 !== 0) bytes[bytes.length - 1] &= 0xff << (8 - (length % 8));
      return hmacKey(bytes, params.hash, length, extractable, usages);
    }
    async sign(algorithm, key, data) {
      if (arguments.length < 3) throw new TypeError("SubtleCrypto.sign: 3 arguments required");
      normalizeOp(algorithm);
      const bytes = copyBytes(data, "SubtleCrypto.sign");
      const k = usableKey(key, "sign");
      return hostHmac(k.hash, k.bytes, bytes).buffer;
    }
    async verify(algorithm, key, signature, data) {
      if (arguments.length < 4) throw new TypeError("SubtleCrypto.verify: 4 arguments required");
      normalizeOp(algorithm);
      const sig = copyBytes(signature, "SubtleCrypto.verify");
      const bytes = copyBytes(data, "SubtleCrypto.verify");
      const k = usableKey(key, "verify");
      return hostHmac(k.hash, k.bytes, bytes, sig);
    }
  }
  // Operations this runtime does not implement reject with NotSupportedError.
  const UNSUPPORTED = ["encrypt", "decrypt", "deriveBits", "deriveKey", "wrapKey", "unwrapKey"];
  for (let i = 0; i < UNSUPPORTED.length; i++) {
    const op = UNSUPPORTED[i];
    Object.defineProperty(SubtleCrypto.prototype, op, {
      value: { async [op]() { throw new DOMException("SubtleCrypto." + op + " is not supported by this runtime", "NotSupportedError"); } }[op],
      writable: true, configurable: true, enumerable: true,
    });
  }
  Object.defineProperty(SubtleCrypto.prototype, Symbol.toStringTag, { value: "SubtleCrypto", configurable: true });

  // importKey/generateKey: only HMAC is implemented; other known
  // algorithms are NotSupportedError too.
  function normalizeImport(algorithm) {
    return normalizeHmac(algorithm, true);
  }
  // sign/verify: the algorithm must be HMAC (its name is all it has).
  function normalizeOp(algorithm) {
    normalizeHmac(algorithm, false);
  }
  function usableKey(key, usage) {
    const k = keyOf(key, "SubtleCrypto." + usage);
    if (k.algorithm.name !== "HMAC") throw new DOMException("The key is not an HMAC key", "InvalidAccessError");
    if (k.usages.indexOf(usage) === -1) {
      throw new DOMException("The key does not allow the usage \"" + usage + "\"", "InvalidAccessError");
    }
    return k;
  }

  constructing = true;
  const subtle = new SubtleCrypto();
  constructing = false;

  class Crypto {
    get subtle() { return subtle; }
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

  Object.defineProperty(global, "SubtleCrypto", { value: SubtleCrypto, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(global, "CryptoKey", { value: CryptoKey, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(global, "Crypto", { value: Crypto, writable: true, configurable: true, enumerable: false });
  // An attribute of the global object: enumerable (WebIDL), as in Node.
  Object.defineProperty(global, "crypto", { value: crypto, writable: true, configurable: true, enumerable: true });
})
