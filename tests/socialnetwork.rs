//! The DeathStarBench social network (`examples/socialnetwork`) end to end:
//! every `/wrk2-api/` route (and login through `/api/`) over real HTTP against
//! the real server. The same checks run against the Node.js baseline
//! (`bench/socialnetwork/node`) when `node` and `redis-server` are installed.

mod common;

use std::net::SocketAddr;

use base64::Engine as _;
use common::baseline::{Check, Example, Pyrosome, expect, post, post_with};
use common::{Client, HttpResponse, get};
use serde_json::Value as Json;

/// The value of the example's declared secret `JWT_SECRET` in these tests.
const TEST_JWT_SECRET: &str = "test-jwt-secret";

const EXAMPLE: Example = Example {
    dir: "examples/socialnetwork",
    secrets: &[("JWT_SECRET", TEST_JWT_SECRET)],
    memcached_stores: None,
    bench_script: "bench/socialnetwork.sh",
};

/// A Pyrosome server running the example on a fresh data folder.
fn pyrosome() -> Pyrosome {
    EXAMPLE.pyrosome()
}

// ---- a tiny HTTP vocabulary (with `post`, `post_with` and `expect`) ---------

fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> HttpResponse {
    Client::connect(addr).request("GET", path, headers, b"")
}

fn register(addr: SocketAddr, i: &str) -> HttpResponse {
    let (f, l, u, p) = (
        format!("first_name_{i}"),
        format!("last_name_{i}"),
        format!("username_{i}"),
        format!("password_{i}"),
    );
    post(
        addr,
        "/wrk2-api/user/register",
        &[
            ("first_name", &f),
            ("last_name", &l),
            ("username", &u),
            ("password", &p),
            ("user_id", i),
        ],
    )
}

fn register_all(addr: SocketAddr, ids: &[&str]) {
    for i in ids {
        expect(&register(addr, i), 200, "Success!\n");
    }
}

fn follow_by_name(addr: SocketAddr, route: &str, user: &str, followee: &str) -> HttpResponse {
    let (u, f) = (format!("username_{user}"), format!("username_{followee}"));
    post(
        addr,
        &format!("/wrk2-api/user/{route}"),
        &[("user_name", &u), ("followee_name", &f)],
    )
}

fn follow_by_id(addr: SocketAddr, route: &str, user: &str, followee: &str) -> HttpResponse {
    post(
        addr,
        &format!("/wrk2-api/user/{route}"),
        &[("user_id", user), ("followee_id", followee)],
    )
}

fn compose(addr: SocketAddr, user: &str, text: &str) -> HttpResponse {
    let u = format!("username_{user}");
    post(
        addr,
        "/wrk2-api/post/compose",
        &[
            ("username", &u),
            ("user_id", user),
            ("text", text),
            ("post_type", "0"),
        ],
    )
}

#[track_caller]
fn compose_ok(addr: SocketAddr, user: &str, text: &str) {
    expect(
        &compose(addr, user, text),
        200,
        "Successfully upload post\n",
    );
}

/// Reads a timeline; panics unless it is a 200 JSON array.
#[track_caller]
fn timeline(addr: SocketAddr, which: &str, user: &str, start: i64, stop: i64) -> Vec<Json> {
    let r = get(
        addr,
        &format!("/wrk2-api/{which}-timeline/read?user_id={user}&start={start}&stop={stop}"),
    );
    assert_eq!(r.status, 200, "{which} timeline of {user}: {}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "content type {:?}",
        r.header("content-type")
    );
    assert!(
        r.text().ends_with('\n'),
        "ngx.say ends the body with a newline"
    );
    match serde_json::from_slice(&r.body) {
        Ok(Json::Array(posts)) => posts,
        other => panic!("expected a JSON array, got {other:?} from {}", r.text()),
    }
}

fn texts(posts: &[Json]) -> Vec<String> {
    posts
        .iter()
        .map(|p| p["text"].as_str().expect("text is a string").to_owned())
        .collect()
}

/// Checks the A.7 shape of a post: ids and timestamp as decimal strings, post_type a number.
#[track_caller]
fn assert_post_shape(p: &Json) {
    let decimal = |v: &Json, what: &str| {
        let s = v
            .as_str()
            .unwrap_or_else(|| panic!("{what} should be a string: {p}"));
        assert!(
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
            "{what} should be decimal: {s:?}"
        );
    };
    decimal(&p["post_id"], "post_id");
    decimal(&p["req_id"], "req_id");
    decimal(&p["timestamp"], "timestamp");
    decimal(&p["creator"]["user_id"], "creator.user_id");
    assert!(p["creator"]["username"].is_string());
    assert!(
        p["post_type"].is_number(),
        "post_type should be a number: {p}"
    );
    for m in p["user_mentions"].as_array().expect("user_mentions") {
        decimal(&m["user_id"], "user_mentions[].user_id");
        assert!(m["username"].is_string());
    }
    for m in p["media"].as_array().expect("media") {
        decimal(&m["media_id"], "media[].media_id");
        assert!(m["media_type"].is_string());
    }
    for u in p["urls"].as_array().expect("urls") {
        assert!(u["shortened_url"].is_string() && u["expanded_url"].is_string());
    }
}

// ---- the checks (run against both deployments) ------------------------------

/// Register, duplicate register, missing fields.
fn check_register(addr: SocketAddr) {
    register_all(addr, &["100", "101"]);
    // A taken username fails with the upstream message; so does a taken user_id.
    expect(
        &register(addr, "101"),
        500,
        "User registration failure: User username_101 already existed\n",
    );
    let r = post(
        addr,
        "/wrk2-api/user/register",
        &[
            ("first_name", "a"),
            ("last_name", "b"),
            ("username", "someone_else"),
            ("password", "p"),
            ("user_id", "100"),
        ],
    );
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.text().starts_with("User registration failure: "));
    // Every field is required; an empty one counts as missing.
    for missing in ["first_name", "last_name", "username", "password", "user_id"] {
        let fields: Vec<(&str, &str)> = [
            ("first_name", "a"),
            ("last_name", "b"),
            ("username", "new_user"),
            ("password", "p"),
            ("user_id", "102"),
        ]
        .into_iter()
        .filter(|(k, _)| *k != missing)
        .collect();
        expect(
            &post(addr, "/wrk2-api/user/register", &fields),
            400,
            "Incomplete arguments\n",
        );
    }
    let r = post(
        addr,
        "/wrk2-api/user/register",
        &[
            ("first_name", "a"),
            ("last_name", ""),
            ("username", "new_user"),
            ("password", "p"),
            ("user_id", "102"),
        ],
    );
    expect(&r, 400, "Incomplete arguments\n");
    // Nothing of the failed attempts was registered.
    expect(&register(addr, "102"), 200, "Success!\n");
}

fn login(addr: SocketAddr, user: &str, password: &str) -> HttpResponse {
    post(
        addr,
        "/api/user/login",
        &[("username", user), ("password", password)],
    )
}

/// Login right and wrong; the JWT is HS256 with the upstream claims and opens /api/.
fn check_login(addr: SocketAddr) {
    register_all(addr, &["200"]);
    let r = login(addr, "username_200", "password_200");
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some("../../main.html?username=username_200")
    );
    let cookie = r.header("set-cookie").expect("a login cookie").to_owned();
    assert!(
        cookie.contains("Path=/") && cookie.contains("Expires="),
        "{cookie}"
    );
    let token = cookie
        .strip_prefix("login_token=")
        .and_then(|c| c.split(';').next())
        .expect("login_token=<jwt>")
        .to_owned();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWT has three parts: {token}");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: Json =
        serde_json::from_slice(&b64.decode(parts[0]).expect("base64url")).expect("json");
    assert_eq!(header["alg"], "HS256");
    let claims: Json =
        serde_json::from_slice(&b64.decode(parts[1]).expect("base64url")).expect("json");
    assert_eq!(claims["user_id"], "200");
    assert_eq!(claims["username"], "username_200");
    assert_eq!(claims["ttl"], "3600");
    let ts: u64 = claims["timestamp"]
        .as_str()
        .expect("timestamp is a string")
        .parse()
        .expect("seconds");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    assert!(ts.abs_diff(now) < 120, "timestamp {ts} vs now {now}");

    // A second login is served from the login cache, with the same checks.
    assert_eq!(login(addr, "username_200", "password_200").status, 302);
    let r = login(addr, "username_200", "wrong");
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains("Incorrect username or password"),
        "{}",
        r.text()
    );
    let r = login(addr, "username_nobody", "x");
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains("User: username_nobody is not registered"),
        "{}",
        r.text()
    );
    assert_eq!(login(addr, "username_200", "").status, 400);

    // The token authenticates /api/ routes; a forged one does not.
    let good = format!("login_token={token}");
    let r = get_with(
        addr,
        "/api/user-timeline/read?start=0&stop=10",
        &[("cookie", &good)],
    );
    expect(&r, 200, "[]\n");
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    let bad = format!("login_token={forged}");
    let r = get_with(
        addr,
        "/api/user-timeline/read?start=0&stop=10",
        &[("cookie", &bad)],
    );
    assert_eq!(r.status, 401, "{}", r.text());
    let r = get(addr, "/api/user-timeline/read?start=0&stop=10");
    assert_eq!(r.status, 401, "{}", r.text());
    // Compose through /api/ takes the author from the token.
    let r = post_with(
        addr,
        "/api/post/compose",
        &[("text", "from the browser"), ("post_type", "0")],
        &[("cookie", &good)],
    );
    expect(&r, 200, "Successfully upload post\n");
    let posts = timeline(addr, "user", "200", 0, 10);
    assert_eq!(texts(&posts), ["from the browser"]);
    assert_eq!(posts[0]["creator"]["username"], "username_200");
}

/// Follow/unfollow by id and by name; compose reaches the author's user
/// timeline and the home timelines of followers and mentioned users only.
fn check_follow_compose(addr: SocketAddr) {
    register_all(addr, &["300", "301", "302", "303", "304"]);
    expect(
        &follow_by_name(addr, "follow", "301", "300"),
        200,
        "Success!\n",
    );
    expect(
        &follow_by_id(addr, "follow", "302", "300"),
        200,
        "Success!\n",
    );
    // Following twice is harmless.
    expect(
        &follow_by_id(addr, "follow", "302", "300"),
        200,
        "Success!\n",
    );

    compose_ok(
        addr,
        "300",
        "hello @username_303 and @username_nobody http://example.com/path?q=1 tail",
    );
    let own = timeline(addr, "user", "300", 0, 10);
    assert_eq!(own.len(), 1);
    let p = &own[0];
    assert_post_shape(p);
    assert_eq!(p["creator"]["user_id"], "300");
    assert_eq!(p["creator"]["username"], "username_300");
    assert_eq!(p["post_type"], 0);
    // Unknown users in mentions are dropped.
    assert_eq!(
        p["user_mentions"],
        serde_json::json!([{"user_id": "303", "username": "username_303"}])
    );
    // The URL stops at '/', is shortened, and the tail after it is dropped.
    let urls = p["urls"].as_array().expect("urls");
    assert_eq!(urls.len(), 1);
    assert_eq!(urls[0]["expanded_url"], "http://example.com");
    let short = urls[0]["shortened_url"].as_str().expect("short url");
    assert!(
        short.len() == "http://short-url/".len() + 10 && short.starts_with("http://short-url/"),
        "{short}"
    );
    assert_eq!(
        p["text"].as_str().expect("text"),
        format!("hello @username_303 and @username_nobody {short}")
    );

    for reader in ["301", "302", "303"] {
        let home = timeline(addr, "home", reader, 0, 10);
        assert_eq!(home, own, "the home timeline of {reader}");
    }
    assert!(timeline(addr, "home", "304", 0, 10).is_empty());
    assert!(
        timeline(addr, "home", "300", 0, 10).is_empty(),
        "the author is not added"
    );
    assert!(timeline(addr, "user", "301", 0, 10).is_empty());

    // Followees through /api/ (the cookie of 301).
    let r = login(addr, "username_301", "password_301");
    let cookie = r
        .header("set-cookie")
        .and_then(|c| c.split(';').next())
        .expect("cookie")
        .to_owned();
    let r = get_with(addr, "/api/user/get_followee", &[("cookie", &cookie)]);
    expect(&r, 200, "[{\"followee_id\":\"300\"}]\n");

    // Unfollow, by name and by id: later posts no longer reach them.
    expect(
        &follow_by_name(addr, "unfollow", "301", "300"),
        200,
        "Success!\n",
    );
    expect(
        &follow_by_id(addr, "unfollow", "302", "300"),
        200,
        "Success!\n",
    );
    let r = get_with(addr, "/api/user/get_followee", &[("cookie", &cookie)]);
    expect(&r, 200, "[]\n");
    compose_ok(addr, "300", "second post");
    assert_eq!(
        texts(&timeline(addr, "user", "300", 0, 10))[0],
        "second post"
    );
    for reader in ["301", "302", "303"] {
        let home = timeline(addr, "home", reader, 0, 10);
        assert_eq!(home.len(), 1, "{reader} should only have the first post");
    }
    // Following by an unknown name fails.
    let r = follow_by_name(addr, "follow", "301", "nobody");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(r.text().starts_with("Follow Failed: "), "{}", r.text());
}

/// Newest first, half-open [start, stop), on both timelines.
fn check_order_and_ranges(addr: SocketAddr) {
    register_all(addr, &["400", "401"]);
    expect(
        &follow_by_id(addr, "follow", "401", "400"),
        200,
        "Success!\n",
    );
    for k in 0..6 {
        compose_ok(addr, "400", &format!("post {k}"));
    }
    let all: Vec<String> = (0..6).rev().map(|k| format!("post {k}")).collect();
    for (which, user) in [("user", "400"), ("home", "401")] {
        let posts = timeline(addr, which, user, 0, 10);
        assert_eq!(texts(&posts), all, "{which} timeline, newest first");
        let ts: Vec<u64> = posts
            .iter()
            .map(|p| {
                p["timestamp"]
                    .as_str()
                    .expect("ts")
                    .parse()
                    .expect("number")
            })
            .collect();
        assert!(
            ts.windows(2).all(|w| w[0] >= w[1]),
            "timestamps descend: {ts:?}"
        );
        assert_eq!(texts(&timeline(addr, which, user, 0, 6)), all);
        assert_eq!(texts(&timeline(addr, which, user, 1, 3)), all[1..3]);
        assert_eq!(texts(&timeline(addr, which, user, 5, 6)), all[5..6]);
        assert_eq!(texts(&timeline(addr, which, user, 4, 100)), all[4..]);
        assert!(
            timeline(addr, which, user, 3, 3).is_empty(),
            "stop == start"
        );
        assert!(timeline(addr, which, user, 4, 2).is_empty(), "stop < start");
        assert!(timeline(addr, which, user, -1, 5).is_empty(), "start < 0");
        assert!(
            timeline(addr, which, user, 6, 16).is_empty(),
            "past the end"
        );
        assert!(
            timeline(addr, which, user, 100, 110).is_empty(),
            "far past the end"
        );
    }
    // A user with no posts.
    assert!(timeline(addr, "user", "401", 0, 10).is_empty());
}

/// Ids beyond 2^53 survive exactly; media ids too.
fn check_big_ids(addr: SocketAddr) {
    let big = "9007199254740993"; // 2^53 + 1
    let huge = "9223372036854775807"; // i64::MAX
    register_all(addr, &[big, huge]);
    expect(&follow_by_id(addr, "follow", huge, big), 200, "Success!\n");
    let u = format!("username_{big}");
    let r = post(
        addr,
        "/wrk2-api/post/compose",
        &[
            ("username", &u),
            ("user_id", big),
            ("text", &format!("big ids @username_{huge}")),
            (
                "media_ids",
                "[\"123456789012345678\",\"987654321098765432\"]",
            ),
            ("media_types", "[\"png\",\"jpg\"]"),
            ("post_type", "0"),
        ],
    );
    expect(&r, 200, "Successfully upload post\n");
    let posts = timeline(addr, "home", huge, 0, 1);
    assert_eq!(posts.len(), 1);
    let p = &posts[0];
    assert_post_shape(p);
    assert_eq!(p["creator"]["user_id"], big);
    assert_eq!(p["user_mentions"][0]["user_id"], huge);
    assert_eq!(
        p["media"],
        serde_json::json!([
            {"media_id": "123456789012345678", "media_type": "png"},
            {"media_id": "987654321098765432", "media_type": "jpg"},
        ])
    );
    let pid: u64 = p["post_id"]
        .as_str()
        .expect("post_id")
        .parse()
        .expect("u64");
    assert!(pid < 1 << 63);
    assert_eq!(timeline(addr, "user", big, 0, 1), posts);
}

/// 400 on missing fields; 500 with the upstream prefixes on backend failures; 404 elsewhere.
fn check_bad_requests(addr: SocketAddr) {
    let incomplete = "Incomplete arguments\n";
    let r = post(
        addr,
        "/wrk2-api/post/compose",
        &[
            ("username", "username_1"),
            ("user_id", "1"),
            ("post_type", "0"),
        ],
    );
    expect(&r, 400, incomplete);
    let r = post(
        addr,
        "/wrk2-api/post/compose",
        &[("username", "username_1"), ("user_id", "1"), ("text", "x")],
    );
    expect(&r, 400, incomplete);
    expect(
        &post(addr, "/wrk2-api/user/follow", &[("user_id", "1")]),
        400,
        incomplete,
    );
    expect(
        &post(
            addr,
            "/wrk2-api/user/unfollow",
            &[("user_name", "username_1")],
        ),
        400,
        incomplete,
    );
    expect(
        &get(addr, "/wrk2-api/home-timeline/read?user_id=1&start=0"),
        400,
        incomplete,
    );
    expect(
        &get(addr, "/wrk2-api/user-timeline/read?start=0&stop=10"),
        400,
        incomplete,
    );
    expect(
        &get(
            addr,
            "/wrk2-api/user-timeline/read?user_id=&start=0&stop=10",
        ),
        400,
        incomplete,
    );
    let r = get(
        addr,
        "/wrk2-api/home-timeline/read?user_id=abc&start=0&stop=10",
    );
    assert_eq!(r.status, 400, "{}", r.text());
    // Media lists of different lengths fail in the media service.
    let r = post(
        addr,
        "/wrk2-api/post/compose",
        &[
            ("username", "username_1"),
            ("user_id", "1"),
            ("text", "x"),
            ("media_ids", "[\"1\",\"2\"]"),
            ("media_types", "[\"png\"]"),
            ("post_type", "0"),
        ],
    );
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text().starts_with("compost_post failure: "),
        "{}",
        r.text()
    );
    assert_eq!(get(addr, "/wrk2-api/nothing").status, 404);
}

/// Unknown users: compose does not validate the author; reads of an unknown user are empty.
fn check_unknown_users(addr: SocketAddr) {
    compose_ok(addr, "999999", "nobody wrote this @username_999998");
    let posts = timeline(addr, "user", "999999", 0, 10);
    assert_eq!(texts(&posts), ["nobody wrote this @username_999998"]);
    assert_eq!(posts[0]["user_mentions"], serde_json::json!([]));
    assert!(timeline(addr, "home", "999998", 0, 10).is_empty());
}

const CHECKS: &[Check] = &[
    ("register", check_register),
    ("login", check_login),
    ("follow_compose", check_follow_compose),
    ("order_and_ranges", check_order_and_ranges),
    ("big_ids", check_big_ids),
    ("bad_requests", check_bad_requests),
    ("unknown_users", check_unknown_users),
];

// ---- Pyrosome ---------------------------------------------------------------

#[test]
fn register_and_duplicates() {
    check_register(pyrosome().server.addr);
}

#[test]
fn login_and_jwt() {
    check_login(pyrosome().server.addr);
}

#[test]
fn follow_unfollow_and_compose_fan_out() {
    check_follow_compose(pyrosome().server.addr);
}

#[test]
fn timeline_order_and_ranges() {
    check_order_and_ranges(pyrosome().server.addr);
}

#[test]
fn ids_beyond_2_pow_53() {
    check_big_ids(pyrosome().server.addr);
}

#[test]
fn bad_requests() {
    check_bad_requests(pyrosome().server.addr);
}

#[test]
fn unknown_users() {
    check_unknown_users(pyrosome().server.addr);
}

#[test]
fn all_checks_on_one_server_with_concurrent_composes() {
    // Everything on one data set, plus parallel composes to one follower's
    // home timeline (each must land exactly once).
    let server = pyrosome();
    let addr = server.server.addr;
    for (_, check) in CHECKS {
        check(addr);
    }
    register_all(addr, &["500", "501"]);
    expect(
        &follow_by_id(addr, "follow", "501", "500"),
        200,
        "Success!\n",
    );
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for k in 0..10 {
                    compose_ok(addr, "500", &format!("parallel {t} {k}"));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("composer");
    }
    let home = timeline(addr, "home", "501", 0, 100);
    let mut got = texts(&home);
    got.sort();
    let mut want: Vec<String> = (0..4)
        .flat_map(|t| (0..10).map(move |k| format!("parallel {t} {k}")))
        .collect();
    want.sort();
    assert_eq!(got, want);
    let ids: std::collections::HashSet<&str> = home
        .iter()
        .map(|p| p["post_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 40, "post ids are unique");
}

// ---- the Node.js baseline ---------------------------------------------------

#[test]
fn node_baseline_smoke() {
    if let Some(node) = EXAMPLE.node_baseline("node_baseline_smoke") {
        node.run(CHECKS);
    }
}

/// The example ships as users should copy it: its primary data (upstream's
/// MongoDB tiers and the id generators' claims) in durable stores, so a post
/// answered with 200 survives a crash; only the caches relaxed.
#[test]
fn the_example_keeps_primary_data_in_durable_stores() {
    let app = pyrosome::App::load(&common::repo_path(EXAMPLE.dir)).expect("loads");
    let durability = |name: &str| {
        app.stores
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("store {name} declared"))
            .durability
    };
    for primary in [
        "user",
        "social-graph",
        "post",
        "user-timeline",
        "url-shorten",
        "unique-id",
    ] {
        assert_eq!(
            durability(primary),
            pyrosome::app::Durability::Durable,
            "{primary} holds primary data"
        );
    }
    for cache in [
        "user-cache",
        "post-cache",
        "social-graph-cache",
        "user-timeline-cache",
        "home-timeline",
    ] {
        assert_eq!(
            durability(cache),
            pyrosome::app::Durability::Relaxed,
            "{cache} is a cache"
        );
    }
}
