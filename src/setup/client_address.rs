//! Which address a request comes from, for rate limiting and the access log. Pure.

use std::net::{IpAddr, SocketAddr};

/// The peer's address, or, behind a trusted proxy (Dokku's nginx), the last
/// address in `X-Forwarded-For` (`forwarded_for` is the header's last line): the
/// one the proxy itself saw. Earlier entries are whatever the client chose to
/// send, so they are never trusted; nor is the header from a peer that is not on
/// a loopback or private network, where Dokku's proxy would be.
pub fn client_address(peer: SocketAddr, forwarded_for: Option<&str>, trust_proxy: bool) -> IpAddr {
    if !trust_proxy || !could_be_the_proxy(peer.ip()) {
        return peer.ip();
    }
    forwarded_for
        .and_then(|header| header.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer.ip())
}

fn could_be_the_proxy(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unique_local()
                || v6.is_unicast_link_local()
                || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback() || v4.is_private())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_counts_only_behind_a_trusted_proxy_and_only_its_last_entry() {
        let peer: SocketAddr = "172.17.0.1:40000".parse().unwrap();
        let cases = [
            (None, false, "172.17.0.1"),
            (Some("198.51.100.9"), false, "172.17.0.1"),
            (Some("198.51.100.9"), true, "198.51.100.9"),
            (Some("6.6.6.6, 198.51.100.9"), true, "198.51.100.9"),
            (Some("garbage"), true, "172.17.0.1"),
            (Some("2001:db8::1"), true, "2001:db8::1"),
        ];
        for (header, trust, expected) in cases {
            assert_eq!(client_address(peer, header, trust).to_string(), expected, "{header:?} trust={trust}");
        }
        let public_peer: SocketAddr = "198.51.100.20:40000".parse().unwrap();
        assert_eq!(
            client_address(public_peer, Some("6.6.6.6"), true).to_string(),
            "198.51.100.20",
            "a peer that cannot be the proxy does not choose its own address"
        );
    }
}
