//! Non-blocking sockets for the scheduler's worker threads.
//!
//! Pyrosome has no I/O threads: the workers that run JavaScript also poll
//! the sockets ([`Reactor`], see its documentation for who polls when), so
//! an HTTP request is read, handed to its service, run and answered on one
//! thread, and any idle worker can take over the sockets of a busy one.
//! This module knows nothing of HTTP or of the scheduler: it gives readiness
//! and wakes [`std::task::Waker`]s; the scheduler runs the tasks those
//! wakers belong to, and the gateway speaks HTTP over [`TcpStream`].

mod reactor;
mod tcp;

pub use reactor::{Direction, Driver, Reactor, Ready, Registration, ScheduledIo};
pub use tcp::{TcpListener, TcpStream};
