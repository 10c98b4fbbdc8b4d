//! `ledger-sim`: a Solana JSON-RPC ledger running the real serviceability program (its SBF
//! build, with compute metering), for running the agent without a validator.
//!
//! It prints one JSON line on stdout once it listens
//! (`{"rpc_url", "program_id", "seed"?, "accounts"?, "demo"?}`)
//! and serves until interrupted. The scenario API is under `/control` on the same port.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use doublezero_bgpstatus::config::parse_duration;
use doublezero_bgpstatus_e2e::ledger::{
    seed, Config, LedgerSim, ProgramElf, SERVICEABILITY_PROGRAM_ID,
};
use serde_json::json;
use solana_pubkey::Pubkey;

#[derive(Parser)]
#[command(version, about = "A simulated Solana ledger for doublezero-bgpstatus")]
struct Args {
    /// Address to serve JSON-RPC (and /control) on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8899")]
    listen: SocketAddr,
    /// Milliseconds per slot.
    #[arg(long, default_value_t = 400)]
    slot_time_ms: u64,
    /// Slots after which a transaction is finalized.
    #[arg(long, default_value_t = 32)]
    finality_depth: u64,
    /// The serviceability program id to serve.
    #[arg(long, default_value_t = SERVICEABILITY_PROGRAM_ID)]
    program_id: Pubkey,
    /// An SBF build of the program to deploy instead of the bundled upstream one (commit
    /// 5f9fe3251), e.g. one built with Solana's platform tools.
    #[arg(long, value_name = "FILE")]
    program: Option<PathBuf>,
    /// Delay added to every JSON-RPC round trip (e.g. 100ms), as a switch's RPC across the
    /// internet sees it.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "0s")]
    latency: Duration,
    /// JSON file describing devices, users and airdrops to create.
    #[arg(long, conflicts_with = "demo")]
    seed_file: Option<PathBuf>,
    /// Create one device and N activated users (169.254.0.2k/31, tunnel 500+k).
    #[arg(long, value_name = "N")]
    demo: Option<u16>,
    /// Interfaces of the --demo device (the program's cost per user grows with them).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "demo")]
    demo_interfaces: u16,
    /// Where --demo writes the device's metrics-publisher keypair (mode 0600).
    #[arg(long, default_value = "ledger-sim-publisher.json")]
    demo_keypair: PathBuf,
    /// JSON array of raw accounts to place at start: `[{"pubkey", "owner", "lamports"?, "data_hex"}]`.
    #[arg(long, value_name = "FILE")]
    accounts: Option<PathBuf>,
    /// Give PUBKEY this many lamports at start (repeatable).
    #[arg(long, value_name = "PUBKEY:LAMPORTS", value_parser = parse_fund)]
    fund: Vec<(Pubkey, u64)>,
    /// Append every transaction received to FILE, one JSON line each:
    /// `{"signature", "slot", "outcome", "requested_unit_limit", "units_consumed",
    /// "transaction"}` (the wire bytes, base64).
    #[arg(long, value_name = "FILE")]
    tx_log: Option<PathBuf>,
}

fn parse_fund(text: &str) -> Result<(Pubkey, u64), String> {
    let (key, lamports) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not PUBKEY:LAMPORTS"))?;
    let key = key
        .parse()
        .map_err(|_| format!("{key:?} is not a base58 pubkey"))?;
    let lamports = lamports
        .parse()
        .map_err(|_| format!("{lamports:?} is not a number of lamports"))?;
    Ok((key, lamports))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let program = match &args.program {
        None => ProgramElf::serviceability(),
        Some(path) => ProgramElf::from_file(path)
            .with_context(|| format!("reading the program {}", path.display()))?,
    };
    let sim = LedgerSim::start(Config {
        listen: args.listen,
        program_id: args.program_id,
        program,
        slot_time: Duration::from_millis(args.slot_time_ms.max(1)),
        finality_depth: args.finality_depth,
        tx_log: args.tx_log,
        latency: args.latency,
    })
    .await?;
    let mut ready = json!({"rpc_url": sim.url(), "program_id": sim.program_id().to_string()});
    if let Some(path) = &args.seed_file {
        ready["seed"] = seed::apply_file(&sim, path)?;
    }
    if let Some(path) = &args.accounts {
        ready["accounts"] = json!(seed::apply_accounts(&sim, path)?);
    }
    for (key, lamports) in &args.fund {
        sim.airdrop(key, *lamports);
    }
    if let Some(users) = args.demo {
        ready["demo"] = seed::apply_demo(&sim, users, args.demo_interfaces, &args.demo_keypair)?;
    }
    println!("{ready}");
    tokio::signal::ctrl_c()
        .await
        .context("waiting for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}
