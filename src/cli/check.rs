//! `check`: the pre-flight an operator runs on the switch before (or instead of) starting the
//! daemon. It takes the same flags and options as `run`, checks each thing the daemon needs, and
//! says for each failure what to do. Exit status 0 only when nothing failed.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use solana_pubkey::Pubkey;
use solana_signer::Signer;

use crate::config::{read_options, Config, RunArgs};
use crate::rpc::{self, Commitment};
use crate::serviceability::{discover_device, Device};
use crate::{eapi, eos_sdk, keypair, netns, switch};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub settings: RunArgs,
}

/// The verdict on one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Works, but something deserves a look.
    Warn,
    Fail,
}

/// One checked item: what, the verdict, what was found, and the fix when it is not a pass.
#[derive(Debug, Clone)]
pub struct Item {
    pub name: &'static str,
    pub verdict: Verdict,
    pub found: String,
    pub fix: Option<String>,
}

fn pass(name: &'static str, found: impl Into<String>) -> Item {
    Item {
        name,
        verdict: Verdict::Pass,
        found: found.into(),
        fix: None,
    }
}

fn fail(name: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Item {
    Item {
        name,
        verdict: Verdict::Fail,
        found: found.into(),
        fix: Some(fix.into()),
    }
}

fn warn(name: &'static str, found: impl Into<String>, fix: impl Into<String>) -> Item {
    Item {
        verdict: Verdict::Warn,
        ..fail(name, found, fix)
    }
}

/// Runs every check (already inside the management namespace, when one is configured) and
/// prints the report. Returns whether all passed or only warned.
pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<bool> {
    let items = checks(&args.settings).await;
    let width = items.iter().map(|i| i.name.len()).max().unwrap_or(0);
    for item in &items {
        let tag = match item.verdict {
            Verdict::Pass => "[ ok ]",
            Verdict::Warn => "[warn]",
            Verdict::Fail => "[FAIL]",
        };
        writeln!(out, "{tag} {:<width$}  {}", item.name, item.found)?;
        if let Some(fix) = &item.fix {
            for line in fix.lines() {
                writeln!(out, "       {:<width$}  {line}", "")?;
            }
        }
    }
    let failed = items.iter().filter(|i| i.verdict == Verdict::Fail).count();
    if failed == 0 {
        writeln!(out, "all checks passed")?;
    } else {
        writeln!(out, "{failed} check(s) failed")?;
    }
    Ok(failed == 0)
}

/// Every check, in the order an operator would fix them.
pub async fn checks(settings: &RunArgs) -> Vec<Item> {
    let mut items = Vec::new();
    let Some((config, eapi, eapi_answers)) = configuration(settings, &mut items).await else {
        return items;
    };
    items.push(pass(
        "logs",
        crate::logging::destinations(config.log, &config.daemon_name),
    ));
    items.push(privileges_item(&config));
    if let Some(name) = &config.management_namespace {
        items.push(namespace_item(name));
    }
    if let Some(addr) = config.metrics_addr {
        items.push(listener_item(addr));
    }
    if eapi_answers {
        items.push(bgp_item(&eapi).await);
    }
    if let Some(addr) = &config.eos_sdk_rpc_addr {
        items.push(stream_item(addr).await);
    }
    let signer = keypair_item(&config, &mut items);
    let Some(rpc) = rpc_item(&config, &mut items).await else {
        return items;
    };
    items.push(program_item(&rpc, &config).await);
    let device = device_item(&rpc, &config, signer.as_ref()).await;
    let found = device.as_ref().ok().cloned();
    items.push(match device {
        Ok((pubkey, device)) => pass("device", format!("{pubkey} ({})", device.code)),
        Err(item) => item,
    });
    if let (Some(signer), Some((_, device))) = (signer, &found) {
        items.push(signer_item(&signer, device));
        items.push(balance_item(&rpc, &config, &signer).await);
    }
    items
}

/// The flags, eAPI and the daemon block's options resolved together: the configuration, the
/// eAPI client and whether eAPI answered; `None` when no configuration could be made (the
/// failure is in `items`).
async fn configuration(
    settings: &RunArgs,
    items: &mut Vec<Item>,
) -> Option<(Config, eapi::Client, bool)> {
    let bootstrap = match Config::bootstrap(settings) {
        Ok(bootstrap) => bootstrap,
        Err(error) => {
            items.push(fail(
                "configuration",
                error.to_string(),
                "fix the flags above",
            ));
            return None;
        }
    };
    let eapi = eapi::Client::new(&bootstrap.eapi_socket);
    let (options, answers) = match read_options(&eapi, &bootstrap.daemon_name).await {
        Ok(options) => {
            items.push(pass(
                "eapi",
                format!("{} answers", bootstrap.eapi_socket.display()),
            ));
            (options, true)
        }
        Err(error) => {
            items.push(fail("eapi", error.to_string(), eapi_fix(&error)));
            (BTreeMap::new(), false)
        }
    };
    match Config::resolve(settings, &options) {
        Ok((config, issues)) => {
            items.extend(issues.iter().map(|issue| {
                if issue.is_error() {
                    fail(
                        "options",
                        issue.to_string(),
                        "move the setting to the exec line and remove the option line",
                    )
                } else {
                    warn(
                        "options",
                        issue.to_string(),
                        "remove or correct it in the daemon block",
                    )
                }
            }));
            Some((config, eapi, answers))
        }
        Err(error) => {
            items.push(fail(
                "configuration",
                error.to_string(),
                "fix the flags or the daemon block's option lines",
            ));
            None
        }
    }
}

/// What the daemon would read each tick: the IPv4 summary and the tunnel interfaces.
async fn bgp_item(eapi: &eapi::Client) -> Item {
    match switch::observe(eapi, switch::Summaries::Ipv4).await {
        Ok(state) if state.peers.is_empty() => warn(
            "bgp",
            "no BGP sessions on this switch",
            "expected only while no user is connected; check `show ip bgp summary vrf all`",
        ),
        Ok(state) => pass(
            "bgp",
            format!(
                "{} BGP sessions ({} established), {} tunnel interfaces",
                state.peers.len(),
                state.peers.iter().filter(|p| p.is_established()).count(),
                state.tunnels.len()
            ),
        ),
        Err(error) => fail(
            "bgp",
            error.to_string(),
            "check `show ip bgp summary vrf all` and `show ip interface`",
        ),
    }
}

/// The EosSdkRpc transport, when configured: a watch opened and read for a moment. `check` runs
/// in the namespace it was started in (an operator's shell: the default one), where the
/// loopback transport listens.
async fn stream_item(addr: &eos_sdk::Addr) -> Item {
    let connector = eos_sdk::Connector::direct(addr.clone());
    match eos_sdk::probe(&connector, Duration::from_secs(1)).await {
        Ok(probe) => pass(
            "stream",
            format!(
                "watching BGP peers at {addr} ({} peer states in the first second); {}",
                probe.states.len(),
                match &probe.interfaces {
                    Ok(()) => "watching tunnels too".to_owned(),
                    Err(why) => format!("tunnels not watched: {why}"),
                }
            ),
        ),
        Err(error) if error.contains("does not serve BgpMgrService") => warn(
            "stream",
            error,
            "the agent polls eAPI only; upgrade EOS or remove eos-sdk-rpc-addr",
        ),
        Err(error) => fail(
            "stream",
            error,
            "configure `management api eos-sdk-rpc` (transport grpc, `localhost loopback vrf \
             default` or `localhost unix file:PATH`, `service all`, `no disabled`), or remove \
             eos-sdk-rpc-addr; without the stream the agent polls eAPI only",
        ),
    }
}

/// The keypair loaded as `run` loads it; its public key when it loads.
fn keypair_item(config: &Config, items: &mut Vec<Item>) -> Option<Pubkey> {
    match keypair::load(&config.keypair, config.keypair_permissions) {
        Ok(loaded) => {
            let mut found = format!(
                "{} (signer {})",
                config.keypair.display(),
                loaded.keypair.pubkey()
            );
            if let Some(notice) = loaded.notice {
                found = format!("{found}; {notice}");
            }
            items.push(pass("keypair", found));
            Some(loaded.keypair.pubkey())
        }
        Err(error) => {
            let fix = keypair_fix(&error);
            items.push(fail("keypair", error.to_string(), fix));
            None
        }
    }
}

/// The RPC client, when it can be made and the node answers; the checks after it need it.
async fn rpc_item(config: &Config, items: &mut Vec<Item>) -> Option<rpc::Client> {
    let rpc = match rpc::Client::new(rpc::ClientConfig {
        allow_insecure_http: config.allow_insecure_http,
        resolver: rpc::ResolverFiles::for_namespace(config.management_namespace.as_deref()),
        ca_file: config.rpc_ca_file.clone(),
        ..rpc::ClientConfig::new(config.rpc_url.clone())
    }) {
        Ok(rpc) => rpc,
        Err(error) => {
            items.push(fail(
                "rpc",
                error.to_string(),
                "fix --ledger-rpc-url or --rpc-ca-file",
            ));
            return None;
        }
    };
    match rpc.get_slot(config.commitment).await {
        Ok(slot) => {
            let health = match rpc.get_health().await {
                Ok(()) => "healthy".to_string(),
                Err(error) => format!("unhealthy: {error}"),
            };
            items.push(pass(
                "rpc",
                format!("{} at slot {slot}, {health}", rpc.endpoint()),
            ));
            Some(rpc)
        }
        Err(error) => {
            items.push(fail(
                "rpc",
                format!("{}: {error}", rpc.endpoint()),
                "check the URL, the management VRF (--management-namespace) and DNS",
            ));
            None
        }
    }
}

async fn program_item(rpc: &rpc::Client, config: &Config) -> Item {
    match rpc
        .get_account_info(&config.program_id, Commitment::Confirmed)
        .await
    {
        Ok(found) if found.value.as_ref().is_some_and(|a| a.executable) => {
            pass("program", format!("{} is deployed", config.program_id))
        }
        Ok(_) => fail(
            "program",
            format!(
                "{} is not an executable account on this ledger",
                config.program_id
            ),
            "check --env or --serviceability-program-id against --ledger-rpc-url",
        ),
        Err(error) => fail("program", error.to_string(), "retry; the RPC failed"),
    }
}

/// The program refuses every write not signed by the device's metrics publisher.
fn signer_item(signer: &Pubkey, device: &Device) -> Item {
    if device.metrics_publisher_pk == *signer {
        pass("signer", "the keypair is the device's metrics publisher")
    } else {
        fail(
            "signer",
            format!(
                "the keypair is {signer}, the device's metrics publisher is {}",
                device.metrics_publisher_pk
            ),
            "use the metrics publisher's keypair; the program refuses any other (NotAllowed)",
        )
    }
}

/// The payer pays every write's fee; below the fee floor only changes are written.
async fn balance_item(rpc: &rpc::Client, config: &Config, signer: &Pubkey) -> Item {
    match rpc.get_balance(signer, Commitment::Confirmed).await {
        Ok(balance) if balance.value == 0 => fail(
            "balance",
            "the payer has 0 lamports",
            "fund the metrics publisher: it pays every write's fee",
        ),
        Ok(balance) if balance.value < config.submit.fee_floor_lamports => warn(
            "balance",
            format!(
                "{} lamports, below the fee floor of {}",
                balance.value, config.submit.fee_floor_lamports
            ),
            "fund the payer: below the floor only status changes are written, not refreshes",
        ),
        Ok(balance) => pass("balance", format!("{} lamports", balance.value)),
        Err(error) => fail("balance", error.to_string(), "retry; the RPC failed"),
    }
}

/// What `check` runs with, and what `run` keeps once it has started. `run` needs root's
/// CAP_SYS_ADMIN only to enter a management namespace; without it, that is the failure.
fn privileges_item(config: &Config) -> Item {
    let held = crate::privileges::Held::current();
    let keep = crate::privileges::needed(config.metrics_addr.map(|addr| addr.port()));
    let mut kept: Vec<String> = keep
        .iter()
        .map(|c| c.to_string().to_ascii_lowercase())
        .collect();
    if kept.is_empty() {
        kept.push("no capability".into());
    }
    let after = kept.join(",");
    let found = format!("{held}; once started, run keeps {after} and is not dumpable");
    let can_enter = held.capabilities.iter().any(|c| c == "cap_sys_admin");
    if config.management_namespace.is_some() && !can_enter {
        fail(
            "process",
            found,
            "entering the management namespace needs root (CAP_SYS_ADMIN): run as ProcMgr does",
        )
    } else {
        pass("process", found)
    }
}

/// Enters the management namespace the configuration names (`check` runs on this one thread, so
/// everything after reaches the RPC as the daemon would).
fn namespace_item(name: &str) -> Item {
    match netns::enter(name, std::time::Duration::ZERO) {
        Ok(entered) => pass(
            "namespace",
            format!("entered {} ({})", name, entered.path.display()),
        ),
        Err(error) => fail(
            "namespace",
            error.to_string(),
            "configure the VRF (`vrf instance management`), or fix the management-namespace \
             setting; `bash ls /run/netns /var/run/netns` lists what EOS created",
        ),
    }
}

/// Whether the metrics port is free, in the namespace the daemon would listen in. Taken is a
/// warning: the daemon writes statuses anyway and retries the bind.
fn listener_item(addr: std::net::SocketAddr) -> Item {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => pass(
            "metrics",
            format!("{addr} is free for /metrics and /status"),
        ),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => warn(
            "metrics",
            format!("{addr} is in use"),
            "if the agent is not running already, another program holds the port: pick another \
             one in 50000-50100 (the range DoubleZero's control-plane ACL permits) with option \
             metrics-addr; status writes go on meanwhile and the agent retries the bind",
        ),
        Err(error) => warn(
            "metrics",
            format!("cannot listen on {addr}: {error}"),
            "fix option metrics-addr; status writes go on meanwhile",
        ),
    }
}

async fn device_item(
    rpc: &rpc::Client,
    config: &Config,
    signer: Option<&Pubkey>,
) -> Result<(Pubkey, Device), Item> {
    if let Some(pubkey) = config.device {
        return match rpc.get_account_info(&pubkey, Commitment::Confirmed).await {
            Ok(found) => match found.value {
                Some(account) if account.owner == config.program_id => {
                    Device::decode(&account.data)
                        .map(|device| (pubkey, device))
                        .map_err(|error| {
                            fail(
                                "device",
                                format!("{pubkey}: {error}"),
                                "check --local-device-pubkey",
                            )
                        })
                }
                Some(_) => Err(fail(
                    "device",
                    format!("{pubkey} is not owned by the serviceability program"),
                    "check --local-device-pubkey",
                )),
                None => Err(fail(
                    "device",
                    format!("{pubkey} does not exist"),
                    "check --local-device-pubkey and --env",
                )),
            },
            Err(error) => Err(fail("device", error.to_string(), "retry; the RPC failed")),
        };
    }
    let Some(signer) = signer else {
        return Err(fail(
            "device",
            "cannot discover the device without the keypair",
            "fix the keypair, or set --local-device-pubkey",
        ));
    };
    discover_device(rpc, &config.program_id, signer, Commitment::Confirmed)
        .await
        .map_err(|error| fail("device", error.to_string(), "set --local-device-pubkey"))
}

/// The fix that works on EOS: flash is vfat, where chmod fails, so chmod is advised only where
/// the filesystem keeps modes.
fn keypair_fix(error: &keypair::KeypairError) -> String {
    use keypair::KeypairError as E;
    match error {
        E::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound => format!(
            "copy the metrics publisher's keypair to the switch: \
             `copy scp:USER@HOST/PATH flash:{}` (or set --keypair / option keypair)",
            keypair::DEFAULT_PATH.trim_start_matches("/mnt/flash/")
        ),
        E::TooOpen { path, .. } => format!("`bash sudo chmod 600 {}`", path.display()),
        E::WorldReadableOnFat { .. } => {
            "flash is mounted so that every user can read it: remount it with fmask=0007 (EOS's \
             default), or keep the key on a filesystem that keeps modes with mode 0600"
                .into()
        }
        E::Owner { path, .. } => format!("`bash sudo chown root {}`", path.display()),
        E::Read { .. } | E::TooLarge { .. } | E::Malformed { .. } | E::Mismatch { .. } => {
            "use the solana-keygen JSON file of this device's metrics publisher".into()
        }
    }
}

/// The fix for an eAPI failure, by what failed: the socket's absence needs configuration, a
/// refused `enable` or privileged command needs AAA looked at, not the socket enabled again.
fn eapi_fix(error: &eapi::EapiError) -> String {
    use eapi::EapiError as E;
    match error {
        E::SocketMissing { .. } => "add to the running-config:\n  management api http-commands\n     protocol unix-socket\n     no shutdown".into(),
        E::PermissionDenied { .. } => "run the agent as root (ProcMgr does)".into(),
        E::Command { failures, .. } if failures.iter().any(|f| f.command == "enable") => {
            "EOS refused `enable`, which the agent sends before `show running-config`: the \
             socket's user (root) must reach privileged mode without a password; check `aaa \
             authorization exec` and `enable password`"
                .into()
        }
        E::Command { failures, .. }
            if failures
                .iter()
                .flat_map(|f| &f.errors)
                .any(|e| e.contains("privileged mode required")) =>
        {
            "EOS ran `show running-config` outside privileged mode although `enable` came \
             first; check `aaa authorization exec` for the socket's user (root)"
                .into()
        }
        E::Timeout { .. } => {
            "CapiApp answers slowly: see `show processes top once` and `show agent CapiApp logs`"
                .into()
        }
        _ => "check `show management api http-commands` (Unix Socket server: running)".into(),
    }
}
