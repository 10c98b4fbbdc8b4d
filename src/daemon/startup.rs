//! Startup: the daemon block's options, read before the daemon's runtime exists.
//!
//! Every setting may come from an `option` line, the management namespace and the log target
//! among them, so the options are read first (the eAPI unix socket answers from any network
//! namespace) and only then is the namespace entered and the runtime started. At boot ProcMgr
//! may start the agent before eAPI answers (eos.md §7 trap 12): while the flags alone cannot make
//! a configuration, the agent keeps waiting (saying so once a minute) rather than exiting into
//! ProcMgr's restart throttle; when they can, it waits [`OPTIONS_WAIT`] and then starts from
//! them, and restarts later if the options it could not read change a restart setting.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Restart;

use crate::config::{read_options, Apply, Config, ConfigError, OptionIssue, RunArgs};
use crate::eapi;

/// How long to wait for the options when the flags alone would do.
pub const OPTIONS_WAIT: Duration = Duration::from_secs(20);
/// How often eAPI is asked meanwhile.
const OPTIONS_RETRY: Duration = Duration::from_secs(2);
/// How often a long wait is reported.
const WAIT_REPORT: Duration = Duration::from_secs(60);

/// The configuration the daemon starts with.
#[derive(Debug, Clone)]
pub struct Startup {
    pub config: Config,
    /// Option lines the configuration did not take, to report.
    pub issues: Vec<OptionIssue>,
    /// The options as read; `None` when eAPI did not answer and the daemon starts from flags.
    pub options: Option<BTreeMap<String, String>>,
}

/// Reads the options and resolves the configuration; `Ok(None)` when shut down while waiting.
pub async fn resolve(
    eapi: &eapi::Client,
    args: &RunArgs,
    daemon_name: &str,
    shutdown: &CancellationToken,
) -> Result<Option<Startup>, ConfigError> {
    let started = Instant::now();
    let mut reported: Option<Instant> = None;
    loop {
        let error = match read_options(eapi, daemon_name).await {
            Ok(options) => {
                let (config, issues) = Config::resolve(args, &options)?;
                return Ok(Some(Startup {
                    config,
                    issues,
                    options: Some(options),
                }));
            }
            Err(error) => error,
        };
        let from_flags = Config::resolve(args, &BTreeMap::new());
        if let Ok((config, issues)) = &from_flags {
            if started.elapsed() >= OPTIONS_WAIT {
                tracing::warn!(%error, "cannot read the daemon's EOS options; starting from flags, and restarting if a later read changes a restart setting");
                return Ok(Some(Startup {
                    config: config.clone(),
                    issues: issues.clone(),
                    options: None,
                }));
            }
        }
        if reported.is_none_or(|at| at.elapsed() >= WAIT_REPORT) {
            match &from_flags {
                Ok(_) => {
                    tracing::info!(%error, wait = ?OPTIONS_WAIT, "waiting for eAPI to read the daemon's EOS options")
                }
                Err(missing) => tracing::warn!(
                    %error,
                    "waiting for eAPI to read the daemon's EOS options: the flags alone are not a \
                     configuration ({missing})"
                ),
            }
            reported = Some(Instant::now());
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(OPTIONS_RETRY) => {}
        }
    }
}

/// Logs each option line the configuration did not take: an exec-only setting as an error, an
/// unknown name as a warning.
pub fn report(issues: &[OptionIssue]) {
    for issue in issues {
        if issue.is_error() {
            tracing::error!("{issue}");
        } else {
            tracing::warn!("{issue}");
        }
    }
}

/// Why the daemon must restart after reading options it could not read at startup: a setting
/// that only takes effect at startup differs from what it started with.
pub fn restart_for_late_options(
    options_unread: bool,
    changes: &[(&'static str, Apply)],
) -> Option<Restart> {
    if !options_unread {
        return None;
    }
    let restart: Vec<_> = changes
        .iter()
        .filter(|(_, apply)| *apply == Apply::Restart)
        .map(|(name, _)| *name)
        .collect();
    (!restart.is_empty()).then_some(Restart::LateOptions(restart))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A startup against a socket that never answers, as at boot before CapiApp is up.
    fn silent_eapi_startup(
        args: RunArgs,
    ) -> (
        CancellationToken,
        tokio::task::JoinHandle<Result<Option<Startup>, ConfigError>>,
        tempfile::TempDir,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let eapi = eapi::Client::new(dir.path().join("command-api.sock"));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let shutdown = shutdown.clone();
            async move { resolve(&eapi, &args, "doublezero-bgpstatus", &shutdown).await }
        });
        (shutdown, task, dir)
    }

    #[tokio::test(start_paused = true)]
    async fn with_a_required_setting_only_in_the_options_it_waits_for_eapi_and_never_exits() {
        // The shipped sample gives the RPC URL only as an option line.
        let (shutdown, task, _dir) = silent_eapi_startup(RunArgs::default());
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert!(!task.is_finished(), "still waiting after an hour");
        shutdown.cancel();
        assert!(matches!(task.await.unwrap(), Ok(None)));
    }

    #[tokio::test(start_paused = true)]
    async fn with_flags_that_suffice_it_starts_from_them_after_the_wait() {
        let args = RunArgs::default().with("env", "localnet");
        let (_shutdown, task, _dir) = silent_eapi_startup(args);
        tokio::time::sleep(OPTIONS_WAIT - Duration::from_secs(1)).await;
        assert!(!task.is_finished(), "waits for the options first");
        tokio::time::sleep(Duration::from_secs(5)).await;
        let startup = task.await.unwrap().unwrap().unwrap();
        assert_eq!(startup.options, None);
        assert_eq!(startup.config.rpc_url, "http://localhost:8899");
    }

    #[test]
    fn late_options_restart_only_for_a_changed_restart_setting() {
        let live = [("bgp-status-interval", Apply::Live)];
        let both = [
            ("bgp-status-interval", Apply::Live),
            ("ledger-rpc-url", Apply::Restart),
            ("metrics-enable", Apply::Restart),
        ];
        assert!(restart_for_late_options(true, &live).is_none());
        assert!(
            restart_for_late_options(false, &both).is_none(),
            "read at startup"
        );
        let why = restart_for_late_options(true, &both).unwrap().to_string();
        assert!(why.contains("ledger-rpc-url, metrics-enable"), "{why}");
        assert!(!why.contains("bgp-status-interval"), "{why}");
    }
}
