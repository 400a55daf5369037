//! Where webhooks may go. A webhook URL is chosen by whoever may create one, and the service
//! posts to it from inside the operator's network: without a check, it reaches the cloud
//! metadata endpoint, the database's admin port or anything else only the server can see
//! (server-side request forgery). So loopback, private, link-local, multicast, unspecified and
//! carrier-grade NAT addresses are refused unless `WEBHOOK_ALLOW_PRIVATE_TARGETS=true`.
//!
//! A URL is checked when it is set (its name resolved then) and again on the address each
//! delivery connects to, through the resolver of the dispatcher's HTTP client: a name that
//! resolved to a public address at creation and to a private one later (DNS rebinding) is
//! refused at connect time.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Whether deliveries may go to private addresses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::Args)]
pub struct TargetPolicy {
    /// Let webhooks reach loopback, private, link-local and other non-public addresses (for
    /// receivers on the same host or network; off by default, as it lets whoever manages
    /// webhooks make this server post inside its network).
    #[arg(
        long = "webhook-allow-private-targets",
        env = "WEBHOOK_ALLOW_PRIVATE_TARGETS"
    )]
    pub allow_private: bool,
}

/// A target that the policy refuses, with why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error(
        "{0} is not a public address (loopback, private, link-local, multicast or reserved); \
         webhooks go to public addresses unless WEBHOOK_ALLOW_PRIVATE_TARGETS=true"
    )]
    Address(IpAddr),
    #[error(
        "{0} resolves only to addresses that are not public; webhooks go to public addresses \
         unless WEBHOOK_ALLOW_PRIVATE_TARGETS=true"
    )]
    Name(String),
    #[error("{0} does not resolve: {1}")]
    Unresolved(String, String),
}

impl TargetPolicy {
    pub fn allows(self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Checks `url` when it is set: a literal address, or every address its name resolves
    /// to now (one refused address refuses the URL: which one a delivery gets is not ours
    /// to choose).
    pub async fn check_url(self, url: &reqwest::Url) -> Result<(), Refused> {
        if self.allow_private {
            return Ok(());
        }
        let Some(host) = url.host_str() else {
            return Ok(());
        };
        if let Some(ip) = literal(host) {
            return self.check_ip(ip);
        }
        let name = host;
        let port = url.port_or_known_default().unwrap_or(443);
        let addrs = tokio::net::lookup_host((name, port))
            .await
            .map_err(|e| Refused::Unresolved(name.to_owned(), e.to_string()))?;
        for addr in addrs {
            self.check_ip(addr.ip())
                .map_err(|_| Refused::Name(name.to_owned()))?;
        }
        Ok(())
    }

    /// The literal address of `url` when it is one the policy refuses: such URLs never reach
    /// the resolver, so each delivery checks them itself.
    pub fn refused_literal(self, url: &reqwest::Url) -> Option<Refused> {
        let ip = literal(url.host_str()?)?;
        self.check_ip(ip).err()
    }

    fn check_ip(self, ip: IpAddr) -> Result<(), Refused> {
        if self.allows(ip) {
            Ok(())
        } else {
            Err(Refused::Address(ip))
        }
    }

    /// The resolver for the delivery client: the system's answers, without the refused
    /// addresses; a name left with none fails with `Refused::Name`.
    pub fn resolver(self) -> Arc<impl Resolve> {
        Arc::new(Filtering(self))
    }
}

/// The address a URL's host names literally (`10.0.0.1`, `[::1]`), if it does.
fn literal(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

struct Filtering(TargetPolicy);

impl Resolve for Filtering {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.0;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| policy.allows(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(Box::new(Refused::Name(host)) as Box<_>);
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (b & 0xc0) == 64) // 100.64.0.0/10, carrier-grade NAT
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // fc00::/7, unique local
        || (first & 0xffc0) == 0xfe80 // fe80::/10, link-local
        || ip.to_ipv4().is_some()) // IPv4-compatible (deprecated), ::1 and :: aside
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_unicast_addresses_pass() {
        for refused in [
            "127.0.0.1",
            "127.9.9.9",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            let ip: IpAddr = refused.parse().unwrap();
            assert!(!is_public(ip), "{refused} passed");
        }
        for public in ["8.8.8.8", "100.128.0.1", "1.1.1.1", "2606:4700::1111"] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(is_public(ip), "{public} was refused");
        }
    }

    #[tokio::test]
    async fn urls_are_checked_by_literal_and_by_name() {
        let strict = TargetPolicy::default();
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        assert!(matches!(
            strict.check_url(&url("http://127.0.0.1:9/hook")).await,
            Err(Refused::Address(_))
        ));
        assert!(matches!(
            strict.check_url(&url("http://[::ffff:a01:203]/")).await,
            Err(Refused::Address(_))
        ));
        assert!(matches!(
            strict.check_url(&url("http://localhost:9/hook")).await,
            Err(Refused::Name(_))
        ));
        assert!(strict.refused_literal(&url("http://10.0.0.1/")).is_some());
        assert!(strict.refused_literal(&url("http://localhost/")).is_none());
        let open = TargetPolicy {
            allow_private: true,
        };
        assert!(
            open.check_url(&url("http://127.0.0.1:9/hook"))
                .await
                .is_ok()
        );
        assert!(open.refused_literal(&url("http://10.0.0.1/")).is_none());
    }
}
