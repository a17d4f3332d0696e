//! `truncate-table`: `TRUNCATE` empties a table for everyone at once, the running
//! release included, and takes ACCESS EXCLUSIVE until the release commits.
//! Harmless only on a table the release itself created, or that is not there.

use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{Parse, SourceFile};

use super::super::{Finding, finding_at};
use crate::migration_folder::Migration;

pub const RULE: &str = crate::rule_names::OwnRule::TruncateTable.name();

pub fn findings(migration: &Migration, parse: &Parse<SourceFile>) -> Vec<Finding> {
    parse
        .tree()
        .stmts()
        .filter(|statement| matches!(statement, ast::Stmt::Truncate(_)))
        .map(|statement| {
            finding_at(
                migration,
                statement.syntax().text_range().start().into(),
                RULE,
                "TRUNCATE deletes every row of the table, for the running release too, under an ACCESS EXCLUSIVE lock".to_owned(),
                Some("delete what must go with a WHERE (in batches on a large table); if emptying it is the point, acknowledge it: `-- praxia-deploy: allow truncate-table: <why>`".to_owned()),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration_folder::tests::folder;

    #[test]
    fn truncate_is_found_and_delete_is_not() {
        let folder =
            folder(&[("0000_a", 1, "TRUNCATE note;\nTRUNCATE TABLE a, b CASCADE;\nDELETE FROM note WHERE id = 1;")])
                .unwrap();
        let migration = &folder.migrations[0];
        let found = findings(migration, &SourceFile::parse(&migration.text));
        assert_eq!(found.iter().map(|finding| finding.line).collect::<Vec<_>>(), [1, 2]);
    }
}
