//! Errors that cross the engine boundary.

use std::fmt;
use std::time::Duration;

use crate::value::{Key, Value};

/// How deep a chain of causes is carried (and read back): an error whose
/// `cause` is itself, or a chain longer than any real one, stops here.
pub const MAX_CAUSE_DEPTH: usize = 16;

/// How many characters of an error's own properties the report shows (the
/// log and `--dev` bodies); the properties themselves are kept whole.
const REPORT_PROPS_CHARS: usize = 1000;

/// A JavaScript exception, in engine-independent form: what a caller's
/// promise rejects with when a callee throws, and what an invocation
/// completes with when its handler throws.
///
/// Its record form ([`JsError::to_value`], [`JsError::from_record`]) is what
/// crosses between isolates:
///
/// ```text
/// { name, message,             strings
///   stack?,                    the frames where it was thrown ("    at f (file:line:col)" lines)
///   service?, method?,         the callee of the hop it is crossing
///   origin?: { service, method, file?, line? }   where it was first thrown
///   cause?: record,            its `cause`, recursively
///   props?: { key: value },    its own enumerable data properties that could be cloned
///   thrown?: [value] }         a thrown value that is not an Error (then name is
///                              "Error" and message describes the value)
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct JsError {
    /// The error's `name` (`"TypeError"`, `"Error"`, a custom name).
    pub name: String,
    /// The error's `message`, kept verbatim across calls.
    pub message: String,
    /// The JavaScript stack where it was thrown, if known (frames only,
    /// without the `Name: message` header V8 puts first).
    pub stack: Option<String>,
    /// The service whose method failed, once the error has crossed a call.
    /// (`Box<str>`, like `method`, keeps every `Result` that may hold an
    /// error as small as before origins and causes were added.)
    pub service: Option<Box<str>>,
    /// The method that failed, once the error has crossed a call.
    pub method: Option<Box<str>>,
    /// What is rarely there: origin, cause, properties, a thrown value.
    /// Boxed, so that an error (and every result that may be one) stays as
    /// small as it was without them.
    extra: Option<Box<Extra>>,
}

/// The parts of a [`JsError`] most errors do not have.
#[derive(Clone, Debug, Default, PartialEq)]
struct Extra {
    origin: Option<Origin>,
    cause: Option<JsError>,
    props: Vec<(Key, Value)>,
    thrown: Option<Value>,
}

/// Where an exception was first thrown: kept as it propagates through
/// callers that rethrow it, so that the log names the innermost service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    /// The service whose method threw it.
    pub service: String,
    /// That method.
    pub method: String,
    /// The first source location (`file`, 1-based line) of its stack.
    pub location: Option<(String, u32)>,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.service, self.method)?;
        if let Some((file, line)) = &self.location {
            write!(f, " at {file}:{line}")?;
        }
        Ok(())
    }
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
            extra: None,
        }
    }

    fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Where the exception was first thrown, once it has crossed a call.
    pub fn origin(&self) -> Option<&Origin> {
        self.extra.as_ref()?.origin.as_ref()
    }

    /// The error's `cause`: another error, or (see [`JsError::thrown`]) a
    /// value that is not one.
    pub fn cause(&self) -> Option<&JsError> {
        self.extra.as_ref()?.cause.as_ref()
    }

    /// The error's own enumerable data properties that could be cloned
    /// (`code`, `status`, ...), in their order.
    pub fn props(&self) -> &[(Key, Value)] {
        self.extra.as_ref().map_or(&[], |e| &e.props)
    }

    /// The value thrown, when it was not an Error (a string, a number, a
    /// plain object): a caller's promise rejects with a copy of it.
    pub fn thrown(&self) -> Option<&Value> {
        self.extra.as_ref()?.thrown.as_ref()
    }

    /// Sets the error's `cause`.
    pub fn with_cause(mut self, cause: JsError) -> Self {
        self.extra_mut().cause = Some(cause);
        self
    }

    /// Adds an own property (`code`, `status`, ...).
    pub fn with_prop(mut self, key: impl Into<Key>, value: Value) -> Self {
        self.extra_mut().props.push((key.into(), value));
        self
    }

    /// The record the bootstrap turns back into an `Error` (or, for a
    /// thrown value that was not one, into that value) in the caller; see
    /// the type's documentation for its fields.
    pub fn to_value(&self) -> Value {
        let mut pairs = vec![
            ("name".into(), Value::from(self.name.as_str())),
            ("message".into(), Value::from(self.message.as_str())),
        ];
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(value) = value {
                pairs.push((key.into(), value));
            }
        };
        put("stack", self.stack.as_deref().map(Value::from));
        put("service", self.service.as_deref().map(Value::from));
        put("method", self.method.as_deref().map(Value::from));
        if let Some(extra) = &self.extra {
            put("origin", extra.origin.as_ref().map(origin_value));
            put("cause", extra.cause.as_ref().map(JsError::to_value));
            if !extra.props.is_empty() {
                put("props", Some(Value::Object(extra.props.clone())));
            }
            put(
                "thrown",
                extra.thrown.as_ref().map(|v| Value::Array(vec![v.clone()])),
            );
        }
        Value::Object(pairs)
    }

    /// Reads an error record (as the bootstrap's `errorRecord` makes them,
    /// or [`JsError::to_value`]); anything else is reported as thrown.
    pub fn from_record(record: &Value) -> JsError {
        JsError::read_record(record, MAX_CAUSE_DEPTH)
    }

    fn read_record(record: &Value, depth: usize) -> JsError {
        let field = |name: &str| match record.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let (name, message) = match (field("name"), field("message")) {
            (None, None) => return JsError::new("Error", "Uncaught error record"),
            (name, message) => (
                name.unwrap_or_else(|| "Error".to_owned()),
                message.unwrap_or_default(),
            ),
        };
        let mut error = JsError::new(name, message);
        error.stack = field("stack").filter(|s| !s.is_empty());
        error.service = field("service").map(Into::into);
        error.method = field("method").map(Into::into);
        let origin = record.get("origin").and_then(read_origin);
        let cause = match record.get("cause") {
            Some(cause @ Value::Object(_)) if depth > 0 => {
                Some(JsError::read_record(cause, depth - 1))
            }
            _ => None,
        };
        let props = match record.get("props") {
            Some(Value::Object(pairs)) => pairs.clone(),
            _ => Vec::new(),
        };
        let thrown = match record.get("thrown") {
            Some(Value::Array(items)) if items.len() == 1 => items.first().cloned(),
            _ => None,
        };
        if origin.is_some() || cause.is_some() || !props.is_empty() || thrown.is_some() {
            error.extra = Some(Box::new(Extra {
                origin,
                cause,
                props,
                thrown,
            }));
        }
        error
    }

    /// Logs an exception nothing caught: a timer callback threw, or an
    /// event could not be delivered.
    pub(crate) fn log_uncaught(&self, service: &str) {
        tracing::error!(target: "pyrosome::js", service, "uncaught {}", self.report());
    }

    /// Records which service method failed (the callee of the hop the error
    /// is crossing). The first hop also records it as the origin, with the
    /// first source location of the stack, and so for every cause that
    /// has none (they were made in the same invocation).
    pub fn at(mut self, service: &str, method: &str) -> Self {
        self.mark_origin(service, method, MAX_CAUSE_DEPTH);
        self.service = Some(service.into());
        self.method = Some(method.into());
        self
    }

    fn mark_origin(&mut self, service: &str, method: &str, depth: usize) {
        if self.origin().is_none() {
            let location = self.stack.as_deref().and_then(first_location);
            self.extra_mut().origin = Some(Origin {
                service: service.to_owned(),
                method: method.to_owned(),
                location,
            });
        }
        if depth > 0
            && let Some(cause) = self.extra.as_mut().and_then(|e| e.cause.as_mut())
        {
            cause.mark_origin(service, method, depth - 1);
        }
    }

    /// The whole error for a person: the first line as [`Display`](fmt::Display)
    /// shows it, the stack, its own properties, then each cause
    /// (`Caused by: ...`) the same way. What the log and `--dev` 500
    /// bodies show.
    pub fn report(&self) -> String {
        let mut out = self.to_string();
        let mut error = self;
        for depth in 0..=MAX_CAUSE_DEPTH {
            if depth > 0 {
                out.push_str("\nCaused by: ");
                error.headline(&mut out, false);
            }
            if let Some(stack) = error.stack.as_deref().map(str::trim_end)
                && !stack.trim().is_empty()
            {
                out.push('\n');
                out.push_str(stack);
            }
            if !error.props().is_empty() {
                let json = Value::Object(error.props().to_vec()).to_json().to_string();
                out.push_str("\n    ");
                match json.char_indices().nth(REPORT_PROPS_CHARS) {
                    Some((cut, _)) => {
                        out.push_str(&json[..cut]);
                        out.push('…');
                    }
                    None => out.push_str(&json),
                }
            }
            match error.cause() {
                Some(cause) => error = cause,
                None => break,
            }
        }
        out
    }

    /// `Name: message (in s.m; thrown in origin)`; `hop` says whether the
    /// service and method of the hop are shown.
    fn headline(&self, out: &mut String, hop: bool) {
        use fmt::Write;
        if self.thrown().is_some() {
            out.push_str(&self.message);
        } else if self.message.is_empty() {
            out.push_str(&self.name);
        } else {
            let _ = write!(out, "{}: {}", self.name, self.message);
        }
        let hop = match (&self.service, &self.method) {
            (Some(s), Some(m)) if hop => Some((&**s, &**m)),
            _ => None,
        };
        match (hop, self.origin()) {
            (Some((s, m)), Some(o)) if o.service == s && o.method == m => {
                let _ = write!(out, " (in {o})");
            }
            (Some((s, m)), Some(o)) => {
                let _ = write!(out, " (in {s}.{m}; thrown in {o})");
            }
            (Some((s, m)), None) => {
                let _ = write!(out, " (in {s}.{m})");
            }
            (None, Some(o)) => {
                let _ = write!(out, " (thrown in {o})");
            }
            (None, None) => {}
        }
    }
}

fn origin_value(origin: &Origin) -> Value {
    let mut pairs = vec![
        ("service".into(), Value::from(origin.service.as_str())),
        ("method".into(), Value::from(origin.method.as_str())),
    ];
    if let Some((file, line)) = &origin.location {
        pairs.push(("file".into(), Value::from(file.as_str())));
        pairs.push(("line".into(), Value::Number(f64::from(*line))));
    }
    Value::Object(pairs)
}

fn read_origin(value: &Value) -> Option<Origin> {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    let location = match (text("file"), value.get("line").and_then(Value::as_f64)) {
        (Some(file), Some(line)) if line >= 1.0 && line <= f64::from(u32::MAX) => {
            Some((file, line as u32))
        }
        _ => None,
    };
    Some(Origin {
        service: text("service")?,
        method: text("method")?,
        location,
    })
}

impl fmt::Display for JsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = String::new();
        self.headline(&mut line, true);
        f.write_str(&line)
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

        // Everything an error may carry survives its record.
        let mut inner = JsError::new("Error", "just a value");
        inner.extra_mut().thrown = Some(Value::from("v"));
        let mut rich = JsError::new("RangeError", "out")
            .with_cause(JsError::new("TypeError", "root").with_cause(inner))
            .with_prop("code", Value::from("E"))
            .with_prop("n", Value::Number(-0.0));
        rich.stack = Some("    at f (c.js:3:9)".to_owned());
        let rich = rich.at("c", "m").at("b", "n");
        let back = JsError::from_record(&rich.to_value());
        assert_eq!(back, rich);
        assert_eq!(
            back.cause()
                .and_then(JsError::cause)
                .and_then(JsError::thrown),
            Some(&Value::from("v"))
        );
    }

    #[test]
    fn the_first_hop_is_the_origin_and_reports_show_the_chain() {
        let mut e = JsError::new("TypeError", "boom").with_cause(JsError::new("Error", "root"));
        e.stack = Some("    at <native>:1:1\n    at deep (c.js:3:11)".to_owned());
        let e = e.at("c", "deep");
        assert_eq!(e.to_string(), "TypeError: boom (in c.deep at c.js:3)");
        let e = e.at("b", "relay");
        let origin = e.origin().expect("origin");
        assert_eq!(
            (origin.service.as_str(), origin.method.as_str()),
            ("c", "deep")
        );
        assert_eq!(origin.location, Some(("c.js".to_owned(), 3)));
        assert_eq!(
            e.to_string(),
            "TypeError: boom (in b.relay; thrown in c.deep at c.js:3)"
        );
        assert_eq!(
            e.with_prop("code", Value::Number(7.0)).report(),
            "TypeError: boom (in b.relay; thrown in c.deep at c.js:3)\n    at <native>:1:1\n    \
             at deep (c.js:3:11)\n    {\"code\":7}\nCaused by: Error: root (thrown in c.deep)"
        );
        // A cycle of causes cannot be built in Rust, but a long chain is cut.
        let mut long = JsError::new("Error", "0");
        for i in 1..100 {
            long = JsError::new("Error", i.to_string()).with_cause(long);
        }
        let back = JsError::from_record(&long.to_value());
        let mut depth = 0;
        let mut at = &back;
        while let Some(c) = at.cause() {
            at = c;
            depth += 1;
        }
        assert_eq!(depth, MAX_CAUSE_DEPTH);
        assert_eq!(long.report().matches("Caused by").count(), MAX_CAUSE_DEPTH);
    }

    #[test]
    fn an_error_costs_results_no_more_than_before_causes_and_origins() {
        // `Result<Payload, JsError>` is in every completion and reply; what
        // errors rarely have is boxed. 120 bytes was the size before.
        assert!(
            std::mem::size_of::<JsError>() <= 120,
            "{}",
            std::mem::size_of::<JsError>()
        );
    }
}
