//! praxia-deploy's own rules, one file each, where Squawk has none and a Dokku
//! deploy needs one.

mod non_transactional_statements;
mod previous_release_overlap;
mod unreviewable_statement;

pub use non_transactional_statements::RULE as NON_TRANSACTIONAL_STATEMENTS;
pub use previous_release_overlap::RULE as PREVIOUS_RELEASE_OVERLAP;
pub use unreviewable_statement::RULE as UNREVIEWABLE_STATEMENT;

use squawk_syntax::{Parse, SourceFile};

use super::Finding;
use crate::migrations::folder::Migration;

pub fn findings(migration: &Migration, parse: &Parse<SourceFile>) -> Vec<Finding> {
    let mut findings = previous_release_overlap::findings(migration, parse);
    findings.extend(non_transactional_statements::findings(migration));
    findings.extend(unreviewable_statement::findings(migration, parse));
    findings
}
