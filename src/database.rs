//! The database a command talks to: the URL from the flag or the environment's
//! variable, or, for development and test, the embedded Postgres started on
//! demand; and connecting to it, waiting while it comes up.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use crate::config::{DatabaseTarget, DatabaseUrl, Environment, missing_url_error};
use crate::error::{Error, Result};
use crate::localdb::LocalDatabase;

/// The environment's database URL; starts the embedded database when that is the answer.
pub fn url_for(env: &Environment, flag: Option<&str>) -> Result<DatabaseUrl> {
    match env.database_target(flag)? {
        DatabaseTarget::Url { url, source } => {
            tracing::debug!(%url, %source, "database URL");
            Ok(url)
        }
        DatabaseTarget::Missing => Err(missing_url_error(&env.name, env.kind, &env.database.url_env)),
        DatabaseTarget::Embedded => {
            let started = LocalDatabase::for_project(&env.root)?.start(env)?;
            if !started.already_running {
                tracing::info!(url = %started.url, "no database URL given: started the embedded development PostgreSQL");
            }
            DatabaseUrl::parse(&started.url, "the embedded database")
        }
    }
}

/// Connects, retrying while the server is unreachable or starting up (refused,
/// DNS failure, `57P03`, `53300`) with capped exponential backoff and jitter, for
/// at most `wait`. Other failures (bad password, no such database) fail at once.
pub async fn connect(url: &DatabaseUrl, wait: Duration, application_name: &str) -> Result<PgConnection> {
    let options = PgConnectOptions::from_str(url.expose_secret())
        .map_err(|err| {
            Error::usage(format!(
                "the database URL {url} is not usable: {}",
                crate::config::redact_in(&err.to_string())
            ))
        })?
        .application_name(application_name)
        .disable_statement_logging();
    let deadline = Instant::now() + wait;
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        // Each attempt is bounded too: a server that accepts TCP and never answers
        // must not hang a release phase, which has no timeout of its own.
        let budget = deadline.saturating_duration_since(Instant::now()).max(MIN_ATTEMPT);
        let reason = match tokio::time::timeout(budget, PgConnection::connect_with(&options)).await {
            Ok(Ok(connection)) => return Ok(connection),
            Ok(Err(err)) if !is_transient(&err) => {
                return Err(Error::unavailable(format!("could not connect to the database {url}"))
                    .note("reason", describe(&err))
                    .help("check the URL's user, password and database name"));
            }
            Ok(Err(err)) => describe(&err),
            Err(_) => format!("no answer within {} ms", budget.as_millis()),
        };
        let delay = backoff(attempt, jitter());
        if Instant::now() + delay > deadline {
            return Err(Error::unavailable(format!(
                "the database {url} was not reachable within {}",
                humantime::format_duration(wait)
            ))
            .note("last error", reason)
            .note("attempts", attempt)
            .help("is the server running and the URL right? On Dokku: `dokku postgres:info <service>` and `dokku postgres:link`; wait longer with --wait"));
        }
        tracing::warn!(attempt, "database not reachable yet ({reason}); retrying in {} ms", delay.as_millis());
        tokio::time::sleep(delay).await;
    }
}

/// The least time one connection attempt gets, even at the end of the wait.
const MIN_ATTEMPT: Duration = Duration::from_secs(2);

/// A failure while writing: the connection (exit 5), missing tables (exit 2, run
/// the migrations first), or anything else the server refused (exit 1).
pub fn write_failed(what: &str, err: &sqlx::Error) -> Error {
    let code = err.as_database_error().and_then(|db| db.code()).map(|code| code.into_owned());
    match (err, code.as_deref()) {
        (_, Some("42P01" | "42703")) => {
            Error::usage(format!("{what} failed: the Praxia tables are missing or old; nothing was written"))
                .note("reason", describe(err))
                .help("run `praxia-deploy migrate` first")
        }
        (sqlx::Error::Database(_), _) => {
            Error::internal(format!("{what} failed; nothing was written")).note("reason", describe(err))
        }
        _ => Error::unavailable(format!("{what} failed: the database connection broke; nothing was written"))
            .note("reason", describe(err)),
    }
}

/// Refused, unresolvable or reset connections, and a server that is starting up,
/// shutting down or full, are worth waiting for.
fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) => true,
        sqlx::Error::Database(db) => matches!(db.code().as_deref(), Some("57P03" | "53300")),
        _ => false,
    }
}

/// A database error as the user should read it: the server's message and SQLSTATE
/// (sqlx's own text appends a line number of PostgreSQL's C source), URLs redacted.
pub fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => {
            format!("{} ({})", db.message(), db.code().as_deref().unwrap_or("no SQLSTATE"))
        }
        other => crate::config::redact_in(&other.to_string()),
    }
}

/// 100 ms doubling per attempt, capped at 5 s, scaled by `jitter` in [0.5, 1).
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = Duration::from_millis(100).saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    base.min(Duration::from_secs(5)).mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
}

/// A number in [0, 1) that differs between calls and processes, enough to spread
/// retries of concurrent runners; no cryptographic quality needed.
pub fn jitter() -> f64 {
    use std::hash::{BuildHasher, RandomState};
    let bits = RandomState::new().hash_one(Instant::now());
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let full = |attempt| backoff(attempt, 1.0);
        assert_eq!(full(1), Duration::from_millis(100));
        assert_eq!(full(2), Duration::from_millis(200));
        assert_eq!(full(5), Duration::from_millis(1600));
        assert_eq!(full(7), Duration::from_secs(5));
        assert_eq!(full(100), Duration::from_secs(5));
        assert_eq!(backoff(2, 0.0), Duration::from_millis(100), "jitter halves at most");
    }

    #[test]
    fn jitter_is_in_range() {
        for _ in 0..100 {
            let value = jitter();
            assert!((0.0..1.0).contains(&value));
        }
    }
}
