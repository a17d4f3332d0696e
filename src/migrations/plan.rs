//! Deciding what to do: the folder compared with the rows already applied. Pure.

use std::collections::HashMap;

use serde::Serialize;

use crate::error::{Error, ErrorKind};
use crate::migration_folder::{Layout, Migration, MigrationFolder, TransactionMode};

/// A row of drizzle's bookkeeping table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AppliedRow {
    pub id: i32,
    pub hash: String,
    /// The migration's `when`; drizzle's column is nullable.
    pub created_at: Option<i64>,
    /// drizzle 1.0's `name` (the migration folder's name); None in the 0.x shape,
    /// and in rows a 0.x migrator wrote into a 1.0 table.
    pub name: Option<String>,
}

/// Which columns drizzle's bookkeeping table has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableShape {
    /// Not created yet.
    Missing,
    /// drizzle-orm 0.x: `id, hash, created_at`.
    Drizzle0,
    /// drizzle-orm 1.0: also `name` and `applied_at`.
    Drizzle1,
}

impl std::fmt::Display for TableShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TableShape::Missing => "not created yet",
            TableShape::Drizzle0 => "drizzle-orm 0.x shape (id, hash, created_at)",
            TableShape::Drizzle1 => "drizzle-orm 1.0 shape (id, hash, created_at, name, applied_at)",
        })
    }
}

/// What the bookkeeping table holds: its shape and its rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct AppliedRows {
    pub shape: TableShape,
    pub rows: Vec<AppliedRow>,
}

impl AppliedRows {
    pub fn none() -> AppliedRows {
        AppliedRows { shape: TableShape::Missing, rows: Vec::new() }
    }
}

/// How many problems an error lists before it says how many more there are.
const MAX_PROBLEM_NOTES: usize = 10;

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
    MissingFromFolder { id: i32, hash: String, created_at: Option<i64>, name: Option<String> },
    /// A pending migration sorts before the newest applied one (a branch merged late).
    OutOfOrder { tag: String, file: String, when: i64, newest_applied_tag: String, newest_applied_when: i64 },
    /// A pending migration holds a statement praxia-deploy cannot run.
    Unrunnable { tag: String, problem: String, help: String },
}

impl Problem {
    pub fn tag(&self) -> Option<&str> {
        match self {
            Problem::EditedAfterApplied { tag, .. }
            | Problem::OutOfOrder { tag, .. }
            | Problem::Unrunnable { tag, .. } => Some(tag),
            Problem::MissingFromFolder { .. } => None,
        }
    }

    /// One line for the status table and error notes.
    pub fn describe(&self) -> String {
        match self {
            Problem::EditedAfterApplied { tag, file, applied_hash, current_hash } => format!(
                "migration {tag} was edited after it was applied ({file}: applied hash {applied_hash}, current hash {current_hash})"
            ),
            Problem::MissingFromFolder { id, hash, created_at, name } => format!(
                "applied migration (row {id}{}, when {}, hash {hash}) is not in the folder",
                name.as_ref().map_or(String::new(), |name| format!(", name {name}")),
                created_at.map_or("null".to_owned(), |when| when.to_string())
            ),
            Problem::OutOfOrder { tag, file, newest_applied_tag, .. } => {
                format!("pending migration {tag} ({file}) comes before the newest applied one, {newest_applied_tag}")
            }
            Problem::Unrunnable { problem, .. } => problem.clone(),
        }
    }
}

/// A bookkeeping row that gets its drizzle 1.0 `name` written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NameBackfill {
    pub id: i32,
    pub name: String,
}

/// What the next transaction that writes bookkeeping does to the table first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableWork {
    /// The shape rows are written in (and the table created in, when missing).
    pub write_shape: TableShape,
    /// A 0.x table meeting a drizzle 1.0 folder gets `name` and `applied_at`, as
    /// drizzle-orm 1.0's own migrator adds them.
    pub widen: bool,
    /// Rows of applied migrations that get their `name` (all of them when widening).
    pub names: Vec<NameBackfill>,
}

/// Where the database stands against the folder.
#[derive(Debug, Clone)]
pub struct Plan<'f> {
    pub layout: Layout,
    /// The table's shape as read.
    pub found_shape: TableShape,
    /// Applied migrations of the folder, in folder order, with their rows.
    pub applied: Vec<(&'f Migration, AppliedRow)>,
    /// What would run, in folder order.
    pub pending: Vec<&'f Migration>,
    /// The contract parts this run holds back (`migrations::contract`): reviewed
    /// now with their expand parts, so that the gate decides on the whole file
    /// before any of it runs.
    pub held_back: Vec<&'f Migration>,
    /// Whether a contract part in `pending` runs only once the previous release
    /// has retired (`release`, `contract`): its findings about clients breaking
    /// are excused then, and judged as they are for `migrate`.
    pub contract_waits: bool,
    pub problems: Vec<Problem>,
    pub table: TableWork,
}

impl Plan<'_> {
    /// Rows of a drizzle 1.0 table with no `name`: drizzle-orm 1.0 would run their
    /// migrations again, so `migrate` and `release` write the names even when
    /// nothing is pending.
    pub fn names_missing(&self) -> &[NameBackfill] {
        if self.found_shape == TableShape::Drizzle1 { &self.table.names } else { &[] }
    }

    /// The refusal for `migrate` when there are problems: exit 4, every problem named.
    pub fn refusal(&self) -> Option<Error> {
        let first = self.problems.first()?;
        let (message, help) = match first {
            Problem::EditedAfterApplied { tag, .. } => (
                format!("migration {tag} was edited after it was applied"),
                "never edit an applied migration: restore the file (from version control), then make the change in the \
                 TypeScript schema and run `praxia-deploy generate NAME` for a new one"
                    .to_owned(),
            ),
            Problem::MissingFromFolder { .. } => (
                "the database has an applied migration that is not in the folder".to_owned(),
                match self.layout {
                    Layout::Journal => "deploy a build that has every applied migration (is this an older branch?), or restore the file and its journal entry",
                    Layout::Folders => "deploy a build that has every applied migration (is this an older branch?), or restore its <timestamp>_<name>/ folder",
                }
                .to_owned(),
            ),
            Problem::OutOfOrder { tag, newest_applied_tag, .. } => (
                match self.layout {
                    Layout::Journal => format!("migration {tag} is older than the newest applied migration, {newest_applied_tag}"),
                    Layout::Folders => format!("migration {tag} comes before the newest applied migration, {newest_applied_tag}"),
                },
                match self.layout {
                    Layout::Journal => "drizzle-orm 0.x would skip it silently forever; give it a later `when` (re-create it with `praxia-deploy new`), or apply it anyway with --allow-out-of-order".to_owned(),
                    Layout::Folders => format!(
                        "drizzle-orm 1.0 would apply it silently, after migrations written later than it; if it was never applied anywhere, rename its folder to a timestamp after {newest_applied_tag}, or apply it anyway with --allow-out-of-order"
                    ),
                },
            ),
            Problem::Unrunnable { problem, help, .. } => (problem.clone(), help.clone()),
        };
        let mut error = Error::new(ErrorKind::Integrity, message);
        if let Problem::EditedAfterApplied { file, applied_hash, current_hash, .. } = first {
            error = error.note("file", file).note("applied hash", applied_hash).note("current hash", current_hash);
        }
        let rest: Vec<&Problem> = self
            .problems
            .iter()
            .skip(usize::from(matches!(first, Problem::EditedAfterApplied { .. } | Problem::Unrunnable { .. })))
            .collect();
        for problem in rest.iter().take(MAX_PROBLEM_NOTES) {
            error = error.note("problem", problem.describe());
        }
        if rest.len() > MAX_PROBLEM_NOTES {
            error = error.note(
                "and",
                format!(
                    "{} more problems (`praxia-deploy status --output json` lists them all)",
                    rest.len() - MAX_PROBLEM_NOTES
                ),
            );
        }
        Some(error.help(help))
    }
}

/// Compares the folder with the applied rows. Identity follows the layout: the
/// journal's `when` (drizzle 0.x's `created_at`) for the journal layout, the
/// folder `name` for drizzle 1.0's; a row without a name is matched the way
/// drizzle-orm 1.0 matches it when it upgrades the table. Then checked by hash.
pub fn plan<'f>(folder: &'f MigrationFolder, applied_rows: &AppliedRows, order: OutOfOrder) -> Plan<'f> {
    let mut applied = Vec::new();
    let mut problems = Vec::new();
    let mut names = Vec::new();
    let mut is_applied = vec![false; folder.migrations.len()];
    let shape = table_shape_for(folder.layout, applied_rows.shape);
    let index = FolderIndex::of(folder);

    for row in &applied_rows.rows {
        let Some(index) = index.match_row(folder, row, &is_applied) else {
            problems.push(Problem::MissingFromFolder {
                id: row.id,
                hash: row.hash.clone(),
                created_at: row.created_at,
                name: row.name.clone(),
            });
            continue;
        };
        let migration = &folder.migrations[index];
        if shape == TableShape::Drizzle1 && row.name.is_none() {
            names.push(NameBackfill { id: row.id, name: migration.name.clone() });
        }
        let duplicate = is_applied[index]; // two racing drizzle migrators can record a migration twice
        is_applied[index] = true;
        if migration.hash != row.hash {
            problems.push(Problem::EditedAfterApplied {
                tag: migration.tag.clone(),
                file: migration.file.display().to_string(),
                applied_hash: row.hash.clone(),
                current_hash: migration.hash.clone(),
            });
        }
        if !duplicate {
            applied.push((index, row.clone()));
        }
    }
    applied.sort_by_key(|(index, _)| *index);

    // What comes too late, as each drizzle sees it: drizzle-orm 0.x runs only the
    // journal entries whose `when` is after the newest applied one (a journal's
    // `when` may go back where a branch was merged); 1.0 runs every folder not
    // applied, in name order, wherever it falls.
    let newest_applied = match folder.layout {
        Layout::Journal => applied.iter().max_by_key(|(index, _)| folder.migrations[*index].when),
        Layout::Folders => applied.last(),
    }
    .map(|(index, _)| (*index, &folder.migrations[*index]));
    let mut pending = Vec::new();
    for (index, migration) in folder.migrations.iter().enumerate() {
        if is_applied[index] {
            continue;
        }
        let late = newest_applied.is_some_and(|(newest_index, newest)| match folder.layout {
            Layout::Journal => migration.when <= newest.when,
            Layout::Folders => index < newest_index,
        });
        if let Some((_, newest)) = newest_applied
            && late
            && order == OutOfOrder::Refuse
        {
            problems.push(Problem::OutOfOrder {
                tag: migration.tag.clone(),
                file: migration.file.display().to_string(),
                when: migration.when,
                newest_applied_tag: newest.tag.clone(),
                newest_applied_when: newest.when,
            });
        }
        if let Some(unrunnable) = &migration.unrunnable {
            problems.push(Problem::Unrunnable {
                tag: migration.tag.clone(),
                problem: unrunnable.problem.clone(),
                help: unrunnable.help.to_owned(),
            });
        }
        pending.push(migration);
    }

    Plan {
        layout: folder.layout,
        found_shape: applied_rows.shape,
        applied: applied.into_iter().map(|(index, row)| (&folder.migrations[index], row)).collect(),
        pending,
        held_back: Vec::new(),
        contract_waits: false,
        problems,
        table: TableWork {
            write_shape: shape,
            widen: applied_rows.shape == TableShape::Drizzle0 && shape == TableShape::Drizzle1,
            names,
        },
    }
}

/// The shape rows are written in: a drizzle 1.0 folder always gets drizzle 1.0's
/// table (a NULL name would make drizzle-orm 1.0 run the migration again); a
/// journal folder keeps the table it finds, or gets drizzle 0.x's.
fn table_shape_for(layout: Layout, found: TableShape) -> TableShape {
    match (layout, found) {
        (Layout::Folders, _) | (Layout::Journal, TableShape::Drizzle1) => TableShape::Drizzle1,
        (Layout::Journal, TableShape::Missing | TableShape::Drizzle0) => TableShape::Drizzle0,
    }
}

/// The folder's migrations by `when` and by `name` (first of each), so that
/// matching a thousand rows stays linear.
struct FolderIndex<'f> {
    by_when: HashMap<i64, usize>,
    by_name: HashMap<&'f str, usize>,
}

impl<'f> FolderIndex<'f> {
    fn of(folder: &'f MigrationFolder) -> FolderIndex<'f> {
        let mut by_when = HashMap::with_capacity(folder.migrations.len());
        let mut by_name = HashMap::with_capacity(folder.migrations.len());
        for (index, migration) in folder.migrations.iter().enumerate() {
            by_when.entry(migration.when).or_insert(index);
            by_name.entry(migration.name.as_str()).or_insert(index);
        }
        FolderIndex { by_when, by_name }
    }

    /// The folder index of the migration a row records. `taken` marks migrations
    /// earlier rows matched already.
    fn match_row(&self, folder: &MigrationFolder, row: &AppliedRow, taken: &[bool]) -> Option<usize> {
        let by_name = |name: &str| self.by_name.get(name).copied();
        match (folder.layout, &row.name) {
            (Layout::Folders, Some(name)) => by_name(name),
            (Layout::Folders, None) => match_like_drizzle_upgrade(&folder.migrations, row, taken),
            (Layout::Journal, name) => row
                .created_at
                .and_then(|when| self.by_when.get(&when).copied())
                .or_else(|| name.as_deref().and_then(by_name)),
        }
    }
}

/// drizzle-orm 1.0's upgrade of a 0.x table (`up-migrations/pg.ts`): `created_at`
/// truncated to the second against the folder times; one candidate is the match,
/// several are told apart by hash (the first), none falls back to the hash alone
/// (drizzle's map keeps the last migration with it). Where drizzle would give two
/// rows the same migration and leave another with the same hash unmatched (two
/// identical files), a migration no earlier row took is preferred: drizzle-orm 1.0
/// would run that one again, praxia-deploy records it.
fn match_like_drizzle_upgrade(migrations: &[Migration], row: &AppliedRow, taken: &[bool]) -> Option<usize> {
    let same_hash = |candidates: &[usize]| -> Vec<usize> {
        candidates.iter().copied().filter(|&i| migrations[i].hash == row.hash).collect()
    };
    let second = row.created_at.map(|created_at| created_at.div_euclid(1000) * 1000);
    let candidates: Vec<usize> =
        (0..migrations.len()).filter(|&i| second.is_some_and(|second| migrations[i].when == second)).collect();
    let (matching, drizzles) = match candidates.as_slice() {
        [only] => return Some(*only),
        [] => {
            let matching = same_hash(&(0..migrations.len()).collect::<Vec<_>>());
            let last = matching.last().copied();
            (matching, last)
        }
        several => {
            let matching = same_hash(several);
            let first = matching.first().copied();
            (matching, first)
        }
    };
    let drizzles = drizzles?;
    if !taken[drizzles] {
        return Some(drizzles);
    }
    Some(matching.into_iter().find(|&i| !taken[i]).unwrap_or(drizzles))
}

/// How pending migrations run: consecutive transactional migrations share one
/// transaction; a migration that cannot run in one runs alone between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'f> {
    Batch(Vec<&'f Migration>),
    Alone(&'f Migration),
    /// A migration that controls its transaction, run as drizzle runs it.
    AsWritten(&'f Migration),
    /// No migration, only the bookkeeping table's work (drizzle 1.0 names to write).
    Bookkeeping,
}

impl<'f> Step<'f> {
    /// The migrations it runs, in order; those of a `Batch` share one transaction.
    pub fn migrations(&self) -> &[&'f Migration] {
        match self {
            Step::Batch(migrations) => migrations,
            Step::Alone(migration) | Step::AsWritten(migration) => std::slice::from_ref(migration),
            Step::Bookkeeping => &[],
        }
    }
}

impl<'f> Plan<'f> {
    /// How what is pending runs; batches of at most `batch_size` migrations when given.
    pub fn steps(&self, batch_size: Option<usize>) -> Vec<Step<'f>> {
        if self.pending.is_empty() {
            return if self.names_missing().is_empty() { Vec::new() } else { vec![Step::Bookkeeping] };
        }
        let steps = steps(&self.pending);
        let Some(size) = batch_size.filter(|&size| size > 0) else {
            return steps;
        };
        steps
            .into_iter()
            .flat_map(|step| match step {
                Step::Batch(migrations) => migrations.chunks(size).map(|part| Step::Batch(part.to_vec())).collect(),
                other => vec![other],
            })
            .collect()
    }
}

pub fn steps<'f>(pending: &[&'f Migration]) -> Vec<Step<'f>> {
    let mut steps = Vec::new();
    let mut batch = Vec::new();
    for &migration in pending {
        match migration.mode {
            TransactionMode::Transactional => batch.push(migration),
            TransactionMode::OwnTransaction(_) => {
                if !batch.is_empty() {
                    steps.push(Step::Batch(std::mem::take(&mut batch)));
                }
                steps.push(Step::Batch(vec![migration]));
            }
            TransactionMode::NonTransactional(_) => {
                if !batch.is_empty() {
                    steps.push(Step::Batch(std::mem::take(&mut batch)));
                }
                steps.push(Step::Alone(migration));
            }
            TransactionMode::AsWritten { .. } => {
                if !batch.is_empty() {
                    steps.push(Step::Batch(std::mem::take(&mut batch)));
                }
                steps.push(Step::AsWritten(migration));
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
    use crate::migration_folder::tests::{folder, folders};

    fn three() -> MigrationFolder {
        folder(&[("0000_a", 100, "SELECT 1;"), ("0001_b", 200, "SELECT 2;"), ("0002_c", 300, "SELECT 3;")]).unwrap()
    }

    fn row(id: i32, migration: &Migration) -> AppliedRow {
        AppliedRow { id, hash: migration.hash.clone(), created_at: Some(migration.when), name: None }
    }

    /// Rows of a drizzle 0.x table.
    fn old(rows: &[AppliedRow]) -> AppliedRows {
        AppliedRows { shape: TableShape::Drizzle0, rows: rows.to_vec() }
    }

    fn tags(migrations: &[&Migration]) -> Vec<String> {
        migrations.iter().map(|migration| migration.tag.clone()).collect()
    }

    #[test]
    fn an_empty_database_has_everything_pending() {
        let folder = three();
        let plan = plan(&folder, &AppliedRows::none(), OutOfOrder::Refuse);
        assert_eq!(tags(&plan.pending), ["0000_a", "0001_b", "0002_c"]);
        assert!(plan.applied.is_empty() && plan.problems.is_empty());
        assert!(plan.refusal().is_none());
    }

    #[test]
    fn applied_rows_are_matched_by_when_and_the_rest_is_pending() {
        let folder = three();
        let rows = [row(1, &folder.migrations[0]), row(2, &folder.migrations[1])];
        let plan = plan(&folder, &old(&rows), OutOfOrder::Refuse);
        assert_eq!(tags(&plan.pending), ["0002_c"]);
        assert_eq!(plan.applied.len(), 2);
        assert!(plan.problems.is_empty());
    }

    #[test]
    fn in_a_journal_too_late_is_what_drizzle_0x_would_skip_judged_by_when() {
        // Applied: a (100) and b (300). Appended with an older `when`: drizzle 0.x
        // skips c forever. Inserted mid-journal with a newer one: drizzle runs d.
        let folder = folder(&[
            ("0000_a", 100, "SELECT 1;"),
            ("0003_d", 400, "SELECT 4;"),
            ("0001_b", 300, "SELECT 2;"),
            ("0002_c", 200, "SELECT 3;"),
        ])
        .unwrap();
        let rows = [row(1, &folder.migrations[0]), row(2, &folder.migrations[2])];
        let plan = plan(&folder, &old(&rows), OutOfOrder::Refuse);
        let late: Vec<&str> = plan
            .problems
            .iter()
            .filter_map(|problem| match problem {
                Problem::OutOfOrder { tag, .. } => Some(tag.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(late, ["0002_c"]);
        assert_eq!(tags(&plan.pending), ["0003_d", "0002_c"]);
    }

    #[test]
    fn what_cannot_run_is_refused_while_pending_and_history_once_applied() {
        // A ROLLBACK would undo the run's earlier migrations under drizzle.
        let folder = folder(&[
            ("0000_a", 100, "CREATE TABLE t ();\nROLLBACK;\nCREATE INDEX CONCURRENTLY i ON t (x);"),
            ("0001_b", 200, "SELECT 1;"),
        ])
        .unwrap();
        let pending = plan(&folder, &AppliedRows::none(), OutOfOrder::Refuse);
        let refusal = pending.refusal().expect("refused while pending").to_string();
        assert!(
            refusal.contains("0000_a.sql:2:1: migration `0000_a` undoes the transaction itself (ROLLBACK)"),
            "{refusal}"
        );
        let applied = plan(&folder, &old(&[row(1, &folder.migrations[0])]), OutOfOrder::Refuse);
        assert!(applied.refusal().is_none(), "applied: verified by its hash alone");
        assert_eq!(tags(&applied.pending), ["0001_b"]);
    }

    #[test]
    fn a_migration_that_commits_itself_runs_alone_as_written() {
        // Real projects leave drizzle's transaction with COMMIT on purpose.
        let folder = folder(&[
            ("0000_a", 100, "SELECT 1;"),
            ("0001_b", 200, "CREATE TABLE t ();\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON t (x);"),
            ("0002_c", 300, "SELECT 2;"),
        ])
        .unwrap();
        let plan = plan(&folder, &AppliedRows::none(), OutOfOrder::Refuse);
        assert!(plan.refusal().is_none());
        let m = |i: usize| &folder.migrations[i];
        assert_eq!(m(1).mode, TransactionMode::AsWritten { commits: true, line: 2, statement: 2 });
        assert_eq!(plan.steps(None), [Step::Batch(vec![m(0)]), Step::AsWritten(m(1)), Step::Batch(vec![m(2)])]);
    }

    #[test]
    fn everything_applied_means_nothing_to_do() {
        let folder = three();
        let rows: Vec<AppliedRow> = folder.migrations.iter().enumerate().map(|(i, m)| row(i as i32 + 1, m)).collect();
        let plan = plan(&folder, &old(&rows), OutOfOrder::Refuse);
        assert!(plan.pending.is_empty() && plan.problems.is_empty());
    }

    #[test]
    fn an_edited_applied_migration_is_refused_naming_both_hashes() {
        let folder = three();
        let mut edited = row(1, &folder.migrations[0]);
        edited.hash = "0ld".into();
        let plan = plan(&folder, &old(&[edited]), OutOfOrder::Refuse);
        let err = plan.refusal().unwrap();
        assert_eq!(err.exit_code(), 4);
        let text = err.to_string();
        assert!(text.starts_with("migration 0000_a was edited after it was applied"), "{text}");
        assert!(text.contains("file: migrations/0000_a.sql"), "{text}");
        assert!(text.contains("applied hash: 0ld"), "{text}");
        assert!(text.contains(&format!("current hash: {}", folder.migrations[0].hash)), "{text}");
        assert!(text.contains("run `praxia-deploy generate NAME` for a new one"), "{text}");
    }

    #[test]
    fn an_applied_row_missing_from_the_folder_is_refused() {
        let folder = three();
        let stranger = AppliedRow { id: 7, hash: "abc".into(), created_at: Some(150), name: None };
        let plan = plan(&folder, &old(&[row(1, &folder.migrations[0]), stranger]), OutOfOrder::Refuse);
        assert_eq!(
            plan.problems,
            [Problem::MissingFromFolder { id: 7, hash: "abc".into(), created_at: Some(150), name: None }]
        );
        assert_eq!(plan.refusal().unwrap().exit_code(), 4);
    }

    #[test]
    fn a_late_merged_migration_is_refused_unless_allowed() {
        let folder = three();
        let rows = [row(1, &folder.migrations[0]), row(2, &folder.migrations[2])];
        let refused = plan(&folder, &old(&rows), OutOfOrder::Refuse);
        assert_eq!(
            refused.problems,
            [Problem::OutOfOrder {
                tag: "0001_b".into(),
                file: "migrations/0001_b.sql".into(),
                when: 200,
                newest_applied_tag: "0002_c".into(),
                newest_applied_when: 300
            }]
        );
        assert!(refused.refusal().unwrap().to_string().contains("--allow-out-of-order"));

        let allowed = plan(&folder, &old(&rows), OutOfOrder::Allow);
        assert!(allowed.problems.is_empty());
        assert_eq!(tags(&allowed.pending), ["0001_b"]);
    }

    #[test]
    fn a_row_recorded_twice_by_racing_drizzle_migrators_counts_once() {
        let folder = three();
        let rows = [row(1, &folder.migrations[0]), row(2, &folder.migrations[0])];
        let plan = plan(&folder, &old(&rows), OutOfOrder::Refuse);
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

    fn three_folders() -> MigrationFolder {
        folders(&[
            ("20250101000000_a", "SELECT 1;"),
            ("20250102000000_b", "SELECT 2;"),
            ("20250103000000_c", "SELECT 3;"),
        ])
        .unwrap()
    }

    /// A row as drizzle-orm 1.0 writes it: `created_at` the folder time, `name` the folder.
    fn named(id: i32, migration: &Migration) -> AppliedRow {
        AppliedRow { name: Some(migration.name.clone()), ..row(id, migration) }
    }

    fn new_shape(rows: &[AppliedRow]) -> AppliedRows {
        AppliedRows { shape: TableShape::Drizzle1, rows: rows.to_vec() }
    }

    #[test]
    fn a_drizzle_1_table_is_matched_by_name_whatever_created_at_says() {
        let folder = three_folders();
        let mut first = named(1, &folder.migrations[0]);
        first.created_at = Some(42);
        let plan = plan(&folder, &new_shape(&[first, named(2, &folder.migrations[1])]), OutOfOrder::Refuse);
        assert_eq!(tags(&plan.pending), ["20250103000000_c"]);
        assert!(plan.problems.is_empty() && plan.names_missing().is_empty());
        assert_eq!(plan.table, TableWork { write_shape: TableShape::Drizzle1, widen: false, names: vec![] });

        let stranger = AppliedRow { name: Some("20240101000000_gone".into()), ..named(3, &folder.migrations[2]) };
        let plan = super::plan(&folder, &new_shape(&[stranger]), OutOfOrder::Refuse);
        assert!(
            matches!(&plan.problems[..], [Problem::MissingFromFolder { id: 3, name: Some(_), .. }]),
            "{:?}",
            plan.problems
        );
        assert!(plan.refusal().unwrap().help.unwrap().contains("<timestamp>_<name>/ folder"));
    }

    #[test]
    fn a_0x_table_under_a_drizzle_1_folder_is_read_as_drizzle_1_upgrades_it_and_widened_when_written() {
        let folder = three_folders();
        // Written by a journal-layout run before `drizzle-kit up`: `when` had milliseconds.
        let mut first = row(1, &folder.migrations[0]);
        first.created_at = Some(folder.migrations[0].when + 123);
        let rows = old(&[first, row(2, &folder.migrations[1])]);
        let plan = plan(&folder, &rows, OutOfOrder::Refuse);
        assert_eq!(tags(&plan.pending), ["20250103000000_c"]);
        assert!(plan.problems.is_empty());
        assert!(plan.names_missing().is_empty(), "a 0.x table is read, not repaired, until something is written");
        assert_eq!(
            plan.table,
            TableWork {
                write_shape: TableShape::Drizzle1,
                widen: true,
                names: vec![
                    NameBackfill { id: 1, name: "20250101000000_a".into() },
                    NameBackfill { id: 2, name: "20250102000000_b".into() }
                ]
            }
        );
    }

    #[test]
    fn rows_sharing_a_second_are_told_apart_by_hash_and_an_unknown_time_falls_back_to_the_hash() {
        let folder = three_folders();
        let mut by_hash = row(1, &folder.migrations[2]);
        by_hash.created_at = None;
        let plan = plan(&folder, &old(&[by_hash]), OutOfOrder::Allow);
        assert_eq!(plan.applied[0].0.tag, "20250103000000_c");
        let mut unknown = row(1, &folder.migrations[2]);
        unknown.created_at = Some(7);
        unknown.hash = "nothing-like-it".into();
        let plan = super::plan(&folder, &old(&[unknown]), OutOfOrder::Allow);
        assert!(matches!(&plan.problems[..], [Problem::MissingFromFolder { id: 1, .. }]));
    }

    #[test]
    fn rows_without_a_name_in_a_drizzle_1_table_must_get_one_or_drizzle_1_runs_them_again() {
        let folder = three_folders();
        let rows = new_shape(&[named(1, &folder.migrations[0]), row(2, &folder.migrations[1])]);
        let plan = plan(&folder, &rows, OutOfOrder::Refuse);
        assert_eq!(tags(&plan.pending), ["20250103000000_c"]);
        assert_eq!(plan.names_missing(), [NameBackfill { id: 2, name: "20250102000000_b".into() }]);
    }

    #[test]
    fn a_journal_folder_on_a_drizzle_1_table_writes_the_names_drizzle_kit_up_will_give() {
        let folder = three();
        let rows = new_shape(&[row(1, &folder.migrations[0])]);
        let plan = plan(&folder, &rows, OutOfOrder::Refuse);
        assert_eq!(plan.table.write_shape, TableShape::Drizzle1);
        assert_eq!(plan.names_missing(), [NameBackfill { id: 1, name: folder.migrations[0].name.clone() }]);
        // A journal folder keeps a 0.x table as it is, and creates one when missing.
        assert_eq!(super::plan(&folder, &old(&[]), OutOfOrder::Refuse).table.write_shape, TableShape::Drizzle0);
        assert_eq!(
            super::plan(&folder, &AppliedRows::none(), OutOfOrder::Refuse).table.write_shape,
            TableShape::Drizzle0
        );
        assert_eq!(
            super::plan(&three_folders(), &AppliedRows::none(), OutOfOrder::Refuse).table.write_shape,
            TableShape::Drizzle1
        );
    }

    #[test]
    fn a_late_merged_drizzle_1_migration_is_refused_with_the_folder_fix() {
        let folder = three_folders();
        let rows = new_shape(&[named(1, &folder.migrations[0]), named(2, &folder.migrations[2])]);
        let refused = plan(&folder, &rows, OutOfOrder::Refuse);
        let err = refused.refusal().unwrap();
        assert_eq!(err.exit_code(), 4);
        assert!(
            err.message.contains("20250102000000_b comes before the newest applied migration, 20250103000000_c"),
            "{err}"
        );
        assert!(err.help.as_deref().unwrap().contains("rename its folder"), "{err}");
        assert_eq!(tags(&plan(&folder, &rows, OutOfOrder::Allow).pending), ["20250102000000_b"]);
    }

    #[test]
    fn a_second_row_for_an_applied_migration_is_still_checked_by_hash() {
        let folder = three();
        let mut stranger = row(2, &folder.migrations[0]);
        stranger.hash = "not-the-file".into();
        let plan = plan(&folder, &old(&[row(1, &folder.migrations[0]), stranger]), OutOfOrder::Refuse);
        assert!(
            matches!(&plan.problems[..], [Problem::EditedAfterApplied { applied_hash, .. }] if applied_hash == "not-the-file")
        );
    }

    #[test]
    fn rows_of_two_identical_same_second_migrations_each_get_their_own() {
        let folder = folders(&[("20250101000000_a", "SELECT 1;"), ("20250101000000_b", "SELECT 1;")]).unwrap();
        let rows = old(&[row(1, &folder.migrations[0]), row(2, &folder.migrations[1])]);
        let plan = plan(&folder, &rows, OutOfOrder::Refuse);
        assert!(plan.pending.is_empty(), "{:?}", tags(&plan.pending));
        let names: Vec<&str> = plan.table.names.iter().map(|backfill| backfill.name.as_str()).collect();
        assert_eq!(names, ["20250101000000_a", "20250101000000_b"]);
    }

    #[test]
    fn the_hash_fallback_takes_the_last_migration_with_that_hash_as_drizzle_does() {
        let folder = folders(&[("20250101000000_a", "SELECT 1;"), ("20250102000000_b", "SELECT 1;")]).unwrap();
        let mut lost = row(1, &folder.migrations[0]);
        lost.created_at = Some(5);
        let plan = plan(&folder, &old(&[lost]), OutOfOrder::Allow);
        assert_eq!(plan.applied[0].0.tag, "20250102000000_b");
        assert_eq!(tags(&plan.pending), ["20250101000000_a"]);
    }
}
