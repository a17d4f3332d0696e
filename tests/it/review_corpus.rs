//! The review on what drizzle-kit really writes: `tests/fixtures/review/` holds
//! the output of the real `drizzle-kit generate` (0.31 and 1.0, made by
//! `scripts/review-corpus`) for seven everyday schema changes. For each, in both
//! toolchains: the findings offline, then on a database where the table is new
//! (created in the same release), small, or large (rows from `generate_series`,
//! analysed), the production gate's decision without and with an
//! acknowledgement, and a hand-written safe version that passes on the large table.

use std::process::Command;

use crate::support::project::repo_root;
use crate::support::{TestDatabase, TestProject, test_postgres};
use sqlx::{Connection, PgConnection};

const VERSIONS: [&str; 2] = ["drizzle-0.31", "drizzle-1.0"];

/// Production, run locally as the release phase runs it; at most 1,000 rows and
/// 64 kB is small, so that 5,000 rows are large and quick to make.
/// The gate on whole migrations: `release` holding a drop back is tests/it/expand_contract.rs's.
const PRODUCTION: &str = "kind = \"production\"\n\n[database]\nwait = \"5s\"\nlock_wait = \"20s\"\n\n[contract]\nhold_back = false\n\n[review]\nsmall_table_rows = 1000\nsmall_table_size = \"64kB\"\n";
const SMALL: usize = 10;
const LARGE: usize = 5000;

struct Case {
    name: &'static str,
    /// The error-level rules found offline, sorted.
    errors: &'static [&'static str],
    /// Every error is about how long a lock is held: harmless on a small table.
    lock_time_only: bool,
    /// With every finding acknowledged, on the large table: the exit code, and
    /// what PostgreSQL says when it refuses the statement itself.
    acknowledged: (i32, &'static str),
    /// The safe way, as hand-written migrations.
    safe: &'static [&'static str],
}

const ADD_NOT_NULL_COLUMN: Case = Case {
    name: "add-not-null-column",
    errors: &["adding-required-field"],
    lock_time_only: false,
    // Past the gate, PostgreSQL itself refuses a NOT NULL column without a default on rows.
    acknowledged: (6, "contains null values"),
    safe: &["ALTER TABLE \"note\" ADD COLUMN \"status\" text DEFAULT 'open' NOT NULL;"],
};

const ADD_INDEX: Case = Case {
    name: "add-index",
    errors: &["require-concurrent-index-creation"],
    lock_time_only: true,
    acknowledged: (0, ""),
    safe: &["CREATE INDEX CONCURRENTLY IF NOT EXISTS \"note_body_idx\" ON \"note\" USING btree (\"body\");"],
};

const ADD_FOREIGN_KEY: Case = Case {
    name: "add-foreign-key",
    errors: &["adding-foreign-key-constraint", "constraint-missing-not-valid"],
    lock_time_only: true,
    acknowledged: (0, ""),
    safe: &[
        "ALTER TABLE \"note\" ADD CONSTRAINT \"note_organization_id_organization_id_fk\" FOREIGN KEY (\"organization_id\") REFERENCES \"public\".\"organization\"(\"id\") ON DELETE no action ON UPDATE no action NOT VALID;",
        "-- praxia-deploy: own-transaction\nALTER TABLE \"note\" VALIDATE CONSTRAINT \"note_organization_id_organization_id_fk\";",
    ],
};

const CHANGE_TYPE: Case = Case {
    name: "change-type",
    errors: &["changing-column-type"],
    lock_time_only: true,
    acknowledged: (0, ""),
    // Expand: a new column, written by the next release and backfilled, then switched to.
    safe: &["ALTER TABLE \"note\" ADD COLUMN \"score_big\" bigint;"],
};

const RENAME_COLUMN: Case = Case {
    name: "rename-column",
    errors: &["previous-release-overlap", "renaming-column"],
    lock_time_only: false,
    acknowledged: (0, ""),
    safe: &["ALTER TABLE \"note\" ADD COLUMN \"archived_body\" text;"],
};

const DROP_COLUMN: Case = Case {
    name: "drop-column",
    errors: &["ban-drop-column", "previous-release-overlap"],
    lock_time_only: false,
    acknowledged: (0, ""),
    // Contract, once no running release reads it: the drop, acknowledged with why.
    safe: &[
        "-- praxia-deploy: allow ban-drop-column, previous-release-overlap: unread since the release before this one\nALTER TABLE \"note\" DROP COLUMN \"legacy\";",
    ],
};

const ADD_ENUM_VALUE: Case = Case {
    name: "add-enum-value",
    // require-enum-value-ordering is a warning: drizzle-kit appends, as the schema lists.
    errors: &[],
    lock_time_only: true,
    acknowledged: (0, ""),
    safe: &["ALTER TYPE \"public\".\"role\" ADD VALUE IF NOT EXISTS 'coach' AFTER 'admin';"],
};

fn fixture(version: &str, name: &str) -> String {
    let path = repo_root().join("tests/fixtures/review").join(version).join(format!("{name}.sql"));
    std::fs::read_to_string(&path).unwrap_or_else(|err| panic!("{}: {err} (run scripts/review-corpus)", path.display()))
}

fn project(migrations: &[(&str, String)]) -> TestProject {
    let project = TestProject::empty();
    project.file("environments/production.toml", PRODUCTION);
    set(&project, migrations);
    project
}

fn set(project: &TestProject, migrations: &[(&str, String)]) {
    let list: Vec<(&str, i64, &str)> = migrations
        .iter()
        .enumerate()
        .map(|(i, (tag, sql))| (*tag, 1_700_000_000_000 + i as i64 * 1000, sql.as_str()))
        .collect();
    project.set_migrations(&list);
}

async fn connect(database: &TestDatabase) -> PgConnection {
    PgConnection::connect(&database.url).await.expect("connect to the test database")
}

async fn recorded(database: &TestDatabase) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM drizzle.__drizzle_migrations")
        .fetch_one(&mut connect(database).await)
        .await
        .unwrap()
}

/// The base migration released in production, `note` holding `rows` rows, analysed.
async fn live_base(version: &str, rows: usize) -> (TestDatabase, TestProject) {
    let database = test_postgres().fresh_database();
    let project = project(&[("0000_base", fixture(version, "0000_base"))]);
    project.run_on(&database, &["--env", "production", "release"]).expect_code(0);
    let fill = format!(
        "INSERT INTO note (id, body, score, legacy) SELECT g::text, repeat('x', 80), g, 'old' FROM generate_series(1, {rows}) g; ANALYZE note;"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(fill)).execute(&mut connect(&database).await).await.unwrap();
    (database, project)
}

/// Every finding of the pending migration `tag` in a JSON report.
fn findings_of(document: &serde_json::Value, tag: &str) -> Vec<serde_json::Value> {
    let entry = document["result"]["pending"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["tag"] == tag)
        .unwrap_or_else(|| panic!("{tag} is not pending: {document}"));
    let mut findings: Vec<serde_json::Value> = entry["findings"].as_array().cloned().unwrap_or_default();
    for statement in entry["statements"].as_array().unwrap() {
        findings.extend(statement["findings"].as_array().into_iter().flatten().cloned());
    }
    findings
}

fn error_rules(findings: &[serde_json::Value]) -> Vec<String> {
    let mut rules: Vec<String> = findings
        .iter()
        .filter(|finding| finding["level"] == "error")
        .map(|finding| finding["rule"].as_str().unwrap().to_owned())
        .collect();
    rules.sort();
    rules
}

async fn check(case: &Case) {
    for version in VERSIONS {
        let generated = fixture(version, case.name);
        let migrations = [("0000_base", fixture(version, "0000_base")), ("0001_change", generated.clone())];
        let context = format!("{version} {}", case.name);

        // Offline: what `lint` finds in a pull request.
        let offline = project(&migrations);
        let lint = offline.run(&["--env", "production", "--output", "json", "lint", "0001_change"]);
        let document = lint.expect_code(if case.errors.is_empty() { 0 } else { 10 }).json();
        let found = error_rules(document["result"]["findings"].as_array().unwrap());
        assert_eq!(found, case.errors, "{context}: offline errors\n{}", lint.stdout);

        // New: the table is created earlier in the same release.
        let database = test_postgres().fresh_database();
        let plan = offline.run_on(&database, &["--env", "production", "--output", "json", "plan"]);
        for finding in findings_of(&plan.expect_code(0).json(), "0001_change") {
            if finding["level"] == "error" {
                assert_eq!(finding["verdict"], "harmless", "{context}: on a new table: {finding}");
                assert!(
                    finding["reason"].as_str().unwrap().contains("created by 0000_base earlier in this release"),
                    "{context}: {finding}"
                );
            }
        }
        offline.run_on(&database, &["--env", "production", "release"]).expect_code(0);

        // Small: only the lock-time findings become harmless.
        let (small, project) = live_base(version, SMALL).await;
        set(&project, &migrations);
        let plan = project.run_on(&small, &["--env", "production", "--output", "json", "plan"]).expect_code(0).json();
        for finding in findings_of(&plan, "0001_change").iter().filter(|finding| finding["level"] == "error") {
            let expected = if case.lock_time_only { "harmless" } else { "danger" };
            assert_eq!(finding["verdict"], expected, "{context}: on a small table: {finding}");
            if case.lock_time_only {
                assert!(finding["reason"].as_str().unwrap().starts_with("table note is small (~10 rows"), "{finding}");
            }
        }
        let on_small = project.run_on(&small, &["--env", "production", "release"]);
        on_small.expect_code(if case.lock_time_only || case.errors.is_empty() { 0 } else { 3 });

        // Large: every error blocks, and nothing is written.
        let (large, project) = live_base(version, LARGE).await;
        set(&project, &migrations);
        let on_large = project.run_on(&large, &["--env", "production", "release"]);
        if case.errors.is_empty() {
            on_large.expect_code(0);
        } else {
            on_large.expect_code(3).expect_stderr_contains("nothing was written");
            for rule in case.errors {
                on_large
                    .expect_stderr_contains(&format!("error[{rule}] (table note: ~{LARGE} rows"))
                    .expect_stderr_contains("0001_change.sql:1:");
            }
            assert_eq!(recorded(&large).await, 1, "{context}: the gate wrote something");

            // Acknowledged: the gate lets it through, and the reason is logged.
            let acknowledged =
                format!("-- praxia-deploy: allow {}: reviewed by the corpus test\n{generated}", case.errors.join(", "));
            set(&project, &[("0000_base", fixture(version, "0000_base")), ("0001_change", acknowledged)]);
            let (code, refusal) = case.acknowledged;
            let outcome = project.run_on(&large, &["--env", "production", "release"]);
            outcome.expect_code(code);
            if code == 0 {
                let reason: String = sqlx::query_scalar(
                    "SELECT acknowledgements->0->>'reason' FROM praxia_deploy.migration_log WHERE tag = '0001_change'",
                )
                .fetch_one(&mut connect(&large).await)
                .await
                .unwrap();
                assert_eq!(reason, "reviewed by the corpus test", "{context}");
            } else {
                outcome.expect_stderr_contains(refusal);
                assert!(!outcome.stderr.contains("review gate"), "{context}: {}", outcome.stderr);
            }
        }

        // The safe way: no error offline, through the gate on the large table.
        let (large, project) = live_base(version, LARGE).await;
        let mut safe = vec![("0000_base", fixture(version, "0000_base"))];
        let tags = ["0001_safe", "0002_safe", "0003_safe"];
        safe.extend(case.safe.iter().zip(tags).map(|(sql, tag)| (tag, (*sql).to_owned())));
        set(&project, &safe);
        let lint = project.run(&["--env", "production", "--output", "json", "lint"]);
        let document = lint.expect_code(0).json();
        assert_eq!(document["result"]["errors"], 0, "{context}: the safe version\n{}", lint.stdout);
        project.run_on(&large, &["--env", "production", "release"]).expect_code(0);
    }
}

macro_rules! corpus_case {
    ($test:ident, $case:expr) => {
        #[tokio::test]
        async fn $test() {
            check(&$case).await;
        }
    };
}

corpus_case!(add_a_not_null_column, ADD_NOT_NULL_COLUMN);
corpus_case!(add_an_index, ADD_INDEX);
corpus_case!(add_a_foreign_key, ADD_FOREIGN_KEY);
corpus_case!(change_a_column_type, CHANGE_TYPE);
corpus_case!(rename_a_column, RENAME_COLUMN);
corpus_case!(drop_a_column, DROP_COLUMN);
corpus_case!(add_an_enum_value, ADD_ENUM_VALUE);

#[test]
fn the_corpus_is_what_drizzle_kit_writes() {
    let output = Command::new("bash").arg(repo_root().join("scripts/review-corpus")).arg("--check").output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "scripts/review-corpus --check:\n{text}");
}
