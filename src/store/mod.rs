//! The embedded persistent store: ordered maps from byte-string keys to [`Value`]s, in named
//! namespaces, one [`Store`] per app data folder. It knows nothing of JavaScript.
//!
//! # Engine: redb, chosen by measurement
//!
//! The store runs on [redb](https://docs.rs/redb) (a copy-on-write B+tree in one file, pure Rust,
//! no background threads). It was measured against fjall (an LSM tree) on this project's machine
//! for Pyrosome's pattern: 1 000 timelines of 50 entries of 500 B, raw engine calls (program and
//! all numbers, including those through this API, in `docs/store.md`), ranges over 2–3 runs:
//!
//! | operation                                   | redb              | fjall             |
//! |---------------------------------------------|-------------------|-------------------|
//! | point get                                   | 1.8–2.3 µs        | 2.7–3.1 µs        |
//! | list 10 from the end of a prefix            | **2.2–3.5 µs**    | 12.6–14.4 µs      |
//! | relaxed put (1 op per commit)               | 12–17 µs          | 1.9–2.3 µs        |
//! | relaxed batch of 10 (1 commit)              | 22–33 µs          | 22–26 µs          |
//! | durable put, 1 writer (1 fsync each)        | 560–760 µs        | 210–250 µs        |
//! | durable batch of 3, 16 writers grouped      | 7 000–12 000/s    | 18 300–18 800/s   |
//! | durable batch of 3, 64 writers grouped      | 11 000–23 000/s   | 41 600–42 500/s   |
//!
//! Reads dominate the social-network workload (timeline reads are ~65 % of the mixed load and
//! each is exactly the "last 10 of a prefix" scan, where redb is 5× faster). Group commit
//! makes either engine's write throughput far above what the services need (a compose request
//! makes a handful of writes; published baselines are 1–2 k compose/s). redb also runs no
//! compaction threads to compete with the JavaScript workers on a small machine, keeps one file
//! per store, and verifies the checksum of every page when it opens a store
//! (`set_check_integrity_on_open`), so a damaged file is reported instead of trusted.
//!
//! # Semantics
//!
//! * Keys are raw bytes ordered bytewise (so UTF-8 strings order by code point). The empty key
//!   is allowed. Keys are at most [`MAX_KEY_LEN`] bytes; a value's encoding (see [`codec`]) is
//!   at most [`MAX_VALUE_LEN`] bytes.
//! * All writes go through [`Namespace::write`]: a [`WriteBatch`] is applied atomically (all or
//!   nothing). A [`WriteOp::PutIfAbsent`] whose key exists aborts the whole batch
//!   (`applied: false, conflict: Some(index)`). The condition is evaluated against the state
//!   left by the earlier operations of the same batch.
//! * One background *commit thread* applies the batches of all callers in arrival order, so
//!   conditional batches are atomic with respect to concurrent writers. It drains whatever is
//!   queued into one engine transaction (group commit): one fsync covers every batch in it.
//! * Reads see a batch as soon as it is applied (read-your-writes once `done` has run). A write
//!   to a [`Durability::Durable`] namespace is **durable when it is acknowledged**: `done` runs
//!   only after the fsync. A write to a [`Durability::Relaxed`] namespace is acknowledged once
//!   applied, without waiting for an fsync; it is made durable within about a second (or by the
//!   next durable commit, or by [`Store::close`]). When both kinds are queued together, the
//!   relaxed writes are committed first, without an fsync, and acknowledged at once: a cache
//!   write never waits for the fsync of an unrelated durable write.
//! * `done` runs on the commit thread: it must be quick (hand the result to a scheduler).
//! * Namespace names are 1–255 bytes of UTF-8.

pub mod backup;
pub mod codec;
mod error;
pub mod postgres;

pub use backup::{
    export_jsonl, import_jsonl, parse_tagged_json, value_from_tagged_json, value_to_tagged_json,
};
pub use error::{StoreError, display_key};

use crate::value::Value;
use parking_lot::{Mutex, RwLock};
use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};
use std::collections::HashMap;
use std::ops::Bound;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Longest key, in bytes.
pub const MAX_KEY_LEN: usize = 64 * 1024;
/// Longest encoded value, in bytes (the [`codec`] adds a few bytes to a string or byte array).
pub const MAX_VALUE_LEN: usize = 64 * 1024 * 1024;
/// Longest namespace name, in bytes.
pub const MAX_NAMESPACE_LEN: usize = 255;

/// The engine file inside the store folder.
pub const FILE_NAME: &str = "store.redb";

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("pyrosome/meta");
const META_FORMAT_KEY: &str = "format";
const STORE_FORMAT: u8 = 1;
const NS_TABLE_PREFIX: &str = "ns/";
/// How long relaxed writes may stay without an fsync.
const RELAXED_SYNC_AFTER: Duration = Duration::from_secs(1);
const MAX_GROUP_JOBS: usize = 4096;
const MAX_GROUP_BYTES: usize = 64 * 1024 * 1024;

type Done = Box<dyn FnOnce(Result<WriteOutcome, StoreError>) + Send>;
type Bytes = &'static [u8];

/// How a namespace's writes are acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Durability {
    /// Acknowledged after the data is fsynced (group commit).
    Durable,
    /// Acknowledged once applied; fsynced within about a second.
    Relaxed,
}

/// A range of keys. `Range`'s `start` is inclusive and `end` exclusive; `None` is unbounded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum KeyRange {
    /// Every key.
    #[default]
    All,
    /// The keys that start with these bytes (the empty prefix is every key).
    Prefix(Vec<u8>),
    /// `start <= key < end`.
    Range {
        start: Option<Vec<u8>>,
        end: Option<Vec<u8>>,
    },
}

/// What [`Namespace::list`] returns: keys in `range`, in ascending order (descending if
/// `reverse`), at most `limit` of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub range: KeyRange,
    pub limit: Option<usize>,
    pub reverse: bool,
}

/// Operations applied atomically, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteBatch {
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a put.
    pub fn put(mut self, key: impl Into<Vec<u8>>, value: Value) -> Self {
        self.ops.push(WriteOp::Put {
            key: key.into(),
            value,
        });
        self
    }
    /// Adds a delete.
    pub fn delete(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.ops.push(WriteOp::Delete { key: key.into() });
        self
    }
    /// Adds a put that aborts the batch if the key exists.
    pub fn put_if_absent(mut self, key: impl Into<Vec<u8>>, value: Value) -> Self {
        self.ops.push(WriteOp::PutIfAbsent {
            key: key.into(),
            value,
        });
        self
    }
}

/// One operation of a [`WriteBatch`].
#[derive(Clone, Debug, PartialEq)]
pub enum WriteOp {
    Put {
        key: Vec<u8>,
        value: Value,
    },
    Delete {
        key: Vec<u8>,
    },
    /// Aborts the whole batch if the key exists.
    PutIfAbsent {
        key: Vec<u8>,
        value: Value,
    },
}

/// The result of an acknowledged batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Whether the batch was applied.
    pub applied: bool,
    /// The index of the [`WriteOp::PutIfAbsent`] whose key existed, if that aborted the batch.
    pub conflict: Option<usize>,
}

/// A store's namespace on either backend: what the scheduler routes store operations to.
#[derive(Clone)]
pub enum AnyNamespace {
    /// In the embedded store (reads answered on the calling thread).
    Embedded(Namespace),
    /// In a PostgreSQL database (every operation answered on the client thread).
    Postgres(postgres::PgNamespace),
}

impl AnyNamespace {
    /// The embedded namespace, if it is one (its reads are answered inline).
    pub fn embedded(&self) -> Option<&Namespace> {
        match self {
            AnyNamespace::Embedded(ns) => Some(ns),
            AnyNamespace::Postgres(_) => None,
        }
    }

    /// The durability of the writes made through this handle.
    pub fn durability(&self) -> Durability {
        match self {
            AnyNamespace::Embedded(ns) => ns.durability(),
            AnyNamespace::Postgres(ns) => ns.durability(),
        }
    }
}

/// A store: one engine file in an app's data folder. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

/// A handle on one namespace of a store. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct Namespace {
    store: Arc<Inner>,
    ns: Arc<NsInfo>,
    durable: bool,
}

struct NsInfo {
    name: String,
    table: String,
}

/// What the commit thread shares with the handles.
struct Shared {
    path: PathBuf,
    db: RwLock<Option<redb::Database>>,
    /// Counters of the commit thread ([`Store::stats`]).
    commits: AtomicU64,
    durable_commits: AtomicU64,
    batches: AtomicU64,
    bytes: AtomicU64,
}

/// What a store's commit thread has done since the store was opened
/// (`/admin/status`, `pyrosome top`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoreStats {
    /// Engine transactions committed (each holds one or more batches: group commit).
    pub commits: u64,
    /// Of which fsynced (durable writes waited for them).
    pub durable_commits: u64,
    /// Write batches applied (one per `Namespace::write`).
    pub batches: u64,
    /// Bytes of keys and values in those batches.
    pub bytes: u64,
}

struct Inner {
    shared: Arc<Shared>,
    queue: Mutex<Option<mpsc::Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<Result<(), StoreError>>>>,
}

enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    PutIfAbsent(Vec<u8>, Vec<u8>),
}

struct Job {
    ns: Arc<NsInfo>,
    durable: bool,
    ops: Vec<Op>,
    conditional: bool,
    bytes: usize,
    done: Done,
}

impl Shared {
    fn closed(&self) -> StoreError {
        StoreError::Closed {
            path: self.path.clone(),
        }
    }
    fn engine(&self, e: impl Into<redb::Error>) -> StoreError {
        error::engine(&self.path, e)
    }
}

impl Store {
    /// Opens (creating if needed) the store in `dir`. Every page checksum of an existing file is
    /// verified first; a damaged or foreign file is reported as [`StoreError::Corrupt`].
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?;
        let path = dir.join(FILE_NAME);
        if path.is_dir() {
            return Err(StoreError::Open {
                path,
                message: "is a folder, not a store file".into(),
            });
        }
        let opened = std::panic::catch_unwind(|| {
            redb::Builder::new()
                .set_check_integrity_on_open(true)
                .create(&path)
        });
        let db = match opened {
            Err(_) => {
                return Err(StoreError::Corrupt {
                    path,
                    message: "the storage engine failed while reading it".into(),
                });
            }
            Ok(Err(e)) => {
                let e: redb::Error = e.into();
                // redb reports a foreign or cut file as invalid data / early end of file.
                let damaged = matches!(&e, redb::Error::Io(io)
                    if matches!(io.kind(), std::io::ErrorKind::InvalidData | std::io::ErrorKind::UnexpectedEof));
                return Err(match error::engine(&path, e) {
                    StoreError::Engine { path, message } if damaged => {
                        StoreError::Corrupt { path, message }
                    }
                    StoreError::Engine { path, message } => StoreError::Open { path, message },
                    other => other,
                });
            }
            Ok(Ok(db)) => db,
        };
        check_format(&path, &db)?;
        let shared = Arc::new(Shared {
            path,
            db: RwLock::new(Some(db)),
            commits: AtomicU64::new(0),
            durable_commits: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        });
        let (tx, rx) = mpsc::channel();
        let worker = shared.clone();
        let thread = std::thread::Builder::new()
            .name("pyrosome-store-commit".into())
            .spawn(move || commit_loop(&worker, &rx))
            .map_err(|e| StoreError::Open {
                path: shared.path.clone(),
                message: format!("cannot start the commit thread: {e}"),
            })?;
        Ok(Store {
            inner: Arc::new(Inner {
                shared,
                queue: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
            }),
        })
    }

    /// The engine file's path.
    pub fn path(&self) -> &Path {
        &self.inner.shared.path
    }

    /// The commit thread's counters.
    pub fn stats(&self) -> StoreStats {
        let s = &self.inner.shared;
        StoreStats {
            commits: s.commits.load(Ordering::Relaxed),
            durable_commits: s.durable_commits.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
            bytes: s.bytes.load(Ordering::Relaxed),
        }
    }

    /// A handle on the namespace `name`, created if absent. `durability` applies to the writes
    /// made through this handle.
    pub fn namespace(&self, name: &str, durability: Durability) -> Result<Namespace, StoreError> {
        let invalid = |reason| StoreError::InvalidNamespace {
            name: name.to_owned(),
            reason,
        };
        if name.is_empty() {
            return Err(invalid("it is empty"));
        }
        if name.len() > MAX_NAMESPACE_LEN {
            return Err(invalid("it is longer than 255 bytes"));
        }
        let table = format!("{NS_TABLE_PREFIX}{name}");
        let shared = &self.inner.shared;
        let guard = shared.db.read();
        let db = guard.as_ref().ok_or_else(|| shared.closed())?;
        let exists = {
            let rtx = db.begin_read().map_err(|e| shared.engine(e))?;
            match rtx.open_table(TableDefinition::<Bytes, Bytes>::new(&table)) {
                Ok(_) => true,
                Err(redb::TableError::TableDoesNotExist(_)) => false,
                Err(e) => return Err(shared.engine(e)),
            }
        };
        if !exists {
            let tx = db.begin_write().map_err(|e| shared.engine(e))?;
            tx.open_table(TableDefinition::<Bytes, Bytes>::new(&table))
                .map_err(|e| shared.engine(e))?;
            tx.commit().map_err(|e| shared.engine(e))?;
        }
        Ok(Namespace {
            store: self.inner.clone(),
            ns: Arc::new(NsInfo {
                name: name.to_owned(),
                table,
            }),
            durable: durability == Durability::Durable,
        })
    }

    /// The names of the namespaces, in bytewise order.
    pub fn namespaces(&self) -> Result<Vec<String>, StoreError> {
        let shared = &self.inner.shared;
        let guard = shared.db.read();
        let db = guard.as_ref().ok_or_else(|| shared.closed())?;
        let rtx = db.begin_read().map_err(|e| shared.engine(e))?;
        let mut names: Vec<String> = rtx
            .list_tables()
            .map_err(|e| shared.engine(e))?
            .filter_map(|t| t.name().strip_prefix(NS_TABLE_PREFIX).map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    /// Makes every acknowledged and relaxed write durable, stops the commit thread and closes
    /// the file. Other handles on the store then fail with [`StoreError::Closed`]. Dropping the
    /// last handle does the same, ignoring errors.
    pub fn close(self) -> Result<(), StoreError> {
        self.inner.shutdown()
    }
}

impl Inner {
    fn shutdown(&self) -> Result<(), StoreError> {
        drop(self.queue.lock().take());
        let mut result = Ok(());
        if let Some(handle) = self.thread.lock().take() {
            // A `done` callback that drops the last handle runs on the commit thread itself:
            // it then ends on its own once the queue is closed.
            if handle.thread().id() != std::thread::current().id() {
                result = match handle.join() {
                    Ok(r) => r,
                    Err(_) => Err(StoreError::Engine {
                        path: self.shared.path.clone(),
                        message: "the commit thread panicked".into(),
                    }),
                };
            }
        }
        if let Some(db) = self.shared.db.write().take() {
            let closed = db.close().map_err(|e| self.shared.engine(e));
            result = result.and(closed);
        }
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn check_format(path: &Path, db: &redb::Database) -> Result<(), StoreError> {
    let eng = |e: redb::Error| error::engine(path, e);
    let tx = db.begin_write().map_err(|e| eng(e.into()))?;
    let has_other_tables = tx
        .list_tables()
        .map_err(|e| eng(e.into()))?
        .any(|t| t.name() != META.name());
    {
        let mut meta = tx.open_table(META).map_err(|e| eng(e.into()))?;
        let format = meta
            .get(META_FORMAT_KEY)
            .map_err(|e| eng(e.into()))?
            .map(|v| v.value().to_vec());
        match format.as_deref() {
            Some([STORE_FORMAT]) => {}
            Some(other) => {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    message: format!("unsupported store format marker {other:?}"),
                });
            }
            None if has_other_tables => {
                return Err(StoreError::Corrupt {
                    path: path.to_path_buf(),
                    message: "a redb file without a Pyrosome format marker".into(),
                });
            }
            None => {
                meta.insert(META_FORMAT_KEY, [STORE_FORMAT].as_slice())
                    .map_err(|e| eng(e.into()))?;
            }
        }
    }
    tx.commit().map_err(|e| eng(e.into()))
}

/// The inclusive-or-unbounded start and the owned end of a key range.
pub(crate) type Bounds<'a> = (Bound<&'a [u8]>, Bound<Vec<u8>>);

/// `(start, end)` bounds of a range, or `None` when it is empty.
pub(crate) fn bounds(range: &KeyRange) -> Option<Bounds<'_>> {
    match range {
        KeyRange::All => Some((Bound::Unbounded, Bound::Unbounded)),
        KeyRange::Prefix(p) => {
            // The end of a prefix range is the prefix without its trailing 0xFF bytes, last
            // byte incremented; a prefix of only 0xFF bytes (or the empty one) has no end.
            let mut end = p.clone();
            while end.last() == Some(&0xFF) {
                end.pop();
            }
            let end = match end.last_mut() {
                Some(last) => {
                    *last += 1;
                    Bound::Excluded(end)
                }
                None => Bound::Unbounded,
            };
            Some((Bound::Included(p.as_slice()), end))
        }
        KeyRange::Range { start, end } => {
            if let (Some(s), Some(e)) = (start, end)
                && s >= e
            {
                return None;
            }
            Some((
                start.as_deref().map_or(Bound::Unbounded, Bound::Included),
                end.clone().map_or(Bound::Unbounded, Bound::Excluded),
            ))
        }
    }
}

impl Namespace {
    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.ns.name
    }

    /// The durability of the writes made through this handle.
    pub fn durability(&self) -> Durability {
        if self.durable {
            Durability::Durable
        } else {
            Durability::Relaxed
        }
    }

    fn def(&self) -> TableDefinition<'_, Bytes, Bytes> {
        TableDefinition::new(&self.ns.table)
    }

    fn decode(&self, key: &[u8], bytes: &[u8]) -> Result<Value, StoreError> {
        codec::decode(bytes).map_err(|e| StoreError::Decode {
            namespace: self.ns.name.clone(),
            key: display_key(key),
            reason: e.0,
        })
    }

    /// Runs `f` on a read-only snapshot of the namespace's table (`None` if it has none).
    fn read<T>(
        &self,
        f: impl FnOnce(Option<&redb::ReadOnlyTable<Bytes, Bytes>>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let shared = &self.store.shared;
        let guard = shared.db.read();
        let db = guard.as_ref().ok_or_else(|| shared.closed())?;
        let rtx = db.begin_read().map_err(|e| shared.engine(e))?;
        match rtx.open_table(self.def()) {
            Ok(table) => f(Some(&table)),
            Err(redb::TableError::TableDoesNotExist(_)) => f(None),
            Err(e) => Err(shared.engine(e)),
        }
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        self.read(|table| {
            let Some(table) = table else { return Ok(None) };
            match table.get(key).map_err(|e| self.store.shared.engine(e))? {
                Some(v) => Ok(Some(self.decode(key, v.value())?)),
                None => Ok(None),
            }
        })
    }

    /// The entries of a range, in key order (reversed if asked), up to the limit.
    pub fn list(&self, query: &ListQuery) -> Result<Vec<(Vec<u8>, Value)>, StoreError> {
        let limit = query.limit.unwrap_or(usize::MAX);
        let Some((start, end)) = bounds(&query.range) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.read(|table| {
            let Some(table) = table else {
                return Ok(Vec::new());
            };
            let eng = |e| self.store.shared.engine(e);
            let range = table
                .range::<&[u8]>((start, end.as_ref().map(Vec::as_slice)))
                .map_err(eng)?;
            let iter: Box<dyn Iterator<Item = _>> = if query.reverse {
                Box::new(range.rev())
            } else {
                Box::new(range)
            };
            let mut out = Vec::new();
            for entry in iter.take(limit) {
                let (k, v) = entry.map_err(eng)?;
                let key = k.value().to_vec();
                let value = self.decode(&key, v.value())?;
                out.push((key, value));
            }
            Ok(out)
        })
    }

    /// The number of keys in a range (walks the range, except for [`KeyRange::All`]).
    pub fn count(&self, range: &KeyRange) -> Result<u64, StoreError> {
        let Some((start, end)) = bounds(range) else {
            return Ok(0);
        };
        self.read(|table| {
            let Some(table) = table else { return Ok(0) };
            let eng = |e| self.store.shared.engine(e);
            if *range == KeyRange::All {
                return table.len().map_err(eng);
            }
            let mut n = 0u64;
            for entry in table
                .range::<&[u8]>((start, end.as_ref().map(Vec::as_slice)))
                .map_err(eng)?
            {
                entry.map_err(eng)?;
                n += 1;
            }
            Ok(n)
        })
    }

    fn prepare(&self, batch: WriteBatch) -> Result<(Vec<Op>, bool, usize), StoreError> {
        let mut ops = Vec::with_capacity(batch.ops.len());
        let mut conditional = false;
        let mut bytes = 0;
        for op in batch.ops {
            let key = match &op {
                WriteOp::Put { key, .. }
                | WriteOp::Delete { key }
                | WriteOp::PutIfAbsent { key, .. } => key,
            };
            if key.len() > MAX_KEY_LEN {
                return Err(StoreError::KeyTooLarge {
                    namespace: self.ns.name.clone(),
                    key: display_key(key),
                    len: key.len(),
                    max: MAX_KEY_LEN,
                });
            }
            let encode = |key: &[u8], value: &Value| {
                let invalid = |reason| StoreError::InvalidValue {
                    namespace: self.ns.name.clone(),
                    key: display_key(key),
                    reason,
                };
                let bytes = codec::encode(value).map_err(|e| invalid(e.0))?;
                if bytes.len() > MAX_VALUE_LEN {
                    return Err(invalid(format!(
                        "its encoding is {} bytes; the limit is {MAX_VALUE_LEN}",
                        bytes.len()
                    )));
                }
                Ok(bytes)
            };
            let op = match op {
                WriteOp::Put { key, value } => {
                    let v = encode(&key, &value)?;
                    Op::Put(key, v)
                }
                WriteOp::Delete { key } => Op::Delete(key),
                WriteOp::PutIfAbsent { key, value } => {
                    conditional = true;
                    let v = encode(&key, &value)?;
                    Op::PutIfAbsent(key, v)
                }
            };
            bytes += match &op {
                Op::Put(k, v) | Op::PutIfAbsent(k, v) => k.len() + v.len(),
                Op::Delete(k) => k.len(),
            };
            ops.push(op);
        }
        Ok((ops, conditional, bytes))
    }

    /// Applies the batch atomically (all or nothing) and calls `done` when it is acknowledged:
    /// for a durable namespace only after the data is fsynced (group commit), for a relaxed one
    /// right after it is applied. Never blocks on I/O; `done` may run on the commit thread (or
    /// at once on this thread for a batch refused before queueing, e.g. an oversized key).
    pub fn write(
        &self,
        batch: WriteBatch,
        done: Box<dyn FnOnce(Result<WriteOutcome, StoreError>) + Send>,
    ) {
        let (ops, conditional, bytes) = match self.prepare(batch) {
            Ok(p) => p,
            Err(e) => return done(Err(e)),
        };
        let job = Job {
            ns: self.ns.clone(),
            durable: self.durable,
            ops,
            conditional,
            bytes,
            done,
        };
        let queue = self.store.queue.lock();
        let Some(sender) = queue.as_ref() else {
            drop(queue);
            return (job.done)(Err(self.store.shared.closed()));
        };
        if let Err(mpsc::SendError(job)) = sender.send(job) {
            drop(queue);
            (job.done)(Err(StoreError::Engine {
                path: self.store.shared.path.clone(),
                message: "the commit thread has stopped".into(),
            }));
        }
    }

    /// [`Namespace::write`], waiting for the acknowledgement (for the CLI and tests).
    pub fn write_blocking(&self, batch: WriteBatch) -> Result<WriteOutcome, StoreError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.write(
            batch,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv()
            .unwrap_or_else(|_| Err(self.store.shared.closed()))
    }
}

fn commit_loop(shared: &Shared, rx: &mpsc::Receiver<Job>) -> Result<(), StoreError> {
    // Relaxed commits not yet covered by an fsync.
    let mut unsynced = false;
    loop {
        let first = if unsynced {
            match rx.recv_timeout(RELAXED_SYNC_AFTER) {
                Ok(job) => job,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    unsynced = commit_group(shared, &[], true).is_err();
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(job) => job,
                Err(_) => break,
            }
        };
        let mut bytes = first.bytes;
        let mut group = vec![first];
        while group.len() < MAX_GROUP_JOBS && bytes < MAX_GROUP_BYTES {
            match rx.try_recv() {
                Ok(job) => {
                    bytes += job.bytes;
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        // Relaxed writes first, in a commit of their own without an fsync:
        // they are acknowledged at once instead of waiting for the fsync of
        // a durable write that happened to be queued beside them. The two
        // kinds never share a key (durability is per namespace), so the
        // order between them is not observable.
        let (durable, relaxed): (Vec<Job>, Vec<Job>) = group.into_iter().partition(|j| j.durable);
        if !relaxed.is_empty() && commit_and_acknowledge(shared, relaxed, false) {
            unsynced = true;
        }
        // A durable commit also makes every earlier relaxed one durable.
        if !durable.is_empty() && commit_and_acknowledge(shared, durable, true) {
            unsynced = false;
        }
    }
    if unsynced {
        commit_group(shared, &[], true)?;
    }
    Ok(())
}

/// Commits `group` (fsynced if `durable`) and runs each job's `done` with
/// its outcome; returns whether the commit succeeded.
fn commit_and_acknowledge(shared: &Shared, group: Vec<Job>, durable: bool) -> bool {
    match commit_group(shared, &group, durable) {
        Ok(outcomes) => {
            shared.commits.fetch_add(1, Ordering::Relaxed);
            if durable {
                shared.durable_commits.fetch_add(1, Ordering::Relaxed);
            }
            shared
                .batches
                .fetch_add(group.len() as u64, Ordering::Relaxed);
            let bytes: usize = group.iter().map(|j| j.bytes).sum();
            shared.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
            for (job, outcome) in group.into_iter().zip(outcomes) {
                let done = job.done;
                let _ = std::panic::catch_unwind(AssertUnwindSafe(move || done(Ok(outcome))));
            }
            true
        }
        Err(e) => {
            let message = e.to_string();
            for job in group {
                let done = job.done;
                let e = StoreError::Engine {
                    path: shared.path.clone(),
                    message: message.clone(),
                };
                let _ = std::panic::catch_unwind(AssertUnwindSafe(move || done(Err(e))));
            }
            false
        }
    }
}

/// Applies every job of the group in one engine transaction, fsynced if `durable`.
fn commit_group(
    shared: &Shared,
    group: &[Job],
    durable: bool,
) -> Result<Vec<WriteOutcome>, StoreError> {
    let guard = shared.db.read();
    let db = guard.as_ref().ok_or_else(|| shared.closed())?;
    let eng = |e: redb::Error| error::engine(&shared.path, e);
    let mut tx = db.begin_write().map_err(|e| eng(e.into()))?;
    tx.set_durability(if durable {
        redb::Durability::Immediate
    } else {
        redb::Durability::None
    })
    .map_err(|e| eng(e.into()))?;
    let mut outcomes = Vec::with_capacity(group.len());
    {
        let mut tables = HashMap::new();
        for job in group.iter() {
            let table = match tables.entry(job.ns.table.as_str()) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(
                    tx.open_table(TableDefinition::<Bytes, Bytes>::new(&job.ns.table))
                        .map_err(|e| eng(e.into()))?,
                ),
            };
            outcomes.push(apply(table, job).map_err(|e| eng(e.into()))?);
        }
    }
    tx.commit().map_err(|e| eng(e.into()))?;
    Ok(outcomes)
}

fn apply(
    table: &mut redb::Table<Bytes, Bytes>,
    job: &Job,
) -> Result<WriteOutcome, redb::StorageError> {
    if job.conditional {
        // Presence of the keys written earlier in this batch.
        let mut written: HashMap<&[u8], bool> = HashMap::new();
        for (i, op) in job.ops.iter().enumerate() {
            match op {
                Op::Put(k, _) => {
                    written.insert(k, true);
                }
                Op::Delete(k) => {
                    written.insert(k, false);
                }
                Op::PutIfAbsent(k, _) => {
                    let exists = match written.get(k.as_slice()) {
                        Some(present) => *present,
                        None => table.get(k.as_slice())?.is_some(),
                    };
                    if exists {
                        return Ok(WriteOutcome {
                            applied: false,
                            conflict: Some(i),
                        });
                    }
                    written.insert(k, true);
                }
            }
        }
    }
    for op in &job.ops {
        match op {
            Op::Put(k, v) | Op::PutIfAbsent(k, v) => {
                table.insert(k.as_slice(), v.as_slice())?;
            }
            Op::Delete(k) => {
                table.remove(k.as_slice())?;
            }
        }
    }
    Ok(WriteOutcome {
        applied: true,
        conflict: None,
    })
}

#[cfg(test)]
mod tests;
