//! Outbound HTTP: what `fetch()` in a service reaches, and how.
//!
//! The engine knows nothing of this: a `fetch()` is an
//! [`Effect::Fetch`](crate::engine::Effect) like a call, which the scheduler
//! hands to [`Outbound::fetch`]; the completion comes back to the instance's
//! mailbox as a reply, as a store write's does. In between:
//!
//! - the **grant** (`grant.rs`): every URL a fetch would reach, the first
//!   and every redirect, must be on an origin listed in the service's
//!   `fetch = [...]` in `pyrosome.toml`; anything else rejects with a
//!   TypeError that names the service and its grants;
//! - the **client** (`client.rs`): hyper-util's pooling client (HTTP/1.1
//!   with keep-alive, HTTP/2 where TLS negotiates it) over rustls with the
//!   Mozilla root store compiled in (`webpki-roots`: nothing is read or
//!   downloaded at build or run time), on a small tokio runtime of its own,
//!   started with the first fetch;
//! - the **registry** (here): every request, and every response body not
//!   yet read, belongs to an invocation ([`Owner`]). A fetch resolves when
//!   the response head arrives; its body stays on the connection until
//!   JavaScript reads it ([`Outbound::read_body`], bounded by the service's
//!   `fetch_body_mb`) or until the invocation ends ([`Outbound::end`]):
//!   then whatever is still in flight is dropped, as timers are. Nothing
//!   outlives the invocation's deadline either: every wait is bounded by it.
//!
//! Every [`Outbound::fetch`] and [`Outbound::read_body`] calls its `done`
//! exactly once: with the result, or (cancelled, shut down) with an error
//! that JavaScript ignores because it gave up on the request already.

mod client;
mod grant;

pub use grant::{OriginPattern, Policy};

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use parking_lot::Mutex;
use rustc_hash::FxHashMap;
use tokio::task::AbortHandle;
use url::Url;

use crate::engine::{CallId, FetchRequest, InvocationId, JsError, Payload};
use crate::value::Value;

/// Where a fetch's result goes: called once (see the module docs).
pub type Done = Box<dyn FnOnce(Result<Payload, JsError>) + Send>;

/// Who a request belongs to: an instance (scheduler-wide id) and the
/// invocation in it, if any (a timer armed at a module's top level has
/// none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    /// The instance.
    pub instance: u64,
    /// The invocation.
    pub invocation: Option<InvocationId>,
}

/// Threads of the outbound runtime. One thread drives every connection's
/// I/O (the work per request is small: parsing, TLS records); DNS lookups
/// run on its blocking pool.
const IO_THREADS: usize = 1;

/// Most threads the outbound runtime's blocking pool (DNS lookups) may
/// start.
const BLOCKING_THREADS: usize = 16;

/// How long an idle pooled connection is kept for reuse: past most
/// servers' own keep-alive timeouts (nginx 75 s, Node 5 s) is pointless.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// The outbound client of one runtime. See the module docs.
pub struct Outbound {
    started: OnceLock<Result<Started, String>>,
    entries: Mutex<FxHashMap<CallId, Entry>>,
}

/// The tokio runtime and the client on it, once the first fetch came.
struct Started {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    client: client::HttpClient,
}

impl Drop for Started {
    fn drop(&mut self) {
        // Never blocks, so it is also fine where blocking is not (inside
        // another runtime: the gateway's).
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A request or response body in flight.
struct Entry {
    owner: Owner,
    state: State,
}

enum State {
    /// The request is under way (the task's handle once spawned).
    Sending(Option<AbortHandle>),
    /// The head arrived; the body waits to be read.
    Unread(Body),
    /// The body is being read.
    Reading(Option<AbortHandle>),
}

/// A body not yet read, with what reading it needs.
struct Body {
    incoming: Incoming,
    policy: Arc<Policy>,
    url: Url,
    deadline: Instant,
}

/// Calls `done` on drop unless it was called: a task that is aborted still
/// answers.
struct Answer(Option<Done>);

impl Answer {
    fn send(mut self, result: Result<Payload, JsError>) {
        if let Some(done) = self.0.take() {
            done(result);
        }
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            done(Err(JsError::new("AbortError", "the fetch was cancelled")));
        }
    }
}

impl Default for Outbound {
    fn default() -> Self {
        Self::new()
    }
}

impl Outbound {
    /// An outbound client; its runtime starts with the first fetch.
    pub fn new() -> Outbound {
        Outbound {
            started: OnceLock::new(),
            entries: Mutex::new(FxHashMap::default()),
        }
    }

    fn started(&self) -> Result<&Started, JsError> {
        self.started
            .get_or_init(start)
            .as_ref()
            .map_err(|why| fetch_unavailable(why))
    }

    /// Starts `request` (fetch number `id`) for `owner` under `policy`;
    /// `done` gets the response head (the body stays under `id` for
    /// [`Outbound::read_body`]) or the error. Nothing is sent to an origin
    /// the policy does not grant. `deadline` bounds the request and the
    /// later read of its body.
    pub fn fetch(
        self: &Arc<Self>,
        owner: Owner,
        id: CallId,
        policy: &Arc<Policy>,
        request: FetchRequest,
        deadline: Instant,
        done: Done,
    ) {
        let url = match Url::parse(&request.url) {
            Ok(url) if url.scheme() == "http" || url.scheme() == "https" => url,
            Ok(url) => {
                return done(Err(JsError::new(
                    "TypeError",
                    format!(
                        "fetch: cannot fetch {}: only http: and https: URLs are supported",
                        grant::shown(&url)
                    ),
                )));
            }
            Err(e) => {
                return done(Err(JsError::new(
                    "TypeError",
                    format!("fetch: invalid URL {:?}: {e}", request.url),
                )));
            }
        };
        if let Err(refused) = policy.check(&url, None) {
            return done(Err(refused));
        }
        let started = match self.started() {
            Ok(started) => started,
            Err(e) => return done(Err(e)),
        };
        let answer = Answer(Some(done));
        self.entries.lock().insert(
            id,
            Entry {
                owner,
                state: State::Sending(None),
            },
        );
        let weak = Arc::downgrade(self);
        let client = started.client.clone();
        let policy = policy.clone();
        let task = started.handle.spawn(async move {
            let result = client::send(&client, &policy, request, url, deadline).await;
            let Some(this) = weak.upgrade() else {
                return;
            };
            let mut unread = false;
            let result = match result {
                Ok(head) => {
                    let mut entries = this.entries.lock();
                    match (entries.get_mut(&id), head.body) {
                        // Cancelled meanwhile: the answer is ignored.
                        (None, _) => {}
                        (Some(_), None) => {
                            entries.remove(&id);
                        }
                        (Some(entry), Some(incoming)) => {
                            entry.state = State::Unread(Body {
                                incoming,
                                policy,
                                url: head.url,
                                deadline,
                            });
                            unread = true;
                        }
                    }
                    Ok(Payload::Value(head.value))
                }
                Err(e) => {
                    this.entries.lock().remove(&id);
                    Err(e)
                }
            };
            drop(this);
            answer.send(result);
            if unread {
                // A body nobody reads is let go at the deadline, even if
                // its invocation never ends (a timer's fetch, a
                // `waitUntil` that never settles).
                tokio::time::sleep_until(deadline.into()).await;
                if let Some(this) = weak.upgrade() {
                    let mut entries = this.entries.lock();
                    if entries
                        .get(&id)
                        .is_some_and(|e| matches!(e.state, State::Unread(_)))
                    {
                        entries.remove(&id);
                    }
                }
            }
        });
        if let Some(entry) = self.entries.lock().get_mut(&id)
            && let State::Sending(handle) = &mut entry.state
        {
            *handle = Some(task.abort_handle());
        }
    }

    /// Reads the body of the response to fetch `response`; `done` gets its
    /// bytes or the error (too large, the connection failed, the deadline
    /// passed, already read).
    pub fn read_body(self: &Arc<Self>, response: CallId, done: Done) {
        let mut entries = self.entries.lock();
        let taken = entries
            .get_mut(&response)
            .map(|entry| std::mem::replace(&mut entry.state, State::Reading(None)));
        let body = match taken {
            Some(State::Unread(body)) => body,
            other => {
                // Being sent or read: left as it was.
                if let (Some(state), Some(entry)) = (other, entries.get_mut(&response)) {
                    entry.state = state;
                }
                drop(entries);
                return done(Err(JsError::new(
                    "TypeError",
                    "the response body is no longer available (it was read already, or its \
                     fetch was aborted or outlived its invocation)",
                )));
            }
        };
        let started = match self.started() {
            Ok(started) => started,
            Err(e) => {
                entries.remove(&response);
                drop(entries);
                return done(Err(e));
            }
        };
        let answer = Answer(Some(done));
        let this = Arc::downgrade(self);
        let task = started.handle.spawn(async move {
            let Body {
                incoming,
                policy,
                url,
                deadline,
            } = body;
            let result = client::read_body(
                incoming,
                policy.body_limit(),
                policy.service(),
                &url,
                deadline,
            )
            .await;
            if let Some(this) = this.upgrade() {
                this.entries.lock().remove(&response);
            }
            answer.send(result.map(|bytes| Payload::Value(Value::Bytes(bytes))));
        });
        if let Some(entry) = entries.get_mut(&response)
            && let State::Reading(handle) = &mut entry.state
        {
            *handle = Some(task.abort_handle());
        }
    }

    /// JavaScript gave up on fetch `response`: stops its request or drops
    /// its body. Unknown (finished) fetches are ignored.
    pub fn cancel(&self, response: CallId) {
        let entry = self.entries.lock().remove(&response);
        if let Some(entry) = entry {
            entry.abort();
        }
    }

    /// An invocation ended: abandons everything it still has in flight.
    pub fn end(&self, owner: Owner) {
        self.abandon(|o| *o == owner);
    }

    /// An instance was discarded: abandons everything of its invocations.
    pub fn end_instance(&self, instance: u64) {
        self.abandon(|o| o.instance == instance);
    }

    /// Abandons everything (the runtime stops).
    pub fn shutdown(&self) {
        self.abandon(|_| true);
    }

    /// Requests and bodies in flight (for tests and status).
    pub fn in_flight(&self) -> usize {
        self.entries.lock().len()
    }

    fn abandon(&self, which: impl Fn(&Owner) -> bool) {
        let gone: Vec<Entry> = {
            let mut entries = self.entries.lock();
            let ids: Vec<CallId> = entries
                .iter()
                .filter(|(_, entry)| which(&entry.owner))
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| entries.remove(id)).collect()
        };
        // Aborted and dropped outside the lock.
        for entry in gone {
            entry.abort();
        }
    }
}

impl Entry {
    fn abort(self) {
        match self.state {
            State::Sending(Some(handle)) | State::Reading(Some(handle)) => handle.abort(),
            // Dropping the body closes its connection.
            State::Unread(_) | State::Sending(None) | State::Reading(None) => {}
        }
    }
}

/// Starts the runtime and the client; `Err` says why not.
fn start() -> Result<Started, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(IO_THREADS)
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_name("pyrosome-fetch")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the outbound HTTP runtime: {e}"))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    let client = Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_timer(hyper_util::rt::TokioTimer::new())
        .build(connector);
    let handle = runtime.handle().clone();
    Ok(Started {
        runtime: Some(runtime),
        handle,
        client,
    })
}

fn fetch_unavailable(why: &str) -> JsError {
    client::fetch_failed(JsError::new("Error", why.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_starts_with_its_compiled_in_roots() {
        let started = start().expect("the runtime and the TLS connector start");
        assert!(started.runtime.is_some());
    }

    #[test]
    fn cancelling_unknown_fetches_is_harmless() {
        let outbound = Outbound::new();
        outbound.cancel(CallId(1));
        outbound.end(Owner {
            instance: 1,
            invocation: None,
        });
        assert_eq!(outbound.in_flight(), 0);
        assert!(outbound.started.get().is_none(), "nothing started");
    }

    #[test]
    fn a_refused_fetch_is_answered_at_once_without_starting_anything() {
        let outbound = Arc::new(Outbound::new());
        let policy = Arc::new(Policy::new("x", Vec::new(), 1));
        let (tx, rx) = std::sync::mpsc::channel();
        outbound.fetch(
            Owner {
                instance: 1,
                invocation: None,
            },
            CallId(7),
            &policy,
            FetchRequest {
                method: "GET".to_owned(),
                url: "https://example.com/".to_owned(),
                headers: Vec::new(),
                body: None,
                redirect: crate::engine::Redirect::Follow,
            },
            Instant::now() + Duration::from_secs(5),
            Box::new(move |result| {
                let _ = tx.send(result);
            }),
        );
        let error = rx
            .try_recv()
            .expect("answered at once")
            .expect_err("refused");
        assert_eq!(error.name, "TypeError");
        assert!(error.message.contains("service \"x\""), "{}", error.message);
        assert!(outbound.started.get().is_none(), "no runtime for a refusal");
        assert_eq!(outbound.in_flight(), 0);
    }
}
