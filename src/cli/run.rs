//! `run`: the daemon. Everything happens in `crate::daemon`; this file orders what must happen
//! before the daemon's runtime has threads: logging, the daemon block's options (read on this
//! thread alone, since one of them may name the namespace), then the management namespace, which
//! every thread started afterwards inherits.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{Bootstrap, Config, RunArgs};
use crate::{daemon, eapi, logging, netns};

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
    // A runtime on this thread alone: no thread may exist yet that would stay outside the
    // namespace an option names.
    let startup = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            tokio::spawn(stop_on_signal(shutdown.clone()));
            daemon::resolve_startup(&eapi, &args.settings, &bootstrap.daemon_name, &shutdown).await
        })?;
    let Some(startup) = startup else {
        tracing::info!("stopped before starting");
        return Ok(());
    };
    level.set_verbose(startup.config.verbose);
    level.set_target(startup.config.log);
    daemon::report_option_issues(&startup.issues);
    let namespace = match &startup.config.management_namespace {
        Some(name) => {
            let entered = netns::enter(name, NETNS_WAIT)?;
            tracing::info!(namespace = %name, path = %entered.path.display(), "entered the management namespace");
            Some(entered)
        }
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        tokio::spawn(stop_on_signal(shutdown.clone()));
        daemon::run(args.settings, startup, eapi, level, namespace, shutdown).await
    })
}

/// SIGTERM, SIGINT and SIGQUIT all mean "stop cleanly" (ProcMgr uses more than one of them).
async fn stop_on_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{signal, SignalKind};
    let kinds = [
        SignalKind::terminate(),
        SignalKind::interrupt(),
        SignalKind::quit(),
    ];
    let mut streams: Vec<_> = kinds.into_iter().filter_map(|k| signal(k).ok()).collect();
    any_signal(&mut streams).await;
    tracing::info!("signal received");
    shutdown.cancel();
}

async fn any_signal(streams: &mut [tokio::signal::unix::Signal]) {
    std::future::poll_fn(|cx| {
        for stream in streams.iter_mut() {
            if stream.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}
