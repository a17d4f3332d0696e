//! Squawk's linter on one migration, told whether it runs in a transaction (our
//! plan knows: batched and own-transaction migrations do, alone ones do not).
//! The timeout rules are off unless an environment turns them on: the runner
//! sets lock_timeout and statement_timeout itself.

use squawk_linter::{Linter, Rule};
use squawk_syntax::{Parse, SourceFile};

use super::{Finding, OWN_RULES, finding_at};
use crate::config::{ReviewSettings, RuleLevel};
use crate::migrations::folder::{Migration, TransactionMode};

/// Squawk's rules that do not apply here, with why.
const OFF: [Rule; 3] = [
    // praxia-deploy runs every migration under the environment's timeouts.
    Rule::RequireTimeoutSettings,
    Rule::RequireLockTimeout,
    Rule::RequireStatementTimeout,
];

pub fn findings(migration: &Migration, parse: &Parse<SourceFile>, settings: &ReviewSettings) -> Vec<Finding> {
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
    let mut linter = Linter::with_rules(&on, &off);
    linter.settings.assume_in_transaction = !matches!(migration.mode, TransactionMode::NonTransactional(_));
    linter
        .lint(parse, &migration.text)
        .into_iter()
        // `-- squawk-ignore` may name our rules too (acknowledgements.rs honours
        // them): Squawk does not know those names.
        .filter(|violation| {
            violation.code != Rule::UnusedIgnore
                || !OWN_RULES.iter().any(|rule| violation.message.split_whitespace().any(|word| word == *rule))
        })
        .map(|violation| {
            let offset = usize::from(violation.text_range.start());
            finding_at(migration, offset, &violation.code.to_string(), violation.message, violation.help)
        })
        .collect()
}
