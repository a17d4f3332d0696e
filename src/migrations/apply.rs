//! Applying the plan to the database: consecutive transactional migrations in one
//! transaction (all or nothing, retried on lock timeouts), the others alone,
//! statement by statement. Every failure names the file, statement, line and
//! column, and says whether it was the migration's doing or the connection's.

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition};

use super::bookkeeping::Bookkeeping;
use super::lock::LockGuard;
use super::plan::{Step, TableWork};
use crate::config::{Environment, PgTimeout};
use crate::error::{Error, ErrorKind, Result, capped_list};
use crate::migration_folder::Migration;
use crate::migration_folder::sql::{
    self, SqlStatement, TransactionControl, transaction_control, waits_without_blocking,
};
use crate::pg_error::{FailureClass, classify, has_code, sqlstate};
use crate::provenance::Provenance;
use crate::stamp::{self, Overwrite};

/// Beyond the server's own statement_timeout, how long the client waits for an answer.
const CLIENT_MARGIN: Duration = Duration::from_secs(10);

/// The session settings a migration runs under.
#[derive(Debug, Clone)]
pub struct Limits {
    /// For statements that may block the app: a short lock wait, so that the
    /// app's queries never queue long behind a migration's lock request.
    pub blocking: Timeouts,
    /// For statements that wait without blocking it (`sql::waits_without_blocking`):
    /// an index build must outwait every older transaction of the database.
    pub concurrent: Timeouts,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub lock_timeout: PgTimeout,
    pub statement_timeout: PgTimeout,
}

impl Timeouts {
    /// The session settings (`set` is `SET` or `SET LOCAL`) a migration runs under.
    pub fn sql(self, connection: &PgConnection, set: &str) -> String {
        let mut sql = format!(
            "{set} lock_timeout = '{}ms'; {set} statement_timeout = '{}ms';",
            self.lock_timeout.millis(),
            self.statement_timeout.millis()
        );
        // A runner killed mid-statement (a deploy aborted, a laptop closed) should not
        // leave its transaction running and holding locks until the statement ends.
        if connection.server_version_num().is_some_and(|version| version >= 140000) {
            sql.push_str(&format!(" {set} client_connection_check_interval = '1s';"));
        }
        sql
    }
}

impl Limits {
    pub fn of(database: &crate::config::DatabaseSettings) -> Limits {
        Limits {
            blocking: Timeouts { lock_timeout: database.lock_timeout, statement_timeout: database.statement_timeout },
            concurrent: Timeouts {
                lock_timeout: database.concurrent_lock_timeout,
                statement_timeout: database.concurrent_statement_timeout,
            },
        }
    }

    /// The concurrent limits when every one of `statements` waits without
    /// blocking the app (there is at least one), else the blocking ones.
    pub fn for_statements<'s>(&self, mut statements: impl Iterator<Item = &'s SqlStatement>) -> Timeouts {
        let mut any = false;
        let concurrent = statements.all(|statement| {
            any = true;
            waits_without_blocking(&statement.words).is_some()
        });
        if concurrent && any { self.concurrent } else { self.blocking }
    }
}

/// Told about each migration as it runs (a progress bar, log lines).
pub trait Progress {
    /// `total` migrations are about to run (0: only bookkeeping is written).
    fn begin(&mut self, total: usize);
    fn started(&mut self, migration: &Migration);
    /// The migration is committed and recorded.
    fn finished(&mut self, migration: &Migration, took: Duration);
    /// A batch was rolled back and will run again.
    fn retrying(&mut self, attempt: u32, reason: &str, delay: Duration);
    /// The run is over, whatever its outcome.
    fn end(&mut self);
}

/// Progress nobody watches (the drift replay).
pub struct NoProgress;

impl Progress for NoProgress {
    fn begin(&mut self, _total: usize) {}
    fn started(&mut self, _migration: &Migration) {}
    fn finished(&mut self, _migration: &Migration, _took: Duration) {}
    fn retrying(&mut self, _attempt: u32, _reason: &str, _delay: Duration) {}
    fn end(&mut self) {}
}

/// One migration that ran and was recorded.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedMigration {
    pub tag: String,
    pub when: i64,
    pub duration_ms: u128,
    /// `whole`, or the `expand` or `contract` part of the file.
    pub part: crate::migration_folder::Part,
}

impl AppliedMigration {
    fn of(migration: &Migration, took: Duration) -> AppliedMigration {
        AppliedMigration {
            tag: migration.tag.clone(),
            when: migration.when,
            duration_ms: took.as_millis(),
            part: migration.part,
        }
    }
}

pub struct Applier<'a> {
    pub bookkeeping: &'a Bookkeeping,
    /// What the bookkeeping table needs before rows are written (created, widened
    /// to drizzle 1.0's shape, names written): done in every transaction that
    /// writes bookkeeping, so the first one that commits carries it. Idempotent.
    pub table: &'a TableWork,
    pub provenance: &'a Provenance,
    pub limits: &'a Limits,
    /// The environment to stamp the database with, in the same transaction as the
    /// migrations, when it has no stamp yet.
    pub stamp: Option<&'a Environment>,
    /// The migration lock, checked before every commit: if its session died, another
    /// runner may be migrating too, so nothing more is committed.
    pub lock: LockGuard,
    /// Whether, and after how long, to run a transaction again that a lock timeout
    /// or a deadlock rolled back (its `attempt`th retry): the caller decides.
    pub retry_after: RetryAfter,
}

/// The pause before retry `attempt` of a transaction contention rolled back; None: give up.
pub type RetryAfter = fn(attempt: u32) -> Option<Duration>;

/// Never retry (a scratch database nothing else uses).
pub fn no_retry(_attempt: u32) -> Option<Duration> {
    None
}

/// A step that failed: the user's error, what had been committed before it, and
/// whether the connection was lost (not the migration's doing: worth a reconnect).
#[derive(Debug)]
pub struct StepFailure {
    pub error: Error,
    pub committed: Vec<AppliedMigration>,
    pub connection_lost: bool,
}

/// Why one step stopped, as the user reads it.
struct Stopped {
    error: Error,
    /// Not the migration's doing: worth a reconnect.
    connection_lost: bool,
}

impl Stopped {
    fn by(failure: Failure, migrations: &[&Migration], rollback: Rollback) -> Stopped {
        let connection_lost = failure.class() == Some(FailureClass::ConnectionLost);
        Stopped { error: failure.into_error(migrations, rollback), connection_lost }
    }
}

impl Applier<'_> {
    /// Runs every step in order; stops at the first failure, after rolling back
    /// whatever of that step could be rolled back.
    pub async fn apply(
        &self,
        connection: &mut PgConnection,
        steps: &[Step<'_>],
        progress: &mut dyn Progress,
    ) -> std::result::Result<Vec<AppliedMigration>, StepFailure> {
        let mut applied = Vec::new();
        for step in steps {
            let outcome = match step {
                Step::Batch(migrations) => self.batch_with_retries(connection, migrations, progress).await,
                Step::Bookkeeping => self.batch_with_retries(connection, &[], progress).await,
                Step::Alone(migration) => self.alone(connection, migration, progress).await.map(|one| vec![one]),
                Step::AsWritten(migration) => {
                    self.as_written(connection, migration, progress).await.map(|one| vec![one])
                }
            };
            match outcome {
                Ok(more) => applied.extend(more),
                Err(Stopped { error, connection_lost }) => {
                    return Err(StepFailure { error, committed: applied, connection_lost });
                }
            }
        }
        Ok(applied)
    }

    async fn batch_with_retries(
        &self,
        connection: &mut PgConnection,
        migrations: &[&Migration],
        progress: &mut dyn Progress,
    ) -> std::result::Result<Vec<AppliedMigration>, Stopped> {
        let mut attempt = 0;
        loop {
            let outcome = self.batch(connection, migrations, progress).await;
            reset(connection, outcome.as_ref().err()).await;
            match outcome {
                Ok(applied) => return Ok(applied),
                Err(failure)
                    if failure.class() == Some(FailureClass::Contention)
                        && let Some(delay) = (self.retry_after)(attempt + 1) =>
                {
                    attempt += 1;
                    progress.retrying(attempt, &failure.summary(), delay);
                    tokio::time::sleep(delay).await;
                }
                Err(failure) => return Err(Stopped::by(failure, migrations, Rollback::Batch)),
            }
        }
    }

    /// One transaction: the migrations, their rows, the table's preparation (after
    /// the first migration's statements, so that a migration's `SET TRANSACTION`
    /// is its transaction's first statement), the stamp, the lock check, commit.
    async fn batch(
        &self,
        connection: &mut PgConnection,
        migrations: &[&Migration],
        progress: &mut dyn Progress,
    ) -> std::result::Result<Vec<AppliedMigration>, Failure> {
        // Session-level, set before BEGIN and reset after: nothing precedes the migration's own SQL.
        let timeouts = self.limits.for_statements(
            migrations.iter().flat_map(|migration| migration.chunks.iter().flat_map(|chunk| &chunk.statements)),
        );
        let limits = self.limits_sql(connection, "SET", timeouts);
        sqlx::raw_sql(sqlx::AssertSqlSafe(limits)).execute(&mut *connection).await.map_err(Failure::setup)?;
        let mut transaction = connection.begin().await.map_err(Failure::setup)?;
        let mut table_ready = false;
        let mut ran = Vec::with_capacity(migrations.len());
        for &migration in migrations {
            progress.started(migration);
            let started = Instant::now();
            for (index, chunk) in migration.chunks.iter().enumerate() {
                let text = chunk.text(migration);
                // Only blank chunks are skipped: comment-only ones go to the server as drizzle sends them.
                if text.trim().is_empty() {
                    continue;
                }
                let bound = client_bound(chunk.statements.len(), timeouts);
                let sent = sqlx::raw_sql(sqlx::AssertSqlSafe(text)).execute(&mut *transaction);
                match tokio::time::timeout(bound, sent).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => {
                        let _ = transaction.rollback().await;
                        return Err(Failure::statement(migration, index, 0, err));
                    }
                    // The connection is mid-query and unusable: it is dropped, which rolls back.
                    Err(_) => return Err(Failure::no_answer(migration, index, bound)),
                }
            }
            let took = started.elapsed();
            if !table_ready {
                self.bookkeeping.prepare_table(&mut transaction, self.table).await.map_err(Failure::setup)?;
                table_ready = true;
            }
            self.bookkeeping
                .record(&mut transaction, self.table.write_shape, migration, took, self.provenance)
                .await
                .map_err(|err| Failure::bookkeeping(migration, err))?;
            ran.push((migration, took));
        }
        if !table_ready {
            self.bookkeeping.prepare_table(&mut transaction, self.table).await.map_err(Failure::setup)?;
        }
        if let Some(env) = self.stamp {
            stamp::write(&mut transaction, env, self.provenance, Overwrite::No).await.map_err(Failure::setup)?;
        }
        if !self.lock.is_held(&mut transaction).await.map_err(Failure::setup)? {
            let _ = transaction.rollback().await;
            return Err(Failure::lock_lost());
        }
        transaction.commit().await.map_err(Failure::setup)?;
        for (migration, took) in &ran {
            progress.finished(migration, *took);
        }
        Ok(ran.into_iter().map(|(migration, took)| AppliedMigration::of(migration, took)).collect())
    }

    /// A migration PostgreSQL refuses inside a transaction: each statement on its
    /// own, then a check that every index it builds is valid, then its
    /// bookkeeping. A failure leaves the earlier statements applied.
    async fn alone(
        &self,
        connection: &mut PgConnection,
        migration: &Migration,
        progress: &mut dyn Progress,
    ) -> std::result::Result<AppliedMigration, Stopped> {
        let outcome = self.alone_statements(connection, migration, progress).await;
        settle(connection, migration, Rollback::Alone, outcome).await
    }

    async fn alone_statements(
        &self,
        connection: &mut PgConnection,
        migration: &Migration,
        progress: &mut dyn Progress,
    ) -> std::result::Result<AppliedMigration, Failure> {
        progress.started(migration);
        let started = Instant::now();
        // A limit the migration sets itself (`SET statement_timeout = '8h'` before a
        // long build) holds for its later statements, as it did when the limits were
        // set once before them: each statement's own limits do not overwrite it.
        let mut authored = Authored::default();
        for statement in migration.statements() {
            let timeouts = self.limits.for_statements(std::iter::once(statement.statement));
            self.set_limits(connection, authored, timeouts).await?;
            authored.note(&statement.statement.words);
            let mut attempt = 0;
            loop {
                let invalid_before = invalid_indexes(connection).await;
                let bound = client_bound(1, timeouts);
                let sent = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.text)).execute(&mut *connection);
                let err = match tokio::time::timeout(bound, sent).await {
                    Ok(Ok(_)) => break,
                    Ok(Err(err)) => err,
                    Err(_) => return Err(Failure::no_answer(migration, statement.chunk_index, bound)),
                };
                let left_behind: Vec<String> = invalid_indexes_left(connection)
                    .await
                    .into_iter()
                    .filter(|index| !invalid_before.contains(index))
                    .collect();
                // What this statement's own build left is dropped: the next build starts clean.
                let own = own_builds(connection, statement.text, &left_behind).await;
                let others: Vec<String> = left_behind.into_iter().filter(|index| !own.contains(index)).collect();
                let dropped = drop_own_invalid(connection, &own).await;
                let kept: Vec<String> =
                    own.into_iter().filter(|index| !dropped.contains(index)).chain(others).collect();
                // A deadlocked build whose index is gone again runs again, within its limit.
                if classify(&err) == FailureClass::Contention
                    && has_code(&err, &[sqlstate::DEADLOCK_DETECTED])
                    && kept.is_empty()
                    && attempt < OWN_BUILD_RETRIES
                {
                    attempt += 1;
                    progress.retrying(attempt, &crate::pg_error::describe(&err), Duration::ZERO);
                    continue;
                }
                return Err(Failure::statement(migration, statement.chunk_index, statement.start_in_chunk, err)
                    .leaving(kept)
                    .dropping(dropped));
            }
        }
        // `CREATE INDEX CONCURRENTLY IF NOT EXISTS` succeeds on an INVALID index left
        // by a killed build: recording the migration would hide it forever.
        let invalid = invalid_indexes_named(connection, &migration.built_indexes()).await.map_err(Failure::setup)?;
        if !invalid.is_empty() {
            return Err(Failure::invalid_after(migration, invalid));
        }
        let took = started.elapsed();
        self.record_alone(connection, migration, took).await?;
        progress.finished(migration, took);
        Ok(AppliedMigration::of(migration, took))
    }

    /// A migration that controls its transaction, run as drizzle's migrator runs
    /// it: `BEGIN`, each chunk as one message (its own COMMIT ends that
    /// transaction and what follows commits message by message), `COMMIT` (only a
    /// warning when it already ended), then its bookkeeping, in a transaction of its own.
    async fn as_written(
        &self,
        connection: &mut PgConnection,
        migration: &Migration,
        progress: &mut dyn Progress,
    ) -> std::result::Result<AppliedMigration, Stopped> {
        let outcome = self.as_written_chunks(connection, migration, progress).await;
        settle(connection, migration, Rollback::AsWritten, outcome).await
    }

    async fn as_written_chunks(
        &self,
        connection: &mut PgConnection,
        migration: &Migration,
        progress: &mut dyn Progress,
    ) -> std::result::Result<AppliedMigration, Failure> {
        progress.started(migration);
        let started = Instant::now();
        let invalid_before = invalid_indexes(connection).await;
        let timeouts = self.limits.blocking;
        // What the migration sets itself holds, as in the statement-by-statement path.
        let mut authored = Authored::default();
        let limits = self.limits_sql(connection, "SET", timeouts);
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("{limits} BEGIN")))
            .execute(&mut *connection)
            .await
            .map_err(Failure::setup)?;
        let commits: Vec<usize> = migration
            .chunks
            .iter()
            .enumerate()
            .filter(|(_, chunk)| {
                chunk
                    .statements
                    .iter()
                    .any(|statement| transaction_control(&statement.words) == Some(TransactionControl::Commit))
            })
            .map(|(index, _)| index)
            .collect();
        for (index, chunk) in migration.chunks.iter().enumerate() {
            let text = chunk.text(migration);
            if text.trim().is_empty() {
                continue;
            }
            // What its own COMMITs in earlier chunks committed, should this chunk fail.
            let committed_before = if commits.first().is_some_and(|&commit| commit < index) {
                Committed::Part
            } else {
                Committed::Nothing
            };
            // Its own COMMIT cannot wait for our check: the lock is checked before each chunk.
            if !self.lock.is_held(connection).await.map_err(Failure::setup)? {
                rollback(connection).await;
                let mut failure = Failure::lock_lost();
                failure.at = Some((migration.clone(), Some(index), 0));
                failure.committed = committed_before;
                return Err(failure);
            }
            // A chunk of statements that wait without blocking the app, sent once
            // its own COMMIT ended the transaction (drizzle's way of running
            // `CREATE INDEX CONCURRENTLY`), waits under the concurrent limits;
            // inside the transaction it would hold the earlier statements' locks.
            let chunk_timeouts =
                if chunk.statements.iter().any(|statement| waits_without_blocking(&statement.words).is_some())
                    && !in_transaction_block(connection).await.map_err(Failure::setup)?
                {
                    self.limits.for_statements(chunk.statements.iter())
                } else {
                    timeouts
                };
            let own_limits = chunk_timeouts != timeouts;
            if own_limits {
                self.set_limits(connection, authored, chunk_timeouts).await?;
            }
            let bound = client_bound(chunk.statements.len(), chunk_timeouts);
            let sent = sqlx::raw_sql(sqlx::AssertSqlSafe(text)).execute(&mut *connection);
            let sent = tokio::time::timeout(bound, sent).await;
            for statement in &chunk.statements {
                authored.note(&statement.words);
            }
            if own_limits && matches!(sent, Ok(Ok(_))) {
                self.set_limits(connection, authored, timeouts).await?;
            }
            let err = match sent {
                Ok(Ok(_)) => continue,
                Ok(Err(err)) => err,
                Err(_) => {
                    let mut failure = Failure::no_answer(migration, index, bound);
                    failure.committed = if commits.contains(&index) { Committed::Maybe } else { committed_before };
                    return Err(failure);
                }
            };
            // Still in the failed BEGIN block, a chunk that cannot open another one after
            // its COMMIT failed before that COMMIT: nothing of the migration committed.
            let failed_in_block = sqlx::raw_sql("SAVEPOINT praxia_deploy_probe")
                .execute(&mut *connection)
                .await
                .is_err_and(|err| sqlstate_of(&err) == Some(sqlstate::IN_FAILED_TRANSACTION));
            rollback(connection).await;
            let left_behind: Vec<String> =
                invalid_indexes(connection).await.into_iter().filter(|index| !invalid_before.contains(index)).collect();
            let mut failure = Failure::statement(migration, index, 0, err).leaving(left_behind);
            failure.committed = match commits.first() {
                Some(&commit) if commit < index => Committed::Part,
                Some(&commit) if commit == index && (!failed_in_block || reopens_after_commit(chunk)) => {
                    Committed::Maybe
                }
                _ => Committed::Nothing,
            };
            return Err(failure);
        }
        let invalid = invalid_indexes_named(connection, &migration.built_indexes()).await.map_err(Failure::setup)?;
        if !invalid.is_empty() {
            rollback(connection).await;
            return Err(Failure::invalid_after(migration, invalid));
        }
        let took = started.elapsed();
        if in_transaction_block(connection).await.map_err(Failure::setup)? {
            // Its statements still wait in a transaction (no COMMIT, or a BEGIN after
            // it): recorded in it, as drizzle records them, and committed together.
            let record = async {
                self.bookkeeping.prepare_table(&mut *connection, self.table).await?;
                self.bookkeeping
                    .record(&mut *connection, self.table.write_shape, migration, took, self.provenance)
                    .await?;
                if let Some(env) = self.stamp {
                    stamp::write(&mut *connection, env, self.provenance, Overwrite::No).await?;
                }
                self.lock.is_held(&mut *connection).await
            };
            match record.await {
                Ok(true) => {}
                Ok(false) => {
                    rollback(connection).await;
                    return Err(Failure::lock_lost());
                }
                Err(err) => {
                    rollback(connection).await;
                    return Err(Failure::bookkeeping(migration, err));
                }
            }
            sqlx::raw_sql("COMMIT").execute(&mut *connection).await.map_err(Failure::setup)?;
        } else {
            self.record_alone(connection, migration, took).await?;
        }
        progress.finished(migration, took);
        Ok(AppliedMigration::of(migration, took))
    }

    /// The bookkeeping of a migration that ran on its own, in a transaction of its own.
    async fn record_alone(
        &self,
        connection: &mut PgConnection,
        migration: &Migration,
        took: Duration,
    ) -> std::result::Result<(), Failure> {
        let mut transaction = connection.begin().await.map_err(|err| Failure::bookkeeping(migration, err))?;
        let record = async {
            self.bookkeeping.prepare_table(&mut transaction, self.table).await?;
            self.bookkeeping.record(&mut transaction, self.table.write_shape, migration, took, self.provenance).await?;
            if let Some(env) = self.stamp {
                stamp::write(&mut transaction, env, self.provenance, Overwrite::No).await?;
            }
            self.lock.is_held(&mut transaction).await
        };
        match record.await {
            Ok(true) => transaction.commit().await.map_err(|err| Failure::bookkeeping(migration, err)),
            Ok(false) => Err(Failure::lock_lost()),
            Err(err) => Err(Failure::bookkeeping(migration, err)),
        }
    }

    /// Sets `timeouts` for the session, but for the limits the migration set itself.
    async fn set_limits(
        &self,
        connection: &mut PgConnection,
        authored: Authored,
        timeouts: Timeouts,
    ) -> std::result::Result<(), Failure> {
        let limits = authored.keep(self.limits_sql(connection, "SET", timeouts));
        if !limits.trim().is_empty() {
            sqlx::raw_sql(sqlx::AssertSqlSafe(limits)).execute(&mut *connection).await.map_err(Failure::setup)?;
        }
        Ok(())
    }

    fn limits_sql(&self, connection: &PgConnection, set: &str, timeouts: Timeouts) -> String {
        timeouts.sql(connection, set)
    }
}

/// The session limits a migration that runs statement by statement set itself
/// (`SET [SESSION] lock_timeout ...`, `RESET ...`).
#[derive(Debug, Default, Clone, Copy)]
struct Authored {
    lock_timeout: bool,
    statement_timeout: bool,
}

impl Authored {
    fn note(&mut self, words: &[String]) {
        let first = words.first().map(String::as_str);
        if !matches!(first, Some("SET" | "RESET")) || words.get(1).is_some_and(|word| word == "LOCAL") {
            return;
        }
        let names = |name: &str| words.iter().any(|word| word == name || word == "ALL");
        self.lock_timeout |= names("LOCK_TIMEOUT");
        self.statement_timeout |= names("STATEMENT_TIMEOUT");
    }

    /// `limits` (`SET a = ...; SET b = ...;`) without the settings the migration set itself.
    fn keep(self, limits: String) -> String {
        limits
            .split_inclusive(';')
            .filter(|set| {
                !(self.lock_timeout && set.contains(" lock_timeout ")
                    || self.statement_timeout && set.contains(" statement_timeout "))
            })
            .collect()
    }
}

/// How long the client waits for `statements` statements sent together: each
/// may take `statement_timeout` on the server, then a margin. A server that
/// waits on the client, or never answers, is given up on.
fn client_bound(statements: usize, timeouts: Timeouts) -> Duration {
    let per_statement = Duration::from_millis(u64::try_from(timeouts.statement_timeout.millis()).unwrap_or(u64::MAX));
    per_statement.saturating_mul(u32::try_from(statements.max(1)).unwrap_or(u32::MAX)) + CLIENT_MARGIN
}

/// Back to the session's defaults after a step; not on a connection that stopped
/// answering, where it would wait forever.
async fn reset(connection: &mut PgConnection, failure: Option<&Failure>) {
    if failure.is_some_and(|failure| matches!(failure.cause, Cause::NoAnswer(_))) {
        return;
    }
    let _ = tokio::time::timeout(CLIENT_MARGIN, sqlx::raw_sql("RESET ALL").execute(connection)).await;
}

/// After a migration run on its own: the session back to its defaults, and a
/// failure made the user's error, with whether the connection was lost.
async fn settle(
    connection: &mut PgConnection,
    migration: &Migration,
    rollback: Rollback,
    outcome: std::result::Result<AppliedMigration, Failure>,
) -> std::result::Result<AppliedMigration, Stopped> {
    reset(connection, outcome.as_ref().err()).await;
    outcome.map_err(|failure| Stopped::by(failure, &[migration], rollback))
}

/// Ends whatever transaction the session is in; a failure here only means there was none.
async fn rollback(connection: &mut PgConnection) {
    let _ = sqlx::raw_sql("ROLLBACK").execute(connection).await;
}

/// Whether a chunk opens a transaction again after its first COMMIT (`BEGIN`,
/// `COMMIT AND CHAIN`): then a failed block after it may follow a commit.
fn reopens_after_commit(chunk: &crate::migration_folder::Chunk) -> bool {
    let mut committed = false;
    for statement in &chunk.statements {
        let words: Vec<&str> = statement.words.iter().map(String::as_str).collect();
        match transaction_control(&statement.words) {
            Some(TransactionControl::Commit) if words.ends_with(&["AND", "CHAIN"]) => return true,
            Some(TransactionControl::Commit) => committed = true,
            Some(TransactionControl::Begin) if committed => return true,
            _ => {}
        }
    }
    false
}

/// Whether the session is inside a transaction block: a savepoint can only be made in one.
async fn in_transaction_block(connection: &mut PgConnection) -> Result<bool, sqlx::Error> {
    match sqlx::raw_sql("SAVEPOINT praxia_deploy_probe; RELEASE SAVEPOINT praxia_deploy_probe")
        .execute(connection)
        .await
    {
        Ok(_) => Ok(true),
        Err(err) if sqlstate_of(&err) == Some(sqlstate::NO_ACTIVE_TRANSACTION) => Ok(false),
        Err(err) => Err(err),
    }
}

fn sqlstate_of(err: &sqlx::Error) -> Option<&str> {
    err.as_database_error()?.try_downcast_ref::<PgDatabaseError>().map(PgDatabaseError::code)
}

/// INVALID indexes, as `regclass` text (schema-qualified and quoted as needed).
async fn invalid_indexes(connection: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar::<_, String>("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
        .fetch_all(connection)
        .await
        .unwrap_or_default()
}

/// The INVALID indexes now, but for the ones another session is building (an
/// index is INVALID until its concurrent build ends): not left by this run.
async fn invalid_indexes_left(connection: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar::<_, String>(
        "SELECT i.indexrelid::regclass::text FROM pg_index i WHERE NOT i.indisvalid AND NOT EXISTS \
         (SELECT FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid \
          AND p.pid <> pg_backend_pid())",
    )
    .fetch_all(connection)
    .await
    .unwrap_or_default()
}

/// Of the INVALID indexes a failed statement left, the one its own build
/// created: named by the statement and on the statement's table (as this
/// session resolves it). A same-named index of another schema or table is
/// someone else's; when that cannot be told, none is.
async fn own_builds(connection: &mut PgConnection, statement: &str, left_behind: &[String]) -> Vec<String> {
    let (Some(name), Some(table)) = (sql::built_index_name(statement), sql::built_index_table(statement)) else {
        return Vec::new();
    };
    let named: Vec<String> = left_behind.iter().filter(|index| unqualified(index) == name).cloned().collect();
    if named.is_empty() {
        return Vec::new();
    }
    sqlx::query_scalar::<_, String>(
        "SELECT i.indexrelid::regclass::text FROM pg_index i \
         WHERE i.indexrelid::regclass::text = ANY($1) AND i.indrelid = to_regclass($2)",
    )
    .bind(&named)
    .bind(&table)
    .fetch_all(connection)
    .await
    .unwrap_or_default()
}

/// The INVALID ones among indexes of these names.
async fn invalid_indexes_named(connection: &mut PgConnection, names: &[String]) -> Result<Vec<String>, sqlx::Error> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(
        "SELECT i.indexrelid::regclass::text FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE NOT i.indisvalid AND c.relname = ANY($1) ORDER BY 1",
    )
    .bind(names)
    .fetch_all(connection)
    .await
}

/// How often a concurrent build that deadlocked runs again after its INVALID index was dropped.
const OWN_BUILD_RETRIES: u32 = 2;

/// An index's name as `pg_class.relname` has it, from its `regclass` text.
pub(super) fn unqualified(index: &str) -> String {
    index.rsplit('.').next().unwrap_or(index).trim_matches('"').to_owned()
}

/// Drops the INVALID indexes a failed concurrent build of this run created
/// (absent before the statement, named by it): the ones it could drop.
async fn drop_own_invalid(connection: &mut PgConnection, indexes: &[String]) -> Vec<String> {
    let mut dropped = Vec::new();
    for index in indexes {
        let sql = format!("DROP INDEX CONCURRENTLY IF EXISTS {index}");
        match sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *connection).await {
            Ok(_) => dropped.push(index.clone()),
            Err(err) => tracing::warn!(
                "could not drop the INVALID index {index} this build left: {}",
                crate::pg_error::describe(&err)
            ),
        }
    }
    dropped
}

/// The statements that remove INVALID indexes.
pub fn drop_statements(indexes: &[String]) -> String {
    indexes.iter().map(|index| format!("DROP INDEX CONCURRENTLY IF EXISTS {index};")).collect::<Vec<_>>().join(" ")
}

/// What could be undone when a step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rollback {
    Batch,
    Alone,
    /// Rolled back up to the migration's own COMMIT, if the failure came after it.
    AsWritten,
}

/// A failure inside a step, before it becomes the user's error.
#[derive(Debug)]
struct Failure {
    /// The failing migration, its chunk (None while recording) and where in the
    /// chunk the text sent began.
    at: Option<(Migration, Option<usize>, usize)>,
    during: &'static str,
    cause: Cause,
    /// INVALID indexes the failed statement left behind.
    left_behind: Vec<String>,
    /// INVALID indexes this statement's failed build left and that were dropped.
    dropped: Vec<String>,
    /// What a migration that commits itself had committed when it failed.
    committed: Committed,
}

/// What of a migration that controls its transaction stayed committed when it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Committed {
    Nothing,
    /// Its own COMMIT, in a chunk before the failing one, committed what came before.
    Part,
    /// The failing chunk holds its own COMMIT: the failure may come before or after it.
    Maybe,
}

#[derive(Debug)]
enum Cause {
    Database(sqlx::Error),
    LockLost,
    /// No answer within the client-side bound; the connection was given up.
    NoAnswer(Duration),
    /// The migration ran, but indexes it builds are INVALID.
    InvalidIndexes(Vec<String>),
}

impl Failure {
    fn new(at: Option<(Migration, Option<usize>, usize)>, during: &'static str, cause: Cause) -> Failure {
        Failure { at, during, cause, left_behind: Vec::new(), dropped: Vec::new(), committed: Committed::Nothing }
    }

    fn setup(err: sqlx::Error) -> Failure {
        Failure::new(None, "preparing or committing the transaction", Cause::Database(err))
    }

    fn statement(migration: &Migration, chunk: usize, sent_from: usize, err: sqlx::Error) -> Failure {
        Failure::new(Some((migration.clone(), Some(chunk), sent_from)), "running", Cause::Database(err))
    }

    fn no_answer(migration: &Migration, chunk: usize, bound: Duration) -> Failure {
        Failure::new(Some((migration.clone(), Some(chunk), 0)), "running", Cause::NoAnswer(bound))
    }

    fn invalid_after(migration: &Migration, indexes: Vec<String>) -> Failure {
        Failure::new(Some((migration.clone(), None, 0)), "checking", Cause::InvalidIndexes(indexes))
    }

    fn bookkeeping(migration: &Migration, err: sqlx::Error) -> Failure {
        Failure::new(Some((migration.clone(), None, 0)), "recording", Cause::Database(err))
    }

    fn lock_lost() -> Failure {
        Failure::new(None, "committing", Cause::LockLost)
    }

    /// INVALID indexes its own failed build left, dropped again.
    fn dropping(mut self, indexes: Vec<String>) -> Failure {
        self.dropped = indexes;
        self
    }

    fn leaving(mut self, indexes: Vec<String>) -> Failure {
        self.left_behind = indexes;
        self
    }

    fn database_error(&self) -> Option<&PgDatabaseError> {
        match &self.cause {
            Cause::Database(err) => err.as_database_error()?.try_downcast_ref::<PgDatabaseError>(),
            _ => None,
        }
    }

    fn class(&self) -> Option<FailureClass> {
        match &self.cause {
            Cause::Database(err) => Some(classify(err)),
            _ => None,
        }
    }

    fn summary(&self) -> String {
        match (&self.cause, self.database_error()) {
            (_, Some(err)) => format!("{} ({})", err.message(), err.code()),
            (Cause::Database(err), None) => crate::pg_error::describe(err),
            (Cause::LockLost, None) => "the migration lock was lost".to_owned(),
            (Cause::NoAnswer(bound), None) => format!("no answer within {}", humantime::format_duration(*bound)),
            (Cause::InvalidIndexes(indexes), None) => format!("INVALID indexes: {}", indexes.join(", ")),
        }
    }

    fn into_error(self, batch: &[&Migration], rollback: Rollback) -> Error {
        if let Cause::LockLost = self.cause {
            let mut error = Error::unavailable(
                "the migration lock was lost (its database session ended); nothing more was committed",
            );
            if let (Some((migration, ..)), Committed::Part) = (&self.at, self.committed) {
                error = error.note(
                    "left behind",
                    format!(
                        "migration {}: what its own COMMIT had committed stays applied; it was not recorded",
                        migration.tag
                    ),
                );
            }
            return error.help("another runner may have started; run `praxia-deploy status`, then migrate again");
        }
        let committed_before_failing = self.committed != Committed::Nothing;
        let what_was_undone = match (rollback, self.committed) {
            (Rollback::Batch, _) => "its transaction was rolled back and nothing of it was recorded",
            (Rollback::AsWritten, Committed::Nothing) => {
                "its transaction was rolled back before its own COMMIT and nothing of it was recorded"
            }
            (Rollback::AsWritten, Committed::Part) => {
                "its own COMMIT had committed part of it (what ran before that COMMIT, and what ran outside a transaction after it), which stays applied as drizzle's migrator leaves it; it was not recorded"
            }
            (Rollback::AsWritten, Committed::Maybe) => {
                "the failing part holds its own COMMIT, so what ran before the failure may stay applied (check the database); it was not recorded"
            }
            (Rollback::Alone, _) => {
                "it runs outside a transaction, so statements before the failing one may stay applied; it was not recorded"
            }
        };
        if self.class() == Some(FailureClass::ConnectionLost) {
            let subject = self.at.as_ref().map_or("the migrations".to_owned(), |(migration, ..)| migration.tag.clone());
            return Error::unavailable(format!(
                "the database connection was lost while applying {subject}; {what_was_undone}"
            ))
            .note("reason", self.summary())
            .help("this is not the migration's doing (a restart, a failover, a network cut): nothing needs editing; run again once the database is back");
        }
        let Some((migration, chunk, sent_from)) = &self.at else {
            return Error::new(
                ErrorKind::MigrationFailed,
                format!("the migration transaction failed while {}", self.during),
            )
            .note("reason", self.summary())
            .help("this step was rolled back; run again once the cause is fixed");
        };
        let tag = &migration.tag;
        if let Cause::NoAnswer(bound) = &self.cause {
            let mut error = Error::unavailable(format!(
                "migration {tag}: the database did not answer within {}; {what_was_undone}",
                humantime::format_duration(*bound)
            ));
            if let Some(chunk) = chunk {
                let location = migration.locate(*chunk, *sent_from, None);
                error =
                    error.note("file", format!("{}:{}:{}", migration.file.display(), location.line, location.column));
            }
            return error.help("a statement waited longer than statement_timeout allows and the server did not cancel it (a statement waiting on the client, or a server that stopped answering); check the database, then run again");
        }
        if let Cause::InvalidIndexes(indexes) = &self.cause {
            return Error::new(
                ErrorKind::MigrationFailed,
                format!("migration {tag} ran, but indexes it builds are INVALID; it was not recorded"),
            )
            .note("file", migration.file.display())
            .note("invalid", indexes.join(", "))
            .help(format!(
                "an earlier build was interrupted and `IF NOT EXISTS` kept its INVALID index; remove it, then run again: {}",
                drop_statements(indexes)
            ));
        }
        let message = format!("migration {tag} failed; {what_was_undone}");
        let mut error = Error::new(ErrorKind::MigrationFailed, message);
        match chunk {
            Some(chunk) => {
                let position = match self.database_error().and_then(PgDatabaseError::position) {
                    Some(PgErrorPosition::Original(position)) => Some(position),
                    _ => None,
                };
                let location = migration.locate(*chunk, *sent_from, position);
                error = error
                    .note("file", format!("{}:{}:{}", migration.file.display(), location.line, location.column))
                    .note("statement", format!("{} of {}", location.statement, location.of));
            }
            None => error = error.note("while", format!("recording {tag} in the bookkeeping tables")),
        }
        match (&self.cause, self.database_error()) {
            (_, Some(db)) => {
                error = error.note("sqlstate", db.code()).note("message", db.message());
                if let Some(detail) = db.detail() {
                    error = error.note("detail", detail);
                }
                if let Some(hint) = db.hint() {
                    error = error.note("hint", hint);
                }
            }
            (Cause::Database(err), None) => error = error.note("reason", crate::pg_error::describe(err)),
            _ => {}
        }
        let rolled_back: Vec<&str> =
            batch.iter().map(|migration| migration.tag.as_str()).filter(|other| other != tag).collect();
        if rollback == Rollback::Batch && !rolled_back.is_empty() {
            error = error.note("also rolled back", capped_list(&rolled_back));
        }
        for index in &self.dropped {
            error = error.note("dropped", format!("the INVALID index {index} its failed build left"));
        }
        for index in &self.left_behind {
            error = error.note("left behind", format!("the INVALID index {index}"));
        }
        if !self.left_behind.is_empty() {
            return error.help(format!(
                "a failed concurrent build leaves an INVALID index; remove it before running again: {}",
                drop_statements(&self.left_behind)
            ));
        }
        if !self.dropped.is_empty() {
            return error.help(
                "the INVALID index its build left was dropped, so the next run builds it anew: fix what the error \
                 says (for a unique index, the duplicate rows) and run again; the statements before it ran and \
                 will run again",
            );
        }
        if self.database_error().is_some_and(|db| db.code() == sqlstate::OUT_OF_MEMORY) && batch.len() > 1 {
            return error.help(format!(
                "one transaction of {} migrations ran out of shared memory for locks (max_locks_per_transaction); \
                 nothing is wrong with the migration: apply in smaller atomic batches with --batch-size 500",
                batch.len()
            ));
        }
        match migration.part {
            crate::migration_folder::Part::Contract => {
                return error.note("part", "its contract part, held back by a release").help(
                    "its expand part ran, so the file must not change: when what it does is wrong (a view still \
                     reads the column it drops), `praxia-deploy contract --abandon TAG` records it as applied \
                     without its contract part, and a new migration does what it should have (drop the view, \
                     then the column)",
                );
            }
            crate::migration_folder::Part::Expand => {
                error = error.note(
                    "part",
                    "its expand part (its contract part is held back until the previous release retires)",
                );
            }
            crate::migration_folder::Part::Whole | crate::migration_folder::Part::Abandoned => {}
        }
        error.help(match rollback {
            Rollback::Batch | Rollback::AsWritten if !committed_before_failing => {
                "fix the migration (it was not recorded as applied, so editing it is safe) and run again"
            }
            Rollback::Alone | Rollback::AsWritten | Rollback::Batch => {
                "fix the migration and make the statements before the failing one safe to run twice \
                 (IF NOT EXISTS / IF EXISTS): they ran, and will run again"
            }
        })
    }
}
