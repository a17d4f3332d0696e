//! The release algorithm `release` and `migrate` run. `attempt` is the whole of
//! it, top to bottom, each step a call into the module that owns it; `run`
//! around it decides when to reconnect, and `contention_retry` when a rolled-back
//! transaction runs again: retries are decided here and nowhere else. Like sqlx's
//! `Migrator::run`, with our steps; commands only render what it returns.

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnection;

use crate::backup::sources::{BackupSource, BeforeMigrating, before_migrating};
use crate::drift::release::DriftOnRelease;
use crate::error::{Error, Result, capped_list};
use crate::migrations::apply::{AppliedMigration, Progress};
use crate::migrations::contract::{ContractMode, Waiting, arrange};
use crate::migrations::plan::{OutOfOrder, Plan};
use crate::migrations::run::{CLOSE_WAIT, Connected, Migrator, Outcome, Run, Settings, invalid_index_refusal};
use crate::rehearse;
use crate::review;
use crate::seed::release_step::{self as seed, SeedOutcome};

/// How many times a run reconnects after losing its connection mid-run.
const RECONNECTS: u32 = 5;
/// How many times a transaction a lock timeout or a deadlock rolled back runs again.
const CONTENTION_RETRIES: u32 = 3;

/// The pause before retry `attempt` of a transaction contention rolled back
/// (whole: nothing of it stayed), on the same connection and under the same
/// lock: a growing, jittered wait, since what held the lock is usually brief.
fn contention_retry(attempt: u32) -> Option<std::time::Duration> {
    (attempt <= CONTENTION_RETRIES).then(|| crate::backoff::backoff(attempt + 3, crate::backoff::jitter()))
}

/// What runs with the migrations.
#[derive(Debug, Clone)]
pub struct Steps {
    /// The drift check before and after (`release`, as `[drift] on_release` says).
    pub drift: bool,
    /// Where the backup before migrating comes from.
    pub backup: BackupSource,
    /// What becomes of contract parts: held back (`release` where the previous
    /// release serves meanwhile), run at once, or run alone (`contract`).
    pub contract: ContractMode,
}

/// What a run did, the backup taken before it, and what it left for later.
#[derive(Debug)]
pub struct Released {
    pub run: Run,
    pub backup: BeforeMigrating,
    /// Migrations, or their contract parts, the run left for a later one.
    pub waiting: Vec<Waiting>,
}

/// `release`: the migrations (`run`), then the fixtures the seed policy allows
/// (none after a refusal). `node_env` is the process's NODE_ENV.
pub async fn release(
    migrator: &Migrator<'_>,
    connected: Connected,
    steps: &Steps,
    settings: Settings,
    progress: &mut dyn Progress,
    node_env: Option<&str>,
) -> Result<(Released, Option<SeedOutcome>)> {
    let released = run(migrator, connected, steps, settings, progress).await?;
    if matches!(released.run.outcome, Outcome::Refused(_)) {
        return Ok((released, None));
    }
    let seeded = seed::release_step(migrator.env(), node_env, migrator.url(), settings.wait).await?;
    Ok((released, Some(seeded)))
}

/// Applies what is pending. With nothing pending it takes no lock and writes
/// nothing but the stamp of a database that may be claimed.
///
/// A connection lost while applying (a restart, a failover) is not the
/// migration's doing: the run reconnects within `settings.wait` and starts over
/// from reading the state, under a new lock; what was committed stays committed,
/// and what was done once (the drift check, the review, the backup) is not done
/// again. A loss in any other step is the run's failure.
pub async fn run(
    migrator: &Migrator<'_>,
    connected: Connected,
    steps: &Steps,
    settings: Settings,
    progress: &mut dyn Progress,
) -> Result<Released> {
    let mut carried = Carried::default();
    let started = Instant::now();
    let mut outage = Outage::default();
    let mut first = Some(connected);
    loop {
        let (mut connection, read) = match first.take() {
            Some(Connected { connection, quick }) => (connection, Some(quick)),
            None => {
                let wait = outage.connect_wait(settings.wait, Instant::now());
                let connection = migrator
                    .connect(wait)
                    .await
                    .map_err(|error| error.note("before", "the connection was lost while applying migrations"))?;
                (connection, None)
            }
        };
        let attempt_started = Instant::now();
        let attempt = attempt(migrator, &mut connection, read, steps, settings, progress, &mut carried).await;
        // Bounded: a server that stopped answering does not answer the goodbye either.
        let _ = tokio::time::timeout(CLOSE_WAIT, sqlx::Connection::close(connection)).await;
        match attempt {
            Err(Interrupted::ConnectionLost(error)) if outage.lost(settings.wait, attempt_started, Instant::now()) => {
                tracing::warn!("{}; reconnecting (attempt {} of {RECONNECTS})", error.message, outage.reconnects);
            }
            Err(Interrupted::ConnectionLost(error) | Interrupted::Failed(error)) => {
                return Err(carried.noted(error));
            }
            Ok((state, outcome)) => {
                let outcome = carried.finish(outcome, outage.reconnects);
                let backup = carried.backup.take().unwrap_or_default();
                let waiting = std::mem::take(&mut carried.waiting);
                return Ok(Released { run: Run { state, outcome, took: started.elapsed() }, backup, waiting });
            }
        }
    }
}

/// One connection's try at the release, in order: read (unless the connection
/// brought its first read), check, plan; drift; the review gate; the backup; the
/// lock; read, plan and judge again under it; apply; drift again.
async fn attempt(
    migrator: &Migrator<'_>,
    connection: &mut PgConnection,
    read: Option<Result<crate::migrations::run::DatabaseState>>,
    steps: &Steps,
    settings: Settings,
    progress: &mut dyn Progress,
    carried: &mut Carried,
) -> std::result::Result<(crate::migrations::run::DatabaseState, Outcome), Interrupted> {
    let env = migrator.env();
    let mut state = migrator.first_look(connection, read, settings.order).await?;
    let mut plan = migrator.plan(&state, settings.order);
    if let Some(refusal) = plan.refusal() {
        return Ok((state, Outcome::Refused(refusal)));
    }
    // Drift, on this connection, before anything is written; not while an expand
    // part is applied, which is in the live schema but not in drizzle's rows.
    if steps.drift && !carried.drift_checked {
        carried.drift_checked = true;
        if state.contracts.is_empty() {
            DriftOnRelease::new(env).before(connection, &plan).await?;
        } else {
            tracing::info!(
                "drift: not checked while a contract part is held back (its expand part is in the live schema, not yet in drizzle's rows)"
            );
        }
    }
    let connected = app_revisions(migrator, connection, &state, &steps.contract).await?;
    match arrange(&mut plan, &state.contracts, &steps.contract, connected.as_deref()) {
        Ok(waiting) => carried.waiting = waiting,
        Err(refusal) => return Ok((state, Outcome::Refused(refusal))),
    }
    let nothing_pending = plan.pending.is_empty();
    if nothing_pending && plan.names_missing().is_empty() && carried.committed.is_empty() {
        migrator.claim_stamp(connection, &mut state).await?;
        return Ok((state, Outcome::UpToDate));
    }
    // The review comes before the backup: a migration the gate refuses must not
    // cost a dump (nor push a good backup out of the rotation).
    if !nothing_pending && !carried.reviewed {
        carried.reviewed = true;
        if let Some(refusal) = gate(migrator, connection, &plan, settings.batch_size).await? {
            return Ok((state, Outcome::Refused(refusal)));
        }
    }
    // Before the lock: pg_dump's ACCESS SHARE locks would wait behind the DDL.
    if !nothing_pending && carried.backup.is_none() {
        let server_major = connection.server_version_num().map(|number| number / 10_000);
        let backup =
            before_migrating(&steps.backup, env, migrator.folder(), migrator.url(), plan.pending.len(), server_major)
                .await?;
        carried.backup = Some(backup);
    }
    let record = carried.backup.as_ref().and_then(|backup| backup.record.clone());

    let mut lock = migrator.lock(settings.lock_wait).await?;
    // Under the lock, everything is read again: another runner may have just
    // finished, and while this one waited, a table may have become live (so the
    // gate judges again; not after this run committed some, which would look live).
    let judge_again = env.review.gate && carried.committed.is_empty();
    let reviewed = &mut carried.reviewed;
    let waiting = &mut carried.waiting;
    let contract_mode = &steps.contract;
    let locked = async {
        let state = migrator.read_checked(connection).await.map_err(StepFailed::from)?;
        let mut plan = migrator.plan(&state, settings.order);
        if let Some(refusal) = plan.refusal() {
            return Ok((state, Outcome::Refused(refusal)));
        }
        let connected = app_revisions(migrator, connection, &state, contract_mode).await.map_err(StepFailed::from)?;
        match arrange(&mut plan, &state.contracts, contract_mode, connected.as_deref()) {
            Ok(later) => *waiting = later,
            Err(refusal) => return Ok((state, Outcome::Refused(refusal))),
        }
        if plan.pending.is_empty() && plan.names_missing().is_empty() {
            return Ok((state, Outcome::UpToDate));
        }
        if let Some(refusal) = invalid_index_refusal(&plan, &state.invalid_indexes) {
            return Ok((state, Outcome::Refused(refusal)));
        }
        if !*reviewed || judge_again {
            *reviewed = true;
            if let Some(refusal) = gate(migrator, connection, &plan, settings.batch_size).await? {
                return Ok((state, Outcome::Refused(refusal)));
            }
        }
        migrator
            .apply(connection, &plan, &state, settings.batch_size, &mut lock, progress, record, contention_retry)
            .await
            .map_err(StepFailed)
    }
    .await;
    // The outcome matters more than the unlock: a failed release of the lock only warns.
    match tokio::time::timeout(CLOSE_WAIT, lock.release()).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!("{err}; the server drops the lock when the connection closes"),
        Err(_) => tracing::warn!(
            "the lock's connection did not answer the unlock; the server drops the lock when the connection closes"
        ),
    }
    let (state, outcome) = match locked {
        Ok(done) => done,
        Err(StepFailed(failure)) => {
            carried.committed.extend(failure.committed);
            return Err(if failure.connection_lost {
                Interrupted::ConnectionLost(failure.error)
            } else {
                Interrupted::Failed(failure.error)
            });
        }
    };
    if steps.drift && matches!(outcome, Outcome::Applied { .. }) && state.contracts.is_empty() {
        DriftOnRelease::new(env).after(connection, &migrator.plan(&state, OutOfOrder::Allow)).await;
    }
    Ok((state, if nothing_pending { outcome } else { carried.pending_was(outcome) }))
}

/// The revisions the app's sessions carry, read only where they decide the run.
async fn app_revisions(
    migrator: &Migrator<'_>,
    connection: &mut PgConnection,
    state: &crate::migrations::run::DatabaseState,
    mode: &ContractMode,
) -> Result<Option<Vec<crate::migrations::contract::SeenRevision>>> {
    match mode.sessions_decide(&migrator.env().contract, &state.contracts) {
        Some(prefix) => crate::migrations::retire::revisions_connected(connection, prefix).await.map(Some),
        None => Ok(None),
    }
}

/// The review gate on `plan`'s pending migrations: the refusal if the
/// environment gates and anything blocks; without a gate, a warning for each
/// finding it would refuse. Then `[review] lock_budget`'s refusal, where one is set.
async fn gate(
    migrator: &Migrator<'_>,
    connection: &mut PgConnection,
    plan: &Plan<'_>,
    batch_size: Option<usize>,
) -> Result<Option<Error>> {
    let env = migrator.env();
    let reviews = migrator.reviews_on(connection, plan, batch_size).await?;
    if env.review.gate
        && let Some(refusal) = review::gate_refusal(env, &reviews)
    {
        return Ok(Some(refusal));
    }
    if !env.review.gate {
        for finding in review::blocking(&reviews) {
            tracing::warn!("review: {}", review::describe(finding));
        }
    }
    // The lock budget, where one is set: what the rehearsal measured on a recent backup.
    if env.review.lock_budget.is_some() {
        let over = rehearse::over_budget(env, connection, plan, batch_size, migrator.bookkeeping().quoted()).await?;
        return Ok(rehearse::budget::refusal(env, &over));
    }
    Ok(None)
}

/// What a run carries from one connection attempt to the next.
#[derive(Default)]
struct Carried {
    /// Migrations committed by earlier attempts.
    committed: Vec<AppliedMigration>,
    /// The backup before migrating: taken at most once, however often the run reconnects.
    backup: Option<BeforeMigrating>,
    reviewed: bool,
    drift_checked: bool,
    /// What the last plan left for a later run.
    waiting: Vec<Waiting>,
}

impl Carried {
    /// Something was pending when the run first looked: an `UpToDate` under the
    /// lock means another runner applied it.
    fn pending_was(&self, outcome: Outcome) -> Outcome {
        match outcome {
            Outcome::UpToDate if self.committed.is_empty() => Outcome::AppliedByAnother,
            other => other,
        }
    }

    /// The outcome with what earlier attempts committed.
    fn finish(&mut self, outcome: Outcome, reconnects: u32) -> Outcome {
        let committed = std::mem::take(&mut self.committed);
        match outcome {
            Outcome::Applied { mut ran, names_written, .. } => {
                let mut all = committed;
                all.append(&mut ran);
                Outcome::Applied { ran: all, names_written, reconnects }
            }
            Outcome::UpToDate | Outcome::AppliedByAnother if !committed.is_empty() => {
                Outcome::Applied { ran: committed, names_written: 0, reconnects }
            }
            Outcome::Refused(error) if !committed.is_empty() => {
                let done: Vec<&str> = committed.iter().map(|migration| migration.tag.as_str()).collect();
                Outcome::Refused(error.note("committed before it", capped_list(&done)))
            }
            other => other,
        }
    }

    /// A run's error, with what earlier attempts committed.
    fn noted(&self, error: Error) -> Error {
        let done: Vec<&str> = self.committed.iter().map(|migration| migration.tag.as_str()).collect();
        if done.is_empty() { error } else { error.note("committed before it", capped_list(&done)) }
    }
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

/// Why an attempt stopped.
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

/// A step under the lock that failed, with what it had committed.
struct StepFailed(crate::migrations::apply::StepFailure);

impl From<Error> for StepFailed {
    fn from(error: Error) -> StepFailed {
        StepFailed(crate::migrations::apply::StepFailure { error, committed: Vec::new(), connection_lost: false })
    }
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
    fn a_rolled_back_transaction_runs_again_three_times_after_a_growing_pause() {
        let pauses: Vec<Option<Duration>> = (1..=4).map(contention_retry).collect();
        assert!(pauses[..3].iter().all(Option::is_some) && pauses[3].is_none(), "{pauses:?}");
        // Jittered between half and all of 0.8 s, 1.6 s, 3.2 s.
        for (pause, full) in pauses.iter().flatten().zip([800, 1600, 3200]) {
            assert!((full / 2..=full).contains(&u64::try_from(pause.as_millis()).unwrap()), "{pause:?} for {full} ms");
        }
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
