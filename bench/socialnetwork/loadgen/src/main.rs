//! Open-loop load generator for the DeathStarBench social network.
//!
//! Requests are scheduled at a constant arrival rate (or with exponential
//! inter-arrival times, like wrk2's `-D exp`) independently of how fast the
//! server answers; each request's latency is measured from its *intended*
//! send time, so queueing delay is never hidden (no coordinated omission).
//! Requests wait in one FIFO for the first free keep-alive connection of a
//! fixed pool. The request generators follow the upstream wrk2 Lua scripts
//! (DEATHSTARBENCH.md A.8): users uniform in [0, users), reads with
//! `start = rand(0..=100)`, `stop = start + 10`, composes with 1-6 mentions,
//! 1-6 URLs and 1-5 media.
//!
//! The `hotel-*` workloads are those of DeathStarBench's hotel reservation
//! (`mixed-workload_type_1.lua`): 60 % search, 39 % recommend, 0.5 % login,
//! 0.5 % reserve, with its request generators (`hotel_request`).
//!
//! `--workload compose-review` drives the media microservices instead
//! (compose-review.lua, DEATHSTARBENCH.md Part D): user `username_<u>` /
//! `password_<u>` with u uniform in [1, users], a title uniform among the
//! lines of `--titles FILE` (URL-encoded), rating uniform in 0..=10 and 256
//! random alphanumeric characters.
//!
//! Prints a human summary on stderr and one JSON object on stdout.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Mutex};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// 60 % home-timeline reads, 30 % user-timeline reads, 10 % composes.
    Mixed,
    /// Home-timeline reads only.
    Home,
    /// User-timeline reads only.
    User,
    /// Composes only.
    Compose,
    /// Hotel reservation: 60 % search, 39 % recommend, 0.5 % login, 0.5 % reserve.
    HotelMixed,
    /// Hotel reservation: searches only.
    HotelSearch,
    /// Hotel reservation: recommendations only.
    HotelRecommend,
    /// Hotel reservation: logins only.
    HotelLogin,
    /// Hotel reservation: reservations only.
    HotelReserve,
    /// Media microservices: review composes only (needs --titles).
    ComposeReview,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Dist {
    /// Evenly spaced requests.
    Const,
    /// Exponential inter-arrival times (a Poisson process), as wrk2 `-D exp`.
    Exp,
}

#[derive(Parser, Debug)]
#[command(
    about = "Open-loop HTTP load generator for the DeathStarBench workloads (socialnetwork, hotel-*)"
)]
struct Args {
    /// host:port of the server
    #[arg(long, default_value = "127.0.0.1:8080")]
    target: String,
    #[arg(long, value_enum, default_value = "mixed")]
    workload: Workload,
    /// Requests per second
    #[arg(long)]
    rate: f64,
    /// Measured seconds (after the warm-up)
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring (same rate, not recorded)
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Keep-alive connections in the pool
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Users are drawn uniformly from [0, users) (socialnetwork; the hotel workloads use 0..=500)
    #[arg(long, default_value_t = 962)]
    users: u64,
    /// Random seed (default: from the clock, like the Lua scripts)
    #[arg(long)]
    seed: Option<u64>,
    #[arg(long, value_enum, default_value = "const")]
    dist: Dist,
    /// Seconds to wait for outstanding requests after the last one is due
    #[arg(long, default_value_t = 5.0)]
    grace: f64,
    /// Movie titles, one a line (compose-review workload)
    #[arg(long)]
    titles: Option<std::path::PathBuf>,
}

/// xorshift64*: small, fast, good enough for request parameters.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [lo, hi] (inclusive, like Lua's math.random(lo, hi)).
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn alnum(rng: &mut Rng, n: usize, out: &mut String) {
    for _ in 0..n {
        out.push(ALNUM[(rng.next() % 62) as usize] as char);
    }
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Home,
    User,
    Compose,
    Search,
    Recommend,
    Login,
    Reserve,
    Review,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Home => "home",
            Kind::User => "user",
            Kind::Compose => "compose",
            Kind::Search => "search",
            Kind::Recommend => "recommend",
            Kind::Login => "login",
            Kind::Reserve => "reserve",
            Kind::Review => "compose-review",
        }
    }
}

fn read_request(host: &str, which: &str, rng: &mut Rng, users: u64) -> Vec<u8> {
    let user = rng.range(0, users - 1);
    let start = rng.range(0, 100);
    format!(
        "GET /wrk2-api/{which}-timeline/read?user_id={user}&start={start}&stop={} HTTP/1.1\r\nHost: {host}\r\n\r\n",
        start + 10
    )
    .into_bytes()
}

/// compose-post.lua: 256 random characters, then ` @username_<v>` (v != user)
/// m+1 times, ` http://<64 chars>` k+1 times; media n+1 18-digit ids ("png").
fn compose_request(host: &str, rng: &mut Rng, users: u64) -> Vec<u8> {
    let user = rng.range(0, users - 1);
    let mut text = String::with_capacity(1024);
    alnum(rng, 256, &mut text);
    let m = rng.range(0, 5);
    let k = rng.range(0, 5);
    let n = rng.range(0, 4);
    for _ in 0..=m {
        let mut v = rng.range(0, users - 1);
        while v == user && users > 1 {
            v = rng.range(0, users - 1);
        }
        text.push_str(&format!(" @username_{v}"));
    }
    for _ in 0..=k {
        text.push_str(" http://");
        alnum(rng, 64, &mut text);
    }
    let mut ids = Vec::new();
    let mut types = Vec::new();
    for _ in 0..=n {
        let mut id = String::new();
        id.push(char::from(b'1' + (rng.next() % 9) as u8));
        for _ in 0..17 {
            id.push(char::from(b'0' + (rng.next() % 10) as u8));
        }
        ids.push(format!("\"{id}\""));
        types.push("\"png\"".to_owned());
    }
    let body = format!(
        "username=username_{user}&user_id={user}&text={text}&media_ids=[{}]&media_types=[{}]&post_type=0",
        ids.join(","),
        types.join(",")
    );
    let mut req = format!(
        "POST /wrk2-api/post/compose HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body.as_bytes());
    req
}

/// Hotel reservation users: `Cornell_<id>`, password `<id>` repeated 10 times, id in 0..=500.
fn hotel_user(rng: &mut Rng) -> (String, String) {
    let id = rng.range(0, 500);
    (format!("Cornell_{id}"), id.to_string().repeat(10))
}

/// A day of April 2015 as `2015-04-DD`.
fn april(day: u64) -> String {
    format!("2015-04-{day:02}")
}

/// The workload's search area: lat 38.0235 + (rand(0..=481) - 240.5) / 1000,
/// lon -122.095 + (rand(0..=325) - 157) / 1000.
fn hotel_point(rng: &mut Rng) -> (f64, f64) {
    let lat = 38.0235 + (rng.range(0, 481) as f64 - 240.5) / 1000.0;
    let lon = -122.095 + (rng.range(0, 325) as f64 - 157.0) / 1000.0;
    (lat, lon)
}

/// mixed-workload_type_1.lua's requests (a GET for search and recommend; login and
/// reserve are POSTs with the parameters in the query and no body, as there).
fn hotel_request(kind: Kind, host: &str, rng: &mut Rng) -> Vec<u8> {
    let (method, path) = match kind {
        Kind::Search => {
            let in_day = rng.range(9, 23);
            let out_day = rng.range(in_day + 1, 24);
            let (lat, lon) = hotel_point(rng);
            (
                "GET",
                format!(
                    "/hotels?inDate={}&outDate={}&lat={lat}&lon={lon}",
                    april(in_day),
                    april(out_day)
                ),
            )
        }
        Kind::Recommend => {
            let coin = rng.unit();
            let require = if coin < 0.33 {
                "dis"
            } else if coin < 0.66 {
                "rate"
            } else {
                "price"
            };
            let (lat, lon) = hotel_point(rng);
            (
                "GET",
                format!("/recommendations?require={require}&lat={lat}&lon={lon}"),
            )
        }
        Kind::Login => {
            let (user, password) = hotel_user(rng);
            ("POST", format!("/user?username={user}&password={password}"))
        }
        _ => {
            let in_day = rng.range(9, 23);
            let out_day = in_day + rng.range(1, 5);
            let hotel = rng.range(1, 80);
            let (user, password) = hotel_user(rng);
            // `lat` and `lon` are unset globals in the Lua script: "nil".
            (
                "POST",
                format!(
                    "/reservation?inDate={}&outDate={}&lat=nil&lon=nil&hotelId={hotel}&customerName={user}&username={user}&password={password}&number=1",
                    april(in_day),
                    april(out_day)
                ),
            )
        }
    };
    let length = if method == "POST" {
        "Content-Length: 0\r\n"
    } else {
        ""
    };
    format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n{length}\r\n").into_bytes()
}

/// Percent-encodes everything but the unreserved characters (RFC 3986).
fn url_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// compose-review.lua: user u in [1, users], one of the titles, rating 0..=10,
/// 256 random characters.
fn review_request(host: &str, rng: &mut Rng, users: u64, titles: &[String]) -> Vec<u8> {
    let user = rng.range(1, users);
    let title = &titles[rng.range(0, titles.len() as u64 - 1) as usize];
    let rating = rng.range(0, 10);
    let mut body = format!("username=username_{user}&password=password_{user}&title=");
    url_encode(title, &mut body);
    body.push_str(&format!("&rating={rating}&text="));
    alnum(rng, 256, &mut body);
    let mut req = format!(
        "POST /wrk2-api/review/compose HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body.as_bytes());
    req
}

fn next_request(
    w: Workload,
    host: &str,
    rng: &mut Rng,
    users: u64,
    titles: &[String],
) -> (Kind, Vec<u8>) {
    let kind = match w {
        Workload::ComposeReview => Kind::Review,
        Workload::Home => Kind::Home,
        Workload::User => Kind::User,
        Workload::Compose => Kind::Compose,
        Workload::HotelSearch => Kind::Search,
        Workload::HotelRecommend => Kind::Recommend,
        Workload::HotelLogin => Kind::Login,
        Workload::HotelReserve => Kind::Reserve,
        Workload::HotelMixed => {
            let coin = rng.unit();
            if coin < 0.6 {
                Kind::Search
            } else if coin < 0.99 {
                Kind::Recommend
            } else if coin < 0.995 {
                Kind::Login
            } else {
                Kind::Reserve
            }
        }
        Workload::Mixed => {
            let r = rng.range(1, 100);
            if r <= 60 {
                Kind::Home
            } else if r <= 90 {
                Kind::User
            } else {
                Kind::Compose
            }
        }
    };
    let bytes = match kind {
        Kind::Home => read_request(host, "home", rng, users),
        Kind::User => read_request(host, "user", rng, users),
        Kind::Compose => compose_request(host, rng, users),
        Kind::Search | Kind::Recommend | Kind::Login | Kind::Reserve => {
            hotel_request(kind, host, rng)
        }
        Kind::Review => review_request(host, rng, users, titles),
    };
    (kind, bytes)
}

struct Job {
    intended: Instant,
    measured: bool,
    kind: Kind,
    bytes: Vec<u8>,
}

struct KindStats {
    ok: u64,
    failed: u64,
    hist: Histogram<u64>,
}

impl Default for KindStats {
    fn default() -> Self {
        KindStats {
            ok: 0,
            failed: 0,
            hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram"),
        }
    }
}

struct Stats {
    hist: Histogram<u64>,
    ok: u64,
    non2xx: u64,
    io_errors: u64,
    completed_in_window: u64,
    statuses: BTreeMap<u16, u64>,
    per_kind: BTreeMap<Kind, KindStats>,
    window: (Instant, Instant),
    first_error: Option<String>,
}

impl Stats {
    fn record(&mut self, job: &Job, done: Instant, status: Result<u16, String>) {
        if done >= self.window.0 && done <= self.window.1 {
            self.completed_in_window += 1;
        }
        if !job.measured {
            return;
        }
        let us = done.saturating_duration_since(job.intended).as_micros() as u64;
        let _ = self.hist.record(us.max(1));
        let k = self.per_kind.entry(job.kind).or_default();
        let _ = k.hist.record(us.max(1));
        match status {
            Ok(s) if (200..300).contains(&s) => {
                self.ok += 1;
                k.ok += 1;
            }
            Ok(s) => {
                self.non2xx += 1;
                k.failed += 1;
                *self.statuses.entry(s).or_default() += 1;
            }
            Err(e) => {
                self.io_errors += 1;
                k.failed += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

/// Reads one HTTP/1.1 response; returns its status. `buf` keeps leftovers.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16, String> {
    let mut chunk = [0u8; 16384];
    // Head.
    let head_end = loop {
        if let Some(p) = find(buf, b"\r\n\r\n") {
            break p + 4;
        }
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed by the server".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end])
        .map_err(|_| "response head is not UTF-8".to_string())?;
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line: {:?}", head.lines().next()))?;
    let mut content_length = None;
    let mut chunked = false;
    for line in head.split("\r\n").skip(1) {
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    buf.drain(..head_end);
    if chunked {
        loop {
            let line_end = loop {
                if let Some(p) = find(buf, b"\r\n") {
                    break p;
                }
                let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("connection closed in a chunked body".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            };
            let size_text = std::str::from_utf8(&buf[..line_end]).unwrap_or("");
            let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| format!("bad chunk size {size_text:?}"))?;
            let need = line_end + 2 + size + 2;
            while buf.len() < need {
                let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("connection closed in a chunk".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            buf.drain(..need);
            if size == 0 {
                return Ok(status);
            }
        }
    }
    let len = content_length.unwrap_or(0);
    while buf.len() < len {
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed in the body".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    buf.drain(..len);
    Ok(status)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

async fn connection(
    target: String,
    jobs: Rc<Mutex<mpsc::UnboundedReceiver<Job>>>,
    stats: Rc<RefCell<Stats>>,
    timeout: Duration,
) {
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(16384);
    loop {
        let job = {
            let mut rx = jobs.lock().await;
            match rx.recv().await {
                Some(j) => j,
                None => return,
            }
        };
        let result = tokio::time::timeout(timeout, async {
            if stream.is_none() {
                let s = TcpStream::connect(&target)
                    .await
                    .map_err(|e| format!("connect {target}: {e}"))?;
                let _ = s.set_nodelay(true);
                stream = Some(s);
                buf.clear();
            }
            let s = stream.as_mut().expect("connected");
            s.write_all(&job.bytes).await.map_err(|e| e.to_string())?;
            read_response(s, &mut buf).await
        })
        .await
        .unwrap_or_else(|_| Err(format!("no response within {timeout:?}")));
        if result.is_err() {
            stream = None;
        }
        stats.borrow_mut().record(&job, Instant::now(), result);
    }
}

/// The workload's name as given on the command line (`mixed`, `hotel-mixed`, ...).
fn workload_name(w: Workload) -> String {
    w.to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

fn main() {
    let args = Args::parse();
    assert!(args.rate > 0.0, "--rate must be positive");
    assert!(args.users > 0, "--users must be positive");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let local = tokio::task::LocalSet::new();
    let report = local.block_on(&rt, run(&args));
    println!("{report}");
}

async fn run(args: &Args) -> String {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
    });
    let mut rng = Rng::new(seed);
    let host = args.target.clone();
    let titles: Vec<String> = match &args.titles {
        Some(path) => std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("--titles {}: {e}", path.display()))
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect(),
        None => Vec::new(),
    };
    assert!(
        args.workload != Workload::ComposeReview || !titles.is_empty(),
        "--workload compose-review needs --titles FILE (movie titles, one a line)"
    );
    let start = Instant::now() + Duration::from_millis(50);
    let window_start = start + Duration::from_secs_f64(args.warmup);
    let end = window_start + Duration::from_secs_f64(args.duration);
    let stats = Rc::new(RefCell::new(Stats {
        hist: Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("histogram"),
        ok: 0,
        non2xx: 0,
        io_errors: 0,
        completed_in_window: 0,
        statuses: BTreeMap::new(),
        per_kind: BTreeMap::new(),
        window: (window_start, end),
        first_error: None,
    }));
    let (tx, rx) = mpsc::unbounded_channel::<Job>();
    let rx = Rc::new(Mutex::new(rx));
    let timeout = Duration::from_secs_f64(args.duration + args.warmup + args.grace + 5.0);
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        workers.push(tokio::task::spawn_local(connection(
            args.target.clone(),
            rx.clone(),
            stats.clone(),
            timeout,
        )));
    }

    // The schedule: request i is due at `intended`, whatever happened before.
    // It runs on a thread of its own that sleeps with the OS's precision
    // (tens of µs): tokio's timer rounds every deadline up to its next 1 ms
    // tick, which sent requests up to ~1.5 ms late at low rates and charged
    // that lateness to whichever server was measured.
    let mean = 1.0 / args.rate;
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<(u64, u64, Histogram<u64>)>();
    {
        let workload = args.workload;
        let dist = args.dist;
        let users = args.users;
        let host = host.clone();
        std::thread::Builder::new()
            .name("schedule".into())
            .spawn(move || {
                let mut intended = start;
                let mut scheduled = 0u64;
                let mut measured_scheduled = 0u64;
                let mut lag =
                    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
                let mut i = 0u64;
                while intended < end {
                    let now = Instant::now();
                    if intended > now {
                        std::thread::sleep(intended - now);
                    }
                    // Catch up on everything due by now (a sleep may end late).
                    let now = Instant::now();
                    while intended <= now && intended < end {
                        let (kind, bytes) = next_request(workload, &host, &mut rng, users, &titles);
                        let measured = intended >= window_start;
                        measured_scheduled += measured as u64;
                        scheduled += 1;
                        if measured {
                            let late = now.saturating_duration_since(intended).as_micros() as u64;
                            let _ = lag.record(late.max(1));
                        }
                        let _ = tx.send(Job {
                            intended,
                            measured,
                            kind,
                            bytes,
                        });
                        i += 1;
                        intended = match dist {
                            Dist::Const => start + Duration::from_secs_f64(i as f64 * mean),
                            Dist::Exp => {
                                intended + Duration::from_secs_f64(-mean * (1.0 - rng.unit()).ln())
                            }
                        };
                    }
                }
                drop(tx);
                let _ = done_tx.send((scheduled, measured_scheduled, lag));
            })
            .expect("the schedule thread");
    }
    let (scheduled, measured_scheduled, lag) = done_rx.await.expect("the schedule thread ended");

    // Wait for the outstanding requests, up to the grace period.
    let deadline = Instant::now() + Duration::from_secs_f64(args.grace);
    let all = async {
        for w in workers.iter_mut() {
            let _ = w.await;
        }
    };
    let finished = tokio::time::timeout_at(deadline.into(), all).await.is_ok();
    let cutoff = Instant::now();
    let mut st = stats.borrow_mut();
    let recorded = st.ok + st.non2xx + st.io_errors;
    // Requests with no answer by the cutoff: errors, with latency >= their wait so far.
    let unanswered = measured_scheduled.saturating_sub(recorded);
    if !finished {
        let waited = cutoff.saturating_duration_since(end).as_micros() as u64;
        let _ = st.hist.record_n(waited.max(1), unanswered);
    }
    let pct = |q: f64| st.hist.value_at_quantile(q) as f64 / 1000.0;
    let achieved = st.completed_in_window as f64 / args.duration;
    let errors = st.non2xx + st.io_errors + unanswered;
    let kinds: Vec<String> = st
        .per_kind
        .iter()
        .map(|(k, s)| {
            let q = |p: f64| s.hist.value_at_quantile(p) as f64 / 1000.0;
            format!(
                "\"{}\":{{\"ok\":{},\"failed\":{},\"p50_ms\":{:.3},\"p99_ms\":{:.3}}}",
                k.name(),
                s.ok,
                s.failed,
                q(0.5),
                q(0.99)
            )
        })
        .collect();
    let by_kind: Vec<String> = st
        .per_kind
        .iter()
        .map(|(k, s)| {
            format!(
                "{} p50 {:.2} / p99 {:.2} ms",
                k.name(),
                s.hist.value_at_quantile(0.5) as f64 / 1000.0,
                s.hist.value_at_quantile(0.99) as f64 / 1000.0
            )
        })
        .collect();
    let statuses: Vec<String> = st
        .statuses
        .iter()
        .map(|(s, n)| format!("\"{s}\":{n}"))
        .collect();
    eprintln!(
        "{:?} at {:.0} req/s for {:.0}s (+{:.0}s warm-up), {} connections: achieved {:.0} req/s, {} measured, {} errors ({} non-2xx, {} I/O, {} unanswered)\n  latency from intended start: p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  p99.9 {:.2} ms  max {:.2} ms  mean {:.2} ms\n  sent after the intended time by: p50 {:.3} ms  p99 {:.3} ms\n  by request: {}{}",
        args.workload,
        args.rate,
        args.duration,
        args.warmup,
        args.connections,
        achieved,
        measured_scheduled,
        errors,
        st.non2xx,
        st.io_errors,
        unanswered,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999),
        st.hist.max() as f64 / 1000.0,
        st.hist.mean() / 1000.0,
        lag.value_at_quantile(0.5) as f64 / 1000.0,
        lag.value_at_quantile(0.99) as f64 / 1000.0,
        by_kind.join(", "),
        st.first_error.as_ref().map(|e| format!("\n  first I/O error: {e}")).unwrap_or_default(),
    );
    format!(
        "{{\"workload\":\"{}\",\"target_rate\":{},\"achieved_rate\":{:.1},\"duration_s\":{},\"connections\":{},\"scheduled\":{},\"measured\":{},\"ok\":{},\"errors\":{},\"non2xx\":{},\"io_errors\":{},\"unanswered\":{},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3},\"mean_ms\":{:.3},\"send_lag_p50_ms\":{:.3},\"send_lag_p99_ms\":{:.3},\"statuses\":{{{}}},\"kinds\":{{{}}},\"seed\":{}}}",
        workload_name(args.workload),
        args.rate,
        achieved,
        args.duration,
        args.connections,
        scheduled,
        measured_scheduled,
        st.ok,
        errors,
        st.non2xx,
        st.io_errors,
        unanswered,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(0.999),
        st.hist.max() as f64 / 1000.0,
        st.hist.mean() / 1000.0,
        lag.value_at_quantile(0.5) as f64 / 1000.0,
        lag.value_at_quantile(0.99) as f64 / 1000.0,
        statuses.join(","),
        kinds.join(","),
        seed
    )
}
