//! The reactor: one epoll set (through `mio`) for every socket of the
//! process, driven by whichever worker thread has nothing better to do.
//!
//! # Who polls
//!
//! There is no I/O thread. The epoll set sits behind a lock, the
//! *driver*; a worker about to sleep takes it if it is free and sleeps in
//! `epoll_wait` instead of on its condition variable, so a socket becoming
//! readable wakes that worker directly, and the task waiting for the socket
//! runs on it at once (see the scheduler's `park.rs`). Busy workers poll
//! without blocking every few turns ([`Reactor::try_poll`]), so readiness
//! is seen even when nobody sleeps. This is the arrangement of tokio's
//! multi-threaded runtime, for the same reason: a request is read, run and
//! answered on one thread with no hand-off, and any idle worker can take
//! over the sockets of a busy one.
//!
//! # Readiness
//!
//! `mio` registers sources edge-triggered, so the reactor remembers what
//! each source is ready for ([`ScheduledIo`]): an event sets bits, an
//! operation that fails with `WouldBlock` clears them. Every event also
//! bumps a *tick* in the same word, and an operation clears only the bits
//! of the tick it saw, so an event that arrives between the failed
//! operation and the clear is never lost. New sources start ready: the
//! first read or write is simply tried (spurious readiness costs one
//! `WouldBlock`; waiting for the first event would cost a poll round).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use mio::{Events, Interest, Token};
use parking_lot::{Mutex, MutexGuard};

/// Events taken from the kernel per poll. Enough for a burst of requests on
/// many connections; more wait for the next poll.
const EVENTS_PER_POLL: usize = 256;

/// The token of the reactor's own waker.
const WAKE_TOKEN: Token = Token(0);

const READABLE: usize = 1;
const WRITABLE: usize = 1 << 1;
const READ_CLOSED: usize = 1 << 2;
const WRITE_CLOSED: usize = 1 << 3;
const ERROR: usize = 1 << 4;
const READINESS_BITS: usize = 8;
const READINESS_MASK: usize = (1 << READINESS_BITS) - 1;

/// A direction of interest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Reading (or accepting).
    Read,
    /// Writing.
    Write,
}

impl Direction {
    /// The readiness bits that let an operation in this direction proceed.
    fn mask(self) -> usize {
        match self {
            Direction::Read => READABLE | READ_CLOSED | ERROR,
            Direction::Write => WRITABLE | WRITE_CLOSED | ERROR,
        }
    }

    /// The bits a `WouldBlock` in this direction clears.
    fn clearable(self) -> usize {
        match self {
            Direction::Read => READABLE,
            Direction::Write => WRITABLE,
        }
    }
}

/// What a poll of [`ScheduledIo::poll_ready`] saw: the tick and the bits,
/// to hand back to [`ScheduledIo::clear`] after a `WouldBlock`.
#[derive(Clone, Copy, Debug)]
pub struct Ready {
    word: usize,
    direction: Direction,
}

/// The readiness of one registered source and the tasks waiting on it.
pub struct ScheduledIo {
    /// `tick << READINESS_BITS | readiness bits`.
    readiness: AtomicUsize,
    reader: Mutex<Option<Waker>>,
    writer: Mutex<Option<Waker>>,
}

impl ScheduledIo {
    fn new() -> ScheduledIo {
        ScheduledIo {
            readiness: AtomicUsize::new(READABLE | WRITABLE),
            reader: Mutex::new(None),
            writer: Mutex::new(None),
        }
    }

    /// Ready when the source may make progress in `direction`; otherwise
    /// the task of `cx` is woken when it may.
    pub fn poll_ready(&self, cx: &mut Context<'_>, direction: Direction) -> Poll<Ready> {
        let word = self.readiness.load(Ordering::Acquire);
        if word & direction.mask() != 0 {
            return Poll::Ready(Ready { word, direction });
        }
        {
            let mut slot = match direction {
                Direction::Read => self.reader.lock(),
                Direction::Write => self.writer.lock(),
            };
            match &*slot {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => *slot = Some(cx.waker().clone()),
            }
        }
        // An event may have landed between the load and the registration.
        let word = self.readiness.load(Ordering::Acquire);
        if word & direction.mask() != 0 {
            return Poll::Ready(Ready { word, direction });
        }
        Poll::Pending
    }

    /// An operation after `ready` would block: forget the readiness it
    /// relied on, unless an event came since.
    pub fn clear(&self, ready: Ready) {
        let bits = ready.direction.clearable();
        let _ = self.readiness.compare_exchange(
            ready.word,
            ready.word & !bits,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Records an event and wakes whoever waits for it.
    fn dispatch(&self, bits: usize) {
        let mut current = self.readiness.load(Ordering::Acquire);
        loop {
            let tick = (current >> READINESS_BITS).wrapping_add(1);
            let next = (tick << READINESS_BITS) | (current & READINESS_MASK) | bits;
            match self.readiness.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(actual) => current = actual,
            }
        }
        if bits & Direction::Read.mask() != 0
            && let Some(w) = self.reader.lock().take()
        {
            w.wake();
        }
        if bits & Direction::Write.mask() != 0
            && let Some(w) = self.writer.lock().take()
        {
            w.wake();
        }
    }

    /// Drops the wakers (the source is going away, or the process stops).
    fn forget_wakers(&self) {
        self.reader.lock().take();
        self.writer.lock().take();
    }
}

/// The epoll set and its event buffer: what the driver lock guards.
pub struct Driver {
    poll: mio::Poll,
    events: Events,
    /// Sources made ready by the current poll (kept to reuse the buffer).
    ready: Vec<(Arc<ScheduledIo>, usize)>,
}

/// The registered sources, by token (token `i + 1` is slot `i`).
#[derive(Default)]
struct Sources {
    slots: Vec<Option<Arc<ScheduledIo>>>,
    free: Vec<usize>,
}

/// See the module documentation.
pub struct Reactor {
    driver: Mutex<Driver>,
    registry: mio::Registry,
    waker: mio::Waker,
    /// Set by [`Reactor::wake`], cleared by the poller: coalesces wake-ups.
    woken: AtomicBool,
    sources: Mutex<Sources>,
}

/// A source's registration; deregisters it when dropped.
pub struct Registration {
    reactor: Arc<Reactor>,
    token: Token,
    io: Arc<ScheduledIo>,
}

impl Reactor {
    /// Creates the epoll set.
    pub fn new() -> io::Result<Arc<Reactor>> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = mio::Waker::new(poll.registry(), WAKE_TOKEN)?;
        Ok(Arc::new(Reactor {
            driver: Mutex::new(Driver {
                poll,
                events: Events::with_capacity(EVENTS_PER_POLL),
                ready: Vec::new(),
            }),
            registry,
            waker,
            woken: AtomicBool::new(false),
            sources: Mutex::new(Sources::default()),
        }))
    }

    /// Registers `source` for reading and writing.
    pub fn register(
        self: &Arc<Self>,
        source: &mut impl mio::event::Source,
    ) -> io::Result<Registration> {
        let io = Arc::new(ScheduledIo::new());
        let index = {
            let mut sources = self.sources.lock();
            match sources.free.pop() {
                Some(i) => {
                    sources.slots[i] = Some(io.clone());
                    i
                }
                None => {
                    sources.slots.push(Some(io.clone()));
                    sources.slots.len() - 1
                }
            }
        };
        let token = Token(index + 1);
        if let Err(e) =
            self.registry
                .register(source, token, Interest::READABLE | Interest::WRITABLE)
        {
            self.release(token);
            return Err(e);
        }
        Ok(Registration {
            reactor: self.clone(),
            token,
            io,
        })
    }

    fn release(&self, token: Token) {
        let mut sources = self.sources.lock();
        let index = token.0 - 1;
        if let Some(slot) = sources.slots.get_mut(index)
            && slot.take().is_some()
        {
            sources.free.push(index);
        }
    }

    /// The driver, if no other thread holds it.
    pub fn try_driver(&self) -> Option<MutexGuard<'_, Driver>> {
        self.driver.try_lock()
    }

    /// Whether a worker holds the driver (sleeps in it, or is polling).
    pub fn is_driven(&self) -> bool {
        self.driver.is_locked()
    }

    /// Polls without blocking if the driver is free; returns the number of
    /// sources that became ready.
    pub fn try_poll(&self) -> usize {
        match self.try_driver() {
            Some(mut driver) => self.poll(&mut driver, Some(Duration::ZERO)),
            None => 0,
        }
    }

    /// Waits for events (up to `timeout`, or until [`Reactor::wake`]) and
    /// wakes the tasks waiting for them. Returns the number of sources
    /// that became ready.
    pub fn poll(&self, driver: &mut Driver, timeout: Option<Duration>) -> usize {
        let Driver {
            poll,
            events,
            ready,
        } = driver;
        if let Err(e) = poll.poll(events, timeout)
            && e.kind() != io::ErrorKind::Interrupted
        {
            tracing::error!("polling sockets failed: {e}");
        }
        self.woken.store(false, Ordering::Release);
        {
            let sources = self.sources.lock();
            for event in events.iter() {
                if event.token() == WAKE_TOKEN {
                    continue;
                }
                let mut bits = 0;
                if event.is_readable() {
                    bits |= READABLE;
                }
                if event.is_writable() {
                    bits |= WRITABLE;
                }
                if event.is_read_closed() {
                    bits |= READ_CLOSED;
                }
                if event.is_write_closed() {
                    bits |= WRITE_CLOSED;
                }
                if event.is_error() {
                    bits |= ERROR;
                }
                if let Some(Some(io)) = sources.slots.get(event.token().0 - 1) {
                    ready.push((io.clone(), bits));
                }
            }
        }
        let n = ready.len();
        // Outside the sources' lock: waking a task may register a source.
        for (io, bits) in ready.drain(..) {
            io.dispatch(bits);
        }
        n
    }

    /// Interrupts a thread blocked in [`Reactor::poll`].
    pub fn wake(&self) {
        if !self.woken.swap(true, Ordering::AcqRel)
            && let Err(e) = self.waker.wake()
        {
            tracing::error!("cannot wake the socket poller: {e}");
        }
    }

    /// Drops every waiting task's waker (at shutdown: the tasks hold
    /// references that would otherwise keep each other alive).
    pub fn forget_wakers(&self) {
        let sources = self.sources.lock();
        for io in sources.slots.iter().flatten() {
            io.forget_wakers();
        }
    }
}

impl Registration {
    /// The readiness of the source.
    pub fn io(&self) -> &ScheduledIo {
        &self.io
    }

    /// Deregisters `source` (call before dropping it).
    pub fn deregister(&self, source: &mut impl mio::event::Source) {
        let _ = self.reactor.registry.deregister(source);
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.io.forget_wakers();
        self.reactor.release(self.token);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct CountWakes(AtomicUsize);
    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_clear_does_not_lose_an_event_that_came_after_the_poll() {
        let io = ScheduledIo::new();
        let counter = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let Poll::Ready(ready) = io.poll_ready(&mut cx, Direction::Read) else {
            panic!("new sources start ready");
        };
        // An event arrives before the failed read clears the readiness.
        io.dispatch(READABLE);
        io.clear(ready);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_ready());
        // Now a clear with the current tick sticks, and the waker is kept.
        let Poll::Ready(ready) = io.poll_ready(&mut cx, Direction::Read) else {
            panic!("still ready");
        };
        io.clear(ready);
        assert!(io.poll_ready(&mut cx, Direction::Read).is_pending());
        io.dispatch(READABLE);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "the reader was woken");
        assert!(io.poll_ready(&mut cx, Direction::Read).is_ready());
    }

    #[test]
    fn a_socket_becoming_readable_wakes_its_task() {
        let reactor = Reactor::new().expect("epoll");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut client = std::net::TcpStream::connect(addr).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        server.set_nonblocking(true).expect("nonblocking");
        let mut server = mio::net::TcpStream::from_std(server);
        let registration = reactor.register(&mut server).expect("register");
        let counter = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        // Nothing to read yet: the optimistic readiness is cleared.
        let Poll::Ready(ready) = registration.io().poll_ready(&mut cx, Direction::Read) else {
            panic!("starts ready");
        };
        let mut buf = [0u8; 16];
        assert_eq!(
            std::io::Read::read(&mut server, &mut buf).map_err(|e| e.kind()),
            Err(io::ErrorKind::WouldBlock)
        );
        registration.io().clear(ready);
        let mut driver = reactor.try_driver().expect("free");
        reactor.poll(&mut driver, Some(Duration::ZERO));
        assert!(
            registration
                .io()
                .poll_ready(&mut cx, Direction::Read)
                .is_pending()
        );
        std::io::Write::write_all(&mut client, b"hi").expect("write");
        let mut woken = 0;
        for _ in 0..100 {
            woken += reactor.poll(&mut driver, Some(Duration::from_millis(50)));
            if counter.0.load(Ordering::SeqCst) > 0 {
                break;
            }
        }
        assert!(woken > 0);
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        assert_eq!(std::io::Read::read(&mut server, &mut buf).ok(), Some(2));
        registration.deregister(&mut server);
    }

    #[test]
    fn wake_interrupts_a_blocked_poll() {
        let reactor = Reactor::new().expect("epoll");
        let r2 = reactor.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            r2.wake();
        });
        let mut driver = reactor.try_driver().expect("free");
        let start = std::time::Instant::now();
        reactor.poll(&mut driver, Some(Duration::from_secs(10)));
        assert!(start.elapsed() < Duration::from_secs(5));
        t.join().expect("waker thread");
    }
}
