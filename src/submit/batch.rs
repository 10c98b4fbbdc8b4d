//! Turning updates into signed transactions, and deciding how many fit one and what compute
//! they ask for. Pure: no I/O, no clock.
//!
//! How many instructions fit 1232 bytes is measured by serializing real transactions, not
//! computed from a formula, so a change to the instruction's accounts or the compute budget
//! cannot silently produce transactions the node refuses. The size does not depend on key or
//! hash values, only on how many distinct keys there are, so one measurement at start holds.
//!
//! Compute is measured too (issue 19): the program's cost per user grows with the device's
//! interfaces, so the pipeline simulates a batch and plans from what it used. Without a priority
//! fee no limit is sent at all: the runtime allows 200,000 units per instruction, up to 1.4M
//! per transaction, so only the batch size must respect the cost. With a fee, which is charged
//! on the limit asked, the limit is the measured cost plus a margin.

use std::sync::Arc;

use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_signer::Signer;

use super::{OutboxConfig, Update};
use crate::rpc::MAX_TRANSACTION_BYTES;
use crate::serviceability::{set_user_bgp_status, signed_transaction, wire_bytes, ComputeBudget};

/// The most compute units one transaction may use (`MAX_COMPUTE_UNIT_LIMIT`).
pub(crate) const MAX_COMPUTE_UNIT_LIMIT: u64 = 1_400_000;
/// What the runtime allows a program instruction when the transaction asks for no limit.
const DEFAULT_UNITS_PER_INSTRUCTION: u64 = 200_000;
/// A compute-budget instruction's own cost, taken from the same limit.
const BUDGET_INSTRUCTION_UNITS: u64 = 150;
/// Headroom over the measured cost per user: the same batch costs a little more when an account
/// must grow, and the fee is charged on the limit, so no more than that (goal: asked ≤ 1.25×
/// consumed).
const MARGIN_PERCENT: u64 = 15;
/// The cost assumed while none could be measured (the node cannot simulate): what a device with
/// about 30 interfaces costs. An out-of-compute failure measures again.
pub(crate) const FALLBACK_UNITS_PER_USER: u32 = 60_000;

/// Most instructions that fit 1232 bytes with 0, 1 or 2 compute-budget instructions before them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sizes([usize; 3]);

impl Sizes {
    pub(crate) fn measure(config: &OutboxConfig) -> Sizes {
        Sizes([0, 1, 2].map(|budget_ixs| size_capacity(config, budget_ixs)))
    }

    pub(crate) fn with_budget_ixs(&self, budget_ixs: usize) -> usize {
        self.0[budget_ixs.min(2)]
    }
}

/// How batches are cut and what compute they ask for, from one per-user cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    /// Users per transaction; 0 when one user's cost exceeds what a transaction may use.
    pub per_tx: usize,
    /// Units asked per user when a limit is sent; `None` sends no limit instruction.
    pub limit_per_user: Option<u64>,
    pub price: Option<u64>,
}

impl Plan {
    /// The compute-budget instructions of a batch of `n`.
    pub(crate) fn budget(&self, n: usize) -> ComputeBudget {
        let budget_ixs = self.budget_ixs() as u64;
        ComputeBudget {
            unit_limit: self.limit_per_user.map(|per_user| {
                let limit = per_user * n as u64 + BUDGET_INSTRUCTION_UNITS * budget_ixs;
                u32::try_from(limit.min(MAX_COMPUTE_UNIT_LIMIT)).expect("below u32::MAX")
            }),
            unit_price: self.price,
        }
    }

    fn budget_ixs(&self) -> usize {
        usize::from(self.limit_per_user.is_some()) + usize::from(self.price.is_some())
    }
}

/// The plan for users that each cost `units_per_user`.
pub(crate) fn plan(config: &OutboxConfig, sizes: &Sizes, units_per_user: u32) -> Plan {
    let planned = (u64::from(units_per_user) * (100 + MARGIN_PERCENT)).div_ceil(100);
    // Without a fee a limit costs nothing and buys nothing, unless one instruction needs more
    // than the default allowance.
    let limit = config.cu_price.is_some() || planned > DEFAULT_UNITS_PER_INSTRUCTION;
    let budget_ixs = usize::from(limit) + usize::from(config.cu_price.is_some());
    let room = MAX_COMPUTE_UNIT_LIMIT - BUDGET_INSTRUCTION_UNITS * budget_ixs as u64;
    let by_compute = usize::try_from(room / planned.max(1)).unwrap_or(usize::MAX);
    let per_tx = sizes
        .with_budget_ixs(budget_ixs)
        .min(by_compute)
        .min(config.batch_size.unwrap_or(usize::MAX));
    Plan {
        per_tx,
        limit_per_user: limit.then_some(planned),
        price: config.cu_price,
    }
}

/// The budget a measurement simulation runs under: the whole transaction allowance, so the
/// batch cannot run out while its cost is being learnt.
pub(crate) fn measuring_budget(config: &OutboxConfig) -> ComputeBudget {
    ComputeBudget {
        unit_limit: Some(MAX_COMPUTE_UNIT_LIMIT as u32),
        unit_price: config.cu_price,
    }
}

/// The cost per user a simulation of `users` instructions under `budget` shows.
pub(crate) fn units_per_user(units_consumed: u64, budget: ComputeBudget, users: usize) -> u32 {
    let overhead = BUDGET_INSTRUCTION_UNITS * budget.instruction_count() as u64;
    let per_user = units_consumed
        .saturating_sub(overhead)
        .div_ceil(users.max(1) as u64);
    u32::try_from(per_user).unwrap_or(u32::MAX).max(1)
}

fn size_capacity(config: &OutboxConfig, budget_ixs: usize) -> usize {
    // Any keys do: only their number changes the size.
    let payer = Keypair::new_from_array([1; 32]);
    let budget = ComputeBudget {
        unit_limit: (budget_ixs >= 1).then_some(1),
        unit_price: (budget_ixs >= 2).then_some(1),
    };
    let fits = |n: usize| {
        let instructions: Vec<_> = (0..n)
            .map(|i| {
                let mut user = [2; 32];
                user[..8].copy_from_slice(&(i as u64).to_le_bytes());
                set_user_bgp_status(
                    &config.program_id,
                    &Pubkey::new_from_array(user),
                    &config.device_pk,
                    &payer.pubkey(),
                    Default::default(),
                    0,
                )
            })
            .collect();
        let tx = signed_transaction(&payer, &instructions, budget, Hash::default());
        wire_bytes(&tx).len() <= MAX_TRANSACTION_BYTES
    };
    // A legacy transaction cannot hold more than 64 accounts worth of instructions anyway.
    (1..=64).take_while(|&n| fits(n)).last().unwrap_or(0)
}

/// A transaction ready to send.
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub signature: Signature,
    pub wire: Arc<Vec<u8>>,
}

/// Signs one transaction carrying `updates` in order, paid by the metrics publisher.
pub(crate) fn sign(
    config: &OutboxConfig,
    payer: &Keypair,
    updates: &[Update],
    budget: ComputeBudget,
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
    let tx = signed_transaction(payer, &instructions, budget, blockhash);
    Signed {
        signature: tx.signatures[0],
        wire: Arc::new(wire_bytes(&tx)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
    fn nineteen_fit_with_a_budget_instruction_and_twenty_without() {
        // Per instruction a new user key (32), 4 account indexes, 10 data bytes and 3 bytes of
        // framing = 49 B; the ComputeBudget program key and its instructions take the rest
        // (solana-rpc.md §2.4).
        let sizes = Sizes::measure(&config());
        assert_eq!(sizes.with_budget_ixs(0), 20);
        assert_eq!(sizes.with_budget_ixs(1), 19);
        assert_eq!(sizes.with_budget_ixs(2), 19);
    }

    #[test]
    fn without_a_fee_no_limit_is_sent_and_the_batch_fits_the_default_allowance() {
        let c = config();
        let sizes = Sizes::measure(&c);
        // 8.2k per user (a 1-interface device): no budget instruction, 20 fit by size.
        let light = plan(&c, &sizes, 8_200);
        assert_eq!(light.limit_per_user, None);
        assert_eq!(light.budget(20), ComputeBudget::default());
        assert_eq!(light.per_tx, 20);
        // 110k per user (about 60 interfaces): 1.4M / 126.5k = 11 users.
        let heavy = plan(&c, &sizes, 110_000);
        assert_eq!((heavy.per_tx, heavy.limit_per_user), (11, None));
        // Above the default per-instruction allowance a limit must be asked.
        let huge = plan(&c, &sizes, 190_000);
        assert_eq!(huge.limit_per_user, Some(218_500));
        assert_eq!(huge.per_tx, 6);
        assert_eq!(plan(&c, &sizes, 1_300_000).per_tx, 0);
    }

    #[test]
    fn with_a_fee_the_limit_is_the_measured_cost_plus_its_margin() {
        let mut c = config();
        c.cu_price = Some(1_000);
        let sizes = Sizes::measure(&c);
        let p = plan(&c, &sizes, 10_000);
        assert_eq!(p.per_tx, 19);
        let budget = p.budget(19);
        assert_eq!(budget.unit_price, Some(1_000));
        assert_eq!(budget.unit_limit, Some(11_500 * 19 + 300));
        // Asked over consumed stays within the 1.25 goal for any batch.
        for n in 1..=19u64 {
            let asked = u64::from(p.budget(n as usize).unit_limit.unwrap());
            assert!(asked * 100 <= 125 * 10_000 * n, "{n}: {asked}");
        }
    }

    #[test]
    fn batch_size_caps_the_plan() {
        let mut c = config();
        c.batch_size = Some(1);
        assert_eq!(plan(&c, &Sizes::measure(&c), 8_000).per_tx, 1);
    }

    #[test]
    fn a_simulations_units_give_the_cost_per_user_without_the_budget_instructions() {
        let budget = ComputeBudget {
            unit_limit: Some(1_400_000),
            unit_price: None,
        };
        assert_eq!(units_per_user(156_186 + 150, budget, 19), 8_221);
        assert_eq!(units_per_user(0, budget, 3), 1);
    }

    #[test]
    fn a_full_batch_stays_within_the_packet_limit() {
        let mut c = config();
        c.cu_price = Some(1_000);
        let p = plan(&c, &Sizes::measure(&c), 8_000);
        let updates: Vec<_> = (1..=p.per_tx as u8).map(update).collect();
        let signed = sign(
            &c,
            &Keypair::new_from_array([4; 32]),
            &updates,
            p.budget(updates.len()),
            Hash::new_from_array([3; 32]),
        );
        assert!(signed.wire.len() <= MAX_TRANSACTION_BYTES);
    }
}
