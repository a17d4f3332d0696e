//! `explicit-lock`: `LOCK TABLE` in a mode that stops the table's writers (SHARE
//! and stronger; ACCESS EXCLUSIVE, the default, stops its readers too), held
//! until the release's transaction commits. On a small table the wait is short
//! (judged by size, as the lock rules are).

use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{Parse, SourceFile};

use super::super::{Finding, finding_at};
use crate::migration_folder::Migration;

pub const RULE: &str = crate::rule_names::OwnRule::ExplicitLock.name();

pub fn findings(migration: &Migration, parse: &Parse<SourceFile>) -> Vec<Finding> {
    parse
        .tree()
        .stmts()
        .filter_map(|statement| {
            let ast::Stmt::Lock(lock) = &statement else { return None };
            let mode = lock
                .lock_mode_clause()
                .map(|clause| clause.syntax().text().to_string().to_ascii_uppercase())
                .unwrap_or_else(|| "IN ACCESS EXCLUSIVE MODE".to_owned());
            let mode = mode.split_whitespace().collect::<Vec<_>>().join(" ");
            let blocks_writers = !matches!(mode.as_str(), "IN ACCESS SHARE MODE" | "IN ROW SHARE MODE" | "IN ROW EXCLUSIVE MODE" | "IN SHARE UPDATE EXCLUSIVE MODE");
            blocks_writers.then(|| {
                finding_at(
                    migration,
                    statement.syntax().text_range().start().into(),
                    RULE,
                    format!("LOCK TABLE {} stops the table's writers (or readers too) until the release's transaction commits", mode.to_ascii_lowercase()),
                    Some("let each statement take the lock it needs, for as short a time as it can; if this lock is the point, acknowledge it: `-- praxia-deploy: allow explicit-lock: <why>`".to_owned()),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration_folder::tests::folder;

    #[test]
    fn only_modes_that_stop_writers_are_found() {
        let sql = "LOCK TABLE note;\nLOCK note IN SHARE MODE;\nLOCK TABLE note IN ROW EXCLUSIVE MODE;\nLOCK TABLE note IN access exclusive MODE NOWAIT;";
        let folder = folder(&[("0000_a", 1, sql)]).unwrap();
        let migration = &folder.migrations[0];
        let found = findings(migration, &SourceFile::parse(&migration.text));
        assert_eq!(found.iter().map(|finding| finding.line).collect::<Vec<_>>(), [1, 2, 4]);
    }
}
