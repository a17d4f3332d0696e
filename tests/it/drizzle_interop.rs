//! Interoperability with drizzle's own tools, both toolchains pinned by lockfiles
//! (installed by scripts/test): drizzle-orm 0.45 + drizzle-kit 0.31 in
//! tests/interop, drizzle-orm + drizzle-kit 1.0.0-rc.5 in tests/interop/drizzle-1.
//! A database migrated by either migrator can be handed to praxia-deploy and
//! back, in both folder layouts, with identical bookkeeping rows; drizzle-kit's
//! generate, check and up keep working on the shipped folder and after `new`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::drizzle::Drizzle;
use crate::support::project::repo_root;
use crate::support::{TestDatabase, TestProject, test_postgres};
use sqlx::{Connection, PgConnection};

/// A bookkeeping row, whichever drizzle shape the table has: id, hash,
/// created_at, name, and whether applied_at is set (None when the column is absent).
type Row = (i32, String, Option<i64>, Option<String>, Option<bool>);

async fn rows(database: &TestDatabase, table: &str) -> Vec<Row> {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT id, hash, created_at, to_jsonb(t) ->> 'name', \
         CASE WHEN to_jsonb(t) ? 'applied_at' THEN to_jsonb(t) ->> 'applied_at' IS NOT NULL END \
         FROM {table} t ORDER BY id"
    )))
    .fetch_all(&mut connection)
    .await
    .unwrap()
}

/// The bookkeeping table's columns with their types, as drizzle would create them.
async fn columns(database: &TestDatabase) -> Vec<(String, String)> {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = 'drizzle' AND table_name = '__drizzle_migrations' ORDER BY ordinal_position",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap()
}

async fn public_tables(database: &TestDatabase) -> Vec<String> {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap()
}

async fn scalar(database: &TestDatabase, sql: &str) -> i64 {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut connection).await.unwrap()
}

async fn execute(database: &TestDatabase, sql: &str) {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut connection).await.unwrap();
}

/// Every file under `dir` with its bytes, to show that a command changed nothing.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                found.insert(path.strip_prefix(dir).unwrap().to_path_buf(), std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

/// A data migration: run twice, the counter says so.
const CREATE_COUNTER: &str =
    "CREATE TABLE counter (n int NOT NULL);\n--> statement-breakpoint\nINSERT INTO counter VALUES (0);";
const BUMP_COUNTER: &str = "UPDATE counter SET n = n + 1;";

async fn counter(database: &TestDatabase) -> i64 {
    scalar(database, "SELECT n::bigint FROM counter").await
}

/// drizzle 1.0 folders: the counter, then one bump per later migration.
fn counter_folders(count: usize) -> Vec<(String, &'static str)> {
    (0..count)
        .map(|i| {
            let name = format!("2025010{}093000_step_{i}", i + 1);
            (name, if i == 0 { CREATE_COUNTER } else { BUMP_COUNTER })
        })
        .collect()
}

fn folder_project(migrations: &[(String, &str)]) -> TestProject {
    let project = TestProject::with_migrations(&[]);
    let borrowed: Vec<(&str, &str)> = migrations.iter().map(|(name, sql)| (name.as_str(), *sql)).collect();
    project.set_folders(&borrowed);
    project
}

const DRIZZLE_TABLE: &str = "drizzle.__drizzle_migrations";

#[tokio::test]
async fn a_database_migrated_by_drizzle_has_nothing_pending_for_praxia_deploy() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    Drizzle::V0.migrate(&database, &project.path().join("migrations"));
    let before = rows(&database, DRIZZLE_TABLE).await;
    assert_eq!(before.len(), 2);

    let document = project.run_on(&database, &["--output", "json", "status", "--exit-code"]).expect_code(0).json();
    assert_eq!(document["result"]["pending"].as_array().unwrap().len(), 0);
    assert_eq!(document["result"]["problems"].as_array().unwrap().len(), 0);
    assert_eq!(document["result"]["applied"].as_array().unwrap().len(), 2);
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("nothing to do");
    assert_eq!(rows(&database, DRIZZLE_TABLE).await, before);
    // What drizzle's migrator made is exactly what praxia-deploy's replay makes.
    project
        .run_on(&database, &["drift", "--shadow-url", &test_postgres().shadow_url()])
        .expect_code(0)
        .expect_stdout_contains("no drift");
}

#[tokio::test]
async fn after_praxia_deploy_drizzle_applies_nothing_and_the_rows_are_identical() {
    let by_praxia = test_postgres().fresh_database();
    let by_drizzle = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    let folder = project.path().join("migrations");

    project.run_on(&by_praxia, &["migrate"]).expect_code(0);
    let praxia_rows = rows(&by_praxia, DRIZZLE_TABLE).await;
    let tables = public_tables(&by_praxia).await;
    Drizzle::V0.migrate(&by_praxia, &folder);
    assert_eq!(rows(&by_praxia, DRIZZLE_TABLE).await, praxia_rows, "drizzle applied something again");
    assert_eq!(public_tables(&by_praxia).await, tables);

    Drizzle::V0.migrate(&by_drizzle, &folder);
    assert_eq!(praxia_rows, rows(&by_drizzle, DRIZZLE_TABLE).await, "(id, hash, created_at) field by field");
    assert_eq!(public_tables(&by_drizzle).await, tables);
}

#[tokio::test]
async fn a_database_can_move_from_drizzle_to_praxia_deploy_and_back() {
    let database = test_postgres().fresh_database();
    let first = ("0000_a", 1_700_000_000_000, "CREATE TABLE a (id int);");
    let second =
        ("0001_b", 1_700_000_100_000, "CREATE TABLE b (id int);\n--> statement-breakpoint\nINSERT INTO b VALUES (1);");
    let third = ("0002_c", 1_700_000_200_000, "CREATE TABLE c (id int);");
    let project = TestProject::with_migrations(&[first]);
    let folder = project.path().join("migrations");

    Drizzle::V0.migrate(&database, &folder);
    project.set_migrations(&[first, second]);
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("ran 0001_b");
    Drizzle::V0.migrate(&database, &folder);
    assert_eq!(rows(&database, DRIZZLE_TABLE).await.len(), 2, "drizzle re-applied praxia-deploy's migration");

    project.set_migrations(&[first, second, third]);
    Drizzle::V0.migrate(&database, &folder);
    project.run_on(&database, &["status", "--exit-code"]).expect_code(0).expect_stdout_contains("3 applied, 0 pending");
    assert_eq!(public_tables(&database).await, ["a", "b", "c"]);
    assert_eq!(scalar(&database, "SELECT count(*) FROM b").await, 1, "a data migration ran twice");
}

#[tokio::test]
async fn a_configured_schema_and_table_match_drizzles_options() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, "CREATE TABLE a (id int);")]);
    project.file(
        "environments/test.toml",
        "kind = \"test\"\n[migrations]\nschema = \"ops\"\ntable = \"schema_migrations\"\n",
    );
    project.run_on(&database, &["migrate"]).expect_code(0);
    let output =
        Drizzle::V0.try_migrate(&database, &project.path().join("migrations"), Some(("ops", "schema_migrations")));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(rows(&database, "ops.schema_migrations").await.len(), 1);
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let drizzle_schema: Option<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname = 'drizzle'")
            .fetch_optional(&mut connection)
            .await
            .unwrap();
    assert_eq!(drizzle_schema, None, "the default bookkeeping table was created anyway");
}

// drizzle 1.0's layout and table, both directions.

#[tokio::test]
async fn a_database_migrated_by_drizzle_1_has_nothing_pending_and_praxia_deploy_writes_nothing() {
    let database = test_postgres().fresh_database();
    let project = folder_project(&counter_folders(3));
    Drizzle::V1.migrate(&database, &project.path().join("migrations"));
    let before = rows(&database, DRIZZLE_TABLE).await;
    assert_eq!(before.len(), 3);
    assert_eq!(before[0].2, Some(1_735_723_800_000), "drizzle 1.0 writes the folder's second");

    let document = project.run_on(&database, &["--output", "json", "status", "--exit-code"]).expect_code(0).json();
    assert_eq!(document["result"]["layout"], "folders");
    assert_eq!(document["result"]["table_shape"], "drizzle1");
    assert_eq!(document["result"]["applied"].as_array().unwrap().len(), 3);
    assert_eq!(document["result"]["problems"], serde_json::json!([]));
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("nothing to do");
    assert_eq!(rows(&database, DRIZZLE_TABLE).await, before);
    assert_eq!(counter(&database).await, 2);
}

#[tokio::test]
async fn after_praxia_deploy_drizzle_1_runs_nothing_again_and_the_rows_are_drizzles_own() {
    let by_praxia = test_postgres().fresh_database();
    let by_drizzle = test_postgres().fresh_database();
    let project = folder_project(&counter_folders(3));
    let folder = project.path().join("migrations");

    project.run_on(&by_praxia, &["migrate"]).expect_code(0).expect_stdout_contains("applied 3 migrations");
    let praxia_rows = rows(&by_praxia, DRIZZLE_TABLE).await;
    Drizzle::V1.migrate(&by_praxia, &folder);
    assert_eq!(rows(&by_praxia, DRIZZLE_TABLE).await, praxia_rows, "drizzle 1.0 applied something again");
    assert_eq!(counter(&by_praxia).await, 2, "the data migration ran twice");

    Drizzle::V1.migrate(&by_drizzle, &folder);
    assert_eq!(praxia_rows, rows(&by_drizzle, DRIZZLE_TABLE).await, "(id, hash, created_at, name, applied_at set)");
    assert_eq!(columns(&by_praxia).await, columns(&by_drizzle).await, "the table drizzle 1.0 creates");
    assert!(praxia_rows.iter().all(|row| row.3.is_some() && row.4 == Some(true)), "{praxia_rows:?}");
}

#[tokio::test]
async fn drizzle_1_and_praxia_deploy_take_turns_and_each_migration_runs_once() {
    let database = test_postgres().fresh_database();
    let all = counter_folders(4);
    let project = folder_project(&all[..1]);
    let folder = project.path().join("migrations");
    Drizzle::V1.migrate(&database, &folder);
    folder_project_into(&project, &all[..2]);
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("applied 1 migration in");
    folder_project_into(&project, &all[..3]);
    Drizzle::V1.migrate(&database, &folder);
    folder_project_into(&project, &all);
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("applied 1 migration in");
    Drizzle::V1.migrate(&database, &folder);
    project.run_on(&database, &["status", "--exit-code"]).expect_code(0).expect_stdout_contains("4 applied, 0 pending");
    assert_eq!(counter(&database).await, 3);
    let names: Vec<Option<String>> = rows(&database, DRIZZLE_TABLE).await.into_iter().map(|row| row.3).collect();
    assert_eq!(names, all.iter().map(|(name, _)| Some(name.clone())).collect::<Vec<_>>());
}

fn folder_project_into(project: &TestProject, migrations: &[(String, &str)]) {
    let borrowed: Vec<(&str, &str)> = migrations.iter().map(|(name, sql)| (name.as_str(), *sql)).collect();
    project.set_folders(&borrowed);
}

#[tokio::test]
async fn a_0x_table_under_a_drizzle_1_folder_is_read_then_upgraded_exactly_as_drizzle_1_upgrades_it() {
    // Migrated from the journal layout with millisecond `when`s, then the folder
    // was converted (as `drizzle-kit up` names the folders).
    let journal =
        [("0000_step_0", 1_735_723_800_123, CREATE_COUNTER), ("0001_step_1", 1_735_810_200_456, BUMP_COUNTER)];
    let converted = [
        ("20250101093000_step_0".to_owned(), CREATE_COUNTER),
        ("20250102093000_step_1".to_owned(), BUMP_COUNTER),
        ("20250103093000_step_2".to_owned(), BUMP_COUNTER),
    ];
    let by_praxia = test_postgres().fresh_database();
    let by_drizzle = test_postgres().fresh_database();
    for database in [&by_praxia, &by_drizzle] {
        TestProject::with_migrations(&journal).run_on(database, &["migrate"]).expect_code(0);
    }
    let project = folder_project(&converted[..2]);
    let old_rows = rows(&by_praxia, DRIZZLE_TABLE).await;
    assert!(old_rows.iter().all(|row| row.3.is_none() && row.4.is_none()), "a 0.x table: {old_rows:?}");

    project
        .run_on(&by_praxia, &["status", "--exit-code"])
        .expect_code(0)
        .expect_stdout_contains("2 applied, 0 pending");
    project.run_on(&by_praxia, &["migrate"]).expect_code(0).expect_stdout_contains("nothing to do");
    assert_eq!(rows(&by_praxia, DRIZZLE_TABLE).await, old_rows, "a no-op writes nothing, not even the upgrade");

    folder_project_into(&project, &converted);
    project
        .run_on(&by_praxia, &["plan"])
        .expect_code(0)
        .expect_stdout_contains("gets drizzle 1.0's name and applied_at columns and the names of 2 applied migrations");
    project.run_on(&by_praxia, &["migrate"]).expect_code(0).expect_stdout_contains("applied 1 migration in");
    Drizzle::V1.migrate(&by_drizzle, &project.path().join("migrations"));
    let upgraded = rows(&by_praxia, DRIZZLE_TABLE).await;
    assert_eq!(upgraded, rows(&by_drizzle, DRIZZLE_TABLE).await, "field by field, as drizzle 1.0 upgrades");
    assert_eq!(columns(&by_praxia).await, columns(&by_drizzle).await);
    assert_eq!(upgraded[0].3.as_deref(), Some("20250101093000_step_0"));
    assert_eq!((upgraded[0].4, upgraded[2].4), (Some(false), Some(true)), "applied_at unknown for the old rows");
    Drizzle::V1.migrate(&by_praxia, &project.path().join("migrations"));
    assert_eq!(rows(&by_praxia, DRIZZLE_TABLE).await, upgraded);
    assert_eq!((counter(&by_praxia).await, counter(&by_drizzle).await), (2, 2));
}

#[tokio::test]
async fn a_row_without_a_name_gets_one_so_that_drizzle_1_does_not_run_its_migration_again() {
    let database = test_postgres().fresh_database();
    let project = folder_project(&counter_folders(2));
    let folder = project.path().join("migrations");
    Drizzle::V1.migrate(&database, &folder);
    // What praxia-deploy before 1.0 support left behind: a row with no name.
    execute(&database, "UPDATE drizzle.__drizzle_migrations SET name = NULL WHERE id = 2").await;

    project
        .run_on(&database, &["status"])
        .expect_code(0)
        .expect_stdout_contains("has no name: drizzle-orm 1.0 would run it again");
    project
        .run_on(&database, &["status", "--exit-code"])
        .expect_code(8)
        .expect_stderr_contains("1 applied migration has no drizzle 1.0 name");
    let document = project.run_on(&database, &["--output", "json", "migrate"]).expect_code(0).json();
    assert_eq!(document["result"]["names_written"], 1);
    assert_eq!(document["result"]["names_missing"], serde_json::json!([]));
    Drizzle::V1.migrate(&database, &folder);
    assert_eq!(counter(&database).await, 1, "drizzle 1.0 ran the bump again");
    let names: Vec<Option<String>> = rows(&database, DRIZZLE_TABLE).await.into_iter().map(|row| row.3).collect();
    assert_eq!(names.len(), 2);
    assert!(names.iter().all(Option::is_some), "{names:?}");
}

// The authoring loop: drizzle-kit's own tools on the shipped folder.

#[test]
fn the_shipped_snapshots_are_what_drizzle_kit_makes_from_the_schema() {
    Drizzle::V0.dir();
    let output = Command::new("bash").arg(repo_root().join("scripts/snapshots")).arg("--check").output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "scripts/snapshots --check:\n{text}");
    assert_eq!(text.matches("up to date").count(), 2, "{text}");
}

#[test]
fn drizzle_kit_0_31_finds_no_schema_changes_on_the_shipped_folder() {
    let project = TestProject::from_repo();
    let folder = project.path().join("migrations");
    let before = files(&folder);
    let (_, text) = Drizzle::V0.kit(&folder, &["generate"]);
    assert!(text.contains("No schema changes, nothing to migrate"), "{text}");
    let (_, text) = Drizzle::V0.kit(&folder, &["check"]);
    assert!(text.contains("Everything's fine"), "{text}");
    assert_eq!(files(&folder), before, "drizzle-kit changed the folder");
}

#[test]
fn drizzle_kit_1_up_converts_the_shipped_folder_and_then_finds_no_schema_changes() {
    let project = TestProject::from_repo();
    let folder = project.path().join("migrations");
    let before = files(&folder);
    let (ok, text) = Drizzle::V1.kit(&folder, &["up"]);
    assert!(ok && text.contains("Everything's fine"), "{text}");
    let after = files(&folder);
    let names: Vec<String> = after.keys().map(|path| path.display().to_string()).collect();
    assert_eq!(
        names,
        [
            "20251101000000_better_auth/migration.sql",
            "20251101000000_better_auth/snapshot.json",
            "20251101000100_praxia_organizations/migration.sql",
            "20251101000100_praxia_organizations/snapshot.json"
        ]
    );
    assert_eq!(after[Path::new("20251101000000_better_auth/migration.sql")], before[Path::new("0000_better_auth.sql")]);
    let (ok, text) = Drizzle::V1.kit(&folder, &["generate"]);
    assert!(ok && text.contains("No schema changes, nothing to migrate"), "{text}");
    let (ok, text) = Drizzle::V1.kit(&folder, &["check"]);
    assert!(ok && text.contains("Everything's fine"), "{text}");
}

#[tokio::test]
async fn the_upgrade_path_journal_then_drizzle_kit_up_then_neither_tool_runs_anything_again() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    let folder = project.path().join("migrations");
    project.file("environments/test.toml", crate::support::project::TEST_ENVIRONMENT);
    // A custom migration made by praxia-deploy, filled in before it is applied.
    let created = project.run(&["--env", "test", "--output", "json", "new", "add_counter"]).expect_code(0).json();
    let file = PathBuf::from(created["result"]["file"].as_str().unwrap());
    std::fs::write(&file, CREATE_COUNTER.replace("(0)", "(1)")).unwrap();
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("applied 3 migrations");
    let journal_rows = rows(&database, DRIZZLE_TABLE).await;

    let (ok, text) = Drizzle::V1.kit(&folder, &["up"]);
    assert!(ok && text.contains("Everything's fine"), "drizzle-kit up on a folder with a `new` entry:\n{text}");
    assert!(!folder.join("meta").exists());
    project.run_on(&database, &["status", "--exit-code"]).expect_code(0).expect_stdout_contains("3 applied, 0 pending");
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("nothing to do");
    assert_eq!(rows(&database, DRIZZLE_TABLE).await, journal_rows);

    Drizzle::V1.migrate(&database, &folder);
    assert_eq!(counter(&database).await, 1, "drizzle 1.0 ran the data migration again");
    let upgraded = rows(&database, DRIZZLE_TABLE).await;
    assert_eq!(upgraded.len(), 3, "{upgraded:?}");
    assert!(upgraded.iter().all(|row| row.3.is_some()), "drizzle named every row: {upgraded:?}");
    project.run_on(&database, &["status", "--exit-code"]).expect_code(0).expect_stdout_contains("3 applied, 0 pending");
}

#[test]
fn after_praxia_deploy_new_drizzle_kit_generate_check_and_up_keep_working() {
    let project = TestProject::from_repo();
    let folder = project.path().join("migrations");
    project
        .run(&["new", "coach_notes"])
        .expect_code(0)
        .expect_stdout_contains("0002_coach_notes.sql")
        .expect_stdout_contains("(the previous schema, carried forward)")
        .expect_stdout_contains(
            "for a schema change, edit the TypeScript schema and run `praxia-deploy generate NAME`",
        );
    let (_, text) = Drizzle::V0.kit(&folder, &["generate"]);
    assert!(text.contains("No schema changes, nothing to migrate"), "0.31 after `new`:\n{text}");
    let (_, text) = Drizzle::V0.kit(&folder, &["check"]);
    assert!(text.contains("Everything's fine"), "{text}");

    let (ok, text) = Drizzle::V1.kit(&folder, &["up"]);
    assert!(ok && text.contains("Everything's fine"), "{text}");
    project.run(&["new", "coach_goals"]).expect_code(0).expect_stdout_contains("_coach_goals/migration.sql");
    let (ok, text) = Drizzle::V1.kit(&folder, &["generate"]);
    assert!(ok && text.contains("No schema changes, nothing to migrate"), "1.0 after `new`:\n{text}");
    let (ok, text) = Drizzle::V1.kit(&folder, &["check"]);
    assert!(ok && text.contains("Everything's fine"), "{text}");
    let document = project.run(&["--output", "json", "new", "third"]).expect_code(0).json();
    let third = document["result"]["tag"].as_str().unwrap().to_owned();
    let migrations = folder_names(&folder);
    assert_eq!(migrations.last(), Some(&third), "the newest folder sorts last: {migrations:?}");
}

fn folder_names(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

// Bad input: exit 4, the path named, nothing written.

#[tokio::test]
async fn a_folder_mixing_both_layouts_is_refused_before_anything_is_written() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1_700_000_000_000, "CREATE TABLE a (id int);")]);
    project.file("migrations/20250101000000_b/migration.sql", "CREATE TABLE b (id int);");
    let outcome = project.run_on(&database, &["migrate"]);
    outcome
        .expect_code(4)
        .expect_stderr_contains("mixes drizzle-kit's two layouts")
        .expect_stderr_contains("meta/_journal.json")
        .expect_stderr_contains("drizzle-kit up");
    assert_eq!(public_tables(&database).await, Vec::<String>::new());
    assert_eq!(scalar(&database, "SELECT count(*) FROM pg_namespace WHERE nspname = 'drizzle'").await, 0);
}

#[tokio::test]
async fn a_folder_name_without_a_timestamp_is_refused_naming_it() {
    let database = test_postgres().fresh_database();
    let project = folder_project(&[
        ("20250101093000_a".to_owned(), "CREATE TABLE a (id int);"),
        ("add_b".to_owned(), "SELECT 1;"),
    ]);
    project
        .run_on(&database, &["migrate"])
        .expect_code(4)
        .expect_stderr_contains("migrations/add_b does not start with a UTC timestamp (YYYYMMDDHHMMSS_name)");
    assert_eq!(public_tables(&database).await, Vec::<String>::new());
}

#[test]
fn new_refuses_a_snapshot_that_does_not_parse_and_writes_nothing() {
    let project = TestProject::from_repo();
    let folder = project.path().join("migrations");
    project.file("migrations/meta/0001_snapshot.json", "{\"id\": \"x\",");
    let before = files(&folder);
    project
        .run(&["new", "coach_notes"])
        .expect_code(4)
        .expect_stderr_contains("the drizzle-kit snapshot")
        .expect_stderr_contains("migrations/meta/0001_snapshot.json:1:")
        .expect_stderr_contains("is not valid JSON");
    assert_eq!(files(&folder), before);
}

#[tokio::test]
async fn a_journal_folder_on_a_drizzle_1_table_still_repairs_a_row_without_a_name() {
    let database = test_postgres().fresh_database();
    let journal = TestProject::from_repo();
    journal.run_on(&database, &["migrate"]).expect_code(0);
    // The same migrations, converted by drizzle-kit up and applied by drizzle 1.0:
    // the table gets 1.0's columns and a name for every row.
    let converted = TestProject::from_repo();
    let converted_folder = converted.path().join("migrations");
    let (ok, text) = Drizzle::V1.kit(&converted_folder, &["up"]);
    assert!(ok, "drizzle-kit up:\n{text}");
    Drizzle::V1.migrate(&database, &converted_folder);
    execute(&database, "UPDATE drizzle.__drizzle_migrations SET name = NULL WHERE id = 2").await;

    let document = journal.run_on(&database, &["--output", "json", "migrate"]).expect_code(0).json();
    assert_eq!(document["result"]["table_shape"], "drizzle1", "{document}");
    assert_eq!(document["result"]["names_written"], 1, "{document}");
    let names: Vec<Option<String>> = rows(&database, DRIZZLE_TABLE).await.into_iter().map(|row| row.3).collect();
    assert!(names.iter().all(Option::is_some), "{names:?}");
    journal.run_on(&database, &["status", "--exit-code"]).expect_code(0);
}

#[tokio::test]
async fn a_migration_drizzle_applied_with_its_own_commit_is_history_and_the_next_one_runs() {
    // A real project's idiom: COMMIT leaves drizzle's transaction before a
    // CREATE INDEX CONCURRENTLY. Applied long ago, it is verified by its hash alone.
    let database = test_postgres().fresh_database();
    let commit = "CREATE TABLE \"t\" (\"x\" int);\n--> statement-breakpoint\nCOMMIT;\n--> statement-breakpoint\nCREATE INDEX CONCURRENTLY IF NOT EXISTS \"t_x\" ON \"t\" (\"x\");";
    let project = TestProject::with_migrations(&[("0000_commit", 1_700_000_000_000, commit)]);
    Drizzle::V0.migrate(&database, &project.path().join("migrations"));
    project.run_on(&database, &["status", "--exit-code"]).expect_code(0);
    project.set_migrations(&[
        ("0000_commit", 1_700_000_000_000, commit),
        ("0001_next", 1_700_000_001_000, "CREATE TABLE \"u\" (\"id\" int);"),
    ]);
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("ran 0001_next");
}

/// What a run leaves that a user can see: each public table with its row count,
/// each index with its validity, and the bookkeeping rows (hash, created_at, name).
async fn end_state(
    database: &TestDatabase,
) -> (Vec<(String, i64)>, Vec<(String, bool)>, Vec<(String, Option<i64>, Option<String>)>) {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let tables = sqlx::query_as(
        "SELECT table_name::text, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM public.%I', table_name), false, true, '')))[1]::text::bigint \
         FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    let indexes = sqlx::query_as(
        "SELECT i.indexrelid::regclass::text, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE c.relnamespace = 'public'::regnamespace ORDER BY 1",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    let has_table: bool = sqlx::query_scalar("SELECT to_regclass('drizzle.__drizzle_migrations') IS NOT NULL")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    let bookkeeping = if has_table {
        rows(database, DRIZZLE_TABLE)
            .await
            .into_iter()
            .map(|(_, hash, created_at, name, _)| (hash, created_at, name))
            .collect()
    } else {
        Vec::new()
    };
    (tables, indexes, bookkeeping)
}

/// Migrations that control their transaction, as three of four real projects write them.
const PLAIN_A: &str = "CREATE TABLE \"a\" (\"id\" int);";
const WRAPPED: &str = "BEGIN;\nCREATE TABLE \"b\" (\"id\" int);\nINSERT INTO \"b\" VALUES (1);\nCOMMIT;";
const COMMIT_THEN_CONCURRENTLY: &str = "CREATE TABLE \"c\" (\"x\" int);\n--> statement-breakpoint\nCOMMIT;\n--> statement-breakpoint\nCREATE INDEX CONCURRENTLY IF NOT EXISTS \"c_x\" ON \"c\" (\"x\");";
const PLAIN_D: &str = "CREATE TABLE \"d\" (\"id\" int);\n--> statement-breakpoint\nINSERT INTO \"d\" VALUES (1), (2);";

fn self_controlled_journal(count: usize) -> Vec<(&'static str, i64, &'static str)> {
    let all = [
        ("0000_plain_a", 1_700_000_000_000, PLAIN_A),
        ("0001_wrapped", 1_700_000_001_000, WRAPPED),
        ("0002_commit_then_concurrently", 1_700_000_002_000, COMMIT_THEN_CONCURRENTLY),
        ("0003_plain_d", 1_700_000_003_000, PLAIN_D),
    ];
    all[..count].to_vec()
}

fn self_controlled_folders(count: usize) -> Vec<(String, &'static str)> {
    let all = [
        ("20250101093000_plain_a", PLAIN_A),
        ("20250102093000_wrapped", WRAPPED),
        ("20250103093000_commit_then_concurrently", COMMIT_THEN_CONCURRENTLY),
        ("20250104093000_plain_d", PLAIN_D),
    ];
    all[..count].iter().map(|(name, sql)| ((*name).to_owned(), *sql)).collect()
}

#[tokio::test]
async fn pending_migrations_that_commit_themselves_end_as_drizzles_migrators_leave_them() {
    // drizzle 0.x, journal layout: drizzle alone, praxia-deploy alone, and each half-and-half.
    let project = TestProject::with_migrations(&self_controlled_journal(4));
    let folder = project.path().join("migrations");
    let by_drizzle = test_postgres().fresh_database();
    Drizzle::V0.migrate(&by_drizzle, &folder);
    let expected = end_state(&by_drizzle).await;
    assert_eq!(expected.0.len(), 4, "{expected:?}");
    assert_eq!(expected.1, [("c_x".to_owned(), true)]);

    let by_praxia = test_postgres().fresh_database();
    project
        .run_on(&by_praxia, &["plan"])
        .expect_code(0)
        .expect_stdout_contains("as drizzle runs it: its COMMIT (line 4) ends the transaction")
        .expect_stdout_contains("as drizzle runs it: its COMMIT (line 3) ends the transaction");
    // The review knows how they run: no error for the COMMIT itself, a warning for what follows it.
    project
        .run_on(&by_praxia, &["lint"])
        .expect_code(0)
        .expect_stdout_contains("own COMMIT (line 3) ends the transaction, and 1 statement(s) follow it");
    project.run_on(&by_praxia, &["migrate"]).expect_code(0).expect_stdout_contains("applied 4 migrations");
    assert_eq!(end_state(&by_praxia).await, expected);
    project.run_on(&by_praxia, &["status", "--exit-code"]).expect_code(0);

    for first_half in [Some(Drizzle::V0), None] {
        let database = test_postgres().fresh_database();
        let half = TestProject::with_migrations(&self_controlled_journal(2));
        match first_half {
            Some(drizzle) => {
                drizzle.migrate(&database, &half.path().join("migrations"));
                project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("applied 2 migrations");
            }
            None => {
                half.run_on(&database, &["migrate"]).expect_code(0);
                Drizzle::V0.migrate(&database, &folder);
            }
        }
        assert_eq!(end_state(&database).await, expected, "drizzle first: {first_half:?}");
    }

    // drizzle 1.0, folder layout: the same.
    let project = folder_project(&self_controlled_folders(4));
    let folder = project.path().join("migrations");
    let by_drizzle = test_postgres().fresh_database();
    Drizzle::V1.migrate(&by_drizzle, &folder);
    let expected = end_state(&by_drizzle).await;
    let by_praxia = test_postgres().fresh_database();
    project.run_on(&by_praxia, &["migrate"]).expect_code(0);
    assert_eq!(end_state(&by_praxia).await, expected);
    let database = test_postgres().fresh_database();
    folder_project(&self_controlled_folders(2)).run_on(&database, &["migrate"]).expect_code(0);
    Drizzle::V1.migrate(&database, &folder);
    assert_eq!(end_state(&database).await, expected);
}

#[tokio::test]
async fn a_self_committing_migration_that_fails_leaves_what_drizzle_leaves_and_says_so() {
    let after_commit = "CREATE TABLE \"e\" (\"id\" int);\n--> statement-breakpoint\nCOMMIT;\n--> statement-breakpoint\nCREATE TABLE \"f\" (\"id\" int);\n--> statement-breakpoint\nSELECT 1/0;";
    let before_commit = "BEGIN;\nCREATE TABLE \"g\" (\"id\" int);\nSELECT 1/0;\nCOMMIT;";
    for (sql, said) in [
        (
            after_commit,
            "its own COMMIT had committed part of it (what ran before that COMMIT, and what ran outside a transaction after it), which stays applied",
        ),
        (before_commit, "its transaction was rolled back before its own COMMIT and nothing of it was recorded"),
        (
            "BEGIN;\nCREATE TABLE \"h\" (\"id\" int);\nCOMMIT;\n--> statement-breakpoint\nBEGIN;\nSELECT 1/0;\nCOMMIT;",
            "its own COMMIT had committed part of it (what ran before that COMMIT, and what ran outside a transaction after it), which stays applied",
        ),
        (
            "CREATE TABLE \"k\" (\"id\" int);\nCOMMIT AND CHAIN;\nSELECT 1/0;",
            "the failing part holds its own COMMIT, so what ran before the failure may stay applied (check the database)",
        ),
    ] {
        let project = TestProject::with_migrations(&[("0000_fails", 1_700_000_000_000, sql)]);
        let by_drizzle = test_postgres().fresh_database();
        let output = Drizzle::V0.try_migrate(&by_drizzle, &project.path().join("migrations"), None);
        assert!(!output.status.success(), "drizzle's migrator fails on {sql}");
        let by_praxia = test_postgres().fresh_database();
        project
            .run_on(&by_praxia, &["migrate"])
            .expect_code(6)
            .expect_stderr_contains(said)
            .expect_stderr_contains("division by zero");
        let (tables, _, rows) = end_state(&by_praxia).await;
        let (drizzle_tables, _, drizzle_rows) = end_state(&by_drizzle).await;
        assert_eq!(tables, drizzle_tables, "{sql}");
        assert!(rows.is_empty() && drizzle_rows.is_empty(), "{rows:?} {drizzle_rows:?}");
    }
}

#[tokio::test]
async fn a_pending_rollback_is_refused_before_anything_runs() {
    let project = TestProject::with_migrations(&[
        ("0000_ok", 1_700_000_000_000, PLAIN_A),
        ("0001_rollback", 1_700_000_001_000, "CREATE TABLE \"r\" (\"id\" int);\nROLLBACK;"),
    ]);
    let fresh = test_postgres().fresh_database();
    project.run_on(&fresh, &["migrate"]).expect_code(4).expect_stderr_contains(
        "0001_rollback.sql:2:1: migration `0001_rollback` undoes the transaction itself (ROLLBACK)",
    );
    assert_eq!(public_tables(&fresh).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_database_only_drizzle_0x_migrated_moves_to_the_drizzle_1_layout_without_stamp() {
    // Never touched by praxia-deploy (no praxia_deploy schema), then the folder
    // was converted as `drizzle-kit up` converts it.
    let journal = [("0000_step_0", 1_735_723_800_123, CREATE_COUNTER)];
    let database = test_postgres().fresh_database();
    let journal_project = TestProject::with_migrations(&journal);
    Drizzle::V0.migrate(&database, &journal_project.path().join("migrations"));
    let project = folder_project(&[("20250101093000_step_0".to_owned(), CREATE_COUNTER)]);
    project.run_on(&database, &["status", "--exit-code"]).expect_code(0);
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("nothing to do");
    project.run_on(&database, &["release"]).expect_code(0);
    folder_project_into(
        &project,
        &[("20250101093000_step_0".to_owned(), CREATE_COUNTER), ("20250102093000_step_1".to_owned(), BUMP_COUNTER)],
    );
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("applied 1 migration");
    assert_eq!(counter(&database).await, 1);
}

/// `lint --fix --write` on a drizzle 1.0 folder: drizzle-kit 1.0 still finds no
/// schema change and its check passes (the rewrite touches the SQL, never a
/// snapshot), and drizzle-orm 1.0's migrator applies the fixed folder.
#[test]
fn a_drizzle_1_folder_fixed_by_lint_keeps_drizzle_kit_1_content_and_migrates() {
    let project = TestProject::from_repo();
    let folder = project.path().join("migrations");
    project.file("environments/test.toml", crate::support::project::TEST_ENVIRONMENT);
    let (ok, text) = Drizzle::V1.kit(&folder, &["up"]);
    assert!(ok, "{text}");
    let created = project.run(&["--env", "test", "--output", "json", "new", "name_index"]).expect_code(0).json();
    let file = PathBuf::from(created["result"]["file"].as_str().unwrap());
    std::fs::write(&file, "CREATE INDEX \"organization_name_idx\" ON \"organization\" USING btree (\"name\");")
        .unwrap();
    let tag = file.parent().unwrap().file_name().unwrap().to_str().unwrap().to_owned();
    project
        .run(&["--env", "test", "lint", "--fix", &tag, "--write"])
        .expect_code(0)
        .expect_stdout_contains("wrote 1 file");
    assert!(std::fs::read_to_string(&file).unwrap().contains("CREATE INDEX CONCURRENTLY"));
    let (ok, text) = Drizzle::V1.kit(&folder, &["generate"]);
    assert!(ok && text.contains("No schema changes, nothing to migrate"), "{text}");
    let (ok, text) = Drizzle::V1.kit(&folder, &["check"]);
    assert!(ok && text.contains("Everything's fine"), "{text}");
    let database = test_postgres().fresh_database();
    Drizzle::V1.migrate(&database, &folder);
    project.run_on(&database, &["status", "--exit-code"]).expect_code(0);
}
