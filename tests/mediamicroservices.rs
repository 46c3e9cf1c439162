//! DeathStarBench's media microservices (`examples/mediamicroservices`) end
//! to end: every `/wrk2-api/` route over real HTTP against the real server,
//! the compose-review fan-in (a composed review read back through the page,
//! the user's and the movie's reviews), the error cases, and an acknowledged
//! review surviving a `kill -9` of `pyrosome serve`. The same checks run
//! against the Node.js baseline (`bench/socialnetwork/node` with Redis and
//! memcached) when `node`, `redis-server` and `memcached` are installed.

mod common;

use std::net::SocketAddr;

use common::baseline::{Check, Example, Pyrosome, expect, post};
use common::{Client, HttpResponse, get};
use pyrosome::App;
use serde_json::{Value as Json, json};

/// The stores of the app's Memcached tiers (the baseline keeps them in memcached).
const MEMCACHED_STORES: &str = "user-cache,movie-id-cache,compose-review,review-cache,cast-info-cache,plot-cache,movie-info-cache";

const EXAMPLE: Example = Example {
    dir: "examples/mediamicroservices",
    secrets: &[],
    memcached_stores: Some(MEMCACHED_STORES),
    bench_script: "bench/mediamicroservices.sh",
};

/// A Pyrosome server running the example on a fresh data folder.
fn pyrosome() -> Pyrosome {
    EXAMPLE.pyrosome()
}

// ---- a tiny HTTP vocabulary (with `post`, `get` and `expect`) ---------------

fn post_json(addr: SocketAddr, path: &str, body: &str) -> HttpResponse {
    Client::connect(addr).request(
        "POST",
        path,
        &[("content-type", "application/json")],
        body.as_bytes(),
    )
}

/// A 200 JSON answer of a read route, parsed.
#[track_caller]
fn read_json(addr: SocketAddr, path: &str) -> Json {
    let r = get(addr, path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "content type {:?}",
        r.header("content-type")
    );
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("JSON from {path}: {e}: {}", r.text()))
}

/// Percent-encodes all but the unreserved characters, as the workload encodes titles.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn register_user(addr: SocketAddr, username: &str) -> HttpResponse {
    post(
        addr,
        "/wrk2-api/user/register",
        &[
            ("first_name", "First"),
            ("last_name", "Last"),
            ("username", username),
            ("password", &format!("pw-{username}")),
        ],
    )
}

fn register_movie(addr: SocketAddr, title: &str, movie_id: &str) -> HttpResponse {
    post(
        addr,
        "/wrk2-api/movie/register",
        &[("title", &encode(title)), ("movie_id", movie_id)],
    )
}

/// A movie with its catalogue: two cast members, a plot, the movie info and the title registration.
fn add_movie(addr: SocketAddr, title: &str, movie_id: &str, cast_base: u64) {
    for (k, name) in [(0, "Ada Lovelace"), (1, "Zoë O'Brien")] {
        let body = json!({
            "cast_info_id": cast_base + k,
            "name": name,
            "gender": k == 0,
            "intro": format!("/profile_{}.jpg", cast_base + k),
        });
        expect(
            &post_json(addr, "/wrk2-api/cast-info/write", &body.to_string()),
            200,
            "Success!\n",
        );
    }
    let plot_id: u64 = movie_id.parse().expect("numeric movie id in tests");
    let body = json!({ "plot_id": plot_id, "plot": format!("The plot of {title}.") });
    expect(
        &post_json(addr, "/wrk2-api/plot/write", &body.to_string()),
        200,
        "Success!\n",
    );
    let body = json!({
        "movie_id": movie_id,
        "title": title,
        "casts": [
            { "cast_id": 1, "character": "Hero", "cast_info_id": cast_base },
            { "cast_id": 2, "character": "Villain", "cast_info_id": (cast_base + 1).to_string() },
        ],
        "plot_id": plot_id,
        "thumbnail_ids": [format!("/poster_{movie_id}.jpg")],
        "photo_ids": [],
        "video_ids": ["v1"],
        "avg_rating": 7.5,
        "num_rating": 120,
    });
    expect(
        &post_json(addr, "/wrk2-api/movie-info/write", &body.to_string()),
        200,
        "Success!\n",
    );
    expect(&register_movie(addr, title, movie_id), 200, "Success!\n");
}

fn compose(
    addr: SocketAddr,
    username: &str,
    title: &str,
    rating: &str,
    text: &str,
) -> HttpResponse {
    post(
        addr,
        "/wrk2-api/review/compose",
        &[
            ("username", username),
            ("password", "not-checked"),
            ("title", &encode(title)),
            ("rating", rating),
            ("text", text),
        ],
    )
}

#[track_caller]
fn compose_ok(addr: SocketAddr, username: &str, title: &str, rating: &str, text: &str) {
    expect(&compose(addr, username, title, rating, text), 200, "");
}

fn page(addr: SocketAddr, movie_id: &str, start: i64, stop: i64) -> Json {
    read_json(
        addr,
        &format!("/wrk2-api/page/read?movie_id={movie_id}&review_start={start}&review_stop={stop}"),
    )
}

fn movie_reviews(addr: SocketAddr, movie_id: &str, start: i64, stop: i64) -> Vec<Json> {
    match read_json(
        addr,
        &format!("/wrk2-api/movie-review/read?movie_id={movie_id}&start={start}&stop={stop}"),
    ) {
        Json::Array(v) => v,
        other => panic!("expected an array, got {other}"),
    }
}

fn user_reviews(addr: SocketAddr, user_id: &str, start: i64, stop: i64) -> Vec<Json> {
    match read_json(
        addr,
        &format!("/wrk2-api/user-review/read?user_id={user_id}&start={start}&stop={stop}"),
    ) {
        Json::Array(v) => v,
        other => panic!("expected an array, got {other}"),
    }
}

fn texts(reviews: &[Json]) -> Vec<&str> {
    reviews
        .iter()
        .map(|r| r["text"].as_str().expect("text is a string"))
        .collect()
}

/// Ids as decimal strings, rating a number, as the gateway renders reviews.
#[track_caller]
fn assert_review_shape(r: &Json) {
    for field in ["review_id", "user_id", "req_id", "timestamp"] {
        let s = r[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} should be a string: {r}"));
        assert!(
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
            "{field} should be decimal: {s:?}"
        );
    }
    assert!(r["rating"].is_i64(), "rating should be a number: {r}");
    assert!(
        r["movie_id"].is_string(),
        "movie_id should be a string: {r}"
    );
}

// ---- the checks (each on its own users and movies, so they share a server) ----

fn check_registration(addr: SocketAddr) {
    expect(&register_user(addr, "reg_user"), 200, "Success!\n");
    expect(
        &register_user(addr, "reg_user"),
        500,
        "User registration failure: User reg_user already existed\n",
    );
    expect(
        &post(
            addr,
            "/wrk2-api/user/register",
            &[
                ("first_name", "A"),
                ("last_name", ""),
                ("username", "x"),
                ("password", "p"),
            ],
        ),
        400,
        "Incomplete arguments\n",
    );
    expect(
        &register_movie(addr, "Reg: The Movie", "7001"),
        200,
        "Success!\n",
    );
    expect(
        &register_movie(addr, "Reg: The Movie", "7002"),
        500,
        "Movie registration failure: Movie Reg: The Movie already existed in MongoDB\n",
    );
    let r = register_movie(addr, "Reg: Another", "7001");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text().contains("duplicate key movie_id 7001"),
        "a movie id is unique: {}",
        r.text()
    );
    expect(
        &post(addr, "/wrk2-api/movie/register", &[("title", "T")]),
        400,
        "Incomplete arguments\n",
    );
}

fn check_catalogue_writes(addr: SocketAddr) {
    add_movie(addr, "Amélie & the Café: Part II", "7101", 71_000);
    let p = page(addr, "7101", 0, 10);
    assert_eq!(
        p,
        json!({
            "movie_info": {
                "movie_id": "7101",
                "title": "Amélie & the Café: Part II",
                "casts": [
                    { "cast_id": 1, "character": "Hero", "cast_info_id": "71000" },
                    { "cast_id": 2, "character": "Villain", "cast_info_id": "71001" },
                ],
                "plot_id": "7101",
                "thumbnail_ids": ["/poster_7101.jpg"],
                "photo_ids": [],
                "video_ids": ["v1"],
                "avg_rating": 7.5,
                "num_rating": 120,
            },
            "reviews": [],
            "cast_infos": [
                { "cast_info_id": "71000", "name": "Ada Lovelace", "gender": true, "intro": "/profile_71000.jpg" },
                { "cast_info_id": "71001", "name": "Zoë O'Brien", "gender": false, "intro": "/profile_71001.jpg" },
            ],
            "plot": "The plot of Amélie & the Café: Part II.",
        })
    );
    // A rewrite replaces (and the cached copy is not served stale).
    let body = json!({ "plot_id": 7101, "plot": "A new plot." });
    expect(
        &post_json(addr, "/wrk2-api/plot/write", &body.to_string()),
        200,
        "Success!\n",
    );
    assert_eq!(page(addr, "7101", 0, 10)["plot"], "A new plot.");

    // Bad bodies.
    expect(
        &post_json(addr, "/wrk2-api/plot/write", "{not json"),
        400,
        "Invalid arguments: the body must be a JSON object\n",
    );
    expect(
        &post_json(addr, "/wrk2-api/plot/write", "[1]"),
        400,
        "Invalid arguments: the body must be a JSON object\n",
    );
    expect(
        &post_json(addr, "/wrk2-api/plot/write", r#"{"plot_id": 1}"#),
        400,
        "Incomplete arguments\n",
    );
    expect(
        &post_json(
            addr,
            "/wrk2-api/cast-info/write",
            r#"{"cast_info_id": 1, "name": "n", "gender": "yes", "intro": "i"}"#,
        ),
        400,
        "Invalid arguments: gender must be a boolean\n",
    );
    expect(
        &post_json(
            addr,
            "/wrk2-api/cast-info/write",
            r#"{"cast_info_id": "x1", "name": "n", "gender": true, "intro": "i"}"#,
        ),
        400,
        "Invalid arguments: cast_info_id must be a 64-bit integer\n",
    );
    expect(
        &post_json(addr, "/wrk2-api/movie-info/write", r#"{"movie_id": "1"}"#),
        400,
        "Incomplete arguments\n",
    );
    // A movie whose cast refers to a person never written: the page fails as a whole.
    let body = json!({
        "movie_id": "7102", "title": "No Cast", "casts": [{ "cast_id": 1, "character": "c", "cast_info_id": 99_999_999 }],
        "plot_id": 7101, "thumbnail_ids": [], "photo_ids": [], "video_ids": [], "avg_rating": 0, "num_rating": 0,
    });
    expect(
        &post_json(addr, "/wrk2-api/movie-info/write", &body.to_string()),
        200,
        "Success!\n",
    );
    expect(
        &get(
            addr,
            "/wrk2-api/page/read?movie_id=7102&review_start=0&review_stop=1",
        ),
        500,
        "Read page failure: cast-info-service return set incomplete\n",
    );
    expect(
        &get(
            addr,
            "/wrk2-api/page/read?movie_id=7199&review_start=0&review_stop=1",
        ),
        500,
        "Read page failure: Movie_id: 7199 doesn't exist in MongoDB\n",
    );
}

fn check_compose_review(addr: SocketAddr) {
    let title = "Heat: L'été & \"more\" 100%";
    add_movie(addr, title, "7201", 72_000);
    add_movie(addr, "Other Film", "7202", 72_100);
    expect(&register_user(addr, "rev_alice"), 200, "Success!\n");
    expect(&register_user(addr, "rev_bob"), 200, "Success!\n");

    compose_ok(addr, "rev_alice", title, "8", "first review");
    let p = page(addr, "7201", 0, 10);
    let reviews = p["reviews"].as_array().expect("reviews");
    assert_eq!(reviews.len(), 1, "{p}");
    let r = &reviews[0];
    assert_review_shape(r);
    assert_eq!(r["text"], "first review");
    assert_eq!(r["rating"], 8);
    assert_eq!(r["movie_id"], "7201");
    let alice = r["user_id"].as_str().expect("user id").to_owned();
    let first_id = r["review_id"].as_str().expect("review id").to_owned();

    // Through the movie's and the user's reviews: the same review.
    assert_eq!(movie_reviews(addr, "7201", 0, 10), vec![r.clone()]);
    assert_eq!(user_reviews(addr, &alice, 0, 10), vec![r.clone()]);

    // More reviews: newest first, ranges [start, stop), per user and per movie.
    compose_ok(addr, "rev_bob", title, "3", "bob on heat");
    compose_ok(addr, "rev_alice", "Other Film", "10", "alice on other");
    compose_ok(addr, "rev_alice", title, "0", "alice again");
    assert_eq!(
        texts(&movie_reviews(addr, "7201", 0, 10)),
        ["alice again", "bob on heat", "first review"]
    );
    assert_eq!(texts(&movie_reviews(addr, "7201", 1, 2)), ["bob on heat"]);
    assert_eq!(
        texts(&movie_reviews(addr, "7201", 2, 100)),
        ["first review"]
    );
    assert!(movie_reviews(addr, "7201", 5, 10).is_empty());
    assert!(
        movie_reviews(addr, "7201", 2, 1).is_empty(),
        "stop <= start"
    );
    assert!(movie_reviews(addr, "7201", -1, 3).is_empty(), "start < 0");
    let mine = user_reviews(addr, &alice, 0, 10);
    assert_eq!(
        texts(&mine),
        ["alice again", "alice on other", "first review"]
    );
    assert_eq!(mine[1]["movie_id"], "7202");
    assert_eq!(mine[1]["rating"], 10);
    let ids: std::collections::HashSet<&str> = mine
        .iter()
        .map(|r| r["review_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 3, "review ids are unique");
    assert!(ids.contains(first_id.as_str()));
    let first_two = page(addr, "7201", 0, 2)["reviews"].clone();
    assert_eq!(
        texts(first_two.as_array().expect("reviews")),
        ["alice again", "bob on heat"]
    );
    assert!(
        user_reviews(addr, "1", 0, 10).is_empty(),
        "a user with no reviews"
    );
    assert!(movie_reviews(addr, "no-such-movie", 0, 10).is_empty());

    // The password is not checked; unencoded text with spaces is kept.
    compose_ok(
        addr,
        "rev_bob",
        "Other Film",
        "5",
        "plain words, spaces @ all",
    );
    assert_eq!(
        texts(&movie_reviews(addr, "7202", 0, 1)),
        ["plain words, spaces @ all"]
    );
}

fn check_compose_errors(addr: SocketAddr) {
    add_movie(addr, "Err Film", "7301", 73_000);
    expect(&register_user(addr, "err_user"), 200, "Success!\n");
    for missing in ["username", "password", "title", "rating", "text"] {
        let fields: Vec<(&str, &str)> = [
            ("username", "err_user"),
            ("password", "p"),
            ("title", "Err%20Film"),
            ("rating", "5"),
            ("text", "t"),
        ]
        .into_iter()
        .filter(|(k, _)| *k != missing)
        .collect();
        expect(
            &post(addr, "/wrk2-api/review/compose", &fields),
            400,
            "Incomplete arguments\n",
        );
    }
    expect(
        &compose(addr, "err_user", "Err Film", "five", "t"),
        400,
        "Invalid arguments: rating must be a 32-bit integer\n",
    );
    expect(
        &compose(addr, "err_user", "No Such Film", "5", "t"),
        500,
        "Compose review failure: Movie No Such Film is not found in MongoDB\n",
    );
    expect(
        &compose(addr, "nobody_here", "Err Film", "5", "t"),
        500,
        "Compose review failure: User: nobody_here doesn't exist in MongoDB\n",
    );
    // Neither failed compose stored a review.
    assert!(movie_reviews(addr, "7301", 0, 10).is_empty());
    compose_ok(addr, "err_user", "Err Film", "5", "the only one");
    assert_eq!(texts(&movie_reviews(addr, "7301", 0, 10)), ["the only one"]);

    // Read routes' arguments, methods, unknown paths.
    expect(
        &get(addr, "/wrk2-api/page/read?movie_id=7301&review_start=0"),
        400,
        "Incomplete arguments\n",
    );
    expect(
        &get(
            addr,
            "/wrk2-api/user-review/read?user_id=abc&start=0&stop=1",
        ),
        400,
        "Invalid arguments: user_id must be a 64-bit integer\n",
    );
    expect(
        &get(
            addr,
            "/wrk2-api/movie-review/read?movie_id=7301&start=0&stop=x",
        ),
        400,
        "Invalid arguments: stop must be a 32-bit integer\n",
    );
    let r = get(addr, "/wrk2-api/review/compose");
    assert_eq!((r.status, r.header("allow")), (405, Some("POST")));
    expect(&get(addr, "/wrk2-api/nothing"), 404, "Not found\n");
    expect(&get(addr, "/wrk2-api/__proto__"), 404, "Not found\n");
}

/// Composes from several threads at once, all to one movie: each review lands exactly once.
fn check_concurrent_composes(addr: SocketAddr) {
    add_movie(addr, "Busy Film", "7401", 74_000);
    for u in 0..4 {
        expect(
            &register_user(addr, &format!("busy_{u}")),
            200,
            "Success!\n",
        );
    }
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for k in 0..8 {
                    compose_ok(
                        addr,
                        &format!("busy_{t}"),
                        "Busy Film",
                        "7",
                        &format!("busy {t} {k}"),
                    );
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("composer");
    }
    let all = movie_reviews(addr, "7401", 0, 100);
    let mut got: Vec<&str> = texts(&all);
    got.sort_unstable();
    let mut want: Vec<String> = (0..4)
        .flat_map(|t| (0..8).map(move |k| format!("busy {t} {k}")))
        .collect();
    want.sort();
    assert_eq!(got, want);
    let ids: std::collections::HashSet<&str> = all
        .iter()
        .map(|r| r["review_id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids.len(), 32, "review ids are unique");
}

const CHECKS: &[Check] = &[
    ("registration", check_registration),
    ("catalogue writes", check_catalogue_writes),
    ("compose review", check_compose_review),
    ("compose errors", check_compose_errors),
    ("concurrent composes", check_concurrent_composes),
];

#[test]
fn registration_and_duplicates() {
    check_registration(pyrosome().server.addr);
}

#[test]
fn catalogue_writes_and_page() {
    check_catalogue_writes(pyrosome().server.addr);
}

#[test]
fn compose_review_fan_in_read_back() {
    check_compose_review(pyrosome().server.addr);
}

#[test]
fn compose_review_errors() {
    check_compose_errors(pyrosome().server.addr);
}

#[test]
fn concurrent_composes_each_stored_once() {
    check_concurrent_composes(pyrosome().server.addr);
}

// ---- durability across kill -9 ------------------------------------------------

#[test]
fn an_acknowledged_review_survives_kill_9() {
    let data = tempfile::tempdir().expect("temp dir");
    let (mut server, addr) = EXAMPLE.serve(data.path());
    add_movie(addr, "Durable Film", "7501", 75_000);
    expect(&register_user(addr, "durable_user"), 200, "Success!\n");
    compose_ok(
        addr,
        "durable_user",
        "Durable Film",
        "9",
        "written before the crash",
    );
    // SIGKILL right after the 200: no shutdown, no flush.
    let _ = server.0.kill();
    let _ = server.0.wait();

    let (_server, addr) = EXAMPLE.serve(data.path());
    let reviews = movie_reviews(addr, "7501", 0, 10);
    assert_eq!(texts(&reviews), ["written before the crash"]);
    assert_eq!(reviews[0]["rating"], 9);
    let user = reviews[0]["user_id"].as_str().expect("user id").to_owned();
    assert_eq!(user_reviews(addr, &user, 0, 10), reviews);
    assert_eq!(
        page(addr, "7501", 0, 10)["reviews"],
        Json::Array(reviews.clone())
    );
    // The user and the movie are still registered: composing again works.
    compose_ok(addr, "durable_user", "Durable Film", "1", "after the crash");
    assert_eq!(
        texts(&movie_reviews(addr, "7501", 0, 10)),
        ["after the crash", "written before the crash"]
    );
}

/// The example ships its primary data in durable stores, the caches, the
/// aggregator and the uncommitted ratings relaxed.
#[test]
fn the_example_keeps_primary_data_in_durable_stores() {
    let app = App::load(&common::repo_path(EXAMPLE.dir)).expect("loads");
    let durability = |name: &str| {
        app.stores
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("store {name} declared"))
            .durability
    };
    for primary in [
        "user",
        "movie-id",
        "review-storage",
        "user-review",
        "movie-review",
        "cast-info",
        "plot",
        "movie-info",
        "unique-id",
    ] {
        assert_eq!(
            durability(primary),
            pyrosome::app::Durability::Durable,
            "{primary} holds primary data"
        );
    }
    for relaxed in
        MEMCACHED_STORES
            .split(',')
            .chain(["rating", "user-review-cache", "movie-review-cache"])
    {
        assert_eq!(
            durability(relaxed),
            pyrosome::app::Durability::Relaxed,
            "{relaxed} is a cache tier"
        );
    }
}

// ---- the Node.js baseline ---------------------------------------------------

#[test]
fn node_baseline_smoke() {
    if let Some(node) = EXAMPLE.node_baseline("node_baseline_smoke") {
        node.run(CHECKS);
    }
}
