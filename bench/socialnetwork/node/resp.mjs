// A minimal Redis (RESP2) client over one TCP connection, with pipelining:
// commands issued in the same tick go out in one write; replies are matched
// to commands in order. Bulk strings are returned as Buffers.
import net from "node:net";

class ReplyError extends Error {
  constructor(message) {
    super(message);
    this.name = "RedisError";
  }
}

const CRLF = Buffer.from("\r\n");

function encodeCommand(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : a instanceof Uint8Array ? Buffer.from(a.buffer, a.byteOffset, a.byteLength) : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return parts;
}

export class Redis {
  constructor({ host = "127.0.0.1", port = 6379 } = {}) {
    this.host = host;
    this.port = port;
    this.pending = []; // FIFO of {resolve, reject}
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
        this.error = new Error(`redis connection to ${this.host}:${this.port} closed`);
        for (const p of this.pending.splice(0)) p.reject(this.error);
      });
    });
  }

  close() {
    this.socket?.end();
  }

  /** Sends a command; resolves to its reply. */
  call(...args) {
    if (this.error) return Promise.reject(this.error);
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.out.push(...encodeCommand(args));
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

  onData(d) {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    let pos = 0;
    for (;;) {
      const r = this.parse(pos);
      if (r === null) break;
      pos = r[1];
      const p = this.pending.shift();
      if (r[0] instanceof ReplyError) p.reject(r[0]);
      else p.resolve(r[0]);
    }
    this.buf = pos === this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
  }

  // One reply at `pos`: [value, next] or null when incomplete.
  parse(pos) {
    const buf = this.buf;
    if (pos >= buf.length) return null;
    const eol = buf.indexOf(CRLF, pos);
    if (eol < 0) return null;
    const type = buf[pos];
    const line = buf.toString("latin1", pos + 1, eol);
    switch (type) {
      case 43: // +
        return [line, eol + 2];
      case 45: // -
        return [new ReplyError(line), eol + 2];
      case 58: // :
        return [Number(line), eol + 2];
      case 36: {
        // $
        const n = Number(line);
        if (n < 0) return [null, eol + 2];
        if (eol + 2 + n + 2 > buf.length) return null;
        return [buf.subarray(eol + 2, eol + 2 + n), eol + 2 + n + 2];
      }
      case 42: {
        // *
        const n = Number(line);
        if (n < 0) return [null, eol + 2];
        const arr = new Array(n);
        let p = eol + 2;
        for (let i = 0; i < n; i++) {
          const r = this.parse(p);
          if (r === null) return null;
          arr[i] = r[0];
          p = r[1];
        }
        return [arr, p];
      }
      default:
        throw new Error(`bad RESP type byte ${type}`);
    }
  }
}
