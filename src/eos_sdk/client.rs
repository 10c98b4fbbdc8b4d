//! The connection to EosSdkRpc's transport and the calls made on it.
//!
//! The transport listens on a unix socket (EOS 4.30.2 and later; namespace-free) or on
//! `127.0.0.1:9543` in the default VRF. The agent runs in the management namespace, where that
//! loopback address is another one: TCP connections are opened by a [`Dialer`], a thread that
//! stays in the namespace the process started in, and handed to the runtime once connected (a
//! socket keeps the namespace it was made in).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{mpsc, Arc};
use std::time::Duration;

use http::uri::PathAndQuery;
use hyper_util::rt::TokioIo;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status, Streaming};
use tonic_prost::ProstCodec;

use super::proto::{
    BgpPeerKey, BgpPeerState, BgpPeerStateRequest, BgpPeerStateResponse, BgpPeerWatchRequest,
    BgpPeerWatchResponse, IntfOverloads, Overload, WatchIntfRequest, WatchIntfResponse,
};

/// Where the EosSdkRpc transport listens: `unix:///path` or `IP:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addr {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl FromStr for Addr {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("unix://") {
            return if path.starts_with('/') {
                Ok(Addr::Unix(PathBuf::from(path)))
            } else {
                Err(format!(
                    "{text:?}: a unix socket is given as unix:///absolute/path"
                ))
            };
        }
        text.parse()
            .map(Addr::Tcp)
            .map_err(|_| format!("{text:?} is not unix:///path or IP:PORT (e.g. 127.0.0.1:9543)"))
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Unix(path) => write!(f, "unix://{}", path.display()),
            Addr::Tcp(addr) => write!(f, "{addr}"),
        }
    }
}

/// Connecting to the transport on this switch, and a probe of a silent stream.
pub const TIMEOUT: Duration = Duration::from_secs(5);

type Dialed = std::io::Result<std::net::TcpStream>;

/// Opens TCP connections from the network namespace the thread was started in. Start it before
/// the process enters the management namespace; it holds no privilege once started.
#[derive(Debug, Clone)]
pub struct Dialer {
    requests: mpsc::Sender<(SocketAddr, Duration, tokio::sync::oneshot::Sender<Dialed>)>,
}

impl Dialer {
    pub fn spawn() -> std::io::Result<Dialer> {
        let (requests, inbox) =
            mpsc::channel::<(SocketAddr, Duration, tokio::sync::oneshot::Sender<Dialed>)>();
        std::thread::Builder::new()
            .name("eos-sdk-dialer".into())
            .spawn(move || {
                // Capabilities are per thread: this one was started before the main thread
                // gave them up, so it gives them up itself.
                if let Err(error) = crate::privileges::harden(&Default::default()) {
                    tracing::error!(%error, "the EosSdkRpc dialer thread keeps privileges");
                }
                for (addr, timeout, reply) in inbox {
                    let _ = reply.send(std::net::TcpStream::connect_timeout(&addr, timeout));
                }
            })?;
        Ok(Dialer { requests })
    }

    async fn connect(&self, addr: SocketAddr, timeout: Duration) -> Dialed {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.requests
            .send((addr, timeout, reply))
            .map_err(|_| std::io::Error::other("the dialer thread has stopped"))?;
        answer
            .await
            .map_err(|_| std::io::Error::other("the dialer thread has stopped"))?
    }
}

/// Makes connections to the transport.
#[derive(Debug, Clone)]
pub struct Connector {
    pub addr: Addr,
    /// For TCP from another namespace; `None` dials from the runtime's own.
    pub dialer: Option<Arc<Dialer>>,
    pub timeout: Duration,
}

impl Connector {
    /// Dials `addr` from this thread's namespace, for a command run from an operator's shell
    /// (`check`, `peers`), where the loopback transport listens.
    pub fn direct(addr: Addr) -> Self {
        Connector {
            addr,
            dialer: None,
            timeout: TIMEOUT,
        }
    }

    /// A new HTTP/2 connection to the transport.
    pub async fn connect(&self) -> Result<Connection, Status> {
        // The authority is not used to connect: the connector below decides where to.
        let endpoint = Endpoint::from_static("http://eos-sdk-rpc").connect_timeout(self.timeout);
        let unavailable = |error: tonic::transport::Error| {
            // tonic's error says only "transport error": the cause is in its sources.
            let mut text = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                text = format!("{text}: {cause}");
                source = cause.source();
            }
            Status::unavailable(format!(
                "cannot connect to EosSdkRpc at {}: {text}",
                self.addr
            ))
        };
        let channel = match &self.addr {
            Addr::Unix(path) => {
                let path = path.clone();
                endpoint
                    .connect_with_connector(tower::service_fn(move |_| {
                        let path = path.clone();
                        async move {
                            tokio::net::UnixStream::connect(path)
                                .await
                                .map(TokioIo::new)
                        }
                    }))
                    .await
            }
            Addr::Tcp(addr) => {
                let (addr, dialer, timeout) = (*addr, self.dialer.clone(), self.timeout);
                endpoint
                    .connect_with_connector(tower::service_fn(move |_| {
                        let dialer = dialer.clone();
                        async move {
                            let stream = match dialer {
                                Some(dialer) => {
                                    let stream = dialer.connect(addr, timeout).await?;
                                    stream.set_nonblocking(true)?;
                                    tokio::net::TcpStream::from_std(stream)?
                                }
                                None => tokio::net::TcpStream::connect(addr).await?,
                            };
                            stream.set_nodelay(true)?;
                            Ok::<_, std::io::Error>(TokioIo::new(stream))
                        }
                    }))
                    .await
            }
        }
        .map_err(unavailable)?;
        Ok(Connection {
            grpc: tonic::client::Grpc::new(channel),
            // Streams live for hours: the timeout bounds the connection and the unary probe.
            timeout: self.timeout,
        })
    }
}

/// One HTTP/2 connection to the transport, carrying `eos.remote.BgpMgrService` and
/// `eos.remote.IntfMgrService` calls side by side.
#[derive(Debug, Clone)]
pub struct Connection {
    grpc: tonic::client::Grpc<Channel>,
    timeout: Duration,
}

impl Connection {
    /// Watches every BGP peer: a stream of set, delete and state events.
    pub async fn watch_all(&mut self) -> Result<Streaming<BgpPeerWatchResponse>, Status> {
        self.ready().await?;
        let request = BgpPeerWatchRequest {
            ack: true,
            overload: Some(Overload::All(true)),
        };
        let path = PathAndQuery::from_static("/eos.remote.BgpMgrService/watch");
        let response = self
            .grpc
            .server_streaming(Request::new(request), path, ProstCodec::default())
            .await?;
        Ok(response.into_inner())
    }

    /// Watches every interface: a stream of created, deleted and oper-status events. Opened
    /// while the BGP watch is read, so a transport that never answers it must not hold that
    /// up: the open is bounded by the timeout.
    pub async fn watch_intfs(&mut self) -> Result<Streaming<WatchIntfResponse>, Status> {
        self.ready().await?;
        let request = WatchIntfRequest {
            overloads: Some(IntfOverloads::AllIntfs(true)),
        };
        let path = PathAndQuery::from_static("/eos.remote.IntfMgrService/watch");
        let call = self
            .grpc
            .server_streaming(Request::new(request), path, ProstCodec::default());
        let response = tokio::time::timeout(self.timeout, call)
            .await
            .map_err(|_| {
                Status::deadline_exceeded("EosSdkRpc did not open the interface watch")
            })??;
        Ok(response.into_inner())
    }

    /// One peer's state, asked outside the stream (the probe of a silent stream).
    pub async fn peer_state(&mut self, key: BgpPeerKey) -> Result<BgpPeerState, Status> {
        self.ready().await?;
        let mut request = Request::new(BgpPeerStateRequest {
            peer_key: Some(key),
        });
        request.set_timeout(self.timeout);
        let path = PathAndQuery::from_static("/eos.remote.BgpMgrService/peer_state");
        let call = self.grpc.unary(request, path, ProstCodec::default());
        let response: tonic::Response<BgpPeerStateResponse> =
            tokio::time::timeout(self.timeout, call)
                .await
                .map_err(|_| Status::deadline_exceeded("EosSdkRpc did not answer peer_state"))??;
        Ok(response.into_inner().peer_state())
    }

    async fn ready(&mut self) -> Result<(), Status> {
        self.grpc
            .ready()
            .await
            .map_err(|error| Status::unavailable(format!("EosSdkRpc connection: {error}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_a_unix_socket_path_or_an_ip_and_port() {
        assert_eq!(
            "unix:///var/run/eos-sdk.sock".parse(),
            Ok(Addr::Unix("/var/run/eos-sdk.sock".into()))
        );
        assert_eq!(
            "127.0.0.1:9543".parse(),
            Ok(Addr::Tcp("127.0.0.1:9543".parse().unwrap()))
        );
        assert!("unix://relative.sock".parse::<Addr>().is_err());
        let err = "localhost".parse::<Addr>().unwrap_err();
        assert!(err.contains("IP:PORT"), "{err}");
        assert_eq!(Addr::Unix("/x.sock".into()).to_string(), "unix:///x.sock");
    }
}
