//! Public drizzle-kit projects' migration folders, unedited (tests/corpus/sources.tsv
//! says which, from where, and how they are fetched): praxia-deploy and drizzle's
//! own migrators (0.45 and 1.0) leave the same schema, data and bookkeeping rows
//! in every order, and a database praxia-deploy migrated shows no drift, the same
//! answer twenty times in a row.

use std::path::Path;

use sqlx::Connection;

use crate::support::corpus::{corpus, sql_files};
use crate::support::drizzle::Drizzle;
use crate::support::{TestDatabase, TestProject, test_postgres};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

/// A project folder holding a copy of the corpus folder, as it is.
fn project_with(folder: &Path) -> TestProject {
    let test = TestProject::empty();
    test.file("environments/test.toml", crate::support::project::TEST_ENVIRONMENT);
    copy_dir(folder, &test.path().join("migrations"));
    test
}

/// The journal's entries, in order: (tag, when).
fn journal_entries(folder: &Path) -> Vec<(String, i64)> {
    let journal: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("meta/_journal.json")).unwrap()).unwrap();
    journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| (entry["tag"].as_str().unwrap().to_owned(), entry["when"].as_i64().unwrap()))
        .collect()
}

/// Where to cut the history in two, near its middle, at a point a database
/// really could have stood: every later entry's `when` is after every earlier
/// one's (else drizzle 0.x, and praxia-deploy with it, would refuse or skip it).
fn release_point_near_the_middle(folder: &Path) -> usize {
    let whens: Vec<i64> = journal_entries(folder).into_iter().map(|(_, when)| when).collect();
    (1..=whens.len() / 2)
        .rev()
        .find(|&cut| whens[..cut].iter().max() < whens[cut..].iter().min())
        .unwrap_or_else(|| panic!("{}: no release point in the first half of its history", folder.display()))
}

/// The project as it was when its journal had only its first `count` entries:
/// the journal cut there, every file as it is.
fn project_at(folder: &Path, count: usize) -> TestProject {
    let test = project_with(folder);
    let path = test.path().join("migrations/meta/_journal.json");
    let mut journal: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    journal["entries"].as_array_mut().unwrap().truncate(count);
    std::fs::write(&path, serde_json::to_vec_pretty(&journal).unwrap()).unwrap();
    test
}

/// The folder in drizzle 1.0's layout, as `drizzle-kit up` (1.0) converts it;
/// None when up cannot (a package that ships only the SQL, without drizzle-kit's
/// snapshots: its `when`s also go back in time, so drizzle 1.0's order by folder
/// name would not be its history's order, and neither tool could run it).
fn project_in_drizzle_1_layout(folder: &Path, count: usize) -> Option<TestProject> {
    let test = project_at(folder, count);
    let migrations = test.path().join("migrations");
    let (ok, text) = Drizzle::V1.kit(&migrations, &["up"]);
    if text.contains("No snapshot was found") {
        return None;
    }
    assert!(ok && text.contains("Everything's fine"), "drizzle-kit up on {}:\n{text}", folder.display());
    // Files the cut journal does not list (later entries, strays) are not part of this history.
    for entry in std::fs::read_dir(&migrations).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::remove_file(&path).unwrap();
        } else if path.file_name().unwrap() == "meta" {
            std::fs::remove_dir_all(&path).unwrap();
        }
    }
    Some(test)
}

/// What a migrator leaves that a user can see: the schema outside praxia-deploy's
/// own and the bookkeeping's (pg_dump, in the server's own words, without its
/// random `\restrict` key), each table's row count (data migrations insert rows
/// whose values are `gen_random_uuid()` and `now()`), and the bookkeeping rows
/// (hash, created_at, name).
#[derive(Debug, PartialEq, Eq)]
struct EndState {
    schema: String,
    rows_per_table: Vec<(String, i64)>,
    bookkeeping: Vec<(String, Option<i64>, Option<String>)>,
}

async fn end_state(database: &TestDatabase) -> EndState {
    let schema = database.schema_dump();
    let mut connection = sqlx::PgConnection::connect(&database.url).await.unwrap();
    let rows_per_table = sqlx::query_as(
        "SELECT format('%I.%I', table_schema, table_name), \
         (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text::bigint \
         FROM information_schema.tables WHERE table_type = 'BASE TABLE' \
         AND table_schema NOT IN ('pg_catalog', 'information_schema', 'praxia_deploy', 'drizzle') ORDER BY 1",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    let bookkeeping = sqlx::query_as(
        "SELECT hash, created_at, to_jsonb(t) ->> 'name' FROM drizzle.__drizzle_migrations t ORDER BY created_at, id",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    EndState { schema, rows_per_table, bookkeeping }
}

/// Asserts the two are equal, showing the first lines where the schemas differ.
fn assert_same(actual: &EndState, expected: &EndState, what: &str) {
    if actual.schema != expected.schema {
        let first = actual.schema.lines().zip(expected.schema.lines()).position(|(a, b)| a != b).unwrap_or(0);
        let around = |text: &str| text.lines().skip(first.saturating_sub(3)).take(8).collect::<Vec<_>>().join("\n");
        panic!(
            "{what}: the schema differs at line {first}:\n{}\n--- expected ---\n{}",
            around(&actual.schema),
            around(&expected.schema)
        );
    }
    assert_eq!(actual.rows_per_table, expected.rows_per_table, "{what}: rows per table");
    assert_eq!(actual.bookkeeping, expected.bookkeeping, "{what}: bookkeeping rows");
}

#[tokio::test]
async fn drizzle_0x_and_praxia_deploy_leave_the_same_database_in_every_order() {
    for project in corpus() {
        let count = journal_entries(&project.folder).len();
        let half = release_point_near_the_middle(&project.folder);
        let whole = project_with(&project.folder);
        let by_drizzle = test_postgres().fresh_database();
        Drizzle::V0.migrate(&by_drizzle, &whole.path().join("migrations"));
        let expected = end_state(&by_drizzle).await;
        assert_eq!(expected.bookkeeping.len(), count, "{}", project.package);
        // A database drizzle migrated: nothing pending, nothing to do.
        whole.run_on(&by_drizzle, &["status", "--exit-code"]).expect_code(0);
        whole.run_on(&by_drizzle, &["migrate"]).expect_code(0).expect_stdout_contains("nothing to do");

        let by_praxia = test_postgres().fresh_database();
        whole.run_on(&by_praxia, &["migrate"]).expect_code(0);
        assert_same(
            &end_state(&by_praxia).await,
            &expected,
            &format!("{}: praxia-deploy alone differs", project.package),
        );
        // drizzle then finds nothing to run.
        Drizzle::V0.migrate(&by_praxia, &whole.path().join("migrations"));
        assert_same(
            &end_state(&by_praxia).await,
            &expected,
            &format!("{}: drizzle after praxia-deploy", project.package),
        );

        let halves = project_at(&project.folder, half);
        let drizzle_first = test_postgres().fresh_database();
        Drizzle::V0.migrate(&drizzle_first, &halves.path().join("migrations"));
        whole.run_on(&drizzle_first, &["migrate"]).expect_code(0);
        assert_same(
            &end_state(&drizzle_first).await,
            &expected,
            &format!("{}: drizzle, then praxia-deploy", project.package),
        );
        let praxia_first = test_postgres().fresh_database();
        halves.run_on(&praxia_first, &["migrate"]).expect_code(0);
        Drizzle::V0.migrate(&praxia_first, &whole.path().join("migrations"));
        assert_same(
            &end_state(&praxia_first).await,
            &expected,
            &format!("{}: praxia-deploy, then drizzle", project.package),
        );
    }
}

#[tokio::test]
async fn drizzle_1_and_praxia_deploy_leave_the_same_database_in_every_order() {
    let mut converted = 0;
    for project in corpus() {
        let count = journal_entries(&project.folder).len();
        let half = release_point_near_the_middle(&project.folder);
        let Some(whole) = project_in_drizzle_1_layout(&project.folder, count) else {
            continue;
        };
        converted += 1;
        let by_drizzle = test_postgres().fresh_database();
        Drizzle::V1.migrate(&by_drizzle, &whole.path().join("migrations"));
        let expected = end_state(&by_drizzle).await;
        assert_eq!(expected.bookkeeping.len(), count, "{}", project.package);
        whole.run_on(&by_drizzle, &["status", "--exit-code"]).expect_code(0);

        let by_praxia = test_postgres().fresh_database();
        whole.run_on(&by_praxia, &["migrate"]).expect_code(0);
        assert_same(
            &end_state(&by_praxia).await,
            &expected,
            &format!("{}: praxia-deploy alone differs", project.package),
        );
        Drizzle::V1.migrate(&by_praxia, &whole.path().join("migrations"));
        assert_same(
            &end_state(&by_praxia).await,
            &expected,
            &format!("{}: drizzle 1.0 after praxia-deploy", project.package),
        );

        let halves = project_in_drizzle_1_layout(&project.folder, half).expect("up converted the whole folder");
        let drizzle_first = test_postgres().fresh_database();
        Drizzle::V1.migrate(&drizzle_first, &halves.path().join("migrations"));
        whole.run_on(&drizzle_first, &["migrate"]).expect_code(0);
        assert_same(
            &end_state(&drizzle_first).await,
            &expected,
            &format!("{}: drizzle 1.0, then praxia-deploy", project.package),
        );
        let praxia_first = test_postgres().fresh_database();
        halves.run_on(&praxia_first, &["migrate"]).expect_code(0);
        Drizzle::V1.migrate(&praxia_first, &whole.path().join("migrations"));
        assert_same(
            &end_state(&praxia_first).await,
            &expected,
            &format!("{}: praxia-deploy, then drizzle 1.0", project.package),
        );

        // Moving from the journal (drizzle 0.x migrated it) to 1.0's layout needs no stamp.
        let moved = test_postgres().fresh_database();
        Drizzle::V0.migrate(&moved, &project_at(&project.folder, half).path().join("migrations"));
        whole.run_on(&moved, &["migrate"]).expect_code(0);
        let state = end_state(&moved).await;
        assert_same(
            &EndState { bookkeeping: expected.bookkeeping.clone(), ..state },
            &expected,
            &format!("{}: 0.x half, then 1.0 layout", project.package),
        );
    }
    assert!(converted > 0, "drizzle-kit up converted none of the corpus projects");
}

#[tokio::test]
async fn a_database_praxia_deploy_migrated_shows_no_drift_twenty_times_in_a_row() {
    for project in corpus() {
        // Replayed on the embedded cluster: some projects need a superuser's extension (vector).
        let test = project_with(&project.folder);
        let database = test_postgres().fresh_database();
        test.run_on(&database, &["migrate"]).expect_code(0);
        let first = test.run_on(&database, &["drift"]);
        assert_eq!(first.code, 0, "{}: {}{}", project.package, first.stdout, first.stderr);
        for run in 1..20 {
            let again = test.run_on(&database, &["drift"]);
            assert_eq!(again.code, 0, "{} run {run}: {}{}", project.package, again.stdout, again.stderr);
            assert_eq!(again.stdout, first.stdout, "{} run {run}", project.package);
        }
        test.run_on(&database, &["db", "stop"]).expect_code(0);
    }
}

#[tokio::test]
async fn the_first_deploy_onto_an_empty_staging_database_is_not_blocked() {
    for project in corpus() {
        let test = project_with(&project.folder);
        test.file("environments/staging.toml", "kind = \"staging\"\n\n[database]\nwait = \"5s\"\n");
        let database = test_postgres().fresh_database();
        let outcome = test.run_on(&database, &["--env", "staging", "release"]);
        assert_eq!(outcome.code, 0, "{}: {}{}", project.package, outcome.stdout, outcome.stderr);
        test.run_on(&database, &["--env", "staging", "status", "--exit-code"]).expect_code(0);
    }
}

#[test]
fn lint_with_the_baseline_at_the_newest_tag_passes_and_says_what_it_left_out() {
    for project in corpus() {
        let entries = journal_entries(&project.folder);
        let (newest, _) = entries.last().unwrap();
        let test = project_with(&project.folder);
        test.file(
            "environments/test.toml",
            &format!("{}\n[review]\nbaseline = \"{newest}\"\n", crate::support::project::TEST_ENVIRONMENT),
        );
        test.run(&["--env", "test", "lint"])
            .expect_code(0)
            .expect_stdout_contains(&format!("{} migrations up to the baseline {newest} not reviewed", entries.len()));
    }
}

/// The lock-safe rewrite (issue 26) on every corpus migration: applied twice it
/// changes nothing the second time, what it leaves alone is kept as written, and
/// each statement it writes is alone in its chunk, as the lexer reads it.
#[test]
fn the_lock_safe_rewrite_of_every_corpus_migration_is_stable_and_keeps_what_it_leaves() {
    use praxia_deploy::migration_folder::BREAKPOINT;
    use praxia_deploy::migration_folder::sql::split_statements;
    use praxia_deploy::review::{Earlier, Outcome, rewrite_lock_safe};

    let mut outcomes: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for project in corpus() {
        for file in sql_files(&project.folder) {
            let sql = std::fs::read_to_string(&file).unwrap();
            let fixed = rewrite_lock_safe(&sql, &Earlier::default());
            assert_eq!(
                rewrite_lock_safe(&fixed.sql, &Earlier::default()).sql,
                fixed.sql,
                "{}: applied twice",
                file.display()
            );
            for statement in &fixed.statements {
                let kind = format!("{:?}", statement.outcome);
                *outcomes.entry(kind.split('(').take(2).collect::<Vec<_>>().join("(")).or_default() += 1;
                if format!("{:?}", statement.outcome).contains("Unrecognised")
                    || format!("{:?}", statement.outcome).contains("UsedLater")
                {
                    eprintln!("{:?} {}", statement.outcome, statement.statement);
                }
                if matches!(statement.outcome, Outcome::LeftAlone(_)) {
                    assert!(fixed.sql.contains(&statement.statement), "{}: {}", file.display(), statement.statement);
                }
            }
            for chunk in fixed.sql.split(BREAKPOINT) {
                let statements = split_statements(chunk);
                let written = |text: &str| ["COMMIT;", "BEGIN;"].contains(&text) || text.contains(" CONCURRENTLY ");
                if statements.iter().any(|s| written(s.text(chunk).trim())) && !sql.contains(chunk) {
                    assert_eq!(statements.len(), 1, "{}: {chunk}", file.display());
                }
            }
        }
    }
    eprintln!("{} across the corpus: {outcomes:#?}", project_names());
    assert!(outcomes.keys().any(|outcome| outcome.starts_with("Rewritten")), "{outcomes:?}");
}

fn project_names() -> String {
    corpus().iter().map(|project| project.package.clone()).collect::<Vec<_>>().join(", ")
}

/// `rehearse` on each corpus project's folder, unedited: a database released at
/// the middle of its history, backed up; the rest rehearsed on the backup's
/// restore, every pending migration recorded with its statements, and the
/// database itself left where it was.
#[tokio::test]
async fn the_second_half_of_each_history_is_rehearsed_on_a_backup_of_the_first() {
    for project in corpus() {
        let count = journal_entries(&project.folder).len();
        let half = release_point_near_the_middle(&project.folder);
        let test = project_at(&project.folder, half);
        let database = test_postgres().fresh_database();
        test.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
        test.run_on(&database, &["--env", "test", "backup"]).expect_code(0);
        // The whole history, as the next release brings it.
        std::fs::copy(project.folder.join("meta/_journal.json"), test.path().join("migrations/meta/_journal.json"))
            .unwrap();
        let document = test.run_on(&database, &["--env", "test", "--output", "json", "rehearse"]).expect_code(0).json();
        let rehearsed = document["result"]["rehearsal"]["migrations"].as_array().unwrap();
        assert_eq!(rehearsed.len(), count - half, "{}: {document:#}", project.package);
        assert!(
            rehearsed.iter().all(|migration| !migration["statements"].as_array().unwrap().is_empty()),
            "{}: a migration without a statement rehearsed",
            project.package
        );
        let mut connection = sqlx::PgConnection::connect(&database.url).await.unwrap();
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM drizzle.__drizzle_migrations")
            .fetch_one(&mut connection)
            .await
            .unwrap();
        assert_eq!(applied as usize, half, "{}: the rehearsal changed the database it came from", project.package);
    }
}
