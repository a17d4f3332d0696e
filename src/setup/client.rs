//! `praxia-deploy bootstrap`: the CI client of the first-run endpoint.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};

use crate::database::{backoff, jitter};

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
}

/// What to do with an HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Final(BootstrapOutcome),
    /// The app may still be starting after a deploy: try again while waiting.
    Retry(String),
}

pub fn read_answer(status: u16, body: &Value) -> Answer {
    let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or("").to_owned();
    match status {
        201 => Answer::Final(BootstrapOutcome::Created { id: text("id"), email: text("email") }),
        409 if text("error") == "already_initialized" => Answer::Final(BootstrapOutcome::AlreadyInitialized),
        502..=504 => Answer::Retry(format!("HTTP {status}")),
        _ => Answer::Final(BootstrapOutcome::Rejected {
            status,
            code: if body.get("error").is_some() { text("error") } else { format!("http_{status}") },
            message: if body.get("message").is_some() { text("message") } else { "no message".to_owned() },
            fields: body.get("fields").cloned(),
        }),
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
        let reason = match sent {
            Ok(response) => {
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                match read_answer(status, &body) {
                    Answer::Final(outcome) => return outcome,
                    Answer::Retry(reason) => reason,
                }
            }
            // reqwest's error text names the URL, never the token or the body.
            Err(err) => error_chain(&err),
        };
        let delay = backoff(attempt, jitter());
        if Instant::now() + delay > deadline {
            return BootstrapOutcome::Unreachable { reason };
        }
        tracing::warn!(attempt, "{url} not ready ({reason}); retrying in {} ms", delay.as_millis());
        tokio::time::sleep(delay).await;
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

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
