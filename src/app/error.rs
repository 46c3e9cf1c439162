//! Errors of the app loader.
//!
//! Every error names the file it is about. Manifest errors additionally carry
//! the 1-based line and column and the dotted field path
//! (`services.frontend.module`), and display as
//! `{file}:{line}:{col}: {field}: {message}` — the format editors and
//! terminals turn into clickable locations.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why an app could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The app folder does not exist or cannot be opened.
    #[error("cannot open app folder {}: {source}", dir.display())]
    AppDir {
        /// The folder that was given.
        dir: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },

    /// The path given as the app folder is a file (and not a `pyrosome.toml`).
    #[error(
        "{} is not a folder: an app is a folder holding a pyrosome.toml manifest and JavaScript modules",
        path.display()
    )]
    NotAFolder {
        /// The path that was given.
        path: PathBuf,
    },

    /// The app folder has no `pyrosome.toml`.
    #[error(
        "{} is not a Pyrosome app: expected a manifest at {} (see docs/manifest.md)",
        dir.display(),
        expected.display()
    )]
    MissingManifest {
        /// The app folder.
        dir: PathBuf,
        /// The manifest path that was looked for.
        expected: PathBuf,
    },

    /// A file (the manifest, a module, or a folder while collecting modules)
    /// could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },

    /// The manifest or a JavaScript module is not valid UTF-8, or a module's
    /// path inside the app folder is not.
    #[error("{}: not valid UTF-8 ({what} must be UTF-8 text)", path.display())]
    NotUtf8 {
        /// The offending file.
        path: PathBuf,
        /// What had to be UTF-8: "the manifest", "a module", "a module's path".
        what: &'static str,
    },

    /// Module sources that cannot be used: TypeScript that cannot be
    /// stripped, imports of packages that cannot be resolved. One entry
    /// per problem.
    #[error("{}", render_all(.errors))]
    Sources {
        /// Every problem found (never empty).
        errors: Vec<SourceError>,
    },

    /// The manifest is not valid: one entry per problem found, in file order.
    #[error("{}", render_all(.errors))]
    Manifest {
        /// Every problem found (never empty).
        errors: Vec<ManifestError>,
    },
}

/// One problem in `pyrosome.toml`, with its location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The manifest file, as the user named it.
    pub file: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// 1-based column (in characters), when the problem has a place in the file.
    pub column: Option<usize>,
    /// Dotted path of the field (`services.frontend.limits.cpu_ms`); empty
    /// for TOML syntax errors.
    pub field: String,
    /// What is wrong, and where possible how to fix it.
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        f.write_str(": ")?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

fn render_all<E: fmt::Display>(errors: &[E]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A problem in a module source (or an import it makes), at a position.
/// Displays as `{file}:{line}:{col}: {message}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceError {
    /// The module.
    pub path: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for SourceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path.display(),
            self.line,
            self.column,
            self.message
        )
    }
}
