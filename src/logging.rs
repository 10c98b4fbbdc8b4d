//! Logging: structured `tracing` events to journald when its socket exists, otherwise to stderr
//! (which ProcMgr keeps under `/var/log/agents`, shown by `show agent NAME logs`), with a level
//! that can change live. Status transitions are also sent to syslog with facility LOCAL4 in
//! EOS's `%FACILITY-SEVERITY-MNEMONIC:` form so they appear in `show logging`.

use std::os::unix::net::UnixDatagram;
use std::path::Path;

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::reload;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::LogTarget;

const JOURNALD_SOCKET: &str = "/run/systemd/journal/socket";

/// Changes the log level of the running process.
#[derive(Clone)]
pub struct LevelHandle(Option<reload::Handle<LevelFilter, tracing_subscriber::Registry>>);

impl LevelHandle {
    pub fn set_verbose(&self, verbose: bool) {
        if let Some(handle) = &self.0 {
            let _ = handle.reload(level(verbose));
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

/// Installs the process-wide subscriber. Called once, from `main`.
pub fn init(target: LogTarget, verbose: bool) -> LevelHandle {
    let (filter, handle) = reload::Layer::new(level(verbose));
    let journald = match target {
        LogTarget::Stderr => None,
        LogTarget::Journald => tracing_journald::layer().ok(),
        LogTarget::Auto if Path::new(JOURNALD_SOCKET).exists() => tracing_journald::layer().ok(),
        LogTarget::Auto => None,
    };
    let output = match journald {
        Some(journald) => journald.boxed(),
        None => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_target(false)
            .boxed(),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .try_init()
        .is_ok();
    LevelHandle(installed.then_some(handle))
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
