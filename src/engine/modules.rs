//! The module sources of an app, as the engine sees them.
//!
//! The app loader reads every JavaScript file of the app once at startup and
//! hands the engine a [`Modules`] map from specifier to source. The engine
//! resolves `import` statements only against this map (plus the builtin
//! [`BUILTIN_MODULE`]): no isolate ever reads the filesystem, which is half of
//! the sandbox.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// The name under which services import Pyrosome's API:
/// `import { services, store } from "pyrosome"`.
pub const BUILTIN_MODULE: &str = "pyrosome";

/// Source of the builtin module. It takes the internals the bootstrap left
/// on the global object and removes them, so user code cannot reach them
/// except through `import`. Evaluated before any user module, by every backend.
pub(crate) const BUILTIN_SOURCE: &str = r#"
const internal = globalThis.__pyrosome_internal;
delete globalThis.__pyrosome_internal;
export const services = internal.services;
export const store = internal.store;
export const env = internal.env;
export default internal;
"#;

/// One JavaScript module of an app.
#[derive(Clone, Debug)]
pub struct ModuleSource {
    /// Where it was read from, for error messages.
    pub path: PathBuf,
    /// The source text.
    pub source: Arc<str>,
}

/// Every module of an app, keyed by specifier: the path relative to the app
/// folder with `/` separators and no leading `./` (`"lib/util.js"`).
#[derive(Clone, Debug, Default)]
pub struct Modules {
    by_specifier: BTreeMap<String, ModuleSource>,
}

impl Modules {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a module under a normalised specifier (see [`Modules`]).
    pub fn insert(&mut self, specifier: impl Into<String>, module: ModuleSource) {
        self.by_specifier.insert(specifier.into(), module);
    }

    /// The module with this specifier.
    pub fn get(&self, specifier: &str) -> Option<&ModuleSource> {
        self.by_specifier.get(specifier)
    }

    /// All specifiers, sorted.
    pub fn specifiers(&self) -> impl Iterator<Item = &str> {
        self.by_specifier.keys().map(String::as_str)
    }

    /// Resolves `import name` written in module `base` to a specifier of
    /// this set. Only relative imports (`./x.js`, `../lib/x.js`) and the
    /// builtin module are allowed; a path that climbs out of the app folder
    /// or names no module of the app is `None`.
    pub fn resolve(&self, base: &str, name: &str) -> Option<String> {
        if name == BUILTIN_MODULE {
            return Some(name.to_owned());
        }
        if !(name.starts_with("./") || name.starts_with("../")) {
            return None;
        }
        let mut parts: Vec<&str> = base.split('/').collect();
        parts.pop(); // the base file itself
        for segment in name.split('/') {
            match segment {
                "" | "." => {}
                ".." => {
                    parts.pop()?;
                }
                other => parts.push(other),
            }
        }
        let specifier = parts.join("/");
        self.by_specifier
            .contains_key(&specifier)
            .then_some(specifier)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> Modules {
        let mut m = Modules::new();
        for n in names {
            m.insert(
                *n,
                ModuleSource {
                    path: PathBuf::from(n),
                    source: Arc::from(""),
                },
            );
        }
        m
    }

    #[test]
    fn resolves_relative_imports_inside_the_app_only() {
        let m = set(&["main.js", "lib/util.js", "lib/deep/x.js"]);
        assert_eq!(
            m.resolve("main.js", "./lib/util.js").as_deref(),
            Some("lib/util.js")
        );
        assert_eq!(
            m.resolve("lib/deep/x.js", "../util.js").as_deref(),
            Some("lib/util.js")
        );
        assert_eq!(
            m.resolve("lib/util.js", "../main.js").as_deref(),
            Some("main.js")
        );
        assert_eq!(
            m.resolve("main.js", "../main.js"),
            None,
            "climbs out of the app"
        );
        assert_eq!(m.resolve("main.js", "./missing.js"), None);
        assert_eq!(
            m.resolve("main.js", "fs"),
            None,
            "bare specifiers are not files"
        );
        assert_eq!(m.resolve("main.js", "/etc/passwd"), None);
        assert_eq!(
            m.resolve("main.js", "pyrosome").as_deref(),
            Some("pyrosome")
        );
    }
}
