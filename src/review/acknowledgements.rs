//! The findings a migration's author accepted: `-- praxia-deploy: allow RULE:
//! reason` covers that rule on the statement after the comment. Squawk's own
//! `-- squawk-ignore RULE` (the next line) and `-- squawk-ignore-file RULE` are
//! honoured by Squawk itself for its rules (it reports nothing), and here for
//! ours; all of them go into the migration log. Pure.

use serde::Serialize;

use super::{Finding, Verdict, canonical, finding_at};
use crate::migration_folder::Migration;

/// An acknowledgement that covers no finding: misplaced, or left over.
pub const UNUSED_ACKNOWLEDGEMENT: &str = crate::rule_names::OwnRule::UnusedAcknowledgement.name();
/// A `squawk-ignore` that names no rule: Squawk then hides all of its findings.
pub const BLANKET_IGNORE: &str = crate::rule_names::OwnRule::BlanketIgnore.name();

/// Marks the findings acknowledged, and adds a warning for each acknowledged
/// rule that has no finding on the statement after its comment.
pub fn apply(migration: &Migration, findings: &mut Vec<Finding>) {
    let mut unused = Vec::new();
    for acknowledgement in &migration.acknowledgements {
        let statement = statement_after(migration, acknowledgement.end);
        for rule in &acknowledgement.rules {
            let rule = canonical(rule);
            let mut covered = false;
            for finding in findings.iter_mut().filter(|finding| {
                finding.rule == rule && (finding.statement_number == statement || finding.statement_number == 0)
            }) {
                covered = true;
                if !matches!(finding.verdict, Verdict::Acknowledged { .. }) {
                    finding.verdict =
                        Verdict::Acknowledged { reason: acknowledgement.reason.clone(), line: acknowledgement.line };
                }
            }
            if !covered {
                unused_rule(migration, acknowledgement.start, &rule, &mut unused);
            }
        }
    }
    for ignore in squawk_ignores(migration) {
        if ignore.rules.is_empty() {
            // Squawk hides every one of its findings here, with no reason: say so.
            let scope = if ignore.file_wide { "the whole migration" } else { "the statement after it" };
            unused.push(finding_at(
                migration,
                ignore.start,
                BLANKET_IGNORE,
                format!("`{}` without rule names hides every Squawk finding on {scope} from the review, with no reason given", ignore.comment),
                Some("name the rules it is for, or acknowledge each with why: `-- praxia-deploy: allow RULE: <reason>`".to_owned()),
            ));
            continue;
        }
        let statement = ignore.statement;
        for finding in findings.iter_mut().filter(|finding| {
            ignore.rules.contains(&finding.rule)
                && finding.verdict == Verdict::Danger
                && (ignore.file_wide || finding.statement_number == statement || finding.statement_number == 0)
        }) {
            finding.verdict =
                Verdict::Acknowledged { reason: format!("-- {} (no reason given)", ignore.comment), line: ignore.line };
        }
    }
    findings.extend(unused);
}

/// The warning for an acknowledgement (its line starting at `start`) that covers no finding of `rule`.
fn unused_rule(migration: &Migration, start: usize, rule: &str, unused: &mut Vec<Finding>) {
    let line = &migration.text[start..];
    unused.push(finding_at(
        migration,
        start + (line.len() - line.trim_start().len()),
        UNUSED_ACKNOWLEDGEMENT,
        format!("this comment acknowledges `{rule}`, but the statement after it has no such finding"),
        Some(
            "put the comment on the line before the statement the finding is on (`lint` shows where), or remove it"
                .to_owned(),
        ),
    ));
}

/// The number of the statement a comment ending at `end` stands before (0 if none).
fn statement_after(migration: &Migration, end: usize) -> usize {
    migration
        .statements()
        .find(|statement| {
            let chunk = &migration.chunks[statement.chunk_index];
            chunk.offset + statement.start_in_chunk + statement.text.len() > end
        })
        .map_or(0, |statement| statement.number)
}

/// One acknowledgement as the migration log keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogEntry {
    pub rules: Vec<String>,
    /// None for `-- squawk-ignore`, which has no place for one.
    pub reason: Option<String>,
    pub line: usize,
    pub comment: &'static str,
}

/// Every acknowledgement in the migration, for `praxia_deploy.migration_log`.
pub fn log_entries(migration: &Migration) -> Vec<LogEntry> {
    let mut entries: Vec<LogEntry> = migration
        .acknowledgements
        .iter()
        .map(|acknowledgement| LogEntry {
            rules: acknowledgement.rules.iter().map(|rule| canonical(rule)).collect(),
            reason: Some(acknowledgement.reason.clone()),
            line: acknowledgement.line,
            comment: "praxia-deploy: allow",
        })
        .collect();
    entries.extend(squawk_ignores(migration).into_iter().map(|ignore| LogEntry {
        rules: ignore.rules,
        reason: None,
        line: ignore.line,
        comment: ignore.comment,
    }));
    entries.sort_by_key(|entry| entry.line);
    entries
}

/// A `-- squawk-ignore` comment (or `/* squawk-ignore ... */`).
struct SquawkIgnore {
    /// Empty: every rule (Squawk's reading of a bare `squawk-ignore`).
    rules: Vec<String>,
    line: usize,
    start: usize,
    /// The statement it covers: the one it trails on its line, else the next.
    statement: usize,
    file_wide: bool,
    comment: &'static str,
}

/// Squawk's ignore comments, read from the real comments (never text inside a
/// string), as Squawk reads them: the body after `--` or inside `/* */`, a
/// trailing `-- why` dropped.
fn squawk_ignores(migration: &Migration) -> Vec<SquawkIgnore> {
    let mut ignores = Vec::new();
    for chunk in &migration.chunks {
        for comment in &chunk.comments {
            let (start, end) = (chunk.offset + comment.start, chunk.offset + comment.end);
            let text = &migration.text[start..end];
            let body = text.strip_prefix("--").or_else(|| text.strip_prefix("/*").and_then(|b| b.strip_suffix("*/")));
            let Some(body) = body else {
                continue;
            };
            let body = body.trim();
            let body = body.find("--").map_or(body, |i| body[..i].trim_end());
            let (comment, rules) = if let Some(rules) = body.strip_prefix("squawk-ignore-file") {
                ("squawk-ignore-file", rules)
            } else if let Some(rules) = body.strip_prefix("squawk-ignore") {
                ("squawk-ignore", rules)
            } else {
                continue;
            };
            let rules = rules.split(',').map(str::trim).filter(|rule| !rule.is_empty()).map(canonical).collect();
            let line_start = migration.text[..start].rfind(['\n', '\r']).map_or(0, |i| i + 1);
            let before = migration.text[line_start..start].trim_end();
            let statement = if before.is_empty() {
                statement_after(migration, end)
            } else {
                statement_after(migration, line_start + before.len() - 1)
            };
            ignores.push(SquawkIgnore {
                rules,
                line: migration.lines.line_column(&migration.text, start).0,
                start,
                statement,
                file_wide: comment == "squawk-ignore-file",
                comment,
            });
        }
    }
    ignores
}
