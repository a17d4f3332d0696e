//! `praxia-deploy bootstrap`: the CI client of the first-run endpoint.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use super::api::ApiError;
use crate::backoff::{backoff, jitter};

/// How one answer of the server is read. Pure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BootstrapOutcome {
    Created {
        id: String,
        email: String,
    },
    /// An admin exists. `earlier_attempt_unanswered`: an earlier attempt of this
    /// run may have reached the server and lost its answer, so the admin may be
    /// the one this run asked for.
    AlreadyInitialized {
        earlier_attempt_unanswered: bool,
    },
    /// The server refused the request (bad token, invalid input, disabled...).
    Rejected {
        status: u16,
        code: String,
        message: String,
        fields: Option<Value>,
    },
    /// Not reachable, or still starting (502/503/504), until the wait ran out.
    Unreachable {
        reason: String,
    },
    /// The server answered, but its database did not, until the wait ran out.
    DatabaseUnavailable {
        reason: String,
    },
    /// The server answered with a redirect. It is not followed: the request would
    /// carry the admin's password to wherever `Location` points.
    Redirected {
        status: u16,
        location: String,
    },
}

/// What to do with an HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Final(BootstrapOutcome),
    /// Try again while waiting: the app may still be starting (502, 503, 504),
    /// its database may be down, or it asks to slow down (429); not before
    /// `after` when the server said (`Retry-After`).
    Retry {
        reason: String,
        database: bool,
        after: Option<Duration>,
        /// What the answer says when the wait runs out on it: the server's own
        /// refusal (429, a busy database), with its code and message.
        refused: Option<BootstrapOutcome>,
    },
}

/// The parts of an HTTP answer `read_answer` looks at.
#[derive(Debug, Clone, Default)]
pub struct Response<'a> {
    pub status: u16,
    /// The JSON body (Null when it was not JSON, or too large to read).
    pub body: Value,
    /// `Retry-After`, as sent.
    pub retry_after: Option<&'a str>,
    pub location: Option<&'a str>,
}

/// What an answer means for bootstrap. Pure.
pub fn read_answer(response: &Response, now: std::time::SystemTime) -> Answer {
    let Response { status, body, .. } = response;
    let status = *status;
    let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    let after = response.retry_after.and_then(|value| retry_after(value, now));
    let error = ApiError::from_code(&text("error")).filter(|error| error.status() == status);
    let refusal = || {
        Some(BootstrapOutcome::Rejected {
            status,
            code: if body.get("error").is_some() { text("error") } else { format!("http_{status}") },
            message: if body.get("message").is_some() { text("message") } else { "no message".to_owned() },
            fields: None,
        })
    };
    match (status, error) {
        (201, _) => Answer::Final(BootstrapOutcome::Created { id: text("id"), email: text("email") }),
        (300..=399, _) => Answer::Final(BootstrapOutcome::Redirected {
            status,
            location: response.location.unwrap_or("(no Location header)").to_owned(),
        }),
        (_, Some(ApiError::AlreadyInitialized)) => {
            Answer::Final(BootstrapOutcome::AlreadyInitialized { earlier_attempt_unanswered: false })
        }
        (_, Some(ApiError::DatabaseUnavailable)) => {
            Answer::Retry { reason: text("message"), database: true, after, refused: None }
        }
        (_, Some(ApiError::DatabaseBusy)) => {
            Answer::Retry { reason: text("message"), database: false, after, refused: refusal() }
        }
        (429, error) => Answer::Retry {
            reason: format!("HTTP 429 {}", text("error")).trim_end().to_owned(),
            database: false,
            after,
            // Only the server's own refusal has its help; a proxy's bare 429 is "unreachable".
            refused: if error == Some(ApiError::TooManyAttempts) { refusal() } else { None },
        },
        (502..=504, _) => Answer::Retry { reason: format!("HTTP {status}"), database: false, after, refused: None },
        (_, _) => Answer::Final(BootstrapOutcome::Rejected {
            status,
            code: if body.get("error").is_some() { text("error") } else { format!("http_{status}") },
            message: if body.get("message").is_some() { text("message") } else { "no message".to_owned() },
            fields: body.get("fields").cloned(),
        }),
    }
}

/// `Retry-After` (RFC 9110): seconds, or an HTTP date.
pub fn retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The most of an answer's body that is read: the API's answers are small, and
/// a server (or whatever answers in its place) may send anything.
const MAX_BODY: usize = 64 * 1024;

/// With `--wait 0s`, the one attempt gets as long as the server's own request bound.
const SINGLE_ATTEMPT: Duration = Duration::from_secs(30);

/// Refuses a base URL that would expose the token and the password: credentials
/// in the URL (they get printed), or plain http to anything but this machine. Pure.
pub fn check_base_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|err| format!("`{}` is not a URL ({err})", crate::redact::redact(text)))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("the URL carries credentials; give only scheme, host and port".to_owned());
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(host)) => host == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        "http" => Err(format!(
            "{text} is plain http: the setup token and the admin password would cross the network unencrypted; use https"
        )),
        other => Err(format!("`{other}` is not http or https")),
    }
}

/// The admin to create.
pub struct BootstrapRequest<'a> {
    pub base_url: &'a str,
    pub token: &'a str,
    pub email: &'a str,
    pub name: &'a str,
    pub password: &'a str,
}

/// Posts the request, retrying connection failures, 429 and 502/503/504 for up
/// to `wait` (after `Retry-After` when the server says so). Each attempt is
/// bounded by what is left of `wait`; redirects are never followed.
pub async fn bootstrap(request: &BootstrapRequest<'_>, wait: Duration) -> BootstrapOutcome {
    // reqwest is built without a default crypto provider; install ring's once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("praxia-deploy/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(client) => client,
        Err(err) => return BootstrapOutcome::Unreachable { reason: format!("no HTTP client: {err}") },
    };
    let url = format!("{}/api/setup/first-run", request.base_url.trim_end_matches('/'));
    let body = json!({ "email": request.email, "name": request.name, "password": request.password });
    let deadline = Instant::now() + wait;
    let mut attempt = 0;
    // A POST is not idempotent: one whose answer was lost may have created the admin.
    let mut unanswered = false;
    loop {
        attempt += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        let bound = if wait.is_zero() { SINGLE_ATTEMPT } else { left.max(Duration::from_secs(1)) };
        let sent = tokio::time::timeout(bound, answer_of(&client, &url, request.token, &body)).await;
        let (reason, database_down, after, refused) = match sent {
            Ok(Ok((status, body, retry, location))) => {
                // A proxy's 502/504: the app may have processed the POST before the answer was lost.
                unanswered |= matches!(status, 502 | 504);
                let response = Response { status, body, retry_after: retry.as_deref(), location: location.as_deref() };
                match read_answer(&response, std::time::SystemTime::now()) {
                    Answer::Final(BootstrapOutcome::AlreadyInitialized { .. }) => {
                        return BootstrapOutcome::AlreadyInitialized { earlier_attempt_unanswered: unanswered };
                    }
                    Answer::Final(outcome) => return outcome,
                    Answer::Retry { reason, database, after, refused } => (reason, database, after, refused),
                }
            }
            // reqwest's error text names the URL, never the token or the body.
            Ok(Err(err)) => {
                // Not connected means not sent; anything later may have been processed.
                unanswered |= !err.is_connect();
                (crate::error::chain(&err), false, None, None)
            }
            Err(_) => {
                unanswered = true;
                (format!("no answer within {}", humantime::format_duration(bound)), false, None, None)
            }
        };
        let delay = backoff(attempt, jitter()).max(after.unwrap_or(Duration::ZERO));
        if Instant::now() + delay > deadline {
            return if let Some(refused) = refused {
                refused
            } else if database_down {
                BootstrapOutcome::DatabaseUnavailable { reason }
            } else {
                BootstrapOutcome::Unreachable { reason }
            };
        }
        tracing::warn!(attempt, "{url} not ready ({reason}); retrying in {} ms", delay.as_millis());
        tokio::time::sleep(delay).await;
    }
}

/// One POST: the status, the body (at most `MAX_BODY` of it, as JSON or Null),
/// `Retry-After` and `Location`.
async fn answer_of(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    body: &Value,
) -> Result<(u16, Value, Option<String>, Option<String>), reqwest::Error> {
    let mut response = client.post(url).bearer_auth(token).json(body).send().await?;
    let header = |name: reqwest::header::HeaderName, response: &reqwest::Response| {
        response.headers().get(name).and_then(|value| value.to_str().ok()).map(str::to_owned)
    };
    let retry = header(reqwest::header::RETRY_AFTER, &response);
    let location = header(reqwest::header::LOCATION, &response);
    let status = response.status().as_u16();
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() + chunk.len() > MAX_BODY {
            // Too large for an answer of this API: not read further, not parsed.
            return Ok((status, Value::Null, retry, location));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), retry, location))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_that_would_expose_secrets_are_refused() {
        for ok in
            ["https://staging.praxia.example", "http://127.0.0.1:5000", "http://localhost:5000", "http://[::1]:5000"]
        {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("http://staging.praxia.example", "unencrypted"),
            ("https://admin:hunter2@staging.praxia.example", "credentials"),
            ("ftp://x.example", "not http"),
        ] {
            let err = check_base_url(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    fn answer(status: u16, body: Value) -> Answer {
        read_answer(&Response { status, body, ..Response::default() }, std::time::SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn answers_are_read_as_the_outcomes_ci_needs() {
        assert_eq!(
            answer(201, json!({"id": "abc", "email": "a@b.example"})),
            Answer::Final(BootstrapOutcome::Created { id: "abc".into(), email: "a@b.example".into() })
        );
        assert_eq!(
            answer(409, json!({"error": "already_initialized"})),
            Answer::Final(BootstrapOutcome::AlreadyInitialized { earlier_attempt_unanswered: false })
        );
        for status in [429, 502, 503, 504] {
            assert!(
                matches!(answer(status, Value::Null), Answer::Retry { database: false, refused: None, .. }),
                "{status}"
            );
        }
        // Retried, and if the wait runs out on them, the server's refusal as it said it.
        for (status, code) in [(429, "too_many_attempts"), (503, "database_busy")] {
            let Answer::Retry { refused: Some(BootstrapOutcome::Rejected { code: said, .. }), .. } =
                answer(status, json!({"error": code, "message": "later"}))
            else {
                panic!("{status} {code} is retried")
            };
            assert_eq!(said, code);
        }
        assert!(matches!(
            answer(503, json!({"error": "database_unavailable", "message": "down"})),
            Answer::Retry { database: true, .. }
        ));
        let rejected = answer(422, json!({"error": "invalid_input", "message": "bad", "fields": {"email": "x"}}));
        assert_eq!(
            rejected,
            Answer::Final(BootstrapOutcome::Rejected {
                status: 422,
                code: "invalid_input".into(),
                message: "bad".into(),
                fields: Some(json!({"email": "x"}))
            })
        );
        let Answer::Final(BootstrapOutcome::Rejected { code, .. }) = answer(500, Value::Null) else {
            panic!("a 500 is final")
        };
        assert_eq!(code, "http_500");
        assert!(matches!(
            answer(409, json!({"error": "email_in_use"})),
            Answer::Final(BootstrapOutcome::Rejected { status: 409, .. })
        ));
    }

    #[test]
    fn a_redirect_is_final_and_named_and_retry_after_is_read_both_ways() {
        let moved = Response { status: 307, location: Some("https://elsewhere.example/x"), ..Response::default() };
        assert_eq!(
            read_answer(&moved, std::time::SystemTime::UNIX_EPOCH),
            Answer::Final(BootstrapOutcome::Redirected { status: 307, location: "https://elsewhere.example/x".into() })
        );
        let now = httpdate::parse_http_date("Tue, 01 Dec 2026 10:00:00 GMT").unwrap();
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("Tue, 01 Dec 2026 10:00:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("Tue, 01 Dec 2026 09:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
        let slow_down = Response { status: 429, retry_after: Some("12"), ..Response::default() };
        assert!(matches!(
            read_answer(&slow_down, now),
            Answer::Retry { after: Some(after), .. } if after == Duration::from_secs(12)
        ));
    }
}
