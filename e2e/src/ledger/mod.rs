//! `ledger-sim`: a Solana ledger for the agent to talk to, without a validator.
//!
//! LiteSVM executes transactions against a native stand-in of the serviceability program's
//! `SetUserBGPStatus` ([`program`]); [`chain`] adds what a node has around a bank (slots,
//! blockhash expiry, commitment levels, a status cache); [`rpc`] answers the JSON-RPC methods
//! the agent calls in agave's shapes; [`control`] lets scenarios create devices and users and
//! inject faults over HTTP; [`sim`] ties them into a [`LedgerSim`] that tests start in-process
//! and the `ledger-sim` binary runs as a process; [`seed`] builds a ledger from a file or a demo.

pub mod account;
pub mod chain;
pub mod control;
pub mod program;
mod rpc;
pub mod runtime;
pub mod seed;
pub mod sim;

pub use account::UserLayout;
pub use chain::Commitment;
pub use runtime::Entrypoint;
pub use sim::{
    Config, Fault, LedgerSim, NewDevice, NewUser, StartError, SERVICEABILITY_PROGRAM_ID,
};
