//! TypeScript modules and npm packages: `.ts` files run with their types
//! stripped (errors and stacks point at the `.ts` line), bare imports
//! resolve from the app's `node_modules`, and what cannot work (syntax that
//! needs code generated, CommonJS, Node built-ins, packages outside the app
//! folder) is refused with where and why. Runs on the engine chosen by
//! PYROSOME_ENGINE, as every end-to-end test.

mod common;

use common::{TempApp, TestServer, get, json};
use pyrosome::{App, Value};

fn load_err(files: &[(&str, &str)]) -> String {
    let app = TempApp::new(files);
    match App::load(app.path()) {
        Ok(_) => panic!("the app should not load"),
        Err(e) => e.to_string(),
    }
}

const TS_MANIFEST: &str =
    "name = \"ts\"\n[services.main]\nmodule = \"main.ts\"\nroutes = [\"/\"]\n";

#[test]
fn typescript_runs_with_types_stripped_and_stacks_point_at_the_ts_line() {
    let app = TempApp::new(&[
        ("pyrosome.toml", TS_MANIFEST),
        (
            "main.ts",
            "import { greet, type Person } from \"./lib/greet.js\";\n\
             import { twice } from \"./lib/math.ts\";\n\
             interface Req { name?: string }\n\
             \n\
             export function hello(arg: Req): string {\n\
             \x20 const who: Person = { name: arg?.name ?? \"world\" };\n\
             \x20 return greet(who) + \" \" + twice(21 as number);\n\
             }\n\
             \n\
             export function fails(): never {\n\
             \x20 const n: number = \"a type error that parses is fine\" as any;\n\
             \x20 throw new Error(\"boom \" + typeof n);\n\
             }\n\
             \n\
             export default {\n\
             \x20 fetch(request: Request): Response {\n\
             \x20   return new Response(hello({ name: new URL(request.url).searchParams.get(\"name\") ?? undefined }));\n\
             \x20 },\n\
             } satisfies ExportedHandler;\n",
        ),
        (
            "lib/greet.ts",
            "export type Person = { name: string };\n\
             export function greet<T extends Person>(p: T): string {\n\
             \x20 return `hello ${p.name}`;\n\
             }\n",
        ),
        (
            "lib/math.ts",
            "export const twice = (n: number): number => n * 2;\n",
        ),
        ("lib/types.d.ts", "declare const nothing: unique symbol;\n"),
    ]);
    let loaded = app.load();
    assert!(
        loaded.modules.get("lib/types.d.ts").is_none(),
        "declaration files are not modules"
    );
    let runtime = app.start(1);
    assert_eq!(
        runtime
            .call_blocking("main", "hello", json(r#"{"name":"ts"}"#))
            .expect("hello"),
        Value::from("hello ts 42")
    );
    let e = runtime
        .call_blocking("main", "fails", Value::Undefined)
        .expect_err("throws");
    assert_eq!(e.message, "boom string");
    let stack = e.stack.unwrap_or_default();
    assert!(
        stack.contains("main.ts:12"),
        "the stack names main.ts line 12: {stack}"
    );

    let server = TestServer::start(runtime, 1 << 20, false);
    assert_eq!(get(server.addr, "/?name=web").text(), "hello web 42");
}

#[test]
fn typescript_that_needs_code_generated_is_refused_with_file_line_and_advice() {
    let e = load_err(&[
        ("pyrosome.toml", TS_MANIFEST),
        (
            "main.ts",
            "export const a = 1;\n\nenum Color { Red, Green }\nexport class P { constructor(private x: number) {} }\n",
        ),
    ]);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 2, "{e}");
    assert!(
        lines[0].ends_with(
            "main.ts:3:1: TypeScript enum is not supported: Pyrosome removes TypeScript types without \
             generating code (like Node's --experimental-strip-types); use an object instead \
             (`const Color = { Red: 0, Green: 1 } as const;`)"
        ),
        "{e}"
    );
    assert!(
        lines[1].contains("main.ts:4:") && lines[1].contains("parameter property"),
        "{e}"
    );

    let e = load_err(&[
        ("pyrosome.toml", TS_MANIFEST),
        (
            "main.ts",
            "export const a = 1;\nexport function f(x: ) {}\n",
        ),
    ]);
    assert!(
        e.contains("main.ts:2:"),
        "a syntax error names its line: {e}"
    );

    // A TypeScript file no service imports is not held against the app.
    let app = TempApp::new(&[
        ("pyrosome.toml", TS_MANIFEST),
        ("main.ts", "export const a: number = 1;\n"),
        ("scripts/gen.ts", "enum Unused { A }\n"),
    ]);
    assert!(App::load(app.path()).is_ok());
    let e = load_err(&[
        ("pyrosome.toml", TS_MANIFEST),
        (
            "main.ts",
            "import { A } from './lib/e.js';\nexport const a = A;\n",
        ),
        ("lib/e.ts", "export enum A { X }\n"),
    ]);
    assert!(
        e.contains("e.ts:1:8: TypeScript enum is not supported"),
        "{e}"
    );
}

/// A small `node_modules` tree, written as `npm install` would leave it.
fn package_files() -> Vec<(&'static str, &'static str)> {
    vec![
        // ESM with `exports` (conditions, a subpath) and a relative import.
        (
            "node_modules/esm-exports/package.json",
            r#"{ "name": "esm-exports", "type": "module",
                 "exports": { ".": { "types": "./index.d.ts", "require": "./dist/index.cjs", "import": "./dist/index.js" },
                              "./sub": "./dist/sub.js" } }"#,
        ),
        (
            "node_modules/esm-exports/dist/index.js",
            "import { suffix } from './util.js';\nexport const hello = (n) => 'hello ' + n + suffix;\n",
        ),
        (
            "node_modules/esm-exports/dist/util.js",
            "export const suffix = '!';\n",
        ),
        (
            "node_modules/esm-exports/dist/sub.js",
            "export const sub = 'sub';\n",
        ),
        (
            "node_modules/esm-exports/dist/index.cjs",
            "module.exports = {};\n",
        ),
        // Only `module` (and a CommonJS `main` beside it).
        (
            "node_modules/only-module/package.json",
            r#"{ "name": "only-module", "main": "cjs/index.js", "module": "esm/index.js" }"#,
        ),
        (
            "node_modules/only-module/esm/index.js",
            "export default 'module field';\n",
        ),
        (
            "node_modules/only-module/cjs/index.js",
            "module.exports = 'cjs';\n",
        ),
        // A scoped package with `main` and a file imported by subpath.
        (
            "node_modules/@scope/pkg/package.json",
            r#"{ "name": "@scope/pkg", "type": "module", "main": "main.js" }"#,
        ),
        (
            "node_modules/@scope/pkg/main.js",
            "export const scoped = 'scoped';\n",
        ),
        (
            "node_modules/@scope/pkg/extra/thing.js",
            "export const thing = 'thing';\n",
        ),
        // CommonJS packages.
        (
            "node_modules/cjs-pkg/package.json",
            r#"{ "name": "cjs-pkg", "main": "index.js" }"#,
        ),
        (
            "node_modules/cjs-pkg/index.js",
            "const x = require('./x');\nmodule.exports = { x };\n",
        ),
        (
            "node_modules/typed-cjs/package.json",
            r#"{ "name": "typed-cjs", "type": "commonjs", "main": "index.js" }"#,
        ),
        ("node_modules/typed-cjs/index.js", "exports.a = 1;\n"),
        (
            "node_modules/require-only/package.json",
            r#"{ "name": "require-only", "exports": { "require": "./index.cjs" } }"#,
        ),
        ("node_modules/require-only/index.cjs", "exports.a = 1;\n"),
    ]
}

fn package_app(main: &str) -> TempApp {
    let mut files = package_files();
    files.push((
        "pyrosome.toml",
        "name = \"pk\"\n[services.main]\nmodule = \"main.js\"\n",
    ));
    files.push(("main.js", main));
    TempApp::new(&files)
}

#[test]
fn bare_imports_resolve_from_node_modules() {
    let app = package_app(
        "import { hello } from 'esm-exports';\n\
         import { sub } from 'esm-exports/sub';\n\
         import fromModule from 'only-module';\n\
         import { scoped } from '@scope/pkg';\n\
         import { thing } from '@scope/pkg/extra/thing.js';\n\
         export async function all() {\n\
         \x20 const lazy = await import('esm-exports/sub');\n\
         \x20 return [hello('pkg'), sub, fromModule, scoped, thing, lazy.sub];\n\
         }\n\
         export async function computed() {\n\
         \x20 const name = ['left', 'pad'].join('-');\n\
         \x20 try { await import(name); return 'imported'; } catch (e) { return String(e.message ?? e); }\n\
         }\n\
         export async function optional() {\n\
         \x20 const out = [];\n\
         \x20 for (const load of [() => import('cjs-pkg'), () => import('node:fs')]) {\n\
         \x20   try { await load(); out.push('imported'); } catch (e) { out.push(String(e.message ?? e)); }\n\
         \x20 }\n\
         \x20 return out;\n\
         }\n",
    );
    let runtime = app.start(1);
    assert_eq!(
        runtime
            .call_blocking("main", "all", Value::Undefined)
            .expect("all"),
        json(r#"["hello pkg!", "sub", "module field", "scoped", "thing", "sub"]"#)
    );
    let text = runtime
        .call_blocking("main", "computed", Value::Undefined)
        .expect("computed");
    let text = text.as_str().unwrap_or_default();
    assert!(
        text.contains("left-pad") && text.contains("a computed import() cannot name a package"),
        "{text}"
    );
    // A literal import() that cannot work does not stop the app from
    // loading (code may try and fall back): it fails when it runs, saying why.
    let out = runtime
        .call_blocking("main", "optional", Value::Undefined)
        .expect("optional");
    let Value::Array(items) = out else {
        panic!("an array: {out:?}")
    };
    let texts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts[0].contains("cjs-pkg") && texts[0].contains("CommonJS is not supported"),
        "{texts:?}"
    );
    assert!(
        texts[1].contains("node:fs")
            && texts[1].contains("Node built-in modules are not available"),
        "{texts:?}"
    );
}

#[test]
fn commonjs_and_node_builtins_are_refused_naming_the_import_and_the_file() {
    for (import, expected) in [
        (
            "cjs-pkg",
            "CommonJS is not supported; use an ES-module build",
        ),
        ("typed-cjs", "package \"typed-cjs\" is CommonJS"),
        ("require-only", "package \"require-only\" is CommonJS"),
        (
            "esm-exports/nope",
            "package \"esm-exports\" does not export \"./nope\"",
        ),
        ("node:fs", "Node built-in modules are not available"),
        ("path", "Node built-in modules are not available"),
        ("left-pad", "package \"left-pad\" is not installed"),
    ] {
        let app = package_app(&format!(
            "export const a = 1;\nimport x from {import:?};\nexport function f() {{ return x; }}\n"
        ));
        let e = match App::load(app.path()) {
            Ok(_) => panic!("{import} should be refused"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains("main.js:2:15: "),
            "the error names the importing file and line: {e}"
        );
        let name_in_error = import.split('/').next().unwrap_or(import);
        assert!(e.contains(name_in_error), "{e}");
        assert!(e.contains(expected), "{import}: {e}");
    }
}

#[cfg(unix)]
#[test]
fn a_package_linked_from_outside_the_app_is_refused() {
    let outside = tempfile::tempdir().expect("temp dir");
    std::fs::write(outside.path().join("index.js"), "export const x = 1;\n").expect("write");
    let app = package_app("import { x } from 'linked';\nexport function f() { return x; }\n");
    std::os::unix::fs::symlink(outside.path(), app.path().join("node_modules/linked"))
        .expect("symlink");
    let e = match App::load(app.path()) {
        Ok(_) => panic!("the link leaves the app"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("package \"linked\"") && e.contains("outside the app folder"),
        "{e}"
    );
}

/// The example app of the README: TypeScript and a vendored package.
#[test]
fn the_typescript_example_runs() {
    let app = App::load(&common::repo_path("examples/typescript"))
        .unwrap_or_else(|e| panic!("the example loads: {e}"));
    let runtime = pyrosome::Runtime::start(
        app,
        pyrosome::RuntimeOptions {
            workers: 1,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("the example starts: {e}"));
    let server = TestServer::start(runtime, 1 << 20, false);
    let ok = get(server.addr, "/users/42");
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(json(&ok.text()), json(r#"{"id":42,"name":"user 42"}"#));
    let bad = get(server.addr, "/users/abc");
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("id"), "{}", bad.text());
}
