//! Squawk's linter on one migration, told whether it runs in a transaction (our
//! plan knows: batched and own-transaction migrations do, alone ones do not).
//! The timeout rules are off: the runner sets lock_timeout and statement_timeout.

use squawk_linter::{Linter, Rule};
use squawk_syntax::SourceFile;

use super::{Finding, Level, finding_at};
use crate::migrations::folder::{Migration, TransactionMode};

/// Squawk's rules that do not apply here, with why.
const OFF: [Rule; 3] = [
    // praxia-deploy runs every migration under the environment's timeouts.
    Rule::RequireTimeoutSettings,
    Rule::RequireLockTimeout,
    Rule::RequireStatementTimeout,
];

pub fn findings(migration: &Migration) -> Vec<Finding> {
    let parse = SourceFile::parse(&migration.text);
    let mut linter = Linter::with_rules(&[], &OFF);
    linter.settings.assume_in_transaction = !matches!(migration.mode, TransactionMode::NonTransactional(_));
    linter
        .lint(&parse, &migration.text)
        .into_iter()
        .map(|violation| {
            let offset = usize::from(violation.text_range.start());
            let rule = violation.code.to_string();
            finding_at(migration, offset, &rule, level_of(&rule), violation.message, violation.help)
        })
        .collect()
}

/// Squawk's `prefer-*` rules are about style (timestamptz, bigint, text, identity):
/// worth seeing, never worth failing a deploy. The rest are about locks and
/// compatibility with the running release.
fn level_of(rule: &str) -> Level {
    if rule.starts_with("prefer-") { Level::Warning } else { Level::Error }
}
