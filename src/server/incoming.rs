//! Accepting connections: at most `max_connections` open at once (more
//! wait in the kernel's backlog), a connection from which nothing arrives
//! for `idle_timeout` is closed (live gRPC clients answer the server's
//! keepalive pings, so only silent or dead peers are), and an accept error
//! such as EMFILE is logged and backed off instead of retried in a spin.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use std::future::Future;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::{Instant, Sleep};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};
use tracing::{info, warn};

/// Limits on the connections a server accepts.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

/// How long the accept loop waits after an error before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// At most one log line per this many accept errors in a row.
const ACCEPT_ERRORS_PER_LOG: u64 = 100;

/// The connections accepted on `listener`, as tonic's incoming stream. The
/// listener closes when the server stops reading the stream.
pub fn accept(
    listener: TcpListener,
    limits: ConnectionLimits,
) -> ReceiverStream<Result<Connection, io::Error>> {
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        tokio::select! {
            () = accept_loop(&listener, limits, &tx) => {}
            () = tx.closed() => {}
        }
    });
    ReceiverStream::new(rx)
}

async fn accept_loop(
    listener: &TcpListener,
    limits: ConnectionLimits,
    tx: &mpsc::Sender<Result<Connection, io::Error>>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let mut errors: u64 = 0;
    loop {
        let permit = match slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                info!(
                    max = limits.max_connections,
                    "connection limit reached; new connections wait"
                );
                match slots.clone().acquire_owned().await {
                    Ok(permit) => permit,
                    Err(_) => return,
                }
            }
        };
        match listener.accept().await {
            Ok((stream, _)) => {
                if errors > 0 {
                    info!(errors, "accepting connections again");
                    errors = 0;
                }
                // Small unary calls must not wait for Nagle.
                let _ = stream.set_nodelay(true);
                let connection = Connection::new(stream, permit, limits.idle_timeout);
                if tx.send(Ok(connection)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                if errors.is_multiple_of(ACCEPT_ERRORS_PER_LOG) {
                    warn!(error = %e, errors, "accepting a connection failed; backing off");
                }
                errors += 1;
                drop(permit);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// An accepted connection; it holds its slot under the connection limit
/// and fails its reads once nothing has arrived for the idle timeout.
pub struct Connection {
    stream: TcpStream,
    idle: Pin<Box<Sleep>>,
    idle_timeout: Duration,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    fn new(stream: TcpStream, slot: OwnedSemaphorePermit, idle_timeout: Duration) -> Self {
        Self {
            stream,
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            idle_timeout,
            _slot: slot,
        }
    }
}

impl Connected for Connection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    let next = Instant::now() + this.idle_timeout;
                    this.idle.as_mut().reset(next);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.idle.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "nothing received for the idle timeout",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
