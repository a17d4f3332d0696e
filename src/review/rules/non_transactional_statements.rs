//! `non-transactional-statements`: a migration that runs outside a transaction
//! with more than one statement. If one fails half-way, the ones before it stay
//! applied and the migration is not recorded: the rerun runs them again.

use super::super::{Finding, finding_at};
use crate::migrations::folder::{Migration, TransactionMode};

pub const RULE: &str = "non-transactional-statements";

pub fn findings(migration: &Migration) -> Vec<Finding> {
    let TransactionMode::NonTransactional(reason) = migration.mode else {
        return Vec::new();
    };
    let count = migration.statement_count();
    if count <= 1 {
        return Vec::new();
    }
    vec![finding_at(
        migration,
        migration.text.len() - migration.text.trim_start().len(),
        RULE,
        format!("this migration runs outside a transaction ({reason}) and has {count} statements: a failure half-way leaves the earlier ones applied"),
        Some("give each non-transactional statement a migration of its own, or make every statement safe to run twice (IF NOT EXISTS / IF EXISTS)".to_owned()),
    )]
}
