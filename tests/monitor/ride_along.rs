//! What the table remembers of the chain (RTTs), and refreshes riding along in transactions.

use super::*;

#[tokio::test(start_paused = true)]
async fn the_table_remembers_the_rtt_the_chain_holds_from_the_view_and_from_confirmations() {
    let (pk, mut seeded) = user(1, BgpStatus::Up, RECENT);
    seeded.bgp_rtt_ns = 1_500_000;
    let switch = Switch::with(peer(1), Session::Established);
    let mut table = StateTable::default();
    run(
        &view(vec![(pk, seeded)]),
        &switch,
        &mut table,
        &Policy::default(),
    );
    assert_eq!(
        table.get(&pk).unwrap().chain_rtt_ns,
        1_500_000,
        "seeded from the chain"
    );

    table.confirmed(&pk, BgpStatus::Up, SLOT + 1, 2_000_000, Instant::now());
    assert_eq!(
        table.get(&pk).unwrap().chain_rtt_ns,
        2_000_000,
        "what was written"
    );
}

/// Slots before the view for a user whose refresh falls due `in_` from now.
fn due_in(policy: &Policy, in_: Duration) -> u64 {
    (policy.refresh - in_).as_millis() as u64 / 400
}

fn all_established(users: std::ops::RangeInclusive<u8>) -> Switch {
    let mut switch = Switch::default();
    for n in users {
        switch.set(peer(n), Session::Established);
        switch = switch.with_tunnel_of(n, "vrf1", true);
    }
    switch
}

#[tokio::test(start_paused = true)]
async fn refreshes_due_soon_ride_along_to_fill_a_transaction_that_goes_anyway() {
    let policy = Policy {
        batch: 4,
        ..Policy::default()
    };
    let minutes = |m: u64| Duration::from_secs(60 * m);
    let mut users: Vec<_> = (1..=6)
        .map(|n| {
            user(
                n,
                BgpStatus::Up,
                due_in(&policy, minutes(10 * u64::from(n))),
            )
        })
        .collect();
    // Due in 3 h: outside the window (a quarter of 6 h).
    users.push(user(7, BgpStatus::Up, due_in(&policy, minutes(180))));
    // A change: Down on chain, Established now.
    users.push(user(8, BgpStatus::Down, RECENT));
    let v = view(users);
    let switch = all_established(1..=8);
    let mut table = StateTable::default();
    let updates = run(&v, &switch, &mut table, &policy);
    assert_eq!(
        statuses(&updates),
        vec![
            (user_pk(8), BgpStatus::Up, UpdateReason::Change),
            // The soonest due fill the rest of the transaction.
            (user_pk(1), BgpStatus::Up, UpdateReason::Refresh),
            (user_pk(2), BgpStatus::Up, UpdateReason::Refresh),
            (user_pk(3), BgpStatus::Up, UpdateReason::Refresh),
        ]
    );
    for n in [1, 2, 3, 8] {
        assert!(table.get(&user_pk(n)).unwrap().in_flight.is_some());
    }
    for n in [4, 5, 6, 7] {
        let state = table.get(&user_pk(n)).unwrap();
        assert!(state.in_flight.is_none());
        assert!(matches!(state.why, Why::InSync { .. }), "{:?}", state.why);
    }
}

#[tokio::test(start_paused = true)]
async fn early_refreshes_alone_go_only_as_whole_transactions_or_when_one_is_due() {
    let policy = Policy {
        batch: 4,
        ..Policy::default()
    };
    let minutes = |m: u64| Duration::from_secs(60 * m);
    let v = view(
        (1..=6)
            .map(|n| {
                user(
                    n,
                    BgpStatus::Up,
                    due_in(&policy, minutes(10 * u64::from(n))),
                )
            })
            .collect(),
    );
    let switch = all_established(1..=6);
    let mut table = StateTable::default();
    let first = run(&v, &switch, &mut table, &policy);
    assert_eq!(first.len(), 4, "one whole transaction of early refreshes");
    let now = Instant::now();
    for update in &first {
        table.confirmed(&update.user, update.status, SLOT, 0, now);
    }
    // Two left in the window: not enough to fill a transaction, none due yet.
    assert!(run(&v, &switch, &mut table, &policy).is_empty());
    // User 5's refresh falls due: it goes, and user 6 rides along.
    advance(minutes(51)).await;
    assert_eq!(
        statuses(&run(&v, &switch, &mut table, &policy)),
        vec![
            (user_pk(5), BgpStatus::Up, UpdateReason::Refresh),
            (user_pk(6), BgpStatus::Up, UpdateReason::Refresh),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_batch_of_one_turns_riding_along_off() {
    let policy = Policy {
        batch: 1,
        ..Policy::default()
    };
    let v = view(vec![
        user(1, BgpStatus::Up, due_in(&policy, Duration::from_secs(600))),
        user(2, BgpStatus::Down, RECENT),
    ]);
    let switch = all_established(1..=2);
    let mut table = StateTable::default();
    assert_eq!(
        statuses(&run(&v, &switch, &mut table, &policy)),
        vec![(user_pk(2), BgpStatus::Up, UpdateReason::Change)]
    );
    // Nor does an early refresh go on its own.
    let alone = view(vec![user(
        1,
        BgpStatus::Up,
        due_in(&policy, Duration::from_secs(600)),
    )]);
    assert!(run(&alone, &switch, &mut StateTable::default(), &policy).is_empty());
}
