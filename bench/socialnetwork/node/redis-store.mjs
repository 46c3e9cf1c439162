// The Pyrosome store API on Redis. A store NAME is two Redis keys:
//   ps:NAME:k  a sorted set of every key, all with score 0, so ZRANGEBYLEX
//              walks keys in bytewise order (the store's order);
//   ps:NAME:v  a hash key -> value (tagged JSON, value.mjs).
// Writes and lists are Lua scripts, so a batch is atomic and its
// putIfAbsent conditions see earlier operations of the same batch, as in
// Pyrosome (docs/store.md).
import { encode, decode } from "./value.mjs";

const BATCH = `
local n = tonumber(ARGV[1])
local seen = {}
for i = 0, n - 1 do
  local op, k = ARGV[2 + i * 3], ARGV[3 + i * 3]
  if op == 'a' then
    local present = seen[k]
    if present == nil then present = redis.call('HEXISTS', KEYS[2], k) == 1 end
    if present then return i end
    seen[k] = true
  elseif op == 'p' then seen[k] = true
  else seen[k] = false end
end
for i = 0, n - 1 do
  local op, k = ARGV[2 + i * 3], ARGV[3 + i * 3]
  if op == 'd' then
    redis.call('ZREM', KEYS[1], k)
    redis.call('HDEL', KEYS[2], k)
  else
    redis.call('ZADD', KEYS[1], 0, k)
    redis.call('HSET', KEYS[2], k, ARGV[4 + i * 3])
  end
end
return -1`;

const LIST = `
local keys
if ARGV[4] == '1' then
  if ARGV[3] == '-1' then keys = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[2], ARGV[1])
  else keys = redis.call('ZREVRANGEBYLEX', KEYS[1], ARGV[2], ARGV[1], 'LIMIT', 0, ARGV[3]) end
else
  if ARGV[3] == '-1' then keys = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2])
  else keys = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[1], ARGV[2], 'LIMIT', 0, ARGV[3]) end
end
local out = {}
for i = 1, #keys, 1000 do
  local chunk = {}
  for j = i, math.min(i + 999, #keys) do chunk[#chunk + 1] = keys[j] end
  local vals = redis.call('HMGET', KEYS[2], unpack(chunk))
  for j = 1, #chunk do
    out[#out + 1] = chunk[j]
    out[#out + 1] = vals[j]
  end
end
return out`;

const MAX_KEY = 64 * 1024;

function keyBytes(key, what) {
  if (typeof key === "string") {
    const b = Buffer.from(key, "utf8");
    if (b.length > MAX_KEY) throw new RangeError(`${what} is longer than ${MAX_KEY} bytes`);
    return b;
  }
  if (key instanceof Uint8Array) return Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  throw new TypeError(`${what} must be a string or a Uint8Array, got ${key === null ? "null" : typeof key}`);
}

// A key as list() returns it: a string when it is UTF-8, else bytes.
const utf8 = new TextDecoder("utf-8", { fatal: true });
function keyOut(buf) {
  try {
    return utf8.decode(buf);
  } catch {
    return new Uint8Array(buf);
  }
}

// The smallest key above every key starting with `prefix`, or null.
function successor(prefix) {
  const b = Buffer.from(prefix);
  let n = b.length;
  while (n > 0 && b[n - 1] === 0xff) n--;
  if (n === 0) return null;
  const s = Buffer.from(b.subarray(0, n));
  s[n - 1]++;
  return s;
}

const lex = (mark, b) => Buffer.concat([Buffer.from(mark), b]);

function bounds(options, what) {
  if (options === undefined || options === null) return ["-", "+"];
  if (typeof options !== "object") throw new TypeError(`${what} options must be an object`);
  const { prefix, start, end } = options;
  const has = (v) => v !== undefined && v !== null;
  if (has(prefix)) {
    if (has(start) || has(end)) throw new TypeError("give either prefix or start/end, not both");
    const p = keyBytes(prefix, "prefix");
    if (p.length === 0) return ["-", "+"];
    const s = successor(p);
    return [lex("[", p), s === null ? "+" : lex("(", s)];
  }
  return [has(start) ? lex("[", keyBytes(start, "start")) : "-", has(end) ? lex("(", keyBytes(end, "end")) : "+"];
}

export class StoreHost {
  constructor(redis) {
    this.redis = redis;
    this.batchSha = null;
    this.listSha = null;
  }

  /** Loads the scripts; waits while Redis is still loading its dataset (up to ~2 min). */
  async init() {
    for (let tries = 0; ; tries++) {
      try {
        this.batchSha = (await this.redis.call("SCRIPT", "LOAD", BATCH)).toString();
        this.listSha = (await this.redis.call("SCRIPT", "LOAD", LIST)).toString();
        return;
      } catch (e) {
        if (!/^LOADING/.test(e.message) || tries > 1200) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** A handle with Pyrosome's StoreHandle API for store `name`. */
  handle(name, writable) {
    const host = this;
    const r = this.redis;
    const zkey = `ps:${name}:k`;
    const hkey = `ps:${name}:v`;
    const readOnly = () =>
      Promise.reject(new TypeError(`store "${name}" is granted read-only to this service (pyrosome.toml)`));

    async function write(ops) {
      if (!writable) return readOnly();
      const args = [host.batchSha, 2, zkey, hkey, ops.length];
      ops.forEach((o, i) => {
        if (o === null || typeof o !== "object") throw new TypeError(`operation ${i} must be an object`);
        const k = keyBytes(o.key, `the key of operation ${i}`);
        if (o.op === "put") args.push("p", k, encode(o.value));
        else if (o.op === "putIfAbsent") args.push("a", k, encode(o.value));
        else if (o.op === "delete") args.push("d", k, "");
        else throw new TypeError(`operation ${i} has op ${JSON.stringify(o.op)}; expected "put", "delete" or "putIfAbsent"`);
      });
      const conflict = await r.call("EVALSHA", ...args);
      return conflict < 0 ? { ok: true } : { ok: false, conflict };
    }

    const handle = {
      get name() {
        return name;
      },
      get writable() {
        return writable;
      },
      async get(key) {
        const v = await r.call("HGET", hkey, keyBytes(key, "the key"));
        return v === null ? undefined : decode(v);
      },
      async put(key, value) {
        await write([{ op: "put", key, value }]);
      },
      async putIfAbsent(key, value) {
        return (await write([{ op: "putIfAbsent", key, value }])).ok;
      },
      async delete(key) {
        await write([{ op: "delete", key }]);
      },
      async list(options) {
        const [min, max] = bounds(options, "list");
        const limit = options?.limit;
        if (limit !== undefined && limit !== null && !(Number.isInteger(limit) && limit >= 0)) {
          throw new TypeError("limit must be a non-negative integer");
        }
        if (limit === 0) return [];
        const flat = await r.call(
          "EVALSHA", host.listSha, 2, zkey, hkey, min, max,
          limit === undefined || limit === null ? -1 : limit,
          options?.reverse ? "1" : "0",
        );
        const out = [];
        for (let i = 0; i < flat.length; i += 2) out.push({ key: keyOut(flat[i]), value: decode(flat[i + 1]) });
        return out;
      },
      async count(options) {
        const [min, max] = bounds(options, "count");
        return r.call("ZLEXCOUNT", zkey, min, max);
      },
      async batch(ops) {
        if (!Array.isArray(ops)) throw new TypeError("batch() takes an array of operations");
        if (ops.length === 0) return { ok: true };
        return write(ops);
      },
    };
    return Object.freeze(handle);
  }
}
