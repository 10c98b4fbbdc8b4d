//! How the daemon answers signals, from its first moments to its last.
//!
//! SIGTERM, SIGINT and SIGQUIT mean "stop cleanly" (ProcMgr uses more than one of them); a second
//! one while stopping means "now": the process exits at once, as an operator pressing Ctrl-C twice
//! expects. SIGHUP never kills the agent: while it runs, the daemon re-reads its EOS options at
//! once; while it starts, the options are being read anyway, so it is logged and ignored.
//!
//! The handlers are installed once, on the startup runtime, and the same [`Signals`] moves to the
//! daemon's runtime: a signal that arrives in between (entering the namespace, loading the key)
//! is kept by the handler and seen there, never lost or left to its default action.

use std::sync::Arc;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// A signal the agent answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// SIGTERM, SIGINT or SIGQUIT: its name and number.
    Stop(&'static str, i32),
    /// SIGHUP.
    Reload,
}

/// The installed handlers.
#[derive(Debug)]
pub struct Signals {
    stop: Vec<(&'static str, i32, Signal)>,
    hangup: Signal,
}

impl Signals {
    /// Installs the handlers; from here on none of these signals has its default action. Needs
    /// a runtime with I/O enabled.
    pub fn install() -> std::io::Result<Signals> {
        let mut stop = Vec::new();
        for (name, number, kind) in [
            ("SIGTERM", 15, SignalKind::terminate()),
            ("SIGINT", 2, SignalKind::interrupt()),
            ("SIGQUIT", 3, SignalKind::quit()),
        ] {
            stop.push((name, number, signal(kind)?));
        }
        Ok(Signals {
            stop,
            hangup: signal(SignalKind::hangup())?,
        })
    }

    /// The next signal.
    pub async fn next(&mut self) -> Received {
        std::future::poll_fn(|cx| {
            for (name, number, stream) in &mut self.stop {
                if stream.poll_recv(cx).is_ready() {
                    return std::task::Poll::Ready(Received::Stop(name, *number));
                }
            }
            if self.hangup.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(Received::Reload);
            }
            std::task::Poll::Pending
        })
        .await
    }

    /// The daemon's side, until the process ends: the first stop signal cancels `shutdown`, the
    /// next one exits at once; SIGHUP wakes `reload`.
    pub async fn serve(mut self, shutdown: CancellationToken, reload: Arc<Notify>) {
        loop {
            match self.next().await {
                Received::Reload => {
                    tracing::info!(signal = "SIGHUP", "re-reading the daemon's EOS options now");
                    reload.notify_one();
                }
                Received::Stop(name, number) if shutdown.is_cancelled() => {
                    tracing::warn!(
                        signal = name,
                        "second stop signal: exiting at once, without waiting for in-flight writes"
                    );
                    std::process::exit(128 + number);
                }
                Received::Stop(name, _) => {
                    tracing::info!(signal = name, "signal received; stopping");
                    shutdown.cancel();
                }
            }
        }
    }
}
