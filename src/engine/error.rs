//! Errors that cross the engine boundary.

use std::fmt;
use std::time::Duration;

use crate::value::Value;

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

    /// The plain object the bootstrap turns back into an `Error` in the
    /// caller (`{name, message, stack, service, method}`).
    pub fn to_value(&self) -> Value {
        let opt = |s: &Option<String>| {
            s.as_ref()
                .map_or(Value::Undefined, |s| Value::from(s.as_str()))
        };
        Value::object([
            ("name", Value::from(self.name.as_str())),
            ("message", Value::from(self.message.as_str())),
            ("stack", opt(&self.stack)),
            ("service", opt(&self.service)),
            ("method", opt(&self.method)),
        ])
    }

    /// Reads an error record (`{name, message, stack?}`, as the bootstrap's
    /// `errorRecord` makes them); anything else is reported as thrown.
    pub fn from_record(record: &Value) -> JsError {
        let field = |name: &str| match record.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        match (field("name"), field("message")) {
            (None, None) => JsError::new("Error", "Uncaught error record"),
            (name, message) => {
                let mut error = JsError::new(
                    name.unwrap_or_else(|| "Error".to_owned()),
                    message.unwrap_or_default(),
                );
                error.stack = field("stack").filter(|s| !s.is_empty());
                error
            }
        }
    }

    /// Logs an exception nothing caught: a timer callback threw, or an
    /// event could not be delivered.
    pub(crate) fn log_uncaught(&self, service: &str) {
        let stack = self.stack.as_deref().unwrap_or_default();
        tracing::error!(target: "pyrosome::js", service, "uncaught {self}\n{stack}");
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

impl Fault {
    /// Whether the isolate stays usable after this fault. A run stopped for
    /// its CPU budget unwinds like an uncatchable exception: the isolate
    /// and every other invocation in it carry on, and only the invocation
    /// whose segment overran fails. A heap that reached its limit (which
    /// JavaScript may even have caught) or an engine failure leaves the
    /// isolate's state unknown: it is discarded.
    pub fn keeps_isolate(&self) -> bool {
        matches!(self, Fault::CpuBudget { .. })
    }
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
    /// The engine asked for is not in this build, or could not start.
    #[error("{0}")]
    Unavailable(String),
}

impl EngineError {
    /// A module failed to load with `error`: a syntax error names its file
    /// and line; anything else names the first `file:line` of its stack (or
    /// the entry module) and carries the stack.
    pub(crate) fn loading(error: JsError, entry: &str, at: Option<(String, u32)>) -> EngineError {
        let location = at.or_else(|| error.stack.as_deref().and_then(first_location));
        if error.name == "SyntaxError" {
            let (file, line) = location.unwrap_or_else(|| (entry.to_owned(), 0));
            return EngineError::Syntax {
                file,
                line,
                message: format!("{}: {}", error.name, error.message),
            };
        }
        let file = location.map_or_else(|| entry.to_owned(), |(f, l)| format!("{f}:{l}"));
        let mut message = format!("{}: {}", error.name, error.message);
        if let Some(stack) = error.stack.filter(|s| !s.trim().is_empty()) {
            message.push('\n');
            message.push_str(stack.trim_end());
        }
        EngineError::Evaluation { file, message }
    }
}

/// The first `file:line` of a stack trace (`at f (main.js:3:5)` or
/// `at main.js:3:5`) that is not native.
fn first_location(stack: &str) -> Option<(String, u32)> {
    stack.lines().find_map(|l| {
        let l = l.trim().strip_prefix("at ")?;
        let inner = l
            .rsplit_once('(')
            .map_or(l, |(_, r)| r.trim_end_matches(')'));
        let mut parts = inner.rsplitn(3, ':');
        let (col, line, file) = (parts.next()?, parts.next()?, parts.next()?);
        let (line, _) = (line.parse::<u32>().ok()?, col.parse::<u32>().ok()?);
        (file != "<native>" && !file.starts_with("pyrosome:")).then(|| (file.to_owned(), line))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_source_location_in_a_stack() {
        assert_eq!(
            first_location("    at <native>:1:1\n    at f (main.js:3:5)\n"),
            Some(("main.js".to_owned(), 3))
        );
        assert_eq!(
            first_location("Error: boom\n    at lib/x.js:12:1\n"),
            Some(("lib/x.js".to_owned(), 12))
        );
        assert_eq!(first_location("no stack here"), None);
    }

    #[test]
    fn error_records_round_trip() {
        let mut e = JsError::new("TypeError", "bad");
        e.stack = Some("    at f (a.js:1:2)".to_owned());
        let back = JsError::from_record(&e.to_value());
        assert_eq!(back, e);
        let odd = JsError::from_record(&Value::from("x"));
        assert_eq!(odd.name, "Error");
    }
}
