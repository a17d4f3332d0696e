//! The release path against the faults a fault test found: concurrent first
//! deploys, connections lost mid-run, statements that wait on the client,
//! INVALID indexes left by a killed build, migrations that need a transaction of
//! their own, very long histories. Each test asserts what a user sees.

use std::process::Stdio;
use std::time::Duration;

use crate::support::project::TEST_ENVIRONMENT;
use crate::support::{TestDatabase, TestProject, test_postgres};
use sqlx::{Connection, PgConnection};

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

/// A test environment with these database settings.
fn environment(database_settings: &str) -> String {
    format!("kind = \"test\"\n\n[database]\nwait = \"5s\"\nlock_wait = \"20s\"\n{database_settings}")
}

/// The backend running a statement that contains `text`, on behalf of praxia-deploy's migration connection.
async fn backend_running(database: &TestDatabase, text: &str) -> i32 {
    let mut observer = connect(database).await;
    for _ in 0..200 {
        let pid: Option<i32> = sqlx::query_scalar(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name LIKE 'praxia-deploy %' AND application_name NOT LIKE '%lock' \
             AND state = 'active' AND position($1 in query) > 0 LIMIT 1",
        )
        .bind(text)
        .fetch_optional(&mut observer)
        .await
        .unwrap();
        if let Some(pid) = pid {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no praxia-deploy backend ran {text:?}");
}

#[tokio::test]
async fn a_connection_lost_mid_migration_reconnects_and_applies_it_once() {
    let database = test_postgres().fresh_database();
    let slow = "CREATE TABLE counter (n int);\n--> statement-breakpoint\nINSERT INTO counter VALUES (1);\n--> statement-breakpoint\nSELECT pg_sleep(1);";
    let project = TestProject::with_migrations(&[("0000_slow", 1_700_000_000_000, slow)]);
    let runner = project.on(&database).arg("migrate").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = backend_running(&database, "pg_sleep").await;
    // What a restart or failover does to the session: it is ended by the server.
    execute(&database, &format!("SELECT pg_terminate_backend({pid})")).await;
    let output = runner.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("the database connection was lost") && stderr.contains("reconnecting"), "{stderr}");
    assert!(stdout.contains("the run reconnected"), "{stdout}");
    assert!(!stderr.contains("editing it is safe"), "a lost connection is not the migration's fault:\n{stderr}");
    assert_eq!(recorded(&database).await, 1);
    assert_eq!(scalar(&database, "SELECT count(*) FROM counter").await, 1, "applied once");
}

#[tokio::test]
async fn a_lock_timeout_that_outlasts_the_retries_names_who_holds_the_lock() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1_700_000_000_000, "CREATE TABLE a (id int);")]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    project.file("environments/test.toml", &environment("lock_timeout = \"300ms\"\n"));
    project.set_migrations(&[
        ("0000_a", 1_700_000_000_000, "CREATE TABLE a (id int);"),
        ("0001_alter", 1_700_000_100_000, "ALTER TABLE a ADD COLUMN note text;"),
    ]);
    let mut blocker = connect(&database).await;
    sqlx::raw_sql("SET application_name = 'a long report'; BEGIN; LOCK TABLE a IN ACCESS SHARE MODE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut blocker).await.unwrap();
    let outcome = project.run_on(&database, &["migrate"]);
    outcome
        .expect_code(6)
        .expect_stderr_contains("sqlstate: 55P03")
        .expect_stderr_contains(&format!("blocked by: pid {pid} (a long report), idle in transaction"))
        .expect_stderr_contains("pg_terminate_backend");
    sqlx::raw_sql("ROLLBACK").execute(&mut blocker).await.unwrap();
    assert_eq!(recorded(&database).await, 1);
}

#[tokio::test]
async fn copy_through_the_client_is_refused_before_anything_runs() {
    let database = test_postgres().fresh_database();
    for (sql, what) in [
        ("CREATE TABLE t (x int);\nCOPY t FROM STDIN;\n1\n\\.\n", "COPY ... FROM STDIN"),
        ("SELECT 1;\n--> statement-breakpoint\nCOPY (SELECT 1) TO STDOUT;", "COPY ... TO STDOUT"),
    ] {
        let project = TestProject::with_migrations(&[("0000_copy", 1_700_000_000_000, sql)]);
        project.run_on(&database, &["migrate"]).expect_code(4).expect_stderr_contains(&format!(
            "0000_copy.sql:{}:1: migration `0000_copy` uses {what}",
            if what.contains("STDIN") { 2 } else { 3 }
        ));
    }
    assert_eq!(scalar(&database, "SELECT count(*) FROM pg_namespace WHERE nspname = 'drizzle'").await, 0);
}

#[tokio::test]
async fn a_server_that_stops_answering_mid_statement_is_given_up_on() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_slow", 1_700_000_000_000, "SELECT pg_sleep(0.5);")]);
    project.file("environments/test.toml", &environment("statement_timeout = \"1s\"\n"));
    let runner = project.on(&database).arg("migrate").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = backend_running(&database, "pg_sleep").await;
    // A frozen backend answers nothing, statement_timeout included.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let output = runner.wait_with_output().unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("the database did not answer within 11s"), "{stderr}");
}

#[tokio::test]
async fn an_invalid_index_left_by_an_interrupted_build_is_never_recorded_as_built() {
    let database = test_postgres().fresh_database();
    let setup = "CREATE TABLE e (x int);\n--> statement-breakpoint\nINSERT INTO e VALUES (1), (2);";
    let project = TestProject::with_migrations(&[("0000_e", 1_700_000_000_000, setup)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    // What a build killed half-way leaves: the index exists and is INVALID.
    let mut connection = connect(&database).await;
    sqlx::raw_sql("INSERT INTO e VALUES (1)").execute(&mut connection).await.unwrap();
    let failed = sqlx::raw_sql("CREATE UNIQUE INDEX CONCURRENTLY e_x ON e (x)").execute(&mut connection).await;
    assert!(failed.is_err());
    sqlx::raw_sql("DELETE FROM e WHERE ctid = (SELECT max(ctid) FROM e)").execute(&mut connection).await.unwrap();

    project.run_on(&database, &["status"]).expect_code(0).expect_stdout_contains(
        "warning: the index e_x is INVALID; remove it with DROP INDEX CONCURRENTLY IF EXISTS e_x;",
    );
    project.set_migrations(&[
        ("0000_e", 1_700_000_000_000, setup),
        ("0001_idx", 1_700_000_100_000, "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS e_x ON e (x);"),
    ]);
    project
        .run_on(&database, &["release"])
        .expect_code(4)
        .expect_stderr_contains("migration 0001_idx would build an index that exists and is INVALID")
        .expect_stderr_contains("DROP INDEX CONCURRENTLY IF EXISTS e_x;");
    assert_eq!(recorded(&database).await, 1, "not recorded");

    sqlx::raw_sql("DROP INDEX CONCURRENTLY IF EXISTS e_x").execute(&mut connection).await.unwrap();
    project.run_on(&database, &["release"]).expect_code(0).expect_stdout_contains("ran 0001_idx");
    assert_eq!(scalar(&database, "SELECT count(*) FROM pg_index WHERE NOT indisvalid").await, 0);
}

#[tokio::test]
async fn a_new_enum_value_is_usable_by_the_next_migration_of_the_same_release() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[
        (
            "0000_mood",
            1_700_000_000_000,
            "CREATE TYPE mood AS ENUM ('ok');\n--> statement-breakpoint\nCREATE TABLE m (v mood);",
        ),
        ("0001_meh", 1_700_000_100_000, "ALTER TYPE mood ADD VALUE 'meh';"),
        ("0002_use", 1_700_000_200_000, "INSERT INTO m VALUES ('meh');"),
    ]);
    project
        .run_on(&database, &["plan"])
        .expect_code(0)
        .expect_stdout_contains("in a transaction of its own (ALTER TYPE ... ADD VALUE)");
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("applied 3 migrations");
    assert_eq!(scalar(&database, "SELECT count(*) FROM m WHERE v = 'meh'").await, 1);
}

#[tokio::test]
async fn directives_run_a_migration_alone_or_in_its_own_transaction() {
    let database = test_postgres().fresh_database();
    let partitioned = "CREATE TABLE p (id int) PARTITION BY RANGE (id);\n--> statement-breakpoint\n\
                       CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10);\n--> statement-breakpoint\n\
                       CREATE INDEX p_id ON p (id);";
    let project = TestProject::with_migrations(&[
        ("0000_p", 1_700_000_000_000, partitioned),
        ("0001_reindex", 1_700_000_100_000, "-- praxia-deploy: no-transaction\nREINDEX TABLE p;"),
        (
            "0002_serial",
            1_700_000_200_000,
            "-- praxia-deploy: own-transaction\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nSELECT 1;",
        ),
        ("0003_iso", 1_700_000_300_000, "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ;\nCREATE TABLE iso (id int);"),
    ]);
    project
        .run_on(&database, &["plan"])
        .expect_code(0)
        .expect_stdout_contains("alone, outside a transaction (-- praxia-deploy: no-transaction)")
        .expect_stdout_contains("in a transaction of its own (-- praxia-deploy: own-transaction)")
        .expect_stdout_contains("in a transaction of its own (SET TRANSACTION)");
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("applied 4 migrations");

    let unknown =
        TestProject::with_migrations(&[("0000_x", 1_700_000_000_000, "-- praxia-deploy: sometimes\nSELECT 1;")]);
    unknown
        .run_on(&database, &["migrate"])
        .expect_code(4)
        .expect_stderr_contains("0000_x.sql:1:1: unknown praxia-deploy directive `sometimes`");
}

#[tokio::test]
async fn harmless_statements_the_lexer_once_refused_now_run() {
    let database = test_postgres().fresh_database();
    let function = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS end; END;";
    let savepoint = "CREATE TABLE s (id int);\nSAVEPOINT before;\nINSERT INTO s VALUES (1);\nROLLBACK TO SAVEPOINT before;\nRELEASE SAVEPOINT before;";
    let project = TestProject::with_migrations(&[
        ("0000_function", 1_700_000_000_000, function),
        ("0001_savepoint", 1_700_000_100_000, savepoint),
    ]);
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("applied 2 migrations");
    assert_eq!(scalar(&database, "SELECT f()::bigint").await, 1);
    assert_eq!(scalar(&database, "SELECT count(*) FROM s").await, 0);
}
