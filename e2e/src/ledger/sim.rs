//! The running simulator: the chain, its slot clock, the HTTP server and injected faults.
//!
//! [`LedgerSim::start`] deploys the program (the real serviceability program unless the
//! [`Config`] names another build), binds the listener (port 0 picks a free one), starts a task
//! that advances one slot per `slot_time` unless paused, and serves JSON-RPC on `/` (each call
//! delayed by `latency`, as across the internet) and the scenario API on `/control`. Tests
//! drive the same state directly through the handle's methods. Dropping the handle or calling
//! [`LedgerSim::shutdown`] stops both tasks; requests held by a `Hang` fault are released then.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use doublezero_bgpstatus::serviceability::{BgpStatus, NetworkV4, UserStatus};
use solana_account::Account;
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::account::{DeviceAccount, UserAccount, UserLayout};
use base64::Engine as _;

use super::chain::{Chain, DeployError, Received};
use super::program::ProgramElf;

/// The mainnet serviceability program id, the one the golden vectors use.
pub const SERVICEABILITY_PROGRAM_ID: Pubkey =
    Pubkey::from_str_const("ser2VaTMAcYTaauMrTSfSrxBaUDq7BLNs2xfUugTAGv");

/// How to run the simulator.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen; port 0 picks a free port (see [`LedgerSim::addr`]).
    pub listen: SocketAddr,
    pub program_id: Pubkey,
    /// The program deployed at `program_id`; the real serviceability program by default.
    pub program: ProgramElf,
    pub slot_time: Duration,
    /// Slots after which a landed transaction is finalized (a cluster's is about 32).
    pub finality_depth: u64,
    /// Where to append every transaction received, one JSON line each (see [`LedgerSim::start`]).
    pub tx_log: Option<PathBuf>,
    /// Added to every JSON-RPC round trip: half before the node reads the request, half before
    /// the reply leaves, as a switch's RPC across the internet sees it.
    pub latency: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            program_id: SERVICEABILITY_PROGRAM_ID,
            program: ProgramElf::serviceability(),
            slot_time: Duration::from_millis(400),
            finality_depth: 32,
            tx_log: None,
            latency: Duration::ZERO,
        }
    }
}

/// Why the simulator did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Program(#[from] DeployError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot open the transaction log {path}: {source}")]
    TxLog {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A misbehaviour of the RPC endpoint, applied to the next requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// HTTP 503 with no body.
    Unavailable,
    /// Never answer (until shutdown).
    Hang,
    /// JSON-RPC -32005 "Node is unhealthy".
    Unhealthy,
    /// `sendTransaction` answers with the signature but the transaction never lands.
    DropTransactions,
    /// HTTP 429 with `Retry-After: 1`, as a public RPC provider's rate limiter answers.
    RateLimited,
    /// HTTP 200 with an HTML body, as a proxy in front of a dead node answers.
    Garbage,
}

/// A device to create. The key is generated unless given.
#[derive(Debug, Clone)]
pub struct NewDevice {
    pub key: Option<Pubkey>,
    pub code: String,
    pub metrics_publisher: Pubkey,
    pub public_ip: Ipv4Addr,
    /// How many interfaces it has; the program's cost per user grows with them.
    pub interfaces: u16,
}

impl NewDevice {
    /// An activated device at 45.1.2.3 with one interface, like golden vector (b).
    pub fn new(code: impl Into<String>, metrics_publisher: Pubkey) -> NewDevice {
        NewDevice {
            key: None,
            code: code.into(),
            metrics_publisher,
            public_ip: Ipv4Addr::new(45, 1, 2, 3),
            interfaces: 1,
        }
    }
}

/// A user to create. Fields not listed take the values of golden vector (a2).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub key: Option<Pubkey>,
    pub device: Pubkey,
    pub tunnel_net: NetworkV4,
    pub tunnel_id: u16,
    /// The program refuses a user whose `client_ip` (Custom 26) or `dz_ip` (Custom 27) is not
    /// globally routable.
    pub client_ip: Ipv4Addr,
    pub dz_ip: Ipv4Addr,
    pub status: UserStatus,
    pub bgp_status: BgpStatus,
    pub layout: UserLayout,
}

impl NewUser {
    /// An activated unicast user of `device` on `tunnel_net`/31 with tunnel `tunnel_id`, at the
    /// public address 1.2.3.4 (client and DoubleZero side alike).
    pub fn activated(device: Pubkey, tunnel_net: Ipv4Addr, tunnel_id: u16) -> NewUser {
        NewUser {
            key: None,
            device,
            tunnel_net: NetworkV4 {
                addr: tunnel_net,
                prefix: 31,
            },
            tunnel_id,
            client_ip: Ipv4Addr::new(1, 2, 3, 4),
            dz_ip: Ipv4Addr::new(1, 2, 3, 4),
            status: UserStatus::Activated,
            bgp_status: BgpStatus::Unknown,
            layout: UserLayout::Head,
        }
    }
}

/// State shared by the server, the slot clock and the handle.
pub(crate) struct Shared {
    chain: Mutex<Chain>,
    fault: Mutex<Option<(Fault, Option<u32>)>>,
    paused: AtomicBool,
    next_index: AtomicU64,
    shutdown: watch::Receiver<bool>,
    tx_log: Option<Mutex<std::fs::File>>,
    pub(crate) latency: Duration,
    /// JSON-RPC calls answered, by method, as a provider's dashboard counts them.
    calls: Mutex<std::collections::HashMap<String, usize>>,
}

impl Shared {
    pub(crate) fn chain(&self) -> MutexGuard<'_, Chain> {
        self.chain.lock().expect("chain lock poisoned")
    }

    pub(crate) fn count_call(&self, method: &str) {
        let mut calls = self.calls.lock().expect("calls lock poisoned");
        *calls.entry(method.to_owned()).or_default() += 1;
    }

    /// The fault for this HTTP request, counting it down. Dropped sends are counted per
    /// transaction instead ([`Shared::take_drop`]).
    pub(crate) fn take_fault(&self) -> Option<Fault> {
        let mut slot = self.fault.lock().expect("fault lock poisoned");
        match *slot {
            Some((Fault::DropTransactions, _)) | None => None,
            Some((fault, remaining)) => {
                Self::count_down(&mut slot, remaining);
                Some(fault)
            }
        }
    }

    /// Whether to drop this `sendTransaction`, counting it down.
    pub(crate) fn take_drop(&self) -> bool {
        let mut slot = self.fault.lock().expect("fault lock poisoned");
        match *slot {
            Some((Fault::DropTransactions, remaining)) => {
                Self::count_down(&mut slot, remaining);
                true
            }
            _ => false,
        }
    }

    fn count_down(slot: &mut Option<(Fault, Option<u32>)>, remaining: Option<u32>) {
        match remaining {
            Some(n) if n <= 1 => *slot = None,
            Some(n) => slot.as_mut().expect("a fault is set").1 = Some(n - 1),
            None => {}
        }
    }

    /// Appends `received` to the transaction log, if there is one. A failed write is reported
    /// and does not fail the send: the log is an observer, not part of the node.
    pub(crate) fn log_transaction(&self, received: &Received) {
        use std::io::Write as _;
        let Some(log) = &self.tx_log else { return };
        let line = serde_json::json!({
            "signature": received.signature.to_string(),
            "slot": received.slot,
            "outcome": received.outcome,
            "requested_unit_limit": received.requested_unit_limit,
            "units_consumed": received.units_consumed,
            "transaction": base64::engine::general_purpose::STANDARD.encode(&received.wire),
        });
        let mut file = log.lock().expect("tx log lock poisoned");
        if let Err(e) = writeln!(file, "{line}") {
            eprintln!("ledger-sim: cannot append to the transaction log: {e}");
        }
    }

    pub(crate) async fn until_shutdown(&self) {
        let mut rx = self.shutdown.clone();
        // An error means the sender is gone, which is a shutdown too.
        let _ = rx.wait_for(|stop| *stop).await;
    }

    fn advance(&self, n: u64) {
        let mut chain = self.chain();
        for _ in 0..n {
            chain.advance();
        }
    }

    pub(crate) fn set_fault(&self, fault: Fault, count: Option<u32>) {
        *self.fault.lock().expect("fault lock poisoned") = match count {
            Some(0) => None,
            _ => Some((fault, count)),
        };
    }

    pub(crate) fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }

    pub(crate) fn create_device(&self, device: &NewDevice) -> Pubkey {
        let key = device.key.unwrap_or_else(|| Keypair::new().pubkey());
        let account = DeviceAccount::new(
            u128::from(self.next_index.fetch_add(1, Ordering::Relaxed)),
            device.code.clone(),
            device.public_ip,
            device.metrics_publisher,
            usize::from(device.interfaces),
        );
        self.chain().put_program_account(key, account.encode());
        key
    }

    pub(crate) fn create_user(&self, user: &NewUser) -> Pubkey {
        let key = user.key.unwrap_or_else(|| Keypair::new().pubkey());
        let account = UserAccount {
            index: u128::from(self.next_index.fetch_add(1, Ordering::Relaxed)),
            client_ip: user.client_ip,
            dz_ip: user.dz_ip,
            tunnel_id: user.tunnel_id,
            tunnel_net: (user.tunnel_net.addr, user.tunnel_net.prefix),
            status: user.status.to_byte(),
            bgp_status: user.bgp_status as u8,
            ..UserAccount::activated(user.device, 0)
        };
        self.chain()
            .put_program_account(key, account.encode_as(user.layout));
        key
    }
}

/// A running ledger simulator. Dropping it stops the server and the slot clock.
pub struct LedgerSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
    clock: Option<JoinHandle<()>>,
}

impl LedgerSim {
    /// Builds the chain, binds the listener and starts serving and ticking.
    pub async fn start(config: Config) -> Result<LedgerSim, StartError> {
        let chain = Chain::new(config.program_id, &config.program, config.finality_depth)?;
        let tx_log = match &config.tx_log {
            None => None,
            Some(path) => Some(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|source| StartError::TxLog {
                        path: path.clone(),
                        source,
                    })?,
            )),
        };
        let (stop, shutdown) = watch::channel(false);
        let shared = Arc::new(Shared {
            chain: Mutex::new(chain),
            fault: Mutex::new(None),
            paused: AtomicBool::new(false),
            next_index: AtomicU64::new(1),
            shutdown,
            tx_log,
            latency: config.latency,
            calls: Mutex::default(),
        });
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| StartError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Listen {
            addr: config.listen,
            source,
        })?;
        let router = axum::Router::new()
            .route("/", axum::routing::post(super::rpc::handle))
            .nest("/control", super::control::router())
            .with_state(shared.clone());
        let server = tokio::spawn({
            let shared = shared.clone();
            async move {
                let stopped = async move { shared.until_shutdown().await };
                if let Err(e) = axum::serve(listener, router)
                    .with_graceful_shutdown(stopped)
                    .await
                {
                    eprintln!("ledger-sim: server stopped: {e}");
                }
            }
        });
        let clock = tokio::spawn(run_clock(shared.clone(), config.slot_time));
        Ok(LedgerSim {
            shared,
            addr,
            stop,
            server: Some(server),
            clock: Some(clock),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The JSON-RPC URL, e.g. `http://127.0.0.1:8899`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn program_id(&self) -> Pubkey {
        self.shared.chain().program_id()
    }

    pub fn slot(&self) -> u64 {
        self.shared.chain().slot()
    }

    pub fn create_device(&self, device: &NewDevice) -> Pubkey {
        self.shared.create_device(device)
    }

    pub fn create_user(&self, user: &NewUser) -> Pubkey {
        self.shared.create_user(user)
    }

    /// Stores raw bytes as a program-owned, rent-exempt account (e.g. a golden vector).
    pub fn put_program_account(&self, key: Pubkey, data: Vec<u8>) {
        self.shared.chain().put_program_account(key, data);
    }

    /// Stores an account exactly as given (any owner); `lamports` defaults to the rent-exempt
    /// minimum for its data.
    pub fn put_account(&self, key: Pubkey, owner: Pubkey, lamports: Option<u64>, data: Vec<u8>) {
        self.shared.chain().put_account(key, owner, lamports, data);
    }

    pub fn airdrop(&self, key: &Pubkey, lamports: u64) {
        self.shared.chain().airdrop(key, lamports);
    }

    pub fn account(&self, key: &Pubkey) -> Option<Account> {
        self.shared.chain().account(key)
    }

    pub fn balance(&self, key: &Pubkey) -> u64 {
        self.account(key).map_or(0, |a| a.lamports)
    }

    /// The rent-exempt minimum for `len` bytes of data.
    pub fn minimum_balance(&self, len: usize) -> u64 {
        self.shared.chain().minimum_balance(len)
    }

    /// The user at `key`, read with the simulator's own decoder (the program's rule, not the
    /// agent's) so that checks of what the agent wrote cannot share its decoding bugs; `None`
    /// if absent or not a User.
    pub fn user(&self, key: &Pubkey) -> Option<UserAccount> {
        UserAccount::decode(&self.account(key)?.data)
    }

    /// How many `method` calls were answered so far (each call of a batch counts).
    pub fn calls(&self, method: &str) -> usize {
        let calls = self.shared.calls.lock().expect("calls lock poisoned");
        calls.get(method).copied().unwrap_or(0)
    }

    /// Every transaction received so far, rebroadcasts included, in arrival order.
    pub fn transactions(&self) -> Vec<super::chain::Received> {
        self.shared.chain().received().to_vec()
    }

    /// Applies `fault` to the next `count` requests (`None`: until cleared).
    pub fn set_fault(&self, fault: Fault, count: Option<u32>) {
        self.shared.set_fault(fault, count);
    }

    pub fn clear_fault(&self) {
        self.shared.set_fault(Fault::Unavailable, Some(0));
    }

    /// Stops or restarts the slot clock; [`LedgerSim::advance_slots`] still works when paused.
    pub fn pause_slots(&self, paused: bool) {
        self.shared.pause(paused);
    }

    pub fn advance_slots(&self, n: u64) {
        self.shared.advance(n);
    }

    /// Stops serving and ticking, and waits for both to finish.
    pub async fn shutdown(mut self) {
        self.stop.send_replace(true);
        for task in [self.server.take(), self.clock.take()]
            .into_iter()
            .flatten()
        {
            let _ = task.await;
        }
    }
}

impl Drop for LedgerSim {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

async fn run_clock(shared: Arc<Shared>, slot_time: Duration) {
    let mut ticks = tokio::time::interval(slot_time);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {
                if !shared.paused.load(Ordering::Relaxed) {
                    shared.advance(1);
                }
            }
            _ = shared.until_shutdown() => return,
        }
    }
}
