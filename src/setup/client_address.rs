//! Which address a request comes from, for rate limiting and the access log. Pure.

use std::net::{IpAddr, SocketAddr};

/// The peer's address, or, behind a trusted proxy (Dokku's nginx), the last
/// address in `X-Forwarded-For`: the one the proxy itself saw. Earlier entries
/// are whatever the client chose to send, so they are never trusted.
pub fn client_address(peer: SocketAddr, forwarded_for: Option<&str>, trust_proxy: bool) -> IpAddr {
    if !trust_proxy {
        return peer.ip();
    }
    forwarded_for
        .and_then(|header| header.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer.ip())
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
    }
}
