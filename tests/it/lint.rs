//! `lint`: the offline review of migrations, for a pull request's CI. Each test
//! writes migrations as drizzle-kit writes them and asserts the findings a user sees.

use crate::support::{Outcome, TestProject, test_postgres};

const AUTH: &str =
    "CREATE TABLE \"profile\" (\n\t\"id\" text PRIMARY KEY NOT NULL,\n\t\"bio\" text,\n\t\"role\" text NOT NULL\n);";

fn project(migrations: &[(&str, &str)]) -> TestProject {
    let with_when: Vec<(&str, i64, &str)> = migrations
        .iter()
        .enumerate()
        .map(|(i, (tag, sql))| (*tag, 1_700_000_000_000 + i as i64 * 1000, *sql))
        .collect();
    TestProject::with_migrations(&with_when)
}

#[test]
fn the_shipped_schema_has_no_error_level_finding() {
    let outcome = TestProject::from_repo().run(&["--output", "json", "lint"]);
    let document = outcome.expect_code(0).json();
    assert_eq!(document["result"]["migrations"], 2);
    assert_eq!(document["result"]["errors"], 0);
    for finding in document["result"]["findings"].as_array().unwrap() {
        assert_eq!(finding["level"], "warning", "{finding}");
    }
}

#[test]
fn dropping_a_column_is_an_error_with_where_and_the_safe_way() {
    let project = project(&[("0000_profile", AUTH), ("0001_drop_bio", "ALTER TABLE \"profile\" DROP COLUMN \"bio\";")]);
    let outcome = project.run(&["--env", "test", "lint", "0001_drop_bio"]);
    outcome
        .expect_code(10)
        .expect_stdout_contains("error[ban-drop-column]")
        .expect_stdout_contains(
            "error[previous-release-overlap]: a column is dropped while the previous release still serves",
        )
        .expect_stdout_contains("0001_drop_bio.sql:1:1")
        .expect_stdout_contains("= help: expand and contract")
        .expect_stderr_contains("at error level");
    let document = project.run(&["--env", "test", "--output", "json", "lint", "0001_drop_bio"]).expect_code(10).json();
    let rules: Vec<&str> = document["result"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"ban-drop-column") && rules.contains(&"previous-release-overlap"), "{rules:?}");
    assert_eq!(document["error"]["exit_code"], 10);
}

#[test]
fn an_index_on_an_existing_table_needs_concurrently_but_not_on_a_new_one() {
    let existing = project(&[
        ("0000_profile", AUTH),
        ("0001_idx", "CREATE INDEX \"profile_role_idx\" ON \"profile\" USING btree (\"role\");"),
    ]);
    existing
        .run(&["--env", "test", "lint", "0001_idx"])
        .expect_code(10)
        .expect_stdout_contains("error[require-concurrent-index-creation]");
    let same_migration = project(&[(
        "0000_profile",
        &format!(
            "{AUTH}\n--> statement-breakpoint\nCREATE INDEX \"profile_role_idx\" ON \"profile\" USING btree (\"role\");"
        ),
    )]);
    same_migration.run(&["--env", "test", "lint"]).expect_code(0);
}

#[test]
fn each_migration_is_linted_as_it_will_run() {
    // Alone, outside a transaction: a concurrent build is right there, but two
    // statements make a half-applied migration possible.
    let alone = "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"profile_role_idx\" ON \"profile\" (\"role\");\n\
                 --> statement-breakpoint\n\
                 CREATE INDEX CONCURRENTLY IF NOT EXISTS \"profile_bio_idx\" ON \"profile\" (\"bio\");";
    let project = project(&[("0000_profile", AUTH), ("0001_concurrent", alone)]);
    let outcome = project.run(&["--env", "test", "lint", "0001_concurrent"]);
    outcome.expect_code(0).expect_stdout_contains("warning[non-transactional-statements]");
    assert!(!outcome.stdout.contains("ban-concurrent-index-creation-in-transaction"), "{}", outcome.stdout);
}

#[test]
fn squawk_ignore_comments_are_honoured_and_unknown_tags_refused() {
    let ignored = "-- squawk-ignore ban-drop-column\nALTER TABLE \"profile\" DROP COLUMN \"bio\";";
    let project = project(&[("0000_profile", AUTH), ("0001_drop_bio", ignored)]);
    let outcome = project.run(&["--env", "test", "lint", "0001_drop_bio"]);
    assert!(!outcome.stdout.contains("[ban-drop-column]"), "{}", outcome.stdout);
    project
        .run(&["--env", "test", "lint", "0009_nope"])
        .expect_code(2)
        .expect_stderr_contains("no migration `0009_nope`");
}

#[test]
fn plan_and_dry_run_show_each_finding_beside_its_statement_as_sql_comments() {
    let database = test_postgres().fresh_database();
    let project = project(&[("0000_profile", AUTH), ("0001_drop_bio", "ALTER TABLE \"profile\" DROP COLUMN \"bio\";")]);
    let outcome = project.run_on(&database, &["plan"]);
    let listing = &outcome.expect_code(0).stdout;
    let drop = listing.find("ALTER TABLE \"profile\" DROP COLUMN \"bio\";").expect("the statement is listed");
    let finding = listing
        .find("-- error[ban-drop-column] at 1:23:")
        .unwrap_or_else(|| panic!("the finding is listed:\n{listing}"));
    let statement_head = listing.find("-- 0001_drop_bio").unwrap();
    assert!(statement_head < finding && finding < drop, "the finding sits with its statement:\n{listing}");
    assert!(listing.contains("--   help: expand and contract"), "{listing}");
    // Still SQL: every line about a finding is a comment.
    assert!(listing.lines().filter(|line| line.contains("[ban-drop-column]")).all(|line| line.starts_with("-- ")));

    let document = project.run_on(&database, &["--output", "json", "migrate", "--dry-run"]).expect_code(0).json();
    let pending = document["result"]["pending"].as_array().unwrap();
    assert!(pending[0]["statements"][0].get("findings").is_none(), "CREATE TABLE has none: {}", pending[0]);
    let rules: Vec<&str> = pending[1]["statements"][0]["findings"]
        .as_array()
        .expect("findings on the DROP COLUMN statement")
        .iter()
        .map(|finding| finding["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"ban-drop-column") && rules.contains(&"previous-release-overlap"), "{rules:?}");
}

#[test]
fn a_finding_on_the_migration_as_a_whole_is_not_lost_in_plan() {
    let database = test_postgres().fresh_database();
    let alone = "-- praxia-deploy: no-transaction\nCREATE INDEX CONCURRENTLY \"a_idx\" ON \"profile\" (\"role\");\n--> statement-breakpoint\nCREATE INDEX CONCURRENTLY \"b_idx\" ON \"profile\" (\"bio\");";
    let project = project(&[("0000_profile", AUTH), ("0001_indexes", alone)]);
    let outcome = project.run_on(&database, &["plan"]);
    outcome.expect_code(0).expect_stdout_contains("-- warning[non-transactional-statements]");
    let document = project.run_on(&database, &["--output", "json", "migrate", "--dry-run"]).expect_code(0).json();
    let entry = &document["result"]["pending"][1];
    let mut rules: Vec<String> = Vec::new();
    let lists = std::iter::once(&entry["findings"])
        .chain(entry["statements"].as_array().unwrap().iter().map(|statement| &statement["findings"]));
    for list in lists {
        for finding in list.as_array().into_iter().flatten() {
            rules.push(finding["rule"].as_str().unwrap().to_owned());
        }
    }
    assert!(rules.iter().any(|rule| rule == "non-transactional-statements"), "{rules:?} in {entry}");
}

const DROP_BIO: &str = "ALTER TABLE \"profile\" DROP COLUMN \"bio\";";
const ADD_ROLE_INDEX: &str = "CREATE INDEX \"profile_role_idx\" ON \"profile\" USING btree (\"role\");";

fn git(project: &TestProject, args: &[&str]) {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(project.path())
        .args(["-c", "user.name=test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=main"])
        .args(args)
        .output()
        .expect("git runs (the machine has it: CI clones with it)");
    assert!(output.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn a_baseline_leaves_history_out_and_says_how_much() {
    // Years of history with error-level findings, then the baseline at the newest tag.
    let project = project(&[("0000_profile", AUTH), ("0001_drop_bio", DROP_BIO)]);
    project.run(&["--env", "test", "lint"]).expect_code(10);
    let environment = crate::support::project::TEST_ENVIRONMENT;
    project.file("environments/test.toml", &format!("{environment}\n[review]\nbaseline = \"0001\"\n"));
    project
        .run(&["--env", "test", "lint"])
        .expect_code(0)
        .expect_stdout_contains("0 findings in 0 migrations")
        .expect_stdout_contains("2 migrations up to the baseline 0001 not reviewed");
    // A new migration after it is reviewed; one named on the command line is, whatever the baseline.
    let with_new = [
        ("0000_profile", 1_700_000_000_000, AUTH),
        ("0001_drop_bio", 1_700_000_001_000, DROP_BIO),
        ("0002_index", 1_700_000_002_000, ADD_ROLE_INDEX),
    ];
    project.set_migrations(&with_new);
    project
        .run(&["--env", "test", "lint"])
        .expect_code(10)
        .expect_stdout_contains("error[require-concurrent-index-creation]");
    project.run(&["--env", "test", "lint", "0001"]).expect_code(10).expect_stdout_contains("error[ban-drop-column]");
    // A baseline that names nothing is refused, naming the file.
    project.file("environments/test.toml", &format!("{environment}\n[review]\nbaseline = \"0042\"\n"));
    project
        .run(&["--env", "test", "lint"])
        .expect_code(2)
        .expect_stderr_contains("[review] baseline = \"0042\" names no single migration of the folder")
        .expect_stderr_contains("environments/test.toml");
}

#[test]
fn changed_reviews_what_the_branch_adds_over_its_base() {
    let project = project(&[("0000_profile", AUTH), ("0001_drop_bio", DROP_BIO)]);
    git(&project, &["init", "-q"]);
    git(&project, &["add", "."]);
    git(&project, &["commit", "-q", "-m", "history"]);
    git(&project, &["checkout", "-q", "-b", "feature"]);
    let with_new = [
        ("0000_profile", 1_700_000_000_000, AUTH),
        ("0001_drop_bio", 1_700_000_001_000, DROP_BIO),
        ("0002_index", 1_700_000_002_000, ADD_ROLE_INDEX),
    ];
    project.set_migrations(&with_new);
    // Not committed yet, then committed: either way it is the branch's.
    for commit in [false, true] {
        if commit {
            git(&project, &["add", "."]);
            git(&project, &["commit", "-q", "-m", "index"]);
        }
        let document = project.run(&["--env", "test", "--output", "json", "lint", "--changed"]).expect_code(10).json();
        assert_eq!(document["result"]["migrations"], 1, "{document}");
        assert_eq!(document["result"]["base"], "main");
        assert_eq!(document["result"]["findings"][0]["tag"], "0002_index", "{document}");
    }
    project
        .run(&["--env", "test", "lint", "--changed", "main"])
        .expect_code(10)
        .expect_stdout_contains("in 1 migration");
    // A file the journal did not list, committed on main, listed by the branch: it
    // runs from now on, so it is the branch's.
    git(&project, &["checkout", "-q", "main"]);
    project.file("migrations/0005_left_over.sql", "DROP TABLE \"profile\";");
    git(&project, &["add", "."]);
    git(&project, &["commit", "-q", "-m", "a stray file"]);
    git(&project, &["checkout", "-q", "feature"]);
    git(&project, &["merge", "-q", "--no-edit", "main"]);
    let journal = project.path().join("migrations/meta/_journal.json");
    let mut document: serde_json::Value = serde_json::from_slice(&std::fs::read(&journal).unwrap()).unwrap();
    let entry = serde_json::json!({"idx": 3, "version": "7", "when": 1_700_000_003_000_i64, "tag": "0005_left_over", "breakpoints": true});
    document["entries"].as_array_mut().unwrap().push(entry);
    std::fs::write(&journal, serde_json::to_vec_pretty(&document).unwrap()).unwrap();
    let listed =
        project.run(&["--env", "test", "--output", "json", "lint", "--changed", "main"]).expect_code(10).json();
    let tags: Vec<&str> = listed["result"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|finding| finding["tag"].as_str().unwrap())
        .collect();
    assert!(tags.contains(&"0005_left_over"), "{listed}");
    git(&project, &["commit", "-q", "-am", "list it"]);
    // A user's `diff.relative`, and the branch pushed with -u (its upstream is its own
    // copy, which holds its migrations): still the branch's migrations over main.
    git(&project, &["config", "diff.relative", "true"]);
    let remote = tempfile::tempdir().unwrap();
    git(&project, &["init", "-q", "--bare", remote.path().to_str().unwrap()]);
    git(&project, &["remote", "add", "origin", remote.path().to_str().unwrap()]);
    git(&project, &["push", "-q", "-u", "origin", "main", "feature"]);
    let document = project.run(&["--env", "test", "--output", "json", "lint", "--changed"]).expect_code(10).json();
    assert_eq!(document["result"]["base"], "main", "{document}");
    assert_eq!(document["result"]["migrations"], 2, "{document}: 0002_index and the listed 0005_left_over");
    project
        .run(&["--env", "test", "lint", "--changed", "no-such-branch"])
        .expect_code(2)
        .expect_stderr_contains("git finds no common ancestor of HEAD and `no-such-branch`");
    // Outside a repository it says so.
    let elsewhere = self::project(&[("0000_profile", AUTH)]);
    elsewhere
        .run(&["--env", "test", "lint", "--changed"])
        .expect_code(2)
        .expect_stderr_contains("lint --changed needs a git repository");
}

#[test]
fn github_annotations_and_a_markdown_table_for_a_pull_request() {
    let project = project(&[("0000_profile", AUTH), ("0001_drop_bio", DROP_BIO)]);
    git(&project, &["init", "-q"]);
    let summary = project.path().join("step-summary.md");
    let outcome = Outcome::of(
        project
            .command()
            .args(["--env", "test", "--output", "github", "lint", "0001"])
            .env("GITHUB_STEP_SUMMARY", &summary),
    );
    outcome.expect_code(10).expect_stdout_contains(
        "::error file=migrations/0001_drop_bio.sql,line=1,col=23,title=praxia-deploy ban-drop-column::Dropping a column may break existing clients.",
    );
    // The help goes on the annotation's next line, escaped as GitHub reads it.
    assert!(outcome.stdout.contains("%0Ahelp: "), "{}", outcome.stdout);
    assert!(!outcome.stdout.contains("\n   = help"), "{}", outcome.stdout);
    let table = std::fs::read_to_string(&summary).expect("the job summary was written");
    assert!(table.contains("| ❌ error | `ban-drop-column` | `migrations/0001_drop_bio.sql:1:23` |"), "{table}");
    let markdown = project.run(&["--env", "test", "--output", "markdown", "lint", "0001"]);
    markdown.expect_code(10);
    assert_eq!(markdown.stdout.trim_end(), table.trim_end());
    // Other commands have no such format.
    project
        .run(&["--env", "test", "--output", "github", "status"])
        .expect_code(2)
        .expect_stderr_contains("--output github is lint's format");
}

#[test]
fn a_long_name_that_refers_to_an_existing_object_is_not_an_error() {
    // drizzle-kit's generated names pass 63 bytes: PostgreSQL truncates them the
    // same way when it makes the constraint and when a later statement names it.
    let long = "profile_organization_id_organization_id_fk_with_a_name_drizzle_kit_made_long";
    let project = project(&[
        ("0000_profile", AUTH),
        ("0001_add", &format!("ALTER TABLE \"profile\" ADD CONSTRAINT \"{long}\" CHECK (\"role\" <> '') NOT VALID;")),
        ("0002_drop", &format!("ALTER TABLE \"profile\" DROP CONSTRAINT IF EXISTS \"{long}\";")),
    ]);
    let document = project.run(&["--env", "test", "--output", "json", "lint", "0001", "0002"]).json();
    let verdicts: Vec<(String, String)> = document["result"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["rule"] == "identifier-too-long")
        .map(|finding| (finding["tag"].as_str().unwrap().to_owned(), finding["verdict"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        verdicts,
        [("0001_add".to_owned(), "danger".to_owned()), ("0002_drop".to_owned(), "harmless".to_owned())],
        "{document}"
    );
}

#[test]
fn migrations_that_deploy_together_are_reviewed_as_one_transaction() {
    let project = project(&[
        ("0000_profile", AUTH),
        ("0001_add", "ALTER TABLE \"profile\" ADD CONSTRAINT \"role_set\" CHECK (\"role\" <> '') NOT VALID;"),
        ("0002_validate", "ALTER TABLE \"profile\" VALIDATE CONSTRAINT \"role_set\";"),
    ]);
    // Named together (as a branch adds them), they run in one transaction.
    project
        .run(&["--env", "test", "lint", "0001_add", "0002_validate"])
        .expect_code(10)
        .expect_stdout_contains("error[constraint-missing-not-valid]: `VALIDATE CONSTRAINT role_set` runs in the same transaction as 0001_add")
        .expect_stdout_contains("0002_validate.sql:1:1");
    // The whole folder is history, deployed release by release.
    project.run(&["--env", "test", "lint"]).expect_code(0);
    // A constraint of the same name on another schema's table is another constraint.
    let other = project_with_schema();
    other.run(&["--env", "test", "lint", "0001_add", "0002_validate"]).expect_code(0);
}

fn project_with_schema() -> TestProject {
    project(&[
        ("0000_profile", AUTH),
        ("0001_add", "ALTER TABLE \"app\".\"profile\" ADD CONSTRAINT \"role_set\" CHECK (\"role\" <> '') NOT VALID;"),
        ("0002_validate", "ALTER TABLE \"public\".\"profile\" VALIDATE CONSTRAINT \"role_set\";"),
    ])
}

#[test]
fn a_new_table_of_the_same_bare_name_excuses_nothing_on_the_live_one() {
    // Squawk takes `events` for the table made in this file, by its bare name;
    // these are the findings it gives the same statements in a file of their own.
    let sql = "CREATE SCHEMA \"app\";\n--> statement-breakpoint\n\
               CREATE TABLE \"app\".\"events\" (\"id\" bigint PRIMARY KEY, \"user_id\" text);\n--> statement-breakpoint\n\
               ALTER TABLE \"events\" ADD CONSTRAINT \"events_id_check\" CHECK (\"id\" > 0);\n--> statement-breakpoint\n\
               ALTER TABLE \"events\" ADD CONSTRAINT \"events_user_fk\" FOREIGN KEY (\"user_id\") REFERENCES \"public\".\"profile\"(\"id\");\n--> statement-breakpoint\n\
               ALTER TABLE \"events\" ADD CONSTRAINT \"events_id_unique\" UNIQUE(\"id\");";
    let project = project(&[("0000_profile", AUTH), ("0001_events", sql)]);
    let document = project.run(&["--env", "test", "--output", "json", "lint", "0001_events"]).expect_code(10).json();
    let mut found: Vec<(u64, String)> = document["result"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|finding| finding["level"] == "error")
        .map(|finding| (finding["line"].as_u64().unwrap(), finding["rule"].as_str().unwrap().to_owned()))
        .collect();
    found.sort();
    found.dedup();
    assert_eq!(
        found,
        [
            (5, "constraint-missing-not-valid".to_owned()),
            (7, "adding-foreign-key-constraint".to_owned()),
            (7, "constraint-missing-not-valid".to_owned()),
            (9, "constraint-missing-not-valid".to_owned()),
            (9, "disallowed-unique-constraint".to_owned()),
        ]
    );
    // The table made here is new: nothing on it is a finding.
    let own = sql.replace("ALTER TABLE \"events\"", "ALTER TABLE \"app\".\"events\"");
    let project = project_one(&own);
    project.run(&["--env", "test", "lint", "0001_events"]).expect_code(0);
}

fn project_one(sql: &str) -> TestProject {
    project(&[("0000_profile", AUTH), ("0001_events", sql)])
}

const FIX_INIT: &str = "CREATE TABLE \"org\" (\n\t\"id\" text PRIMARY KEY NOT NULL\n);\n--> statement-breakpoint\n\
CREATE TABLE \"coach\" (\n\t\"id\" text PRIMARY KEY NOT NULL,\n\t\"org_id\" text NOT NULL\n);\n";
const FIX_LINKS: &str = "CREATE INDEX \"coach_org_idx\" ON \"coach\" USING btree (\"org_id\");--> statement-breakpoint\n\
ALTER TABLE \"coach\" ADD CONSTRAINT \"coach_org_id_org_id_fk\" FOREIGN KEY (\"org_id\") \
REFERENCES \"public\".\"org\"(\"id\") ON DELETE cascade ON UPDATE no action;";

/// `lint --fix --write`: the folder before and after the rewrite replayed in
/// scratch databases of the embedded cluster; the same schema, so the file is written.
#[test]
fn lint_fix_write_replays_both_folders_and_writes_the_rewrite() {
    let project = TestProject::with_migrations(&[("0000_init", 1000, FIX_INIT), ("0001_links", 2000, FIX_LINKS)]);
    project
        .run(&["--env", "test", "lint", "--fix", "0001", "--write"])
        .expect_code(0)
        .expect_stdout_contains("replayed in scratch databases, make the same schema (")
        .expect_stdout_contains("wrote 1 file");
    let file = std::fs::read_to_string(project.path().join("migrations/0001_links.sql")).unwrap();
    assert!(file.contains("CREATE INDEX CONCURRENTLY") && file.contains("VALIDATE CONSTRAINT"), "{file}");
    assert!(!project.path().join("migrations/0001_links.sql.praxia-fix").exists());
    project
        .run(&["--env", "test", "lint", "--fix", "0001", "--write"])
        .expect_code(0)
        .expect_stdout_contains("(0 statements rewritten)")
        .expect_stdout_contains("; nothing to write");
}

/// `lint --fix`: the lock-safe rewrite of a migration that has not shipped, as
/// a diff `git apply` takes from the project root; nothing written. The folder
/// it makes is applied by praxia-deploy and by drizzle's own migrator.
#[test]
fn lint_fix_shows_the_lock_safe_rewrite_as_a_diff_and_writes_nothing() {
    let (init, links) = (FIX_INIT, FIX_LINKS);
    let project = TestProject::with_migrations(&[("0000_init", 1000, init), ("0001_links", 2000, links)]);

    project
        .run(&["--env", "test", "lint", "--fix"])
        .expect_code(2)
        .expect_stderr_contains("lint --fix rewrites only migrations that have not shipped");
    let outcome = project.run(&["--env", "test", "lint", "--fix", "0001"]);
    outcome
        .expect_code(0)
        .expect_stdout_contains("-- 0001_links (2 statements rewritten)")
        .expect_stdout_contains("line 1: built CONCURRENTLY, between the migration's own COMMIT and BEGIN (require-concurrent-index-creation)")
        .expect_stdout_contains("--- a/migrations/0001_links.sql")
        .expect_stdout_contains("+CREATE INDEX CONCURRENTLY \"coach_org_idx\" ON \"coach\" USING btree (\"org_id\");")
        .expect_stdout_contains("+ALTER TABLE \"coach\" VALIDATE CONSTRAINT \"coach_org_id_org_id_fk\";")
        .expect_stdout_contains("nothing written");
    let file = project.path().join("migrations/0001_links.sql");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), links, "lint --fix wrote the file");
    let document = project.run(&["--env", "test", "--output", "json", "lint", "--fix", "0001"]).expect_code(0).json();
    assert_eq!(document["result"]["rewritten"], 2);
    assert_eq!(document["result"]["written"], false);
    assert_eq!(document["result"]["migrations"][0]["statements"][1]["rule"], "constraint-missing-not-valid");

    // The diff applies as it is shown, and the folder it makes migrates, here and under drizzle.
    let diff = project.path().join("fix.diff");
    std::fs::write(&diff, &outcome.stdout).unwrap();
    let applied =
        std::process::Command::new("git").arg("apply").arg(&diff).current_dir(project.path()).output().unwrap();
    assert!(applied.status.success(), "git apply: {}", String::from_utf8_lossy(&applied.stderr));
    assert!(std::fs::read_to_string(&file).unwrap().contains("CREATE INDEX CONCURRENTLY"));
    let database = test_postgres().fresh_database();
    project.run_on(&database, &["migrate"]).expect_code(0);
    let drizzle = test_postgres().fresh_database();
    crate::support::drizzle::Drizzle::V0.migrate(&drizzle, &project.path().join("migrations"));
    // A second --fix finds nothing left to rewrite.
    project
        .run(&["--env", "test", "lint", "--fix", "0001"])
        .expect_code(0)
        .expect_stdout_contains("(0 statements rewritten)");
    // The rewrite passes the review: its closing `BEGIN;` is committed by the
    // migrator, not an uncommitted transaction (CI's `lint --changed` failed at error level).
    let reviewed = project.run(&["--env", "test", "lint", "0001"]);
    reviewed.expect_code(0);
    assert!(!reviewed.stdout.contains("ban-uncommitted-transaction"), "{}", reviewed.stdout);
}

/// A rewrite PostgreSQL refuses (a NOT VALID foreign key on a partitioned table,
/// which the engine cannot see from the migration alone): the replay of the
/// rewritten folder fails, that is said as the rewrite's failure, the file named
/// in the project (not the scratch copy), and nothing is written.
#[test]
fn lint_fix_write_says_a_rewrite_that_does_not_replay_and_writes_nothing() {
    // The table is partitioned where the engine does not read (a DO block): it rewrites
    // the foreign key, which PostgreSQL refuses to add NOT VALID to a partitioned table.
    let init = "CREATE TABLE \"org\" (\"id\" integer PRIMARY KEY NOT NULL);\n--> statement-breakpoint\n\
DO $$ BEGIN CREATE TABLE \"event\" (\"id\" integer NOT NULL, \"org_id\" integer, \"at\" date NOT NULL) PARTITION BY RANGE (\"at\"); END $$;\n";
    let fk = "ALTER TABLE \"event\" ADD CONSTRAINT \"event_org_id_org_id_fk\" FOREIGN KEY (\"org_id\") \
REFERENCES \"public\".\"org\"(\"id\") ON DELETE cascade ON UPDATE no action;\n";
    let project = TestProject::with_migrations(&[("0000_init", 1000, init), ("0001_fk", 2000, fk)]);
    let outcome = project.run(&["--env", "test", "lint", "--fix", "0001", "--write"]);
    outcome
        .expect_code(4)
        .expect_stderr_contains("the rewritten folder does not replay where the folder as it is does: nothing written")
        .expect_stderr_contains("cannot add NOT VALID foreign key on partitioned table")
        .expect_stderr_contains(&format!(
            "in the rewrite of: {}",
            project.path().join("migrations/0001_fk.sql").display()
        ));
    assert!(!outcome.stderr.contains("do not edit them"), "{}", outcome.stderr);
    // The rewrite tried is still shown, to apply by hand where one agrees with it.
    outcome
        .expect_stdout_contains("+ALTER TABLE \"event\" VALIDATE CONSTRAINT \"event_org_id_org_id_fk\";")
        .expect_stdout_contains("1 statement rewritten in 1 migration; nothing written");
    assert_eq!(std::fs::read_to_string(project.path().join("migrations/0001_fk.sql")).unwrap(), fk);
}

/// What PostgreSQL does not do CONCURRENTLY or NOT VALID on a partitioned table
/// (an earlier migration's `PARTITION BY`) is left as written, and said; the rest
/// of the migration is rewritten and written.
#[test]
fn lint_fix_leaves_a_partitioned_tables_index_and_foreign_key_as_written() {
    let init = "CREATE TABLE \"org\" (\"id\" integer PRIMARY KEY NOT NULL);\n--> statement-breakpoint\n\
CREATE TABLE \"event\" (\"id\" integer NOT NULL, \"org_id\" integer, \"at\" date NOT NULL) PARTITION BY RANGE (\"at\");\n--> statement-breakpoint\n\
CREATE TABLE \"event_2026\" PARTITION OF \"event\" FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');\n";
    let change = "ALTER TABLE \"event\" ADD CONSTRAINT \"event_org_id_org_id_fk\" FOREIGN KEY (\"org_id\") \
REFERENCES \"public\".\"org\"(\"id\") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint\n\
CREATE INDEX \"event_org_idx\" ON \"event\" USING btree (\"org_id\");--> statement-breakpoint\n\
CREATE INDEX \"event_2026_at_idx\" ON \"event_2026\" USING btree (\"at\");\n";
    let project = TestProject::with_migrations(&[("0000_init", 1000, init), ("0001_change", 2000, change)]);
    project
        .run(&["--env", "test", "lint", "--fix", "0001", "--write"])
        .expect_code(0)
        .expect_stdout_contains("line 1: left as written: \"event\" is partitioned: PostgreSQL adds no foreign key NOT VALID to a partitioned table")
        .expect_stdout_contains("line 2: left as written: \"event\" is partitioned: PostgreSQL builds no index on a partitioned table CONCURRENTLY; create the index ON ONLY")
        .expect_stdout_contains("1 statement rewritten in 1 migration; the folder before and after")
        .expect_stdout_contains("wrote 1 file");
    let file = std::fs::read_to_string(project.path().join("migrations/0001_change.sql")).unwrap();
    assert!(file.contains("CREATE INDEX CONCURRENTLY \"event_2026_at_idx\""), "{file}");
    assert!(file.contains("CREATE INDEX \"event_org_idx\"") && !file.contains("NOT VALID"), "{file}");
    let database = test_postgres().fresh_database();
    project.run_on(&database, &["migrate"]).expect_code(0);
}

/// At a terminal `lint --fix` shows the rewrite and asks; `yes` writes it as
/// `--write` would, anything else writes nothing. Without a terminal it never asks.
#[test]
fn lint_fix_at_a_terminal_asks_before_writing() {
    let at_terminal = |project: &TestProject, answer: &str| {
        // util-linux `script` gives the command a pseudo-terminal for stdin and stdout.
        let command = format!("{} --env test lint --fix 0001", env!("CARGO_BIN_EXE_praxia-deploy"));
        let mut script = std::process::Command::new("script");
        script.args(["-qec", &command, "/dev/null"]).current_dir(project.path());
        script.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped());
        let mut child = script.spawn().expect("util-linux `script` runs (Debian's bsdutils)");
        use std::io::Write;
        child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
        let output = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&output.stdout).replace('\r', "")
    };
    let file =
        |project: &TestProject| std::fs::read_to_string(project.path().join("migrations/0001_links.sql")).unwrap();

    let project = TestProject::with_migrations(&[("0000_init", 1000, FIX_INIT), ("0001_links", 2000, FIX_LINKS)]);
    let refused = at_terminal(&project, "no\n");
    assert!(refused.contains("+CREATE INDEX CONCURRENTLY"), "the diff is shown before the question:\n{refused}");
    assert!(
        refused.contains("write the rewrite of 1 file once a replay shows the same schema? type yes to write:"),
        "{refused}"
    );
    assert!(refused.contains("nothing written"), "{refused}");
    assert_eq!(file(&project), FIX_LINKS);

    let written = at_terminal(&project, "yes\n");
    assert!(written.contains("make the same schema") && written.contains("wrote 1 file"), "{written}");
    assert_eq!(written.matches("+CREATE INDEX CONCURRENTLY").count(), 1, "the diff is shown once:\n{written}");
    assert!(file(&project).contains("CREATE INDEX CONCURRENTLY"));

    // Without a terminal: no question, nothing written.
    let project = TestProject::with_migrations(&[("0000_init", 1000, FIX_INIT), ("0001_links", 2000, FIX_LINKS)]);
    let piped = project.run(&["--env", "test", "lint", "--fix", "0001"]);
    piped.expect_code(0);
    assert!(!piped.stdout.contains("type yes") && !piped.stderr.contains("type yes"));
    assert_eq!(file(&project), FIX_LINKS);
}

/// Two migrations rewritten are written both or not at all.
#[test]
fn lint_fix_write_writes_every_file_or_none() {
    let more = "CREATE INDEX \"coach_org2_idx\" ON \"coach\" USING btree (\"org_id\");\n";
    let project = TestProject::with_migrations(&[
        ("0000_init", 1000, FIX_INIT),
        ("0001_links", 2000, FIX_LINKS),
        ("0002_more", 3000, more),
    ]);
    // The second file's temporary cannot be written: a folder stands in its place.
    std::fs::create_dir(project.path().join("migrations/0002_more.sql.praxia-fix")).unwrap();
    project
        .run(&["--env", "test", "lint", "--fix", "0001", "0002", "--write"])
        .expect_code(1)
        .expect_stderr_contains("0002_more.sql.praxia-fix")
        .expect_stderr_contains("nothing was written: no migration changed");
    let read = |name: &str| std::fs::read_to_string(project.path().join("migrations").join(name)).unwrap();
    assert_eq!(read("0001_links.sql"), FIX_LINKS);
    assert_eq!(read("0002_more.sql"), more);
    assert!(!project.path().join("migrations/0001_links.sql.praxia-fix").exists());

    std::fs::remove_dir(project.path().join("migrations/0002_more.sql.praxia-fix")).unwrap();
    project
        .run(&["--env", "test", "lint", "--fix", "0001", "0002", "--write"])
        .expect_code(0)
        .expect_stdout_contains("wrote 2 files");
    assert!(read("0001_links.sql").contains("CONCURRENTLY") && read("0002_more.sql").contains("CONCURRENTLY"));
}

/// `lint --fix` in CI: a notice per statement on the pull request's diff
/// (`--output github`), or the diff in a Markdown comment; nothing written.
#[test]
fn lint_fix_speaks_github_and_markdown() {
    let project = TestProject::with_migrations(&[("0000_init", 1000, FIX_INIT), ("0001_links", 2000, FIX_LINKS)]);
    git(&project, &["init", "-q"]);
    let github = project.run(&["--env", "test", "--output", "github", "lint", "--fix", "0001"]);
    github.expect_code(0);
    let notices: Vec<&str> = github.stdout.lines().filter(|line| line.starts_with("::notice ")).collect();
    assert_eq!(notices.len(), 2, "{}", github.stdout);
    assert!(
        notices[0].starts_with("::notice file=migrations/0001_links.sql,line=1,title=praxia-deploy lint --fix::lock-safe rewrite: built CONCURRENTLY"),
        "{}",
        notices[0]
    );
    assert!(
        notices[1].contains("line=2,")
            && notices[1].contains("`praxia-deploy lint --fix 0001_links --write` writes it")
    );
    assert!(!github.stdout.contains("+++ b/"), "no diff among workflow commands:\n{}", github.stdout);

    let markdown = project.run(&["--env", "test", "--output", "markdown", "lint", "--fix", "0001"]);
    markdown
        .expect_code(0)
        .expect_stdout_contains("### praxia-deploy lint --fix")
        .expect_stdout_contains("#### `0001_links` (2 statements rewritten)")
        .expect_stdout_contains("```diff\n--- a/migrations/0001_links.sql")
        .expect_stdout_contains("+CREATE INDEX CONCURRENTLY \"coach_org_idx\"");
    assert_eq!(std::fs::read_to_string(project.path().join("migrations/0001_links.sql")).unwrap(), FIX_LINKS);
}

/// A migration recorded as applied in the environment's database is never rewritten.
#[test]
fn lint_fix_refuses_a_migration_the_environments_database_has_applied() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_init", 1000, FIX_INIT), ("0001_links", 2000, FIX_LINKS)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    project
        .run_on(&database, &["lint", "--fix", "0001"])
        .expect_code(3)
        .expect_stderr_contains("0001_links recorded as applied in postgres://")
        .expect_stderr_contains("an applied migration is never edited");
    // Unreachable, it says so and still shows the rewrite.
    let mut command = project.command();
    command
        .env("PRAXIA_ENV", "test")
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .args(["lint", "--fix", "0001"]);
    Outcome::of(&mut command)
        .expect_code(0)
        .expect_stderr_contains("could not check which migrations")
        .expect_stdout_contains("(2 statements rewritten)");
    // A production environment without its URL here: said, not silently skipped.
    project.file("environments/production.toml", "kind = \"production\"\n");
    project
        .run(&["--env", "production", "lint", "--fix", "0001"])
        .expect_code(0)
        .expect_stderr_contains(
            "could not check which migrations the production database has applied: DATABASE_URL is not set here",
        )
        .expect_stdout_contains("(2 statements rewritten)");
}
