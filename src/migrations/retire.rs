//! The post-deploy step's wait for the previous release to retire: Dokku keeps
//! its containers serving for `DOKKU_WAIT_TO_RETIRE` after the switch. The app's
//! connections say their release in `application_name` (`[contract]
//! app_sessions` and the git revision after it): the wait ends when, a session
//! of this release having been seen, none of another revision remains. Without
//! that, the whole bound is waited.

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnection;

use super::contract::SeenRevision;
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

/// The app's sessions of this database (`application_name` starting with
/// `prefix`), by name, with how many each.
async fn app_sessions(connection: &mut PgConnection, prefix: &str) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT application_name, count(*) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND starts_with(application_name, $1) \
         GROUP BY 1 ORDER BY 1",
    )
    .bind(prefix)
    .fetch_all(connection)
    .await
}

/// The longest `application_name` the server keeps (NAMEDATALEN - 1 bytes).
const APPLICATION_NAME_BYTES: usize = 63;

/// This release's sessions' name as the server shows it: cut at 63 bytes, on a
/// character boundary.
pub fn own_application_name(prefix: &str, revision: &str) -> String {
    let mut name = format!("{prefix}{revision}");
    let mut end = name.len().min(APPLICATION_NAME_BYTES);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.truncate(end);
    name
}

/// The revisions the app's sessions of this database carry after `prefix`,
/// each marked when the server cut its name at 63 bytes.
pub async fn revisions_connected(connection: &mut PgConnection, prefix: &str) -> Result<Vec<SeenRevision>> {
    ascii_prefix(prefix)?;
    let seen: Vec<(String, bool)> = sqlx::query_as(
        "SELECT DISTINCT substr(application_name, length($1) + 1), octet_length(application_name) >= $2 \
         FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND starts_with(application_name, $1)",
    )
    .bind(prefix)
    .bind(i32::try_from(APPLICATION_NAME_BYTES).expect("63 fits"))
    .fetch_all(connection)
    .await
    .map_err(|err| {
        Error::unavailable("could not read the database's sessions").note("reason", crate::pg_error::describe(&err))
    })?;
    Ok(seen.into_iter().map(|(revision, cut)| SeenRevision { revision, cut }).collect())
}

/// PostgreSQL 15 keeps an `application_name` byte outside ASCII as `?`: such
/// a prefix would never match, and the old release would never be seen.
fn ascii_prefix(prefix: &str) -> Result<()> {
    if prefix.is_ascii() {
        return Ok(());
    }
    Err(Error::usage(format!("[contract] app_sessions = \"{prefix}\" is not ASCII"))
        .help("PostgreSQL shows each other byte of an application_name as `?`, so no session would ever match: use ASCII letters, digits and punctuation"))
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
    ascii_prefix(prefix)?;
    let own = own_application_name(prefix, revision);
    let mut reported = started;
    let mut own_seen = false;
    loop {
        let sessions = app_sessions(connection, prefix).await.map_err(|err| {
            Error::unavailable("could not read the database's sessions").note("reason", crate::pg_error::describe(&err))
        })?;
        own_seen |= sessions.iter().any(|(name, _)| *name == own);
        match look(&sessions, &own, own_seen, started.elapsed() >= bound) {
            Look::Gone => return Ok(Retired::SessionsGone(started.elapsed())),
            Look::Unproven => {
                tracing::info!(
                    "no session named {own} seen in {} s: the previous release's absence proves nothing, so the whole bound was waited",
                    bound.as_secs()
                );
                return Ok(Retired::BoundWaited(bound));
            }
            Look::Outstayed(others) => {
                return Err(Error::unavailable(format!(
                    "the previous release still has sessions after {} s: {others}",
                    bound.as_secs()
                ))
                .help("nothing was applied: the contract part stays held back; `praxia-deploy contract` applies it once they are gone, and the next release only once they are"));
            }
            Look::Waiting(for_what) => {
                if reported.elapsed() >= REPORT_EVERY {
                    reported = Instant::now();
                    tracing::info!("waiting for the previous release to retire: {for_what}");
                }
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

/// What one look at the app's sessions says.
#[derive(Debug, PartialEq, Eq)]
enum Look {
    /// None of another release, one of this release seen: retired.
    Gone,
    /// The bound is over and no session of this release was ever seen: the
    /// absence of the old one's proves nothing (the app may not name its
    /// connections as configured).
    Unproven,
    /// The bound is over and these sessions of another release remain.
    Outstayed(String),
    /// Still waiting, for these.
    Waiting(String),
}

/// Pure: the app's sessions by name and count, this release's name, whether it
/// was ever seen, and whether the bound is over.
fn look(sessions: &[(String, i64)], own: &str, own_seen: bool, bound_over: bool) -> Look {
    let others: Vec<String> =
        sessions.iter().filter(|(name, _)| name != own).map(|(name, count)| format!("{name} ({count})")).collect();
    match (others.is_empty(), own_seen, bound_over) {
        (true, true, _) => Look::Gone,
        (true, false, true) => Look::Unproven,
        (false, _, true) => Look::Outstayed(others.join(", ")),
        (true, false, false) => Look::Waiting(format!("a session named {own}")),
        (false, _, false) => Look::Waiting(others.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retired_only_once_this_release_was_seen_and_no_other_remains() {
        let named = |names: &[&str]| names.iter().map(|name| ((*name).to_owned(), 1)).collect::<Vec<_>>();
        assert_eq!(look(&named(&["app@new"]), "app@new", true, false), Look::Gone);
        assert_eq!(look(&[], "app@new", true, false), Look::Gone);
        assert_eq!(look(&[], "app@new", false, false), Look::Waiting("a session named app@new".to_owned()));
        assert_eq!(look(&[], "app@new", false, true), Look::Unproven);
        assert_eq!(
            look(&named(&["app@old", "app@new"]), "app@new", true, false),
            Look::Waiting("app@old (1)".to_owned())
        );
        assert_eq!(look(&named(&["app@old"]), "app@new", false, true), Look::Outstayed("app@old (1)".to_owned()));
    }

    #[test]
    fn this_releases_name_is_cut_as_the_server_cuts_it() {
        let revision = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(own_application_name("app@", revision), format!("app@{revision}"));
        let long = own_application_name("acme-backend-production@", revision);
        assert_eq!(long.len(), 63);
        assert!(long.starts_with("acme-backend-production@0123456789abcdef"));
        // Never inside a character: 62 bytes of prefix, then a two-byte one.
        let cut = own_application_name(&format!("{}@", "a".repeat(61)), "éé");
        assert_eq!(cut, format!("{}@", "a".repeat(61)));
    }
}
