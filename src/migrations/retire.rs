//! The post-deploy step's wait for the previous release to retire: Dokku keeps
//! its containers serving for `DOKKU_WAIT_TO_RETIRE` after the switch. The app's
//! connections say their release in `application_name` (`[contract]
//! app_sessions` and the git revision after it): the wait ends when none of
//! another revision remains. Without that, the whole bound is waited.

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnection;

use crate::config::ContractSettings;
use crate::error::{Error, Result};

const POLL: Duration = Duration::from_secs(1);
const REPORT_EVERY: Duration = Duration::from_secs(15);

/// How the wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Retired {
    /// No session of another release remained (after this long).
    SessionsGone(Duration),
    /// The app's sessions cannot be told apart: the whole bound was waited.
    BoundWaited(Duration),
    /// `--no-wait`.
    NotWaited,
}

/// The sessions of other releases: `application_name` starting with `prefix`
/// and not followed by `revision`, by name, with how many each.
async fn other_releases(
    connection: &mut PgConnection,
    prefix: &str,
    revision: &str,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT application_name, count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() \
           AND starts_with(application_name, $1) AND application_name <> $1 || $2 \
         GROUP BY 1 ORDER BY 1",
    )
    .bind(prefix)
    .bind(revision)
    .fetch_all(connection)
    .await
}

/// Waits until the previous release has retired, at most `bound`.
pub async fn wait(
    connection: &mut PgConnection,
    settings: &ContractSettings,
    revision: Option<&str>,
    bound: Duration,
) -> Result<Retired> {
    let started = Instant::now();
    let (Some(prefix), Some(revision)) = (settings.app_sessions.as_deref(), revision) else {
        let why = if settings.app_sessions.is_none() {
            "[contract] app_sessions is not set, so the previous release's sessions cannot be told apart"
        } else {
            "neither GIT_REV nor PRAXIA_REVISION is set, so this release's sessions cannot be told from the previous one's"
        };
        tracing::info!("waiting {} s for the previous release to retire: {why}", bound.as_secs());
        tokio::time::sleep(bound).await;
        return Ok(Retired::BoundWaited(bound));
    };
    let mut reported = started;
    loop {
        let others = other_releases(connection, prefix, revision).await.map_err(|err| {
            Error::unavailable("could not read the database's sessions").note("reason", crate::pg_error::describe(&err))
        })?;
        if others.is_empty() {
            return Ok(Retired::SessionsGone(started.elapsed()));
        }
        let sessions = others.iter().map(|(name, count)| format!("{name} ({count})")).collect::<Vec<_>>().join(", ");
        if started.elapsed() >= bound {
            return Err(Error::unavailable(format!(
                "the previous release still has sessions after {} s: {sessions}",
                bound.as_secs()
            ))
            .help("nothing was applied: the contract part stays held back, and the next release or `praxia-deploy contract` applies it once they are gone"));
        }
        if reported.elapsed() >= REPORT_EVERY {
            reported = Instant::now();
            tracing::info!("waiting for the previous release to retire: {sessions}");
        }
        tokio::time::sleep(POLL).await;
    }
}
