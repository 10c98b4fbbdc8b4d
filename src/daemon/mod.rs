//! The daemon (`run`): eAPI → peer table → decision → outbox, with the cached device view.
//!
//! One task owns the state table. It polls BGP on its own interval (the first tick at start),
//! or, with the EosSdkRpc stream healthy, decides from its events and polls less often; it
//! applies the outbox's outcomes as they arrive, re-reads the EOS `daemon` options, and publishes
//! a `/status` snapshot after each change. A tick that cannot read the device view or the switch
//! writes nothing; only confirmations change what the table believes is on chain.
//!
//! Here: the assembly (`run`) and the loop. Apart: `tick` (one reading, decision and hand-off,
//! and the outcomes coming back), `stream` (the EosSdkRpc events and the poll's reconciliation),
//! `options` (EOS options re-read, the namespace watched, and the [`Restart`] either may call
//! for), `publish` (gauges and the `/status` rendering), `status` (the `/status` schema),
//! `startup` (what is settled before the loop), `ticker` (the poll's clock, on a timerfd).

mod options;
mod publish;
mod startup;
pub mod status;
mod stream;
mod tick;
mod ticker;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use tokio::sync::{mpsc, Notify};
use tokio::time::{interval, interval_at, Instant, Interval, MissedTickBehavior};

use ticker::Ticker;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, RunArgs};
use crate::eapi;
use crate::logging::{self, Condition, LevelHandle, Severity};
use crate::metrics::{CacheMetrics, DaemonMetrics, OutboxMetrics, ProcessCollector};
use crate::monitor::StateTable;
use crate::rpc;
use crate::serviceability::{discover_device, CachedFetcher, DeviceView, RpcSource};
use crate::submit::{Outbox, OutboxConfig, Outcome};
use crate::{eos_sdk, listener, netns, switch};

pub use startup::{report as report_option_issues, resolve as resolve_startup, Startup};
pub use status::{Status, UserRow};

/// After a `/status` request, how long the last rendering is kept fresh after each tick, for
/// a request that comes while the daemon is busy.
const STATUS_WATCHED: Duration = Duration::from_secs(60);
/// Requests within this much of a rendering share it.
const STATUS_REUSE: Duration = Duration::from_secs(1);

/// How long shutdown waits for in-flight confirmations.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// The most a tick spends reading RTTs before its writes go without the rest.
const RTT_BUDGET: Duration = Duration::from_secs(3);
/// eAPI calls must end well within a tick.
pub const EAPI_TIMEOUT: Duration = Duration::from_secs(10);

/// What the daemon starts from, prepared on the startup thread (`cli::run`): the resolved
/// configuration, the key, and the management namespace entered. No `Debug`: the configuration
/// holds the RPC URL, whose path may carry an API key.
pub struct Prepared {
    pub startup: Startup,
    pub keypair: Keypair,
    pub namespace: Option<netns::Entered>,
    /// Dials EosSdkRpc's TCP transport from the namespace the process started in.
    pub dialer: Option<Arc<eos_sdk::Dialer>>,
}

/// Runs the daemon until `shutdown` is cancelled; `reload` asks for the EOS options to be read
/// again at once (SIGHUP). An error is fatal and returned with its reason.
pub async fn run(
    args: RunArgs,
    prepared: Prepared,
    eapi: eapi::Client,
    level: LevelHandle,
    shutdown: CancellationToken,
    reload: Arc<Notify>,
) -> anyhow::Result<()> {
    let Prepared {
        startup: Startup {
            config, options, ..
        },
        keypair: payer,
        namespace,
        dialer,
    } = prepared;
    let config_at_start = config.clone();
    let signer = payer.pubkey();
    let rpc = rpc::Client::new(rpc::ClientConfig {
        allow_insecure_http: config.allow_insecure_http,
        resolver: rpc::ResolverFiles::for_namespace(config.management_namespace.as_deref()),
        ca_file: config.rpc_ca_file.clone(),
        ..rpc::ClientConfig::new(config.rpc_url.clone())
    })?;
    let Some(device_pk) = device(&config, &rpc, &signer, &shutdown).await else {
        return Ok(());
    };

    let registry = prometheus::Registry::new();
    let cache_metrics = CacheMetrics::register(&registry)?;
    let outbox_metrics = OutboxMetrics::register(&registry)?;
    let metrics = DaemonMetrics::register(&registry)?;
    ProcessCollector::register(&registry)?;
    metrics.identify(&device_pk.to_string(), "");
    metrics
        .fee_floor
        .set(i64::try_from(config.submit.fee_floor_lamports).unwrap_or(i64::MAX));
    let (status_source, status_requests) = listener::status_channel();
    let listener = config
        .metrics_addr
        .map(|addr| listener::spawn(addr, registry.clone(), status_source, shutdown.clone()));

    let cache = CachedFetcher::new(
        RpcSource {
            client: rpc.clone(),
            program_id: config.program_id,
            device_pk,
            commitment: config.commitment,
            metrics: cache_metrics.clone(),
        },
        config.cache,
        cache_metrics,
    );
    let outbox_config = OutboxConfig {
        batch_size: config.submit.batch_size,
        max_inflight: config.submit.max_inflight,
        slot_time: config.policy.slot_duration,
        commitment: config.commitment,
        cu_price: config.submit.compute_unit_price,
        fee_floor_lamports: config.submit.fee_floor_lamports,
        ..OutboxConfig::new(config.program_id, device_pk)
    };
    let (outbox, outcomes) = Outbox::start(rpc, payer, outbox_config, outbox_metrics)?;
    let (stream_events, stream_inbox) = mpsc::unbounded_channel();
    let stream = config.eos_sdk_rpc_addr.clone().map(|addr| {
        let connector = eos_sdk::Connector {
            addr: addr.clone(),
            dialer,
            timeout: eos_sdk::client::TIMEOUT,
        };
        (
            stream::Stream::new(addr.to_string()),
            eos_sdk::stream::spawn(
                connector,
                config.stream_silence,
                stream_events,
                shutdown.clone(),
            ),
        )
    });
    let (stream, stream_task) = stream.unzip();
    tracing::info!(device = %device_pk, %signer, program = %config.program_id, "agent started");
    logging::syslog(
        Severity::Info,
        "AGENT_STARTED",
        &format!("monitoring device {device_pk} as {signer}"),
    );

    let mut daemon = Daemon {
        signer,
        args,
        config,
        level,
        eapi,
        cache,
        outbox: Some(outbox),
        table: StateTable::default(),
        metrics,
        status: Status {
            version: env!("CARGO_PKG_VERSION").into(),
            device: Some(device_pk.to_string()),
            signer: signer.to_string(),
            ..Status::default()
        },
        status_requests,
        observer: switch::Observer::default(),
        view_seen: None,
        quiet: None,
        rendered: None,
        watched_until: None,
        listener,
        options,
        resolved: config_at_start,
        namespace: namespace.map(|entered| (entered, netns::Watch::Same)),
        signer_mismatch: Condition::default(),
        switch: None,
        last_poll: None,
        stream,
        decide_at: None,
        poll_now: true,
    };
    let stopped = daemon.run(outcomes, stream_inbox, shutdown, reload).await;
    if let Some(task) = stream_task {
        let _ = task.await;
    }
    match stopped {
        Some(restart) => Err(restart.into()),
        None => Ok(()),
    }
}

/// The configured device, or the one whose metrics publisher is the signer. Discovery is
/// retried while the RPC is unreachable, so a switch that boots before its management network
/// is up does not crash-loop; `None` when shut down meanwhile.
async fn device(
    config: &Config,
    rpc: &rpc::Client,
    signer: &Pubkey,
    shutdown: &CancellationToken,
) -> Option<Pubkey> {
    if let Some(device) = config.device {
        return Some(device);
    }
    loop {
        match discover_device(rpc, &config.program_id, signer, config.commitment).await {
            Ok((pubkey, device)) => {
                tracing::info!(device = %pubkey, code = %device.code, "found this switch's device from the signer");
                return Some(pubkey);
            }
            Err(error) => {
                tracing::error!(%error, "cannot find this switch's device; retrying in 10s")
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
    }
}

/// Why the daemon stopped so that ProcMgr restarts it: something it set up at start changed
/// under it.
#[derive(Debug, thiserror::Error)]
pub enum Restart {
    /// Every thread of the process is in the old namespace.
    #[error(
        "EOS recreated the management namespace {name} (inode {was} is now {now}); exiting so \
         that ProcMgr restarts the agent inside the new one"
    )]
    NamespaceReplaced { name: String, was: u64, now: u64 },
    /// Options read for the first time after startup change settings applied only at startup.
    #[error(
        "started without the daemon's EOS options (eAPI did not answer); exiting so that \
         ProcMgr restarts it with option(s) {}",
        .0.join(", ")
    )]
    LateOptions(Vec<&'static str>),
}

struct Daemon {
    signer: Pubkey,
    args: RunArgs,
    config: Config,
    level: LevelHandle,
    eapi: eapi::Client,
    cache: CachedFetcher<RpcSource>,
    /// Taken at shutdown.
    outbox: Option<Outbox>,
    table: StateTable,
    metrics: DaemonMetrics,
    status: Status,
    status_requests: listener::StatusRequests,
    observer: switch::Observer,
    /// The device view the observer was last told about (see [`switch::Observer::expect`]).
    view_seen: Option<Arc<DeviceView>>,
    /// Set by a pass that wrote nothing; cleared by anything that could change a decision.
    quiet: Option<tick::Quiet>,
    /// The last `/status` rendering and when: requests within a second share it.
    rendered: Option<(Instant, listener::Snapshot)>,
    /// Someone asked for `/status` lately: keep the fallback rendering fresh after each tick.
    watched_until: Option<Instant>,
    /// The listener's own state, for `/status`, and its task, joined at shutdown.
    listener: Option<(listener::SharedStatus, tokio::task::JoinHandle<()>)>,
    /// The options last read (`None`: none yet, the daemon started from flags) and the
    /// configuration they resolved to, so a re-read reports only what changed since.
    options: Option<BTreeMap<String, String>>,
    resolved: Config,
    /// The management namespace entered at start, and what it was last seen as.
    namespace: Option<(netns::Entered, netns::Watch)>,
    /// Why nothing is written while the keypair is not the device's metrics publisher.
    signer_mismatch: Condition<String>,
    /// The last good reading of the switch, amended by stream events; `None` after a failed
    /// reading, so that nothing is decided from an old one.
    switch: Option<switch::SwitchState>,
    /// When the last poll began.
    last_poll: Option<Instant>,
    /// The EosSdkRpc stream, when configured.
    stream: Option<stream::Stream>,
    /// A decision the stream (or an outcome) asked for, due at this time.
    decide_at: Option<Instant>,
    /// The next tick reads the switch whatever the stream says (it was lost, or a peer
    /// appeared whose tunnel the last reading lacks).
    poll_now: bool,
}

impl Daemon {
    /// Runs until shut down; `Some(why)` when it stopped to be restarted.
    async fn run(
        &mut self,
        mut outcomes: mpsc::UnboundedReceiver<Outcome>,
        mut stream_inbox: mpsc::UnboundedReceiver<eos_sdk::StreamEvent>,
        shutdown: CancellationToken,
        reload: Arc<Notify>,
    ) -> Option<Restart> {
        // A first rendering, so a `/status` request that finds the daemon busy gets something.
        self.render(Instant::now());
        let mut bgp_tick = Ticker::new(self.config.bgp_interval, Instant::now());
        let mut options_tick = ticker(
            self.config.options_interval,
            Instant::now() + self.config.options_interval,
        );
        let mut restart = None;
        loop {
            // A reader who waited through the last turn is answered before another starts: a
            // tick takes seconds while the RPC fails, which is when `/status` is read, and a
            // random pick among ready branches could start tick after tick first.
            while let Ok(reply) = self.status_requests.requests.try_recv() {
                self.answer_status(reply);
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(reply) = self.status_requests.requests.recv() => self.answer_status(reply),
                Some(outcome) = outcomes.recv() => {
                    // Every outcome already waiting, then one snapshot: a batch's outcomes
                    // arrive together, and /status is O(users) to render.
                    self.apply(outcome);
                    while let Ok(outcome) = outcomes.try_recv() {
                        self.apply(outcome);
                    }
                    self.publish();
                }
                Some(event) = stream_inbox.recv() => {
                    self.on_stream(event);
                    while let Ok(event) = stream_inbox.try_recv() {
                        self.on_stream(event);
                    }
                    if self.poll_now {
                        bgp_tick.reset_immediately();
                    }
                }
                _ = sleep_until_some(self.decide_at) => {
                    self.decide_at = None;
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = self.stream_decision() => {}
                    }
                }
                _ = bgp_tick.tick() => {
                    self.decide_at = None;
                    restart = self.watch_namespace();
                    if restart.is_some() {
                        break;
                    }
                    // While the stream is healthy most ticks only decide (grace, backoff, minimum
                    // interval and dampening end on time); the switch is read every stream
                    // interval, or at once when the stream asked for it.
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = async {
                            if self.poll_due(Instant::now()) {
                                self.tick().await
                            } else {
                                self.stream_decision().await
                            }
                        } => {}
                    }
                }
                // SIGHUP reads them at once; the next periodic read keeps its time.
                _ = async {
                    tokio::select! {
                        _ = options_tick.tick() => {}
                        () = reload.notified() => {}
                    }
                } => {
                    restart = self.reload_options(&mut bgp_tick, &mut options_tick).await;
                    if restart.is_some() {
                        break;
                    }
                }
            }
        }
        // Stopping for a restart cancels what the signal would have: the listener among it.
        shutdown.cancel();
        tracing::info!("stopping: no new writes, awaiting in-flight confirmations");
        if let Some(outbox) = self.outbox.take() {
            outbox.shutdown(SHUTDOWN_GRACE).await;
        }
        while let Some(outcome) = outcomes.recv().await {
            self.apply(outcome);
        }
        self.publish();
        if let Some((_, task)) = self.listener.take() {
            let _ = task.await;
        }
        tracing::info!("stopped");
        restart
    }

    fn answer_status(&mut self, reply: tokio::sync::oneshot::Sender<listener::Snapshot>) {
        let now = Instant::now();
        self.watched_until = Some(now + STATUS_WATCHED);
        let _ = reply.send(self.render(now));
    }
}

fn ticker(period: Duration, start: Instant) -> Interval {
    let mut tick = if start <= Instant::now() {
        interval(period)
    } else {
        interval_at(start, period)
    };
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tick
}

/// Waits until `at`; never, when there is nothing to wait for.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
