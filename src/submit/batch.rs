//! Turning updates into signed transactions, and a failed transaction back into the user to
//! blame. Pure: no I/O, no clock.
//!
//! How many instructions fit is measured by serializing real transactions, not computed from a
//! formula, so a change to the instruction's accounts or the compute budget cannot silently
//! produce transactions the node refuses. The size does not depend on key or hash values, only
//! on how many distinct keys there are, so one measurement at start holds for every batch.

use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;

use super::{OutboxConfig, Update};
use crate::rpc::{InstructionErrorKind, TransactionError, MAX_TRANSACTION_BYTES};
use crate::serviceability::{set_user_bgp_status, signed_transaction, wire_bytes, ComputeBudget};

/// The most compute units one transaction may request (`MAX_COMPUTE_UNIT_LIMIT`).
const MAX_COMPUTE_UNIT_LIMIT: u64 = 1_400_000;

/// Headroom over the per-instruction estimate, as solana-rpc.md §2.3 advises (10–20 %): the
/// priority fee is charged on the requested limit, so more would only cost.
const CU_MARGIN_PERCENT: u64 = 20;

/// The compute budget for `n` instructions: a limit sized to the batch, the configured price.
pub(crate) fn compute_budget(config: &OutboxConfig, n: usize) -> ComputeBudget {
    let limit = compute_limit(config.cu_per_instruction, n).min(MAX_COMPUTE_UNIT_LIMIT);
    ComputeBudget {
        unit_limit: Some(u32::try_from(limit).expect("capped below u32::MAX")),
        unit_price: config.cu_price,
    }
}

fn compute_limit(cu_per_instruction: u32, n: usize) -> u64 {
    let base = u64::from(cu_per_instruction).saturating_mul(n as u64);
    base.saturating_add(base.saturating_mul(CU_MARGIN_PERCENT).div_ceil(100))
}

/// The next per-instruction estimate after a batch ran out of compute: double it, up to what a
/// transaction of one instruction may ask for; `None` when it is there already.
pub(crate) fn raised_cu_estimate(cu_per_instruction: u32) -> Option<u32> {
    let ceiling = MAX_COMPUTE_UNIT_LIMIT * 100 / (100 + CU_MARGIN_PERCENT);
    let ceiling = u32::try_from(ceiling).expect("below MAX_COMPUTE_UNIT_LIMIT");
    (cu_per_instruction < ceiling).then(|| cu_per_instruction.saturating_mul(2).min(ceiling))
}

/// Whether a transaction failed because it ran out of the compute units it asked for: the
/// batch's limit was too small, which is no fault of the user whose instruction was running.
pub(crate) fn ran_out_of_compute(err: &TransactionError) -> bool {
    matches!(err, TransactionError::InstructionError {
        error: InstructionErrorKind::Other(name), ..
    } if name == "ComputationalBudgetExceeded")
}

/// Most instructions one transaction holds under both the 1232-byte packet limit and the
/// compute-unit ceiling; 0 when not even one fits.
pub(crate) fn capacity(config: &OutboxConfig) -> usize {
    // Any keys do: only their number changes the size.
    let payer = Keypair::new_from_array([1; 32]);
    let fits_size = |n: usize| {
        let updates: Vec<_> = (0..n)
            .map(|i| {
                let mut user = [2; 32];
                user[..8].copy_from_slice(&(i as u64).to_le_bytes());
                Pubkey::new_from_array(user)
            })
            .collect();
        let instructions: Vec<_> = updates
            .iter()
            .map(|user| {
                set_user_bgp_status(
                    &config.program_id,
                    user,
                    &config.device_pk,
                    &payer.pubkey(),
                    Default::default(),
                    0,
                )
            })
            .collect();
        let tx = signed_transaction(
            &payer,
            &instructions,
            compute_budget(config, n),
            Hash::default(),
        );
        wire_bytes(&tx).len() <= MAX_TRANSACTION_BYTES
    };
    let fits_compute =
        |n: usize| compute_limit(config.cu_per_instruction, n) <= MAX_COMPUTE_UNIT_LIMIT;
    // A legacy transaction cannot hold more than 64 accounts worth of instructions anyway.
    (1..=64)
        .take_while(|&n| fits_compute(n) && fits_size(n))
        .last()
        .unwrap_or(0)
}

/// A transaction ready to send, with what is needed to read its errors back.
pub(crate) struct Signed {
    pub signature: Signature,
    pub wire: Vec<u8>,
    /// Compute-budget instructions before the first user's: error indexes are shifted by it.
    pub budget_instructions: usize,
}

/// Signs one transaction carrying `updates` in order, paid by the metrics publisher.
pub(crate) fn sign(
    config: &OutboxConfig,
    payer: &Keypair,
    updates: &[Update],
    blockhash: Hash,
) -> Signed {
    let instructions: Vec<_> = updates
        .iter()
        .map(|u| {
            set_user_bgp_status(
                &config.program_id,
                &u.user,
                &config.device_pk,
                &payer.pubkey(),
                u.status,
                u.rtt_ns,
            )
        })
        .collect();
    let budget = compute_budget(config, updates.len());
    let tx = signed_transaction(payer, &instructions, budget, blockhash);
    Signed {
        signature: tx.signatures[0],
        wire: wire_bytes(&tx),
        budget_instructions: budget.instruction_count(),
    }
}

/// The position in the batch of the update whose instruction failed, if the error names one of
/// ours (not a compute-budget instruction, not out of range).
pub(crate) fn blamed_update(
    err: &TransactionError,
    budget_instructions: usize,
    batch_len: usize,
) -> Option<usize> {
    let TransactionError::InstructionError { index, .. } = err else {
        return None;
    };
    usize::from(*index)
        .checked_sub(budget_instructions)
        .filter(|&i| i < batch_len)
}

/// A transaction error in words, with the serviceability program's name for its custom codes:
/// "instruction 2: custom program error 8 (NotAllowed)".
pub(crate) fn describe(err: &TransactionError) -> String {
    match err {
        TransactionError::InstructionError {
            index,
            error: InstructionErrorKind::Custom(code),
        } => match program_error_name(*code) {
            Some(name) => format!("instruction {index}: custom program error {code} ({name})"),
            None => format!("instruction {index}: custom program error {code}"),
        },
        TransactionError::InstructionError {
            index,
            error: InstructionErrorKind::Other(name),
        } => format!("instruction {index}: {name}"),
        other => other.to_string(),
    }
}

/// The codes `SetUserBGPStatus` can return (onchain.md §7.4), from the program's
/// `From<DoubleZeroError> for ProgramError` table.
fn program_error_name(code: u32) -> Option<&'static str> {
    Some(match code {
        6 => "InvalidDevicePubkey",
        8 => "NotAllowed",
        9 => "InvalidAccountType",
        26 => "InvalidClientIp",
        27 => "InvalidDzIp",
        28 => "InvalidTunnelNet",
        29 => "InvalidTunnelId",
        80 => "InvalidTunnelEndpoint",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compute_estimate_doubles_up_to_what_one_instruction_may_ask() {
        assert_eq!(raised_cu_estimate(10_000), Some(20_000));
        assert_eq!(raised_cu_estimate(1_000_000), Some(1_166_666));
        assert_eq!(raised_cu_estimate(1_166_666), None);
        assert_eq!(compute_limit(1_166_666, 1), MAX_COMPUTE_UNIT_LIMIT);
    }
    use crate::serviceability::BgpStatus;
    use crate::submit::UpdateReason;
    use tokio::time::Instant;

    fn config() -> OutboxConfig {
        OutboxConfig::new(
            Pubkey::new_from_array([9; 32]),
            Pubkey::new_from_array([8; 32]),
        )
    }

    fn update(n: u8) -> Update {
        Update {
            user: Pubkey::new_from_array([n; 32]),
            status: BgpStatus::Up,
            rtt_ns: 1,
            reason: UpdateReason::Change,
            peer: std::net::Ipv4Addr::new(169, 254, 0, 1),
            wants_rtt: true,
            observed_at: Instant::now(),
        }
    }

    #[test]
    fn nineteen_instructions_fit_with_the_compute_budget_pair() {
        // Per instruction: a new user key (32), 4 account indexes, 10 data bytes and 3 bytes of
        // framing = 49 B, over a 282 B base with the pair (payer, device, system program,
        // program and ComputeBudget keys; solana-rpc.md §2.4): 19 → 1213 B, 20 → 1262 B.
        let mut c = config();
        c.cu_price = Some(1);
        assert_eq!(capacity(&c), 19);
        // Without the 12-byte price instruction the 20th still does not fit (1250 B).
        c.cu_price = None;
        assert_eq!(capacity(&c), 19);
    }

    #[test]
    fn a_full_batch_stays_within_the_packet_limit() {
        let mut c = config();
        c.cu_price = Some(1_000);
        let n = capacity(&c);
        let updates: Vec<_> = (1..=n as u8).map(update).collect();
        let signed = sign(
            &c,
            &Keypair::new_from_array([4; 32]),
            &updates,
            Hash::new_from_array([3; 32]),
        );
        assert!(
            signed.wire.len() <= MAX_TRANSACTION_BYTES,
            "{}",
            signed.wire.len()
        );
        assert_eq!(signed.budget_instructions, 2);
    }

    #[test]
    fn compute_limit_is_the_estimate_per_instruction_plus_a_fifth() {
        let c = config();
        assert_eq!(compute_budget(&c, 18).unit_limit, Some(216_000));
        assert_eq!(compute_budget(&c, 1).unit_limit, Some(12_000));
    }

    #[test]
    fn compute_ceiling_limits_the_batch_when_instructions_are_expensive() {
        let mut c = config();
        c.cu_per_instruction = 200_000;
        assert_eq!(capacity(&c), 5);
        c.cu_per_instruction = 1_400_000;
        assert_eq!(capacity(&c), 0);
    }

    #[test]
    fn instruction_index_is_shifted_past_the_compute_budget() {
        let err = |index| TransactionError::InstructionError {
            index,
            error: InstructionErrorKind::Custom(8),
        };
        assert_eq!(blamed_update(&err(2), 2, 5), Some(0));
        assert_eq!(blamed_update(&err(6), 2, 5), Some(4));
        assert_eq!(blamed_update(&err(1), 2, 5), None, "a budget instruction");
        assert_eq!(blamed_update(&err(7), 2, 5), None, "past the batch");
        assert_eq!(
            blamed_update(&TransactionError::InsufficientFundsForFee, 2, 5),
            None
        );
    }

    #[test]
    fn program_errors_are_named() {
        let err = TransactionError::InstructionError {
            index: 2,
            error: InstructionErrorKind::Custom(8),
        };
        assert_eq!(
            describe(&err),
            "instruction 2: custom program error 8 (NotAllowed)"
        );
        let err = TransactionError::InstructionError {
            index: 0,
            error: InstructionErrorKind::Other("InvalidAccountData".into()),
        };
        assert_eq!(describe(&err), "instruction 0: InvalidAccountData");
        assert_eq!(
            describe(&TransactionError::InsufficientFundsForFee),
            "insufficient funds for fee"
        );
    }
}
