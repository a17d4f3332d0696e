//! `lint --fix TAG... | --changed`: the lock-safe rewrite of migrations that have
//! not shipped (`review::rewrite_lock_safe`), shown as a unified diff with what
//! became of each statement. Nothing is written.

use serde_json::json;

use super::{Scope, changed, select};
use crate::commands::Context;
use crate::error::{Error, Result};
use crate::migration_folder::{Migration, read_folder};
use crate::output::Report;
use crate::review::{LockSafe, Outcome, TableName, rewrite_lock_safe, tables_created};
use crate::text::plural;

pub fn fix(context: &Context<'_>, scope: Scope<'_>) -> Result<Report> {
    let folder = read_folder(&context.env.migrations.dir)?;
    let selected: Vec<&Migration> = match scope {
        Scope::All => {
            return Err(Error::usage("lint --fix rewrites only migrations that have not shipped")
                .help("name them (`praxia-deploy lint --fix 0007`) or pass --changed for the ones this branch adds"));
        }
        Scope::Named(tags) => select::named(&folder, tags)?,
        Scope::Changed(base) => changed::changed(&folder, base)?.migrations,
    };
    // Tables the earlier selected migrations create are new to the later ones too.
    let mut created: Vec<TableName> = Vec::new();
    let mut human = String::new();
    let mut documents = Vec::new();
    let mut rewritten_total = 0;
    for migration in &selected {
        let fixed = rewrite_lock_safe(&migration.text, &created);
        created.extend(tables_created(&migration.text));
        let rewritten = fixed.statements.iter().filter(|s| matches!(s.outcome, Outcome::Rewritten(_))).count();
        rewritten_total += rewritten;
        let diff = unified_diff(&context.env.root, migration, &fixed);
        human.push_str(&format!("-- {} ({} rewritten)\n", migration.tag, plural(rewritten, "statement")));
        human.push_str(&statement_lines(migration, &fixed));
        human.push_str(&diff);
        human.push('\n');
        documents.push(json!({
            "tag": migration.tag,
            "file": migration.file,
            "rewritten": rewritten,
            "statements": fixed.statements.iter().map(|statement| statement_json(migration, statement)).collect::<Vec<_>>(),
            "diff": diff,
        }));
    }
    human.push_str(&format!(
        "{} rewritten in {}; nothing written: review the diff, apply it to the files, then `praxia-deploy lint` and a migrate on a scratch database",
        plural(rewritten_total, "statement"),
        plural(selected.len(), "migration")
    ));
    Ok(Report::new(&json!({ "migrations": documents, "rewritten": rewritten_total, "written": false }), human))
}

/// One line per statement the engine rewrote or left alone for a reason worth saying.
fn statement_lines(migration: &Migration, fixed: &LockSafe) -> String {
    let mut lines = String::new();
    for statement in &fixed.statements {
        let line = migration.lines.line_column(&migration.text, statement.offset).0;
        match &statement.outcome {
            Outcome::Rewritten(recipe) => {
                lines.push_str(&format!("   line {line}: {} ({})\n", recipe.describe(), recipe.rule()));
            }
            Outcome::LeftAlone(reason) => {
                if let Some(advice) = reason.advice() {
                    lines.push_str(&format!("   line {line}: left as written: {}; {advice}\n", reason.reason()));
                }
            }
        }
    }
    lines
}

fn statement_json(migration: &Migration, statement: &crate::review::StatementOutcome) -> serde_json::Value {
    let line = migration.lines.line_column(&migration.text, statement.offset).0;
    match &statement.outcome {
        Outcome::Rewritten(recipe) => json!({ "line": line, "rewritten": recipe.describe(), "rule": recipe.rule() }),
        Outcome::LeftAlone(reason) => {
            json!({ "line": line, "left_alone": reason.reason(), "advice": reason.advice() })
        }
    }
}

/// `a/FILE` against `b/FILE`, paths from the project root as `git diff` shows
/// them; empty when nothing changed.
fn unified_diff(root: &std::path::Path, migration: &Migration, fixed: &LockSafe) -> String {
    if fixed.sql == migration.text {
        return String::new();
    }
    let path = migration.file.strip_prefix(root).unwrap_or(&migration.file).display().to_string();
    similar::TextDiff::from_lines(&migration.text, &fixed.sql)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}
