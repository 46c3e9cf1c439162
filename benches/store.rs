//! Store operations from JavaScript (one worker) next to the same operations on the raw
//! `pyrosome::store::Namespace` from Rust, on the same store file in the same run.
//!
//! Run: `cargo bench --bench store` (results and method: `bench/results/store.md`).
//! `STORE_BENCH_QUICK=1` (or running without `--bench`, as `cargo test --benches` does) shrinks
//! the data set and sample counts for a smoke run;
//! `STORE_BENCH_ONLY=get,list,relaxed,durable` runs only those groups (e.g. under `perf`).
//!
//! Every JS figure is the wall time of one invocation that performs `n` operations (a
//! sequential `await` loop, or `Promise.all` over `n` operations), divided by `n`: the cost
//! of crossing into the runtime once is amortized, the per-operation cost of the JS API
//! (argument checks, value conversion both ways, the reply through the scheduler, the
//! promise) is not. The raw figure is the same loop over the `Namespace` API in Rust. Each
//! figure is the median of several samples.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use pyrosome::store::{Durability, KeyRange, ListQuery, Namespace, WriteBatch};
use pyrosome::{App, Runtime, RuntimeOptions, Value};

const MANIFEST: &str = r#"
name = "storebench"

[stores.tl]
[stores.dur]
[stores.rel]
durability = "relaxed"

[limits]
cpu_ms = 60000   # a Promise.all over thousands of operations is one long run segment

[services.b]
module = "b.js"
stores = ["tl", "dur", "rel"]
"#;

const SERVICE: &str = r#"
import { store } from "pyrosome";
const tl = store("tl");
const dur = store("dur");
const rel = store("rel");
const TEXT = "p".repeat(450);
const post = (i) => ({ user: i % 1000, ts: 1700000000000 + i, text: TEXT });
const pick = (s) => (s === "dur" ? dur : rel);
const keyOf = (users, per, i) => {
  const u = (i * 7919) % users;
  const t = (i * 31) % per;
  return "tl/u" + String(u).padStart(4, "0") + "/" + String(1700000000000 + t).padStart(13, "0");
};
const prefixOf = (users, i) => "tl/u" + String((i * 7919) % users).padStart(4, "0") + "/";

export async function getSeq({ n, users, per }) {
  let found = 0;
  for (let i = 0; i < n; i++) if ((await tl.get(keyOf(users, per, i))) !== undefined) found++;
  return found;
}
export async function getAll({ n, users, per }) {
  const ps = [];
  for (let i = 0; i < n; i++) ps.push(tl.get(keyOf(users, per, i)));
  return (await Promise.all(ps)).filter((v) => v !== undefined).length;
}
export async function listSeq({ n, users }) {
  let got = 0;
  for (let i = 0; i < n; i++) got += (await tl.list({ prefix: prefixOf(users, i), limit: 10, reverse: true })).length;
  return got;
}
export async function listAll({ n, users }) {
  const ps = [];
  for (let i = 0; i < n; i++) ps.push(tl.list({ prefix: prefixOf(users, i), limit: 10, reverse: true }));
  return (await Promise.all(ps)).reduce((a, l) => a + l.length, 0);
}
// Breakdown of the get path (see the "where the time goes" table).
export async function asyncSteps({ n }) {
  for (let i = 0; i < n; i++) await null;
  return n;
}
export async function countEmptySeq({ n }) {
  let c = 0;
  for (let i = 0; i < n; i++) c += await tl.count({ prefix: "none/" });
  return c;
}
export async function getAbsentSeq({ n }) {
  let found = 0;
  for (let i = 0; i < n; i++) if ((await tl.get("absent/" + i)) !== undefined) found++;
  return found;
}
const SAMPLE = post(7);
export function cloneSeq({ n }) {
  for (let i = 0; i < n; i++) structuredClone(SAMPLE);
  return n;
}
export async function putSeq({ s, n, base }) {
  const kv = pick(s);
  for (let i = 0; i < n; i++) await kv.put("k/" + (base + i), post(i));
  return n;
}
export async function putAll({ s, n, base }) {
  const kv = pick(s);
  const ps = [];
  for (let i = 0; i < n; i++) ps.push(kv.put("k/" + (base + i), post(i)));
  await Promise.all(ps);
  return n;
}
export async function putOne({ s, key }) {
  await pick(s).put(key, post(1));
}
export async function batchSeq({ s, n, base }) {
  const kv = pick(s);
  for (let i = 0; i < n; i++) {
    const ops = [];
    for (let j = 0; j < 10; j++) ops.push({ op: "put", key: "b/" + (base + i) + "/" + j, value: post(j) });
    await kv.batch(ops);
  }
  return n;
}
export async function batchAll({ s, n, base }) {
  const kv = pick(s);
  const ps = [];
  for (let i = 0; i < n; i++) {
    const ops = [];
    for (let j = 0; j < 10; j++) ops.push({ op: "put", key: "b/" + (base + i) + "/" + j, value: post(j) });
    ps.push(kv.batch(ops));
  }
  await Promise.all(ps);
  return n;
}
"#;

struct Config {
    users: u64,
    per: u64,
    samples: usize,
    /// Operations per sample for reads and relaxed writes.
    n_fast: u64,
    /// Operations per sample for sequential durable writes (one fsync each).
    n_sync: u64,
    /// In-flight writes for the group-commit rows.
    concurrency: u64,
}

fn text() -> String {
    "p".repeat(450)
}

fn post(i: u64) -> Value {
    Value::object([
        ("user", Value::Number((i % 1000) as f64)),
        ("ts", Value::Number((1_700_000_000_000 + i) as f64)),
        ("text", Value::String(text())),
    ])
}

fn key_of(users: u64, per: u64, i: u64) -> Vec<u8> {
    let u = (i * 7919) % users;
    let t = (i * 31) % per;
    format!("tl/u{u:04}/{:013}", 1_700_000_000_000 + t).into_bytes()
}

fn prefix_of(users: u64, i: u64) -> Vec<u8> {
    format!("tl/u{:04}/", (i * 7919) % users).into_bytes()
}

fn num(n: u64) -> Value {
    Value::Number(n as f64)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Seconds per operation of one run of `run` doing `ops` operations.
fn per_op(ops: u64, run: &mut dyn FnMut()) -> f64 {
    let t = Instant::now();
    run();
    t.elapsed().as_secs_f64() / ops as f64
}

/// Median over `samples` of (elapsed / ops), in seconds per operation.
fn measure(samples: usize, ops: u64, mut run: impl FnMut()) -> f64 {
    run(); // warm-up
    median((0..samples).map(|_| per_op(ops, &mut run)).collect())
}

/// `(js, raw)` medians, the samples of the two interleaved (alternating which goes first) so
/// that a change in the machine's load or disk latency during the run affects both alike.
fn pair(samples: usize, ops: u64, mut js: impl FnMut(), mut raw: impl FnMut()) -> (f64, f64) {
    raw();
    js();
    let (mut j, mut r) = (Vec::new(), Vec::new());
    for s in 0..samples {
        if s % 2 == 0 {
            r.push(per_op(ops, &mut raw));
            j.push(per_op(ops, &mut js));
        } else {
            j.push(per_op(ops, &mut js));
            r.push(per_op(ops, &mut raw));
        }
    }
    (median(j), median(r))
}

struct Bench {
    rt: Runtime,
    cfg: Config,
    /// Distinct key bases so writes never overwrite one another across samples.
    next_base: AtomicUsize,
}

impl Bench {
    fn js(&self, method: &str, arg: Value) -> Value {
        self.rt
            .call_blocking("b", method, arg)
            .unwrap_or_else(|e| panic!("b.{method}: {e}"))
    }

    fn base(&self, n: u64) -> u64 {
        self.next_base.fetch_add(n as usize, Ordering::Relaxed) as u64
    }

    fn ns(&self, name: &str) -> Namespace {
        let durability = if name == "rel" {
            Durability::Relaxed
        } else {
            Durability::Durable
        };
        self.rt
            .store()
            .expect("the bench app has stores")
            .namespace(name, durability)
            .expect("namespace")
    }
}

/// `n` writes in flight at once on the raw namespace; returns when all are acknowledged.
fn raw_concurrent(ns: &Namespace, batches: Vec<WriteBatch>) {
    let n = batches.len();
    let (tx, rx) = mpsc::channel();
    let left = Arc::new(AtomicUsize::new(n));
    for batch in batches {
        let (tx, left) = (tx.clone(), left.clone());
        ns.write(
            batch,
            Box::new(move |r| {
                r.expect("raw write");
                if left.fetch_sub(1, Ordering::AcqRel) == 1 {
                    let _ = tx.send(());
                }
            }),
        );
    }
    rx.recv_timeout(Duration::from_secs(120))
        .expect("raw writes acknowledged");
}

fn batch_of_10(base: u64) -> WriteBatch {
    let mut b = WriteBatch::new();
    for j in 0..10 {
        b = b.put(format!("b/{base}/{j}"), post(j));
    }
    b
}

struct Row {
    op: String,
    mode: String,
    js: f64,
    raw: f64,
    target: Option<(&'static str, f64)>,
}

fn fmt_time(secs: f64) -> String {
    if secs < 1e-3 {
        format!("{:.2} µs", secs * 1e6)
    } else {
        format!("{:.3} ms", secs * 1e3)
    }
}

fn fmt_rate(secs_per_op: f64) -> String {
    format!("{:.0}/s", 1.0 / secs_per_op)
}

fn load(app_dir: &Path, data: &Path) -> Runtime {
    std::fs::write(app_dir.join("pyrosome.toml"), MANIFEST).expect("write manifest");
    std::fs::write(app_dir.join("b.js"), SERVICE).expect("write module");
    let app = App::load(app_dir).unwrap_or_else(|e| panic!("bench app: {e}"));
    Runtime::start(
        app,
        RuntimeOptions {
            workers: 1,
            data_dir: Some(data.to_path_buf()),
            ..RuntimeOptions::default()
        },
    )
    .unwrap_or_else(|e| panic!("start: {e}"))
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) this is a smoke run.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let quick = std::env::var_os("STORE_BENCH_QUICK").is_some();
    let cfg = if smoke {
        Config {
            users: 20,
            per: 20,
            samples: 1,
            n_fast: 100,
            n_sync: 5,
            concurrency: 16,
        }
    } else if quick {
        Config {
            users: 100,
            per: 20,
            samples: 3,
            n_fast: 500,
            n_sync: 20,
            concurrency: 64,
        }
    } else {
        Config {
            users: 1000,
            per: 50,
            samples: 9,
            n_fast: 5000,
            n_sync: 100,
            concurrency: 64,
        }
    };
    let app_dir = tempfile::tempdir().expect("temp app dir");
    let data_dir = tempfile::tempdir().expect("temp data dir");
    let bench = Bench {
        rt: load(app_dir.path(), data_dir.path()),
        cfg,
        next_base: AtomicUsize::new(0),
    };
    let cfg = &bench.cfg;

    // The timelines: `users` × `per` posts of ~500 B, loaded through the raw API.
    let t = Instant::now();
    let tl = bench.ns("tl");
    let tl_loader = bench
        .rt
        .store()
        .expect("stores")
        .namespace("tl", Durability::Relaxed)
        .expect("tl");
    let mut batch = WriteBatch::new();
    for u in 0..cfg.users {
        for p in 0..cfg.per {
            let key = format!("tl/u{u:04}/{:013}", 1_700_000_000_000 + p);
            batch = batch.put(key, post(u * cfg.per + p));
            if batch.ops.len() == 2000 {
                tl_loader
                    .write_blocking(std::mem::take(&mut batch))
                    .expect("load");
            }
        }
    }
    tl_loader.write_blocking(batch).expect("load");
    bench
        .ns("dur")
        .write_blocking(WriteBatch::new().put("sync", Value::Null))
        .expect("sync");
    eprintln!(
        "loaded {} timeline entries in {:.1?}",
        cfg.users * cfg.per,
        t.elapsed()
    );

    let (users, per, n, samples) = (cfg.users, cfg.per, cfg.n_fast, cfg.samples);
    let read_arg = || Value::object([("n", num(n)), ("users", num(users)), ("per", num(per))]);
    let mut rows: Vec<Row> = Vec::new();

    let only = std::env::var("STORE_BENCH_ONLY").ok();
    let wants = |group: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|g| g == group))
    };

    // ---- get and list 10 (reverse prefix scan) ---------------------------------------------
    let raw_get = || {
        let mut found = 0;
        for i in 0..n {
            found += usize::from(tl.get(&key_of(users, per, i)).expect("get").is_some());
        }
        assert_eq!(found as u64, n);
    };
    let query = |i: u64| ListQuery {
        range: KeyRange::Prefix(prefix_of(users, i)),
        limit: Some(10),
        reverse: true,
    };
    let listed = n * 10.min(per);
    let raw_list = || {
        let mut got = 0;
        for i in 0..n {
            got += tl.list(&query(i)).expect("list").len();
        }
        assert_eq!(got as u64, listed);
    };
    let two_x = Some(("≤ 2×", 2.0));
    let reads = [
        ("get", "getSeq", "sequential await", n, two_x),
        ("get", "getAll", "Promise.all", n, None),
        (
            "list 10 (reverse prefix)",
            "listSeq",
            "sequential await",
            listed,
            two_x,
        ),
        (
            "list 10 (reverse prefix)",
            "listAll",
            "Promise.all",
            listed,
            None,
        ),
    ];
    for (op, method, mode, expect, target) in reads {
        let group = if op == "get" { "get" } else { "list" };
        if !wants(group) {
            continue;
        }
        let js = || assert_eq!(bench.js(method, read_arg()), num(expect));
        let (js, raw) = if op == "get" {
            pair(samples, n, js, raw_get)
        } else {
            pair(samples, n, js, raw_list)
        };
        rows.push(Row {
            op: op.into(),
            mode: mode.into(),
            js,
            raw,
            target,
        });
    }

    // ---- where the time of a JS get goes ----------------------------------------------------
    let mut breakdown: Vec<(&str, f64, Option<f64>)> = Vec::new();
    if wants("breakdown") {
        let arg = || Value::object([("n", num(n))]);
        let js = |method: &str| {
            measure(samples, n, || {
                bench.js(method, arg());
            })
        };
        breakdown.push((
            "`await null` (an async step, no host call)",
            js("asyncSteps"),
            None,
        ));
        let raw_count = measure(samples, n, || {
            for _ in 0..n {
                tl.count(&KeyRange::Prefix(b"none/".to_vec()))
                    .expect("count");
            }
        });
        breakdown.push((
            "`await count({prefix})` of an empty range (host round trip, ~no store work)",
            js("countEmptySeq"),
            Some(raw_count),
        ));
        let raw_absent = measure(samples, n, || {
            for i in 0..n {
                assert!(
                    tl.get(format!("absent/{i}").as_bytes())
                        .expect("get")
                        .is_none()
                );
            }
        });
        breakdown.push((
            "`await get()` of an absent key",
            js("getAbsentSeq"),
            Some(raw_absent),
        ));
        breakdown.push((
            "`structuredClone(post)` (web/clone.js, one ~500 B post, no store)",
            js("cloneSeq"),
            None,
        ));
    }

    // ---- puts and batches -------------------------------------------------------------------
    for (store, label) in [("rel", "relaxed"), ("dur", "durable")] {
        if !wants(store) && !wants(label) {
            continue;
        }
        let ns = bench.ns(store);
        let seq_n = if store == "dur" { cfg.n_sync } else { n };
        let c = cfg.concurrency;
        let rounds = if store == "dur" { 10 } else { (n / c).max(1) };
        let ops = rounds * c;
        let group_target = (store == "dur").then_some(("≥ 50 % of raw throughput", 2.0));
        let js_arg = |n: u64| {
            Value::object([
                ("s", store.into()),
                ("n", num(n)),
                ("base", num(bench.base(n))),
            ])
        };

        // Sequential puts: one write in flight (durable: one fsync per put).
        let (js, raw) = pair(
            samples,
            seq_n,
            || {
                bench.js("putSeq", js_arg(seq_n));
            },
            || {
                let base = bench.base(seq_n);
                for i in 0..seq_n {
                    ns.write_blocking(WriteBatch::new().put(format!("k/{}", base + i), post(i)))
                        .expect("put");
                }
            },
        );
        rows.push(Row {
            op: format!("put {label}"),
            mode: "sequential await".into(),
            js,
            raw,
            target: None,
        });

        // `c` puts in flight, `rounds` times: Promise.all in one invocation, or `c` concurrent
        // invocations of one put each (what concurrent HTTP requests do), against `c`
        // in-flight raw writes.
        let raw_puts = || {
            for _ in 0..rounds {
                let base = bench.base(c);
                raw_concurrent(
                    &ns,
                    (0..c)
                        .map(|i| WriteBatch::new().put(format!("k/{}", base + i), post(i)))
                        .collect(),
                );
            }
        };
        let (js, raw) = pair(
            samples,
            ops,
            || {
                for _ in 0..rounds {
                    bench.js("putAll", js_arg(c));
                }
            },
            raw_puts,
        );
        rows.push(Row {
            op: format!("put {label}"),
            mode: format!("{c} × Promise.all"),
            js,
            raw,
            target: group_target,
        });
        let (js, raw) = pair(
            samples,
            ops,
            || {
                for _ in 0..rounds {
                    let base = bench.base(c);
                    let pending: Vec<_> = (0..c)
                        .map(|i| {
                            let arg = Value::object([
                                ("s", store.into()),
                                ("key", format!("k/{}", base + i).into()),
                            ]);
                            bench.rt.scheduler().invoke("b", "putOne", arg)
                        })
                        .collect();
                    for p in pending {
                        p.blocking_recv().expect("answer").expect("putOne");
                    }
                }
            },
            raw_puts,
        );
        rows.push(Row {
            op: format!("put {label}"),
            mode: format!("{c} concurrent invocations"),
            js,
            raw,
            target: group_target,
        });

        // Batches of 10 puts.
        let (js, raw) = pair(
            samples,
            seq_n,
            || {
                bench.js("batchSeq", js_arg(seq_n));
            },
            || {
                let base = bench.base(seq_n);
                for i in 0..seq_n {
                    ns.write_blocking(batch_of_10(base + i)).expect("batch");
                }
            },
        );
        rows.push(Row {
            op: format!("batch of 10 {label}"),
            mode: "sequential await".into(),
            js,
            raw,
            target: None,
        });
        let (js, raw) = pair(
            samples,
            ops,
            || {
                for _ in 0..rounds {
                    bench.js("batchAll", js_arg(c));
                }
            },
            || {
                for _ in 0..rounds {
                    let base = bench.base(c);
                    raw_concurrent(&ns, (0..c).map(|i| batch_of_10(base + i)).collect());
                }
            },
        );
        rows.push(Row {
            op: format!("batch of 10 {label}"),
            mode: format!("{c} × Promise.all"),
            js,
            raw,
            target: None,
        });
    }

    // ---- report ------------------------------------------------------------------------------
    println!();
    println!(
        "store: {} timelines × {} posts of ~500 B; 1 worker; median of {} samples; n = {} (durable sequential: {}), {} in flight for the concurrent rows",
        users, per, samples, n, cfg.n_sync, cfg.concurrency
    );
    println!();
    println!(
        "| operation | JS mode | JS per op | JS ops/s | raw per op | raw ops/s | JS/raw time | target |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let ratio = r.js / r.raw;
        let verdict = match r.target {
            None => String::new(),
            Some((text, limit)) => {
                let ok = ratio <= limit;
                format!("{text}: {}", if ok { "met" } else { "**missed**" })
            }
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {:.2}× | {} |",
            r.op,
            r.mode,
            fmt_time(r.js),
            fmt_rate(r.js),
            fmt_time(r.raw),
            fmt_rate(r.raw),
            ratio,
            verdict
        );
    }
    if !breakdown.is_empty() {
        println!();
        println!("Where the time of a JS get goes (sequential, per operation):");
        println!();
        println!("| JS loop body | JS per op | raw per op |");
        println!("|---|---|---|");
        for (what, js, raw) in &breakdown {
            println!(
                "| {what} | {} | {} |",
                fmt_time(*js),
                raw.map_or_else(|| "—".to_owned(), fmt_time)
            );
        }
    }
    bench.rt.shutdown();
}
