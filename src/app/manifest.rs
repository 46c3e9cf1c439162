//! The `pyrosome.toml` schema and its validation.
//!
//! The manifest is parsed into toml's span-preserving [`DeTable`] and walked
//! by hand rather than through `serde::Deserialize`: that way every key and
//! value keeps its byte span (turned into `line:col`), every error knows its
//! dotted field path, unknown keys get a "did you mean" suggestion, and all
//! problems are reported at once instead of only the first. See
//! `docs/manifest.md` for the user-facing reference.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::ops::{Range, RangeInclusive};
use std::path::Path;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::ManifestError;
use crate::engine::Modules;
use crate::outbound::OriginPattern;
use crate::value::Value;

/// Resource limits of one invocation / instance. The app-wide `[limits]`
/// table sets defaults; `[services.NAME.limits]` overrides them per service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limits {
    /// CPU budget in milliseconds of one run segment of an invocation (the
    /// time it runs before yielding on `await`); past it the invocation is
    /// terminated. Default 100, range 1..=600000.
    pub cpu_ms: u64,
    /// JavaScript heap per isolate, in MiB. Default 64, range 1..=16384.
    pub memory_mb: u64,
    /// Wall-clock deadline of one invocation in milliseconds, propagated
    /// through the service calls it makes. Default 30000, range 1..=3600000.
    pub timeout_ms: u64,
    /// In-flight invocations per instance. Default 1000, range 1..=1000000.
    pub max_concurrency: usize,
    /// Largest response body `fetch()` reads, in MiB; a larger one fails
    /// the read (`text()`, `json()`, ...). Default 16, range 1..=4096.
    pub fetch_body_mb: u64,
}

impl Limits {
    /// Default CPU budget per run segment, in milliseconds.
    pub const DEFAULT_CPU_MS: u64 = 100;
    /// Default heap per isolate, in MiB.
    pub const DEFAULT_MEMORY_MB: u64 = 64;
    /// Default wall-clock deadline per invocation, in milliseconds.
    pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
    /// Default in-flight invocations per instance.
    pub const DEFAULT_MAX_CONCURRENCY: usize = 1000;
    /// Default largest `fetch()` response body, in MiB.
    pub const DEFAULT_FETCH_BODY_MB: u64 = 16;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_ms: Self::DEFAULT_CPU_MS,
            memory_mb: Self::DEFAULT_MEMORY_MB,
            timeout_ms: Self::DEFAULT_TIMEOUT_MS,
            max_concurrency: Self::DEFAULT_MAX_CONCURRENCY,
            fetch_body_mb: Self::DEFAULT_FETCH_BODY_MB,
        }
    }
}

impl std::str::FromStr for AdminListen {
    type Err = String;

    /// `"off"` or an address with a port (`"127.0.0.1:9090"`, `"[::1]:9090"`).
    fn from_str(text: &str) -> Result<AdminListen, String> {
        if text == "off" {
            return Ok(AdminListen::Off);
        }
        text.parse().map(AdminListen::At).map_err(|_| {
            format!("{text:?} is not an address with a port (e.g. \"127.0.0.1:9090\") or \"off\"")
        })
    }
}

/// HTTP settings of the app (`[http]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpSpec {
    /// Largest accepted request body in bytes; larger requests get 413.
    /// Set in the manifest as `max_body_kb` (KiB). Default 1 MiB.
    pub max_body_bytes: usize,
    /// How long a client may take to send a request's head, from its first
    /// byte (`header_timeout_ms`); then the connection is closed.
    pub header_timeout: Duration,
    /// How long a keep-alive connection may sit idle between requests
    /// (`idle_timeout_ms`); then it is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once (`max_connections`); past it the
    /// gateway stops accepting until one closes. `None`: derived from the
    /// process's file-descriptor limit.
    pub max_connections: Option<usize>,
    /// How long in-flight requests may run on after a shutdown signal
    /// (`drain_timeout_ms`). `None`: the longest `timeout_ms` of the app's
    /// services, so a request that is within its own deadline is never cut.
    pub drain_timeout: Option<Duration>,
    /// One log line per request (`access_log`). `None`: on with `--dev`,
    /// else off; the command line's `--access-log` overrides it.
    pub access_log: Option<bool>,
}

impl HttpSpec {
    /// Default request body limit: 1 MiB.
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
    /// Default head timeout: 30 s (hyper's and nginx's order of magnitude;
    /// a slowloris client is cut off after it).
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default idle timeout of keep-alive connections: 60 s (longer than
    /// the 5 s of Node, which races load balancers that keep connections
    /// for 60 s; shorter than nginx's 75 s).
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
}

impl Default for HttpSpec {
    fn default() -> Self {
        HttpSpec {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            header_timeout: Self::DEFAULT_HEADER_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_connections: None,
            drain_timeout: None,
            access_log: None,
        }
    }
}

/// Where the admin listener (`/metrics`, `/admin/*`) listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdminListen {
    /// Nowhere (`"off"`).
    Off,
    /// On this address.
    At(SocketAddr),
}

/// The admin listener's settings (`[admin]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AdminSpec {
    /// `listen`: an address or `"off"`. `None`: the default (see the
    /// gateway); the command line's `--admin` overrides it.
    pub listen: Option<AdminListen>,
}

/// How a store persists writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// A write is acknowledged after it is on disk (fsync). The default.
    #[default]
    Durable,
    /// A write is acknowledged before fsync: faster, but the last writes may
    /// be lost on a crash. Meant for caches.
    Relaxed,
}

impl Durability {
    /// The manifest spelling: `"durable"` or `"relaxed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Durability::Durable => "durable",
            Durability::Relaxed => "relaxed",
        }
    }
}

impl fmt::Display for Durability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a store keeps its data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Backend {
    /// The embedded store in the node's data folder (the default): local to one node.
    #[default]
    Embedded,
    /// A PostgreSQL database (or CockroachDB, YugabyteDB), shared by every node that names it.
    /// Its connection URL is the value of the secret `url_secret` (from the environment or the
    /// secrets file, like every secret; never in the manifest, never shown to services).
    Postgres {
        /// The name of the secret holding the connection URL.
        url_secret: String,
    },
}

/// The secret a `backend = "postgres"` store reads its URL from when `url_secret` is not set.
pub const DEFAULT_URL_SECRET: &str = "DATABASE_URL";

/// A store declared under `[stores.NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreSpec {
    /// The store's name, as passed to `store("NAME")` in JavaScript.
    pub name: String,
    /// How writes are persisted.
    pub durability: Durability,
    /// Where the data is kept.
    pub backend: Backend,
}

/// What a service may do with a store it was granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// Reads only (`"read"`).
    Read,
    /// Reads and writes (`"read-write"`; what a plain list grants).
    ReadWrite,
}

impl Access {
    /// The manifest spelling: `"read"` or `"read-write"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::ReadWrite => "read-write",
        }
    }

    /// Whether this access allows writes.
    pub fn can_write(self) -> bool {
        self == Access::ReadWrite
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A service's permission to use one store. A store not granted is
/// unreachable from the service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoreGrant {
    /// The store's name (declared under `[stores]`).
    pub store: String,
    /// What the service may do with it.
    pub access: Access,
}

/// One service: a JavaScript module, its routes, grants and limits.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceSpec {
    /// The service name; JavaScript calls it as `services.NAME` /
    /// `services["NAME"]`.
    pub name: String,
    /// Specifier of the service's module in [`App::modules`](super::App):
    /// normalised, relative to the app folder, `/`-separated (`"lib/x.js"`).
    pub module: String,
    /// HTTP path prefixes served by the module's `fetch` handler, as written.
    pub routes: Vec<String>,
    /// Stores the service may use, sorted by store name.
    pub stores: Vec<StoreGrant>,
    /// Origins its `fetch()` may reach (`fetch = [...]`), in manifest order.
    pub fetch: Vec<OriginPattern>,
    /// The app's `[limits]` with this service's overrides applied.
    pub limits: Limits,
    /// Instances kept running at all times. Default 1.
    pub min_instances: usize,
    /// Upper bound on instances; `None` lets the scheduler decide (one per
    /// worker).
    pub max_instances: Option<usize>,
    /// Plain configuration values the service sees in `env`: the app's
    /// `[vars]` with the service's `[services.NAME.vars]` applied over them
    /// (a service value replaces the app's under the same name), in
    /// manifest order. Values are JSON-like: strings, numbers, booleans,
    /// arrays and objects.
    pub vars: Vec<(String, Value)>,
    /// Names of the secrets the service sees in `env`: the app's `secrets`
    /// and the service's own, sorted. Their values are never in the
    /// manifest: they are supplied when the app starts (see
    /// [`Secrets`](crate::Secrets)).
    pub secrets: Vec<String>,
}

impl ServiceSpec {
    /// The access this service has to `store`, if it was granted.
    pub fn grant(&self, store: &str) -> Option<Access> {
        self.stores
            .iter()
            .find(|g| g.store == store)
            .map(|g| g.access)
    }
}

/// The validated contents of a manifest (everything but the modules).
#[derive(Debug, Clone)]
pub(crate) struct Manifest {
    pub name: String,
    pub engine: Option<String>,
    pub limits: Limits,
    pub http: HttpSpec,
    pub admin: AdminSpec,
    pub trace: crate::trace::TraceConfig,
    pub stores: Vec<StoreSpec>,
    pub services: Vec<ServiceSpec>,
}

/// Allowed keys, per table (also the "did you mean" candidates).
const TOP_KEYS: &[&str] = &[
    "name", "engine", "limits", "http", "admin", "trace", "stores", "vars", "secrets", "services",
];
const LIMIT_KEYS: &[&str] = &[
    "cpu_ms",
    "memory_mb",
    "timeout_ms",
    "max_concurrency",
    "fetch_body_mb",
];
const HTTP_KEYS: &[&str] = &[
    "max_body_kb",
    "header_timeout_ms",
    "idle_timeout_ms",
    "max_connections",
    "drain_timeout_ms",
    "access_log",
];
const ADMIN_KEYS: &[&str] = &["listen"];
const TRACE_KEYS: &[&str] = &[
    "sample_rate",
    "slow_ms",
    "keep",
    "otlp_endpoint",
    "otlp_headers",
];
const SLOW_MS: RangeInclusive<u64> = 0..=86_400_000;
const STORE_KEYS: &[&str] = &["durability", "backend", "url_secret"];
const SERVICE_KEYS: &[&str] = &[
    "module",
    "routes",
    "stores",
    "fetch",
    "min_instances",
    "max_instances",
    "limits",
    "vars",
    "secrets",
];

const CPU_MS: RangeInclusive<u64> = 1..=600_000;
const MEMORY_MB: RangeInclusive<u64> = 1..=16_384;
const TIMEOUT_MS: RangeInclusive<u64> = 1..=3_600_000;
const MAX_CONCURRENCY: RangeInclusive<u64> = 1..=1_000_000;
const FETCH_BODY_MB: RangeInclusive<u64> = 1..=4096;
const MAX_BODY_KB: RangeInclusive<u64> = 1..=1_048_576;
const HEADER_TIMEOUT_MS: RangeInclusive<u64> = 100..=3_600_000;
const IDLE_TIMEOUT_MS: RangeInclusive<u64> = 100..=86_400_000;
const MAX_CONNECTIONS: RangeInclusive<u64> = 1..=10_000_000;
const DRAIN_TIMEOUT_MS: RangeInclusive<u64> = 0..=86_400_000;
const MIN_INSTANCES: RangeInclusive<u64> = 1..=1024;
const MAX_INSTANCES: RangeInclusive<u64> = 1..=1024;
/// Longest app, service or store name.
const MAX_NAME_LEN: usize = 64;
/// Longest name of a var or secret.
const MAX_ENV_NAME_LEN: usize = 128;
/// Largest integer a JavaScript number holds exactly (2^53 - 1): a larger
/// TOML integer in `[vars]` is refused rather than silently rounded.
const MAX_SAFE_INTEGER: i128 = (1 << 53) - 1;
/// The engines an app may ask for with `engine = "..."`: every engine
/// Pyrosome has, whether or not this build includes it (a build without V8
/// accepts the manifest and says at start that it lacks V8; see
/// `engine::engine_by_name`).
const ENGINE_NAMES: &[&str] = &["quickjs", "v8"];

/// Parses and validates manifest `text`. `file` is only used in error
/// messages; `root` is the app folder (for "looked for" paths), `modules`
/// the app's collected modules (module paths must name one of them).
pub(crate) fn parse(
    text: &str,
    file: &Path,
    root: &Path,
    modules: &Modules,
) -> Result<Manifest, Vec<ManifestError>> {
    let mut cx = Checker::new(text, file);
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            cx.error(e.span(), "", format!("TOML syntax error: {}", e.message()));
            return Err(cx.finish());
        }
    };
    let manifest = cx.manifest(doc.get_ref(), root, modules);
    let errors = cx.finish();
    if errors.is_empty() {
        Ok(manifest)
    } else {
        Err(errors)
    }
}

/// A var or secret as declared: its name, value (`Undefined` for a
/// secret), and where (the span and field path of its name).
#[derive(Clone)]
struct EnvName {
    name: String,
    value: Value,
    span: Range<usize>,
    field: String,
}

/// The app-wide `[vars]` and `secrets`, inherited by every service.
struct EnvDefaults {
    vars: Vec<EnvName>,
    secrets: Vec<EnvName>,
}

type Entry<'t, 'i> = (
    &'t Spanned<toml::de::DeString<'i>>,
    &'t Spanned<DeValue<'i>>,
);

/// Walks the parsed document, collecting errors.
struct Checker<'a> {
    file: &'a Path,
    text: &'a str,
    errors: Vec<(usize, ManifestError)>,
}

impl<'a> Checker<'a> {
    fn new(text: &'a str, file: &'a Path) -> Self {
        Checker {
            file,
            text,
            errors: Vec::new(),
        }
    }

    /// Records a problem at byte `span` (if known) of the manifest.
    fn error(&mut self, span: Option<Range<usize>>, field: &str, message: impl Into<String>) {
        let offset = span.map(|s| s.start.min(self.text.len()));
        let (line, column) = match offset {
            Some(offset) => {
                let (line, column) = line_col(self.text, offset);
                (Some(line), Some(column))
            }
            None => (None, None),
        };
        self.errors.push((
            offset.unwrap_or(0),
            ManifestError {
                file: self.file.to_path_buf(),
                line,
                column,
                field: field.to_owned(),
                message: message.into(),
            },
        ));
    }

    /// The errors in file order (errors without a place first).
    fn finish(mut self) -> Vec<ManifestError> {
        self.errors
            .sort_by_key(|(offset, e)| (e.line.is_some(), *offset));
        self.errors.into_iter().map(|(_, e)| e).collect()
    }

    fn manifest(&mut self, doc: &DeTable<'_>, root: &Path, modules: &Modules) -> Manifest {
        self.unknown_keys(doc, "", TOP_KEYS);

        let name = match doc.get_key_value("name") {
            Some((_, v)) => self
                .string(v, "name")
                .and_then(|name| match check_name(name, false) {
                    Ok(()) => Some(name.to_owned()),
                    Err(why) => {
                        self.error(Some(v.span()), "name", format!("app name {name:?} {why}"));
                        None
                    }
                }),
            None => {
                self.error(
                    None,
                    "name",
                    "missing required key: add `name = \"my-app\"` at the top of the manifest",
                );
                None
            }
        };

        let engine = match doc.get_key_value("engine") {
            Some((_, v)) => self.engine(v),
            None => None,
        };

        let limits = match doc.get_key_value("limits") {
            Some((_, v)) => self.limits(v, "limits", Limits::default()),
            None => Limits::default(),
        };

        let http = match doc.get_key_value("http") {
            Some((_, v)) => self.http(v),
            None => HttpSpec::default(),
        };

        let admin = match doc.get_key_value("admin") {
            Some((_, v)) => self.admin(v),
            None => AdminSpec::default(),
        };

        let trace = match doc.get_key_value("trace") {
            Some((_, v)) => self.trace(v),
            None => crate::trace::TraceConfig::default(),
        };

        let stores = match doc.get_key_value("stores") {
            Some((_, v)) => self.stores(v),
            None => Vec::new(),
        };

        let env = EnvDefaults {
            vars: match doc.get_key_value("vars") {
                Some((_, v)) => self.vars(v, "vars"),
                None => Vec::new(),
            },
            secrets: match doc.get_key_value("secrets") {
                Some((_, v)) => self.secret_names(v, "secrets"),
                None => Vec::new(),
            },
        };
        self.env_clashes(&env.vars, &env.secrets);

        let services = match doc.get_key_value("services") {
            Some((_, v)) => self.services(v, &limits, &stores, &env, root, modules),
            None => {
                self.error(
                    None,
                    "services",
                    "no services declared: add at least one [services.NAME] table with a `module`",
                );
                Vec::new()
            }
        };

        Manifest {
            name: name.unwrap_or_default(),
            engine,
            limits,
            http,
            admin,
            trace,
            stores,
            services,
        }
    }

    /// The top-level `engine` key: one of [`ENGINE_NAMES`].
    fn engine(&mut self, value: &Spanned<DeValue<'_>>) -> Option<String> {
        let name = self.string(value, "engine")?;
        if ENGINE_NAMES.contains(&name) {
            return Some(name.to_owned());
        }
        self.error(
            Some(value.span()),
            "engine",
            format!(
                "unknown engine {name:?}: expected \"quickjs\" (the default) or \"v8\" (needs a build with --features v8){}",
                did_you_mean(name, ENGINE_NAMES)
            ),
        );
        None
    }

    fn limits(&mut self, value: &Spanned<DeValue<'_>>, field: &str, base: Limits) -> Limits {
        let mut limits = base;
        let Some(table) = self.table(value, field) else {
            return limits;
        };
        self.unknown_keys(table, field, LIMIT_KEYS);
        if let Some(n) = self.int_key(table, field, "cpu_ms", CPU_MS) {
            limits.cpu_ms = n;
        }
        if let Some(n) = self.int_key(table, field, "memory_mb", MEMORY_MB) {
            limits.memory_mb = n;
        }
        if let Some(n) = self.int_key(table, field, "timeout_ms", TIMEOUT_MS) {
            limits.timeout_ms = n;
        }
        if let Some(n) = self.int_key(table, field, "max_concurrency", MAX_CONCURRENCY) {
            limits.max_concurrency = to_usize(n);
        }
        if let Some(n) = self.int_key(table, field, "fetch_body_mb", FETCH_BODY_MB) {
            limits.fetch_body_mb = n;
        }
        limits
    }

    fn http(&mut self, value: &Spanned<DeValue<'_>>) -> HttpSpec {
        let mut http = HttpSpec::default();
        let Some(table) = self.table(value, "http") else {
            return http;
        };
        self.unknown_keys(table, "http", HTTP_KEYS);
        if let Some(kb) = self.int_key(table, "http", "max_body_kb", MAX_BODY_KB) {
            http.max_body_bytes = to_usize(kb).saturating_mul(1024);
        }
        if let Some(ms) = self.int_key(table, "http", "header_timeout_ms", HEADER_TIMEOUT_MS) {
            http.header_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = self.int_key(table, "http", "idle_timeout_ms", IDLE_TIMEOUT_MS) {
            http.idle_timeout = Duration::from_millis(ms);
        }
        if let Some(n) = self.int_key(table, "http", "max_connections", MAX_CONNECTIONS) {
            http.max_connections = Some(to_usize(n));
        }
        if let Some(ms) = self.int_key(table, "http", "drain_timeout_ms", DRAIN_TIMEOUT_MS) {
            http.drain_timeout = Some(Duration::from_millis(ms));
        }
        if let Some((_, v)) = table.get_key_value("access_log") {
            match v.get_ref() {
                DeValue::Boolean(on) => http.access_log = Some(*on),
                other => self.error(
                    Some(v.span()),
                    "http.access_log",
                    format!("expected true or false, found {}", describe(other)),
                ),
            }
        }
        http
    }

    fn admin(&mut self, value: &Spanned<DeValue<'_>>) -> AdminSpec {
        let mut admin = AdminSpec::default();
        let Some(table) = self.table(value, "admin") else {
            return admin;
        };
        self.unknown_keys(table, "admin", ADMIN_KEYS);
        if let Some((_, v)) = table.get_key_value("listen")
            && let Some(text) = self.string(v, "admin.listen")
        {
            match text.parse::<AdminListen>() {
                Ok(listen) => admin.listen = Some(listen),
                Err(why) => self.error(Some(v.span()), "admin.listen", why),
            }
        }
        admin
    }

    /// `[trace]` (see `docs/tracing.md`).
    fn trace(&mut self, value: &Spanned<DeValue<'_>>) -> crate::trace::TraceConfig {
        let mut trace = crate::trace::TraceConfig::default();
        let Some(table) = self.table(value, "trace") else {
            return trace;
        };
        self.unknown_keys(table, "trace", TRACE_KEYS);
        if let Some((_, v)) = table.get_key_value("sample_rate") {
            let rate = match v.get_ref() {
                DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
                DeValue::Integer(i) => i.as_str().parse::<f64>().ok(),
                _ => None,
            };
            match rate {
                Some(r) if (0.0..=1.0).contains(&r) => trace.sample_rate = r,
                _ => self.error(
                    Some(v.span()),
                    "trace.sample_rate",
                    format!(
                        "expected a number from 0 to 1 (the share of requests traced), found {}",
                        describe(v.get_ref())
                    ),
                ),
            }
        }
        if let Some(ms) = self.int_key(table, "trace", "slow_ms", SLOW_MS) {
            trace.slow = Duration::from_millis(ms);
        }
        if let Some((_, v)) = table.get_key_value("keep") {
            match v.get_ref() {
                DeValue::Boolean(on) => trace.keep = *on,
                other => self.error(
                    Some(v.span()),
                    "trace.keep",
                    format!("expected true or false, found {}", describe(other)),
                ),
            }
        }
        if let Some((_, v)) = table.get_key_value("otlp_endpoint")
            && let Some(url) = self.string(v, "trace.otlp_endpoint")
        {
            if url.starts_with("http://") || url.starts_with("https://") {
                trace.otlp_endpoint = Some(crate::trace::traces_url(url));
            } else {
                self.error(
                    Some(v.span()),
                    "trace.otlp_endpoint",
                    format!(
                        "expected an http:// or https:// URL (the OTLP/HTTP base, e.g. \"http://localhost:4318\"), found {url:?}"
                    ),
                );
            }
        }
        if let Some((_, v)) = table.get_key_value("otlp_headers")
            && let Some(headers) = self.table(v, "trace.otlp_headers")
        {
            for (key, value) in headers.iter() {
                let name: &str = key.get_ref().as_ref();
                let field = join("trace.otlp_headers", name);
                if let Some(text) = self.string(value, &field) {
                    trace.otlp_headers.push((name.to_owned(), text.to_owned()));
                }
            }
        }
        trace
    }

    fn stores(&mut self, value: &Spanned<DeValue<'_>>) -> Vec<StoreSpec> {
        let mut stores = Vec::new();
        let Some(table) = self.table(value, "stores") else {
            return stores;
        };
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            let field = join("stores", name);
            if let Err(why) = check_name(name, false) {
                self.error(
                    Some(key.span()),
                    &field,
                    format!("store name {name:?} {why}"),
                );
                continue;
            }
            let Some(store) = self.table(value, &field) else {
                continue;
            };
            self.unknown_keys(store, &field, STORE_KEYS);
            let mut durability = Durability::default();
            if let Some((_, v)) = store.get_key_value("durability") {
                let f = join(&field, "durability");
                match self.string(v, &f) {
                    Some("durable") => durability = Durability::Durable,
                    Some("relaxed") => durability = Durability::Relaxed,
                    Some(other) => self.error(
                        Some(v.span()),
                        &f,
                        format!(
                            "unknown durability {other:?}: expected \"durable\" (acknowledged after fsync) or \"relaxed\" (acknowledged before fsync, for caches){}",
                            did_you_mean(other, &["durable", "relaxed"])
                        ),
                    ),
                    None => {}
                }
            }
            let mut postgres = false;
            if let Some((_, v)) = store.get_key_value("backend") {
                let f = join(&field, "backend");
                match self.string(v, &f) {
                    Some("embedded") => {}
                    Some("postgres") => postgres = true,
                    Some(other) => self.error(
                        Some(v.span()),
                        &f,
                        format!(
                            "unknown backend {other:?}: expected \"embedded\" (the node's own data folder) or \"postgres\" (a PostgreSQL database the nodes share){}",
                            did_you_mean(other, &["embedded", "postgres"])
                        ),
                    ),
                    None => {}
                }
            }
            let mut url_secret = DEFAULT_URL_SECRET.to_owned();
            if let Some((_, v)) = store.get_key_value("url_secret") {
                let f = join(&field, "url_secret");
                if let Some(secret) = self.string(v, &f) {
                    if !postgres {
                        self.error(
                            Some(v.span()),
                            &f,
                            "url_secret is only for backend = \"postgres\"".to_owned(),
                        );
                    } else if secret.contains("://") || secret.contains('@') {
                        // Not repeated: it may hold a password.
                        self.error(
                            Some(v.span()),
                            &f,
                            "url_secret is the name of the secret that holds the connection URL \
                             (e.g. DATABASE_URL), not the URL: the URL must not be in the manifest"
                                .to_owned(),
                        );
                    } else if let Err(why) = check_env_name(secret) {
                        self.error(Some(v.span()), &f, format!("secret name {secret:?} {why}"));
                    } else {
                        secret.clone_into(&mut url_secret);
                    }
                }
            }
            stores.push(StoreSpec {
                name: name.to_owned(),
                durability,
                backend: if postgres {
                    Backend::Postgres { url_secret }
                } else {
                    Backend::Embedded
                },
            });
        }
        stores.sort_by(|a, b| a.name.cmp(&b.name));
        stores
    }

    fn services(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        defaults: &Limits,
        stores: &[StoreSpec],
        env: &EnvDefaults,
        root: &Path,
        modules: &Modules,
    ) -> Vec<ServiceSpec> {
        let mut services = Vec::new();
        let Some(table) = self.table(value, "services") else {
            return services;
        };
        if table.is_empty() {
            self.error(
                Some(value.span()),
                "services",
                "no services declared: add at least one [services.NAME] table with a `module`",
            );
            return services;
        }
        // route -> (service, byte offset, line) of its first claim.
        let mut claimed: BTreeMap<String, (String, usize)> = BTreeMap::new();
        let mut entries: Vec<Entry<'_, '_>> = table.iter().collect();
        // Check in file order, so "already claimed by" points backwards.
        entries.sort_by_key(|(k, _)| k.span().start);
        for (key, value) in entries {
            let name = key.get_ref().as_ref();
            let field = join("services", name);
            if let Err(why) = check_name(name, true) {
                self.error(
                    Some(key.span()),
                    &field,
                    format!("service name {name:?} {why}"),
                );
                continue;
            }
            let Some(service) = self.table(value, &field) else {
                continue;
            };
            self.unknown_keys(service, &field, SERVICE_KEYS);

            let module = match service.get_key_value("module") {
                Some((_, v)) => {
                    let f = join(&field, "module");
                    self.string(v, &f)
                        .and_then(|m| self.module(m, v.span(), &f, root, modules))
                }
                None => {
                    self.error(
                        Some(value.span()),
                        &field,
                        "missing required key `module`: the service's JavaScript file, e.g. `module = \"frontend.js\"`",
                    );
                    None
                }
            };

            let routes = match service.get_key_value("routes") {
                Some((_, v)) => self.routes(v, &join(&field, "routes"), name, &mut claimed),
                None => Vec::new(),
            };

            let grants = match service.get_key_value("stores") {
                Some((_, v)) => self.grants(v, &join(&field, "stores"), stores),
                None => Vec::new(),
            };

            let fetch = match service.get_key_value("fetch") {
                Some((_, v)) => self.fetch_grants(v, &join(&field, "fetch")),
                None => Vec::new(),
            };

            let limits = match service.get_key_value("limits") {
                Some((_, v)) => self.limits(v, &join(&field, "limits"), *defaults),
                None => *defaults,
            };

            let min_instances = self
                .int_key(service, &field, "min_instances", MIN_INSTANCES)
                .map_or(1, to_usize);
            let max_instances = self
                .int_key(service, &field, "max_instances", MAX_INSTANCES)
                .map(to_usize);
            if let Some(max) = max_instances
                && min_instances > max
                && let Some((_, v)) = service.get_key_value("max_instances")
            {
                self.error(
                    Some(v.span()),
                    &join(&field, "max_instances"),
                    format!("max_instances ({max}) is less than min_instances ({min_instances})"),
                );
            }

            let own_vars = match service.get_key_value("vars") {
                Some((_, v)) => self.vars(v, &join(&field, "vars")),
                None => Vec::new(),
            };
            let own_secrets = match service.get_key_value("secrets") {
                Some((_, v)) => self.secret_names(v, &join(&field, "secrets")),
                None => Vec::new(),
            };
            // A service's secret named like any var it sees, or a service's
            // var named like an app-wide secret.
            let all_vars: Vec<EnvName> = env.vars.iter().chain(&own_vars).cloned().collect();
            self.env_clashes(&all_vars, &own_secrets);
            self.env_clashes(&own_vars, &env.secrets);
            let mut vars: Vec<(String, Value)> = Vec::new();
            for var in env.vars.iter().chain(&own_vars) {
                match vars.iter_mut().find(|(k, _)| *k == var.name) {
                    Some(slot) => slot.1 = var.value.clone(),
                    None => vars.push((var.name.clone(), var.value.clone())),
                }
            }
            let mut secrets: Vec<String> = env
                .secrets
                .iter()
                .chain(&own_secrets)
                .map(|s| s.name.clone())
                .collect();
            secrets.sort();
            secrets.dedup();

            if let Some(module) = module {
                services.push(ServiceSpec {
                    name: name.to_owned(),
                    module,
                    routes,
                    stores: grants,
                    fetch,
                    limits,
                    min_instances,
                    max_instances,
                    vars,
                    secrets,
                });
            }
        }
        services.sort_by(|a, b| a.name.cmp(&b.name));
        services
    }

    /// Validates a module path and returns its specifier in `modules`.
    fn module(
        &mut self,
        path: &str,
        span: Range<usize>,
        field: &str,
        root: &Path,
        modules: &Modules,
    ) -> Option<String> {
        let specifier = match normalize_module_path(path) {
            Ok(specifier) => specifier,
            Err(why) => {
                self.error(Some(span), field, format!("module path {path:?} {why}"));
                return None;
            }
        };
        if modules.get(&specifier).is_some() {
            return Some(specifier);
        }
        let looked_for = root.join(&specifier);
        let mut message = format!(
            "module {path:?} not found: looked for {}",
            looked_for.display()
        );
        if specifier
            .split('/')
            .any(|part| part.starts_with('.') || part == "node_modules")
        {
            message.push_str(" (files in hidden folders and node_modules are not part of the app)");
        }
        let candidates: Vec<&str> = modules.specifiers().collect();
        message.push_str(&did_you_mean(&specifier, &candidates));
        self.error(Some(span), field, message);
        None
    }

    fn routes(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        field: &str,
        service: &str,
        claimed: &mut BTreeMap<String, (String, usize)>,
    ) -> Vec<String> {
        let mut routes: Vec<String> = Vec::new();
        let Some(items) = self.array(value, field) else {
            return routes;
        };
        for (i, item) in items.iter().enumerate() {
            let f = format!("{field}[{i}]");
            let Some(route) = self.string(item, &f) else {
                continue;
            };
            if let Err(why) = check_route(route) {
                self.error(Some(item.span()), &f, format!("route {route:?} {why}"));
                continue;
            }
            if routes.iter().any(|r| r == route) {
                self.error(
                    Some(item.span()),
                    &f,
                    format!("route {route:?} is listed twice"),
                );
                continue;
            }
            match claimed.get(route) {
                Some((other, offset)) => {
                    let (line, _) = line_col(self.text, *offset);
                    self.error(
                        Some(item.span()),
                        &f,
                        format!(
                            "route {route:?} is claimed by two services: {other:?} (line {line}) and {service:?}; each route prefix must belong to one service"
                        ),
                    );
                    continue;
                }
                None => {
                    claimed.insert(route.to_owned(), (service.to_owned(), item.span().start));
                }
            }
            routes.push(route.to_owned());
        }
        routes
    }

    /// `stores = ["a", "b"]` (read-write) or `stores = { a = "read" }`.
    fn grants(
        &mut self,
        value: &Spanned<DeValue<'_>>,
        field: &str,
        declared: &[StoreSpec],
    ) -> Vec<StoreGrant> {
        let mut grants: Vec<StoreGrant> = Vec::new();
        // (store name, its span, field path, access)
        let mut wanted: Vec<(String, Range<usize>, String, Access)> = Vec::new();
        match value.get_ref() {
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let f = format!("{field}[{i}]");
                    if let Some(store) = self.string(item, &f) {
                        wanted.push((store.to_owned(), item.span(), f, Access::ReadWrite));
                    }
                }
            }
            DeValue::Table(table) => {
                for (key, v) in table.iter() {
                    let store = key.get_ref().as_ref();
                    let f = join(field, store);
                    let access = match self.string(v, &f) {
                        Some("read") => Access::Read,
                        Some("read-write") => Access::ReadWrite,
                        Some(other) => {
                            self.error(
                                Some(v.span()),
                                &f,
                                format!(
                                    "unknown access {other:?}: expected \"read\" or \"read-write\"{}",
                                    did_you_mean(other, &["read", "read-write"])
                                ),
                            );
                            continue;
                        }
                        None => continue,
                    };
                    wanted.push((store.to_owned(), key.span(), f, access));
                }
            }
            other => {
                self.error(
                    Some(value.span()),
                    field,
                    format!(
                        "expected a list of store names (`[\"users\"]`) or a table of access levels (`{{ users = \"read\" }}`), found {}",
                        other.type_str()
                    ),
                );
            }
        }
        for (store, span, f, access) in wanted {
            if !declared.iter().any(|s| s.name == store) {
                let names: Vec<&str> = declared.iter().map(|s| s.name.as_str()).collect();
                let listed = if names.is_empty() {
                    "no stores are declared".to_owned()
                } else {
                    format!(
                        "declared stores: {}",
                        names
                            .iter()
                            .map(|n| format!("{n:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                let hint = match did_you_mean(&store, &names) {
                    hint if hint.is_empty() => {
                        format!("; declare it with a [stores.{}] table", join("", &store))
                    }
                    hint => hint,
                };
                self.error(
                    Some(span),
                    &f,
                    format!("store {store:?} is not declared under [stores] ({listed}){hint}"),
                );
                continue;
            }
            if grants.iter().any(|g| g.store == store) {
                self.error(Some(span), &f, format!("store {store:?} is granted twice"));
                continue;
            }
            grants.push(StoreGrant { store, access });
        }
        grants.sort_by(|a, b| a.store.cmp(&b.store));
        grants
    }

    /// A `[vars]` table: each key a var name, each value converted to a
    /// JSON-like [`Value`].
    fn vars(&mut self, value: &Spanned<DeValue<'_>>, field: &str) -> Vec<EnvName> {
        let mut vars = Vec::new();
        let Some(table) = self.table(value, field) else {
            return vars;
        };
        let mut entries: Vec<Entry<'_, '_>> = table.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (key, v) in entries {
            let name = key.get_ref().as_ref();
            let f = join(field, name);
            if let Err(why) = check_env_name(name) {
                self.error(Some(key.span()), &f, format!("var name {name:?} {why}"));
                continue;
            }
            if let Some(value) = self.var_value(v, &f) {
                vars.push(EnvName {
                    name: name.to_owned(),
                    value,
                    span: key.span(),
                    field: f,
                });
            }
        }
        vars
    }

    /// A TOML value as the [`Value`] JavaScript sees in `env`.
    fn var_value(&mut self, value: &Spanned<DeValue<'_>>, field: &str) -> Option<Value> {
        Some(match value.get_ref() {
            DeValue::String(s) => Value::String(s.as_ref().to_owned()),
            DeValue::Boolean(b) => Value::Bool(*b),
            DeValue::Integer(int) => match i128::from_str_radix(int.as_str(), int.radix()).ok() {
                Some(n) if n.abs() <= MAX_SAFE_INTEGER => Value::Number(n as f64),
                _ => {
                    self.error(
                            Some(value.span()),
                            field,
                            format!(
                                "integer {int} does not fit a JavaScript number exactly (largest: 2^53 - 1); write it as a string"
                            ),
                        );
                    return None;
                }
            },
            DeValue::Float(f) => {
                let text = f.as_str().replace('_', "");
                let n = match text.trim_start_matches('+') {
                    "inf" => f64::INFINITY,
                    "-inf" => f64::NEG_INFINITY,
                    "nan" | "-nan" => f64::NAN,
                    other => match other.parse::<f64>() {
                        Ok(n) => n,
                        Err(_) => {
                            self.error(Some(value.span()), field, format!("invalid float {text}"));
                            return None;
                        }
                    },
                };
                Value::Number(n)
            }
            DeValue::Datetime(d) => Value::String(d.to_string()),
            DeValue::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(self.var_value(item, &format!("{field}[{i}]"))?);
                }
                Value::Array(out)
            }
            DeValue::Table(table) => {
                let mut entries: Vec<Entry<'_, '_>> = table.iter().collect();
                entries.sort_by_key(|(k, _)| k.span().start);
                let mut out = Vec::with_capacity(entries.len());
                for (key, v) in entries {
                    let name = key.get_ref().as_ref();
                    out.push((name.into(), self.var_value(v, &join(field, name))?));
                }
                Value::Object(out)
            }
        })
    }

    /// `secrets = ["NAME", ...]`: names only (values never live in the
    /// manifest).
    fn secret_names(&mut self, value: &Spanned<DeValue<'_>>, field: &str) -> Vec<EnvName> {
        let mut names: Vec<EnvName> = Vec::new();
        let items = match value.get_ref() {
            DeValue::Array(items) => items,
            DeValue::Table(_) => {
                self.error(
                    Some(value.span()),
                    field,
                    "expected a list of secret names (`secrets = [\"API_KEY\"]`), found a table: \
                     secret values never go in the manifest; they are read from the environment \
                     or a --secrets file when the app starts",
                );
                return names;
            }
            other => {
                self.error(
                    Some(value.span()),
                    field,
                    format!(
                        "expected a list of secret names (`secrets = [\"API_KEY\"]`), found {}",
                        describe(other)
                    ),
                );
                return names;
            }
        };
        for (i, item) in items.iter().enumerate() {
            let f = format!("{field}[{i}]");
            let Some(name) = self.string(item, &f) else {
                continue;
            };
            if let Err(why) = check_env_name(name) {
                self.error(Some(item.span()), &f, format!("secret name {name:?} {why}"));
                continue;
            }
            if names.iter().any(|n| n.name == name) {
                self.error(
                    Some(item.span()),
                    &f,
                    format!("secret {name:?} is listed twice"),
                );
                continue;
            }
            names.push(EnvName {
                name: name.to_owned(),
                value: Value::Undefined,
                span: item.span(),
                field: f,
            });
        }
        names
    }

    /// Reports each secret of `secrets` that has the name of a var in `vars`
    /// (`env` holds one value per name), at the later of the two.
    fn env_clashes(&mut self, vars: &[EnvName], secrets: &[EnvName]) {
        for secret in secrets {
            let Some(var) = vars.iter().find(|v| v.name == secret.name) else {
                continue;
            };
            let (var_line, _) = line_col(self.text, var.span.start);
            let (secret_line, _) = line_col(self.text, secret.span.start);
            let later = if var.span.start > secret.span.start {
                var
            } else {
                secret
            };
            self.error(
                Some(later.span.clone()),
                &later.field,
                format!(
                    "{:?} is both a var (line {var_line}) and a secret (line {secret_line}); \
                     `env` holds one value per name: rename or remove one",
                    secret.name
                ),
            );
        }
    }

    /// `fetch = ["https://api.example.com", "http://127.0.0.1:9200"]`: the
    /// origins a service may fetch from.
    fn fetch_grants(&mut self, value: &Spanned<DeValue<'_>>, field: &str) -> Vec<OriginPattern> {
        let mut grants: Vec<OriginPattern> = Vec::new();
        let DeValue::Array(items) = value.get_ref() else {
            self.error(
                Some(value.span()),
                field,
                format!(
                    "expected a list of origins (`[\"https://api.example.com\"]`), found {}",
                    describe(value.get_ref())
                ),
            );
            return grants;
        };
        for (i, item) in items.iter().enumerate() {
            let f = format!("{field}[{i}]");
            let Some(text) = self.string(item, &f) else {
                continue;
            };
            match OriginPattern::parse(text) {
                Ok(grant) if grants.contains(&grant) => self.error(
                    Some(item.span()),
                    &f,
                    format!("origin {text:?} is granted twice"),
                ),
                Ok(grant) => grants.push(grant),
                Err(why) => self.error(Some(item.span()), &f, format!("grant {text:?} {why}")),
            }
        }
        grants
    }

    /// Reports every key of `table` not in `allowed`.
    fn unknown_keys(&mut self, table: &DeTable<'_>, field: &str, allowed: &[&str]) {
        for (key, _) in table.iter() {
            let name = key.get_ref().as_ref();
            if allowed.contains(&name) {
                continue;
            }
            let hint = did_you_mean(name, allowed);
            let message = if hint.is_empty() {
                format!(
                    "unknown field, expected one of: {}",
                    allowed
                        .iter()
                        .map(|k| format!("{k:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                format!("unknown field{hint}")
            };
            self.error(Some(key.span()), &join(field, name), message);
        }
    }

    fn table<'t, 'i>(
        &mut self,
        value: &'t Spanned<DeValue<'i>>,
        field: &str,
    ) -> Option<&'t DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            other => {
                self.error(
                    Some(value.span()),
                    field,
                    format!("expected a table, found {}", describe(other)),
                );
                None
            }
        }
    }

    fn array<'t, 'i>(
        &mut self,
        value: &'t Spanned<DeValue<'i>>,
        field: &str,
    ) -> Option<&'t [Spanned<DeValue<'i>>]> {
        match value.get_ref() {
            DeValue::Array(items) => Some(items),
            other => {
                self.error(
                    Some(value.span()),
                    field,
                    format!("expected a list of strings, found {}", describe(other)),
                );
                None
            }
        }
    }

    fn string<'t>(&mut self, value: &'t Spanned<DeValue<'_>>, field: &str) -> Option<&'t str> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.as_ref()),
            other => {
                self.error(
                    Some(value.span()),
                    field,
                    format!("expected a string, found {}", describe(other)),
                );
                None
            }
        }
    }

    /// The integer under `key` of `table`, if present and valid.
    fn int_key(
        &mut self,
        table: &DeTable<'_>,
        field: &str,
        key: &str,
        range: RangeInclusive<u64>,
    ) -> Option<u64> {
        let (_, value) = table.get_key_value(key)?;
        let field = join(field, key);
        let DeValue::Integer(int) = value.get_ref() else {
            self.error(
                Some(value.span()),
                &field,
                format!(
                    "expected a positive integer between {} and {}, found {}",
                    range.start(),
                    range.end(),
                    describe(value.get_ref())
                ),
            );
            return None;
        };
        let n = i128::from_str_radix(int.as_str(), int.radix()).ok();
        match n {
            Some(n) if n >= i128::from(*range.start()) && n <= i128::from(*range.end()) => {
                u64::try_from(n).ok()
            }
            _ => {
                self.error(
                    Some(value.span()),
                    &field,
                    format!(
                        "must be an integer between {} and {}, found {int}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }
}

/// Describes a TOML value's type for "expected X, found Y" messages.
fn describe(value: &DeValue<'_>) -> String {
    match value {
        DeValue::String(s) => format!("string {s:?}"),
        DeValue::Integer(i) => format!("integer {i}"),
        DeValue::Float(f) => format!("float {f}"),
        DeValue::Boolean(b) => format!("boolean {b}"),
        DeValue::Datetime(d) => format!("datetime {d}"),
        DeValue::Array(_) => "an array".to_owned(),
        DeValue::Table(_) => "a table".to_owned(),
    }
}

/// Converts a validated count to `usize` (ranges are small enough for any
/// platform; saturates otherwise).
fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Appends `key` to a dotted field path, quoting keys that are not bare.
fn join(parent: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if parent.is_empty() {
        key
    } else {
        format!("{parent}.{key}")
    }
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Checks an app, store (`service == false`: `[a-z0-9_-]+`) or service
/// (`[a-z][a-z0-9_-]*`) name; `Err` completes "name X ...".
fn check_name(name: &str, service: bool) -> Result<(), String> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if name.is_empty() {
        return Err("is empty".to_owned());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("is longer than {MAX_NAME_LEN} characters"));
    }
    if service && !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(
            "is invalid: a service name starts with a lowercase letter, followed by lowercase letters, digits, '-' or '_'".to_owned(),
        );
    }
    if !valid_chars {
        return Err("is invalid: use only lowercase letters, digits, '-' and '_'".to_owned());
    }
    Ok(())
}

/// Checks a var or secret name: what an environment variable may be called
/// (and a plain property name in JavaScript). `Err` completes "var name X
/// ...".
fn check_env_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("is empty".to_owned());
    }
    if name.len() > MAX_ENV_NAME_LEN {
        return Err(format!("is longer than {MAX_ENV_NAME_LEN} characters"));
    }
    if name.starts_with(|c: char| c.is_ascii_digit())
        || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(
            "is invalid: use letters, digits and '_', not starting with a digit (e.g. API_URL)"
                .to_owned(),
        );
    }
    Ok(())
}

/// Checks an HTTP route prefix; `Err` completes "route X ...".
fn check_route(route: &str) -> Result<(), &'static str> {
    if !route.starts_with('/') {
        return Err("must start with \"/\" (it is a URL path prefix, e.g. \"/api/\")");
    }
    if route
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
    {
        return Err("must be a plain URL path: no whitespace, '?' or '#'");
    }
    Ok(())
}

/// Turns a manifest module path into a [`Modules`] specifier: relative to the
/// app folder, `/`-separated, without `.` segments. `Err` completes
/// "module path X ...".
pub(crate) fn normalize_module_path(path: &str) -> Result<String, String> {
    if path.is_empty() {
        return Err("is empty".to_owned());
    }
    if path.starts_with('/') || path.starts_with('\\') || path.get(1..2) == Some(":") {
        return Err("must be relative to the app folder, not absolute".to_owned());
    }
    if path.contains('\\') {
        return Err("must use '/' as separator".to_owned());
    }
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err("escapes the app folder: modules must live inside it".to_owned());
                }
            }
            other => parts.push(other),
        }
    }
    let specifier = parts.join("/");
    if ![".js", ".mjs", ".ts", ".mts"]
        .iter()
        .any(|ext| specifier.ends_with(ext))
    {
        return Err(
            "must name a JavaScript or TypeScript file ending in .js, .mjs, .ts or .mts".to_owned(),
        );
    }
    Ok(specifier)
}

/// `", did you mean \"x\"?"` for the candidate closest to `word` within edit
/// distance 2, else one that extends `word` (`timeout` → `timeout_ms`), else
/// a module with the same file name in another folder; `""` if none fits.
pub(crate) fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    let best = candidates
        .iter()
        .map(|c| (levenshtein(word, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
        .or_else(|| {
            let mut longer = candidates
                .iter()
                .filter(|c| word.chars().count() >= 3 && c.starts_with(word));
            let first = longer.next()?;
            longer.next().is_none().then_some(*first)
        })
        .or_else(|| {
            // A module in another folder with the same file name.
            let file = word.rsplit('/').next()?;
            let mut same = candidates
                .iter()
                .filter(|c| c.rsplit('/').next() == Some(file));
            let first = same.next()?;
            same.next().is_none().then_some(*first)
        });
    match best {
        Some(c) => format!(", did you mean {c:?}?"),
        None => String::new(),
    }
}

/// Edit distance (insertions, deletions, substitutions) between two strings,
/// counted in characters.
pub(crate) fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitute.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levenshtein_counts_edits() {
        assert_eq!(levenshtein("", ""), 0);
        assert_eq!(levenshtein("module", "module"), 0);
        assert_eq!(levenshtein("modul", "module"), 1);
        assert_eq!(levenshtein("mdoule", "module"), 2);
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("é", "e"), 1, "counts characters, not bytes");
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("modul", SERVICE_KEYS),
            ", did you mean \"module\"?"
        );
        assert_eq!(
            did_you_mean("route", SERVICE_KEYS),
            ", did you mean \"routes\"?"
        );
        assert_eq!(
            did_you_mean("timeout", LIMIT_KEYS),
            ", did you mean \"timeout_ms\"?"
        );
        assert_eq!(did_you_mean("zzz", SERVICE_KEYS), "");
        assert_eq!(
            did_you_mean("a/x.js", &["b/x.js", "c/y.js"]),
            ", did you mean \"b/x.js\"?"
        );
        assert_eq!(
            did_you_mean("long/x.js", &["b/x.js", "c/x.js"]),
            "",
            "ambiguous"
        );
    }

    #[test]
    fn line_col_is_one_based_and_counts_characters() {
        let text = "ab\nçd\n\nx";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 1), (1, 2));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 5), (2, 2), "ç is two bytes, one column");
        assert_eq!(line_col(text, 8), (4, 1));
        assert_eq!(line_col(text, 100), (4, 2), "clamped to the end");
    }

    #[test]
    fn module_paths_normalize_to_specifiers() {
        assert_eq!(normalize_module_path("a.js").as_deref(), Ok("a.js"));
        assert_eq!(
            normalize_module_path("./lib/./x.mjs").as_deref(),
            Ok("lib/x.mjs")
        );
        assert_eq!(normalize_module_path("lib/../a.js").as_deref(), Ok("a.js"));
        assert!(normalize_module_path("../a.js").is_err());
        assert!(normalize_module_path("lib/../../a.js").is_err());
        assert!(normalize_module_path("/a.js").is_err());
        assert!(normalize_module_path("C:/a.js").is_err());
        assert!(normalize_module_path("lib\\a.js").is_err());
        assert!(normalize_module_path("a.json").is_err());
        assert_eq!(normalize_module_path("a.ts").as_deref(), Ok("a.ts"));
        assert!(normalize_module_path("").is_err());
        assert!(normalize_module_path("lib/").is_err());
    }

    #[test]
    fn names() {
        assert!(check_name("social-network_2", false).is_ok());
        assert!(check_name("2fa", false).is_ok());
        assert!(check_name("2fa", true).is_err());
        assert!(check_name("unique-id", true).is_ok());
        assert!(check_name("Caps", false).is_err());
        assert!(check_name("a.b", false).is_err());
        assert!(check_name("", true).is_err());
        assert!(check_name(&"a".repeat(65), true).is_err());
    }
}
