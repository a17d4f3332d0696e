//! `praxia-deploy bootstrap`: the CI client of the first-run endpoint.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::backoff::{backoff, jitter};

/// How one answer of the server is read. Pure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum BootstrapOutcome {
    Created {
        id: String,
        email: String,
    },
    AlreadyInitialized,
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
}

/// What to do with an HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Final(BootstrapOutcome),
    /// The app may still be starting after a deploy: try again while waiting.
    Retry(String),
    /// The server is up but its database is not: try again while waiting.
    RetryDatabase(String),
}

pub fn read_answer(status: u16, body: &Value) -> Answer {
    let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    match status {
        201 => Answer::Final(BootstrapOutcome::Created { id: text("id"), email: text("email") }),
        409 if text("error") == "already_initialized" => Answer::Final(BootstrapOutcome::AlreadyInitialized),
        503 if text("error") == "database_unavailable" => Answer::RetryDatabase(text("message")),
        502..=504 => Answer::Retry(format!("HTTP {status}")),
        _ => Answer::Final(BootstrapOutcome::Rejected {
            status,
            code: if body.get("error").is_some() { text("error") } else { format!("http_{status}") },
            message: if body.get("message").is_some() { text("message") } else { "no message".to_owned() },
            fields: body.get("fields").cloned(),
        }),
    }
}

/// Refuses a base URL that would expose the token and the password: credentials
/// in the URL (they get printed), or plain http to anything but this machine. Pure.
pub fn check_base_url(text: &str) -> Result<(), String> {
    let url = url::Url::parse(text).map_err(|err| format!("`{}` is not a URL ({err})", crate::config::redact(text)))?;
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

/// Posts the request, retrying connection failures and 502/503/504 for up to `wait`.
pub async fn bootstrap(request: &BootstrapRequest<'_>, wait: Duration) -> BootstrapOutcome {
    // reqwest is built without a default crypto provider; install ring's once.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
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
    loop {
        attempt += 1;
        let sent = client.post(&url).bearer_auth(request.token).json(&body).send().await;
        let (reason, database_down) = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                match read_answer(status, &body) {
                    Answer::Final(outcome) => return outcome,
                    Answer::Retry(reason) => (reason, false),
                    Answer::RetryDatabase(reason) => (reason, true),
                }
            }
            // reqwest's error text names the URL, never the token or the body.
            Err(err) => (crate::error::chain(&err), false),
        };
        let delay = backoff(attempt, jitter());
        if Instant::now() + delay > deadline {
            return if database_down {
                BootstrapOutcome::DatabaseUnavailable { reason }
            } else {
                BootstrapOutcome::Unreachable { reason }
            };
        }
        tracing::warn!(attempt, "{url} not ready ({reason}); retrying in {} ms", delay.as_millis());
        tokio::time::sleep(delay).await;
    }
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

    #[test]
    fn answers_are_read_as_the_outcomes_ci_needs() {
        assert_eq!(
            read_answer(201, &json!({"id": "abc", "email": "a@b.example"})),
            Answer::Final(BootstrapOutcome::Created { id: "abc".into(), email: "a@b.example".into() })
        );
        assert_eq!(
            read_answer(409, &json!({"error": "already_initialized"})),
            Answer::Final(BootstrapOutcome::AlreadyInitialized)
        );
        for status in [502, 503, 504] {
            assert!(matches!(read_answer(status, &Value::Null), Answer::Retry(_)), "{status}");
        }
        assert!(matches!(
            read_answer(503, &json!({"error": "database_unavailable", "message": "down"})),
            Answer::RetryDatabase(_)
        ));
        let rejected = read_answer(422, &json!({"error": "invalid_input", "message": "bad", "fields": {"email": "x"}}));
        assert_eq!(
            rejected,
            Answer::Final(BootstrapOutcome::Rejected {
                status: 422,
                code: "invalid_input".into(),
                message: "bad".into(),
                fields: Some(json!({"email": "x"}))
            })
        );
        let Answer::Final(BootstrapOutcome::Rejected { code, .. }) = read_answer(500, &Value::Null) else {
            panic!("a 500 is final")
        };
        assert_eq!(code, "http_500");
        assert!(matches!(
            read_answer(409, &json!({"error": "email_in_use"})),
            Answer::Final(BootstrapOutcome::Rejected { status: 409, .. })
        ));
    }
}
