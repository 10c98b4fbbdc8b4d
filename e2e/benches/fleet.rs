//! The fleet benchmark (issue 15): many devices, each with its own agent, switch and
//! metrics-publisher key, share one ledger and its RPC, and every user of every device flips to
//! Established at once (a region's route reflector recovering). It reports what the ledger sees
//! (transactions per second, the busiest slot's transactions and compute against the block
//! limits), the slowest device's time until all its users are Up on chain, and the CPU all
//! agents spent together.
//!
//! The ledger simulator runs the real program at a cluster's slot time behind an RPC path
//! that adds `--latency` to every call; agents run with the shipping defaults but
//! `--bgp-status-interval 1s`. A device's time is read from the ledger (the slot its last write
//! landed in, plus one to be confirmed), not from polling: with every agent, switch and the
//! ledger on one small machine, a poll of 10,000 accounts lags the chain by seconds. For the
//! same reason the figures are an upper bound of what the agents cost: twenty agents share the
//! machine's cores with the simulators. Exits non-zero when a device is not all Up within one
//! interval + 2 s, or a slot goes over a block limit.
//!
//! Run: `cargo bench -p doublezero-bgpstatus-e2e --bench fleet` (`-- --devices 20 --users 500`).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use doublezero_bgpstatus::metrics::ProcessUsage;
use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus_e2e::devnet::{agent_binary, set_flag, Agent, Devnet, ANY_PORT};
use nix::sys::signal::Signal;
use solana_pubkey::Pubkey;
use solana_transaction::versioned::VersionedTransaction;
use tokio::time::Instant;

const SLOT: Duration = Duration::from_millis(400);
const INTERVAL: Duration = Duration::from_secs(1);
/// The agent's least time between two writes of one user (`Policy::min_write_interval`).
const MIN_WRITE_INTERVAL: Duration = Duration::from_secs(5);
/// Solana's block compute limit and its per-writable-account limit.
const BLOCK_UNITS: u64 = 48_000_000;
const ACCOUNT_UNITS: u64 = 12_000_000;

#[derive(Parser)]
#[command(about = "Devices × users flipping Established at once against one ledger")]
struct Args {
    #[arg(long, default_value_t = 20)]
    devices: u16,
    /// Users per device.
    #[arg(long, default_value_t = 500)]
    users: u16,
    /// Added to every RPC round trip (an RPC across the internet).
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    latency: Duration,
    /// Passed by `cargo bench` to every bench target.
    #[arg(long = "bench", hide = true)]
    _bench: bool,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    doublezero_bgpstatus::config::parse_duration(text)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    agent_binary()?;
    println!(
        "fleet: {} devices × {} users flip to Established at once; one ledger, slot time {} ms, RPC latency {} ms, interval {} s",
        args.devices,
        args.users,
        SLOT.as_millis(),
        args.latency.as_millis(),
        INTERVAL.as_secs()
    );
    let first = Devnet::start_with(args.users, SLOT, 1, args.latency).await?;
    let mut devices = vec![];
    for _ in 1..args.devices {
        devices.push(first.another_device(args.users, 1).await?);
    }
    devices.insert(0, first);

    let mut agents = vec![];
    for devnet in &devices {
        let mut flags = devnet.agent_args(ANY_PORT, &[]);
        set_flag(&mut flags, "--cache-ttl", "5s");
        set_flag(&mut flags, "--cache-ttl-at-rest", "60s");
        agents.push(Agent::spawn(&flags, &devnet.dir).await?);
    }
    for (devnet, agent) in devices.iter().zip(&agents) {
        let all_down =
            |d: &Devnet| (0..d.users.len()).all(|i| d.chain_status(i) == BgpStatus::Down);
        if !devnet.wait_until(Duration::from_secs(300), all_down).await {
            bail!("the initial Down did not land:\n{}", agent.log());
        }
    }
    // Past every agent's minimum write interval, so each flip is written at once.
    tokio::time::sleep(MIN_WRITE_INTERVAL + INTERVAL).await;

    let ledger = &devices[0].ledger;
    let before = ledger.transactions().len();
    let cpu_before = total_cpu(&agents)?;
    let flip_slot = ledger.slot();
    let flipped = Instant::now();
    for devnet in &devices {
        for i in 0..devnet.users.len() {
            devnet.session(i, Some("Established"))?;
        }
    }
    let mut up_after: Vec<Option<Duration>> = vec![None; devices.len()];
    let deadline = flipped + Duration::from_secs(120);
    while up_after.iter().any(Option::is_none) && Instant::now() < deadline {
        for (devnet, up) in devices.iter().zip(up_after.iter_mut()) {
            if up.is_none()
                && (0..devnet.users.len()).all(|i| devnet.chain_status(i) == BgpStatus::Up)
            {
                *up = Some(flipped.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if up_after.iter().any(Option::is_none) {
        bail!("some device did not have every user Up within 120 s");
    }
    let cpu = total_cpu(&agents)?.saturating_sub(cpu_before);

    let received = ledger.transactions()[before..].to_vec();
    let landed: Vec<_> = received.iter().filter(|t| t.outcome == "landed").collect();
    // Which device each transaction wrote for, by the users it carries: (first arrival, last
    // landing) in slots after the flip, to tell observing late from landing late.
    let device_of: HashMap<Pubkey, usize> = devices
        .iter()
        .enumerate()
        .flat_map(|(d, devnet)| devnet.users.iter().map(move |u| (u.pubkey, d)))
        .collect();
    let mut slots_of = vec![(u64::MAX, 0u64); devices.len()];
    for tx in &received {
        let Ok(decoded) = wincode::deserialize::<VersionedTransaction>(&tx.wire) else {
            continue;
        };
        let Some(&d) = decoded
            .message
            .static_account_keys()
            .iter()
            .find_map(|key| device_of.get(key))
        else {
            continue;
        };
        let after = tx.slot.saturating_sub(flip_slot);
        slots_of[d].0 = slots_of[d].0.min(after);
        if tx.outcome == "landed" {
            slots_of[d].1 = slots_of[d].1.max(after);
        }
    }
    let mut per_slot: BTreeMap<u64, (usize, u64)> = BTreeMap::new();
    for tx in &landed {
        let slot = per_slot.entry(tx.slot).or_default();
        slot.0 += 1;
        slot.1 += tx.units_consumed.unwrap_or(0);
    }
    let span = match (per_slot.keys().next(), per_slot.keys().last()) {
        (Some(first), Some(last)) => SLOT * u32::try_from(last - first + 1).unwrap_or(u32::MAX),
        _ => Duration::ZERO,
    };
    let busiest_txs = per_slot.values().map(|s| s.0).max().unwrap_or(0);
    let busiest_units = per_slot.values().map(|s| s.1).max().unwrap_or(0);
    // Each device's transactions share one writable account, its payer: the busiest device's
    // share of one slot is what the per-account limit bounds.
    let users_total = usize::from(args.devices) * usize::from(args.users);
    println!(
        "ledger: {} transactions for {users_total} users over {} slots ({:.1} s): {:.1} tx/s; busiest slot {busiest_txs} transactions, {:.1} M compute units ({:.0}% of the block limit)",
        landed.len(),
        per_slot.len(),
        span.as_secs_f64(),
        landed.len() as f64 / span.as_secs_f64().max(SLOT.as_secs_f64()),
        busiest_units as f64 / 1e6,
        busiest_units as f64 * 100.0 / BLOCK_UNITS as f64,
    );
    // The slot of each device's last landing, plus one to be confirmed, after the flip.
    let up_slots: Vec<u64> = slots_of.iter().map(|(_, last)| last + 1).collect();
    let slowest_at = (0..devices.len()).max_by_key(|&d| up_slots[d]).unwrap_or(0);
    let in_time = |slots: u64| SLOT * u32::try_from(slots).unwrap_or(u32::MAX);
    let slowest = in_time(up_slots[slowest_at]);
    println!(
        "devices: slowest all Up (confirmed) {:.1} s after the flip (its first transaction arrived {} slots after, its last landed after {}), fastest {:.1} s",
        slowest.as_secs_f64(),
        slots_of[slowest_at].0,
        slots_of[slowest_at].1,
        in_time(up_slots.iter().copied().min().unwrap_or(0)).as_secs_f64()
    );
    println!(
        "agents: {:.0} ms of CPU all together over the event, {:.1} ms per device, {:.2} ms per user",
        cpu.as_secs_f64() * 1e3,
        cpu.as_secs_f64() * 1e3 / f64::from(args.devices),
        cpu.as_secs_f64() * 1e3 / users_total as f64
    );
    let per_device_units = busiest_units.div_ceil(u64::from(args.devices));
    let goals = [
        (
            "slowest device ≤ one interval + 2 s",
            slowest <= INTERVAL + Duration::from_secs(2),
        ),
        (
            "busiest slot within the block limit",
            busiest_units <= BLOCK_UNITS,
        ),
        (
            "a device's share of the busiest slot within the per-account limit",
            per_device_units <= ACCOUNT_UNITS,
        ),
    ];
    for (goal, met) in goals {
        println!("goal {goal}: {}", if met { "met" } else { "MISSED" });
    }
    for agent in agents {
        agent.stop(Signal::SIGTERM).await?;
    }
    if goals.iter().any(|(_, met)| !met) {
        bail!("a goal was missed");
    }
    Ok(())
}

fn total_cpu(agents: &[Agent]) -> anyhow::Result<Duration> {
    let mut total = 0.0;
    for agent in agents {
        let pid = agent.pid().context("an agent has exited")?;
        total += ProcessUsage::read_pid(&pid.to_string()).cpu_seconds;
    }
    Ok(Duration::from_secs_f64(total))
}
