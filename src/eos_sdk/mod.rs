//! BGP peer events from EOS's EosSdkRpc transport (`BgpMgrService.watch`): a session change
//! reaches the agent when EOS's BGP agent sees it, instead of at the next eAPI poll. The poll
//! stays the truth-keeper (see `crate::daemon`); a broken stream is never evidence of Down.
//!
//! - `bgp.proto` and [`proto`]: the messages, written from the spec's facts;
//! - [`client`]: the address, the connection (from the right network namespace) and the calls;
//! - [`stream`]: the watch kept open, reconnected with backoff, probed when silent, its events
//!   handed to the daemon as peer-table changes.

pub mod client;
pub mod proto;
pub mod stream;

pub use client::{Addr, Connector, Dialer};
pub use stream::{probe, Probe, StreamEvent, StreamHealth};
