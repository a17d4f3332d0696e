//! `whole-table-write`: an `UPDATE` or `DELETE` with no `WHERE` writes every row
//! of the table in the release's transaction: each row stays locked until it
//! commits, and the table gains a copy's worth of dead rows. On a small table
//! that is quick (judged by size, as the lock rules are).

use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{Parse, SourceFile};

use super::super::{Finding, finding_at};
use crate::migration_folder::Migration;

pub const RULE: &str = crate::rule_names::OwnRule::WholeTableWrite.name();

pub fn findings(migration: &Migration, parse: &Parse<SourceFile>) -> Vec<Finding> {
    parse
        .tree()
        .stmts()
        .filter_map(|statement| {
            let what = match &statement {
                ast::Stmt::Update(update) if update.where_clause_or_current_of().is_none() => "UPDATE",
                ast::Stmt::Delete(delete) if delete.where_clause_or_current_of().is_none() => "DELETE",
                _ => return None,
            };
            Some(finding_at(
                migration,
                statement.syntax().text_range().start().into(),
                RULE,
                format!("{what} with no WHERE writes every row of the table in the release's transaction: all of them stay locked until it commits"),
                Some("backfill in batches (`WHERE id BETWEEN ...`), each its own transaction, after the release; on a small table acknowledge it: `-- praxia-deploy: allow whole-table-write: <why>`".to_owned()),
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration_folder::tests::folder;

    #[test]
    fn only_a_write_with_no_where_is_found() {
        let sql = "UPDATE note SET body = '';\nUPDATE note SET body = '' WHERE id = 1;\nDELETE FROM note;\nDELETE FROM note WHERE body IS NULL;";
        let folder = folder(&[("0000_a", 1, sql)]).unwrap();
        let migration = &folder.migrations[0];
        let found = findings(migration, &SourceFile::parse(&migration.text));
        assert_eq!(found.iter().map(|finding| finding.line).collect::<Vec<_>>(), [1, 3]);
    }
}
