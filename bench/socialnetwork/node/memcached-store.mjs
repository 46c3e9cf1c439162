// The Pyrosome store API on Memcached, for the stores an app's upstream keeps
// in Memcached (a cache tier): cluster.mjs --memcached HOST:PORT
// --memcached-stores a,b. Key KEY of store NAME is the Memcached key
// "NAME:KEY"; values are tagged JSON (value.mjs). get / put / putIfAbsent
// (ADD) / delete map to single commands; a batch runs its operations one after
// another and is not atomic (Memcached has no multi-key transaction);
// list() and count() are refused, as Memcached cannot scan keys.
// One connection per process with the commands of one tick pipelined.
import net from "node:net";
import { encode, decode } from "./value.mjs";

const CRLF = Buffer.from("\r\n");
const MAX_KEY = 250;

class Memcached {
  constructor({ host, port }) {
    this.host = host;
    this.port = port;
    this.pending = [];
    this.out = [];
    this.flushScheduled = false;
    this.buf = Buffer.alloc(0);
  }

  connect() {
    return new Promise((resolve, reject) => {
      this.socket = net.connect({ host: this.host, port: this.port, noDelay: true }, () => resolve(this));
      this.socket.once("error", reject);
      this.socket.on("data", (d) => this.onData(d));
      this.socket.on("close", () => {
        for (const p of this.pending.splice(0)) p.reject(new Error("memcached connection closed"));
      });
    });
  }

  // kind: "get" (a value or null), "store" (true: STORED, false: NOT_STORED), "delete".
  send(bytes, kind) {
    return new Promise((resolve, reject) => {
      this.pending.push({ kind, resolve, reject });
      this.out.push(bytes);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        process.nextTick(() => {
          this.flushScheduled = false;
          const chunks = this.out;
          this.out = [];
          this.socket.write(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
        });
      }
    });
  }

  onData(d) {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let pos = 0;
    for (;;) {
      const r = this.parse(pos);
      if (r === null) break;
      pos = r[1];
      const p = this.pending.shift();
      if (r[0] instanceof Error) p.reject(r[0]);
      else p.resolve(r[0]);
    }
    this.buf = pos === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
  }

  // One reply at `pos`: [value, next] or null when incomplete.
  parse(pos) {
    const buf = this.buf;
    const eol = buf.indexOf(CRLF, pos);
    if (eol < 0) return null;
    const line = buf.toString("latin1", pos, eol);
    if (line === "END") return [null, eol + 2];
    if (line.startsWith("VALUE ")) {
      const bytes = Number(line.split(" ")[3]);
      const start = eol + 2;
      const endLine = start + bytes + 2; // the data, CRLF, then "END\r\n"
      if (buf.length < endLine + 5) return null;
      return [buf.subarray(start, start + bytes), endLine + 5];
    }
    if (line === "STORED" || line === "DELETED") return [true, eol + 2];
    if (line === "NOT_STORED" || line === "NOT_FOUND") return [false, eol + 2];
    return [new Error(`memcached: ${line}`), eol + 2];
  }
}

function keyOf(name, key, what) {
  if (typeof key !== "string") throw new TypeError(`${what} must be a string on a Memcached-backed store`);
  const k = Buffer.from(`${name}:${key}`, "utf8");
  if (k.length > MAX_KEY) throw new RangeError(`${what} is longer than Memcached allows (${MAX_KEY} bytes with the store name)`);
  if (/[\s\x00-\x20\x7f]/.test(key)) throw new TypeError(`${what} has a space or control character, which Memcached keys cannot hold`);
  return k;
}

export class MemcachedStoreHost {
  constructor(client) {
    this.mc = client;
  }

  static async connect(address) {
    const [host, port] = address.split(":");
    return new MemcachedStoreHost(await new Memcached({ host, port: Number(port) }).connect());
  }

  handle(name, writable) {
    const mc = this.mc;
    const readOnly = () =>
      Promise.reject(new TypeError(`store "${name}" is granted read-only to this service (pyrosome.toml)`));
    const store = (verb, key, value) => {
      const k = keyOf(name, key, "the key");
      const data = Buffer.from(encode(value), "utf8");
      const head = Buffer.from(`${verb} ${k.toString("utf8")} 0 0 ${data.length}\r\n`, "utf8");
      return mc.send(Buffer.concat([head, data, CRLF]), "store");
    };
    const del = (key) => mc.send(Buffer.from(`delete ${keyOf(name, key, "the key").toString("utf8")}\r\n`, "utf8"), "delete");
    const unsupported = (what) =>
      Promise.reject(new TypeError(`store "${name}" is kept in Memcached here, which cannot ${what}`));

    const handle = {
      get name() {
        return name;
      },
      get writable() {
        return writable;
      },
      async get(key) {
        const v = await mc.send(Buffer.from(`get ${keyOf(name, key, "the key").toString("utf8")}\r\n`, "utf8"), "get");
        return v === null ? undefined : decode(v);
      },
      async put(key, value) {
        if (!writable) return readOnly();
        await store("set", key, value);
      },
      async putIfAbsent(key, value) {
        if (!writable) return readOnly();
        return store("add", key, value);
      },
      async delete(key) {
        if (!writable) return readOnly();
        await del(key);
      },
      list() {
        return unsupported("list keys");
      },
      count() {
        return unsupported("count keys");
      },
      async batch(ops) {
        if (!Array.isArray(ops)) throw new TypeError("batch() takes an array of operations");
        if (!writable) return readOnly();
        // Issued together (one pipelined write); not atomic.
        const results = await Promise.all(
          ops.map((o, i) => {
            if (o === null || typeof o !== "object") throw new TypeError(`operation ${i} must be an object`);
            if (o.op === "put") return store("set", o.key, o.value);
            if (o.op === "putIfAbsent") return store("add", o.key, o.value);
            if (o.op === "delete") return del(o.key);
            throw new TypeError(`operation ${i} has op ${JSON.stringify(o.op)}; expected "put", "delete" or "putIfAbsent"`);
          }),
        );
        const conflict = ops.findIndex((o, i) => o.op === "putIfAbsent" && results[i] === false);
        return conflict < 0 ? { ok: true } : { ok: false, conflict };
      },
    };
    return Object.freeze(handle);
  }
}
