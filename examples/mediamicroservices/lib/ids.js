// 64-bit identifiers: BigInt everywhere inside the app, decimal strings in
// HTTP and in store keys.

const INT = /^-?[0-9]+$/;
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;

/** Parses a decimal i64 (string, number or BigInt); null when it is not one. */
export function parseI64(v) {
  let n;
  if (typeof v === "bigint") n = v;
  else if (typeof v === "number" && Number.isSafeInteger(v)) n = BigInt(v);
  else if (typeof v === "string" && INT.test(v)) n = BigInt(v);
  else return null;
  return n >= I64_MIN && n <= I64_MAX ? n : null;
}

/** Like parseI64 but throws a TypeError naming `what`. */
export function toI64(v, what) {
  const n = parseI64(v);
  if (n === null) throw new TypeError(`${what} must be a 64-bit integer, got ${typeof v === "bigint" ? v : JSON.stringify(v)}`);
  return n;
}

/** A timestamp (ms, or any non-negative integer score) as 13 zero-padded digits, so keys sort by it. */
export function pad13(n) {
  const s = String(n);
  if (s.length > 13 || !/^[0-9]+$/.test(s)) throw new RangeError(`score ${s} does not fit 13 decimal digits`);
  return "0000000000000".slice(s.length) + s;
}

/** 60 random bits, the req_id nginx derives from its $request_id. */
export function randomReqId() {
  const w = crypto.getRandomValues(new Uint32Array(2));
  return (BigInt(w[0] & 0x0fffffff) << 32n) | BigInt(w[1]);
}
