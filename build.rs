//! Assembles the JavaScript prelude every isolate runs first: the Web APIs
//! listed in `src/engine/js/web/ORDER`, then `src/engine/js/bootstrap.js`.
//! Adding a Web API means adding its file and a line in ORDER.
//!
//! With the `v8` feature, also compiles the V8 shim (`src/engine/v8/shim.cc`)
//! against Debian's libnode and links it; see [`v8`].

use std::env;
use std::fs;
use std::path::Path;
#[cfg(feature = "v8")]
use std::path::PathBuf;

fn main() {
    prelude();
    #[cfg(feature = "v8")]
    v8();
}

/// Where libnode's headers and library are: `$PYROSOME_LIBNODE_DIR`, then
/// `.libnode/` in the checkout (what `scripts/setup-v8.sh` unpacks), then the
/// system. Each is a root containing `usr/include/node/v8.h` and
/// `usr/lib/<triple>/libnode.so.108`.
#[cfg(feature = "v8")]
fn find_libnode() -> Option<(PathBuf, PathBuf)> {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let mut roots = Vec::new();
    if let Some(dir) = env::var_os("PYROSOME_LIBNODE_DIR") {
        roots.push(PathBuf::from(dir));
    }
    roots.push(manifest.join(".libnode"));
    roots.push(PathBuf::from("/"));
    for root in roots {
        let include = root.join("usr/include/node");
        if !include.join("v8.h").is_file() {
            continue;
        }
        let Ok(entries) = fs::read_dir(root.join("usr/lib")) else {
            continue;
        };
        for entry in entries.flatten() {
            let lib = entry.path();
            if lib.join("libnode.so.108").is_file() {
                return Some((include, lib));
            }
        }
    }
    None
}

#[cfg(feature = "v8")]
fn v8() {
    println!("cargo:rerun-if-env-changed=PYROSOME_LIBNODE_DIR");
    println!("cargo:rerun-if-changed=src/engine/v8/shim.cc");
    let Some((include, lib)) = find_libnode() else {
        panic!(
            "\n\nThe `v8` feature needs V8's headers and libnode.so.108 (Debian's libnode-dev, \
             Node 18).\nRun `scripts/setup-v8.sh` in the checkout: it installs libnode-dev with apt, \
             or, where that conflicts with an installed nodejs, unpacks libnode108, libnode-dev, \
             libuv1 and libc-ares2 into .libnode/.\nOr set PYROSOME_LIBNODE_DIR to a folder \
             containing usr/include/node/v8.h and usr/lib/<triple>/libnode.so.108.\n\n"
        );
    };
    cc::Build::new()
        .cpp(true)
        .file("src/engine/v8/shim.cc")
        .include(&include)
        .flag("-std=c++17")
        .flag("-fno-rtti")
        .flag_if_supported("-Wno-unused-parameter")
        .compile("pyrosome_v8_shim");
    println!("cargo:rustc-link-search=native={}", lib.display());
    if lib.join("libnode.so").exists() {
        println!("cargo:rustc-link-lib=dylib=node");
    } else {
        println!(
            "cargo:rustc-link-arg={}",
            lib.join("libnode.so.108").display()
        );
    }
    println!("cargo:rustc-link-lib=dylib=stdc++");
    if !lib.starts_with("/usr") {
        // DT_RPATH (not RUNPATH) so libnode's own dependencies (libuv,
        // c-ares) are found beside it too.
        println!(
            "cargo:rustc-link-arg=-Wl,--disable-new-dtags,-rpath,{}",
            lib.display()
        );
    }
}

fn prelude() {
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
