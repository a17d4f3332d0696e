//! The main commands' human output, checked whole: what a user reads on a
//! release, a status, a plan that the gate refuses, a lint and the help. Times, ports,
//! database names and temp folders are filtered; everything else is as printed.
//! A change shows as a diff (`cargo insta review`, or the `.snap.new` file).

use crate::support::{Outcome, TestProject, test_postgres};

/// stdout and stderr, as a user's terminal shows them one after the other.
fn shown(outcome: &Outcome) -> String {
    format!("exit {}\n--- stdout\n{}--- stderr\n{}", outcome.code, outcome.stdout, outcome.stderr)
}

fn check(name: &str, outcome: &Outcome) {
    insta::with_settings!({
        filters => vec![
            (r"\d+ ms\b", "[N] ms"),
            (r"\(\d+ ms\)", "([N] ms)"),
            (r"127\.0\.0\.1:\d+", "127.0.0.1:[PORT]"),
            (r"/test_\d+", "/test_[N]"),
            (r"/tmp/praxia-project-[A-Za-z0-9]+", "[PROJECT]"),
            (r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}( UTC|Z)?", "[TIME]"),
            (r"by [^\s@]+@\S+", "by [USER@HOST]"),
        ],
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_snapshot!(name, shown(outcome));
    });
}

const NOTE: &str =
    "CREATE TABLE \"note\" (\n\t\"id\" text PRIMARY KEY NOT NULL,\n\t\"body\" text NOT NULL,\n\t\"legacy\" text\n);\n";
const PRODUCTION: &str = "kind = \"production\"\n\n[database]\nwait = \"5s\"\n\n[contract]\nhold_back = false\n\n[review]\nsmall_table_rows = 10\n";

#[test]
fn release_then_status_of_the_shipped_schema() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    check("release_first", &project.run_on(&database, &["release"]));
    check("release_again", &project.run_on(&database, &["release"]));
    check("status", &project.run_on(&database, &["status"]));
}

#[tokio::test]
async fn a_plan_the_gate_refuses() {
    let database = test_postgres().fresh_database();
    let project = TestProject::empty();
    project.file("environments/production.toml", PRODUCTION);
    project.set_migrations(&[("0000_note", 1_700_000_000_000, NOTE)]);
    project.run_on(&database, &["--env", "production", "release"]).expect_code(0);
    let mut connection = <sqlx::PgConnection as sqlx::Connection>::connect(&database.url).await.unwrap();
    sqlx::raw_sql("INSERT INTO note SELECT g::text, 'x' FROM generate_series(1, 100) g; ANALYZE note;")
        .execute(&mut connection)
        .await
        .unwrap();
    project.set_migrations(&[
        ("0000_note", 1_700_000_000_000, NOTE),
        ("0001_drop_legacy", 1_700_000_001_000, "ALTER TABLE \"note\" DROP COLUMN \"legacy\";"),
    ]);
    check("plan_refused", &project.run_on(&database, &["--env", "production", "plan"]));
    check("release_refused", &project.run_on(&database, &["--env", "production", "release"]));
    // Where `release` holds contract parts back (production's default), the drop waits.
    project.file("environments/production.toml", &PRODUCTION.replace("hold_back = false", "hold_back = true"));
    check("plan_held_back", &project.run_on(&database, &["--env", "production", "plan"]));
    check("release_held_back", &project.run_on(&database, &["--env", "production", "release"]));
}

#[test]
fn lint_of_a_branch_with_findings() {
    let project = TestProject::with_migrations(&[
        ("0000_note", 1_700_000_000_000, NOTE),
        (
            "0001_index",
            1_700_000_001_000,
            "CREATE INDEX \"note_body_idx\" ON \"note\" USING btree (\"body\");\n--> statement-breakpoint\nALTER TABLE \"note\" DROP COLUMN \"legacy\";",
        ),
    ]);
    check("lint", &project.run(&["--env", "test", "lint", "0001_index"]));
}

/// `--help` as read on an 80-column terminal: the command's own options, then the
/// global ones under their own heading, then the examples, one command a line.
#[test]
fn help_of_the_top_level_release_and_db() {
    let project = TestProject::empty();
    for (name, args) in
        [("help_top", &["--help"][..]), ("help_release", &["release", "--help"]), ("help_db", &["db", "--help"])]
    {
        check(name, &Outcome::of(project.command().env("COLUMNS", "80").args(args)));
    }
}
