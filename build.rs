//! Assembles the JavaScript prelude every isolate runs first: the Web APIs
//! listed in `src/engine/js/web/ORDER`, then `src/engine/js/bootstrap.js`.
//! Adding a Web API means adding its file and a line in ORDER.

use std::env;
use std::fs;
use std::path::Path;

fn main() {
    let js = Path::new("src/engine/js");
    let order_path = js.join("web/ORDER");
    println!("cargo:rerun-if-changed={}", order_path.display());
    println!(
        "cargo:rerun-if-changed={}",
        js.join("bootstrap.js").display()
    );

    let order = fs::read_to_string(&order_path).unwrap_or_default();
    let mut prelude = String::from("(function (host) {\n\"use strict\";\nconst inits = [\n");
    for name in order
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let path = js.join("web").join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let source = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {} listed in ORDER: {e}", path.display()));
        prelude.push_str(&format!("// ---- {name}\n{}\n,\n", source.trim()));
    }
    prelude.push_str("];\nfor (let i = 0; i < inits.length; i++) inits[i](host, globalThis);\n");
    let bootstrap = fs::read_to_string(js.join("bootstrap.js"))
        .unwrap_or_else(|e| panic!("cannot read bootstrap.js: {e}"));
    prelude.push_str(&format!(
        "return ({})(host, globalThis);\n}})\n",
        bootstrap.trim()
    ));

    let out = Path::new(&env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("prelude.js");
    fs::write(&out, prelude).unwrap_or_else(|e| panic!("cannot write {}: {e}", out.display()));
}
