// HS256 JSON Web Tokens (RFC 7519), as the user service issues at login and
// the /api/ routes verify from the `login_token` cookie.
import { hmacSha256 } from "./sha256.js";

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Unpadded base64url of bytes. */
export function base64url(bytes) {
  let s = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    s += B64URL[n >> 18] + B64URL[(n >> 12) & 63] + B64URL[(n >> 6) & 63] + B64URL[n & 63];
  }
  if (i + 1 === bytes.length) {
    const n = bytes[i] << 16;
    s += B64URL[n >> 18] + B64URL[(n >> 12) & 63];
  } else if (i + 2 === bytes.length) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    s += B64URL[n >> 18] + B64URL[(n >> 12) & 63] + B64URL[(n >> 6) & 63];
  }
  return s;
}

/** Bytes of a base64url string (padding optional); throws on bad input. */
export function fromBase64url(text) {
  const s = text.replace(/=+$/, "");
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) throw new TypeError("invalid base64url");
  const out = new Uint8Array(Math.floor((s.length * 3) / 4));
  let bits = 0, acc = 0, j = 0;
  for (let i = 0; i < s.length; i++) {
    acc = (acc << 6) | B64URL.indexOf(s[i]);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[j++] = (acc >> bits) & 255;
    }
  }
  return out;
}

const HEADER = base64url(encoder.encode(JSON.stringify({ alg: "HS256", typ: "JWT" })));

/** Signs `payload` (a plain object) with HS256 under `secret`. */
export function sign(payload, secret) {
  const body = HEADER + "." + base64url(encoder.encode(JSON.stringify(payload)));
  return body + "." + base64url(hmacSha256(secret, body));
}

/** The payload of `token` if its HS256 signature under `secret` is valid, else null. */
export function verify(token, secret) {
  if (typeof token !== "string") return null;
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  try {
    const header = JSON.parse(decoder.decode(fromBase64url(parts[0])));
    if (header.alg !== "HS256") return null;
    const expected = base64url(hmacSha256(secret, parts[0] + "." + parts[1]));
    // Constant-time comparison of the signatures.
    if (expected.length !== parts[2].length) return null;
    let diff = 0;
    for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ parts[2].charCodeAt(i);
    if (diff !== 0) return null;
    const payload = JSON.parse(decoder.decode(fromBase64url(parts[1])));
    return payload !== null && typeof payload === "object" ? payload : null;
  } catch {
    return null;
  }
}
