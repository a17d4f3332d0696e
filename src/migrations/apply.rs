//! Applying the plan to the database: consecutive transactional migrations in one
//! transaction (all or nothing, retried on lock timeouts), the others alone,
//! statement by statement. Every failure names the file, statement, line and column.

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition};

use super::bookkeeping::Bookkeeping;
use super::folder::Migration;
use super::lock::LockGuard;
use super::plan::{Step, TableWork};
use crate::backoff::{backoff, jitter};
use crate::config::{Environment, PgTimeout};
use crate::error::{Error, ErrorKind, Result};
use crate::own_schema::Provenance;
use crate::stamp::{self, Overwrite};

/// How many times a batch is retried after a lock timeout or deadlock.
const BATCH_RETRIES: u32 = 3;

/// The session settings a migration runs under.
#[derive(Debug, Clone)]
pub struct Limits {
    pub lock_timeout: PgTimeout,
    pub statement_timeout: PgTimeout,
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

/// One migration that ran and was recorded.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedMigration {
    pub tag: String,
    pub when: i64,
    pub duration_ms: u128,
}

impl AppliedMigration {
    fn of(migration: &Migration, took: Duration) -> AppliedMigration {
        AppliedMigration { tag: migration.tag.clone(), when: migration.when, duration_ms: took.as_millis() }
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
}

impl Applier<'_> {
    /// Runs every step in order; stops at the first failure, after rolling back
    /// whatever of that step could be rolled back. The error names what was
    /// committed before it.
    pub async fn apply(
        &self,
        connection: &mut PgConnection,
        steps: &[Step<'_>],
        progress: &mut dyn Progress,
    ) -> Result<Vec<AppliedMigration>> {
        let mut applied = Vec::new();
        for step in steps {
            let outcome = match step {
                Step::Batch(migrations) => self.batch_with_retries(connection, migrations, progress).await,
                Step::Alone(migration) => self.alone(connection, migration, progress).await.map(|one| vec![one]),
            };
            match outcome {
                Ok(more) => applied.extend(more),
                Err(error) if applied.is_empty() => return Err(error),
                Err(error) => {
                    let committed: Vec<&str> = applied.iter().map(|migration| migration.tag.as_str()).collect();
                    return Err(error.note("committed before it", committed.join(", ")));
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
    ) -> Result<Vec<AppliedMigration>> {
        let mut attempt = 0;
        loop {
            match self.batch(connection, migrations, progress).await {
                Ok(applied) => return Ok(applied),
                Err(failure) if failure.is_retryable() && attempt < BATCH_RETRIES => {
                    attempt += 1;
                    let delay = backoff(attempt + 3, jitter());
                    progress.retrying(attempt, &failure.summary(), delay);
                    tokio::time::sleep(delay).await;
                }
                Err(failure) => return Err(failure.into_error(migrations, Rollback::Batch)),
            }
        }
    }

    async fn batch(
        &self,
        connection: &mut PgConnection,
        migrations: &[&Migration],
        progress: &mut dyn Progress,
    ) -> std::result::Result<Vec<AppliedMigration>, Failure> {
        let limits = self.limits_sql(connection, "SET LOCAL");
        let mut transaction = connection.begin().await.map_err(Failure::setup)?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(limits)).execute(&mut *transaction).await.map_err(Failure::setup)?;
        self.bookkeeping.prepare_table(&mut transaction, self.table).await.map_err(Failure::setup)?;
        if let Some(env) = self.stamp {
            stamp::write(&mut transaction, env, self.provenance, Overwrite::No).await.map_err(Failure::setup)?;
        }
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
                if let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(text)).execute(&mut *transaction).await {
                    let _ = transaction.rollback().await;
                    return Err(Failure::statement(migration, index, 0, err));
                }
            }
            let took = started.elapsed();
            self.bookkeeping
                .record(&mut transaction, self.table.shape, migration, took, self.provenance)
                .await
                .map_err(|err| Failure::bookkeeping(migration, err))?;
            ran.push((migration, took));
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
    /// own, then its bookkeeping. A failure leaves the earlier statements applied.
    async fn alone(
        &self,
        connection: &mut PgConnection,
        migration: &Migration,
        progress: &mut dyn Progress,
    ) -> Result<AppliedMigration> {
        progress.started(migration);
        let started = Instant::now();
        let fail = |failure: Failure| failure.into_error(&[migration], Rollback::Alone);
        sqlx::raw_sql(sqlx::AssertSqlSafe(self.limits_sql(connection, "SET")))
            .execute(&mut *connection)
            .await
            .map_err(|err| fail(Failure::setup(err)))?;
        for statement in migration.statements() {
            let invalid_before = invalid_indexes(connection).await;
            let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(statement.text)).execute(&mut *connection).await else {
                continue;
            };
            let mut error = fail(Failure::statement(migration, statement.chunk_index, statement.start_in_chunk, err));
            let left_behind: Vec<String> =
                invalid_indexes(connection).await.into_iter().filter(|index| !invalid_before.contains(index)).collect();
            for index in &left_behind {
                error = error.note("left behind", format!("the INVALID index {index}"));
            }
            if !left_behind.is_empty() {
                let drops: Vec<String> =
                    left_behind.iter().map(|index| format!("DROP INDEX CONCURRENTLY IF EXISTS {index};")).collect();
                error = error.help(format!(
                    "a failed concurrent build leaves an INVALID index; remove it before running again: {}",
                    drops.join(" ")
                ));
            }
            let _ = sqlx::raw_sql("RESET ALL").execute(&mut *connection).await;
            return Err(error);
        }
        let took = started.elapsed();
        let mut transaction = connection.begin().await.map_err(|err| fail(Failure::bookkeeping(migration, err)))?;
        let record = async {
            self.bookkeeping.prepare_table(&mut transaction, self.table).await?;
            self.bookkeeping.record(&mut transaction, self.table.shape, migration, took, self.provenance).await?;
            if let Some(env) = self.stamp {
                stamp::write(&mut transaction, env, self.provenance, Overwrite::No).await?;
            }
            self.lock.is_held(&mut transaction).await
        };
        match record.await {
            Ok(true) => transaction.commit().await.map_err(|err| fail(Failure::bookkeeping(migration, err)))?,
            Ok(false) => return Err(fail(Failure::lock_lost())),
            Err(err) => return Err(fail(Failure::bookkeeping(migration, err))),
        }
        sqlx::raw_sql("RESET ALL").execute(&mut *connection).await.map_err(|err| fail(Failure::setup(err)))?;
        progress.finished(migration, took);
        Ok(AppliedMigration::of(migration, took))
    }

    fn limits_sql(&self, connection: &PgConnection, set: &str) -> String {
        let mut sql = format!(
            "{set} lock_timeout = '{}ms'; {set} statement_timeout = '{}ms';",
            self.limits.lock_timeout.millis(),
            self.limits.statement_timeout.millis()
        );
        // A runner killed mid-statement (a deploy aborted, a laptop closed) should not
        // leave its transaction running and holding locks until the statement ends.
        if connection.server_version_num().is_some_and(|version| version >= 140000) {
            sql.push_str(&format!(" {set} client_connection_check_interval = '1s';"));
        }
        sql
    }
}

/// INVALID indexes, as `regclass` text (schema-qualified and quoted as needed).
async fn invalid_indexes(connection: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar::<_, String>("SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid")
        .fetch_all(connection)
        .await
        .unwrap_or_default()
}

/// What could be undone when a step failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rollback {
    Batch,
    Alone,
}

/// A failure inside a step, before it becomes the user's error.
#[derive(Debug)]
struct Failure {
    /// The failing migration, its chunk (None while recording) and where in the
    /// chunk the text sent began.
    at: Option<(Migration, Option<usize>, usize)>,
    during: &'static str,
    cause: Cause,
}

#[derive(Debug)]
enum Cause {
    Database(sqlx::Error),
    LockLost,
}

impl Failure {
    fn setup(err: sqlx::Error) -> Failure {
        Failure { at: None, during: "preparing or committing the transaction", cause: Cause::Database(err) }
    }

    fn statement(migration: &Migration, chunk: usize, sent_from: usize, err: sqlx::Error) -> Failure {
        Failure {
            at: Some((migration.clone(), Some(chunk), sent_from)),
            during: "running",
            cause: Cause::Database(err),
        }
    }

    fn bookkeeping(migration: &Migration, err: sqlx::Error) -> Failure {
        Failure { at: Some((migration.clone(), None, 0)), during: "recording", cause: Cause::Database(err) }
    }

    fn lock_lost() -> Failure {
        Failure { at: None, during: "committing", cause: Cause::LockLost }
    }

    fn database_error(&self) -> Option<&PgDatabaseError> {
        match &self.cause {
            Cause::Database(err) => err.as_database_error()?.try_downcast_ref::<PgDatabaseError>(),
            Cause::LockLost => None,
        }
    }

    /// Lock timeouts and deadlocks: the whole batch is rolled back and may simply run again.
    fn is_retryable(&self) -> bool {
        self.database_error().is_some_and(|err| matches!(err.code(), "55P03" | "40P01"))
    }

    fn summary(&self) -> String {
        match (&self.cause, self.database_error()) {
            (_, Some(err)) => format!("{} ({})", err.message(), err.code()),
            (Cause::Database(err), None) => crate::pg_error::describe(err),
            (Cause::LockLost, None) => "the migration lock was lost".to_owned(),
        }
    }

    fn into_error(self, batch: &[&Migration], rollback: Rollback) -> Error {
        if let Cause::LockLost = self.cause {
            return Error::unavailable(
                "the migration lock was lost (its database session ended); nothing more was committed",
            )
            .help("another runner may have started; run `praxia-deploy status`, then migrate again");
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
        let message = match rollback {
            Rollback::Batch => {
                format!("migration {tag} failed; its transaction was rolled back and nothing of it was recorded")
            }
            Rollback::Alone => format!(
                "migration {tag} failed; it runs outside a transaction, so statements before the failing one stay applied, and it was not recorded"
            ),
        };
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
            (Cause::LockLost, None) => {}
        }
        let rolled_back: Vec<&str> =
            batch.iter().map(|migration| migration.tag.as_str()).filter(|other| other != tag).collect();
        if rollback == Rollback::Batch && !rolled_back.is_empty() {
            error = error.note("also rolled back", rolled_back.join(", "));
        }
        error.help(match rollback {
            Rollback::Batch => {
                "fix the migration (it was not recorded as applied, so editing it is safe) and run again"
            }
            Rollback::Alone => {
                "fix the migration and make the statements before the failing one safe to run twice \
                 (IF NOT EXISTS / IF EXISTS): they ran, and will run again"
            }
        })
    }
}
