//! Where the gRPC side listens — a unix socket (`localhost unix file:…` since EOS 4.30.2) and/or
//! TCP (`127.0.0.1:9543` on DoubleZero switches) — and the connections a reset cuts. Each
//! accepted connection is wrapped so that cancelling its generation's token makes every read
//! and write fail: hyper then drops the connection mid-stream, which is what a client sees when
//! the real transport resets.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, UnixListener};
use tokio::task::JoinHandle;
use tokio_stream::wrappers::{TcpListenerStream, UnixListenerStream};
use tokio_stream::{Stream, StreamExt};
use tokio_util::sync::WaitForCancellationFutureOwned;
use tonic::transport::server::Connected;
use tonic::transport::Server;

use super::service::{BgpMgrService, IntfMgrService};
use super::EosSdkRpc;
use crate::eapi_sim::SimError;

/// The bound listeners; [`Listeners::close`] stops them and cuts their connections.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    pub(crate) unix: Option<PathBuf>,
    pub(crate) tcp: Option<SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
}

impl Listeners {
    /// Binds what is asked (a stale socket file is replaced; port 0 picks a port) and serves on
    /// the current runtime.
    pub(crate) async fn bind(
        unix: Option<&Path>,
        tcp: Option<SocketAddr>,
        side: &Arc<EosSdkRpc>,
    ) -> Result<Listeners, SimError> {
        let mut listeners = Listeners::default();
        if let Some(path) = unix {
            let bind_error = |source| SimError::GrpcBind {
                addr: format!("unix://{}", path.display()),
                source,
            };
            match std::fs::remove_file(path) {
                Err(err) if err.kind() != io::ErrorKind::NotFound => return Err(bind_error(err)),
                _ => {}
            }
            let listener = UnixListener::bind(path).map_err(bind_error)?;
            let incoming = UnixListenerStream::new(listener);
            listeners.tasks.push(serve(incoming, side.clone()));
            listeners.unix = Some(path.to_owned());
        }
        if let Some(addr) = tcp {
            let bind_error = |source| SimError::GrpcBind {
                addr: addr.to_string(),
                source,
            };
            let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
            listeners.tcp = Some(listener.local_addr().map_err(bind_error)?);
            let incoming = TcpListenerStream::new(listener);
            listeners.tasks.push(serve(incoming, side.clone()));
        }
        Ok(listeners)
    }

    /// The address as the agent takes it: `unix:///path` when a socket is bound, else
    /// `HOST:PORT`.
    pub(crate) fn addr(&self) -> Option<String> {
        match (&self.unix, self.tcp) {
            (Some(path), _) => Some(format!("unix://{}", path.display())),
            (None, Some(addr)) => Some(addr.to_string()),
            (None, None) => None,
        }
    }

    /// Stops accepting and removes the socket file; the caller cuts the connections.
    pub(crate) fn close(&self) {
        for task in &self.tasks {
            task.abort();
        }
        if let Some(path) = &self.unix {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn serve<I, IO>(incoming: I, side: Arc<EosSdkRpc>) -> JoinHandle<()>
where
    I: Stream<Item = io::Result<IO>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    let bgp = BgpMgrService(side.clone());
    let intf = IntfMgrService(side.clone());
    let incoming = incoming.map(move |accepted| accepted.map(|io| Conn::new(io, &side)));
    tokio::spawn(async move {
        let _ = Server::builder()
            .add_service(bgp)
            .add_service(intf)
            .serve_with_incoming(incoming)
            .await;
    })
}

/// An accepted connection that fails every read and write once its generation is reset.
struct Conn<IO> {
    io: IO,
    reset: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl<IO> Conn<IO> {
    fn new(io: IO, side: &EosSdkRpc) -> Self {
        Conn {
            io,
            reset: Box::pin(side.connection_token().cancelled_owned()),
        }
    }

    /// Whether the connection has been cut; polling registers the task to hear of it.
    fn is_reset(&mut self, cx: &mut Context<'_>) -> bool {
        self.reset.as_mut().poll(cx).is_ready()
    }
}

fn cut<T>() -> Poll<io::Result<T>> {
    Poll::Ready(Err(io::ErrorKind::ConnectionReset.into()))
}

impl<IO: AsyncRead + Unpin> AsyncRead for Conn<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.is_reset(cx) {
            return cut();
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Conn<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.is_reset(cx) {
            return cut();
        }
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.is_reset(cx) {
            return cut();
        }
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl<IO: Connected> Connected for Conn<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}
