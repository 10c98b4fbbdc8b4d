//! Reading a failed transaction as the program and the runtime mean it (issue 19): out of
//! compute in either shape blames nobody; a user is refused only for an error the program raises
//! about that user; a payer that cannot pay is a payer problem; anything else is unknown and
//! never permanent. Pure; the names come from `serviceability::program_error`.

use crate::rpc::{InstructionErrorKind, TransactionError};
use crate::serviceability::{
    logs_say_out_of_compute, logs_say_rent_unpaid, ProgramError, TRANSFER_INSUFFICIENT_LAMPORTS,
};

/// What a failed transaction means for its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The transaction asked for less compute than its instructions use: nobody's fault.
    OutOfCompute,
    /// The program refused the instruction of the user at `position` of the batch.
    Refused { position: usize, error: String },
    /// The payer could not pay: the fee (`position` `None`), or the rent growth of the user at
    /// `position`.
    Payer {
        position: Option<usize>,
        error: String,
    },
    /// The node does not know the blockhash (it lags, or the hash expired).
    BlockhashNotFound,
    /// These bytes already landed; the status tells how.
    AlreadyProcessed,
    /// The same bytes may go through shortly (lock contention, a full block).
    Transient { error: String },
    /// The program stopped without saying why (no logs came with the status): running the batch
    /// again in simulation tells.
    Unexplained { error: String },
    /// Nothing this agent knows; retried with backoff, never permanent.
    Unknown { error: String },
}

/// Classifies `err` of a batch of `batch_len` users whose instructions follow `budget_ixs`
/// compute-budget instructions; `logs` when the node gave them (preflight, simulation).
pub fn classify(
    err: &TransactionError,
    logs: Option<&[String]>,
    budget_ixs: usize,
    batch_len: usize,
) -> Verdict {
    let error = describe(err);
    match err {
        TransactionError::BlockhashNotFound => Verdict::BlockhashNotFound,
        TransactionError::AlreadyProcessed => Verdict::AlreadyProcessed,
        TransactionError::InsufficientFundsForFee | TransactionError::AccountNotFound => {
            Verdict::Payer {
                position: None,
                error,
            }
        }
        TransactionError::Other(value) if value.get("InsufficientFundsForRent").is_some() => {
            Verdict::Payer {
                position: None,
                error,
            }
        }
        err if err.is_transient() => Verdict::Transient { error },
        TransactionError::InstructionError { index, error: kind } => {
            let position = usize::from(*index)
                .checked_sub(budget_ixs)
                .filter(|&p| p < batch_len);
            match kind {
                InstructionErrorKind::Other(name) if name == "ComputationalBudgetExceeded" => {
                    Verdict::OutOfCompute
                }
                InstructionErrorKind::Other(name) if name == "ProgramFailedToComplete" => {
                    match logs {
                        Some(logs) if logs_say_out_of_compute(logs) => Verdict::OutOfCompute,
                        Some(logs) if logs_say_rent_unpaid(logs) => {
                            Verdict::Payer { position, error }
                        }
                        Some(_) => Verdict::Unknown { error },
                        None => Verdict::Unexplained { error },
                    }
                }
                InstructionErrorKind::Custom(TRANSFER_INSUFFICIENT_LAMPORTS) => {
                    Verdict::Payer { position, error }
                }
                InstructionErrorKind::Custom(code) => {
                    match (ProgramError::from_code(*code), position) {
                        (Some(_), Some(position)) => Verdict::Refused { position, error },
                        _ => Verdict::Unknown { error },
                    }
                }
                InstructionErrorKind::Other(_) => Verdict::Unknown { error },
            }
        }
        _ => Verdict::Unknown { error },
    }
}

/// A transaction error in words, with the program's name for its custom codes:
/// "instruction 2: custom program error 8 (NotAllowed)".
pub fn describe(err: &TransactionError) -> String {
    match err {
        TransactionError::InstructionError {
            index,
            error: InstructionErrorKind::Custom(code),
        } => match ProgramError::from_code(*code) {
            Some(error) => format!(
                "instruction {index}: custom program error {code} ({})",
                error.name()
            ),
            None => format!("instruction {index}: custom program error {code}"),
        },
        TransactionError::InstructionError {
            index,
            error: InstructionErrorKind::Other(name),
        } => format!("instruction {index}: {name}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ix(index: u8, kind: InstructionErrorKind) -> TransactionError {
        TransactionError::InstructionError { index, error: kind }
    }

    fn other(name: &str) -> InstructionErrorKind {
        InstructionErrorKind::Other(name.into())
    }

    fn logs(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn out_of_compute_in_program_code_blames_nobody_whatever_the_index() {
        // The real program's shape (shared/programs/README.md): ProgramFailedToComplete at the
        // instruction that was running, with the meter's lines in the logs.
        let err = ix(7, other("ProgramFailedToComplete"));
        let meter = logs(&[
            "Program ser2VaTMAcYTaauMrTSfSrxBaUDq7BLNs2xfUugTAGv consumed 60000 of 60000 compute units",
            "Program ser2VaTMAcYTaauMrTSfSrxBaUDq7BLNs2xfUugTAGv failed: exceeded CUs meter at BPF instruction",
        ]);
        assert_eq!(classify(&err, Some(&meter), 1, 19), Verdict::OutOfCompute);
        assert_eq!(
            classify(&ix(3, other("ComputationalBudgetExceeded")), None, 1, 19),
            Verdict::OutOfCompute
        );
    }

    #[test]
    fn program_failed_without_logs_is_unexplained_not_a_refusal() {
        assert!(matches!(
            classify(&ix(2, other("ProgramFailedToComplete")), None, 1, 5),
            Verdict::Unexplained { .. }
        ));
    }

    #[test]
    fn a_named_program_error_refuses_the_user_at_its_position() {
        let err = ix(3, InstructionErrorKind::Custom(26));
        let Verdict::Refused { position, error } = classify(&err, None, 2, 5) else {
            panic!()
        };
        assert_eq!(position, 1);
        assert!(error.contains("InvalidClientIp"), "{error}");
    }

    #[test]
    fn an_unknown_code_or_a_budget_instruction_error_is_unknown_never_refused() {
        for err in [
            ix(3, InstructionErrorKind::Custom(4242)),
            ix(0, InstructionErrorKind::Custom(8)),
            ix(9, InstructionErrorKind::Custom(8)),
            ix(2, other("InvalidAccountData")),
        ] {
            assert!(
                matches!(classify(&err, None, 1, 5), Verdict::Unknown { .. }),
                "{err:?}"
            );
        }
    }

    #[test]
    fn rent_growth_the_payer_cannot_fund_is_a_payer_problem_at_that_user() {
        let err = ix(4, other("ProgramFailedToComplete"));
        let panic =
            logs(&["Program log: panicked at src/state/accounttype.rs: Unable to pay rent"]);
        assert_eq!(
            classify(&err, Some(&panic), 1, 5),
            Verdict::Payer {
                position: Some(3),
                error: "instruction 4: ProgramFailedToComplete".into()
            }
        );
        // The real program's shape (shared/programs, run in the ledger simulator): the system
        // transfer's own error 1 at the user's instruction.
        let transfer = ix(3, InstructionErrorKind::Custom(1));
        assert_eq!(
            classify(&transfer, None, 1, 5),
            Verdict::Payer {
                position: Some(2),
                error: "instruction 3: custom program error 1".into()
            }
        );
        let rent =
            TransactionError::Other(json!({"InsufficientFundsForRent": {"account_index": 0}}));
        assert!(matches!(
            classify(&rent, None, 0, 5),
            Verdict::Payer { position: None, .. }
        ));
        assert!(matches!(
            classify(&TransactionError::InsufficientFundsForFee, None, 0, 5),
            Verdict::Payer { position: None, .. }
        ));
    }

    #[test]
    fn blockhash_and_lock_errors_keep_their_meaning() {
        assert_eq!(
            classify(&TransactionError::BlockhashNotFound, None, 0, 1),
            Verdict::BlockhashNotFound
        );
        assert_eq!(
            classify(&TransactionError::AlreadyProcessed, None, 0, 1),
            Verdict::AlreadyProcessed
        );
        assert!(matches!(
            classify(&TransactionError::AccountInUse, None, 0, 1),
            Verdict::Transient { .. }
        ));
    }

    #[test]
    fn program_errors_are_named() {
        assert_eq!(
            describe(&ix(2, InstructionErrorKind::Custom(8))),
            "instruction 2: custom program error 8 (NotAllowed)"
        );
        assert_eq!(
            describe(&ix(0, other("InvalidAccountData"))),
            "instruction 0: InvalidAccountData"
        );
    }
}
