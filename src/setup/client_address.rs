//! Which address a request comes from, for rate limiting and the access log. Pure.

use std::net::{IpAddr, SocketAddr};

use crate::config::ProxyAddress;

/// The peer's address, or, when the peer is one of the trusted proxies (Dokku's
/// nginx), the last address in `X-Forwarded-For` (`forwarded_for` is the
/// header's last line): the one the proxy itself saw. Earlier entries are
/// whatever the client chose to send, so they are never trusted; nor is the
/// header from any other peer. IPv4-mapped IPv6 addresses are their IPv4 selves.
pub fn client_address(peer: SocketAddr, forwarded_for: Option<&str>, trusted: &[ProxyAddress]) -> IpAddr {
    let peer = peer.ip().to_canonical();
    if !trusted.iter().any(|proxy| proxy.contains(peer)) {
        return peer;
    }
    forwarded_for
        .and_then(|header| header.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok())
        .map_or(peer, |address| address.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> Vec<ProxyAddress> {
        list.iter()
            .map(|text| {
                toml::from_str::<toml::Value>(&format!("x = \"{text}\"")).unwrap()["x"].clone().try_into().unwrap()
            })
            .collect()
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy_and_only_its_last_entry() {
        let gateway = proxies(&["172.17.0.1"]);
        let peer: SocketAddr = "172.17.0.1:40000".parse().unwrap();
        let cases = [
            (None, &gateway, "172.17.0.1"),
            (Some("198.51.100.9"), &vec![], "172.17.0.1"),
            (Some("198.51.100.9"), &gateway, "198.51.100.9"),
            (Some("6.6.6.6, 198.51.100.9"), &gateway, "198.51.100.9"),
            (Some("garbage"), &gateway, "172.17.0.1"),
            (Some("2001:db8::1"), &gateway, "2001:db8::1"),
            (Some("::ffff:198.51.100.9"), &gateway, "198.51.100.9"),
        ];
        for (header, trusted, expected) in cases {
            assert_eq!(client_address(peer, header, trusted).to_string(), expected, "{header:?} {trusted:?}");
        }
        // Another container on the bridge is private too, but not the proxy.
        let neighbour: SocketAddr = "172.17.0.5:40000".parse().unwrap();
        assert_eq!(client_address(neighbour, Some("6.6.6.6"), &gateway).to_string(), "172.17.0.5");
        let mapped: SocketAddr = "[::ffff:172.17.0.1]:40000".parse().unwrap();
        assert_eq!(
            client_address(mapped, Some("6.6.6.6"), &gateway).to_string(),
            "6.6.6.6",
            "one client, two spellings"
        );
        assert_eq!(client_address("[::ffff:203.0.113.1]:1".parse().unwrap(), None, &[]).to_string(), "203.0.113.1");
    }
}
