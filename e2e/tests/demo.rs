//! The README's demo, run as a process for a bounded time: it must exit 0 and have shown users
//! going Up on chain.

use std::process::Command;
use std::time::Duration;

use doublezero_bgpstatus_e2e::devnet::agent_binary;

#[test]
fn the_demo_runs_for_a_bounded_time_shows_users_up_on_chain_and_exits_cleanly() {
    // Built here, outside the demo's 15 s, so a cold build does not eat the run.
    let agent = agent_binary().unwrap();
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_devnet"))
        .args(["--for", "15"])
        .env("DZ_BGPSTATUS_BIN", &agent)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "--for 15 took {:?}",
        started.elapsed()
    );
    // stdout is a pipe here, so tables are printed one after another, never redrawn.
    assert!(!stdout.contains("\x1b["), "no ANSI codes off a terminal");
    assert!(stdout.contains("t+0s: users 0-11 establish"), "{stdout}");
    let up = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("chain: "))
        .filter_map(|rest| rest.split(' ').next()?.parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    assert!(up > 0, "no user went Up on chain:\n{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|line| line.contains(" up ") && line.contains("in_sync")),
        "a user row Up on chain and in sync:\n{stdout}"
    );
}
