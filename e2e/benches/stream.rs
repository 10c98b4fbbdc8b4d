//! Sessions on change (issue 18), the stream against the poll, side by side in one run, on the
//! release agent against the simulators (the ledger running the real program at a cluster's
//! slot time):
//! - latency: from a session drop until Down is on chain, the drop at a random moment of the
//!   poll's cycle; with the stream at `--bgp-status-interval 60s` (no decision but from events
//!   between the minute's polls) against polling every 10 s (goal: the stream within 1 s plus
//!   one slot, the transaction's landing);
//! - switch cost: eAPI commands the switch serves per minute in steady state with 1,000
//!   sessions, each way at its defaults (10 s poll; 60 s poll with the stream), both agents
//!   running side by side over the same minute: the reads whose cost grows with the sessions
//!   (the BGP summary and the interfaces; goal: at least 5x fewer with the stream), and every
//!   command, the option reads (`enable` + `show running-config section daemon …` every 30 s,
//!   the same both ways) included.
//!
//! Run: `cargo bench -p doublezero-bgpstatus-e2e --bench stream`. Exits non-zero when a goal is
//! missed.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::Parser;
use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus_e2e::devnet::{override_flags, Agent, Devnet, ANY_PORT};
use nix::sys::signal::Signal;
use tokio::time::Instant;

const SLOT: Duration = Duration::from_millis(400);
const POLL: Duration = Duration::from_secs(10);
const SETTLE: Duration = Duration::from_secs(60);

#[derive(Parser)]
#[command(about = "Session drop to Down on chain, and eAPI commands per minute: stream vs poll")]
struct Args {
    /// Drops measured each way.
    #[arg(long, default_value_t = 6)]
    drops: usize,
    /// Sessions on the switch for the steady-state cost.
    #[arg(long, default_value_t = 1000)]
    sessions: u16,
    /// The steady-state window: several of the stream's 60 s polls, so where the window
    /// falls in their cycle changes the count by one at most.
    #[arg(long, default_value = "180s", value_parser = parse_secs)]
    window: Duration,
    /// Passed by `cargo bench` to every bench target.
    #[arg(long = "bench", hide = true)]
    _bench: bool,
}

fn parse_secs(text: &str) -> Result<Duration, String> {
    text.trim_end_matches('s')
        .parse()
        .map(Duration::from_secs)
        .map_err(|_| format!("{text:?} is not a number of seconds like 60s"))
}

#[derive(Clone, Copy, PartialEq)]
enum Way {
    Stream,
    Poll,
}

impl Way {
    fn name(self) -> &'static str {
        match self {
            Way::Stream => "stream",
            Way::Poll => "poll 10s",
        }
    }
}

/// A devnet of `users` established users, its switch with an EosSdkRpc side on a unix socket,
/// and the agent the given way with `flags` (name, value) set, every user Up on chain.
async fn start(users: u16, way: Way, flags: &[(&str, &str)]) -> anyhow::Result<(Devnet, Agent)> {
    let socket = std::env::temp_dir().join(format!(
        "dz-bench-stream-{}-{users}-{}.sock",
        std::process::id(),
        way as u8
    ));
    let devnet = Devnet::start_with_switch(users, SLOT, |config| {
        config.grpc_unix = Some(socket);
    })
    .await?;
    for i in 0..devnet.users.len() {
        devnet.session(i, Some("Established"))?;
    }
    let stream = match way {
        Way::Stream => devnet.stream_flag(),
        Way::Poll => Vec::new(),
    };
    let stream: Vec<&str> = stream.iter().map(String::as_str).collect();
    let mut args = devnet.agent_args(ANY_PORT, &stream);
    let flags: Vec<&str> = flags
        .iter()
        .flat_map(|(flag, value)| [*flag, *value])
        .collect();
    override_flags(&mut args, &flags);
    let agent = Agent::spawn(&args, &devnet.dir).await?;
    let up = devnet
        .wait_until(SETTLE * 3, |d| {
            (0..d.users.len()).all(|i| d.chain_status(i) == BgpStatus::Up)
        })
        .await;
    if !up {
        bail!("{}: not every user Up:\n{}", way.name(), agent.log());
    }
    if way == Way::Stream
        && !agent
            .wait_for_metric("doublezero_bgpstatus_stream_up", 1.0, SETTLE)
            .await
    {
        bail!("the stream did not open:\n{}", agent.log());
    }
    Ok((devnet, agent))
}

/// A pseudo-random delay in `[0, max)`, from std's per-process hasher keys.
fn random_below(max: Duration) -> Duration {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u8(0);
    max.mul_f64((h.finish() % 10_000) as f64 / 10_000.0)
}

/// Each drop's time until Down is on chain.
async fn drop_latencies(way: Way, drops: usize) -> anyhow::Result<Vec<Duration>> {
    let flags: &[(&str, &str)] = match way {
        // Decisions come from events alone between the minute's polls.
        Way::Stream => &[
            ("--bgp-status-interval", "60s"),
            ("--bgp-status-stream-interval", "60s"),
        ],
        Way::Poll => &[("--bgp-status-interval", "10s")],
    };
    let (devnet, agent) = start(drops as u16, way, flags).await?;
    // Past the minimum write interval (5 s) of the start's Up writes, which holds a drop
    // within it either way: the latency measured is the path's, not the policy's.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut latencies = Vec::with_capacity(drops);
    for i in 0..drops {
        tokio::time::sleep(random_below(POLL)).await;
        let dropped = Instant::now();
        devnet.session(i, Some("Idle"))?;
        let down = devnet
            .wait_until(SETTLE, |d| d.chain_status(i) == BgpStatus::Down)
            .await;
        if !down {
            bail!(
                "{}: drop {i} not Down within {SETTLE:?}:\n{}",
                way.name(),
                agent.log()
            );
        }
        latencies.push(dropped.elapsed());
    }
    agent.stop(Signal::SIGTERM).await?;
    Ok(latencies)
}

/// Commands served so far: those that read sessions or interfaces, and all.
fn commands(devnet: &Devnet) -> (usize, usize) {
    let requests = devnet.switch.requests();
    let all = requests.iter().map(Vec::len).sum();
    let reads = requests
        .iter()
        .flatten()
        .filter(|c| c.contains("bgp summary") || c.as_str() == "show ip interface")
        .count();
    (reads, all)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut missed = Vec::new();

    println!(
        "session drop to Down on chain, {} drops each, at random moments of the 10 s cycle:",
        args.drops
    );
    println!(
        "{:>10} | {:>8} | {:>8} | {:>8}",
        "way", "median", "p90", "max"
    );
    let mut medians = Vec::new();
    for way in [Way::Stream, Way::Poll] {
        let mut latencies = drop_latencies(way, args.drops).await?;
        latencies.sort();
        let (median, p90, max) = (
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.9),
            *latencies.last().context("no drops")?,
        );
        println!(
            "{:>10} | {:>7.2}s | {:>7.2}s | {:>7.2}s",
            way.name(),
            median.as_secs_f64(),
            p90.as_secs_f64(),
            max.as_secs_f64()
        );
        medians.push(median);
        if way == Way::Stream && max > Duration::from_secs(1) + SLOT {
            missed.push(format!(
                "stream drop-to-Down max {:.2}s > 1 s + one slot",
                max.as_secs_f64()
            ));
        }
    }
    println!(
        "stream median {:.1}x faster than the 10 s poll",
        medians[1].as_secs_f64() / medians[0].as_secs_f64()
    );

    println!(
        "\neAPI commands per minute at rest, {} sessions, defaults, both agents over the same {:?}:",
        args.sessions, args.window
    );
    // The defaults: a decision tick every 10 s, the stream's poll every 60 s.
    let defaults = [
        ("--bgp-status-interval", "10s"),
        ("--cache-ttl", "5s"),
        ("--cache-ttl-at-rest", "60s"),
    ];
    let (stream_net, stream_agent) = start(args.sessions, Way::Stream, &defaults).await?;
    let (poll_net, poll_agent) = start(args.sessions, Way::Poll, &defaults).await?;
    // Past the writes of the start: both at rest.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = (commands(&stream_net), commands(&poll_net));
    tokio::time::sleep(args.window).await;
    let per_minute = |n: usize| n as f64 * 60.0 / args.window.as_secs_f64();
    let (stream_now, poll_now) = (commands(&stream_net), commands(&poll_net));
    let stream_reads = per_minute(stream_now.0 - before.0 .0);
    let poll_reads = per_minute(poll_now.0 - before.1 .0);
    let stream_all = per_minute(stream_now.1 - before.0 .1);
    let poll_all = per_minute(poll_now.1 - before.1 .1);
    println!(
        "{:>10} | {:>22} | {:>14}",
        "way", "session reads/min", "all cmds/min"
    );
    println!(
        "{:>10} | {stream_reads:>22.1} | {stream_all:>14.1}",
        "stream"
    );
    println!("{:>10} | {poll_reads:>22.1} | {poll_all:>14.1}", "poll 10s");
    let ratio = poll_reads / stream_reads.max(f64::MIN_POSITIVE);
    println!(
        "stream: {ratio:.1}x fewer session reads (goal >= 5x); {:.1}x fewer commands in all",
        poll_all / stream_all.max(f64::MIN_POSITIVE)
    );
    if ratio < 5.0 {
        missed.push(format!("only {ratio:.1}x fewer session reads"));
    }
    stream_agent.stop(Signal::SIGTERM).await?;
    poll_agent.stop(Signal::SIGTERM).await?;

    if missed.is_empty() {
        println!("\nall goals met");
        Ok(())
    } else {
        bail!("goals missed: {}", missed.join("; "))
    }
}
