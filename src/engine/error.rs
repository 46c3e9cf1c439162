//! Errors that cross the engine boundary.

use std::fmt;
use std::time::Duration;

/// A JavaScript exception, in engine-independent form: what a caller's
/// promise rejects with when a callee throws, and what an invocation
/// completes with when its handler throws.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsError {
    /// The error's `name` (`"TypeError"`, `"Error"`, a custom name).
    pub name: String,
    /// The error's `message`, kept verbatim across calls.
    pub message: String,
    /// The JavaScript stack where it was thrown, if known.
    pub stack: Option<String>,
    /// The service whose method failed, once the error has crossed a call.
    pub service: Option<String>,
    /// The method that failed, once the error has crossed a call.
    pub method: Option<String>,
}

impl JsError {
    /// An error with a name and message and nothing else.
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        JsError {
            name: name.into(),
            message: message.into(),
            stack: None,
            service: None,
            method: None,
        }
    }

    /// Records which service method failed (the callee of the hop the error
    /// is crossing).
    pub fn at(mut self, service: &str, method: &str) -> Self {
        self.service = Some(service.to_owned());
        self.method = Some(method.to_owned());
        self
    }
}

impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)?;
        if let (Some(s), Some(m)) = (&self.service, &self.method) {
            write!(f, " (in {s}.{m})")?;
        }
        Ok(())
    }
}

impl std::error::Error for JsError {}

/// Why an isolate became unusable while handling an event. The isolate must
/// be discarded and every invocation in flight in it failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Fault {
    /// JavaScript ran longer than the CPU budget without yielding.
    #[error("interrupted: ran longer than its CPU budget of {} ms", budget.as_millis())]
    CpuBudget {
        /// The budget that was exceeded.
        budget: Duration,
    },
    /// The isolate's heap reached its limit.
    #[error("out of memory: the isolate reached its heap limit of {limit_mb} MiB")]
    OutOfMemory {
        /// The limit that was reached.
        limit_mb: usize,
    },
    /// The engine failed in a way that leaves the isolate's state unknown.
    #[error("engine failure: {0}")]
    Internal(String),
}

/// Why an isolate could not be created.
#[derive(Clone, Debug, thiserror::Error)]
pub enum EngineError {
    /// A module failed to parse.
    #[error("{file}:{line}: {message}")]
    Syntax {
        /// The module's file.
        file: String,
        /// 1-based line, 0 when unknown.
        line: u32,
        /// The engine's message (`SyntaxError: …`).
        message: String,
    },
    /// A module threw while evaluating its top level, or an import failed.
    #[error("{file}: error while loading module: {message}")]
    Evaluation {
        /// The module (or the entry module, when the failing one is unknown).
        file: String,
        /// The error, with its JavaScript stack when there is one.
        message: String,
    },
    /// The engine could not allocate a runtime or context.
    #[error("cannot create isolate: {0}")]
    Create(String),
}
