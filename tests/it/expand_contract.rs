//! Issue 27's expand and contract: `release` holds a migration's contract part
//! (a drop the previous release would notice) back, and the post-deploy step
//! `contract` applies it, with drizzle's row for the file, once the previous
//! release has retired; a skipped step is finished by the next release or by
//! `migrate`, never run twice, and drizzle's migrator agrees at every moment.

use sqlx::{Connection, PgConnection};

use crate::support::drizzle::Drizzle;
use crate::support::project::TEST_ENVIRONMENT;
use crate::support::{TestDatabase, TestProject, test_postgres};

const BASE: (&str, i64, &str) = (
    "0000_base",
    1000,
    "CREATE TABLE \"note\" (\"id\" integer PRIMARY KEY, \"body\" text, \"legacy\" text);\n--> statement-breakpoint\nINSERT INTO \"note\" VALUES (1, 'b', 'l');\n",
);
/// drizzle-kit's order: the drop first, then what the new release needs.
const CHANGE: (&str, i64, &str) = (
    "0001_drop_legacy",
    2000,
    "ALTER TABLE \"note\" DROP COLUMN \"legacy\";--> statement-breakpoint\nALTER TABLE \"note\" ADD COLUMN \"title\" text;",
);

fn project(extra: &str) -> TestProject {
    let project = TestProject::with_migrations(&[BASE, CHANGE]);
    project.file("environments/test.toml", &format!("{TEST_ENVIRONMENT}\n[contract]\nhold_back = true\n{extra}"));
    project
}

/// A database the previous release (`rev0`) migrated: the base applied, the change pending.
fn deployed(project: &TestProject) -> TestDatabase {
    let database = test_postgres().fresh_database();
    project.set_migrations(&[BASE]);
    at_revision(project, &database, "rev0", &["release"]).expect_code(0);
    project.set_migrations(&[BASE, CHANGE]);
    database
}

/// `args` run at git revision `revision`, as Dokku's containers have `GIT_REV`.
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

async fn columns(database: &TestDatabase) -> Vec<String> {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query_scalar(
        "SELECT attname::text FROM pg_attribute WHERE attrelid = 'note'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap()
}

async fn drizzle_rows(database: &TestDatabase) -> Vec<String> {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query_scalar("SELECT hash FROM drizzle.__drizzle_migrations ORDER BY created_at")
        .fetch_all(&mut connection)
        .await
        .unwrap()
}

fn sha256(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn release_holds_the_drop_back_and_the_post_deploy_step_applies_it_once() {
    let project = project("");
    let database = deployed(&project);
    at_revision(&project, &database, "rev1", &["release"])
        .expect_code(0)
        .expect_stdout_contains("ran 0001_drop_legacy expand part")
        .expect_stdout_contains("0001_drop_legacy: expanded, contract pending since");
    assert_eq!(
        columns(&database).await,
        ["id", "body", "legacy", "title"],
        "expanded: the new column, the old one kept"
    );
    assert_eq!(drizzle_rows(&database).await, [sha256(BASE.2)], "drizzle's row waits for the whole file");
    at_revision(&project, &database, "rev1", &["status", "--exit-code"])
        .expect_code(8)
        .expect_stdout_contains("0001_drop_legacy: expanded, contract pending");
    // The same release again (a config:set): still held back.
    at_revision(&project, &database, "rev1", &["release"])
        .expect_code(0)
        .expect_stdout_contains("expanded, contract pending");
    assert!(columns(&database).await.contains(&"legacy".to_owned()));

    at_revision(&project, &database, "rev1", &["contract", "--no-wait"])
        .expect_code(0)
        .expect_stdout_contains("ran 0001_drop_legacy contract part");
    assert_eq!(columns(&database).await, ["id", "body", "title"]);
    assert_eq!(drizzle_rows(&database).await, [sha256(BASE.2), sha256(CHANGE.2)]);
    at_revision(&project, &database, "rev1", &["contract", "--no-wait"])
        .expect_code(0)
        .expect_stdout_contains("nothing held back");
    // drizzle's migrator finds nothing to run, and praxia-deploy nothing pending.
    Drizzle::V0.migrate(&database, &project.path().join("migrations"));
    assert_eq!(drizzle_rows(&database).await.len(), 2);
    project.run_on(&database, &["status", "--exit-code"]).expect_code(0);
}

/// A post-deploy step that never ran: the next release finishes the contract
/// part once the app's sessions show the release that expanded it went live
/// (and none older); without them, it stays held back and says so, and `migrate`
/// finishes it.
#[tokio::test]
async fn a_skipped_post_deploy_step_is_finished_by_the_next_release_or_by_migrate() {
    let project = project("app_sessions = \"app@\"\n");
    let database = deployed(&project);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
    // rev1 serves: its sessions say so.
    let serving = OldRelease::start(&database, "app@rev1").await;
    at_revision(&project, &database, "rev2", &["release"])
        .expect_code(0)
        .expect_stdout_contains("ran 0001_drop_legacy contract part");
    assert_eq!(columns(&database).await, ["id", "body", "title"]);
    assert_eq!(drizzle_rows(&database).await.len(), 2);
    serving.retire().await;

    let project = project_without_sessions();
    let database = deployed(&project);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
    // Nothing says rev1 went live (its deploy may have failed, rev0 still serving).
    at_revision(&project, &database, "rev2", &["release"])
        .expect_code(0)
        .expect_stdout_contains("0001_drop_legacy: expanded, contract pending");
    assert!(columns(&database).await.contains(&"legacy".to_owned()));
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("ran 0001_drop_legacy contract part");
    assert_eq!(drizzle_rows(&database).await.len(), 2);
    at_revision(&project, &database, "rev1", &["contract", "--no-wait"])
        .expect_code(0)
        .expect_stdout_contains("nothing held back");
}

/// A post-deploy step that ran (and so recorded its release live) but could not
/// finish: the next release finishes it.
#[tokio::test]
async fn a_post_deploy_step_that_ran_lets_the_next_release_finish() {
    let project = project("app_sessions = \"app@\"\nretire_wait = \"1s\"\n");
    let database = deployed(&project);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
    let old = OldRelease::start(&database, "app@rev0").await;
    at_revision(&project, &database, "rev1", &["contract"]).expect_code(5);
    old.retire().await;
    at_revision(&project, &database, "rev2", &["release"])
        .expect_code(0)
        .expect_stdout_contains("ran 0001_drop_legacy contract part");
}

fn project_without_sessions() -> TestProject {
    project("")
}

#[tokio::test]
async fn a_file_edited_after_its_expand_part_ran_is_refused() {
    let project = project("");
    let database = deployed(&project);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
    project.file("migrations/0001_drop_legacy.sql", &format!("{}\n-- edited", CHANGE.2));
    at_revision(&project, &database, "rev1", &["contract", "--no-wait"])
        .expect_code(4)
        .expect_stderr_contains("migration 0001_drop_legacy was edited after its expand part ran");
    assert!(columns(&database).await.contains(&"legacy".to_owned()));
}

/// A stand-in for the previous release: one connection named as its
/// containers name theirs, reading the column the migration drops, as fast as
/// it can until told to stop; the errors it met.
struct OldRelease {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<(u64, u64, Vec<String>)>,
}

impl OldRelease {
    async fn start(database: &TestDatabase, application_name: &str) -> OldRelease {
        let options: sqlx::postgres::PgConnectOptions = database.url.parse().unwrap();
        let mut connection = PgConnection::connect_with(&options.application_name(application_name)).await.unwrap();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let (mut queries, mut errors, mut messages) = (0u64, 0u64, Vec::new());
            while !*stopped.borrow_and_update() {
                queries += 1;
                if let Err(err) = sqlx::query("SELECT \"legacy\" FROM \"note\" WHERE \"id\" = 1")
                    .fetch_optional(&mut connection)
                    .await
                {
                    errors += 1;
                    messages.push(err.to_string());
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            let _ = connection.close().await;
            (queries, errors, messages)
        });
        OldRelease { stop, task }
    }

    /// A session of a release that does not read the column: connected, idle.
    async fn start_idle(database: &TestDatabase, application_name: &str) -> OldRelease {
        let options: sqlx::postgres::PgConnectOptions = database.url.parse().unwrap();
        let connection = PgConnection::connect_with(&options.application_name(application_name)).await.unwrap();
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let _ = stopped.wait_for(|stop| *stop).await;
            let _ = connection.close().await;
            (0, 0, Vec::new())
        });
        OldRelease { stop, task }
    }

    /// Retires it: (queries, errors, messages).
    async fn retire(self) -> (u64, u64, Vec<String>) {
        self.stop.send(true).unwrap();
        self.task.await.unwrap()
    }
}

/// The deploy as Dokku runs it, under traffic: the old release (`app@rev1`)
/// queries the dropped column throughout; `release` of rev2 expands, the
/// post-deploy step waits until the old release's session is gone and then
/// drops it: no query of the old release fails. The same change applied the
/// way the backend's `migrate.js` does it (drizzle's migrator, the whole file
/// in the release phase) breaks the old release's queries.
#[tokio::test]
async fn under_traffic_the_old_release_sees_no_error_and_the_column_goes_after_it_retired() {
    let database = test_postgres().fresh_database();
    let project = project("app_sessions = \"app@\"\nretire_wait = \"60s\"\n");
    project.set_migrations(&[BASE]);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
    let old = OldRelease::start(&database, "app@rev1").await;

    project.set_migrations(&[BASE, CHANGE]);
    at_revision(&project, &database, "rev2", &["release"]).expect_code(0).expect_stdout_contains("expand part");
    // The new release serves beside it (it never reads the column).
    let new = OldRelease::start_idle(&database, "app@rev2").await;
    let mut post_deploy = project.on(&database);
    post_deploy.env("GIT_REV", "rev2").arg("contract");
    post_deploy.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = post_deploy.spawn().unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(child.try_wait().unwrap().is_none(), "the post-deploy step waits while the old release is connected");
    assert!(columns(&database).await.contains(&"legacy".to_owned()));

    let (queries, errors, messages) = old.retire().await;
    assert!(queries > 50, "the old release queried throughout ({queries})");
    assert_eq!(errors, 0, "the old release's queries failed: {messages:?}");
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "contract: {stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("the previous release's sessions were gone after"), "{stdout}");
    assert!(stdout.contains("ran 0001_drop_legacy contract part"), "{stdout}");
    assert_eq!(columns(&database).await, ["id", "body", "title"]);
    new.retire().await;

    // The backend's way: drizzle's migrator runs the whole file in the release phase.
    let database = test_postgres().fresh_database();
    project.set_migrations(&[BASE]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    let old = OldRelease::start(&database, "app@rev1").await;
    project.set_migrations(&[BASE, CHANGE]);
    Drizzle::V0.migrate(&database, &project.path().join("migrations"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, errors, messages) = old.retire().await;
    assert!(errors > 0, "the old release kept working after the column was dropped under it");
    assert!(messages[0].contains("column \"legacy\" does not exist"), "{messages:?}");
}

/// The old release outstays the bound: nothing is applied, it is said, and the
/// contract part stays held back for the next release.
#[tokio::test]
async fn an_old_release_that_outstays_the_bound_leaves_the_contract_part_held_back() {
    let project = project("app_sessions = \"app@\"\nretire_wait = \"2s\"\n");
    let database = deployed(&project);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
    let old = OldRelease::start(&database, "app@rev0").await;
    at_revision(&project, &database, "rev1", &["contract"])
        .expect_code(5)
        .expect_stderr_contains("the previous release still has sessions after 2 s: app@rev0 (1)")
        .expect_stderr_contains("the contract part stays held back");
    // This release's own sessions do not count.
    let own = OldRelease::start(&database, "app@rev1").await;
    old.retire().await;
    at_revision(&project, &database, "rev1", &["contract"]).expect_code(0).expect_stdout_contains("contract part");
    own.retire().await;
}

/// In production (where `release` holds contract parts back by default) the
/// gate and `lint` excuse what is held back, the drop's clients being gone
/// when it runs; with `hold_back = false` both still refuse it, as before.
#[tokio::test]
async fn the_gate_and_lint_excuse_the_drop_release_holds_back() {
    let production = "kind = \"production\"\n\n[database]\nwait = \"5s\"\n\n[backup]\nbefore_migrate = false\n";
    let project = TestProject::with_migrations(&[BASE, CHANGE]);
    project.file("environments/production.toml", production);
    let lint = project.run(&["--env", "production", "--output", "json", "lint", "0001"]);
    lint.expect_code(0);
    let findings = lint.json()["result"]["findings"].as_array().unwrap().clone();
    let drops: Vec<&serde_json::Value> =
        findings.iter().filter(|f| f["rule"] == "ban-drop-column" || f["rule"] == "previous-release-overlap").collect();
    assert_eq!(drops.len(), 2, "{findings:?}");
    assert!(
        drops.iter().all(|f| f["verdict"] == "harmless"
            && f["reason"].as_str().unwrap().contains("held back until the previous release has retired")),
        "{drops:?}"
    );

    let database = test_postgres().fresh_database();
    project.set_migrations(&[BASE]);
    let mut command = project.on(&database);
    command.env("PRAXIA_ENV", "production").env("GIT_REV", "rev0").arg("release");
    crate::support::project::Outcome::of(&mut command).expect_code(0);
    project.set_migrations(&[BASE, CHANGE]);
    let mut command = project.on(&database);
    command.env("PRAXIA_ENV", "production").env("GIT_REV", "rev1").arg("release");
    crate::support::project::Outcome::of(&mut command)
        .expect_code(0)
        .expect_stdout_contains("ran 0001_drop_legacy expand part");

    project.file("environments/production.toml", &format!("{production}\n[contract]\nhold_back = false\n"));
    project
        .run(&["--env", "production", "lint", "0001"])
        .expect_code(10)
        .expect_stdout_contains("previous-release-overlap");
}

// ---- Adversarial tests (attack on issue 27): each fails on 63b04ef. ----

async fn scalar(database: &TestDatabase, sql: &str) -> Option<String> {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query_scalar::<_, Option<String>>(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_optional(&mut connection)
        .await
        .unwrap()
        .flatten()
}

/// drizzle-kit's output when an enum column and its enum go: the column drop is
/// held back, but the `DROP TYPE` after it, left in the expand part, needs it gone.
#[tokio::test]
async fn a_drop_a_later_statement_depends_on_is_not_held_back() {
    const BASE_ENUM: (&str, i64, &str) = (
        "0000_base",
        1000,
        "CREATE TYPE \"public\".\"mood_kind\" AS ENUM('happy', 'sad');--> statement-breakpoint\nCREATE TABLE \"note\" (\"id\" integer PRIMARY KEY, \"mood\" \"mood_kind\");",
    );
    const DROP_ENUM: (&str, i64, &str) = (
        "0001_drop_mood",
        2000,
        "ALTER TABLE \"note\" DROP COLUMN \"mood\";--> statement-breakpoint\nDROP TYPE \"public\".\"mood_kind\";",
    );
    let project = project("");
    let database = test_postgres().fresh_database();
    project.set_migrations(&[BASE_ENUM]);
    at_revision(&project, &database, "rev0", &["release"]).expect_code(0);
    project.set_migrations(&[BASE_ENUM, DROP_ENUM]);
    // Fails today: exit 6, "cannot drop type mood_kind because other objects depend on it".
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
}

/// A contract part that fails (a view still reads the column): the error says
/// "editing it is safe", but an edited file is refused; nothing lets the team
/// finish it, and every later release runs it first and fails.
#[tokio::test]
async fn a_failing_contract_part_says_how_to_fix_it_and_a_new_migration_does() {
    const BASE_VIEW: (&str, i64, &str) = (
        "0000_base",
        1000,
        "CREATE TABLE \"note\" (\"id\" integer PRIMARY KEY, \"body\" text, \"legacy\" text);--> statement-breakpoint\nCREATE VIEW \"note_v\" AS SELECT \"id\", \"legacy\" FROM \"note\";",
    );
    let project = project("");
    let database = test_postgres().fresh_database();
    project.set_migrations(&[BASE_VIEW]);
    at_revision(&project, &database, "rev0", &["release"]).expect_code(0);
    project.set_migrations(&[BASE_VIEW, CHANGE]);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0).expect_stdout_contains("expand part");
    let failed = at_revision(&project, &database, "rev1", &["contract", "--no-wait"]);
    failed.expect_code(6);
    // The help of a failed contract part must not invite an edit the next run refuses...
    project.file(
        "migrations/0001_drop_legacy.sql",
        &format!("DROP VIEW \"note_v\";--> statement-breakpoint\n{}", CHANGE.2),
    );
    let edited = at_revision(&project, &database, "rev1", &["contract", "--no-wait"]);
    edited.expect_code(4).expect_stderr_contains("was edited after its expand part ran");
    project.file("migrations/0001_drop_legacy.sql", CHANGE.2);
    assert!(
        !failed.stderr.contains("editing it is safe"),
        "the failed contract part's help invites the edit that is then refused:\n{}",
        failed.stderr
    );
    failed.expect_stderr_contains(
        "`praxia-deploy contract --abandon TAG` records it as applied without its contract part",
    );
    // The way out the help names: abandon the contract part, then a new migration does it right.
    at_revision(&project, &database, "rev1", &["contract", "--abandon", "0001_drop_legacy"])
        .expect_code(0)
        .expect_stdout_contains("0001_drop_legacy: recorded as applied; its contract part was abandoned");
    assert_eq!(drizzle_rows(&database).await.len(), 2);
    assert!(columns(&database).await.contains(&"legacy".to_owned()), "nothing of the contract part ran");
    let logged =
        "SELECT contract FROM praxia_deploy.migration_log WHERE tag = '0001_drop_legacy' ORDER BY id DESC LIMIT 1";
    assert_eq!(scalar(&database, logged).await.as_deref(), Some("abandoned"), "the log says it was given up");
    let fix = (
        "0002_drop_view_then_legacy",
        3000,
        "DROP VIEW \"note_v\";--> statement-breakpoint\nALTER TABLE \"note\" DROP COLUMN \"legacy\";",
    );
    project.set_migrations(&[BASE_VIEW, CHANGE, fix]);
    at_revision(&project, &database, "rev2", &["release"])
        .expect_code(0)
        .expect_stdout_contains("ran 0002_drop_view_then_legacy expand part");
    at_revision(&project, &database, "rev2", &["contract", "--no-wait"])
        .expect_code(0)
        .expect_stdout_contains("ran 0002_drop_view_then_legacy contract part");
    assert_eq!(columns(&database).await, ["id", "body", "title"]);
    assert_eq!(drizzle_rows(&database).await.len(), 3, "every row, in folder order");
    let logged = "SELECT contract FROM praxia_deploy.migration_log WHERE tag = '0002_drop_view_then_legacy'";
    assert_eq!(scalar(&database, logged).await.as_deref(), Some("contract"));
    project.run_on(&database, &["status", "--exit-code"]).expect_code(0);
}

/// `-- praxia-deploy: contract` in a no-transaction migration is silently
/// ignored: what the author held back runs in the release phase.
#[tokio::test]
async fn the_contract_line_of_a_no_transaction_migration_is_refused() {
    const BASE_INDEX: (&str, i64, &str) = (
        "0000_base",
        1000,
        "CREATE TABLE \"note\" (\"id\" integer PRIMARY KEY, \"body\" text, \"legacy\" text);--> statement-breakpoint\nCREATE INDEX \"note_legacy_idx\" ON \"note\" (\"legacy\");",
    );
    const SWAP: (&str, i64, &str) = (
        "0001_swap_index",
        2000,
        "-- praxia-deploy: no-transaction\nCREATE INDEX CONCURRENTLY \"note_body_idx\" ON \"note\" (\"body\");--> statement-breakpoint\n-- praxia-deploy: contract\nDROP INDEX CONCURRENTLY \"note_legacy_idx\";",
    );
    let project = project("");
    let database = test_postgres().fresh_database();
    project.set_migrations(&[BASE_INDEX]);
    at_revision(&project, &database, "rev0", &["release"]).expect_code(0);
    project.set_migrations(&[BASE_INDEX, SWAP]);
    let released = at_revision(&project, &database, "rev1", &["release"]);
    let kept = scalar(&database, "SELECT to_regclass('note_legacy_idx')::text").await;
    // Either refused, or the index the author held back is still there.
    assert!(
        released.code != 0 || kept.is_some(),
        "release exited 0 and dropped the index the author put after `-- praxia-deploy: contract`"
    );
}

/// drizzle's migrator (the backend's migrate.js, or a developer) runs a
/// drop-only migration whose expand part ran: the file is applied, but
/// contract_pending keeps the row forever and status says "contract pending".
#[tokio::test]
async fn a_file_drizzles_migrator_applied_meanwhile_is_no_longer_held_back() {
    const DROP_ONLY: (&str, i64, &str) = ("0001_drop_legacy", 2000, "ALTER TABLE \"note\" DROP COLUMN \"legacy\";");
    let project = project("");
    let database = test_postgres().fresh_database();
    project.set_migrations(&[BASE]);
    at_revision(&project, &database, "rev0", &["release"]).expect_code(0);
    project.set_migrations(&[BASE, DROP_ONLY]);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0).expect_stdout_contains("expand part");
    Drizzle::V0.migrate(&database, &project.path().join("migrations"));
    assert_eq!(drizzle_rows(&database).await.len(), 2, "drizzle's migrator applied the whole file");
    let status = at_revision(&project, &database, "rev1", &["status"]);
    status.expect_code(0);
    assert!(!status.stdout.contains("contract pending"), "status after drizzle applied it:\n{}", status.stdout);
    at_revision(&project, &database, "rev1", &["contract", "--no-wait"])
        .expect_code(0)
        .expect_stdout_contains("nothing held back");
}

/// The post-deploy step refused because the old release (rev0) is still
/// connected, and said the next release applies the contract part "once they
/// are gone"; the next release (rev2) applies it at once, while rev0 still
/// queries the column.
#[tokio::test]
async fn the_next_release_does_not_drop_under_an_older_release_still_connected() {
    let project = project("app_sessions = \"app@\"\nretire_wait = \"2s\"\n");
    let database = deployed(&project);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
    let old = OldRelease::start(&database, "app@rev0").await;
    at_revision(&project, &database, "rev1", &["contract"]).expect_code(5).expect_stderr_contains("once they are gone");
    at_revision(&project, &database, "rev2", &["release"]);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, errors, messages) = old.retire().await;
    assert_eq!(errors, 0, "the old release (still connected) broke: {messages:?}");
}

/// `migrate --dry-run` while a migration is expanded lists (and judges) the
/// whole file, statements already run included; `migrate` runs the contract part.
#[tokio::test]
async fn migrate_dry_run_lists_only_what_is_left_of_an_expanded_migration() {
    let project = project("");
    let database = deployed(&project);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
    let dry = project.run_on(&database, &["migrate", "--dry-run"]);
    assert!(!dry.stdout.contains("ADD COLUMN \"title\""), "the dry run lists what already ran:\n{}", dry.stdout);
}

/// A drop held back takes the other actions of its ALTER TABLE with it: the
/// new default the new release relies on waits for the contract step.
#[tokio::test]
async fn an_alter_table_with_other_actions_than_drops_is_not_held_back() {
    const MULTI: (&str, i64, &str) = (
        "0001_drop_legacy",
        2000,
        "ALTER TABLE \"note\" ADD COLUMN \"title\" text;--> statement-breakpoint\nALTER TABLE \"note\" DROP COLUMN \"legacy\", ALTER COLUMN \"body\" SET DEFAULT 'empty';",
    );
    let project = project("");
    let database = test_postgres().fresh_database();
    project.set_migrations(&[BASE]);
    at_revision(&project, &database, "rev0", &["release"]).expect_code(0);
    project.set_migrations(&[BASE, MULTI]);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
    let default = scalar(
        &database,
        "SELECT pg_get_expr(adbin, adrelid) FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum WHERE a.attrelid = 'note'::regclass AND a.attname = 'body'",
    )
    .await;
    assert!(default.is_some(), "the new release's default waits with the drop");
}

/// PostgreSQL keeps 63 bytes of application_name: with a 24-byte prefix and
/// Dokku's 40-hex GIT_REV, the new release's own sessions look like another
/// release's, and the post-deploy step waits the bound and fails every deploy.
#[tokio::test]
async fn a_long_application_name_cut_by_the_server_is_still_this_release() {
    let prefix = "acme-backend-production@";
    let revision = "0123456789abcdef0123456789abcdef01234567";
    let project = project(&format!("app_sessions = \"{prefix}\"\nretire_wait = \"2s\"\n"));
    let database = deployed(&project);
    at_revision(&project, &database, revision, &["release"]).expect_code(0);
    let own = OldRelease::start(&database, &format!("{prefix}{revision}")).await;
    at_revision(&project, &database, revision, &["contract"]).expect_code(0);
    own.retire().await;
}

// ---- attack on the fixes (issue 27, second round) ----

/// `release` of `revision` with `migrations`, on a database where `base` was released at `base_rev`.
fn released_at(
    project: &TestProject,
    database: &TestDatabase,
    migrations: &[(&str, i64, &str)],
    revision: &str,
) -> crate::support::project::Outcome {
    project.set_migrations(migrations);
    at_revision(project, database, revision, &["release"])
}

async fn column_type(database: &TestDatabase, column: &str) -> Option<String> {
    scalar(
        database,
        &format!(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'note'::regclass AND attname = '{column}' AND NOT attisdropped"
        ),
    )
    .await
}

/// A later migration of the same release that needs an earlier one's held
/// drop to have run: `migrate` (folder order) applies them; `release` runs the
/// later one's expand part while the drop is held back, and fails.
#[tokio::test]
async fn a_drop_a_later_migration_of_the_release_needs_is_not_held_back() {
    const READD: (&str, i64, &str) = ("0002_legacy_again", 3000, "ALTER TABLE \"note\" ADD COLUMN \"legacy\" integer;");
    let project = project("");
    // migrate: folder order, fine.
    let database = test_postgres().fresh_database();
    project.set_migrations(&[BASE, CHANGE, READD]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    assert_eq!(column_type(&database, "legacy").await.as_deref(), Some("integer"));
    // release: should end with the same schema (after contract), not fail.
    let database = deployed(&project);
    released_at(&project, &database, &[BASE, CHANGE, READD], "rev1").expect_code(0);
    at_revision(&project, &database, "rev1", &["contract", "--no-wait"]).expect_code(0);
    assert_eq!(column_type(&database, "legacy").await.as_deref(), Some("integer"));
}

/// A migration whose dropped column's type a later new migration drops.
#[tokio::test]
async fn a_drop_whose_type_a_later_migration_drops_is_not_held_back() {
    const BASE_T: (&str, i64, &str) = (
        "0000_base",
        1000,
        "CREATE TYPE \"mood\" AS ENUM ('a', 'b');--> statement-breakpoint\nCREATE TABLE \"note\" (\"id\" integer PRIMARY KEY, \"body\" text, \"legacy\" \"mood\");",
    );
    const DROP_TYPE: (&str, i64, &str) = ("0002_drop_mood", 3000, "DROP TYPE \"mood\";");
    let project = project("");
    let database = test_postgres().fresh_database();
    project.set_migrations(&[BASE_T, CHANGE, DROP_TYPE]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    let database = test_postgres().fresh_database();
    released_at(&project, &database, &[BASE_T], "rev0").expect_code(0);
    released_at(&project, &database, &[BASE_T, CHANGE, DROP_TYPE], "rev1").expect_code(0);
}

/// A held drop of an earlier release, and a new migration that needs it done
/// (re-adds the column with another type): the earlier release went live (its
/// sessions are connected), so this release may finish the drop; folder order
/// works, the two-phase order (new expand parts first) fails the release.
#[tokio::test]
async fn an_earlier_releases_held_drop_runs_before_the_new_migrations() {
    const READD: (&str, i64, &str) = ("0002_legacy_again", 3000, "ALTER TABLE \"note\" ADD COLUMN \"legacy\" integer;");
    let project = project("app_sessions = \"app@\"\n");
    let database = deployed(&project);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
    let serving = OldRelease::start_idle(&database, "app@rev1").await;
    released_at(&project, &database, &[BASE, CHANGE, READD], "rev2")
        .expect_code(0)
        .expect_stdout_contains("ran 0001_drop_legacy contract part");
    assert_eq!(column_type(&database, "legacy").await.as_deref(), Some("integer"));
    serving.retire().await;
}

/// Same, with a view over the table made by the new migration: in folder
/// order the view has no `legacy`; run first, it reads it and the held drop fails.
#[tokio::test]
async fn a_new_view_over_the_table_comes_after_the_held_drop() {
    const VIEW: (&str, i64, &str) = ("0002_view", 3000, "CREATE VIEW \"note_all\" AS SELECT * FROM \"note\";");
    let project = project("app_sessions = \"app@\"\n");
    let database = test_postgres().fresh_database();
    project.set_migrations(&[BASE, CHANGE, VIEW]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    let database = deployed(&project);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
    let serving = OldRelease::start_idle(&database, "app@rev1").await;
    released_at(&project, &database, &[BASE, CHANGE, VIEW], "rev2").expect_code(0);
    serving.retire().await;
}

/// Revisions that are prefixes of each other (`v1`, `v10`, `v11`): the release
/// of v10 failed its checks (no post-deploy step, none of its sessions), v1
/// still serves; v11's release must not drop under v1.
#[tokio::test]
async fn revisions_that_are_prefixes_of_each_other_are_told_apart() {
    let project = project("app_sessions = \"app@\"\n");
    let database = test_postgres().fresh_database();
    released_at(&project, &database, &[BASE], "v1").expect_code(0);
    let old = OldRelease::start(&database, "app@v1").await;
    released_at(&project, &database, &[BASE, CHANGE], "v10").expect_code(0);
    // v10's deploy failed; v11 is released while v1 still serves.
    at_revision(&project, &database, "v11", &["release"]).expect_code(0);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, errors, messages) = old.retire().await;
    assert_eq!(errors, 0, "v1, still serving, broke: {messages:?}");
    assert!(columns(&database).await.contains(&"legacy".to_owned()));
}

/// A new no-transaction migration in a release that holds a drop back: its
/// expand part runs, its row waits behind the held one, and the post-deploy step writes both rows.
#[tokio::test]
async fn a_no_transaction_migration_after_a_held_drop_waits_for_its_row() {
    const CONCURRENTLY: (&str, i64, &str) = (
        "0002_index",
        3000,
        "-- praxia-deploy: no-transaction\nCREATE INDEX CONCURRENTLY \"note_body_idx\" ON \"note\" (\"body\");",
    );
    let project = project("");
    let database = deployed(&project);
    released_at(&project, &database, &[BASE, CHANGE, CONCURRENTLY], "rev1").expect_code(0);
    assert_eq!(drizzle_rows(&database).await, [sha256(BASE.2)]);
    at_revision(&project, &database, "rev1", &["contract", "--no-wait"]).expect_code(0);
    assert_eq!(drizzle_rows(&database).await.len(), 3);
    project.run_on(&database, &["status", "--exit-code"]).expect_code(0);
}

/// `plan` says what `release` would do: with the expanding release's sessions
/// connected, `release` of the next revision finishes the contract part, but
/// `plan` (which never reads the sessions) says it waits and nothing is pending.
#[tokio::test]
async fn plan_says_what_release_would_run_reading_the_sessions() {
    let project = project("app_sessions = \"app@\"\n");
    let database = deployed(&project);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
    let serving = OldRelease::start_idle(&database, "app@rev1").await;
    let plan = at_revision(&project, &database, "rev2", &["plan"]);
    plan.expect_code(0);
    at_revision(&project, &database, "rev2", &["release"])
        .expect_code(0)
        .expect_stdout_contains("ran 0001_drop_legacy contract part");
    assert!(
        !plan.stdout.contains("its contract part waits"),
        "plan said the contract part waits, release ran it:\n{}",
        plan.stdout
    );
    serving.retire().await;
}

/// In production, `migrate` right after `release` runs the held drop at once
/// (the old release still connected); its gate refuses the same drop in a
/// whole file, but excuses it here as "held back until the previous release
/// has retired", which `migrate` does not do.
#[tokio::test]
async fn migrate_judges_a_contract_part_it_runs_at_once() {
    let production = "kind = \"production\"\n\n[database]\nwait = \"5s\"\n\n[backup]\nbefore_migrate = false\n\n[contract]\napp_sessions = \"app@\"\n";
    let project = TestProject::with_migrations(&[BASE]);
    project.file("environments/production.toml", production);
    let database = test_postgres().fresh_database();
    let run = |revision: &str, args: &[&str]| {
        let mut command = project.on(&database);
        command.env("PRAXIA_ENV", "production").env("GIT_REV", revision).args(args);
        crate::support::project::Outcome::of(&mut command)
    };
    run("rev0", &["release"]).expect_code(0);
    project.set_migrations(&[BASE, CHANGE]);
    // The whole file: refused by the gate.
    run("rev0", &["migrate", "--yes", "--dry-run"]).expect_stderr_contains("refuses 2 findings");
    run("rev1", &["release"]).expect_code(0).expect_stdout_contains("expand part");
    let old = OldRelease::start(&database, "app@rev0").await;
    // The same drop, held back by release: the gate should still refuse it for `migrate`.
    let migrate = run("rev1", &["migrate", "--yes"]);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, errors, messages) = old.retire().await;
    assert_eq!(errors, 0, "the old release broke ({}): {messages:?}", migrate.stdout);
}

/// Drops held back that a later statement of the same migration needs gone,
/// though it names neither the dropped table or column nor anything named
/// after it: the release fails where the whole file (`migrate`) applies.
#[tokio::test]
async fn drops_a_later_statement_needs_without_naming_them_are_not_held_back() {
    let cases: [(&str, &str); 2] = [
        // The child's foreign key depends on the parent's primary key index.
        (
            "CREATE TABLE \"parent\" (\"id\" integer PRIMARY KEY, \"k\" integer NOT NULL);--> statement-breakpoint\nCREATE TABLE \"child\" (\"id\" integer PRIMARY KEY, \"parent_id\" integer REFERENCES \"parent\"(\"id\"));",
            "DROP TABLE \"child\";--> statement-breakpoint\nALTER TABLE \"parent\" DROP CONSTRAINT \"parent_pkey\";--> statement-breakpoint\nALTER TABLE \"parent\" ADD CONSTRAINT \"parent_pk\" PRIMARY KEY (\"id\",\"k\");",
        ),
        // A constraint name (an index's) reused for the new column.
        (
            "CREATE TABLE \"note\" (\"id\" integer PRIMARY KEY, \"body\" text, \"legacy\" text, CONSTRAINT \"uniq_code\" UNIQUE(\"legacy\"));",
            "ALTER TABLE \"note\" DROP COLUMN \"legacy\";--> statement-breakpoint\nALTER TABLE \"note\" ADD COLUMN \"code\" text;--> statement-breakpoint\nALTER TABLE \"note\" ADD CONSTRAINT \"uniq_code\" UNIQUE(\"code\");",
        ),
    ];
    for (base, change) in cases {
        let base = ("0000_base", 1000, base);
        let change = ("0001_change", 2000, change);
        let project = project("");
        let database = test_postgres().fresh_database();
        project.set_migrations(&[base, change]);
        project.run_on(&database, &["migrate"]).expect_code(0);
        let database = test_postgres().fresh_database();
        released_at(&project, &database, &[base], "rev0").expect_code(0);
        released_at(&project, &database, &[base, change], "rev1").expect_code(0);
    }
}

/// A non-ASCII `app_sessions` prefix: PostgreSQL 15 keeps `application_name`
/// with each non-ASCII byte as `?`, so no session ever matches; the wait
/// waits the bound and drops under the old release, still connected, instead
/// of refusing (exit 5) as with an ASCII prefix, or the setting being refused.
#[tokio::test]
async fn a_non_ascii_app_sessions_prefix_is_refused() {
    let project = project("app_sessions = \"äpp@\"\nretire_wait = \"2s\"\n");
    let database = deployed(&project);
    at_revision(&project, &database, "rev1", &["release"]).expect_code(0);
    let old = OldRelease::start(&database, "äpp@rev0").await;
    let own = OldRelease::start_idle(&database, "äpp@rev1").await;
    let contract = at_revision(&project, &database, "rev1", &["contract"]);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, errors, messages) = old.retire().await;
    own.retire().await;
    assert_eq!(errors, 0, "the old release broke ({}): {messages:?}", contract.stdout);
    assert_eq!(contract.code, 2, "{}", contract.stdout);
    assert!(contract.stderr.contains("[contract] app_sessions = \"äpp@\" is not ASCII"), "{}", contract.stderr);
}
