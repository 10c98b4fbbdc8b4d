//! The command line: one file per subcommand. `main.rs` only parses and dispatches here.

pub mod peers;
pub mod users;

use clap::{Parser, Subcommand};

/// Keeps each DoubleZero user's BGP session status on chain, from the switch it runs on.
#[derive(Debug, Parser)]
#[command(name = "doublezero-bgpstatus", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the switch's BGP sessions as read over eAPI.
    Peers(peers::Args),
    /// List the User accounts of one device (or all devices), with their onchain BGP status.
    Users(users::Args),
}

impl Cli {
    /// Runs the chosen subcommand to completion; the error is printed by `main`.
    pub async fn run(self) -> anyhow::Result<()> {
        let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
        match self.command {
            Command::Peers(args) => peers::run(args).await,
            Command::Users(args) => users::run(args, &mut out, &mut err).await,
        }
    }
}
