//! Laptop commands through a real OpenSSH sshd and Dokku's forced command: the
//! migration engine in a one-off container, exit codes passed back, arguments
//! intact, and each SSH or Dokku failure explained.

use std::process::Stdio;

use crate::support::sshd::TestDokku;
use crate::support::{Outcome, TestDatabase, TestProject, test_postgres};
use sqlx::{Connection, PgConnection};

const APP: &str = "praxia-api";

/// A project with a `remote` (staging) and a `prod` (production) environment on
/// the test Dokku, whose app runs against `database`.
fn remote_project(dokku: &TestDokku, database: &TestDatabase) -> TestProject {
    let project = TestProject::from_repo();
    project.file("environments/remote.toml", &format!("kind = \"staging\"\n\n{}", dokku.section(APP)));
    project.file("environments/prod.toml", &format!("kind = \"production\"\n\n{}", dokku.section(APP)));
    dokku.add_app(APP, project.path(), Some(&database.url));
    // Production migrations take a backup first (tests/backup.rs tests it).
    dokku.add_postgres_service("praxia-db", &database.url, &[APP]);
    project
}

async fn drizzle_rows(database: &TestDatabase) -> i64 {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query_scalar("SELECT count(*) FROM drizzle.__drizzle_migrations")
        .fetch_one(&mut connection)
        .await
        .unwrap_or(0)
}

#[tokio::test]
async fn migrate_runs_in_a_one_off_container_and_streams_its_output() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database);
    let outcome = project.run(&["--env", "remote", "migrate"]);
    outcome
        .expect_code(0)
        .expect_stdout_contains("ran 0000_better_auth")
        .expect_stdout_contains("applied 2 migrations");
    assert_eq!(drizzle_rows(&database).await, 2);
    // One SSH session: `run` itself tells a missing app (no `apps:exists` first).
    let calls = dokku.calls();
    assert_eq!(
        calls,
        [["--quiet", "run", "--no-tty", "--env=PRAXIA_ENV=remote", APP, "praxia-deploy", "migrate", "--local"]]
    );

    let document = project.run(&["--env", "remote", "--output", "json", "status"]).expect_code(0).json();
    assert_eq!(document["command"], "status");
    assert_eq!(document["result"]["applied"].as_array().unwrap().len(), 2);
    assert_eq!(document["result"]["stamp"]["name"], "remote");
}

#[tokio::test]
async fn remote_failures_keep_their_exit_codes() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database);
    project.set_migrations(&[("0000_bad", 1000, "CREATE TABLE t (x nosuchtype);")]);
    project.run(&["--env", "remote", "migrate"]).expect_code(6).expect_stderr_contains("migration 0000_bad failed");

    project.set_migrations(&[("0000_ok", 1000, "CREATE TABLE t (x int);")]);
    project.run(&["--env", "remote", "migrate"]).expect_code(0);
    project.set_migrations(&[("0000_ok", 1000, "CREATE TABLE t (x bigint);")]);
    project
        .run(&["--env", "remote", "migrate"])
        .expect_code(4)
        .expect_stderr_contains("migration 0000_ok was edited after it was applied");
    project.run(&["--env", "remote", "status", "--exit-code"]).expect_code(4);
}

#[tokio::test]
async fn arguments_with_spaces_and_quotes_arrive_intact_and_forbidden_ones_are_never_sent() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database);
    // `90s` is sent as humantime writes it, `1m 30s`: one word with a space in it.
    project.run(&["--env", "remote", "migrate", "--lock-wait", "90s", "--wait", "5s"]).expect_code(0);
    let run = dokku.calls().into_iter().find(|call| call.get(1).is_some_and(|word| word == "run")).unwrap();
    assert_eq!(&run[6..], ["migrate", "--local", "--lock-wait", "1m 30s", "--wait", "5s"]);

    let settings: praxia_deploy::config::DokkuSettings =
        toml::from_str(dokku.section(APP).trim_start_matches("[dokku]\n")).unwrap();
    let connection =
        praxia_deploy::dokku::ssh::DokkuConnection::open(&settings, praxia_deploy::config::EnvironmentKind::Staging)
            .await
            .unwrap();
    let quoted = "it's a \"quoted\" key";
    let set = praxia_deploy::dokku::remote::config_is_set(&connection.session, APP, quoted).await.unwrap();
    assert!(!set);
    assert_eq!(dokku.calls().last().unwrap(), &["config:get", APP, quoted]);

    let before = dokku.calls().len();
    for forbidden in ["-n", "--force", "two\nlines", ""] {
        let refused = praxia_deploy::dokku::remote::config_is_set(&connection.session, APP, forbidden).await;
        assert_eq!(refused.unwrap_err().exit_code(), 2, "{forbidden:?}");
    }
    assert_eq!(dokku.calls().len(), before, "a forbidden argument reached Dokku");
}

#[tokio::test]
async fn a_missing_app_and_a_never_deployed_app_are_named() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database);
    project.file("environments/ghost.toml", &format!("kind = \"staging\"\n\n{}", dokku.section("ghost-app")));
    project
        .run(&["--env", "ghost", "status"])
        .expect_code(7)
        .expect_stderr_contains("the Dokku app ghost-app does not exist on")
        .expect_stderr_contains("dokku apps:create ghost-app");

    dokku.mark_undeployed(APP);
    project
        .run(&["--env", "remote", "status"])
        .expect_code(7)
        .expect_stderr_contains("the app praxia-api has never been deployed");
}

#[test]
fn a_wrong_key_and_an_unknown_host_key_each_exit_7_with_their_fix() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database);

    let wrong_key =
        dokku.section(APP).replace(&*dokku.client_key.to_string_lossy(), &dokku.stranger_key.to_string_lossy());
    project.file("environments/wrongkey.toml", &format!("kind = \"staging\"\n\n{wrong_key}"));
    project
        .run(&["--env", "wrongkey", "status"])
        .expect_code(7)
        .expect_stderr_contains("refused the SSH key")
        .expect_stderr_contains("dokku ssh-keys:add");

    let unpinned: String = dokku
        .section(APP)
        .lines()
        .filter(|line| !line.starts_with("host_key"))
        .map(|line| format!("{line}\n"))
        .collect();
    project.file("environments/unpinned.toml", &format!("kind = \"staging\"\n\n{unpinned}"));
    project
        .run(&["--env", "unpinned", "status"])
        .expect_code(7)
        .expect_stderr_contains("host key of 127.0.0.1 is not known")
        .expect_stderr_contains(&format!("ssh-keyscan -p {} 127.0.0.1", dokku.port));
    assert!(dokku.calls().is_empty(), "a command ran although SSH failed");
}

#[tokio::test]
async fn production_needs_yes_without_a_terminal_and_runs_nothing_otherwise() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database);
    let refused = Outcome::of(project.command().args(["--env", "prod", "migrate"]).stdin(Stdio::null()));
    refused
        .expect_code(3)
        .expect_stderr_contains("`migrate` on production app praxia-api was not confirmed")
        .expect_stderr_contains("--yes");
    assert!(dokku.calls().is_empty(), "something ran remotely without confirmation");
    assert_eq!(drizzle_rows(&database).await, 0);

    project.run(&["--env", "prod", "migrate", "--dry-run"]).expect_code(0).expect_stdout_contains("dry run");
    // Fixtures are refused here, before any confirmation or connection.
    let calls_before = dokku.calls().len();
    project
        .run(&["--env", "prod", "seed", "--yes"])
        .expect_code(3)
        .expect_stderr_contains("the environment's kind is production");
    assert_eq!(dokku.calls().len(), calls_before, "seed reached the Dokku host");
    project.run(&["--env", "prod", "migrate", "--yes"]).expect_code(0).expect_stdout_contains("applied 2 migrations");
    project.run(&["--env", "prod", "status"]).expect_code(0);
}

#[test]
fn doctor_checks_ssh_app_database_url_and_procfile_without_showing_the_url() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database);
    project.file("Procfile", "release: praxia-deploy release\nweb: praxia-deploy serve\n");
    std::fs::write(dokku.dir.join("apps").join(APP).join("config/PRAXIA_ENV"), "remote").unwrap();
    let outcome = project.run(&["--env", "remote", "doctor"]);
    outcome
        .expect_code(0)
        .expect_stdout_contains("ok    ssh")
        .expect_stdout_contains("ok    praxia_env    PRAXIA_ENV is remote")
        .expect_stdout_contains("ok    app")
        .expect_stdout_contains("ok    database_url  DATABASE_URL is set (value not shown)")
        .expect_stdout_contains("ok    image         praxia-deploy")
        .expect_stdout_contains("ok    procfile")
        .expect_stdout_contains("ok    migrations    migrations in the image: 2 migrations");
    assert!(!outcome.stdout.contains(&database.url) && !outcome.stderr.contains(&database.url));

    std::fs::remove_file(dokku.dir.join("apps").join(APP).join("config/DATABASE_URL")).unwrap();
    std::fs::remove_file(dokku.dir.join("apps").join(APP).join("config/PRAXIA_ENV")).unwrap();
    project.file("Procfile", "web: praxia-deploy serve\n");
    let outcome = project.run(&["--env", "remote", "--output", "json", "doctor"]);
    let document = outcome.expect_code(7).json();
    let checks = document["result"]["checks"].as_array().unwrap();
    let failed: Vec<&str> =
        checks.iter().filter(|check| check["ok"] == false).map(|check| check["name"].as_str().unwrap()).collect();
    assert_eq!(failed, ["praxia_env", "database_url", "procfile"]);
}

#[test]
fn doctor_shows_the_checks_it_could_not_run_when_ssh_fails() {
    let dokku = TestDokku::start();
    let project = TestProject::from_repo();
    let closed = praxia_deploy::pgserver::free_loopback_port().unwrap();
    let section = dokku.section(APP).replace(&format!("port = {}\n", dokku.port), &format!("port = {closed}\n"));
    project.file("environments/remote.toml", &format!("kind = \"staging\"\n\n{section}"));
    project.file("Procfile", "release: praxia-deploy release\nweb: praxia-deploy serve\n");
    project
        .run(&["--env", "remote", "doctor"])
        .expect_code(7)
        .expect_stdout_contains("FAIL  ssh")
        .expect_stdout_contains("SKIP  app           not checked: SSH failed")
        .expect_stdout_contains("SKIP  praxia_env    not checked: SSH failed")
        .expect_stdout_contains("SKIP  database_url  not checked: SSH failed")
        .expect_stdout_contains("SKIP  image         not checked: SSH failed")
        .expect_stdout_contains("SKIP  procfile      not checked: SSH failed")
        .expect_stdout_contains("SKIP  migrations    not checked: SSH failed")
        .expect_stderr_contains("1 of 7 checks failed for remote, 6 not run");
    let document = project.run(&["--env", "remote", "--output", "json", "doctor"]).expect_code(7).json();
    let statuses: Vec<(&str, &str)> = document["result"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|check| (check["name"].as_str().unwrap(), check["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        [
            ("ssh", "fail"),
            ("app", "skipped"),
            ("praxia_env", "skipped"),
            ("database_url", "skipped"),
            ("image", "skipped"),
            ("procfile", "skipped"),
            ("migrations", "skipped")
        ]
    );
}

/// Adds a migration after the shipped ones, as `drizzle-kit generate` would.
fn append_migration(project: &TestProject, tag: &str, sql: &str) {
    let journal_path = project.path().join("migrations/meta/_journal.json");
    let mut journal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&journal_path).unwrap()).unwrap();
    let entries = journal["entries"].as_array_mut().unwrap();
    let last = entries.last().unwrap().clone();
    entries.push(serde_json::json!({
        "idx": entries.len(),
        "version": last["version"],
        "when": last["when"].as_i64().unwrap() + 1000,
        "tag": tag,
        "breakpoints": true,
    }));
    std::fs::write(&journal_path, serde_json::to_string_pretty(&journal).unwrap()).unwrap();
    project.file(&format!("migrations/{tag}.sql"), sql);
}

#[tokio::test]
async fn the_review_gate_refuses_over_ssh_as_in_the_release_phase() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database);
    project.run(&["--env", "remote", "migrate"]).expect_code(0);
    let drop = "ALTER TABLE \"organization\" DROP COLUMN \"slug\";";
    append_migration(&project, "0002_drop_slug", drop);
    // Staging ships with the gate on: refused in the container, the exit code passed back.
    project
        .run(&["--env", "remote", "migrate"])
        .expect_code(3)
        .expect_stderr_contains("the review gate of environment remote refuses 2 findings")
        .expect_stderr_contains("0002_drop_slug.sql:1:28: error[ban-drop-column] (table organization:");
    assert_eq!(drizzle_rows(&database).await, 2, "nothing was written");
    project.file(
        "migrations/0002_drop_slug.sql",
        &format!(
            "-- praxia-deploy: allow ban-drop-column, previous-release-overlap: slugs replaced by ids in v3\n{drop}"
        ),
    );
    project.run(&["--env", "remote", "migrate"]).expect_code(0).expect_stdout_contains("ran 0002_drop_slug");
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let reason: String = sqlx::query_scalar(
        "SELECT acknowledgements->0->>'reason' FROM praxia_deploy.migration_log WHERE tag = '0002_drop_slug'",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    assert_eq!(reason, "slugs replaced by ids in v3");
}

#[tokio::test]
async fn drift_reads_the_catalog_in_the_container_and_compares_here() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database);
    project.run(&["--env", "remote", "migrate"]).expect_code(0);
    // A staging database's own server never gets a replay.
    project
        .run(&["--env", "remote", "drift", "--shadow-url", &database.url])
        .expect_code(2)
        .expect_stderr_contains("--shadow-url reaches the staging database's own server");
    // The replay runs here, on the laptop's embedded cluster.
    project
        .run(&["--env", "remote", "drift"])
        .expect_code(0)
        .expect_stdout_contains("no drift")
        .expect_stdout_contains("2 applied migrations replayed");
    assert!(
        dokku.calls().iter().any(|call| call.windows(3).any(|w| w == ["drift", "--local", "--print-catalog"])),
        "{:?}",
        dokku.calls()
    );
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql("CREATE INDEX hand_made ON profile (created_at)").execute(&mut connection).await.unwrap();
    project
        .run(&["--env", "remote", "drift"])
        .expect_code(11)
        .expect_stdout_contains("index public.hand_made: in the database, not made by the migrations")
        .expect_stdout_contains("fix: DROP INDEX public.hand_made;");
}
