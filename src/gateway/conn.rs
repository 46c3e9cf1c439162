//! What hyper needs to serve a connection on the scheduler's workers: the
//! socket as hyper's `Read`/`Write` ([`Io`]) and an executor for HTTP/2's
//! per-stream futures ([`Exec`]).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBufCursor, Write};

use super::lifecycle::ConnState;
use crate::io::TcpStream;
use crate::runtime::Runtime;

/// Bytes read from the socket per system call at most. A request head and
/// a small body fit; larger bodies take several reads.
const READ_CHUNK: usize = 16 * 1024;

/// A connection's socket for hyper.
///
/// hyper hands `poll_read` a buffer whose unfilled part may be
/// uninitialized; rather than read into it through `unsafe`, the socket is
/// read into this connection's own buffer and the bytes copied over (a
/// memcpy of what arrived, small next to the system call).
pub(crate) struct Io {
    stream: TcpStream,
    scratch: Box<[u8]>,
    state: Arc<ConnState>,
}

impl Io {
    /// `state` learns when bytes arrive (for the head and idle timeouts).
    pub(crate) fn new(stream: TcpStream, state: Arc<ConnState>) -> Io {
        Io {
            stream,
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            state,
        }
    }
}

impl Read for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let want = buf.remaining().min(this.scratch.len());
        if want == 0 {
            return Poll::Ready(Ok(()));
        }
        let n = std::task::ready!(this.stream.poll_read(cx, &mut this.scratch[..want]))?;
        if n > 0 {
            this.state.bytes_arrived();
        }
        buf.put_slice(&this.scratch[..n]);
        Poll::Ready(Ok(()))
    }
}

impl Write for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.stream.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Writes go straight to the socket: nothing is buffered here.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.stream.shutdown_write())
    }
}

/// Spawns HTTP/2 stream futures as tasks on the scheduler.
#[derive(Clone)]
pub(crate) struct Exec(pub(crate) Arc<Runtime>);

impl<F> hyper::rt::Executor<F> for Exec
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        self.0.scheduler().spawn(async move {
            future.await;
        });
    }
}
