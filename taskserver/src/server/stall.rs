//! A write deadline for connections: hyper has none of its own, so a client
//! that sends requests and never reads the answers would hold its
//! connection (and the responses queued for it) for ever.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// A stream whose writes fail with [`io::ErrorKind::TimedOut`] once they
/// have made no progress for `limit`. The clock starts when a write or
/// flush first returns `Pending` and stops at the next one that completes;
/// reads are untouched (hyper's header timeout covers slow senders).
pub(super) struct WriteStall<S> {
    inner: S,
    limit: Duration,
    /// Allocated at the first stall, then re-armed in place.
    deadline: Option<Pin<Box<Sleep>>>,
    stalled: bool,
}

impl<S> WriteStall<S> {
    pub(super) fn new(inner: S, limit: Duration) -> Self {
        Self {
            inner,
            limit,
            deadline: None,
            stalled: false,
        }
    }

    /// Passes a finished write through; for a pending one, arms the deadline
    /// and fails once it has passed.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if polled.is_ready() {
            self.stalled = false;
            return polled;
        }
        let at = Instant::now() + self.limit;
        let deadline = match &mut self.deadline {
            Some(deadline) => {
                if !self.stalled {
                    deadline.as_mut().reset(at);
                }
                deadline
            }
            None => self.deadline.insert(Box::pin(tokio::time::sleep_until(at))),
        };
        self.stalled = true;
        // Registers the waker too, so hyper polls the write again when time is up.
        match deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client has read nothing of its responses for too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteStall<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteStall<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.watch(cx, polled)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_flush(cx);
        this.watch(cx, polled)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.watch(cx, polled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMIT: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn a_peer_that_never_reads_times_the_write_out() {
        let (near, _far) = tokio::io::duplex(256);
        let mut stream = WriteStall::new(near, LIMIT);
        let started = Instant::now();
        let err = stream
            .write_all(&[0u8; 1024])
            .await
            .expect_err("the write cannot finish");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= LIMIT, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_slow_reader_that_keeps_reading_is_not_cut_off() {
        let (near, mut far) = tokio::io::duplex(256);
        let reader = tokio::spawn(async move {
            let mut got = 0;
            let mut buf = [0u8; 256];
            while got < 1024 {
                // Each read comes within the limit; all of them take longer.
                tokio::time::sleep(LIMIT / 2).await;
                got += far.read(&mut buf).await.expect("read");
            }
        });
        let started = Instant::now();
        let mut stream = WriteStall::new(near, LIMIT);
        stream
            .write_all(&[0u8; 1024])
            .await
            .expect("progress keeps it alive");
        assert!(started.elapsed() > LIMIT, "{:?}", started.elapsed());
        reader.await.expect("reader");
    }
}
