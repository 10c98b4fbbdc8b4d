//! Grace, refresh, in-flight, and writes by someone else taken in from the view.

use super::*;

#[tokio::test(start_paused = true)]
async fn the_grace_period_holds_up_without_rtt_then_reports_down() {
    let policy = Policy {
        down_grace: Duration::from_secs(60),
        min_write_interval: Duration::ZERO,
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    assert!(run(&v, &switch, &mut table, &policy).is_empty());

    switch.set(peer(1), Session::NotEstablished("Active".into()));
    advance(Duration::from_secs(30)).await;
    assert!(
        run(&v, &switch, &mut table, &policy).is_empty(),
        "held Up by the grace"
    );
    assert!(table.get(&user_pk(1)).unwrap().held_by_grace);

    advance(Duration::from_secs(31)).await;
    let updates = run(&v, &switch, &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Change)]
    );
}

#[tokio::test(start_paused = true)]
async fn an_up_write_during_the_grace_carries_no_rtt() {
    let policy = Policy {
        down_grace: Duration::from_secs(60),
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    let first = run(&v, &switch, &mut table, &policy);
    assert!(first[0].wants_rtt);
    // The write fails transiently; by the retry the session is gone but within the grace.
    table.failed(
        &user_pk(1),
        "timeout".into(),
        Cause::Unknown,
        Instant::now(),
        &policy,
    );
    switch.set(peer(1), Session::Absent);
    advance(policy.failure_backoff).await;
    let retry = run(&v, &switch, &mut table, &policy);
    assert_eq!(retry[0].status, BgpStatus::Up);
    assert!(!retry[0].wants_rtt);
}

#[tokio::test(start_paused = true)]
async fn a_peerless_down_user_is_refreshed_when_due() {
    let policy = Policy::default();
    let slots_in_refresh = policy.refresh.as_millis() as u64 / 400;
    let v = view(vec![
        user(1, BgpStatus::Down, slots_in_refresh + 1),
        user(2, BgpStatus::Down, RECENT),
    ]);
    let mut table = StateTable::default();
    let updates = run(&v, &Switch::default(), &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Refresh)]
    );
}

#[tokio::test(start_paused = true)]
async fn an_in_sync_user_is_refreshed_after_the_interval_and_not_before() {
    let policy = Policy {
        refresh: Duration::from_secs(3600),
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Up, 0)]);
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    advance(Duration::from_secs(3599)).await;
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    advance(Duration::from_secs(1)).await;
    let updates = run(&v, &switch, &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Up, UpdateReason::Refresh)]
    );
}

#[tokio::test(start_paused = true)]
async fn no_second_update_while_the_first_is_in_flight_then_in_sync_after_confirmation() {
    let policy = Policy::default();
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    assert_eq!(run(&v, &switch, &mut table, &policy).len(), 1);
    advance(Duration::from_secs(10)).await;
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    assert!(matches!(
        table.get(&user_pk(1)).unwrap().why,
        Why::InFlight { .. }
    ));

    table.confirmed(&user_pk(1), BgpStatus::Up, SLOT + 30, 0, Instant::now());
    advance(Duration::from_secs(10)).await;
    // The cached view is older than the confirmation: it must not undo it.
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    assert_eq!(table.get(&user_pk(1)).unwrap().chain_status, BgpStatus::Up);
}

#[tokio::test(start_paused = true)]
async fn a_write_by_someone_else_in_a_newer_view_is_taken_in() {
    let policy = Policy::default();
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    assert!(run(
        &view(vec![user(1, BgpStatus::Up, RECENT)]),
        &switch,
        &mut table,
        &policy
    )
    .is_empty());
    // Another writer set Down at a newer slot: the agent sees the chain is wrong and fixes it.
    let (pk, mut changed) = user(1, BgpStatus::Down, 0);
    changed.last_bgp_reported_at = SLOT + 1;
    let newer = DeviceView {
        slot: SLOT + 100,
        ..view(vec![(pk, changed)])
    };
    let updates = run(&newer, &switch, &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![(pk, BgpStatus::Up, UpdateReason::Change)]
    );
}
