//! `non-transactional-statements`: a migration that runs outside a transaction
//! with more than one statement, or that goes on after its own `COMMIT`. If one
//! fails half-way, the ones before it stay applied and the migration is not
//! recorded: the rerun runs them again.

use super::super::{Finding, finding_at};
use crate::migration_folder::{Migration, TransactionMode};

pub const RULE: &str = crate::rule_names::OwnRule::NonTransactionalStatements.name();

pub fn findings(migration: &Migration) -> Vec<Finding> {
    let reason = match migration.mode {
        TransactionMode::NonTransactional(reason) => reason,
        TransactionMode::AsWritten { commits: true, line, statement } => {
            return after_own_commit(migration, line, statement);
        }
        _ => return Vec::new(),
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

/// Statements after the migration's own COMMIT run outside the transaction, one
/// message at a time, as drizzle's migrator runs them.
fn after_own_commit(migration: &Migration, commit_line: usize, commit: usize) -> Vec<Finding> {
    let after = migration.statements().filter(|statement| statement.number > commit).count();
    if after == 0 {
        return Vec::new();
    }
    vec![finding_at(
        migration,
        migration.text.len() - migration.text.trim_start().len(),
        RULE,
        format!("this migration's own COMMIT (line {commit_line}) ends the transaction, and {after} statement(s) follow it: a failure there leaves everything before it applied, unrecorded"),
        Some("make every statement safe to run twice (IF NOT EXISTS / IF EXISTS), or move what follows the COMMIT into a migration of its own".to_owned()),
    )]
}
