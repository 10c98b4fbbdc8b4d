//! What a reading of the switch makes the chain say: sessions established, not, absent; a failed
//! reading; which users are considered; a restart against the chain.

use super::*;

#[tokio::test(start_paused = true)]
async fn restart_with_the_chain_already_right_writes_nothing() {
    let v = view(vec![
        user(1, BgpStatus::Up, RECENT),
        user(2, BgpStatus::Down, RECENT),
    ]);
    let mut switch = Switch::with(peer(1), Session::Established);
    switch.set(peer(2), Session::NotEstablished("Active".into()));
    let mut table = StateTable::default();
    assert!(run(&v, &switch, &mut table, &Policy::default()).is_empty());
    assert!(matches!(
        table.get(&user_pk(1)).unwrap().why,
        Why::InSync {
            refresh_at: Some(_)
        }
    ));
}

#[tokio::test(start_paused = true)]
async fn restart_with_the_chain_up_and_the_peer_gone_writes_down() {
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let updates = run(&v, &Switch::default(), &mut table, &Policy::default());
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Change)]
    );
    assert!(!updates[0].wants_rtt);
}

#[tokio::test(start_paused = true)]
async fn a_failed_observation_writes_nothing_even_when_the_chain_says_up() {
    let v = view(vec![
        user(1, BgpStatus::Up, RECENT),
        user(2, BgpStatus::Unknown, 0),
    ]);
    let mut table = StateTable::default();
    let updates = decide(
        Instant::now(),
        &v,
        Observation::Failed,
        &mut table,
        &Policy::default(),
    )
    .updates;
    assert!(updates.is_empty());
    assert_eq!(table.get(&user_pk(1)).unwrap().why, Why::NoObservation);
    assert_eq!(table.get(&user_pk(1)).unwrap().chain_status, BgpStatus::Up);
}

#[tokio::test(start_paused = true)]
async fn an_established_session_writes_up_with_its_rtt_to_the_users_peer() {
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let mut table = StateTable::default();
    let updates = run(
        &v,
        &Switch::with(peer(1), Session::Established),
        &mut table,
        &Policy::default(),
    );
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Up, UpdateReason::Change)]
    );
    assert_eq!(updates[0].peer, Ipv4Addr::new(169, 254, 0, 3));
    assert!(updates[0].wants_rtt);
}

#[tokio::test(start_paused = true)]
async fn a_present_session_not_established_writes_down() {
    let v = view(vec![user(1, BgpStatus::Unknown, 0)]);
    let mut table = StateTable::default();
    let switch = Switch::with(peer(1), Session::NotEstablished("Idle".into()));
    let updates = run(&v, &switch, &mut table, &Policy::default());
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Change)]
    );
}

#[tokio::test(start_paused = true)]
async fn an_absent_session_with_the_chain_unknown_writes_nothing() {
    let v = view(vec![user(1, BgpStatus::Unknown, 0)]);
    let mut table = StateTable::default();
    assert!(run(&v, &Switch::default(), &mut table, &Policy::default()).is_empty());
    assert_eq!(table.get(&user_pk(1)).unwrap().why, Why::NoSession);
}

#[tokio::test(start_paused = true)]
async fn only_activated_users_of_this_device_are_considered_and_leavers_are_pruned() {
    let (pk_other_device, mut other_device) = user(3, BgpStatus::Up, RECENT);
    other_device.device_pk = Pubkey::new_unique();
    let mut v = view(vec![
        user(1, BgpStatus::Unknown, 0),
        user(2, BgpStatus::Unknown, 0),
        (pk_other_device, other_device),
    ]);
    let mut switch = Switch::with(peer(1), Session::Established);
    switch.set(peer(2), Session::Established);
    let mut table = StateTable::default();
    let first = run(&v, &switch, &mut table, &Policy::default());
    assert_eq!(first.len(), 2, "the other device's user is not ours");
    assert!(table.get(&pk_other_device).is_none());
    assert!(table.get(&user_pk(1)).unwrap().in_flight.is_some());

    // User 1 is deactivated while its write is in flight: it leaves with its in-flight mark,
    // and a late confirmation does not bring it back.
    v.users[0].1.status = UserStatus::Deleting;
    run(&v, &switch, &mut table, &Policy::default());
    assert!(table.get(&user_pk(1)).is_none());
    table.confirmed(&user_pk(1), BgpStatus::Up, SLOT + 5, 0, Instant::now());
    assert!(table.get(&user_pk(1)).is_none());
    assert_eq!(table.len(), 1);
}
