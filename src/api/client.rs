//! Who a request comes from, for rate limits and per-client caps: the client address the edge
//! resolved (the peer, or what a trusted proxy forwarded: `edge::proxy`), with IPv6 clients
//! counted by their /64 (one host usually holds a whole /64, so counting single addresses
//! would let it rotate through millions of them).
use std::net::IpAddr;

use poem::Request;

/// The client address of a request, as the edge middleware resolved it (kept in the request's
/// extensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// The key that per-client limits count a request under: an IPv4 address, an IPv6 /64 prefix,
/// or `unknown` when the transport has no IP address (a Unix socket, a test without a peer).
/// Without the edge's resolution (an app without it), the peer address.
pub fn key(req: &Request) -> String {
    let resolved = req.extensions().get::<ClientIp>().map(|c| c.0);
    match resolved.or_else(|| req.remote_addr().as_socket_addr().map(|a| a.ip())) {
        Some(ip) => ip_key(ip),
        None => "unknown".into(),
    }
}

/// The limit key of one address (IPv4 as is, IPv4-mapped IPv6 as IPv4, IPv6 by /64).
pub fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        assert_eq!(ip_key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
        assert_eq!(ip_key("192.0.2.7".parse().unwrap()), "192.0.2.7");
    }
}
