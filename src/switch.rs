//! One tick's reading of the switch: the BGP peer table and the tunnel table, read together (in
//! one request, or the tunnels right after the sessions that changed), so the two describe the
//! same moment; between changes a tick reads the sessions alone and keeps the tunnels (see
//! [`Observer`]).
//!
//! Either both tables are known or the observation failed: a failed interface read is exactly as
//! much a failed observation as a failed BGP read, since either half missing could make a live
//! user look removed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use crate::bgp::{self, PeerKey, PeerTable, SummaryMemo, Vrf};
use crate::eapi::{Client, EapiError, Reply, Request};
use crate::tunnel::{self, TunnelTable};

/// Both halves of the switch's state, read together.
#[derive(Debug, Clone)]
pub struct SwitchState {
    pub peers: PeerTable,
    /// Shared with the [`Observer`] that may hand the same table to the next tick.
    pub tunnels: Arc<TunnelTable>,
}

/// Which BGP summaries a reading takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summaries {
    /// The IPv4 summary: every session a user can have, since users' tunnels are IPv4 /31s
    /// and the lookups are by IPv4 address. What the daemon decides from, so that the IPv6
    /// model failing or changing shape can never stop status writes.
    Ipv4,
    /// Both summaries, for an operator's complete listing (`peers`).
    Both,
}

/// The interface command comes first: EOS stops at the first failed command, and a switch with
/// BGP inactive fails the summaries (read as "no peers"), which must not cost the interfaces.
fn request(summaries: Summaries) -> Request {
    Request::new()
        .commands([tunnel::interface_command()])
        .commands(summary_commands(summaries))
}

fn summary_commands(summaries: Summaries) -> Vec<crate::eapi::Command> {
    match summaries {
        Summaries::Ipv4 => vec![bgp::ipv4_summary_command()],
        Summaries::Both => bgp::summary_commands().into_iter().collect(),
    }
}

/// Reads both tables in one request, once.
pub async fn observe(client: &Client, summaries: Summaries) -> Result<SwitchState, EapiError> {
    Observer::default().observe(client, summaries).await
}

/// How long a tunnel table read with the sessions may serve later readings whose sessions
/// have not changed.
pub const TUNNEL_REFRESH: Duration = Duration::from_secs(30);
/// The same while EosSdkRpc's interface watch reports the tunnels' changes: the refresh is
/// then only a backstop, for what the watch does not report (a tunnel's address; a user's
/// new address already comes with a changed view, see [`Observer::expect`]).
pub const WATCHED_TUNNEL_REFRESH: Duration = Duration::from_secs(600);

/// Reads the switch tick after tick, reading the interfaces only when they may have changed.
///
/// The interface model is the larger half of a reading (about 480 bytes a tunnel against 230 a
/// BGP peer) and changes only when tunnels are configured or change state, which on a working
/// switch shows in the sessions too. So a reading takes the summary alone and keeps the last
/// tunnel table while every session is the one it was, in the same state; a session that
/// appeared, went or changed state brings the tunnels again right after, so that a decision
/// never pairs new sessions with old tunnels (a tunnel moved to another VRF would otherwise
/// hide its session). The interfaces are also read again at least every [`TUNNEL_REFRESH`],
/// after [`Observer::expect`] says the users changed, and after a failed reading. A changed
/// interface result is parsed again; the same bytes reuse the last table.
#[derive(Debug)]
pub struct Observer {
    last: Option<Last>,
    /// The last summary read alone, which the next is read against.
    summaries: SummaryMemo,
    /// The caller's digest of the tunnels its users expect (see [`Observer::expect`]).
    users: u64,
    refresh: Duration,
}

impl Default for Observer {
    fn default() -> Self {
        Self::with_refresh(TUNNEL_REFRESH)
    }
}

#[derive(Debug)]
struct Last {
    /// The interface result, as EOS sent it, and the table it made.
    interfaces: Box<str>,
    tunnels: Arc<TunnelTable>,
    read_at: Instant,
    /// What the sessions were when last read: see [`PeerTable::sessions_digest`].
    sessions: u64,
    /// The users changed or a reading failed: read the interfaces next time.
    stale: bool,
}

impl Observer {
    /// An observer that keeps a tunnel table at most `refresh` (the daemon's is
    /// [`TUNNEL_REFRESH`]).
    pub fn with_refresh(refresh: Duration) -> Self {
        Self {
            last: None,
            summaries: SummaryMemo::default(),
            users: 0,
            refresh,
        }
    }

    /// How long a tunnel table may serve from now on: [`WATCHED_TUNNEL_REFRESH`] while the
    /// tunnels are watched, [`TUNNEL_REFRESH`] otherwise.
    pub fn set_refresh(&mut self, refresh: Duration) {
        self.refresh = refresh;
    }

    /// Reads the sessions, and the tunnels unless the last ones still hold (see [`Observer`]).
    pub async fn observe(
        &mut self,
        client: &Client,
        summaries: Summaries,
    ) -> Result<SwitchState, EapiError> {
        if let Some(last) = self
            .last
            .as_ref()
            .filter(|last| !last.stale && last.read_at.elapsed() < self.refresh)
        {
            let tunnels = Arc::clone(&last.tunnels);
            let sessions = last.sessions;
            let request = Request::new().commands(summary_commands(summaries));
            let peers = match client.execute_body(&request).await {
                Ok(body) => PeerTable::from_summary_body(body, &mut self.summaries),
                Err(error) => Err(error),
            }
            .map_err(|error| self.failed(error))?;
            let digest = peers.sessions_digest();
            if digest == sessions {
                return Ok(SwitchState { peers, tunnels });
            }
            // The sessions changed: the tunnels are read right after them, so the summary is
            // not read twice (EOS runs one request's commands one after another too).
            let reply = match client
                .execute(&Request::new().commands([tunnel::interface_command()]))
                .await
            {
                Ok(reply) => reply,
                Err(error) => return Err(self.failed(error)),
            };
            let tunnels = self.tunnels(&reply).map_err(|error| self.failed(error))?;
            if let Some(last) = &mut self.last {
                last.sessions = digest;
                last.read_at = Instant::now();
                last.stale = false;
            }
            return Ok(SwitchState { peers, tunnels });
        }
        let reply = match client.execute(&request(summaries)).await {
            Ok(reply) => reply,
            Err(error) => return Err(self.failed(error)),
        };
        let tunnels = self.tunnels(&reply).map_err(|error| self.failed(error))?;
        // Every command after the interfaces is a summary.
        let peers = PeerTable::from_reply(&reply, 1..reply.commands().len())
            .map_err(|error| self.failed(error))?;
        if let Some(last) = &mut self.last {
            last.sessions = peers.sessions_digest();
            last.read_at = Instant::now();
            last.stale = false;
        }
        Ok(SwitchState { peers, tunnels })
    }

    /// What the users expect of the tunnels, as a digest of which users there are and their
    /// tunnels: a new value (a user added, removed or given another tunnel) makes the next
    /// reading take the interfaces too.
    pub fn expect(&mut self, users: u64) {
        if users != self.users {
            self.users = users;
            self.read_tunnels_next();
        }
    }

    /// The tunnels may have changed (an interface event said so, or a reading failed): the
    /// next reading takes them too.
    pub fn read_tunnels_next(&mut self) {
        if let Some(last) = &mut self.last {
            last.stale = true;
        }
    }

    /// A failed reading proves nothing about the tunnels: the next one reads them again.
    fn failed(&mut self, error: EapiError) -> EapiError {
        self.read_tunnels_next();
        error
    }

    fn tunnels(&mut self, reply: &Reply) -> Result<Arc<TunnelTable>, EapiError> {
        let text = reply.result(0)?.get();
        if let Some(last) = self.last.as_ref().filter(|last| *last.interfaces == *text) {
            return Ok(Arc::clone(&last.tunnels));
        }
        let table = Arc::new(TunnelTable::from_reply(reply, 0)?);
        self.last = Some(Last {
            interfaces: text.into(),
            tunnels: Arc::clone(&table),
            read_at: Instant::now(),
            sessions: 0,
            stale: false,
        });
        Ok(table)
    }
}

/// Reads the TCP round-trip time of each session, request by request, until `deadline`: what
/// is not read by then is left out (written as "no sample"), so an RTT read never holds up the
/// next status read for long. A peer whose detail is missing, failed or lacks
/// `peerTcpInfo.sndRtt` has no entry; a failed request costs only its own peers' RTTs.
pub async fn fetch_rtts(
    client: &Client,
    peers: &[PeerKey],
    sessions_in: &HashMap<Vrf, usize>,
    deadline: tokio::time::Instant,
) -> HashMap<PeerKey, Duration> {
    let mut found: HashMap<PeerKey, Duration> = HashMap::new();
    for request in bgp::rtt_requests(peers, sessions_in) {
        let reply = match tokio::time::timeout_at(deadline, client.execute(&request)).await {
            Ok(Ok(reply)) => reply,
            Ok(Err(error)) => {
                tracing::debug!(%error, "an RTT request failed; those sessions go without");
                continue;
            }
            Err(_) => {
                tracing::debug!("RTT reads ran out of time; the rest go without");
                break;
            }
        };
        for (index, command) in request.command_list().iter().enumerate() {
            let Ok(raw) = reply.result(index) else {
                continue;
            };
            let Ok(text) = crate::eapi::result_text(command.text(), raw) else {
                continue;
            };
            match bgp::rtts_from_neighbors(&text) {
                Ok(rtts) => found.extend(rtts),
                Err(err) => {
                    tracing::debug!(command = command.text(), %err, "neighbour detail not understood; no RTT")
                }
            }
        }
    }
    peers
        .iter()
        .filter_map(|key| {
            let rtt = found.get(key).copied().or_else(|| {
                // The detail may scope a link-local peer differently from the summary.
                found
                    .iter()
                    .find(|(other, _)| other.vrf == key.vrf && other.addr.ip() == key.addr.ip())
                    .map(|(_, rtt)| *rtt)
            })?;
            Some((key.clone(), rtt))
        })
        .collect()
}
