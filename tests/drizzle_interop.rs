//! Interoperability with drizzle-orm's own migrator (npm `drizzle-orm` + `pg`,
//! installed by scripts/test into tests/interop): a database migrated by either
//! can be handed to the other, and both write identical bookkeeping rows.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use sqlx::{Connection, PgConnection};
use support::project::repo_root;
use support::{TestDatabase, TestProject, test_postgres};

fn interop_dir() -> PathBuf {
    let dir = repo_root().join("tests/interop");
    assert!(
        dir.join("node_modules/drizzle-orm/package.json").is_file(),
        "drizzle-orm is not installed in {}: run `bash scripts/test` (it runs `npm ci` there), \
         or `npm ci --prefix tests/interop`",
        dir.display()
    );
    dir
}

/// drizzle's migrator on `folder`, as the backend's `migrate.js` runs it.
fn drizzle_migrate(database: &TestDatabase, folder: &Path, bookkeeping: Option<(&str, &str)>) {
    let mut command = Command::new("node");
    command.arg(interop_dir().join("drizzle-migrate.mjs")).arg(&database.url).arg(folder);
    if let Some((schema, table)) = bookkeeping {
        command.args([schema, table]);
    }
    let output = command.output().expect("node runs (node 20 is on the machine)");
    assert!(output.status.success(), "drizzle's migrator failed:\n{}", String::from_utf8_lossy(&output.stderr));
}

type Row = (i32, String, Option<i64>);

async fn rows(database: &TestDatabase, table: &str) -> Vec<Row> {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT id, hash, created_at FROM {table} ORDER BY id")))
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

const DRIZZLE_TABLE: &str = "drizzle.__drizzle_migrations";

#[tokio::test]
async fn a_database_migrated_by_drizzle_has_nothing_pending_for_praxia_deploy() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    drizzle_migrate(&database, &project.path().join("migrations"), None);
    let before = rows(&database, DRIZZLE_TABLE).await;
    assert_eq!(before.len(), 2);

    let document = project.run_on(&database, &["--output", "json", "status", "--exit-code"]).expect_code(0).json();
    assert_eq!(document["result"]["pending"].as_array().unwrap().len(), 0);
    assert_eq!(document["result"]["problems"].as_array().unwrap().len(), 0);
    assert_eq!(document["result"]["applied"].as_array().unwrap().len(), 2);
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("nothing to do");
    assert_eq!(rows(&database, DRIZZLE_TABLE).await, before);
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
    drizzle_migrate(&by_praxia, &folder, None);
    assert_eq!(rows(&by_praxia, DRIZZLE_TABLE).await, praxia_rows, "drizzle applied something again");
    assert_eq!(public_tables(&by_praxia).await, tables);

    drizzle_migrate(&by_drizzle, &folder, None);
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

    drizzle_migrate(&database, &folder, None);
    project.set_migrations(&[first, second]);
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("ran 0001_b");
    drizzle_migrate(&database, &folder, None);
    assert_eq!(rows(&database, DRIZZLE_TABLE).await.len(), 2, "drizzle re-applied praxia-deploy's migration");

    project.set_migrations(&[first, second, third]);
    drizzle_migrate(&database, &folder, None);
    project.run_on(&database, &["status", "--exit-code"]).expect_code(0).expect_stdout_contains("3 applied, 0 pending");
    assert_eq!(public_tables(&database).await, ["a", "b", "c"]);
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
    drizzle_migrate(&database, &project.path().join("migrations"), Some(("ops", "schema_migrations")));
    assert_eq!(rows(&database, "ops.schema_migrations").await.len(), 1);
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let drizzle_schema: Option<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname = 'drizzle'")
            .fetch_optional(&mut connection)
            .await
            .unwrap();
    assert_eq!(drizzle_schema, None, "the default bookkeeping table was created anyway");
}
