//! A history long enough to outgrow PostgreSQL's shared lock table in one
//! transaction. In a binary of its own: it exhausts the lock table of its test
//! server on purpose, which other tests on that server would feel.

use crate::support::{TestDatabase, TestProject, test_postgres};
use sqlx::{Connection, PgConnection};

async fn scalar(database: &TestDatabase, sql: &str) -> i64 {
    let mut connection = PgConnection::connect(&database.url).await.expect("connect to the test database");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut connection).await.unwrap()
}

#[tokio::test]
async fn a_very_long_history_says_how_to_proceed_and_batches_apply_it() {
    let database = test_postgres().fresh_database();
    let migrations: Vec<(String, i64, String)> = (0..3000)
        .map(|i| {
            (
                format!("{i:04}_u{i}"),
                1_700_000_000_000 + i * 1000,
                // Enough objects per migration to outgrow the lock table in one transaction.
                format!(
                    "CREATE TABLE u{i} (id int PRIMARY KEY, a text UNIQUE, b text);\n--> statement-breakpoint\nCREATE INDEX u{i}_b ON u{i} (b);"
                ),
            )
        })
        .collect();
    let borrowed: Vec<(&str, i64, &str)> = migrations.iter().map(|(t, w, s)| (t.as_str(), *w, s.as_str())).collect();
    let project = TestProject::with_migrations(&borrowed);
    let outcome = project.run_on(&database, &["migrate"]);
    outcome.expect_code(6).expect_stderr_contains("53200").expect_stderr_contains("--batch-size");
    assert!(outcome.stderr.len() < 4000, "the error lists every tag:\n{}", outcome.stderr);
    assert!(outcome.stderr.contains("more"), "{}", outcome.stderr);
    assert_eq!(scalar(&database, "SELECT count(*) FROM pg_namespace WHERE nspname = 'drizzle'").await, 0);

    project
        .run_on(&database, &["migrate", "--batch-size", "500"])
        .expect_code(0)
        .expect_stdout_contains("applied 3000 migrations");
    assert_eq!(scalar(&database, "SELECT count(*) FROM drizzle.__drizzle_migrations").await, 3000);
}
