//! The listener side of the edge: a cap on open connections, and a deadline for each request
//! head. poem's server offers an idle timeout but no header-read timeout (hyper's
//! `header_read_timeout` needs a builder poem does not expose), so a client sending one byte
//! a second (Slowloris) would hold its connection for ever; here the stream itself fails
//! once a head takes too long, and hyper then drops the connection.
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Sleep;

/// Accepts at most `max` connections at once: beyond them it stops accepting, so new
/// connections wait in the kernel's backlog rather than costing memory and descriptors.
pub struct EdgeAcceptor<A> {
    inner: A,
    slots: Arc<Semaphore>,
    header_timeout: Duration,
}

impl<A> EdgeAcceptor<A> {
    pub fn new(inner: A, max_connections: usize, header_timeout: Duration) -> Self {
        EdgeAcceptor {
            inner,
            slots: Arc::new(Semaphore::new(max_connections)),
            header_timeout,
        }
    }
}

impl<A: Acceptor> Acceptor for EdgeAcceptor<A> {
    type Io = EdgeStream<A::Io>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .expect("the connection semaphore is never closed");
        let (io, local, remote, scheme) = self.inner.accept().await?;
        let stream = EdgeStream {
            inner: io,
            _slot: slot,
            head: HeadTimer::new(self.header_timeout),
        };
        Ok((stream, local, remote, scheme))
    }
}

/// An accepted connection: holds its slot until dropped, and fails reads once a request
/// head has taken longer than the header timeout.
pub struct EdgeStream<S> {
    inner: S,
    _slot: OwnedSemaphorePermit,
    head: HeadTimer,
}

/// HTTP/2's connection preface: such a connection is framed, not line-based, and hyper's
/// HTTP/2 server bounds it (keep-alive pings, stream limits) instead.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

/// Where a connection is in its current request head. A head is timed from the connection's
/// start (the first) or from its first byte (later ones on a kept-alive connection) until the
/// blank line that ends it; between requests only the idle timeout applies.
struct HeadTimer {
    timeout: Duration,
    /// Set while a head is being read.
    deadline: Option<Pin<Box<Sleep>>>,
    /// Line feeds seen in a row (carriage returns aside): two end the head.
    newlines: u8,
    /// The server wrote since the last head ended: the next bytes begin a new request.
    responded: bool,
    /// Bytes of the connection seen so far, up to the preface's length.
    seen: usize,
    /// Whether those bytes still match HTTP/2's preface.
    h2: bool,
}

impl HeadTimer {
    fn new(timeout: Duration) -> Self {
        HeadTimer {
            timeout,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
            newlines: 0,
            responded: false,
            seen: 0,
            h2: true,
        }
    }

    /// Whether the current head's time is up (registering for a wake-up at the deadline).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        self.deadline
            .as_mut()
            .is_some_and(|d| d.as_mut().poll(cx).is_ready())
    }

    /// Follows the bytes the server read.
    fn read(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        if self.h2 {
            if self.seen < H2_PREFACE.len() {
                let n = bytes.len().min(H2_PREFACE.len() - self.seen);
                self.h2 = bytes[..n] == H2_PREFACE[self.seen..self.seen + n];
                self.seen += n;
            }
            if self.h2 && self.seen == H2_PREFACE.len() {
                self.deadline = None;
                return;
            }
        }
        if self.deadline.is_none() {
            if !self.responded {
                return; // a body, or a pipelined request: the request timeout bounds those
            }
            self.responded = false;
            self.newlines = 0;
            self.deadline = Some(Box::pin(tokio::time::sleep(self.timeout)));
        }
        for &b in bytes {
            match b {
                b'\n' => self.newlines += 1,
                b'\r' => {}
                _ => self.newlines = 0,
            }
            if self.newlines == 2 {
                self.deadline = None;
                return;
            }
        }
    }

    /// Follows what the server wrote: `bytes` are the start of one write.
    fn wrote(&mut self, bytes: &[u8]) {
        // An interim answer (`100 Continue`) comes before the body, not after the request.
        if bytes.starts_with(b"HTTP/1.1 1") {
            return;
        }
        // The server answers only a request whose head it has: the head is over, and the
        // next bytes begin another.
        self.deadline = None;
        self.responded = true;
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for EdgeStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.head.expired(cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request head took longer than the header timeout",
            )));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.head.read(&buf.filled()[before..]);
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for EdgeStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.head.wrote(buf);
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        this.head.wrote(first);
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timer() -> HeadTimer {
        HeadTimer::new(Duration::from_secs(10))
    }

    #[tokio::test]
    async fn a_head_ends_at_its_blank_line() {
        let mut t = timer();
        t.read(b"GET / HTTP/1.1\r\nHost: x\r\n");
        assert!(t.deadline.is_some());
        t.read(b"\r");
        t.read(b"\n");
        assert!(t.deadline.is_none());
        t.read(b"\n\n body bytes"); // a body does not start a head
        assert!(t.deadline.is_none());
    }

    #[tokio::test]
    async fn the_next_request_on_a_kept_alive_connection_is_timed_again() {
        let mut t = timer();
        t.read(b"GET / HTTP/1.1\n\n");
        t.wrote(b"HTTP/1.1 200 OK\r\n");
        assert!(t.deadline.is_none(), "idle between requests: not timed");
        t.read(b"G");
        assert!(t.deadline.is_some());
        t.read(b"ET / HTTP/1.1\r\n\r\n");
        assert!(t.deadline.is_none());
    }

    #[tokio::test]
    async fn a_body_after_100_continue_is_not_a_head() {
        let mut t = timer();
        t.read(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n");
        t.wrote(b"HTTP/1.1 100 Continue\r\n\r\n");
        t.read(b"{\"a\": 1}");
        assert!(t.deadline.is_none());
        t.wrote(b"HTTP/1.1 202 Accepted\r\n");
        t.read(b"GET");
        assert!(t.deadline.is_some(), "the next request is timed");
    }

    #[tokio::test]
    async fn an_answer_ends_the_timing_of_its_head() {
        let mut t = timer();
        t.read(b"GET / HTTP/1.1\r\nWeird: \x01");
        t.wrote(b"HTTP/1.1 400 Bad Request\r\n");
        assert!(t.deadline.is_none());
    }

    #[tokio::test]
    async fn http2_connections_are_not_timed_by_lines() {
        let mut t = timer();
        t.read(b"PRI * HT");
        assert!(t.deadline.is_some());
        t.read(b"TP/2.0\r\n\r\nSM\r\n\r\n");
        assert!(t.deadline.is_none());
        t.wrote(b"\x00\x00\x06\x04");
        t.read(b"\x00\x00\x12\x04binary frames");
        assert!(t.deadline.is_none());
    }

    #[tokio::test]
    async fn a_slow_trickle_stays_timed() {
        let mut t = timer();
        for b in b"GET / HTTP/1.1\r\nX-a: b\r\nX-c: " {
            t.read(&[*b]);
        }
        assert!(t.deadline.is_some());
    }
}
