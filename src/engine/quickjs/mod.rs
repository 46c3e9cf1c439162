//! The QuickJS backend (QuickJS-ng through `rquickjs`): Pyrosome's embedded
//! default engine. It builds with cargo alone and starts an isolate in well
//! under a millisecond.
//!
//! - [`isolate`](self) — one runtime + context + module, driven by events;
//! - `host` — the host operations the shared JavaScript calls;
//! - `convert` — values crossing the isolate's edge, as payloads or
//!   [`Value`](crate::value::Value)s;
//! - `wire` — JavaScript values to and from the wire format, in one pass;
//! - `loader` — module resolution against the app's in-memory sources;
//! - `ffi` — the backend's only `unsafe` code, with its invariants.

mod convert;
mod ffi;
mod host;
mod isolate;
mod loader;
mod wire;

use crate::engine::{Engine, EngineError, Isolate, IsolateConfig};

/// The QuickJS engine.
#[derive(Debug, Default, Clone, Copy)]
pub struct QuickJs;

impl QuickJs {
    /// The engine; it has no global state.
    pub fn new() -> Self {
        QuickJs
    }
}

impl Engine for QuickJs {
    fn name(&self) -> &'static str {
        "quickjs"
    }

    fn instantiate(&self, config: &IsolateConfig) -> Result<Box<dyn Isolate>, EngineError> {
        Ok(Box::new(isolate::QjsIsolate::new(config)?))
    }
}
