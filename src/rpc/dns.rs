//! Host names without glibc: `/etc/hosts` first, then the name servers of `/etc/resolv.conf`.
//!
//! The release binary is static, so glibc's NSS modules (and with them `getaddrinfo`) are not
//! available; hickory reads both files itself. Its stock lookup asks for A and AAAA together
//! and sends to DNS whichever family the hosts file lacks, so a name that only `/etc/hosts`
//! knows would wait the whole call timeout on a switch without a reachable name server. Like
//! glibc's `hosts: files dns`, a name found in the hosts file is answered from it alone; only
//! names it lacks go to DNS (A first, then AAAA, as EOS management networks are mostly IPv4).

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};

use hickory_resolver::config::LookupIpStrategy;
use hickory_resolver::lookup_ip::LookupIp;
use hickory_resolver::proto::op::Query;
use hickory_resolver::proto::rr::{Name as DnsName, RecordType};
use hickory_resolver::{Hosts, TokioResolver};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The resolver handed to reqwest. The DNS half is built on first use, inside the runtime.
#[derive(Debug, Default, Clone)]
pub struct HostsFirst {
    dns: Arc<OnceLock<Result<TokioResolver, String>>>,
}

impl Resolve for HostsFirst {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let host = name.as_str();
            if let Some(ips) = from_hosts_file(host) {
                return Ok(addrs(ips));
            }
            let dns = this
                .dns
                .get_or_init(build_dns)
                .as_ref()
                .map_err(|e| e.clone())?;
            let ips: Vec<IpAddr> = dns.lookup_ip(host).await?.iter().collect();
            Ok(addrs(ips))
        })
    }
}

fn build_dns() -> Result<TokioResolver, String> {
    let mut builder = TokioResolver::builder_tokio()
        .map_err(|e| format!("reading the name servers from /etc/resolv.conf: {e}"))?;
    builder.options_mut().ip_strategy = LookupIpStrategy::Ipv4thenIpv6;
    builder.build().map_err(|e| e.to_string())
}

/// The hosts file's addresses for `host` (IPv4 first), re-read on every call as glibc does;
/// `None` when the file is missing or does not name the host.
fn from_hosts_file(host: &str) -> Option<Vec<IpAddr>> {
    let hosts = Hosts::from_system().ok()?;
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
