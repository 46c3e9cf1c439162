//! Secrets: the values of the names an app declares with
//! `secrets = ["NAME", ...]` in its manifest.
//!
//! A secret's value is never in the manifest. It is supplied when the app
//! starts, from the process environment (`NAME=value pyrosome serve ...`)
//! or from a secrets file (`--secrets FILE`), and reaches JavaScript only in
//! `env`. Values are never logged, never shown in `/admin/status`, and never
//! repeated in an error message: [`Secrets`]'s `Debug` lists names only, and
//! a malformed secrets file is reported by line number, not content.
//!
//! # The secrets file
//!
//! Dotenv syntax, the same as Wrangler's `.dev.vars` (so one file can serve
//! both, and the lines are what one would `export` in a shell):
//!
//! ```text
//! # a comment
//! JWT_SECRET=s3cr3t
//! export API_KEY=abc        # `export ` is allowed and ignored
//! GREETING="hello world\n"  # double quotes: \n \r \t \" \\ escapes
//! RAW='no $escapes here'    # single quotes: taken literally
//! ```
//!
//! Unquoted values end at the end of the line or at ` #`, and are trimmed.
//! A name set both in the environment and in the file takes the
//! environment's value (as dotenv tools do), so a deployment can override
//! a file without editing it.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where secret values come from; see the module documentation.
#[derive(Clone, Default)]
pub struct Secrets {
    /// Values given directly (embedders and tests); checked first.
    given: BTreeMap<String, String>,
    /// Whether the process environment is consulted.
    environment: bool,
    /// The secrets file, if any, and what it defines.
    file: Option<(PathBuf, Arc<BTreeMap<String, String>>)>,
}

/// A secrets file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// The file cannot be read.
    #[error("cannot read the secrets file {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A line is not `NAME=value`. The line itself is not shown: it may
    /// hold a secret.
    #[error("{}:{line}: {problem} (expected NAME=value, NAME=\"value\" or NAME='value')", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, without the line's content.
        problem: &'static str,
    },
}

impl Secrets {
    /// No secrets at all: every declared secret is missing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Secrets looked up in the process environment (what `pyrosome serve`
    /// uses, plus [`with_file`](Self::with_file) for `--secrets`).
    pub fn from_environment() -> Self {
        Secrets {
            environment: true,
            ..Self::default()
        }
    }

    /// Adds secret `name` with `value`, which takes precedence over the
    /// environment and the file.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.given.insert(name.into(), value.into());
        self
    }

    /// Reads the dotenv-style secrets file at `path` (see the module
    /// documentation); its values come after the environment's.
    pub fn with_file(mut self, path: &Path) -> Result<Self, SecretsError> {
        let text = fs::read_to_string(path).map_err(|source| SecretsError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let values = parse_dotenv(&text).map_err(|(line, problem)| SecretsError::Syntax {
            path: path.to_path_buf(),
            line,
            problem,
        })?;
        self.file = Some((path.to_path_buf(), Arc::new(values)));
        Ok(self)
    }

    /// The value of secret `name`: given, else from the environment, else
    /// from the file.
    pub fn get(&self, name: &str) -> Option<String> {
        if let Some(v) = self.given.get(name) {
            return Some(v.clone());
        }
        if self.environment
            && let Some(v) = std::env::var_os(name)
        {
            return Some(v.to_string_lossy().into_owned());
        }
        self.file.as_ref().and_then(|(_, f)| f.get(name).cloned())
    }

    /// Where a missing secret `name` was looked for, for the error that
    /// says it is missing ("the environment variable X and the secrets file
    /// F"), with a "did you mean" for a near name found there.
    pub fn looked_for(&self, name: &str) -> String {
        let mut places = Vec::new();
        if !self.given.is_empty() {
            places.push("the secrets given to the runtime".to_owned());
        }
        if self.environment {
            places.push(format!("the environment variable {name}"));
        }
        if let Some((path, _)) = &self.file {
            places.push(format!("the secrets file {}", path.display()));
        }
        let mut text = match places.len() {
            0 => "no secrets were supplied (set the environment variable or pass --secrets FILE)"
                .to_owned(),
            _ => format!("looked for {}", places.join(" and ")),
        };
        let known: Vec<&str> = self
            .given
            .keys()
            .chain(self.file.iter().flat_map(|(_, f)| f.keys()))
            .map(String::as_str)
            .collect();
        let hint = super::manifest::did_you_mean(name, &known);
        if !hint.is_empty() {
            text.push_str(&format!(" (found other names{hint})"));
        }
        text
    }
}

impl fmt::Debug for Secrets {
    /// Names and sources only, never values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("given", &self.given.keys().collect::<Vec<_>>())
            .field("environment", &self.environment)
            .field(
                "file",
                &self
                    .file
                    .as_ref()
                    .map(|(p, v)| (p, v.keys().collect::<Vec<_>>())),
            )
            .finish()
    }
}

/// Parses dotenv text into name → value; `Err((line, problem))`.
fn parse_dotenv(text: &str) -> Result<BTreeMap<String, String>, (usize, &'static str)> {
    let mut values = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((name, rest)) = line.split_once('=') else {
            return Err((line_no, "no '=' on this line"));
        };
        let name = name.trim();
        if name.is_empty()
            || name.starts_with(|c: char| c.is_ascii_digit())
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err((
                line_no,
                "the name must be letters, digits and '_', not starting with a digit",
            ));
        }
        let rest = rest.trim_start();
        let value = if let Some(body) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = body.chars();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '"' => {
                        closed = true;
                        break;
                    }
                    '\\' => match chars.next() {
                        Some('n') => out.push('\n'),
                        Some('r') => out.push('\r'),
                        Some('t') => out.push('\t'),
                        Some(c @ ('"' | '\\' | '$')) => out.push(c),
                        Some(c) => {
                            out.push('\\');
                            out.push(c);
                        }
                        None => break,
                    },
                    c => out.push(c),
                }
            }
            if !closed {
                return Err((line_no, "unterminated double-quoted value"));
            }
            trailing(chars.as_str()).map_err(|p| (line_no, p))?;
            out
        } else if let Some(body) = rest.strip_prefix('\'') {
            let Some((inner, after)) = body.split_once('\'') else {
                return Err((line_no, "unterminated single-quoted value"));
            };
            trailing(after).map_err(|p| (line_no, p))?;
            inner.to_owned()
        } else {
            let end = rest.find(" #").unwrap_or(rest.len());
            rest[..end].trim_end().to_owned()
        };
        values.insert(name.to_owned(), value);
    }
    Ok(values)
}

/// What may follow a quoted value: nothing or a comment.
fn trailing(after: &str) -> Result<(), &'static str> {
    let after = after.trim();
    if after.is_empty() || after.starts_with('#') {
        Ok(())
    } else {
        Err("unexpected text after the closing quote")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_syntax() {
        let text = "# comment\n\nA=1\nexport B = two words # note\nC=\"x\\ny \\\"q\\\"\" # c\nD='raw \\n $x'\nE=\nF=a#b\n";
        let v = parse_dotenv(text).expect("parses");
        assert_eq!(v["A"], "1");
        assert_eq!(v["B"], "two words");
        assert_eq!(v["C"], "x\ny \"q\"");
        assert_eq!(v["D"], "raw \\n $x");
        assert_eq!(v["E"], "");
        assert_eq!(v["F"], "a#b");
        assert_eq!(parse_dotenv("A=1\nnope\n"), Err((2, "no '=' on this line")));
        assert_eq!(
            parse_dotenv("A=\"open\n").map_err(|e| e.0),
            Err(1),
            "unterminated"
        );
        assert!(parse_dotenv("1A=x").is_err());
        assert!(parse_dotenv("A='x' y").is_err());
    }

    #[test]
    fn syntax_errors_do_not_show_the_line() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("secrets.env");
        fs::write(&path, "OK=1\nhunter2-is-my-password\n").expect("write");
        let e = Secrets::new()
            .with_file(&path)
            .expect_err("bad line")
            .to_string();
        assert!(e.starts_with(&format!("{}:2: ", path.display())), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn precedence_and_where_looked() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let path = tmp.path().join("secrets.env");
        fs::write(&path, "FROM_FILE=f\nGIVEN=file\nJWT_SECRT=x\n").expect("write");
        let s = Secrets::new()
            .with("GIVEN", "given")
            .with_file(&path)
            .expect("reads");
        assert_eq!(s.get("GIVEN").as_deref(), Some("given"));
        assert_eq!(s.get("FROM_FILE").as_deref(), Some("f"));
        assert_eq!(s.get("PATH"), None, "the environment is not consulted");
        let looked = s.looked_for("JWT_SECRET");
        assert!(looked.contains(&path.display().to_string()), "{looked}");
        assert!(looked.contains("did you mean \"JWT_SECRT\""), "{looked}");
        let debug = format!("{s:?}");
        assert!(
            debug.contains("GIVEN") && !debug.contains("given\""),
            "{debug}"
        );
        assert!(!debug.contains("\"f\""), "{debug}");

        let env = Secrets::from_environment();
        assert!(
            env.get("PATH").is_some(),
            "PATH is in every test environment"
        );
        assert!(
            env.looked_for("NOPE_X")
                .contains("the environment variable NOPE_X")
        );
        assert!(
            Secrets::new()
                .looked_for("X")
                .contains("no secrets were supplied")
        );
    }
}
