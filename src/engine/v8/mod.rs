//! The V8 backend (cargo feature `v8`): V8 10.2 from Debian's libnode,
//! through a small C++ shim. It runs the same JavaScript (`js/`) as the
//! QuickJS backend and answers the same host operations, so services behave
//! the same on both; V8's JIT makes compute-heavy handlers much faster,
//! at the price of a slower, larger isolate start. See `docs/v8.md`.
//!
//! - `isolate` — one isolate driven by events, with CPU and memory limits;
//! - `host` — the host operations, over lazily decoded arguments; a call's
//!   argument and an invocation's result pass through as wire bytes
//!   ([`Payload::Wire`](crate::engine::Payload));
//! - `ffi` — the backend's only `unsafe` code, with its invariants;
//! - `shim.cc` — the C++ half (compiled by `build.rs`);
//! - `codec.js` — the value codec (JavaScript ⇄ the wire format of
//!   `engine::wire`), which the shim runs in every isolate first.
//!
//! CPU budgets are enforced by the engine-wide watchdog (`engine::watchdog`).

mod ffi;
mod host;
mod isolate;

use crate::engine::{Engine, EngineError, Isolate, IsolateConfig};

/// The V8 engine.
#[derive(Debug, Clone, Copy)]
pub struct V8 {
    version: &'static str,
}

impl V8 {
    /// Initializes V8 (once per process).
    pub fn new() -> Result<V8, EngineError> {
        Ok(V8 {
            version: ffi::init(),
        })
    }

    /// The V8 version, e.g. `10.2.154.26-node.36`.
    pub fn version(&self) -> &'static str {
        self.version
    }
}

impl Engine for V8 {
    fn name(&self) -> &'static str {
        "v8"
    }

    fn instantiate(&self, config: &IsolateConfig) -> Result<Box<dyn Isolate>, EngineError> {
        Ok(Box::new(isolate::V8Isolate::new(config)?))
    }
}
