//! `run`: the daemon. Everything happens in `crate::daemon`; this file orders what must happen
//! before the daemon's runtime has threads: logging, the daemon block's options (read on this
//! thread alone, since one of them may name the namespace), the management namespace, the key,
//! and giving up the privileges the daemon no longer needs, all of which every thread started
//! afterwards inherits. Signals are answered from the first of these steps on (`crate::signals`).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::config::{Bootstrap, Config, RunArgs};
use crate::signals::{Received, Signals};
use crate::{daemon, eapi, eos_sdk, keypair, logging, netns, privileges};

/// How long to wait for the management namespace at boot.
const NETNS_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub settings: RunArgs,
}

/// A fatal error already written to the log, which goes to stderr: `main` need not print it
/// again.
#[derive(Debug, thiserror::Error)]
#[error("the agent stopped on a fatal error (logged above)")]
pub struct Logged;

/// Runs the daemon on a runtime of its own; returns when it has stopped.
pub fn main(args: Args) -> anyhow::Result<()> {
    // Flags only: where eAPI is and which daemon block is ours come before any option. Nothing
    // is logged yet, so `main` prints an error here.
    let bootstrap = Config::bootstrap(&args.settings)?;
    let level = logging::init(bootstrap.log, bootstrap.verbose);
    start(args, bootstrap, level).map_err(|error| {
        tracing::error!("fatal: {error:#}");
        Logged.into()
    })
}

fn start(args: Args, bootstrap: Bootstrap, level: logging::LevelHandle) -> anyhow::Result<()> {
    let eapi = eapi::Client::new(&bootstrap.eapi_socket).with_timeout(daemon::EAPI_TIMEOUT);
    let shutdown = CancellationToken::new();
    // A runtime on this thread alone until the daemon's starts: the namespace an option names and
    // the capabilities given up apply per thread, and every thread started afterwards inherits
    // them.
    let startup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let mut signals = Signals::install()?;
            let preparing = prepare(&eapi, &args.settings, &bootstrap, &level, &shutdown);
            tokio::pin!(preparing);
            loop {
                tokio::select! {
                    prepared = &mut preparing => {
                        return prepared.map(|prepared| prepared.map(|p| (p, signals)));
                    }
                    received = signals.next() => match received {
                        Received::Reload => tracing::info!(
                            signal = "SIGHUP",
                            "ignored while starting: the daemon's options are being read"
                        ),
                        Received::Stop(name, _) => {
                            tracing::info!(signal = name, "signal received while starting");
                            return Ok(None);
                        }
                    },
                }
            }
        })?;
    let Some((prepared, signals)) = startup else {
        tracing::info!("stopped before starting");
        return Ok(());
    };
    // One thread for the daemon as well: its work is waiting on I/O and short parses, and a
    // multi-thread runtime's wake-ups across threads cost about a seventh of its CPU at rest.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let reload = Arc::new(Notify::new());
        tokio::spawn(signals.serve(shutdown.clone(), reload.clone()));
        daemon::run(args.settings, prepared, eapi, level, shutdown, reload).await
    })
}

/// Everything before the daemon's runtime, in order: the options (which may name the
/// namespace), the namespace, the key, and then giving up what the daemon no longer needs.
/// `Ok(None)` when shut down while waiting for the options.
async fn prepare(
    eapi: &eapi::Client,
    settings: &RunArgs,
    bootstrap: &Bootstrap,
    level: &logging::LevelHandle,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<daemon::Prepared>> {
    let Some(startup) =
        daemon::resolve_startup(eapi, settings, &bootstrap.daemon_name, shutdown).await?
    else {
        return Ok(None);
    };
    level.set_verbose(startup.config.verbose);
    level.set_target(startup.config.log);
    daemon::report_option_issues(&startup.issues);
    // Started before the namespace is entered, so that it dials from the default one, where
    // EosSdkRpc's loopback transport listens.
    let dialer = match (
        &startup.config.eos_sdk_rpc_addr,
        &startup.config.management_namespace,
    ) {
        (Some(eos_sdk::Addr::Tcp(_)), Some(_)) => Some(Arc::new(eos_sdk::Dialer::spawn()?)),
        _ => None,
    };
    let namespace = match &startup.config.management_namespace {
        Some(name) => {
            let entered = netns::enter_waiting(name, NETNS_WAIT).await?;
            tracing::info!(namespace = %name, path = %entered.path.display(), "entered the management namespace");
            Some(entered)
        }
        None => None,
    };
    let keypair = keypair::load(&startup.config.keypair, startup.config.keypair_permissions)?;
    if let Some(notice) = &keypair.notice {
        tracing::warn!("{notice}");
    }
    let keep = privileges::needed(startup.config.metrics_addr.map(|addr| addr.port()));
    match privileges::harden(&keep) {
        Ok(held) => {
            tracing::info!(privileges = %held, "key loaded; kept no privilege the daemon does not need")
        }
        // The key and the writes matter more than this defence in depth: say it and go on.
        Err(error) => {
            tracing::error!(%error, privileges = %privileges::Held::current(), "running with more privileges than needed")
        }
    }
    Ok(Some(daemon::Prepared {
        startup,
        keypair: keypair.keypair,
        namespace,
        dialer,
    }))
}
