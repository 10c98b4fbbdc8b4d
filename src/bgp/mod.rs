//! The BGP peer table: every session on the switch, by VRF and peer address, built from
//! `show ip bgp summary vrf all` (+ `show ipv6 bgp summary vrf all` for an operator's listing),
//! and the on-demand round-trip times read from the neighbour detail. Pure tables and the
//! commands that fill them: the eAPI round trips are `crate::switch`'s.
//!
//! - [`peer`]: one session and its identity (VRF, address with link-local scope, FSM state);
//! - [`table`]: the [`PeerTable`], which exists only as the product of a successful read;
//! - [`summary`]: the summary commands and their streaming parser;
//! - [`asn`]: the AS number as EOS spelled it;
//! - [`rtt`]: the neighbour-detail commands and the RTTs read from them;
//! - `fields`: the tolerant JSON field readers the parsers share.

pub mod asn;
mod fields;
pub mod peer;
pub mod rtt;
pub mod summary;
pub mod table;

pub use asn::Asn;
pub use peer::{Peer, PeerAddr, PeerKey, PeerState, Vrf};
pub use rtt::{neighbor_command, rtt_requests, rtts_from_neighbors, RTT_CHUNK};
pub use summary::{
    ipv4_summary_command, summary_commands, SummaryMemo, IPV4_SUMMARY, IPV6_SUMMARY,
};
pub use table::PeerTable;
