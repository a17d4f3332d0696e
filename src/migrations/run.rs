//! The release algorithm in one place: read the folder, connect, check the
//! stamp, plan; when something is to be written, lock, read again, plan again,
//! apply, stamp. Like sqlx's `Migrator::run`, with our checks; commands only
//! render what it returns.

use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::apply::{AppliedMigration, Applier, Limits, Progress};
use super::bookkeeping::Bookkeeping;
use super::folder::{MigrationFolder, read_folder};
use super::lock::MigrationLock;
use super::plan::{AppliedRows, OutOfOrder, Plan, Step, plan, steps};
use crate::config::{DatabaseUrl, Environment};
use crate::database;
use crate::error::{Error, Result};
use crate::own_schema::Provenance;
use crate::stamp::{self, EnvironmentStamp, Overwrite};

/// An environment's migration folder and database.
pub struct Migrator<'e> {
    env: &'e Environment,
    url: DatabaseUrl,
    folder: MigrationFolder,
    bookkeeping: Bookkeeping,
    application_name: String,
}

/// How long to wait, and what may run.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// For the database to accept connections.
    pub wait: Duration,
    /// For another runner's migration lock.
    pub lock_wait: Duration,
    pub order: OutOfOrder,
}

/// What the database holds: its stamp and its bookkeeping rows.
#[derive(Debug, Clone)]
pub struct DatabaseState {
    pub stamp: Option<EnvironmentStamp>,
    pub rows: AppliedRows,
}

/// What a run did.
#[derive(Debug)]
pub enum Outcome {
    /// The folder and the database disagree: nothing was written. The error says why.
    Refused(Error),
    /// Nothing pending and nothing to repair; at most the stamp was written.
    UpToDate,
    /// Another runner applied what was pending while this one waited for the lock.
    AppliedByAnother,
    /// Migrations applied, or drizzle 1.0 names written, or both.
    Applied { ran: Vec<AppliedMigration>, names_written: usize },
}

/// The outcome and the database as it was left.
#[derive(Debug)]
pub struct Run {
    pub state: DatabaseState,
    pub outcome: Outcome,
    pub took: Duration,
}

impl<'e> Migrator<'e> {
    /// Reads the folder first, so that a broken folder is refused before anything
    /// connects (or starts the embedded database), then resolves the database.
    pub fn open(env: &'e Environment, database_url: Option<&str>, application_name: String) -> Result<Migrator<'e>> {
        let folder = read_folder(&env.migrations.dir)?;
        let url = database::url_for(env, database_url)?;
        Ok(Migrator { env, url, folder, bookkeeping: Bookkeeping::new(&env.migrations), application_name })
    }

    pub fn env(&self) -> &Environment {
        self.env
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub fn folder(&self) -> &MigrationFolder {
        &self.folder
    }

    pub fn bookkeeping(&self) -> &Bookkeeping {
        &self.bookkeeping
    }

    /// The folder against `state`. Pure.
    pub fn plan(&self, state: &DatabaseState, order: OutOfOrder) -> Plan<'_> {
        plan(&self.folder, &state.rows, order)
    }

    /// Reads the stamp and the rows, and writes nothing (`status`, `plan`, `--dry-run`).
    pub async fn inspect(&self, wait: Duration) -> Result<DatabaseState> {
        let mut connection = database::connect(&self.url, wait, &self.application_name).await?;
        let state = self.read_state(&mut connection).await;
        let _ = connection.close().await;
        state
    }

    /// Applies what is pending. With nothing pending it takes no lock and writes
    /// nothing but the stamp of a database that may be claimed: the no-op
    /// `release` Dokku re-runs on every `config:set` is one connection and a few reads.
    pub async fn run(&self, settings: Settings, progress: &mut dyn Progress) -> Result<Run> {
        let started = Instant::now();
        let mut connection = database::connect(&self.url, settings.wait, &self.application_name).await?;
        let outcome = self.run_on(&mut connection, settings, progress, started).await;
        let _ = connection.close().await;
        outcome
    }

    async fn run_on(
        &self,
        connection: &mut PgConnection,
        settings: Settings,
        progress: &mut dyn Progress,
        started: Instant,
    ) -> Result<Run> {
        let mut state = self.read_state(connection).await?;
        stamp::check(self.env, state.stamp.as_ref())?;
        let first_look = self.plan(&state, settings.order);
        if let Some(refusal) = first_look.refusal() {
            return Ok(Run { state, outcome: Outcome::Refused(refusal), took: started.elapsed() });
        }
        if first_look.pending.is_empty() && first_look.names_missing().is_empty() {
            if state.stamp.is_none() {
                if stamp::claims_unstamped(self.env.kind, !state.rows.rows.is_empty()) {
                    state.stamp = self.stamp_now(connection).await?;
                } else {
                    tracing::warn!("{}", stamp::unclaimed_warning(self.env));
                }
            }
            return Ok(Run { state, outcome: Outcome::UpToDate, took: started.elapsed() });
        }
        let nothing_was_pending = first_look.pending.is_empty();

        let lock = MigrationLock::acquire(
            &self.url,
            self.bookkeeping.lock_key(),
            settings.lock_wait,
            &format!("{} lock", self.application_name),
        )
        .await?;
        let outcome = self.apply_locked(connection, settings.order, lock.guard(), progress).await;
        // The outcome matters more than the unlock: a failed release of the lock only warns.
        if let Err(err) = lock.release().await {
            tracing::warn!("{err}; the server drops the lock when the connection closes");
        }
        let (state, outcome) = outcome?;
        let outcome = match outcome {
            Outcome::UpToDate if !nothing_was_pending => Outcome::AppliedByAnother,
            other => other,
        };
        Ok(Run { state, outcome, took: started.elapsed() })
    }

    /// Under the lock: the state read again (another runner may have just
    /// finished), checked again, then applied.
    async fn apply_locked(
        &self,
        connection: &mut PgConnection,
        order: OutOfOrder,
        lock: super::lock::LockGuard,
        progress: &mut dyn Progress,
    ) -> Result<(DatabaseState, Outcome)> {
        let env = self.env;
        let state = self.read_state(connection).await?;
        stamp::check(env, state.stamp.as_ref())?;
        let locked_plan = self.plan(&state, order);
        if let Some(refusal) = locked_plan.refusal() {
            return Ok((state, Outcome::Refused(refusal)));
        }
        let names_written = locked_plan.names_missing().len();
        if locked_plan.pending.is_empty() && names_written == 0 {
            return Ok((state, Outcome::UpToDate));
        }
        let claim = state.stamp.is_none() && stamp::claims_unstamped(env.kind, !state.rows.rows.is_empty());
        if state.stamp.is_none() && !claim {
            tracing::warn!("{}", stamp::unclaimed_warning(env));
        }
        let provenance = Provenance::here(&env.name);
        let limits =
            Limits { lock_timeout: env.database.lock_timeout, statement_timeout: env.database.statement_timeout };
        let applier = Applier {
            bookkeeping: &self.bookkeeping,
            table: &locked_plan.table,
            provenance: &provenance,
            limits: &limits,
            stamp: claim.then_some(env),
            lock,
        };
        // Nothing pending but names to write: one transaction that writes only them.
        let steps =
            if locked_plan.pending.is_empty() { vec![Step::Batch(Vec::new())] } else { steps(&locked_plan.pending) };
        progress.begin(locked_plan.pending.len());
        let applied = applier.apply(connection, &steps, progress).await;
        progress.end();
        let ran = applied?;
        let state = self.read_state(connection).await?;
        Ok((state, Outcome::Applied { ran, names_written }))
    }

    async fn read_state(&self, connection: &mut PgConnection) -> Result<DatabaseState> {
        let stamp = stamp::read(connection).await?;
        let rows = self.bookkeeping.read_applied(connection).await?;
        Ok(DatabaseState { stamp, rows })
    }

    /// Stamps an unstamped database and returns the stamp now in place.
    async fn stamp_now(&self, connection: &mut PgConnection) -> Result<Option<EnvironmentStamp>> {
        let provenance = Provenance::here(&self.env.name);
        let failed = |err: sqlx::Error| {
            Error::unavailable("could not write the environment stamp").note("reason", crate::pg_error::describe(&err))
        };
        let mut transaction = connection.begin().await.map_err(failed)?;
        stamp::write(&mut transaction, self.env, &provenance, Overwrite::No).await.map_err(failed)?;
        transaction.commit().await.map_err(failed)?;
        let stamp = stamp::read(connection).await?;
        stamp::check(self.env, stamp.as_ref())?;
        Ok(stamp)
    }
}
