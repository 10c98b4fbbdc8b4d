//! The mass-event benchmark: every user of a device flips to Established at once (a switch
//! reboot coming back, a route reflector recovering), and the agent must put them all Up on
//! chain. Measured for the default policy (batches, several in flight, `confirmed`) and for the
//! upstream agent's policy (`--batch-size 1 --max-inflight 1 --commitment finalized`), both
//! against the ledger simulator at a cluster's slot time and finality depth.
//!
//! The upstream policy writes one user per finalized transaction (32 slots, ~13 s each), so
//! 1,000 users would take hours; it is measured on a few users and extrapolated per user, and
//! the output says so. Each run first lets an agent write every user Down (tunnels up, no
//! sessions) so the flip is a change, not a first write.
//!
//! Run: `cargo bench -p doublezero-bgpstatus-e2e --bench mass_event`. Exits non-zero when a goal
//! (≥ 100x faster, ≤ ⌈N/15⌉ transactions) is missed.

use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus_e2e::devnet::{agent_binary, Agent, Devnet};
use nix::sys::signal::Signal;
use tokio::time::Instant;

/// A cluster's slot time.
const SLOT: Duration = Duration::from_millis(400);
/// Slots until finalized: the ledger simulator's default, a cluster's typical depth.
const FINALITY_DEPTH: u64 = 32;
const UPSTREAM_FLAGS: [&str; 6] = [
    "--batch-size",
    "1",
    "--max-inflight",
    "1",
    "--commitment",
    "finalized",
];

#[derive(Parser)]
#[command(about = "Time for N users flipping Established at once to be confirmed Up on chain")]
struct Args {
    /// Users that flip at once under the default policy.
    #[arg(long, default_value_t = 1000)]
    users: u16,
    /// Users measured under the upstream policy, extrapolated per user to --users.
    #[arg(long, default_value_t = 10)]
    upstream_users: u16,
    /// Passed by `cargo bench` to every bench target.
    #[arg(long = "bench", hide = true)]
    _bench: bool,
}

/// One measured flip.
struct Flip {
    users: u16,
    /// From the flip until the last transaction is at the policy's commitment.
    elapsed: Duration,
    transactions: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    agent_binary()?;
    println!(
        "mass event: users flip to Established at once; slot time {} ms, finality depth {FINALITY_DEPTH} slots",
        SLOT.as_millis()
    );

    let default = flip(args.users, &[], 1).await?;
    println!(
        "default  (batches as full as fit, 4 in flight, confirmed): {} users confirmed Up in {:.1} s with {} transactions",
        default.users,
        default.elapsed.as_secs_f64(),
        default.transactions
    );

    let upstream = flip(args.upstream_users, &UPSTREAM_FLAGS, FINALITY_DEPTH).await?;
    let per_user = upstream.elapsed.as_secs_f64() / f64::from(upstream.users);
    let per_user_tx = upstream.transactions as f64 / f64::from(upstream.users);
    let extrapolated = per_user * f64::from(args.users);
    let extrapolated_tx = (per_user_tx * f64::from(args.users)).round() as usize;
    println!(
        "upstream ({}): measured {} users confirmed Up in {:.1} s with {} transactions ({per_user:.1} s per user)",
        UPSTREAM_FLAGS.join(" "),
        upstream.users,
        upstream.elapsed.as_secs_f64(),
        upstream.transactions
    );
    println!(
        "upstream extrapolated linearly from those {} users to {}: {:.0} s (~{:.1} h), ~{extrapolated_tx} transactions (NOT measured)",
        upstream.users,
        args.users,
        extrapolated,
        extrapolated / 3600.0
    );

    let speedup = extrapolated / default.elapsed.as_secs_f64();
    let tx_goal = usize::from(args.users).div_ceil(15);
    println!(
        "ratio: default is {speedup:.0}x faster (goal ≥ 100x) and uses {:.1}x fewer transactions ({} ≤ {tx_goal}: {})",
        extrapolated_tx as f64 / default.transactions.max(1) as f64,
        default.transactions,
        if default.transactions <= tx_goal { "met" } else { "MISSED" }
    );
    if speedup < 100.0 || default.transactions > tx_goal {
        bail!("a goal was missed");
    }
    Ok(())
}

/// A devnet of `users` provisioned users, all first written Down by an agent with the default
/// policy; then an agent with `flags` sees every session establish at once.
async fn flip(users: u16, flags: &[&str], commitment_lag: u64) -> anyhow::Result<Flip> {
    let devnet = Devnet::start(users, SLOT).await?;
    let all = |status| move |d: &Devnet| (0..d.users.len()).all(|i| d.chain_status(i) == status);

    let seeder = devnet.spawn_agent(&[]).await?;
    if !devnet
        .wait_until(Duration::from_secs(300), all(BgpStatus::Down))
        .await
    {
        bail!("the initial Down did not land:\n{}", seeder.log());
    }
    let agent = match flags.is_empty() {
        // The default policy keeps going with the agent that wrote the Downs.
        true => seeder,
        false => {
            stop(seeder).await?;
            let agent = devnet.spawn_agent(flags).await?;
            wait_in_sync(&agent, users).await?;
            agent
        }
    };

    let before = devnet.ledger.transactions().len();
    let sent_before = devnet.transactions_sent();
    let flipped = Instant::now();
    for i in 0..usize::from(users) {
        devnet.session(i, Some("Established"))?;
    }
    // Serial finalized writes take ~14 s each; leave room on a loaded machine.
    let budget = Duration::from_secs(120 + 60 * u64::from(users).min(60));
    if !devnet.wait_until(budget, all(BgpStatus::Up)).await {
        bail!("not every user went Up within {budget:?}:\n{}", agent.log());
    }
    // Landed is not confirmed: wait until the last write is at the policy's commitment.
    let last_landed = devnet.ledger.transactions()[before..]
        .iter()
        .filter(|t| t.outcome == "landed")
        .map(|t| t.slot)
        .max()
        .context("users went Up without a landed transaction")?;
    devnet
        .wait_until(Duration::from_secs(60), |d| {
            d.ledger.slot() >= last_landed + commitment_lag
        })
        .await;
    let elapsed = flipped.elapsed();
    let transactions = devnet.transactions_sent() - sent_before;
    stop(agent).await?;
    Ok(Flip {
        users,
        elapsed,
        transactions,
    })
}

/// Waits until the agent serves /status with every user in sync (nothing to write).
async fn wait_in_sync(agent: &Agent, users: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(status) = agent.status().await {
            let rows = status["users"].as_array().map_or(&[][..], |r| r.as_slice());
            if rows.len() == usize::from(users) && rows.iter().all(|r| r["why"] == "in_sync") {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!(
        "the agent never reported every user in sync:\n{}",
        agent.log()
    )
}

async fn stop(agent: Agent) -> anyhow::Result<()> {
    let status = agent.stop(Signal::SIGTERM).await?;
    if !status.success() {
        bail!("the agent exited with {status}");
    }
    Ok(())
}
