//! A devnet on this machine: a ledger simulator with one device and its users, an eAPI simulator
//! with their tunnels, and the shipped agent binary run against both as a process.
//!
//! Scenarios, the demo and the mass-event benchmark share it. The agent is configured only
//! through its documented flags; nothing here reaches inside it.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context};
use doublezero_bgpstatus::serviceability::{BgpStatus, UserStatus};
use serde_json::Value;
use solana_pubkey::Pubkey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};

use crate::eapi_sim::{self, EapiSim, SimConfig};
use crate::ledger::{self, seed, LedgerSim, UserAccount};

/// The VRF the simulated users live in, as DoubleZero provisions unicast users.
pub const USER_VRF: &str = "vrf1";

/// The summary the agent's switch reading carries every tick (eos.md §2.1): the IPv4 one lists
/// every session a user can have.
const IPV4_SUMMARY: &str = "show ip bgp summary vrf all";

/// One simulated user: its account and its side of the tunnel.
#[derive(Debug, Clone)]
pub struct DevnetUser {
    pub pubkey: Pubkey,
    /// The user's BGP neighbor address (odd side of the /31).
    pub peer: Ipv4Addr,
    /// The device side of the /31.
    pub device_addr: Ipv4Addr,
    /// `Tunnel<id>`.
    pub tunnel: String,
}

/// A ledger and a switch with `users` users provisioned on both. Several share one ledger as a
/// fleet (see [`Devnet::another_device`]).
pub struct Devnet {
    pub ledger: Arc<LedgerSim>,
    pub switch: EapiSim,
    pub device: Pubkey,
    /// The device's metrics-publisher keypair file (mode 0600).
    pub keypair: PathBuf,
    pub users: Vec<DevnetUser>,
    pub dir: PathBuf,
}

impl Devnet {
    /// Starts both simulators in this process. Users start with no BGP session and an
    /// Unknown status on chain; every user's tunnel interface is configured and up. The device
    /// has one interface and the RPC answers at once (see [`Devnet::start_with`]).
    pub async fn start(users: u16, slot_time: Duration) -> anyhow::Result<Devnet> {
        Self::start_with(users, slot_time, 1, Duration::ZERO).await
    }

    /// As [`Devnet::start`], with a device of `interfaces` interfaces (the real program's cost
    /// per user grows with them) and `latency` added to every RPC round trip.
    pub async fn start_with(
        users: u16,
        slot_time: Duration,
        interfaces: u16,
        latency: Duration,
    ) -> anyhow::Result<Devnet> {
        let ledger = LedgerSim::start(ledger::Config {
            slot_time,
            latency,
            ..ledger::Config::default()
        })
        .await?;
        Self::on_ledger(Arc::new(ledger), users, interfaces).await
    }

    /// As [`Devnet::start`], with the switch configured further by `configure` (for example its
    /// EosSdkRpc side: `grpc_unix`, `grpc_tcp` and their readings).
    pub async fn start_with_switch(
        users: u16,
        slot_time: Duration,
        configure: impl FnOnce(&mut SimConfig),
    ) -> anyhow::Result<Devnet> {
        let ledger = LedgerSim::start(ledger::Config {
            slot_time,
            ..ledger::Config::default()
        })
        .await?;
        Self::on_ledger_with(Arc::new(ledger), users, 1, configure).await
    }

    /// The flag that points the agent at the switch's EosSdkRpc side, when it has one.
    pub fn stream_flag(&self) -> Vec<String> {
        self.switch
            .grpc_addr()
            .map(|addr| vec!["--eos-sdk-rpc-addr".to_owned(), addr])
            .unwrap_or_default()
    }

    /// Another device of `users` users, with its own switch and metrics-publisher keypair, on
    /// this devnet's ledger: the devices of a fleet share the ledger and its RPC.
    pub async fn another_device(&self, users: u16, interfaces: u16) -> anyhow::Result<Devnet> {
        Self::on_ledger(Arc::clone(&self.ledger), users, interfaces).await
    }

    async fn on_ledger(
        ledger: Arc<LedgerSim>,
        users: u16,
        interfaces: u16,
    ) -> anyhow::Result<Devnet> {
        Self::on_ledger_with(ledger, users, interfaces, |_| {}).await
    }

    async fn on_ledger_with(
        ledger: Arc<LedgerSim>,
        users: u16,
        interfaces: u16,
        configure: impl FnOnce(&mut SimConfig),
    ) -> anyhow::Result<Devnet> {
        let dir = scratch_dir()?;
        let keypair = dir.join("publisher.json");
        let demo = seed::apply_demo(&ledger, users, interfaces, &keypair)?;
        let device = demo["device"].as_str().context("demo device")?.parse()?;
        let users: Vec<DevnetUser> = demo["users"]
            .as_array()
            .context("demo users")?
            .iter()
            .map(|u| -> anyhow::Result<DevnetUser> {
                let peer: Ipv4Addr = u["peer_ip"].as_str().context("peer_ip")?.parse()?;
                Ok(DevnetUser {
                    pubkey: u["pubkey"].as_str().context("pubkey")?.parse()?,
                    peer,
                    device_addr: Ipv4Addr::from(u32::from(peer) & !1),
                    tunnel: format!("Tunnel{}", u["tunnel_id"]),
                })
            })
            .collect::<anyhow::Result<_>>()?;
        let mut config = SimConfig {
            tunnels: users
                .iter()
                .map(|u| eapi_sim::Tunnel {
                    name: u.tunnel.clone(),
                    vrf: USER_VRF.into(),
                    address: format!("{}/31", u.device_addr),
                    up: true,
                })
                .collect(),
            ..SimConfig::new(dir.join("command-api.sock"))
        };
        if stream_everywhere() && config.grpc_unix.is_none() && config.grpc_tcp.is_none() {
            config.grpc_unix = Some(dir.join("eos-sdk-rpc.sock"));
        }
        configure(&mut config);
        let switch = EapiSim::start(config).await?;
        Ok(Devnet {
            ledger,
            switch,
            device,
            keypair,
            users,
            dir,
        })
    }

    /// Sets user `i`'s BGP session to `state` (`Established`, `Active`, `Idle`…), or removes
    /// it with `None`.
    pub fn session(&self, i: usize, state: Option<&str>) -> anyhow::Result<()> {
        let user = &self.users[i];
        match state {
            Some(state) => self.switch.set_peer(eapi_sim::Peer {
                asn: "65000".into(),
                rtt_us: Some(1_000 + i as u64),
                ..eapi_sim::Peer::new(USER_VRF, &user.peer.to_string(), state)
            })?,
            None => {
                self.switch.remove_peer(USER_VRF, &user.peer.to_string());
            }
        }
        Ok(())
    }

    /// `users` users with established sessions, the agent running with `extra` flags, and every
    /// user confirmed Up on chain within `settle`: the starting point of most scenarios.
    pub async fn all_up(
        users: u16,
        slot_time: Duration,
        settle: Duration,
        extra: &[&str],
    ) -> anyhow::Result<(Devnet, Agent)> {
        let devnet = Devnet::start(users, slot_time).await?;
        for i in 0..devnet.users.len() {
            devnet.session(i, Some("Established"))?;
        }
        let agent = devnet.spawn_agent(extra).await?;
        let up = devnet
            .wait_until(settle, |d| {
                (0..d.users.len()).all(|i| d.chain_status(i) == BgpStatus::Up)
            })
            .await;
        if !up {
            bail!(
                "not every user is Up on chain after {settle:?}:\n{}",
                agent.log()
            );
        }
        Ok((devnet, agent))
    }

    /// Waits up to `timeout` until user `i` is `status` on chain, failing the test with the
    /// agent's log.
    pub async fn reaches(&self, agent: &Agent, i: usize, status: BgpStatus, timeout: Duration) {
        assert!(
            self.wait_until(timeout, |d| d.chain_status(i) == status)
                .await,
            "user {i} not {status:?} on chain within {timeout:?}\n{}",
            agent.log()
        );
    }

    /// Sets the oper status of user `i`'s tunnel interface (its line protocol up or down).
    pub fn tunnel_up(&self, i: usize, up: bool) -> anyhow::Result<()> {
        let user = &self.users[i];
        self.switch.set_tunnel(eapi_sim::Tunnel {
            name: user.tunnel.clone(),
            vrf: USER_VRF.into(),
            address: format!("{}/31", user.device_addr),
            up,
        })?;
        Ok(())
    }

    /// Removes user `i`'s tunnel interface (the user is no longer provisioned on the switch).
    pub fn remove_tunnel(&self, i: usize) {
        self.switch.remove_tunnel(&self.users[i].tunnel);
    }

    /// User `i` as the chain holds it now, read with the ledger simulator's decoder.
    pub fn chain(&self, i: usize) -> UserAccount {
        self.ledger
            .user(&self.users[i].pubkey)
            .expect("a devnet user always exists")
    }

    pub fn chain_status(&self, i: usize) -> BgpStatus {
        self.chain(i).bgp()
    }

    /// Sets user `i`'s onchain status byte (offset 131, fixed in every layout), as an admin
    /// deactivating or deleting the user would.
    pub fn set_user_status(&self, i: usize, status: UserStatus) {
        let key = self.users[i].pubkey;
        let mut data = self.ledger.account(&key).expect("user exists").data;
        data[131] = status.to_byte();
        self.ledger.put_program_account(key, data);
    }

    /// Distinct transactions the ledger received, rebroadcasts counted once.
    pub fn transactions_sent(&self) -> usize {
        let mut signatures: Vec<_> = self
            .ledger
            .transactions()
            .into_iter()
            .map(|t| t.signature)
            .collect();
        signatures.sort_unstable();
        signatures.dedup();
        signatures.len()
    }

    /// Polls `done` every 100 ms until it holds or `timeout` passes.
    pub async fn wait_until(&self, timeout: Duration, done: impl Fn(&Devnet) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if done(self) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// How many eAPI requests so far carried `command`, as the simulator recorded them (its
    /// control API's `GET /requests`): what the agent really asked, not what it says it did.
    pub fn requests_with(&self, command: &str) -> usize {
        self.switch
            .requests()
            .iter()
            .filter(|commands| commands.iter().any(|c| c == command))
            .count()
    }

    /// Waits until `count` more eAPI requests than when called carried `command`, or `timeout`
    /// passes (`false`).
    pub async fn wait_for_requests(&self, command: &str, count: usize, timeout: Duration) -> bool {
        let target = self.requests_with(command) + count;
        self.wait_until(timeout, |d| d.requests_with(command) >= target)
            .await
    }

    /// Waits until the agent has read the switch `ticks` more times than when called (it reads
    /// the IPv4 summary once a tick, whatever it then decides), or `timeout` passes (`false`).
    /// Called just after a change, the second read proves a whole tick saw it: a check that
    /// "nothing was written" then cannot pass merely because the agent never ticked.
    pub async fn wait_for_ticks(&self, ticks: usize, timeout: Duration) -> bool {
        self.wait_for_requests(IPV4_SUMMARY, ticks, timeout).await
    }

    /// The flags that point the agent at this devnet; `extra` flags are added, or replace the
    /// value of one already there.
    pub fn agent_args(&self, metrics: SocketAddr, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = [
            "run",
            "--ledger-rpc-url",
            &self.ledger.url(),
            "--serviceability-program-id",
            &self.ledger.program_id().to_string(),
            "--keypair",
            &self.keypair.display().to_string(),
            "--local-device-pubkey",
            &self.device.to_string(),
            "--eapi-socket",
            &self.switch.socket_path().display().to_string(),
            "--metrics-enable",
            "--metrics-addr",
            &metrics.to_string(),
            "--bgp-status-interval",
            "1s",
            "--cache-ttl",
            "500ms",
            // Scenarios change accounts on chain while the switch stays as it was.
            "--cache-ttl-at-rest",
            "500ms",
            "--log",
            "stderr",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        override_flags(&mut args, extra);
        if stream_everywhere() && !args.iter().any(|a| a == "--eos-sdk-rpc-addr") {
            args.extend(self.stream_flag());
            // Tunnels are read with the sessions' poll: keep it within the scenarios' waits.
            if !args.iter().any(|a| a == "--bgp-status-stream-interval") {
                args.extend(["--bgp-status-stream-interval".into(), "3s".into()]);
            }
        }
        args
    }

    /// Starts the agent binary against this devnet.
    pub async fn spawn_agent(&self, extra: &[&str]) -> anyhow::Result<Agent> {
        Agent::spawn(&self.agent_args(ANY_PORT, extra), &self.dir).await
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn scratch_dir() -> anyhow::Result<PathBuf> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("dz-devnet-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Replaces the value after `flag` in an argument list built by [`Devnet::agent_args`].
pub fn set_flag(args: &mut [String], flag: &str, value: impl Into<String>) {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} is not in the agent's arguments"));
    args[at + 1] = value.into();
}

/// Adds `extra` (flags, each followed by its value if it takes one) to an argument list built
/// by [`Devnet::agent_args`]: a flag the list already has takes the value given here instead of
/// being passed twice, which the agent refuses.
pub fn override_flags(args: &mut Vec<String>, extra: &[&str]) {
    let mut extra = extra.iter().peekable();
    while let Some(flag) = extra.next() {
        match extra.peek() {
            Some(value) if !value.starts_with("--") && args.iter().any(|a| a == flag) => {
                set_flag(args, flag, **value);
                extra.next();
            }
            _ => args.push(flag.to_string()),
        }
    }
}

/// A wrapper for [`Agent::spawn_wrapped`] that runs the agent in a private mount namespace after
/// the shell commands `setup` (as root), so a test can put its own files where the agent looks
/// (`/dev/log`, `/etc/hosts`, …) without touching the machine's.
pub fn private_mounts(setup: &str) -> Vec<String> {
    [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &format!("{setup} && exec \"$@\""),
        "sh",
    ]
    .map(String::from)
    .to_vec()
}

/// `DZ_E2E_STREAM=1` runs every scenario with the switch's EosSdkRpc side on and the agent
/// watching it, so each can be run with and without the stream.
pub fn stream_everywhere() -> bool {
    std::env::var_os("DZ_E2E_STREAM").is_some_and(|v| !v.is_empty() && v != "0")
}

/// The agent's metrics address in tests: loopback, port 0, the agent reporting the port it got
/// (see [`Agent::spawn`]).
pub const ANY_PORT: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// A loopback port where nothing listens right now (for an address that must refuse).
pub fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// The release agent binary: `DZ_BGPSTATUS_BIN` when set (CI points it at the shipped static
/// build), else built once per process by a nested `cargo build --release`.
///
/// Cargo's own way for a package to depend on another's binary, artifact dependencies
/// (`-Z bindeps`, RFC 3028), is still an unstable, nightly-only feature (the Cargo book's
/// "Unstable Features"; stable cargo 1.95 refuses `-Z` flags), and this workspace builds on
/// stable: hence the nested build. It gets a target directory of its own,
/// `<target>/e2e-agent`, because the e2e benches build the agent crate in `<target>/release`
/// too, under the bench profile and other features: sharing it, each build invalidated the
/// other's and every alternation rebuilt the agent and its dependencies.
pub fn agent_binary() -> anyhow::Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("DZ_BGPSTATUS_BIN") {
                return Ok(PathBuf::from(path));
            }
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace.join("target"))
                .join("e2e-agent");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut command = std::process::Command::new(cargo);
            // Cargo gives a test or bench the variables it sets for crates; `ring`'s build
            // script reruns when CARGO_MANIFEST_DIR changes, and with it everything above
            // ring. Without them this build is the one typed in a shell, and stays fresh.
            for (name, _) in std::env::vars_os() {
                if name.to_str().is_some_and(set_by_cargo_for_crates) {
                    command.env_remove(name);
                }
            }
            let status = command
                .current_dir(&workspace)
                .args([
                    "build",
                    "--release",
                    "--locked",
                    "-p",
                    "doublezero-bgpstatus",
                    "--bin",
                    "doublezero-bgpstatus",
                    "--target-dir",
                ])
                .arg(&target)
                .status()
                .map_err(|e| format!("cannot run cargo: {e}"))?;
            if !status.success() {
                return Err(format!("building the agent failed: {status}"));
            }
            Ok(target.join("release/doublezero-bgpstatus"))
        })
        .clone()
        .map_err(anyhow::Error::msg)
}

/// Whether `name` is one of the variables Cargo sets for the crate it builds or runs (the Cargo
/// book, "Environment variables Cargo sets for crates"); `CARGO` itself names the cargo to use.
fn set_by_cargo_for_crates(name: &str) -> bool {
    matches!(
        name,
        "CARGO_MANIFEST_DIR"
            | "CARGO_MANIFEST_PATH"
            | "CARGO_CRATE_NAME"
            | "CARGO_BIN_NAME"
            | "CARGO_PRIMARY_PACKAGE"
            | "CARGO_TARGET_TMPDIR"
            | "CARGO_RUSTC_CURRENT_DIR"
            | "OUT_DIR"
    ) || name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_BIN_EXE_")
}

/// The agent running as a process, its stderr collected in a file.
pub struct Agent {
    child: Child,
    pub metrics: SocketAddr,
    log: PathBuf,
}

impl Agent {
    pub async fn spawn(args: &[String], dir: &Path) -> anyhow::Result<Agent> {
        Self::spawn_wrapped(&[], args, dir).await
    }

    /// Starts the agent binary through `wrapper` (`unshare …`, `setpriv …`), which must end in
    /// executing its arguments (the agent then keeps the wrapper's process id).
    pub async fn spawn_wrapped(
        wrapper: &[String],
        args: &[String],
        dir: &Path,
    ) -> anyhow::Result<Agent> {
        let metrics: SocketAddr = args
            .iter()
            .position(|a| a == "--metrics-addr")
            .and_then(|i| args.get(i + 1))
            .context("--metrics-addr")?
            .parse()?;
        static SPAWNED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let nth = SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = dir.join(format!("agent-{nth}.log"));
        let binary = agent_binary()?;
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(binary);
                command
            }
            None => Command::new(binary),
        };
        let child = command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log)?)
            .kill_on_drop(true)
            .spawn()?;
        let mut agent = Agent {
            child,
            metrics,
            log,
        };
        if metrics.port() == 0 && args.iter().any(|a| a == "--metrics-enable") {
            agent.metrics = agent.bound_metrics_addr(metrics).await;
        }
        Ok(agent)
    }

    /// The address the agent's listener bound when it was given port 0, from the line it logs
    /// (no port is picked ahead and raced for). Until that line, or if the agent exits first,
    /// the given address stays.
    async fn bound_metrics_addr(&mut self, given: SocketAddr) -> SocketAddr {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline && self.exited().is_none() {
            let bound = self
                .log()
                .lines()
                .filter(|line| line.contains("serving /metrics and /status"))
                .find_map(|line| {
                    line.split("addr=")
                        .nth(1)?
                        .split_whitespace()
                        .next()?
                        .parse()
                        .ok()
                });
            if let Some(bound) = bound {
                return bound;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        given
    }

    /// The agent's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The exit status if the agent has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// Waits up to `timeout` for the agent to exit on its own.
    pub async fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()?
            .ok()
    }

    /// Everything the agent logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `GET path` on the agent's listener; `None` until it answers.
    pub async fn get(&self, path: &str) -> Option<String> {
        let mut stream = tokio::net::TcpStream::connect(self.metrics).await.ok()?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.ok()?;
        reply
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_string())
    }

    /// The `/status` JSON.
    pub async fn status(&self) -> Option<Value> {
        serde_json::from_str(&self.get("/status").await?).ok()
    }

    /// Waits until the `/metrics` sample `sample` is at least `value`, or `timeout` passes
    /// (`false`): for progress the switch cannot see (a tick that stops before reading it).
    pub async fn wait_for_metric(&self, sample: &str, value: f64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.metric(sample).await.is_some_and(|v| v >= value) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The value of one sample of `/metrics` (`name{labels}` as written), if present.
    pub async fn metric(&self, sample: &str) -> Option<f64> {
        let text = self.get("/metrics").await?;
        text.lines().find_map(|line| {
            line.strip_prefix(sample)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    /// Sends `signal` and waits for the exit status.
    pub async fn stop(
        mut self,
        signal: nix::sys::signal::Signal,
    ) -> anyhow::Result<std::process::ExitStatus> {
        let pid = self.child.id().context("agent already reaped")?;
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal)?;
        match tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => bail!(
                "the agent did not exit within 20s of {signal}:\n{}",
                self.log()
            ),
        }
    }
}
