//! What `SetUserBGPStatus` costs on the real serviceability program: compute units per user
//! against the interfaces of the device (1, 3, 10, 20, 60) and the size of the batch (1, 19 and
//! the largest that fits), and the largest batch that fits 1,232 bytes and 1.4M CU, with the
//! limit set to 1.4M and with no compute-budget instruction at all (the default allowance of
//! 200k per instruction). Each transaction is built with the agent's own builders and simulated
//! on LiteSVM, which meters the program as a validator does; the figures are read from the
//! runtime, nothing is assumed.
//!
//! Then the agent itself (the release binary) against the ledger simulator on the same
//! program: 40 users of a device with 1, 3, 20 and 60 interfaces flip Up, with a priority fee
//! (so a limit is sent) and without one (no compute-budget instruction at all). For each, what
//! the agent asked against what the program consumed, and whether every batch landed on its
//! first send. Goals: first try always; asked ≤ 1.25× consumed when a limit is sent.
//!
//! Run: `cargo bench -p doublezero-bgpstatus-e2e --bench compute`. Exits non-zero when a goal of
//! the agent part is missed.

use std::time::Duration;

use anyhow::bail;
use doublezero_bgpstatus::serviceability::{BgpStatus, ComputeBudget};
use doublezero_bgpstatus_e2e::devnet::{agent_binary, Devnet};
use doublezero_bgpstatus_e2e::ledger::compute::{ComputeLab, Measurement, MAX_TRANSACTION_UNITS};
use doublezero_bgpstatus_e2e::ledger::ProgramElf;
use solana_transaction_error::TransactionError;

const INTERFACES: [usize; 5] = [1, 3, 10, 20, 60];
/// The agent's batch size today.
const AGENT_BATCH: usize = 19;

fn main() -> anyhow::Result<()> {
    let program = ProgramElf::serviceability();
    let at_max = ComputeBudget {
        unit_limit: Some(MAX_TRANSACTION_UNITS),
        unit_price: None,
    };
    println!(
        "SetUserBGPStatus on the real serviceability program (upstream 5f9fe3251, SBF), LiteSVM 0.16;"
    );
    println!(
        "each batch writes users Up in one transaction with SetComputeUnitLimit({MAX_TRANSACTION_UNITS}) unless said otherwise\n"
    );
    println!(
        "{:>10} | {:>14} | {:>30} | {:>34} | {:>22}",
        "interfaces",
        "batch of 1",
        format!("batch of {AGENT_BATCH}"),
        "largest batch, limit 1.4M",
        "largest, no limit ix"
    );
    println!(
        "{:>10} | {:>14} | {:>30} | {:>34} | {:>22}",
        "", "CU/user", "CU/user     tx CU bytes", "users  CU/user     tx CU bytes", "users  bytes"
    );
    let mut per_user = Vec::new();
    let mut budget_instruction = 0;
    for interfaces in INTERFACES {
        let lab = ComputeLab::new(&program, interfaces)?;
        let one = lab.measure(1, at_max);
        let agent = lab.measure(AGENT_BATCH, at_max);
        let largest = lab.largest_batch(at_max);
        let big = lab.measure(largest, at_max);
        let free = lab.largest_batch(ComputeBudget::default());
        let free_bytes = lab.measure(free, ComputeBudget::default()).wire_bytes;
        println!(
            "{interfaces:>10} | {:>14} | {:>30} | {:>9} {:>8} {:>9} {:>5} | {free:>15}  {free_bytes:>5}",
            cu_per_user(&one),
            batch(&agent),
            largest,
            cu_per_user(&big),
            big.units_consumed,
            big.wire_bytes,
        );
        per_user.push((interfaces, one.units_per_user()));
        let program: u64 = one.instructions.iter().map(|i| i.consumed).sum();
        budget_instruction = one.units_consumed - program;
    }
    if let (Some((first, Some(low))), Some((last, Some(high)))) =
        (per_user.first().copied(), per_user.last().copied())
    {
        println!(
            "\nper interface: +{:.0} CU per user ({low} CU at {first} interface, {high} CU at {last}: {:.1}x)",
            (high - low) as f64 / (last - first) as f64,
            high as f64 / low as f64
        );
    }
    println!("the SetComputeUnitLimit instruction: {budget_instruction} CU, from the same limit");
    tokio::runtime::Runtime::new()?.block_on(agent_against_the_program())
}

/// Users flipping Up per device in the agent part.
const AGENT_USERS: u16 = 40;
const SLOT: Duration = Duration::from_millis(400);

/// The release agent on devices of each size, with and without a priority fee.
async fn agent_against_the_program() -> anyhow::Result<()> {
    agent_binary()?;
    println!(
        "\nthe agent (release binary), {AGENT_USERS} users flipping Up, against the same program:"
    );
    println!(
        "{:>10} | {:>8} | {:>12} | {:>8} | {:>11} | {:>12} | {:>14}",
        "interfaces", "fee", "transactions", "users/tx", "first try", "asked/used", "CU used/user"
    );
    let mut missed = Vec::new();
    for interfaces in [1, 3, 20, 60] {
        for fee in [false, true] {
            let run = flip(interfaces, fee).await?;
            let asked = if run.ratio_max > 0.0 {
                format!("{:.3} max", run.ratio_max)
            } else {
                "no limit".into()
            };
            println!(
                "{interfaces:>10} | {:>8} | {:>12} | {:>8} | {:>11} | {asked:>12} | {:>14.0}",
                if fee { "1000 µL" } else { "none" },
                run.transactions,
                run.most_per_tx,
                if run.refused == 0 {
                    "all".to_string()
                } else {
                    format!("{} refused", run.refused)
                },
                run.used_per_user,
            );
            if run.refused > 0 || run.ratio_max > 1.25 {
                missed.push(format!("{interfaces} interfaces, fee {fee}"));
            }
        }
    }
    if !missed.is_empty() {
        bail!("goals missed for: {}", missed.join("; "));
    }
    println!("goals met: every batch landed on its first send; asked ≤ 1.25x used where a limit was sent");
    Ok(())
}

struct Run {
    transactions: usize,
    most_per_tx: usize,
    refused: usize,
    ratio_max: f64,
    used_per_user: f64,
}

async fn flip(interfaces: u16, fee: bool) -> anyhow::Result<Run> {
    let devnet = Devnet::start_with(AGENT_USERS, SLOT, interfaces, Duration::ZERO).await?;
    let extra: &[&str] = if fee {
        &["--compute-unit-price", "1000"]
    } else {
        &[]
    };
    let agent = devnet.spawn_agent(extra).await?;
    let all = |status| move |d: &Devnet| (0..d.users.len()).all(|i| d.chain_status(i) == status);
    if !devnet
        .wait_until(Duration::from_secs(120), all(BgpStatus::Down))
        .await
    {
        bail!("{interfaces} interfaces: not all Down:\n{}", agent.log());
    }
    for i in 0..usize::from(AGENT_USERS) {
        devnet.session(i, Some("Established"))?;
    }
    if !devnet
        .wait_until(Duration::from_secs(120), all(BgpStatus::Up))
        .await
    {
        bail!("{interfaces} interfaces: not all Up:\n{}", agent.log());
    }
    agent.stop(nix::sys::signal::Signal::SIGTERM).await?;
    let received = devnet.ledger.transactions();
    let budget = if fee { 2 } else { 0 };
    let landed: Vec<_> = received.iter().filter(|r| r.outcome == "landed").collect();
    let users: usize = landed.iter().map(|r| r.instructions - budget).sum();
    let used: u64 = landed.iter().filter_map(|r| r.units_consumed).sum();
    Ok(Run {
        transactions: landed.len(),
        most_per_tx: landed
            .iter()
            .map(|r| r.instructions - budget)
            .max()
            .unwrap_or(0),
        refused: received.iter().filter(|r| r.outcome == "refused").count(),
        ratio_max: landed
            .iter()
            .filter_map(|r| Some(f64::from(r.requested_unit_limit?) / r.units_consumed? as f64))
            .fold(0.0, f64::max),
        used_per_user: used as f64 / users.max(1) as f64,
    })
}

fn cu_per_user(m: &Measurement) -> String {
    m.units_per_user()
        .map_or_else(|| failure(m), |cu| cu.to_string())
}

fn batch(m: &Measurement) -> String {
    match m.units_per_user() {
        Some(cu) => format!("{cu:>7} {:>9} {:>5}", m.units_consumed, m.wire_bytes),
        None => failure(m),
    }
}

/// Why a batch does not fit, short enough for a cell.
fn failure(m: &Measurement) -> String {
    match &m.err {
        Some(TransactionError::InstructionError(k, err)) => format!("ix {k}: {err:?}"),
        Some(err) => format!("{err:?}"),
        None => format!("{} bytes > 1232", m.wire_bytes),
    }
}
