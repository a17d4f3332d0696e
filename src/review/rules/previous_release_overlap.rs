//! `previous-release-overlap`: a column or table dropped, renamed or moved while
//! the previous release still serves. Dokku keeps the old containers running for
//! `DOKKU_WAIT_TO_RETIRE` (60 s by default) after the release phase, and they
//! still read and write what the migration just took away. Read from Squawk's
//! syntax tree, so every spelling (`DROP "c"`, `RENAME a TO b`) is one.

use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{Parse, SourceFile};

use super::super::{Finding, finding_at};
use crate::migration_folder::Migration;

pub const RULE: &str = crate::rule_names::OwnRule::PreviousReleaseOverlap.name();

pub fn findings(migration: &Migration, parse: &Parse<SourceFile>) -> Vec<Finding> {
    parse
        .tree()
        .stmts()
        .filter_map(|statement| {
            let what = removes_what_the_old_release_uses(&statement)?;
            Some(finding_at(
                migration,
                statement.syntax().text_range().start().into(),
                RULE,
                format!("{what} while the previous release still serves: its containers keep running for DOKKU_WAIT_TO_RETIRE (60 s by default) after the release phase, and their queries fail"),
                Some("expand and contract: with `[contract] hold_back` (staging and production) `release` holds a drop no later statement needs back until the previous release has retired, and `praxia-deploy contract` applies it; `-- praxia-deploy: contract` on the line before a statement holds it and what follows back. A rename cannot wait: add the new column, write both, backfill, switch reads, then drop the old one in a later migration".to_owned()),
            ))
        })
        .collect()
}

/// What a statement takes away from the running release, in words.
fn removes_what_the_old_release_uses(statement: &ast::Stmt) -> Option<&'static str> {
    match statement {
        ast::Stmt::DropTable(_) => Some("a table is dropped"),
        ast::Stmt::AlterTable(alter) => alter.actions().find_map(|action| match action {
            ast::AlterTableAction::DropColumn(_) => Some("a column is dropped"),
            ast::AlterTableAction::RenameColumn(_) => Some("a column is renamed"),
            ast::AlterTableAction::TableRenameTo(_) => Some("a table is renamed"),
            ast::AlterTableAction::SetSchema(_) => Some("a table is moved to another schema"),
            _ => None,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_renames_and_moves_are_found_in_every_spelling_and_additions_are_not() {
        let cases = [
            ("ALTER TABLE \"profile\" DROP COLUMN \"bio\"", Some("a column is dropped")),
            ("ALTER TABLE \"profile\" DROP \"bio\"", Some("a column is dropped")),
            ("alter table profile rename column bio to about", Some("a column is renamed")),
            ("ALTER TABLE \"profile\" RENAME \"bio\" TO \"about\"", Some("a column is renamed")),
            ("ALTER TABLE profile RENAME TO profiles", Some("a table is renamed")),
            ("ALTER TABLE profile SET SCHEMA archive", Some("a table is moved to another schema")),
            ("DROP TABLE \"old\" CASCADE", Some("a table is dropped")),
            ("ALTER TABLE profile ADD COLUMN bio text", None),
            ("ALTER TABLE profile DROP CONSTRAINT c", None),
            ("CREATE TABLE t (id int)", None),
        ];
        for (sql, expected) in cases {
            let statement = SourceFile::parse(sql).tree().stmts().next().unwrap();
            assert_eq!(removes_what_the_old_release_uses(&statement), expected, "{sql}");
        }
    }
}
