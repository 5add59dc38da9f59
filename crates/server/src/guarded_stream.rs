//! The TCP stream under every connection, HTTP and WebSocket alike: a read that
//! waits too long without a byte fails (so a silent peer cannot hold a socket
//! forever), and dropping it closes gracefully: the write side is shut down and
//! input is drained briefly (a lingering close), so a close frame still in flight
//! reaches a client that is slow to read instead of being destroyed by a TCP reset
//! caused by unread input.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, Instant, Sleep};

/// How long a dropped connection drains its input before it is closed.
const LINGER: Duration = Duration::from_secs(2);
/// Input bytes a lingering close reads (and discards) at most.
const LINGER_MAX_BYTES: usize = 1 << 20;

/// A TCP stream with a read-idle timeout and a lingering close on drop.
pub(crate) struct GuardedStream {
    tcp: Option<TcpStream>,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl GuardedStream {
    /// Wraps an accepted stream; a read waiting longer than `idle` for its next byte
    /// fails with [`io::ErrorKind::TimedOut`].
    pub(crate) fn new(tcp: TcpStream, idle: Duration) -> Self {
        Self {
            tcp: Some(tcp),
            idle,
            deadline: Box::pin(sleep_until(Instant::now() + idle)),
        }
    }

    fn tcp(&mut self) -> Pin<&mut TcpStream> {
        Pin::new(self.tcp.as_mut().expect("the stream is taken only on drop"))
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match self.tcp().poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    let next = Instant::now() + self.idle;
                    self.deadline.as_mut().reset(next);
                }
                Poll::Ready(result)
            }
            Poll::Pending => match self.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no byte from the peer within the idle timeout",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.tcp().poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.tcp().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.tcp().poll_shutdown(cx)
    }
}

impl Drop for GuardedStream {
    fn drop(&mut self) {
        let Some(tcp) = self.tcp.take() else { return };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(linger(tcp));
    }
}

/// Half-closes, then reads and discards input until the peer closes, [`LINGER`]
/// passes or [`LINGER_MAX_BYTES`] were read; only then is the socket closed.
async fn linger(mut tcp: TcpStream) {
    let _ = tcp.shutdown().await;
    let drain = async {
        let mut buf = [0u8; 4096];
        let mut total = 0;
        while total < LINGER_MAX_BYTES {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (client, accepted) = tokio::join!(client, listener.accept());
        (client.unwrap(), accepted.unwrap().0)
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out_the_read() {
        let (_client, server) = pair().await;
        let mut guarded = GuardedStream::new(server, Duration::from_secs(60));
        let mut buf = [0u8; 8];
        let started = Instant::now();
        let error = guarded.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_push_the_idle_deadline_back() {
        let (mut client, server) = pair().await;
        let mut guarded = GuardedStream::new(server, Duration::from_millis(300));
        let mut buf = [0u8; 8];
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            client.write_all(b"x").await.unwrap();
            assert_eq!(guarded.read(&mut buf).await.unwrap(), 1);
        }
    }

    #[tokio::test]
    async fn dropping_with_unread_input_closes_gracefully_not_with_a_reset() {
        let (mut client, server) = pair().await;
        let mut guarded = GuardedStream::new(server, Duration::from_secs(60));
        client.write_all(&[7u8; 64 * 1024]).await.unwrap();
        guarded.write_all(b"last words").await.unwrap();
        drop(guarded); // 64 KiB unread: a plain close would send RST
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut got = Vec::new();
        // The peer reads everything, then sees an orderly EOF (a reset would be an error).
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"last words");
    }
}
