//! What `SetUserBGPStatus` costs on the real serviceability program: compute units per user
//! against the interfaces of the device (1, 3, 10, 20, 60) and the size of the batch (1, 19 and
//! the largest that fits), and the largest batch that fits 1,232 bytes and 1.4M CU, with the
//! limit set to 1.4M and with no compute-budget instruction at all (the default allowance of
//! 200k per instruction). Each transaction is built with the agent's own builders and simulated
//! on LiteSVM, which meters the program as a validator does; the figures are read from the
//! runtime, nothing is assumed.
//!
//! Run: `cargo bench -p doublezero-bgpstatus-e2e --bench compute`.

use doublezero_bgpstatus::serviceability::ComputeBudget;
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
    Ok(())
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
