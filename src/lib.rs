//! Pyrosome: a runtime for fine-grained JavaScript microservices.
//!
//! One process hosts a whole application of small services, each in its own
//! JavaScript isolate, and gives them execution, communication, scheduling
//! and an HTTP front door. Start with `ARCHITECTURE.md`; the parts are:
//!
//! - [`app`]: reads and validates an app folder (manifest + modules);
//! - [`engine`]: the only code that knows a JavaScript engine;
//! - [`scheduler`]: worker threads, instances, mailboxes, run queues;
//! - [`gateway`]: the HTTP server that turns requests into invocations;
//! - [`outbound`]: the HTTP client behind `fetch()`, sandboxed by grants;
//! - [`store`]: the persistent ordered key-value store services share;
//! - [`value`]: the structured values that cross every boundary;
//! - [`top`]: `pyrosome top`, the live view of a running server.
//!
//! Dependencies point one way: `gateway → scheduler → engine → value`, and
//! `app` only produces the description the others are built from.

pub mod app;
pub mod cpu_clock;
pub mod engine;
pub mod gateway;
pub mod io;
pub mod metrics;
pub mod outbound;
pub mod runtime;
pub mod scheduler;
pub mod store;
pub mod top;
pub mod trace;
pub mod value;
pub mod watch;

pub use app::{App, Secrets};
pub use engine::{Engine, JsError};
pub use runtime::{Runtime, RuntimeError, RuntimeOptions};
pub use value::{Key, MAX_DEPTH, Value, Wtf16};
