use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "../../tests/common/postgres.rs"]
mod pg_server;

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(dir.path()).expect("open");
    (dir, store)
}

/// What the conformance tests need of a backend: both run the same tests (`conformance!`).
trait Backend {
    type Ns: Kv;
    /// The longest key it takes.
    const MAX_KEY: usize;
    fn ns(&self, name: &str, durability: Durability) -> Self::Ns;
}

/// A namespace of either backend, blocking.
trait Kv: Clone + Send + Sync + 'static {
    fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError>;
    fn list(&self, query: &ListQuery) -> Result<Vec<(Vec<u8>, Value)>, StoreError>;
    fn count(&self, range: &KeyRange) -> Result<u64, StoreError>;
    fn write_blocking(&self, batch: WriteBatch) -> Result<WriteOutcome, StoreError>;
    fn name(&self) -> &str;
    fn durability(&self) -> Durability;
}

macro_rules! kv_impl {
    ($t:ty) => {
        impl Kv for $t {
            fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
                <$t>::get(self, key)
            }
            fn list(&self, query: &ListQuery) -> Result<Vec<(Vec<u8>, Value)>, StoreError> {
                <$t>::list(self, query)
            }
            fn count(&self, range: &KeyRange) -> Result<u64, StoreError> {
                <$t>::count(self, range)
            }
            fn write_blocking(&self, batch: WriteBatch) -> Result<WriteOutcome, StoreError> {
                <$t>::write_blocking(self, batch)
            }
            fn name(&self) -> &str {
                <$t>::name(self)
            }
            fn durability(&self) -> Durability {
                <$t>::durability(self)
            }
        }
    };
}
kv_impl!(Namespace);
kv_impl!(postgres::PgNamespace);

struct Embedded(#[allow(dead_code)] tempfile::TempDir, Store);

impl Backend for Embedded {
    type Ns = Namespace;
    const MAX_KEY: usize = MAX_KEY_LEN;
    fn ns(&self, name: &str, durability: Durability) -> Namespace {
        self.1.namespace(name, durability).expect("ns")
    }
}

/// A fresh database on the test process's PostgreSQL server.
struct Postgres(postgres::PgStore);

impl Backend for Postgres {
    type Ns = postgres::PgNamespace;
    const MAX_KEY: usize = postgres::MAX_KEY_LEN;
    fn ns(&self, name: &str, durability: Durability) -> postgres::PgNamespace {
        self.0.namespace(name, durability).expect("ns")
    }
}

fn embedded() -> Embedded {
    let (dir, store) = open();
    Embedded(dir, store)
}

fn postgres() -> Postgres {
    let url = pg_server::PgServer::shared().database("store");
    Postgres(postgres::PgStore::connect("test", &url).expect("connect"))
}

/// Runs each generic conformance test on both backends: `embedded::NAME` and
/// `on_postgres::NAME`.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod embedded_backend {
            $(#[test] fn $name() { super::$name(&super::embedded()); })*
        }
        mod on_postgres {
            $(#[test] fn $name() { super::$name(&super::postgres()); })*
        }
    };
}

conformance!(
    get_put_delete_and_ordering,
    prefix_edges,
    ranges_limits_and_reverse,
    put_if_absent_conflict_leaves_batch_unapplied,
    concurrent_put_if_absent_has_one_winner,
    sizes_and_unicode,
    namespaces_are_separate,
    relaxed_writes_read_back,
);

fn s(v: &str) -> Value {
    Value::from(v)
}

fn keys(entries: &[(Vec<u8>, Value)]) -> Vec<Vec<u8>> {
    entries.iter().map(|(k, _)| k.clone()).collect()
}

fn list(ns: &impl Kv, range: KeyRange, limit: Option<usize>, reverse: bool) -> Vec<Vec<u8>> {
    keys(
        &ns.list(&ListQuery {
            range,
            limit,
            reverse,
        })
        .expect("list"),
    )
}

fn range(start: Option<&[u8]>, end: Option<&[u8]>) -> KeyRange {
    KeyRange::Range {
        start: start.map(<[u8]>::to_vec),
        end: end.map(<[u8]>::to_vec),
    }
}

fn k(v: &[u8]) -> Vec<u8> {
    v.to_vec()
}

fn get_put_delete_and_ordering(store: &impl Backend) {
    let ns = store.ns("posts", Durability::Durable);
    assert_eq!(ns.name(), "posts");
    assert_eq!(ns.get(b"a").expect("get"), None);
    let out = ns
        .write_blocking(
            WriteBatch::new()
                .put("b", s("B"))
                .put("a", s("A"))
                .put("", s("empty"))
                .put("ab", Value::Null)
                .put(vec![0xFF], s("ff"))
                .put("é", s("e-acute"))
                .put("z", s("Z")),
        )
        .expect("write");
    assert_eq!(
        out,
        WriteOutcome {
            applied: true,
            conflict: None
        }
    );
    assert_eq!(ns.get(b"a").expect("get"), Some(s("A")));
    assert_eq!(ns.get(b"").expect("get"), Some(s("empty")));
    assert_eq!(ns.get(b"ab").expect("get"), Some(Value::Null));
    // Bytewise order: "" < "a" < "ab" < "b" < "z" < "é" (0xC3 0xA9) < 0xFF.
    assert_eq!(
        list(&ns, KeyRange::All, None, false),
        vec![
            k(b""),
            k(b"a"),
            k(b"ab"),
            k(b"b"),
            k(b"z"),
            "é".into(),
            k(&[0xFF])
        ]
    );
    ns.write_blocking(
        WriteBatch::new()
            .delete("a")
            .delete("missing")
            .put("b", s("B2")),
    )
    .expect("write");
    assert_eq!(ns.get(b"a").expect("get"), None);
    assert_eq!(ns.get(b"b").expect("get"), Some(s("B2")));
    assert_eq!(ns.count(&KeyRange::All).expect("count"), 6);
    // Empty batches are acknowledged.
    assert!(ns.write_blocking(WriteBatch::new()).expect("empty").applied);
}

#[test]
fn namespaces_are_separate_and_listed() {
    let (_dir, store) = open();
    let a = store.namespace("a", Durability::Durable).expect("ns");
    let b = store
        .namespace("b/with spaces ✓", Durability::Relaxed)
        .expect("ns");
    a.write_blocking(WriteBatch::new().put("k", s("in a")))
        .expect("w");
    b.write_blocking(WriteBatch::new().put("k", s("in b")))
        .expect("w");
    assert_eq!(a.get(b"k").expect("get"), Some(s("in a")));
    assert_eq!(b.get(b"k").expect("get"), Some(s("in b")));
    assert_eq!(b.durability(), Durability::Relaxed);
    let _empty = store.namespace("c", Durability::Relaxed).expect("ns");
    assert_eq!(
        store.namespaces().expect("names"),
        vec!["a", "b/with spaces ✓", "c"]
    );
    assert!(matches!(
        store.namespace("", Durability::Durable),
        Err(StoreError::InvalidNamespace { .. })
    ));
    assert!(
        store
            .namespace(&"x".repeat(256), Durability::Durable)
            .is_err()
    );
    assert!(
        store
            .namespace(&"x".repeat(255), Durability::Durable)
            .is_ok()
    );
}

fn prefix_edges(store: &impl Backend) {
    let ns = store.ns("p", Durability::Relaxed);
    let all: Vec<Vec<u8>> = vec![
        k(b""),
        k(b"a"),
        k(b"a\xFF"),
        k(b"a\xFF\xFF"),
        k(b"a\xFF\xFF\x00"),
        k(b"b"),
        k(b"\xFF"),
        k(b"\xFF\xFF"),
        k(b"\xFF\xFF\x01"),
    ];
    let mut batch = WriteBatch::new();
    for key in &all {
        batch = batch.put(key.clone(), Value::Null);
    }
    ns.write_blocking(batch).expect("write");
    assert_eq!(list(&ns, KeyRange::Prefix(vec![]), None, false), all);
    assert_eq!(
        list(&ns, KeyRange::Prefix(k(b"a")), None, false),
        vec![k(b"a"), k(b"a\xFF"), k(b"a\xFF\xFF"), k(b"a\xFF\xFF\x00")]
    );
    assert_eq!(
        list(&ns, KeyRange::Prefix(k(b"a\xFF")), None, false),
        vec![k(b"a\xFF"), k(b"a\xFF\xFF"), k(b"a\xFF\xFF\x00")]
    );
    assert_eq!(
        list(&ns, KeyRange::Prefix(k(b"\xFF")), None, false),
        vec![k(b"\xFF"), k(b"\xFF\xFF"), k(b"\xFF\xFF\x01")]
    );
    assert_eq!(
        list(&ns, KeyRange::Prefix(k(b"\xFF\xFF")), None, true),
        vec![k(b"\xFF\xFF\x01"), k(b"\xFF\xFF")]
    );
    assert!(list(&ns, KeyRange::Prefix(k(b"c")), None, false).is_empty());
    assert_eq!(ns.count(&KeyRange::Prefix(k(b"a"))).expect("count"), 4);
    assert_eq!(ns.count(&KeyRange::Prefix(vec![])).expect("count"), 9);
    assert_eq!(ns.count(&KeyRange::Prefix(k(b"\xFF"))).expect("count"), 3);
}

fn ranges_limits_and_reverse(store: &impl Backend) {
    let ns = store.ns("r", Durability::Durable);
    let mut batch = WriteBatch::new();
    for i in 0..20u32 {
        batch = batch.put(format!("t/{i:03}"), Value::Number(f64::from(i)));
    }
    batch = batch.put("s", Value::Null).put("u", Value::Null);
    ns.write_blocking(batch).expect("write");
    // The timeline query: last 10 of a prefix, newest first.
    let last = ns
        .list(&ListQuery {
            range: KeyRange::Prefix(k(b"t/")),
            limit: Some(10),
            reverse: true,
        })
        .expect("list");
    assert_eq!(last.len(), 10);
    assert_eq!(last[0], (k(b"t/019"), Value::Number(19.0)));
    assert_eq!(last[9].0, k(b"t/010"));
    assert_eq!(
        list(&ns, KeyRange::Prefix(k(b"t/")), Some(3), false),
        vec![k(b"t/000"), k(b"t/001"), k(b"t/002")]
    );
    assert!(list(&ns, KeyRange::All, Some(0), false).is_empty());
    assert_eq!(list(&ns, KeyRange::All, Some(100), true).len(), 22);
    // Start inclusive, end exclusive.
    assert_eq!(
        list(&ns, range(Some(b"t/005"), Some(b"t/008")), None, false),
        vec![k(b"t/005"), k(b"t/006"), k(b"t/007")]
    );
    assert_eq!(
        list(&ns, range(Some(b"t/005"), Some(b"t/008")), Some(2), true),
        vec![k(b"t/007"), k(b"t/006")]
    );
    // Bounds that are not keys.
    assert_eq!(
        list(&ns, range(Some(b"t/0055"), Some(b"t/0075")), None, false),
        vec![k(b"t/006"), k(b"t/007")]
    );
    assert_eq!(
        list(&ns, range(None, Some(b"t/001")), None, false),
        vec![k(b"s"), k(b"t/000")]
    );
    assert_eq!(
        list(&ns, range(Some(b"t/019"), None), None, false),
        vec![k(b"t/019"), k(b"u")]
    );
    assert_eq!(list(&ns, range(None, None), None, false).len(), 22);
    // Empty and inverted ranges.
    assert!(list(&ns, range(Some(b"t/005"), Some(b"t/005")), None, false).is_empty());
    assert!(list(&ns, range(Some(b"t/009"), Some(b"t/005")), None, true).is_empty());
    assert_eq!(
        ns.count(&range(Some(b"t/009"), Some(b"t/005")))
            .expect("count"),
        0
    );
    assert_eq!(
        ns.count(&range(Some(b"t/005"), Some(b"t/010")))
            .expect("count"),
        5
    );
    assert_eq!(ns.count(&range(Some(b""), None)).expect("count"), 22);
}

fn put_if_absent_conflict_leaves_batch_unapplied(store: &impl Backend) {
    let ns = store.ns("c", Durability::Durable);
    ns.write_blocking(WriteBatch::new().put("taken", s("old")))
        .expect("write");
    let out = ns
        .write_blocking(
            WriteBatch::new()
                .put("x", s("x"))
                .delete("taken2")
                .put_if_absent("free", s("f"))
                .put_if_absent("taken", s("new"))
                .put("y", s("y")),
        )
        .expect("write");
    assert_eq!(
        out,
        WriteOutcome {
            applied: false,
            conflict: Some(3)
        }
    );
    assert_eq!(ns.get(b"x").expect("get"), None);
    assert_eq!(ns.get(b"free").expect("get"), None);
    assert_eq!(ns.get(b"taken").expect("get"), Some(s("old")));
    // Conditions see earlier operations of the same batch.
    let out = ns
        .write_blocking(
            WriteBatch::new()
                .delete("taken")
                .put_if_absent("taken", s("new")),
        )
        .expect("write");
    assert!(out.applied);
    assert_eq!(ns.get(b"taken").expect("get"), Some(s("new")));
    let out = ns
        .write_blocking(
            WriteBatch::new()
                .put("n", s("1"))
                .put_if_absent("n", s("2")),
        )
        .expect("write");
    assert_eq!(out.conflict, Some(1));
    assert_eq!(ns.get(b"n").expect("get"), None);
}

fn concurrent_put_if_absent_has_one_winner(store: &impl Backend) {
    let ns = store.ns("lock", Durability::Durable);
    let winners = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> =
        (0..8)
            .map(|i| {
                let ns = ns.clone();
                let winners = winners.clone();
                std::thread::spawn(move || {
                    for round in 0..20 {
                        let out = ns
                            .write_blocking(WriteBatch::new().put_if_absent(
                                format!("user/{round}"),
                                Value::Number(f64::from(i)),
                            ))
                            .expect("write");
                        if out.applied {
                            winners.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                })
            })
            .collect();
    for t in threads {
        t.join().expect("join");
    }
    assert_eq!(winners.load(Ordering::SeqCst), 20);
    assert_eq!(ns.count(&KeyRange::Prefix(k(b"user/"))).expect("count"), 20);
}

fn sizes_and_unicode<B: Backend>(store: &B) {
    let ns = store.ns("big", Durability::Durable);
    let mib = Value::Bytes((0..1024 * 1024).map(|i| (i % 251) as u8).collect());
    let text = Value::String("ü".repeat(512 * 1024));
    let key = "ключ/键/🔑".as_bytes().to_vec();
    ns.write_blocking(
        WriteBatch::new()
            .put(key.clone(), mib.clone())
            .put("text", text.clone())
            .put("emptyv", Value::String(String::new()))
            .put("emptyb", Value::Bytes(vec![]))
            .put(vec![b'k'; B::MAX_KEY], Value::Null),
    )
    .expect("write");
    assert_eq!(ns.get(&key).expect("get"), Some(mib));
    assert_eq!(ns.get(b"text").expect("get"), Some(text));
    assert_eq!(
        ns.get(b"emptyv").expect("get"),
        Some(Value::String(String::new()))
    );
    assert_eq!(ns.get(b"emptyb").expect("get"), Some(Value::Bytes(vec![])));
    assert_eq!(
        ns.get(&vec![b'k'; B::MAX_KEY]).expect("get"),
        Some(Value::Null)
    );
    assert_eq!(
        list(&ns, KeyRange::Prefix("ключ/".into()), None, false),
        vec![key]
    );
    // An oversized key is refused with the namespace named, and nothing is written.
    let e = ns
        .write_blocking(
            WriteBatch::new()
                .put("ok", Value::Null)
                .put(vec![b'k'; B::MAX_KEY + 1], Value::Null),
        )
        .expect_err("too long");
    assert!(matches!(e, StoreError::KeyTooLarge { .. }), "{e}");
    assert!(e.to_string().contains("\"big\""), "{e}");
    assert_eq!(ns.get(b"ok").expect("get"), None);
}

fn namespaces_are_separate(store: &impl Backend) {
    let a = store.ns("a", Durability::Durable);
    let b = store.ns("b/with spaces ✓", Durability::Relaxed);
    a.write_blocking(WriteBatch::new().put("k", s("in a")))
        .expect("w");
    b.write_blocking(WriteBatch::new().put("k", s("in b")))
        .expect("w");
    assert_eq!(a.get(b"k").expect("get"), Some(s("in a")));
    assert_eq!(b.get(b"k").expect("get"), Some(s("in b")));
    assert_eq!(a.name(), "a");
    assert_eq!(b.durability(), Durability::Relaxed);
    assert_eq!(a.count(&KeyRange::All).expect("count"), 1);
    a.write_blocking(WriteBatch::new().delete("k")).expect("w");
    assert_eq!(b.get(b"k").expect("get"), Some(s("in b")));
}

fn relaxed_writes_read_back(store: &impl Backend) {
    let ns = store.ns("cache", Durability::Relaxed);
    for i in 0..20u32 {
        let out = ns
            .write_blocking(WriteBatch::new().put(format!("c/{i:02}"), Value::Number(f64::from(i))))
            .expect("w");
        assert!(out.applied);
    }
    // One operation, and a conditional batch, on a relaxed namespace.
    let out = ns
        .write_blocking(WriteBatch::new().put_if_absent("c/05", Value::Null))
        .expect("w");
    assert_eq!(out.conflict, Some(0));
    assert_eq!(ns.get(b"c/19").expect("get"), Some(Value::Number(19.0)));
    assert_eq!(ns.count(&KeyRange::Prefix(k(b"c/"))).expect("count"), 20);
}

#[test]
fn persists_across_close_and_reopen() {
    let dir = tempfile::tempdir().expect("tmp");
    {
        let store = Store::open(dir.path()).expect("open");
        let d = store.namespace("durable", Durability::Durable).expect("ns");
        let r = store.namespace("relaxed", Durability::Relaxed).expect("ns");
        d.write_blocking(WriteBatch::new().put("k", s("d")))
            .expect("w");
        r.write_blocking(WriteBatch::new().put("k", s("r")))
            .expect("w");
        store.close().expect("close");
        // Handles outliving close fail cleanly.
        assert!(matches!(d.get(b"k"), Err(StoreError::Closed { .. })));
        assert!(matches!(
            r.write_blocking(WriteBatch::new().put("x", Value::Null)),
            Err(StoreError::Closed { .. })
        ));
    }
    let store = Store::open(dir.path()).expect("reopen");
    assert_eq!(
        store.namespaces().expect("names"),
        vec!["durable", "relaxed"]
    );
    let d = store.namespace("durable", Durability::Durable).expect("ns");
    let r = store.namespace("relaxed", Durability::Relaxed).expect("ns");
    assert_eq!(d.get(b"k").expect("get"), Some(s("d")));
    assert_eq!(r.get(b"k").expect("get"), Some(s("r")));
    drop((d, r));
    drop(store);
    // Dropping the last handle closes the file too.
    let store = Store::open(dir.path()).expect("reopen after drop");
    assert!(matches!(
        Store::open(dir.path()),
        Err(StoreError::AlreadyOpen { .. })
    ));
    drop(store);
}

#[test]
fn concurrent_durable_writers_are_grouped_acknowledged_and_survive() {
    let dir = tempfile::tempdir().expect("tmp");
    let threads: usize = 8;
    let per_thread: u32 = 50;
    {
        let store = Store::open(dir.path()).expect("open");
        let ns = store.namespace("d", Durability::Durable).expect("ns");
        let acked = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let ns = ns.clone();
                let acked = acked.clone();
                std::thread::spawn(move || {
                    // Each thread keeps several writes in flight via the async API.
                    let (tx, rx) = mpsc::channel();
                    for i in 0..per_thread {
                        let tx = tx.clone();
                        let batch = WriteBatch::new()
                            .put(format!("t{t}/{i:03}"), Value::Number(f64::from(i)))
                            .put(format!("idx/{t}/{i:03}"), Value::Bool(true));
                        ns.write(batch, Box::new(move |r| tx.send(r).expect("send")));
                    }
                    for _ in 0..per_thread {
                        let out = rx.recv().expect("ack").expect("ok");
                        assert!(out.applied);
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("join");
        }
        assert_eq!(acked.load(Ordering::SeqCst), threads * per_thread as usize);
        // Not closed on purpose: the writes were acknowledged, so they must be on disk.
        std::mem::forget(store);
        std::mem::forget(ns);
    }
    // The leaked store still holds the file lock in this process; copy the file as a crash
    // would leave it and open the copy.
    let copy = tempfile::tempdir().expect("tmp");
    std::fs::copy(dir.path().join(FILE_NAME), copy.path().join(FILE_NAME)).expect("copy");
    let store = Store::open(copy.path()).expect("open copy");
    let ns = store.namespace("d", Durability::Durable).expect("ns");
    assert_eq!(
        ns.count(&KeyRange::All).expect("count"),
        (2 * threads * per_thread as usize) as u64
    );
    assert_eq!(ns.get(b"t7/049").expect("get"), Some(Value::Number(49.0)));
}

#[test]
fn write_does_not_block_and_done_may_drop_the_store() {
    let (_dir, store) = open();
    let ns = store.namespace("n", Durability::Durable).expect("ns");
    let (tx, rx) = mpsc::channel();
    let ns2 = ns.clone();
    drop(store);
    // The callback holds the last handle and drops it on the commit thread.
    ns.write(
        WriteBatch::new().put("a", Value::Null),
        Box::new(move |r| {
            drop(ns2);
            tx.send(r.map(|o| o.applied)).expect("send");
        }),
    );
    drop(ns);
    assert!(rx.recv().expect("ack").expect("ok"));
}

#[test]
fn damaged_store_files_are_errors_not_panics() {
    // A foreign file.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(
        dir.path().join(FILE_NAME),
        b"this is not a database, just some text\n",
    )
    .expect("write");
    let e = Store::open(dir.path()).err().expect("foreign file refused");
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains(FILE_NAME), "{e}");
    // A redb file that is not a Pyrosome store.
    let dir = tempfile::tempdir().expect("tmp");
    {
        let db = redb::Database::create(dir.path().join(FILE_NAME)).expect("create");
        let tx = db.begin_write().expect("tx");
        tx.open_table(TableDefinition::<&str, u64>::new("other"))
            .expect("table");
        tx.commit().expect("commit");
    }
    let e = Store::open(dir.path()).err().expect("foreign redb refused");
    assert!(e.to_string().contains("format marker"), "{e}");
    // A path that is not a folder.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").expect("write");
    let e = Store::open(&file).err().expect("not a folder");
    assert!(
        matches!(e, StoreError::Open { .. }) && e.to_string().contains("plain-file"),
        "{e}"
    );

    // A store written by us, then damaged by hand in several ways.
    let dir = tempfile::tempdir().expect("tmp");
    {
        let store = Store::open(dir.path()).expect("open");
        let ns = store.namespace("n", Durability::Durable).expect("ns");
        for chunk in 0..20 {
            let mut batch = WriteBatch::new();
            for i in 0..100 {
                batch = batch.put(
                    format!("key/{chunk:02}/{i:03}"),
                    Value::String("v".repeat(300)),
                );
            }
            ns.write_blocking(batch).expect("write");
        }
        store.close().expect("close");
    }
    let original = std::fs::read(dir.path().join(FILE_NAME)).expect("read");
    let len = original.len();
    let mut damages: Vec<(String, Vec<u8>)> = Vec::new();
    for at in [len / 4, len / 2, len * 3 / 4, 64, 600] {
        let mut d = original.clone();
        for b in &mut d[at..(at + 64).min(len)] {
            *b ^= 0x5A;
        }
        damages.push((format!("64 bytes flipped at {at}"), d));
    }
    damages.push(("truncated to half".into(), original[..len / 2].to_vec()));
    damages.push(("truncated to 100 bytes".into(), original[..100].to_vec()));
    damages.push(("header zeroed".into(), {
        let mut d = original.clone();
        d[..512].fill(0);
        d
    }));
    let mut detected = 0;
    for (what, bytes) in &damages {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join(FILE_NAME), bytes).expect("write");
        let outcome = std::panic::catch_unwind(|| match Store::open(dir.path()) {
            Err(e) => {
                assert!(
                    matches!(e, StoreError::Corrupt { .. }) && e.to_string().contains(FILE_NAME),
                    "{what}: {e}"
                );
                true
            }
            Ok(store) => {
                // Damage the engine could not see on open (e.g. in free pages): reads must
                // still return data or errors.
                let ns = store.namespace("n", Durability::Durable);
                let read = ns.and_then(|ns| ns.list(&ListQuery::default()));
                match read {
                    Ok(entries) => entries.len() != 2000,
                    Err(_) => true,
                }
            }
        });
        match outcome {
            Ok(seen) => detected += usize::from(seen),
            Err(_) => panic!("{what}: opening a damaged store panicked"),
        }
    }
    // Every damage to live data must be reported; flips in unused space may go unseen.
    assert!(
        detected >= damages.len() - 2,
        "{detected}/{} detected",
        damages.len()
    );
}

#[test]
fn a_stored_value_that_does_not_decode_names_namespace_and_key() {
    let (_dir, store) = open();
    let ns = store.namespace("odd", Durability::Durable).expect("ns");
    // Write raw bytes with an unknown format version straight into the engine.
    {
        let guard = store.inner.shared.db.read();
        let db = guard.as_ref().expect("open");
        let tx = db.begin_write().expect("tx");
        {
            let mut t = tx.open_table(ns.def()).expect("table");
            t.insert(b"bad\xFF".as_slice(), [9u8, 1].as_slice())
                .expect("insert");
        }
        tx.commit().expect("commit");
    }
    let e = ns.get(b"bad\xFF").expect_err("undecodable");
    let msg = e.to_string();
    assert!(
        msg.contains("\"odd\"") && msg.contains("bad\\xff") && msg.contains("version 9"),
        "{msg}"
    );
    assert!(ns.list(&ListQuery::default()).is_err());
}

#[test]
fn handles_are_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone + 'static>() {}
    check::<Store>();
    check::<Namespace>();
}

#[test]
fn stats_count_commits_batches_and_fsyncs() {
    let (_dir, store) = open();
    assert_eq!(store.stats(), StoreStats::default());
    let durable = store.namespace("d", Durability::Durable).expect("ns");
    let relaxed = store.namespace("r", Durability::Relaxed).expect("ns");
    durable
        .write_blocking(WriteBatch::new().put("a", s("1")).put("b", s("2")))
        .expect("write");
    relaxed
        .write_blocking(WriteBatch::new().put("c", s("3")))
        .expect("write");
    let stats = store.stats();
    // Written one after the other, so never grouped.
    assert_eq!(stats.batches, 2);
    assert_eq!(stats.commits, 2);
    assert_eq!(stats.durable_commits, 1);
    assert!(stats.bytes >= 3, "{stats:?}");
}
