//! How much the agent downloads for its device's view, against a full program scan, on a
//! mainnet-sized program: 5,000 users over 100 devices, in the three layouts that exist on chain
//! (current, old 32-byte feed_pk slot, pre-BGP-fields). Prints both byte counts and the ratio;
//! the goal is at most 2 %.
//!
//! Run with `cargo bench -p doublezero-bgpstatus-e2e --bench view_bytes`.

use std::net::Ipv4Addr;

use doublezero_bgpstatus::metrics::CacheMetrics;
use doublezero_bgpstatus::rpc::{Client, ClientConfig, Commitment};
use doublezero_bgpstatus::serviceability::{RpcSource, ViewSource};
use doublezero_bgpstatus_e2e::ledger::{self, LedgerSim, NewDevice, NewUser, UserLayout};
use solana_pubkey::Pubkey;

const DEVICES: usize = 100;
const USERS: usize = 5_000;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let sim = LedgerSim::start(ledger::Config::default()).await?;
    let devices: Vec<Pubkey> = (0..DEVICES)
        .map(|d| {
            sim.create_device(&NewDevice {
                public_ip: Ipv4Addr::new(45, 1, (d / 256) as u8, (d % 256) as u8),
                ..NewDevice::new(format!("dz-bench{d}"), Pubkey::new_unique())
            })
        })
        .collect();
    for u in 0..USERS {
        let k = (u / DEVICES) as u16;
        let [hi, lo] = (2 * k).to_be_bytes();
        let mut user = NewUser::activated(
            devices[u % DEVICES],
            Ipv4Addr::new(169, 254, hi, lo),
            500 + k,
        );
        user.layout = match u % 10 {
            0 => UserLayout::PreBgp,
            1..=3 => UserLayout::OldFeedPk,
            _ => UserLayout::Head,
        };
        sim.create_user(&user);
    }

    let full = Client::new(ClientConfig::new(sim.url()))?;
    let scan = full
        .get_program_accounts(&sim.program_id(), &[], Commitment::Confirmed)
        .await?;
    let full_bytes = full.bytes_received();

    let registry = prometheus::Registry::new();
    let source = RpcSource {
        client: Client::new(ClientConfig::new(sim.url()))?,
        program_id: sim.program_id(),
        device_pk: devices[0],
        commitment: Commitment::Confirmed,
        metrics: CacheMetrics::register(&registry)?,
    };
    let view = source.fetch().await?;
    let view_bytes = source.client.bytes_received();

    println!(
        "program: {} accounts ({DEVICES} devices, {USERS} users, 3 layouts)",
        scan.value.len()
    );
    println!("full program scan:   {full_bytes:>10} bytes on the wire");
    println!(
        "one device's view:   {view_bytes:>10} bytes on the wire ({} users + the device)",
        view.users.len()
    );
    let ratio = view_bytes as f64 / full_bytes as f64;
    println!(
        "ratio: {:.2} % (goal <= 2 %): {}",
        ratio * 100.0,
        if ratio <= 0.02 { "met" } else { "NOT met" }
    );
    sim.shutdown().await;
    Ok(())
}
