//! `migrate`, `release`, `status`, `plan`, `new` against a real database: what is
//! applied, what is refused (and that nothing was written then), the lock, the
//! waits, and what the user reads.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{TestDatabase, TestProject, test_postgres};
use sqlx::{Connection, PgConnection};

const CREATE_A: &str = "CREATE TABLE a (id int PRIMARY KEY);";
const CREATE_B: &str = "CREATE TABLE b (id int PRIMARY KEY);\n--> statement-breakpoint\nINSERT INTO b VALUES (1), (2);";
const CREATE_C: &str = "CREATE TABLE c (id int);";

pub(crate) async fn connect(database: &TestDatabase) -> PgConnection {
    PgConnection::connect(&database.url).await.expect("connect to the test database")
}

async fn drizzle_rows(database: &TestDatabase) -> Vec<(i32, String, Option<i64>)> {
    let mut connection = connect(database).await;
    sqlx::query_as("SELECT id, hash, created_at FROM drizzle.__drizzle_migrations ORDER BY id")
        .fetch_all(&mut connection)
        .await
        .unwrap_or_default()
}

async fn tables(database: &TestDatabase) -> Vec<String> {
    let mut connection = connect(database).await;
    sqlx::query_scalar("SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")
        .fetch_all(&mut connection)
        .await
        .unwrap()
}

/// Polls `sql` (one boolean) on `observer` until it is true, for at most 30 s:
/// a test waits for what it needs to see, never for a guessed time.
pub(crate) async fn until(observer: &mut PgConnection, sql: &str) {
    for _ in 0..600 {
        if sqlx::query_scalar::<_, bool>(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut *observer).await.unwrap() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("never true within 30 s: {sql}");
}

fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn migrate_applies_everything_pending_and_records_it_like_drizzle() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A), ("0001_b", 2000, CREATE_B)]);
    let outcome = project.run_on(&database, &["migrate"]);
    outcome
        .expect_code(0)
        .expect_stdout_contains("  ran 0000_a (")
        .expect_stdout_contains("  ran 0001_b (")
        .expect_stdout_contains("applied 2 migrations in ");

    assert_eq!(
        drizzle_rows(&database).await,
        [(1, sha256_hex(CREATE_A), Some(1000)), (2, sha256_hex(CREATE_B), Some(2000))]
    );
    let mut connection = connect(&database).await;
    let log: Vec<(String, String, i64, String, String, String)> = sqlx::query_as(
        "SELECT tag, hash, created_at, applied_by, tool_version, environment FROM praxia_deploy.migration_log ORDER BY id",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!((log[1].0.as_str(), log[1].1.as_str(), log[1].2), ("0001_b", sha256_hex(CREATE_B).as_str(), 2000));
    assert!(log[1].3.contains('@'), "applied_by is user@host: {}", log[1].3);
    assert_eq!((log[1].4.as_str(), log[1].5.as_str()), (env!("CARGO_PKG_VERSION"), "test"));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM b").fetch_one(&mut connection).await.unwrap();
    assert_eq!(count, 2);

    let again = project.run_on(&database, &["migrate"]);
    again.expect_code(0).expect_stdout_contains("nothing to do: 2 migrations applied, none pending");
    assert_eq!(drizzle_rows(&database).await.len(), 2);
}

#[tokio::test]
async fn nothing_pending_creates_nothing_but_the_environment_stamp() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[]);
    project.run_on(&database, &["status"]).expect_code(0).expect_stdout_contains("stamp        none yet");
    assert!(tables(&database).await.is_empty(), "status wrote {:?}", tables(&database).await);

    project.run_on(&database, &["release"]).expect_code(0).expect_stdout_contains("nothing to do");
    let own = ["praxia_deploy.environment", "praxia_deploy.migration_log"];
    assert_eq!(tables(&database).await, own, "only praxia-deploy's own schema, for the stamp, is written");
    let mut connection = connect(&database).await;
    let stamped_at = "SELECT stamped_at::text FROM praxia_deploy.environment";
    let first: String = sqlx::query_scalar(stamped_at).fetch_one(&mut connection).await.unwrap();

    project.run_on(&database, &["release"]).expect_code(0).expect_stdout_contains("nothing to do");
    assert_eq!(tables(&database).await, own);
    let second: String = sqlx::query_scalar(stamped_at).fetch_one(&mut connection).await.unwrap();
    assert_eq!(first, second, "a no-op release wrote the stamp again");
}

#[tokio::test]
async fn an_edited_applied_migration_is_refused_and_nothing_is_written() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    project.set_migrations(&[("0000_a", 1000, "CREATE TABLE a (id bigint PRIMARY KEY);"), ("0001_c", 3000, CREATE_C)]);

    let outcome = project.run_on(&database, &["migrate"]);
    outcome
        .expect_code(4)
        .expect_stderr_contains("error: migration 0000_a was edited after it was applied")
        .expect_stderr_contains("0000_a.sql")
        .expect_stderr_contains(&format!("applied hash: {}", sha256_hex(CREATE_A)))
        .expect_stderr_contains(&format!("current hash: {}", sha256_hex("CREATE TABLE a (id bigint PRIMARY KEY);")))
        .expect_stderr_contains(
            "make the change in the TypeScript schema and run `praxia-deploy generate NAME` for a new one",
        );
    assert!(!tables(&database).await.contains(&"public.c".to_owned()), "the pending migration ran anyway");
    assert_eq!(drizzle_rows(&database).await.len(), 1);

    let status = project.run_on(&database, &["--output", "json", "status"]);
    let document = status.expect_code(4).json();
    assert_eq!(document["result"]["problems"][0]["kind"], "edited_after_applied");
    assert_eq!(document["result"]["problems"][0]["tag"], "0000_a");
    assert!(document["result"]["problems"][0]["detail"].as_str().unwrap().contains("edited"));
    assert_eq!(document["error"]["exit_code"], 4);
}

#[tokio::test]
async fn an_applied_migration_missing_from_the_folder_is_refused() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A), ("0001_b", 2000, CREATE_B)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    project.set_migrations(&[("0000_a", 1000, CREATE_A), ("0001_c", 3000, CREATE_C)]);
    project
        .run_on(&database, &["migrate"])
        .expect_code(4)
        .expect_stderr_contains("the database has an applied migration that is not in the folder")
        .expect_stderr_contains("when 2000");
    assert!(!tables(&database).await.contains(&"public.c".to_owned()));
}

#[tokio::test]
async fn a_late_merged_migration_is_refused_unless_allowed() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A), ("0001_c", 3000, CREATE_C)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    project.set_migrations(&[("0000_a", 1000, CREATE_A), ("0001_b", 2000, CREATE_B), ("0002_c", 3000, CREATE_C)]);

    project
        .run_on(&database, &["migrate"])
        .expect_code(4)
        .expect_stderr_contains("migration 0001_b is older than the newest applied migration")
        .expect_stderr_contains("--allow-out-of-order");
    assert!(!tables(&database).await.contains(&"public.b".to_owned()));

    project.run_on(&database, &["migrate", "--allow-out-of-order"]).expect_code(0).expect_stdout_contains("ran 0001_b");
    assert_eq!(drizzle_rows(&database).await.len(), 3);
    project.run_on(&database, &["status", "--exit-code"]).expect_code(0);
}

#[tokio::test]
async fn a_failing_statement_rolls_back_the_whole_release_and_names_where() {
    let database = test_postgres().fresh_database();
    let broken = "CREATE TABLE d (id int);\n--> statement-breakpoint\nINSERT INTO d VALUES (1);\n--> statement-breakpoint\nINSERT INTO d\n  VALUES ('not a number');";
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A), ("0001_d", 2000, broken)]);
    let outcome = project.run_on(&database, &["migrate"]);
    outcome
        .expect_code(6)
        .expect_stderr_contains(
            "migration 0001_d failed; its transaction was rolled back and nothing of it was recorded",
        )
        .expect_stderr_contains("0001_d.sql:6:11")
        .expect_stderr_contains("statement: 3 of 3")
        .expect_stderr_contains("sqlstate: 22P02")
        .expect_stderr_contains("invalid input syntax for type integer")
        .expect_stderr_contains("also rolled back: 0000_a");
    assert!(tables(&database).await.is_empty(), "the failed release left {:?}", tables(&database).await);
}

/// The folder is read while the connection is made: its error is named first,
/// however soon a refused connection gives up, and when the URL cannot be used at all.
#[tokio::test]
async fn a_malformed_folder_is_refused_before_connecting() {
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    project
        .file("migrations/meta/_journal.json", "{\"dialect\": \"postgresql\",\n\"entries\": [\n  {\"idx\": 0, }\n]}");
    let commands: [&[&str]; 6] = [
        &["status"],
        &["migrate", "--dry-run"],
        &["migrate"],
        &["release"],
        &["migrate", "--wait", "0s"],
        &["release", "--wait", "0s"],
    ];
    for url in ["postgres://nobody@127.0.0.1:1/none", "mysql://nobody@127.0.0.1:1/none"] {
        let database = TestDatabase { name: "none".into(), url: url.into() };
        for command in commands {
            project
                .run_on(&database, command)
                .expect_code(4)
                .expect_stderr_contains("migrations/meta/_journal.json:3:14 is malformed");
        }
    }
}

#[tokio::test]
async fn a_file_the_journal_does_not_list_is_named_and_left_alone_as_drizzle_leaves_it() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    // A merge's leftover: drizzle ignores it, and three of four real projects have one.
    project.file("migrations/0001_left_over.sql", "DROP TABLE a;");
    for command in [&["status"][..], &["plan"], &["lint"], &["migrate"], &["release"]] {
        project
            .run_on(&database, command)
            .expect_code(0)
            .expect_stderr_contains("0001_left_over.sql is not in")
            .expect_stderr_contains(
                "drizzle ignores it, and so does praxia-deploy; add it to the journal or delete it",
            );
    }
    assert!(tables(&database).await.contains(&"public.a".to_owned()), "the file never ran");
    // An environment may refuse such a folder.
    let environment = crate::support::project::TEST_ENVIRONMENT;
    project.file("environments/test.toml", &format!("{environment}\n[migrations]\noutside_journal = \"refuse\"\n"));
    project
        .run_on(&database, &["status"])
        .expect_code(4)
        .expect_stderr_contains("0001_left_over.sql is in the migration folder but not in the journal");
    // lint still reviews the folder, and says so.
    project
        .run_on(&database, &["lint"])
        .expect_code(0)
        .expect_stdout_contains("in 1 migration")
        .expect_stderr_contains("0001_left_over.sql is not in");
}

#[tokio::test]
async fn dry_run_and_plan_show_the_sql_and_change_nothing() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[
        ("0000_b", 1000, CREATE_B),
        ("0001_idx", 2000, "CREATE INDEX CONCURRENTLY b_id ON b (id);"),
    ]);
    let outcome = project.run_on(&database, &["migrate", "--dry-run"]);
    outcome
        .expect_code(0)
        .expect_stdout_contains("dry run: nothing was changed")
        .expect_stdout_contains("-- 0000_b (")
        .expect_stdout_contains("-- statement 2, line 3\nINSERT INTO b VALUES (1), (2);")
        .expect_stdout_contains("alone, outside a transaction (CREATE INDEX CONCURRENTLY)");
    assert!(tables(&database).await.is_empty());

    let document = project.run_on(&database, &["--output", "json", "plan"]).expect_code(0).json();
    let pending = &document["result"]["pending"];
    assert_eq!(pending[0]["tag"], "0000_b");
    assert_eq!(pending[0]["mode"], "transactional");
    assert_eq!(pending[0]["statements"][1]["sql"], "INSERT INTO b VALUES (1), (2);");
    assert_eq!(pending[1]["mode"], "non_transactional");
    assert_eq!(pending[1]["because"], "CREATE INDEX CONCURRENTLY");
    assert!(tables(&database).await.is_empty());
}

#[tokio::test]
async fn status_shows_applied_and_pending_and_exit_code_8_when_asked() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1_761_955_200_000, CREATE_A)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    project.set_migrations(&[("0000_a", 1_761_955_200_000, CREATE_A), ("0001_c", 1_761_955_260_000, CREATE_C)]);

    let outcome = project.run_on(&database, &["status"]);
    outcome
        .expect_code(0)
        .expect_stdout_contains("applied   0000_a     2025-11-01 00:00:00")
        .expect_stdout_contains("pending   0001_c     2025-11-01 00:01:00  in the transaction")
        .expect_stdout_contains("1 applied, 1 pending");
    assert!(outcome.stdout.contains("postgres@127.0.0.1:"), "{}", outcome.stdout);

    let document = project.run_on(&database, &["--output", "json", "status", "--exit-code"]).expect_code(8).json();
    assert_eq!(document["ok"], false);
    assert_eq!(document["result"]["applied"][0]["tag"], "0000_a");
    assert_eq!(document["result"]["pending"][0]["tag"], "0001_c");
    assert_eq!(document["result"]["environment"]["kind"], "test");
    assert_eq!(document["error"]["kind"], "pending");
}

#[tokio::test]
async fn json_output_of_migrate_is_one_document_with_what_ran() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    let outcome = project.run_on(&database, &["--output", "json", "migrate"]);
    let document = outcome.expect_code(0).json();
    assert_eq!(document["command"], "migrate");
    assert_eq!(document["result"]["ran"][0]["tag"], "0000_a");
    assert_eq!(document["result"]["applied"][0]["tag"], "0000_a");
    assert_eq!(document["result"]["pending"].as_array().unwrap().len(), 0);
    assert_eq!(document["result"]["bookkeeping"], "drizzle.__drizzle_migrations");
}

#[tokio::test]
async fn a_concurrent_index_migration_runs_alone_and_a_failed_build_drops_its_invalid_index() {
    let database = test_postgres().fresh_database();
    let dupes = "CREATE TABLE e (x int);\n--> statement-breakpoint\nINSERT INTO e VALUES (1), (1);";
    let project = TestProject::with_migrations(&[
        ("0000_e", 1000, dupes),
        ("0001_idx", 2000, "CREATE UNIQUE INDEX CONCURRENTLY e_x ON e (x);"),
    ]);
    let outcome = project.run_on(&database, &["migrate"]);
    outcome
        .expect_code(6)
        .expect_stderr_contains("migration 0001_idx failed; it runs outside a transaction")
        .expect_stderr_contains("sqlstate: 23505")
        .expect_stderr_contains("dropped: the INVALID index e_x its failed build left")
        .expect_stderr_contains("the next run builds it anew");
    assert_eq!(
        drizzle_rows(&database).await.len(),
        1,
        "the batch before it is committed; the failed one is not recorded"
    );
    let mut connection = connect(&database).await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_class WHERE relname = 'e_x'")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(left, 0, "the INVALID index its build left is still there");

    // Nothing to remove by hand: the duplicates fixed, the next run builds the index.
    sqlx::raw_sql("DELETE FROM e WHERE ctid = (SELECT max(ctid) FROM e)").execute(&mut connection).await.unwrap();
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("ran 0001_idx");
    let valid: bool = sqlx::query_scalar("SELECT indisvalid FROM pg_index WHERE indexrelid = 'e_x'::regclass")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert!(valid);
    assert_eq!(drizzle_rows(&database).await.len(), 2);
}

#[tokio::test]
async fn a_held_lock_is_waited_for_and_named_then_gives_up_with_exit_5() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    let key = lock_key();
    let mut holder = connect(&database).await;
    sqlx::query("SET application_name = 'another deploy'").execute(&mut holder).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)").bind(key).execute(&mut holder).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut holder).await.unwrap();

    let outcome = project.run_on(&database, &["migrate", "--lock-wait", "1s"]);
    outcome
        .expect_code(5)
        .expect_stderr_contains("the migration lock was not acquired within 1s")
        .expect_stderr_contains(&format!("held by: pid {pid} (another deploy), connected since "));
    assert!(tables(&database).await.is_empty());

    // Released while a runner waits: it goes on.
    let waiting =
        project.on(&database).args(["migrate"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // Its lock connection is up: it is polling for the lock.
    until(
        &mut holder,
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name LIKE 'praxia-deploy migrate%lock' \
         AND datname = current_database())",
    )
    .await;
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(&mut holder).await.unwrap();
    let output = waiting.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(drizzle_rows(&database).await.len(), 1);
}

fn lock_key() -> i64 {
    let settings = toml::from_str("").unwrap();
    praxia_deploy::migrations::bookkeeping::Bookkeeping::new(&settings).lock_key()
}

#[tokio::test]
async fn a_lock_timeout_rolls_the_batch_back_and_retries_it() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    project.file("environments/test.toml", "kind = \"test\"\n[database]\nwait = \"5s\"\nlock_timeout = \"200ms\"\n");
    project.set_migrations(&[("0000_a", 1000, CREATE_A), ("0001_alter", 2000, "ALTER TABLE a ADD COLUMN note text;")]);

    let mut blocker = connect(&database).await;
    sqlx::raw_sql("BEGIN; LOCK TABLE a IN ACCESS EXCLUSIVE MODE").execute(&mut blocker).await.unwrap();
    let runner = project.on(&database).args(["migrate"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The ALTER waits for the table, times out (200 ms) and is rolled back: then the lock is let go.
    let mut observer = connect(&database).await;
    let waiting = "SELECT EXISTS (SELECT FROM pg_locks WHERE relation = 'a'::regclass AND NOT granted)";
    until(&mut observer, waiting).await;
    until(&mut observer, &waiting.replace("SELECT EXISTS", "SELECT NOT EXISTS")).await;
    sqlx::raw_sql("COMMIT").execute(&mut blocker).await.unwrap();
    let output = runner.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("55P03") && stderr.contains("retry 1"), "{stderr}");
    assert_eq!(drizzle_rows(&database).await.len(), 2);
}

#[tokio::test]
async fn four_runners_at_once_apply_each_migration_exactly_once() {
    let database = test_postgres().fresh_database();
    let migrations: Vec<(String, i64, String)> =
        (0..20).map(|i| (format!("{i:04}_t{i}"), 1000 + i, format!("CREATE TABLE t{i} (id int);"))).collect();
    let borrowed: Vec<(&str, i64, &str)> = migrations.iter().map(|(t, w, s)| (t.as_str(), *w, s.as_str())).collect();
    let project = TestProject::with_migrations(&borrowed);
    let runners: Vec<_> = (0..4)
        .map(|_| project.on(&database).arg("migrate").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
        .collect();
    for runner in runners {
        let output = runner.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    let rows = drizzle_rows(&database).await;
    assert_eq!(rows.len(), 20, "every migration recorded exactly once");
    let mut connection = connect(&database).await;
    let logged: i64 = sqlx::query_scalar("SELECT count(*) FROM praxia_deploy.migration_log")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(logged, 20);
}

#[tokio::test]
async fn a_runner_killed_mid_migration_leaves_the_schema_as_it_was() {
    let database = test_postgres().fresh_database();
    let slow = "CREATE TABLE slow (id int);\n--> statement-breakpoint\nSELECT pg_sleep(30);";
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A), ("0001_slow", 2000, slow)]);
    let mut runner = project.on(&database).arg("migrate").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();

    let mut observer = connect(&database).await;
    let mut sleeping = false;
    for _ in 0..100 {
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()",
        )
        .fetch_one(&mut observer)
        .await
        .unwrap();
        if count > 0 {
            sleeping = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(sleeping, "the slow migration never started");
    runner.kill().unwrap(); // SIGKILL
    runner.wait().unwrap();
    assert!(tables(&database).await.is_empty(), "a killed run left {:?}", tables(&database).await);

    project.set_migrations(&[("0000_a", 1000, CREATE_A), ("0001_slow", 2000, "CREATE TABLE slow (id int);")]);
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("applied 2 migrations");
}

#[tokio::test]
async fn a_second_runner_waiting_on_a_concurrent_index_build_does_not_deadlock() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[
        (
            "0000_f",
            1000,
            "CREATE TABLE f (x int);\n--> statement-breakpoint\nINSERT INTO f SELECT generate_series(1, 1000);",
        ),
        ("0001_idx", 2000, "SELECT pg_sleep(1);\n--> statement-breakpoint\nCREATE INDEX CONCURRENTLY f_x ON f (x);"),
    ]);
    let first = project.on(&database).arg("migrate").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // The first holds the lock, in its second migration's sleep, when the second starts.
    let mut observer = connect(&database).await;
    until(
        &mut observer,
        "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE '%pg_sleep(1)%' AND state = 'active' \
         AND datname = current_database() AND pid <> pg_backend_pid())",
    )
    .await;
    let second = project.on(&database).arg("migrate").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    for runner in [first, second] {
        let output = runner.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(drizzle_rows(&database).await.len(), 2);
}

#[tokio::test]
async fn a_database_that_is_not_up_yet_is_waited_for_then_exit_5() {
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    let port = praxia_deploy::pgserver::free_loopback_port().unwrap();
    let nowhere = TestDatabase { name: "x".into(), url: format!("postgres://postgres@127.0.0.1:{port}/postgres") };
    let outcome = project.run_on(&nowhere, &["migrate", "--wait", "1s"]);
    outcome
        .expect_code(5)
        .expect_stderr_contains("was not reachable within 1s")
        .expect_stderr_contains("database not reachable yet")
        .expect_stderr_contains("attempts: ");
}

#[tokio::test]
async fn a_server_that_starts_late_is_waited_for() {
    use praxia_deploy::pgserver::{Cluster, Durability, PgBinaries, ServerAccount, StopMode};
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let cluster = Cluster::in_dir(
        &dir.path().join("pg"),
        PgBinaries::locate().unwrap(),
        ServerAccount::for_this_process().unwrap(),
    );
    cluster.init(Durability::Throwaway).unwrap();
    let late = TestDatabase { name: "postgres".into(), url: cluster.url("postgres").unwrap() };

    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    let mut runner = project
        .on(&late)
        .args(["migrate", "--wait", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Started once the runner says it is waiting for it.
    let mut stderr = std::io::BufReader::new(runner.stderr.take().unwrap());
    let mut said = String::new();
    while !said.contains("database not reachable yet") {
        let read = std::io::BufRead::read_line(&mut stderr, &mut said).unwrap();
        assert!(read > 0, "the runner ended without waiting: {said}");
    }
    cluster.start().unwrap();
    std::io::Read::read_to_string(&mut stderr, &mut said).unwrap();
    let status = runner.wait().unwrap();
    let _ = cluster.stop(StopMode::Immediate);
    assert!(status.success(), "{said}");
}

#[tokio::test]
async fn new_creates_the_next_migration_that_migrate_then_applies() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    let outcome = project.run_on(&database, &["--output", "json", "new", "add_notes"]);
    let document = outcome.expect_code(0).json();
    assert_eq!(document["result"]["tag"], "0001_add_notes");
    let file = project.path().join("migrations/0001_add_notes.sql");
    assert!(file.is_file());
    std::fs::write(&file, "ALTER TABLE a ADD COLUMN note text;").unwrap();
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("ran 0001_add_notes");

    project
        .run_on(&database, &["new", "Add Notes!"])
        .expect_code(2)
        .expect_stderr_contains("try `praxia-deploy new add_notes`");
    assert!(!project.path().join("migrations/0002_Add Notes!.sql").exists());
}

#[test]
fn release_migrates_the_embedded_development_database() {
    let project = TestProject::from_repo();
    let outcome = project.run(&["release", "--env", "development"]);
    outcome
        .expect_code(0)
        .expect_stdout_contains("ran 0000_better_auth")
        .expect_stdout_contains("ran 0001_praxia_organizations")
        .expect_stdout_contains("applied 2 migrations");
    project
        .run(&["release", "--env", "development"])
        .expect_code(0)
        .expect_stdout_contains("nothing to do: 2 migrations applied");
    let tables = project.run(&[
        "db",
        "psql",
        "--",
        "-tAc",
        "select count(*) from information_schema.tables where table_schema = 'public'",
    ]);
    assert_eq!(tables.expect_code(0).stdout.trim(), "7");
}

#[tokio::test]
async fn a_failure_after_a_committed_step_names_what_was_committed() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[
        ("0000_a", 1000, CREATE_A),
        ("0001_idx", 2000, "CREATE INDEX CONCURRENTLY a_id ON a (id);"),
        ("0002_bad", 3000, "CREATE TABLE bad (x nosuchtype);"),
    ]);
    let outcome = project.run_on(&database, &["migrate"]);
    outcome
        .expect_code(6)
        .expect_stderr_contains("migration 0002_bad failed; its transaction was rolled back")
        .expect_stderr_contains("committed before it: 0000_a, 0001_idx")
        .expect_stderr_contains("0002_bad.sql:1:21");
    assert!(outcome.stdout.contains("ran 0000_a") && outcome.stdout.contains("ran 0001_idx"), "{}", outcome.stdout);
    assert!(!outcome.stdout.contains("ran 0002_bad"), "a rolled-back migration was reported as run");
    assert_eq!(drizzle_rows(&database).await.len(), 2);
}

#[tokio::test]
async fn a_lost_migration_lock_commits_nothing_more() {
    let database = test_postgres().fresh_database();
    let slow = "CREATE TABLE slow (id int);\n--> statement-breakpoint\nSELECT pg_sleep(1.5);";
    let project = TestProject::with_migrations(&[("0000_slow", 1000, slow)]);
    let runner = project.on(&database).arg("migrate").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut observer = connect(&database).await;
    let mut terminated = false;
    for _ in 0..100 {
        terminated = sqlx::query_scalar(
            "SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity \
             WHERE application_name LIKE 'praxia-deploy migrate%lock' AND datname = current_database()",
        )
        .fetch_one(&mut observer)
        .await
        .unwrap();
        if terminated {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(terminated, "the lock session never appeared");
    let output = runner.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("the migration lock was lost"), "{stderr}");
    assert!(tables(&database).await.is_empty(), "committed without the lock: {:?}", tables(&database).await);
}

#[tokio::test]
async fn a_lost_lock_stops_a_migration_that_commits_itself_before_its_next_part() {
    // BEGIN only: recorded in its own transaction, so nothing of it commits without
    // the lock. With its own COMMIT: what that COMMIT committed stays (as under
    // drizzle), but nothing after the lock is lost runs.
    let cases = [
        ("BEGIN;\nCREATE TABLE slow (id int);\nSELECT pg_sleep(1.5);", vec![]),
        (
            "CREATE TABLE first (id int);\n--> statement-breakpoint\nCOMMIT;\n--> statement-breakpoint\nSELECT pg_sleep(1.5);\n--> statement-breakpoint\nCREATE TABLE second (id int);",
            vec!["public.first".to_owned()],
        ),
    ];
    for (sql, expected) in cases {
        let database = test_postgres().fresh_database();
        let project = TestProject::with_migrations(&[("0000_slow", 1000, sql)]);
        let runner =
            project.on(&database).arg("migrate").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut observer = connect(&database).await;
        let mut terminated = false;
        for _ in 0..100 {
            // Only once the sleep runs: the lock is lost in the middle of the migration.
            terminated = sqlx::query_scalar(
                "SELECT coalesce(bool_or(pg_terminate_backend(pid)), false) FROM pg_stat_activity \
                 WHERE application_name LIKE 'praxia-deploy migrate%lock' AND datname = current_database() \
                 AND EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE '%pg_sleep(1.5)%' AND state = 'active' AND datname = current_database() AND pid <> pg_backend_pid())",
            )
            .fetch_one(&mut observer)
            .await
            .unwrap();
            if terminated {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(terminated, "the lock session never appeared during the sleep");
        let output = runner.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(5), "{sql}\n{stderr}");
        assert!(stderr.contains("the migration lock was lost"), "{stderr}");
        assert_eq!(tables(&database).await, expected, "{sql}");
        assert!(drizzle_rows(&database).await.is_empty(), "{sql}: recorded without the lock");
    }
}

#[tokio::test]
async fn a_comment_ended_by_a_carriage_return_still_runs_what_follows() {
    let database = test_postgres().fresh_database();
    let project =
        TestProject::with_migrations(&[("0000_cr", 1000, "-- made on an old Mac\rCREATE TABLE d (x int);\n")]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    assert_eq!(
        tables(&database).await,
        ["drizzle.__drizzle_migrations", "praxia_deploy.environment", "praxia_deploy.migration_log", "public.d"]
    );
}

#[test]
fn a_server_that_accepts_and_never_answers_is_given_up_on() {
    let silent = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = silent.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let connections: Vec<_> = silent.incoming().take(3).filter_map(Result::ok).collect();
        std::thread::sleep(Duration::from_secs(30));
        drop(connections);
    });
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    let nowhere = TestDatabase {
        name: "x".into(),
        url: format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable"),
    };
    let mut runner = project
        .on(&nowhere)
        .args(["migrate", "--wait", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while runner.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            runner.kill().unwrap();
            panic!("migrate hung on a server that never answers");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = runner.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("no answer within"), "{stderr}");
    drop(held);
}

#[tokio::test]
async fn a_journal_that_is_not_utf8_or_not_a_file_is_an_integrity_error_naming_it() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    std::fs::write(project.path().join("migrations/meta/_journal.json"), b"{\"version\": \"7\xff\"}").unwrap();
    project
        .run_on(&database, &["status"])
        .expect_code(4)
        .expect_stderr_contains("meta/_journal.json:1:15 is not valid UTF-8");
    std::fs::remove_file(project.path().join("migrations/meta/_journal.json")).unwrap();
    std::fs::create_dir(project.path().join("migrations/meta/_journal.json")).unwrap();
    project
        .run_on(&database, &["status"])
        .expect_code(4)
        .expect_stderr_contains("_journal.json is a folder, not a file");
}

#[tokio::test]
async fn a_damaged_stamp_table_is_reported_as_such_and_not_taken_for_an_unstamped_database() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    project.run_on(&database, &["release"]).expect_code(0);
    let mut connection = connect(&database).await;
    sqlx::raw_sql("ALTER TABLE praxia_deploy.environment DROP COLUMN stamped_by")
        .execute(&mut connection)
        .await
        .unwrap();

    for command in ["status", "release"] {
        project
            .run_on(&database, &[command])
            .expect_code(5)
            .expect_stderr_contains("could not read the migration state")
            .expect_stderr_contains("stamped_by");
    }
}

#[tokio::test]
async fn a_damaged_bookkeeping_table_is_an_error_not_everything_pending() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    let mut connection = connect(&database).await;
    sqlx::raw_sql("ALTER TABLE drizzle.__drizzle_migrations DROP COLUMN hash").execute(&mut connection).await.unwrap();

    for command in ["status", "migrate"] {
        project
            .run_on(&database, &[command])
            .expect_code(5)
            .expect_stderr_contains("could not read the migration state");
    }
    assert_eq!(tables(&database).await.iter().filter(|table| table.as_str() == "public.a").count(), 1);
}

/// Sends SIGCONT when dropped, so a stopped backend never outlives its test.
struct Stopped(i32);

impl Drop for Stopped {
    fn drop(&mut self) {
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

#[tokio::test]
async fn a_lock_connection_that_stops_answering_is_replaced_within_the_wait() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    let key = lock_key();
    let mut holder = connect(&database).await;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(key).execute(&mut holder).await.unwrap();
    let waiting = project
        .on(&database)
        .args(["migrate", "--lock-wait", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The runner's lock connection, asking again every 250 ms: stop its backend (a failover, a frozen VM).
    let mut lock_pid = None;
    for _ in 0..100 {
        lock_pid = sqlx::query_scalar::<_, i32>(
            "SELECT pid FROM pg_stat_activity \
             WHERE application_name LIKE 'praxia-deploy % lock' AND datname = current_database() LIMIT 1",
        )
        .fetch_optional(&mut holder)
        .await
        .unwrap();
        if lock_pid.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let lock_pid = lock_pid.expect("the runner's lock connection shows in pg_stat_activity");
    assert_eq!(unsafe { libc::kill(lock_pid, libc::SIGSTOP) }, 0);
    let _stopped = Stopped(lock_pid);
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(&mut holder).await.unwrap();

    let output = waiting.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("did not answer the request for the migration lock; reconnecting"), "{stderr}");
    assert_eq!(drizzle_rows(&database).await.len(), 1);
}

/// A proxy to `database` that passes the startup and authentication, then answers
/// the first connection's first simple query with the FATAL a server sends when it
/// is shut down under a session (57P01) and closes; later connections pass through.
fn proxy_killing_the_first_query(database: &TestDatabase) -> TestDatabase {
    use std::io::{Read, Write};
    let target = url::Url::parse(&database.url).unwrap();
    let upstream = format!("{}:{}", target.host_str().unwrap(), target.port().unwrap());
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for (number, client) in listener.incoming().enumerate() {
            let Ok(mut client) = client else { return };
            let mut server = std::net::TcpStream::connect(&upstream).unwrap();
            let (mut from_server, mut to_client) = (server.try_clone().unwrap(), client.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut from_server, &mut to_client);
            });
            if number > 0 {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut client, &mut server);
                });
                continue;
            }
            std::thread::spawn(move || {
                // The startup message has no type byte; every later one has.
                let mut length = [0u8; 4];
                client.read_exact(&mut length).unwrap();
                let mut startup = vec![0u8; u32::from_be_bytes(length) as usize - 4];
                client.read_exact(&mut startup).unwrap();
                server.write_all(&length).unwrap();
                server.write_all(&startup).unwrap();
                loop {
                    let mut head = [0u8; 5];
                    if client.read_exact(&mut head).is_err() {
                        return;
                    }
                    let mut body = vec![0u8; u32::from_be_bytes(head[1..5].try_into().unwrap()) as usize - 4];
                    client.read_exact(&mut body).unwrap();
                    if head[0] == b'Q' {
                        let fields =
                            b"SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0";
                        let mut answer = vec![b'E'];
                        answer.extend_from_slice(&(fields.len() as u32 + 4).to_be_bytes());
                        answer.extend_from_slice(fields);
                        let _ = client.write_all(&answer);
                        let _ = client.shutdown(std::net::Shutdown::Both);
                        let _ = server.shutdown(std::net::Shutdown::Both);
                        return;
                    }
                    server.write_all(&head).unwrap();
                    server.write_all(&body).unwrap();
                }
            });
        }
    });
    let mut through = target.clone();
    through.set_host(Some("127.0.0.1")).unwrap();
    through.set_port(Some(port)).unwrap();
    through.query_pairs_mut().append_pair("sslmode", "disable");
    TestDatabase { name: database.name.clone(), url: through.to_string() }
}

/// The first read, made while the folder is read, keeps the server's own reason
/// when the server ends the connection (57P01: a restart or a failover).
#[tokio::test]
async fn a_connection_the_server_ends_during_the_first_read_is_reported_with_the_servers_reason() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_a", 1000, CREATE_A)]);
    for command in ["migrate", "release"] {
        // A proxy of its own: each ends the first connection it passes on.
        let killed = proxy_killing_the_first_query(&database);
        let outcome = project.run_on(&killed, &[command]);
        outcome.expect_code(5).expect_stderr_contains("could not read the migration state");
        outcome.expect_stderr_contains("terminating connection due to administrator command");
    }
}
