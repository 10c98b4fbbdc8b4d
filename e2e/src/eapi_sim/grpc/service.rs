//! The gRPC glue tonic's code generator would write, by hand (no `protoc`): tower services
//! named `eos.remote.BgpMgrService` and `eos.remote.IntfMgrService` that route each call by
//! path to the switch's side, with tonic's prost codec doing the framing. A path they do not
//! know is `UNIMPLEMENTED`, as is every call while the transport is told not to serve the
//! service at all.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::{http, BoxFuture, Service};
use tonic::server::{Grpc, NamedService, ServerStreamingService, UnaryService};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

use super::proto::{
    BgpPeerExistsRequest, BgpPeerExistsResponse, BgpPeerStateRequest, BgpPeerStateResponse,
    BgpPeerWatchRequest, BgpPeerWatchResponse, WatchIntfRequest,
};
use super::{
    intf_unimplemented, unimplemented, EosSdkRpc, GrpcFault, IntfServing, IntfWire, Method,
    WatchStream,
};

const WATCH: &str = "/eos.remote.BgpMgrService/watch";
const EXISTS: &str = "/eos.remote.BgpMgrService/exists";
const PEER_STATE: &str = "/eos.remote.BgpMgrService/peer_state";
const INTF_WATCH: &str = "/eos.remote.IntfMgrService/watch";

/// `BgpMgrService` as the transport serves it.
#[derive(Debug, Clone)]
pub(crate) struct BgpMgrService(pub(crate) Arc<EosSdkRpc>);

impl NamedService for BgpMgrService {
    const NAME: &'static str = "eos.remote.BgpMgrService";
}

impl Service<http::Request<Body>> for BgpMgrService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let side = self.0.clone();
        Box::pin(async move {
            let method = match request.uri().path() {
                WATCH => Method::Watch,
                EXISTS => Method::Exists,
                PEER_STATE => Method::PeerState,
                _ => return Ok(Status::unimplemented("").into_http()),
            };
            side.count_call(method);
            if side.fault() == Some(GrpcFault::Unimplemented) {
                return Ok(unimplemented().into_http());
            }
            Ok(match method {
                Method::Watch => {
                    Grpc::new(ProstCodec::default())
                        .server_streaming(Watch(side), request)
                        .await
                }
                Method::Exists => {
                    Grpc::new(ProstCodec::default())
                        .unary(Exists(side), request)
                        .await
                }
                Method::PeerState => {
                    Grpc::new(ProstCodec::default())
                        .unary(PeerState(side), request)
                        .await
                }
            })
        })
    }
}

struct Watch(Arc<EosSdkRpc>);

impl ServerStreamingService<BgpPeerWatchRequest> for Watch {
    type Response = BgpPeerWatchResponse;
    type ResponseStream = WatchStream<BgpPeerWatchResponse>;
    type Future = BoxFuture<Response<Self::ResponseStream>, Status>;

    fn call(&mut self, request: Request<BgpPeerWatchRequest>) -> Self::Future {
        let side = self.0.clone();
        Box::pin(async move { side.watch(request.into_inner()).map(Response::new) })
    }
}

struct Exists(Arc<EosSdkRpc>);

impl UnaryService<BgpPeerExistsRequest> for Exists {
    type Response = BgpPeerExistsResponse;
    type Future = BoxFuture<Response<BgpPeerExistsResponse>, Status>;

    fn call(&mut self, request: Request<BgpPeerExistsRequest>) -> Self::Future {
        let side = self.0.clone();
        Box::pin(async move { side.exists(request.into_inner()).await.map(Response::new) })
    }
}

struct PeerState(Arc<EosSdkRpc>);

impl UnaryService<BgpPeerStateRequest> for PeerState {
    type Response = BgpPeerStateResponse;
    type Future = BoxFuture<Response<BgpPeerStateResponse>, Status>;

    fn call(&mut self, request: Request<BgpPeerStateRequest>) -> Self::Future {
        let side = self.0.clone();
        Box::pin(async move {
            side.peer_state(request.into_inner())
                .await
                .map(Response::new)
        })
    }
}

/// `IntfMgrService` as the transport serves it: `watch` only (the agent calls nothing else).
#[derive(Debug, Clone)]
pub(crate) struct IntfMgrService(pub(crate) Arc<EosSdkRpc>);

impl NamedService for IntfMgrService {
    const NAME: &'static str = "eos.remote.IntfMgrService";
}

impl Service<http::Request<Body>> for IntfMgrService {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let side = self.0.clone();
        Box::pin(async move {
            if request.uri().path() != INTF_WATCH {
                return Ok(Status::unimplemented("").into_http());
            }
            side.count_intf_watch();
            if side.fault() == Some(GrpcFault::Unimplemented)
                || side.behaviour().interfaces == IntfServing::Unimplemented
            {
                return Ok(intf_unimplemented().into_http());
            }
            Ok(Grpc::new(ProstCodec::default())
                .server_streaming(IntfWatch(side), request)
                .await)
        })
    }
}

struct IntfWatch(Arc<EosSdkRpc>);

impl ServerStreamingService<WatchIntfRequest> for IntfWatch {
    type Response = IntfWire;
    type ResponseStream = WatchStream<IntfWire>;
    type Future = BoxFuture<Response<Self::ResponseStream>, Status>;

    fn call(&mut self, request: Request<WatchIntfRequest>) -> Self::Future {
        let side = self.0.clone();
        Box::pin(async move { side.watch_intfs(request.into_inner()).map(Response::new) })
    }
}
