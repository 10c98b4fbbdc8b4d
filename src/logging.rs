//! Logging: human-readable lines on stderr always — ProcMgr keeps them under
//! `/var/log/agents` and `show agent NAME logs` shows them, where operators look for every
//! agent's log — and, in addition, structured events to journald where its socket exists
//! (systemd-based EOS runs journald; eos.md §9 item 3). Colour only when stderr is a terminal:
//! under ProcMgr it is a file. The level and the journald copy can change live. Status
//! transitions also go to syslog with facility LOCAL4 in EOS's `%FACILITY-SEVERITY-MNEMONIC:`
//! form so they appear in `show logging`, through a bounded queue and a thread of their own, so
//! that a stalled syslog never blocks the daemon.

use std::io::IsTerminal;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Registry};

use crate::config::LogTarget;

const JOURNALD_SOCKET: &str = "/run/systemd/journal/socket";

type Filtered = Layered<reload::Layer<LevelFilter, Registry>, Registry>;

/// Changes the log level and the journald copy of the running process.
#[derive(Clone)]
pub struct LevelHandle {
    level: Option<reload::Handle<LevelFilter, Registry>>,
    journald: Option<reload::Handle<Option<tracing_journald::Layer>, Filtered>>,
}

impl LevelHandle {
    pub fn set_verbose(&self, verbose: bool) {
        if let Some(handle) = &self.level {
            let _ = handle.reload(level(verbose));
        }
    }

    /// Starts or stops the journald copy; stderr is unaffected.
    pub fn set_target(&self, target: LogTarget) {
        if let Some(handle) = &self.journald {
            let _ = handle.reload(journald(target));
        }
    }
}

fn level(verbose: bool) -> LevelFilter {
    if verbose {
        LevelFilter::DEBUG
    } else {
        LevelFilter::INFO
    }
}

/// The journald layer `target` asks for, when journald is there to take it.
fn journald(target: LogTarget) -> Option<tracing_journald::Layer> {
    let present = Path::new(JOURNALD_SOCKET).exists();
    match target {
        LogTarget::Stderr => None,
        LogTarget::Auto if !present => None,
        LogTarget::Auto | LogTarget::Journald => match tracing_journald::layer() {
            Ok(layer) => Some(layer),
            Err(error) => {
                if target == LogTarget::Journald {
                    eprintln!("cannot log to journald ({JOURNALD_SOCKET}): {error}; logging to stderr only");
                }
                None
            }
        },
    }
}

/// Where `target` sends the log on this switch, in words for `check`.
pub fn destinations(target: LogTarget, daemon_name: &str) -> String {
    let stderr = format!("stderr (`show agent {daemon_name} logs`)");
    let journald = Path::new(JOURNALD_SOCKET).exists();
    match target {
        LogTarget::Stderr => stderr,
        LogTarget::Auto | LogTarget::Journald if journald => {
            format!("{stderr} and journald (`journalctl -t doublezero-bgpstatus`)")
        }
        LogTarget::Auto => format!("{stderr}; journald is not running here"),
        LogTarget::Journald => format!("{stderr} only: journald is not running here"),
    }
}

/// Installs the process-wide subscriber. Called once, from `main`.
pub fn init(target: LogTarget, verbose: bool) -> LevelHandle {
    let (filter, level_handle) = reload::Layer::new(level(verbose));
    let (journald, journald_handle) = reload::Layer::new(journald(target));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal());
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(journald)
        .with(stderr)
        .try_init()
        .is_ok();
    LevelHandle {
        level: installed.then_some(level_handle),
        journald: installed.then_some(journald_handle),
    }
}

/// Syslog severities used for operator events.
#[derive(Debug, Clone, Copy)]
pub enum Severity {
    Warning = 4,
    Notice = 5,
    Info = 6,
}

/// Where the local syslog listens.
const DEV_LOG: &str = "/dev/log";
/// Lines waiting for the syslog worker; past this, new lines are dropped and counted. A mass
/// event is 1,000 lines at once, and `/dev/log` may queue as few as 10 datagrams.
const SYSLOG_QUEUE: usize = 1024;
/// How long the worker waits for a stalled `/dev/log` before giving a line up.
const SYSLOG_SEND_TIMEOUT: Duration = Duration::from_millis(500);
/// Longest text in one line: syslog daemons cut lines at 1 or 2 KiB anyway.
const SYSLOG_TEXT_MAX: usize = 1024;

/// Operator events to the local syslog, without ever blocking the caller: lines go into a
/// bounded queue that one worker thread sends to the socket. A line that finds the queue full,
/// or that the socket does not take within [`SYSLOG_SEND_TIMEOUT`], is dropped and counted.
pub struct Syslog {
    queue: SyncSender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
}

/// The other end of a [`Syslog`]'s queue: sends each line to the socket.
pub struct SyslogWorker {
    queue: Receiver<Vec<u8>>,
    path: PathBuf,
    dropped: Arc<AtomicU64>,
}

impl Syslog {
    /// A queue of `capacity` lines towards the datagram socket at `path`, and its worker, to
    /// be run on a thread of its own.
    pub fn new(path: impl Into<PathBuf>, capacity: usize) -> (Syslog, SyslogWorker) {
        let (queue, receiver) = std::sync::mpsc::sync_channel(capacity);
        let dropped = Arc::new(AtomicU64::new(0));
        let worker = SyslogWorker {
            queue: receiver,
            path: path.into(),
            dropped: dropped.clone(),
        };
        (Syslog { queue, dropped }, worker)
    }

    /// Queues one event as `%DZBGP-<sev>-<MNEMONIC>: text`, facility LOCAL4, its text made
    /// safe for one line; `false` when it was dropped because the queue is full.
    pub fn send(&self, severity: Severity, mnemonic: &str, text: &str) -> bool {
        const LOCAL4: u8 = 20;
        let priority = LOCAL4 * 8 + severity as u8;
        let line = format!(
            "<{priority}>doublezero-bgpstatus[{}]: %DZBGP-{}-{mnemonic}: {}",
            std::process::id(),
            severity as u8,
            one_line(text, SYSLOG_TEXT_MAX)
        );
        let queued = self.queue.try_send(line.into_bytes()).is_ok();
        if !queued {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        queued
    }

    /// Lines dropped so far: the queue was full, or the socket did not take them.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl SyslogWorker {
    /// Sends every queued line until the [`Syslog`] is gone.
    pub fn run(self) {
        let Ok(socket) = UnixDatagram::unbound() else {
            for _ in self.queue {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            return;
        };
        let _ = socket.set_write_timeout(Some(SYSLOG_SEND_TIMEOUT));
        for line in self.queue {
            if socket.send_to(&line, &self.path).is_err() {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// `text` on one line: control characters (newlines, escapes) written as Rust escapes, so a
/// message from the RPC or eAPI can neither start a forged line nor reach a terminal as a
/// command; cut at `max` bytes on a character boundary.
pub fn one_line(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max));
    for c in text.chars() {
        let before = out.len();
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        if out.len() > max {
            out.truncate(before);
            out.push('…');
            break;
        }
    }
    out
}

/// How often a condition that lasts is said again.
pub const REMIND_EVERY: Duration = Duration::from_secs(3600);

/// A condition that lasts, such as a payer below the fee floor or a keypair that is not the
/// device's metrics publisher: said when it starts (or changes), when it ends, and at most once
/// an hour in between, however often it is looked at. `T` is what is said about it.
#[derive(Debug, Clone)]
pub struct Condition<T> {
    /// What holds, since when, and when it was last said.
    holding: Option<(T, tokio::time::Instant, tokio::time::Instant)>,
}

impl<T> Default for Condition<T> {
    fn default() -> Self {
        Condition { holding: None }
    }
}

/// What to say about a [`Condition`] now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Say<T> {
    /// It started, or now holds with something else to say.
    Started(T),
    /// It still holds, as it did for `since`; an hour or more since it was last said.
    Ongoing { what: T, since: Duration },
    /// It no longer holds, after `lasted`.
    Ended { lasted: Duration },
}

impl<T: Clone + PartialEq> Condition<T> {
    /// Records what holds at `now` (`None`: nothing) and returns what, if anything, to say.
    pub fn observe(&mut self, now: tokio::time::Instant, holds: Option<T>) -> Option<Say<T>> {
        match (self.holding.as_mut(), holds) {
            (None, None) => None,
            (Some((_, since, _)), None) => {
                let lasted = now.saturating_duration_since(*since);
                self.holding = None;
                Some(Say::Ended { lasted })
            }
            (Some((what, since, said)), Some(now_what)) if *what == now_what => {
                if now.saturating_duration_since(*said) < REMIND_EVERY {
                    return None;
                }
                *said = now;
                Some(Say::Ongoing {
                    what: now_what,
                    since: now.saturating_duration_since(*since),
                })
            }
            (_, Some(what)) => {
                self.holding = Some((what.clone(), now, now));
                Some(Say::Started(what))
            }
        }
    }

    /// What holds, if anything.
    pub fn holding(&self) -> Option<&T> {
        self.holding.as_ref().map(|(what, _, _)| what)
    }
}

static SYSLOG: OnceLock<Syslog> = OnceLock::new();

/// Sends one event to the local syslog (see [`Syslog`]); the worker thread starts with the first
/// event. Best effort: a switch without `/dev/log` loses only this copy (the structured log has
/// it), and the caller never waits.
pub fn syslog(severity: Severity, mnemonic: &str, text: &str) {
    SYSLOG
        .get_or_init(|| {
            let (syslog, worker) = Syslog::new(DEV_LOG, SYSLOG_QUEUE);
            if let Err(error) = std::thread::Builder::new()
                .name("syslog".into())
                .spawn(|| worker.run())
            {
                tracing::warn!(%error, "cannot start the syslog thread; syslog lines are dropped");
            }
            syslog
        })
        .send(severity, mnemonic, text);
}

/// Syslog lines dropped by this process so far.
pub fn syslog_dropped() -> u64 {
    SYSLOG.get().map_or(0, Syslog::dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_rpc_or_eapi_stays_on_one_line_without_control_characters() {
        let text = "bad reply\n<13>forged: line\r\u{1b}[31mred\u{0}";
        let line = one_line(text, 1024);
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert_eq!(line, "bad reply\\n<13>forged: line\\r\\u{1b}[31mred\\u{0}");
        let long = one_line(&"é".repeat(600), 1024);
        assert!(long.len() <= 1024 + '…'.len_utf8() && long.ends_with('…'));
    }

    #[test]
    fn a_lasting_condition_is_said_when_it_starts_changes_and_ends_and_hourly_between() {
        let start = tokio::time::Instant::now();
        let at = |secs: u64| start + Duration::from_secs(secs);
        let mut condition = Condition::default();
        assert_eq!(condition.observe(at(0), None::<&str>), None);
        assert_eq!(
            condition.observe(at(10), Some("a")),
            Some(Say::Started("a"))
        );
        // Every 10 s tick for just under an hour: nothing more.
        for tick in 2..361 {
            assert_eq!(condition.observe(at(10 * tick), Some("a")), None, "{tick}");
        }
        assert_eq!(
            condition.observe(at(3610), Some("a")),
            Some(Say::Ongoing {
                what: "a",
                since: REMIND_EVERY
            })
        );
        assert_eq!(condition.observe(at(3620), Some("a")), None);
        assert_eq!(
            condition.observe(at(3630), Some("b")),
            Some(Say::Started("b"))
        );
        assert_eq!(condition.holding(), Some(&"b"));
        assert_eq!(
            condition.observe(at(3640), None),
            Some(Say::Ended {
                lasted: Duration::from_secs(10)
            })
        );
        assert_eq!(condition.observe(at(3650), None), None);
    }

    #[test]
    fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let receiver = UnixDatagram::bind(&path).unwrap();
        // The worker is not running yet: nothing drains the queue.
        let (syslog, worker) = Syslog::new(&path, 4);
        let queued = (0..100)
            .filter(|i| syslog.send(Severity::Notice, "USER_BGP_DOWN", &format!("user {i}\nx")))
            .count();
        assert_eq!((queued, syslog.dropped()), (4, 96));

        let worker = std::thread::spawn(|| worker.run());
        let mut buf = [0u8; 2048];
        for i in 0..4 {
            let n = receiver.recv(&mut buf).unwrap();
            let line = std::str::from_utf8(&buf[..n]).unwrap();
            assert!(line.starts_with("<165>doublezero-bgpstatus["), "{line}");
            assert!(
                line.ends_with(&format!("%DZBGP-5-USER_BGP_DOWN: user {i}\\nx")),
                "{line}"
            );
        }
        drop(syslog);
        worker.join().unwrap();
    }
}
