//! Flap dampening: it may delay an Up, never a Down beyond the grace.

use super::*;

/// Sets user 1's session to each of `sessions` in turn, 15 s apart, confirming every write
/// at once; returns the statuses written.
async fn flap(
    sessions: &[Session],
    v: &DeviceView,
    switch: &mut Switch,
    table: &mut StateTable,
    policy: &Policy,
) -> Vec<BgpStatus> {
    let mut written = Vec::new();
    for (i, session) in (0u64..).zip(sessions) {
        switch.set(peer(1), session.clone());
        advance(Duration::from_secs(15)).await;
        for update in run(v, switch, table, policy) {
            table.confirmed(
                &update.user,
                update.status,
                SLOT + 100 + i,
                0,
                Instant::now(),
            );
            written.push(update.status);
        }
    }
    written
}

fn idle() -> Session {
    Session::NotEstablished("Idle".into())
}

#[tokio::test(start_paused = true)]
async fn a_flapping_user_that_settles_down_is_written_down_at_once_although_suppressed() {
    let policy = Policy {
        min_write_interval: Duration::ZERO,
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    assert!(run(&v, &switch, &mut table, &policy).is_empty());

    // Up → Down → Up → Down within a minute, then staying down: the third transition crosses
    // the suppress threshold, and the chain must not keep saying Up meanwhile.
    let sessions = [idle(), Session::Established, idle()];
    let written = flap(&sessions, &v, &mut switch, &mut table, &policy).await;
    assert_eq!(
        written,
        vec![BgpStatus::Down, BgpStatus::Up, BgpStatus::Down]
    );
    let state = table.get(&user_pk(1)).unwrap();
    assert_eq!(state.flaps.transitions, 3);
    assert!(
        state.flaps.penalty(&policy.dampening, Instant::now()) > policy.dampening.suppress,
        "suppressed"
    );
    assert_eq!(state.chain_status, BgpStatus::Down);
}

#[tokio::test(start_paused = true)]
async fn a_suppressed_user_has_its_up_delayed_until_the_penalty_decays() {
    let policy = Policy {
        min_write_interval: Duration::ZERO,
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    run(&v, &switch, &mut table, &policy);
    let sessions = [idle(), Session::Established, idle(), Session::Established];
    let written = flap(&sessions, &v, &mut switch, &mut table, &policy).await;
    // The fourth transition (to Up) comes while suppressed: it waits.
    assert_eq!(
        written,
        vec![BgpStatus::Down, BgpStatus::Up, BgpStatus::Down]
    );
    let Why::Dampened { until: Some(until) } = table.get(&user_pk(1)).unwrap().why.clone() else {
        panic!(
            "expected dampened, got {:?}",
            table.get(&user_pk(1)).unwrap().why
        );
    };

    // Quiet in Up while the chain says Down: nothing until the penalty decays below reuse,
    // then the current status is written.
    advance(until - Instant::now() - Duration::from_secs(30)).await;
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    advance(Duration::from_secs(60)).await;
    let updates = run(&v, &switch, &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![(user_pk(1), BgpStatus::Up, UpdateReason::Change)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_flapping_user_is_held_up_for_the_grace_period_and_no_longer() {
    let policy = Policy {
        min_write_interval: Duration::ZERO,
        down_grace: Duration::from_secs(60),
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    run(&v, &switch, &mut table, &policy);
    let tick = |switch: &Switch, table: &mut StateTable| {
        let updates = run(&v, switch, table, &policy);
        for update in &updates {
            table.confirmed(&update.user, update.status, SLOT + 1, 0, Instant::now());
        }
        statuses(&updates)
    };
    // Down and Up again, each longer than the grace, so each is a transition.
    for session in [idle(), Session::Established] {
        switch.set(peer(1), session);
        for _ in 0..8 {
            advance(Duration::from_secs(10)).await;
            tick(&switch, &mut table);
        }
    }
    assert_eq!(table.get(&user_pk(1)).unwrap().chain_status, BgpStatus::Up);

    // The third transition crosses the suppress threshold: the Down goes out when the grace
    // ends, not when the penalty decays.
    switch.set(peer(1), idle());
    let dropped = Instant::now();
    let mut written = Vec::new();
    while written.is_empty() && Instant::now() - dropped < Duration::from_secs(600) {
        advance(Duration::from_secs(10)).await;
        written = tick(&switch, &mut table);
    }
    let waited = Instant::now() - dropped;
    assert_eq!(
        written,
        vec![(user_pk(1), BgpStatus::Down, UpdateReason::Change)]
    );
    assert!(
        waited >= policy.down_grace && waited <= policy.down_grace + Duration::from_secs(10),
        "{waited:?}"
    );
    let state = table.get(&user_pk(1)).unwrap();
    assert_eq!(state.flaps.transitions, 3);
    assert!(state.flaps.penalty(&policy.dampening, Instant::now()) > policy.dampening.suppress);
}

#[tokio::test(start_paused = true)]
async fn disabled_dampening_writes_every_transition() {
    let policy = Policy {
        min_write_interval: Duration::ZERO,
        dampening: DampeningPolicy {
            enabled: false,
            ..DampeningPolicy::default()
        },
        ..Policy::default()
    };
    let v = view(vec![user(1, BgpStatus::Up, RECENT)]);
    let mut table = StateTable::default();
    let mut switch = Switch::with(peer(1), Session::Established);
    run(&v, &switch, &mut table, &policy);
    let mut writes = 0;
    for i in 0..6u64 {
        let up = i % 2 == 1;
        switch.set(
            peer(1),
            if up {
                Session::Established
            } else {
                Session::Absent
            },
        );
        advance(Duration::from_secs(1)).await;
        for u in run(&v, &switch, &mut table, &policy) {
            table.confirmed(&u.user, u.status, SLOT + 10 + i, 0, Instant::now());
            writes += 1;
        }
    }
    assert_eq!(writes, 6);
}
