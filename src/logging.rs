//! Logging: human-readable lines on stderr always — ProcMgr keeps them under
//! `/var/log/agents` and `show agent NAME logs` shows them, where operators look for every
//! agent's log — and, in addition, structured events to journald where its socket exists
//! (systemd-based EOS runs journald; eos.md §9 item 3). Colour only when stderr is a terminal:
//! under ProcMgr it is a file. The level and the journald copy can change live. Status
//! transitions also go to syslog with facility LOCAL4 in EOS's `%FACILITY-SEVERITY-MNEMONIC:`
//! form so they appear in `show logging`.

use std::io::IsTerminal;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

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

/// Sends one event to the local syslog as `%DZBGP-<sev>-<MNEMONIC>: text`, facility LOCAL4.
/// Best effort: a switch without `/dev/log` loses only this copy (the structured log has it).
pub fn syslog(severity: Severity, mnemonic: &str, text: &str) {
    const LOCAL4: u8 = 20;
    let priority = LOCAL4 * 8 + severity as u8;
    let line = format!(
        "<{priority}>doublezero-bgpstatus[{}]: %DZBGP-{}-{mnemonic}: {text}",
        std::process::id(),
        severity as u8
    );
    if let Ok(socket) = UnixDatagram::unbound() {
        let _ = socket.send_to(line.as_bytes(), "/dev/log");
    }
}
