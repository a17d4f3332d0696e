//! Who may talk to the studio: a request must name the bound address in its
//! Host header (a DNS-rebinding page cannot) and carry the random token, in the
//! printed URL once, then in the HttpOnly cookie it sets. Pure.

use subtle::ConstantTimeEq;

pub const COOKIE: &str = "praxia_studio";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The token came in the URL: allow, and keep it in a cookie.
    AllowAndRemember,
    WrongHost,
    NoToken,
}

/// `host`: the Host header; `bound`: what the server listens on (`127.0.0.1:4983`);
/// `query_token`, `cookie_token`: what the request carries.
pub fn decide(
    host: Option<&str>,
    bound: &str,
    token: &str,
    query_token: Option<&str>,
    cookie_token: Option<&str>,
) -> Decision {
    let port = bound.rsplit_once(':').map_or("", |(_, port)| port);
    let allowed = [bound.to_owned(), format!("localhost:{port}")];
    if !host.is_some_and(|host| allowed.iter().any(|allowed| allowed.eq_ignore_ascii_case(host))) {
        return Decision::WrongHost;
    }
    let matches = |candidate: &str| bool::from(candidate.as_bytes().ct_eq(token.as_bytes()));
    if cookie_token.is_some_and(matches) {
        return Decision::Allow;
    }
    if query_token.is_some_and(matches) {
        return Decision::AllowAndRemember;
    }
    Decision::NoToken
}

/// The studio token's value in a Cookie header.
pub fn cookie_value(header: Option<&str>) -> Option<&str> {
    header?.split(';').map(str::trim).find_map(|pair| pair.strip_prefix(COOKIE)?.strip_prefix('='))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bound_host_with_the_token_gets_in() {
        let bound = "127.0.0.1:4983";
        assert_eq!(decide(Some(bound), bound, "t0k", None, Some("t0k")), Decision::Allow);
        assert_eq!(decide(Some("localhost:4983"), bound, "t0k", Some("t0k"), None), Decision::AllowAndRemember);
        assert_eq!(decide(Some("evil.example:4983"), bound, "t0k", Some("t0k"), None), Decision::WrongHost);
        assert_eq!(decide(None, bound, "t0k", Some("t0k"), None), Decision::WrongHost);
        assert_eq!(decide(Some(bound), bound, "t0k", Some("nope"), Some("nope")), Decision::NoToken);
        assert_eq!(decide(Some(bound), bound, "t0k", None, None), Decision::NoToken);
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        assert_eq!(cookie_value(Some("a=1; praxia_studio=abc; b=2")), Some("abc"));
        assert_eq!(cookie_value(Some("praxia_studiox=abc")), None);
        assert_eq!(cookie_value(None), None);
    }
}
