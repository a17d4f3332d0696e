//! `table-rewrite`: statements that rewrite or rebuild a whole table under an
//! ACCESS EXCLUSIVE lock, which Squawk's rules do not cover: `CLUSTER`,
//! `VACUUM FULL`, `ALTER TABLE ... SET LOGGED|UNLOGGED`, `SET TABLESPACE`, a new
//! `serial` column (every row gets a value), `REFRESH MATERIALIZED VIEW` without
//! `CONCURRENTLY`. Reads and writes of the table wait the whole time. On a small
//! table that is quick (judged by size, as the lock rules are).

use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{Parse, SourceFile};

use super::super::{Finding, finding_at};
use crate::migration_folder::Migration;

pub const RULE: &str = crate::rule_names::OwnRule::TableRewrite.name();

pub fn findings(migration: &Migration, parse: &Parse<SourceFile>) -> Vec<Finding> {
    parse
        .tree()
        .stmts()
        .filter_map(|statement| {
            let (what, instead) = rewrite(&statement)?;
            Some(finding_at(
                migration,
                statement.syntax().text_range().start().into(),
                RULE,
                format!("{what} rewrites the whole table under an ACCESS EXCLUSIVE lock: its readers and writers wait until the release commits"),
                Some(instead.to_owned()),
            ))
        })
        .collect()
}

fn rewrite(statement: &ast::Stmt) -> Option<(&'static str, &'static str)> {
    const OFF_HOURS: &str = "do it outside the release, in a maintenance window (or with pg_repack), and keep migrations to what the release needs";
    match statement {
        ast::Stmt::Cluster(_) => Some(("CLUSTER", OFF_HOURS)),
        ast::Stmt::Vacuum(vacuum) if vacuum.full_token().is_some() || full_option(vacuum) => {
            Some(("VACUUM FULL", OFF_HOURS))
        }
        ast::Stmt::Refresh(refresh) if refresh.concurrently_token().is_none() => Some((
            "REFRESH MATERIALIZED VIEW without CONCURRENTLY",
            "give the view a unique index and use REFRESH MATERIALIZED VIEW CONCURRENTLY",
        )),
        ast::Stmt::AlterTable(alter) => alter.actions().find_map(|action| match action {
            ast::AlterTableAction::SetLogged(_) | ast::AlterTableAction::SetUnlogged(_) => {
                Some(("SET LOGGED/UNLOGGED", OFF_HOURS))
            }
            ast::AlterTableAction::SetTablespace(_) => Some(("SET TABLESPACE", OFF_HOURS)),
            ast::AlterTableAction::AddColumn(add) if serial(&add) => Some((
                "a new serial column",
                "add the column as a plain bigint with its sequence's nextval() as the default for new rows, then fill existing rows in batches",
            )),
            _ => None,
        }),
        _ => None,
    }
}

/// `VACUUM (FULL) ...`, `VACUUM (FULL true) ...`.
fn full_option(vacuum: &ast::Vacuum) -> bool {
    vacuum.vacuum_option_list().is_some_and(|options| {
        let text = options.syntax().text().to_string().to_ascii_lowercase();
        text.split([',', '(', ')']).map(str::trim).any(|option| {
            let mut words = option.split_whitespace();
            words.next() == Some("full") && !matches!(words.next(), Some("false" | "off" | "0"))
        })
    })
}

fn serial(add: &ast::AddColumn) -> bool {
    add.ty().is_some_and(|ty| {
        let name = ty.syntax().text().to_string().to_ascii_lowercase();
        matches!(
            name.trim().trim_matches('"'),
            "serial" | "serial4" | "bigserial" | "serial8" | "smallserial" | "serial2"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration_folder::tests::folder;

    #[test]
    fn each_rewrite_is_found_and_its_safe_forms_are_not() {
        let sql = "CLUSTER note USING note_pkey;\nVACUUM FULL note;\nVACUUM (FULL, VERBOSE) note;\nVACUUM note;\n\
                   ALTER TABLE note SET UNLOGGED;\nALTER TABLE note SET TABLESPACE fast;\nALTER TABLE note ADD COLUMN n bigserial;\n\
                   ALTER TABLE note ADD COLUMN m bigint;\nREFRESH MATERIALIZED VIEW stats;\nREFRESH MATERIALIZED VIEW CONCURRENTLY stats;\n\
                   VACUUM (FULL false) note;";
        let folder = folder(&[("0000_a", 1, sql)]).unwrap();
        let migration = &folder.migrations[0];
        let found = findings(migration, &SourceFile::parse(&migration.text));
        assert_eq!(found.iter().map(|finding| finding.line).collect::<Vec<_>>(), [1, 2, 3, 5, 6, 7, 9]);
    }
}
