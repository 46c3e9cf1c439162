//! The module sources of an app, as the engine sees them.
//!
//! The app loader reads every JavaScript (and TypeScript, types stripped)
//! file of the app once at startup, plus the npm package files its services
//! import, and hands the engine a [`Modules`] map from specifier to source,
//! with the bare imports it resolved as links. The engine resolves `import`
//! statements only against this map (plus the builtin [`BUILTIN_MODULE`]): no
//! isolate ever reads the filesystem, which is half of the sandbox.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

/// The name under which services import Pyrosome's API:
/// `import { services, store, env } from "pyrosome"`.
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
    /// Bare imports resolved when the app loaded (`app::packages`):
    /// (importing specifier, bare name) → the package file's specifier.
    links: HashMap<(String, String), String>,
    /// `import("literal")`s found unresolvable when the app loaded, with
    /// why: refused when they run.
    refused: HashMap<(String, String), String>,
}

/// Node.js built-in modules (without the `node:` prefix): named in the
/// error that says they are not available.
const NODE_BUILTINS: &[&str] = &[
    "assert",
    "async_hooks",
    "buffer",
    "child_process",
    "cluster",
    "console",
    "constants",
    "crypto",
    "dgram",
    "diagnostics_channel",
    "dns",
    "domain",
    "events",
    "fs",
    "http",
    "http2",
    "https",
    "inspector",
    "module",
    "net",
    "os",
    "path",
    "perf_hooks",
    "process",
    "punycode",
    "querystring",
    "readline",
    "repl",
    "sqlite",
    "stream",
    "string_decoder",
    "sys",
    "test",
    "timers",
    "tls",
    "trace_events",
    "tty",
    "url",
    "util",
    "v8",
    "vm",
    "wasi",
    "worker_threads",
    "zlib",
];

/// Whether `name` names a Node.js built-in module (`node:fs`, `fs`,
/// `fs/promises`, ...).
pub fn is_node_builtin(name: &str) -> bool {
    if name.starts_with("node:") {
        return true;
    }
    let first = name.split('/').next().unwrap_or(name);
    NODE_BUILTINS.contains(&first)
}

/// Why import `name` could not be resolved, in general.
fn unresolved_reason(name: &str) -> &'static str {
    if name.starts_with("./") || name.starts_with("../") {
        "no such file in the app (imports cannot leave the app folder)"
    } else if is_node_builtin(name) {
        "Node built-in modules are not available (Pyrosome runs Web-standard JavaScript)"
    } else if name.starts_with('/') || name.contains(':') {
        "only the app's own files (\"./x.js\"), packages in its node_modules and \"pyrosome\" can be imported"
    } else {
        "packages are resolved from node_modules when the app loads, for imports written with \
         a string literal; this import was not among them (a computed import() cannot name a package)"
    }
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

    /// Why import `name` of module `base` does not resolve, for the
    /// engines' messages.
    pub fn why_unresolved(&self, base: &str, name: &str) -> String {
        match self.refused.get(&(base.to_owned(), name.to_owned())) {
            Some(why) => why.clone(),
            None => unresolved_reason(name).to_owned(),
        }
    }

    /// Records that `import(name)` in module `importer` cannot be resolved,
    /// and why (see [`Modules::why_unresolved`]).
    pub fn refuse(&mut self, importer: &str, name: &str, why: String) {
        self.refused
            .insert((importer.to_owned(), name.to_owned()), why);
    }

    /// Records that bare import `name` of module `importer` resolves to
    /// module `target` (a package file).
    pub fn link(&mut self, importer: &str, name: &str, target: &str) {
        self.links
            .insert((importer.to_owned(), name.to_owned()), target.to_owned());
    }

    /// Resolves `import name` written in module `base` to a specifier of
    /// this set. Allowed: relative imports (`./x.js`, `../lib/x.js`; a
    /// `.js`/`.mjs` path also finds the `.ts`/`.mts` file of that name, as
    /// TypeScript writes imports), bare imports linked when the app loaded
    /// ([`Modules::link`]) and the builtin module; a path that climbs out
    /// of the app folder or names no module of the app is `None`.
    pub fn resolve(&self, base: &str, name: &str) -> Option<String> {
        if name == BUILTIN_MODULE {
            return Some(name.to_owned());
        }
        if !(name.starts_with("./") || name.starts_with("../")) {
            return self.links.get(&(base.to_owned(), name.to_owned())).cloned();
        }
        let specifier = join_relative(base, name)?;
        if self.by_specifier.contains_key(&specifier) {
            return Some(specifier);
        }
        let typescript = if let Some(stem) = specifier.strip_suffix(".js") {
            format!("{stem}.ts")
        } else if let Some(stem) = specifier.strip_suffix(".mjs") {
            format!("{stem}.mts")
        } else {
            return None;
        };
        self.by_specifier
            .contains_key(&typescript)
            .then_some(typescript)
    }
}

/// The specifier that the relative import `name` (`./x.js`, `../y.js`) of
/// the module `base` names: `base`'s folder joined with `name`, with `.`
/// and `..` resolved; `None` when `..` climbs above the app folder.
pub fn join_relative(base: &str, name: &str) -> Option<String> {
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
    Some(parts.join("/"))
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

    #[test]
    fn resolves_typescript_and_linked_packages() {
        let mut m = set(&["main.ts", "lib/util.ts", "node_modules/zod/index.js"]);
        assert_eq!(
            m.resolve("main.ts", "./lib/util.js").as_deref(),
            Some("lib/util.ts"),
            "TypeScript's .js spelling"
        );
        assert_eq!(
            m.resolve("main.ts", "./lib/util.ts").as_deref(),
            Some("lib/util.ts")
        );
        assert_eq!(m.resolve("main.ts", "zod"), None, "not linked");
        m.link("main.ts", "zod", "node_modules/zod/index.js");
        assert_eq!(
            m.resolve("main.ts", "zod").as_deref(),
            Some("node_modules/zod/index.js")
        );
        assert_eq!(
            m.resolve("lib/util.ts", "zod"),
            None,
            "links are per importer"
        );
        assert!(is_node_builtin("node:anything") && is_node_builtin("fs/promises"));
        assert!(!is_node_builtin("zod"));
        assert!(
            m.why_unresolved("main.ts", "fs")
                .contains("Node built-in modules are not available")
        );
        m.refuse("main.ts", "cjs", "CommonJS".to_owned());
        assert_eq!(m.why_unresolved("main.ts", "cjs"), "CommonJS");
    }
}
