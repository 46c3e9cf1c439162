//! The life of a connection: timeouts while it waits, the cap on how many
//! are open, and closing them at shutdown.
//!
//! A connection is one task. hyper serves its requests; around it,
//! [`guard`] watches two clocks, with one timer per connection that is
//! re-armed only when it fires (nothing per request):
//!
//! - **head timeout**: from the first byte of a request head until the head
//!   is complete (the service is invoked). A client that trickles a head
//!   one byte at a time (slowloris) is cut off after it;
//! - **idle timeout**: a keep-alive connection with no request in flight
//!   and no byte of the next one.
//!
//! What the timers need to know is written by the connection itself, into
//! its [`ConnState`]: its socket records when bytes arrive while no request
//! is in flight, the request handler records when requests start and end.
//!
//! At shutdown ([`Connections::drain`]) a connection with no request in
//! flight — idle, or half-way through sending a head — is closed at once;
//! one with a request in flight finishes it (hyper's graceful shutdown) and
//! closes. [`Connections::closed`] resolves when the last one is gone.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rustc_hash::FxHashMap;

use crate::scheduler::Scheduler;

/// A connection's activity, written by its socket and its request handler
/// (all on the connection's task), read by its [`guard`].
pub(crate) struct ConnState {
    epoch: Instant,
    /// Requests started (head parsed) and not yet answered.
    in_flight: AtomicUsize,
    /// When the first byte of a request head arrived with no request in
    /// flight, in nanoseconds since `epoch` plus one; 0: none pending.
    head_since: AtomicU64,
    /// When the connection last became idle (nanoseconds since `epoch`).
    idle_since: AtomicU64,
}

impl ConnState {
    pub(crate) fn new() -> ConnState {
        ConnState {
            epoch: Instant::now(),
            in_flight: AtomicUsize::new(0),
            head_since: AtomicU64::new(0),
            idle_since: AtomicU64::new(0),
        }
    }

    fn now(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// Bytes arrived (the socket calls this after a read).
    pub(crate) fn bytes_arrived(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_since.load(Ordering::Relaxed) == 0
        {
            self.head_since.store(self.now() + 1, Ordering::Relaxed);
        }
    }

    /// A request's head was parsed and its handling starts.
    pub(crate) fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_since.store(0, Ordering::Relaxed);
    }

    /// A request was answered.
    pub(crate) fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::Relaxed) == 1 {
            self.idle_since.store(self.now(), Ordering::Relaxed);
        }
    }

    fn busy(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > 0
    }

    /// Whether a timeout has passed; otherwise when to look again.
    fn check(&self, head_timeout: Duration, idle_timeout: Duration) -> Result<Instant, Expired> {
        let now = self.now();
        let at = |ns: u64| self.epoch + Duration::from_nanos(ns);
        if self.busy() {
            // The request's own deadline governs; look again later.
            return Ok(at(now) + head_timeout.min(idle_timeout));
        }
        let head = self.head_since.load(Ordering::Relaxed);
        if head > 0 {
            let due = head - 1 + head_timeout.as_nanos() as u64;
            return if now >= due {
                Err(Expired::Head)
            } else {
                Ok(at(due))
            };
        }
        let due = self.idle_since.load(Ordering::Relaxed) + idle_timeout.as_nanos() as u64;
        if now >= due {
            Err(Expired::Idle)
        } else {
            Ok(at(due))
        }
    }
}

/// One request in flight on a connection, from its head to its answer
/// (also when the handler is dropped unfinished).
pub(crate) struct Request<'a>(&'a ConnState);

impl<'a> Request<'a> {
    pub(crate) fn start(state: &'a ConnState) -> Request<'a> {
        state.request_started();
        Request(state)
    }
}

impl Drop for Request<'_> {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// Which timeout closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    Head,
    Idle,
}

/// Every open connection of one gateway.
pub(crate) struct Connections {
    draining: AtomicBool,
    live: AtomicUsize,
    next: AtomicU64,
    /// Wakers of the connections (to tell them the drain started) and of
    /// whoever waits for the last one to close, by connection id (0: the
    /// waiter).
    wakers: Mutex<FxHashMap<u64, Waker>>,
}

impl Connections {
    pub(crate) fn new() -> Arc<Connections> {
        Arc::new(Connections {
            draining: AtomicBool::new(false),
            live: AtomicUsize::new(0),
            next: AtomicU64::new(1),
            wakers: Mutex::new(FxHashMap::default()),
        })
    }

    /// Connections open now.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Acquire)
    }

    /// Starts the drain: every connection closes as soon as it has no
    /// request in flight.
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        let wakers: Vec<Waker> = self.wakers.lock().drain().map(|(_, w)| w).collect();
        for w in wakers {
            w.wake();
        }
    }

    /// Resolves when no connection is open (call after [`Self::drain`]).
    pub(crate) fn closed(self: &Arc<Self>) -> impl Future<Output = ()> + use<> {
        let this = self.clone();
        std::future::poll_fn(move |cx| {
            if this.live() == 0 {
                return Poll::Ready(());
            }
            this.wakers.lock().insert(0, cx.waker().clone());
            if this.live() == 0 {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
    }

    /// Counts a connection just accepted; its id goes to [`guard`].
    pub(crate) fn opened(&self) -> u64 {
        self.live.fetch_add(1, Ordering::AcqRel);
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    fn gone(&self, id: u64) {
        let mut wakers = self.wakers.lock();
        wakers.remove(&id);
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1
            && let Some(w) = wakers.remove(&0)
        {
            w.wake();
        }
    }

    fn poll_draining(&self, id: u64, cx: &mut Context<'_>) -> bool {
        if self.draining.load(Ordering::Acquire) {
            return true;
        }
        self.wakers.lock().insert(id, cx.waker().clone());
        self.draining.load(Ordering::Acquire)
    }
}

/// What [`guard`] needs to know.
pub(crate) struct Timeouts {
    pub(crate) head: Duration,
    pub(crate) idle: Duration,
}

/// Serves `conn` (counted as connection `id` by [`Connections::opened`])
/// until it ends, a timeout closes it, or the drain does;
/// `graceful` asks it to finish its request in flight and close (hyper's
/// graceful shutdown). `None` when it was closed from here.
pub(crate) async fn guard<C: Future>(
    id: u64,
    conn: C,
    mut graceful: impl FnMut(Pin<&mut C>),
    state: Arc<ConnState>,
    connections: Arc<Connections>,
    scheduler: &Scheduler,
    timeouts: Timeouts,
) -> Option<C::Output> {
    let Timeouts {
        head: head_timeout,
        idle: idle_timeout,
    } = timeouts;
    let _gone = Gone(&connections, id);
    let mut conn = std::pin::pin!(conn);
    let mut next_check = Instant::now() + head_timeout.min(idle_timeout);
    let mut timer = Box::pin(scheduler.sleep_until(next_check));
    let mut shutting_down = false;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(out) = conn.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        if !shutting_down && connections.poll_draining(id, cx) {
            if !state.busy() {
                // Idle, or half-way through a head: nothing to finish.
                return Poll::Ready(None);
            }
            shutting_down = true;
            graceful(conn.as_mut());
            if let Poll::Ready(out) = conn.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
        }
        while timer.as_mut().poll(cx).is_ready() {
            match state.check(head_timeout, idle_timeout) {
                Err(why) => {
                    tracing::debug!(
                        "closing a connection: {}",
                        match why {
                            Expired::Head => "its request head took too long",
                            Expired::Idle => "idle for too long",
                        }
                    );
                    return Poll::Ready(None);
                }
                Ok(at) => {
                    next_check = at;
                    timer = Box::pin(scheduler.sleep_until(next_check));
                }
            }
        }
        Poll::Pending
    })
    .await
}

/// Counts a connection as gone when dropped.
struct Gone<'a>(&'a Connections, u64);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        self.0.gone(self.1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_that_trickles_in_expires_but_a_request_in_flight_does_not() {
        let state = ConnState::new();
        let (head, idle) = (Duration::from_millis(20), Duration::from_secs(60));
        state.bytes_arrived();
        assert!(state.check(head, idle).is_ok());
        std::thread::sleep(Duration::from_millis(30));
        state.bytes_arrived(); // more bytes do not restart the clock
        assert_eq!(state.check(head, idle), Err(Expired::Head));
        state.request_started();
        assert!(state.check(head, idle).is_ok(), "in flight: not timed out");
        state.request_finished();
        assert!(state.check(head, idle).is_ok(), "idle for 0 of 60 s");
    }

    #[test]
    fn an_idle_connection_expires() {
        let state = ConnState::new();
        let (head, idle) = (Duration::from_secs(60), Duration::from_millis(20));
        state.request_started();
        state.request_finished();
        assert!(state.check(head, idle).is_ok());
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(state.check(head, idle), Err(Expired::Idle));
    }
}
