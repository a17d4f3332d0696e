//! `previous-release-overlap`: a column or table dropped or renamed while the
//! previous release still serves. Dokku keeps the old containers running for
//! `DOKKU_WAIT_TO_RETIRE` (60 s by default) after the release phase, and they
//! still read and write what the migration just removed.

use super::super::{Finding, finding_at};
use crate::migrations::folder::Migration;

pub const RULE: &str = "previous-release-overlap";

pub fn findings(migration: &Migration) -> Vec<Finding> {
    let mut findings = Vec::new();
    for statement in migration.statements() {
        let chunk = &migration.chunks[statement.chunk_index];
        let Some(words) =
            chunk.statements.iter().find(|sql| sql.start == statement.start_in_chunk).map(|sql| &sql.words)
        else {
            continue;
        };
        let Some(what) = removes_what_the_old_release_uses(words) else {
            continue;
        };
        let offset =
            chunk.offset + statement.start_in_chunk + (statement.text.len() - statement.text.trim_start().len());
        findings.push(finding_at(
            migration,
            offset,
            RULE,
            format!("{what} while the previous release still serves: its containers keep running for DOKKU_WAIT_TO_RETIRE (60 s by default) after the release phase, and their queries fail"),
            Some("expand and contract: stop using it in one release (deploy), then drop or rename it in the next; for a rename, add the new column, write both, backfill, switch reads, then drop the old one".to_owned()),
        ));
    }
    findings
}

/// What a statement takes away from the running release, in words.
fn removes_what_the_old_release_uses(words: &[String]) -> Option<&'static str> {
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let has_pair = |a: &str, b: &str| words.windows(2).any(|pair| pair[0] == a && pair[1] == b);
    match (w(0), w(1)) {
        ("DROP", "TABLE") => Some("a table is dropped"),
        ("ALTER", "TABLE") if has_pair("DROP", "COLUMN") => Some("a column is dropped"),
        ("ALTER", "TABLE") if has_pair("RENAME", "COLUMN") => Some("a column is renamed"),
        ("ALTER", "TABLE") if has_pair("RENAME", "TO") => Some("a table or column is renamed"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::sql::split_statements;

    #[test]
    fn drops_and_renames_are_found_and_additions_are_not() {
        let cases = [
            ("ALTER TABLE \"profile\" DROP COLUMN \"bio\"", Some("a column is dropped")),
            ("alter table profile rename column bio to about", Some("a column is renamed")),
            ("ALTER TABLE profile RENAME TO profiles", Some("a table or column is renamed")),
            ("DROP TABLE \"old\" CASCADE", Some("a table is dropped")),
            ("ALTER TABLE profile ADD COLUMN bio text", None),
            ("ALTER TABLE profile DROP CONSTRAINT c", None),
            ("CREATE TABLE t (id int)", None),
        ];
        for (sql, expected) in cases {
            assert_eq!(removes_what_the_old_release_uses(&split_statements(sql)[0].words), expected, "{sql}");
        }
    }
}
