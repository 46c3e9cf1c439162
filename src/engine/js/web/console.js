// console.js — console.* formatted like Node's util.format / util.inspect,
// always on one line (no line breaking at 80 columns), then host.log(level, msg).
// Objects may customise their output with a method under
// Symbol.for("nodejs.util.inspect.custom"), called as (depth, options, inspect).
(function (host, global) {
  "use strict";
  const hostLog = host.log;
  const now = host.now;
  const objToString = Object.prototype.toString;
  const fnToString = Function.prototype.toString;
  const getProto = Object.getPrototypeOf;
  const ownKeys = Reflect.ownKeys;
  const getDesc = Object.getOwnPropertyDescriptor;
  const isArray = Array.isArray;
  const JSONstringify = JSON.stringify;
  const TypedArrayProto = getProto(Uint8Array.prototype);
  const taTag = getDesc(TypedArrayProto, Symbol.toStringTag).get;
  const mapSize = getDesc(Map.prototype, "size").get;
  const setSize = getDesc(Set.prototype, "size").get;
  const mapEntries = Map.prototype.entries;
  const setValues = Set.prototype.values;
  const abByteLength = getDesc(ArrayBuffer.prototype, "byteLength").get;
  const dateToISO = Date.prototype.toISOString;
  const dateGetTime = Date.prototype.getTime;
  const reToString = RegExp.prototype.toString;
  const errorToString = Error.prototype.toString;
  const CUSTOM = Symbol.for("nodejs.util.inspect.custom");
  const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
  const MAX_ITEMS = 100;

  function tryCall(getter, v) {
    try { getter.call(v); return true; } catch (e) { return false; }
  }

  function quote(s) {
    let q = "'";
    if (s.indexOf("'") !== -1) {
      if (s.indexOf('"') === -1) q = '"';
      else if (s.indexOf("`") === -1 && s.indexOf("${") === -1) q = "`";
    }
    let out = "";
    let last = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      let rep = null;
      if (c < 0x20 || c === 0x7f || c === 0x5c || (c === 0x27 && q === "'")) {
        if (c === 0x0a) rep = "\\n";
        else if (c === 0x09) rep = "\\t";
        else if (c === 0x0d) rep = "\\r";
        else if (c === 0x08) rep = "\\b";
        else if (c === 0x0c) rep = "\\f";
        else if (c === 0x0b) rep = "\\v";
        else if (c === 0x5c) rep = "\\\\";
        else if (c === 0x27) rep = "\\'";
        else rep = "\\x" + (c < 16 ? "0" : "") + c.toString(16).toUpperCase();
      }
      if (rep !== null) {
        out += s.slice(last, i) + rep;
        last = i + 1;
      }
    }
    return q + out + s.slice(last) + q;
  }

  function formatNumber(n) {
    return n === 0 && 1 / n < 0 ? "-0" : String(n);
  }

  function formatPrimitive(v, nested) {
    switch (typeof v) {
      case "string": return nested ? quote(v) : v;
      case "number": return formatNumber(v);
      case "bigint": return String(v) + "n";
      case "symbol": return v.toString();
      case "undefined": return "undefined";
      default: return String(v); // boolean
    }
  }

  function fnName(f) {
    try {
      const n = f.name;
      return typeof n === "string" ? n : "";
    } catch (e) { return ""; }
  }

  function formatFunction(f) {
    let src = "";
    try { src = fnToString.call(f); } catch (e) { /* ignore */ }
    const name = fnName(f);
    if (src.slice(0, 5) === "class" && /^class[\s{]/.test(src)) {
      return "[class " + (name || "(anonymous)") + "]";
    }
    let kind = "Function";
    const tag = f[Symbol.toStringTag];
    if (tag === "AsyncFunction" || tag === "GeneratorFunction" || tag === "AsyncGeneratorFunction") kind = tag;
    return "[" + kind + (name ? ": " + name : " (anonymous)") + "]";
  }

  function constructorName(o) {
    let p = o;
    for (let i = 0; i < 100 && p !== null; i++) {
      const d = getDesc(p, "constructor");
      if (d !== undefined && typeof d.value === "function") {
        const n = fnName(d.value);
        if (n !== "") return n;
      }
      p = getProto(p);
    }
    return null;
  }

  function formatKey(k) {
    if (typeof k === "symbol") return "[" + k.toString() + "]";
    return IDENT.test(k) ? k : quote(k);
  }

  function formatError(e) {
    let name, message, stack;
    try { name = e.name; message = e.message; stack = e.stack; } catch (x) { /* ignore */ }
    let head;
    try { head = errorToString.call(e); } catch (x) { head = "Error"; }
    if (typeof stack === "string" && stack !== "") {
      // V8 stacks start with "Name: message"; QuickJS stacks are frames only.
      if (stack.indexOf(head) !== -1 || (typeof name === "string" && stack.slice(0, name.length) === name)) {
        return stack.replace(/\s+$/, "");
      }
      return head + "\n" + stack.replace(/\s+$/, "");
    }
    void message;
    return head;
  }

  // Own enumerable keys (strings first, then symbols), as Node prints them.
  function keysOf(o, skipIndices) {
    const keys = ownKeys(o);
    const strs = [];
    const syms = [];
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const d = getDesc(o, k);
      if (d === undefined || !d.enumerable) continue;
      if (typeof k === "symbol") syms.push(k);
      else if (!(skipIndices && /^(0|[1-9][0-9]*)$/.test(k))) strs.push(k);
    }
    return strs.concat(syms);
  }

  function formatProps(o, keys, ctx, depth, out) {
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      const d = getDesc(o, k);
      let v;
      if (d.get || d.set) v = d.get ? (d.set ? "[Getter/Setter]" : "[Getter]") : "[Setter]";
      else v = inspectValue(d.value, ctx, depth + 1);
      out.push(formatKey(k) + ": " + v);
    }
    return out;
  }

  function wrap(prefix, open, items, close) {
    if (items.length === 0) return (prefix ? prefix + " " : "") + open + close;
    return (prefix ? prefix + " " : "") + open + " " + items.join(", ") + " " + close;
  }

  function inspectValue(v, ctx, depth) {
    const t = typeof v;
    if (v === null) return "null";
    if (t !== "object" && t !== "function") return formatPrimitive(v, true);
    if (ctx.seen.indexOf(v) !== -1) {
      let ref = ctx.refs.get(v);
      if (ref === undefined) { ref = ctx.refs.size + 1; ctx.refs.set(v, ref); }
      return "[Circular *" + ref + "]";
    }
    const s = inspectObject(v, t, ctx, depth);
    const ref = ctx.refs.get(v);
    return ref === undefined ? s : "<ref *" + ref + "> " + s;
  }

  function inspectObject(v, t, ctx, depth) {

    // Custom inspection hook (used by URL, Headers, ... and user code).
    let custom;
    try { custom = v[CUSTOM]; } catch (e) { custom = undefined; }
    if (typeof custom === "function") {
      ctx.seen.push(v);
      try {
        const r = custom.call(v, ctx.depth - depth, { depth: ctx.depth - depth }, inspect);
        if (r !== v) return typeof r === "string" ? r : inspectValue(r, ctx, depth);
      } finally {
        ctx.seen.pop();
      }
    }

    if (t === "function") {
      const base = formatFunction(v);
      const keys = keysOf(v, false);
      if (keys.length === 0) return base;
      if (depth > ctx.depth) return base;
      ctx.seen.push(v);
      try { return "{ " + base + " " + formatProps(v, keys, ctx, depth, []).join(", ") + " }"; }
      finally { ctx.seen.pop(); }
    }

    const tag = objToString.call(v);
    if (v instanceof Error || tag === "[object Error]") {
      const s = formatError(v);
      return depth > 0 && s.indexOf("\n") === -1 ? "[" + s + "]" : s;
    }
    const proto = getProto(v);
    let name = constructorName(v);
    const nullProto = proto === null;

    if (isArray(v)) {
      if (depth > ctx.depth) return "[Array]";
      ctx.seen.push(v);
      try {
        const items = [];
        const len = v.length;
        let holes = 0;
        const n = len < MAX_ITEMS ? len : MAX_ITEMS;
        for (let i = 0; i < n; i++) {
          if (!(i in v)) { holes++; continue; }
          if (holes) { items.push("<" + holes + " empty item" + (holes > 1 ? "s" : "") + ">"); holes = 0; }
          items.push(inspectValue(v[i], ctx, depth + 1));
        }
        if (holes) items.push("<" + holes + " empty item" + (holes > 1 ? "s" : "") + ">");
        if (len > n) items.push("... " + (len - n) + " more item" + (len - n > 1 ? "s" : ""));
        formatProps(v, keysOf(v, true), ctx, depth, items);
        const prefix = name === "Array" ? "" : (nullProto ? "[Array(" + len + "): null prototype]" : name + "(" + len + ")");
        return wrap(prefix, "[", items, "]");
      } finally { ctx.seen.pop(); }
    }

    const ta = taTag.call(v);
    if (ta !== undefined) {
      if (depth > ctx.depth) return "[" + ta + "]";
      const len = v.length;
      const n = len < MAX_ITEMS ? len : MAX_ITEMS;
      const items = [];
      for (let i = 0; i < n; i++) items.push(formatPrimitive(v[i], true));
      if (len > n) items.push("... " + (len - n) + " more item" + (len - n > 1 ? "s" : ""));
      return wrap(ta + "(" + len + ")", "[", items, "]");
    }

    if (tryCall(mapSize, v)) {
      const size = mapSize.call(v);
      if (depth > ctx.depth) return "[Map]";
      ctx.seen.push(v);
      try {
        const items = [];
        const it = mapEntries.call(v);
        for (let e = it.next(), i = 0; !e.done; e = it.next(), i++) {
          if (i >= MAX_ITEMS) { items.push("... " + (size - i) + " more items"); break; }
          items.push(inspectValue(e.value[0], ctx, depth + 1) + " => " + inspectValue(e.value[1], ctx, depth + 1));
        }
        formatProps(v, keysOf(v, false), ctx, depth, items);
        return wrap((name || "Map") + "(" + size + ")", "{", items, "}");
      } finally { ctx.seen.pop(); }
    }
    if (tryCall(setSize, v)) {
      const size = setSize.call(v);
      if (depth > ctx.depth) return "[Set]";
      ctx.seen.push(v);
      try {
        const items = [];
        const it = setValues.call(v);
        for (let e = it.next(), i = 0; !e.done; e = it.next(), i++) {
          if (i >= MAX_ITEMS) { items.push("... " + (size - i) + " more items"); break; }
          items.push(inspectValue(e.value, ctx, depth + 1));
        }
        formatProps(v, keysOf(v, false), ctx, depth, items);
        return wrap((name || "Set") + "(" + size + ")", "{", items, "}");
      } finally { ctx.seen.pop(); }
    }
    if (tag === "[object Date]") {
      const time = dateGetTime.call(v);
      return time !== time ? "Invalid Date" : dateToISO.call(v);
    }
    if (tag === "[object RegExp]") return reToString.call(v);
    if (tryCall(abByteLength, v)) {
      const bytes = new Uint8Array(v);
      const hex = [];
      const n = bytes.length < 50 ? bytes.length : 50;
      for (let i = 0; i < n; i++) hex.push((bytes[i] < 16 ? "0" : "") + bytes[i].toString(16));
      let c = "<" + hex.join(" ") + (bytes.length > n ? " ... " + (bytes.length - n) + " more bytes" : "") + ">";
      return "ArrayBuffer { [Uint8Contents]: " + c + ", byteLength: " + bytes.length + " }";
    }
    if (tag === "[object Number]" || tag === "[object String]" || tag === "[object Boolean]" ||
        tag === "[object BigInt]" || tag === "[object Symbol]") {
      const kind = tag.slice(8, -1);
      let prim;
      try { prim = v.valueOf(); } catch (e) { prim = undefined; }
      return "[" + kind + ": " + formatPrimitive(prim, true) + "]";
    }
    if (tag === "[object Promise]") return "Promise { <unknown> }";
    if (tag === "[object WeakMap]" || tag === "[object WeakSet]") return tag.slice(8, -1) + " { <items unknown> }";

    // Plain objects and class instances.
    if (depth > ctx.depth) return "[" + (name || "Object") + "]";
    ctx.seen.push(v);
    try {
      const items = formatProps(v, keysOf(v, false), ctx, depth, []);
      let prefix;
      if (nullProto) prefix = "[Object: null prototype]";
      else if (name === "Object") prefix = "";
      else prefix = name || "Object";
      let ownTag;
      try { ownTag = v[Symbol.toStringTag]; } catch (e) { ownTag = undefined; }
      const tagDesc = getDesc(v, Symbol.toStringTag);
      if (typeof ownTag === "string" && ownTag !== "" && ownTag !== name && !(tagDesc !== undefined && tagDesc.enumerable)) {
        prefix = (prefix || "Object") + " [" + ownTag + "]";
      }
      return wrap(prefix, "{", items, "}");
    } finally { ctx.seen.pop(); }
  }

  function inspect(value, options) {
    let depth = 2;
    if (options !== null && typeof options === "object" && options.depth !== undefined) {
      depth = options.depth === null ? Infinity : Number(options.depth);
    }
    return inspectValue(value, { seen: [], refs: new Map(), depth: depth }, 0);
  }

  const BUILTIN_TO_STRING = [Object.prototype.toString, Array.prototype.toString, Error.prototype.toString,
    Date.prototype.toString, RegExp.prototype.toString, Function.prototype.toString, Number.prototype.toString,
    String.prototype.toString, Boolean.prototype.toString, BigInt.prototype.toString, Symbol.prototype.toString,
    TypedArrayProto.toString];
  function hasOwnToString(v) {
    // Node's %s prints objects with a user-defined toString via that method.
    let p = v;
    while (p !== null) {
      const d = getDesc(p, "toString");
      if (d !== undefined) return BUILTIN_TO_STRING.indexOf(d.value) === -1;
      p = getProto(p);
    }
    return false;
  }

  function format() {
    const args = arguments;
    const first = args[0];
    let out = "";
    let a = 0;
    if (typeof first === "string") {
      a = 1;
      if (args.length > 1 && first.indexOf("%") !== -1) {
        let last = 0;
        for (let i = 0; i < first.length - 1; i++) {
          if (first.charCodeAt(i) !== 37) continue; // '%'
          const c = first[i + 1];
          let rep;
          if (c === "%") {
            rep = "%";
          } else if (a < args.length && "sdifjoOc".indexOf(c) !== -1) {
            const v = args[a++];
            switch (c) {
              case "s":
                if (typeof v === "bigint") rep = String(v) + "n";
                else if (typeof v === "number") rep = formatNumber(v);
                else if (v !== null && (typeof v === "object" || typeof v === "function") &&
                         !(typeof v === "object" && hasOwnToString(v))) rep = inspect(v, { depth: 0 });
                else if (typeof v === "symbol") rep = v.toString();
                else rep = String(v);
                break;
              case "d":
                rep = typeof v === "bigint" ? String(v) + "n" : typeof v === "symbol" ? "NaN" : (v !== null && typeof v === "object") ? formatNumber(Number(v)) : formatNumber(Number(v));
                break;
              case "i":
                rep = typeof v === "bigint" ? String(v) + "n" : typeof v === "symbol" ? "NaN" : formatNumber(parseInt(v, 10));
                break;
              case "f":
                rep = typeof v === "symbol" ? "NaN" : formatNumber(parseFloat(v));
                break;
              case "j":
                try { rep = JSONstringify(v); } catch (e) { rep = "[Circular]"; }
                if (rep === undefined) rep = "undefined";
                break;
              case "o":
                rep = inspect(v, { depth: 4 });
                break;
              case "O":
                rep = inspect(v);
                break;
              case "c":
                rep = "";
                break;
            }
          } else {
            continue;
          }
          out += first.slice(last, i) + rep;
          last = i + 2;
          i++;
        }
        out += first.slice(last);
      } else {
        out = first;
      }
    }
    for (; a < args.length; a++) {
      const v = args[a];
      const s = typeof v === "string" ? v : inspect(v);
      out = out === "" && a === 0 ? s : out + " " + s;
    }
    return out;
  }

  let indent = "";
  function emit(level, msg) {
    if (indent !== "") msg = indent + msg.split("\n").join("\n" + indent);
    hostLog(level, msg);
  }
  function logger(level) {
    return function () { emit(level, format.apply(null, arguments)); };
  }

  const counts = new Map();
  const timers = new Map();
  function label(l) { return l === undefined ? "default" : String(l); }
  function elapsed(start) {
    const ms = now() - start;
    if (ms >= 1000) return (ms / 1000).toFixed(3) + "s";
    return ms.toFixed(3) + "ms";
  }

  function table(data, columns) {
    if (data === null || typeof data !== "object") {
      emit("info", format(data));
      return;
    }
    const cell = (v) => (v === undefined ? "" : typeof v === "object" && v !== null ? inspect(v, { depth: 0 }) : formatPrimitive(v, true));
    const rows = [];
    const cols = [];
    let hasValues = false;
    const pushCol = (k) => { if (cols.indexOf(k) === -1) cols.push(k); };
    const entries = tryCall(mapSize, data) ? Array.from(mapEntries.call(data)) :
      Object.keys(data).map((k) => [k, data[k]]);
    for (let i = 0; i < entries.length; i++) {
      const k = entries[i][0], v = entries[i][1];
      const row = { key: typeof k === "string" ? k : cell(k), vals: {}, value: undefined, hasValue: false };
      if (v !== null && typeof v === "object") {
        const ks = Object.keys(v);
        for (let j = 0; j < ks.length; j++) {
          if (columns === undefined || columns.indexOf(ks[j]) !== -1) { pushCol(ks[j]); row.vals[ks[j]] = cell(v[ks[j]]); }
        }
      } else {
        row.value = cell(v);
        row.hasValue = true;
        hasValues = true;
      }
      rows.push(row);
    }
    if (columns !== undefined) { cols.length = 0; for (const c of columns) cols.push(String(c)); }
    const header = ["(index)"].concat(cols);
    if (hasValues) header.push("Values");
    const matrix = rows.map((r) => {
      const line = [r.key];
      for (const c of cols) line.push(r.vals[c] === undefined ? "" : r.vals[c]);
      if (hasValues) line.push(r.hasValue ? r.value : "");
      return line;
    });
    const widths = header.map((h, i) => matrix.reduce((w, line) => Math.max(w, line[i].length), h.length) + 2);
    const pad = (s, w) => " " + s + " ".repeat(w - s.length - 1);
    const rule = (l, m, r) => l + widths.map((w) => "─".repeat(w)).join(m) + r;
    const lines = [rule("┌", "┬", "┐"), "│" + header.map((h, i) => pad(h, widths[i])).join("│") + "│", rule("├", "┼", "┤")];
    for (const line of matrix) lines.push("│" + line.map((s, i) => pad(s, widths[i])).join("│") + "│");
    lines.push(rule("└", "┴", "┘"));
    emit("info", lines.join("\n"));
  }

  const console = {
    log: logger("info"),
    info: logger("info"),
    debug: logger("debug"),
    warn: logger("warn"),
    error: logger("error"),
    trace: function () {
      const msg = format.apply(null, arguments);
      let stack = "";
      try { stack = String(new Error().stack || ""); } catch (e) { /* ignore */ }
      const lines = stack.split("\n").filter((l) => /^\s+at\s/.test(l));
      lines.shift(); // this function
      emit("error", "Trace" + (msg === "" ? "" : ": " + msg) + (lines.length ? "\n" + lines.join("\n") : ""));
    },
    assert: function (cond) {
      if (cond) return;
      const rest = Array.prototype.slice.call(arguments, 1);
      if (rest.length === 0) emit("error", "Assertion failed");
      else if (typeof rest[0] === "string") {
        rest[0] = "Assertion failed: " + rest[0];
        emit("error", format.apply(null, rest));
      } else emit("error", "Assertion failed " + format.apply(null, rest));
    },
    dir: function (obj, options) { emit("info", inspect(obj, options)); },
    dirxml: logger("info"),
    table: table,
    time: function (l) {
      l = label(l);
      if (timers.has(l)) { emit("warn", "Warning: Label '" + l + "' already exists for console.time()"); return; }
      timers.set(l, now());
    },
    timeLog: function (l) {
      l = label(l);
      if (!timers.has(l)) { emit("warn", "Warning: No such label '" + l + "' for console.timeLog()"); return; }
      const extra = Array.prototype.slice.call(arguments, 1);
      emit("info", l + ": " + elapsed(timers.get(l)) + (extra.length ? " " + format.apply(null, extra) : ""));
    },
    timeEnd: function (l) {
      l = label(l);
      if (!timers.has(l)) { emit("warn", "Warning: No such label '" + l + "' for console.timeEnd()"); return; }
      emit("info", l + ": " + elapsed(timers.get(l)));
      timers.delete(l);
    },
    count: function (l) {
      l = label(l);
      const n = (counts.get(l) || 0) + 1;
      counts.set(l, n);
      emit("info", l + ": " + n);
    },
    countReset: function (l) {
      l = label(l);
      if (!counts.has(l)) { emit("warn", "Warning: Count for '" + l + "' does not exist"); return; }
      counts.set(l, 0);
    },
    group: function () {
      if (arguments.length) emit("info", format.apply(null, arguments));
      indent += "  ";
    },
    groupEnd: function () { indent = indent.slice(0, -2); },
    clear: function () {},
  };
  console.groupCollapsed = console.group;
  Object.defineProperty(console, Symbol.toStringTag, { value: "console", configurable: true });

  // Shared with later files (not visible to user code).
  const web = host.webInternals || (host.webInternals = {});
  web.inspect = inspect;
  web.format = format;

  Object.defineProperty(global, "console", {
    value: console, writable: true, configurable: true, enumerable: false,
  });
})
