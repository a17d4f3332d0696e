//! The database a command talks to: the URL from the flag or the environment's
//! variable, or, for development and test, the embedded Postgres started on
//! demand; and connecting to it, waiting while it comes up.

use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use crate::backoff::{backoff, jitter};
use crate::config::{DatabaseTarget, DatabaseUrl, Environment, missing_url_error};
use crate::error::{Error, Result};
use crate::localdb::LocalDatabase;
use crate::pg_error::{describe, has_code, sqlstate};

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
                tracing::info!(
                    url = %started.url,
                    "no database URL given: started the embedded development PostgreSQL \
                     (it keeps running for the next command; `praxia-deploy db stop` stops it)"
                );
            }
            DatabaseUrl::parse(&started.url, "the embedded database")
        }
    }
}

/// Connects, retrying while the server is unreachable or starting up (refused,
/// DNS failure, `57P03`, `53300`) with capped exponential backoff and jitter, for
/// at most `wait`. Other failures (bad password, no such database) fail at once.
pub async fn connect(url: &DatabaseUrl, wait: Duration, application_name: &str) -> Result<PgConnection> {
    let options = PgConnectOptions::from_str(&url.for_driver())
        .map_err(|err| {
            Error::usage(format!(
                "the database URL {url} is not usable: {}",
                crate::redact::redact_in(&err.to_string())
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
    match err {
        _ if has_code(err, &[sqlstate::UNDEFINED_TABLE, sqlstate::UNDEFINED_COLUMN]) => {
            Error::usage(format!("{what} failed: the Praxia tables are missing or old; nothing was written"))
                .note("reason", describe(err))
                .help("run `praxia-deploy migrate` first")
        }
        sqlx::Error::Database(_) => {
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
        _ => has_code(err, &[sqlstate::CANNOT_CONNECT_NOW, sqlstate::TOO_MANY_CONNECTIONS]),
    }
}
