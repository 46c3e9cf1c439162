//! Fixed workloads for counting instructions, which — unlike time — do
//! not depend on what else the machine is doing:
//!
//! ```text
//! cargo bench --bench instructions --no-run
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.%p BENCH call 2000
//! ```
//!
//! and divide the difference of two runs (`call 2000` and `call 0`) by
//! 2000: the instructions of one call round trip, every thread included.
//! Workloads: `call` (a → b.noop, trivial), `post` (a ~0.6 KB post both
//! ways). Without valgrind it prints the time per operation.

#[allow(dead_code)] // shared with the other benches
mod common;

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let what = args.next().unwrap_or_else(|| "call".to_owned());
    let n: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let (_dir, rt) = common::call_runtime(1, None);
    // Warm up: the first calls compile and grow caches.
    common::call_loop(&rt, 100);
    common::post_loop(&rt, 100);
    let start = Instant::now();
    match what.as_str() {
        "call" => common::call_loop(&rt, n),
        "post" => common::post_loop(&rt, n),
        other => {
            eprintln!("unknown workload {other:?} (call, post)");
            std::process::exit(2);
        }
    };
    let took = start.elapsed();
    if n > 0 {
        println!(
            "{what}: {n} in {took:?}, {:.2} us each",
            took.as_secs_f64() * 1e6 / n as f64
        );
    }
}
