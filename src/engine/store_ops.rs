//! Store operations as JavaScript sees them: the shapes of their results
//! and the execution of reads against a local namespace. Shared by the
//! engine (which answers local reads inside the host call, without a round
//! trip through the scheduler) and the scheduler (which performs writes
//! and any read not answered inline).

use crate::store::postgres::PgNamespace;
use crate::store::{Namespace, StoreError, WriteOutcome};
use crate::value::Value;
use std::time::Instant;

use super::{JsError, StoreRequest};

/// A store granted to a service.
#[derive(Clone)]
pub struct StoreGrant {
    /// The store's name.
    pub name: String,
    /// Whether the service may write.
    pub writable: bool,
    /// The namespace, when it is local: reads are then answered inline.
    pub local: Option<Namespace>,
}

impl std::fmt::Debug for StoreGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreGrant")
            .field("name", &self.name)
            .field("writable", &self.writable)
            .field("local", &self.local.is_some())
            .finish()
    }
}

/// Performs a read (`Get`, `List`, `Count`); `None` for a write.
pub fn read(ns: &Namespace, store: &str, request: &StoreRequest) -> Option<Result<Value, JsError>> {
    let failed =
        |e: crate::store::StoreError| JsError::new("Error", format!("store \"{store}\": {e}"));
    Some(match request {
        StoreRequest::Get(key) => ns
            .get(key)
            .map(|v| v.unwrap_or(Value::Undefined))
            .map_err(failed),
        StoreRequest::List(query) => ns.list(query).map(entries_value).map_err(failed),
        StoreRequest::Count(range) => ns
            .count(range)
            .map(|n| Value::Number(n as f64))
            .map_err(failed),
        StoreRequest::Write(_) => return None,
    })
}

/// Performs any operation on a store kept by a database server, handing
/// the result (the same shapes as [`read`] and [`outcome_value`]) to `done`
/// on the store's client thread, by `deadline` at the latest.
pub fn remote(
    ns: &PgNamespace,
    store: &str,
    request: StoreRequest,
    deadline: Instant,
    done: Box<dyn FnOnce(Result<Value, JsError>) + Send>,
) {
    let store = store.to_owned();
    // A remote error names the store (and the database) itself.
    let failed = move |e: StoreError| match e {
        StoreError::Remote { .. } => JsError::new("Error", e.to_string()),
        e => JsError::new("Error", format!("store \"{store}\": {e}")),
    };
    let deadline = Some(deadline);
    match request {
        StoreRequest::Get(key) => ns.get_with(
            key,
            deadline,
            Box::new(move |r| done(r.map(|v| v.unwrap_or(Value::Undefined)).map_err(failed))),
        ),
        StoreRequest::List(query) => ns.list_with(
            query,
            deadline,
            Box::new(move |r| done(r.map(entries_value).map_err(failed))),
        ),
        StoreRequest::Count(range) => ns.count_with(
            range,
            deadline,
            Box::new(move |r| done(r.map(|n| Value::Number(n as f64)).map_err(failed))),
        ),
        StoreRequest::Write(batch) => ns.write_with(
            batch,
            deadline,
            Box::new(move |r| done(r.map(outcome_value).map_err(failed))),
        ),
    }
}

/// `[{key, value}, ...]`, keys as strings when they are UTF-8.
pub fn entries_value(entries: Vec<(Vec<u8>, Value)>) -> Value {
    Value::Array(
        entries
            .into_iter()
            .map(|(key, value)| {
                let key = match String::from_utf8(key) {
                    Ok(s) => Value::String(s),
                    Err(e) => Value::Bytes(e.into_bytes()),
                };
                Value::object([("key", key), ("value", value)])
            })
            .collect(),
    )
}

/// `{ok: true}` or `{ok: false, conflict: i}`.
pub fn outcome_value(outcome: WriteOutcome) -> Value {
    let mut pairs = vec![("ok".into(), Value::Bool(outcome.applied))];
    if let Some(i) = outcome.conflict {
        pairs.push(("conflict".into(), Value::Number(i as f64)));
    }
    Value::Object(pairs)
}
