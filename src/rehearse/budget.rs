//! `[review] lock_budget`: whether the pending migrations were rehearsed, on a
//! recent enough backup, and held no ACCESS EXCLUSIVE lock longer than the
//! budget there. Pure: the record and the time are given.

use std::collections::BTreeSet;
use std::time::Duration;

use super::record::RehearsedMigration;
use super::timeline::LockMode;
use crate::config::Environment;
use crate::error::{Error, ErrorKind};
use crate::migration_folder::Migration;
use crate::migrations::plan::Plan;

/// Why one pending migration does not meet the budget.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
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
        age: Duration,
    },
    HeldTooLong {
        tag: String,
        number: usize,
        line: usize,
        table: String,
        held: Duration,
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
            OverBudget::StaleBackup { tag, file, age } => format!(
                "{tag}: rehearsed on {file}, taken {} ago ([review] rehearsal_max_age = {})",
                humantime::format_duration(whole_seconds(*age)),
                humantime::format_duration(max_age)
            ),
            OverBudget::HeldTooLong { tag, number, line, table, held } => format!(
                "{tag}: statement {number} (line {line}) held ACCESS EXCLUSIVE on {table} for {} ms in its rehearsal (budget {} ms)",
                held.as_millis(),
                budget.as_millis()
            ),
        }
    }
}

fn whole_seconds(duration: Duration) -> Duration {
    Duration::from_secs(duration.as_secs())
}

/// What in `plan.pending` (the parts a run applies) the budget refuses; empty
/// when `lock_budget` is unset, and on a first deploy (nothing applied: no
/// data to lock, no backup to rehearse on). `now` is unix seconds.
pub fn check(env: &Environment, rehearsed: &[RehearsedMigration], plan: &Plan<'_>, now: u64) -> Vec<OverBudget> {
    let Some(budget) = env.review.lock_budget else {
        return Vec::new();
    };
    if plan.applied.is_empty() {
        return Vec::new();
    }
    let max_age = env.review.rehearsal_max_age.0;
    plan.pending
        .iter()
        .flat_map(|migration| {
            judge(migration, rehearsed.iter().find(|found| found.tag == migration.tag), budget.0, max_age, now)
        })
        .collect()
}

fn judge(
    migration: &Migration,
    rehearsed: Option<&RehearsedMigration>,
    budget: Duration,
    max_age: Duration,
    now: u64,
) -> Vec<OverBudget> {
    let tag = migration.tag.clone();
    let Some(rehearsed) = rehearsed else {
        return vec![OverBudget::NotRehearsed { tag }];
    };
    if rehearsed.hash != migration.hash {
        return vec![OverBudget::EditedSince { tag }];
    }
    let age = Duration::from_secs(now.saturating_sub(rehearsed.backup.taken_at));
    if age > max_age {
        return vec![OverBudget::StaleBackup { tag, file: rehearsed.backup.file.clone(), age }];
    }
    let lines: BTreeSet<usize> = migration.statements().map(|statement| statement.line).collect();
    let ran: BTreeSet<usize> = rehearsed.statements.iter().map(|statement| statement.line).collect();
    let missing: Vec<usize> = lines.difference(&ran).copied().collect();
    if !missing.is_empty() {
        return vec![OverBudget::PartNotRehearsed { tag, lines: missing }];
    }
    let mut over = Vec::new();
    for statement in rehearsed.statements.iter().filter(|statement| lines.contains(&statement.line)) {
        for lock in statement.locks.iter().filter(|lock| lock.mode == LockMode::AccessExclusive && !lock.new_table) {
            let held = Duration::try_from_secs_f64(lock.held_ms.max(0.0) / 1000.0).unwrap_or(Duration::MAX);
            if held > budget {
                over.push(OverBudget::HeldTooLong {
                    tag: tag.clone(),
                    number: statement.number,
                    line: statement.line,
                    table: lock.table.clone(),
                    held,
                });
            }
        }
    }
    over
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
