//! Issue 27's rehearsal: the pending migrations applied to a scratch restore of
//! the newest verified backup (the restore drill's, on the embedded cluster, as a
//! role without special rights), each statement timed, its locks, rewrites and
//! INVALID indexes seen, the scratch database always dropped, nothing done to the
//! database the backup came from; and `[review] lock_budget`, which makes
//! `migrate` and `release` refuse what the rehearsal did not clear.

use std::path::PathBuf;

use serde_json::Value;
use sqlx::{Connection, PgConnection};

use crate::support::project::TEST_ENVIRONMENT;
use crate::support::{TestDatabase, TestProject, test_postgres};

const BASE: (&str, i64, &str) = (
    "0000_base",
    1000,
    "CREATE TABLE \"visit\" (\"id\" integer PRIMARY KEY, \"score\" integer NOT NULL);\n--> statement-breakpoint\nINSERT INTO \"visit\" SELECT n, n % 7 FROM generate_series(1, 200000) n;\n",
);
/// One transaction: a quick ACCESS EXCLUSIVE held while a rewrite and an update run.
const CHANGE: (&str, i64, &str) = (
    "0001_widen_score",
    2000,
    "ALTER TABLE \"visit\" ADD COLUMN \"note\" text;--> statement-breakpoint\nALTER TABLE \"visit\" ALTER COLUMN \"score\" SET DATA TYPE bigint;--> statement-breakpoint\nCREATE TABLE \"part\" (\"id\" integer) PARTITION BY RANGE (\"id\");--> statement-breakpoint\nCREATE TABLE \"part_1\" PARTITION OF \"part\" FOR VALUES FROM (0) TO (10);--> statement-breakpoint\nCREATE INDEX \"part_id_idx\" ON ONLY \"part\" (\"id\");\n",
);
/// PostgreSQL refuses it in a transaction: its lock is gone when it returns.
const CONCURRENT: (&str, i64, &str) =
    ("0002_index_score", 3000, "CREATE INDEX CONCURRENTLY \"visit_score_idx\" ON \"visit\" (\"score\");\n");

fn project(review: &str) -> TestProject {
    let project = TestProject::with_migrations(&[BASE]);
    project.file("environments/test.toml", &format!("{TEST_ENVIRONMENT}\n[review]\n{review}\n"));
    project
}

/// A database at the base, backed up (verified, as `backup` writes it), with the change pending.
fn backed_up(project: &TestProject) -> TestDatabase {
    let database = test_postgres().fresh_database();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    project.run_on(&database, &["--env", "test", "backup"]).expect_code(0);
    project.set_migrations(&[BASE, CHANGE, CONCURRENT]);
    database
}

fn statement<'v>(rehearsal: &'v Value, tag: &str, number: u64) -> &'v Value {
    rehearsal["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|migration| migration["tag"] == tag)
        .unwrap_or_else(|| panic!("{tag} not rehearsed: {rehearsal:#}"))["statements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|statement| statement["number"] == number)
        .unwrap_or_else(|| panic!("{tag} statement {number} not rehearsed: {rehearsal:#}"))
}

fn lock<'v>(statement: &'v Value, table: &str) -> &'v Value {
    statement["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|lock| lock["table"] == table)
        .unwrap_or_else(|| panic!("no lock on {table}: {statement:#}"))
}

async fn applied(database: &TestDatabase) -> i64 {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM drizzle.__drizzle_migrations").fetch_one(&mut connection).await.unwrap()
}

fn record(project: &TestProject) -> Value {
    let path = project.path().join("rehearsals/test.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display())))
        .unwrap()
}

fn only_backup(project: &TestProject) -> PathBuf {
    let dumps: Vec<PathBuf> = std::fs::read_dir(project.path().join("backups"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "dump"))
        .collect();
    assert_eq!(dumps.len(), 1, "{dumps:?}");
    dumps[0].clone()
}

#[tokio::test]
async fn a_rehearsal_times_each_statement_and_sees_its_locks_rewrites_and_invalid_indexes() {
    let project = project("");
    let database = backed_up(&project);
    let outcome = project.run_on(&database, &["--env", "test", "--output", "json", "rehearse"]);
    let document = outcome.expect_code(0).json();
    let rehearsal = &document["result"]["rehearsal"];

    // The first statement's ACCESS EXCLUSIVE lock is held until its transaction
    // commits, through the rewrite after it: longer than the statement itself.
    let added = statement(rehearsal, "0001_widen_score", 1);
    let widened = statement(rehearsal, "0001_widen_score", 2);
    let held = lock(added, "public.visit");
    assert_eq!(held["mode"], "ACCESS EXCLUSIVE", "{added:#}");
    assert!(
        held["held_ms"].as_f64().unwrap() >= widened["duration_ms"].as_f64().unwrap(),
        "held to the commit, through the rewrite: {rehearsal:#}"
    );
    assert_eq!(widened["rewrote"], serde_json::json!(["public.visit"]), "SET DATA TYPE bigint rewrites the table");
    assert_eq!(added["rewrote"], serde_json::json!([]), "ADD COLUMN without a default rewrites nothing");
    assert!(widened["duration_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(statement(rehearsal, "0001_widen_score", 5)["invalid_indexes"], serde_json::json!(["part_id_idx"]));
    // A table the migrations make is no release's: its locks are marked so (the budget leaves them out).
    assert_eq!(lock(statement(rehearsal, "0001_widen_score", 3), "public.part")["new_table"], true);
    assert_eq!(held["new_table"], false);
    // The rewrite asks for nothing the first statement's lock does not already cover.
    assert_eq!(widened["locks"], serde_json::json!([]), "{widened:#}");

    // CREATE INDEX CONCURRENTLY's lock is gone when it returns: the samples saw it.
    let built = statement(rehearsal, "0002_index_score", 1);
    assert_eq!(lock(built, "public.visit")["mode"], "SHARE UPDATE EXCLUSIVE", "{built:#}");
    assert_eq!(built["invalid_indexes"], serde_json::json!([]));

    // Recorded for the release, the backup it ran on named.
    let recorded = record(&project);
    let tags: Vec<&str> =
        recorded["migrations"].as_array().unwrap().iter().map(|migration| migration["tag"].as_str().unwrap()).collect();
    assert_eq!(tags, ["0001_widen_score", "0002_index_score"]);
    let backup = only_backup(&project);
    assert_eq!(recorded["migrations"][0]["backup"]["file"], backup.file_name().unwrap().to_str().unwrap());

    // Nothing happened to the database the backup came from, and the scratch database is gone.
    assert_eq!(applied(&database).await, 1);
    let scratch = rehearsal["scratch_database"].as_str().unwrap();
    assert!(scratch.starts_with("praxia_restore_drill_"), "{scratch}");
    assert_scratch_gone(&project, scratch).await;

    let human = project.run_on(&database, &["--env", "test", "rehearse"]).expect_code(0).stdout.clone();
    assert!(human.contains("ACCESS EXCLUSIVE on public.visit for"), "{human}");
    assert!(human.contains("rewrote public.visit"), "{human}");
    assert!(human.contains("left the index part_id_idx INVALID"), "{human}");
    assert!(human.contains("recorded in rehearsals/test.json"), "{human}");
}

async fn assert_scratch_gone(project: &TestProject, scratch: &str) {
    let url = development_cluster_url(project);
    let mut connection = PgConnection::connect(&url).await.unwrap();
    let left: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'praxia\\_restore\\_drill\\_%'")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    assert!(!left.contains(&scratch.to_owned()), "{left:?}");
    let roles: Vec<String> = sqlx::query_scalar("SELECT rolname::text FROM pg_roles WHERE rolname = $1")
        .bind(scratch)
        .fetch_all(&mut connection)
        .await
        .unwrap();
    assert!(roles.is_empty(), "its role is dropped too: {roles:?}");
}

/// The embedded development cluster's `postgres` database.
fn development_cluster_url(project: &TestProject) -> String {
    let development = project.run(&["--env", "test", "db", "url"]).expect_code(0).stdout.trim().to_owned();
    let mut url = url::Url::parse(&development).unwrap();
    url.set_path("/postgres");
    url.to_string()
}

#[tokio::test]
async fn a_migration_that_fails_in_its_rehearsal_says_where_and_leaves_no_record() {
    let project = project("");
    let database = backed_up(&project);
    // The restored data breaks it, as production's would.
    project.set_migrations(&[
        BASE,
        ("0001_unique_score", 2000, "CREATE UNIQUE INDEX \"visit_score_key\" ON \"visit\" (\"score\");\n"),
    ]);
    project
        .run_on(&database, &["--env", "test", "rehearse"])
        .expect_code(6)
        .expect_stderr_contains("migration 0001_unique_score failed in its rehearsal at statement 1 (line 1)")
        .expect_stderr_contains("could not create unique index")
        .expect_stderr_contains("it would fail the same way in production");
    assert!(!project.path().join("rehearsals/test.json").exists());
    assert_eq!(applied(&database).await, 1);
}

#[test]
fn without_a_verified_backup_the_rehearsal_says_how_to_take_one() {
    let project = project("");
    let database = test_postgres().fresh_database();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    project
        .run_on(&database, &["--env", "test", "rehearse"])
        .expect_code(2)
        .expect_stderr_contains("praxia-deploy backup --env test");
    // A dump whose checksum file does not match it is not used.
    project.run_on(&database, &["--env", "test", "backup"]).expect_code(0);
    let backup = only_backup(&project);
    std::fs::write(PathBuf::from(format!("{}.sha256", backup.display())), format!("{}  x\n", "0".repeat(64))).unwrap();
    project
        .run_on(&database, &["--env", "test", "rehearse"])
        .expect_code(2)
        .expect_stderr_contains("does not match its checksum file");
}

/// The record `rehearse` writes, as the team commits it, with the figures given.
fn write_record(project: &TestProject, held_ms: f64, backup_age_seconds: u64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let record = serde_json::json!({
        "format": 1,
        "about": "test",
        "migrations": [{
            "tag": "0001_widen_score",
            "hash": sha256(CHANGE.2),
            "rehearsed_at": now,
            "backup": { "file": "praxia-test-20261208T010000Z-0000_base.dump", "sha256": "0", "taken_at": now - backup_age_seconds },
            "postgres": 15,
            "statements": (1..=5).map(|number| serde_json::json!({
                "number": number, "line": number, "sql": "...", "duration_ms": 1.0,
                "locks": [{ "table": "public.visit", "mode": "ACCESS EXCLUSIVE", "held_ms": held_ms }],
                "rewrote": [], "invalid_indexes": []
            })).collect::<Vec<_>>()
        }]
    });
    project.file("rehearsals/test.json", &serde_json::to_string_pretty(&record).unwrap());
}

fn sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn at_base(project: &TestProject) -> TestDatabase {
    let database = test_postgres().fresh_database();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    project.set_migrations(&[BASE, CHANGE]);
    database
}

#[tokio::test]
async fn the_lock_budget_refuses_what_was_not_rehearsed_held_too_long_or_ran_on_an_old_backup() {
    let project = project("lock_budget = \"2s\"\nrehearsal_max_age = \"24h\"");
    let database = at_base(&project);
    project
        .run_on(&database, &["--env", "test", "migrate"])
        .expect_code(3)
        .expect_stderr_contains(
            "the lock budget of environment test refuses the pending migrations; nothing was written",
        )
        .expect_stderr_contains("0001_widen_score: not rehearsed")
        .expect_stderr_contains("praxia-deploy rehearse --env test");

    write_record(&project, 5_000.0, 3600);
    project
        .run_on(&database, &["--env", "test", "plan"])
        .expect_code(0)
        .expect_stdout_contains("lock budget 2s refuses 0001_widen_score: statement 1 (line 1) held ACCESS EXCLUSIVE");
    project
        .run_on(&database, &["--env", "test", "release"])
        .expect_code(3)
        .expect_stderr_contains(
            "0001_widen_score: statement 2 (line 2) held ACCESS EXCLUSIVE on public.visit for 5000 ms in its rehearsal (budget 2000 ms)",
        )
        .expect_stderr_contains("lint --fix");

    write_record(&project, 100.0, 3 * 24 * 3600);
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(3).expect_stderr_contains(
        "0001_widen_score: rehearsed on praxia-test-20261208T010000Z-0000_base.dump, taken 3days ago",
    );
    assert_eq!(applied(&database).await, 1, "nothing was written");

    // The file edited after its rehearsal is not the one rehearsed.
    write_record(&project, 100.0, 3600);
    project.set_migrations(&[BASE, ("0001_widen_score", 2000, "ALTER TABLE \"visit\" ADD COLUMN \"other\" text;\n")]);
    project
        .run_on(&database, &["--env", "test", "migrate"])
        .expect_code(3)
        .expect_stderr_contains("0001_widen_score: the file changed since its rehearsal");

    project.set_migrations(&[BASE, CHANGE]);
    project
        .run_on(&database, &["--env", "test", "plan"])
        .expect_code(0)
        .expect_stdout_contains("lock budget 2s: every pending migration was rehearsed within it");
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    assert_eq!(applied(&database).await, 2);
}

#[tokio::test]
async fn a_real_rehearsal_clears_the_budget_and_the_release_applies() {
    let project = project("lock_budget = \"30s\"");
    let database = backed_up(&project);
    project.run_on(&database, &["--env", "test", "release"]).expect_code(3).expect_stderr_contains("not rehearsed");
    project.run_on(&database, &["--env", "test", "rehearse"]).expect_code(0);
    project.run_on(&database, &["--env", "test", "release"]).expect_code(0);
    assert_eq!(applied(&database).await, 3);
}

#[tokio::test]
async fn a_rehearsal_over_the_budget_exits_3_after_recording_what_it_measured() {
    let project = project("lock_budget = \"1ms\"");
    let database = backed_up(&project);
    project
        .run_on(&database, &["--env", "test", "rehearse"])
        .expect_code(3)
        .expect_stdout_contains("(over the lock budget)")
        .expect_stderr_contains("held ACCESS EXCLUSIVE on public.visit");
    assert_eq!(record(&project)["migrations"].as_array().unwrap().len(), 2);
}
