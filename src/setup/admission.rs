//! What the headers of a first-run request decide before anything else is read,
//! and what its body says. Pure: the handler reads, asks these, then writes.

use std::time::Duration;

use super::api::ApiError;
use super::validation::{FieldErrors, FirstRunRequest, NewAdmin, validate};

/// The headers' verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// No token configured: the endpoint is off.
    Disabled,
    /// Too many failures from this client; retry after this long.
    Blocked(Duration),
    /// A missing or wrong token (counts as a failure).
    Unauthorized,
    /// The right token: the body may be read.
    Admitted,
}

/// `configured` is the server's token, `authorization` the header as sent,
/// `blocked` the limiter's answer for this client.
pub fn admit(configured: Option<&str>, authorization: Option<&str>, blocked: Result<(), Duration>) -> Admission {
    let Some(token) = configured else {
        return Admission::Disabled;
    };
    if let Err(retry_after) = blocked {
        return Admission::Blocked(retry_after);
    }
    if bearer_matches(authorization, token) { Admission::Admitted } else { Admission::Unauthorized }
}

/// `Bearer <token>` (the scheme in any case, RFC 9110), the token compared in constant time.
fn bearer_matches(authorization: Option<&str>, token: &str) -> bool {
    let Some((scheme, presented)) = authorization.and_then(|value| value.trim_start().split_once(' ')) else {
        return false;
    };
    scheme.eq_ignore_ascii_case("bearer") && super::token::matches(presented.trim_start(), token)
}

/// Why a body is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyRefusal {
    NotJson,
    Malformed(String),
    Invalid(FieldErrors),
}

impl BodyRefusal {
    pub fn error(&self) -> ApiError {
        match self {
            BodyRefusal::NotJson => ApiError::UnsupportedMediaType,
            BodyRefusal::Malformed(_) => ApiError::InvalidJson,
            BodyRefusal::Invalid(_) => ApiError::InvalidInput,
        }
    }
}

/// The body, given its `Content-Type`, as the admin to create.
pub fn parse_body(content_type: Option<&str>, body: &[u8]) -> Result<NewAdmin, BodyRefusal> {
    let is_json = content_type
        .and_then(|value| value.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(BodyRefusal::NotJson);
    }
    let request: FirstRunRequest =
        serde_json::from_slice(body).map_err(|err| BodyRefusal::Malformed(err.to_string()))?;
    validate(request).map_err(BodyRefusal::Invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_headers_decide_in_this_order() {
        let blocked = Err(Duration::from_secs(9));
        let cases = [
            (None, Some("Bearer t0k"), Ok(()), Admission::Disabled),
            (Some("t0k"), Some("Bearer t0k"), blocked, Admission::Blocked(Duration::from_secs(9))),
            (Some("t0k"), Some("Bearer t0k"), Ok(()), Admission::Admitted),
            (Some("t0k"), Some("bearer t0k"), Ok(()), Admission::Admitted),
            (Some("t0k"), Some("BEARER  t0k"), Ok(()), Admission::Admitted),
            (Some("t0k"), Some("Basic t0k"), Ok(()), Admission::Unauthorized),
            (Some("t0k"), Some("Bearer wrong"), Ok(()), Admission::Unauthorized),
            (Some("t0k"), Some("Bearert0k"), Ok(()), Admission::Unauthorized),
            (Some("t0k"), None, Ok(()), Admission::Unauthorized),
        ];
        for (configured, authorization, limiter, expected) in cases {
            assert_eq!(admit(configured, authorization, limiter), expected, "{authorization:?}");
        }
    }

    #[test]
    fn the_body_must_be_json_of_the_request_and_valid() {
        let good = br#"{"email": "Ada@Praxia.Example", "name": "Ada", "password": "correct horse"}"#;
        assert_eq!(parse_body(Some("application/json; charset=utf-8"), good).unwrap().email, "ada@praxia.example");
        assert_eq!(parse_body(Some("text/plain"), good), Err(BodyRefusal::NotJson));
        assert_eq!(parse_body(None, good), Err(BodyRefusal::NotJson));
        assert!(matches!(parse_body(Some("application/json"), b"{"), Err(BodyRefusal::Malformed(_))));
        assert!(matches!(parse_body(Some("application/json"), b"{}"), Err(BodyRefusal::Invalid(_))));
    }
}
