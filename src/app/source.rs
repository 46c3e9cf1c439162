//! Reading module sources with swc: TypeScript types stripped, and the
//! import specifiers a module names.
//!
//! Types are stripped by `swc_ts_fast_strip` in its strip-only mode: every
//! type annotation, interface, `as` cast... is replaced by whitespace, so
//! each remaining character keeps its line and column and errors and stacks
//! point at the right place of the `.ts` file without a source map. Syntax
//! that would need code generated (`enum`, `namespace`, parameter
//! properties) is refused with its position and what to write instead — as
//! Node's `--experimental-strip-types` and TypeScript's
//! `erasableSyntaxOnly` do. Nothing is type-checked.

use std::sync::{Arc, Mutex};

use swc_common::errors::{DiagnosticBuilder, Emitter, Handler};
use swc_common::sync::Lrc;
use swc_common::{BytePos, SourceMap, Spanned};
use swc_ecma_ast::{CallExpr, Callee, Expr, Lit, ModuleDecl, ModuleItem};
use swc_ecma_parser::{EsSyntax, Parser, StringInput, Syntax};
use swc_ecma_visit::{Visit, VisitWith};

/// A problem in a module source, at a 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceProblem {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A diagnostic swc emitted: where (if it says) and its message.
type Diagnostic = (Option<BytePos>, String);

/// Collects the diagnostics swc emits.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<Diagnostic>>>);

impl Emitter for Collect {
    fn emit(&mut self, db: &mut DiagnosticBuilder<'_>) {
        let at = db.span.primary_span().map(|s| s.lo);
        if let Ok(mut all) = self.0.lock() {
            all.push((at, db.message()));
        }
    }
}

/// What to write instead of TypeScript syntax that cannot be stripped.
fn hint(message: &str) -> &'static str {
    if message.contains("enum") {
        "use an object instead (`const Color = { Red: 0, Green: 1 } as const;`)"
    } else if message.contains("namespace") || message.contains("`module` keyword") {
        "use an ES module (export the members from their own file)"
    } else if message.contains("parameter property") {
        "declare the field in the class body and assign it in the constructor"
    } else if message.contains("import equals") {
        "use `import x from \"...\"`"
    } else if message.contains("export assignment") {
        "use `export default`"
    } else if message.contains("angle-bracket") {
        "write `expr as T`"
    } else {
        ""
    }
}

/// `source` (TypeScript) with its types replaced by whitespace, or every
/// problem found. `name` is only used by swc for its own messages.
pub(crate) fn strip_types(name: &str, source: &str) -> Result<String, Vec<SourceProblem>> {
    let cm: Lrc<SourceMap> = Lrc::default();
    let collect = Collect::default();
    let handler = Handler::with_emitter(true, false, Box::new(collect.clone()));
    let options = swc_ts_fast_strip::Options {
        module: Some(true),
        filename: Some(name.to_owned()),
        ..Default::default()
    };
    let result = swc_ts_fast_strip::operate(&cm, &handler, source.to_owned(), options);
    match result {
        Ok(output) => Ok(output.code),
        Err(e) => {
            let diagnostics = collect.0.lock().map(|d| d.clone()).unwrap_or_default();
            let mut problems: Vec<SourceProblem> = diagnostics
                .into_iter()
                .map(|(at, message)| {
                    let (line, column) = match at {
                        Some(pos) => {
                            let loc = cm.lookup_char_pos(pos);
                            (loc.line, loc.col.0 + 1)
                        }
                        None => (1, 1),
                    };
                    let hint = hint(&message);
                    let message = if message.contains("strip-only mode") {
                        let what = message.replace(" in strip-only mode", "");
                        format!(
                            "{what}: Pyrosome removes TypeScript types without generating code \
                             (like Node's --experimental-strip-types); {hint}"
                        )
                    } else {
                        message
                    };
                    SourceProblem {
                        line,
                        column,
                        message,
                    }
                })
                .collect();
            if problems.is_empty() {
                problems.push(SourceProblem {
                    line: 1,
                    column: 1,
                    message: e.message,
                });
            }
            problems.sort_by_key(|p| (p.line, p.column));
            problems.dedup();
            Err(problems)
        }
    }
}

/// One import of a module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Import {
    /// What is imported (`"./x.js"`, `"zod"`).
    pub specifier: String,
    /// Byte offset of the specifier's string literal in the source.
    pub offset: usize,
    /// `import("...")` rather than a declaration.
    pub dynamic: bool,
}

/// What a module source imports, as far as a parser can tell.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Static imports and re-exports, and `import("literal")`, in source
    /// order.
    pub imports: Vec<Import>,
    /// Whether the source has any `import`/`export` declaration.
    pub module_syntax: bool,
    /// Whether it looks like CommonJS: no module syntax, and `require(`,
    /// `module.exports` or `exports.` in its text.
    pub commonjs: bool,
}

/// Lists the imports of JavaScript `source`. `None` when it does not parse:
/// the engine then reports the syntax error with its own message.
pub(crate) fn scan(source: &str) -> Option<Scan> {
    // BytePos(0) is swc's "no position": start at 1.
    let start = BytePos(1);
    let end = BytePos(1 + u32::try_from(source.len()).ok()?);
    let input = StringInput::new(source, start, end);
    let mut parser = Parser::new(Syntax::Es(EsSyntax::default()), input, None);
    let module = parser.parse_module().ok()?;
    if !parser.take_errors().is_empty() {
        return None;
    }
    let offset = |pos: BytePos| pos.0.saturating_sub(1) as usize;
    let mut scan = Scan::default();
    for item in &module.body {
        let ModuleItem::ModuleDecl(decl) = item else {
            continue;
        };
        scan.module_syntax = true;
        let src = match decl {
            ModuleDecl::Import(import) if !import.type_only => Some(&import.src),
            ModuleDecl::ExportAll(export) if !export.type_only => Some(&export.src),
            ModuleDecl::ExportNamed(export) if !export.type_only => export.src.as_ref(),
            _ => None,
        };
        if let Some(src) = src
            && let Some(atom) = src.value.as_atom()
        {
            scan.imports.push(Import {
                specifier: atom.to_string(),
                offset: offset(src.span().lo),
                dynamic: false,
            });
        }
    }
    let mut dynamic = DynamicImports(Vec::new());
    module.visit_with(&mut dynamic);
    scan.imports
        .extend(dynamic.0.into_iter().map(|(specifier, pos)| Import {
            specifier,
            offset: offset(pos),
            dynamic: true,
        }));
    scan.imports.sort_by_key(|i| i.offset);
    scan.commonjs = !scan.module_syntax
        && (source.contains("require(")
            || source.contains("module.exports")
            || source.contains("exports."));
    Some(scan)
}

/// `import("literal")` calls.
struct DynamicImports(Vec<(String, BytePos)>);

impl Visit for DynamicImports {
    fn visit_call_expr(&mut self, call: &CallExpr) {
        if let Callee::Import(_) = call.callee
            && let Some(arg) = call.args.first()
            && arg.spread.is_none()
            && let Expr::Lit(Lit::Str(s)) = &*arg.expr
            && let Some(atom) = s.value.as_atom()
        {
            self.0.push((atom.to_string(), s.span.lo));
        }
        call.visit_children_with(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::manifest::line_col;

    #[test]
    fn types_become_whitespace_and_lines_stay() {
        let ts = "interface P { x: number }\n\
                  type Id = string;\n\
                  export function f(a: number, b?: Id): number {\n\
                  \x20 const c = a as unknown as number;\n\
                  \x20 return c! + (b?.length ?? 0);\n\
                  }\n\
                  export class K<T> { private x: T; constructor(x: T) { this.x = x; } }\n";
        let js = strip_types("t.ts", ts).expect("strips");
        assert_eq!(js.lines().count(), ts.lines().count());
        assert!(
            !js.contains("interface") && !js.contains(": number"),
            "{js}"
        );
        assert_eq!(js.find("return"), ts.find("return"), "positions are kept");
    }

    #[test]
    fn syntax_that_needs_code_is_refused_with_a_position_and_a_hint() {
        let problems =
            strip_types("t.ts", "const a = 1;\nenum Color { Red, Green }\n").expect_err("enum");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!((problems[0].line, problems[0].column), (2, 1));
        assert!(
            problems[0]
                .message
                .starts_with("TypeScript enum is not supported: Pyrosome removes TypeScript types"),
            "{}",
            problems[0].message
        );
        assert!(problems[0].message.contains("as const"));

        let problems = strip_types(
            "t.ts",
            "export class A {\n  constructor(private x: number) {}\n}\n",
        )
        .expect_err("parameter property");
        assert_eq!(problems[0].line, 2, "{problems:?}");
        assert!(
            problems[0].message.contains("declare the field"),
            "{problems:?}"
        );

        let problems = strip_types("t.ts", "let x: = 1;\n").expect_err("syntax");
        assert_eq!(problems[0].line, 1, "{problems:?}");
    }

    #[test]
    fn imports_are_listed_with_their_offsets() {
        let src = "import a from \"zod\";\nexport * from './x.js';\nexport { b } from \"@s/p/sub\";\n\
                   const m = await import('lazy');\nimport(name);\nexport const c = 1;\n";
        let found = scan(src).expect("parses");
        let names: Vec<&str> = found.imports.iter().map(|i| i.specifier.as_str()).collect();
        assert_eq!(names, ["zod", "./x.js", "@s/p/sub", "lazy"]);
        assert_eq!(line_col(src, found.imports[3].offset), (4, 24));
        assert!(found.module_syntax && !found.commonjs);

        let cjs = scan("const x = require('y');\nmodule.exports = x;\n").expect("parses");
        assert!(cjs.commonjs);
        assert!(scan("export default {").is_none(), "does not parse");
    }
}
