//! Building a ledger's starting state: from a seed file, or the README's demo.
//!
//! A seed file is JSON:
//! ```json
//! {"devices": [{"code": "dz-ny7", "metrics_publisher": "<base58>", "key": "<base58>"?,
//!               "public_ip": "45.1.2.3"?, "interfaces": 1?,
//!               "users": [{"tunnel_net": "169.254.0.0/31", "tunnel_id": 500, ...}]}],
//!  "airdrops": [{"pubkey": "<base58>", "lamports": 1000000000}]}
//! ```
//! Device entries take the fields of `POST /control/devices`, user entries those of
//! `POST /control/users` without `device`: both produce accounts the real program accepts
//! unless an entry asks otherwise (a private `client_ip`, say). Every metrics
//! publisher is funded with [`PUBLISHER_FUNDING`] so it can pay fees and rent top-ups.
//!
//! An accounts file ([`apply_accounts`]) places raw accounts instead, for state captured from a
//! real cluster or written by another tool:
//! ```json
//! [{"pubkey": "<base58>", "owner": "<base58>", "lamports": 1000000?, "data_hex": "07aa…"}]
//! ```
//! `lamports` defaults to the rent-exempt minimum for the data.

use std::net::Ipv4Addr;
use std::path::Path;
use std::str::FromStr;

use serde::Deserialize;
use serde_json::{json, Value};
use solana_keypair::Keypair;
use solana_pubkey::Pubkey;
use solana_signer::Signer;

use super::sim::{LedgerSim, NewDevice, NewUser};

/// What each metrics publisher starts with: 100 SOL (the upstream e2e tops up to 3).
pub const PUBLISHER_FUNDING: u64 = 100_000_000_000;

/// Why a seed could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read seed file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("seed file {path} is not valid: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("seed: {0}")]
    Invalid(String),
    #[error("cannot write the demo keypair to {path}: {source}")]
    WriteKeypair {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Deserialize)]
struct SeedFile {
    #[serde(default)]
    devices: Vec<SeedDevice>,
    #[serde(default)]
    airdrops: Vec<SeedAirdrop>,
}

#[derive(Deserialize)]
struct SeedDevice {
    #[serde(flatten)]
    device: super::control::DeviceRequest,
    #[serde(default)]
    users: Vec<Value>,
}

#[derive(Deserialize)]
struct AccountEntry {
    pubkey: String,
    owner: String,
    lamports: Option<u64>,
    data_hex: String,
}

#[derive(Deserialize)]
struct SeedAirdrop {
    pubkey: String,
    lamports: u64,
}

fn pubkey(field: &str, s: &str) -> Result<Pubkey, SeedError> {
    Pubkey::from_str(s).map_err(|_| SeedError::Invalid(format!("{field} {s:?} is not a pubkey")))
}

/// Creates what `path` describes; returns the created keys as JSON.
pub fn apply_file(sim: &LedgerSim, path: &Path) -> Result<Value, SeedError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
        path: shown.clone(),
        source,
    })?;
    let seed: SeedFile = serde_json::from_str(&text).map_err(|source| SeedError::Parse {
        path: shown,
        source,
    })?;
    let mut devices = Vec::new();
    for d in seed.devices {
        let new_device = d
            .device
            .into_new_device()
            .map_err(|(_, reason)| SeedError::Invalid(reason))?;
        let code = new_device.code.clone();
        let device = sim.create_device(&new_device);
        sim.airdrop(&new_device.metrics_publisher, PUBLISHER_FUNDING);
        let mut users = Vec::new();
        for mut u in d.users {
            u["device"] = json!(device.to_string());
            let request: super::control::UserRequest = serde_json::from_value(u)
                .map_err(|e| SeedError::Invalid(format!("user of {code}: {e}")))?;
            let user = request
                .into_new_user()
                .map_err(|(_, reason)| SeedError::Invalid(reason))?;
            users.push(sim.create_user(&user).to_string());
        }
        devices.push(json!({"code": code, "pubkey": device.to_string(), "users": users}));
    }
    for a in seed.airdrops {
        sim.airdrop(&pubkey("airdrop pubkey", &a.pubkey)?, a.lamports);
    }
    Ok(json!({"devices": devices}))
}

/// Places every account of the JSON array in `path`; returns how many.
pub fn apply_accounts(sim: &LedgerSim, path: &Path) -> Result<usize, SeedError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SeedError::Read {
        path: shown.clone(),
        source,
    })?;
    let entries: Vec<AccountEntry> =
        serde_json::from_str(&text).map_err(|source| SeedError::Parse {
            path: shown.clone(),
            source,
        })?;
    // Check every entry before placing any, so a bad file leaves the ledger as it was.
    let accounts = entries
        .iter()
        .map(|a| {
            let key = pubkey("pubkey", &a.pubkey)?;
            let data = decode_hex(&a.data_hex).ok_or_else(|| {
                SeedError::Invalid(format!("{shown}: data_hex of {key} is not hex"))
            })?;
            Ok((key, pubkey("owner", &a.owner)?, a.lamports, data))
        })
        .collect::<Result<Vec<_>, SeedError>>()?;
    let count = accounts.len();
    for (key, owner, lamports, data) in accounts {
        sim.put_account(key, owner, lamports, data);
    }
    Ok(count)
}

/// Even-length hex, either case; `None` for anything else.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if !text.len().is_multiple_of(2) || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The demo: one device with `interfaces` interfaces whose metrics publisher is a fresh keypair
/// written to `keypair_path`, and `users` activated users, the k-th on 169.254.0.2k/31 with
/// tunnel 500+k and the public address 45.33.k.
pub fn apply_demo(
    sim: &LedgerSim,
    users: u16,
    interfaces: u16,
    keypair_path: &Path,
) -> Result<Value, SeedError> {
    if users > 4096 {
        return Err(SeedError::Invalid(format!(
            "{users} demo users do not fit tunnel ids 500..4596"
        )));
    }
    let publisher = Keypair::new();
    write_keypair(&publisher, keypair_path)?;
    let device = sim.create_device(&NewDevice {
        interfaces,
        ..NewDevice::new("dz-demo1", publisher.pubkey())
    });
    sim.airdrop(&publisher.pubkey(), PUBLISHER_FUNDING);
    let users: Vec<Value> = (0..users)
        .map(|k| {
            let [hi, lo] = (2 * k).to_be_bytes();
            let tunnel_net = Ipv4Addr::new(169, 254, hi, lo);
            let mut user = NewUser::activated(device, tunnel_net, 500 + k);
            let [chi, clo] = k.to_be_bytes();
            user.client_ip = Ipv4Addr::new(45, 33, chi, clo);
            user.dz_ip = user.client_ip;
            let key = sim.create_user(&user);
            json!({
                "pubkey": key.to_string(),
                "tunnel_net": format!("{tunnel_net}/31"),
                "tunnel_id": 500 + k,
                "peer_ip": Ipv4Addr::new(169, 254, hi, lo + 1).to_string(),
            })
        })
        .collect();
    Ok(json!({
        "device": device.to_string(),
        "metrics_publisher": publisher.pubkey().to_string(),
        "keypair": keypair_path.display().to_string(),
        "users": users,
    }))
}

/// Writes a solana-keygen JSON keypair, readable only by its owner (the agent refuses others).
fn write_keypair(keypair: &Keypair, path: &Path) -> Result<(), SeedError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let fail = |source| SeedError::WriteKeypair {
        path: path.display().to_string(),
        source,
    };
    let text = serde_json::to_string(&keypair.to_bytes().to_vec()).expect("bytes serialize");
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)
}
