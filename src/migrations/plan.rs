//! Deciding what to do: the folder compared with the rows already applied. Pure.

use serde::Serialize;

use super::folder::{Migration, MigrationFolder, TransactionMode};
use crate::error::{Error, ErrorKind};

/// A row of drizzle's bookkeeping table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppliedRow {
    pub id: i32,
    pub hash: String,
    /// The migration's `when`; drizzle's column is nullable.
    pub created_at: Option<i64>,
}

/// Whether a pending migration older than the newest applied one may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfOrder {
    Refuse,
    Allow,
}

/// Something that stops `migrate`: the folder and the database disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Problem {
    /// An applied migration's file changed since.
    EditedAfterApplied { tag: String, file: String, applied_hash: String, current_hash: String },
    /// An applied row matches no migration in the folder.
    MissingFromFolder { id: i32, hash: String, created_at: Option<i64> },
    /// A pending migration is older than the newest applied one (a branch merged late).
    OutOfOrder { tag: String, file: String, when: i64, newest_applied_when: i64 },
}

impl Problem {
    pub fn tag(&self) -> Option<&str> {
        match self {
            Problem::EditedAfterApplied { tag, .. } | Problem::OutOfOrder { tag, .. } => Some(tag),
            Problem::MissingFromFolder { .. } => None,
        }
    }

    /// One line for the status table and error notes.
    pub fn describe(&self) -> String {
        match self {
            Problem::EditedAfterApplied { tag, file, applied_hash, current_hash } => format!(
                "migration {tag} was edited after it was applied ({file}: applied hash {applied_hash}, current hash {current_hash})"
            ),
            Problem::MissingFromFolder { id, hash, created_at } => format!(
                "applied migration (row {id}, when {}, hash {hash}) is not in the folder",
                created_at.map_or("null".to_owned(), |when| when.to_string())
            ),
            Problem::OutOfOrder { tag, file, when, newest_applied_when } => format!(
                "pending migration {tag} ({file}, when {when}) is older than the newest applied one (when {newest_applied_when})"
            ),
        }
    }
}

/// Where the database stands against the folder.
#[derive(Debug, Clone)]
pub struct Plan<'f> {
    /// Applied migrations of the folder, in folder order, with their rows.
    pub applied: Vec<(&'f Migration, AppliedRow)>,
    /// What would run, in folder order.
    pub pending: Vec<&'f Migration>,
    pub problems: Vec<Problem>,
}

impl Plan<'_> {
    /// The refusal for `migrate` when there are problems: exit 4, every problem named.
    pub fn refusal(&self) -> Option<Error> {
        let first = self.problems.first()?;
        let (message, help) = match first {
            Problem::EditedAfterApplied { tag, .. } => (
                format!("migration {tag} was edited after it was applied"),
                "never edit an applied migration; restore the file and add a new one with `praxia-deploy new NAME`",
            ),
            Problem::MissingFromFolder { .. } => (
                "the database has an applied migration that is not in the folder".to_owned(),
                "deploy a build that has every applied migration (is this an older branch?), or restore the file and its journal entry",
            ),
            Problem::OutOfOrder { tag, .. } => (
                format!("migration {tag} is older than the newest applied migration"),
                "drizzle would skip it silently forever; give it a later `when` (re-create it with `praxia-deploy new`), or apply it anyway with --allow-out-of-order",
            ),
        };
        let mut error = Error::new(ErrorKind::Integrity, message);
        if let Problem::EditedAfterApplied { file, applied_hash, current_hash, .. } = first {
            error = error.note("file", file).note("applied hash", applied_hash).note("current hash", current_hash);
        }
        for problem in self.problems.iter().skip(usize::from(matches!(first, Problem::EditedAfterApplied { .. }))) {
            error = error.note("problem", problem.describe());
        }
        Some(error.help(help))
    }
}

/// Compares the folder with the applied rows. Rows are matched to migrations by
/// `when` (drizzle's `created_at`), then checked by hash.
pub fn plan<'f>(folder: &'f MigrationFolder, rows: &[AppliedRow], order: OutOfOrder) -> Plan<'f> {
    let mut applied = Vec::new();
    let mut problems = Vec::new();
    let mut is_applied = vec![false; folder.migrations.len()];

    for row in rows {
        let found =
            row.created_at.and_then(|when| folder.migrations.iter().position(|migration| migration.when == when));
        let Some(index) = found else {
            problems.push(Problem::MissingFromFolder {
                id: row.id,
                hash: row.hash.clone(),
                created_at: row.created_at,
            });
            continue;
        };
        if is_applied[index] {
            continue; // two racing drizzle migrators can record a migration twice
        }
        is_applied[index] = true;
        let migration = &folder.migrations[index];
        if migration.hash != row.hash {
            problems.push(Problem::EditedAfterApplied {
                tag: migration.tag.clone(),
                file: migration.file.display().to_string(),
                applied_hash: row.hash.clone(),
                current_hash: migration.hash.clone(),
            });
        }
        applied.push((index, row.clone()));
    }
    applied.sort_by_key(|(index, _)| *index);

    let newest_applied = rows.iter().filter_map(|row| row.created_at).max();
    let mut pending = Vec::new();
    for (index, migration) in folder.migrations.iter().enumerate() {
        if is_applied[index] {
            continue;
        }
        if let Some(newest) = newest_applied
            && migration.when < newest
            && order == OutOfOrder::Refuse
        {
            problems.push(Problem::OutOfOrder {
                tag: migration.tag.clone(),
                file: migration.file.display().to_string(),
                when: migration.when,
                newest_applied_when: newest,
            });
        }
        pending.push(migration);
    }

    Plan {
        applied: applied.into_iter().map(|(index, row)| (&folder.migrations[index], row)).collect(),
        pending,
        problems,
    }
}

/// How pending migrations run: consecutive transactional migrations share one
/// transaction; a migration that cannot run in one runs alone between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'f> {
    Batch(Vec<&'f Migration>),
    Alone(&'f Migration),
}

pub fn steps<'f>(pending: &[&'f Migration]) -> Vec<Step<'f>> {
    let mut steps = Vec::new();
    let mut batch = Vec::new();
    for &migration in pending {
        match migration.mode {
            TransactionMode::Transactional => batch.push(migration),
            TransactionMode::NonTransactional(_) => {
                if !batch.is_empty() {
                    steps.push(Step::Batch(std::mem::take(&mut batch)));
                }
                steps.push(Step::Alone(migration));
            }
        }
    }
    if !batch.is_empty() {
        steps.push(Step::Batch(batch));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::folder::tests::folder;

    fn three() -> MigrationFolder {
        folder(&[("0000_a", 100, "SELECT 1;"), ("0001_b", 200, "SELECT 2;"), ("0002_c", 300, "SELECT 3;")]).unwrap()
    }

    fn row(id: i32, migration: &Migration) -> AppliedRow {
        AppliedRow { id, hash: migration.hash.clone(), created_at: Some(migration.when) }
    }

    fn tags(migrations: &[&Migration]) -> Vec<String> {
        migrations.iter().map(|migration| migration.tag.clone()).collect()
    }

    #[test]
    fn an_empty_database_has_everything_pending() {
        let folder = three();
        let plan = plan(&folder, &[], OutOfOrder::Refuse);
        assert_eq!(tags(&plan.pending), ["0000_a", "0001_b", "0002_c"]);
        assert!(plan.applied.is_empty() && plan.problems.is_empty());
        assert!(plan.refusal().is_none());
    }

    #[test]
    fn applied_rows_are_matched_by_when_and_the_rest_is_pending() {
        let folder = three();
        let rows = [row(1, &folder.migrations[0]), row(2, &folder.migrations[1])];
        let plan = plan(&folder, &rows, OutOfOrder::Refuse);
        assert_eq!(tags(&plan.pending), ["0002_c"]);
        assert_eq!(plan.applied.len(), 2);
        assert!(plan.problems.is_empty());
    }

    #[test]
    fn everything_applied_means_nothing_to_do() {
        let folder = three();
        let rows: Vec<AppliedRow> = folder.migrations.iter().enumerate().map(|(i, m)| row(i as i32 + 1, m)).collect();
        let plan = plan(&folder, &rows, OutOfOrder::Refuse);
        assert!(plan.pending.is_empty() && plan.problems.is_empty());
    }

    #[test]
    fn an_edited_applied_migration_is_refused_naming_both_hashes() {
        let folder = three();
        let mut edited = row(1, &folder.migrations[0]);
        edited.hash = "0ld".into();
        let plan = plan(&folder, &[edited], OutOfOrder::Refuse);
        let err = plan.refusal().unwrap();
        assert_eq!(err.exit_code(), 4);
        let text = err.to_string();
        assert!(text.starts_with("migration 0000_a was edited after it was applied"), "{text}");
        assert!(text.contains("file: migrations/0000_a.sql"), "{text}");
        assert!(text.contains("applied hash: 0ld"), "{text}");
        assert!(text.contains(&format!("current hash: {}", folder.migrations[0].hash)), "{text}");
        assert!(text.contains("add a new one"), "{text}");
    }

    #[test]
    fn an_applied_row_missing_from_the_folder_is_refused() {
        let folder = three();
        let stranger = AppliedRow { id: 7, hash: "abc".into(), created_at: Some(150) };
        let plan = plan(&folder, &[row(1, &folder.migrations[0]), stranger], OutOfOrder::Refuse);
        assert_eq!(plan.problems, [Problem::MissingFromFolder { id: 7, hash: "abc".into(), created_at: Some(150) }]);
        assert_eq!(plan.refusal().unwrap().exit_code(), 4);
    }

    #[test]
    fn a_late_merged_migration_is_refused_unless_allowed() {
        let folder = three();
        let rows = [row(1, &folder.migrations[0]), row(2, &folder.migrations[2])];
        let refused = plan(&folder, &rows, OutOfOrder::Refuse);
        assert_eq!(
            refused.problems,
            [Problem::OutOfOrder {
                tag: "0001_b".into(),
                file: "migrations/0001_b.sql".into(),
                when: 200,
                newest_applied_when: 300
            }]
        );
        assert!(refused.refusal().unwrap().to_string().contains("--allow-out-of-order"));

        let allowed = plan(&folder, &rows, OutOfOrder::Allow);
        assert!(allowed.problems.is_empty());
        assert_eq!(tags(&allowed.pending), ["0001_b"]);
    }

    #[test]
    fn a_row_recorded_twice_by_racing_drizzle_migrators_counts_once() {
        let folder = three();
        let rows = [row(1, &folder.migrations[0]), row(2, &folder.migrations[0])];
        let plan = plan(&folder, &rows, OutOfOrder::Refuse);
        assert_eq!(plan.applied.len(), 1);
        assert!(plan.problems.is_empty());
    }

    #[test]
    fn non_transactional_migrations_split_the_batch() {
        let folder = folder(&[
            ("0000_a", 1, "SELECT 1;"),
            ("0001_b", 2, "SELECT 2;"),
            ("0002_idx", 3, "CREATE INDEX CONCURRENTLY i ON t (x);"),
            ("0003_d", 4, "SELECT 4;"),
            ("0004_vacuum", 5, "VACUUM t;"),
        ])
        .unwrap();
        let pending: Vec<&Migration> = folder.migrations.iter().collect();
        let m = |i: usize| &folder.migrations[i];
        assert_eq!(
            steps(&pending),
            [Step::Batch(vec![m(0), m(1)]), Step::Alone(m(2)), Step::Batch(vec![m(3)]), Step::Alone(m(4))]
        );
        assert_eq!(steps(&[]), []);
    }
}
