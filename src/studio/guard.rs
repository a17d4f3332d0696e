//! Who may talk to the studio: a request must name the bound address in its
//! Host header (a DNS-rebinding page cannot), and a request for data (`/api/`)
//! must carry the random token as `Authorization: Bearer <token>`. The token
//! reaches the page in the printed URL's fragment, which no request carries;
//! the page keeps it in sessionStorage, which only its own origin (this port)
//! reads. Never in a cookie: a browser sends a host's cookies to every port of
//! it, so any other local server would receive the database. Pure.

use subtle::ConstantTimeEq;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    WrongHost,
    NoToken,
}

/// `host`: the Host header; `bound`: what the server listens on (`127.0.0.1:4993`);
/// `presented`: the request's bearer token; `needs_token`: whether it asks for data
/// (the page and its script and style hold none).
pub fn decide(host: Option<&str>, bound: &str, token: &str, presented: Option<&str>, needs_token: bool) -> Decision {
    let port = bound.rsplit_once(':').map_or("", |(_, port)| port);
    let allowed = [bound.to_owned(), format!("localhost:{port}")];
    if !host.is_some_and(|host| allowed.iter().any(|allowed| allowed.eq_ignore_ascii_case(host))) {
        return Decision::WrongHost;
    }
    let matches = |candidate: &str| bool::from(candidate.as_bytes().ct_eq(token.as_bytes()));
    if !needs_token || presented.is_some_and(matches) {
        return Decision::Allow;
    }
    Decision::NoToken
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
pub fn bearer(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bound_host_with_the_token_gets_data() {
        let bound = "127.0.0.1:4993";
        assert_eq!(decide(Some(bound), bound, "t0k", Some("t0k"), true), Decision::Allow);
        assert_eq!(decide(Some("localhost:4993"), bound, "t0k", Some("t0k"), true), Decision::Allow);
        assert_eq!(decide(Some("evil.example:4993"), bound, "t0k", Some("t0k"), true), Decision::WrongHost);
        assert_eq!(decide(None, bound, "t0k", Some("t0k"), false), Decision::WrongHost);
        assert_eq!(decide(Some(bound), bound, "t0k", Some("nope"), true), Decision::NoToken);
        assert_eq!(decide(Some(bound), bound, "t0k", None, true), Decision::NoToken);
        // The page itself holds no data.
        assert_eq!(decide(Some(bound), bound, "t0k", None, false), Decision::Allow);
    }

    #[test]
    fn the_bearer_token_is_read_from_the_header() {
        assert_eq!(bearer(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer(Some("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(Some("Basic abc")), None);
        assert_eq!(bearer(None), None);
    }
}
