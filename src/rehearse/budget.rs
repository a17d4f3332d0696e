//! `[review] lock_budget`: whether the pending migrations were rehearsed, on a
//! recent enough backup, and will hold no ACCESS EXCLUSIVE lock on a table the
//! app uses longer than the budget. Pure: the record and the time are given.
//!
//! The rehearsal measures each part alone. A run that puts several in one
//! transaction holds a lock taken by one until the last has run: that time is
//! added here, from the rehearsed durations of the parts after it, so the
//! verdict is about the run that will happen, whatever else was pending when
//! the backup was taken.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Serialize;

use super::record::{RehearsedMigration, TableLock};
use super::timeline::LockMode;
use crate::config::Environment;
use crate::error::{Error, ErrorKind};
use crate::migration_folder::{Migration, Part};
use crate::migrations::plan::{Plan, Step};

/// How far in the future a backup's time may be (clocks differ a little).
const CLOCK_SKEW: u64 = 300;

/// Why one pending migration does not meet the budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum OverBudget {
    NotRehearsed {
        tag: String,
    },
    EditedSince {
        tag: String,
    },
    /// Statements of the part pending now that its rehearsal did not run.
    PartNotRehearsed {
        tag: String,
        lines: Vec<usize>,
    },
    StaleBackup {
        tag: String,
        file: String,
        age_seconds: u64,
    },
    /// The backup's time is later than now: its age is not known.
    FutureBackup {
        tag: String,
        file: String,
    },
    HeldTooLong {
        tag: String,
        number: usize,
        line: usize,
        table: String,
        /// As rehearsed, and with the parts after it in the same transaction.
        held_ms: f64,
        with_later_ms: f64,
    },
}

impl OverBudget {
    pub fn describe(&self, budget: Duration, max_age: Duration) -> String {
        match self {
            OverBudget::NotRehearsed { tag } => format!("{tag}: not rehearsed"),
            OverBudget::EditedSince { tag } => format!("{tag}: the file changed since its rehearsal"),
            OverBudget::PartNotRehearsed { tag, lines } => format!(
                "{tag}: the statements at line {} were not part of its rehearsal",
                lines.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
            ),
            OverBudget::StaleBackup { tag, file, age_seconds } => format!(
                "{tag}: rehearsed on {file}, taken {} ago ([review] rehearsal_max_age = {})",
                humantime::format_duration(Duration::from_secs(*age_seconds)),
                humantime::format_duration(max_age)
            ),
            OverBudget::FutureBackup { tag, file } => {
                format!("{tag}: rehearsed on {file}, whose time is in the future (its name, or a clock, is wrong)")
            }
            OverBudget::HeldTooLong { tag, number, line, table, held_ms, with_later_ms } => {
                let later = if *with_later_ms > 0.0 {
                    format!(", and {} ms more for what runs after it in the same transaction", with_later_ms.round())
                } else {
                    String::new()
                };
                format!(
                    "{tag}: statement {number} (line {line}) held ACCESS EXCLUSIVE on {table} for {} ms in its rehearsal{later} (budget {} ms)",
                    held_ms.round(),
                    budget.as_millis()
                )
            }
        }
    }
}

/// What in `plan.pending` (the parts a run applies, in batches of `batch_size`)
/// the budget refuses; empty when `lock_budget` is unset, and on a first deploy
/// (`first_deploy`: nothing applied and no table: no data to lock, no backup to
/// rehearse on). `now` is unix seconds.
pub fn check(
    env: &Environment,
    rehearsed: &[RehearsedMigration],
    plan: &Plan<'_>,
    batch_size: Option<usize>,
    first_deploy: bool,
    now: u64,
) -> Vec<OverBudget> {
    let Some(budget) = env.review.lock_budget else {
        return Vec::new();
    };
    if first_deploy {
        return Vec::new();
    }
    let judging = Judging {
        rehearsed,
        budget: budget.0,
        max_age: env.review.rehearsal_max_age.0,
        now,
        pending: plan.pending.iter().map(|migration| (migration.tag.as_str(), migration.part)).collect(),
    };
    let mut over = Vec::new();
    for step in plan.steps(batch_size) {
        let parts = step.migrations();
        let in_one_transaction = matches!(step, Step::Batch(_));
        for (index, part) in parts.iter().enumerate() {
            let later: f64 = if in_one_transaction {
                parts[index + 1..].iter().map(|later| judging.duration_ms(later)).sum()
            } else {
                0.0
            };
            over.extend(judging.judge(part, later));
        }
    }
    over
}

struct Judging<'r> {
    rehearsed: &'r [RehearsedMigration],
    budget: Duration,
    max_age: Duration,
    now: u64,
    /// The parts the run applies: a table one of them makes is no release's yet.
    pending: Vec<(&'r str, Part)>,
}

impl Judging<'_> {
    fn of(&self, migration: &Migration) -> Option<&RehearsedMigration> {
        self.rehearsed.iter().find(|found| found.tag == migration.tag && found.hash == migration.hash)
    }

    /// The rehearsed duration of `part`'s statements (0 when not rehearsed: refused on its own).
    fn duration_ms(&self, part: &Migration) -> f64 {
        let offsets = offsets(part);
        self.of(part).map_or(0.0, |rehearsed| {
            rehearsed
                .statements
                .iter()
                .filter(|statement| offsets.contains(&statement.offset))
                .map(|statement| statement.duration_ms)
                .sum()
        })
    }

    /// Whether the app may wait for `lock`: unless the part of this run that
    /// made its table runs in this run too (the whole file, or that part).
    fn app_waits(&self, lock: &TableLock) -> bool {
        let Some(made_by) = lock.made_by.as_deref() else {
            return true;
        };
        !self.pending.iter().any(|&(tag, part)| tag == made_by && (part == Part::Whole || part == lock.made_in))
    }

    fn judge(&self, part: &Migration, later_ms: f64) -> Vec<OverBudget> {
        // A part with no statement (an abandoned contract part, one that only waits for its row) runs nothing.
        if part.statements().next().is_none() {
            return Vec::new();
        }
        let tag = part.tag.clone();
        let Some(rehearsed) = self.rehearsed.iter().find(|found| found.tag == part.tag) else {
            return vec![OverBudget::NotRehearsed { tag }];
        };
        if rehearsed.hash != part.hash {
            return vec![OverBudget::EditedSince { tag }];
        }
        let file = rehearsed.backup.file.clone();
        if rehearsed.backup.taken_at > self.now + CLOCK_SKEW {
            return vec![OverBudget::FutureBackup { tag, file }];
        }
        let age_seconds = self.now.saturating_sub(rehearsed.backup.taken_at);
        if Duration::from_secs(age_seconds) > self.max_age {
            return vec![OverBudget::StaleBackup { tag, file, age_seconds }];
        }
        let offsets = offsets(part);
        let ran: BTreeSet<usize> = rehearsed
            .statements
            .iter()
            .flat_map(|statement| std::iter::once(statement.offset).chain(statement.sent_with.iter().copied()))
            .collect();
        let missing: Vec<usize> = part
            .statements()
            .filter(|statement| !ran.contains(&statement.offset))
            .map(|statement| statement.line)
            .collect();
        if !missing.is_empty() {
            return vec![OverBudget::PartNotRehearsed { tag, lines: missing }];
        }
        let mut over = Vec::new();
        let judged: Vec<_> =
            rehearsed.statements.iter().filter(|statement| offsets.contains(&statement.offset)).collect();
        for statement in &judged {
            // Rehearsed as parts and run whole (`migrate`): a lock is held through the
            // statements after it that the other part ran in its own transaction.
            let other_part_after: f64 = judged
                .iter()
                .filter(|other| other.number > statement.number && other.part != statement.part)
                .map(|other| other.duration_ms)
                .sum();
            let later_ms = later_ms + other_part_after;
            for lock in
                statement.locks.iter().filter(|lock| lock.mode == LockMode::AccessExclusive && self.app_waits(lock))
            {
                let total = lock.held_ms.max(0.0) + later_ms;
                // A figure too large for a Duration (a mangled record) is over any budget.
                let held = Duration::try_from_secs_f64(total / 1000.0).unwrap_or(Duration::MAX);
                if held > self.budget {
                    over.push(OverBudget::HeldTooLong {
                        tag: tag.clone(),
                        number: statement.number,
                        line: statement.line,
                        table: lock.table.clone(),
                        held_ms: lock.held_ms,
                        with_later_ms: later_ms,
                    });
                }
            }
        }
        over
    }
}

/// Where `part`'s statements start in the file (a part keeps the file's offsets).
fn offsets(part: &Migration) -> BTreeSet<usize> {
    part.statements().map(|statement| statement.offset).collect()
}

/// The refusal of a run whose pending migrations the budget refuses.
pub fn refusal(env: &Environment, over: &[OverBudget]) -> Option<Error> {
    let first = over.first()?;
    let budget = env.review.lock_budget.map_or(Duration::ZERO, |budget| budget.0);
    let max_age = env.review.rehearsal_max_age.0;
    let mut error = Error::new(
        ErrorKind::Policy,
        format!("the lock budget of environment {} refuses the pending migrations; nothing was written", env.name),
    );
    for problem in over {
        error = error.note("refused", problem.describe(budget, max_age));
    }
    let help = match first {
        OverBudget::HeldTooLong { .. } => format!(
            "make the statement lock-safe (`praxia-deploy lint --fix`, then rehearse again), or raise [review] lock_budget in {} if the app can wait that long",
            env.file.display()
        ),
        _ => format!(
            "rehearse on a fresh backup: `praxia-deploy backup --env {name}`, then `praxia-deploy rehearse --env {name}`, and commit {}",
            env.rehearsals_file().strip_prefix(&env.root).unwrap_or(&env.rehearsals_file()).display(),
            name = env.name
        ),
    };
    Some(error.help(help))
}
