//! Parse cost of the two tables read every tick against the floor: a bare `serde_json` pass over
//! the same bytes that builds nothing (`IgnoredAny`). Generates a 10,000-peer, 50-VRF
//! `show ip bgp summary vrf all` reply shaped like EOS 4.3x output and a `show ip interface`
//! reply of 10,000 tunnels among other interfaces, shaped like the recorded sample; takes the
//! best of several runs of each, and prints the ratios (goal: within 2x) and bytes per entry.
//!
//! Run with `cargo bench --bench bgp_parse`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use doublezero_bgpstatus::bgp::{self, PeerTable, SummaryMemo};
use doublezero_bgpstatus::eapi;
use doublezero_bgpstatus::tunnel::TunnelTable;
use serde_json::{json, Map, Value};

const PEERS: usize = 10_000;
const VRFS: usize = 50;
const RUNS: usize = 25;

/// A summary with every field EOS sends, states and ASN forms mixed as on a real switch,
/// `seconds` into a run of `timers bgp 1 3` (every session's message counters move by one a
/// second).
fn summary(seconds: usize) -> String {
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
                "version": 4, "msgReceived": 1000 + n + seconds, "msgSent": 990 + n + seconds, "inMsgQueue": 0, "outMsgQueue": 0,
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

/// `show ip interface` with every field of the recorded sample: the tunnels, and as many
/// Ethernet and Vlan interfaces beside them as a fabric switch carries.
fn interfaces() -> String {
    let address = |ip: String, mask: u8| {
        json!({
            "secondaryIpsOrderedList": [], "broadcastAddress": "255.255.255.255",
            "secondaryIps": {}, "primaryIp": {"maskLen": mask, "address": ip},
            "virtualIp": {"maskLen": 0, "address": "0.0.0.0"}
        })
    };
    let interface = |name: &str, address: Value, vrf: String, up: bool| {
        json!({
            "interfaceAddress": address, "name": name, "urpf": "disable",
            "interfaceStatus": if up { "connected" } else { "notconnect" }, "enabled": true,
            "mtu": 9214, "vrf": vrf, "localProxyArp": false, "proxyArp": false,
            "lineProtocolStatus": if up { "up" } else { "lowerLayerDown" },
            "description": "managed by the controller"
        })
    };
    let mut map = Map::new();
    for n in 0..PEERS {
        let name = format!("Tunnel{}", 500 + n);
        let ip = format!("169.{}.{}.{}", 254 - n / 32_768, n / 128 % 256, n * 2 % 256);
        let vrf = format!("vrf{}", n % VRFS);
        map.insert(
            name.clone(),
            interface(&name, address(ip, 31), vrf, n % 5 != 0),
        );
    }
    for n in 0..PEERS / 10 {
        let name = format!("Ethernet{}/1", n + 1);
        let ip = format!("10.1.{}.{}", n / 64 % 256, n * 4 % 256);
        map.insert(
            name.clone(),
            interface(&name, address(ip, 30), "default".into(), true),
        );
    }
    json!({ "interfaces": map }).to_string()
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
    let text = summary(0);
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

    // The whole eAPI reply as a poll reads it: the envelope decoded into per-command results
    // and the result then parsed, against one pass over the body (the cursor that reads a
    // plainly written reply), and against a bare pass over the reply.
    let request =
        doublezero_bgpstatus::eapi::Request::new().commands([bgp::ipv4_summary_command()]);
    let reply = format!(r#"{{"jsonrpc": "2.0", "id": "x", "result": [{text}]}}"#);
    let body = eapi::Body::new(&request, reply.clone().into_bytes());
    let two_pass = best_of(|| {
        let reply = body.decode().expect("a reply");
        black_box(PeerTable::from_reply(&reply, 0..1).expect("valid summary"));
    });
    let bare_reply = best_of(|| {
        black_box(
            serde_json::from_slice::<serde::de::IgnoredAny>(black_box(reply.as_bytes()))
                .expect("valid JSON"),
        );
    });
    // A poll at rest: the reply of one second later, read alone and against the one before
    // (as a poll reads it), in turns; replies are copied in before the clock starts.
    let polls: Vec<String> = (0..2)
        .map(|second| {
            format!(
                r#"{{"jsonrpc": "2.0", "id": "x", "result": [{}]}}"#,
                summary(second)
            )
        })
        .collect();
    let mut memo = SummaryMemo::default();
    let [mut alone, mut against] = [Duration::MAX; 2];
    for run in 0..RUNS * 2 {
        for (best, memo) in [
            (&mut alone, &mut SummaryMemo::default()),
            (&mut against, &mut memo),
        ] {
            let body = eapi::Body::new(&request, polls[run % 2].clone().into_bytes());
            let start = Instant::now();
            let table = black_box(PeerTable::from_summary_body(body, memo).expect("valid summary"));
            *best = (*best).min(start.elapsed());
            drop(table);
        }
    }
    let one_pass = alone;
    println!("reply -> envelope -> table:   {two_pass:?} (best of {RUNS})");
    println!(
        "reply -> table, one pass:     {one_pass:?} (best of {})",
        RUNS * 2
    );
    println!("reply, bare serde_json:       {bare_reply:?} (best of {RUNS})");
    println!(
        "one pass: {:.2}x the time of two, {:.2}x a bare serde_json pass",
        one_pass.as_secs_f64() / two_pass.as_secs_f64(),
        one_pass.as_secs_f64() / bare_reply.as_secs_f64()
    );
    println!(
        "a poll at rest read against the one before: {against:?}, {:.2}x the one pass alone",
        against.as_secs_f64() / one_pass.as_secs_f64()
    );

    let text = interfaces();
    let table = TunnelTable::from_json(&text).expect("generated interfaces parse");
    assert_eq!(table.len(), PEERS);
    let bare = best_of(|| {
        black_box(
            serde_json::from_slice::<serde::de::IgnoredAny>(black_box(text.as_bytes()))
                .expect("valid JSON"),
        );
    });
    let parsed = best_of(|| {
        black_box(TunnelTable::from_json(black_box(&text)).expect("valid interfaces"));
    });
    println!();
    println!(
        "interfaces: {PEERS} tunnels and {} others, {} bytes, {} bytes/tunnel",
        PEERS / 10,
        text.len(),
        text.len() / PEERS
    );
    println!("bare serde_json (IgnoredAny): {bare:?} (best of {RUNS})");
    println!("TunnelTable::from_json:       {parsed:?} (best of {RUNS})");
    println!(
        "ratio: {:.2}x (goal: within 2x)",
        parsed.as_secs_f64() / bare.as_secs_f64()
    );
}
