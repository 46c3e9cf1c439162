//! npm packages: bare imports (`import { z } from "zod"`) resolved from the
//! app's `node_modules` when the app loads.
//!
//! Starting from every service's module, the import graph is walked (static
//! imports, re-exports and `import("literal")`). A bare specifier is looked
//! up in `node_modules` folders from the importing file's folder up to the
//! app folder (never above it), as Node does; in the package found:
//!
//! 1. `exports` of its `package.json`: the string shorthand, subpaths
//!    (`"./sub"`, `"./*"` patterns) and the conditions `"import"`,
//!    `"module"` and `"default"` (in the package's order);
//! 2. else `module`, then `main`, then `index.js` (a `pkg/sub/path`
//!    specifier names a file of the package; `.js` and `/index.js` are
//!    tried after the exact path).
//!
//! The files found, and the files they import relatively, are read into the
//! app's [`Modules`] (isolates still never read the filesystem) and each
//! bare import is recorded as a link from the importing module.
//!
//! Refused with an error naming the specifier and the importing file, at
//! its line and column (for `import("literal")`, when it runs: code may
//! try an import and fall back), a package that is not installed, a path that leaves
//! the app folder (a symlinked package pointing outside it included),
//! CommonJS (`.cjs`, a `main` entry of a `"type": "commonjs"` package, or a
//! file that uses `require`/`module.exports` and no `import`/`export`), and
//! Node built-in modules (`node:fs`, `fs`, `path`, ... — unless a package of
//! that name is installed, as bundlers do).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::{Component, Path};
use std::sync::Arc;

use serde_json::Value as Json;

use super::error::SourceError;
use super::manifest::line_col;
use super::source;
use crate::engine::{BUILTIN_MODULE, ModuleSource, Modules, is_node_builtin};

/// Conditions of `exports` that Pyrosome matches, whichever the package
/// lists first wins.
const CONDITIONS: &[&str] = &["import", "module", "default"];

/// Walks the import graph from `entries` (module specifiers), loads the
/// packages it needs from `root`'s `node_modules` into `modules`, and links
/// the bare imports. The problems of the `broken` modules (TypeScript that
/// could not be stripped) are reported for those the walk reaches. `root` is the app folder as given (for messages);
/// `canonical_root` its canonical path (for the sandbox check).
pub(crate) fn link(
    root: &Path,
    canonical_root: &Path,
    modules: &mut Modules,
    entries: &[String],
    mut broken: BTreeMap<String, Vec<SourceError>>,
) -> Result<(), Vec<SourceError>> {
    let mut errors = Vec::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut queue: VecDeque<String> = entries.iter().cloned().collect();
    let resolver = Resolver {
        root,
        canonical_root,
    };
    while let Some(specifier) = queue.pop_front() {
        if !seen.insert(specifier.clone()) {
            continue;
        }
        if let Some(problems) = broken.remove(&specifier) {
            errors.extend(problems); // TypeScript that could not be stripped
            continue;
        }
        let Some(module) = modules.get(&specifier).cloned() else {
            continue;
        };
        let Some(scan) = source::scan(&module.source) else {
            continue; // the engine reports the syntax error
        };
        for import in scan.imports {
            let name = import.specifier.as_str();
            let dynamic = import.dynamic;
            let mut refuse = |modules: &mut Modules, message: String| {
                if dynamic {
                    // Refused when the import() runs, with this reason.
                    modules.refuse(&specifier, name, message);
                    return;
                }
                let (line, column) = line_col(&module.source, import.offset);
                errors.push(SourceError {
                    path: module.path.clone(),
                    line,
                    column,
                    message,
                });
            };
            if name == BUILTIN_MODULE {
                continue;
            }
            if name.starts_with("./") || name.starts_with("../") {
                if let Some(target) = modules.resolve(&specifier, name) {
                    queue.push_back(target);
                } else if let Some(target) = resolver.relative_in_package(&specifier, name) {
                    // A file of a package, read on demand.
                    match resolver.load(modules, &target, name) {
                        Ok(()) => queue.push_back(target),
                        Err(message) => refuse(modules, message),
                    }
                }
                // Else the engine reports the missing file.
                continue;
            }
            if name.starts_with('/') || name.contains(':') && !name.starts_with("node:") {
                continue; // absolute paths and URLs: the engine refuses them
            }
            match resolver.package(&specifier, name) {
                Ok(target) => {
                    if modules.get(&target).is_none()
                        && let Err(message) = resolver.load(modules, &target, name)
                    {
                        refuse(modules, message);
                        continue;
                    }
                    modules.link(&specifier, name, &target);
                    queue.push_back(target);
                }
                Err(message) => refuse(modules, message),
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

struct Resolver<'a> {
    root: &'a Path,
    canonical_root: &'a Path,
}

impl Resolver<'_> {
    /// The specifier of relative import `name` of `base`, when `base` is a
    /// package file (inside a `node_modules` folder) and the target exists.
    fn relative_in_package(&self, base: &str, name: &str) -> Option<String> {
        if !base.split('/').any(|p| p == "node_modules") {
            return None;
        }
        let specifier = crate::engine::join_relative(base, name)?;
        self.canonical_root
            .join(&specifier)
            .is_file()
            .then_some(specifier)
    }

    /// Reads package file `specifier` into `modules`, refusing CommonJS.
    fn load(
        &self,
        modules: &mut Modules,
        specifier: &str,
        imported_as: &str,
    ) -> Result<(), String> {
        let path = self.canonical_root.join(specifier);
        let shown = self.root.join(specifier);
        let canonical = fs::canonicalize(&path).map_err(|e| {
            format!(
                "cannot read {} (imported as {imported_as:?}): {e}",
                shown.display()
            )
        })?;
        if !canonical.starts_with(self.canonical_root) {
            return Err(format!(
                "{imported_as:?} resolves to {}, outside the app folder (imports cannot leave it)",
                canonical.display()
            ));
        }
        let ext = canonical.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "js" | "mjs" | "ts" | "mts" => {}
            "cjs" => {
                return Err(format!(
                    "{imported_as:?} resolves to {}, a CommonJS file: CommonJS is not supported; use an ES-module build of the package",
                    shown.display()
                ));
            }
            other => {
                return Err(format!(
                    "{imported_as:?} resolves to {}: only JavaScript modules (.js, .mjs) can be imported, not .{other} files",
                    shown.display()
                ));
            }
        }
        let bytes = fs::read(&canonical).map_err(|e| {
            format!(
                "cannot read {} (imported as {imported_as:?}): {e}",
                shown.display()
            )
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            format!(
                "{} is not valid UTF-8 (imported as {imported_as:?})",
                shown.display()
            )
        })?;
        let text = if ext == "ts" || ext == "mts" {
            source::strip_types(specifier, &text).map_err(|problems| {
                let p = &problems[0];
                format!("{}:{}:{}: {}", shown.display(), p.line, p.column, p.message)
            })?
        } else {
            text
        };
        if source::scan(&text).is_some_and(|s| s.commonjs) {
            return Err(format!(
                "{imported_as:?} resolves to {}, which is CommonJS (it uses require or module.exports): \
                 CommonJS is not supported; use an ES-module build of the package",
                shown.display()
            ));
        }
        modules.insert(
            specifier,
            ModuleSource {
                path: shown,
                source: Arc::from(text),
            },
        );
        Ok(())
    }

    /// Resolves bare specifier `name` imported by module `base` to the
    /// specifier of a package file (not yet read), or says why not.
    fn package(&self, base: &str, name: &str) -> Result<String, String> {
        if name.starts_with("node:") {
            return Err(format!(
                "{name:?} is a Node.js built-in module: Node built-in modules are not available \
                 (Pyrosome runs Web-standard JavaScript: fetch, URL, TextEncoder, crypto...)"
            ));
        }
        let (package, subpath) =
            split_package(name).ok_or_else(|| format!("{name:?} is not a valid package name"))?;
        let Some(dir) = self.find_package(base, package) else {
            if is_node_builtin(name) {
                return Err(format!(
                    "{name:?} is a Node.js built-in module: Node built-in modules are not available \
                     (Pyrosome runs Web-standard JavaScript: fetch, URL, TextEncoder, crypto...)"
                ));
            }
            let looked = self.root.join("node_modules").join(package);
            return Err(format!(
                "package {package:?} is not installed: looked for {} and in the node_modules \
                 folders between it and the importing file (run `npm install {package}` in the app folder)",
                looked.display()
            ));
        };
        let canonical = fs::canonicalize(self.canonical_root.join(&dir))
            .map_err(|e| format!("cannot open package {package:?}: {e}"))?;
        if !canonical.starts_with(self.canonical_root) {
            return Err(format!(
                "package {package:?} ({}) is a link to {}, outside the app folder: packages must be inside it \
                 (install with `npm install --install-links`, or copy the package in)",
                self.root.join(&dir).display(),
                canonical.display()
            ));
        }
        let rel = canonical
            .strip_prefix(self.canonical_root)
            .map_err(|_| format!("package {package:?} is outside the app folder"))?;
        let dir = to_specifier(rel)
            .ok_or_else(|| format!("package {package:?} has a path that is not UTF-8"))?;
        let manifest_path = canonical.join("package.json");
        let manifest: Json = match fs::read_to_string(&manifest_path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| {
                format!(
                    "{}: invalid JSON: {e}",
                    self.root.join(&dir).join("package.json").display()
                )
            })?,
            Err(_) => Json::Null,
        };
        let commonjs = |file: &str| {
            format!(
                "package {package:?} is CommonJS ({file}): CommonJS is not supported; use an ES-module \
                 build of the package (one with \"exports\" → \"import\", a \"module\" field or \"type\": \"module\")"
            )
        };
        let file = if let Some(exports) = manifest.get("exports").filter(|e| !e.is_null()) {
            match exports_target(exports, &subpath) {
                Exports::Found(target) => {
                    let target = target.strip_prefix("./").ok_or_else(|| {
                        format!("package {package:?} maps {subpath:?} to {target:?}, which is not a \"./\" path")
                    })?;
                    join_inside(&dir, target).ok_or_else(|| {
                        format!("package {package:?} maps {subpath:?} outside the package")
                    })?
                }
                Exports::RequireOnly => {
                    return Err(commonjs(
                        "its \"exports\" has only \"require\" for this path",
                    ));
                }
                Exports::NotExported => {
                    return Err(format!(
                        "package {package:?} does not export {subpath:?} (see \"exports\" in its package.json; \
                         Pyrosome matches the conditions \"import\", \"module\" and \"default\")"
                    ));
                }
            }
        } else if subpath == "." {
            let field = |k: &str| manifest.get(k).and_then(Json::as_str).map(str::to_owned);
            if let Some(module) = field("module") {
                self.file_like(&dir, &module).ok_or_else(|| {
                    format!("package {package:?}: its \"module\" file {module:?} is missing")
                })?
            } else if let Some(main) = field("main") {
                let file = self.file_like(&dir, &main).ok_or_else(|| {
                    format!("package {package:?}: its \"main\" file {main:?} is missing")
                })?;
                let type_ = manifest.get("type").and_then(Json::as_str);
                if type_ == Some("commonjs") {
                    return Err(commonjs("\"type\": \"commonjs\" and no ES-module entry"));
                }
                file
            } else {
                self.file_like(&dir, "index.js").ok_or_else(|| {
                    format!("package {package:?} has no entry: no \"exports\", \"module\" or \"main\" in its package.json, and no index.js")
                })?
            }
        } else {
            let sub = subpath.trim_start_matches("./");
            self.file_like(&dir, sub)
                .ok_or_else(|| format!("package {package:?} has no file {sub:?}"))?
        };
        if file.ends_with(".cjs") {
            return Err(commonjs(&file));
        }
        Ok(file)
    }

    /// The package folder (a specifier-like path relative to the app) for
    /// `package` imported from module `base`: `node_modules/package` in the
    /// importer's folder or the nearest folder above it, up to the app.
    fn find_package(&self, base: &str, package: &str) -> Option<String> {
        let mut parts: Vec<&str> = base.split('/').collect();
        parts.pop();
        loop {
            if parts.last() != Some(&"node_modules") {
                let mut candidate = parts.clone();
                candidate.push("node_modules");
                candidate.extend(package.split('/'));
                let rel = candidate.join("/");
                if self.canonical_root.join(&rel).is_dir() {
                    return Some(rel);
                }
            }
            parts.pop()?;
        }
    }

    /// `dir/rel` as an existing file: exactly, then with `.js`, `.mjs`, then
    /// `/index.js`.
    fn file_like(&self, dir: &str, rel: &str) -> Option<String> {
        let rel = rel.trim_start_matches("./");
        let base = join_inside(dir, rel)?;
        [
            base.clone(),
            format!("{base}.js"),
            format!("{base}.mjs"),
            format!("{base}/index.js"),
        ]
        .into_iter()
        .find(|c| self.canonical_root.join(c).is_file())
    }
}

/// `"@scope/pkg/sub/x"` → `("@scope/pkg", "./sub/x")`, `"pkg"` → `("pkg", ".")`.
fn split_package(name: &str) -> Option<(&str, String)> {
    let name = name.strip_prefix("node:").unwrap_or(name);
    let mut split = 0;
    let mut segments = 0;
    let needed = if name.starts_with('@') { 2 } else { 1 };
    for (i, c) in name.char_indices() {
        if c == '/' {
            segments += 1;
            if segments == needed {
                split = i;
                break;
            }
        }
    }
    let (package, rest) = if segments == needed {
        (&name[..split], &name[split + 1..])
    } else {
        (name, "")
    };
    let valid = !package.is_empty()
        && package.split('/').count() == needed
        && package
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != ".." && !p.contains('\\'));
    if !valid {
        return None;
    }
    let subpath = if rest.is_empty() {
        ".".to_owned()
    } else {
        format!("./{rest}")
    };
    Some((package, subpath))
}

/// `dir/rel` with `.` and `..` applied, if it stays inside `dir`.
fn join_inside(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for segment in rel.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        return Some(dir.to_owned());
    }
    Some(format!("{dir}/{}", parts.join("/")))
}

/// A relative path as a `/`-separated specifier.
fn to_specifier(rel: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_str()?),
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// What `exports` says for a subpath.
#[derive(Debug, PartialEq, Eq)]
enum Exports {
    Found(String),
    /// Only `"require"` (or `"node"`) conditions matched: CommonJS.
    RequireOnly,
    NotExported,
}

/// Resolves `subpath` (`"."` or `"./x"`) through `exports`.
fn exports_target(exports: &Json, subpath: &str) -> Exports {
    let has_subpaths = exports
        .as_object()
        .is_some_and(|o| o.keys().any(|k| k.starts_with('.')));
    if !has_subpaths {
        // The shorthand: a string, an array or conditions for ".".
        return if subpath == "." {
            conditional(exports, None)
        } else {
            Exports::NotExported
        };
    }
    let Some(map) = exports.as_object() else {
        return Exports::NotExported;
    };
    if let Some(target) = map.get(subpath) {
        return conditional(target, None);
    }
    // Patterns: "./features/*" or "./x/*.js"; the longest prefix wins.
    let best = map
        .iter()
        .filter_map(|(key, target)| {
            let (prefix, suffix) = key.split_once('*')?;
            let star = subpath.strip_prefix(prefix)?.strip_suffix(suffix)?;
            Some((prefix.len(), star, target))
        })
        .max_by_key(|(len, _, _)| *len);
    match best {
        Some((_, star, target)) => conditional(target, Some(star)),
        None => Exports::NotExported,
    }
}

/// A target of `exports`: a string, an array (first that resolves) or
/// conditions.
fn conditional(target: &Json, star: Option<&str>) -> Exports {
    match target {
        Json::String(s) => Exports::Found(match star {
            Some(star) => s.replace('*', star),
            None => s.clone(),
        }),
        Json::Array(items) => items
            .iter()
            .map(|t| conditional(t, star))
            .find(|r| matches!(r, Exports::Found(_)))
            .unwrap_or(Exports::NotExported),
        Json::Object(conditions) => {
            let mut require = false;
            for (condition, value) in conditions {
                if CONDITIONS.contains(&condition.as_str()) {
                    match conditional(value, star) {
                        Exports::Found(t) => return Exports::Found(t),
                        Exports::RequireOnly => require = true,
                        Exports::NotExported => {}
                    }
                } else if condition == "require" || condition == "node" {
                    require = true;
                }
            }
            if require {
                Exports::RequireOnly
            } else {
                Exports::NotExported
            }
        }
        _ => Exports::NotExported,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn package_names_split_into_package_and_subpath() {
        assert_eq!(split_package("a/b"), Some(("a", "./b".to_owned())));
        assert_eq!(split_package("zod"), Some(("zod", ".".to_owned())));
        assert_eq!(
            split_package("zod/v4/core"),
            Some(("zod", "./v4/core".to_owned()))
        );
        assert_eq!(split_package("@a/b"), Some(("@a/b", ".".to_owned())));
        assert_eq!(
            split_package("@a/b/c.js"),
            Some(("@a/b", "./c.js".to_owned()))
        );
        assert_eq!(split_package("@a"), None);
        assert_eq!(split_package(".."), None);
        assert_eq!(split_package("node:fs"), Some(("fs", ".".to_owned())));
    }

    #[test]
    fn exports_resolution() {
        let found = |s: &str| Exports::Found(s.to_owned());
        assert_eq!(
            exports_target(&json!("./index.js"), "."),
            found("./index.js")
        );
        assert_eq!(
            exports_target(&json!("./index.js"), "./x"),
            Exports::NotExported
        );
        let e = json!({
            ".": { "types": "./d.ts", "require": "./c.cjs", "import": "./m.js" },
            "./sub": { "default": "./sub.js" },
            "./features/*": "./dist/features/*.js",
            "./features/deep/*": { "import": "./deep/*.mjs" },
            "./cjs": { "require": "./cjs.cjs" },
            "./null": null,
        });
        assert_eq!(exports_target(&e, "."), found("./m.js"));
        assert_eq!(exports_target(&e, "./sub"), found("./sub.js"));
        assert_eq!(
            exports_target(&e, "./features/a"),
            found("./dist/features/a.js")
        );
        assert_eq!(
            exports_target(&e, "./features/deep/b"),
            found("./deep/b.mjs")
        );
        assert_eq!(exports_target(&e, "./cjs"), Exports::RequireOnly);
        assert_eq!(exports_target(&e, "./null"), Exports::NotExported);
        assert_eq!(exports_target(&e, "./nope"), Exports::NotExported);
        assert_eq!(
            exports_target(&json!({ "node": "./n.cjs", "default": "./w.js" }), "."),
            found("./w.js")
        );
        assert_eq!(
            exports_target(&json!([{ "worker": "./w.js" }, "./fallback.js"]), "."),
            found("./fallback.js")
        );
    }
}
