//! `devnet`: the README's demo. One command starts a simulated ledger and switch, runs the
//! shipped agent binary against them, plays a schedule of session changes and shows, every
//! second, what the switch says, what the chain says and why the agent is or is not writing.
//!
//! The schedule covers what an operator should see the agent do: sessions establishing and
//! dropping, one session flapping until the agent dampens it, one user's tunnel removed while
//! the chain says Up (written Down), and an eAPI outage during which nothing is written Down.
//! Ctrl-C (or `--for SECONDS`) stops the agent with SIGTERM and exits 0 when it exited cleanly.

use std::collections::{BTreeSet, HashMap};
use std::io::{IsTerminal as _, Write as _};
use std::ops::Range;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus_e2e::devnet::{agent_binary, Agent, Devnet};
use doublezero_bgpstatus_e2e::eapi_sim::Fault;
use serde_json::Value;
use solana_pubkey::Pubkey;
use solana_signature::Signature;
use solana_transaction::versioned::VersionedTransaction;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;

/// Users on the demo device: enough for a real table, few enough to read.
const USERS: u16 = 24;
/// A cluster's slot time, so confirmation delays look like the real thing.
const SLOT: Duration = Duration::from_millis(400);
/// How often a table is printed when stdout is not a terminal (a log, a CI job).
const PLAIN_EVERY: Duration = Duration::from_secs(5);

#[derive(Parser)]
#[command(
    about = "Run doublezero-bgpstatus against a simulated switch and ledger and watch it work"
)]
struct Args {
    /// Stop after this many seconds instead of waiting for Ctrl-C (for tests and CI).
    #[arg(long = "for", value_name = "SECONDS")]
    run_for: Option<u64>,
}

/// One change the schedule makes to the simulated switch.
#[derive(Debug, Clone)]
enum Step {
    /// Set the sessions of these users to a state, or remove them with `None`.
    Sessions(Range<usize>, Option<&'static str>),
    /// The user is deprovisioned from the switch: session and tunnel gone.
    Deprovision(usize),
    /// The eAPI socket disappears (`true`) or comes back (`false`).
    Outage(bool),
}

/// Users with a part in the schedule, by index.
const DROPPING: Range<usize> = 4..6;
const LATE: Range<usize> = 12..16;
const FLAPPING: usize = 20;
const DEPROVISIONED: usize = 21;

/// The schedule, in seconds since the agent started, with what each step shows.
fn schedule() -> Vec<(u64, Step, &'static str)> {
    use Step::*;
    let mut steps = vec![
        (
            0,
            Sessions(0..12, Some("Established")),
            "users 0-11 establish",
        ),
        (
            0,
            Sessions(LATE, Some("Active")),
            "users 12-15 try to connect (Active)",
        ),
        (
            0,
            Sessions(20..24, Some("Established")),
            "users 20-23 establish",
        ),
        (
            10,
            Sessions(LATE, Some("Established")),
            "users 12-15 establish",
        ),
        (
            15,
            Sessions(DROPPING, Some("Idle")),
            "users 4-5 drop (Idle)",
        ),
        (
            22,
            Deprovision(DEPROVISIONED),
            "user 21's tunnel and session are removed",
        ),
        (
            32,
            Outage(true),
            "eAPI outage: the socket is gone; nothing may be written Down",
        ),
        (44, Outage(false), "eAPI is back"),
        (
            48,
            Sessions(DROPPING, Some("Established")),
            "users 4-5 re-establish",
        ),
        (
            52,
            Sessions(16..18, Some("Established")),
            "users 16-17 establish at last",
        ),
    ];
    // Every 3 s for 24 s: enough Up/Down transitions to cross the dampening threshold.
    for k in 0..8 {
        let state = if k % 2 == 0 { "Active" } else { "Established" };
        let note = if k == 0 {
            "user 20 starts flapping"
        } else {
            "user 20 flaps"
        };
        steps.push((
            6 + 3 * k,
            Sessions(FLAPPING..FLAPPING + 1, Some(state)),
            note,
        ));
    }
    steps.sort_by_key(|(at, _, _)| *at);
    steps
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    eprintln!("devnet: building the agent (cargo build --release), once…");
    let binary = agent_binary()?;
    eprintln!("devnet: agent {}", binary.display());
    // Every user's tunnel is up and no session exists yet: users the schedule never connects
    // (16-19 until late) are provisioned here but not connected, so they are written Down.
    let devnet = Devnet::start(USERS, SLOT).await?;
    let agent = devnet.spawn_agent(&[]).await?;
    let outcome = run(&devnet, &agent, args.run_for.map(Duration::from_secs)).await;
    let status = agent.stop(nix::sys::signal::Signal::SIGTERM).await?;
    outcome?;
    if !status.success() {
        bail!("the agent exited with {status}");
    }
    eprintln!("devnet: the agent stopped cleanly");
    Ok(())
}

/// Plays the schedule and draws the table until interrupted or `run_for` has passed.
async fn run(devnet: &Devnet, agent: &Agent, run_for: Option<Duration>) -> anyhow::Result<()> {
    let mut terminate = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
    let started = Instant::now();
    let deadline = run_for.map(|d| started + d);
    let terminal = std::io::stdout().is_terminal();
    let mut show = Show::default();
    let mut steps = schedule().into_iter().peekable();
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let mut last_plain: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = terminate.recv() => return Ok(()),
        }
        let elapsed = started.elapsed().as_secs();
        while let Some((_, step, note)) = steps.next_if(|(at, _, _)| *at <= elapsed) {
            apply(devnet, &step, &mut show)?;
            show.events.push(format!("t+{elapsed:>3}s  {note}"));
            if !terminal {
                println!("t+{elapsed}s: {note}");
            }
        }
        show.next = steps.peek().map(|(at, _, note)| format!("t+{at}s {note}"));
        let due = last_plain.is_none_or(|at| at.elapsed() >= PLAIN_EVERY);
        let finished = deadline.is_some_and(|d| Instant::now() >= d);
        if terminal || due || finished {
            let table = show.render(devnet, agent, elapsed).await;
            let mut out = std::io::stdout().lock();
            if terminal {
                // Clear the screen and home the cursor, so the table redraws in place.
                write!(out, "\x1b[2J\x1b[H")?;
            }
            writeln!(out, "{table}")?;
            out.flush()?;
            last_plain = Some(Instant::now());
        }
        if finished {
            return Ok(());
        }
    }
}

fn apply(devnet: &Devnet, step: &Step, show: &mut Show) -> anyhow::Result<()> {
    match step {
        Step::Sessions(users, state) => {
            for i in users.clone() {
                devnet.session(i, *state)?;
            }
        }
        Step::Deprovision(i) => {
            devnet.session(*i, None)?;
            devnet.remove_tunnel(*i);
            show.removed_tunnels.insert(*i);
        }
        Step::Outage(true) => {
            devnet.switch.set_fault(Fault::SocketGone)?;
            show.outage = true;
        }
        Step::Outage(false) => {
            devnet.switch.clear_fault()?;
            show.outage = false;
        }
    }
    Ok(())
}

/// What the table needs beyond the simulators' own state.
#[derive(Default)]
struct Show {
    removed_tunnels: BTreeSet<usize>,
    outage: bool,
    events: Vec<String>,
    next: Option<String>,
    /// The last landed transaction that wrote each user, and how far the ledger's list was read.
    last_signature: HashMap<Pubkey, Signature>,
    read: usize,
}

impl Show {
    async fn render(&mut self, devnet: &Devnet, agent: &Agent, elapsed: u64) -> String {
        use std::fmt::Write as _;
        let received = devnet.ledger.transactions();
        for tx in &received[self.read.min(received.len())..] {
            if tx.outcome != "landed" {
                continue;
            }
            let Ok(decoded) = wincode::deserialize::<VersionedTransaction>(&tx.wire) else {
                continue;
            };
            for key in decoded.message.static_account_keys() {
                self.last_signature.insert(*key, tx.signature);
            }
        }
        self.read = received.len();

        let status = agent.status().await;
        let rows: HashMap<String, &Value> = status
            .as_ref()
            .and_then(|s| s["users"].as_array())
            .map(|rows| {
                rows.iter()
                    .filter_map(|r| Some((r["pubkey"].as_str()?.to_string(), r)))
                    .collect()
            })
            .unwrap_or_default();
        let peers: HashMap<String, String> = devnet
            .switch
            .peers()
            .into_iter()
            .map(|p| (p.address, p.state))
            .collect();

        let mut out = String::new();
        let _ = writeln!(
            out,
            "doublezero-bgpstatus devnet · t+{elapsed}s · slot {} · {} transactions · eAPI {} · Ctrl-C to stop",
            devnet.ledger.slot(),
            devnet.transactions_sent(),
            if self.outage { "DOWN (socket gone)" } else { "up" },
        );
        let _ = writeln!(
            out,
            "{:>2}  {:<12} {:<14} {:<12} {:<8} {:>8}  {:<12} agent (why)",
            "#", "user", "tunnel", "peer", "chain", "reported", "last sig"
        );
        let mut counts: HashMap<BgpStatus, usize> = HashMap::new();
        for (i, user) in devnet.users.iter().enumerate() {
            let chain = devnet.chain(i);
            *counts.entry(chain.bgp()).or_default() += 1;
            let tunnel = match self.removed_tunnels.contains(&i) {
                true => format!("{} gone", user.tunnel),
                false => user.tunnel.clone(),
            };
            let peer = peers
                .get(&user.peer.to_string())
                .map_or("-", String::as_str);
            let reported = match chain.last_bgp_reported_at {
                0 => "-".to_string(),
                slot => slot.to_string(),
            };
            let signature = self
                .last_signature
                .get(&user.pubkey)
                .map_or("-".to_string(), |s| short(&s.to_string()));
            let why = rows.get(&user.pubkey.to_string()).map_or_else(
                || "-".to_string(),
                |r| match r["detail"].as_str() {
                    Some(detail) => format!("{} ({detail})", r["why"].as_str().unwrap_or("?")),
                    None => r["why"].as_str().unwrap_or("?").to_string(),
                },
            );
            let _ = writeln!(
                out,
                "{i:>2}  {:<12} {tunnel:<14} {peer:<12} {:<8} {reported:>8}  {signature:<12} {why}",
                short(&user.pubkey.to_string()),
                chain.bgp().as_str(),
            );
        }
        let count = |s| counts.get(&s).copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "chain: {} up, {} down, {} unknown",
            count(BgpStatus::Up),
            count(BgpStatus::Down),
            count(BgpStatus::Unknown)
        );
        if let Some(error) = status.as_ref().and_then(|s| s["error"].as_str()) {
            let _ = writeln!(out, "agent error: {error}");
        }
        for event in self.events.iter().rev().take(4).rev() {
            let _ = writeln!(out, "  {event}");
        }
        if let Some(next) = &self.next {
            let _ = writeln!(out, "  next: {next}");
        }
        out
    }
}

/// `abcd…wxyz`: enough of a base58 key or signature to tell rows apart and grep a log.
fn short(text: &str) -> String {
    match text.len() {
        0..=10 => text.to_string(),
        n => format!("{}…{}", &text[..4], &text[n - 4..]),
    }
}
