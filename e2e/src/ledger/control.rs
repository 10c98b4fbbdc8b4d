//! The scenario API under `/control`, for driving a simulator that runs as a process.
//!
//! | request | body | reply |
//! |---|---|---|
//! | `POST /control/devices` | `{code, metrics_publisher, public_ip?, interfaces?, key?}` | `{pubkey}` |
//! | `POST /control/users` | `{device, tunnel_net:"169.254.0.0/31", tunnel_id, client_ip?, dz_ip?, status?, bgp_status?, layout?, key?}` | `{pubkey}` |
//! | `POST /control/accounts` | `{pubkey, data}` (base64; program-owned, rent-exempt) | `{}` |
//! | `POST /control/airdrop` | `{pubkey, lamports}` | `{balance}` |
//! | `GET /control/users/{pubkey}` | | the user, decoded |
//! | `POST /control/fault` | `{fault: unavailable\|hang\|unhealthy\|drop_transactions\|rate_limited\|garbage, count?}` | `{}` |
//! | `DELETE /control/fault` | | `{}` |
//! | `POST /control/slots` | `{paused?, advance?}` | `{slot}` |
//! | `GET /control/status` | | `{slot, program_id}` |
//!
//! A device has one interface unless `interfaces` says otherwise. `client_ip` defaults to the
//! public 1.2.3.4 and `dz_ip` to `client_ip` (the program refuses non-global ones, Custom 26 and
//! 27). `status` is a UserStatus number (default 1, Activated); `bgp_status` is `unknown`, `up`
//! or `down`; `layout` is `head`, `old_feed_pk` or `pre_bgp`. Bad input gives HTTP 400 with the
//! reason.

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use doublezero_bgpstatus::serviceability::{BgpStatus, NetworkV4, UserStatus};
use serde::Deserialize;
use serde_json::{json, Value};
use solana_pubkey::Pubkey;

use super::account::{UserAccount, UserLayout};
use super::sim::{Fault, NewDevice, NewUser, Shared};

type Reply = Result<Json<Value>, (StatusCode, String)>;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/devices", post(create_device))
        .route("/users", post(create_user))
        .route("/users/{pubkey}", get(read_user))
        .route("/accounts", post(put_account))
        .route("/airdrop", post(airdrop))
        .route("/fault", post(set_fault).delete(clear_fault))
        .route("/slots", post(slots))
        .route("/status", get(status))
}

fn bad(reason: impl std::fmt::Display) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, reason.to_string())
}

fn pubkey(field: &str, s: &str) -> Result<Pubkey, (StatusCode, String)> {
    Pubkey::from_str(s).map_err(|_| bad(format!("{field} {s:?} is not a base58 pubkey")))
}

fn optional_key(key: Option<&str>) -> Result<Option<Pubkey>, (StatusCode, String)> {
    key.map(|k| pubkey("key", k)).transpose()
}

#[derive(Deserialize)]
pub(crate) struct DeviceRequest {
    key: Option<String>,
    code: String,
    metrics_publisher: String,
    public_ip: Option<Ipv4Addr>,
    interfaces: Option<u16>,
}

impl DeviceRequest {
    pub(crate) fn into_new_device(self) -> Result<NewDevice, (StatusCode, String)> {
        let mut device = NewDevice::new(
            self.code,
            pubkey("metrics_publisher", &self.metrics_publisher)?,
        );
        device.key = optional_key(self.key.as_deref())?;
        device.public_ip = self.public_ip.unwrap_or(device.public_ip);
        device.interfaces = self.interfaces.unwrap_or(device.interfaces);
        Ok(device)
    }
}

async fn create_device(State(shared): State<Arc<Shared>>, Json(req): Json<DeviceRequest>) -> Reply {
    let device = req.into_new_device()?;
    Ok(Json(
        json!({"pubkey": shared.create_device(&device).to_string()}),
    ))
}

#[derive(Deserialize)]
pub(crate) struct UserRequest {
    key: Option<String>,
    device: String,
    tunnel_net: String,
    tunnel_id: u16,
    client_ip: Option<Ipv4Addr>,
    dz_ip: Option<Ipv4Addr>,
    status: Option<u8>,
    bgp_status: Option<String>,
    #[serde(default)]
    layout: UserLayout,
}

impl UserRequest {
    pub(crate) fn into_new_user(self) -> Result<NewUser, (StatusCode, String)> {
        let (addr, prefix) = self.tunnel_net.split_once('/').ok_or_else(|| {
            bad(format!(
                "tunnel_net {:?} is not ADDR/PREFIX",
                self.tunnel_net
            ))
        })?;
        let tunnel_net = NetworkV4 {
            addr: addr.parse().map_err(bad)?,
            prefix: prefix.parse().map_err(bad)?,
        };
        let bgp_status = match self.bgp_status.as_deref() {
            None | Some("unknown") => BgpStatus::Unknown,
            Some("up") => BgpStatus::Up,
            Some("down") => BgpStatus::Down,
            Some(other) => {
                return Err(bad(format!(
                    "bgp_status {other:?}: want unknown, up or down"
                )))
            }
        };
        let mut user = NewUser::activated(
            pubkey("device", &self.device)?,
            tunnel_net.addr,
            self.tunnel_id,
        );
        user.key = optional_key(self.key.as_deref())?;
        user.tunnel_net = tunnel_net;
        user.client_ip = self.client_ip.unwrap_or(user.client_ip);
        user.dz_ip = self.dz_ip.unwrap_or(user.client_ip);
        user.status = UserStatus::from_byte(self.status.unwrap_or(1));
        user.bgp_status = bgp_status;
        user.layout = self.layout;
        Ok(user)
    }
}

async fn create_user(State(shared): State<Arc<Shared>>, Json(req): Json<UserRequest>) -> Reply {
    let user = req.into_new_user()?;
    Ok(Json(
        json!({"pubkey": shared.create_user(&user).to_string()}),
    ))
}

/// A user as JSON, for scenario checks: decoded by the simulator, named as the agent names
/// them.
pub fn user_json(user: &UserAccount) -> Value {
    json!({
        "device_pk": user.device_pk.to_string(),
        "status": UserStatus::from_byte(user.status).name(),
        "tunnel_id": user.tunnel_id,
        "tunnel_net": format!("{}/{}", user.tunnel_net.0, user.tunnel_net.1),
        "client_ip": user.client_ip.to_string(),
        "bgp_status": user.bgp().as_str(),
        "last_bgp_up_at": user.last_bgp_up_at,
        "last_bgp_reported_at": user.last_bgp_reported_at,
        "bgp_rtt_ns": user.bgp_rtt_ns,
    })
}

async fn read_user(State(shared): State<Arc<Shared>>, Path(key): Path<String>) -> Reply {
    let key = pubkey("pubkey", &key)?;
    let account = shared
        .chain()
        .account(&key)
        .ok_or((StatusCode::NOT_FOUND, format!("no account at {key}")))?;
    let mut reply = UserAccount::decode(&account.data)
        .map(|u| user_json(&u))
        .ok_or_else(|| bad(format!("account {key} is not a User")))?;
    reply["data_len"] = json!(account.data.len());
    reply["lamports"] = json!(account.lamports);
    Ok(Json(reply))
}

#[derive(Deserialize)]
struct AccountRequest {
    pubkey: String,
    data: String,
}

async fn put_account(State(shared): State<Arc<Shared>>, Json(req): Json<AccountRequest>) -> Reply {
    let key = pubkey("pubkey", &req.pubkey)?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(req.data)
        .map_err(|e| bad(format!("data is not base64: {e}")))?;
    shared.chain().put_program_account(key, data);
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct AirdropRequest {
    pubkey: String,
    lamports: u64,
}

async fn airdrop(State(shared): State<Arc<Shared>>, Json(req): Json<AirdropRequest>) -> Reply {
    let key = pubkey("pubkey", &req.pubkey)?;
    let mut chain = shared.chain();
    chain.airdrop(&key, req.lamports);
    let balance = chain.account(&key).map_or(0, |a| a.lamports);
    Ok(Json(json!({"balance": balance})))
}

#[derive(Deserialize)]
struct FaultRequest {
    fault: Fault,
    count: Option<u32>,
}

async fn set_fault(State(shared): State<Arc<Shared>>, Json(req): Json<FaultRequest>) -> Reply {
    shared.set_fault(req.fault, req.count);
    Ok(Json(json!({})))
}

async fn clear_fault(State(shared): State<Arc<Shared>>) -> Reply {
    shared.set_fault(Fault::Unavailable, Some(0));
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct SlotsRequest {
    paused: Option<bool>,
    advance: Option<u64>,
}

async fn slots(State(shared): State<Arc<Shared>>, Json(req): Json<SlotsRequest>) -> Reply {
    if let Some(paused) = req.paused {
        shared.pause(paused);
    }
    let mut chain = shared.chain();
    for _ in 0..req.advance.unwrap_or(0) {
        chain.advance();
    }
    Ok(Json(json!({"slot": chain.slot()})))
}

async fn status(State(shared): State<Arc<Shared>>) -> Reply {
    let chain = shared.chain();
    Ok(Json(
        json!({"slot": chain.slot(), "program_id": chain.program_id().to_string()}),
    ))
}
