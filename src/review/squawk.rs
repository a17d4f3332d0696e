//! Squawk's linter on one migration, told whether it runs in a transaction (our
//! plan knows: batched and own-transaction migrations do, alone ones do not).
//! The timeout rules are off unless an environment turns them on: the runner
//! sets lock_timeout and statement_timeout itself.

use squawk_linter::{Linter, Rule};
use squawk_syntax::ast::{self, AstNode};
use squawk_syntax::{Parse, SourceFile};

use super::rules::UNREVIEWABLE_STATEMENT;
use super::{Finding, Verdict, finding_at};
use crate::config::{ReviewSettings, RuleLevel};
use crate::migration_folder::{Migration, TransactionMode};
use crate::rule_names::OwnRule;

/// Squawk's rules that do not apply here, with why.
const OFF: [Rule; 3] = [
    // praxia-deploy runs every migration under the environment's timeouts.
    Rule::RequireTimeoutSettings,
    Rule::RequireLockTimeout,
    Rule::RequireStatementTimeout,
];

pub fn findings(migration: &Migration, parse: &Parse<SourceFile>, settings: &ReviewSettings) -> Vec<Finding> {
    let mut findings = unread(migration, parse);
    findings.extend(lint(migration, parse, &migration.text, 0, settings));
    findings
}

/// Squawk's findings on one statement, at byte `base` of the file: the one
/// drizzle-kit's `DO $$ BEGIN ... EXCEPTION WHEN duplicate_object THEN null;
/// END $$` guards (it runs, or does nothing), or one linted apart from the rest.
pub fn findings_on_statement(
    migration: &Migration,
    statement: &str,
    base: usize,
    settings: &ReviewSettings,
) -> Vec<Finding> {
    let parse = SourceFile::parse(statement);
    if let Some(error) = parse.errors().first() {
        return vec![finding_at(
            migration,
            base + usize::from(error.range().start()),
            UNREVIEWABLE_STATEMENT,
            format!("Squawk could not parse the statement this DO block guards ({}), so its rules did not check it", error.message()),
            Some("review the statement by hand; if it is safe, acknowledge it: `-- praxia-deploy: allow unreviewable-statement: <why>`".to_owned()),
        )];
    }
    lint(migration, &parse, statement, base, settings)
}

/// Squawk's rules on `text` (the file, or a statement in it at byte `base`).
fn lint(
    migration: &Migration,
    parse: &Parse<SourceFile>,
    text: &str,
    base: usize,
    settings: &ReviewSettings,
) -> Vec<Finding> {
    let configured = |wanted: fn(RuleLevel) -> bool| -> Vec<Rule> {
        settings
            .rules
            .iter()
            .filter(|(_, level)| wanted(**level))
            .filter_map(|(name, _)| Rule::try_from(name.as_str()).ok())
            .collect()
    };
    // Opt-in rules an environment sets to a level are turned on; rules it sets off are off.
    let on = configured(|level| level != RuleLevel::Off);
    let mut off = configured(|level| level == RuleLevel::Off);
    off.extend(OFF.iter().filter(|rule| !on.contains(rule)));
    // A migration's own BEGIN/COMMIT runs as drizzle runs it (`TransactionMode::AsWritten`);
    // what it means for a failure is `non-transactional-statements`' to say. A
    // `BEGIN;` it leaves open (as `lint --fix` ends its rewrites) is committed by
    // the migrator with the rest of the run: never left uncommitted.
    if matches!(migration.mode, TransactionMode::AsWritten { .. }) {
        off.push(Rule::TransactionNesting);
        off.push(Rule::BanUncommittedTransaction);
    }
    let mut linter = Linter::with_rules(&on, &off);
    linter.settings.assume_in_transaction = !matches!(migration.mode, TransactionMode::NonTransactional(_));
    // Where a name is a reference (ALTER TABLE ... DROP CONSTRAINT "<long>"), PostgreSQL
    // truncates it as it truncated the name it made: it finds the same object.
    let references: Vec<(usize, usize)> = parse
        .tree()
        .syntax()
        .descendants()
        .filter_map(ast::AnyNameRef::cast)
        .map(|reference| {
            let range = reference.syntax().text_range();
            (range.start().into(), range.end().into())
        })
        .collect();
    linter
        .lint(parse, text)
        .into_iter()
        // `-- squawk-ignore` may name our rules too (acknowledgements.rs honours
        // them): Squawk does not know those names.
        .filter(|violation| {
            violation.code != Rule::UnusedIgnore
                || !violation.message.split_whitespace().any(OwnRule::is_own)
        })
        .map(|violation| {
            let offset = base + usize::from(violation.text_range.start());
            let range = (usize::from(violation.text_range.start()), usize::from(violation.text_range.end()));
            let truncated_reference = violation.code == Rule::IdentifierTooLong && references.contains(&range);
            let mut finding =
                finding_at(migration, offset, &violation.code.to_string(), violation.message, violation.help);
            if truncated_reference {
                finding.verdict = Verdict::Harmless {
                    reason: "it names an existing object, and PostgreSQL truncates the name here as it did when it made the object".to_owned(),
                };
            }
            finding
        })
        .collect()
}

/// Where Squawk did not read the file as PostgreSQL will run it (a syntax it
/// does not know, strings read another way): its rules did not see all of it.
fn unread(migration: &Migration, parse: &Parse<SourceFile>) -> Vec<Finding> {
    let help = "review the statement by hand; if it is safe, acknowledge it: `-- praxia-deploy: allow unreviewable-statement: <why>`";
    if let Some(error) = parse.errors().first() {
        let offset = usize::from(error.range().start());
        return vec![finding_at(
            migration,
            offset,
            UNREVIEWABLE_STATEMENT,
            format!("Squawk could not parse this ({}), so its rules did not check it", error.message()),
            Some(help.to_owned()),
        )];
    }
    let squawk_reads = parse.tree().stmts().count();
    let postgres_runs = migration.statement_count();
    if squawk_reads != postgres_runs {
        let offset = migration.text.len() - migration.text.trim_start().len();
        return vec![finding_at(
            migration,
            offset,
            UNREVIEWABLE_STATEMENT,
            format!(
                "Squawk reads {squawk_reads} statements here where PostgreSQL will run {postgres_runs}, so some were not checked"
            ),
            Some(help.to_owned()),
        )];
    }
    Vec::new()
}
