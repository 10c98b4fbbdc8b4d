//! How writes are paced and retried: the minimum interval, backoff after failures (and what it
//! never holds back), a bad tunnel_net, a released update.

use super::*;

#[tokio::test(start_paused = true)]
async fn two_writes_of_one_user_are_spaced_by_the_minimum_interval() {
    let policy = Policy {
        min_write_interval: Duration::from_secs(5),
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    let first = run(&v, &switch, &mut table, &policy);
    table.confirmed(&first[0].user, BgpStatus::Up, SLOT + 1, 0, Instant::now());
    switch.set(peer(1), Session::NotEstablished("Idle".into()));
    advance(Duration::from_secs(2)).await;
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    assert!(matches!(
        table.get(&user_pk(1)).unwrap().why,
        Why::MinInterval { .. }
    ));
    advance(Duration::from_secs(3)).await;
    assert_eq!(
        run(&v, &switch, &mut table, &policy)[0].status,
        BgpStatus::Down
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_is_retried_after_a_backoff_that_grows() {
    let policy = Policy::default();
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    run(&v, &switch, &mut table, &policy);
    table.failed(
        &user_pk(1),
        "node unhealthy".into(),
        Cause::Unknown,
        Instant::now(),
        &policy,
    );
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    assert!(matches!(
        table.get(&user_pk(1)).unwrap().why,
        Why::Backoff {
            cause: Cause::Unknown,
            ..
        }
    ));
    advance(policy.failure_backoff).await;
    assert_eq!(run(&v, &switch, &mut table, &policy).len(), 1);
    table.failed(
        &user_pk(1),
        "node unhealthy".into(),
        Cause::Unknown,
        Instant::now(),
        &policy,
    );
    advance(policy.failure_backoff).await;
    assert!(
        run(&v, &switch, &mut table, &policy).is_empty(),
        "second wait is doubled"
    );
    advance(policy.failure_backoff).await;
    assert_eq!(run(&v, &switch, &mut table, &policy).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_new_status_does_not_wait_out_the_backoff_of_an_older_one() {
    // The chain says Up and a refresh is due; the refresh keeps failing (an RPC outage) until
    // its backoff is long; then the session drops. The Down was never tried: it goes out on
    // the next tick, and a failure of it starts its own backoff from the first step.
    let policy = Policy::default();
    let slots_in_refresh = policy.refresh.as_millis() as u64 / 400;
    let v = view(vec![user(1, BgpStatus::Up, slots_in_refresh + 1)]);
    let mut switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    for _ in 0..8 {
        let updates = run(&v, &switch, &mut table, &policy);
        assert_eq!(statuses(&updates)[0].1, BgpStatus::Up);
        table.failed(
            &user_pk(1),
            "503".into(),
            Cause::Unknown,
            Instant::now(),
            &policy,
        );
        advance(policy.failure_backoff_max).await;
    }
    table.failed(
        &user_pk(1),
        "503".into(),
        Cause::Unknown,
        Instant::now(),
        &policy,
    );
    let failure = table.get(&user_pk(1)).unwrap().failure.clone().unwrap();
    assert_eq!(
        failure.retry_at - Instant::now(),
        policy.failure_backoff_max
    );

    advance(policy.failure_backoff).await;
    assert!(
        run(&v, &switch, &mut table, &policy).is_empty(),
        "Up still waits"
    );
    switch.set(peer(1), Session::Absent);
    let updates = run(&v, &switch, &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Change)]
    );
    table.failed(
        &user_pk(1),
        "503".into(),
        Cause::Unknown,
        Instant::now(),
        &policy,
    );
    let failure = table.get(&user_pk(1)).unwrap().failure.clone().unwrap();
    assert_eq!(failure.status, BgpStatus::Down);
    assert_eq!(failure.attempts, 1);
    assert_eq!(failure.retry_at - Instant::now(), policy.failure_backoff);
}

#[tokio::test(start_paused = true)]
async fn a_refusal_by_the_program_waits_the_longest_backoff() {
    let policy = Policy::default();
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    run(&v, &switch, &mut table, &policy);
    table.failed(
        &user_pk(1),
        "custom program error 8 (NotAllowed)".into(),
        Cause::Refused,
        Instant::now(),
        &policy,
    );
    run(&v, &switch, &mut table, &policy);
    let Why::Backoff {
        until,
        error,
        cause,
    } = table.get(&user_pk(1)).unwrap().why.clone()
    else {
        panic!("expected backoff");
    };
    assert_eq!(until - Instant::now(), policy.failure_backoff_max);
    assert!(error.contains("NotAllowed"));
    assert_eq!(
        cause,
        Cause::Refused,
        "a refusal is told apart from a transient failure"
    );
}

#[tokio::test(start_paused = true)]
async fn a_write_the_rpc_failed_goes_again_at_the_next_tick_without_backoff() {
    // An RPC outage is the RPC's failure, not the user's: once it answers, the write goes out
    // at once (issue 20), however many times it failed before.
    let policy = Policy::default();
    let v = view(vec![user(1, BgpStatus::Down, RECENT)]);
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    for _ in 0..5 {
        let updates = run(&v, &switch, &mut table, &policy);
        assert_eq!(statuses(&updates)[0].1, BgpStatus::Up);
        table.failed(
            &user_pk(1),
            "not confirmed within 120s".into(),
            Cause::Rpc,
            Instant::now(),
            &policy,
        );
        advance(Duration::from_secs(1)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_user_whose_tunnel_net_is_not_a_slash_31_is_reported_and_skipped() {
    let (pk, mut bad) = user(1, BgpStatus::Up, RECENT);
    bad.tunnel_net.prefix = 30;
    let mut table = StateTable::default();
    assert!(run(
        &view(vec![(pk, bad)]),
        &Switch::default(),
        &mut table,
        &Policy::default()
    )
    .is_empty());
    assert!(matches!(table.get(&pk).unwrap().why, Why::BadTunnel(_)));
}

#[tokio::test(start_paused = true)]
async fn a_released_update_lets_the_user_be_decided_again() {
    let policy = Policy::default();
    let slots_in_refresh = policy.refresh.as_millis() as u64 / 400;
    let v = view(vec![user(1, BgpStatus::Down, slots_in_refresh + 1)]);
    let mut table = StateTable::default();
    assert_eq!(run(&v, &Switch::default(), &mut table, &policy).len(), 1);
    table.released(&user_pk(1));
    assert_eq!(run(&v, &Switch::default(), &mut table, &policy).len(), 1);
}
