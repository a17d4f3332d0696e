//! The findings a migration's author accepted: `-- praxia-deploy: allow RULE:
//! reason` covers that rule on the statement after the comment. Squawk's own
//! `-- squawk-ignore RULE` (the next line) and `-- squawk-ignore-file RULE` are
//! honoured by Squawk itself for its rules (it reports nothing), and here for
//! ours; all of them go into the migration log. Pure.

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
                unused_rule(migration, acknowledgement.start, &rule, &mut unused);
            }
        }
    }
    for ignore in squawk_ignores(migration) {
        let statement = statement_after(migration, ignore.end);
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

/// A `-- squawk-ignore` comment.
struct SquawkIgnore {
    rules: Vec<String>,
    line: usize,
    /// Byte offset just after its line.
    end: usize,
    file_wide: bool,
    comment: &'static str,
}

fn squawk_ignores(migration: &Migration) -> Vec<SquawkIgnore> {
    let mut ignores = Vec::new();
    let mut end = 0;
    for (index, line) in migration.text.split_inclusive('\n').enumerate() {
        end += line.len();
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
        let rules = rules.split(',').map(str::trim).filter(|rule| !rule.is_empty()).map(canonical).collect();
        ignores.push(SquawkIgnore { rules, line: index + 1, end, file_wide: comment == "squawk-ignore-file", comment });
    }
    ignores
}

#[cfg(test)]
mod tests {
    use crate::config::{EnvironmentKind, ReviewSettings};
    use crate::migrations::folder::tests::folder;
    use crate::review::{Reviewed, Verdict};

    fn review(sql: &str) -> Vec<(String, usize, Verdict)> {
        let folder = folder(&[("0000_m", 1_700_000_000_000, sql)]).unwrap();
        Reviewed::of(&folder.migrations[0], &ReviewSettings::defaults(EnvironmentKind::Production))
            .findings
            .into_iter()
            .map(|finding| (finding.rule, finding.statement_number, finding.verdict))
            .collect()
    }

    #[test]
    fn an_acknowledgement_covers_its_rules_on_the_next_statement_only() {
        let found = review(
            "ALTER TABLE a DROP COLUMN x;\n--> statement-breakpoint\n-- praxia-deploy: allow ban-drop-column: b.y unread: since v2\nALTER TABLE b DROP COLUMN y;",
        );
        let verdict = |rule: &str, statement: usize| {
            found.iter().find(|(r, s, _)| r == rule && *s == statement).map(|(_, _, v)| v.clone()).unwrap()
        };
        assert_eq!(verdict("ban-drop-column", 1), Verdict::Danger);
        assert_eq!(
            verdict("ban-drop-column", 2),
            Verdict::Acknowledged { reason: "b.y unread: since v2".to_owned(), line: 3 },
            "the reason keeps its own colons"
        );
        assert_eq!(verdict("previous-release-overlap", 2), Verdict::Danger, "only the rules it names");
    }

    #[test]
    fn an_acknowledgement_of_a_rule_not_found_there_is_reported() {
        let found = review("-- praxia-deploy: allow renaming-column: moved\nALTER TABLE a DROP COLUMN x;");
        assert!(found.iter().any(|(rule, _, _)| rule == "unused-acknowledgement"), "{found:?}");
    }
}
