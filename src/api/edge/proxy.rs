//! Who the client is behind reverse proxies: `X-Forwarded-For` is believed only when the TCP
//! peer is a proxy we trust (`TRUSTED_PROXIES`), since anyone else can write any address in it.
use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// The networks whose connections may say, in `X-Forwarded-For`, whom they forward.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client of a connection from `peer` whose request carries the `X-Forwarded-For`
    /// values `forwarded_for` (every header, in order). From an untrusted peer: the peer.
    /// From a trusted one: the right-most listed address that is not itself a trusted proxy
    /// (each proxy appends the address it was reached from, so only the entries our own
    /// proxies added can be believed, and the first one from outside is the client). When
    /// every entry is a trusted proxy, the left-most; when an entry is not an address, the
    /// proxy that passed it on.
    pub fn client<'a>(
        &self,
        peer: IpAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for
            .into_iter()
            .flat_map(|value| value.split(','))
            .map(str::trim)
            .filter(|hop| !hop.is_empty())
            .collect();
        let mut nearest = peer;
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) if self.trusts(ip) => nearest = ip,
                Some(ip) => return ip,
                None => return nearest,
            }
        }
        nearest
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port (some proxies add it).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|a| a.ip()))
}

/// Parses `TRUSTED_PROXIES`: comma-separated entries, empty ones ignored (so an empty
/// variable means none).
pub fn parse_list(raw: &str) -> Result<TrustedProxies, String> {
    raw.split(',')
        .filter(|entry| !entry.trim().is_empty())
        .map(parse_network)
        .collect::<Result<_, _>>()
        .map(TrustedProxies)
}

/// Parses one `TRUSTED_PROXIES` entry: a CIDR (`10.0.0.0/8`) or a single address.
pub fn parse_network(raw: &str) -> Result<IpNet, String> {
    let raw = raw.trim();
    raw.parse::<IpNet>()
        .or_else(|_| raw.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| format!("`{raw}` is not a CIDR (like 10.0.0.0/8) or an IP address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(nets: &[&str]) -> TrustedProxies {
        parse_list(&nets.join(",")).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client(ip("203.0.113.9"), ["1.2.3.4"]),
            ip("203.0.113.9")
        );
        let some = proxies(&["10.0.0.0/8"]);
        assert_eq!(
            some.client(ip("203.0.113.9"), ["1.2.3.4"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_right_most_untrusted_hop() {
        let p = proxies(&["10.0.0.0/8", "192.0.2.1"]);
        // The client wrote a fake first entry; our two proxies appended the real one.
        let xff = ["6.6.6.6, 198.51.100.7", "10.1.1.1"];
        assert_eq!(p.client(ip("192.0.2.1"), xff), ip("198.51.100.7"));
        assert_eq!(
            p.client(ip("10.0.0.2"), ["198.51.100.7:4321"]),
            ip("198.51.100.7")
        );
        assert_eq!(
            p.client(ip("10.0.0.2"), ["[2001:db8::1]:443"]),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn without_a_usable_entry_the_nearest_trusted_hop_counts() {
        let p = proxies(&["10.0.0.0/8"]);
        assert_eq!(p.client(ip("10.0.0.2"), []), ip("10.0.0.2"));
        assert_eq!(
            p.client(ip("10.0.0.2"), ["10.9.9.9, 10.0.0.5"]),
            ip("10.9.9.9")
        );
        assert_eq!(
            p.client(ip("10.0.0.2"), ["garbage, 10.0.0.5"]),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_networks() {
        let p = proxies(&["127.0.0.1/32"]);
        assert_eq!(p.client(ip("::ffff:127.0.0.1"), ["1.2.3.4"]), ip("1.2.3.4"));
    }

    #[test]
    fn networks_parse_as_cidrs_or_addresses() {
        assert_eq!(
            parse_network("10.0.0.0/8").unwrap().to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(parse_network(" ::1 ").unwrap().to_string(), "::1/128");
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("proxy.local").is_err());
        assert_eq!(parse_list(" ").unwrap(), TrustedProxies::default());
        assert_eq!(parse_list("10.0.0.0/8, ,::1").unwrap().0.len(), 2);
    }
}
