//! Why a JavaScript value cannot cross a service boundary: the refusal
//! every backend's conversion produces, and the one message format users
//! see for it (`the argument of user.login().tags[2] is a function, ...`).

/// Deepest nesting accepted when converting a value: the one limit of
/// every value ([`crate::value::MAX_DEPTH`], which says what counts).
pub(crate) const MAX_DEPTH: usize = crate::value::MAX_DEPTH;

/// What an encoder reports for a value nested past [`MAX_DEPTH`].
pub(crate) use crate::value::TOO_DEEP;

/// Why a JavaScript value cannot be converted; the message is complete and
/// becomes the message of a `TypeError` (or of a `DataCloneError`).
#[derive(Debug)]
pub(crate) struct CloneError(pub(crate) String);

/// A refusal on its way up from where it happened. The path to the
/// offending value is assembled only on this error path, segment by
/// segment as the recursion unwinds, so the common case allocates nothing
/// for it.
#[derive(Clone, Debug)]
pub(crate) struct Refusal {
    /// Path segments, innermost first (`[2]`, `.tags`, `.user`).
    pub(crate) path: Vec<String>,
    /// What was found, completing "… is {found}".
    pub(crate) found: String,
}

impl Refusal {
    pub(crate) fn new(found: impl Into<String>) -> Refusal {
        Refusal {
            path: Vec::new(),
            found: found.into(),
        }
    }

    pub(crate) fn within(mut self, segment: String) -> Refusal {
        self.path.push(segment);
        self
    }

    pub(crate) fn into_error(self, what: &str) -> CloneError {
        let mut path = String::from(what);
        path.push_str(&crate::value::path_text(
            self.path.iter().rev().map(String::as_str),
        ));
        let found = self.found;
        if found == TOO_DEEP {
            return CloneError(crate::value::too_deep_message(&path));
        }
        if found.starts_with("refers back") {
            return CloneError(format!(
                "{path} {found}, which cannot be passed between services or stored"
            ));
        }
        CloneError(format!(
            "{path} is {found}, which cannot be passed between services or stored (allowed: \
             undefined, null, boolean, number, bigint, string, array, plain object, Uint8Array)"
        ))
    }
}
