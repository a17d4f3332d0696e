//! The migration lock: a session advisory lock on a connection of its own, taken
//! by polling `pg_try_advisory_lock`. Never the blocking `pg_advisory_lock`: a
//! waiter blocked inside it holds a snapshot that `CREATE INDEX CONCURRENTLY`, run
//! by the holder, waits for: a deadlock nobody detects.

use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use crate::backoff::jitter;
use crate::config::DatabaseUrl;
use crate::database::connect;
use crate::error::{Error, Result};
use crate::pg_error::describe;

/// How long one request for the lock may go unanswered.
const ASK_WAIT: Duration = Duration::from_secs(10);
/// How often a waiting runner asks again.
const POLL: Duration = Duration::from_millis(250);
/// How often a waiting runner says who it is waiting for.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Held until `release`; if the process dies, the server drops the session and the lock with it.
pub struct MigrationLock {
    connection: PgConnection,
    guard: LockGuard,
}

/// Enough to check, from another connection, that the lock is still held.
#[derive(Debug, Clone, Copy)]
pub struct LockGuard {
    /// The backend pid of the session holding the lock.
    pid: i32,
    key: i64,
}

impl LockGuard {
    /// Whether the lock's session still holds it (it ends if that session is terminated).
    pub async fn is_held(&self, connection: &mut PgConnection) -> std::result::Result<bool, sqlx::Error> {
        let (classid, objid) = split_key(self.key);
        sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 \
             AND pid = $1 AND classid = $2::bigint::oid AND objid = $3::bigint::oid)",
        )
        .bind(self.pid)
        .bind(classid)
        .bind(objid)
        .fetch_one(connection)
        .await
    }
}

/// A bigint advisory key shows in pg_locks as classid (high half) and objid (low half).
fn split_key(key: i64) -> (i64, i64) {
    ((key >> 32) & 0xFFFF_FFFF, key & 0xFFFF_FFFF)
}

/// The session holding the lock, from pg_stat_activity.
#[derive(Debug, Clone)]
pub struct LockHolder {
    pub pid: i32,
    pub application_name: String,
    pub since: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.application_name.is_empty() { "(no application_name)" } else { &self.application_name };
        write!(f, "pid {} ({name}), connected since {}", self.pid, self.since)
    }
}

/// A session holding a lock that a migration waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    pub pid: i32,
    pub application_name: String,
    pub state: String,
    /// Its transaction's start (or its connection's, outside a transaction).
    pub since: String,
    pub query_start: String,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.application_name.is_empty() { "(no application_name)" } else { &self.application_name };
        write!(
            f,
            "pid {} ({name}), {}, in its transaction since {}, its last query started {}",
            self.pid, self.state, self.since, self.query_start
        )
    }
}

impl MigrationLock {
    /// Waits at most `wait` in all, connecting included.
    pub async fn acquire(url: &DatabaseUrl, key: i64, wait: Duration, application_name: &str) -> Result<MigrationLock> {
        let deadline = Instant::now() + wait;
        let mut connection = connect(url, wait, application_name).await?;
        let mut next_report = Instant::now();
        loop {
            let asked = sqlx::query_as("SELECT pg_try_advisory_lock($1), pg_backend_pid()")
                .bind(key)
                .fetch_one(&mut connection);
            let Ok(answer) = tokio::time::timeout(ASK_WAIT, asked).await else {
                // A stalled connection (a failover): a new one, within the wait. Dropping
                // this one releases whatever it may have been granted.
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(Error::unavailable("the database did not answer the request for the migration lock"));
                }
                tracing::warn!("the database did not answer the request for the migration lock; reconnecting");
                connection = connect(url, left, application_name).await?;
                continue;
            };
            let (taken, pid): (bool, i32) = answer.map_err(|err| {
                Error::unavailable("could not ask for the migration lock").note("reason", describe(&err))
            })?;
            if taken {
                return Ok(MigrationLock { connection, guard: LockGuard { pid, key } });
            }
            let holder = match tokio::time::timeout(ASK_WAIT, holder(&mut connection, key)).await {
                Ok(holder) => holder,
                Err(_) => {
                    // Its query is still on the connection: the next request would wait for it.
                    let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
                    connection = connect(url, left, application_name).await?;
                    None
                }
            };
            if Instant::now() >= deadline {
                let mut error = Error::unavailable(format!(
                    "the migration lock was not acquired within {}",
                    humantime::format_duration(wait)
                ));
                if let Some(holder) = &holder {
                    error = error
                        .note("held by", holder)
                        .note("see it with", format!("SELECT * FROM pg_stat_activity WHERE pid = {}", holder.pid));
                }
                return Err(
                    error.help("another runner is applying migrations: let it finish, or wait longer with --lock-wait")
                );
            }
            if Instant::now() >= next_report {
                match &holder {
                    Some(holder) => tracing::warn!("waiting for the migration lock, held by {holder}"),
                    None => tracing::warn!("waiting for the migration lock"),
                }
                next_report = Instant::now() + REPORT_EVERY;
            }
            tokio::time::sleep(POLL.mul_f64(0.75 + jitter() / 2.0)).await;
        }
    }

    pub fn guard(&self) -> LockGuard {
        self.guard
    }

    /// The sessions blocking backend `pid` right now, asked on the lock's own
    /// (otherwise idle) connection; empty when it is not waiting or cannot tell.
    pub async fn blockers_of(&mut self, pid: i32) -> Vec<Blocker> {
        sqlx::query_as::<_, (i32, String, String, String, String)>(
            "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, 'unknown'), \
                    coalesce(to_char(coalesce(a.xact_start, a.backend_start) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', 'unknown'), \
                    coalesce(to_char(a.query_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', 'unknown') \
             FROM pg_stat_activity a WHERE a.pid = ANY(pg_blocking_pids($1)) ORDER BY a.pid",
        )
        .bind(pid)
        .fetch_all(&mut self.connection)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|(pid, application_name, state, since, query_start)| Blocker { pid, application_name, state, since, query_start })
        .collect()
    }

    /// What `pid`'s index build is doing, when it builds one
    /// (`pg_stat_progress_create_index`): its phase, and how far it got.
    pub async fn index_build_of(&mut self, pid: i32) -> Option<String> {
        let row = sqlx::query_as::<_, (String, String, i64, i64, i64, i64)>(
            "SELECT p.command, p.phase, p.lockers_total, p.lockers_done, p.blocks_total, p.blocks_done \
             FROM pg_stat_progress_create_index p WHERE p.pid = $1",
        )
        .bind(pid)
        .fetch_optional(&mut self.connection)
        .await
        .ok()??;
        let (command, phase, lockers_total, lockers_done, blocks_total, blocks_done) = row;
        let mut text = format!("{command}: {phase}");
        if lockers_total > 0 {
            text.push_str(&format!(", {lockers_done} of {lockers_total} sessions done"));
        }
        if blocks_total > 0 {
            text.push_str(&format!(", {}% of the table's blocks", blocks_done * 100 / blocks_total));
        }
        Some(text)
    }

    /// Unlocks and closes the lock's connection.
    pub async fn release(mut self) -> Result<()> {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(self.guard.key)
            .execute(&mut self.connection)
            .await
            .map_err(|err| Error::unavailable("could not release the migration lock").note("reason", describe(&err)))?;
        let _ = self.connection.close().await;
        Ok(())
    }
}

/// Who holds the advisory lock `key` in this database, if anyone is visible (for the message).
async fn holder(connection: &mut PgConnection, key: i64) -> Option<LockHolder> {
    let (classid, objid) = split_key(key);
    sqlx::query_as::<_, (i32, String, String)>(
        "SELECT a.pid, coalesce(a.application_name, ''), \
                coalesce(to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC', 'unknown') \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
           AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid \
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(classid)
    .bind(objid)
    .fetch_optional(connection)
    .await
    .ok()
    .flatten()
    .map(|(pid, application_name, since)| LockHolder { pid, application_name, since })
}
