// A minimal TOML reader for pyrosome.toml: [tables] with dotted bare keys,
// key = "string" | 'string' | integer | boolean | [array] | { inline table },
// comments. Enough for the manifests this adapter runs; not a general parser.

function parseValue(src, pos) {
  const skip = () => {
    while (pos < src.length && /[ \t]/.test(src[pos])) pos++;
  };
  skip();
  const c = src[pos];
  if (c === '"' || c === "'") {
    const end = src.indexOf(c, pos + 1);
    if (end < 0) throw new SyntaxError("unterminated string");
    let s = src.slice(pos + 1, end);
    if (c === '"') s = JSON.parse(`"${s}"`);
    return [s, end + 1];
  }
  if (c === "[") {
    const arr = [];
    pos++;
    for (;;) {
      while (pos < src.length && /[\s,]/.test(src[pos])) pos++;
      if (src[pos] === "#") {
        while (src[pos] !== "\n") pos++;
        continue;
      }
      if (src[pos] === "]") return [arr, pos + 1];
      const [v, next] = parseValue(src, pos);
      arr.push(v);
      pos = next;
    }
  }
  if (c === "{") {
    const obj = {};
    pos++;
    for (;;) {
      while (pos < src.length && /[\s,]/.test(src[pos])) pos++;
      if (src[pos] === "}") return [obj, pos + 1];
      const m = /^([A-Za-z0-9_-]+|"[^"]*")\s*=/.exec(src.slice(pos));
      if (!m) throw new SyntaxError(`bad inline table at ${pos}`);
      pos += m[0].length;
      const [v, next] = parseValue(src, pos);
      obj[m[1].replace(/"/g, "")] = v;
      pos = next;
    }
  }
  const m = /^(true|false|[+-]?[0-9][0-9_]*)/.exec(src.slice(pos));
  if (!m) throw new SyntaxError(`unsupported value at ${pos}: ${src.slice(pos, pos + 20)}`);
  const v = m[1] === "true" ? true : m[1] === "false" ? false : Number(m[1].replace(/_/g, ""));
  return [v, pos + m[0].length];
}

export function parseToml(src) {
  const root = {};
  let table = root;
  let pos = 0;
  while (pos < src.length) {
    while (pos < src.length && /\s/.test(src[pos])) pos++;
    if (pos >= src.length) break;
    if (src[pos] === "#") {
      while (pos < src.length && src[pos] !== "\n") pos++;
      continue;
    }
    if (src[pos] === "[") {
      const end = src.indexOf("]", pos);
      table = root;
      for (const part of src.slice(pos + 1, end).trim().split(".")) {
        const k = part.trim().replace(/"/g, "");
        table = table[k] ??= {};
      }
      pos = end + 1;
      continue;
    }
    const m = /^([A-Za-z0-9_.-]+|"[^"]*")\s*=/.exec(src.slice(pos));
    if (!m) throw new SyntaxError(`cannot parse line at ${pos}: ${src.slice(pos, pos + 30)}`);
    pos += m[0].length;
    const [v, next] = parseValue(src, pos);
    const path = m[1].replace(/"/g, "").split(".");
    let t = table;
    for (const k of path.slice(0, -1)) t = t[k] ??= {};
    t[path[path.length - 1]] = v;
    pos = next;
  }
  return root;
}

/**
 * Reads APP/pyrosome.toml into {name, stores: {name: durability}, vars, secrets,
 * services: {name: {module, routes, grants, vars, secrets}}}.
 */
export async function readManifest(appDir) {
  const { readFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const m = parseToml(await readFile(join(appDir, "pyrosome.toml"), "utf8"));
  const services = {};
  for (const [name, s] of Object.entries(m.services ?? {})) {
    const grants = {};
    if (Array.isArray(s.stores)) for (const st of s.stores) grants[st] = "read-write";
    else for (const [st, access] of Object.entries(s.stores ?? {})) grants[st] = access;
    services[name] = {
      module: s.module,
      routes: s.routes ?? [],
      grants,
      vars: s.vars ?? {},
      secrets: s.secrets ?? [],
    };
  }
  const stores = {};
  for (const [name, st] of Object.entries(m.stores ?? {})) stores[name] = st.durability ?? "durable";
  return { name: m.name, stores, vars: m.vars ?? {}, secrets: m.secrets ?? [], services };
}
