//! The daemon (`run`): eAPI → peer table → decision → outbox, with the cached device view.
//!
//! One task owns the state table. It polls BGP on its own interval (the first tick at start),
//! applies the outbox's outcomes as they arrive, re-reads the EOS `daemon` options, and publishes
//! a `/status` snapshot after each change. A tick that cannot read the device view or the switch
//! writes nothing; only confirmations change what the table believes is on chain.

mod startup;
pub mod status;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use tokio::sync::{mpsc, Notify};
use tokio::time::{interval, interval_at, Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::bgp::{self, PeerTable};
use crate::config::{read_options, Apply, Config, RunArgs};
use crate::eapi::{self, EapiError};
use crate::logging::{self, Condition, LevelHandle, Say, Severity};
use crate::metrics::{CacheMetrics, DaemonMetrics, OutboxMetrics, ProcessCollector};
use crate::monitor::{decide, Decided, Observation, Session, StateTable, Update, UpdateReason};
use crate::rpc;
use crate::serviceability::{discover_device, BgpStatus, CachedFetcher, RpcSource};
use crate::submit::{Cause, Outbox, OutboxConfig, Outcome, Resolution};
use crate::{listener, netns, switch};

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
        rendered: None,
        watched_until: None,
        listener,
        options,
        resolved: config_at_start,
        namespace: namespace.map(|entered| (entered, netns::Watch::Same)),
        signer_mismatch: Condition::default(),
    };
    match daemon.run(outcomes, shutdown, reload).await {
        Some(restart) => Err(anyhow::anyhow!(restart)),
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
}

impl Daemon {
    /// Runs until shut down; `Some(why)` when it stopped to be restarted.
    async fn run(
        &mut self,
        mut outcomes: mpsc::UnboundedReceiver<Outcome>,
        shutdown: CancellationToken,
        reload: Arc<Notify>,
    ) -> Option<String> {
        // A first rendering, so a `/status` request that finds the daemon busy gets something.
        self.render(Instant::now());
        let mut bgp_tick = ticker(self.config.bgp_interval, Instant::now());
        let mut options_tick = ticker(
            self.config.options_interval,
            Instant::now() + self.config.options_interval,
        );
        let mut restart = None;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(reply) = self.status_requests.requests.recv() => {
                    let now = Instant::now();
                    self.watched_until = Some(now + STATUS_WATCHED);
                    let _ = reply.send(self.render(now));
                }
                Some(outcome) = outcomes.recv() => {
                    // Every outcome already waiting, then one snapshot: a batch's outcomes
                    // arrive together, and /status is O(users) to render.
                    self.apply(outcome);
                    while let Ok(outcome) = outcomes.try_recv() {
                        self.apply(outcome);
                    }
                    self.publish();
                }
                _ = bgp_tick.tick() => {
                    restart = self.watch_namespace();
                    if restart.is_some() {
                        break;
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = self.tick() => {}
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

    async fn tick(&mut self) {
        let now = Instant::now();
        let served = match self.cache.get().await {
            Ok(served) => served,
            Err(error) => {
                self.metrics.view_failures.inc();
                tracing::warn!(%error, "no device view; nothing decided this tick");
                self.status.view = Some(status::ViewStatus {
                    slot: None,
                    age_s: None,
                    stale: true,
                    error: Some(error.to_string()),
                });
                self.publish();
                return;
            }
        };
        let tail_error = served
            .view
            .device
            .tail_error
            .as_ref()
            .map(ToString::to_string);
        if tail_error != self.status.device_tail_error {
            match &tail_error {
                Some(error) => {
                    tracing::warn!(%error, "part of the Device account is in a layout this agent does not know; the fields it needs decode, so writes go on")
                }
                None => tracing::info!("the Device account decodes whole again"),
            }
            self.status.device_tail_error = tail_error;
        }
        if self.status.device_code.as_deref() != Some(served.view.device.code.as_str()) {
            self.metrics
                .identify(&served.view.device_pk.to_string(), &served.view.device.code);
            self.status.device_code = Some(served.view.device.code.clone());
        }
        // The program refuses every write signed by anyone but the device's metrics publisher:
        // sending would only burn fees, one refused user at a time.
        let publisher = served.view.device.metrics_publisher_pk;
        let mismatch = (publisher != self.signer).then(|| {
            format!(
                "the keypair {} is not device {}'s metrics publisher {publisher}; nothing is written \
                 until the keypair or the device changes",
                self.signer, served.view.device_pk
            )
        });
        match self.signer_mismatch.observe(now, mismatch.clone()) {
            Some(Say::Started(error)) => {
                tracing::error!("{error}");
                logging::syslog(Severity::Warning, "SIGNER_MISMATCH", &error);
            }
            Some(Say::Ongoing { what, since }) => {
                tracing::error!(since = ?since, "still: {what}")
            }
            Some(Say::Ended { lasted }) => tracing::info!(
                lasted = ?lasted,
                "the keypair is the device's metrics publisher again"
            ),
            None => {}
        }
        self.status.error = mismatch;
        if self.status.error.is_some() {
            self.publish();
            return;
        }
        self.status.view = Some(status::ViewStatus {
            slot: Some(served.view.slot),
            age_s: Some(served.age.as_secs_f64()),
            stale: served.stale.is_some(),
            error: served.stale.as_ref().map(ToString::to_string),
        });

        let started = Instant::now();
        let switch = self
            .observer
            .observe(&self.eapi, switch::Summaries::Ipv4)
            .await;
        self.metrics
            .observation_duration
            .observe(started.elapsed().as_secs_f64());
        self.status.observation = Some(status::ObservationStatus {
            at: unix_now(),
            ok: switch.is_ok(),
            error: switch.as_ref().err().map(ToString::to_string),
            peers: switch.as_ref().map_or(0, |s| s.peers.len()),
            tunnels: switch.as_ref().map_or(0, |s| s.tunnels.len()),
        });
        let observation = match &switch {
            Ok(state) => Observation::Switch(state),
            Err(error) => {
                self.metrics
                    .observation_failures
                    .with_label_values(&[error_kind(error)])
                    .inc();
                tracing::warn!(%error, "cannot read the switch; nothing is written this tick, the read is retried next tick");
                Observation::Failed
            }
        };

        let transitions_before = self.transitions();
        let Decided {
            mut updates,
            drifts,
        } = decide(
            now,
            &served.view,
            observation,
            &mut self.table,
            &self.config.policy,
        );
        for (user, tunnel_id, drift) in drifts {
            tracing::warn!(%user, tunnel_id, %drift, "tunnel drift");
        }
        self.metrics
            .transitions
            .inc_by(self.transitions().saturating_sub(transitions_before));
        if let Ok(state) = &switch {
            self.fill_rtts(&state.peers, &mut updates).await;
        }
        for update in &updates {
            announce(update);
        }
        if let Some(outbox) = &self.outbox {
            outbox.device_size(served.view.device.data_len);
            if let Err(closed) = outbox.submit(updates) {
                tracing::error!(
                    users = closed.0.len(),
                    "the outbox has stopped; updates not sent"
                );
                for update in closed.0 {
                    self.table.released(&update.user);
                }
            }
        }
        self.publish();
    }

    /// The RTT of every session being written Up, read within half an interval (at most
    /// [`RTT_BUDGET`]); a failure or a read out of time costs only the RTT (written as 0, "no
    /// sample"), never the write, and never the next status read.
    async fn fill_rtts(&self, peers: &PeerTable, updates: &mut [Update]) {
        // The session the decision saw Established, in the VRF it was found in (the tunnel's),
        // so the same address in another VRF never lends its RTT.
        let wanted: Vec<(usize, bgp::PeerKey)> = updates
            .iter()
            .enumerate()
            .filter(|(_, u)| u.wants_rtt)
            .filter_map(|(i, u)| {
                let vrf = self.table.get(&u.user).and_then(|s| s.session_vrf.clone());
                peers
                    .lookup(std::net::IpAddr::V4(u.peer))
                    .find(|p| p.is_established() && vrf.as_ref().is_none_or(|v| p.vrf == *v))
                    .map(|p| (i, p.key()))
            })
            .collect();
        if wanted.is_empty() {
            return;
        }
        let keys: Vec<bgp::PeerKey> = wanted.iter().map(|(_, key)| key.clone()).collect();
        let mut sessions_in: HashMap<bgp::Vrf, usize> = HashMap::new();
        for peer in peers.iter() {
            *sessions_in.entry(peer.vrf.clone()).or_default() += 1;
        }
        let deadline = Instant::now() + (self.config.bgp_interval / 2).min(RTT_BUDGET);
        let rtts = switch::fetch_rtts(&self.eapi, &keys, &sessions_in, deadline).await;
        if rtts.len() < keys.len() {
            tracing::debug!(
                wanted = keys.len(),
                read = rtts.len(),
                "some session RTTs could not be read; those writes carry none"
            );
        }
        for (i, key) in wanted {
            if let Some(rtt) = rtts.get(&key) {
                updates[i].rtt_ns = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
            }
        }
    }

    fn apply(&mut self, outcome: Outcome) {
        let now = Instant::now();
        let user = outcome.user;
        match outcome.result {
            Resolution::Confirmed { signature, slot } => {
                self.table
                    .confirmed(&user, outcome.status, slot, outcome.rtt_ns, now);
                tracing::info!(%user, status = %outcome.status, %signature, slot, "status confirmed on chain");
                self.status.outbox.last_signature = Some(signature.to_string());
            }
            Resolution::Failed { error, cause } => {
                tracing::warn!(%user, status = %outcome.status, %error, cause = cause.as_str(), "status write failed");
                let mnemonic = match cause {
                    Cause::Refused => Some("WRITE_REFUSED"),
                    Cause::Payer => Some("PAYER_SHORT"),
                    Cause::Rpc | Cause::Unknown => None,
                };
                if let Some(mnemonic) = mnemonic {
                    logging::syslog(
                        Severity::Warning,
                        mnemonic,
                        &format!("user {user}: {error}"),
                    );
                }
                self.table
                    .failed(&user, error.clone(), cause, now, &self.config.policy);
                self.status.outbox.last_error = Some(error);
            }
            Resolution::Dropped { why } => {
                tracing::debug!(%user, %why, "status write not sent");
                self.table.released(&user);
            }
        }
    }

    /// Looks at the management namespace (one `stat`); `Some(why)` when EOS replaced it: every
    /// thread of the process is in the old one, so the agent exits for ProcMgr to restart it.
    fn watch_namespace(&mut self) -> Option<String> {
        let (entered, last) = self.namespace.as_mut()?;
        let now = entered.watch();
        if now == *last {
            return None;
        }
        *last = now;
        match now {
            netns::Watch::Same => {
                tracing::info!(namespace = %entered.name, "the management namespace is back");
                None
            }
            netns::Watch::Gone => {
                tracing::warn!(namespace = %entered.name, path = %entered.path.display(), "the management namespace was deleted; the agent keeps running in it until EOS recreates it");
                None
            }
            netns::Watch::Replaced { inode } => Some(format!(
                "EOS recreated the management namespace {} (inode {} is now {inode}); exiting so \
                 that ProcMgr restarts the agent inside the new one",
                entered.name, entered.inode
            )),
        }
    }

    /// Applies changed live options; `Some(why)` when the daemon must restart instead.
    async fn reload_options(
        &mut self,
        bgp_tick: &mut Interval,
        options_tick: &mut Interval,
    ) -> Option<String> {
        let options = match read_options(&self.eapi, &self.config.daemon_name).await {
            Ok(options) => options,
            Err(error) => {
                tracing::debug!(%error, "cannot re-read the daemon's EOS options");
                return None;
            }
        };
        if self.options.as_ref() == Some(&options) {
            return None;
        }
        let options_unread = self.options.replace(options.clone()).is_none();
        let (newer, issues) = match Config::resolve(&self.args, &options) {
            Ok(resolved) => resolved,
            Err(error) => {
                tracing::warn!(%error, "the daemon's EOS options are invalid; keeping the running configuration");
                return None;
            }
        };
        let changes = self.resolved.changes(&newer);
        let restart = startup::restart_for_late_options(options_unread, &changes);
        if restart.is_some() {
            return restart;
        }
        startup::report(&issues);
        self.resolved = newer.clone();
        for (name, apply) in &changes {
            match apply {
                Apply::Live => tracing::info!(option = name, "option changed; applied"),
                Apply::Restart => tracing::warn!(
                    option = name,
                    "option changed; it takes effect after a restart (shutdown, then no shutdown)"
                ),
            }
        }
        let config = &mut self.config;
        if config.bgp_interval != newer.bgp_interval {
            *bgp_tick = ticker(newer.bgp_interval, Instant::now() + newer.bgp_interval);
        }
        if config.options_interval != newer.options_interval {
            *options_tick = ticker(
                newer.options_interval,
                Instant::now() + newer.options_interval,
            );
        }
        self.level.set_verbose(newer.verbose);
        self.level.set_target(newer.log);
        self.cache.set_policy(newer.cache);
        // Only live settings change; restart settings keep the values the daemon started with.
        config.bgp_interval = newer.bgp_interval;
        config.options_interval = newer.options_interval;
        config.policy = newer.policy;
        config.cache = newer.cache;
        config.verbose = newer.verbose;
        config.log = newer.log;
        None
    }

    fn transitions(&self) -> u64 {
        self.table.iter().map(|(_, s)| s.flaps.transitions).sum()
    }

    /// Sets the gauges from the table (one pass, no allocation per user) and renders `/status`
    /// only if someone reads it.
    fn publish(&mut self) {
        let now = Instant::now();
        let mut by_chain = [0i64; 3];
        let mut observed: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        let mut dampened = 0;
        for (_, state) in self.table.iter() {
            by_chain[state.chain_status as usize] += 1;
            let session = match &state.session {
                None => "unknown",
                Some(Session::Established) => "established",
                Some(Session::NotEstablished(_)) => "not_established",
                Some(Session::Absent) => "absent",
            };
            let tunnel = state.tunnel_seen.as_ref().map_or("unknown", |t| t.state());
            *observed.entry((tunnel, session)).or_default() += 1;
            dampened += i64::from(matches!(state.why, crate::monitor::Why::Dampened { .. }));
        }
        for status in [BgpStatus::Unknown, BgpStatus::Up, BgpStatus::Down] {
            self.metrics
                .users_by_chain_status
                .with_label_values(&[status.as_str()])
                .set(by_chain[status as usize]);
        }
        // Every combination is set, zeros included, so a pair that empties drops to 0 rather
        // than keeping its last count.
        for tunnel in ["up", "down", "absent", "unknown"] {
            for session in ["established", "not_established", "absent", "unknown"] {
                self.metrics
                    .users_observed
                    .with_label_values(&[tunnel, session])
                    .set(observed.get(&(tunnel, session)).copied().unwrap_or(0));
            }
        }
        self.metrics.dampened_users.set(dampened);
        let syslog_dropped = logging::syslog_dropped();
        self.metrics
            .syslog_dropped
            .inc_by(syslog_dropped.saturating_sub(self.metrics.syslog_dropped.get()));
        self.metrics
            .drifted_users
            .set(self.table.iter().filter(|(_, s)| s.drift.is_some()).count() as i64);
        self.status.outbox.in_flight = self
            .table
            .iter()
            .filter(|(_, s)| s.in_flight.is_some())
            .count();
        self.rendered = None;
        if self.watched_until.is_some_and(|until| now < until) {
            self.render(now);
        }
    }

    /// The `/status` document, rendered now unless a rendering within [`STATUS_REUSE`] is
    /// still current; kept as the fallback for requests the daemon is too busy to answer.
    fn render(&mut self, now: Instant) -> listener::Snapshot {
        if let Some((at, snapshot)) = &self.rendered {
            if now.duration_since(*at) < STATUS_REUSE {
                return snapshot.clone();
            }
        }
        self.status.at = unix_now();
        self.status.users = status::rows(
            &self.table,
            now,
            self.status.at,
            &self.config.policy.dampening,
        );
        self.status.listener = self
            .listener
            .as_ref()
            .map(|(status, _)| status.lock().expect("listener status").clone());
        let snapshot =
            std::sync::Arc::new(serde_json::to_vec_pretty(&self.status).unwrap_or_default());
        // The rows are the bulk of the document and are rebuilt on every rendering.
        self.status.users = Vec::new();
        self.status_requests.last.send_replace(snapshot.clone());
        self.rendered = Some((now, snapshot.clone()));
        snapshot
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

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn error_kind(error: &EapiError) -> &'static str {
    match error {
        EapiError::SocketMissing { .. } => "socket_missing",
        EapiError::PermissionDenied { .. } => "permission_denied",
        EapiError::Timeout { .. } => "timeout",
        EapiError::Command { .. } => "command",
        EapiError::Model { .. } => "model",
        _ => "protocol",
    }
}

/// Logs what is about to be written; a change also goes to syslog for `show logging`.
fn announce(update: &Update) {
    tracing::info!(
        user = %update.user,
        peer = %update.peer,
        status = %update.status,
        reason = ?update.reason,
        rtt_ns = update.rtt_ns,
        "writing status"
    );
    if update.reason == UpdateReason::Change {
        let mnemonic = match update.status {
            BgpStatus::Up => "USER_BGP_UP",
            _ => "USER_BGP_DOWN",
        };
        logging::syslog(
            Severity::Notice,
            mnemonic,
            &format!(
                "user {} (peer {}) BGP session {}",
                update.user, update.peer, update.status
            ),
        );
    }
}
