//! The EOS eAPI simulator against the agent's real eAPI client and BGP reader: what the
//! simulator is told is what the agent reads, each injected failure becomes the agent's typed
//! `EapiError`, and the replies have the shape of the recorded samples in `tests/fixtures/eos`.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use doublezero_bgpstatus::bgp::PeerTable;
use doublezero_bgpstatus::eapi::{Client, Command, EapiError};
use doublezero_bgpstatus::switch::{self, fetch_rtts, Summaries};
use doublezero_bgpstatus_e2e::eapi_sim::{
    load_replay, Connections, Daemon, EapiSim, Fault, Peer, SimConfig, Tunnel,
};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The peer table as an operator's `peers` reads it: both summaries, with the interfaces, in one
/// request.
async fn fetch_peers(client: &Client) -> Result<PeerTable, EapiError> {
    Ok(switch::observe(client, Summaries::Both).await?.peers)
}

struct Lab {
    sim: EapiSim,
    _dir: tempfile::TempDir,
}

impl Lab {
    async fn start(configure: impl FnOnce(&mut SimConfig)) -> Lab {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = SimConfig::new(dir.path().join("command-api.sock"));
        configure(&mut config);
        let sim = EapiSim::start(config).await.expect("simulator starts");
        Lab { sim, _dir: dir }
    }

    fn client(&self) -> Client {
        Client::new(self.sim.socket_path()).with_timeout(Duration::from_secs(5))
    }

    async fn peers(&self) -> PeerTable {
        fetch_peers(&self.client()).await.expect("peer table")
    }

    async fn run(&self, command: &str) -> Result<Value, EapiError> {
        let mut values = self.client().run(&[Command::new(command)]).await?;
        Ok(values.remove(0))
    }

    /// Runs a privileged command the way the agent does: `enable` first.
    async fn run_privileged(&self, command: &str) -> Result<Value, EapiError> {
        let mut values = self
            .client()
            .run(&[Command::new(command).privileged()])
            .await?;
        Ok(values.remove(0))
    }
}

fn fixture_path(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/eos")
        .join(name)
}

fn fixture(name: &str) -> Value {
    let text = std::fs::read_to_string(fixture_path(name)).expect("fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn states(table: &PeerTable) -> BTreeMap<String, String> {
    table
        .iter()
        .map(|peer| {
            (
                format!("{}/{}", peer.vrf, peer.addr),
                peer.state.as_str().to_owned(),
            )
        })
        .collect()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn configured_peers_are_read_by_the_agent_with_their_vrfs_and_states() {
    let lab = Lab::start(|config| {
        config.peers = vec![
            Peer::new("vrf1", "169.254.0.1", "Established"),
            Peer::new("vrf1", "169.254.0.3", "Active"),
            Peer::new("default", "2001:db8::1", "Established"),
            // Listed by both summaries (RFC 5549), one session to the agent.
            Peer::new("default", "fe80::1%Et3", "Idle"),
        ]
    })
    .await;
    let table = lab.peers().await;
    assert_eq!(
        states(&table),
        BTreeMap::from([
            ("default/2001:db8::1".into(), "Established".into()),
            ("default/fe80::1%Et3".into(), "Idle".into()),
            ("vrf1/169.254.0.1".into(), "Established".into()),
            ("vrf1/169.254.0.3".into(), "Active".into()),
        ])
    );
    let up = table.get("vrf1", &"169.254.0.1".parse().unwrap()).unwrap();
    assert!(up.up_down_time.is_some());
    assert_eq!(up.asn.as_ref().map(|asn| asn.as_str()), Some("65001"));
    assert_eq!(
        lab.sim.requests(),
        [[
            "show ip interface",
            "show ip bgp summary vrf all",
            "show ipv6 bgp summary vrf all"
        ]],
        "one request, the interfaces first, as the agent reads the switch"
    );
}

#[tokio::test]
async fn peer_changes_and_removals_show_on_the_next_read() {
    let lab =
        Lab::start(|config| config.peers = vec![Peer::new("vrf1", "169.254.0.1", "Established")])
            .await;
    lab.sim
        .set_peer(Peer::new("vrf1", "169.254.0.1", "Idle"))
        .unwrap();
    lab.sim
        .set_peer(Peer::new("vrf1", "169.254.0.5", "OpenSent"))
        .unwrap();
    assert_eq!(
        states(&lab.peers().await),
        BTreeMap::from([
            ("vrf1/169.254.0.1".into(), "Idle".into()),
            ("vrf1/169.254.0.5".into(), "OpenSent".into()),
        ])
    );
    assert!(lab.sim.remove_peer("vrf1", "169.254.0.1"));
    assert!(!lab.sim.remove_peer("vrf1", "169.254.0.1"));
    assert_eq!(lab.peers().await.len(), 1);
}

#[tokio::test]
async fn rtts_come_from_snd_rtt_in_microseconds_for_established_peers_only() {
    let mut slow = Peer::new("vrf1", "169.254.0.1", "Established");
    slow.rtt_us = Some(4287);
    let mut v6 = Peer::new("default", "2001:db8::1", "Established");
    v6.rtt_us = Some(250);
    let lab = Lab::start(|config| {
        config.peers = vec![slow, v6, Peer::new("vrf1", "169.254.0.3", "Active")];
    })
    .await;
    let table = lab.peers().await;
    let keys: Vec<_> = table.iter().map(|peer| peer.key()).collect();
    let mut sessions = std::collections::HashMap::new();
    for peer in table.iter() {
        *sessions.entry(peer.vrf.clone()).or_default() += 1;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let rtts = fetch_rtts(&lab.client(), &keys, &sessions, deadline).await;
    let by_addr: BTreeMap<String, Duration> = rtts
        .into_iter()
        .map(|(key, rtt)| (key.addr.to_string(), rtt))
        .collect();
    assert_eq!(
        by_addr,
        BTreeMap::from([
            ("169.254.0.1".into(), Duration::from_micros(4287)),
            ("2001:db8::1".into(), Duration::from_micros(250)),
        ])
    );
}

#[tokio::test]
async fn switch_without_bgp_reads_as_an_empty_table_from_error_1000() {
    let lab = Lab::start(|config| {
        config.bgp = false;
        config.peers = vec![Peer::new("vrf1", "169.254.0.1", "Established")];
    })
    .await;
    assert!(lab.peers().await.is_empty());
    match lab.run("show ip bgp summary vrf all").await {
        Err(EapiError::Command { code, failures, .. }) => {
            assert_eq!(code, 1000);
            assert_eq!(failures[0].errors, ["BGP inactive"]);
        }
        other => panic!("expected BGP inactive, got {other:?}"),
    }
    lab.sim.set_bgp(true);
    assert_eq!(lab.peers().await.len(), 1);
}

#[tokio::test]
async fn removed_socket_is_socket_missing_until_the_fault_is_cleared() {
    let lab = Lab::start(|_| {}).await;
    lab.sim.set_fault(Fault::SocketGone).unwrap();
    assert!(!lab.sim.socket_path().exists());
    let err = fetch_peers(&lab.client()).await.unwrap_err();
    assert!(matches!(err, EapiError::SocketMissing { .. }), "{err:?}");
    lab.sim.clear_fault().unwrap();
    assert!(lab.peers().await.is_empty());
}

#[tokio::test]
async fn permission_fault_makes_the_socket_mode_000_and_clearing_restores_it() {
    let lab = Lab::start(|_| {}).await;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let before = mode(lab.sim.socket_path());
    lab.sim.set_fault(Fault::PermissionDenied).unwrap();
    assert_eq!(mode(lab.sim.socket_path()), 0);
    // Root (the agent on EOS, and CI containers) ignores the mode, so only a non-root run
    // observes the error.
    if let Err(err) = fetch_peers(&lab.client()).await {
        assert!(matches!(err, EapiError::PermissionDenied { .. }), "{err:?}");
    }
    lab.sim.clear_fault().unwrap();
    assert_eq!(mode(lab.sim.socket_path()), before);
}

#[tokio::test]
async fn slow_reply_is_a_timeout_for_a_client_with_a_shorter_timeout() {
    let lab = Lab::start(|_| {}).await;
    lab.sim.set_fault(Fault::Slow { delay_ms: 2_000 }).unwrap();
    let client = Client::new(lab.sim.socket_path()).with_timeout(Duration::from_millis(200));
    let err = fetch_peers(&client).await.unwrap_err();
    assert!(matches!(err, EapiError::Timeout { .. }), "{err:?}");
}

#[tokio::test]
async fn garbage_and_truncated_replies_are_http_protocol_errors() {
    let lab =
        Lab::start(|config| config.peers = vec![Peer::new("vrf1", "169.254.0.1", "Idle")]).await;
    for fault in [Fault::Garbage, Fault::Truncated] {
        lab.sim.set_fault(fault.clone()).unwrap();
        let err = fetch_peers(&lab.client()).await.unwrap_err();
        assert!(matches!(err, EapiError::Http { .. }), "{fault:?}: {err:?}");
        assert!(err.is_transient());
    }
}

#[tokio::test]
async fn json_rpc_error_fault_is_an_rpc_error_with_its_code() {
    let lab = Lab::start(|_| {}).await;
    lab.sim
        .set_fault(Fault::RpcError {
            code: -32600,
            message: "Expected field 'jsonrpc' not specified".into(),
        })
        .unwrap();
    match fetch_peers(&lab.client()).await {
        Err(EapiError::Rpc { code, message }) => {
            assert_eq!(code, -32600);
            assert!(message.contains("jsonrpc"));
        }
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn command_error_fault_fails_that_command_with_its_code_and_errors() {
    let lab = Lab::start(|_| {}).await;
    lab.sim
        .set_fault(Fault::CommandError {
            command: "show ipv6 bgp summary vrf all".into(),
            code: 1005,
            errors: vec!["Command unauthorized: user has insufficient permissions".into()],
        })
        .unwrap();
    match fetch_peers(&lab.client()).await {
        Err(EapiError::Command { code, failures, .. }) => {
            assert_eq!(code, 1005);
            assert_eq!(failures[0].command, "show ipv6 bgp summary vrf all");
        }
        other => panic!("expected a command error, got {other:?}"),
    }
    lab.sim.clear_fault().unwrap();
    assert!(lab.peers().await.is_empty());
}

#[tokio::test]
async fn unknown_command_is_error_1002_invalid_input_as_eos_answers() {
    let lab = Lab::start(|_| {}).await;
    match lab.run("show bogus").await {
        Err(EapiError::Command {
            code,
            message,
            failures,
        }) => {
            assert_eq!(code, 1002);
            assert_eq!(
                message,
                "CLI command 1 of 1 'show bogus' failed: invalid command"
            );
            assert_eq!(failures[0].errors, ["Invalid input (at token 1: 'bogus')"]);
        }
        other => panic!("expected 1002, got {other:?}"),
    }
}

fn our_daemon() -> Daemon {
    Daemon {
        name: "doublezero-bgpstatus".into(),
        exec: "/usr/bin/doublezero-bgpstatus run".into(),
        options: BTreeMap::from([
            ("rpc-url".into(), "http://127.0.0.1:8899".into()),
            ("name".into(), "Bruce Wayne".into()),
        ]),
        shutdown: false,
    }
}

#[tokio::test]
async fn rtt_reads_stop_at_their_deadline_when_the_switch_is_slow() {
    let mut user = Peer::new("vrf1", "169.254.0.1", "Established");
    user.tunnel = Some("Tunnel500".into());
    let lab = Lab::start(|config| config.peers = vec![user]).await;
    let table = lab.peers().await;
    let keys: Vec<_> = table.iter().map(|peer| peer.key()).collect();
    lab.sim.set_fault(Fault::Slow { delay_ms: 3_000 }).unwrap();
    let started = tokio::time::Instant::now();
    let rtts = fetch_rtts(
        &lab.client(),
        &keys,
        &std::collections::HashMap::new(),
        started + Duration::from_millis(300),
    )
    .await;
    assert!(rtts.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn daemon_options_are_read_by_the_agents_config_parser() {
    let lab = Lab::start(|config| config.daemons = vec![our_daemon()]).await;
    let config = lab
        .run_privileged("show running-config section daemon doublezero-bgpstatus")
        .await
        .unwrap();
    let options = doublezero_bgpstatus::config::daemon_options(&config, "doublezero-bgpstatus")
        .unwrap()
        .unwrap();
    assert_eq!(options["rpc-url"], "http://127.0.0.1:8899");
    assert_eq!(options["name"], "Bruce Wayne");
    let absent = lab
        .run_privileged("show running-config section daemon other")
        .await
        .unwrap();
    assert_eq!(
        doublezero_bgpstatus::config::daemon_options(&absent, "other"),
        Ok(None)
    );
}

#[tokio::test]
async fn the_running_config_without_enable_fails_as_on_eos() {
    let lab = Lab::start(|config| config.daemons = vec![our_daemon()]).await;
    let err = lab
        .run("show running-config section daemon doublezero-bgpstatus")
        .await
        .unwrap_err();
    let EapiError::Command {
        code: 1002,
        failures,
        ..
    } = &err
    else {
        panic!("expected 1002, got {err:?}");
    };
    assert_eq!(
        failures[0].errors,
        ["Invalid input (privileged mode required)"]
    );
}

#[tokio::test]
async fn the_agent_reads_its_options_under_every_reading_of_the_unknown_eos_facts() {
    use doublezero_bgpstatus_e2e::eapi_sim::SectionJson;
    let lab = Lab::start(|config| config.daemons = vec![our_daemon()]).await;
    for section_json in [
        SectionJson::Filtered,
        SectionJson::Ignored,
        SectionJson::Empty,
        SectionJson::Refused,
    ] {
        for starts_privileged in [false, true] {
            lab.sim.set_eos_behaviour(starts_privileged, section_json);
            let options =
                doublezero_bgpstatus::config::read_options(&lab.client(), "doublezero-bgpstatus")
                    .await
                    .unwrap_or_else(|e| panic!("{section_json:?}/{starts_privileged}: {e}"));
            assert_eq!(
                options.get("name").map(String::as_str),
                Some("Bruce Wayne"),
                "{section_json:?}/{starts_privileged}"
            );
            let none = doublezero_bgpstatus::config::read_options(&lab.client(), "other")
                .await
                .unwrap();
            assert!(none.is_empty(), "{section_json:?}: no block, no options");
        }
    }
    // Every request that asked for the running-config started with `enable`.
    for request in lab.sim.requests() {
        if request.iter().any(|c| c.starts_with("show running-config")) {
            assert_eq!(request[0], "enable", "{request:?}");
        }
    }
}

#[tokio::test]
async fn interface_models_have_the_keys_of_the_recorded_samples() {
    let mut user = Peer::new("vrf1", "169.254.0.1", "Established");
    user.tunnel = Some("Tunnel500".into());
    let lab = Lab::start(|config| config.peers = vec![user]).await;

    let brief = lab.run("show ip interface brief").await.unwrap();
    let sample = fixture("doublezero-ceos-show_ip_interface_brief.json");
    assert_eq!(keys(&brief), keys(&sample));
    let (ours, theirs) = (
        &brief["interfaces"]["Tunnel500"],
        &sample["interfaces"]["Tunnel1"],
    );
    assert_eq!(keys(ours), keys(theirs));
    assert_eq!(
        keys(&ours["interfaceAddress"]),
        keys(&theirs["interfaceAddress"])
    );
    assert_eq!(
        ours["interfaceAddress"]["ipAddr"],
        json!({"address": "169.254.0.0", "maskLen": 31})
    );

    let full = lab.run("show ip interface").await.unwrap();
    // goeapi recorded the whole `result` list; the model is its one element.
    let sample = &fixture("goeapi-show_ip_interface.json")[0];
    assert_eq!(keys(&full), keys(sample));
    let (ours, theirs) = (
        &full["interfaces"]["Tunnel500"],
        &sample["interfaces"]["Loopback0"],
    );
    assert_eq!(keys(ours), keys(theirs));
    assert_eq!(
        keys(&ours["interfaceAddress"]),
        keys(&theirs["interfaceAddress"])
    );
    assert_eq!(ours["vrf"], "vrf1");

    let version = lab.run("show version").await.unwrap();
    assert_eq!(
        keys(&version),
        keys(&fixture("napalm-ceos4.30.0F-show_version.json"))
    );
}

#[tokio::test]
async fn tunnels_come_and_go_with_their_peers_unless_set_explicitly() {
    let lab = Lab::start(|_| {}).await;
    let tunnels = |brief: Value| -> Vec<String> {
        keys(&brief["interfaces"])
            .into_iter()
            .filter(|name| name.starts_with("Tunnel"))
            .collect()
    };
    let mut user = Peer::new("vrf1", "169.254.0.3", "Established");
    user.tunnel = Some("Tunnel501".into());
    lab.sim.set_peer(user).unwrap();
    lab.sim
        .set_tunnel(Tunnel {
            name: "Tunnel600".into(),
            vrf: "vrf1".into(),
            address: "169.254.1.0/31".into(),
            up: false,
        })
        .unwrap();
    let brief = lab.run("show ip interface brief").await.unwrap();
    assert_eq!(
        brief["interfaces"]["Tunnel600"]["lineProtocolStatus"],
        "down"
    );
    assert_eq!(tunnels(brief), ["Tunnel501", "Tunnel600"]);

    lab.sim.remove_peer("vrf1", "169.254.0.3");
    let brief = lab.run("show ip interface brief").await.unwrap();
    assert_eq!(tunnels(brief), ["Tunnel600"]);
    assert!(lab.sim.remove_tunnel("Tunnel600"));
}

/// One raw `runCmds` exchange, returning the HTTP body as bytes.
async fn raw_exchange(socket: &Path, commands: &[&str]) -> Vec<u8> {
    let body = json!({"jsonrpc": "2.0", "method": "runCmds",
        "params": {"version": 1, "cmds": commands, "format": "json"}, "id": "r"})
    .to_string();
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let request = format!(
        "POST /command-api HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json-rpc\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).await.unwrap();
    let split = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&reply[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("Connection: close"), "{head}");
    reply[split + 4..].to_vec()
}

#[tokio::test]
async fn replayed_sample_is_served_byte_for_byte_as_the_summary_result() {
    let name = "napalm-eos4.30.5M-asdot-linklocal-show_ip_bgp_summary_vrf_all.json";
    let recorded = std::fs::read_to_string(fixture_path(name)).unwrap();
    let replay = load_replay(&fixture_path(name)).unwrap();
    let lab = Lab::start(|config| config.replay = replay).await;

    let body = raw_exchange(lab.sim.socket_path(), &["show ip bgp summary vrf all"]).await;
    let expected = format!(r#"{{"jsonrpc":"2.0","id":"r","result":[{recorded}]}}"#);
    assert_eq!(String::from_utf8(body).unwrap(), expected);

    let table = lab.peers().await;
    assert_eq!(table.len(), 3);
    assert!(table.iter().all(|peer| peer.addr.scope().is_some()));
}

/// A minimal HTTP/1.1 client for the control API (JSON in, status code out).
async fn control(addr: &str, method: &str, path: &str, body: Value) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.to_string();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    reply
        .split(' ')
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("no status in {reply:?}"))
}

#[tokio::test]
async fn binary_serves_demo_users_and_obeys_its_control_api() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("command-api.sock");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_eapi-sim"))
        .arg("--socket")
        .arg(&socket)
        .args(["--control", "127.0.0.1:0", "--demo-users", "3"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("eapi-sim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .await
        .unwrap();
    let ready: Value = serde_json::from_str(&line).expect("a JSON line on stdout");
    assert_eq!(ready["socket"], socket.to_str().unwrap());
    let addr = ready["control"].as_str().unwrap().to_owned();

    let client = Client::new(&socket).with_timeout(Duration::from_secs(5));
    let table = fetch_peers(&client).await.unwrap();
    assert_eq!(table.len(), 3);
    assert!(table
        .iter()
        .all(|peer| peer.is_established() && &*peer.vrf == "vrf1"));
    let brief = client
        .run(&[Command::new("show ip interface brief")])
        .await
        .unwrap();
    assert_eq!(
        brief[0]["interfaces"]["Tunnel502"]["interfaceAddress"]["ipAddr"],
        json!({"address": "169.254.0.4", "maskLen": 31})
    );

    let down = json!({"vrf": "vrf1", "address": "169.254.0.5", "state": "Idle"});
    assert_eq!(control(&addr, "POST", "/peers", down).await, 204);
    let bad = json!({"vrf": "vrf1", "address": "nope"});
    assert_eq!(control(&addr, "POST", "/peers", bad).await, 400);
    let removed = json!({"vrf": "vrf1", "address": "169.254.0.1"});
    assert_eq!(control(&addr, "POST", "/peers/remove", removed).await, 204);
    let table = fetch_peers(&client).await.unwrap();
    assert_eq!(
        states(&table),
        BTreeMap::from([
            ("vrf1/169.254.0.3".into(), "Established".into()),
            ("vrf1/169.254.0.5".into(), "Idle".into()),
        ])
    );

    let fault = json!({"kind": "socket_gone"});
    assert_eq!(control(&addr, "POST", "/fault", fault).await, 204);
    let err = fetch_peers(&client).await.unwrap_err();
    assert!(matches!(err, EapiError::SocketMissing { .. }), "{err:?}");
    assert_eq!(control(&addr, "DELETE", "/fault", Value::Null).await, 204);
    assert_eq!(fetch_peers(&client).await.unwrap().len(), 2);

    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

/// Whether EOS keeps connections on the socket is not established (eos.md §1.2): one client
/// reads the switch again and again under each reading of it, reads every time, and opens a
/// connection per request unless the server keeps them. A server that leaves a request on a
/// kept connection unanswered costs one reading, then the client stops reusing connections.
#[tokio::test]
async fn the_client_reads_under_every_reading_of_keep_alive() {
    const READS: usize = 6;
    for (connections, expected) in [
        (Connections::Close, READS),
        (Connections::KeepAlive, 1),
        (Connections::CloseUnannounced, READS),
        // Each kept connection drops the next request, which goes again on a new one.
        (Connections::DropSecond, READS),
    ] {
        let lab = Lab::start(|config| {
            config.peers = vec![Peer::new("default", "10.0.0.1", "Established")];
            config.connections = connections;
        })
        .await;
        let client = lab.client();
        for read in 0..READS {
            let peers = fetch_peers(&client).await;
            assert_eq!(
                peers.map(|table| table.len()).ok(),
                Some(1),
                "{connections:?}, read {read}"
            );
        }
        assert_eq!(lab.sim.connections_accepted(), expected, "{connections:?}");
    }

    let lab = Lab::start(|config| {
        config.peers = vec![Peer::new("default", "10.0.0.1", "Established")];
        config.connections = Connections::IgnoreSecond;
    })
    .await;
    let client = Client::new(lab.sim.socket_path()).with_timeout(Duration::from_millis(500));
    assert!(fetch_peers(&client).await.is_ok());
    assert!(matches!(
        fetch_peers(&client).await,
        Err(EapiError::Timeout { .. })
    ));
    for _ in 0..3 {
        assert!(fetch_peers(&client).await.is_ok());
    }
    assert_eq!(
        lab.sim.connections_accepted(),
        4,
        "a connection per read after the timeout"
    );
}
