//! praxia-deploy's own rules, one file each, where Squawk has none and a Dokku
//! deploy needs one.

mod non_transactional_statements;
mod previous_release_overlap;

use super::Finding;
use crate::migrations::folder::Migration;

pub fn findings(migration: &Migration) -> Vec<Finding> {
    let mut findings = previous_release_overlap::findings(migration);
    findings.extend(non_transactional_statements::findings(migration));
    findings
}
