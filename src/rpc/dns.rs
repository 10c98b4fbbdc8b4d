//! Host names without glibc: the hosts file first, then the name servers of `resolv.conf`, both
//! read again while the agent runs.
//!
//! The release binary is static, so glibc's NSS modules (and with them `getaddrinfo`) are not
//! available; hickory reads both files itself. Its stock lookup asks for A and AAAA together
//! and sends to DNS whichever family the hosts file lacks, so a name that only `/etc/hosts`
//! knows would wait the whole call timeout on a switch without a reachable name server. Like
//! glibc's `hosts: files dns`, a name found in the hosts file is answered from it alone; only
//! names it lacks go to DNS (A first, then AAAA, as EOS management networks are mostly IPv4).
//!
//! A switch may boot before its name servers are configured, and EOS rewrites `resolv.conf`
//! when they change, so nothing is read once for good: the hosts file is read on every lookup,
//! as glibc does, and `resolv.conf` too, its resolver rebuilt when the text differs (or, after
//! a configuration that could not be used, again at most once a minute). In a management
//! namespace the VRF's own `/etc/netns/NAME/resolv.conf` is used when it exists, as
//! `ip netns exec` would bind it, whether it existed at start or appeared later.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_resolver::config::LookupIpStrategy;
use hickory_resolver::lookup_ip::LookupIp;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::op::Query;
use hickory_resolver::proto::rr::{Name as DnsName, RecordType};
use hickory_resolver::{Hosts, TokioResolver};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use tokio::time::Instant;

/// How soon a resolver configuration that could not be used is tried again, unchanged.
const RETRY_BROKEN: Duration = Duration::from_secs(60);

/// Where the resolver's configuration is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverFiles {
    /// Candidate `resolv.conf` files; the first that exists is used.
    pub resolv_conf: Vec<PathBuf>,
    pub hosts: PathBuf,
}

impl Default for ResolverFiles {
    fn default() -> Self {
        ResolverFiles::for_namespace(None)
    }
}

impl ResolverFiles {
    /// The files for a process in namespace `name` (none: the host's own).
    pub fn for_namespace(name: Option<&str>) -> Self {
        ResolverFiles::under(Path::new("/etc"), name)
    }

    /// The files under `etc`: the namespace's `netns/NAME/resolv.conf` first, then
    /// `resolv.conf`; the hosts file is `hosts`.
    pub fn under(etc: &Path, name: Option<&str>) -> Self {
        let own = name.map(|name| etc.join("netns").join(name).join("resolv.conf"));
        ResolverFiles {
            resolv_conf: own.into_iter().chain([etc.join("resolv.conf")]).collect(),
            hosts: etc.join("hosts"),
        }
    }

    /// The first `resolv.conf` that exists and its text; `None` when none does.
    fn read_resolv_conf(&self) -> Option<(PathBuf, Vec<u8>)> {
        self.resolv_conf
            .iter()
            .find_map(|path| Some((path.clone(), std::fs::read(path).ok()?)))
    }
}

/// The resolver handed to reqwest.
#[derive(Debug, Clone, Default)]
pub struct HostsFirst {
    files: Arc<ResolverFiles>,
    dns: Arc<Mutex<Option<Built>>>,
}

/// A resolver built from one reading of `resolv.conf` (or why it could not be).
#[derive(Debug)]
struct Built {
    /// The text it was built from; `None`: no file existed.
    source: Option<(PathBuf, Vec<u8>)>,
    dns: Result<Dns, String>,
    at: Instant,
}

/// A resolver and the name servers it asks.
#[derive(Debug, Clone)]
struct Dns {
    resolver: TokioResolver,
    servers: Vec<IpAddr>,
}

impl HostsFirst {
    pub fn new(files: ResolverFiles) -> Self {
        HostsFirst {
            files: Arc::new(files),
            dns: Arc::default(),
        }
    }

    /// The resolver for the configuration as it is now: the one built before when the text is
    /// the same (and it worked, or failed less than a minute ago), else a new one.
    fn dns(&self) -> Result<Dns, String> {
        let source = self.files.read_resolv_conf();
        let now = Instant::now();
        let mut built = self.dns.lock().unwrap_or_else(|e| e.into_inner());
        let reuse = built.as_ref().is_some_and(|b| {
            b.source == source
                && (b.dns.is_ok() || now.saturating_duration_since(b.at) < RETRY_BROKEN)
        });
        if !reuse {
            let dns = build_dns(&self.files, source.as_ref());
            let from = source.as_ref().map(|(path, _)| path.display().to_string());
            match &dns {
                // Said when it changes, not at the first lookup.
                Ok(dns) if built.is_some() => tracing::info!(
                    ?from,
                    servers = ?dns.servers,
                    "resolv.conf changed; DNS resolver configured again"
                ),
                Ok(dns) => {
                    tracing::debug!(?from, servers = ?dns.servers, "DNS resolver configured")
                }
                Err(error) => tracing::debug!(%error, "DNS resolver not configured"),
            }
            *built = Some(Built {
                source,
                dns,
                at: now,
            });
        }
        built
            .as_ref()
            .map_or_else(|| Err("no resolver".into()), |b| b.dns.clone())
    }
}

impl Resolve for HostsFirst {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let host = name.as_str();
            if let Some(ips) = from_hosts_file(&this.files.hosts, host) {
                return Ok(addrs(ips));
            }
            let dns = this.dns()?;
            let ips: Vec<IpAddr> = dns.resolver.lookup_ip(host).await?.iter().collect();
            Ok(addrs(ips))
        })
    }
}

fn build_dns(files: &ResolverFiles, source: Option<&(PathBuf, Vec<u8>)>) -> Result<Dns, String> {
    let Some((path, text)) = source else {
        let paths: Vec<String> = files
            .resolv_conf
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        return Err(format!("no name servers: {} missing", paths.join(" and ")));
    };
    let (config, options) = hickory_resolver::system_conf::parse_resolv_conf(text)
        .map_err(|e| format!("reading the name servers from {}: {e}", path.display()))?;
    let servers = config.name_servers().iter().map(|ns| ns.ip).collect();
    let mut builder = TokioResolver::builder_with_config(config, TokioRuntimeProvider::default());
    *builder.options_mut() = options;
    builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
    let resolver = builder.build().map_err(|e| e.to_string())?;
    Ok(Dns { resolver, servers })
}

fn from_hosts_file(path: &Path, host: &str) -> Option<Vec<IpAddr>> {
    let mut hosts = Hosts::default();
    hosts
        .read_hosts_conf(std::fs::File::open(path).ok()?)
        .ok()?;
    let name = DnsName::from_utf8(host).ok()?;
    let ips: Vec<IpAddr> = [RecordType::A, RecordType::AAAA]
        .into_iter()
        .filter_map(|kind| hosts.lookup_static_host(&Query::query(name.clone(), kind)))
        .flat_map(|lookup| LookupIp::from(lookup).iter().collect::<Vec<_>>())
        .collect();
    (!ips.is_empty()).then_some(ips)
}

fn addrs(ips: Vec<IpAddr>) -> Addrs {
    Box::new(ips.into_iter().map(|ip| SocketAddr::new(ip, 0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_a_namespace_its_own_resolv_conf_comes_first_and_the_hosts_file_stays() {
        let files = ResolverFiles::under(Path::new("/etc"), Some("ns-management"));
        assert_eq!(
            files.resolv_conf,
            vec![
                PathBuf::from("/etc/netns/ns-management/resolv.conf"),
                PathBuf::from("/etc/resolv.conf")
            ]
        );
        assert_eq!(files.hosts, Path::new("/etc/hosts"));
        assert_eq!(
            ResolverFiles::default().resolv_conf,
            vec![PathBuf::from("/etc/resolv.conf")]
        );
    }

    fn servers(dns: &HostsFirst) -> Vec<IpAddr> {
        dns.dns().unwrap().servers
    }

    #[tokio::test]
    async fn resolv_conf_is_read_again_when_it_changes_or_appears() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path();
        std::fs::create_dir_all(etc.join("netns/ns-mgmt")).unwrap();
        let dns = HostsFirst::new(ResolverFiles::under(etc, Some("ns-mgmt")));
        // No file at all, as on a switch that boots before its name servers are configured.
        let missing = dns.dns().unwrap_err();
        assert!(missing.contains("missing"), "{missing}");

        std::fs::write(etc.join("resolv.conf"), "nameserver 192.0.2.1\n").unwrap();
        assert_eq!(servers(&dns), ["192.0.2.1".parse::<IpAddr>().unwrap()]);
        std::fs::write(etc.join("resolv.conf"), "nameserver 192.0.2.2\n").unwrap();
        assert_eq!(servers(&dns), ["192.0.2.2".parse::<IpAddr>().unwrap()]);
        // The namespace's own file, once it appears, wins.
        std::fs::write(
            etc.join("netns/ns-mgmt/resolv.conf"),
            "nameserver 192.0.2.3\n",
        )
        .unwrap();
        assert_eq!(servers(&dns), ["192.0.2.3".parse::<IpAddr>().unwrap()]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_unusable_resolv_conf_is_tried_again_after_a_minute_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let files = ResolverFiles::under(dir.path(), None);
        std::fs::write(&files.resolv_conf[0], "# no name servers yet\n").unwrap();
        let dns = HostsFirst::new(files);
        assert!(dns.dns().is_err());
        let first = dns.dns.lock().unwrap().as_ref().unwrap().at;
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(dns.dns().is_err());
        assert_eq!(dns.dns.lock().unwrap().as_ref().unwrap().at, first, "kept");
        tokio::time::advance(Duration::from_secs(31)).await;
        assert!(dns.dns().is_err());
        assert_ne!(
            dns.dns.lock().unwrap().as_ref().unwrap().at,
            first,
            "tried again"
        );
    }

    #[tokio::test]
    async fn a_name_in_the_hosts_file_is_answered_from_it_as_the_file_is_now() {
        let dir = tempfile::tempdir().unwrap();
        let files = ResolverFiles::under(dir.path(), None);
        let dns = HostsFirst::new(files.clone());
        assert_eq!(from_hosts_file(&files.hosts, "ledger.test"), None);
        std::fs::write(&files.hosts, "192.0.2.7 ledger.test\n").unwrap();
        let addrs: Vec<SocketAddr> = dns
            .resolve("ledger.test".parse().unwrap())
            .await
            .unwrap()
            .collect();
        assert_eq!(addrs, ["192.0.2.7:0".parse::<SocketAddr>().unwrap()]);
    }
}
