// The Pyrosome store API on Memcached, for the stores an app keeps in a
// Memcached tier upstream (cluster.mjs --memcached-stores). One Memcached
// server holds every such store, each key prefixed with "<store>:".
//
// Memcached is a cache, not an ordered store, so only part of the API maps:
// get (GET), put (SET), putIfAbsent (ADD), delete (DELETE), and batch, which
// here runs its operations one after another and is NOT atomic (a
// putIfAbsent that finds its key stops the batch, but the operations before
// it stay applied). list() and count() reject: an app that scans a store
// must keep it on Redis. Values are tagged JSON (value.mjs), never expire,
// and may be evicted when memory runs out, as in a Memcached tier.
//
// The client is the text protocol over one connection, pipelined: commands
// issued in the same tick go out in one write (so concurrent gets of one
// invocation are one round trip, like a multi-get).
import net from "node:net";
import { createHash } from "node:crypto";
import { encode, decode } from "./value.mjs";

const CRLF = Buffer.from("\r\n");
const MAX_KEY = 250;

export class Memcached {
  constructor({ host = "127.0.0.1", port = 11211 } = {}) {
    this.host = host;
    this.port = port;
    this.pending = []; // FIFO of {kind, resolve, reject}
    this.out = [];
    this.flushScheduled = false;
    this.buf = Buffer.alloc(0);
    this.socket = null;
    this.error = null;
  }

  connect() {
    return new Promise((resolve, reject) => {
      const s = net.createConnection({ host: this.host, port: this.port });
      s.setNoDelay(true);
      s.once("connect", () => {
        this.socket = s;
        resolve(this);
      });
      s.once("error", reject);
      s.on("data", (d) => this.onData(d));
      s.on("close", () => {
        this.error = new Error(`memcached connection to ${this.host}:${this.port} closed`);
        for (const p of this.pending.splice(0)) p.reject(this.error);
      });
    });
  }

  send(kind, chunks) {
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.pending.push({ kind, resolve, reject });
      this.out.push(...chunks);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        process.nextTick(() => this.flush());
      }
    });
  }

  flush() {
    this.flushScheduled = false;
    const chunks = this.out;
    this.out = [];
    this.socket.write(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  }

  /** The value of `key` (a protocol-safe key, see safeKey) as a Buffer, or null. */
  get(key) {
    return this.send("get", [Buffer.from(`get ${key}\r\n`)]);
  }

  /** SET (mode "set") or ADD (mode "add"); resolves to true when stored. */
  store(mode, key, data) {
    const b = Buffer.from(data);
    return this.send("store", [Buffer.from(`${mode} ${key} 0 0 ${b.length}\r\n`), b, CRLF]);
  }

  /** DELETE; resolves to true when the key existed. */
  delete(key) {
    return this.send("delete", [Buffer.from(`delete ${key}\r\n`)]);
  }

  onData(d) {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let pos = 0;
    while (this.pending.length > 0) {
      const r = this.parse(this.pending[0].kind, pos);
      if (r === null) break;
      pos = r[1];
      const p = this.pending.shift();
      if (r[0] instanceof Error) p.reject(r[0]);
      else p.resolve(r[0]);
    }
    this.buf = pos === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
  }

  // One reply at `pos` for a command of `kind`: [value, next] or null when incomplete.
  parse(kind, pos) {
    const buf = this.buf;
    const eol = buf.indexOf(CRLF, pos);
    if (eol < 0) return null;
    const line = buf.toString("latin1", pos, eol);
    if (/^(ERROR|CLIENT_ERROR|SERVER_ERROR)/.test(line)) return [new Error(`memcached: ${line}`), eol + 2];
    switch (kind) {
      case "get": {
        if (line === "END") return [null, eol + 2];
        const m = /^VALUE \S+ \d+ (\d+)/.exec(line);
        if (!m) return [new Error(`memcached: unexpected reply ${line}`), eol + 2];
        const start = eol + 2;
        const end = start + Number(m[1]);
        const endLine = end + 2 + 5; // data CRLF "END" CRLF
        if (endLine > buf.length) return null;
        return [buf.subarray(start, end), endLine];
      }
      case "store":
        return [line === "STORED", eol + 2];
      case "delete":
        return [line === "DELETED", eol + 2];
      default:
        return [new Error(`memcached: unknown command kind ${kind}`), eol + 2];
    }
  }
}

// A store key as a protocol-safe Memcached key: bytes outside "!".."~" and
// "%" percent-encoded; longer than 250 bytes, a SHA-256 digest instead.
function safeKey(prefix, key, what) {
  let b;
  if (typeof key === "string") b = Buffer.from(key, "utf8");
  else if (key instanceof Uint8Array) b = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  else throw new TypeError(`${what} must be a string or a Uint8Array, got ${key === null ? "null" : typeof key}`);
  let s = prefix;
  for (const c of b) s += c > 0x20 && c < 0x7f && c !== 0x25 ? String.fromCharCode(c) : "%" + c.toString(16).padStart(2, "0");
  if (s.length <= MAX_KEY) return s;
  return `${prefix}#${createHash("sha256").update(b).digest("hex")}`;
}

export class MemcachedStoreHost {
  constructor(memcached) {
    this.mc = memcached;
  }

  /** A handle with Pyrosome's StoreHandle API for store `name` (see the file's header for what differs). */
  handle(name, writable) {
    const mc = this.mc;
    const prefix = `${name}:`;
    const readOnly = () =>
      Promise.reject(new TypeError(`store "${name}" is granted read-only to this service (pyrosome.toml)`));
    const unsupported = (op) =>
      Promise.reject(new TypeError(`store "${name}" is on Memcached in this deployment: ${op}() is not supported`));
    const key = (k, what = "the key") => safeKey(prefix, k, what);

    const handle = {
      get name() {
        return name;
      },
      get writable() {
        return writable;
      },
      async get(k) {
        const v = await mc.get(key(k));
        return v === null ? undefined : decode(v);
      },
      async put(k, value) {
        if (!writable) return readOnly();
        await mc.store("set", key(k), encode(value));
      },
      async putIfAbsent(k, value) {
        if (!writable) return readOnly();
        return mc.store("add", key(k), encode(value));
      },
      async delete(k) {
        if (!writable) return readOnly();
        await mc.delete(key(k));
      },
      list() {
        return unsupported("list");
      },
      count() {
        return unsupported("count");
      },
      async batch(ops) {
        if (!Array.isArray(ops)) throw new TypeError("batch() takes an array of operations");
        if (!writable) return readOnly();
        const prepared = ops.map((o, i) => {
          if (o === null || typeof o !== "object") throw new TypeError(`operation ${i} must be an object`);
          const k = key(o.key, `the key of operation ${i}`);
          if (o.op === "put" || o.op === "putIfAbsent") return [o.op, k, encode(o.value)];
          if (o.op === "delete") return [o.op, k];
          throw new TypeError(`operation ${i} has op ${JSON.stringify(o.op)}; expected "put", "delete" or "putIfAbsent"`);
        });
        if (prepared.every(([op]) => op !== "putIfAbsent")) {
          // Unconditional: all in one pipelined write.
          await Promise.all(prepared.map(([op, k, v]) => (op === "put" ? mc.store("set", k, v) : mc.delete(k))));
          return { ok: true };
        }
        for (let i = 0; i < prepared.length; i++) {
          const [op, k, v] = prepared[i];
          if (op === "put") await mc.store("set", k, v);
          else if (op === "delete") await mc.delete(k);
          else if (!(await mc.store("add", k, v))) return { ok: false, conflict: i };
        }
        return { ok: true };
      },
    };
    return Object.freeze(handle);
  }
}
