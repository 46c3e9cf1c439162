//! DeathStarBench's hotel reservation (`examples/hotelreservation`) end to
//! end: every route over real HTTP against the real server, its answers
//! checked for content against the seed data, the error cases, and a
//! reservation that survives a `kill -9` of `pyrosome serve`. The same checks
//! run against the Node.js baseline (`bench/socialnetwork/node`, with Redis
//! and Memcached) when `node`, `redis-server` and `memcached` are installed.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::baseline::{Check, Example, Pyrosome};
use common::{Client, HttpResponse};
use pyrosome::App;
use serde_json::{Value as Json, json};

/// The stores the baseline keeps in Memcached (upstream's Memcached tiers).
const MEMCACHED_STORES: &str = "rate-cache,profile-cache,reservation-cache,review-cache";

const EXAMPLE: Example = Example {
    dir: "examples/hotelreservation",
    secrets: &[],
    memcached_stores: Some(MEMCACHED_STORES),
    bench_script: "bench/hotelreservation.sh",
};

/// A Pyrosome server running the example on a fresh data folder.
fn pyrosome() -> Pyrosome {
    EXAMPLE.pyrosome()
}

// ---- a tiny HTTP vocabulary -------------------------------------------------

fn request(addr: SocketAddr, method: &str, path: &str) -> HttpResponse {
    Client::connect(addr).request(method, path, &[], b"")
}

/// A 200 JSON answer of GET `path`, with upstream's CORS header.
#[track_caller]
fn get_json(addr: SocketAddr, path: &str) -> Json {
    let r = request(addr, "GET", path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("*"),
        "GET {path}"
    );
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "GET {path}: content type {:?}",
        r.header("content-type")
    );
    assert!(r.text().ends_with('\n'), "json.Encoder ends with a newline");
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("GET {path}: {e}: {}", r.text()))
}

/// The `message` of a 200 answer (login, reservation, review, attractions).
#[track_caller]
fn message(addr: SocketAddr, method: &str, path: &str) -> String {
    let r = request(addr, method, path);
    assert_eq!(r.status, 200, "{method} {path}: {}", r.text());
    let v: Json = serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.text()));
    v["message"]
        .as_str()
        .unwrap_or_else(|| panic!("{method} {path}: no message in {v}"))
        .to_owned()
}

/// A 400 with upstream's text (http.Error: the text and a newline).
#[track_caller]
fn bad_request(addr: SocketAddr, path: &str, text: &str) {
    let r = request(addr, "GET", path);
    assert_eq!(
        (r.status, r.text()),
        (400, format!("{text}\n")),
        "GET {path}"
    );
}

/// The hotel ids of a GeoJSON answer, after checking its shape.
#[track_caller]
fn feature_ids(v: &Json) -> Vec<String> {
    assert_eq!(v["type"], "FeatureCollection", "{v}");
    v["features"]
        .as_array()
        .unwrap_or_else(|| panic!("features: {v}"))
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "Feature", "{f}");
            assert_eq!(f["geometry"]["type"], "Point", "{f}");
            assert!(f["properties"]["name"].is_string(), "{f}");
            assert!(f["properties"]["phone_number"].is_string(), "{f}");
            let c = f["geometry"]["coordinates"]
                .as_array()
                .expect("coordinates");
            assert!(c.len() == 2 && c[0].is_number() && c[1].is_number(), "{f}");
            f["id"].as_str().expect("id is a string").to_owned()
        })
        .collect()
}

fn search(addr: SocketAddr, in_date: &str, out_date: &str, lat: f64, lon: f64) -> Vec<String> {
    feature_ids(&get_json(
        addr,
        &format!("/hotels?inDate={in_date}&outDate={out_date}&lat={lat}&lon={lon}"),
    ))
}

fn reserve(
    addr: SocketAddr,
    hotel: &str,
    in_date: &str,
    out_date: &str,
    user: u32,
    password: &str,
    rooms: u32,
) -> String {
    message(
        addr,
        "POST",
        &format!(
            "/reservation?inDate={in_date}&outDate={out_date}&hotelId={hotel}&customerName=Cornell_{user}\
             &username=Cornell_{user}&password={password}&number={rooms}"
        ),
    )
}

/// The password of the seeded user `Cornell_<i>`: `<i>` ten times.
fn password(i: u32) -> String {
    i.to_string().repeat(10)
}

const RESERVED: &str = "Reserve successfully!";
const FULL: &str = "Failed. Already reserved. ";
const BAD_LOGIN: &str = "Failed. Please check your username and password. ";

// Hotel 1 (Clift Hotel) is at 37.7867, -122.4112; 2 and 3 are within 1 km.
const NEAR_1: (f64, f64) = (37.7867, -122.4112);

// ---- the checks (each on its own hotels and dates, so they can share a server)

fn check_search(addr: SocketAddr) {
    // Geo: the 5 nearest within 10 km are 1, 3, 5, 6, 2 (not 4); rate plans exist only for
    // 1-3, sorted by total rate (139, 109, 109); all available.
    let v = get_json(
        addr,
        "/hotels?inDate=2015-04-09&outDate=2015-04-10&lat=37.7867&lon=-122.4112",
    );
    assert_eq!(feature_ids(&v), ["2", "1", "3"]);
    let f = &v["features"][1];
    assert_eq!(
        f,
        &json!({
            "type": "Feature",
            "id": "1",
            "properties": {"name": "Clift Hotel", "phone_number": "(415) 775-4700"},
            "geometry": {"type": "Point", "coordinates": [-122.4112, 37.7867]}
        })
    );
    assert_eq!(v["features"][0]["properties"]["name"], "W San Francisco");
    // Hotel 3's profile address is at 37.7834 (its geo point at 37.7854), as upstream.
    assert_eq!(
        v["features"][2]["geometry"]["coordinates"],
        json!([-122.4071, 37.7834])
    );
    // In the workload's area: hotels 39 (rate 232) and 42 (124) have rate plans.
    assert_eq!(
        search(addr, "2015-04-09", "2015-04-11", 38.0235, -122.095),
        ["39", "42"]
    );
    let v = get_json(
        addr,
        "/hotels?inDate=2015-04-09&outDate=2015-04-11&lat=38.0235&lon=-122.095&locale=fr",
    );
    assert_eq!(
        v["features"][0]["properties"]["phone_number"],
        "(415) 284-4039"
    );
    // Nothing within 10 km.
    assert_eq!(
        search(addr, "2015-04-09", "2015-04-10", 0.0, 0.0),
        Vec::<String>::new()
    );
    bad_request(
        addr,
        "/hotels?outDate=2015-04-10&lat=1&lon=1",
        "Please specify inDate/outDate params",
    );
    bad_request(
        addr,
        "/hotels?inDate=2015-04-09&outDate=2015-04-10&lat=1",
        "Please specify location params",
    );
}

fn check_recommendations(addr: SocketAddr) {
    let ids = |require: &str, lat: f64, lon: f64| {
        feature_ids(&get_json(
            addr,
            &format!("/recommendations?require={require}&lat={lat}&lon={lon}"),
        ))
    };
    // The nearest hotel to the workload's centre is 40 (at exactly that point).
    assert_eq!(ids("dis", 38.0235, -122.09), ["40"]);
    assert_eq!(ids("dis", 37.7936, -122.393), ["4"]);
    // The highest rate (232): hotels i % 3 == 0 and i % 5 == 4.
    assert_eq!(ids("rate", 38.0, -122.0), ["9", "24", "39", "54", "69"]);
    // The lowest price: hotel 2 (120).
    let v = get_json(addr, "/recommendations?require=price&lat=38&lon=-122");
    assert_eq!(feature_ids(&v), ["2"]);
    assert_eq!(
        v["features"][0]["geometry"]["coordinates"],
        json!([-122.4005, 37.7854])
    );
    bad_request(
        addr,
        "/recommendations?require=cheap&lat=1&lon=1",
        "Please specify require params",
    );
    bad_request(
        addr,
        "/recommendations?lat=1&lon=1",
        "Please specify require params",
    );
    bad_request(
        addr,
        "/recommendations?require=dis&lon=1",
        "Please specify location params",
    );
}

fn check_login(addr: SocketAddr) {
    for i in [0, 1, 42, 500] {
        let path = format!("/user?username=Cornell_{i}&password={}", password(i));
        assert_eq!(message(addr, "GET", &path), "Login successfully!", "{path}");
        assert_eq!(
            message(addr, "POST", &path),
            "Login successfully!",
            "{path}"
        );
    }
    // Wrong password; an unknown user (the seed has 0..=500); the hex name of upstream's
    // regression (b) does not exist.
    assert_eq!(
        message(addr, "GET", "/user?username=Cornell_1&password=111111111"),
        BAD_LOGIN
    );
    assert_eq!(
        message(
            addr,
            "GET",
            &format!("/user?username=Cornell_501&password={}", password(501))
        ),
        BAD_LOGIN
    );
    assert_eq!(
        message(
            addr,
            "GET",
            &format!("/user?username=Cornell_3130&password={}", password(10))
        ),
        BAD_LOGIN
    );
    bad_request(
        addr,
        "/user?username=Cornell_1",
        "Please specify username and password",
    );
    bad_request(
        addr,
        "/user?password=x",
        "Please specify username and password",
    );
}

fn check_reservation(addr: SocketAddr) {
    let p5 = password(5);
    // Hotel 5 has 200 rooms. 150 booked (the login fails, but upstream books anyway) ...
    assert_eq!(
        reserve(addr, "5", "2015-05-01", "2015-05-02", 5, "nope", 150),
        BAD_LOGIN
    );
    // ... so 51 more do not fit, 50 do, then it is full.
    assert_eq!(
        reserve(addr, "5", "2015-05-01", "2015-05-02", 5, &p5, 51),
        FULL
    );
    assert_eq!(
        reserve(addr, "5", "2015-05-01", "2015-05-02", 5, &p5, 50),
        RESERVED
    );
    assert_eq!(
        reserve(addr, "5", "2015-05-01", "2015-05-02", 5, &p5, 1),
        FULL
    );
    // The next night is free; a stay over the full night is not.
    assert_eq!(
        reserve(addr, "5", "2015-05-02", "2015-05-03", 5, &p5, 1),
        RESERVED
    );
    assert_eq!(
        reserve(addr, "5", "2015-04-30", "2015-05-03", 5, &p5, 1),
        FULL
    );
    // A stay of several nights books every night: hotel 3 (200 rooms), July 1-4.
    assert_eq!(
        reserve(addr, "3", "2015-07-01", "2015-07-04", 7, &password(7), 200),
        RESERVED
    );
    assert_eq!(
        reserve(addr, "3", "2015-07-03", "2015-07-04", 7, &password(7), 1),
        FULL
    );
    assert_eq!(
        reserve(addr, "3", "2015-07-04", "2015-07-05", 7, &password(7), 1),
        RESERVED
    );
    // Capacities by the seed rules: hotel 7 (7 % 3 == 1) has 300 rooms, 8 has 250, 9 has 200.
    for (hotel, cap) in [("7", 300), ("8", 250), ("9", 200)] {
        assert_eq!(
            reserve(
                addr,
                hotel,
                "2015-09-01",
                "2015-09-02",
                9,
                &password(9),
                cap + 1
            ),
            FULL,
            "hotel {hotel}"
        );
        assert_eq!(
            reserve(
                addr,
                hotel,
                "2015-09-01",
                "2015-09-02",
                9,
                &password(9),
                cap
            ),
            RESERVED,
            "hotel {hotel}"
        );
    }
    // The seeded reservation (hotel 4, Alice, 2015-04-09, one room) counts: 199 left.
    assert_eq!(
        reserve(addr, "4", "2015-04-09", "2015-04-10", 4, &password(4), 200),
        FULL
    );
    assert_eq!(
        reserve(addr, "4", "2015-04-09", "2015-04-10", 4, &password(4), 199),
        RESERVED
    );
    // An unknown hotel has no rooms.
    assert_eq!(
        reserve(addr, "81", "2015-05-01", "2015-05-02", 1, &password(1), 1),
        FULL
    );
    // Availability in a search: hotel 2 full on June 1 is left out; 1 and 3 remain.
    assert_eq!(
        reserve(addr, "2", "2015-06-01", "2015-06-02", 2, &password(2), 200),
        RESERVED
    );
    assert_eq!(
        search(addr, "2015-06-01", "2015-06-02", NEAR_1.0, NEAR_1.1),
        ["1", "3"]
    );
    assert_eq!(
        search(addr, "2015-05-31", "2015-06-01", NEAR_1.0, NEAR_1.1),
        ["2", "1", "3"]
    );

    // Bad requests.
    let base = "hotelId=1&customerName=c&username=Cornell_1&password=1111111111&number=1";
    for (dates, text) in [
        ("outDate=2015-04-10", "Please specify inDate/outDate params"),
        (
            "inDate=2015-4-09&outDate=2015-04-10",
            "Please check inDate/outDate format (YYYY-MM-DD)",
        ),
        (
            "inDate=2015-04-09&outDate=20150410xx",
            "Please check inDate/outDate format (YYYY-MM-DD)",
        ),
        (
            "inDate=2015-02-30&outDate=2015-03-02",
            "Please check inDate/outDate: not a valid date",
        ),
        (
            "inDate=2015-04-10&outDate=2015-04-10",
            "Please check inDate/outDate: outDate must be after inDate",
        ),
        (
            "inDate=2015-04-11&outDate=2015-04-10",
            "Please check inDate/outDate: outDate must be after inDate",
        ),
    ] {
        bad_request(addr, &format!("/reservation?{dates}&{base}"), text);
    }
    let dates = "inDate=2015-04-09&outDate=2015-04-10";
    bad_request(
        addr,
        &format!("/reservation?{dates}&customerName=c&username=u&password=p"),
        "Please specify hotelId params",
    );
    bad_request(
        addr,
        &format!("/reservation?{dates}&hotelId=1&username=u&password=p"),
        "Please specify customerName params",
    );
    bad_request(
        addr,
        &format!("/reservation?{dates}&hotelId=1&customerName=c&username=u"),
        "Please specify username and password",
    );
}

fn check_reviews_and_attractions(addr: SocketAddr) {
    let cred = format!("username=Cornell_3&password={}", password(3));
    let m = |route: &str, hotel: &str| {
        message(addr, "GET", &format!("/{route}?hotelId={hotel}&{cred}"))
    };
    assert_eq!(m("review", "1"), "Have reviews = 4");
    assert_eq!(m("review", "1"), "Have reviews = 4"); // from the cache
    assert_eq!(m("review", "2"), "Have reviews = 2");
    assert_eq!(m("review", "3"), "Failed. No Reviews. ");
    // All six restaurants are within 10 km of hotel 1: the nearest 5.
    assert_eq!(m("restaurants", "1"), "Have restaurants = 5");
    // Of the museums only M4 (about 7 km west) is within 10 km.
    assert_eq!(m("museums", "1"), "Have museums = 1");
    assert_eq!(m("cinema", "1"), "Failed. No Cinemas. ");
    // attractions-db knows hotels 1-6 only.
    assert_eq!(m("restaurants", "7"), "Failed. No Restaurants. ");
    assert_eq!(m("museums", "80"), "Failed. No Museums. ");
    // As upstream, a failed login does not change these answers.
    assert_eq!(
        message(addr, "GET", "/review?hotelId=2&username=nobody&password=x"),
        "Have reviews = 2"
    );
    bad_request(
        addr,
        "/review?hotelId=1&username=Cornell_1",
        "Please specify username and password",
    );
    bad_request(
        addr,
        &format!("/restaurants?{cred}"),
        "Please specify hotelId params",
    );
    let r = request(addr, "GET", "/hotel");
    assert_eq!(r.status, 404, "{}", r.text());
}

const CHECKS: &[Check] = &[
    ("search", check_search),
    ("recommendations", check_recommendations),
    ("login", check_login),
    ("reservation", check_reservation),
    ("reviews and attractions", check_reviews_and_attractions),
];

#[test]
fn search_geo_rates_availability_profiles() {
    check_search(pyrosome().server.addr);
}

#[test]
fn recommendations_by_distance_rate_and_price() {
    check_recommendations(pyrosome().server.addr);
}

#[test]
fn login_with_sha256_passwords() {
    check_login(pyrosome().server.addr);
}

#[test]
fn reservations_and_the_capacity_check() {
    check_reservation(pyrosome().server.addr);
}

#[test]
fn reviews_and_attractions() {
    check_reviews_and_attractions(pyrosome().server.addr);
}

#[test]
fn all_checks_on_one_server_with_concurrent_reservations() {
    let server = pyrosome();
    let addr = server.server.addr;
    for (_, check) in CHECKS {
        check(addr);
    }
    // Concurrent single-room reservations of different nights of one hotel all succeed.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for k in 0..5 {
                    let day = 1 + t * 5 + k;
                    let (a, b) = (
                        format!("2015-10-{day:02}"),
                        format!("2015-10-{:02}", day + 1),
                    );
                    assert_eq!(reserve(addr, "6", &a, &b, t, &password(t), 200), RESERVED);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("reserver");
    }
    for day in 1..=20 {
        let (a, b) = (
            format!("2015-10-{day:02}"),
            format!("2015-10-{:02}", day + 1),
        );
        assert_eq!(
            reserve(addr, "6", &a, &b, 1, &password(1), 1),
            FULL,
            "night {a}"
        );
    }
}

/// The example ships as users should copy it: upstream's MongoDB databases in
/// durable stores, its Memcached tiers relaxed.
#[test]
fn the_example_keeps_primary_data_in_durable_stores() {
    let app = App::load(&common::repo_path(EXAMPLE.dir)).expect("loads");
    for s in &app.stores {
        let cache = MEMCACHED_STORES.split(',').any(|c| c == s.name);
        let want = if cache {
            pyrosome::app::Durability::Relaxed
        } else {
            pyrosome::app::Durability::Durable
        };
        assert_eq!(s.durability, want, "store {}", s.name);
    }
    assert_eq!(app.stores.len(), 12);
}

// ---- durability across kill -9 of `pyrosome serve` --------------------------

#[test]
fn an_acknowledged_reservation_survives_kill_9() {
    let data = tempfile::tempdir().expect("temp dir");
    let (mut server, addr) = EXAMPLE.serve(data.path());
    assert_eq!(
        reserve(
            addr,
            "4",
            "2015-08-01",
            "2015-08-02",
            11,
            &password(11),
            200
        ),
        RESERVED
    );
    // Killed at once: nothing flushed after the answer.
    let _ = server.0.kill();
    let _ = server.0.wait();
    drop(server);

    // The document is in the (durable) primary store ...
    let out = Command::new(env!("CARGO_BIN_EXE_pyrosome"))
        .arg("store")
        .arg(common::repo_path(EXAMPLE.dir))
        .args([
            "list",
            "reservation",
            "--prefix",
            "res/4/2015-08-01/2015-08-02/",
            "--data",
        ])
        .arg(data.path())
        .output()
        .expect("pyrosome store list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Json> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    let doc = &lines[0]["value"];
    assert_eq!(
        doc,
        &json!({"hotelId": "4", "customerName": "Cornell_11", "inDate": "2015-08-01", "outDate": "2015-08-02", "number": 200})
    );

    // ... and the restarted server sees the hotel full that night.
    let (_server, addr) = EXAMPLE.serve(data.path());
    assert_eq!(
        reserve(addr, "4", "2015-08-01", "2015-08-02", 11, &password(11), 1),
        FULL
    );
    assert_eq!(
        reserve(addr, "4", "2015-08-02", "2015-08-03", 11, &password(11), 1),
        RESERVED
    );
}

// ---- the Node.js baseline ---------------------------------------------------

#[test]
fn node_baseline_smoke() {
    if let Some(node) = EXAMPLE.node_baseline("node_baseline_smoke") {
        node.run(CHECKS);
    }
}
