//! Errors of the store, with the context a person needs to act on them.

use std::path::PathBuf;

/// An error of the store. Keys are shown escaped (see [`display_key`]).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store folder or file could not be opened (permissions, not a folder, …).
    #[error("cannot open store {}: {message}", path.display())]
    Open { path: PathBuf, message: String },
    /// The store file is damaged, was not written by this store, or has an unknown format.
    #[error("store file {} is damaged or not a Pyrosome store: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
    /// Another process (or another `Store` in this process) has the store open.
    #[error("store file {} is already open (by this or another process)", path.display())]
    AlreadyOpen { path: PathBuf },
    /// The storage engine failed at run time (I/O error, full disk, …).
    #[error("store {}: {message}", path.display())]
    Engine { path: PathBuf, message: String },
    /// A store on a database server (PostgreSQL) that failed: unreachable at start, gone away,
    /// too slow for the deadline, or refusing a statement.
    #[error("store {store:?} on PostgreSQL at {host}: {message}")]
    Remote {
        /// The store's name.
        store: String,
        /// `host:port/dbname` (never the user or password).
        host: String,
        message: String,
    },
    /// The store has been closed.
    #[error("store {} is closed", path.display())]
    Closed { path: PathBuf },
    /// A namespace name that cannot be used.
    #[error("invalid namespace name {name:?}: {reason}")]
    InvalidNamespace { name: String, reason: &'static str },
    /// A key longer than [`super::MAX_KEY_LEN`].
    #[error("key {key} in namespace {namespace:?} is {len} bytes long; the limit is {max}")]
    KeyTooLarge {
        namespace: String,
        key: String,
        len: usize,
        max: usize,
    },
    /// A value whose encoding is longer than [`super::MAX_VALUE_LEN`], or that cannot be encoded.
    #[error("value of key {key} in namespace {namespace:?} cannot be stored: {reason}")]
    InvalidValue {
        namespace: String,
        key: String,
        reason: String,
    },
    /// Stored bytes that do not decode as a value.
    #[error("value of key {key} in namespace {namespace:?} cannot be decoded: {reason}")]
    Decode {
        namespace: String,
        key: String,
        reason: String,
    },
    /// A tagged-JSON value (backup format, CLI) that is not valid.
    #[error("invalid tagged JSON value: {0}")]
    TaggedJson(String),
    /// A backup line that cannot be imported.
    #[error("backup line {line}: {message}")]
    BackupLine { line: u64, message: String },
    /// Reading or writing a backup stream failed.
    #[error("backup I/O: {0}")]
    BackupIo(#[from] std::io::Error),
}

/// Shows a key for error messages: a UTF-8 key as a quoted, escaped string, any other key as
/// `b"..."` with non-printable bytes escaped; long keys are cut to about 120 characters.
pub fn display_key(key: &[u8]) -> String {
    const MAX: usize = 120;
    let mut shown = match std::str::from_utf8(key) {
        Ok(s) => format!("{s:?}"),
        Err(_) => format!("b\"{}\"", key.escape_ascii()),
    };
    if shown.len() > MAX {
        let mut cut = MAX;
        while !shown.is_char_boundary(cut) {
            cut -= 1;
        }
        shown.truncate(cut);
        shown.push_str(&format!("…({} bytes)", key.len()));
    }
    shown
}

/// Maps an engine error to a [`StoreError`] naming the store file.
pub(crate) fn engine(path: &std::path::Path, e: impl Into<redb::Error>) -> StoreError {
    let e: redb::Error = e.into();
    let path = path.to_path_buf();
    match e {
        redb::Error::DatabaseAlreadyOpen => StoreError::AlreadyOpen { path },
        redb::Error::Corrupted(message) => StoreError::Corrupt { path, message },
        redb::Error::UpgradeRequired(v) => StoreError::Corrupt {
            path,
            message: format!("the engine file format {v} is not supported by this build"),
        },
        other => StoreError::Engine {
            path,
            message: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_shown_escaped() {
        assert_eq!(display_key(b"user/1"), "\"user/1\"");
        assert_eq!(display_key("é\n".as_bytes()), "\"é\\n\"");
        assert_eq!(display_key(&[0xFF, b'a', 0]), "b\"\\xffa\\x00\"");
        let long = display_key(&[b'x'; 1000]);
        assert!(long.len() < 200 && long.ends_with("(1000 bytes)"), "{long}");
    }
}
