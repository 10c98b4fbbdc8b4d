//! How the serviceability program says no to `SetUserBGPStatus` (onchain.md §7.4): its own
//! custom errors, by the code its `From<DoubleZeroError> for ProgramError` table gives (not the
//! "variant N" comments), and the conditions it panics on, by the line it logs. The agent reads
//! a failure the way the program means it from here, and nowhere else.

/// A custom error `SetUserBGPStatus` can return. Each is about the user's account (or its
/// device), so it names the user whose instruction raised it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramError {
    InvalidDevicePubkey,
    NotAllowed,
    InvalidAccountType,
    InvalidClientIp,
    InvalidDzIp,
    InvalidTunnelNet,
    InvalidTunnelId,
    InvalidTunnelEndpoint,
}

impl ProgramError {
    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            6 => ProgramError::InvalidDevicePubkey,
            8 => ProgramError::NotAllowed,
            9 => ProgramError::InvalidAccountType,
            26 => ProgramError::InvalidClientIp,
            27 => ProgramError::InvalidDzIp,
            28 => ProgramError::InvalidTunnelNet,
            29 => ProgramError::InvalidTunnelId,
            80 => ProgramError::InvalidTunnelEndpoint,
            _ => return None,
        })
    }

    pub fn code(self) -> u32 {
        match self {
            ProgramError::InvalidDevicePubkey => 6,
            ProgramError::NotAllowed => 8,
            ProgramError::InvalidAccountType => 9,
            ProgramError::InvalidClientIp => 26,
            ProgramError::InvalidDzIp => 27,
            ProgramError::InvalidTunnelNet => 28,
            ProgramError::InvalidTunnelId => 29,
            ProgramError::InvalidTunnelEndpoint => 80,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ProgramError::InvalidDevicePubkey => "InvalidDevicePubkey",
            ProgramError::NotAllowed => "NotAllowed",
            ProgramError::InvalidAccountType => "InvalidAccountType",
            ProgramError::InvalidClientIp => "InvalidClientIp",
            ProgramError::InvalidDzIp => "InvalidDzIp",
            ProgramError::InvalidTunnelNet => "InvalidTunnelNet",
            ProgramError::InvalidTunnelId => "InvalidTunnelId",
            ProgramError::InvalidTunnelEndpoint => "InvalidTunnelEndpoint",
        }
    }
}

/// The panic onchain.md §7.4 names for a payer that cannot fund a User account's growth to the
/// rent-exempt minimum of its new layout.
pub const RENT_PANIC: &str = "Unable to pay rent";

/// What the real program (5f9fe3251, run in the ledger simulator) returns instead of that panic:
/// the system program's transfer fails inside the CPI with its own error 1 (insufficient
/// lamports), which surfaces as `Custom(1)` at the user's instruction, logged as
/// `Rent required: …` and `Transfer: insufficient lamports …`. `SetUserBGPStatus` itself never
/// returns code 1, so the code alone tells it.
pub const TRANSFER_INSUFFICIENT_LAMPORTS: u32 = 1;

const RENT_LOGS: [&str; 2] = [RENT_PANIC, "Transfer: insufficient lamports"];

/// What the runtime logs when a program runs out of its compute units: inside program code
/// (`ProgramFailedToComplete`) and inside a syscall (`ComputationalBudgetExceeded`).
const COMPUTE_EXHAUSTED: [&str; 2] = [
    "exceeded CUs meter at BPF instruction",
    "Computational budget exceeded",
];

/// Whether program logs say the compute meter ran out, by the runtime's own lines: the failure
/// line, or a `consumed N of N compute units` with nothing left.
pub fn logs_say_out_of_compute(logs: &[String]) -> bool {
    logs.iter().any(|line| {
        COMPUTE_EXHAUSTED.iter().any(|marker| line.contains(marker)) || consumed_all(line)
    })
}

fn consumed_all(line: &str) -> bool {
    let Some(rest) = line.split(" consumed ").nth(1) else {
        return false;
    };
    let mut words = rest.split_whitespace();
    let (used, of, limit) = (words.next(), words.next(), words.next());
    of == Some("of") && used.is_some() && used == limit
}

/// Whether program logs say the payer could not fund a User's rent.
pub fn logs_say_rent_unpaid(logs: &[String]) -> bool {
    logs.iter()
        .any(|line| RENT_LOGS.iter().any(|marker| line.contains(marker)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_from_tables_not_the_variant_comments() {
        for code in [6, 8, 9, 26, 27, 28, 29, 80] {
            let error = ProgramError::from_code(code).unwrap();
            assert_eq!(error.code(), code);
        }
        assert_eq!(ProgramError::from_code(8).unwrap().name(), "NotAllowed");
        assert_eq!(ProgramError::from_code(3), None);
        assert_eq!(
            ProgramError::from_code(1),
            None,
            "the system program's own code"
        );
    }

    #[test]
    fn out_of_compute_is_read_from_either_log_shape() {
        let program = "ser2VaTMAcYTaauMrTSfSrxBaUDq7BLNs2xfUugTAGv";
        let in_code = vec![
            format!("Program {program} invoke [1]"),
            format!("Program {program} consumed 12000 of 12000 compute units"),
            format!("Program {program} failed: exceeded CUs meter at BPF instruction"),
        ];
        assert!(logs_say_out_of_compute(&in_code));
        let in_syscall = vec![format!(
            "Program {program} failed: Computational budget exceeded"
        )];
        assert!(logs_say_out_of_compute(&in_syscall));
        let fine = vec![
            format!("Program {program} consumed 8154 of 200000 compute units"),
            format!("Program {program} success"),
        ];
        assert!(!logs_say_out_of_compute(&fine));
        let panic = vec![format!("Program log: panicked at 'Unable to pay rent'")];
        assert!(!logs_say_out_of_compute(&panic));
        assert!(logs_say_rent_unpaid(&panic));
    }
}
