//! `status`: what the running agent thinks of each user, read from its `/status` listener.
//!
//! A person gets aligned columns, problems first, coloured only on a terminal; a program gets
//! the JSON as the agent served it (`--json`). The agent is asked with one plain HTTP/1.1 GET:
//! the listener is loopback and read-only, so this command cannot change anything, and it
//! needs no HTTP client beyond a socket.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::Value;
use solana_pubkey::Pubkey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::table::{format_rtt, Columns};
use crate::config::find_key;
use crate::daemon::status::{Status as Snapshot, UserRow as Row};

/// Bounds the whole exchange: the agent answers from a snapshot it already holds.
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent's /metrics and /status address, as given to `run --metrics-addr`
    /// (default: run's default, :50090, reached on 127.0.0.1).
    #[arg(long, value_parser = crate::listener::parse_addr)]
    metrics_addr: Option<SocketAddr>,
    /// Print the agent's /status JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Only this user's row.
    #[arg(long)]
    user: Option<Pubkey>,
    /// The network namespace the agent listens in (as `run --management-namespace`).
    #[arg(long, value_name = "NAME")]
    pub management_namespace: Option<String>,
}

/// Whether stdout should be coloured: a terminal, and no `NO_COLOR` (no-color.org).
pub fn color_wanted() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
}

pub async fn run(args: Args, out: &mut dyn Write, color: bool) -> anyhow::Result<()> {
    let addr = match args.metrics_addr {
        Some(addr) => addr,
        None => crate::listener::parse_addr(
            find_key("metrics-addr")
                .and_then(|key| key.default)
                .context("metrics-addr has a default")?,
        )
        .map_err(anyhow::Error::msg)?,
    };
    let addr = crate::listener::local_target(addr);
    let mut status = fetch(addr).await?;
    if let Some(user) = args.user {
        keep_user(&mut status, &user.to_string())?;
    }
    if args.json {
        serde_json::to_writer_pretty(&mut *out, &status)?;
        writeln!(out)?;
        return Ok(());
    }
    let status: Snapshot = serde_json::from_value(status)
        .with_context(|| format!("the agent at {addr} served a /status this command cannot read; is it the same version?"))?;
    write_status(out, &status, color)?;
    Ok(())
}

/// `GET /status` from the agent at `addr`, with an explanation when nothing listens there.
async fn fetch(addr: SocketAddr) -> anyhow::Result<Value> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await?;
        let request = format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut reply = Vec::new();
        stream.read_to_end(&mut reply).await?;
        Ok::<_, std::io::Error>(reply)
    };
    let reply = match tokio::time::timeout(TIMEOUT, exchange).await {
        Err(_) => bail!("the agent at {addr} did not answer within {TIMEOUT:?}"),
        Ok(Err(error)) if error.kind() == std::io::ErrorKind::ConnectionRefused => {
            bail!(not_running(addr))
        }
        Ok(Err(error)) => bail!("cannot read /status from {addr}: {error}"),
        Ok(Ok(reply)) => reply,
    };
    let text = String::from_utf8_lossy(&reply);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .with_context(|| format!("{addr} answered something other than HTTP"))?;
    let code = head.split_whitespace().nth(1).unwrap_or("");
    if code != "200" {
        let line = head.lines().next().unwrap_or("");
        bail!("{addr} answered `{line}` to GET /status; is it this agent's --metrics-addr?");
    }
    serde_json::from_str(body).with_context(|| format!("{addr} served /status that is not JSON"))
}

/// The message for a refused connection: nothing listens, so say how to make something listen.
fn not_running(addr: SocketAddr) -> String {
    format!(
        "no agent is answering on {addr} (connection refused).\n\
         The agent is not running, or runs without --metrics-enable, or listens on another \
         --metrics-addr (give it here with --metrics-addr).\n\
         To start it on EOS:\n  \
           configure\n  \
           daemon doublezero-bgpstatus\n     \
             option metrics-enable value true\n     \
             no shutdown\n\
         Elsewhere: doublezero-bgpstatus run --metrics-enable --metrics-addr {addr} …"
    )
}

/// Narrows `users` to `user`'s row; a user the agent does not consider is an error.
fn keep_user(status: &mut Value, user: &str) -> anyhow::Result<()> {
    let Some(rows) = status.get_mut("users").and_then(Value::as_array_mut) else {
        bail!("the agent's /status has no users yet");
    };
    let considered = rows.len();
    rows.retain(|row| row["pubkey"] == user);
    if rows.is_empty() {
        bail!(
            "user {user} is not among the {considered} users the agent considers: it is not an \
             activated user of this device (`doublezero-bgpstatus users --device …` lists the \
             chain's users)"
        );
    }
    Ok(())
}

/// Problems first: what needs a person, then what waits, then what is fine. An unknown `why`
/// (a newer agent) counts as a problem, so nothing new hides at the bottom.
fn rank(why: &str) -> u8 {
    match why {
        "refused" | "bad_tunnel" => 0,
        "backoff" | "no_observation" => 1,
        "dampened" => 2,
        "writing" | "in_flight" | "min_interval" => 3,
        "no_session" => 4,
        "in_sync" => 5,
        _ => 0,
    }
}

/// ANSI colour of a `why`: red needs a person, yellow waits, green is fine.
fn paint(why: &str) -> &'static str {
    match rank(why) {
        0 | 1 => "\x1b[31m",
        2..=4 => "\x1b[33m",
        _ => "\x1b[32m",
    }
}

fn write_status(out: &mut dyn Write, status: &Snapshot, color: bool) -> std::io::Result<()> {
    write_summary(out, status)?;
    writeln!(out)?;
    let mut rows: Vec<&Row> = status.users.iter().collect();
    rows.sort_by(|a, b| {
        (rank(&a.why), a.drift.is_none(), &a.pubkey).cmp(&(
            rank(&b.why),
            b.drift.is_none(),
            &b.pubkey,
        ))
    });
    write_table(out, &rows, color)?;
    for row in rows.iter().filter(|r| r.drift.is_some()) {
        writeln!(
            out,
            "drift {}: {}",
            row.pubkey,
            row.drift.as_deref().unwrap_or("")
        )?;
    }
    let in_sync = rows.iter().filter(|r| r.why == "in_sync").count();
    writeln!(
        out,
        "{} users: {in_sync} in sync, {} not",
        rows.len(),
        rows.len() - in_sync
    )
}

/// The agent-wide lines: who it is, what it last saw of the switch and the chain, the outbox.
fn write_summary(out: &mut dyn Write, s: &Snapshot) -> std::io::Result<()> {
    let device = match (&s.device, &s.device_code) {
        (Some(device), Some(code)) => format!("{code} ({device})"),
        (Some(device), None) => device.clone(),
        (None, _) => "not found yet".into(),
    };
    writeln!(out, "agent        {} at {}", s.version, utc(s.at))?;
    writeln!(out, "device       {device}")?;
    writeln!(out, "signer       {}", s.signer)?;
    if let Some(error) = &s.error {
        writeln!(out, "error        {error}")?;
    }
    let switch = match &s.observation {
        None => "not read yet".into(),
        Some(o) => {
            let when = format!("read {}s earlier", s.at.saturating_sub(o.at));
            match (o.ok, &o.error) {
                (true, _) => format!("ok: {} peers, {} tunnels ({when})", o.peers, o.tunnels),
                (false, error) => format!(
                    "FAILED: {} ({when})",
                    error.as_deref().unwrap_or("unknown error")
                ),
            }
        }
    };
    writeln!(out, "switch       {switch}")?;
    let chain = match &s.view {
        None => "not read yet".into(),
        Some(v) => {
            let slot = v.slot.map_or("-".into(), |slot| format!("slot {slot}"));
            let age = v
                .age_s
                .map_or(String::new(), |age| format!(", {age:.1}s old"));
            match (&v.error, v.stale) {
                (Some(error), true) => format!("{slot}{age}, STALE: {error}"),
                (None, true) => format!("{slot}{age}, STALE"),
                (Some(error), false) => format!("{slot}{age}: {error}"),
                (None, false) => format!("{slot}{age}"),
            }
        }
    };
    writeln!(out, "chain        {chain}")?;
    let sessions = match &s.stream {
        None => "eAPI poll only (no --eos-sdk-rpc-addr)".to_owned(),
        Some(stream) if stream.connected => format!(
            "EosSdkRpc stream at {}, healthy{}; eAPI poll reconciles",
            stream.addr,
            stream.last_event.map_or(String::new(), |at| format!(
                ", last event {}s earlier",
                s.at.saturating_sub(at)
            ))
        ),
        Some(stream) => format!(
            "eAPI poll; EosSdkRpc stream at {} DOWN: {}",
            stream.addr,
            stream.error.as_deref().unwrap_or("not connected yet")
        ),
    };
    writeln!(out, "sessions     {sessions}")?;
    let tunnels = match &s.stream {
        Some(stream) if stream.connected && stream.interfaces_watched => {
            "EosSdkRpc interface watch; eAPI poll reconciles".to_owned()
        }
        Some(stream) if stream.connected => format!(
            "eAPI poll ({})",
            stream
                .interfaces_error
                .as_deref()
                .unwrap_or("interface watch not open yet")
        ),
        _ => "eAPI poll".to_owned(),
    };
    writeln!(out, "tunnels      {tunnels}")?;
    let o = &s.outbox;
    writeln!(
        out,
        "outbox       {} in flight; last signature {}; last error {}",
        o.in_flight,
        o.last_signature.as_deref().unwrap_or("-"),
        o.last_error.as_deref().unwrap_or("-")
    )
}

fn write_table(out: &mut dyn Write, rows: &[&Row], color: bool) -> std::io::Result<()> {
    const HEADER: [&str; 11] = [
        "USER", "TUNNEL", "PEER", "VRF", "SESSION", "CHAIN", "SLOT", "RTT", "WANTS", "FLAP", "WHY",
    ];
    let cells: Vec<[String; 11]> = rows
        .iter()
        .map(|r| {
            [
                r.pubkey.clone(),
                match &r.tunnel_interface {
                    Some(name) => format!("{name} {}", r.tunnel),
                    None => r.tunnel.to_string(),
                },
                r.peer.clone().unwrap_or_else(|| "-".into()),
                r.vrf.clone().unwrap_or_else(|| "-".into()),
                r.session.clone(),
                r.chain_status.clone(),
                r.chain_slot.to_string(),
                format_rtt(r.rtt_ns),
                r.wanted.clone().unwrap_or_else(|| "-".into()),
                format!("{:.0}", r.flap_penalty),
                r.why.to_string(),
            ]
        })
        .collect();
    let columns = Columns::fit(&HEADER, &cells);
    writeln!(out, "{}  DETAIL", columns.pad(&HEADER).join("  "))?;
    for (row, cell) in rows.iter().zip(&cells) {
        let mut padded = columns.pad(cell);
        if color {
            let why = padded.last_mut().expect("eleven columns");
            *why = format!("{}{why}\x1b[0m", paint(&row.why));
        }
        // The relative time in the detail is as of the snapshot; the clock time stays true.
        let until = row
            .until_unix
            .map_or(String::new(), |at| format!(" (at {})", utc(at)));
        let detail = row.detail.as_deref().unwrap_or("");
        let line = format!("{}  {detail}{until}", padded.join("  "));
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC`: enough calendar for a timestamp, no time crate.
fn utc(unix: u64) -> String {
    let (days, secs) = (unix / 86_400, unix % 86_400);
    // Howard Hinnant's days-to-civil, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3_600,
        secs % 3_600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_735_689_599), "2024-12-31 23:59:59 UTC");
    }

    #[test]
    fn an_unknown_reason_sorts_with_the_problems() {
        assert_eq!(rank("something_new"), rank("refused"));
        assert!(rank("refused") < rank("dampened") && rank("dampened") < rank("in_sync"));
    }
}
