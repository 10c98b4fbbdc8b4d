//! `run`: the daemon. Everything happens in `crate::daemon`; this file only enters the
//! management namespace and starts logging, which must happen before the runtime's threads exist.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::{Config, RunArgs};
use crate::{daemon, logging, netns};

/// How long to wait for the management namespace at boot.
const NETNS_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub settings: RunArgs,
}

/// Runs the daemon on a runtime of its own; returns when it has stopped.
pub fn main(args: Args) -> anyhow::Result<()> {
    // Flags only: the namespace and the log target are restart settings, known before eAPI;
    // everything else may still come from the daemon block's options.
    let config = Config::bootstrap(&args.settings)?;
    let level = logging::init(config.log, config.verbose);
    if let Some(name) = &config.management_namespace {
        netns::enter(name, NETNS_WAIT)?;
        tracing::info!(namespace = %name, "entered the management namespace");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let result = runtime.block_on(async {
        let shutdown = CancellationToken::new();
        tokio::spawn(stop_on_signal(shutdown.clone()));
        daemon::run(args.settings, level, shutdown).await
    });
    if let Err(error) = &result {
        tracing::error!("fatal: {error:#}");
    }
    result
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
