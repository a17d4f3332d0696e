//! praxia-deploy's own rules, one file each, where Squawk has none and a Dokku
//! deploy needs one.

mod non_transactional_statements;
mod previous_release_overlap;

pub use non_transactional_statements::RULE as NON_TRANSACTIONAL_STATEMENTS;
pub use previous_release_overlap::RULE as PREVIOUS_RELEASE_OVERLAP;

use super::Finding;
use crate::migrations::folder::Migration;

pub fn findings(migration: &Migration) -> Vec<Finding> {
    let mut findings = previous_release_overlap::findings(migration);
    findings.extend(non_transactional_statements::findings(migration));
    findings
}
