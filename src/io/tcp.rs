//! TCP sockets on the [`Reactor`]: a listener that accepts and a stream
//! that reads and writes, both non-blocking, waking their task through the
//! reactor when they would block.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::reactor::{Direction, Reactor, Registration};

/// A listening socket registered with a [`Reactor`].
pub struct TcpListener {
    inner: mio::net::TcpListener,
    registration: Registration,
}

impl TcpListener {
    /// Binds `addr` (with `SO_REUSEADDR` and a backlog of 1024, as `mio`
    /// does) and registers the socket.
    pub fn bind(reactor: &Arc<Reactor>, addr: SocketAddr) -> io::Result<TcpListener> {
        let mut inner = mio::net::TcpListener::bind(addr)?;
        let registration = reactor.register(&mut inner)?;
        Ok(TcpListener {
            inner,
            registration,
        })
    }

    /// The address bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// Accepts a connection, registering it with `reactor`; pending until
    /// one arrives.
    pub fn poll_accept(
        &self,
        reactor: &Arc<Reactor>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        loop {
            let ready = std::task::ready!(self.registration.io().poll_ready(cx, Direction::Read));
            match self.inner.accept() {
                Ok((stream, peer)) => {
                    return Poll::Ready(TcpStream::new(reactor, stream).map(|s| (s, peer)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.registration.io().clear(ready)
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl Drop for TcpListener {
    fn drop(&mut self) {
        self.registration.deregister(&mut self.inner);
    }
}

/// A connected socket registered with a [`Reactor`].
pub struct TcpStream {
    inner: mio::net::TcpStream,
    registration: Registration,
}

impl TcpStream {
    fn new(reactor: &Arc<Reactor>, mut inner: mio::net::TcpStream) -> io::Result<TcpStream> {
        let registration = reactor.register(&mut inner)?;
        Ok(TcpStream {
            inner,
            registration,
        })
    }

    /// Sets `TCP_NODELAY`.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        self.inner.set_nodelay(on)
    }

    /// Reads into `buf`; `Ok(0)` is the end of the stream.
    pub fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        loop {
            let ready = std::task::ready!(self.registration.io().poll_ready(cx, Direction::Read));
            match (&self.inner).read(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.registration.io().clear(ready)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(n) if n > 0 && n < buf.len() => {
                    // A short read emptied the socket's queue: data that
                    // arrives later raises a new edge. Forgetting the
                    // readiness now saves the read that would only say
                    // `WouldBlock` (one system call per request).
                    self.registration.io().clear(ready);
                    return Poll::Ready(Ok(n));
                }
                result => return Poll::Ready(result),
            }
        }
    }

    /// Writes from `buf`.
    pub fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            let ready = std::task::ready!(self.registration.io().poll_ready(cx, Direction::Write));
            match (&self.inner).write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.registration.io().clear(ready)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    /// Writes from several buffers in one system call.
    pub fn poll_write_vectored(
        &self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            let ready = std::task::ready!(self.registration.io().poll_ready(cx, Direction::Write));
            match (&self.inner).write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.registration.io().clear(ready)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    /// Shuts down the writing half.
    pub fn shutdown_write(&self) -> io::Result<()> {
        match self.inner.shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            other => other,
        }
    }
}

impl Drop for TcpStream {
    fn drop(&mut self) {
        self.registration.deregister(&mut self.inner);
    }
}
