//! `rehearse`: rendering what `rehearse::run` measured.

use std::fmt::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::json;

use super::Context;
use crate::error::Result;
use crate::migrations::plan::OutOfOrder;
use crate::output::Report;
use crate::rehearse::{self, Rehearsal, budget};
use crate::text::plural;

pub async fn run(context: &Context<'_>, backup: Option<&Path>, allow_out_of_order: bool) -> Result<Report> {
    let env = &context.env;
    let order = if allow_out_of_order { OutOfOrder::Allow } else { OutOfOrder::Refuse };
    let rehearsal = rehearse::run(env, backup, order).await?;
    let human = render(&rehearsal, &env.root, env.review.lock_budget.map(|budget| budget.0));
    let report = Report::new(&json!({ "rehearsal": rehearsal }), human);
    match budget::refusal(env, &rehearsal.over_budget) {
        Some(mut refusal) => {
            refusal.message = format!(
                "the lock budget of environment {} would refuse these migrations in release and migrate (the rehearsal is recorded)",
                env.name
            );
            Err(refusal.with_report(report))
        }
        None => Ok(report),
    }
}

fn render(rehearsal: &Rehearsal, root: &Path, budget: Option<Duration>) -> String {
    let mut text = String::new();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let age = Duration::from_secs(now.saturating_sub(rehearsal.backup_taken_at));
    let shown = |path: &Path| path.strip_prefix(root).unwrap_or(path).display().to_string();
    let _ = writeln!(
        text,
        "rehearsal on {} (taken {} ago), restored into the scratch database {} on the development cluster, then dropped; {} ms",
        shown(&rehearsal.backup),
        humantime::format_duration(Duration::from_secs(age.as_secs() / 60 * 60)),
        rehearsal.scratch_database,
        rehearsal.took_ms
    );
    if rehearsal.migrations.is_empty() {
        let _ = writeln!(text, "nothing is pending in that backup: nothing to rehearse");
        return text;
    }
    for migration in &rehearsal.migrations {
        let total: f64 = migration.statements.iter().map(|statement| statement.duration_ms).sum();
        let _ = writeln!(text, "\n{}  {}", migration.tag, milliseconds(total));
        for statement in &migration.statements {
            let _ = writeln!(
                text,
                "  {:>3}  line {:<5} {:<60}  {:>12}",
                statement.number,
                statement.line,
                statement.sql,
                milliseconds(statement.duration_ms)
            );
            for lock in &statement.locks {
                let over = budget.is_some_and(|budget| {
                    lock.mode == rehearse::timeline::LockMode::AccessExclusive
                        && lock.made_by.is_none()
                        && lock.held_ms > budget.as_secs_f64() * 1000.0
                });
                let blocks = match &lock.made_by {
                    Some(made_by) => format!("a table {made_by} makes: no release uses it before"),
                    None => format!("blocks {}", lock.mode.blocks()),
                };
                let _ = writeln!(
                    text,
                    "         {} on {} for {}: {blocks}{}",
                    lock.mode.name(),
                    lock.table,
                    milliseconds(lock.held_ms),
                    if over { "  (over the lock budget)" } else { "" }
                );
            }
            for table in &statement.rewrote {
                let _ = writeln!(text, "         rewrote {table}");
            }
            for index in &statement.invalid_indexes {
                let _ = writeln!(text, "         left the index {index} INVALID");
            }
        }
    }
    let statements: usize = rehearsal.migrations.iter().map(|migration| migration.statements.len()).sum();
    let _ = writeln!(
        text,
        "\nrehearsed {} ({}); locks are held until their transaction ends",
        plural(rehearsal.migrations.len(), "migration"),
        plural(statements, "statement")
    );
    if let Some(record) = &rehearsal.record {
        let budget = budget.map_or("no [review] lock_budget set".to_owned(), |budget| {
            format!("[review] lock_budget = {}", humantime::format_duration(budget))
        });
        let _ = writeln!(
            text,
            "recorded in {}: commit it with the migrations (release and migrate read it: {budget})",
            shown(record)
        );
    }
    text
}

fn milliseconds(value: f64) -> String {
    if value >= 10.0 {
        format!("{} ms", crate::text::thousands(value.round() as u64))
    } else {
        format!("{value:.1} ms")
    }
}
