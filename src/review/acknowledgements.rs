//! The findings a migration's author accepted: `-- praxia-deploy: allow RULE:
//! reason` covers that rule on the statement after the comment. Squawk's own
//! `-- squawk-ignore` comments are honoured by Squawk itself (it reports
//! nothing); they are only collected here for the migration log. Pure.

use serde::Serialize;

use super::{Finding, Verdict, canonical, finding_at};
use crate::migrations::folder::Migration;

/// An acknowledgement that covers no finding: misplaced, or left over.
pub const UNUSED_ACKNOWLEDGEMENT: &str = "unused-acknowledgement";

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
                unused.push(finding_at(
                    migration,
                    acknowledgement.start + (migration.text[acknowledgement.start..].len()
                        - migration.text[acknowledgement.start..].trim_start().len()),
                    UNUSED_ACKNOWLEDGEMENT,
                    format!("this comment acknowledges `{rule}`, but the statement after it has no such finding"),
                    Some("put the comment on the line before the statement the finding is on (`lint` shows where), or remove it".to_owned()),
                ));
            }
        }
    }
    findings.extend(unused);
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
    for (index, line) in migration.text.lines().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("--").map(str::trim_start) else {
            continue;
        };
        let (comment, rules) = if let Some(rules) = rest.strip_prefix("squawk-ignore-file") {
            ("squawk-ignore-file", rules)
        } else if let Some(rules) = rest.strip_prefix("squawk-ignore") {
            ("squawk-ignore", rules)
        } else {
            continue;
        };
        let rules: Vec<String> =
            rules.split(',').map(str::trim).filter(|rule| !rule.is_empty()).map(canonical).collect();
        entries.push(LogEntry { rules, reason: None, line: index + 1, comment });
    }
    entries.sort_by_key(|entry| entry.line);
    entries
}
