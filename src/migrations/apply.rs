//! Applying the plan to the database: consecutive transactional migrations in one
//! transaction (all or nothing, retried on lock timeouts), the others alone,
//! statement by statement. Every failure names the file, statement, line and column.

use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::Connection;
use sqlx::postgres::{PgConnection, PgDatabaseError, PgErrorPosition};

use super::bookkeeping::{Bookkeeping, Provenance};
use super::folder::{Chunk, Migration};
use super::plan::Step;
use crate::config::Environment;
use crate::database::{backoff, jitter};
use crate::error::{Error, ErrorKind, Result};
use crate::stamp::{self, Overwrite};
use crate::text_position::byte_offset_of_char;

/// How many times a batch is retried after a lock timeout or deadlock.
const BATCH_RETRIES: u32 = 3;

/// The session settings a migration runs under.
#[derive(Debug, Clone)]
pub struct Limits {
    pub lock_timeout: Duration,
    pub statement_timeout: Duration,
}

/// Told about each migration as it runs (a progress bar, log lines).
pub trait Progress {
    fn started(&mut self, migration: &Migration);
    fn finished(&mut self, migration: &Migration, took: Duration);
    /// A batch was rolled back and will run again.
    fn retrying(&mut self, attempt: u32, reason: &str, delay: Duration);
}

/// One migration that ran and was recorded.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedMigration {
    pub tag: String,
    pub when: i64,
    pub duration_ms: u128,
}

pub struct Applier<'a> {
    pub bookkeeping: &'a Bookkeeping,
    pub provenance: &'a Provenance,
    pub limits: &'a Limits,
    /// The environment to stamp the database with, in the same transaction as the
    /// migrations, when it has no stamp yet.
    pub stamp: Option<&'a Environment>,
}

impl Applier<'_> {
    /// Runs every step in order; stops at the first failure, after rolling back
    /// whatever of that step could be rolled back.
    pub async fn apply(
        &self,
        connection: &mut PgConnection,
        steps: &[Step<'_>],
        progress: &mut dyn Progress,
    ) -> Result<Vec<AppliedMigration>> {
        let mut applied = Vec::new();
        for step in steps {
            match step {
                Step::Batch(migrations) => {
                    applied.extend(self.batch_with_retries(connection, migrations, progress).await?)
                }
                Step::Alone(migration) => applied.push(self.alone(connection, migration, progress).await?),
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
        let setup = format!("{limits}\n{}", self.bookkeeping.ensure_sql());
        sqlx::raw_sql(sqlx::AssertSqlSafe(setup)).execute(&mut *transaction).await.map_err(Failure::setup)?;
        if let Some(env) = self.stamp {
            stamp::write(&mut transaction, env, self.provenance, Overwrite::No).await.map_err(Failure::setup)?;
        }
        let mut applied = Vec::with_capacity(migrations.len());
        for &migration in migrations {
            progress.started(migration);
            let started = Instant::now();
            for (index, chunk) in migration.chunks.iter().enumerate() {
                if chunk.statements.is_empty() {
                    continue;
                }
                let text = chunk.text(migration);
                if let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(text)).execute(&mut *transaction).await {
                    let _ = transaction.rollback().await;
                    return Err(Failure::statement(migration, index, None, err));
                }
            }
            let took = started.elapsed();
            self.bookkeeping
                .record(&mut transaction, migration, took, self.provenance)
                .await
                .map_err(|err| Failure::bookkeeping(migration, err))?;
            progress.finished(migration, took);
            applied.push(AppliedMigration {
                tag: migration.tag.clone(),
                when: migration.when,
                duration_ms: took.as_millis(),
            });
        }
        transaction.commit().await.map_err(Failure::setup)?;
        Ok(applied)
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
        sqlx::raw_sql(sqlx::AssertSqlSafe(self.limits_sql(connection, "SET")))
            .execute(&mut *connection)
            .await
            .map_err(|err| Failure::setup(err).into_error(&[migration], Rollback::Alone))?;
        for (index, chunk) in migration.chunks.iter().enumerate() {
            for statement in &chunk.statements {
                let text = statement.text(chunk.text(migration));
                let invalid_before = invalid_indexes(connection).await;
                if let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(text)).execute(&mut *connection).await {
                    let mut error = Failure::statement(migration, index, Some(statement.start), err)
                        .into_error(&[migration], Rollback::Alone);
                    let left_behind: Vec<String> = invalid_indexes(connection)
                        .await
                        .into_iter()
                        .filter(|index| !invalid_before.contains(index))
                        .collect();
                    for index in &left_behind {
                        error = error.note("left behind", format!("the INVALID index {index}"));
                    }
                    if !left_behind.is_empty() {
                        let drops: Vec<String> = left_behind
                            .iter()
                            .map(|index| format!("DROP INDEX CONCURRENTLY IF EXISTS {index};"))
                            .collect();
                        error = error.help(format!(
                            "a failed concurrent build leaves an INVALID index; remove it before running again: {}",
                            drops.join(" ")
                        ));
                    }
                    let _ = sqlx::raw_sql("RESET ALL").execute(&mut *connection).await;
                    return Err(error);
                }
            }
        }
        let took = started.elapsed();
        let record = async {
            let mut transaction = connection.begin().await?;
            sqlx::raw_sql(sqlx::AssertSqlSafe(self.bookkeeping.ensure_sql())).execute(&mut *transaction).await?;
            self.bookkeeping.record(&mut transaction, migration, took, self.provenance).await?;
            if let Some(env) = self.stamp {
                stamp::write(&mut transaction, env, self.provenance, Overwrite::No).await?;
            }
            transaction.commit().await?;
            sqlx::raw_sql("RESET ALL").execute(&mut *connection).await?;
            Ok::<(), sqlx::Error>(())
        };
        record.await.map_err(|err| Failure::bookkeeping(migration, err).into_error(&[migration], Rollback::Alone))?;
        progress.finished(migration, took);
        Ok(AppliedMigration { tag: migration.tag.clone(), when: migration.when, duration_ms: took.as_millis() })
    }

    fn limits_sql(&self, connection: &PgConnection, set: &str) -> String {
        let mut sql = format!(
            "{set} lock_timeout = '{}ms'; {set} statement_timeout = '{}ms';",
            self.limits.lock_timeout.as_millis(),
            self.limits.statement_timeout.as_millis()
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
    /// The failing migration, chunk and statement offset in the chunk (when known).
    at: Option<(Migration, usize, Option<usize>)>,
    during: &'static str,
    err: sqlx::Error,
}

impl Failure {
    fn setup(err: sqlx::Error) -> Failure {
        Failure { at: None, during: "preparing the transaction", err }
    }

    fn statement(migration: &Migration, chunk: usize, statement_start: Option<usize>, err: sqlx::Error) -> Failure {
        Failure { at: Some((migration.clone(), chunk, statement_start)), during: "running", err }
    }

    fn bookkeeping(migration: &Migration, err: sqlx::Error) -> Failure {
        Failure { at: Some((migration.clone(), usize::MAX, None)), during: "recording", err }
    }

    fn database_error(&self) -> Option<&PgDatabaseError> {
        self.err.as_database_error()?.try_downcast_ref::<PgDatabaseError>()
    }

    /// Lock timeouts and deadlocks: the whole batch is rolled back and may simply run again.
    fn is_retryable(&self) -> bool {
        self.database_error().is_some_and(|err| matches!(err.code(), "55P03" | "40P01"))
    }

    fn summary(&self) -> String {
        match self.database_error() {
            Some(err) => format!("{} ({})", err.message(), err.code()),
            None => self.err.to_string(),
        }
    }

    fn into_error(self, batch: &[&Migration], rollback: Rollback) -> Error {
        let Some((migration, chunk_index, statement_start)) = &self.at else {
            return Error::new(
                ErrorKind::MigrationFailed,
                format!("the migration transaction failed while {}", self.during),
            )
            .note("reason", self.summary())
            .help("nothing was applied; run again once the cause is fixed");
        };
        let tag = &migration.tag;
        let message = match rollback {
            Rollback::Batch => {
                format!("migration {tag} failed; the release was rolled back and nothing of it was recorded")
            }
            Rollback::Alone => format!(
                "migration {tag} failed; it runs outside a transaction, so statements before the failing one stay applied, and it was not recorded"
            ),
        };
        let mut error = Error::new(ErrorKind::MigrationFailed, message);
        if let Some(chunk) = migration.chunks.get(*chunk_index) {
            let db = self.database_error();
            let offset_in_chunk = match db.and_then(PgDatabaseError::position) {
                Some(PgErrorPosition::Original(position)) => {
                    let base = statement_start.unwrap_or(0);
                    base + byte_offset_of_char(&chunk.text(migration)[base..], position.saturating_sub(1))
                }
                _ => statement_start.unwrap_or_else(|| chunk.statements.first().map_or(0, |statement| statement.start)),
            };
            let (line, column) = migration.position(chunk, offset_in_chunk);
            let (number, total) = statement_number(migration, *chunk_index, chunk, offset_in_chunk);
            error = error
                .note("file", format!("{}:{line}:{column}", migration.file.display()))
                .note("statement", format!("{number} of {total}"));
        } else {
            error = error.note("while", format!("recording {tag} in the bookkeeping tables"));
        }
        match self.database_error() {
            Some(db) => {
                error = error.note("sqlstate", db.code()).note("message", db.message());
                if let Some(detail) = db.detail() {
                    error = error.note("detail", detail);
                }
                if let Some(hint) = db.hint() {
                    error = error.note("hint", hint);
                }
            }
            None => error = error.note("reason", &self.err),
        }
        let rolled_back: Vec<&str> =
            batch.iter().map(|migration| migration.tag.as_str()).filter(|other| other != tag).collect();
        if rollback == Rollback::Batch && !rolled_back.is_empty() {
            error = error.note("also rolled back", rolled_back.join(", "));
        }
        error.help("fix the migration (it was not recorded as applied, so editing it is safe) and run again")
    }
}

/// The 1-based number of the statement holding `offset_in_chunk`, among all the
/// migration's statements, and their count.
fn statement_number(
    migration: &Migration,
    chunk_index: usize,
    chunk: &Chunk,
    offset_in_chunk: usize,
) -> (usize, usize) {
    let before: usize = migration.chunks[..chunk_index].iter().map(|chunk| chunk.statements.len()).sum();
    let within = chunk
        .statements
        .iter()
        .position(|statement| offset_in_chunk < statement.end)
        .unwrap_or(chunk.statements.len().saturating_sub(1));
    (before + within + 1, migration.statement_count())
}
