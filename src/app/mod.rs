//! The app loader: reads an app folder's `pyrosome.toml`, validates it, and
//! collects the app's JavaScript sources.
//!
//! An app is a folder holding a `pyrosome.toml` manifest and ES modules. The
//! manifest at a glance (full reference: `docs/manifest.md`):
//!
//! ```toml
//! name = "socialnetwork"          # required, [a-z0-9_-]+
//! engine = "quickjs"              # optional: "quickjs" or "v8" (see App::engine)
//!
//! [limits]                        # app-wide defaults, all optional
//! cpu_ms = 100                    # CPU budget per invocation run segment (1..=600000)
//! memory_mb = 64                  # heap per isolate (1..=16384)
//! timeout_ms = 30000              # wall-clock deadline per invocation (1..=3600000)
//! max_concurrency = 1000          # in-flight invocations per instance (1..=1000000)
//! fetch_body_mb = 16              # largest fetch() response body read (1..=4096)
//!
//! [http]
//! max_body_kb = 1024              # request body limit, 413 past it (1..=1048576)
//! header_timeout_ms = 30000       # a request head must be complete this long after its first byte
//! idle_timeout_ms = 60000         # keep-alive connections idle this long are closed
//! max_connections = 10000         # default: from the open-file limit
//! drain_timeout_ms = 30000        # after SIGTERM; default: the longest timeout_ms
//! access_log = true               # one log line per request (default: on with --dev)
//!
//! [admin]
//! listen = "127.0.0.1:9090"       # /metrics and /admin/*; "off" for none
//!
//! [trace]                         # docs/tracing.md
//! sample_rate = 0.01              # share of requests traced (0..=1; default 0)
//! slow_ms = 500                   # always keep traces at least this slow
//! keep = true                     # recent slow/failed/sampled traces for /admin/traces
//! otlp_endpoint = "http://localhost:4318"  # export (OTLP/HTTP protobuf); default none
//! otlp_headers = { authorization = "Bearer ..." }
//!
//! [vars]                          # plain values every service sees in `env`
//! API_URL = "https://example.com" # strings, numbers, booleans, arrays, tables
//! secrets = ["JWT_SECRET"]        # (top level) names only: values come from the
//!                                 # environment or --secrets FILE at start
//!
//! [stores.users]                  # declares a store (the table may be empty)
//! durability = "durable"          # or "relaxed": acknowledged before fsync
//!
//! [services.frontend]             # service name: [a-z][a-z0-9_-]*
//! module = "frontend.js"          # required, relative to the app folder
//! routes = ["/wrk2-api/"]         # HTTP path prefixes served by its fetch handler
//! stores = ["users"]              # read-write grants, or { users = "read" }
//! fetch = ["https://api.example.com"]  # origins its fetch() may reach ("https://*.x.com")
//! min_instances = 1               # 1..=1024
//! max_instances = 4               # 1..=1024, default: the scheduler decides
//! [services.frontend.limits]      # per-service overrides of [limits]
//! cpu_ms = 500
//! [services.frontend.vars]        # per-service vars, over the app's [vars]
//! PAGE_SIZE = 20
//! ```
//!
//! [`App::load`] reports every manifest problem at once, each as
//! `file:line:col: field.path: message` (see [`AppError`]). Modules are every
//! `.js` / `.mjs` / `.ts` / `.mts` file under the folder (recursively, skipping
//! hidden folders, `node_modules` and symlinked folders), keyed by their
//! `/`-separated path relative to the folder; TypeScript has its types
//! stripped as it is read (`source.rs`). Then the import graph of the
//! services is walked and the npm packages it imports are read from
//! `node_modules` (`packages.rs`). Isolates never read the filesystem
//! themselves.

mod error;
mod graph;
mod manifest;
mod packages;
mod route;
mod secrets;
mod source;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::engine::{ModuleSource, Modules};

pub use error::{AppError, ManifestError, SourceError};
pub use graph::ModuleGraph;
pub use manifest::{
    Access, AdminListen, AdminSpec, Backend, DEFAULT_URL_SECRET, Durability, HttpSpec, Limits,
    ServiceSpec, StoreGrant, StoreSpec,
};
pub use route::matches as route_matches;
pub use secrets::{Secrets, SecretsError};

/// The manifest's file name inside an app folder.
pub const MANIFEST_FILE: &str = "pyrosome.toml";

/// A loaded, validated app: its manifest and all its module sources.
#[derive(Debug, Clone)]
pub struct App {
    /// The app's name (`name = "..."`).
    pub name: String,
    /// The JavaScript engine the manifest asks for (`engine = "quickjs"` or
    /// `"v8"`), if any. Validated against every engine Pyrosome has, not
    /// the ones in this build: a build without V8 refuses `"v8"` when the
    /// app starts. The command line's `--engine` overrides it, and it
    /// overrides the `PYROSOME_ENGINE` environment variable (see
    /// [`RuntimeOptions::engine`](crate::RuntimeOptions::engine)).
    pub engine: Option<String>,
    /// The app folder, canonicalized.
    pub root: PathBuf,
    /// The manifest file (`root/pyrosome.toml`).
    pub manifest_path: PathBuf,
    /// The services, sorted by name.
    pub services: Vec<ServiceSpec>,
    /// The declared stores, sorted by name.
    pub stores: Vec<StoreSpec>,
    /// The app-wide default limits (`[limits]`); each service's effective
    /// limits are in [`ServiceSpec::limits`].
    pub limits: Limits,
    /// HTTP settings (`[http]`).
    pub http: HttpSpec,
    /// The admin listener (`[admin]`).
    pub admin: AdminSpec,
    /// Tracing (`[trace]`, see `docs/tracing.md`); the OpenTelemetry
    /// environment variables and `--otlp-endpoint` override it.
    pub trace: crate::trace::TraceConfig,
    /// Every `.js` / `.mjs` / `.ts` / `.mts` file of the app (TypeScript
    /// with its types stripped) and the package files its services import,
    /// keyed by its path relative to
    /// the app folder with `/` separators.
    pub modules: Modules,
}

impl App {
    /// Loads the app in folder `dir`: reads `dir/pyrosome.toml` and every
    /// module, then validates the manifest against them. `dir` may also be
    /// the path of the `pyrosome.toml` itself.
    ///
    /// Paths in errors are shown as derived from `dir` (so a relative `dir`
    /// gives relative, readable paths); [`App::root`] is canonical.
    pub fn load(dir: &Path) -> Result<App, AppError> {
        let meta = fs::metadata(dir).map_err(|source| AppError::AppDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let dir = if meta.is_dir() {
            dir
        } else if dir.file_name().is_some_and(|n| n == MANIFEST_FILE) {
            match dir.parent() {
                Some(p) if p.as_os_str().is_empty() => Path::new("."),
                Some(p) => p,
                None => Path::new("."),
            }
        } else {
            return Err(AppError::NotAFolder {
                path: dir.to_path_buf(),
            });
        };
        let root = fs::canonicalize(dir).map_err(|source| AppError::AppDir {
            dir: dir.to_path_buf(),
            source,
        })?;

        let shown_manifest = dir.join(MANIFEST_FILE);
        let bytes = match fs::read(&shown_manifest) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(AppError::MissingManifest {
                    dir: dir.to_path_buf(),
                    expected: shown_manifest,
                });
            }
            Err(source) => {
                return Err(AppError::Read {
                    path: shown_manifest,
                    source,
                });
            }
        };
        let text = String::from_utf8(bytes).map_err(|_| AppError::NotUtf8 {
            path: shown_manifest.clone(),
            what: "the manifest",
        })?;

        let (mut modules, broken) = collect(dir)?;
        let manifest = manifest::parse(&text, &shown_manifest, dir, &modules)
            .map_err(|errors| AppError::Manifest { errors })?;
        let entries: Vec<String> = manifest.services.iter().map(|s| s.module.clone()).collect();
        packages::link(dir, &root, &mut modules, &entries, broken)
            .map_err(|errors| AppError::Sources { errors })?;
        Ok(Self::assemble(
            manifest,
            &root,
            root.join(MANIFEST_FILE),
            modules,
        ))
    }

    /// Builds an app from manifest `text` and already-collected `modules`,
    /// without touching the filesystem. `root` becomes [`App::root`] as given;
    /// `manifest_path` is used in error messages and stored as
    /// [`App::manifest_path`].
    pub fn from_manifest_str(
        root: &Path,
        manifest_path: &Path,
        text: &str,
        modules: Modules,
    ) -> Result<App, AppError> {
        let manifest = manifest::parse(text, manifest_path, root, &modules)
            .map_err(|errors| AppError::Manifest { errors })?;
        Ok(Self::assemble(
            manifest,
            root,
            manifest_path.to_path_buf(),
            modules,
        ))
    }

    fn assemble(
        manifest: manifest::Manifest,
        root: &Path,
        manifest_path: PathBuf,
        modules: Modules,
    ) -> App {
        App {
            name: manifest.name,
            engine: manifest.engine,
            root: root.to_path_buf(),
            manifest_path,
            services: manifest.services,
            stores: manifest.stores,
            limits: manifest.limits,
            http: manifest.http,
            admin: manifest.admin,
            trace: manifest.trace,
            modules,
        }
    }

    /// The service called `name`.
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services
            .binary_search_by(|s| s.name.as_str().cmp(name))
            .ok()
            .and_then(|i| self.services.get(i))
    }

    /// Every secret some service declares, sorted, each with the services
    /// that see it.
    pub fn secret_names(&self) -> Vec<(&str, Vec<&str>)> {
        let mut names: Vec<(&str, Vec<&str>)> = Vec::new();
        for service in &self.services {
            for secret in &service.secrets {
                match names.iter_mut().find(|(n, _)| n == secret) {
                    Some((_, users)) => users.push(&service.name),
                    None => names.push((secret, vec![service.name.as_str()])),
                }
            }
        }
        names.sort();
        names
    }

    /// The store called `name`, if declared.
    pub fn store(&self, name: &str) -> Option<&StoreSpec> {
        self.stores.iter().find(|s| s.name == name)
    }

    /// The service whose fetch handler serves HTTP request path `path`: the
    /// one with the longest matching route. A route ending in `/`
    /// (`"/api/"`) matches every path starting with it; a route without one
    /// (`"/hello"`) matches `"/hello"` and `"/hello/..."` but not
    /// `"/helloworld"`; `"/"` matches everything. Any `?query` is ignored.
    pub fn route(&self, path: &str) -> Option<&ServiceSpec> {
        route::route(&self.services, path)
    }
}

/// Reads every `.js` / `.mjs` / `.ts` / `.mts` file under `dir` into a
/// [`Modules`] set, stripping TypeScript's types.
///
/// Recurses into subfolders except hidden ones (name starting with `.`),
/// `node_modules`, and symlinks to folders (which could loop); symlinks to
/// files are followed. Specifiers are paths relative to `dir` with `/`
/// separators. Unreadable or non-UTF-8 files are errors naming the file.
pub fn collect_modules(dir: &Path) -> Result<Modules, AppError> {
    let (modules, broken) = collect(dir)?;
    let mut problems: Vec<SourceError> = broken.into_values().flatten().collect();
    if !problems.is_empty() {
        problems.sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
        return Err(AppError::Sources { errors: problems });
    }
    Ok(modules)
}

/// TypeScript modules whose types cannot be stripped, by specifier, with
/// the problems found: reported only if a service imports them.
type Broken = BTreeMap<String, Vec<SourceError>>;

/// [`collect_modules`], with the TypeScript that cannot be stripped set
/// aside (its source kept as read) rather than reported.
fn collect(dir: &Path) -> Result<(Modules, Broken), AppError> {
    let mut modules = Modules::new();
    let mut broken = Broken::new();
    let mut pending: Vec<(PathBuf, String)> = vec![(dir.to_path_buf(), String::new())];
    while let Some((folder, prefix)) = pending.pop() {
        let read_err = |source| AppError::Read {
            path: folder.clone(),
            source,
        };
        let entries = fs::read_dir(&folder).map_err(read_err)?;
        for entry in entries {
            let entry = entry.map_err(read_err)?;
            let path = entry.path();
            let file_name = entry.file_name();
            let Some(name) = file_name.to_str() else {
                if is_js(&path) {
                    return Err(AppError::NotUtf8 {
                        path,
                        what: "a module's path",
                    });
                }
                continue;
            };
            let file_type = entry.file_type().map_err(|source| AppError::Read {
                path: path.clone(),
                source,
            })?;
            let specifier = format!("{prefix}{name}");
            if file_type.is_dir() {
                if !name.starts_with('.') && name != "node_modules" {
                    pending.push((path, format!("{specifier}/")));
                }
                continue;
            }
            if !is_js(&path) {
                continue;
            }
            if file_type.is_symlink() {
                // Follow links to files; skip links to folders or nothing.
                match fs::metadata(&path) {
                    Ok(m) if m.is_file() => {}
                    _ => continue,
                }
            }
            let bytes = fs::read(&path).map_err(|source| AppError::Read {
                path: path.clone(),
                source,
            })?;
            let mut source = String::from_utf8(bytes).map_err(|_| AppError::NotUtf8 {
                path: path.clone(),
                what: "a module",
            })?;
            if is_typescript(&path) {
                match source::strip_types(&specifier, &source) {
                    Ok(stripped) => source = stripped,
                    Err(found) => {
                        let problems = found
                            .into_iter()
                            .map(|p| SourceError {
                                path: path.clone(),
                                line: p.line,
                                column: p.column,
                                message: p.message,
                            })
                            .collect();
                        broken.insert(specifier.clone(), problems);
                    }
                }
            }
            modules.insert(
                specifier,
                ModuleSource {
                    path,
                    source: Arc::from(source),
                },
            );
        }
    }
    Ok((modules, broken))
}

/// A module file: `.js`, `.mjs`, or TypeScript (`.ts`, `.mts`, but not a
/// declaration file `.d.ts`, which holds only types).
fn is_js(path: &Path) -> bool {
    let declaration = path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.ends_with(".d.ts") || n.ends_with(".d.mts"));
    path.extension()
        .is_some_and(|ext| ext == "js" || ext == "mjs" || ext == "ts" || ext == "mts")
        && !declaration
}

/// A TypeScript module, whose types are stripped when it is read.
fn is_typescript(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext == "ts" || ext == "mts")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    const FILE: &str = "apps/demo/pyrosome.toml";

    fn modules(specifiers: &[&str]) -> Modules {
        let mut m = Modules::new();
        for s in specifiers {
            m.insert(
                *s,
                ModuleSource {
                    path: PathBuf::from(s),
                    source: Arc::from("export default {}"),
                },
            );
        }
        m
    }

    fn parse(text: &str) -> Result<App, AppError> {
        App::from_manifest_str(
            Path::new("/srv/demo"),
            Path::new(FILE),
            text,
            modules(&["frontend.js", "user.js", "lib/post.mjs", "lib/util.js"]),
        )
    }

    /// The manifest errors of `text` (panics if it is valid).
    fn errors(text: &str) -> Vec<ManifestError> {
        match parse(text) {
            Err(AppError::Manifest { errors }) => errors,
            other => panic!("expected manifest errors, got {other:?}"),
        }
    }

    /// The Display of the single error `text` produces.
    fn error(text: &str) -> String {
        let errors = errors(text);
        assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
        errors[0].to_string()
    }

    const FULL: &str = r#"name = "socialnetwork"

[limits]
cpu_ms = 200
memory_mb = 128

[http]
max_body_kb = 64

[stores.users]
durability = "durable"

[stores.cache]
durability = "relaxed"

[stores.posts]

[services.user]
module = "user.js"
stores = ["users", "cache"]

[services.frontend]
module = "./lib/../frontend.js"
routes = ["/wrk2-api/", "/health"]
stores = { posts = "read", users = "read-write" }
min_instances = 2
max_instances = 4
[services.frontend.limits]
cpu_ms = 500
timeout_ms = 1_000

[services.post-storage]
module = "lib/post.mjs"
limits = { max_concurrency = 10 }
"#;

    #[test]
    fn full_manifest_parses_with_defaults_merged() {
        let app = parse(FULL).expect("valid manifest");
        assert_eq!(app.name, "socialnetwork");
        assert_eq!(app.root, Path::new("/srv/demo"));
        assert_eq!(app.manifest_path, Path::new(FILE));
        assert_eq!(app.http.max_body_bytes, 64 * 1024);
        let app_limits = Limits {
            cpu_ms: 200,
            memory_mb: 128,
            timeout_ms: 30_000,
            max_concurrency: 1000,
            fetch_body_mb: 16,
        };
        assert_eq!(app.limits, app_limits);

        assert_eq!(
            app.stores,
            vec![
                StoreSpec {
                    name: "cache".into(),
                    durability: Durability::Relaxed,
                    backend: Backend::Embedded,
                },
                StoreSpec {
                    name: "posts".into(),
                    durability: Durability::Durable,
                    backend: Backend::Embedded,
                },
                StoreSpec {
                    name: "users".into(),
                    durability: Durability::Durable,
                    backend: Backend::Embedded,
                },
            ]
        );

        let names: Vec<&str> = app.services.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["frontend", "post-storage", "user"]);

        let frontend = app.service("frontend").expect("frontend");
        assert_eq!(
            *frontend,
            ServiceSpec {
                name: "frontend".into(),
                module: "frontend.js".into(),
                routes: vec!["/wrk2-api/".into(), "/health".into()],
                stores: vec![
                    StoreGrant {
                        store: "posts".into(),
                        access: Access::Read
                    },
                    StoreGrant {
                        store: "users".into(),
                        access: Access::ReadWrite
                    },
                ],
                limits: Limits {
                    cpu_ms: 500,
                    timeout_ms: 1000,
                    ..app_limits
                },
                fetch: Vec::new(),
                min_instances: 2,
                max_instances: Some(4),
                vars: Vec::new(),
                secrets: Vec::new(),
            }
        );

        let user = app.service("user").expect("user");
        assert_eq!(user.module, "user.js");
        assert!(user.routes.is_empty());
        assert_eq!(user.grant("users"), Some(Access::ReadWrite));
        assert_eq!(user.grant("cache"), Some(Access::ReadWrite));
        assert_eq!(user.grant("posts"), None);
        assert_eq!(user.limits, app_limits);
        assert_eq!((user.min_instances, user.max_instances), (1, None));

        let storage = app.service("post-storage").expect("post-storage");
        assert_eq!(storage.module, "lib/post.mjs");
        assert_eq!(
            storage.limits,
            Limits {
                max_concurrency: 10,
                ..app_limits
            }
        );
        assert!(storage.stores.is_empty());

        assert!(app.service("nope").is_none());
        assert_eq!(
            app.store("cache").map(|s| s.durability),
            Some(Durability::Relaxed)
        );
        assert_eq!(app.modules.specifiers().count(), 4);
    }

    #[test]
    fn minimal_manifest_gets_all_defaults() {
        let app =
            parse("name = \"hello\"\n[services.hello]\nmodule = \"frontend.js\"\n").expect("valid");
        assert_eq!(app.limits, Limits::default());
        assert_eq!(
            Limits::default(),
            Limits {
                cpu_ms: 100,
                memory_mb: 64,
                timeout_ms: 30_000,
                max_concurrency: 1000,
                fetch_body_mb: 16,
            }
        );
        assert_eq!(app.http.max_body_bytes, 1024 * 1024);
        assert!(app.stores.is_empty());
        assert_eq!(app.engine, None, "no engine key: the runtime decides");
        let hello = &app.services[0];
        assert_eq!(hello.limits, Limits::default());
        assert_eq!((hello.min_instances, hello.max_instances), (1, None));
    }

    #[test]
    fn unknown_keys_suggest_the_closest_allowed_key() {
        let text = "name = \"x\"\n\n[services.frontend]\nmodul = \"frontend.js\"\n";
        let errs = errors(text);
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            shown.contains(&format!(
                "{FILE}:4:1: services.frontend.modul: unknown field, did you mean \"module\"?"
            )),
            "{shown:#?}"
        );
        // The missing `module` is reported too, at the service's header.
        assert!(
            shown.iter().any(|e| e.starts_with(&format!(
                "{FILE}:3:1: services.frontend: missing required key `module`"
            ))),
            "{shown:#?}"
        );

        let e = error("name = \"x\"\n[limit]\ncpu_ms = 5\n[services.a]\nmodule = \"user.js\"\n");
        assert_eq!(
            e,
            format!("{FILE}:2:2: limit: unknown field, did you mean \"limits\"?")
        );

        let e = error("name = \"x\"\n[services.a]\nmodule = \"user.js\"\nlimits.cpu = 5\n");
        assert_eq!(
            e,
            format!("{FILE}:4:8: services.a.limits.cpu: unknown field, did you mean \"cpu_ms\"?")
        );

        let e = error("name = \"x\"\nbanana = 1\n[services.a]\nmodule = \"user.js\"\n");
        assert_eq!(
            e,
            format!(
                "{FILE}:2:1: banana: unknown field, expected one of: \"name\", \"engine\", \"limits\", \"http\", \"admin\", \"trace\", \"stores\", \"vars\", \"secrets\", \"services\""
            )
        );

        let e = error(
            "name = \"x\"\n[stores.users]\ndurabilty = \"relaxed\"\n[services.a]\nmodule = \"user.js\"\n",
        );
        assert_eq!(
            e,
            format!(
                "{FILE}:3:1: stores.users.durabilty: unknown field, did you mean \"durability\"?"
            )
        );
    }

    #[test]
    fn the_trace_section_is_read_and_checked() {
        let base = "[services.a]\nmodule = \"user.js\"\n";
        let app = parse(&format!(
            "name = \"x\"\n[trace]\nsample_rate = 0.25\nslow_ms = 200\nkeep = false\n\
             otlp_endpoint = \"http://collector:4318\"\notlp_headers = {{ authorization = \"Bearer t\" }}\n{base}"
        ))
        .expect("valid");
        assert_eq!(
            app.trace,
            crate::trace::TraceConfig {
                sample_rate: 0.25,
                slow: std::time::Duration::from_millis(200),
                keep: false,
                otlp_endpoint: Some("http://collector:4318/v1/traces".to_owned()),
                otlp_headers: vec![("authorization".to_owned(), "Bearer t".to_owned())],
            }
        );
        let app = parse(&format!("name = \"x\"\n[trace]\nsample_rate = 1\n{base}")).expect("valid");
        assert_eq!(app.trace.sample_rate, 1.0);
        let app = parse(&format!("name = \"x\"\n{base}")).expect("valid");
        assert_eq!(app.trace, crate::trace::TraceConfig::default());
        for (bad, message) in [
            (
                "sample_rate = 1.5",
                "trace.sample_rate: expected a number from 0 to 1",
            ),
            (
                "otlp_endpoint = \"collector:4318\"",
                "trace.otlp_endpoint: expected an http:// or https:// URL",
            ),
            (
                "sample = 0.1",
                "trace.sample: unknown field, did you mean \"sample_rate\"?",
            ),
        ] {
            let e = error(&format!("name = \"x\"\n[trace]\n{bad}\n{base}"));
            assert!(e.contains(message), "{bad}: {e}");
        }
    }

    #[test]
    fn access_log_and_admin_listen_are_read_and_checked() {
        let base = "[services.a]\nmodule = \"user.js\"\n";
        let app = parse(&format!(
            "name = \"x\"\n[http]\naccess_log = true\n[admin]\nlisten = \"127.0.0.1:9191\"\n{base}"
        ))
        .expect("valid");
        assert_eq!(app.http.access_log, Some(true));
        assert_eq!(
            app.admin.listen,
            Some(AdminListen::At("127.0.0.1:9191".parse().expect("addr")))
        );
        let app =
            parse(&format!("name = \"x\"\n[admin]\nlisten = \"off\"\n{base}")).expect("valid");
        assert_eq!(app.admin.listen, Some(AdminListen::Off));
        let app = parse(&format!("name = \"x\"\n{base}")).expect("valid");
        assert_eq!((app.http.access_log, app.admin.listen), (None, None));

        let e = error(&format!(
            "name = \"x\"\n[http]\naccess_log = \"yes\"\n{base}"
        ));
        assert_eq!(
            e,
            format!("{FILE}:3:14: http.access_log: expected true or false, found string \"yes\"")
        );
        let e = error(&format!(
            "name = \"x\"\n[admin]\nlisten = \"localhost\"\n{base}"
        ));
        assert_eq!(
            e,
            format!(
                "{FILE}:3:10: admin.listen: \"localhost\" is not an address with a port \
                 (e.g. \"127.0.0.1:9090\") or \"off\""
            )
        );
        let e = error(&format!("name = \"x\"\n[admin]\nlisen = \"off\"\n{base}"));
        assert_eq!(
            e,
            format!("{FILE}:3:1: admin.lisen: unknown field, did you mean \"listen\"?")
        );
    }

    #[test]
    fn engine_key_names_a_known_engine() {
        let base = "[services.a]\nmodule = \"user.js\"\n";
        for name in ["quickjs", "v8"] {
            // "v8" is accepted in any build; a build without V8 refuses it
            // when the app starts, not when the manifest is read.
            let app = parse(&format!("name = \"x\"\nengine = \"{name}\"\n{base}")).expect("valid");
            assert_eq!(app.engine.as_deref(), Some(name));
        }

        let e = error(&format!("name = \"x\"\nengine = \"quickjz\"\n{base}"));
        assert_eq!(
            e,
            format!(
                "{FILE}:2:10: engine: unknown engine \"quickjz\": expected \"quickjs\" (the default) \
                 or \"v8\" (needs a build with --features v8), did you mean \"quickjs\"?"
            )
        );
        let e = error(&format!("name = \"x\"\nengine = \"spidermonkey\"\n{base}"));
        assert!(
            e.starts_with(&format!(
                "{FILE}:2:10: engine: unknown engine \"spidermonkey\": expected \"quickjs\""
            )),
            "{e}"
        );
        assert!(!e.contains("did you mean"), "{e}");
        let e = error(&format!("name = \"x\"\nengine = 8\n{base}"));
        assert_eq!(
            e,
            format!("{FILE}:2:10: engine: expected a string, found integer 8")
        );
        let e = error(&format!("name = \"x\"\nengin = \"v8\"\n{base}"));
        assert_eq!(
            e,
            format!("{FILE}:2:1: engin: unknown field, did you mean \"engine\"?")
        );
    }

    #[test]
    fn module_paths_are_checked() {
        let base = "name = \"x\"\n[services.a]\n";
        let e = error(&format!("{base}module = \"users.js\"\n"));
        assert!(
            e.starts_with(&format!(
                "{FILE}:3:10: services.a.module: module \"users.js\" not found: looked for "
            )),
            "{e}"
        );
        assert!(
            e.contains(
                &Path::new("/srv/demo")
                    .join("users.js")
                    .display()
                    .to_string()
            ),
            "{e}"
        );
        assert!(e.ends_with("did you mean \"user.js\"?"), "{e}");

        let e = error(&format!("{base}module = \"post.mjs\"\n"));
        assert!(e.ends_with("did you mean \"lib/post.mjs\"?"), "{e}");

        let e = error(&format!("{base}module = \"node_modules/x.js\"\n"));
        assert!(
            e.contains("hidden folders and node_modules are not part of the app"),
            "{e}"
        );

        let e = error(&format!("{base}module = \"../outside.js\"\n"));
        assert!(
            e.starts_with(&format!("{FILE}:3:10: services.a.module: ")),
            "{e}"
        );
        assert!(e.contains("escapes the app folder"), "{e}");
        let e = error(&format!("{base}module = \"lib/../../user.js\"\n"));
        assert!(e.contains("escapes the app folder"), "{e}");

        let e = error(&format!("{base}module = \"/etc/user.js\"\n"));
        assert!(e.contains("must be relative to the app folder"), "{e}");

        let e = error(&format!("{base}module = \"user.txt\"\n"));
        assert!(
            e.contains(
                "must name a JavaScript or TypeScript file ending in .js, .mjs, .ts or .mts"
            ),
            "{e}"
        );

        let e = error(&format!("{base}module = 5\n"));
        assert_eq!(
            e,
            format!("{FILE}:3:10: services.a.module: expected a string, found integer 5")
        );

        let app = parse(&format!("{base}module = \"./lib//util.js\"\n")).expect("valid");
        assert_eq!(app.services[0].module, "lib/util.js");
    }

    #[test]
    fn routes_are_checked() {
        let e = error(
            "name = \"x\"\n[services.a]\nmodule = \"user.js\"\nroutes = [\"/ok\", \"api/\"]\n",
        );
        assert_eq!(
            e,
            format!(
                "{FILE}:4:18: services.a.routes[1]: route \"api/\" must start with \"/\" (it is a URL path prefix, e.g. \"/api/\")"
            )
        );

        let e = error("name = \"x\"\n[services.a]\nmodule = \"user.js\"\nroutes = \"/api/\"\n");
        assert!(
            e.contains(":4:10: services.a.routes: expected a list of strings, found string"),
            "{e}"
        );

        let e =
            error("name = \"x\"\n[services.a]\nmodule = \"user.js\"\nroutes = [\"/a\", \"/a\"]\n");
        assert!(
            e.contains(":4:17: services.a.routes[1]: route \"/a\" is listed twice"),
            "{e}"
        );
    }

    #[test]
    fn a_route_claimed_by_two_services_names_both() {
        let text = "name = \"x\"\n\
                    [services.zeta]\n\
                    module = \"user.js\"\n\
                    routes = [\"/api/\"]\n\
                    [services.alpha]\n\
                    module = \"frontend.js\"\n\
                    routes = [\"/other\", \"/api/\"]\n";
        let e = error(text);
        assert_eq!(
            e,
            format!(
                "{FILE}:7:21: services.alpha.routes[1]: route \"/api/\" is claimed by two services: \"zeta\" (line 4) and \"alpha\"; each route prefix must belong to one service"
            )
        );
    }

    #[test]
    fn fetch_grants_are_origins() {
        let app = parse(
            "name = \"x\"\n[limits]\nfetch_body_mb = 2\n[services.a]\nmodule = \"user.js\"\n\
             fetch = [\"https://api.example.com\", \"http://127.0.0.1:9200/\", \"https://*.example.org\"]\n\
             [services.a.limits]\nfetch_body_mb = 1\n",
        )
        .expect("valid");
        let a = app.service("a").expect("a");
        let grants: Vec<String> = a.fetch.iter().map(|g| g.to_string()).collect();
        assert_eq!(
            grants,
            [
                "https://api.example.com",
                "http://127.0.0.1:9200",
                "https://*.example.org"
            ]
        );
        assert_eq!((app.limits.fetch_body_mb, a.limits.fetch_body_mb), (2, 1));

        let e = error(
            "name = \"x\"\n[services.a]\nmodule = \"user.js\"\nfetch = [\"https://a.com\", \"https://a.com/v1\"]\n",
        );
        assert_eq!(
            e,
            format!(
                "{FILE}:4:27: services.a.fetch[1]: grant \"https://a.com/v1\" is not an origin: \
                 remove \"/v1\" (a grant is scheme://host[:port], and allows every path under it)"
            )
        );
        let e = error(
            "name = \"x\"\n[services.a]\nmodule = \"user.js\"\nfetch = [\"https://a.com\", \"https://A.com:443\"]\n",
        );
        assert!(
            e.contains("services.a.fetch[1]: origin \"https://A.com:443\" is granted twice"),
            "{e}"
        );
        let e =
            error("name = \"x\"\n[services.a]\nmodule = \"user.js\"\nfetch = \"https://a.com\"\n");
        assert!(
            e.contains("services.a.fetch: expected a list of origins (`[\"https://api.example.com\"]`), found string"),
            "{e}"
        );
        let e = error("name = \"x\"\n[services.a]\nmodule = \"user.js\"\nfecth = []\n");
        assert!(e.contains("did you mean \"fetch\"?"), "{e}");
        let e = error(
            "name = \"x\"\n[limits]\nfetch_body_mb = 0\n[services.a]\nmodule = \"user.js\"\n",
        );
        assert!(
            e.contains("limits.fetch_body_mb: must be an integer between 1 and 4096"),
            "{e}"
        );
    }

    #[test]
    fn store_grants_must_name_declared_stores() {
        let text = "name = \"x\"\n\
                    [stores.users]\n\
                    [stores.posts]\n\
                    [services.a]\n\
                    module = \"user.js\"\n\
                    stores = [\"users\", \"post\"]\n";
        let e = error(text);
        assert!(
            e.starts_with(&format!(
                "{FILE}:6:20: services.a.stores[1]: store \"post\" is not declared under [stores] (declared stores: \"posts\", \"users\"), did you mean \"posts\"?"
            )),
            "{e}"
        );

        let e = error(
            "name = \"x\"\n[services.a]\nmodule = \"user.js\"\nstores = { users = \"read\" }\n",
        );
        assert_eq!(
            e,
            format!(
                "{FILE}:4:12: services.a.stores.users: store \"users\" is not declared under [stores] \
                 (no stores are declared); declare it with a [stores.users] table"
            )
        );

        let e = error(
            "name = \"x\"\n[stores.users]\n[services.a]\nmodule = \"user.js\"\nstores = { users = \"write\" }\n",
        );
        assert!(
            e.starts_with(&format!(
                "{FILE}:5:20: services.a.stores.users: unknown access \"write\": expected \"read\" or \"read-write\""
            )),
            "{e}"
        );

        let e = error(
            "name = \"x\"\n[stores.users]\n[services.a]\nmodule = \"user.js\"\nstores = [\"users\", \"users\"]\n",
        );
        assert!(
            e.contains(":5:20: services.a.stores[1]: store \"users\" is granted twice"),
            "{e}"
        );

        let e = error(
            "name = \"x\"\n[stores.users]\n[services.a]\nmodule = \"user.js\"\nstores = \"users\"\n",
        );
        assert!(
            e.contains(":5:10: services.a.stores: expected a list of store names"),
            "{e}"
        );
    }

    #[test]
    fn a_store_backend_is_embedded_or_postgres_with_its_url_secret() {
        let app = parse(
            "name = \"x\"\n[stores.a]\nbackend = \"postgres\"\n[stores.b]\nbackend = \"postgres\"\nurl_secret = \"OTHER_DB\"\ndurability = \"relaxed\"\n[stores.c]\nbackend = \"embedded\"\n[stores.d]\n[services.a]\nmodule = \"user.js\"\n",
        )
        .expect("valid");
        let backends: Vec<&Backend> = app.stores.iter().map(|s| &s.backend).collect();
        assert_eq!(
            backends,
            [
                &Backend::Postgres {
                    url_secret: DEFAULT_URL_SECRET.into()
                },
                &Backend::Postgres {
                    url_secret: "OTHER_DB".into()
                },
                &Backend::Embedded,
                &Backend::Embedded,
            ]
        );
        assert_eq!(app.stores[1].durability, Durability::Relaxed);
        let e = error(
            "name = \"x\"\n[stores.a]\nbackend = \"postgre\"\n[services.a]\nmodule = \"user.js\"\n",
        );
        assert!(
            e.contains("stores.a.backend: unknown backend \"postgre\"")
                && e.contains("did you mean \"postgres\"?"),
            "{e}"
        );
        let e = error(
            "name = \"x\"\n[stores.a]\nurl_secret = \"DB\"\n[services.a]\nmodule = \"user.js\"\n",
        );
        assert!(
            e.contains("url_secret is only for backend = \"postgres\""),
            "{e}"
        );
        let e = error(
            "name = \"x\"\n[stores.a]\nbackend = \"postgres\"\nurl_secret = \"postgres://u:p@h/db\"\n[services.a]\nmodule = \"user.js\"\n",
        );
        assert!(
            e.contains("stores.a.url_secret: url_secret is the name of the secret")
                && !e.contains("u:p@"),
            "{e}"
        );
        let e = error(
            "name = \"x\"\n[stores.a]\nbackend = \"postgres\"\nurl_secret = \"1DB\"\n[services.a]\nmodule = \"user.js\"\n",
        );
        assert!(
            e.contains("stores.a.url_secret: secret name \"1DB\""),
            "{e}"
        );
    }

    #[test]
    fn durability_must_be_durable_or_relaxed() {
        let e = error(
            "name = \"x\"\n[stores.cache]\ndurability = \"relax\"\n[services.a]\nmodule = \"user.js\"\n",
        );
        assert_eq!(
            e,
            format!(
                "{FILE}:3:14: stores.cache.durability: unknown durability \"relax\": expected \"durable\" (acknowledged after fsync) or \"relaxed\" (acknowledged before fsync, for caches), did you mean \"relaxed\"?"
            )
        );
        let e = error("name = \"x\"\n[stores]\nusers = 1\n[services.a]\nmodule = \"user.js\"\n");
        assert_eq!(
            e,
            format!("{FILE}:3:9: stores.users: expected a table, found integer 1")
        );
        let e = error("name = \"x\"\n[stores.Users]\n[services.a]\nmodule = \"user.js\"\n");
        assert!(
            e.starts_with(&format!(
                "{FILE}:2:9: stores.Users: store name \"Users\" is invalid"
            )),
            "{e}"
        );
    }

    #[test]
    fn numbers_must_be_in_range() {
        let text = "name = \"x\"\n\
                    [limits]\n\
                    cpu_ms = 0\n\
                    memory_mb = -5\n\
                    timeout_ms = 1.5\n\
                    max_concurrency = 1_000_001\n\
                    [http]\n\
                    max_body_kb = 99999999999999999999999\n\
                    [services.a]\n\
                    module = \"user.js\"\n\
                    limits.cpu_ms = 600_001\n";
        let shown: Vec<String> = errors(text).iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                format!(
                    "{FILE}:3:10: limits.cpu_ms: must be an integer between 1 and 600000, found 0"
                ),
                format!(
                    "{FILE}:4:13: limits.memory_mb: must be an integer between 1 and 16384, found -5"
                ),
                format!(
                    "{FILE}:5:14: limits.timeout_ms: expected a positive integer between 1 and 3600000, found float 1.5"
                ),
                format!(
                    "{FILE}:6:19: limits.max_concurrency: must be an integer between 1 and 1000000, found 1000001"
                ),
                format!(
                    "{FILE}:8:15: http.max_body_kb: must be an integer between 1 and 1048576, found 99999999999999999999999"
                ),
                format!(
                    "{FILE}:11:17: services.a.limits.cpu_ms: must be an integer between 1 and 600000, found 600001"
                ),
            ]
        );
        // Hexadecimal is still an integer.
        let app =
            parse("name = \"x\"\n[limits]\ncpu_ms = 0x10\n[services.a]\nmodule = \"user.js\"\n")
                .expect("valid");
        assert_eq!(app.limits.cpu_ms, 16);
    }

    #[test]
    fn vars_convert_to_values_and_services_override_them() {
        let text = "name = \"x\"\n\
                    secrets = [\"TOKEN\"]\n\
                    [vars]\n\
                    S = \"s\"\n\
                    N = 0x10\n\
                    F = 1_000.5\n\
                    B = false\n\
                    INF = -inf\n\
                    D = 1979-05-27\n\
                    T = { a = [1, { b = \"c\" }] }\n\
                    [services.a]\n\
                    module = \"user.js\"\n\
                    secrets = [\"OWN\", \"TOKEN\"]\n\
                    vars = { S = \"override\", EXTRA = 1 }\n\
                    [services.b]\n\
                    module = \"frontend.js\"\n";
        let app = parse(text).expect("valid");
        let a = app.service("a").expect("a");
        let b = app.service("b").expect("b");
        let names = |s: &ServiceSpec| s.vars.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(b),
            ["S", "N", "F", "B", "INF", "D", "T"],
            "manifest order"
        );
        assert_eq!(names(a), ["S", "N", "F", "B", "INF", "D", "T", "EXTRA"]);
        let var = |s: &ServiceSpec, k: &str| {
            s.vars
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .expect("var")
        };
        assert_eq!(var(b, "S"), Value::from("s"));
        assert_eq!(var(a, "S"), Value::from("override"));
        assert_eq!(var(b, "N"), Value::Number(16.0));
        assert_eq!(var(b, "F"), Value::Number(1000.5));
        assert_eq!(var(b, "B"), Value::Bool(false));
        assert_eq!(var(b, "INF"), Value::Number(f64::NEG_INFINITY));
        assert_eq!(var(b, "D"), Value::from("1979-05-27"));
        assert_eq!(
            var(b, "T"),
            Value::object([(
                "a",
                Value::Array(vec![
                    Value::Number(1.0),
                    Value::object([("b", Value::from("c"))])
                ])
            )])
        );
        assert_eq!(a.secrets, ["OWN", "TOKEN"]);
        assert_eq!(b.secrets, ["TOKEN"]);
        let all: Vec<(&str, Vec<&str>)> = app.secret_names();
        assert_eq!(all, [("OWN", vec!["a"]), ("TOKEN", vec!["a", "b"])]);
    }

    #[test]
    fn bad_vars_and_secrets_are_reported() {
        let text = "name = \"x\"\n\
                    secrets = [\"A\", \"A\", \"1X\", 3]\n\
                    [vars]\n\
                    A = 1\n\
                    \"my-var\" = 2\n\
                    BIG = 9007199254740993\n\
                    [services.a]\n\
                    module = \"user.js\"\n\
                    secrets = { K = \"v\" }\n\
                    vars.A2 = 1\n\
                    [services.b]\n\
                    module = \"frontend.js\"\n\
                    secrets = \"S\"\n";
        let shown: Vec<String> = errors(text).iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                format!("{FILE}:2:17: secrets[1]: secret \"A\" is listed twice"),
                format!(
                    "{FILE}:2:22: secrets[2]: secret name \"1X\" is invalid: use letters, digits and '_', not starting with a digit (e.g. API_URL)"
                ),
                format!("{FILE}:2:28: secrets[3]: expected a string, found integer 3"),
                format!(
                    "{FILE}:4:1: vars.A: \"A\" is both a var (line 4) and a secret (line 2); `env` holds one value per name: rename or remove one"
                ),
                format!(
                    "{FILE}:5:1: vars.my-var: var name \"my-var\" is invalid: use letters, digits and '_', not starting with a digit (e.g. API_URL)"
                ),
                format!(
                    "{FILE}:6:7: vars.BIG: integer 9007199254740993 does not fit a JavaScript number exactly (largest: 2^53 - 1); write it as a string"
                ),
                format!(
                    "{FILE}:9:11: services.a.secrets: expected a list of secret names (`secrets = [\"API_KEY\"]`), found a table: secret values never go in the manifest; they are read from the environment or a --secrets file when the app starts"
                ),
                format!(
                    "{FILE}:13:11: services.b.secrets: expected a list of secret names (`secrets = [\"API_KEY\"]`), found string \"S\""
                ),
            ]
        );
    }

    #[test]
    fn instance_counts_are_checked() {
        let e = error(
            "name = \"x\"\n[services.a]\nmodule = \"user.js\"\nmin_instances = 3\nmax_instances = 2\n",
        );
        assert_eq!(
            e,
            format!(
                "{FILE}:5:17: services.a.max_instances: max_instances (2) is less than min_instances (3)"
            )
        );
        let e = error("name = \"x\"\n[services.a]\nmodule = \"user.js\"\nmax_instances = 0\n");
        assert_eq!(
            e,
            format!(
                "{FILE}:4:17: services.a.max_instances: must be an integer between 1 and 1024, found 0"
            )
        );
    }

    #[test]
    fn name_is_required_and_checked() {
        let e = error("[services.a]\nmodule = \"user.js\"\n");
        assert_eq!(
            e,
            format!(
                "{FILE}: name: missing required key: add `name = \"my-app\"` at the top of the manifest"
            )
        );
        let e = error("name = \"My App\"\n[services.a]\nmodule = \"user.js\"\n");
        assert!(
            e.starts_with(&format!("{FILE}:1:8: name: app name \"My App\" is invalid")),
            "{e}"
        );
        let e = error("name = \"\"\n[services.a]\nmodule = \"user.js\"\n");
        assert_eq!(e, format!("{FILE}:1:8: name: app name \"\" is empty"));
    }

    #[test]
    fn services_are_required_and_named_well() {
        let e = error("name = \"x\"\n");
        assert!(
            e.starts_with(&format!("{FILE}: services: no services declared")),
            "{e}"
        );
        let e = error("name = \"x\"\nservices = {}\n");
        assert!(
            e.starts_with(&format!("{FILE}:2:12: services: no services declared")),
            "{e}"
        );
        let e = error("name = \"x\"\n[services.Frontend]\nmodule = \"user.js\"\n");
        assert!(
            e.starts_with(&format!(
                "{FILE}:2:11: services.Frontend: service name \"Frontend\" is invalid"
            )),
            "{e}"
        );
        let e = error("name = \"x\"\n[services.1st]\nmodule = \"user.js\"\n");
        assert!(e.contains("services.1st: service name \"1st\" is invalid: a service name starts with a lowercase letter"), "{e}");
        let e = error("name = \"x\"\n[services.\"a.b\"]\nmodule = \"user.js\"\n");
        assert!(e.contains(":2:11: services.\"a.b\": service name"), "{e}");
        let e = error("name = \"x\"\n[[services]]\nmodule = \"user.js\"\n");
        assert!(
            e.contains(":2:1: services: expected a table, found an array"),
            "{e}"
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = error("name = \"x\"\n[services.a]\nmodule = \"user.js\nroutes = []\n");
        assert!(
            e.starts_with(&format!("{FILE}:3:18: TOML syntax error: ")),
            "{e}"
        );
        let e = error("name = \"x\"\nname = \"y\"\n");
        assert_eq!(e, format!("{FILE}:2:1: TOML syntax error: duplicate key"));
    }

    #[test]
    fn all_problems_are_reported_in_file_order() {
        let text = "name = \"x\"\n\
                    [services.b]\n\
                    module = \"nope.js\"\n\
                    [services.a]\n\
                    modle = \"user.js\"\n\
                    [limits]\n\
                    cpu_ms = 0\n";
        let err = parse(text).expect_err("invalid");
        let lines: Vec<usize> = match &err {
            AppError::Manifest { errors } => errors.iter().filter_map(|e| e.line).collect(),
            other => panic!("{other:?}"),
        };
        assert_eq!(lines, [3, 4, 5, 7]);
        // Display renders one error per line.
        assert_eq!(err.to_string().lines().count(), 4);
    }

    #[test]
    fn routing_picks_the_longest_matching_prefix() {
        let text = "name = \"x\"\n\
                    [services.root]\nmodule = \"frontend.js\"\nroutes = [\"/\"]\n\
                    [services.api]\nmodule = \"user.js\"\nroutes = [\"/api/\"]\n\
                    [services.users]\nmodule = \"lib/util.js\"\nroutes = [\"/api/users/\", \"/hello\"]\n";
        let app = parse(text).expect("valid");
        let route = |p: &str| app.route(p).map(|s| s.name.as_str());
        assert_eq!(route("/"), Some("root"));
        assert_eq!(route("/index.html"), Some("root"));
        assert_eq!(
            route("/api"),
            Some("root"),
            "\"/api/\" does not match \"/api\""
        );
        assert_eq!(route("/api/"), Some("api"));
        assert_eq!(route("/api/x"), Some("api"));
        assert_eq!(route("/api/users/"), Some("users"));
        assert_eq!(route("/api/users/42?full=1"), Some("users"));
        assert_eq!(route("/api/users"), Some("api"));
        assert_eq!(route("/hello"), Some("users"));
        assert_eq!(route("/hello/there"), Some("users"));
        assert_eq!(route("/hello?x=1"), Some("users"));
        assert_eq!(route("/helloworld"), Some("root"));

        let app = parse("name = \"x\"\n[services.a]\nmodule = \"user.js\"\nroutes = [\"/hello\"]\n[services.b]\nmodule = \"frontend.js\"\n")
            .expect("valid");
        assert_eq!(app.route("/hello").map(|s| s.name.as_str()), Some("a"));
        assert_eq!(app.route("/hello/").map(|s| s.name.as_str()), Some("a"));
        assert!(app.route("/helloworld").is_none());
        assert!(app.route("/").is_none());
    }

    // --- Loading from disk ---------------------------------------------

    fn write(dir: &Path, rel: &str, contents: &[u8]) {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("mkdir");
        }
        fs::write(path, contents).expect("write");
    }

    #[test]
    fn load_collects_modules_recursively() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        write(
            dir,
            "pyrosome.toml",
            b"name = \"demo\"\n[services.front]\nmodule = \"src/front.mjs\"\nroutes = [\"/\"]\n",
        );
        write(dir, "src/front.mjs", b"import { x } from './lib/x.js';");
        write(dir, "src/lib/x.js", b"export const x = 1;");
        write(dir, "top.js", b"export {}");
        write(dir, "README.md", b"# not a module");
        write(dir, "data.json", b"{}");
        write(dir, "node_modules/dep/index.js", b"nope");
        write(dir, "src/node_modules/dep.js", b"nope");
        write(dir, ".git/hooks/x.js", b"nope");
        write(dir, "src/.cache/y.js", b"nope");

        let app = App::load(dir).expect("loads");
        let specifiers: Vec<&str> = app.modules.specifiers().collect();
        assert_eq!(specifiers, ["src/front.mjs", "src/lib/x.js", "top.js"]);
        let front = app.modules.get("src/front.mjs").expect("front");
        assert_eq!(&*front.source, "import { x } from './lib/x.js';");
        assert_eq!(front.path, dir.join("src").join("front.mjs"));
        assert_eq!(
            app.modules
                .resolve("src/front.mjs", "./lib/x.js")
                .as_deref(),
            Some("src/lib/x.js")
        );

        let canonical = fs::canonicalize(dir).expect("canonicalize");
        assert_eq!(app.root, canonical);
        assert_eq!(app.manifest_path, canonical.join("pyrosome.toml"));
        assert_eq!(app.name, "demo");
        assert_eq!(app.services[0].module, "src/front.mjs");

        // The manifest path itself is accepted too.
        let again = App::load(&dir.join("pyrosome.toml")).expect("loads via manifest path");
        assert_eq!(again.root, canonical);
    }

    #[test]
    fn load_reports_missing_modules_with_the_path_looked_for() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        write(
            dir,
            "pyrosome.toml",
            b"name = \"demo\"\n[services.a]\nmodule = \"node_modules/a.js\"\n",
        );
        write(dir, "node_modules/a.js", b"export {}");
        let e = App::load(dir)
            .expect_err("module is in node_modules")
            .to_string();
        let manifest = dir.join("pyrosome.toml");
        assert_eq!(
            e,
            format!(
                "{}:3:10: services.a.module: module \"node_modules/a.js\" not found: looked for {} \
                 (files in hidden folders and node_modules are not part of the app)",
                manifest.display(),
                dir.join("node_modules/a.js").display()
            )
        );
    }

    #[test]
    fn missing_manifest_names_the_folder_and_the_expected_file() {
        let tmp = tempfile::tempdir().expect("tempdir");
        write(tmp.path(), "main.js", b"export {}");
        let err = App::load(tmp.path()).expect_err("no manifest");
        assert!(matches!(err, AppError::MissingManifest { .. }), "{err:?}");
        let e = err.to_string();
        assert!(e.contains(&tmp.path().display().to_string()), "{e}");
        assert!(
            e.contains(&tmp.path().join("pyrosome.toml").display().to_string()),
            "{e}"
        );
        assert!(
            e.contains("is not a Pyrosome app: expected a manifest at"),
            "{e}"
        );

        let gone = tmp.path().join("gone");
        let e = App::load(&gone).expect_err("no folder").to_string();
        assert!(
            e.starts_with(&format!("cannot open app folder {}", gone.display())),
            "{e}"
        );

        let e = App::load(&tmp.path().join("main.js"))
            .expect_err("a file")
            .to_string();
        assert!(e.contains("main.js is not a folder"), "{e}");
    }

    #[test]
    fn non_utf8_files_are_named() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        write(
            dir,
            "pyrosome.toml",
            b"name = \"demo\"\n[services.a]\nmodule = \"a.js\"\n",
        );
        write(dir, "a.js", b"export {}");
        write(dir, "lib/bad.js", b"const s = \"\xff\xfe\";");
        let e = App::load(dir).expect_err("bad utf-8").to_string();
        assert_eq!(
            e,
            format!(
                "{}: not valid UTF-8 (a module must be UTF-8 text)",
                dir.join("lib").join("bad.js").display()
            )
        );

        write(dir, "lib/bad.js", b"ok");
        write(dir, "pyrosome.toml", b"name = \"\xff\"\n");
        let e = App::load(dir).expect_err("bad manifest").to_string();
        assert!(
            e.contains("pyrosome.toml: not valid UTF-8 (the manifest must"),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn unreadable_files_are_named() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        write(
            dir,
            "pyrosome.toml",
            b"name = \"demo\"\n[services.a]\nmodule = \"a.js\"\n",
        );
        write(dir, "a.js", b"export {}");
        let locked = dir.join("a.js");
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod");
        if fs::read(&locked).is_ok() {
            return; // running as root: permissions are not enforced
        }
        let e = App::load(dir).expect_err("unreadable").to_string();
        assert!(
            e.starts_with(&format!("{}: cannot read: ", locked.display())),
            "{e}"
        );
    }

    #[test]
    fn a_manifest_that_cannot_be_read_is_named() {
        let tmp = tempfile::tempdir().expect("tempdir");
        fs::create_dir(tmp.path().join("pyrosome.toml")).expect("mkdir");
        let err = App::load(tmp.path()).expect_err("manifest is a folder");
        assert!(matches!(err, AppError::Read { .. }), "{err:?}");
        let e = err.to_string();
        let manifest = tmp.path().join("pyrosome.toml");
        assert!(
            e.starts_with(&format!("{}: cannot read: ", manifest.display())),
            "{e}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_folders_are_not_followed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path();
        write(
            dir,
            "pyrosome.toml",
            b"name = \"demo\"\n[services.a]\nmodule = \"a.js\"\n",
        );
        write(dir, "real/b.js", b"export {}");
        std::os::unix::fs::symlink(dir.join("real/b.js"), dir.join("a.js")).expect("symlink");
        std::os::unix::fs::symlink(dir, dir.join("loop")).expect("symlink");
        let app = App::load(dir).expect("loads");
        let specifiers: Vec<&str> = app.modules.specifiers().collect();
        assert_eq!(specifiers, ["a.js", "real/b.js"]);
    }
}
