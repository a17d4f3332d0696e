//! The release algorithm in one place: read the folder, connect, check the
//! stamp, plan; when something is to be written, lock, read again, plan again,
//! apply, stamp. Like sqlx's `Migrator::run`, with our checks; commands only
//! render what it returns.

use std::time::{Duration, Instant};

use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::apply::{AppliedMigration, Applier, Limits, Progress, StepFailure, drop_statements};
use super::bookkeeping::Bookkeeping;
use super::lock::{Blocker, MigrationLock};
use super::plan::{OutOfOrder, Plan, TableShape, plan};
pub use super::state::DatabaseState;
use super::state::Detail;
use crate::config::{DatabaseUrl, Environment};
use crate::database;
use crate::error::{Error, Result, capped_list};
use crate::migration_folder::Layout;
use crate::migration_folder::Migration;
use crate::migration_folder::{MigrationFolder, read_environment_folder};
use crate::pg_error::sqlstate;
use crate::provenance::BackupRecord;
use crate::provenance::Provenance;
use crate::review::{self, LiveTables, Reviewed};
use crate::stamp::{self, EnvironmentStamp, Overwrite, StampState};

/// How many times a run reconnects after losing its connection mid-run.
const RECONNECTS: u32 = 5;
/// How long closing a connection may take.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
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
    /// Reviewed before running (not a replay, whose migrations are applied history).
    review: bool,
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

/// What runs once, when something is found pending, before the migration lock is
/// taken: the backup before migrations (pg_dump's ACCESS SHARE locks would
/// otherwise wait behind the DDL, or it behind them). Its record goes into the
/// migration log with the migrations that follow; an error stops the run with
/// nothing written.
pub trait BeforeMigrating {
    fn before_migrating(
        &mut self,
        pending: &[&Migration],
    ) -> impl std::future::Future<Output = Result<Option<BackupRecord>>>;
}

/// No backup: the runs that do not take one.
pub struct NoBackup;

impl BeforeMigrating for NoBackup {
    async fn before_migrating(&mut self, _pending: &[&Migration]) -> Result<Option<BackupRecord>> {
        Ok(None)
    }
}

/// A backup already taken (by the laptop, before it sent `migrate` to the container).
pub struct TakenBefore(pub Option<BackupRecord>);

impl BeforeMigrating for TakenBefore {
    async fn before_migrating(&mut self, _pending: &[&Migration]) -> Result<Option<BackupRecord>> {
        Ok(self.0.clone())
    }
}

/// A check of the live database that goes with a release, on the run's own
/// connection (no other is opened for it): `before` once, when the folder and
/// the rows agree and before anything is written (an error stops the run with
/// nothing written); `after` once migrations were applied, on the new state.
pub trait ReleaseCheck {
    fn before(
        &mut self,
        connection: &mut PgConnection,
        plan: &Plan<'_>,
    ) -> impl std::future::Future<Output = Result<()>>;
    fn after(&mut self, connection: &mut PgConnection, plan: &Plan<'_>) -> impl std::future::Future<Output = ()>;
}

/// No check: every run but the release's.
pub struct NoCheck;

impl ReleaseCheck for NoCheck {
    async fn before(&mut self, _connection: &mut PgConnection, _plan: &Plan<'_>) -> Result<()> {
        Ok(())
    }

    async fn after(&mut self, _connection: &mut PgConnection, _plan: &Plan<'_>) {}
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
        let folder = read_environment_folder(&env.migrations)?;
        let url = database::url_for(env, database_url)?;
        Ok(Migrator {
            env,
            url,
            folder,
            bookkeeping: Bookkeeping::new(&env.migrations),
            application_name,
            review: true,
        })
    }

    /// A migrator for `folder` (a part of the environment's) on `url`: the drift
    /// replay, of migrations already applied, which nothing reviews again.
    pub fn with_folder(
        env: &'e Environment,
        url: DatabaseUrl,
        folder: MigrationFolder,
        application_name: String,
    ) -> Migrator<'e> {
        Migrator { env, url, folder, bookkeeping: Bookkeeping::new(&env.migrations), application_name, review: false }
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

    /// Applies what is pending. With nothing pending it takes no lock and writes
    /// nothing but the stamp of a database that may be claimed: the no-op
    /// `release` Dokku re-runs on every `config:set` is one connection and a few reads.
    ///
    /// A connection lost mid-run (a restart, a failover) is not the migration's
    /// doing: the run reconnects within `wait` and starts over from reading the
    /// state, under a new lock; what was committed stays committed.
    pub async fn run(
        &self,
        settings: Settings,
        progress: &mut dyn Progress,
        before: &mut impl BeforeMigrating,
    ) -> Result<Run> {
        self.run_checked(settings, progress, before, &mut NoCheck).await
    }

    /// `run`, with `check` before anything is written and after migrations are applied.
    pub async fn run_checked(
        &self,
        settings: Settings,
        progress: &mut dyn Progress,
        before: &mut impl BeforeMigrating,
        check: &mut impl ReleaseCheck,
    ) -> Result<Run> {
        let mut carried =
            Carried { started: Instant::now(), committed: Vec::new(), backup: None, reviewed: false, checked: false };
        let mut outage = Outage::default();
        loop {
            let wait = outage.connect_wait(settings.wait, Instant::now());
            let mut connection = match database::connect(&self.url, wait, &self.application_name).await {
                Ok(connection) => connection,
                Err(error) if outage.reconnects > 0 => {
                    return Err(error.note("before", "the connection was lost while applying migrations"));
                }
                Err(error) => return Err(error),
            };
            let attempt_started = Instant::now();
            let attempt = self
                .run_on(&mut connection, settings, progress, &mut carried, outage.reconnects, &mut *before, &mut *check)
                .await;
            // Bounded: a server that stopped answering does not answer the goodbye either.
            let _ = tokio::time::timeout(CLOSE_WAIT, connection.close()).await;
            match attempt {
                Err(Interrupted::ConnectionLost(error))
                    if outage.lost(settings.wait, attempt_started, Instant::now()) =>
                {
                    tracing::warn!("{}; reconnecting (attempt {} of {RECONNECTS})", error.message, outage.reconnects);
                }
                Err(Interrupted::ConnectionLost(error) | Interrupted::Failed(error)) => {
                    let done: Vec<&str> = carried.committed.iter().map(|migration| migration.tag.as_str()).collect();
                    return Err(if done.is_empty() {
                        error
                    } else {
                        error.note("committed before it", capped_list(&done))
                    });
                }
                Ok(run) => return Ok(run),
            }
        }
    }

    // The run's parts are carried across reconnects; issue 24 folds them into one release function.
    #[allow(clippy::too_many_arguments)]
    async fn run_on(
        &self,
        connection: &mut PgConnection,
        settings: Settings,
        progress: &mut dyn Progress,
        carried: &mut Carried,
        reconnects: u32,
        before: &mut impl BeforeMigrating,
        check: &mut impl ReleaseCheck,
    ) -> std::result::Result<Run, Interrupted> {
        let Carried { started, committed, backup, reviewed, checked } = carried;
        *reviewed |= !self.review;
        let started = *started;
        // A drizzle 1.0 folder expects drizzle 1.0's table, and the query says when it
        // is not. A journal folder may meet either (a database handed back from
        // drizzle 1.0, with names to repair), so its rows are read with their shape.
        let detail = match self.folder.layout {
            Layout::Folders => Detail::Quick(TableShape::Drizzle1),
            Layout::Journal => Detail::Quick(TableShape::Missing),
        };
        let mut state = self.read_state(connection, detail).await?;
        stamp::check(self.env, state.stamp.as_ref())?;
        if self.plan(&state, settings.order).refusal().is_some() {
            // Refusals are decided on the full read: the quick one guesses the shape.
            state = self.read_state(connection, Detail::Full).await?;
        }
        let first_look = self.plan(&state, settings.order);
        if let Some(refusal) = first_look.refusal() {
            return Ok(Run { state, outcome: Outcome::Refused(refusal), took: started.elapsed() });
        }
        if !*checked {
            *checked = true;
            check.before(connection, &first_look).await?;
        }
        if first_look.pending.is_empty() && first_look.names_missing().is_empty() && committed.is_empty() {
            if state.stamp.is_none() {
                if StampState::of(None, !state.rows.rows.is_empty()).claimed_by(self.env.kind) {
                    state.stamp = self.stamp_now(connection).await?;
                } else {
                    tracing::warn!("{}", stamp::unclaimed_warning(self.env));
                }
            }
            return Ok(Run { state, outcome: Outcome::UpToDate, took: started.elapsed() });
        }
        let nothing_was_pending = first_look.pending.is_empty();
        // The review comes before the backup: a migration the gate refuses must not
        // cost a dump (nor push a good backup out of the rotation).
        if !*reviewed && !nothing_was_pending {
            *reviewed = true;
            if let Some(refusal) = self.review_gate(connection, &first_look, settings.batch_size).await? {
                return Ok(Run { state, outcome: Outcome::Refused(refusal), took: started.elapsed() });
            }
        }
        if backup.is_none() && !nothing_was_pending {
            *backup = Some(before.before_migrating(&first_look.pending).await?);
        }
        let backup = backup.clone().flatten();

        let mut lock = MigrationLock::acquire(
            &self.url,
            self.bookkeeping.lock_key(),
            settings.lock_wait,
            &format!("{} lock", self.application_name),
        )
        .await?;
        // The gate's review is made again under the lock: while this run waited for
        // it, another runner (or a hand) may have made tables live. Not after this run
        // committed some: what it created earlier in the release would look live.
        let review = Review { done: reviewed, again: self.review && self.env.review.gate && committed.is_empty() };
        let outcome = self.apply_locked(connection, settings, &mut lock, progress, backup, review).await;
        // The outcome matters more than the unlock: a failed release of the lock only warns.
        match tokio::time::timeout(CLOSE_WAIT, lock.release()).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!("{err}; the server drops the lock when the connection closes"),
            Err(_) => tracing::warn!(
                "the lock's connection did not answer the unlock; the server drops the lock when the connection closes"
            ),
        }
        let (state, outcome) = match outcome {
            Ok(done) => done,
            Err(failure) => {
                committed.extend(failure.committed);
                return Err(if failure.connection_lost {
                    Interrupted::ConnectionLost(failure.error)
                } else {
                    Interrupted::Failed(failure.error)
                });
            }
        };
        if matches!(outcome, Outcome::Applied { .. }) {
            check.after(connection, &self.plan(&state, OutOfOrder::Allow)).await;
        }
        let outcome = match outcome {
            Outcome::Applied { ran, names_written, .. } => {
                committed.extend(ran);
                Outcome::Applied { ran: std::mem::take(committed), names_written, reconnects }
            }
            Outcome::UpToDate if !committed.is_empty() => {
                Outcome::Applied { ran: std::mem::take(committed), names_written: 0, reconnects }
            }
            Outcome::UpToDate if !nothing_was_pending => Outcome::AppliedByAnother,
            Outcome::Refused(error) if !committed.is_empty() => {
                let done: Vec<&str> = committed.iter().map(|migration| migration.tag.as_str()).collect();
                Outcome::Refused(error.note("committed before it", capped_list(&done)))
            }
            other => other,
        };
        Ok(Run { state, outcome, took: started.elapsed() })
    }

    /// Under the lock: the state read again (another runner may have just
    /// finished), checked again, then applied.
    async fn apply_locked(
        &self,
        connection: &mut PgConnection,
        settings: Settings,
        lock: &mut MigrationLock,
        progress: &mut dyn Progress,
        backup: Option<BackupRecord>,
        review: Review<'_>,
    ) -> std::result::Result<(DatabaseState, Outcome), StepFailure> {
        let env = self.env;
        let failed = |error: Error| StepFailure { error, committed: Vec::new(), connection_lost: false };
        let state = self.read_state(connection, Detail::Full).await.map_err(failed)?;
        stamp::check(env, state.stamp.as_ref()).map_err(failed)?;
        let locked_plan = self.plan(&state, settings.order);
        if let Some(refusal) = locked_plan.refusal() {
            return Ok((state, Outcome::Refused(refusal)));
        }
        let names_written = locked_plan.names_missing().len();
        if locked_plan.pending.is_empty() && names_written == 0 {
            return Ok((state, Outcome::UpToDate));
        }
        if let Some(refusal) = invalid_index_refusal(&locked_plan, &state.invalid_indexes) {
            return Ok((state, Outcome::Refused(refusal)));
        }
        // Reviewed once per run, on what is pending before anything is written: after
        // a reconnect, what was created earlier in the release may be committed.
        if !*review.done || review.again {
            *review.done = true;
            if let Some(refusal) =
                self.review_gate(connection, &locked_plan, settings.batch_size).await.map_err(failed)?
            {
                return Ok((state, Outcome::Refused(refusal)));
            }
        }
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
        let limits =
            Limits { lock_timeout: env.database.lock_timeout, statement_timeout: env.database.statement_timeout };
        let applier = Applier {
            bookkeeping: &self.bookkeeping,
            table: &locked_plan.table,
            provenance: &provenance,
            limits: &limits,
            stamp: claim.then_some(env),
            lock: lock.guard(),
        };
        let steps = locked_plan.steps(settings.batch_size);
        progress.begin(locked_plan.pending.len());
        // While it runs, the lock's idle connection watches who blocks it, so that a
        // lock timeout can name them.
        let mut blockers: Vec<Blocker> = Vec::new();
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
                        let now = tokio::time::timeout(BLOCKER_ASK, lock.blockers_of(pid)).await.unwrap_or_default();
                        if !now.is_empty() {
                            blockers = now;
                        }
                    }
                }
            }
        };
        progress.end();
        let ran = applied.map_err(|failure| name_blockers(failure, &blockers))?;
        let state = self.read_state(connection, Detail::Full).await.map_err(failed)?;
        Ok((state, Outcome::Applied { ran, names_written, reconnects: 0 }))
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

    /// The review of `plan`'s pending migrations: with the gate on, the refusal if
    /// anything blocks; without it, a warning for each finding it would refuse.
    async fn review_gate(
        &self,
        connection: &mut PgConnection,
        plan: &Plan<'_>,
        batch_size: Option<usize>,
    ) -> Result<Option<Error>> {
        let reviews = self.reviews_on(connection, plan, batch_size).await?;
        if self.env.review.gate {
            return Ok(review::gate_refusal(self.env, &reviews));
        }
        for finding in review::blocking(&reviews) {
            tracing::warn!("review: {}", review::describe(finding));
        }
        Ok(None)
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

    async fn reviews_on(
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

/// The run's review, as `apply_locked` sees it.
struct Review<'a> {
    done: &'a mut bool,
    /// Judge again under the lock, whatever was judged before it.
    again: bool,
}

/// What a run carries from one connection attempt to the next.
struct Carried {
    started: Instant,
    /// Migrations committed by earlier attempts.
    committed: Vec<AppliedMigration>,
    /// The backup before migrating: taken at most once, however many times the run reconnects.
    backup: Option<Option<BackupRecord>>,
    /// Whether the review (and its gate) has run.
    reviewed: bool,
    /// Whether the release's check has run.
    checked: bool,
}

/// How long reconnecting may take: one `wait` per outage, counted from its first
/// loss; a loss after more than `wait` of work is a new outage. At most
/// `RECONNECTS` in all. Pure: the caller passes the times.
#[derive(Debug, Default)]
struct Outage {
    since: Option<Instant>,
    reconnects: u32,
}

impl Outage {
    /// The wait for the next connection.
    fn connect_wait(&self, wait: Duration, now: Instant) -> Duration {
        match self.since {
            Some(since) => wait.saturating_sub(now - since).max(Duration::from_secs(1)),
            None => wait,
        }
    }

    /// The connection of an attempt that started at `attempt_started` was lost at
    /// `now`: whether to reconnect.
    fn lost(&mut self, wait: Duration, attempt_started: Instant, now: Instant) -> bool {
        if now - attempt_started > wait {
            self.since = None;
        }
        if self.reconnects >= RECONNECTS || self.since.is_some_and(|since| now - since >= wait) {
            return false;
        }
        self.reconnects += 1;
        self.since.get_or_insert(now);
        true
    }
}

/// Why a run attempt stopped.
enum Interrupted {
    /// Not the migration's doing: reconnect and try again.
    ConnectionLost(Error),
    Failed(Error),
}

impl From<Error> for Interrupted {
    fn from(error: Error) -> Interrupted {
        Interrupted::Failed(error)
    }
}

/// A lock timeout that outlasted the retries names the sessions that held the lock.
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
fn invalid_index_refusal(plan: &Plan, invalid: &[String]) -> Option<Error> {
    let unqualified = |index: &str| index.rsplit('.').next().unwrap_or(index).trim_matches('"').to_owned();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_outage_shares_one_wait_and_a_later_one_gets_its_own() {
        let wait = Duration::from_secs(60);
        let t0 = Instant::now();
        let at = |seconds: u64| t0 + Duration::from_secs(seconds);
        let mut outage = Outage::default();
        assert_eq!(outage.connect_wait(wait, at(0)), wait);
        assert!(outage.lost(wait, at(0), at(5)));
        assert_eq!(outage.connect_wait(wait, at(25)), Duration::from_secs(40), "counted from the first loss");
        assert!(outage.lost(wait, at(30), at(40)));
        assert!(!outage.lost(wait, at(50), at(70)), "the outage's wait ran out");

        let mut outage = Outage::default();
        assert!(outage.lost(wait, at(0), at(5)));
        // Ten minutes of work, then a new failover: a whole wait again.
        assert!(outage.lost(wait, at(10), at(610)));
        assert_eq!(outage.connect_wait(wait, at(610)), wait);
    }

    #[test]
    fn reconnects_are_bounded_in_all() {
        let wait = Duration::from_secs(60);
        let t0 = Instant::now();
        let mut outage = Outage::default();
        for i in 0..RECONNECTS {
            assert!(outage.lost(wait, t0, t0 + Duration::from_secs(u64::from(i))), "reconnect {i}");
        }
        assert!(!outage.lost(wait, t0, t0 + Duration::from_secs(10)));
    }
}
