//! The review with a database and the production gate: findings judged against
//! the tables they touch (new in this release, small, large), acknowledgements
//! and their reasons in the migration log, and the configuration that tunes it.

use crate::support::{TestDatabase, TestProject, test_postgres};
use sqlx::{Connection, PgConnection};

/// A production environment run locally (as the release phase runs it in the
/// container), with thresholds low enough that a few thousand rows are large.
/// The gate on whole migrations: `release` holding a drop back is tests/it/expand_contract.rs's.
const PRODUCTION: &str = "kind = \"production\"\n\n[database]\nwait = \"5s\"\nlock_wait = \"20s\"\n\n[contract]\nhold_back = false\n\n[review]\nsmall_table_rows = 1000\nsmall_table_size = \"64kB\"\n";

const NOTE: &str =
    "CREATE TABLE \"note\" (\n\t\"id\" text PRIMARY KEY NOT NULL,\n\t\"body\" text NOT NULL,\n\t\"legacy\" text\n);\n";
const DROP_LEGACY: &str = "ALTER TABLE \"note\" DROP COLUMN \"legacy\";";
const INDEX_BODY: &str = "CREATE INDEX \"note_body_idx\" ON \"note\" USING btree (\"body\");";

async fn execute(database: &TestDatabase, sql: &str) {
    let mut connection = PgConnection::connect(&database.url).await.expect("connect to the test database");
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut connection).await.unwrap();
}

async fn text(database: &TestDatabase, sql: &str) -> String {
    let mut connection = PgConnection::connect(&database.url).await.expect("connect to the test database");
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned())).fetch_one(&mut connection).await.unwrap()
}

/// The acknowledgements the migration log kept for `tag`.
async fn logged_acknowledgements(database: &TestDatabase, tag: &str) -> serde_json::Value {
    let sql = format!("SELECT acknowledgements::text FROM praxia_deploy.migration_log WHERE tag = '{tag}'");
    serde_json::from_str(&text(database, &sql).await).unwrap()
}

fn migrations(list: &[(&str, &str)]) -> Vec<(String, i64, String)> {
    list.iter()
        .enumerate()
        .map(|(i, (tag, sql))| ((*tag).to_owned(), 1_700_000_000_000 + i as i64 * 1000, (*sql).to_owned()))
        .collect()
}

fn production_project(list: &[(&str, &str)]) -> TestProject {
    let project = TestProject::empty();
    project.file("environments/production.toml", PRODUCTION);
    set(&project, list);
    project
}

fn set(project: &TestProject, list: &[(&str, &str)]) {
    let owned = migrations(list);
    let borrowed: Vec<(&str, i64, &str)> =
        owned.iter().map(|(tag, when, sql)| (tag.as_str(), *when, sql.as_str())).collect();
    project.set_migrations(&borrowed);
}

/// `note` applied in production, holding `rows` rows, analysed.
async fn live_note(rows: usize) -> (TestDatabase, TestProject) {
    let database = test_postgres().fresh_database();
    let project = production_project(&[("0000_note", NOTE)]);
    project.run_on(&database, &["--env", "production", "release"]).expect_code(0);
    execute(
        &database,
        &format!(
            "INSERT INTO note SELECT g::text, repeat('x', 80), 'old' FROM generate_series(1, {rows}) g; ANALYZE note;"
        ),
    )
    .await;
    (database, project)
}

#[tokio::test]
async fn the_gate_refuses_a_drop_on_a_live_table_before_writing_anything() {
    let (database, project) = live_note(10).await;
    set(&project, &[("0000_note", NOTE), ("0001_drop_legacy", DROP_LEGACY)]);
    let outcome = project.run_on(&database, &["--env", "production", "release"]);
    outcome
        .expect_code(3)
        .expect_stderr_contains("the review gate of environment production refuses 2 findings")
        .expect_stderr_contains("0001_drop_legacy.sql:1:20: error[ban-drop-column] (table note: ~10 rows")
        .expect_stderr_contains("nothing was written")
        .expect_stderr_contains("-- praxia-deploy: allow previous-release-overlap, ban-drop-column: <reason>");
    assert_eq!(text(&database, "SELECT count(*)::text FROM drizzle.__drizzle_migrations").await, "1");
    assert_eq!(text(&database, "SELECT count(legacy)::text FROM note").await, "10", "the column is still there");
    // migrate refuses the same, and so does its dry run (it says what the run would do).
    project.run_on(&database, &["--env", "production", "migrate"]).expect_code(3);
    // Production's migrate takes a backup first, but not for a migration the gate refuses.
    assert!(!project.path().join("backups").exists(), "a refused migration cost a backup");
    let document =
        project.run_on(&database, &["--env", "production", "--output", "json", "plan"]).expect_code(0).json();
    assert_eq!(
        document["result"]["review"],
        serde_json::json!({"findings": 2, "blocking": 2, "acknowledged_or_harmless": 0, "gate": "refuses"})
    );
    let finding = &document["result"]["pending"][0]["statements"][0]["findings"][0];
    assert_eq!((finding["table_rows"].as_u64(), finding["verdict"].as_str()), (Some(10), Some("danger")), "{finding}");
    project.run_on(&database, &["--env", "production", "migrate", "--dry-run"]).expect_code(3).expect_stdout_contains(
        "-- review: 2 findings (2 blocking, 0 acknowledged or harmless); the review gate of production refuses 2 findings",
    );
    // A development environment reviews the same but has no gate.
    project.file("environments/development.toml", "kind = \"development\"\n");
    let other = test_postgres().fresh_database();
    project.run_on(&other, &["--env", "development", "migrate"]).expect_code(0);
}

#[tokio::test]
async fn an_acknowledgement_with_its_reason_lets_it_through_and_is_logged() {
    let (database, project) = live_note(10).await;
    let acknowledged = format!(
        "-- praxia-deploy: allow ban-drop-column, previous-release-overlap: legacy unread since v2.3\n{DROP_LEGACY}"
    );
    set(&project, &[("0000_note", NOTE), ("0001_drop_legacy", &acknowledged)]);
    let plan = project.run_on(&database, &["--env", "production", "plan"]);
    plan.expect_code(0)
        .expect_stdout_contains("--   acknowledged on line 1: legacy unread since v2.3")
        .expect_stdout_contains("the review gate of production lets these migrations through");
    project.run_on(&database, &["--env", "production", "release"]).expect_code(0);
    assert_eq!(
        logged_acknowledgements(&database, "0001_drop_legacy").await,
        serde_json::json!([{
            "rules": ["ban-drop-column", "previous-release-overlap"],
            "reason": "legacy unread since v2.3",
            "line": 1,
            "comment": "praxia-deploy: allow"
        }])
    );
}

#[tokio::test]
async fn squawk_ignore_passes_the_gate_and_is_logged_without_a_reason() {
    let (database, project) = live_note(10).await;
    // Squawk's comment, on the line before the statement as Squawk reads it.
    let squawk_only = format!("-- squawk-ignore ban-drop-column\n{DROP_LEGACY}");
    set(&project, &[("0000_note", NOTE), ("0001_drop_legacy", &squawk_only)]);
    let outcome = project.run_on(&database, &["--env", "production", "release"]);
    outcome.expect_code(3).expect_stderr_contains("error[previous-release-overlap]");
    assert!(!outcome.stderr.contains("ban-drop-column]"), "{}", outcome.stderr);
    // It covers our rules too.
    let both = format!("-- squawk-ignore ban-drop-column, previous-release-overlap\n{DROP_LEGACY}");
    set(&project, &[("0000_note", NOTE), ("0001_drop_legacy", &both)]);
    project.run_on(&database, &["--env", "production", "release"]).expect_code(0);
    assert_eq!(
        logged_acknowledgements(&database, "0001_drop_legacy").await,
        serde_json::json!([{
            "rules": ["ban-drop-column", "previous-release-overlap"],
            "reason": null,
            "line": 1,
            "comment": "squawk-ignore"
        }])
    );
}

#[tokio::test]
async fn a_lock_finding_is_harmless_on_a_small_table_and_refused_on_a_large_one() {
    let (small, project) = live_note(10).await;
    set(&project, &[("0000_note", NOTE), ("0001_index", INDEX_BODY)]);
    let plan = project.run_on(&small, &["--env", "production", "plan"]);
    plan.expect_code(0).expect_stdout_contains("--   harmless: table note is small (~10 rows, ");
    project.run_on(&small, &["--env", "production", "release"]).expect_code(0);

    let (large, project) = live_note(5000).await;
    set(&project, &[("0000_note", NOTE), ("0001_index", INDEX_BODY)]);
    project
        .run_on(&large, &["--env", "production", "release"])
        .expect_code(3)
        .expect_stderr_contains("error[require-concurrent-index-creation] (table note: ~5000 rows");
    assert_eq!(text(&large, "SELECT coalesce(to_regclass('note_body_idx')::text, 'none')").await, "none");

    // The thresholds are the environment's: raised, the same table is small.
    project.file("environments/production.toml", &PRODUCTION.replace("1000", "100000").replace("64kB", "1GB"));
    project.run_on(&large, &["--env", "production", "release"]).expect_code(0);
}

#[tokio::test]
async fn findings_on_a_table_created_earlier_in_the_release_are_harmless() {
    let database = test_postgres().fresh_database();
    let project =
        production_project(&[("0000_note", NOTE), ("0001_index", INDEX_BODY), ("0002_drop_legacy", DROP_LEGACY)]);
    let document =
        project.run_on(&database, &["--env", "production", "--output", "json", "plan"]).expect_code(0).json();
    let mut findings = Vec::new();
    for entry in document["result"]["pending"].as_array().unwrap() {
        for statement in entry["statements"].as_array().unwrap() {
            findings.extend(statement["findings"].as_array().into_iter().flatten().cloned());
        }
    }
    assert!(findings.len() >= 3, "{document}");
    for finding in findings {
        assert_eq!(finding["verdict"], "harmless", "{finding}");
        assert!(
            finding["reason"].as_str().unwrap().contains("table note is created by 0000_note earlier in this release"),
            "{finding}"
        );
    }
    project.run_on(&database, &["--env", "production", "release"]).expect_code(0);
}

#[test]
fn a_malformed_acknowledgement_is_an_error_naming_the_file_and_line() {
    for (comment, problem) in [
        (
            "-- praxia-deploy: allow ban-drop-colum: typo",
            "an acknowledgement of `ban-drop-colum`, which is not a review rule",
        ),
        ("-- praxia-deploy: allow ban-drop-column", "an acknowledgement without a reason"),
        ("-- praxia-deploy: allow ban-drop-column:   ", "an acknowledgement without a reason"),
        ("-- praxia-deploy: allow : because", "an acknowledgement that names no rule"),
    ] {
        let project = production_project(&[("0000_note", NOTE), ("0001_drop", &format!("\n{comment}\n{DROP_LEGACY}"))]);
        let outcome = project.run(&["--env", "production", "lint"]);
        outcome
            .expect_code(4)
            .expect_stderr_contains(&format!("0001_drop.sql:2:1: {problem}"))
            .expect_stderr_contains("-- praxia-deploy: allow");
    }
}

#[test]
fn an_acknowledgement_that_covers_nothing_is_a_warning() {
    let project = production_project(&[
        ("0000_note", NOTE),
        ("0001_index", &format!("-- praxia-deploy: allow ban-drop-column: not here\n{INDEX_BODY}")),
    ]);
    let outcome = project.run(&["--env", "production", "lint", "0001_index"]);
    outcome
        .expect_code(10)
        .expect_stdout_contains("warning[unused-acknowledgement]: this comment acknowledges `ban-drop-column`")
        .expect_stdout_contains("0001_index.sql:1:1");
}

#[test]
fn rule_levels_come_from_the_environment_and_unknown_rules_are_refused() {
    let project = production_project(&[("0000_note", NOTE), ("0001_index", INDEX_BODY)]);
    project.run(&["--env", "production", "lint"]).expect_code(10);
    project.file(
        "environments/production.toml",
        &format!("{PRODUCTION}\n[review.rules]\nrequire-concurrent-index-creation = \"warning\"\n"),
    );
    project
        .run(&["--env", "production", "lint"])
        .expect_code(0)
        .expect_stdout_contains("warning[require-concurrent-index-creation]");
    project.file(
        "environments/production.toml",
        &format!("{PRODUCTION}\n[review.rules]\nrequire-concurrent-index-creation = \"off\"\n"),
    );
    let outcome = project.run(&["--env", "production", "lint"]);
    assert!(!outcome.expect_code(0).stdout.contains("require-concurrent-index-creation"), "{}", outcome.stdout);
    // An opt-in Squawk rule turned on by setting its level.
    project
        .file("environments/production.toml", &format!("{PRODUCTION}\n[review.rules]\nban-drop-index = \"error\"\n"));
    project.set_migrations(&[("0000_drop_index", 1_700_000_000_000, "DROP INDEX CONCURRENTLY IF EXISTS \"x_idx\";")]);
    project.run(&["--env", "production", "lint"]).expect_code(10).expect_stdout_contains("error[ban-drop-index]");

    project
        .file("environments/production.toml", &format!("{PRODUCTION}\n[review.rules]\nban-drop-colum = \"error\"\n"));
    project
        .run(&["--env", "production", "lint"])
        .expect_code(2)
        .expect_stderr_contains("production.toml:15:18: key `review.rules.ban-drop-colum`")
        .expect_stderr_contains("unknown review rule `ban-drop-colum`");
    project.file("environments/production.toml", &format!("{PRODUCTION}gate = \"yes\"\n"));
    project.run(&["--env", "production", "lint"]).expect_code(2).expect_stderr_contains("key `review.gate`");
    project.file("environments/production.toml", &PRODUCTION.replace("\"64kB\"", "\"64 kilobytes\""));
    project.run(&["--env", "production", "lint"]).expect_code(2).expect_stderr_contains("is not a size");
}

#[test]
fn without_a_gate_what_it_would_refuse_is_said_and_applied() {
    let database = test_postgres().fresh_database();
    let project = TestProject::empty();
    project.file("environments/development.toml", "kind = \"development\"\n");
    set(&project, &[("0000_note", NOTE)]);
    project.run_on(&database, &["--env", "development", "migrate"]).expect_code(0);
    set(&project, &[("0000_note", NOTE), ("0001_drop_legacy", DROP_LEGACY)]);
    project
        .run_on(&database, &["--env", "development", "migrate"])
        .expect_code(0)
        .expect_stderr_contains("review: 0001_drop_legacy")
        .expect_stderr_contains("0001_drop_legacy.sql:1:20: error[ban-drop-column] (table note:");
}

/// `sql` as the next migration on a live, large `note` (after `setup`, run
/// directly on the database): the gate must refuse it, naming `expected`, and
/// nothing may change.
async fn refused(setup: &str, sql: &str, expected: &str) {
    let (database, project) = live_note(5000).await;
    if !setup.is_empty() {
        execute(&database, setup).await;
    }
    set(&project, &[("0000_note", NOTE), ("0001_change", sql)]);
    let outcome = project.run_on(&database, &["--env", "production", "release"]);
    assert_eq!(outcome.code, 3, "{sql}\nwas not refused:\n{}{}", outcome.stdout, outcome.stderr);
    assert!(outcome.stderr.contains(expected), "{sql}\nrefused without `{expected}`:\n{}", outcome.stderr);
    assert_eq!(text(&database, "SELECT count(*)::text FROM drizzle.__drizzle_migrations").await, "1", "{sql}");
}

#[tokio::test]
async fn the_gate_is_not_fooled_by_names_it_cannot_see_through() {
    // Every table a DROP names is judged, not the first.
    refused("", "DROP TABLE IF EXISTS \"ghost\", \"note\";", "error[ban-drop-table] (table note: ~5000 rows").await;
    // A partitioned table counts with its partitions (the parent alone has no rows).
    refused(
        "CREATE TABLE events (id int, body text) PARTITION BY RANGE (id); \
         CREATE TABLE events_a PARTITION OF events FOR VALUES FROM (0) TO (3000); \
         CREATE TABLE events_b PARTITION OF events FOR VALUES FROM (3000) TO (6000); \
         INSERT INTO events SELECT g, repeat('x', 80) FROM generate_series(1, 5000) g; ANALYZE events;",
        "CREATE INDEX \"events_body_idx\" ON \"events\" (\"body\");",
        "error[require-concurrent-index-creation] (table events: ~5000 rows",
    )
    .await;
    // Unqualified names are the database's search_path's, not `public`'s.
    refused(
        "CREATE SCHEMA ops; CREATE TABLE ops.jobs (id int, body text); \
         INSERT INTO ops.jobs SELECT g, 'x' FROM generate_series(1, 10) g; \
         DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET search_path = ops, public', current_database()); END $$;",
        "ALTER TABLE \"jobs\" DROP COLUMN \"body\";",
        "error[ban-drop-column] (table ops.jobs:",
    )
    .await;
    // IF NOT EXISTS may find the live table; a temporary table is not the live one.
    refused(
        "",
        "CREATE TABLE IF NOT EXISTS \"note\" (\"id\" text);\n--> statement-breakpoint\nALTER TABLE \"note\" DROP COLUMN \"legacy\";",
        "error[ban-drop-column] (table note:",
    )
    .await;
    refused(
        "",
        "CREATE TEMP TABLE \"note\" (\"id\" text);\n--> statement-breakpoint\nALTER TABLE \"public\".\"note\" DROP COLUMN \"legacy\";",
        "error[ban-drop-column] (table note:",
    )
    .await;
    // A table renamed earlier in the release keeps its size under its new name.
    refused(
        "",
        "-- praxia-deploy: allow renaming-table, previous-release-overlap: note_old is read by nothing\nALTER TABLE \"note\" RENAME TO \"note_old\";\n--> statement-breakpoint\nCREATE INDEX \"note_old_body_idx\" ON \"note_old\" (\"body\");",
        "error[require-concurrent-index-creation] (table note: ~5000 rows",
    )
    .await;
}

#[tokio::test]
async fn the_gate_refuses_what_the_review_cannot_read() {
    refused("", "DO $$ BEGIN ALTER TABLE \"note\" DROP COLUMN \"legacy\"; END $$;", "error[unreviewable-statement]")
        .await;
    refused(
        "CREATE SCHEMA ops; CREATE TABLE ops.note (id text, legacy text);",
        "SET search_path TO ops;\n--> statement-breakpoint\nALTER TABLE \"note\" DROP COLUMN \"legacy\";",
        "changing search_path changes which tables the unqualified names after it mean",
    )
    .await;
    refused(
        "",
        "SET standard_conforming_strings = off;\n--> statement-breakpoint\nSELECT 'a\\'b';\nCREATE INDEX \"hidden_idx\" ON \"note\" (\"body\");\nSELECT 'c';",
        "error[unreviewable-statement]",
    )
    .await;
    // Ignores must be real comments and name their rules.
    refused(
        "",
        "COMMENT ON TABLE \"note\" IS 'x\n-- squawk-ignore-file ban-drop-column, previous-release-overlap\n';\n--> statement-breakpoint\nALTER TABLE \"note\" DROP COLUMN \"legacy\";",
        "error[ban-drop-column]",
    )
    .await;
    refused("", &format!("-- squawk-ignore-file\n{INDEX_BODY}"), "error[blanket-ignore]").await;
    refused("", &format!("/* squawk-ignore-file */\n{INDEX_BODY}"), "error[blanket-ignore]").await;
}

#[tokio::test]
async fn squawk_ignore_with_a_trailing_comment_is_read_as_squawk_reads_it() {
    let (database, project) = live_note(10).await;
    let ignored =
        format!("-- squawk-ignore ban-drop-column, previous-release-overlap -- legacy unused since v2\n{DROP_LEGACY}");
    set(&project, &[("0000_note", NOTE), ("0001_drop_legacy", &ignored)]);
    project.run_on(&database, &["--env", "production", "release"]).expect_code(0);
}

#[test]
fn an_unused_acknowledgement_set_to_error_fails_lint() {
    let project = production_project(&[
        ("0000_note", NOTE),
        ("0001_add", "-- praxia-deploy: allow renaming-column: moved\nALTER TABLE \"note\" ADD COLUMN \"x\" text;"),
    ]);
    project
        .run(&["--env", "production", "lint", "0001_add"])
        .expect_code(0)
        .expect_stdout_contains("warning[unused-acknowledgement]");
    project.file(
        "environments/production.toml",
        &format!("{PRODUCTION}\n[review.rules]\nunused-acknowledgement = \"error\"\n"),
    );
    project
        .run(&["--env", "production", "lint", "0001_add"])
        .expect_code(10)
        .expect_stdout_contains("error[unused-acknowledgement]");
}

#[tokio::test]
async fn drizzle_kits_guarded_statement_is_reviewed_as_the_statement_it_guards() {
    // drizzle-kit before 0.30 writes every foreign key this way: the guarded
    // statement is what runs, so it is what the review judges.
    // Only what drizzle-kit puts in it is read through (ADD CONSTRAINT, CREATE TYPE,
    // CREATE SCHEMA): anything else in the same shape is a DO block like any other.
    for inside in [
        "ALTER TABLE \"note\" DROP COLUMN \"legacy\"",
        "EXECUTE lower('DROP TABLE note')",
        "DO $x$ BEGIN DROP TABLE note; END $x$",
        "SET standard_conforming_strings = off",
        "CALL cleanup()",
    ] {
        let guarded = format!("DO $$ BEGIN\n {inside};\nEXCEPTION\n WHEN duplicate_object THEN null;\nEND $$;");
        refused("", &guarded, "0001_change.sql:1:1: error[unreviewable-statement]").await;
    }
    let (database, project) = live_note(5000).await;
    let fk = "DO $$ BEGIN\n ALTER TABLE \"note\" ADD CONSTRAINT \"note_self_fk\" FOREIGN KEY (\"id\") REFERENCES \"public\".\"note\"(\"id\") ON DELETE cascade ON UPDATE no action;\nEXCEPTION\n WHEN duplicate_object THEN null;\nEND $$;";
    set(&project, &[("0000_note", NOTE), ("0001_change", fk)]);
    let lint = project.run(&["--env", "production", "lint", "0001"]);
    assert!(!lint.stdout.contains("unreviewable-statement"), "{}", lint.stdout);
    assert!(lint.stdout.contains("error[adding-foreign-key-constraint]"), "{}", lint.stdout);
    assert!(lint.stdout.contains("0001_change.sql:2:2"), "{}", lint.stdout);
    project.run_on(&database, &["--env", "production", "release"]).expect_code(3);
}

#[tokio::test]
async fn a_first_deploy_onto_a_database_with_no_tables_is_never_blocked() {
    // What the review cannot see (a hand-written guard) and what would break a
    // running release, on a database that holds no tables: nothing to harm.
    let sql = [
        ("0000_note", NOTE),
        (
            "0001_guarded",
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conname = 'note_body_key') THEN ALTER TABLE \"note\" ADD CONSTRAINT \"note_body_key\" UNIQUE (\"body\"); END IF; END $$;",
        ),
        ("0002_drop", DROP_LEGACY),
    ];
    let project = production_project(&sql);
    let empty = test_postgres().fresh_database();
    // An extension's own tables are not the app's.
    execute(&empty, "CREATE EXTENSION IF NOT EXISTS pg_trgm").await;
    project
        .run_on(&empty, &["--env", "production", "plan"])
        .expect_code(0)
        .expect_stdout_contains("the database holds no tables yet (a first deploy)");
    project.run_on(&empty, &["--env", "production", "release"]).expect_code(0);

    // One table of anything else in the database, and the same first deploy is judged as any other.
    for other in [
        "CREATE TABLE \"invoices\" (\"id\" int)",
        "CREATE SCHEMA billing; CREATE SEQUENCE billing.numbers",
        "SELECT lo_from_bytea(0, 'kept')",
    ] {
        let database = test_postgres().fresh_database();
        execute(&database, other).await;
        project
            .run_on(&database, &["--env", "production", "release"])
            .expect_code(3)
            .expect_stderr_contains("error[unreviewable-statement]");
    }
}

#[tokio::test]
async fn a_review_made_stale_by_another_runner_is_made_again_under_the_lock() {
    // Runner A deploys the first migration (a table filled with rows) and is slow
    // to commit; runner B, started meanwhile with a drop on that table, reviewed an
    // empty database. Under the lock it finds A's table live, judges again, refuses.
    let database = test_postgres().fresh_database();
    let create = format!(
        "{NOTE}--> statement-breakpoint\nINSERT INTO \"note\" SELECT g::text, 'x', 'y' FROM generate_series(1, 5000) g;\n--> statement-breakpoint\nANALYZE \"note\";\n--> statement-breakpoint\nSELECT pg_sleep(3);"
    );
    let first = production_project(&[("0000_note", &create)]);
    let slow = first
        .on(&database)
        .args(["--env", "production", "release"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // B starts while A sleeps, holding the lock, its table not yet committed.
    let mut observer = PgConnection::connect(&database.url).await.unwrap();
    for _ in 0..100 {
        let sleeping: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE query LIKE '%pg_sleep(3)%' AND state = 'active' AND datname = current_database() AND pid <> pg_backend_pid())",
        )
        .fetch_one(&mut observer)
        .await
        .unwrap();
        if sleeping {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let second = production_project(&[("0000_note", &create), ("0001_drop", DROP_LEGACY)]);
    let outcome = second.run_on(&database, &["--env", "production", "release"]);
    let first_outcome = slow.wait_with_output().unwrap();
    assert_eq!(first_outcome.status.code(), Some(0), "{}", String::from_utf8_lossy(&first_outcome.stderr));
    assert_eq!(outcome.code, 3, "{}{}", outcome.stdout, outcome.stderr);
    assert!(outcome.stderr.contains("error[ban-drop-column] (table note: ~5000 rows"), "{}", outcome.stderr);
    assert_eq!(
        text(
            &database,
            "SELECT count(*)::text FROM information_schema.columns WHERE table_name = 'note' AND column_name = 'legacy'"
        )
        .await,
        "1"
    );
}

#[tokio::test]
async fn what_the_release_itself_made_is_harmless_to_drop_on_a_live_table() {
    // A column, a constraint and a type the same release makes: the running release
    // does not know them, so dropping them breaks nothing it uses.
    let (database, project) = live_note(5000).await;
    set(
        &project,
        &[
            ("0000_note", NOTE),
            (
                "0001_add",
                "ALTER TABLE \"public\".\"note\" ADD COLUMN \"extra\" text;\n--> statement-breakpoint\nALTER TABLE \"note\" ADD CONSTRAINT \"note_extra_check\" CHECK (\"extra\" <> '') NOT VALID;\n--> statement-breakpoint\nCREATE TYPE \"public\".\"mood\" AS ENUM('calm', 'busy');",
            ),
            (
                "0002_drop",
                "ALTER TABLE \"note\" DROP CONSTRAINT \"note_extra_check\";\n--> statement-breakpoint\nALTER TABLE \"note\" DROP COLUMN \"extra\";\n--> statement-breakpoint\nDROP TYPE \"public\".\"mood\";",
            ),
        ],
    );
    let document =
        project.run_on(&database, &["--env", "production", "--output", "json", "plan"]).expect_code(0).json();
    let mut reasons = Vec::new();
    for entry in document["result"]["pending"].as_array().unwrap() {
        for statement in entry["statements"].as_array().unwrap() {
            for finding in statement["findings"].as_array().into_iter().flatten() {
                if finding["tag"] == "0002_drop" && finding["level"] == "error" {
                    assert_eq!(finding["verdict"], "harmless", "{finding}");
                    reasons.push(finding["reason"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    assert!(
        reasons
            .iter()
            .any(|reason| reason.starts_with("column note.extra is made by 0001_add earlier in this release")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|reason| reason.starts_with("type mood is made by 0001_add")), "{reasons:?}");
    project.run_on(&database, &["--env", "production", "release"]).expect_code(0);
    // The column the running release uses is still refused.
    let add = "ALTER TABLE \"public\".\"note\" ADD COLUMN \"extra2\" text;";
    set(
        &project,
        &[
            ("0000_note", NOTE),
            ("0001_add", add),
            ("0002_drop", "ALTER TABLE \"note\" DROP COLUMN \"extra2\", DROP COLUMN \"body\";"),
        ],
    );
    let fresh = live_note(5000).await.0;
    project
        .run_on(&fresh, &["--env", "production", "release"])
        .expect_code(3)
        .expect_stderr_contains("error[ban-drop-column] (table note: ~5000 rows");
}

#[tokio::test]
async fn what_only_seems_made_by_the_release_is_still_judged_live() {
    // A guarded statement may have been skipped: it makes nothing for sure.
    refused(
        "CREATE TYPE mood AS ENUM ('a'); ALTER TABLE note ADD COLUMN m mood;",
        "DO $$ BEGIN\n CREATE TYPE \"public\".\"mood\" AS ENUM('a');\nEXCEPTION\n WHEN duplicate_object THEN null;\nEND $$;\n--> statement-breakpoint\nDROP TYPE \"public\".\"mood\";",
        "error[ban-drop-type]",
    )
    .await;
    refused(
        "ALTER TABLE note ADD CONSTRAINT note_body_check CHECK (body <> '');",
        "DO $$ BEGIN\n ALTER TABLE \"note\" ADD CONSTRAINT \"note_body_check\" CHECK (\"body\" <> '');\nEXCEPTION\n WHEN duplicate_object THEN null;\nEND $$;\n--> statement-breakpoint\nALTER TABLE \"note\" DROP CONSTRAINT \"note_body_check\";",
        "error[ban-drop-constraint]",
    )
    .await;
    // A table created, then renamed away: its old name now means the live table.
    refused(
        "",
        "CREATE SCHEMA \"postgres\";\n--> statement-breakpoint\nCREATE TABLE \"note\" (\"id\" text);\n--> statement-breakpoint\nALTER TABLE \"note\" RENAME TO \"note_draft\";\n--> statement-breakpoint\nDROP TABLE \"note\";",
        "error[ban-drop-table]",
    )
    .await;
    // CASCADE reaches the live column that now uses the type the release made.
    refused(
        "",
        "CREATE TYPE \"public\".\"mood\" AS ENUM('a');\n--> statement-breakpoint\nALTER TABLE \"note\" ALTER COLUMN \"legacy\" SET DATA TYPE \"public\".\"mood\" USING NULL;\n--> statement-breakpoint\nDROP TYPE \"public\".\"mood\" CASCADE;",
        "error[ban-drop-type]",
    )
    .await;
    // A temporary table, or another role, changes what the names after it mean.
    refused(
        "",
        "CREATE TEMP TABLE \"note\" (\"id\" text);\n--> statement-breakpoint\nALTER TABLE \"note\" ADD COLUMN \"x\" text;\n--> statement-breakpoint\nDROP TABLE pg_temp.\"note\";\n--> statement-breakpoint\nALTER TABLE \"note\" DROP COLUMN \"x\";",
        "error[unreviewable-statement]",
    )
    .await;
    refused(
        "",
        "SET ROLE \"postgres\";\n--> statement-breakpoint\nALTER TABLE \"note\" ADD COLUMN \"x\" text;",
        "error[unreviewable-statement]",
    )
    .await;
}

#[tokio::test]
async fn a_first_deploy_does_not_excuse_what_reaches_beyond_the_database() {
    let project = production_project(&[("0000_other", "DROP DATABASE IF EXISTS \"praxia_absent\";")]);
    let empty = test_postgres().fresh_database();
    project
        .run_on(&empty, &["--env", "production", "release"])
        .expect_code(3)
        .expect_stderr_contains("error[ban-drop-database]");
}

#[tokio::test]
async fn a_table_made_live_while_the_release_waited_for_the_lock_is_judged_live() {
    // The same pending migration before and under the lock, but the database changed in between.
    let database = test_postgres().fresh_database();
    let project = production_project(&[("0000_reset", "DROP TABLE IF EXISTS \"note\";")]);
    let key = {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(b"praxia-deploy migrations drizzle.__drizzle_migrations");
        i64::from_be_bytes(digest[..8].try_into().unwrap())
    };
    let mut holder = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query("SELECT pg_advisory_lock($1)").bind(key).execute(&mut holder).await.unwrap();
    let runner = project
        .on(&database)
        .args(["--env", "production", "release"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut waiting = false;
    for _ in 0..200 {
        waiting = sqlx::query_scalar(
            "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE application_name LIKE 'praxia-deploy release%lock' AND datname = current_database())",
        )
        .fetch_one(&mut holder)
        .await
        .unwrap();
        if waiting {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(waiting, "the release never waited for the lock");
    execute(
        &database,
        &format!("{NOTE} INSERT INTO note SELECT g::text, 'x', 'y' FROM generate_series(1, 5000) g; ANALYZE note;"),
    )
    .await;
    sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(&mut holder).await.unwrap();
    let output = runner.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("error[ban-drop-table] (table note: ~5000 rows"), "{stderr}");
    assert_eq!(text(&database, "SELECT count(*)::text FROM note").await, "5000");
}

#[tokio::test]
async fn code_the_review_cannot_see_is_never_harmless() {
    // A function's body runs when a statement calls it for its effect.
    refused(
        "",
        "CREATE FUNCTION pg_temp.m() RETURNS void LANGUAGE sql AS 'ALTER TABLE note DROP COLUMN legacy';\n--> statement-breakpoint\nSELECT pg_temp.m();",
        "`pg_temp.m` is not a built-in function",
    )
    .await;
    // So does an operator's: `===` calls a function the review cannot see.
    refused(
        "CREATE FUNCTION public.wipe(text, text) RETURNS bool LANGUAGE sql AS 'ALTER TABLE note DROP COLUMN legacy; SELECT true'; \
         CREATE OPERATOR public.=== (LEFTARG = text, RIGHTARG = text, FUNCTION = public.wipe);",
        "UPDATE \"note\" SET \"body\" = 'y' WHERE \"id\" === 'never';",
        "`===` is not a built-in operator",
    )
    .await;
    // ... wherever it runs now: a cursor, drizzle-kit's guard, a partition's bounds.
    let operator = "CREATE FUNCTION public.wipe(text, text) RETURNS bool LANGUAGE sql AS 'ALTER TABLE note DROP COLUMN legacy; SELECT true'; \
                    CREATE OPERATOR public.=== (LEFTARG = text, RIGHTARG = text, FUNCTION = public.wipe); \
                    CREATE FUNCTION public.one() RETURNS int LANGUAGE sql AS 'SELECT 1'; \
                    CREATE TABLE parted (x int) PARTITION BY LIST (x);";
    for sql in [
        "DECLARE \"c\" CURSOR FOR SELECT 'a' === 'b';",
        "DO $$ BEGIN\n ALTER TABLE \"note\" ADD CONSTRAINT \"note_c\" CHECK (\"body\" === 'x');\nEXCEPTION\n WHEN duplicate_object THEN null;\nEND $$;",
        "CREATE TABLE \"parted_1\" PARTITION OF \"parted\" FOR VALUES IN (public.one());",
    ] {
        refused(operator, sql, "is not a built-in").await;
    }
    // Settings that change what names mean, however spelled.
    for sql in [
        "SET LOCAL \"search_path\" TO ops, public;\n--> statement-breakpoint\nALTER TABLE \"note\" ADD COLUMN \"x\" text;",
        "UPDATE pg_settings SET setting = 'ops, public' WHERE name = 'search_path';",
        "SELECT \"set_config\"('search_path', 'ops, public', true);",
    ] {
        refused("", sql, "error[unreviewable-statement]").await;
    }
    // Built-in calls are read as what they are.
    let (database, project) = live_note(10).await;
    set(
        &project,
        &[
            ("0000_note", NOTE),
            (
                "0001_sequence",
                "SELECT coalesce(max(1), 0), setval(pg_get_serial_sequence('drizzle.__drizzle_migrations', 'id'), 1);",
            ),
        ],
    );
    let document = project.run(&["--env", "production", "--output", "json", "lint", "0001"]).json();
    assert_eq!(document["result"]["findings"].as_array().map(Vec::len), Some(0), "{document}");
    drop(database);
}

/// The names `sql` lists on the test server.
async fn server_names(sql: &str) -> std::collections::BTreeSet<String> {
    let database = test_postgres().fresh_database();
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_all(&mut connection)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The names a list file of the review holds, its header's `comment` lines left out.
fn listed(text: &str, comment: &str) -> std::collections::BTreeSet<String> {
    text.lines().filter(|line| !line.starts_with(comment)).map(str::to_owned).collect()
}

#[tokio::test]
async fn the_built_in_function_list_is_the_servers() {
    let server =
        server_names("SELECT DISTINCT proname::text FROM pg_proc WHERE pronamespace = 'pg_catalog'::regnamespace")
            .await;
    let listed = listed(include_str!("../../src/review/rules/builtin_functions.txt"), "#");
    let missing: Vec<&String> = server.difference(&listed).collect();
    let extra: Vec<&String> = listed.difference(&server).collect();
    // Minor releases add only pg_upgrade's internal functions.
    let minor = |name: &&String| name.starts_with("binary_upgrade_");
    assert!(
        missing.iter().all(minor) && extra.iter().all(minor),
        "regenerate src/review/rules/builtin_functions.txt with the query in its header: missing {missing:?}, not on the server {extra:?}"
    );
}

#[tokio::test]
async fn the_built_in_operator_list_is_the_servers() {
    let server =
        server_names("SELECT DISTINCT oprname::text FROM pg_operator WHERE oprnamespace = 'pg_catalog'::regnamespace")
            .await;
    let listed = listed(include_str!("../../src/review/rules/builtin_operators.txt"), "--");
    assert_eq!(server, listed, "regenerate src/review/rules/builtin_operators.txt with the query in its header");
}

#[tokio::test]
async fn rewrites_heavy_locks_and_whole_table_writes_are_findings_judged_by_size() {
    refused("", "TRUNCATE \"note\";", "error[truncate-table] (table note: ~5000 rows").await;
    refused("", "UPDATE \"note\" SET \"body\" = 'x';", "error[whole-table-write] (table note: ~5000 rows").await;
    refused("", "CLUSTER \"note\" USING \"note_pkey\";", "error[table-rewrite] (table note: ~5000 rows").await;
    refused("", "ALTER TABLE \"note\" ADD COLUMN \"n\" bigserial;", "error[table-rewrite]").await;
    refused("", "LOCK TABLE \"note\";", "error[explicit-lock] (table note: ~5000 rows").await;
    // On a small table the rewrite and the write are quick: harmless, and said why.
    let (database, project) = live_note(10).await;
    set(
        &project,
        &[
            ("0000_note", NOTE),
            ("0001_backfill", "UPDATE \"note\" SET \"body\" = 'x';\n--> statement-breakpoint\nVACUUM FULL \"note\";"),
        ],
    );
    project.run_on(&database, &["--env", "production", "release"]).expect_code(0);
    assert_eq!(text(&database, "SELECT count(*)::text FROM note WHERE body = 'x'").await, "10");
}

#[tokio::test]
async fn after_a_statement_the_review_cannot_see_nothing_it_knew_excuses_a_finding() {
    // Acknowledged or not, the DO block may have made `ghost` live (here: from `note`);
    // that `ghost` "does not exist" no longer excuses dropping its column.
    let unseen = "-- praxia-deploy: allow unreviewable-statement: reviewed by hand\nDO $$ BEGIN EXECUTE 'CREATE TABLE ghost AS SELECT * FROM note'; END $$;";
    refused(
        "",
        &format!("{unseen}\n--> statement-breakpoint\nALTER TABLE \"ghost\" DROP COLUMN \"legacy\";"),
        "error[ban-drop-column]",
    )
    .await;
}

#[tokio::test]
async fn an_index_on_a_live_table_is_not_excused_by_a_new_table_of_the_same_bare_name() {
    // Squawk takes `public.note` for the `ops.note` made in the same file.
    refused(
        "CREATE SCHEMA ops;",
        "CREATE TABLE \"ops\".\"note\" (\"id\" text);\n--> statement-breakpoint\nCREATE INDEX \"note_body_again_idx\" ON \"public\".\"note\" (\"body\");",
        "error[require-concurrent-index-creation] (table note: ~5000 rows",
    )
    .await;
}

#[tokio::test]
async fn a_validate_in_a_later_migration_of_the_same_transaction_is_refused() {
    // Squawk sees one file; the release runs both migrations in one transaction,
    // so the ADD's lock is held while VALIDATE scans the table.
    const ADD: &str = "ALTER TABLE \"note\" ADD CONSTRAINT \"body_short\" CHECK (length(body) < 200) NOT VALID;";
    const VALIDATE: &str = "ALTER TABLE \"note\" VALIDATE CONSTRAINT \"body_short\";";
    let (database, project) = live_note(5000).await;
    set(&project, &[("0000_note", NOTE), ("0001_add", ADD), ("0002_validate", VALIDATE)]);
    project
        .run_on(&database, &["--env", "production", "release"])
        .expect_code(3)
        .expect_stderr_contains("0002_validate.sql:1:1: error[constraint-missing-not-valid] (table note: ~5000 rows")
        .expect_stderr_contains("runs in the same transaction as 0001_add");
    assert_eq!(text(&database, "SELECT count(*)::text FROM drizzle.__drizzle_migrations").await, "1");
    // In batches of one, each commits on its own: nothing to find.
    project.run_on(&database, &["--env", "production", "migrate", "--batch-size", "1"]).expect_code(0);
    assert_eq!(
        text(&database, "SELECT convalidated::text FROM pg_constraint WHERE conname = 'body_short'").await,
        "true"
    );
}

#[tokio::test]
async fn a_validate_given_its_own_transaction_passes() {
    let (database, project) = live_note(5000).await;
    set(
        &project,
        &[
            ("0000_note", NOTE),
            ("0001_add", "ALTER TABLE \"note\" ADD CONSTRAINT \"body_short\" CHECK (length(body) < 200) NOT VALID;"),
            (
                "0002_validate",
                "-- praxia-deploy: own-transaction\nALTER TABLE \"note\" VALIDATE CONSTRAINT \"body_short\";",
            ),
        ],
    );
    project.run_on(&database, &["--env", "production", "release"]).expect_code(0);
}
