// Values on the wire and in Redis: JSON with the tags of Pyrosome's tagged
// JSON (docs/store.md): {"$bigint": "123"}, {"$bytes": "<base64>"},
// {"$undefined": true}, {"$number": "NaN" | "Infinity" | "-Infinity" | "-0"},
// and {"$object": {...}} around an object whose only key starts with "$".
// The structured-clone rules of a Pyrosome call are checked on the way in.

const UNDEF = Object.freeze({ $undefined: true });
const wrappers = new WeakSet();

function replacer(key, v) {
  switch (typeof v) {
    case "string":
    case "boolean":
      return v;
    case "number":
      if (Number.isFinite(v)) return Object.is(v, -0) ? { $number: "-0" } : v;
      return { $number: String(v) };
    case "bigint":
      return { $bigint: v.toString() };
    case "undefined":
      return UNDEF;
    case "object": {
      if (v === null || Array.isArray(v)) return v;
      if (v instanceof Uint8Array) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64") };
      if (wrappers.has(this)) return v;
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`${key ? `property ${key}` : "the value"} is an instance of ${proto?.constructor?.name ?? "a class"}, which cannot cross a service boundary`);
      }
      let n = 0;
      let first;
      for (const k in v) {
        if (n === 0) first = k;
        if (++n > 1) break;
      }
      if (n === 1 && first.charCodeAt(0) === 36 /* $ */) {
        const w = { $object: v };
        wrappers.add(w);
        return w;
      }
      return v;
    }
    default:
      throw new TypeError(`${key ? `property ${key}` : "the value"} is a ${typeof v}, which cannot cross a service boundary`);
  }
}

/** Encodes a value as tagged JSON text. */
export function encode(value) {
  return JSON.stringify(value, replacer);
}

function revive(v) {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) v[i] = revive(v[i]);
    return v;
  }
  const keys = Object.keys(v);
  if (keys.length === 1 && keys[0].charCodeAt(0) === 36) {
    const x = v[keys[0]];
    switch (keys[0]) {
      case "$bigint":
        return BigInt(x);
      case "$undefined":
        return undefined;
      case "$number":
        return Number(x);
      case "$bytes":
        return new Uint8Array(Buffer.from(x, "base64"));
      case "$object":
        for (const k of Object.keys(x)) x[k] = revive(x[k]);
        return x;
    }
  }
  for (const k of keys) v[k] = revive(v[k]);
  return v;
}

/** Decodes tagged JSON text (or a Buffer of it). */
export function decode(text) {
  const s = typeof text === "string" ? text : text.toString("utf8");
  const v = JSON.parse(s);
  return s.includes('"$') ? revive(v) : v;
}
