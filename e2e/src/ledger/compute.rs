//! Compute units on the real program: what a batch of `SetUserBGPStatus` costs, read from the
//! runtime's own meter, never assumed.
//!
//! Two readings are offered:
//! - [`ComputeLab`]: a chain of its own with one device of N interfaces and its users, where a
//!   batch built with the agent's own builders is simulated ([`ComputeLab::measure`]) and the
//!   largest batch that fits a packet and a compute limit is found
//!   ([`ComputeLab::largest_batch`]); the `compute` benchmark prints its table.
//! - For a running ledger, every received transaction records the limit it asked for and the
//!   units it consumed ([`super::chain::Received`]), so a scenario can set the agent's requested
//!   limit against what the program consumed.
//!
//! The runtime's rules, as agave 4.2 applies them and LiteSVM runs them (pinned by a test):
//! without `SetComputeUnitLimit` a transaction may use 200,000 CU per non-builtin instruction
//! plus 3,000 per builtin one (the compute-budget instructions), at most 1,400,000; each
//! compute-budget instruction costs 150 CU from that same limit; the runtime logs, for every
//! top-level instruction, `Program <id> consumed <used> of <available> compute units`.

use std::net::Ipv4Addr;

use doublezero_bgpstatus::serviceability::{
    set_user_bgp_status, signed_transaction, wire_bytes, BgpStatus, ComputeBudget,
};
use solana_keypair::Keypair;
use solana_message::VersionedMessage;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::versioned::VersionedTransaction;
use solana_transaction_error::TransactionError;

use super::account::{DeviceAccount, UserAccount};
use super::chain::{Chain, Commitment, DeployError};
use super::program::ProgramElf;
use super::sim::SERVICEABILITY_PROGRAM_ID;

/// The most compute units a transaction may use.
pub const MAX_TRANSACTION_UNITS: u32 = 1_400_000;
/// What a non-builtin instruction may use when the transaction sets no limit.
pub const DEFAULT_INSTRUCTION_UNITS: u32 = 200_000;
/// The largest transaction on the wire (`PACKET_DATA_SIZE`).
pub const MAX_TRANSACTION_BYTES: usize = 1232;

const COMPUTE_BUDGET_PROGRAM_ID: Pubkey =
    Pubkey::from_str_const("ComputeBudget111111111111111111111111111111");
/// The `ComputeBudgetInstruction::SetComputeUnitLimit` tag.
const SET_COMPUTE_UNIT_LIMIT: u8 = 2;

/// The limit a message's `SetComputeUnitLimit` asks for, if it has one.
pub fn requested_unit_limit(message: &VersionedMessage) -> Option<u32> {
    let keys = message.static_account_keys();
    message.instructions().iter().find_map(|ix| {
        let program = keys.get(usize::from(ix.program_id_index))?;
        match ix.data.split_first() {
            Some((&SET_COMPUTE_UNIT_LIMIT, limit)) if *program == COMPUTE_BUDGET_PROGRAM_ID => {
                Some(u32::from_le_bytes(limit.get(..4)?.try_into().ok()?))
            }
            _ => None,
        }
    })
}

/// One top-level instruction's line of the compute meter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstructionUnits {
    pub program: Pubkey,
    /// Units this instruction used.
    pub consumed: u64,
    /// Units left in the transaction's limit when it started: for the first instruction, the
    /// limit itself.
    pub available: u64,
}

/// Every top-level instruction's consumption, from the runtime's logs. Builtins (the compute
/// budget program) log no meter line, so they are absent.
pub fn instruction_units(logs: &[String]) -> Vec<InstructionUnits> {
    let mut depth = 0;
    let mut out = Vec::new();
    for line in logs {
        let Some(rest) = line.strip_prefix("Program ") else {
            continue;
        };
        // What a program itself logged, which may end in anything.
        if ["log: ", "data: ", "return: "]
            .iter()
            .any(|p| rest.starts_with(p))
        {
            continue;
        }
        if rest.ends_with("]") && rest.contains(" invoke [") {
            depth += 1;
        } else if rest.ends_with(" success") || rest.contains(" failed: ") {
            depth -= 1;
        } else if let (1, Some(units)) = (depth, parse_meter(rest)) {
            out.push(units);
        }
    }
    out
}

/// `<id> consumed <used> of <available> compute units`.
fn parse_meter(rest: &str) -> Option<InstructionUnits> {
    let (program, rest) = rest.split_once(" consumed ")?;
    let (consumed, rest) = rest.split_once(" of ")?;
    let available = rest.strip_suffix(" compute units")?;
    Some(InstructionUnits {
        program: program.parse().ok()?,
        consumed: consumed.parse().ok()?,
        available: available.parse().ok()?,
    })
}

/// One simulated batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub users: usize,
    pub wire_bytes: usize,
    /// The whole transaction, compute-budget instructions included.
    pub units_consumed: u64,
    /// The program's instructions, in order.
    pub instructions: Vec<InstructionUnits>,
    pub err: Option<TransactionError>,
    pub logs: Vec<String>,
}

impl Measurement {
    /// Whether it would be accepted: small enough to send and executed without error.
    pub fn fits(&self) -> bool {
        self.wire_bytes <= MAX_TRANSACTION_BYTES && self.err.is_none()
    }

    /// The mean units per `SetUserBGPStatus`, rounded up; `None` if none completed.
    pub fn units_per_user(&self) -> Option<u64> {
        let done = self.instructions.len() as u64;
        let total: u64 = self.instructions.iter().map(|i| i.consumed).sum();
        (done > 0 && self.err.is_none()).then(|| total.div_ceil(done))
    }
}

/// A private chain with one device of `interfaces` interfaces and users enough for any batch
/// that fits a packet, all writes paid and signed by the device's metrics publisher.
pub struct ComputeLab {
    chain: Chain,
    publisher: Keypair,
    device: Pubkey,
    users: Vec<Pubkey>,
}

impl ComputeLab {
    /// More users than a 1,232-byte transaction can name (20 without compute-budget
    /// instructions).
    const USERS: u16 = 24;

    /// Deploys `program` and creates the device and its users (HEAD layout, public addresses).
    pub fn new(program: &ProgramElf, interfaces: usize) -> Result<ComputeLab, DeployError> {
        let mut chain = Chain::new(SERVICEABILITY_PROGRAM_ID, program, 1)?;
        let publisher = Keypair::new();
        let device = Pubkey::new_unique();
        let account = DeviceAccount::new(
            1,
            "dz-lab1".into(),
            Ipv4Addr::new(45, 1, 2, 3),
            publisher.pubkey(),
            interfaces,
        );
        chain.put_program_account(device, account.encode());
        chain.airdrop(&publisher.pubkey(), 100_000_000_000);
        let users = (0..Self::USERS)
            .map(|k| {
                let key = Pubkey::new_unique();
                let user = UserAccount::activated(device, k);
                chain.put_program_account(key, user.encode());
                key
            })
            .collect();
        Ok(ComputeLab {
            chain,
            publisher,
            device,
            users,
        })
    }

    /// Simulates one transaction writing `users` users Up with `budget`, built with the agent's
    /// own builders. Panics if `users` exceeds the lab's users.
    pub fn measure(&self, users: usize, budget: ComputeBudget) -> Measurement {
        let instructions: Vec<_> = self.users[..users]
            .iter()
            .map(|user| {
                set_user_bgp_status(
                    &SERVICEABILITY_PROGRAM_ID,
                    user,
                    &self.device,
                    &self.publisher.pubkey(),
                    BgpStatus::Up,
                    1_000_000,
                )
            })
            .collect();
        let (blockhash, _) = self.chain.latest_blockhash(Commitment::Processed);
        let tx = signed_transaction(&self.publisher, &instructions, budget, blockhash);
        let wire = wire_bytes(&tx);
        let simulation = self.chain.simulate(&VersionedTransaction::from(tx), false);
        let instructions = instruction_units(&simulation.logs)
            .into_iter()
            .filter(|i| i.program == SERVICEABILITY_PROGRAM_ID)
            .collect();
        Measurement {
            users,
            wire_bytes: wire.len(),
            units_consumed: simulation.units_consumed.unwrap_or(0),
            instructions,
            err: simulation.err,
            logs: simulation.logs,
        }
    }

    /// The most users one transaction with `budget` can write: it fits 1,232 bytes and runs
    /// within its compute limit (the default allowance when `budget` sets none).
    pub fn largest_batch(&self, budget: ComputeBudget) -> usize {
        (1..=self.users.len())
            .take_while(|&n| self.measure(n, budget).fits())
            .last()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meter_lines_are_read_for_top_level_instructions_only() {
        let program = SERVICEABILITY_PROGRAM_ID;
        let logs: Vec<String> = [
            "Program ComputeBudget111111111111111111111111111111 invoke [1]".to_string(),
            "Program ComputeBudget111111111111111111111111111111 success".into(),
            format!("Program {program} invoke [1]"),
            "Program log: looks like Program x consumed 1 of 2 compute units success".into(),
            "Program 11111111111111111111111111111111 invoke [2]".into(),
            "Program 11111111111111111111111111111111 consumed 150 of 190000 compute units".into(),
            "Program 11111111111111111111111111111111 success".into(),
            format!("Program {program} consumed 9500 of 199850 compute units"),
            format!("Program {program} success"),
            format!("Program {program} invoke [1]"),
            format!("Program {program} consumed 4000 of 4000 compute units"),
            format!("Program {program} failed: exceeded CUs meter at BPF instruction"),
        ]
        .into();
        let units = instruction_units(&logs);
        let read: Vec<(u64, u64)> = units.iter().map(|u| (u.consumed, u.available)).collect();
        assert_eq!(read, [(9500, 199_850), (4000, 4000)]);
        assert!(units.iter().all(|u| u.program == program));
    }

    #[test]
    fn the_requested_limit_is_read_from_the_compute_budget_instruction() {
        let payer = Keypair::new();
        let message = |unit_limit| {
            let budget = ComputeBudget {
                unit_limit,
                unit_price: Some(7),
            };
            let tx = signed_transaction(&payer, &[], budget, Default::default());
            VersionedMessage::Legacy(tx.message)
        };
        assert_eq!(requested_unit_limit(&message(Some(123_456))), Some(123_456));
        assert_eq!(requested_unit_limit(&message(None)), None);
    }
}
