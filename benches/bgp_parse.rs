//! Parse cost of the BGP peer table against the floor: a bare `serde_json` pass over the same
//! bytes that builds nothing (`IgnoredAny`). Generates a 10,000-peer, 50-VRF
//! `show ip bgp summary vrf all` reply shaped like EOS 4.3x output, takes the best of several
//! runs of each, and prints the ratio (goal: within 2x) and the reply's bytes per peer.
//!
//! Run with `cargo bench --bench bgp_parse`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use doublezero_bgpstatus::bgp::PeerTable;
use serde_json::{json, Map, Value};

const PEERS: usize = 10_000;
const VRFS: usize = 50;
const RUNS: usize = 25;

/// A summary with every field EOS sends, states and ASN forms mixed as on a real switch.
fn summary() -> String {
    let states = [
        "Established",
        "Established",
        "Established",
        "Active",
        "Idle",
        "Connect",
        "OpenSent",
    ];
    let mut vrfs = Map::new();
    for vrf in 0..VRFS {
        let mut peers = Map::new();
        for n in (vrf..PEERS).step_by(VRFS) {
            let key = if n % 10 == 9 {
                format!("fe80::{:x}:{:x}%Et{}", n / 256, n % 256, n % 48 + 1)
            } else {
                format!("10.{}.{}.{}", n / 65_536, n / 256 % 256, n % 256)
            };
            let asn = if n % 2 == 0 {
                json!(format!("{}", 65_000 + n))
            } else {
                json!(format!("65001.{n}"))
            };
            peers.insert(key, json!({
                "version": 4, "msgReceived": 1000 + n, "msgSent": 990 + n, "inMsgQueue": 0, "outMsgQueue": 0,
                "asn": asn, "prefixAccepted": n % 7, "prefixReceived": n % 7,
                "upDownTime": 1_721_080_527.052_693 + n as f64, "underMaintenance": false,
                "peerState": states[n % states.len()],
            }));
        }
        let name = if vrf == 0 {
            "default".to_owned()
        } else {
            format!("vrf{vrf}")
        };
        vrfs.insert(name.clone(), json!({"vrf": name, "routerId": "192.168.0.1", "asn": "65001", "peers": Value::Object(peers)}));
    }
    json!({ "vrfs": vrfs }).to_string()
}

/// The fastest of `RUNS` runs; the result is dropped after the clock stops, since freeing it
/// is not parsing.
fn best_of<T>(mut run: impl FnMut() -> T) -> Duration {
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let result = black_box(run());
            let elapsed = start.elapsed();
            drop(result);
            elapsed
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let text = summary();
    let table = PeerTable::from_summaries([text.as_str()]).expect("generated summary parses");
    assert_eq!(table.len(), PEERS);

    let bare = best_of(|| {
        black_box(
            serde_json::from_slice::<serde::de::IgnoredAny>(black_box(text.as_bytes()))
                .expect("valid JSON"),
        );
    });
    let parsed = best_of(|| {
        black_box(PeerTable::from_summaries([black_box(text.as_str())]).expect("valid summary"));
    });

    println!(
        "summary: {PEERS} peers in {VRFS} VRFs, {} bytes, {} bytes/peer",
        text.len(),
        text.len() / PEERS
    );
    println!("bare serde_json (IgnoredAny): {bare:?} (best of {RUNS})");
    println!("PeerTable::from_summaries:    {parsed:?} (best of {RUNS})");
    println!(
        "ratio: {:.2}x (goal: within 2x)",
        parsed.as_secs_f64() / bare.as_secs_f64()
    );
}
