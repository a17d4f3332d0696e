//! The migration engine: a folder and a database, read, planned, locked and
//! applied. The release algorithm (`crate::release`) calls these in order; the
//! drift replay runs them on a scratch database. No step decides here when to
//! review, back up, retry or reconnect.

use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::apply::{
    AppliedMigration, Applier, Limits, Progress, RetryAfter, StepFailure, drop_statements, no_retry, unqualified,
};
use super::bookkeeping::Bookkeeping;
use super::lock::{Blocker, MigrationLock};
use super::plan::{OutOfOrder, Plan, plan};
pub use super::state::DatabaseState;
use super::state::Detail;
use crate::config::{DatabaseUrl, Environment};
use crate::database;
use crate::error::{Error, Result, capped_list};
use crate::migration_folder::{MigrationFolder, read_environment_folder};
use crate::pg_error::sqlstate;
use crate::provenance::BackupRecord;
use crate::provenance::Provenance;
use crate::review::{self, LiveTables, Reviewed};
use crate::stamp::{self, EnvironmentStamp, Overwrite, StampState};

/// How long closing a connection may take.
pub const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// How often the blockers of a running migration are looked up.
const BLOCKER_POLL: Duration = Duration::from_millis(200);
/// How long one look-up of them may take (it is slow under contention, when it matters).
const BLOCKER_ASK: Duration = Duration::from_secs(2);

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
    /// Apply consecutive migrations in atomic batches of at most this many.
    pub batch_size: Option<usize>,
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
    Applied { ran: Vec<AppliedMigration>, names_written: usize, reconnects: u32 },
}

/// A run's first connection, and what its quick read of the state returned.
pub struct Connected {
    pub connection: PgConnection,
    pub quick: Result<DatabaseState>,
}

impl Connected {
    async fn open(
        url: &DatabaseUrl,
        wait: Duration,
        application_name: &str,
        bookkeeping: &Bookkeeping,
    ) -> Result<Self> {
        let mut connection = database::connect(url, wait, application_name).await?;
        let quick = super::state::read(&mut connection, bookkeeping, Detail::Quick).await;
        Ok(Connected { connection, quick })
    }
}

/// The outcome and the database as it was left.
#[derive(Debug)]
pub struct Run {
    pub state: DatabaseState,
    pub outcome: Outcome,
    pub took: Duration,
}

impl<'e> Migrator<'e> {
    /// Reads the folder first, so that a broken folder is refused before the
    /// database is resolved (or the embedded one started).
    pub fn open(env: &'e Environment, database_url: Option<&str>, application_name: String) -> Result<Migrator<'e>> {
        let folder = read_environment_folder(&env.migrations)?;
        let url = database::url_for(env, database_url)?;
        Ok(Migrator { env, url, folder, bookkeeping: Bookkeeping::new(&env.migrations), application_name })
    }

    /// `open`, and the run's first connection within `wait` with its quick read
    /// of the state. With a URL to connect to, the folder is read on a blocking
    /// thread while the server starts the connection's backend and answers the
    /// read: the two largest costs of a no-op release overlap. The folder still
    /// decides first: a folder that cannot be read is the error, whatever the
    /// database answered, and the embedded database is started only after the
    /// folder was read.
    pub async fn open_connected(
        env: &'e Environment,
        database_url: Option<&str>,
        application_name: String,
        wait: Duration,
    ) -> Result<(Migrator<'e>, Connected)> {
        // Anything but a URL to connect to (the embedded database, none, or one
        // that is not usable) goes the sequential way, where the folder speaks first.
        let Ok(crate::config::DatabaseTarget::Url { url, .. }) = env.database_target(database_url) else {
            let migrator = Migrator::open(env, database_url, application_name)?;
            let connected =
                Connected::open(&migrator.url, wait, &migrator.application_name, &migrator.bookkeeping).await?;
            return Ok((migrator, connected));
        };
        let bookkeeping = Bookkeeping::new(&env.migrations);
        let settings = env.migrations.clone();
        let mut reading = tokio::task::spawn_blocking(move || read_environment_folder(&settings));
        let (folder, connected) = {
            let mut connecting = std::pin::pin!(Connected::open(&url, wait, &application_name, &bookkeeping));
            tokio::select! {
                read = &mut reading => (joined(read)?, connecting.await),
                connected = &mut connecting => (joined(reading.await)?, connected),
            }
        };
        let connected = connected?;
        Ok((Migrator { env, url, folder, bookkeeping, application_name }, connected))
    }

    /// A migrator for `folder` (a part of the environment's) on `url`: the drift
    /// replay, of migrations already applied, which nothing reviews again.
    pub fn with_folder(
        env: &'e Environment,
        url: DatabaseUrl,
        folder: MigrationFolder,
        application_name: String,
    ) -> Migrator<'e> {
        Migrator { env, url, folder, bookkeeping: Bookkeeping::new(&env.migrations), application_name }
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
        let state = self.read_state(&mut connection, Detail::Full).await;
        let _ = connection.close().await;
        state
    }

    /// Connects within `wait`, as this run's application name.
    pub async fn connect(&self, wait: Duration) -> Result<PgConnection> {
        database::connect(&self.url, wait, &self.application_name).await
    }

    /// The state as a run first reads it: quickly (without the catalog), the
    /// stamp checked, and read in full when the plan would be refused (a refusal
    /// names the INVALID indexes and an empty table's shape, which the quick read
    /// leaves out).
    pub async fn first_look(
        &self,
        connection: &mut PgConnection,
        read: Option<Result<DatabaseState>>,
        order: OutOfOrder,
    ) -> Result<DatabaseState> {
        let state = match read {
            Some(read) => read?,
            None => self.read_state(connection, Detail::Quick).await?,
        };
        stamp::check(self.env, state.stamp.as_ref())?;
        // Anything pending: its contract part may be held back, which the full read says.
        let plan = self.plan(&state, order);
        if plan.refusal().is_some() || !plan.pending.is_empty() {
            return self.read_state(connection, Detail::Full).await;
        }
        Ok(state)
    }

    /// The whole state, the stamp checked: under the lock, and after applying.
    pub async fn read_checked(&self, connection: &mut PgConnection) -> Result<DatabaseState> {
        let state = self.read_state(connection, Detail::Full).await?;
        stamp::check(self.env, state.stamp.as_ref())?;
        Ok(state)
    }

    /// Stamps a database nothing is written to, when it may be claimed; else says
    /// why not. `state.stamp` is the stamp in place after.
    pub async fn claim_stamp(&self, connection: &mut PgConnection, state: &mut DatabaseState) -> Result<()> {
        if state.stamp.is_some() {
            return Ok(());
        }
        if StampState::of(None, !state.rows.rows.is_empty()).claimed_by(self.env.kind) {
            state.stamp = self.stamp_now(connection).await?;
        } else {
            tracing::warn!("{}", stamp::unclaimed_warning(self.env));
        }
        Ok(())
    }

    /// The migration lock, waited for up to `lock_wait`.
    pub async fn lock(&self, lock_wait: Duration) -> Result<MigrationLock> {
        MigrationLock::acquire(
            &self.url,
            self.bookkeeping.lock_key(),
            lock_wait,
            &format!("{} lock", self.application_name),
        )
        .await
    }

    /// Applies `plan` (read under `lock`, from `state`), recording `backup` with
    /// each migration, and reads the state it left. The lock's idle connection
    /// watches who blocks the migration, so that a lock timeout names them.
    #[allow(clippy::too_many_arguments)]
    pub async fn apply(
        &self,
        connection: &mut PgConnection,
        plan: &Plan<'_>,
        state: &DatabaseState,
        batch_size: Option<usize>,
        lock: &mut MigrationLock,
        progress: &mut dyn Progress,
        backup: Option<BackupRecord>,
        retry_after: RetryAfter,
    ) -> std::result::Result<(DatabaseState, Outcome), StepFailure> {
        let env = self.env;
        let failed = |error: Error| StepFailure { error, committed: Vec::new(), connection_lost: false };
        let names_written = plan.names_missing().len();
        let pid: i32 =
            sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *connection).await.map_err(|err| {
                failed(
                    Error::unavailable("could not prepare the migration connection")
                        .note("reason", crate::pg_error::describe(&err)),
                )
            })?;
        let stamp_state = StampState::of(state.stamp.as_ref().map(|stamp| stamp.kind), !state.rows.rows.is_empty());
        let claim = stamp_state.claimed_by(env.kind);
        if state.stamp.is_none() && !claim {
            tracing::warn!("{}", stamp::unclaimed_warning(env));
        }
        let provenance = Provenance::here(&env.name).with_backup(backup);
        let limits = Limits::of(&env.database);
        let applier = Applier {
            bookkeeping: &self.bookkeeping,
            table: &plan.table,
            provenance: &provenance,
            limits: &limits,
            stamp: claim.then_some(env),
            lock: lock.guard(),
            retry_after,
        };
        let steps = plan.steps(batch_size);
        progress.begin(plan.pending.len());
        let mut blockers: Vec<Blocker> = Vec::new();
        let mut wait = WaitReport::default();
        let applied = {
            let applying = applier.apply(connection, &steps, progress);
            tokio::pin!(applying);
            loop {
                tokio::select! {
                    biased;
                    applied = &mut applying => break applied,
                    () = tokio::time::sleep(BLOCKER_POLL) => {
                        // Bounded: while it runs the migration is not polled, and a
                        // lock connection that stopped answering must not stall it.
                        // Unanswered is not "no longer waiting": the wait's start is kept.
                        let Ok(now) = tokio::time::timeout(BLOCKER_ASK, lock.blockers_of(pid)).await else {
                            continue;
                        };
                        if now.is_empty() {
                            wait = WaitReport::default();
                            continue;
                        }
                        if wait.due(Instant::now()) {
                            let build = tokio::time::timeout(BLOCKER_ASK, lock.index_build_of(pid)).await.ok().flatten();
                            tracing::info!("{}", wait.describe(&now, build.as_deref()));
                        }
                        blockers = now;
                    }
                }
            }
        };
        progress.end();
        let ran = applied.map_err(|failure| name_blockers(failure, &blockers))?;
        let state = self.read_state(connection, Detail::Full).await.map_err(failed)?;
        Ok((state, Outcome::Applied { ran, names_written, reconnects: 0 }))
    }

    /// Applies everything pending into a database nothing else uses (the drift
    /// replay's scratch database): no review, no backup, no reconnect.
    pub async fn replay(&self, settings: Settings, progress: &mut dyn Progress) -> Result<Outcome> {
        let mut connection = self.connect(settings.wait).await?;
        let outcome = async {
            let state = self.read_checked(&mut connection).await?;
            let plan = self.plan(&state, settings.order);
            if let Some(refusal) = plan.refusal() {
                return Ok(Outcome::Refused(refusal));
            }
            if plan.pending.is_empty() {
                return Ok(Outcome::UpToDate);
            }
            let mut lock = self.lock(settings.lock_wait).await?;
            let applied = self
                .apply(&mut connection, &plan, &state, settings.batch_size, &mut lock, progress, None, no_retry)
                .await;
            if let Err(err) = lock.release().await {
                tracing::warn!("{err}; the server drops the lock when the connection closes");
            }
            applied.map(|(_, outcome)| outcome).map_err(|failure| {
                let done: Vec<&str> = failure.committed.iter().map(|migration| migration.tag.as_str()).collect();
                if done.is_empty() {
                    failure.error
                } else {
                    failure.error.note("committed before it", capped_list(&done))
                }
            })
        }
        .await;
        let _ = connection.close().await;
        outcome
    }

    /// The migration log's newest row for this bookkeeping table (`status`).
    pub async fn last_logged(&self, wait: Duration) -> Result<Option<crate::own_schema::LastLogged>> {
        let mut connection = database::connect(&self.url, wait, &self.application_name).await?;
        let logged = crate::own_schema::last_logged(&mut connection, self.bookkeeping.name()).await.map_err(|err| {
            Error::unavailable("could not read praxia_deploy.migration_log")
                .note("reason", crate::pg_error::describe(&err))
        });
        let _ = connection.close().await;
        logged
    }

    /// The review of each pending migration (in `plan.pending`'s order, run in
    /// batches of at most `batch_size`), judged against the database: which
    /// tables are new, small, or not there.
    pub async fn review(&self, plan: &Plan<'_>, batch_size: Option<usize>, wait: Duration) -> Result<Vec<Reviewed>> {
        if plan.pending.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = database::connect(&self.url, wait, &self.application_name).await?;
        let reviews = self.reviews_on(&mut connection, plan, batch_size).await;
        let _ = connection.close().await;
        reviews
    }

    pub async fn reviews_on(
        &self,
        connection: &mut PgConnection,
        plan: &Plan<'_>,
        batch_size: Option<usize>,
    ) -> Result<Vec<Reviewed>> {
        let mut reviews: Vec<Reviewed> = plan
            .steps(batch_size)
            .iter()
            .flat_map(|step| Reviewed::of_transaction(step.migrations(), &self.env.review))
            .collect();
        reviews.extend(plan.held_back.iter().map(|contract| Reviewed::of(contract, &self.env.review)));
        if !plan.contract_waits {
            for finding in reviews.iter_mut().flat_map(|review| review.findings.iter_mut()) {
                review::expand_contract::judge_as_run_at_once(finding);
            }
        }
        let live = review::read_live_tables(connection, &LiveTables::wanted(&reviews), self.bookkeeping.quoted())
            .await
            .map_err(|err| {
                Error::unavailable("could not read the sizes of the tables the migrations change")
                    .note("reason", crate::pg_error::describe(&err))
            })?;
        review::judge(&mut reviews, &live, &self.env.review);
        Ok(reviews)
    }

    async fn read_state(&self, connection: &mut PgConnection, detail: Detail) -> Result<DatabaseState> {
        super::state::read(connection, &self.bookkeeping, detail).await
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

/// A lock timeout that outlasted the retries names the sessions that held the lock.
/// When a migration that waits on other sessions says so: after it has waited
/// `WAIT_FIRST_REPORT`, then every `WAIT_REPORT_EVERY` (a concurrent index build
/// may rightly wait many minutes for older transactions).
#[derive(Debug, Default)]
struct WaitReport {
    since: Option<Instant>,
    reported: Option<Instant>,
}

const WAIT_FIRST_REPORT: Duration = Duration::from_secs(2);
const WAIT_REPORT_EVERY: Duration = Duration::from_secs(15);

impl WaitReport {
    /// Whether to report now, the migration being blocked at `now`.
    fn due(&mut self, now: Instant) -> bool {
        let since = *self.since.get_or_insert(now);
        let due = match self.reported {
            None => now.duration_since(since) >= WAIT_FIRST_REPORT,
            Some(reported) => now.duration_since(reported) >= WAIT_REPORT_EVERY,
        };
        if due {
            self.reported = Some(now);
        }
        due
    }

    fn describe(&self, blockers: &[Blocker], build: Option<&str>) -> String {
        let waited = self.since.map_or(0, |since| since.elapsed().as_secs());
        let build = build.map(|build| format!(" ({build})")).unwrap_or_default();
        let who: Vec<String> = blockers.iter().map(ToString::to_string).collect();
        format!("the migration has waited {waited} s{build} for: {}", who.join("; "))
    }
}

fn name_blockers(mut failure: StepFailure, blockers: &[Blocker]) -> StepFailure {
    let timed_out =
        failure.error.notes.iter().any(|note| note.label == "sqlstate" && note.value == sqlstate::LOCK_NOT_AVAILABLE);
    if !timed_out || blockers.is_empty() {
        return failure;
    }
    let mut error = failure.error;
    for blocker in blockers {
        error = error.note("blocked by", blocker);
    }
    failure.error = error.help(
        "another session holds a lock the migration needs: let it finish or end it (SELECT pg_terminate_backend(<pid>)), then run again; a longer database.lock_timeout waits longer",
    );
    failure
}

/// A pending migration that would build an index left INVALID by an earlier,
/// interrupted build: `IF NOT EXISTS` would keep the broken index and the
/// migration would be recorded as applied. Refused with the fix.
pub fn invalid_index_refusal(plan: &Plan, invalid: &[String]) -> Option<Error> {
    let mut blocking = Vec::new();
    for migration in &plan.pending {
        let built = migration.built_indexes();
        for index in invalid.iter().filter(|index| built.contains(&unqualified(index))) {
            blocking.push((migration.tag.clone(), index.clone()));
        }
    }
    let (tag, _) = blocking.first()?;
    let indexes: Vec<String> = blocking.iter().map(|(_, index)| index.clone()).collect();
    Some(
        Error::integrity(format!("migration {tag} would build an index that exists and is INVALID"))
            .note("invalid", indexes.join(", "))
            .help(format!(
                "an earlier build was interrupted; remove the INVALID index so the migration builds it again: {}",
                drop_statements(&indexes)
            )),
    )
}

/// The folder read on a blocking thread, or why it never finished.
fn joined(read: std::result::Result<Result<MigrationFolder>, tokio::task::JoinError>) -> Result<MigrationFolder> {
    read.map_err(|err| Error::internal(format!("reading the migration folder stopped: {err}")))?
}
