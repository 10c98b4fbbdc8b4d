//! `users`: the User accounts of one device (or all), as the chain holds them.

use std::io::Write;

use anyhow::Context;
use serde::Serialize;
use solana_pubkey::Pubkey;

use super::table::{format_rtt, Columns};
use crate::env::Env;
use crate::rpc::{self, Commitment};
use crate::serviceability::{user_filters, DecodedUsers, User};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Solana JSON-RPC URL of the DoubleZero ledger (default for localnet: http://localhost:8899).
    #[arg(long, env = "DZ_LEDGER_RPC_URL")]
    rpc_url: Option<String>,
    /// Serviceability program ID.
    #[arg(long, required_unless_present = "env", conflicts_with = "env")]
    program_id: Option<Pubkey>,
    /// DoubleZero environment: mainnet-beta, testnet, devnet or localnet.
    #[arg(long, env = "DZ_ENV")]
    env: Option<Env>,
    /// Only this device's users (all devices without it).
    #[arg(long)]
    device: Option<Pubkey>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
    /// Allow plain http:// to a host other than loopback.
    #[arg(long)]
    allow_insecure_http: bool,
    /// Reach the RPC from this network namespace (e.g. ns-management, the management VRF).
    #[arg(long, value_name = "NAME")]
    pub management_namespace: Option<String>,
}

/// One row of `--json`: exactly these keys, enums as lowercase strings.
#[derive(Debug, Serialize)]
struct UserRow {
    pubkey: String,
    device_pk: String,
    user_type: String,
    status: String,
    tunnel_id: u16,
    tunnel_net: String,
    client_ip: String,
    dz_ip: String,
    bgp_status: String,
    last_bgp_up_at: u64,
    last_bgp_reported_at: u64,
    bgp_rtt_ns: u64,
}

impl UserRow {
    fn new(pubkey: &Pubkey, user: &User) -> Self {
        Self {
            pubkey: pubkey.to_string(),
            device_pk: user.device_pk.to_string(),
            user_type: user.user_type.to_string(),
            status: user.status.to_string(),
            tunnel_id: user.tunnel_id,
            tunnel_net: user.tunnel_net.to_string(),
            client_ip: user.client_ip.to_string(),
            dz_ip: user.dz_ip.to_string(),
            bgp_status: user.bgp_status.to_string(),
            last_bgp_up_at: user.last_bgp_up_at,
            last_bgp_reported_at: user.last_bgp_reported_at,
            bgp_rtt_ns: user.bgp_rtt_ns,
        }
    }
}

pub async fn run(args: Args, out: &mut dyn Write, err: &mut dyn Write) -> anyhow::Result<()> {
    let program_id = match (args.program_id, args.env) {
        (Some(program_id), _) => program_id,
        (None, Some(env)) => env.program_id(),
        (None, None) => anyhow::bail!("give --program-id or --env"),
    };
    let url = args
        .rpc_url
        .or_else(|| args.env.and_then(Env::default_rpc_url).map(String::from))
        .context("give --rpc-url (only localnet has a default)")?;
    let client = rpc::Client::new(rpc::ClientConfig {
        allow_insecure_http: args.allow_insecure_http,
        resolver: rpc::ResolverFiles::for_namespace(args.management_namespace.as_deref()),
        ..rpc::ClientConfig::new(url)
    })?;
    let accounts = client
        .get_program_accounts(
            &program_id,
            &user_filters(args.device.as_ref()),
            Commitment::Confirmed,
        )
        .await
        .with_context(|| format!("listing users from {}", client.endpoint()))?;

    let decoded = DecodedUsers::decode(&accounts.value);
    for (pubkey, error) in &decoded.failures {
        writeln!(err, "warning: skipping user account {pubkey}: {error}")?;
    }
    let mut rows: Vec<UserRow> = decoded
        .users
        .iter()
        .map(|(pubkey, user)| UserRow::new(pubkey, user))
        .collect();
    rows.sort_by(|a, b| {
        (&a.device_pk, a.tunnel_id, &a.pubkey).cmp(&(&b.device_pk, b.tunnel_id, &b.pubkey))
    });

    if args.json {
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
    } else {
        write_table(out, &rows)?;
    }
    Ok(())
}

fn write_table(out: &mut dyn Write, rows: &[UserRow]) -> std::io::Result<()> {
    let header = [
        "USER",
        "DEVICE",
        "TYPE",
        "STATUS",
        "BGP",
        "TUNNEL",
        "TUNNEL_NET",
        "CLIENT_IP",
        "DZ_IP",
        "RTT",
        "REPORTED_SLOT",
        "UP_SLOT",
    ];
    let cells: Vec<[String; 12]> = rows
        .iter()
        .map(|r| {
            [
                r.pubkey.clone(),
                r.device_pk.clone(),
                r.user_type.clone(),
                r.status.clone(),
                r.bgp_status.clone(),
                r.tunnel_id.to_string(),
                r.tunnel_net.clone(),
                r.client_ip.clone(),
                r.dz_ip.clone(),
                format_rtt(r.bgp_rtt_ns),
                r.last_bgp_reported_at.to_string(),
                r.last_bgp_up_at.to_string(),
            ]
        })
        .collect();
    let columns = Columns::fit(&header, &cells);
    writeln!(out, "{}", columns.line(&header))?;
    for row in &cells {
        writeln!(out, "{}", columns.line(row))?;
    }
    writeln!(out, "{} users", rows.len())
}
