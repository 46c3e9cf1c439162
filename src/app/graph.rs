//! The module graph of a service: its entry module and every module it
//! imports, directly or not. A reload replaces a service when a file of its
//! graph changed (see `Runtime::reload`).
//!
//! The imports are found by scanning the source text, not by parsing it,
//! and the scan errs on the side of seeing too much: every `from "x"`,
//! `import "x"` and `import("x")` counts, even in a comment or a string (a
//! needless reload is harmless; a missed one serves stale code). An
//! `import(...)` whose specifier is not a plain string literal, or a
//! specifier that resolves to no module of the app, makes the graph
//! *open*: the service then depends on every module of the app.

use std::collections::BTreeSet;

use crate::engine::{BUILTIN_MODULE, Modules};

/// The modules a service's code may consist of.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModuleGraph {
    /// Specifiers of the modules reached, the entry included, sorted.
    pub modules: BTreeSet<String>,
    /// Whether some import could not be followed (a computed `import()`,
    /// a specifier that names no module): the service may load any module.
    pub open: bool,
}

impl ModuleGraph {
    /// The graph of the module `entry` of `modules`.
    pub fn of(modules: &Modules, entry: &str) -> ModuleGraph {
        let mut graph = ModuleGraph::default();
        let mut pending = vec![entry.to_owned()];
        while let Some(specifier) = pending.pop() {
            if specifier == BUILTIN_MODULE || !graph.modules.insert(specifier.clone()) {
                continue;
            }
            let Some(module) = modules.get(&specifier) else {
                graph.open = true;
                continue;
            };
            for import in imports(&module.source) {
                match import {
                    Import::Static(name) => match modules.resolve(&specifier, &name) {
                        Some(resolved) => pending.push(resolved),
                        None => graph.open = true,
                    },
                    Import::Computed => graph.open = true,
                }
            }
        }
        graph
    }
}

/// One import found in a source text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Import {
    /// A string-literal specifier.
    Static(String),
    /// `import(expression)`: unknown until it runs.
    Computed,
}

/// Every import-like specifier in `source` (see the module docs).
fn imports(source: &str) -> Vec<Import> {
    let bytes = source.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let word = if word_at(bytes, i, b"from") {
            Some(4)
        } else if word_at(bytes, i, b"import") {
            Some(6)
        } else {
            None
        };
        let Some(len) = word else {
            i += 1;
            continue;
        };
        let is_import = len == 6;
        let mut j = skip_blank(bytes, i + len);
        if is_import && bytes.get(j) == Some(&b'(') {
            j = skip_blank(bytes, j + 1);
            match string_at(bytes, j) {
                Some((name, end))
                    if matches!(bytes.get(skip_blank(bytes, end)), Some(b')' | b',')) =>
                {
                    found.push(Import::Static(name));
                }
                _ => found.push(Import::Computed),
            }
        } else if let Some((name, _)) = string_at(bytes, j) {
            found.push(Import::Static(name));
        }
        i += len;
    }
    found
}

/// Whether `word` starts at `i` as a whole identifier.
fn word_at(bytes: &[u8], i: usize, word: &[u8]) -> bool {
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80;
    bytes[i..].starts_with(word)
        && (i == 0 || (!ident(bytes[i - 1]) && bytes[i - 1] != b'.'))
        && bytes.get(i + word.len()).is_none_or(|b| !ident(*b))
}

/// The index of the first byte after whitespace and comments from `i`.
fn skip_blank(bytes: &[u8], mut i: usize) -> usize {
    loop {
        match bytes.get(i) {
            Some(b) if b.is_ascii_whitespace() => i += 1,
            Some(b'/') if bytes.get(i + 1) == Some(&b'/') => {
                while bytes.get(i).is_some_and(|b| *b != b'\n') {
                    i += 1;
                }
            }
            Some(b'/') if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !bytes[i..].starts_with(b"*/") {
                    i += 1;
                }
                i += 2;
            }
            _ => return i.min(bytes.len()),
        }
    }
}

/// The string literal starting at `i` (`"..."`, `'...'`, or a template
/// without substitutions) and the index after it.
fn string_at(bytes: &[u8], i: usize) -> Option<(String, usize)> {
    let quote = *bytes.get(i)?;
    if !matches!(quote, b'"' | b'\'' | b'`') {
        return None;
    }
    let mut out = Vec::new();
    let mut j = i + 1;
    while let Some(&b) = bytes.get(j) {
        match b {
            b'\\' => {
                out.push(*bytes.get(j + 1)?);
                j += 2;
            }
            b'$' if quote == b'`' && bytes.get(j + 1) == Some(&b'{') => return None,
            b'\n' if quote != b'`' => return None,
            b if b == quote => return Some((String::from_utf8(out).ok()?, j + 1)),
            b => {
                out.push(b);
                j += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use super::*;
    use crate::engine::ModuleSource;

    fn set(files: &[(&str, &str)]) -> Modules {
        let mut m = Modules::new();
        for (name, source) in files {
            m.insert(
                *name,
                ModuleSource {
                    path: PathBuf::from(name),
                    source: Arc::from(*source),
                },
            );
        }
        m
    }

    fn names(graph: &ModuleGraph) -> Vec<&str> {
        graph.modules.iter().map(String::as_str).collect()
    }

    #[test]
    fn finds_every_form_of_import() {
        let found = imports(
            "import a from \"./a.js\";\n\
             import { b } from './b.js';\n\
             import * as c from /* why */ `./c.js`;\n\
             import './d.js';\n\
             export * from \"./e.js\";\n\
             export { f } from './f.js';\n\
             const g = await import(\"./g.js\");\n\
             const h = await import(name);\n\
             const i = import(`./${x}.js`);\n\
             import.meta.url; obj.import('./no.js'); const fromage = 'x';\n",
        );
        let expected: Vec<Import> = [
            "./a.js", "./b.js", "./c.js", "./d.js", "./e.js", "./f.js", "./g.js",
        ]
        .iter()
        .map(|s| Import::Static((*s).to_owned()))
        .chain([Import::Computed, Import::Computed])
        .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn the_graph_follows_imports_transitively_and_only_them() {
        let modules = set(&[
            (
                "a.js",
                "import { x } from './lib/x.js'; import { services } from 'pyrosome';",
            ),
            ("lib/x.js", "export * from '../lib/y.js';"),
            ("lib/y.js", "export const y = 1;"),
            ("b.js", "export const b = 1;"),
        ]);
        let graph = ModuleGraph::of(&modules, "a.js");
        assert_eq!(names(&graph), ["a.js", "lib/x.js", "lib/y.js"]);
        assert!(!graph.open);
        assert_eq!(names(&ModuleGraph::of(&modules, "b.js")), ["b.js"]);
    }

    #[test]
    fn computed_or_unresolvable_imports_open_the_graph() {
        let modules = set(&[
            ("a.js", "const m = await import(which);"),
            ("b.js", "import z from 'zod';"),
            (
                "c.js",
                "import './a.js'; // a cycle: a imports nothing known\nimport './c.js';",
            ),
        ]);
        assert!(ModuleGraph::of(&modules, "a.js").open);
        assert!(ModuleGraph::of(&modules, "b.js").open);
        let c = ModuleGraph::of(&modules, "c.js");
        assert_eq!(names(&c), ["a.js", "c.js"]);
        assert!(c.open, "through a.js");
    }
}
