//! `unreviewable-statement`: a statement whose effect the review cannot see: a
//! `DO` block (but drizzle-kit's guard around one statement, whose statement is
//! reviewed instead); `SET ROLE` and a temporary object (the names after them
//! mean other tables); `CALL` or `PREPARE`/`EXECUTE` runs SQL that is not in the file as
//! statements; `SET search_path` (or `set_config`) changes which tables the
//! unqualified names after it mean; `SET standard_conforming_strings` changes
//! how the statements after it are read. (Squawk failing to read the file the
//! way PostgreSQL will is reported under this rule too, by `squawk.rs`.)

use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{Parse, SourceFile};

use super::super::{Finding, finding_at};
use crate::migration_folder::Migration;

pub const RULE: &str = crate::rule_names::OwnRule::UnreviewableStatement.name();

const HELP: &str = "write the change as plain statements in the migration; if it must stay, review it by hand and acknowledge it: `-- praxia-deploy: allow unreviewable-statement: <what it does and why it is safe>`";

pub fn findings(migration: &Migration, parse: &Parse<SourceFile>) -> Vec<Finding> {
    let mut findings = unknown_calls(migration, parse);
    for statement in migration.statements() {
        let chunk = &migration.chunks[statement.chunk_index];
        let Some(words) =
            chunk.statements.iter().find(|sql| sql.start == statement.start_in_chunk).map(|sql| &sql.words)
        else {
            continue;
        };
        let Some(why) = hidden_effect(words).or_else(|| hidden_setting(statement.text, words)) else {
            continue;
        };
        // drizzle-kit's guard around one statement: that statement is reviewed (review/mod.rs).
        if super::super::guarded_statement(statement.text).is_some() {
            continue;
        }
        let offset =
            chunk.offset + statement.start_in_chunk + (statement.text.len() - statement.text.trim_start().len());
        findings.push(finding_at(migration, offset, RULE, why.to_owned(), Some(HELP.to_owned())));
    }
    findings
}

/// Why the review cannot see what a statement does, in words.
pub fn hidden_effect(words: &[String]) -> Option<&'static str> {
    let first = words.first().map(String::as_str)?;
    let early = |word: &str| words.iter().take(3).any(|w| w == word);
    match first {
        "DO" => Some("a DO block runs SQL the review cannot see"),
        "CALL" => Some("CALL runs a procedure, whose SQL the review cannot see"),
        "PREPARE" | "EXECUTE" => Some("a prepared statement runs SQL the review cannot see where it runs"),
        "SET" | "RESET" if early("SEARCH_PATH") => {
            Some("changing search_path changes which tables the unqualified names after it mean")
        }
        "SET" | "RESET" if early("STANDARD_CONFORMING_STRINGS") => {
            Some("changing standard_conforming_strings changes how the statements after it are read")
        }
        "SET" | "RESET" if early("ROLE") || early("AUTHORIZATION") => Some(
            "changing the role changes what the statements after it may do and which tables their unqualified names mean ($user)",
        ),
        "CREATE" if creates_temporary(words) => {
            Some("a temporary object hides the live one of the same name from the unqualified names after it")
        }
        _ if words.iter().any(|word| word == "SET_CONFIG") => {
            Some("set_config() can change search_path, and with it which tables the names after it mean")
        }
        _ => None,
    }
}

/// Settings that change how the statements after them are read or which
/// objects their names mean, however the statement spells them (quoted names,
/// `UPDATE pg_settings`, `"set_config"(...)`).
const RESOLUTION_SETTINGS: [&str; 9] = [
    "search_path",
    "schema",
    "role",
    "session_authorization",
    "authorization",
    "standard_conforming_strings",
    "backslash_quote",
    "client_encoding",
    "names",
];

fn hidden_setting(text: &str, words: &[String]) -> Option<&'static str> {
    let names = crate::migration_folder::sql::identifiers(text);
    let first = words.first().map(String::as_str)?;
    if names.iter().any(|name| name == "set_config") {
        return Some("set_config() can change search_path, and with it which tables the names after it mean");
    }
    let changes_resolution = |name: &String| RESOLUTION_SETTINGS.contains(&name.to_ascii_lowercase().as_str());
    match first {
        "SET" | "RESET" if names.iter().take(4).any(changes_resolution) => {
            Some("this setting changes how the statements after it are read or which objects their names mean")
        }
        "RESET" if names.get(1).is_some_and(|name| name == "all") => {
            Some("RESET ALL puts back every setting, search_path and role included, as the server has them")
        }
        "UPDATE" if names.iter().any(|name| name == "pg_settings") => {
            Some("an UPDATE of pg_settings changes a setting, and with it what the statements after it mean")
        }
        _ => None,
    }
}

/// Built-in functions, by name: a call of any other runs code the review cannot see.
const BUILTIN_FUNCTIONS: &str = include_str!("builtin_functions.txt");

/// SQL's own constructs that look like calls but are no function in pg_proc.
const SQL_CONSTRUCTS: [&str; 11] = [
    "coalesce",
    "greatest",
    "least",
    "nullif",
    "grouping",
    "xmlelement",
    "xmlforest",
    "xmlparse",
    "xmlpi",
    "xmlroot",
    "xmlserialize",
];

fn is_builtin(name: &str) -> bool {
    // A header line is a sentence: it never equals a name.
    SQL_CONSTRUCTS.contains(&name) || BUILTIN_FUNCTIONS.lines().any(|builtin| builtin == name)
}

/// Built-in operators, by name: any other calls a function the review cannot
/// see. (A built-in name overloaded for a type of the database's own is not told
/// apart: the review does not know the operands' types.)
const BUILTIN_OPERATORS: &str = include_str!("builtin_operators.txt");

fn is_builtin_operator(name: &str) -> bool {
    // A header line is a sentence: it never equals a name.
    BUILTIN_OPERATORS.lines().any(|builtin| builtin == name)
}

/// The operators `node` uses that are not built in: `a === b`, and
/// `OPERATOR(schema.op)` outside `pg_catalog`.
fn unknown_operators(node: &squawk_syntax::SyntaxNode) -> Vec<(usize, String)> {
    let squeeze = |text: String| text.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let mut found = Vec::new();
    for call in node.descendants().filter_map(ast::OperatorCall::cast) {
        let Some(op) = call.op() else { continue };
        let text = squeeze(op.syntax().text().to_string());
        let (schema, name) = match op.syntax().children().find_map(ast::PathRef::cast) {
            Some(path) => {
                let schema = squeeze(path.syntax().text().to_string());
                let name = text.strip_prefix(schema.as_str()).unwrap_or(&text).trim_start_matches('.').to_owned();
                (crate::migration_folder::sql::identifiers(&schema).join("."), name)
            }
            None => ("pg_catalog".to_owned(), text.clone()),
        };
        if schema != "pg_catalog" || !is_builtin_operator(&name) {
            found.push((call.syntax().text_range().start().into(), format!("OPERATOR({text})")));
        }
    }
    for custom in node.descendants().filter_map(ast::CustomOp::cast) {
        if custom.syntax().ancestors().any(|ancestor| ast::OperatorCall::can_cast(ancestor.kind())) {
            continue;
        }
        let name = squeeze(custom.syntax().text().to_string());
        if !is_builtin_operator(&name) {
            found.push((custom.syntax().text_range().start().into(), name));
        }
    }
    found
}

/// A statement run for its effect (`SELECT f()`, `VALUES (f())`) that calls a
/// function or an operator that is not built in: its body runs now, unseen. (A
/// call in a definition, a default of a new table, a view, runs later, on the
/// data.) The statements drizzle-kit's guards hold are read too.
fn unknown_calls(migration: &Migration, parse: &Parse<SourceFile>) -> Vec<Finding> {
    let mut findings = unknown_calls_in(migration, parse, 0);
    for (base, statement) in super::super::guarded_statements(migration) {
        findings.extend(unknown_calls_in(migration, &SourceFile::parse(statement), base));
    }
    findings
}

/// `unknown_calls` of `parse`, the text at byte `base` of the file.
fn unknown_calls_in(migration: &Migration, parse: &Parse<SourceFile>, base: usize) -> Vec<Finding> {
    let mut findings = Vec::new();
    for node in run_now(parse) {
        for call in node.descendants().filter_map(ast::CallExpr::cast) {
            let Some(callee) = call.expr() else { continue };
            // `f`, `"F"`, `s.f`, and keywords that name functions (`coalesce`, `left`).
            let path = crate::migration_folder::sql::identifiers(&callee.syntax().text().to_string());
            let known = match path.as_slice() {
                [name] => is_builtin(name),
                [schema, name] => schema == "pg_catalog" && is_builtin(name),
                _ => false,
            };
            if !known {
                findings.push(finding_at(
                    migration,
                    base + usize::from(call.syntax().text_range().start()),
                    RULE,
                    format!(
                        "`{}` is not a built-in function: its body runs here, and the review cannot see it",
                        path.join(".")
                    ),
                    Some(HELP.to_owned()),
                ));
            }
        }
        for (offset, operator) in unknown_operators(&node) {
            findings.push(finding_at(
                migration,
                base + offset,
                RULE,
                format!("`{operator}` is not a built-in operator: the function behind it runs here, and the review cannot see it"),
                Some(HELP.to_owned()),
            ));
        }
    }
    findings
}

/// What runs expressions now, on the data: whole statements that read or write
/// rows, check them (`ALTER TABLE`, `ALTER DOMAIN`) or open a cursor on them, and
/// a new partition's bounds; not a definition (a function, a view, a new table's
/// defaults), which runs later or never here.
fn run_now(parse: &Parse<SourceFile>) -> Vec<squawk_syntax::SyntaxNode> {
    parse
        .tree()
        .stmts()
        .flat_map(|statement| match statement {
            ast::Stmt::Select(_)
            | ast::Stmt::SelectInto(_)
            | ast::Stmt::Values(_)
            | ast::Stmt::Insert(_)
            | ast::Stmt::Update(_)
            | ast::Stmt::Delete(_)
            | ast::Stmt::Merge(_)
            | ast::Stmt::Explain(_)
            | ast::Stmt::CreateTableAs(_)
            | ast::Stmt::CreateMaterializedView(_)
            | ast::Stmt::Copy(_)
            | ast::Stmt::AlterTable(_)
            | ast::Stmt::AlterDomain(_)
            | ast::Stmt::Declare(_)
            | ast::Stmt::CreateIndex(_) => vec![statement.syntax().clone()],
            ast::Stmt::CreateTable(create) => {
                create.syntax().descendants().filter(|node| ast::PartitionType::can_cast(node.kind())).collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

/// `CREATE [OR REPLACE] [LOCAL|GLOBAL] TEMP[ORARY] ...`, or anything made in `pg_temp`.
fn creates_temporary(words: &[String]) -> bool {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let rest = match words.as_slice() {
        ["CREATE", "OR", "REPLACE", rest @ ..] | ["CREATE", rest @ ..] => rest,
        _ => return false,
    };
    let rest = match rest {
        ["LOCAL" | "GLOBAL", rest @ ..] => rest,
        rest => rest,
    };
    let temp_schema = |word: &&str| {
        *word == "PG_TEMP" || word.strip_prefix("PG_TEMP_").is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()))
    };
    matches!(rest.first(), Some(&("TEMP" | "TEMPORARY"))) || words.iter().any(temp_schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration_folder::sql::split_statements;

    #[test]
    fn operators_that_are_not_built_in_are_found() {
        let sql = "SELECT a @> b, a ->> 'k', x || y, 1 + 2, -x, OPERATOR(pg_catalog.+)(1, 2), \
                   a === b, x OPERATOR(ops.===) y, OPERATOR(ops.+)(1, 2), a OPERATOR( \"pg_catalog\" . && ) b FROM t";
        let found: Vec<String> = unknown_operators(SourceFile::parse(sql).tree().syntax())
            .into_iter()
            .map(|(_, operator)| operator)
            .collect();
        assert_eq!(found, ["OPERATOR(ops.===)", "OPERATOR(ops.+)", "==="]);
    }

    #[test]
    fn statements_with_hidden_effects_are_found() {
        let hidden = [
            "DO $$ BEGIN ALTER TABLE note DROP COLUMN legacy; END $$",
            "SET search_path TO ops",
            "set local search_path = ops, public",
            "SET standard_conforming_strings = off",
            "SELECT set_config('search_path', 'ops', false)",
            "CALL cleanup()",
            "SET ROLE app",
            "set local role app",
            "SET SESSION AUTHORIZATION app",
            "RESET ROLE",
            "CREATE TEMP TABLE users (id int)",
            "create local temporary table users (id int)",
            "CREATE TABLE pg_temp.users (id int)",
        ];
        let settings = [
            "SET LOCAL \"search_path\" TO ops, public",
            "set \"SEARCH_PATH\" = 'ops'",
            "UPDATE pg_settings SET setting = 'ops' WHERE name = 'search_path'",
            "SELECT \"set_config\"('search_path', 'ops', false)",
            "RESET \"role\"",
            "SET LOCAL SCHEMA 'ops'",
            "SET LOCAL SESSION AUTHORIZATION app",
            "RESET ALL",
            "SET client_encoding TO 'SJIS'",
            "SET NAMES 'SJIS'",
        ];
        for sql in settings {
            let statement = &split_statements(sql)[0];
            assert!(hidden_setting(statement.text(sql), &statement.words).is_some(), "{sql}");
        }
        for sql in ["SET lock_timeout = '1s'", "SET LOCAL statement_timeout TO '5min'", "UPDATE note SET role = 'x'"] {
            let statement = &split_statements(sql)[0];
            assert_eq!(hidden_setting(statement.text(sql), &statement.words), None, "{sql}");
        }
        for sql in hidden {
            assert!(hidden_effect(&split_statements(sql)[0].words).is_some(), "{sql}");
        }
        for sql in [
            "SET lock_timeout = '1s'",
            "ALTER TABLE t ADD COLUMN search_path text",
            "SELECT 1",
            "CREATE TABLE temp (id int, pg_temp_count int)",
            "ALTER TABLE t ADD COLUMN role text",
        ] {
            assert_eq!(hidden_effect(&split_statements(sql)[0].words), None, "{sql}");
        }
    }
}
