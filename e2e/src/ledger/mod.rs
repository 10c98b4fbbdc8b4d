//! `ledger-sim`: a Solana ledger for the agent to talk to, without a validator.
//!
//! LiteSVM executes transactions against the real serviceability program, deployed from its SBF
//! build ([`program`]) with the runtime's compute metering; [`chain`] adds what a node has
//! around a bank (slots, blockhash expiry, commitment levels, a status cache, signature checks);
//! [`rpc`] answers the JSON-RPC methods the agent calls in agave's shapes; [`control`] lets
//! scenarios create devices and users and inject faults over HTTP; [`sim`] ties them into a
//! [`LedgerSim`] that tests start in-process and the `ledger-sim` binary runs as a process;
//! [`seed`] builds a ledger from a file or a demo; [`account`] writes the program's account
//! layouts; [`compute`] measures what a batch costs.
//!
//! No native stand-in of the program remains: every behaviour the suite needs (the checks and
//! their errors, the resize and its rent top-up, panics as `ProgramFailedToComplete`, both
//! out-of-compute shapes) comes from the real program.

pub mod account;
pub mod chain;
pub mod compute;
pub mod control;
pub mod program;
mod rpc;
pub mod seed;
pub mod sim;

pub use account::{UserAccount, UserLayout};
pub use chain::Commitment;
pub use program::ProgramElf;
pub use sim::{
    Config, Fault, LedgerSim, NewDevice, NewUser, StartError, SERVICEABILITY_PROGRAM_ID,
};
