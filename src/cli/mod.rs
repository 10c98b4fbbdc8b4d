//! The command line: one file per subcommand. `main.rs` only parses and dispatches here.

pub mod check;
pub mod peers;
pub mod run;
pub mod status;
mod table;
pub mod users;

use std::ffi::OsString;

use clap::{Parser, Subcommand};

use crate::config::find_key;
use crate::netns;

/// Keeps each DoubleZero user's BGP session status on chain, from the switch it runs on.
#[derive(Debug, Parser)]
#[command(name = "doublezero-bgpstatus", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: read BGP sessions over eAPI and keep each user's status on chain.
    Run(run::Args),
    /// Pre-flight: check everything `run` needs, with a fix for each failure.
    Check(check::Args),
    /// Print the switch's BGP sessions as read over eAPI.
    Peers(peers::Args),
    /// List the User accounts of one device (or all devices), with their onchain BGP status.
    Users(users::Args),
    /// Show what the running agent thinks of each user and why, from its /status listener.
    Status(status::Args),
}

impl Cli {
    /// Parses the process arguments, accepting the upstream agent's Go-style `-flag` spelling.
    pub fn parse_process_args() -> Self {
        Cli::parse_from(go_style_flags(std::env::args_os()))
    }

    /// Runs the chosen subcommand to completion; the error is printed by `main`.
    pub fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Run(args) => run::main(args),
            command => {
                enter_namespace(&command)?;
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                runtime.block_on(async {
                    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
                    match command {
                        Command::Check(args) => {
                            if check::run(args, &mut out).await? {
                                Ok(())
                            } else {
                                anyhow::bail!("pre-flight checks failed")
                            }
                        }
                        Command::Peers(args) => peers::run(args).await,
                        Command::Users(args) => users::run(args, &mut out, &mut err).await,
                        Command::Status(args) => {
                            status::run(args, &mut out, status::color_wanted()).await
                        }
                        Command::Run(_) => unreachable!("handled above"),
                    }
                })
            }
        }
    }
}

/// Enters the management namespace a one-shot command is asked to work from, before its
/// runtime starts, so its RPC or `/status` connection leaves through the same VRF as the
/// daemon's. `check` enters it itself, once it has read the options that may name it.
fn enter_namespace(command: &Command) -> anyhow::Result<()> {
    let name = match command {
        Command::Users(args) => args.management_namespace.as_deref(),
        Command::Status(args) => args.management_namespace.as_deref(),
        Command::Run(_) | Command::Check(_) | Command::Peers(_) => None,
    };
    if let Some(name) = name {
        netns::enter(name, std::time::Duration::ZERO)?;
    }
    Ok(())
}

/// Rewrites `-name` and `-name=value` to `--name…` when `name` is one of the daemon's settings:
/// the Go agent's `flag` package takes single-dash long flags, and existing `daemon` blocks'
/// `exec` lines are written that way.
pub fn go_style_flags(args: impl IntoIterator<Item = OsString>) -> Vec<OsString> {
    args.into_iter()
        .map(|arg| {
            let Some(text) = arg.to_str() else {
                return arg;
            };
            let Some(rest) = text.strip_prefix('-').filter(|r| !r.starts_with('-')) else {
                return arg;
            };
            let name = rest.split('=').next().unwrap_or(rest);
            if name.len() > 1 && find_key(name).is_some() {
                OsString::from(format!("-{text}"))
            } else {
                arg
            }
        })
        .collect()
}
