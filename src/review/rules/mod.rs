//! praxia-deploy's own rules, one file each, where Squawk has none and a Dokku
//! deploy needs one.

mod explicit_lock;
mod non_transactional_statements;
mod previous_release_overlap;
mod table_rewrite;
mod truncate_table;
mod unreviewable_statement;
mod whole_table_write;

pub use explicit_lock::RULE as EXPLICIT_LOCK;
pub use non_transactional_statements::RULE as NON_TRANSACTIONAL_STATEMENTS;
pub use previous_release_overlap::RULE as PREVIOUS_RELEASE_OVERLAP;
pub use table_rewrite::RULE as TABLE_REWRITE;
pub use unreviewable_statement::RULE as UNREVIEWABLE_STATEMENT;
pub use whole_table_write::RULE as WHOLE_TABLE_WRITE;

use squawk_syntax::{Parse, SourceFile};

use super::Finding;
use crate::migration_folder::Migration;

pub fn findings(migration: &Migration, parse: &Parse<SourceFile>) -> Vec<Finding> {
    let mut findings = previous_release_overlap::findings(migration, parse);
    findings.extend(non_transactional_statements::findings(migration));
    findings.extend(unreviewable_statement::findings(migration, parse));
    findings.extend(truncate_table::findings(migration, parse));
    findings.extend(whole_table_write::findings(migration, parse));
    findings.extend(table_rewrite::findings(migration, parse));
    findings.extend(explicit_lock::findings(migration, parse));
    findings
}
