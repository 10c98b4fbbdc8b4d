//! doublezero-bgpstatus: keeps each DoubleZero user's BGP session status on chain, from the
//! Arista switch the user's GRE tunnel lands on.
//!
//! The data flows one way (the picture and a map of where each piece lives are in README.md,
//! "How the pieces fit"): eAPI → BGP peer table; Solana JSON-RPC →
//! cached device view; both → the pure decision → the outbox that signs and sends
//! `SetUserBGPStatus` transactions.
//!
//! No `unsafe` anywhere in the agent: what needs it (syscalls, zeroing memory) comes from `nix`,
//! `zeroize` and the standard library.

#![forbid(unsafe_code)]

pub mod backoff;
pub mod bgp;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod eapi;
pub mod env;
pub mod eos_sdk;
mod fasthash;
pub mod keypair;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod monitor;
pub mod netns;
pub mod privileges;
pub mod rpc;
pub mod serviceability;
pub mod signals;
pub mod submit;
pub mod switch;
pub mod tunnel;
