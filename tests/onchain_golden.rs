//! Golden vectors of `shared/spec/onchain.md` §12, produced by a native build of the upstream
//! program crates: account decoding, instruction data, message compilation and signatures must
//! match them byte for byte.

mod vectors;

use std::net::Ipv4Addr;

use doublezero_bgpstatus::serviceability::{
    set_user_bgp_status, signed_transaction, wire_bytes, BgpStatus, ComputeBudget, DecodeError,
    Device, DeviceStatus, User, UserStatus, UserType,
};
use proptest::prelude::*;
use solana_hash::Hash;
use solana_keypair::Keypair;
use solana_message::Message;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use vectors::{hex, A1, A2, B, DEVICE, PAYER, PROGRAM, USER};

const D1_MESSAGE: &str = "010003058a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d100000000000000000000000000000000000000000000000000000000000000000cf9d50d943e69afc3e27ab80ecf68d3a0ea03c5909c6a8c6e6ca2ac923dcc9f4242424242424242424242424242424242424242424242424242424242424242010404010200030a6a014e61bc0000000000";
const D1_SIGNATURE: &str =
    "4nyzqsLkHZzBePWrgtdNyrCBvRhgriapsDbYeBHFYNCEWwvV1KKc5X9HsfqYt4Gph1NUTuJd2auuMknQ1eBcFtP5";
const D1_WIRE: &str = "01bdb469dd624e24629e56ae2aabd2c9e8b5551b5786b0283d9464cf036ecba854526eae95151d8e0815a1d70720748ce75c5e5865a9a5293574ecde99feabaf0c010003058a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d100000000000000000000000000000000000000000000000000000000000000000cf9d50d943e69afc3e27ab80ecf68d3a0ea03c5909c6a8c6e6ca2ac923dcc9f4242424242424242424242424242424242424242424242424242424242424242010404010200030a6a014e61bc0000000000";
const D2_MESSAGE: &str = "010003058a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b39400000000000000000000000000000000000000000000000000000000000000000cf9d50d943e69afc3e27ab80ecf68d3a0ea03c5909c6a8c6e6ca2ac923dcc9fed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d14242424242424242424242424242424242424242424242424242424242424242010304010400020a6a014e61bc0000000000";

fn pk(s: &str) -> Pubkey {
    s.parse().unwrap()
}

fn filled(byte: u8) -> Pubkey {
    Pubkey::new_from_array([byte; 32])
}

fn payer() -> Keypair {
    Keypair::new_from_array([1; 32])
}

fn d_instruction(status: BgpStatus, rtt: u64) -> solana_instruction::Instruction {
    set_user_bgp_status(
        &pk(PROGRAM),
        &pk(USER),
        &pk(DEVICE),
        &pk(PAYER),
        status,
        rtt,
    )
}

#[test]
fn a1_user_with_every_field_set_decodes_exactly() {
    let data = hex(A1);
    assert_eq!(data.len(), 334);
    let user = User::decode(&data).unwrap();
    assert_eq!(user.owner, filled(0x11));
    assert_eq!(user.user_type, UserType::IbrlWithAllocatedIp);
    assert_eq!(user.tenant_pk, filled(0x22));
    assert_eq!(user.device_pk, pk(DEVICE));
    assert_eq!(user.client_ip, Ipv4Addr::new(1, 2, 3, 4));
    assert_eq!(user.dz_ip, Ipv4Addr::new(5, 6, 7, 8));
    assert_eq!(user.tunnel_id, 501);
    assert_eq!(user.tunnel_net.to_string(), "169.254.0.10/31");
    assert_eq!(user.status, UserStatus::Activated);
    assert_eq!(user.publishers, vec![filled(0x44)]);
    assert_eq!(user.subscribers, vec![filled(0x55), filled(0x66)]);
    assert_eq!(user.validator_pubkey, filled(0x77));
    assert_eq!(user.tunnel_endpoint, Ipv4Addr::new(9, 10, 11, 12));
    assert_eq!(user.tunnel_flags, 1);
    assert_eq!(user.bgp_status, BgpStatus::Up);
    assert_eq!(user.last_bgp_up_at, 0x1122334455667788);
    assert_eq!(user.last_bgp_reported_at, 123456789);
    assert_eq!(user.bgp_rtt_ns, 12345678);
    assert_eq!(user.feed_pks, vec![filled(0x88)]);
    assert_eq!(
        user.tunnel().unwrap().peer_addr(),
        Ipv4Addr::new(169, 254, 0, 11)
    );
}

#[test]
fn a2_typical_unicast_user_decodes_exactly() {
    let data = hex(A2);
    assert_eq!(data.len(), 206);
    let user = User::decode(&data).unwrap();
    assert_eq!(user.user_type, UserType::Ibrl);
    assert_eq!(user.tunnel_id, 500);
    assert_eq!(user.tunnel_net.to_string(), "169.254.0.0/31");
    assert!(user.publishers.is_empty() && user.subscribers.is_empty());
    assert_eq!(user.validator_pubkey, Pubkey::default());
    assert_eq!(user.bgp_status, BgpStatus::Down);
    assert_eq!(user.last_bgp_up_at, 1000);
    assert_eq!(user.last_bgp_reported_at, 2000);
    assert_eq!(user.bgp_rtt_ns, 0);
    assert!(user.feed_pks.is_empty());
}

#[test]
fn a2_truncated_before_tunnel_flags_defaults_the_bgp_fields() {
    let data = hex(A2);
    let user = User::decode(&data[..176]).unwrap();
    assert_eq!(user.bgp_status, BgpStatus::Unknown);
    assert_eq!(
        (
            user.last_bgp_up_at,
            user.last_bgp_reported_at,
            user.bgp_rtt_ns
        ),
        (0, 0, 0)
    );
    assert_eq!(user.tunnel_flags, 0);
    assert!(user.feed_pks.is_empty());
    assert_eq!(user.device_pk, pk(DEVICE));
}

#[test]
fn a2_with_the_old_32_byte_feed_pk_slot_ignores_the_trailing_zeros() {
    let mut data = hex(A2);
    data.truncate(202);
    data.extend([0u8; 32]);
    assert_eq!(data.len(), 234);
    let user = User::decode(&data).unwrap();
    assert!(user.feed_pks.is_empty());
    assert_eq!(user.bgp_status, BgpStatus::Down);
    assert_eq!(user.last_bgp_reported_at, 2000);
}

#[test]
fn every_field_boundary_of_the_trailing_layout_decodes() {
    // Fields after `status` were appended over time: an account may end after any of them.
    let data = hex(A2);
    for end in [132, 136, 140, 172, 176, 177, 178, 186, 194, 202, 206] {
        let user = User::decode(&data[..end]).unwrap_or_else(|e| panic!("{end}: {e}"));
        assert_eq!(user.device_pk, pk(DEVICE), "end {end}");
    }
}

#[test]
fn a_user_cut_inside_a_field_is_a_typed_error_not_shifted_fields() {
    let data = hex(A2);
    assert_eq!(
        User::decode(&data[..181]).unwrap_err(),
        DecodeError::Truncated {
            field: "last_bgp_up_at",
            offset: 178,
            needed: 8,
            available: 3
        }
    );
}

#[test]
fn a_truncated_fixed_prefix_is_a_typed_error() {
    let data = hex(A2);
    let err = User::decode(&data[..100]).unwrap_err();
    assert!(
        matches!(
            err,
            DecodeError::Truncated {
                field: "device_pk",
                offset: 83,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        User::decode(&data[..131]).unwrap_err(),
        DecodeError::Truncated {
            field: "status",
            ..
        }
    ));
}

#[test]
fn a_wrong_or_missing_account_type_is_a_typed_error() {
    assert_eq!(User::decode(&[]).unwrap_err(), DecodeError::Empty);
    let err = User::decode(&hex(B)).unwrap_err();
    assert_eq!(
        err,
        DecodeError::WrongAccountType {
            expected: 7,
            expected_name: "User",
            found: 5
        }
    );
    assert_eq!(err.to_string(), "account type 5 is not a User (type 7)");
    assert!(matches!(
        Device::decode(&hex(A2)).unwrap_err(),
        DecodeError::WrongAccountType { found: 7, .. }
    ));
}

#[test]
fn a_vector_count_that_overruns_the_account_is_a_typed_error() {
    let mut data = hex(A2);
    data[132..136].copy_from_slice(&1000u32.to_le_bytes());
    assert_eq!(
        User::decode(&data).unwrap_err(),
        DecodeError::Overrun {
            field: "publishers",
            offset: 132,
            count: 1000,
            available: 70
        }
    );
    data[132..136].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        User::decode(&data).unwrap_err(),
        DecodeError::Overrun { .. }
    ));
}

#[test]
fn an_unknown_bgp_status_byte_reads_as_unknown() {
    let mut data = hex(A2);
    data[177] = 9;
    assert_eq!(User::decode(&data).unwrap().bgp_status, BgpStatus::Unknown);
}

#[test]
fn bgp_status_serialises_as_lowercase_strings() {
    let json =
        serde_json::to_string(&[BgpStatus::Unknown, BgpStatus::Up, BgpStatus::Down]).unwrap();
    assert_eq!(json, r#"["unknown","up","down"]"#);
}

#[test]
fn b_device_decodes_exactly() {
    let data = hex(B);
    assert_eq!(data.len(), 349);
    let device = Device::decode(&data).unwrap();
    assert_eq!(device.owner, filled(0x10));
    assert_eq!(device.public_ip, Ipv4Addr::new(45, 1, 2, 3));
    assert_eq!(device.status, DeviceStatus::Activated);
    assert_eq!(device.code, "dz-ny7");
    assert_eq!(device.dz_prefixes.len(), 1);
    assert_eq!(device.dz_prefixes[0].to_string(), "45.1.2.0/29");
    assert_eq!(device.metrics_publisher_pk, pk(PAYER));
    assert_eq!(device.contributor_pk, filled(0x40));
    assert_eq!(device.mgmt_vrf, "mgmt");
    assert_eq!(device.users_count, 2);
    assert_eq!(device.max_users, 128);
    assert_eq!(device.interfaces.len(), 1);
    assert_eq!(device.interfaces[0].name, "Loopback255");
    assert_eq!(device.interfaces[0].status, 3);
    assert_eq!(device.interfaces[0].ip_net.to_string(), "172.16.0.1/32");
}

#[test]
fn b_device_at_the_seed_pr_layout_reads_interfaces_from_the_legacy_slot() {
    // Before May 2026 the account ended at max_multicast_publishers (offset 289).
    let device = Device::decode(&hex(B)[..289]).unwrap();
    assert_eq!(device.interfaces.len(), 1);
    assert_eq!(device.interfaces[0].name, "Loopback255");
    assert_eq!(device.metrics_publisher_pk, pk(PAYER));
}

/// What the agent needs from a Device whose later part it cannot read: the fields before the
/// interfaces, exactly, and the tail's error to report.
fn assert_head_of_b(device: &Device) {
    assert_eq!(device.metrics_publisher_pk, pk(PAYER));
    assert_eq!(device.code, "dz-ny7");
    assert_eq!(device.status, DeviceStatus::Activated);
}

#[test]
fn a_device_whose_interface_lists_disagree_still_gives_its_publisher_and_says_why() {
    let mut data = hex(B);
    // Append a second size-prefixed interface: a copy of the first entry.
    let entry = data[293..349].to_vec();
    data[289..293].copy_from_slice(&2u32.to_le_bytes());
    data.extend(entry);
    let device = Device::decode(&data).unwrap();
    assert_head_of_b(&device);
    assert_eq!(
        device.tail_error,
        Some(DecodeError::InterfaceCountMismatch {
            legacy: 1,
            current: 2
        })
    );
}

#[test]
fn an_unknown_legacy_interface_tag_still_gives_the_publisher_and_says_why() {
    let mut data = hex(B);
    data[215] = 9;
    let device = Device::decode(&data).unwrap();
    assert_head_of_b(&device);
    assert_eq!(
        device.mgmt_vrf, "mgmt",
        "fields before the bad part are kept"
    );
    assert_eq!(
        device.tail_error,
        Some(DecodeError::UnknownInterfaceTag {
            offset: 215,
            tag: 9
        })
    );
}

#[test]
fn an_interface_size_that_overruns_still_gives_the_publisher_and_says_why() {
    let mut data = hex(B);
    data[293..295].copy_from_slice(&500u16.to_le_bytes());
    let device = Device::decode(&data).unwrap();
    assert_head_of_b(&device);
    assert!(matches!(
        device.tail_error,
        Some(DecodeError::BadInterfaceSize {
            offset: 293,
            size: 500
        })
    ));
}

#[test]
fn a_device_cut_before_its_publisher_is_an_error() {
    assert!(matches!(
        Device::decode(&hex(B)[..150]).unwrap_err(),
        DecodeError::Truncated { .. }
    ));
}

#[test]
fn c_instruction_data_is_the_full_nine_byte_payload() {
    assert_eq!(
        d_instruction(BgpStatus::Up, 12345678).data,
        hex("6a014e61bc0000000000")
    );
    assert_eq!(
        d_instruction(BgpStatus::Down, 0).data,
        hex("6a020000000000000000")
    );
}

#[test]
fn instruction_accounts_follow_the_program_order_and_flags() {
    let ix = d_instruction(BgpStatus::Up, 1);
    let metas: Vec<_> = ix
        .accounts
        .iter()
        .map(|m| (m.pubkey, m.is_signer, m.is_writable))
        .collect();
    assert_eq!(
        metas,
        vec![
            (pk(USER), false, true),
            (pk(DEVICE), false, false),
            (pk(PAYER), true, true),
            (Pubkey::default(), false, false),
        ]
    );
    assert_eq!(ix.program_id, pk(PROGRAM));
}

#[test]
fn d2_message_compiled_by_the_rust_compiler_matches_byte_for_byte() {
    let blockhash = Hash::new_from_array([0x42; 32]);
    let message = Message::new_with_blockhash(
        &[d_instruction(BgpStatus::Up, 12345678)],
        Some(&pk(PAYER)),
        &blockhash,
    );
    assert_eq!(message.serialize(), hex(D2_MESSAGE));

    let tx = signed_transaction(
        &payer(),
        &[d_instruction(BgpStatus::Up, 12345678)],
        ComputeBudget::default(),
        blockhash,
    );
    let wire = wire_bytes(&tx);
    assert_eq!(wire[0], 1);
    assert_eq!(&wire[65..], hex(D2_MESSAGE).as_slice());
    assert_eq!(
        &wire[1..65],
        payer().sign_message(&hex(D2_MESSAGE)).as_ref()
    );
}

#[test]
fn d1_go_ordered_message_signs_to_the_golden_signature() {
    let message = hex(D1_MESSAGE);
    let signature = payer().sign_message(&message);
    assert_eq!(signature.to_string(), D1_SIGNATURE);
    let mut wire = vec![1u8];
    wire.extend(signature.as_ref());
    wire.extend(&message);
    assert_eq!(wire, hex(D1_WIRE));
}

#[test]
fn compute_budget_instructions_come_first_and_are_counted() {
    let budget = ComputeBudget {
        unit_limit: Some(20_000),
        unit_price: Some(1_000),
    };
    assert_eq!(budget.instruction_count(), 2);
    let tx = signed_transaction(
        &payer(),
        &[
            d_instruction(BgpStatus::Up, 1),
            d_instruction(BgpStatus::Down, 0),
        ],
        budget,
        Hash::new_from_array([7; 32]),
    );
    let message = tx.message();
    assert_eq!(message.instructions.len(), 4);
    let program_of =
        |i: usize| message.account_keys[message.instructions[i].program_id_index as usize];
    assert_eq!(
        program_of(0).to_string(),
        "ComputeBudget111111111111111111111111111111"
    );
    assert_eq!(program_of(2), pk(PROGRAM));
    assert_eq!(message.instructions[3].data, hex("6a020000000000000000"));
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = User::decode(&data);
        let _ = Device::decode(&data);
    }

    #[test]
    fn decoding_arbitrary_typed_accounts_never_panics(
        kind in prop_oneof![Just(5u8), Just(7u8)],
        tail in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut data = vec![kind];
        data.extend(tail);
        let _ = User::decode(&data);
        let _ = Device::decode(&data);
    }

    #[test]
    fn corrupting_one_byte_of_a_golden_account_never_panics(
        index in 0usize..349, value in any::<u8>(), cut in 0usize..349,
    ) {
        for golden in [hex(A1), hex(A2), hex(B)] {
            let mut data = golden.clone();
            let i = index % data.len();
            data[i] = value;
            data.truncate(cut.max(1).min(data.len()));
            let _ = User::decode(&data);
            let _ = Device::decode(&data);
        }
    }
}
