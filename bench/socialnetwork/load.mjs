#!/usr/bin/env node
// Loads the social network through its HTTP API (either deployment):
//   1. registers users 0..N-1 (/wrk2-api/user/register: first_name_i, last_name_i,
//      username_i, password_i, user_id=i), as init_social_graph.py does;
//   2. for every edge (a, b) follows a->b and b->a by name (/wrk2-api/user/follow with
//      user_name/followee_name): 2 x 18,812 = 37,624 follows on socfb-Reed98;
//   3. pre-populates posts by a fixed, seeded procedure (timeline reads depend on it):
//      a PRNG (mulberry32) seeded with --seed (default 1) draws, for each user i in
//      order, a post count uniform in 0..20 (mean 10); each post is by user i and has
//      256 random [a-zA-Z0-9] characters, then uniform 0..5 mentions " @username_<v>"
//      with v uniform in 0..N (inclusive: N is an unknown user, dropped by the
//      service, as upstream), then uniform 0..5 URLs " http://<64 random [a-z0-9]>",
//      and uniform 0..5 media (18-digit ids, type "png"). This is init_social_graph.py
//      --compose except that the author is user i, not i+1 (upstream's off-by-one gives
//      user N, who does not exist, ~10 posts and user 0 none).
//      Content is deterministic; timestamps and post ids are the server's.
//   4. warms the caches: reads every user's user timeline [0, max-posts + 1), which
//      fills the post cache with every post (post-storage fills it on read only) and
//      the user-timeline cache, so measurements do not start on cold caches (--no-warm
//      skips it).
//
// Usage: node load.mjs --target http://127.0.0.1:8080 [--graph DIR|FILE.edges]
//                      [--concurrency 32] [--seed 1] [--no-posts] [--max-posts 20] [--no-warm]
// Without --graph, a deterministic synthetic graph of Reed98's size (962 users, 18,812
// undirected edges) and degree-distribution shape (log-normal expected degrees with
// Reed98's median 29 and p90 87, capped at 313; Chung-Lu edges) is generated.
import http from "node:http";
import { readFile, stat } from "node:fs/promises";
import { join, basename } from "node:path";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    target: { type: "string", default: "http://127.0.0.1:8080" },
    graph: { type: "string" },
    concurrency: { type: "string", default: "32" },
    seed: { type: "string", default: "1" },
    "no-posts": { type: "boolean", default: false },
    "max-posts": { type: "string", default: "20" },
    "degrees-only": { type: "boolean", default: false },
    "no-warm": { type: "boolean", default: false },
  },
});
const target = new URL(args.target);
const concurrency = Number(args.concurrency);

function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
// Uniform integer in [lo, hi], inclusive (Python's random.randint).
const randint = (rng, lo, hi) => lo + Math.floor(rng() * (hi - lo + 1));

async function readGraph(path) {
  let edgesFile = path;
  if ((await stat(path)).isDirectory()) edgesFile = join(path, `${basename(path)}.edges`);
  const nodesFile = edgesFile.replace(/\.edges$/, ".nodes");
  const n = Number((await readFile(nodesFile, "utf8")).trim());
  const edges = [];
  for (const line of (await readFile(edgesFile, "utf8")).split("\n")) {
    const m = /^\s*(\d+)\s+(\d+)/.exec(line);
    if (m) edges.push([Number(m[1]), Number(m[2])]);
  }
  return { n, edges, source: edgesFile };
}

// A deterministic synthetic graph with Reed98's size and degree shape.
function syntheticGraph(seed = 98) {
  const n = 962;
  const m = 18812;
  const rng = mulberry32(seed);
  // Log-normal expected degrees: median 29, p90 87 (sigma = ln(3)/1.2816).
  const sigma = Math.log(87 / 29) / 1.2816;
  const w = [];
  for (let i = 0; i < n; i++) {
    const z = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
    w.push(Math.min(313, Math.max(1, 29 * Math.exp(sigma * z))));
  }
  const total = w.reduce((a, b) => a + b, 0);
  const cdf = [];
  let acc = 0;
  for (const x of w) cdf.push((acc += x / total));
  const pick = () => {
    const r = rng();
    let lo = 0, hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < r) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const seen = new Set();
  const edges = [];
  // Every node gets at least one edge (Reed98's minimum degree is 1).
  for (let i = 0; i < n && edges.length < m; i++) {
    let j = pick();
    while (j === i) j = pick();
    const key = i < j ? `${i} ${j}` : `${j} ${i}`;
    if (!seen.has(key)) {
      seen.add(key);
      edges.push([i, j]);
    }
  }
  while (edges.length < m) {
    const a = pick();
    const b = pick();
    if (a === b) continue;
    const key = a < b ? `${a} ${b}` : `${b} ${a}`;
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push([a, b]);
  }
  return { n, edges, source: `synthetic (seed ${seed})` };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

function post(path, body) {
  return new Promise((resolve, reject) => {
    const buf = body === null ? null : Buffer.from(body);
    const req = http.request(
      {
        agent,
        host: target.hostname,
        port: target.port || 80,
        method: buf === null ? "GET" : "POST",
        path,
        headers: buf === null ? {} : { "content-type": "application/x-www-form-urlencoded", "content-length": buf.length },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end(buf ?? undefined);
  });
}

// Runs `count` requests made by `make(i)` with `concurrency` in flight.
// Failures make the exit status 1, except in a phase marked optional.
async function phase(name, count, make, { optional = false } = {}) {
  const t0 = performance.now();
  let next = 0;
  let failed = 0;
  let firstError = null;
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const [path, body] = make(i);
      let r;
      try {
        r = await post(path, body);
      } catch (e) {
        r = { status: 0, text: String(e) };
      }
      if (r.status !== 200) {
        failed++;
        firstError ??= `${path} ${(body ?? "").slice(0, 80)} -> ${r.status} ${r.text.trim()}`;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const s = (performance.now() - t0) / 1000;
  console.error(`${name}: ${count} requests in ${s.toFixed(1)} s (${(count / s).toFixed(0)}/s), ${failed} failed`);
  if (firstError) console.error(`  first failure: ${firstError}`);
  if (failed > 0 && !optional) process.exitCode = 1;
  return { count, seconds: s, failed };
}

const ALNUM = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LOWER = "abcdefghijklmnopqrstuvwxyz0123456789";
const chars = (rng, set, n) => {
  let s = "";
  for (let i = 0; i < n; i++) s += set[Math.floor(rng() * set.length)];
  return s;
};

function posts(n, seed, maxPosts) {
  const rng = mulberry32(seed);
  const out = [];
  for (let i = 0; i < n; i++) {
    const count = randint(rng, 0, maxPosts);
    for (let c = 0; c < count; c++) {
      let text = chars(rng, ALNUM, 256);
      const mentions = randint(rng, 0, 5);
      for (let k = 0; k < mentions; k++) text += ` @username_${randint(rng, 0, n)}`;
      const urls = randint(rng, 0, 5);
      for (let k = 0; k < urls; k++) text += ` http://${chars(rng, LOWER, 64)}`;
      const media = randint(rng, 0, 5);
      const ids = [];
      for (let k = 0; k < media; k++) ids.push(`"${randint(rng, 1, 9)}${chars(rng, "0123456789", 17)}"`);
      const types = ids.map(() => '"png"');
      let body = `username=username_${i}&user_id=${i}&text=${text}`;
      if (media > 0) body += `&media_ids=[${ids.join(",")}]&media_types=[${types.join(",")}]`;
      body += "&post_type=0";
      out.push(body);
    }
  }
  return out;
}

const graph = args.graph ? await readGraph(args.graph) : syntheticGraph();
console.error(`graph: ${graph.source}: ${graph.n} users, ${graph.edges.length} edges; target ${target.origin}`);
if (args["degrees-only"]) {
  // Degree statistics of the graph, to compare a synthetic graph with Reed98.
  const deg = new Array(graph.n).fill(0);
  for (const [a, b] of graph.edges) {
    deg[a]++;
    deg[b]++;
  }
  deg.sort((a, b) => a - b);
  const q = (p) => deg[Math.min(deg.length - 1, Math.floor(p * deg.length))];
  const mean = deg.reduce((a, b) => a + b, 0) / deg.length;
  console.log(JSON.stringify({ mean: +mean.toFixed(1), min: deg[0], median: q(0.5), p90: q(0.9), p99: q(0.99), max: deg[deg.length - 1] }));
  process.exit(0);
}
const summary = { graph: graph.source, users: graph.n, edges: graph.edges.length };
summary.register = await phase("register", graph.n, (i) => [
  "/wrk2-api/user/register",
  `first_name=first_name_${i}&last_name=last_name_${i}&username=username_${i}&password=password_${i}&user_id=${i}`,
]);
summary.follow = await phase("follow", graph.edges.length * 2, (j) => {
  const [a, b] = graph.edges[j >> 1];
  const [u, f] = j & 1 ? [b, a] : [a, b];
  return ["/wrk2-api/user/follow", `user_name=username_${u}&followee_name=username_${f}`];
});
if (!args["no-posts"]) {
  const bodies = posts(graph.n, Number(args.seed), Number(args["max-posts"]));
  summary.compose = await phase("compose", bodies.length, (i) => ["/wrk2-api/post/compose", bodies[i]]);
}
if (!args["no-warm"]) {
  const stop = Number(args["max-posts"]) + 1;
  summary.warm = await phase(
    "warm caches",
    graph.n,
    (i) => [`/wrk2-api/user-timeline/read?user_id=${i}&start=0&stop=${stop}`, null],
    { optional: true },
  );
}
agent.destroy();
console.log(JSON.stringify(summary));
