//! Reviewing migrations before they run: Squawk's rules (the well-kept linter,
//! embedded, never re-implemented) told how each migration will run, plus our
//! own rules for what a Dokku deploy adds. Pure: given the parsed folder.

mod rules;
mod squawk;

use std::path::PathBuf;

use serde::Serialize;

use crate::migrations::folder::Migration;

/// How bad a finding is: errors fail `lint` (exit 10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Warning,
    Error,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Warning => "warning",
            Level::Error => "error",
        })
    }
}

/// One problem found in a migration, where it is and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: String,
    pub level: Level,
    pub tag: String,
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The statement it is about, trimmed (at most a few lines of it), and its
    /// number in the migration (as `plan` numbers them; 0 when outside any).
    pub statement: String,
    pub statement_number: usize,
    pub message: String,
    /// The safe way to write it.
    pub help: Option<String>,
}

/// Every finding of `migration`, in file order.
pub fn review(migration: &Migration) -> Vec<Finding> {
    let mut findings = squawk::findings(migration);
    findings.extend(rules::findings(migration));
    findings.sort_by_key(|finding| (finding.line, finding.column, finding.rule.clone()));
    findings
}

/// The findings of one migration, looked up by the statement they are on.
pub struct Reviewed {
    findings: Vec<Finding>,
}

impl Reviewed {
    pub fn of(migration: &Migration) -> Reviewed {
        Reviewed { findings: review(migration) }
    }

    /// The findings on statement `number` (as `plan` numbers them; 0: on the
    /// migration as a whole).
    pub fn on(&self, number: usize) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |finding| finding.statement_number == number)
    }
}

/// A finding at byte `offset` of the migration's file.
fn finding_at(
    migration: &Migration,
    offset: usize,
    rule: &str,
    level: Level,
    message: String,
    help: Option<String>,
) -> Finding {
    let (line, column) = migration.lines.line_column(&migration.text, offset);
    let (statement_number, statement) = migration
        .statements()
        .find(|statement| {
            let chunk = &migration.chunks[statement.chunk_index];
            let start = chunk.offset + statement.start_in_chunk;
            offset >= start && offset < start + statement.text.len()
        })
        .map_or_else(|| (0, String::new()), |statement| (statement.number, shorten(statement.text.trim())));
    Finding {
        rule: rule.to_owned(),
        level,
        tag: migration.tag.clone(),
        file: migration.file.clone(),
        line,
        column,
        statement,
        statement_number,
        message,
        help,
    }
}

/// At most three lines, at most 300 characters.
fn shorten(text: &str) -> String {
    let mut short: String = text.lines().take(3).collect::<Vec<_>>().join("\n");
    if short.chars().count() > 300 {
        short = short.chars().take(300).collect::<String>() + "...";
    } else if text.lines().count() > 3 {
        short.push_str("\n...");
    }
    short
}
