//! Simulators of the two things the agent talks to — an Arista switch's eAPI and a Solana ledger —
//! and the end-to-end scenarios that run the shipped agent binary against them.

pub mod devnet;
pub mod eapi_sim;
pub mod ledger;
