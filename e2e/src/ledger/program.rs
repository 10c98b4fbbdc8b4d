//! A native stand-in for the serviceability program's `SetUserBGPStatus` (onchain.md §7).
//!
//! It follows the processor step by step: unpack, four accounts, signer and ownership checks,
//! the NotAllowed checks against the Device and the User, the slot writes, `User::validate()`,
//! and the resize with a rent top-up paid by the payer through a system-program CPI.
//!
//! Where the real program **panics** (the chain then reports `ProgramFailedToComplete`), this
//! one returns an error instead, so the simulator never unwinds or aborts inside a request:
//!
//! | real program panics on | stand-in returns |
//! |---|---|
//! | a partial `bgp_rtt_ns` (2–8 arg bytes) or a status byte ≥ 3 | `InvalidInstructionData` |
//! | payer not a signer | `MissingRequiredSignature` |
//! | user or device not owned by the program | `IncorrectProgramId` |
//! | user or device data empty | `UninitializedAccount` |
//! | user not writable | `InvalidAccountData` |
//! | the rent transfer failing ("Unable to pay rent") | the transfer's own error |
//!
//! Any other instruction tag is `InvalidInstructionData` (the stand-in knows only 106).

use std::net::Ipv4Addr;

use solana_account_info::AccountInfo;
use solana_program_error::{ProgramError, ProgramResult};
use solana_pubkey::Pubkey;

use super::account::{DeviceAccount, UserAccount};
use super::runtime;

/// The variant index of `SetUserBGPStatus`.
pub const SET_USER_BGP_STATUS: u8 = 106;

/// `DoubleZeroError` codes this instruction can return (the `From` table, not the comments).
pub mod error_code {
    pub const INVALID_DEVICE_PUBKEY: u32 = 6;
    pub const NOT_ALLOWED: u32 = 8;
    pub const INVALID_ACCOUNT_TYPE: u32 = 9;
    pub const INVALID_CLIENT_IP: u32 = 26;
    pub const INVALID_DZ_IP: u32 = 27;
    pub const INVALID_TUNNEL_NET: u32 = 28;
    pub const INVALID_TUNNEL_ID: u32 = 29;
    pub const INVALID_TUNNEL_ENDPOINT: u32 = 80;
}

const BGP_UP: u8 = 1;
const STATUS_DELETING: u8 = 3;
const STATUS_BANNED: u8 = 6;
/// Tunnel ids live in [500, 4596); the program checks only the upper bound.
const MAX_TUNNEL_ID: u16 = 4596;

/// `SetUserBGPStatusArgs` after the program's incremental decode (§7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetUserBgpStatusArgs {
    pub bgp_status: u8,
    pub bgp_rtt_ns: u64,
}

/// Unpacks instruction data: a field that is absent takes its default, a partial one fails.
pub fn unpack(data: &[u8]) -> Result<SetUserBgpStatusArgs, ProgramError> {
    let Some((&SET_USER_BGP_STATUS, args)) = data.split_first() else {
        return Err(ProgramError::InvalidInstructionData);
    };
    let (bgp_status, rest) = match args.split_first() {
        None => (0, &[][..]),
        Some((&status, _)) if status > 2 => return Err(ProgramError::InvalidInstructionData),
        Some((&status, rest)) => (status, rest),
    };
    let bgp_rtt_ns = match rest.len() {
        0 => 0,
        1..=7 => return Err(ProgramError::InvalidInstructionData),
        _ => u64::from_le_bytes(rest[..8].try_into().expect("8 bytes")),
    };
    Ok(SetUserBgpStatusArgs {
        bgp_status,
        bgp_rtt_ns,
    })
}

/// The program's entrypoint; see the module doc for where it differs from the real one.
pub fn process_instruction(
    program_id: &Pubkey,
    accounts: &[AccountInfo],
    data: &[u8],
) -> ProgramResult {
    let args = unpack(data)?;
    let [user_info, device_info, payer, system_program, ..] = accounts else {
        return Err(ProgramError::NotEnoughAccountKeys);
    };
    if !payer.is_signer {
        return Err(ProgramError::MissingRequiredSignature);
    }
    check_program_account(program_id, user_info)?;
    if !user_info.is_writable {
        return Err(ProgramError::InvalidAccountData);
    }
    check_program_account(program_id, device_info)?;

    let metrics_publisher = DeviceAccount::decode_metrics_publisher(&device_info.data.borrow())
        .ok_or(ProgramError::InvalidAccountData)?;
    if metrics_publisher != *payer.key {
        return Err(ProgramError::Custom(error_code::NOT_ALLOWED));
    }
    let mut user =
        UserAccount::decode(&user_info.data.borrow()).ok_or(ProgramError::InvalidAccountData)?;
    if user.device_pk != *device_info.key {
        return Err(ProgramError::Custom(error_code::NOT_ALLOWED));
    }

    let slot = runtime::clock_slot()?;
    user.bgp_status = args.bgp_status;
    user.last_bgp_reported_at = slot;
    user.bgp_rtt_ns = args.bgp_rtt_ns;
    if args.bgp_status == BGP_UP {
        user.last_bgp_up_at = slot;
    }

    if user.status != STATUS_DELETING && user.status != STATUS_BANNED {
        validate(&user).map_err(ProgramError::Custom)?;
    }
    write_resized(user_info, payer, system_program, &user.encode())
}

fn check_program_account(program_id: &Pubkey, account: &AccountInfo) -> ProgramResult {
    if account.owner != program_id {
        return Err(ProgramError::IncorrectProgramId);
    }
    if account.data_is_empty() {
        return Err(ProgramError::UninitializedAccount);
    }
    Ok(())
}

/// `User::validate()`: the first failing rule's code.
fn validate(user: &UserAccount) -> Result<(), u32> {
    use error_code::*;
    let (tunnel_ip, _) = user.tunnel_net;
    // The first rule, account_type == 7 (code 9), always holds here: decode refused others.
    let rules = [
        (user.device_pk != Pubkey::default(), INVALID_DEVICE_PUBKEY),
        (is_global(user.client_ip), INVALID_CLIENT_IP),
        (is_global(user.dz_ip), INVALID_DZ_IP),
        (tunnel_ip.is_link_local(), INVALID_TUNNEL_NET),
        (user.tunnel_id < MAX_TUNNEL_ID, INVALID_TUNNEL_ID),
        (
            user.tunnel_endpoint.is_unspecified() || is_global(user.tunnel_endpoint),
            INVALID_TUNNEL_ENDPOINT,
        ),
    ];
    match rules.into_iter().find(|(ok, _)| !ok) {
        Some((_, code)) => Err(code),
        None => Ok(()),
    }
}

/// Globally routable IPv4, as the program's check (std's `is_global` is unstable).
fn is_global(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (b & 0xc0) == 64) // shared address space 100.64/10
        || (a == 198 && (b & 0xfe) == 18) // benchmarking 198.18/15
        || (a == 192 && b == 0 && c == 0)) // IETF protocol assignments
}

/// Resizes the user to `bytes.len()` and writes it. Growth is paid by `payer` up to the
/// rent-exempt minimum; shrinking refunds nothing.
fn write_resized<'a>(
    user: &AccountInfo<'a>,
    payer: &AccountInfo<'a>,
    system_program: &AccountInfo<'a>,
    bytes: &[u8],
) -> ProgramResult {
    if bytes.len() > user.data_len() {
        let needed = runtime::rent()?.minimum_balance(bytes.len());
        let shortfall = needed.saturating_sub(user.lamports());
        if shortfall > 0 {
            let transfer =
                solana_system_interface::instruction::transfer(payer.key, user.key, shortfall);
            runtime::invoke(
                &transfer,
                &[payer.clone(), user.clone(), system_program.clone()],
            )?;
        }
    }
    if bytes.len() != user.data_len() {
        user.resize(bytes.len())?;
    }
    user.data.borrow_mut().copy_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_payload_decodes_status_and_rtt() {
        let data = [0x6a, 0x01, 0x4e, 0x61, 0xbc, 0, 0, 0, 0, 0];
        assert_eq!(
            unpack(&data),
            Ok(SetUserBgpStatusArgs {
                bgp_status: 1,
                bgp_rtt_ns: 12_345_678
            })
        );
    }

    #[test]
    fn short_payloads_follow_the_incremental_rule() {
        let up = |rtt| {
            Ok(SetUserBgpStatusArgs {
                bgp_status: 1,
                bgp_rtt_ns: rtt,
            })
        };
        assert_eq!(unpack(&[0x6a, 0x01]), up(0));
        assert_eq!(
            unpack(&[0x6a]),
            Ok(SetUserBgpStatusArgs {
                bgp_status: 0,
                bgp_rtt_ns: 0
            })
        );
        for extra in 1..=7 {
            let mut data = vec![0x6a, 0x01];
            data.extend(std::iter::repeat_n(0, extra));
            assert_eq!(unpack(&data), Err(ProgramError::InvalidInstructionData));
        }
        let mut trailing = vec![0x6a, 0x01, 1, 0, 0, 0, 0, 0, 0, 0];
        trailing.extend([9, 9, 9]);
        assert_eq!(unpack(&trailing), up(1));
    }

    #[test]
    fn unknown_status_or_tag_is_rejected() {
        assert_eq!(
            unpack(&[0x6a, 3]),
            Err(ProgramError::InvalidInstructionData)
        );
        assert_eq!(unpack(&[0x69]), Err(ProgramError::InvalidInstructionData));
        assert_eq!(unpack(&[]), Err(ProgramError::InvalidInstructionData));
    }

    #[test]
    fn global_address_rule_excludes_special_ranges() {
        for ip in ["1.2.3.4", "45.1.2.3", "8.8.8.8"] {
            assert!(is_global(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "10.0.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.0.1",
            "100.64.0.1",
            "0.0.0.0",
            "203.0.113.5",
            "224.0.0.1",
        ] {
            assert!(!is_global(ip.parse().unwrap()), "{ip}");
        }
    }
}
