//! eAPI over the switch's local unix socket: JSON-RPC 2.0 `runCmds` carried by HTTP/1.1.
//!
//! The layers, bottom up: `http` frames one request and reads one response; `jsonrpc` builds the
//! `runCmds` body and turns a reply into one outcome per command (EOS reports command failures
//! with HTTP 200 and partial `error.data`); `client` owns the socket, the timeout, the reply cap
//! and the one-request-in-flight rule. Models of particular commands (BGP, interfaces) live with
//! their users, e.g. `crate::bgp`, and only borrow the raw result text from here.

mod client;
mod error;
mod http;
mod jsonrpc;
mod scan;

pub use client::{Client, DEFAULT_MAX_REPLY_BYTES, DEFAULT_SOCKET, DEFAULT_TIMEOUT};
pub use error::{CommandFailure, EapiError};
pub(crate) use jsonrpc::model as model_error;
pub use jsonrpc::{result_text, Body, Command, CommandOutcome, Reply, Request};
pub(crate) use scan::Cursor;
