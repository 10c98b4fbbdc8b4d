//! The `SetUserBGPStatus` instruction (onchain.md §7) and the legacy transaction that carries
//! one or more of them.

use borsh::BorshSerialize;
use solana_compute_budget_interface::ComputeBudgetInstruction;
use solana_hash::Hash;
use solana_instruction::{AccountMeta, Instruction};
use solana_keypair::Keypair;
use solana_message::Message;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use solana_transaction::Transaction;

use super::BgpStatus;

/// The variant index of `SetUserBGPStatus` in the program's instruction enum.
pub const SET_USER_BGP_STATUS: u8 = 106;

/// The system program: the program may CPI into it to top up a growing account's rent.
pub const SYSTEM_PROGRAM_ID: Pubkey = Pubkey::from_str_const("11111111111111111111111111111111");

/// Wire form of the instruction: the variant byte, then `SetUserBGPStatusArgs`.
#[derive(BorshSerialize)]
struct SetUserBgpStatusData {
    variant: u8,
    bgp_status: u8,
    bgp_rtt_ns: u64,
}

/// Builds `SetUserBGPStatus` for one user.
///
/// The payload is always the full 9 bytes of arguments: the program panics on a partial one
/// (onchain.md §7.2). Accounts follow §7.3; the system program is read-only, as the Go agent
/// sends it, since the runtime would demote a writable flag anyway.
pub fn set_user_bgp_status(
    program_id: &Pubkey,
    user: &Pubkey,
    device: &Pubkey,
    metrics_publisher: &Pubkey,
    status: BgpStatus,
    rtt_ns: u64,
) -> Instruction {
    let data = borsh::to_vec(&SetUserBgpStatusData {
        variant: SET_USER_BGP_STATUS,
        bgp_status: status as u8,
        bgp_rtt_ns: rtt_ns,
    })
    .expect("serializing fixed-size integers into a Vec cannot fail");
    Instruction {
        program_id: *program_id,
        accounts: vec![
            AccountMeta::new(*user, false),
            AccountMeta::new_readonly(*device, false),
            AccountMeta::new(*metrics_publisher, true),
            AccountMeta::new_readonly(SYSTEM_PROGRAM_ID, false),
        ],
        data,
    }
}

/// Optional compute-budget instructions put before the program's instructions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ComputeBudget {
    pub unit_limit: Option<u32>,
    /// Priority fee in micro-lamports per compute unit.
    pub unit_price: Option<u64>,
}

impl ComputeBudget {
    /// How many instructions this budget prepends: instruction indexes in a preflight error
    /// count them (solana-rpc.md §7.5).
    pub fn instruction_count(&self) -> usize {
        usize::from(self.unit_limit.is_some()) + usize::from(self.unit_price.is_some())
    }

    fn instructions(&self) -> impl Iterator<Item = Instruction> {
        let limit = self
            .unit_limit
            .map(ComputeBudgetInstruction::set_compute_unit_limit);
        let price = self
            .unit_price
            .map(ComputeBudgetInstruction::set_compute_unit_price);
        limit.into_iter().chain(price)
    }
}

/// A signed legacy transaction paid and signed by `payer` (the device's metrics publisher).
pub fn signed_transaction(
    payer: &Keypair,
    instructions: &[Instruction],
    budget: ComputeBudget,
    blockhash: Hash,
) -> Transaction {
    let all: Vec<Instruction> = budget
        .instructions()
        .chain(instructions.iter().cloned())
        .collect();
    let message = Message::new_with_blockhash(&all, Some(&payer.pubkey()), &blockhash);
    Transaction::new(&[payer], message, blockhash)
}

/// The bytes `sendTransaction` carries (base64-encoded on the wire).
pub fn wire_bytes(transaction: &Transaction) -> Vec<u8> {
    wincode::serialize(transaction).expect("a legacy transaction always serializes")
}
