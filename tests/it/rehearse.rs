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

/// A table whose `legacy` column a later migration drops (its contract part).
const NOTE_BASE: (&str, i64, &str) = (
    "0000_base",
    1000,
    "CREATE TABLE \"note\" (\"id\" integer PRIMARY KEY, \"body\" text, \"legacy\" text);\n--> statement-breakpoint\nINSERT INTO \"note\" VALUES (1, 'b', 'l');\n",
);

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
    assert_eq!(lock(statement(rehearsal, "0001_widen_score", 3), "public.part")["made_by"], "0001_widen_score");
    assert!(held.get("made_by").is_none(), "{held:#}");
    // The rewrite asks for nothing the first statement's lock does not already cover.
    assert_eq!(widened["locks"], serde_json::json!([]), "{widened:#}");

    // CREATE INDEX CONCURRENTLY's lock is gone when it returns: the samples saw it.
    let built = statement(rehearsal, "0002_index_score", 1);
    assert_eq!(lock(built, "public.visit")["mode"], "SHARE UPDATE EXCLUSIVE", "{built:#}");
    assert_eq!(built["invalid_indexes"], serde_json::json!([]));

    // Recorded for the release, the backup it ran on named, readable by the
    // image's user whoever wrote it (a temporary file is its owner's alone).
    let recorded = record(&project);
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(project.path().join("rehearsals/test.json")).unwrap().permissions(),
    );
    assert_eq!(mode & 0o777, 0o644, "{mode:o}");
    let tags: Vec<&str> =
        recorded["migrations"].as_array().unwrap().iter().map(|migration| migration["tag"].as_str().unwrap()).collect();
    assert_eq!(tags, ["0001_widen_score", "0002_index_score"]);
    let backup = only_backup(&project);
    assert_eq!(recorded["migrations"][0]["backup"]["file"], backup.file_name().unwrap().to_str().unwrap());

    // Nothing happened to the database the backup came from, and the scratch database is gone.
    assert_eq!(applied(&database).await, 1);
    let scratch = rehearsal["scratch_database"].as_str().unwrap();
    assert!(scratch.starts_with("praxia_drill_"), "{scratch}");
    assert_scratch_gone(&project, scratch).await;

    let run = project.run_on(&database, &["--env", "test", "rehearse"]);
    let human = run.expect_code(0).stdout.clone();
    // ANALYZE's warnings about the shared catalogs the role may not analyse are not the user's business.
    assert!(!run.stderr.contains("skipping"), "{}", run.stderr);
    assert!(human.contains("ACCESS EXCLUSIVE on public.visit for"), "{human}");
    assert!(human.contains("rewrote public.visit"), "{human}");
    assert!(human.contains("left the index part_id_idx INVALID"), "{human}");
    assert!(human.contains("recorded in rehearsals/test.json"), "{human}");
}

async fn assert_scratch_gone(project: &TestProject, scratch: &str) {
    let url = development_cluster_url(project);
    let mut connection = PgConnection::connect(&url).await.unwrap();
    let left: Vec<String> =
        sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'praxia\\_drill\\_%'")
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
        .expect_stderr_contains("migration 0001_unique_score failed in its rehearsal at line 1")
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
    // Each statement of CHANGE starts a line: its offset is that line's.
    let line_starts: Vec<usize> =
        std::iter::once(0).chain(CHANGE.2.match_indices('\n').map(|(at, _)| at + 1)).collect();
    let record = serde_json::json!({
        "format": 2,
        "about": "test",
        "migrations": [{
            "tag": "0001_widen_score",
            "hash": sha256(CHANGE.2),
            "rehearsed_at": now,
            "backup": { "file": "praxia-test-20261208T010000Z-0000_base.dump", "sha256": "0", "taken_at": now - backup_age_seconds },
            "postgres": 15,
            "statements": (1..=5).map(|number| serde_json::json!({
                "number": number, "line": number, "offset": line_starts[number - 1], "sql": "...", "duration_ms": 1.0,
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

// What a hostile review of `rehearse` and the lock budget found: each test
// below fails on the code it was written against.

/// A small `visit` table: the tests below hold their locks with `pg_sleep`, not with data.
const SMALL_BASE: (&str, i64, &str) = (
    "0000_base",
    1000,
    "CREATE TABLE \"visit\" (\"id\" integer PRIMARY KEY, \"score\" integer NOT NULL);\n--> statement-breakpoint\nINSERT INTO \"visit\" SELECT n, n % 7 FROM generate_series(1, 1000) n;\n",
);
/// ACCESS EXCLUSIVE on `visit`, held 1.5 s by its transaction: over a 1 s budget wherever it runs.
const WIDEN_SLOWLY: &str = "ALTER TABLE \"visit\" ALTER COLUMN \"score\" SET DATA TYPE bigint;\n--> statement-breakpoint\nSELECT pg_sleep(1.5);\n";

/// A project whose base is `base` (migrated and backed up, verified, by the
/// returned database) with `[review] lock_budget = "1s"`.
fn budgeted_and_backed_up(base: (&str, i64, &str)) -> (TestProject, TestDatabase) {
    let project = TestProject::with_migrations(&[base]);
    project.file("environments/test.toml", &format!("{TEST_ENVIRONMENT}\n[review]\nlock_budget = \"1s\"\n"));
    let database = test_postgres().fresh_database();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    project.run_on(&database, &["--env", "test", "backup"]).expect_code(0);
    (project, database)
}

/// drizzle's transaction holds a migration's ACCESS EXCLUSIVE to its commit, so
/// in a rehearsal of two migrations the later one's lock on the same table is
/// "covered" by the earlier one's and recorded as none. The newest backup is
/// often the one from before the last deploy: when the earlier migration has
/// shipped since, the later one runs alone in production and holds the lock itself.
#[tokio::test]
async fn a_lock_covered_by_an_earlier_migration_in_the_rehearsal_counts_when_the_later_one_ships_alone() {
    let (project, database) = budgeted_and_backed_up(SMALL_BASE);
    let add_note = ("0001_add_note", 2000, "ALTER TABLE \"visit\" ADD COLUMN \"note\" text;\n");
    project.set_migrations(&[SMALL_BASE, add_note]);
    project.run_on(&database, &["--env", "test", "rehearse"]).expect_code(0);
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);

    // The next migration, rehearsed on the same (newest) backup: 0001 is pending there too.
    project.set_migrations(&[SMALL_BASE, add_note, ("0002_widen_slowly", 3000, WIDEN_SLOWLY)]);
    project.run_on(&database, &["--env", "test", "rehearse"]);
    // Here only 0002 is pending: its ALTER holds ACCESS EXCLUSIVE on visit through the 1.5 s sleep.
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(3).expect_stderr_contains("0002_widen_slowly");
    assert_eq!(applied(&database).await, 2, "the budget let a 1.5 s ACCESS EXCLUSIVE through");
}

/// `new_table` is decided against the backup: a table that a migration pending
/// in the backup makes is "new", even when that migration has shipped since and
/// the app has been using the table.
#[tokio::test]
async fn a_table_made_by_a_migration_deployed_since_the_backup_is_not_new_to_the_release() {
    let (project, database) = budgeted_and_backed_up(SMALL_BASE);
    let make_log = (
        "0001_make_log",
        2000,
        "-- praxia-deploy: own-transaction\nCREATE TABLE \"visit_log\" (\"id\" integer PRIMARY KEY, \"n\" integer);\n--> statement-breakpoint\nINSERT INTO \"visit_log\" SELECT n, n FROM generate_series(1, 10) n;\n",
    );
    project.set_migrations(&[SMALL_BASE, make_log]);
    project.run_on(&database, &["--env", "test", "rehearse"]).expect_code(0);
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);

    let widen_log = (
        "0002_widen_log",
        3000,
        "ALTER TABLE \"visit_log\" ALTER COLUMN \"n\" SET DATA TYPE bigint;\n--> statement-breakpoint\nSELECT pg_sleep(1.5);\n",
    );
    project.set_migrations(&[SMALL_BASE, make_log, widen_log]);
    project.run_on(&database, &["--env", "test", "rehearse"]);
    // visit_log is the live app's table here: 1.5 s of ACCESS EXCLUSIVE on it.
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(3).expect_stderr_contains("0002_widen_log");
    assert_eq!(applied(&database).await, 2);
}

/// The rehearsal runs a migration's expand and contract parts at once, so the
/// expand part's own ACCESS EXCLUSIVE is "covered" by the contract part's
/// earlier statement and its lines carry no lock: the release, which runs the
/// expand part alone, passes a budget its part exceeds.
#[tokio::test]
async fn an_expand_part_is_judged_by_the_locks_it_holds_when_it_runs_without_its_contract_part() {
    let base = NOTE_BASE;
    // drizzle-kit's order: the drop (the contract part, held back) first.
    let change = (
        "0001_drop_legacy",
        2000,
        "ALTER TABLE \"note\" DROP COLUMN \"legacy\";--> statement-breakpoint\nALTER TABLE \"note\" ADD COLUMN \"title\" text;--> statement-breakpoint\nSELECT pg_sleep(1.5);",
    );
    let (project, database) = held_back_and_backed_up(base);
    project.set_migrations(&[base, change]);
    project.run_on(&database, &["--env", "test", "rehearse"]);
    // The expand part: ADD COLUMN's ACCESS EXCLUSIVE on note, held through the 1.5 s sleep.
    at_revision(&project, &database, "rev1", &["release"]).expect_code(3).expect_stderr_contains("0001_drop_legacy");
}

/// `CREATE OR REPLACE VIEW` takes ACCESS EXCLUSIVE on the view: every query of
/// the app through it waits. The rehearsal only names tables (relkind r, p, m,
/// f), drops the view's lock, and the budget passes it.
#[tokio::test]
async fn an_access_exclusive_lock_on_a_view_counts_for_the_budget() {
    let base = (
        "0000_base",
        1000,
        "CREATE TABLE \"visit\" (\"id\" integer PRIMARY KEY, \"score\" integer NOT NULL);\n--> statement-breakpoint\nCREATE VIEW \"visit_view\" AS SELECT \"id\" FROM \"visit\";\n",
    );
    let (project, database) = budgeted_and_backed_up(base);
    project.set_migrations(&[
        base,
        (
            "0001_widen_view",
            2000,
            "CREATE OR REPLACE VIEW \"visit_view\" AS SELECT \"id\", \"score\" FROM \"visit\";\n--> statement-breakpoint\nSELECT pg_sleep(1.5);\n",
        ),
    ]);
    let rehearsed = project.run_on(&database, &["--env", "test", "rehearse"]);
    assert!(rehearsed.stdout.contains("ACCESS EXCLUSIVE on public.visit_view"), "{}", rehearsed.stdout);
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(3);
}

/// A migration that controls its transaction is sent chunk by chunk (drizzle's
/// way): the statements after its own COMMIT in the same chunk run in one
/// implicit transaction, which holds their locks to the end of the chunk. The
/// rehearsal sends them one by one: each commits at once.
#[tokio::test]
async fn statements_after_an_own_commit_hold_their_locks_to_the_end_of_the_chunk_as_in_production() {
    let (project, database) = budgeted_and_backed_up(SMALL_BASE);
    project.set_migrations(&[
        SMALL_BASE,
        (
            "0001_as_written",
            2000,
            "BEGIN;\nALTER TABLE \"visit\" ADD COLUMN \"note\" text;\nCOMMIT;\nALTER TABLE \"visit\" ADD COLUMN \"other\" text;\nSELECT pg_sleep(1.5);\n",
        ),
    ]);
    project.run_on(&database, &["--env", "test", "rehearse"]);
    // In production the second ALTER's ACCESS EXCLUSIVE is held through the sleep.
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(3);
    assert_eq!(applied(&database).await, 1);
}

/// The same chunk: `CREATE INDEX CONCURRENTLY` after the migration's own COMMIT
/// is refused by PostgreSQL in production (an implicit transaction block); the
/// rehearsal ran it on its own and said all was well.
#[tokio::test]
async fn a_migration_that_fails_in_production_fails_its_rehearsal() {
    let project = project("");
    let database = backed_up(&project);
    let migration = (
        "0001_as_written",
        2000,
        "BEGIN;\nALTER TABLE \"visit\" ADD COLUMN \"note\" text;\nCOMMIT;\nCREATE INDEX CONCURRENTLY \"visit_note_idx\" ON \"visit\" (\"note\");\n",
    );
    project.set_migrations(&[BASE, migration]);
    project
        .run_on(&database, &["--env", "test", "rehearse"])
        .expect_code(6)
        .expect_stderr_contains("CREATE INDEX CONCURRENTLY cannot run inside a transaction block");
    assert!(!project.path().join("rehearsals/test.json").exists());
}

/// The start of a dump whose code (index expressions, check constraints, run as
/// the rehearsal's role) goes after the rehearsal: it runs only in the drill's
/// scratch databases, so production never notices it.
const HOSTILE_BASE: &str = "CREATE TABLE \"visit\" (\"id\" integer PRIMARY KEY, \"score\" integer NOT NULL);\n--> statement-breakpoint\nINSERT INTO \"visit\" SELECT n, n % 7 FROM generate_series(1, 1000) n;\n--> statement-breakpoint\n";

/// The sampler is the only view of a lock taken and released inside one
/// statement (outside a transaction). It runs as the same role as the dump's
/// code, which may end it (`pg_terminate_backend`); a failed sample is
/// silently skipped, and the statement is recorded as taking no lock.
#[tokio::test]
async fn a_dump_that_ends_the_lock_sampler_does_not_make_a_long_lock_disappear() {
    let base_sql = format!(
        "{HOSTILE_BASE}CREATE FUNCTION public.watch(i integer) RETURNS integer IMMUTABLE LANGUAGE plpgsql AS $$ BEGIN \
         IF pg_catalog.current_database() LIKE 'praxia%drill%' THEN \
         IF i = 1000000 THEN PERFORM pg_catalog.pg_terminate_backend(a.pid) FROM pg_catalog.pg_stat_activity a \
         WHERE a.datname = pg_catalog.current_database() AND a.pid <> pg_catalog.pg_backend_pid() \
         AND a.application_name = 'praxia-deploy rehearse'; END IF; \
         IF i = 1 THEN PERFORM pg_catalog.pg_sleep(1.5); END IF; END IF; RETURN i; END $$;\n\
         --> statement-breakpoint\nCREATE INDEX \"visit_watch_idx\" ON \"visit\" (public.watch(\"id\"));\n"
    );
    let base = ("0000_base", 1000, base_sql.as_str());
    let (project, database) = budgeted_and_backed_up(base);
    // Statement by statement: the rewrite's ACCESS EXCLUSIVE (1.5 s, its index
    // rebuilt) is gone when it returns, so only the samples can see it.
    project.set_migrations(&[
        base,
        (
            "0001_widen",
            2000,
            "-- praxia-deploy: no-transaction\nINSERT INTO \"visit\" VALUES (1000000, 0);\n--> statement-breakpoint\nALTER TABLE \"visit\" ALTER COLUMN \"score\" SET DATA TYPE bigint;\n",
        ),
    ]);
    // The samples come from a session of the cluster's superuser the dump's code cannot see or end.
    let rehearsed = project.run_on(&database, &["--env", "test", "rehearse"]);
    rehearsed.expect_code(3);
    assert!(rehearsed.stdout.contains("ACCESS EXCLUSIVE on public.visit"), "{}", rehearsed.stdout);
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(3);
}

/// The dump's code sets the scratch database's search_path (it owns it) to put
/// `public` before `pg_catalog`, where its own `=` for "char" answers false:
/// the look after each statement (`c.relkind IN (...)`, the one operator it
/// leaves unqualified) then sees no table, and every lock of the migration is
/// dropped as a lock on nothing: a 1.5 s ACCESS EXCLUSIVE passes the budget.
#[tokio::test]
async fn a_dump_that_shadows_an_operator_does_not_hide_the_migrations_locks() {
    let base_sql = format!(
        "{HOSTILE_BASE}CREATE FUNCTION public.never(\"char\", \"char\") RETURNS boolean IMMUTABLE LANGUAGE sql AS 'SELECT false';\n\
         --> statement-breakpoint\nCREATE OPERATOR public.= (LEFTARG = \"char\", RIGHTARG = \"char\", FUNCTION = public.never);\n\
         --> statement-breakpoint\nCREATE FUNCTION public.tamper() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN \
         IF pg_catalog.current_database() LIKE 'praxia%drill%' THEN EXECUTE pg_catalog.format(\
         'ALTER DATABASE %I SET search_path = public, pg_catalog', pg_catalog.current_database()); END IF; RETURN true; END $$;\n\
         --> statement-breakpoint\nCREATE TABLE \"setting\" (\"id\" integer, CONSTRAINT \"setting_ok\" CHECK (public.tamper()));\n\
         --> statement-breakpoint\nINSERT INTO \"setting\" VALUES (1);\n"
    );
    let base = ("0000_base", 1000, base_sql.as_str());
    let (project, database) = budgeted_and_backed_up(base);
    project.set_migrations(&[base, ("0001_widen_slowly", 2000, WIDEN_SLOWLY)]);
    project.run_on(&database, &["--env", "test", "rehearse"]);
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(3);
    assert_eq!(applied(&database).await, 1);
}

/// The dump's code sets the scratch database's search_path to a schema of its
/// own holding an empty decoy `visit`: the rehearsal rewrites and times the
/// decoy, while production rewrites `public.visit`.
#[tokio::test]
async fn a_dump_that_sets_the_search_path_does_not_redirect_the_rehearsed_migration() {
    let base_sql = format!(
        "{HOSTILE_BASE}CREATE SCHEMA \"decoy\";\n--> statement-breakpoint\n\
         CREATE TABLE \"decoy\".\"visit\" (\"id\" integer PRIMARY KEY, \"score\" integer NOT NULL);\n\
         --> statement-breakpoint\nCREATE FUNCTION public.tamper() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN \
         IF pg_catalog.current_database() LIKE 'praxia%drill%' THEN EXECUTE pg_catalog.format(\
         'ALTER DATABASE %I SET search_path = decoy, public', pg_catalog.current_database()); END IF; RETURN true; END $$;\n\
         --> statement-breakpoint\nCREATE TABLE \"setting\" (\"id\" integer, CONSTRAINT \"setting_ok\" CHECK (public.tamper()));\n\
         --> statement-breakpoint\nINSERT INTO \"setting\" VALUES (1);\n"
    );
    let base = ("0000_base", 1000, base_sql.as_str());
    let project = TestProject::with_migrations(&[base]);
    let database = test_postgres().fresh_database();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    project.run_on(&database, &["--env", "test", "backup"]).expect_code(0);
    project.set_migrations(&[
        base,
        ("0001_widen", 2000, "ALTER TABLE \"visit\" ALTER COLUMN \"score\" SET DATA TYPE bigint;\n"),
    ]);
    let outcome = project.run_on(&database, &["--env", "test", "--output", "json", "rehearse"]);
    let document = outcome.expect_code(0).json();
    let widened = statement(&document["result"]["rehearsal"], "0001_widen", 1);
    assert_eq!(widened["rewrote"], serde_json::json!(["public.visit"]), "{widened:#}");
}

/// A backup whose name (or a clock) says it was taken in the future is never
/// too old: `now - taken_at` saturates at zero, so its rehearsal clears
/// `rehearsal_max_age` forever.
#[tokio::test]
async fn a_rehearsal_on_a_backup_dated_in_the_future_does_not_clear_the_max_age() {
    let project = project("lock_budget = \"2s\"\nrehearsal_max_age = \"24h\"");
    let database = at_base(&project);
    // Taken "in 30 days": a name tampered with, or a clock set wrong.
    write_record(&project, 100.0, 0);
    let path = project.path().join("rehearsals/test.json");
    let mut record: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let taken_at = record["migrations"][0]["backup"]["taken_at"].as_u64().unwrap();
    record["migrations"][0]["backup"]["taken_at"] = (taken_at + 30 * 24 * 3600).into();
    std::fs::write(&path, serde_json::to_string_pretty(&record).unwrap()).unwrap();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(3);
    assert_eq!(applied(&database).await, 1);
}

/// The first-deploy exemption trusts drizzle's rows alone: a database with
/// data and no rows (its tables made before it was migrated, the first
/// migration `IF NOT EXISTS`) is not a first deploy for the app, whose table
/// the second migration holds 1.5 s, never rehearsed.
#[tokio::test]
async fn a_database_with_tables_but_no_applied_migration_is_not_exempt_from_the_budget() {
    let project = project("lock_budget = \"1s\"");
    let database = test_postgres().fresh_database();
    {
        let mut connection = PgConnection::connect(&database.url).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE visit (id integer PRIMARY KEY, score integer NOT NULL); \
             INSERT INTO visit SELECT n, n % 7 FROM generate_series(1, 1000) n;",
        )
        .execute(&mut connection)
        .await
        .unwrap();
    }
    project.set_migrations(&[
        (
            "0000_base",
            1000,
            "CREATE TABLE IF NOT EXISTS \"visit\" (\"id\" integer PRIMARY KEY, \"score\" integer NOT NULL);\n",
        ),
        ("0001_widen_slowly", 2000, WIDEN_SLOWLY),
    ]);
    project
        .run_on(&database, &["--env", "test", "migrate"])
        .expect_code(3)
        .expect_stderr_contains("0001_widen_slowly: not rehearsed");
}

/// A dump of another environment is refused (the stamp); the help must not
/// send the user to re-stamp a live database: the rehearsal has no database
/// URL, the backup is what belongs elsewhere.
#[tokio::test]
async fn a_rehearsal_of_another_environments_backup_says_so_and_suggests_no_restamp() {
    let project = project("");
    let _database = backed_up(&project);
    project.file("environments/other.toml", TEST_ENVIRONMENT);
    let backup = only_backup(&project);
    let outcome = project.run(&["--env", "other", "rehearse", "--backup", backup.to_str().unwrap()]);
    outcome.expect_code(3).expect_stderr_contains(backup.file_name().unwrap().to_str().unwrap());
    assert!(!outcome.stderr.contains("stamp --force"), "{}", outcome.stderr);
    assert!(!outcome.stderr.contains("database URL"), "{}", outcome.stderr);
}

/// A mistyped `--backup` is the user's input: exit 2, the file named as given.
#[test]
fn a_backup_that_does_not_exist_is_a_usage_error_naming_it() {
    let project = project("");
    project
        .run(&["--env", "test", "rehearse", "--backup", "backups/missing.dump"])
        .expect_code(2)
        .expect_stderr_contains("backups/missing.dump:");
}

/// The over-budget rehearsal wrote its record (so it says on stdout); its
/// refusal must not say that nothing was written, and its JSON gives durations
/// as numbers, as the rest of the document does (`held_ms`), not Rust's
/// `{"secs", "nanos"}`.
#[tokio::test]
async fn an_over_budget_rehearsal_says_what_it_wrote_and_gives_durations_as_numbers() {
    let project = project("lock_budget = \"1ms\"");
    let database = backed_up(&project);
    let outcome = project.run_on(&database, &["--env", "test", "--output", "json", "rehearse"]);
    outcome.expect_code(3);
    assert!(project.path().join("rehearsals/test.json").exists());
    let document = outcome.json();
    assert!(!document["error"]["message"].as_str().unwrap().contains("nothing was written"), "{document:#}");
    let over = &document["result"]["rehearsal"]["over_budget"][0];
    assert!(over.as_object().unwrap().values().all(|value| !value.is_object()), "{over:#}");
}

/// A record whose figure is too large for a Duration (a hand edit, a bad merge)
/// is bad input: a refusal, not a panic.
#[tokio::test]
async fn a_record_with_an_absurd_lock_time_is_refused_not_a_crash() {
    let project = project("lock_budget = \"2s\"");
    let database = at_base(&project);
    write_record(&project, 1e300, 3600);
    project
        .run_on(&database, &["--env", "test", "migrate"])
        .expect_code(3)
        .expect_stderr_contains("held ACCESS EXCLUSIVE on public.visit");
    assert_eq!(applied(&database).await, 1);
}

/// Rehearsed alone, a quick ADD COLUMN holds its ACCESS EXCLUSIVE a few
/// milliseconds; released with a slow migration after it in one transaction
/// (drizzle's way, and the release's), it holds it until that one has run too.
#[tokio::test]
async fn a_lock_is_judged_with_what_runs_after_it_in_the_same_transaction() {
    let (project, database) = budgeted_and_backed_up(SMALL_BASE);
    let add_note = ("0001_add_note", 2000, "ALTER TABLE \"visit\" ADD COLUMN \"note\" text;\n");
    let slow = ("0002_slow", 3000, "SELECT pg_sleep(1.5);\n");
    project.set_migrations(&[SMALL_BASE, add_note, slow]);
    // The rehearsal says so too: the two run together from the backup's state.
    project.run_on(&database, &["--env", "test", "rehearse"]).expect_code(3);
    project
        .run_on(&database, &["--env", "test", "migrate"])
        .expect_code(3)
        .expect_stderr_contains("0001_add_note: statement 1 (line 1) held ACCESS EXCLUSIVE on public.visit for")
        .expect_stderr_contains("ms more for what runs after it in the same transaction");
    // In batches of one, each commits on its own: within the budget.
    project.run_on(&database, &["--env", "test", "migrate", "--batch-size", "1"]).expect_code(0);
    assert_eq!(applied(&database).await, 3);
}

/// A file `release` splits is rehearsed as its two parts, each in a
/// transaction of its own; `migrate` runs it whole, in one, where the
/// contract part's drop holds its ACCESS EXCLUSIVE through the expand part's
/// slow statement after it. The release (the parts apart) is within the
/// budget; `migrate` (the file whole) is not.
#[tokio::test]
async fn a_file_rehearsed_as_parts_is_judged_whole_where_it_runs_whole() {
    let base = NOTE_BASE;
    let change = (
        "0001_drop_legacy",
        2000,
        "ALTER TABLE \"note\" DROP COLUMN \"legacy\";--> statement-breakpoint\nSELECT pg_sleep(1.5);",
    );
    let (project, database) = held_back_and_backed_up(base);
    project.set_migrations(&[base, change]);
    let document = project.run_on(&database, &["--env", "test", "--output", "json", "rehearse"]).expect_code(0).json();
    let drop = statement(&document["result"]["rehearsal"], "0001_drop_legacy", 1);
    assert_eq!(drop["part"], "contract", "{drop:#}");
    project
        .run_on(&database, &["--env", "test", "migrate"])
        .expect_code(3)
        .expect_stderr_contains("0001_drop_legacy: statement 1 (line 1) held ACCESS EXCLUSIVE on public.note");
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
}

// What a second hostile review, of the fixes, found: each test below fails on
// the code it was written against (5403744).

/// A project whose release holds contract parts back, with a 1 s lock budget:
/// `base` released at `rev0` and backed up (verified), on the returned database.
fn held_back_and_backed_up(base: (&str, i64, &str)) -> (TestProject, TestDatabase) {
    let project = TestProject::with_migrations(&[base]);
    project.file(
        "environments/test.toml",
        &format!("{TEST_ENVIRONMENT}\n[contract]\nhold_back = true\n[review]\nlock_budget = \"1s\"\n"),
    );
    let database = test_postgres().fresh_database();
    at_revision(&project, &database, "rev0", &["release"]).expect_code(0);
    project.run_on(&database, &["--env", "test", "backup"]).expect_code(0);
    (project, database)
}

fn at_revision(
    project: &TestProject,
    database: &TestDatabase,
    revision: &str,
    args: &[&str],
) -> crate::support::project::Outcome {
    let mut command = project.on(database);
    command.env("GIT_REV", revision).args(args);
    crate::support::project::Outcome::of(&mut command)
}

/// `made_by` names the file, not the part: a table the expand part made in the
/// release phase is exempt when the contract part locks it in the post-deploy
/// step, since that file is "pending" then. But the new release has served
/// with that table since the release phase: its queries wait for the lock.
#[tokio::test]
async fn a_table_the_expand_part_made_is_the_apps_by_the_time_the_contract_part_runs() {
    let base = (
        "0000_base",
        1000,
        "CREATE TABLE \"note\" (\"id\" integer PRIMARY KEY, \"body\" text);\n--> statement-breakpoint\nINSERT INTO \"note\" VALUES (1, 'b');\n",
    );
    let (project, database) = held_back_and_backed_up(base);
    let change = (
        "0001_log",
        2000,
        "CREATE TABLE \"log\" (\"id\" integer PRIMARY KEY, \"n\" integer);\n--> statement-breakpoint\n-- praxia-deploy: contract\nALTER TABLE \"log\" ALTER COLUMN \"n\" SET DATA TYPE bigint;\n--> statement-breakpoint\nSELECT pg_sleep(1.5);\n",
    );
    project.set_migrations(&[base, change]);
    project.run_on(&database, &["--env", "test", "rehearse"]);
    // The release phase makes `log`; rev1 serves with it.
    at_revision(&project, &database, "rev1", &["release"])
        .expect_code(0)
        .expect_stdout_contains("0001_log: expanded, contract pending");
    // The post-deploy step: ACCESS EXCLUSIVE on rev1's `log` through the 1.5 s sleep.
    at_revision(&project, &database, "rev1", &["contract", "--no-wait"])
        .expect_code(3)
        .expect_stderr_contains("0001_log: statement 2 (line 4) held ACCESS EXCLUSIVE on public.log");
}

/// `REINDEX INDEX` takes ACCESS EXCLUSIVE on the index (and SHARE on its
/// table): the planner locks every index of a table to plan any query on it,
/// so every read and write of `visit` waits, as PostgreSQL's documentation
/// warns. The rehearsal names only tables and views: the lock on the index is
/// dropped as a lock on nothing, and 1.5 s of it passes a 1 s budget.
#[tokio::test]
async fn an_access_exclusive_lock_on_an_index_of_the_apps_table_counts_for_the_budget() {
    let base = (
        "0000_base",
        1000,
        "CREATE TABLE \"visit\" (\"id\" integer PRIMARY KEY, \"score\" integer NOT NULL);\n--> statement-breakpoint\nCREATE INDEX \"visit_score_idx\" ON \"visit\" (\"score\");\n",
    );
    let (project, database) = budgeted_and_backed_up(base);
    project.set_migrations(&[
        base,
        ("0001_reindex", 2000, "REINDEX INDEX \"visit_score_idx\";\n--> statement-breakpoint\nSELECT pg_sleep(1.5);\n"),
    ]);
    let rehearsed = project.run_on(&database, &["--env", "test", "rehearse"]);
    assert!(rehearsed.stdout.contains("ACCESS EXCLUSIVE on public.visit_score_idx"), "{}", rehearsed.stdout);
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(3).expect_stderr_contains("0001_reindex");
    assert_eq!(applied(&database).await, 1);
}

/// The session's search_path is pinned to PostgreSQL's default, `"$user",
/// public`: `$user` is the rehearsal's role, which owns the scratch database
/// and may make a schema of its name during the restore, with a decoy `visit`
/// in it. The migration then rewrites the empty decoy, and production's
/// `public.visit` is never rehearsed (the previous fix, bypassed).
#[tokio::test]
async fn a_dump_that_makes_a_schema_named_after_the_rehearsals_role_does_not_redirect_the_migration() {
    let base_sql = format!(
        "{HOSTILE_BASE}CREATE FUNCTION public.tamper() RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN \
         IF pg_catalog.current_database() LIKE 'praxia%drill%' THEN \
         EXECUTE pg_catalog.format('CREATE SCHEMA IF NOT EXISTS %I', current_user); \
         EXECUTE pg_catalog.format('CREATE TABLE IF NOT EXISTS %I.\"visit\" (\"id\" integer PRIMARY KEY, \"score\" integer NOT NULL)', current_user); \
         END IF; RETURN true; END $$;\n\
         --> statement-breakpoint\nCREATE TABLE \"setting\" (\"id\" integer, CONSTRAINT \"setting_ok\" CHECK (public.tamper()));\n\
         --> statement-breakpoint\nINSERT INTO \"setting\" VALUES (1);\n"
    );
    let base = ("0000_base", 1000, base_sql.as_str());
    let project = TestProject::with_migrations(&[base]);
    let database = test_postgres().fresh_database();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    project.run_on(&database, &["--env", "test", "backup"]).expect_code(0);
    // Each part is a step of its own, and each step starts from the session's defaults.
    project.set_migrations(&[
        base,
        ("0001_first", 1500, "SELECT 1;\n"),
        ("0002_widen", 2000, "ALTER TABLE \"visit\" ALTER COLUMN \"score\" SET DATA TYPE bigint;\n"),
    ]);
    let outcome = project.run_on(&database, &["--env", "test", "--output", "json", "rehearse"]);
    let document = outcome.expect_code(0).json();
    let widened = statement(&document["result"]["rehearsal"], "0002_widen", 1);
    assert_eq!(widened["rewrote"], serde_json::json!(["public.visit"]), "{widened:#}");
}

/// "A part numbers only its own statements: the file's number, by the line":
/// two statements on one line (common in hand-written migrations) both get the
/// first one's number, in a file that is not split too.
#[tokio::test]
async fn two_statements_on_one_line_keep_their_own_numbers() {
    let (project, database) = budgeted_and_backed_up(SMALL_BASE);
    project.set_migrations(&[
        SMALL_BASE,
        (
            "0001_two",
            2000,
            "ALTER TABLE \"visit\" ADD COLUMN \"note\" text; ALTER TABLE \"visit\" ADD COLUMN \"other\" text;\n",
        ),
    ]);
    let document = project.run_on(&database, &["--env", "test", "--output", "json", "rehearse"]).expect_code(0).json();
    let numbers: Vec<u64> = document["result"]["rehearsal"]["migrations"][0]["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|statement| statement["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [1, 2], "{document:#}");
}

/// The budget knows a statement by its line: where a file's contract part (a
/// drop) and its expand part (a slow statement after it) share a line,
/// `migrate`, which runs the file whole, holds the drop's ACCESS EXCLUSIVE
/// through the slow statement, and the budget adds nothing (the statements
/// after it are those of a greater number, and both have the line's).
#[tokio::test]
async fn a_file_rehearsed_as_parts_sharing_a_line_is_judged_whole_where_it_runs_whole() {
    let base = NOTE_BASE;
    let (project, database) = held_back_and_backed_up(base);
    let change = ("0001_drop_legacy", 2000, "ALTER TABLE \"note\" DROP COLUMN \"legacy\"; SELECT pg_sleep(1.5);\n");
    project.set_migrations(&[base, change]);
    let document = project.run_on(&database, &["--env", "test", "--output", "json", "rehearse"]).expect_code(0).json();
    let mut parts: Vec<&str> = document["result"]["rehearsal"]["migrations"][0]["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|statement| statement["part"].as_str().unwrap_or("whole"))
        .collect();
    parts.sort_unstable();
    assert_eq!(parts, ["contract", "expand"], "rehearsed as its two parts: {document:#}");
    project
        .run_on(&database, &["--env", "test", "migrate"])
        .expect_code(3)
        .expect_stderr_contains("0001_drop_legacy: statement 1 (line 1) held ACCESS EXCLUSIVE on public.note");
}

/// The scratch database holds a copy of production's data: "dropped with that
/// role whatever happens, interrupted too". Closing the terminal (or an SSH
/// session to the laptop ending) sends SIGHUP, whose default action ends the
/// process at once: the copy stays on the laptop.
#[tokio::test]
async fn a_rehearsal_ended_by_sighup_still_drops_its_scratch_database() {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        let (project, database) = budgeted_and_backed_up(SMALL_BASE);
        project.set_migrations(&[SMALL_BASE, ("0001_slow", 2000, "SELECT pg_sleep(30);\n")]);
        let mut child = project
            .on(&database)
            .args(["--env", "test", "rehearse"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Until the migration runs on the scratch database.
        let started = std::time::Instant::now();
        let mut connection = loop {
            if project.run(&["--env", "test", "db", "url"]).code == 0
                && let Ok(connection) = PgConnection::connect(&development_cluster_url(&project)).await
            {
                break connection;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "the development cluster never started");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        let scratch: String = loop {
            let found: Option<String> = sqlx::query_scalar(
                "SELECT datname::text FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(30)%' AND datname LIKE 'praxia\\_drill\\_%'",
            )
            .fetch_optional(&mut connection)
            .await
            .unwrap();
            if let Some(found) = found {
                break found;
            }
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "the rehearsal never ran its migration");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        unsafe { libc::kill(child.id() as i32, signal) };
        let status = child.wait().unwrap();
        assert_ne!(status.code(), Some(0), "signal {signal}");
        let left: Vec<String> = sqlx::query_scalar(
            "SELECT datname::text FROM pg_database WHERE datname = $1 UNION ALL SELECT rolname::text FROM pg_roles WHERE rolname = $1",
        )
        .bind(&scratch)
        .fetch_all(&mut connection)
        .await
        .unwrap();
        assert!(left.is_empty(), "after signal {signal}, the copy of the backup's data stays: {left:?}");
    }
}

/// `plan` says in its listing what the budget would refuse; `--output json`
/// (CI's way to read it) says nothing of the budget at all.
#[tokio::test]
async fn plan_in_json_says_what_the_lock_budget_would_refuse() {
    let project = project("lock_budget = \"2s\"\nrehearsal_max_age = \"24h\"");
    let database = at_base(&project);
    write_record(&project, 5_000.0, 3600);
    let document = project.run_on(&database, &["--env", "test", "--output", "json", "plan"]).expect_code(0).json();
    assert!(document.to_string().contains("held_too_long"), "{document:#}");
}

/// `contract --abandon TAG` runs nothing (the contract part failed in
/// production: that is why it is abandoned), yet the budget judges it as a
/// migration: once the rehearsal is older than `rehearsal_max_age` it is
/// refused, and rehearsing again on a fresh backup runs the failing contract
/// part, fails, and records nothing: no way out but to turn the budget off.
#[tokio::test]
async fn abandoning_a_contract_part_runs_nothing_and_needs_no_rehearsal() {
    let base = NOTE_BASE;
    let (project, database) = held_back_and_backed_up(base);
    let change = (
        "0001_drop_legacy",
        2000,
        "ALTER TABLE \"note\" ADD COLUMN \"title\" text;--> statement-breakpoint\nALTER TABLE \"note\" DROP COLUMN \"legacy\";",
    );
    project.set_migrations(&[base, change]);
    project.run_on(&database, &["--env", "test", "rehearse"]).expect_code(0);
    at_revision(&project, &database, "rev1", &["release"])
        .expect_code(0)
        .expect_stdout_contains("0001_drop_legacy: expanded, contract pending");
    // Days later: the rehearsal is older than rehearsal_max_age (48 h by default).
    let path = project.path().join("rehearsals/test.json");
    let mut record: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let taken_at = record["migrations"][0]["backup"]["taken_at"].as_u64().unwrap();
    record["migrations"][0]["backup"]["taken_at"] = (taken_at - 3 * 24 * 3600).into();
    std::fs::write(&path, serde_json::to_string_pretty(&record).unwrap()).unwrap();
    at_revision(&project, &database, "rev1", &["contract", "--abandon", "0001_drop_legacy"]).expect_code(0);
}
