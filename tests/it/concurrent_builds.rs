//! Statements that wait without blocking the app (`CREATE INDEX CONCURRENTLY`,
//! `VALIDATE CONSTRAINT`...) get their own, longer limits: the app-protecting
//! `lock_timeout` no longer cuts an index build that waits for older
//! transactions, and the wait is reported (an INVALID index a failed build of
//! this run left is dropped again: `migrate::a_concurrent_index_migration_...`).

use std::process::Stdio;

use crate::migrate::{connect, until};
use crate::support::{TestProject, test_postgres};

const TABLE: (&str, i64, &str) = (
    "0000_t",
    1000,
    "CREATE TABLE t (id int PRIMARY KEY, x int);\nINSERT INTO t SELECT g, g % 7 FROM generate_series(1, 100) g;",
);

/// lock_timeout and statement_timeout 1 s: what protects the app from a queue
/// behind ACCESS EXCLUSIVE, and from a long rewrite; neither applies to a build.
const ENVIRONMENT: &str =
    "kind = \"test\"\n[database]\nwait = \"5s\"\nlock_timeout = \"1s\"\nstatement_timeout = \"1s\"\n";

#[tokio::test]
async fn an_index_build_outwaits_an_open_write_transaction_that_lock_timeout_would_have_cut() {
    outwaits_the_app("CREATE INDEX CONCURRENTLY t_x_idx ON t (x);").await;
}

/// The form drizzle's migrator can run too (it runs every migration in one
/// transaction, which CONCURRENTLY refuses): the migration's own COMMIT ends
/// that transaction, the build runs outside it, BEGIN opens the next one.
const DRIZZLE_FORM: &str =
    "COMMIT;\n--> statement-breakpoint\nCREATE INDEX CONCURRENTLY t_x_idx ON t (x);\n--> statement-breakpoint\nBEGIN;";

#[tokio::test]
async fn the_build_drizzles_migrator_can_run_also_outwaits_the_app() {
    outwaits_the_app(DRIZZLE_FORM).await;
}

#[test]
fn drizzles_migrator_applies_the_build_in_its_commit_begin_form() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[TABLE, ("0001_t_x", 2000, DRIZZLE_FORM)]);
    crate::support::drizzle::Drizzle::V0.migrate(&database, &project.path().join("migrations"));
    project.run_on(&database, &["status"]).expect_code(0).expect_stdout_contains("0001_t_x");
}

/// Runs the migration `sql` (after TABLE) while the app holds a write
/// transaction on the table, past lock_timeout; then the app commits.
async fn outwaits_the_app(sql: &str) {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[TABLE]);
    project.file("environments/test.toml", ENVIRONMENT);
    project.run_on(&database, &["migrate"]).expect_code(0);
    project.set_migrations(&[TABLE, ("0001_t_x", 2000, sql)]);

    // The app: a write transaction left open on the table.
    let mut app = connect(&database).await;
    sqlx::raw_sql("BEGIN; INSERT INTO t VALUES (1000, 1)").execute(&mut app).await.unwrap();
    let mut runner =
        project.on(&database).args(["migrate"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The build waits for the app's transaction well past lock_timeout (1 s) and
    // past the first progress report (2 s, with room for a loaded machine's late
    // polls); the old runner gave up at 1 s.
    let mut observer = connect(&database).await;
    let waited = "SELECT EXISTS (SELECT FROM pg_stat_progress_create_index p JOIN pg_stat_activity a USING (pid) \
                  WHERE a.datname = current_database() AND a.query LIKE '%CREATE INDEX CONCURRENTLY%' \
                  AND now() - a.query_start > interval '6 seconds')";
    let gave_up = "SELECT NOT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE '%CREATE INDEX CONCURRENTLY%' \
                   AND state = 'active' AND datname = current_database() AND pid <> pg_backend_pid())";
    let mut outwaited = false;
    for _ in 0..600 {
        if sqlx::query_scalar::<_, bool>(waited).fetch_one(&mut observer).await.unwrap() {
            outwaited = true;
            break;
        }
        if runner.try_wait().unwrap().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    sqlx::raw_sql("COMMIT").execute(&mut app).await.unwrap();
    let output = runner.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success() && outwaited, "the build gave up:\n{stdout}\n{stderr}");
    let said = format!("{stdout}{stderr}");
    assert!(said.contains("the migration has waited"), "no progress while it waited:\n{said}");
    assert!(said.contains("CREATE INDEX CONCURRENTLY: waiting for writers before build"), "{said}");
    assert!(said.contains("idle in transaction"), "the blocking session is not described:\n{said}");
    until(&mut observer, gave_up).await;
    let valid: bool = sqlx::query_scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 't_x_idx'::regclass")
        .fetch_one(&mut observer)
        .await
        .unwrap();
    assert!(valid);
}

/// An INVALID index this run did not build is still refused, as before.
#[tokio::test]
async fn an_invalid_index_an_earlier_run_left_is_still_refused() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[TABLE]);
    project.file("environments/test.toml", ENVIRONMENT);
    project.run_on(&database, &["migrate"]).expect_code(0);
    let mut connection = connect(&database).await;
    // An INVALID index, as a killed build leaves it.
    sqlx::raw_sql(
        "CREATE INDEX t_x_idx ON t (x); UPDATE pg_index SET indisvalid = false WHERE indexrelid = 't_x_idx'::regclass",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    project.set_migrations(&[TABLE, ("0001_t_x", 2000, "CREATE INDEX CONCURRENTLY IF NOT EXISTS t_x_idx ON t (x);")]);
    project
        .run_on(&database, &["migrate"])
        .expect_code(4)
        .expect_stderr_contains("would build an index that exists and is INVALID");
}

/// Only an index this run's build created is dropped: a same-named index another
/// session builds meanwhile in another schema (INVALID while it builds, absent
/// before the statement) is not this run's, though its name is the statement's.
#[tokio::test]
async fn a_failed_build_never_drops_a_same_named_index_another_session_builds() {
    let database = test_postgres().fresh_database();
    let tables = (
        "0000_u",
        1000,
        "CREATE TABLE u (x int);\nINSERT INTO u VALUES (1), (1), (2);\n--> statement-breakpoint\n\
         CREATE SCHEMA other;\nCREATE TABLE other.u (x int);",
    );
    let project = TestProject::with_migrations(&[tables]);
    project.file("environments/test.toml", ENVIRONMENT);
    project.run_on(&database, &["migrate"]).expect_code(0);
    project.set_migrations(&[tables, ("0001_u_x", 2000, "CREATE UNIQUE INDEX CONCURRENTLY u_x_key ON u (x);")]);

    // The app writes to u: the run's build waits for it, its INVALID index made.
    let mut app = connect(&database).await;
    sqlx::raw_sql("BEGIN; INSERT INTO u VALUES (3)").execute(&mut app).await.unwrap();
    let mut runner =
        project.on(&database).args(["migrate"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut observer = connect(&database).await;
    until(
        &mut observer,
        "SELECT EXISTS (SELECT FROM pg_stat_progress_create_index WHERE index_relid = to_regclass('public.u_x_key'))",
    )
    .await;
    // Someone else builds other.u_x_key, held up by a writer of other.u.
    let mut writer = connect(&database).await;
    sqlx::raw_sql("BEGIN; INSERT INTO other.u VALUES (1)").execute(&mut writer).await.unwrap();
    let mut dba = connect(&database).await;
    let theirs = tokio::spawn(async move {
        sqlx::raw_sql("CREATE INDEX CONCURRENTLY u_x_key ON other.u (x)").execute(&mut dba).await.map(|_| ())
    });
    until(
        &mut observer,
        "SELECT EXISTS (SELECT FROM pg_stat_progress_create_index WHERE index_relid = to_regclass('other.u_x_key'))",
    )
    .await;
    // The run's build goes on and fails on the duplicates.
    sqlx::raw_sql("COMMIT").execute(&mut app).await.unwrap();
    // Wait until the runner has finished, or is dropping the other index.
    let dropping_theirs = "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE 'DROP INDEX CONCURRENTLY%other.u_x_key%' \
                           AND pid <> pg_backend_pid())";
    for _ in 0..600 {
        if runner.try_wait().unwrap().is_some()
            || sqlx::query_scalar::<_, bool>(dropping_theirs).fetch_one(&mut observer).await.unwrap()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    sqlx::raw_sql("COMMIT").execute(&mut writer).await.unwrap();
    theirs.await.unwrap().expect("the other session's build");
    let output = runner.wait_with_output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(6), "{said}");
    assert!(said.contains("dropped: the INVALID index u_x_key its failed build left"), "{said}");
    assert!(!said.contains("other.u_x_key"), "the other session's index was taken for this run's:\n{said}");
    let valid: Option<bool> =
        sqlx::query_scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = to_regclass('other.u_x_key')")
            .fetch_optional(&mut observer)
            .await
            .unwrap();
    assert_eq!(valid, Some(true), "the other session's index was dropped:\n{said}");
}

/// A limit a statement-by-statement migration sets itself holds for its later
/// statements, as when the runner's limits were set once before them: the
/// per-statement limits of a build do not overwrite it.
#[tokio::test]
async fn a_limit_the_migration_sets_itself_holds_for_its_later_statements() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[TABLE]);
    project.file("environments/test.toml", ENVIRONMENT);
    project.run_on(&database, &["migrate"]).expect_code(0);
    // statement_timeout is 1 s in the environment; the migration asks for 10 s.
    let own = "SET statement_timeout = '10s';\n--> statement-breakpoint\nSELECT pg_sleep(2);\n\
               --> statement-breakpoint\nCREATE INDEX CONCURRENTLY t_x_idx ON t (x);";
    project.set_migrations(&[TABLE, ("0001_t_x", 2000, own)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
}

/// The same in the form drizzle's migrator runs: the limits restored after the
/// build keep what the migration set itself.
#[tokio::test]
async fn a_limit_the_migration_sets_itself_holds_after_its_own_commit_and_build() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[TABLE]);
    project.file("environments/test.toml", ENVIRONMENT);
    project.run_on(&database, &["migrate"]).expect_code(0);
    // statement_timeout is 1 s in the environment; the migration asks for 10 s.
    let own = format!(
        "SET statement_timeout = '10s';\n--> statement-breakpoint\n{DRIZZLE_FORM}\n--> statement-breakpoint\nSELECT pg_sleep(2);"
    );
    project.set_migrations(&[TABLE, ("0001_t_x", 2000, own.as_str())]);
    project.run_on(&database, &["migrate"]).expect_code(0);
}
