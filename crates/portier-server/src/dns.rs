//! The DNS lookups that prove a domain
//! (docs/RULES.md#self-sign-up-and-e-mail-domains): the TXT record
//! `_portier-challenge.<domain>`, asked of a real resolver, the system's or
//! the nameserver `PORTIER_DNS_SERVER` names, without a cache, so "check
//! now" sees a record the moment it is published.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;

/// Why a lookup gave no answer (not: found nothing).
#[derive(Debug, thiserror::Error)]
#[error("the DNS lookup failed: {0}")]
pub struct LookupFailed(String);

fn tune(o: &mut ResolverOpts) {
    o.timeout = Duration::from_secs(3);
    o.attempts = 2;
    o.cache_size = 0;
    o.positive_max_ttl = Some(Duration::ZERO);
    o.negative_max_ttl = Some(Duration::ZERO);
    o.use_hosts_file = ResolveHosts::Never;
}

fn resolver(server: Option<SocketAddr>) -> Result<TokioResolver, LookupFailed> {
    let mut builder = match server {
        Some(addr) => {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = addr.port();
            let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio().map_err(|e| LookupFailed(e.to_string()))?,
    };
    tune(builder.options_mut());
    builder.build().map_err(|e| LookupFailed(e.to_string()))
}

/// The strings of the TXT records at `name` (empty when there are none),
/// asked of `server` or the system's resolver.
pub async fn txt(server: Option<SocketAddr>, name: &str) -> Result<Vec<String>, LookupFailed> {
    let resolver = resolver(server)?;
    // Fully qualified: no search domains of the system's configuration.
    let fqdn = format!("{}.", name.trim_end_matches('.'));
    let looked = tokio::time::timeout(Duration::from_secs(10), resolver.txt_lookup(fqdn))
        .await
        .map_err(|_| LookupFailed("no answer within 10 seconds".into()))?;
    match looked {
        Ok(lookup) => Ok(lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(t) => Some(t.to_string()),
                _ => None,
            })
            .collect()),
        Err(e) if e.is_no_records_found() => Ok(Vec::new()),
        Err(e) => Err(LookupFailed(e.to_string())),
    }
}
