//! The PostgreSQL backend: the same namespaces, keys, values and batches as the embedded store,
//! kept in a PostgreSQL database (or one that speaks its wire protocol and SQL dialect:
//! CockroachDB, YugabyteDB), so that several Pyrosome nodes can share them.
//!
//! # Schema
//!
//! One table, created if absent when a store is opened:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS pyrosome_store (
//!     namespace TEXT NOT NULL, key BYTEA NOT NULL, value BYTEA NOT NULL,
//!     PRIMARY KEY (namespace, key))
//! ```
//!
//! `namespace` is the store's name, `key` the key's bytes, `value` the value in the store's
//! own encoding ([`super::codec`], the same bytes redb holds). `bytea` compares bytewise
//! (memcmp, then length), whatever the database's collation, so the primary key orders keys
//! exactly as the embedded store does, and every `list` (prefix, range, reverse, limit) is one
//! range scan of the primary key index: `WHERE namespace = $1 AND key >= $2 [AND key < $3]
//! ORDER BY key [DESC] LIMIT $4`.
//!
//! # Statements
//!
//! Only plain SQL that CockroachDB and YugabyteDB also accept: `CREATE TABLE IF NOT EXISTS`,
//! `SELECT ... ORDER BY ... LIMIT`, `INSERT ... ON CONFLICT (namespace, key) DO UPDATE SET
//! value = EXCLUDED.value` (a put), `INSERT ... ON CONFLICT DO NOTHING` (a put-if-absent: it
//! inserted a row or the key existed), `DELETE`, `BEGIN`/`COMMIT`/`ROLLBACK`, and `SET LOCAL
//! synchronous_commit = off` for relaxed writes where the server accepts it (probed at open;
//! where it is refused, relaxed writes are committed like durable ones).
//!
//! A batch is one transaction: its statements are sent pipelined (one round trip for all of
//! them), and a put-if-absent that inserted nothing makes the whole transaction roll back
//! (`applied: false`, `conflict: index`). Because the statements run in order inside the
//! transaction, a condition sees the batch's earlier operations, as in the embedded store. A
//! batch of one operation on a durable store is one statement without `BEGIN`/`COMMIT`.
//! Transactions that the server aborts as serialization failures or deadlocks (CockroachDB's
//! `40001` under its default `SERIALIZABLE`) are retried.
//!
//! # Threads, deadlines, failures
//!
//! The client runs on a small tokio runtime of the store's own (one thread): no Pyrosome worker
//! ever waits for the database. Every operation takes a callback, called on that thread with the
//! result, exactly like [`super::Namespace::write`]'s; the scheduler turns it into the reply of
//! the invocation's store call. Every operation has a deadline (the invocation's, or
//! [`DEFAULT_TIMEOUT`]): past it the operation fails with an error that says the database did
//! not answer in time (for a write, that it may or may not have been applied) and its
//! connection is discarded. A database that goes away turns operations into errors that say so
//! (connection refused, connection closed); connections are made again on demand (a pool of
//! [`POOL_SIZE`]), so the store works again as soon as the database is back.

use super::codec;
use super::{
    Durability, KeyRange, ListQuery, MAX_NAMESPACE_LEN, MAX_VALUE_LEN, StoreError, WriteBatch,
    WriteOp, WriteOutcome, display_key,
};
use crate::value::Value;
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use parking_lot::Mutex;
use std::future::Future;
use std::ops::Bound;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

/// The table every store of a database shares (one row per key, the store's name in
/// `namespace`).
pub const TABLE: &str = "pyrosome_store";
/// Connections per database and node. Each in-flight operation holds one for its round trips;
/// 16 keeps a 2–8-core node's workers busy without holding many server processes (a
/// PostgreSQL connection is a process), so a few nodes fit under the default
/// `max_connections = 100`.
pub const POOL_SIZE: usize = 16;
/// Longest key, in bytes: less than the embedded store's 64 KiB, because a key is a primary-key
/// index entry, and PostgreSQL refuses index entries over 2704 bytes (an 8 KiB page holds at
/// least three); 2048 leaves room for the namespace and the entry's header. Longer keys are
/// refused before anything is sent, with [`StoreError::KeyTooLarge`].
pub const MAX_KEY_LEN: usize = 2048;
/// The deadline of an operation made outside any invocation (CLI, tests, startup).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long opening a store waits for the database before the node refuses to start.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a transaction the server aborted as a serialization failure or deadlock is
/// tried again.
const RETRIES: usize = 5;
/// Entries per page of an export (one snapshot, read through a cursor).
const EXPORT_PAGE: i32 = 1000;

/// Entries of a range, in order.
pub type Entries = Vec<(Vec<u8>, Value)>;

/// What an operation answers with, on the store's client thread.
pub type Callback<T> = Box<dyn FnOnce(Result<T, StoreError>) + Send>;

/// A PostgreSQL database holding stores. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Shared>,
}

struct Shared {
    /// Where the database is, for messages: `host:port/dbname` (never the password).
    host: String,
    pool: Pool,
    handle: tokio::runtime::Handle,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
    /// Whether the server accepts `SET LOCAL synchronous_commit = off`.
    relaxed_commits: bool,
}

impl Drop for Shared {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.lock().take() {
            // May run on any thread, even one of another runtime: never block here.
            runtime.shutdown_background();
        }
    }
}

/// A handle on one store (namespace) of a [`PgStore`]. Cheap to clone; `Send + Sync`.
#[derive(Clone)]
pub struct PgNamespace {
    db: Arc<Shared>,
    name: Arc<str>,
    durable: bool,
}

/// Where a connection string points, for messages: `host:port/dbname`, without user or password.
pub fn describe_url(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(config) => describe_config(&config),
        Err(_) => "an unparsable URL".to_owned(),
    }
}

fn describe_config(config: &tokio_postgres::Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = config
                .get_ports()
                .get(i)
                .or_else(|| config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match h {
                tokio_postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                tokio_postgres::config::Host::Unix(dir) => {
                    format!("{}/.s.PGSQL.{port}", dir.display())
                }
            }
        })
        .collect();
    let hosts = if hosts.is_empty() {
        "localhost:5432".to_owned()
    } else {
        hosts.join(",")
    };
    match config.get_dbname() {
        Some(db) => format!("{hosts}/{db}"),
        None => hosts,
    }
}

/// What a client error says, with the server's message and SQLSTATE for a database error.
fn describe(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let shown = s.to_string();
        if !text.contains(&shown) {
            text.push_str(": ");
            text.push_str(&shown);
        }
        source = s.source();
    }
    text
}

/// Whether the server aborted a transaction that may simply be tried again.
fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
    )
}

impl PgStore {
    /// Connects to the database at `url` (a PostgreSQL connection string or URL) for the store
    /// `store` (named in errors), creates the table if absent and checks that it can be used.
    /// Blocks the calling thread up to [`CONNECT_TIMEOUT`]; call it at start, not on a worker.
    pub fn connect(store: &str, url: &str) -> Result<PgStore, StoreError> {
        let open_error = |host: &str, message: String| StoreError::Remote {
            store: store.to_owned(),
            host: host.to_owned(),
            message,
        };
        let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
            open_error(
                "an unparsable URL",
                format!("the connection URL is not valid: {e}"),
            )
        })?;
        let host = describe_config(&config);
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        // A server that vanishes without closing the connection (a cut network) is noticed by
        // the kernel within this long, instead of the operating system's ~15 minutes.
        config.tcp_user_timeout(Duration::from_secs(15));
        config.keepalives_idle(Duration::from_secs(30));
        config.application_name("pyrosome");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pyrosome-postgres")
            .enable_all()
            .build()
            .map_err(|e| open_error(&host, format!("cannot start the client thread: {e}")))?;
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| open_error(&host, format!("cannot make the connection pool: {e}")))?;
        let handle = runtime.handle().clone();
        let setup = {
            let pool = pool.clone();
            async move {
                let client = pool.get().await.map_err(|e| match e {
                    deadpool_postgres::PoolError::Backend(e) => {
                        format!("cannot connect: {}", describe(&e))
                    }
                    other => format!("cannot connect: {other}"),
                })?;
                create_table(&client).await?;
                // Relaxed commits where the server has them (PostgreSQL, YugabyteDB).
                let relaxed = client
                    .batch_execute("BEGIN; SET LOCAL synchronous_commit = off; COMMIT")
                    .await
                    .is_ok();
                if !relaxed {
                    let _ = client.batch_execute("ROLLBACK").await;
                }
                Ok::<bool, String>(relaxed)
            }
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        handle.spawn(async move {
            let result = match tokio::time::timeout(CONNECT_TIMEOUT, setup).await {
                Ok(r) => r,
                Err(_) => Err(format!(
                    "the database did not answer within {} s",
                    CONNECT_TIMEOUT.as_secs()
                )),
            };
            let _ = tx.send(result);
        });
        let relaxed_commits = rx
            .recv()
            .map_err(|_| open_error(&host, "the client thread stopped".into()))?
            .map_err(|message| open_error(&host, message))?;
        if !relaxed_commits {
            tracing::info!(
                "PostgreSQL at {host} does not accept SET LOCAL synchronous_commit: relaxed stores are committed like durable ones"
            );
        }
        Ok(PgStore {
            inner: Arc::new(Shared {
                host,
                pool,
                handle,
                runtime: Mutex::new(Some(runtime)),
                relaxed_commits,
            }),
        })
    }

    /// Where the database is (`host:port/dbname`).
    pub fn host(&self) -> &str {
        &self.inner.host
    }

    /// A handle on the store `name`. `durability` applies to the writes made through it.
    pub fn namespace(&self, name: &str, durability: Durability) -> Result<PgNamespace, StoreError> {
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
        Ok(PgNamespace {
            db: self.inner.clone(),
            name: Arc::from(name),
            durable: durability == Durability::Durable,
        })
    }
}

async fn create_table(client: &Object) -> Result<(), String> {
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS {TABLE} (namespace TEXT NOT NULL, key BYTEA NOT NULL, \
         value BYTEA NOT NULL, PRIMARY KEY (namespace, key))"
    );
    if let Err(e) = client.batch_execute(&sql).await {
        // Two nodes creating it at once: one of them loses the race on the catalog, and the
        // table exists.
        let check = format!("SELECT 1 FROM {TABLE} LIMIT 0");
        if client.batch_execute(&check).await.is_err() {
            return Err(format!("cannot create the table {TABLE}: {}", describe(&e)));
        }
    }
    Ok(())
}

/// A connection from the pool that is discarded, not reused, unless the operation finished
/// (an operation cut off by its deadline leaves the connection in an unknown state).
struct Lease {
    client: Option<Object>,
    finished: bool,
}

impl Lease {
    /// Marks the connection as fit for reuse.
    fn finish(&mut self) {
        self.finished = true;
    }

    fn client(&mut self) -> &mut Object {
        self.client
            .as_mut()
            .expect("a lease holds its client until dropped")
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(client) = self.client.take()
            && !self.finished
        {
            drop(Object::take(client));
        }
    }
}

/// The SQL of a `list` (with or without an end bound, either order) and a `count`.
fn list_sql(end: bool, reverse: bool) -> String {
    format!(
        "SELECT key, value FROM {TABLE} WHERE namespace = $1 AND key >= $2{} ORDER BY key{} LIMIT $3",
        if end { " AND key < $4" } else { "" },
        if reverse { " DESC" } else { "" },
    )
}

fn count_sql(end: bool) -> String {
    format!(
        "SELECT count(*) FROM {TABLE} WHERE namespace = $1 AND key >= $2{}",
        if end { " AND key < $3" } else { "" }
    )
}

fn put_sql() -> String {
    format!(
        "INSERT INTO {TABLE} (namespace, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value"
    )
}

fn put_if_absent_sql() -> String {
    format!(
        "INSERT INTO {TABLE} (namespace, key, value) VALUES ($1, $2, $3) \
         ON CONFLICT (namespace, key) DO NOTHING"
    )
}

fn delete_sql() -> String {
    format!("DELETE FROM {TABLE} WHERE namespace = $1 AND key = $2")
}

/// An encoded operation of a batch.
enum Op {
    Put(Vec<u8>, Vec<u8>),
    PutIfAbsent(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

impl PgNamespace {
    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The durability of the writes made through this handle.
    pub fn durability(&self) -> Durability {
        if self.durable {
            Durability::Durable
        } else {
            Durability::Relaxed
        }
    }

    /// Where the database is (`host:port/dbname`).
    pub fn host(&self) -> &str {
        &self.db.host
    }

    fn error(&self, message: impl Into<String>) -> StoreError {
        StoreError::Remote {
            store: self.name.to_string(),
            host: self.db.host.clone(),
            message: message.into(),
        }
    }

    fn decode(&self, key: &[u8], bytes: &[u8]) -> Result<Value, StoreError> {
        codec::decode(bytes).map_err(|e| StoreError::Decode {
            namespace: self.name.to_string(),
            key: display_key(key),
            reason: e.0,
        })
    }

    /// Runs `op` with a pooled connection on the client thread, bounded by `deadline`, and
    /// hands its result to `done` there.
    fn run<T, F, Fut>(
        &self,
        deadline: Option<Instant>,
        what: &'static str,
        op: F,
        done: Callback<T>,
    ) where
        T: Send + 'static,
        F: FnOnce(PgNamespace, Lease) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let ns = self.clone();
        let deadline = deadline.unwrap_or_else(|| Instant::now() + DEFAULT_TIMEOUT);
        self.db.handle.spawn(async move {
            let allowed = deadline.saturating_duration_since(Instant::now());
            let work = {
                let ns = ns.clone();
                async move {
                    let client = ns.db.pool.get().await.map_err(|e| {
                        ns.error(match e {
                            deadpool_postgres::PoolError::Backend(e) => {
                                format!("cannot connect: {}", describe(&e))
                            }
                            other => format!("cannot connect: {other}"),
                        })
                    })?;
                    let lease = Lease {
                        client: Some(client),
                        finished: false,
                    };
                    op(ns, lease).await
                }
            };
            let result = match tokio::time::timeout_at(deadline.into(), work).await {
                Ok(result) => result,
                Err(_) => Err(ns.error(format!(
                    "the database did not answer the {what} within {} ms{}",
                    allowed.as_millis(),
                    if what == "write" {
                        " (the write may or may not have been applied)"
                    } else {
                        ""
                    }
                ))),
            };
            done(result);
        });
    }

    /// Fails an operation on a statement error (the connection is kept for a database
    /// error, discarded for any other).
    fn failed(&self, lease: &mut Lease, e: &tokio_postgres::Error, what: &str) -> StoreError {
        if e.as_db_error().is_some() {
            lease.finish();
        }
        self.error(format!("{what} failed: {}", describe(e)))
    }

    /// The value of `key`, if present, to `done`.
    pub fn get_with(&self, key: Vec<u8>, deadline: Option<Instant>, done: Callback<Option<Value>>) {
        self.run(
            deadline,
            "read",
            move |ns, mut lease| async move {
                let sql = format!("SELECT value FROM {TABLE} WHERE namespace = $1 AND key = $2");
                let name: &str = &ns.name;
                let result = async {
                    let stmt = lease.client().prepare_cached(&sql).await?;
                    lease.client().query_opt(&stmt, &[&name, &key]).await
                }
                .await;
                let row = result.map_err(|e| ns.failed(&mut lease, &e, "a read"))?;
                lease.finish();
                match row {
                    Some(row) => {
                        let bytes: &[u8] = row.get(0);
                        Ok(Some(ns.decode(&key, bytes)?))
                    }
                    None => Ok(None),
                }
            },
            done,
        );
    }

    /// The entries of a range, in key order (reversed if asked), up to the limit, to `done`.
    pub fn list_with(
        &self,
        query: ListQuery,
        deadline: Option<Instant>,
        done: Callback<Vec<(Vec<u8>, Value)>>,
    ) {
        let limit = query
            .limit
            .map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let Some((start, end)) = bounds(&query.range) else {
            return done(Ok(Vec::new()));
        };
        if limit == 0 {
            return done(Ok(Vec::new()));
        }
        let reverse = query.reverse;
        self.run(
            deadline,
            "read",
            move |ns, mut lease| async move {
                let sql = list_sql(end.is_some(), reverse);
                let name: &str = &ns.name;
                let result = async {
                    let stmt = lease.client().prepare_cached(&sql).await?;
                    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&name, &start, &limit];
                    if let Some(end) = &end {
                        params.push(end);
                    }
                    lease.client().query(&stmt, &params).await
                }
                .await;
                let rows = result.map_err(|e| ns.failed(&mut lease, &e, "a list"))?;
                lease.finish();
                rows.iter()
                    .map(|row| {
                        let key: Vec<u8> = row.get(0);
                        let bytes: &[u8] = row.get(1);
                        let value = ns.decode(&key, bytes)?;
                        Ok((key, value))
                    })
                    .collect()
            },
            done,
        );
    }

    /// The number of keys in a range, to `done`.
    pub fn count_with(&self, range: KeyRange, deadline: Option<Instant>, done: Callback<u64>) {
        let Some((start, end)) = bounds(&range) else {
            return done(Ok(0));
        };
        self.run(
            deadline,
            "read",
            move |ns, mut lease| async move {
                let sql = count_sql(end.is_some());
                let name: &str = &ns.name;
                let result = async {
                    let stmt = lease.client().prepare_cached(&sql).await?;
                    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&name, &start];
                    if let Some(end) = &end {
                        params.push(end);
                    }
                    lease.client().query_one(&stmt, &params).await
                }
                .await;
                let row = result.map_err(|e| ns.failed(&mut lease, &e, "a count"))?;
                lease.finish();
                let n: i64 = row.get(0);
                Ok(u64::try_from(n).unwrap_or(0))
            },
            done,
        );
    }

    fn prepare(&self, batch: WriteBatch) -> Result<Vec<Op>, StoreError> {
        let mut ops = Vec::with_capacity(batch.ops.len());
        for op in batch.ops {
            let key = match &op {
                WriteOp::Put { key, .. }
                | WriteOp::Delete { key }
                | WriteOp::PutIfAbsent { key, .. } => key,
            };
            if key.len() > MAX_KEY_LEN {
                return Err(StoreError::KeyTooLarge {
                    namespace: self.name.to_string(),
                    key: display_key(key),
                    len: key.len(),
                    max: MAX_KEY_LEN,
                });
            }
            let encode = |key: &[u8], value: &Value| {
                let invalid = |reason| StoreError::InvalidValue {
                    namespace: self.name.to_string(),
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
            ops.push(match op {
                WriteOp::Put { key, value } => {
                    let v = encode(&key, &value)?;
                    Op::Put(key, v)
                }
                WriteOp::PutIfAbsent { key, value } => {
                    let v = encode(&key, &value)?;
                    Op::PutIfAbsent(key, v)
                }
                WriteOp::Delete { key } => Op::Delete(key),
            });
        }
        Ok(ops)
    }

    /// Applies the batch atomically (one transaction) and calls `done` with the outcome once
    /// the database committed it (for a durable store, once the commit is flushed, as the
    /// server's `synchronous_commit` makes it). Never blocks the calling thread; `done` runs on
    /// the client thread (or at once, for a batch refused before it is sent).
    pub fn write_with(
        &self,
        batch: WriteBatch,
        deadline: Option<Instant>,
        done: Callback<WriteOutcome>,
    ) {
        let ops = match self.prepare(batch) {
            Ok(ops) => ops,
            Err(e) => return done(Err(e)),
        };
        if ops.is_empty() {
            return done(Ok(WriteOutcome {
                applied: true,
                conflict: None,
            }));
        }
        let ops = Arc::new(ops);
        self.run(
            deadline,
            "write",
            move |ns, mut lease| async move {
                let mut attempt = 0;
                loop {
                    match ns.apply(lease.client(), &ops).await {
                        Ok(outcome) => {
                            lease.finish();
                            return Ok(outcome);
                        }
                        Err(e) if retryable(&e) && attempt < RETRIES => attempt += 1,
                        Err(e) => return Err(ns.failed(&mut lease, &e, "a write")),
                    }
                }
            },
            done,
        );
    }

    /// One attempt at a batch: its statements pipelined in one transaction.
    async fn apply(
        &self,
        client: &mut Object,
        ops: &[Op],
    ) -> Result<WriteOutcome, tokio_postgres::Error> {
        let applied = WriteOutcome {
            applied: true,
            conflict: None,
        };
        let name: &str = &self.name;
        let relax = !self.durable && self.db.relaxed_commits;
        let put = client.prepare_cached(&put_sql()).await?;
        let put_if_absent = client.prepare_cached(&put_if_absent_sql()).await?;
        let delete = client.prepare_cached(&delete_sql()).await?;
        // One statement is atomic on its own: no transaction around it.
        if let [op] = ops
            && !relax
        {
            match op {
                Op::Put(k, v) => client.execute(&put, &[&name, k, v]).await?,
                Op::Delete(k) => client.execute(&delete, &[&name, k]).await?,
                Op::PutIfAbsent(k, v) => {
                    if client.execute(&put_if_absent, &[&name, k, v]).await? == 0 {
                        return Ok(WriteOutcome {
                            applied: false,
                            conflict: Some(0),
                        });
                    }
                    1
                }
            };
            return Ok(applied);
        }
        let tx = client.transaction().await?;
        if relax {
            tx.batch_execute("SET LOCAL synchronous_commit = off")
                .await?;
        }
        let results = futures_util::future::join_all(ops.iter().map(|op| {
            let tx = &tx;
            let (put, put_if_absent, delete) = (&put, &put_if_absent, &delete);
            async move {
                match op {
                    Op::Put(k, v) => tx.execute(put, &[&name, k, v]).await,
                    Op::PutIfAbsent(k, v) => tx.execute(put_if_absent, &[&name, k, v]).await,
                    Op::Delete(k) => tx.execute(delete, &[&name, k]).await,
                }
            }
        }))
        .await;
        let mut conflict = None;
        for (i, (op, result)) in ops.iter().zip(results).enumerate() {
            let rows = result?;
            if conflict.is_none() && matches!(op, Op::PutIfAbsent(..)) && rows == 0 {
                conflict = Some(i);
            }
        }
        if let Some(i) = conflict {
            tx.rollback().await?;
            return Ok(WriteOutcome {
                applied: false,
                conflict: Some(i),
            });
        }
        tx.commit().await?;
        Ok(applied)
    }

    /// Every entry, in key order, from one consistent snapshot (a `REPEATABLE READ` read-only
    /// transaction read through a cursor), a page at a time to `page`. Blocks the calling
    /// thread (for the CLI's export).
    pub fn export_pages(
        &self,
        page: &mut dyn FnMut(Entries) -> Result<(), StoreError>,
    ) -> Result<u64, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Entries, StoreError>>(2);
        let ns = self.clone();
        self.db.handle.spawn(async move {
            let sender = tx.clone();
            let result = async {
                let mut client = ns
                    .db
                    .pool
                    .get()
                    .await
                    .map_err(|e| ns.error(format!("cannot connect: {e}")))?;
                let fail =
                    |e: tokio_postgres::Error| ns.error(format!("export failed: {}", describe(&e)));
                let snapshot = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await
                    .map_err(fail)?;
                let sql =
                    format!("SELECT key, value FROM {TABLE} WHERE namespace = $1 ORDER BY key");
                let name: &str = &ns.name;
                let portal = snapshot.bind(&sql, &[&name]).await.map_err(fail)?;
                loop {
                    let rows = snapshot
                        .query_portal(&portal, EXPORT_PAGE)
                        .await
                        .map_err(fail)?;
                    if rows.is_empty() {
                        break;
                    }
                    let mut entries = Vec::with_capacity(rows.len());
                    for row in &rows {
                        let key: Vec<u8> = row.get(0);
                        let bytes: &[u8] = row.get(1);
                        let value = ns.decode(&key, bytes)?;
                        entries.push((key, value));
                    }
                    if sender.send(Ok(entries)).is_err() {
                        break;
                    }
                }
                snapshot.commit().await.map_err(fail)
            }
            .await;
            if let Err(e) = result {
                let _ = tx.send(Err(e));
            }
        });
        let mut n = 0u64;
        for entries in rx {
            let entries = entries?;
            n += entries.len() as u64;
            page(entries)?;
        }
        Ok(n)
    }

    /// The value of `key`, waiting for it (CLI, tests).
    pub fn get(&self, key: &[u8]) -> Result<Option<Value>, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.get_with(key.to_vec(), None, sender(tx));
        self.wait(rx)
    }

    /// [`Self::list_with`], waiting for the answer (CLI, tests).
    pub fn list(&self, query: &ListQuery) -> Result<Vec<(Vec<u8>, Value)>, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.list_with(query.clone(), None, sender(tx));
        self.wait(rx)
    }

    /// [`Self::count_with`], waiting for the answer (CLI, tests).
    pub fn count(&self, range: &KeyRange) -> Result<u64, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.count_with(range.clone(), None, sender(tx));
        self.wait(rx)
    }

    /// [`Self::write_with`], waiting for the acknowledgement (CLI, tests).
    pub fn write_blocking(&self, batch: WriteBatch) -> Result<WriteOutcome, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.write_with(batch, None, sender(tx));
        self.wait(rx)
    }

    fn wait<T>(
        &self,
        rx: std::sync::mpsc::Receiver<Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        rx.recv()
            .unwrap_or_else(|_| Err(self.error("the client thread stopped")))
    }
}

fn sender<T: Send + 'static>(
    tx: std::sync::mpsc::SyncSender<Result<T, StoreError>>,
) -> Callback<T> {
    Box::new(move |r| {
        let _ = tx.send(r);
    })
}

/// The start (inclusive; the empty key when unbounded, as no key sorts before it) and the
/// exclusive end of a range, or `None` when it is empty.
fn bounds(range: &KeyRange) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let (start, end) = super::bounds(range)?;
    let start = match start {
        Bound::Included(s) => s.to_vec(),
        Bound::Unbounded => Vec::new(),
        Bound::Excluded(_) => unreachable!("ranges start inclusive"),
    };
    let end = match end {
        Bound::Excluded(e) => Some(e),
        Bound::Unbounded => None,
        Bound::Included(_) => unreachable!("ranges end exclusive"),
    };
    Some((start, end))
}
