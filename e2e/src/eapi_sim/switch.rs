//! The simulated switch's state — BGP peers, GRE tunnels, `daemon` blocks — and how EOS renders
//! it as the JSON models of the commands the agent uses (eos.md §2–§4). Pure: no sockets, no
//! clock of its own (callers pass `now` as epoch seconds), so every rendering is unit-tested.
//!
//! The shapes follow the recorded samples in `tests/fixtures/eos` key for key; where EOS's
//! behaviour is not recorded the choice is marked [I] (inferred), as in the spec.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::SimError;

/// One BGP session as the control API and `--peers FILE` describe it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    /// The VRF the session lives in (`router bgp … vrf X`).
    #[serde(default = "default_vrf")]
    pub vrf: String,
    /// The peer key as EOS prints it: IPv4, IPv6, or link-local with scope (`fe80::1%Et3`).
    pub address: String,
    /// BGP FSM state: `Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm`, `Established`.
    #[serde(default = "default_state")]
    pub state: String,
    /// Remote AS, kept as text because EOS may print asdot (`65001.1028`).
    #[serde(default = "default_peer_asn")]
    pub asn: String,
    /// TCP smoothed RTT in microseconds (`peerTcpInfo.sndRtt`); only shown while Established.
    #[serde(default)]
    pub rtt_us: Option<u64>,
    /// Epoch seconds of the last state change; by default the moment the state was set.
    #[serde(default)]
    pub up_down_time: Option<f64>,
    /// IPv4 (or IPv6) unicast prefixes received; Established sessions only.
    #[serde(default)]
    pub prefix_received: u64,
    /// A GRE tunnel (`Tunnel500`) that exists while this peer does, holding the device side of
    /// the peer's /31 (the peer address with its last bit flipped).
    #[serde(default)]
    pub tunnel: Option<String>,
}

/// One GRE tunnel interface set explicitly; it stays until removed, whatever its peer does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tunnel {
    /// `Tunnel<id>`.
    pub name: String,
    #[serde(default = "default_vrf")]
    pub vrf: String,
    /// The device-side address and prefix length, `169.254.0.0/31`.
    pub address: String,
    /// Interface status `connected` and line protocol `up`, or `notconnect`/`down` [I].
    #[serde(default = "default_true")]
    pub up: bool,
}

/// A `daemon NAME` block of the running-config (eos.md §4.1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Daemon {
    pub name: String,
    /// The `exec` line's command.
    #[serde(default = "default_exec")]
    pub exec: String,
    /// `option KEY value VALUE` lines.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// `shutdown` instead of `no shutdown`.
    #[serde(default)]
    pub shutdown: bool,
}

impl Peer {
    /// A session in `state` with the defaults of `--peers FILE` (AS 65001), a 1.5 ms RTT and
    /// one received prefix, as a live user session looks.
    pub fn new(vrf: &str, address: &str, state: &str) -> Peer {
        Peer {
            vrf: vrf.into(),
            address: address.into(),
            state: state.into(),
            asn: default_peer_asn(),
            rtt_us: Some(1500),
            up_down_time: None,
            prefix_received: 1,
            tunnel: None,
        }
    }
}

fn default_vrf() -> String {
    "default".into()
}
fn default_state() -> String {
    "Established".into()
}
fn default_peer_asn() -> String {
    "65001".into()
}
fn default_true() -> bool {
    true
}
fn default_exec() -> String {
    "/usr/bin/doublezero-bgpstatus".into()
}

/// A session as stored: the description plus when its state last changed.
#[derive(Debug, Clone)]
struct Session {
    peer: Peer,
    since: f64,
}

/// How `show running-config section …` answers in JSON. Whether EOS honours `section` in JSON
/// mode is not established (eos.md §8, §9 item 2), so each reading is one setting and the agent
/// is tested under all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum SectionJson {
    /// Only the matching blocks.
    #[default]
    Filtered,
    /// The filter is ignored: the whole running-config.
    Ignored,
    /// An empty rendering, `{"cmds": {}}`.
    Empty,
    /// Error 1002, invalid input at the `section` token.
    Refused,
}

/// What answering costs CapiApp on this switch, so benchmarks can weigh one way of asking
/// against another. EOS's real figures are not established; a real switch answers each command
/// in milliseconds of CPU, and a neighbours listing costs with every peer it renders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommandCost {
    /// Per command of a request.
    #[serde(default)]
    pub per_command_us: u64,
    /// Per peer a neighbours reply lists.
    #[serde(default)]
    pub per_peer_listed_us: u64,
}

/// Everything the simulated switch knows. Keys of the maps are what EOS keys them by.
#[derive(Debug, Clone)]
pub struct Switch {
    /// Whether `router bgp` is configured; without it BGP commands fail with 1000 "BGP inactive".
    pub bgp: bool,
    /// Whether a request over the socket starts in privileged mode. Not established for the unix
    /// socket (eos.md §9 item 2): `false`, the unkind reading, unless a test says otherwise.
    pub starts_privileged: bool,
    pub section_json: SectionJson,
    /// What answering costs; replies are held back that long.
    pub command_cost: CommandCost,
    /// The local AS, as text (asdot possible).
    pub asn: String,
    pub router_id: Ipv4Addr,
    /// (vrf, peer key) → session.
    sessions: BTreeMap<(String, String), Session>,
    /// Explicit tunnels by name.
    tunnels: BTreeMap<String, Tunnel>,
    daemons: BTreeMap<String, Daemon>,
    /// Epoch seconds at "boot", for `show version`.
    booted: f64,
}

impl Switch {
    /// A switch with BGP configured and nothing else.
    pub fn new(asn: String, router_id: Ipv4Addr, booted: f64) -> Self {
        Switch {
            bgp: true,
            starts_privileged: false,
            section_json: SectionJson::Filtered,
            command_cost: CommandCost::default(),
            asn,
            router_id,
            sessions: BTreeMap::new(),
            tunnels: BTreeMap::new(),
            daemons: BTreeMap::new(),
            booted,
        }
    }

    /// Adds or replaces the session `(peer.vrf, peer.address)`, returning the one it replaced.
    /// The state-change time moves only when the state changes (or is given), as EOS's
    /// `upDownTime` does.
    pub fn set_peer(&mut self, peer: Peer, now: f64) -> Result<Option<Peer>, SimError> {
        let ip = peer_ip(&peer.address)?;
        if let Some(tunnel) = &peer.tunnel {
            if !matches!(ip, IpAddr::V4(_)) {
                return Err(SimError::Invalid(format!(
                    "peer {} has tunnel {tunnel} but is not IPv4; tunnel nets are IPv4 /31s",
                    peer.address
                )));
            }
            tunnel_id(tunnel)?;
        }
        let key = (peer.vrf.clone(), peer.address.clone());
        let since = match (peer.up_down_time, self.sessions.get(&key)) {
            (Some(time), _) => time,
            (None, Some(old)) if old.peer.state == peer.state => old.since,
            (None, _) => now,
        };
        let replaced = self.sessions.insert(key, Session { peer, since });
        Ok(replaced.map(|session| session.peer))
    }

    /// Removes a session, returning it. A tunnel it carried goes with it.
    pub fn remove_peer(&mut self, vrf: &str, address: &str) -> Option<Peer> {
        self.sessions
            .remove(&(vrf.to_owned(), address.to_owned()))
            .map(|session| session.peer)
    }

    /// The session keyed exactly `(vrf, address)`.
    pub fn peer(&self, vrf: &str, address: &str) -> Option<&Peer> {
        self.sessions
            .get(&(vrf.to_owned(), address.to_owned()))
            .map(|session| &session.peer)
    }

    /// Adds or replaces an explicit tunnel, which overrides a peer's tunnel of the same name.
    pub fn set_tunnel(&mut self, tunnel: Tunnel) -> Result<(), SimError> {
        tunnel_id(&tunnel.name)?;
        parse_net(&tunnel.address)?;
        self.tunnels.insert(tunnel.name.clone(), tunnel);
        Ok(())
    }

    /// Removes an explicit tunnel; true if it existed.
    pub fn remove_tunnel(&mut self, name: &str) -> bool {
        self.tunnels.remove(name).is_some()
    }

    /// Adds or replaces a `daemon` block.
    pub fn set_daemon(&mut self, daemon: Daemon) {
        self.daemons.insert(daemon.name.clone(), daemon);
    }

    /// The sessions, as described, in key order.
    pub fn peers(&self) -> impl Iterator<Item = &Peer> {
        self.sessions.values().map(|session| &session.peer)
    }

    /// The explicit tunnels, by name.
    pub fn tunnels(&self) -> impl Iterator<Item = &Tunnel> {
        self.tunnels.values()
    }

    /// The `daemon` blocks, by name.
    pub fn daemons(&self) -> impl Iterator<Item = &Daemon> {
        self.daemons.values()
    }

    /// VRFs with BGP: `default` plus every VRF with a session. EOS lists each configured VRF,
    /// even with no peers (eos.md §2.1).
    fn vrfs(&self) -> Vec<&str> {
        let mut vrfs: Vec<&str> = vec!["default"];
        for (vrf, _) in self.sessions.keys() {
            if !vrfs.contains(&vrf.as_str()) {
                vrfs.push(vrf);
            }
        }
        vrfs
    }

    /// `show ip|ipv6 bgp summary vrf <vrf|all>`. The IPv4 summary also lists link-local
    /// (RFC 5549) peers, as in the 4.30.5M sample.
    pub fn summary(&self, family: Family, vrf: &VrfFilter, now: f64) -> Value {
        let mut vrfs = Map::new();
        for name in self.vrfs().into_iter().filter(|name| vrf.matches(name)) {
            let mut peers = Map::new();
            for session in self.sessions_in(name).filter(|s| family.lists(&s.peer)) {
                peers.insert(session.peer.address.clone(), summary_peer(session, now));
            }
            vrfs.insert(
                name.to_owned(),
                json!({
                    "vrf": name,
                    "routerId": self.router_id.to_string(),
                    "asn": self.asn,
                    "peers": peers,
                }),
            );
        }
        json!({ "vrfs": vrfs })
    }

    /// `show ip bgp neighbors [<ip>] vrf <vrf|all>` (IPv4-transport peers) or
    /// `show ipv6 bgp peers [<ip>] vrf <vrf|all>` (IPv6-transport peers): one `peerList` per
    /// VRF; an unknown peer gives an empty list [I].
    pub fn neighbors(
        &self,
        family: Family,
        address: Option<&str>,
        vrf: &VrfFilter,
        now: f64,
    ) -> Value {
        let mut vrfs = Map::new();
        for name in self.vrfs().into_iter().filter(|name| vrf.matches(name)) {
            let list: Vec<Value> = self
                .sessions_in(name)
                .filter(|s| family.transports(&s.peer))
                .filter(|s| address.is_none_or(|address| same_peer(&s.peer.address, address)))
                .map(|session| self.neighbor(session, now))
                .collect();
            vrfs.insert(name.to_owned(), json!({ "peerList": list }));
        }
        json!({ "vrfs": vrfs })
    }

    /// `show ip interface brief`: the loopback plus every tunnel, shaped like the cEOS sample.
    pub fn ip_interface_brief(&self) -> Value {
        let interfaces: Map<String, Value> = self
            .interfaces()
            .into_iter()
            .map(|intf| {
                let value = json!({
                    "name": intf.name,
                    "interfaceStatus": intf.status(),
                    "lineProtocolStatus": intf.line_protocol(),
                    "mtu": intf.mtu,
                    "ipv4Routable240": false,
                    "ipv4Routable0": false,
                    "interfaceAddress": {
                        "ipAddr": { "address": intf.address.to_string(), "maskLen": intf.mask_len }
                    },
                    "nonRoutableClassEIntf": false,
                });
                (intf.name, value)
            })
            .collect();
        json!({ "interfaces": interfaces })
    }

    /// `show ip interface`: as above in the longer model, with `vrf` (goeapi sample).
    pub fn ip_interface(&self) -> Value {
        let interfaces: Map<String, Value> = self
            .interfaces()
            .into_iter()
            .map(|intf| {
                let value = json!({
                    "interfaceAddress": {
                        "secondaryIpsOrderedList": [],
                        "broadcastAddress": "255.255.255.255",
                        "secondaryIps": {},
                        "primaryIp": { "maskLen": intf.mask_len, "address": intf.address.to_string() },
                        "virtualIp": { "maskLen": 0, "address": "0.0.0.0" },
                    },
                    "name": intf.name,
                    "urpf": "disable",
                    "interfaceStatus": intf.status(),
                    "enabled": true,
                    "mtu": intf.mtu,
                    "vrf": intf.vrf,
                    "localProxyArp": false,
                    "proxyArp": false,
                    "lineProtocolStatus": intf.line_protocol(),
                    "description": "",
                });
                (intf.name, value)
            })
            .collect();
        json!({ "interfaces": interfaces })
    }

    /// `show running-config`: the hostname, the eAPI socket and every `daemon` block, in the JSON
    /// shape of eos.md §4.1.
    pub fn running_config(&self) -> Value {
        let mut cmds = Map::new();
        cmds.insert("hostname eapi-sim".into(), Value::Null);
        cmds.insert(
            "management api http-commands".into(),
            json!({"comments": [], "cmds": {"protocol unix-socket": null, "no shutdown": null}}),
        );
        for daemon in self.daemons.values() {
            let mut lines = Map::new();
            lines.insert(format!("exec {}", daemon.exec), Value::Null);
            for (key, value) in &daemon.options {
                lines.insert(format!("option {key} value {value}"), Value::Null);
            }
            let last = if daemon.shutdown {
                "shutdown"
            } else {
                "no shutdown"
            };
            lines.insert(last.to_owned(), Value::Null);
            cmds.insert(
                format!("daemon {}", daemon.name),
                json!({ "comments": [], "cmds": lines }),
            );
        }
        json!({ "cmds": cmds, "header": ["! Command: show running-config", "! device: eapi-sim"] })
    }

    /// `show running-config section <pattern>`, as [`Switch::section_json`] says: by default the
    /// top-level blocks whose header contains the pattern (EOS takes a regex; a substring covers
    /// `daemon NAME`). `None` when the switch refuses the `section` filter.
    pub fn running_config_section(&self, pattern: &str) -> Option<Value> {
        let whole = self.running_config();
        match self.section_json {
            SectionJson::Refused => None,
            SectionJson::Ignored => Some(whole),
            SectionJson::Empty => Some(json!({ "cmds": {} })),
            SectionJson::Filtered => {
                let cmds: Map<String, Value> = whole["cmds"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(header, _)| header.contains(pattern))
                    .map(|(header, block)| (header.clone(), block.clone()))
                    .collect();
                Some(json!({ "cmds": cmds }))
            }
        }
    }

    /// `show version`, with the keys of the cEOS 4.30.0F sample.
    pub fn version(&self, now: f64) -> Value {
        json!({
            "mfgName": "Arista",
            "modelName": "cEOSLab",
            "hardwareRevision": "",
            "serialNumber": "EAPISIM0000000000000000000000000",
            "systemMacAddress": "00:1c:73:00:00:01",
            "hwMacAddress": "00:00:00:00:00:00",
            "configMacAddress": "00:00:00:00:00:00",
            "version": "4.33.1F-eapi-sim",
            "architecture": "x86_64",
            "internalVersion": "4.33.1F-eapi-sim",
            "internalBuildId": "00000000-0000-0000-0000-000000000000",
            "imageFormatVersion": "1.0",
            "imageOptimization": "None",
            "cEosToolsVersion": "(unknown)",
            "kernelVersion": "eapi-sim",
            "bootupTimestamp": self.booted,
            "uptime": (now - self.booted).max(0.0),
            "memTotal": 8_000_000,
            "memFree": 4_000_000,
            "isIntlVersion": false,
        })
    }

    fn sessions_in<'a>(&'a self, vrf: &'a str) -> impl Iterator<Item = &'a Session> + 'a {
        self.sessions
            .iter()
            .filter(move |((session_vrf, _), _)| session_vrf == vrf)
            .map(|(_, session)| session)
    }

    fn neighbor(&self, session: &Session, now: f64) -> Value {
        let peer = &session.peer;
        let established = is_established(&peer.state);
        let mut detail = json!({
            "peerAddress": peer.address,
            "asn": peer.asn,
            "linkType": "external",
            "routerId": if established { peer_ip(&peer.address).map(router_id_of).unwrap_or_default() } else { "0.0.0.0".into() },
            "vrf": peer.vrf,
            "version": 4,
            "state": peer.state,
            "establishedTransitions": u64::from(established),
            "holdTime": 180,
            "keepaliveTime": 60,
            "configHoldTime": 180,
            "configKeepaliveTime": 60,
            "prefixesReceived": if established { peer.prefix_received } else { 0 },
            "prefixesSent": 0,
            "v6PrefixesReceived": 0,
            "v6PrefixesSent": 0,
            "localAsn": self.asn,
            "localRouterId": self.router_id.to_string(),
            "ttl": 1,
        });
        let fields = detail.as_object_mut().expect("a JSON object literal");
        if let Some(tunnel) = &peer.tunnel {
            fields.insert("ifName".into(), json!(tunnel));
        }
        if established {
            // Whole seconds, present only when Established (eos.md §2.2).
            fields.insert(
                "establishedTime".into(),
                json!((now - session.since).max(0.0) as u64),
            );
            // The Active peer of the 2024 sample has no peerTcpInfo; an Established one has
            // Linux tcp_info fields, RTTs in microseconds.
            let rtt = peer.rtt_us.unwrap_or(0);
            fields.insert(
                "peerTcpInfo".into(),
                json!({
                    "state": "ESTABLISHED",
                    "options": 7,
                    "sendWindowScale": 7,
                    "rcvWindowScale": 7,
                    "retransTimeout": 208000,
                    "delayedAckTimeout": 40000,
                    "maxSegmentSize": 1448,
                    "sndRtt": rtt,
                    "sndRttVariance": rtt / 2,
                    "slowStartThreshold": 2147483647u64,
                    "congestionWindow": 10,
                    "rcvRtt": 0,
                    "rcvWindow": 14600,
                    "totalRetrans": 0,
                    "outputQueueLength": 0,
                    "outputMaxQueueLength": 87040,
                    "inputQueueLength": 0,
                    "inputMaxQueueLength": 32768,
                    "connectionOptions": {
                        "timestampsEnabled": true,
                        "selectiveAcknowledgementsEnabled": true,
                        "windowScaleEnabled": true,
                        "ecnEnabled": false
                    }
                }),
            );
        }
        detail
    }

    /// Every tunnel interface by name, with whether its oper status is up: what EosSdkRpc's
    /// interface watch reports.
    pub fn tunnel_states(&self) -> BTreeMap<String, bool> {
        self.interfaces()
            .into_iter()
            .filter(|interface| interface.name.starts_with("Tunnel"))
            .map(|interface| (interface.name, interface.up))
            .collect()
    }

    /// Loopback0 plus the tunnels: explicit ones, then those of peers not overridden by name.
    fn interfaces(&self) -> Vec<Interface> {
        let mut interfaces = vec![Interface {
            name: "Loopback0".into(),
            vrf: "default".into(),
            address: self.router_id,
            mask_len: 32,
            mtu: 65535,
            up: true,
        }];
        for tunnel in self.tunnels.values() {
            // Validated by set_tunnel.
            if let Ok((address, mask_len)) = parse_net(&tunnel.address) {
                interfaces.push(Interface {
                    name: tunnel.name.clone(),
                    vrf: tunnel.vrf.clone(),
                    address,
                    mask_len,
                    mtu: 1476,
                    up: tunnel.up,
                });
            }
        }
        for peer in self.peers() {
            let Some(name) = &peer.tunnel else { continue };
            let Ok(IpAddr::V4(ip)) = peer_ip(&peer.address) else {
                continue;
            };
            if self.tunnels.contains_key(name) || interfaces.iter().any(|i| &i.name == name) {
                continue;
            }
            interfaces.push(Interface {
                name: name.clone(),
                vrf: peer.vrf.clone(),
                address: Ipv4Addr::from(u32::from(ip) ^ 1),
                mask_len: 31,
                // GRE's MTU over a 1500-byte underlay, as Tunnel1 in the cEOS sample.
                mtu: 1476,
                up: true,
            });
        }
        interfaces
    }
}

/// Which address family a BGP command is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    /// Whether the family's summary lists the peer: link-local peers carry IPv4 unicast over
    /// IPv6 transport (RFC 5549) and show in both summaries.
    fn lists(self, peer: &Peer) -> bool {
        match (self, peer_ip(&peer.address)) {
            (_, Ok(IpAddr::V6(ip))) if ip.is_unicast_link_local() => true,
            (Family::Ipv4, Ok(ip)) => ip.is_ipv4(),
            (Family::Ipv6, Ok(ip)) => ip.is_ipv6(),
            (_, Err(_)) => false,
        }
    }

    /// Whether the family's neighbour command shows the peer: by transport only (eos.md §2.2).
    fn transports(self, peer: &Peer) -> bool {
        match (self, peer_ip(&peer.address)) {
            (Family::Ipv4, Ok(ip)) => ip.is_ipv4(),
            (Family::Ipv6, Ok(ip)) => ip.is_ipv6(),
            (_, Err(_)) => false,
        }
    }
}

/// `vrf all` or one VRF by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VrfFilter {
    All,
    Named(String),
}

impl VrfFilter {
    fn matches(&self, vrf: &str) -> bool {
        match self {
            VrfFilter::All => true,
            VrfFilter::Named(name) => name == vrf,
        }
    }
}

/// An IP interface as both `show ip interface` models need it.
struct Interface {
    name: String,
    vrf: String,
    address: Ipv4Addr,
    mask_len: u8,
    mtu: u32,
    up: bool,
}

impl Interface {
    fn status(&self) -> &'static str {
        if self.up {
            "connected"
        } else {
            "notconnect"
        }
    }
    fn line_protocol(&self) -> &'static str {
        if self.up {
            "up"
        } else {
            "down"
        }
    }
}

/// A summary peer at `now`. DoubleZero devices run `timers bgp 1 3` (onchain.md §8.3): an
/// Established session sends and receives a keepalive every second, so its message counters
/// (and with them its JSON) change between any two polls.
fn summary_peer(session: &Session, now: f64) -> Value {
    let peer = &session.peer;
    let established = is_established(&peer.state);
    let prefixes = if established { peer.prefix_received } else { 0 };
    let keepalives = (now - session.since).max(0.0) as u64;
    json!({
        "version": 4,
        "msgReceived": if established { 5 + keepalives } else { 0 },
        "msgSent": if established { 4 + keepalives } else { 0 },
        "inMsgQueue": 0,
        "outMsgQueue": 0,
        "asn": peer.asn,
        "prefixAccepted": prefixes,
        "prefixReceived": prefixes,
        "upDownTime": to_the_microsecond(session.since),
        "underMaintenance": false,
        "peerState": peer.state,
    })
}

/// A time as EOS writes it: epoch seconds to the microsecond (`1721080527.052693` in every
/// recorded sample), never the seventeen digits a bare `f64` can print.
fn to_the_microsecond(time: f64) -> f64 {
    (time * 1e6).round() / 1e6
}

fn is_established(state: &str) -> bool {
    state.eq_ignore_ascii_case("established")
}

/// The IP of a peer key, without a link-local scope.
pub(crate) fn peer_ip(address: &str) -> Result<IpAddr, SimError> {
    let ip = address.split_once('%').map_or(address, |(ip, _)| ip);
    ip.parse().map_err(|_| {
        SimError::Invalid(format!(
            "{address:?} is not an IP address (with optional %scope)"
        ))
    })
}

/// A command's address matches a key with or without the key's scope.
fn same_peer(key: &str, asked: &str) -> bool {
    key == asked || (!asked.contains('%') && key.split_once('%').is_some_and(|(ip, _)| ip == asked))
}

/// A stand-in remote router-id: the peer's IPv4 address, or 0.0.0.0 for IPv6 peers.
fn router_id_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(ip) => ip.to_string(),
        IpAddr::V6(_) => "0.0.0.0".into(),
    }
}

fn tunnel_id(name: &str) -> Result<u32, SimError> {
    name.strip_prefix("Tunnel")
        .and_then(|id| id.parse().ok())
        .ok_or_else(|| SimError::Invalid(format!("tunnel name {name:?} is not Tunnel<number>")))
}

/// `A.B.C.D/len`.
fn parse_net(text: &str) -> Result<(Ipv4Addr, u8), SimError> {
    let invalid = || SimError::Invalid(format!("{text:?} is not an IPv4 address/prefix-length"));
    let (address, len) = text.split_once('/').ok_or_else(invalid)?;
    let address = address.parse().map_err(|_| invalid())?;
    let len: u8 = len.parse().map_err(|_| invalid())?;
    if len > 32 {
        return Err(invalid());
    }
    Ok((address, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn switch() -> Switch {
        Switch::new("65000".into(), Ipv4Addr::new(192, 0, 2, 1), 1000.0)
    }

    #[test]
    fn up_down_time_moves_only_when_the_state_changes() {
        let mut switch = switch();
        switch
            .set_peer(Peer::new("vrf1", "10.0.0.1", "Active"), 10.0)
            .unwrap();
        switch
            .set_peer(Peer::new("vrf1", "10.0.0.1", "Active"), 20.0)
            .unwrap();
        let summary = switch.summary(Family::Ipv4, &VrfFilter::All, 25.0);
        assert_eq!(
            summary["vrfs"]["vrf1"]["peers"]["10.0.0.1"]["upDownTime"],
            10.0
        );
        switch
            .set_peer(Peer::new("vrf1", "10.0.0.1", "Established"), 30.0)
            .unwrap();
        let summary = switch.summary(Family::Ipv4, &VrfFilter::All, 30.0);
        assert_eq!(
            summary["vrfs"]["vrf1"]["peers"]["10.0.0.1"]["upDownTime"],
            30.0
        );
    }

    #[test]
    fn up_down_time_is_written_to_the_microsecond() {
        let mut switch = switch();
        let since = 1_764_595_123.123_456_7;
        switch
            .set_peer(Peer::new("vrf1", "10.0.0.1", "Established"), since)
            .unwrap();
        let summary = switch.summary(Family::Ipv4, &VrfFilter::All, since + 1.0);
        let text = summary["vrfs"]["vrf1"]["peers"]["10.0.0.1"]["upDownTime"].to_string();
        assert_eq!(text, "1764595123.123457");
    }

    #[test]
    fn an_established_sessions_counters_move_with_its_keepalives() {
        let mut switch = switch();
        switch
            .set_peer(Peer::new("vrf1", "10.0.0.1", "Established"), 100.0)
            .unwrap();
        switch
            .set_peer(Peer::new("vrf1", "10.0.0.2", "Active"), 100.0)
            .unwrap();
        let counters = |now: f64, peer: &str| {
            let summary = switch.summary(Family::Ipv4, &VrfFilter::All, now);
            let peer = &summary["vrfs"]["vrf1"]["peers"][peer];
            (peer["msgSent"].clone(), peer["msgReceived"].clone())
        };
        // `timers bgp 1 3`: one keepalive each way a second, so no two polls read the same.
        assert_eq!(counters(100.0, "10.0.0.1"), (json!(4), json!(5)));
        assert_eq!(counters(160.5, "10.0.0.1"), (json!(64), json!(65)));
        assert_eq!(counters(160.5, "10.0.0.2"), (json!(0), json!(0)));
    }

    #[test]
    fn default_vrf_is_listed_without_peers_and_families_split_peers() {
        let mut switch = switch();
        switch
            .set_peer(Peer::new("vrf1", "10.0.0.1", "Established"), 1.0)
            .unwrap();
        switch
            .set_peer(Peer::new("vrf1", "2001:db8::1", "Established"), 1.0)
            .unwrap();
        switch
            .set_peer(Peer::new("vrf1", "fe80::1%Et3", "Established"), 1.0)
            .unwrap();
        let v4 = switch.summary(Family::Ipv4, &VrfFilter::All, 1.0);
        assert_eq!(v4["vrfs"]["default"]["peers"], json!({}));
        let v4_keys: Vec<_> = v4["vrfs"]["vrf1"]["peers"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(v4_keys, ["10.0.0.1", "fe80::1%Et3"]);
        let v6 = switch.summary(Family::Ipv6, &VrfFilter::Named("vrf1".into()), 1.0);
        let v6_keys: Vec<_> = v6["vrfs"]["vrf1"]["peers"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        assert_eq!(v6_keys, ["2001:db8::1", "fe80::1%Et3"]);
        assert!(v6["vrfs"].get("default").is_none());
    }

    #[test]
    fn peer_tunnel_holds_the_device_side_of_the_slash_31_and_leaves_with_the_peer() {
        let mut switch = switch();
        let mut user = Peer::new("vrf1", "169.254.0.1", "Established");
        user.tunnel = Some("Tunnel500".into());
        switch.set_peer(user, 1.0).unwrap();
        let brief = switch.ip_interface_brief();
        assert_eq!(
            brief["interfaces"]["Tunnel500"]["interfaceAddress"]["ipAddr"],
            json!({"address": "169.254.0.0", "maskLen": 31})
        );
        assert_eq!(
            switch.ip_interface()["interfaces"]["Tunnel500"]["vrf"],
            "vrf1"
        );
        switch.remove_peer("vrf1", "169.254.0.1");
        assert!(switch.ip_interface_brief()["interfaces"]
            .get("Tunnel500")
            .is_none());
    }

    #[test]
    fn explicit_tunnel_overrides_and_outlives_the_peer_tunnel() {
        let mut switch = switch();
        let mut user = Peer::new("vrf1", "169.254.0.1", "Established");
        user.tunnel = Some("Tunnel500".into());
        switch.set_peer(user, 1.0).unwrap();
        switch
            .set_tunnel(Tunnel {
                name: "Tunnel500".into(),
                vrf: "vrf1".into(),
                address: "169.254.0.0/31".into(),
                up: false,
            })
            .unwrap();
        switch.remove_peer("vrf1", "169.254.0.1");
        let tunnel = &switch.ip_interface_brief()["interfaces"]["Tunnel500"];
        assert_eq!(tunnel["lineProtocolStatus"], "down");
    }

    #[test]
    fn neighbour_detail_has_rtt_only_when_established() {
        let mut switch = switch();
        switch
            .set_peer(Peer::new("vrf1", "10.0.0.1", "Established"), 1.0)
            .unwrap();
        switch
            .set_peer(Peer::new("vrf1", "10.0.0.3", "Active"), 1.0)
            .unwrap();
        let all = switch.neighbors(Family::Ipv4, None, &VrfFilter::All, 61.0);
        let list = all["vrfs"]["vrf1"]["peerList"].as_array().unwrap();
        assert_eq!(list[0]["peerTcpInfo"]["sndRtt"], 1500);
        assert_eq!(list[0]["establishedTime"], 60);
        assert!(list[1].get("peerTcpInfo").is_none());
        let one = switch.neighbors(
            Family::Ipv4,
            Some("10.0.0.3"),
            &VrfFilter::Named("vrf1".into()),
            61.0,
        );
        assert_eq!(one["vrfs"]["vrf1"]["peerList"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn daemon_block_renders_exec_options_and_shutdown_lines() {
        let mut switch = switch();
        switch.set_daemon(Daemon {
            name: "bgpstatus".into(),
            exec: "/usr/bin/x".into(),
            options: BTreeMap::from([("name".into(), "Bruce Wayne".into())]),
            shutdown: false,
        });
        assert_eq!(
            switch.running_config_section("daemon bgpstatus"),
            Some(
                json!({"cmds": {"daemon bgpstatus": {"comments": [], "cmds": {
                "exec /usr/bin/x": null, "option name value Bruce Wayne": null, "no shutdown": null}}}})
            )
        );
        assert_eq!(
            switch.running_config_section("daemon other"),
            Some(json!({"cmds": {}}))
        );
        let whole = switch.running_config();
        assert!(whole["cmds"]["daemon bgpstatus"].is_object());
        assert!(whole["cmds"]["management api http-commands"].is_object());
        switch.section_json = SectionJson::Ignored;
        assert_eq!(switch.running_config_section("daemon other"), Some(whole));
        switch.section_json = SectionJson::Refused;
        assert_eq!(switch.running_config_section("daemon bgpstatus"), None);
    }

    #[test]
    fn invalid_addresses_and_tunnel_names_are_refused() {
        let mut switch = switch();
        assert!(switch
            .set_peer(Peer::new("vrf1", "not-an-ip", "Idle"), 1.0)
            .is_err());
        let mut user = Peer::new("vrf1", "169.254.0.1", "Established");
        user.tunnel = Some("Gre500".into());
        assert!(switch.set_peer(user, 1.0).is_err());
        assert!(switch
            .set_tunnel(Tunnel {
                name: "Tunnel1".into(),
                vrf: "default".into(),
                address: "10.0.0.0".into(),
                up: true
            })
            .is_err());
    }
}
