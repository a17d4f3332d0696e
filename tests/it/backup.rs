//! Backups: `dokku postgres:export` through a real sshd into a verified,
//! rotated file; the failure paths, each leaving nothing behind; the restore
//! drill; the real `pg_restore` reading what was written.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::sshd::TestDokku;
use crate::support::{Outcome, TestDatabase, TestProject, test_postgres};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};

const APP: &str = "praxia-api";
const SERVICE: &str = "praxia-db";

/// The shipped project with a staging environment on the test Dokku, whose app
/// and Postgres service are `database`, migrated.
fn remote_project(dokku: &TestDokku, database: &TestDatabase, backup: &str) -> TestProject {
    let project = TestProject::from_repo();
    project.file("environments/remote.toml", &format!("kind = \"staging\"\n\n{}\n{backup}", dokku.section(APP)));
    dokku.add_app(APP, project.path(), Some(&database.url));
    dokku.add_postgres_service(SERVICE, &database.url, &[APP]);
    project.run(&["--env", "remote", "migrate"]).expect_code(0);
    project
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| entries.map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

fn dumps_in(dir: &Path) -> Vec<String> {
    files_in(dir).into_iter().filter(|name| name.ends_with(".dump")).collect()
}

async fn execute(database: &TestDatabase, sql: &str) {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut connection).await.unwrap();
}

fn pg_restore_list(file: &Path) -> String {
    let output = Command::new("pg_restore").arg("--list").arg(file).output().expect("pg_restore runs");
    assert!(
        output.status.success(),
        "pg_restore --list {}: {}",
        file.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn a_backup_through_dokku_is_verified_named_after_its_newest_migration_and_rotated() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database, "[backup]\nkeep = 2\n");
    let backups = project.path().join("backups");

    let document = project.run(&["--env", "remote", "--output", "json", "backup"]).expect_code(0).json();
    let backup = &document["result"]["backup"];
    let file = PathBuf::from(backup["path"].as_str().unwrap());
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("praxia-api-") && name.ends_with("-0001_praxia_organizations.dump"), "{name}");
    assert_eq!(backup["newest_tag"], "0001_praxia_organizations");
    // What was recorded is what is on disk, and the real client reads it.
    let bytes = std::fs::read(&file).unwrap();
    assert_eq!(backup["record"]["bytes"], bytes.len());
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&file).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "the dump holds password hashes: owner only");
    assert_eq!(backup["record"]["sha256"], hex::encode(Sha256::digest(&bytes)));
    let checksum = std::fs::read_to_string(backups.join(format!("{name}.sha256"))).unwrap();
    assert_eq!(checksum, format!("{}  {name}\n", hex::encode(Sha256::digest(&bytes))));
    assert!(pg_restore_list(&file).contains("TABLE public organization_user"));
    assert_eq!(document["result"]["service"], SERVICE);
    let restore = document["result"]["restore_commands"].as_array().unwrap();
    assert_eq!(restore[0], format!("dokku postgres:import {SERVICE} < {}", file.display()));
    assert_eq!(
        restore[1],
        format!("ssh -p {} {}@127.0.0.1 postgres:import {SERVICE} < {}", dokku.port, dokku.user, file.display())
    );
    assert!(dokku.calls().iter().any(|call| call == &["postgres:app-links", APP]));
    assert!(dokku.calls().iter().any(|call| call == &["postgres:export", SERVICE]));

    // Three more: the two newest stay, and the removed ones are named.
    let mut outputs = Vec::new();
    for _ in 0..3 {
        outputs.push(project.run(&["--env", "remote", "backup"]).expect_code(0).stdout.clone());
    }
    let kept = dumps_in(&backups);
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(files_in(&backups).len(), 4, "each dump and its checksum: {:?}", files_in(&backups));
    assert!(
        outputs.iter().any(|out| out.contains(&format!("removed the older backup {name} ([backup] keep = 2)"))),
        "{outputs:?}"
    );
    assert!(!kept.contains(&name));
}

#[tokio::test]
async fn an_export_that_dies_mid_stream_leaves_nothing_and_says_so() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database, "");
    dokku.break_export_after(SERVICE, 2000);
    project
        .run(&["--env", "remote", "backup"])
        .expect_code(7)
        .expect_stderr_contains(&format!(
            "`dokku postgres:export {SERVICE}` failed (exit 137) before the dump was complete"
        ))
        .expect_stderr_contains("the service container went away")
        .expect_stderr_contains("the partial file was removed");
    assert_eq!(files_in(&project.path().join("backups")), Vec::<String>::new());
}

#[tokio::test]
async fn an_ssh_connection_dropped_mid_stream_leaves_nothing() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database, "");
    dokku.drop_connection_during_export(SERVICE, 2000);
    let outcome = project.run(&["--env", "remote", "backup"]);
    outcome.expect_code(7).expect_stderr_contains("the partial file was removed");
    outcome.expect_stderr_contains("SSH failed while postgres:export praxia-db");
    assert_eq!(files_in(&project.path().join("backups")), Vec::<String>::new());
}

#[tokio::test]
async fn no_service_or_several_without_a_name_are_refused_with_the_fix() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database, "");
    std::fs::remove_file(dokku.dir.join("services").join(SERVICE).join("LINKS")).unwrap();
    project
        .run(&["--env", "remote", "backup"])
        .expect_code(2)
        .expect_stderr_contains("no Postgres service is linked to the app praxia-api")
        .expect_stderr_contains("dokku postgres:link <service> praxia-api");

    dokku.add_postgres_service(SERVICE, &database.url, &[APP]);
    dokku.add_postgres_service("praxia-analytics", &database.url, &[APP]);
    project
        .run(&["--env", "remote", "backup"])
        .expect_code(2)
        .expect_stderr_contains(
            "several Postgres services are linked to the app praxia-api: praxia-analytics, praxia-db",
        )
        .expect_stderr_contains("service = \"<name>\"");
    assert!(!dokku.calls().iter().any(|call| call.first().is_some_and(|word| word == "postgres:export")));

    let environment = std::fs::read_to_string(project.path().join("environments/remote.toml")).unwrap();
    project.file("environments/remote.toml", &format!("{environment}\n[backup]\nservice = \"praxia-db\"\n"));
    project.run(&["--env", "remote", "backup"]).expect_code(0).expect_stdout_contains("verified");
}

#[tokio::test]
async fn without_pg_restore_nothing_is_kept_and_the_error_says_how_to_install_it() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database, "");
    let empty = tempfile::tempdir().unwrap();
    let outcome = Outcome::of(project.command().args(["--env", "remote", "backup"]).env("PG_BIN", empty.path()));
    outcome
        .expect_code(2)
        .expect_stderr_contains("pg_restore is not there")
        .expect_stderr_contains("apt-get install postgresql-client");
    assert_eq!(files_in(&project.path().join("backups")), Vec::<String>::new());
}

#[test]
fn a_full_disk_removes_the_partial_file() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    // The process may write 8 KiB per file: the dump is bigger. SIGXFSZ keeps its
    // default (kill the process): the tool ignores it itself, so the write fails
    // with EFBIG as a full disk fails with ENOSPC.
    let mut command = project.on(&database);
    command.args(["--env", "test", "backup"]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 8192, rlim_max: 8192 };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
            Ok(())
        });
    }
    Outcome::of(&mut command)
        .expect_code(5)
        .expect_stderr_contains("could not write the backup")
        .expect_stderr_contains("the file grew past the size this process may write")
        .expect_stderr_contains("the partial file was removed");
    assert_eq!(files_in(&project.path().join("backups")), Vec::<String>::new());

    // A killed run's partial file (its name, unwritten for hours) goes with the next backup.
    let left =
        project.path().join("backups/praxia-test-20251204T100000Z-0123456789abcdef0123456789abcdef.dump.partial");
    std::fs::write(&left, b"half a dump").unwrap();
    let file = std::fs::File::options().write(true).open(&left).unwrap();
    file.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200)).unwrap();
    // One still in use (another run checking a long dump holds its lock) is left alone.
    let busy =
        project.path().join("backups/praxia-test-20251204T110000Z-fedcba9876543210fedcba9876543210.dump.partial");
    std::fs::write(&busy, b"being checked").unwrap();
    let held = std::fs::File::options().write(true).open(&busy).unwrap();
    held.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200)).unwrap();
    // SAFETY: flock on a file descriptor this test owns.
    assert_eq!(unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&held), libc::LOCK_EX) }, 0);
    project.run_on(&database, &["--env", "test", "backup"]).expect_code(0);
    assert!(!left.exists(), "{:?}", files_in(&project.path().join("backups")));
    assert!(busy.exists(), "a partial file in use was removed");
    drop(held);
}

#[tokio::test]
async fn the_restore_drill_and_postgres_import_bring_back_a_dropped_table() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = remote_project(&dokku, &database, "");
    execute(
        &database,
        "INSERT INTO organization (id, name, slug) VALUES (gen_random_uuid(), 'Northwind', 'northwind')",
    )
    .await;
    let document = project.run(&["--env", "remote", "--output", "json", "backup"]).expect_code(0).json();
    let file = PathBuf::from(document["result"]["backup"]["path"].as_str().unwrap());
    execute(&database, "DROP TABLE organization_user; DELETE FROM organization").await;

    // The drill restores into a scratch database on the development cluster, never the source.
    let drill = project.run(&["--env", "remote", "backup", "verify", &file.to_string_lossy()]);
    drill
        .expect_code(0)
        .expect_stdout_contains("public.organization_user")
        .expect_stdout_contains("bookkeeping table: 2 applied migrations")
        .expect_stdout_contains("then dropped");
    let document = project
        .run(&["--env", "remote", "--output", "json", "backup", "verify", &file.to_string_lossy()])
        .expect_code(0)
        .json();
    let tables = document["result"]["restore_drill"]["tables"].as_array().unwrap();
    let organization = tables.iter().find(|table| table["table"]["name"] == "organization").unwrap();
    assert_eq!(organization["rows"], 1);
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let back: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('organization_user')::text").fetch_one(&mut connection).await.unwrap();
    assert_eq!(back, None, "the drill never touches the source");

    // The restore command it prints, through Dokku, puts the table back.
    let import = dokku.ssh(&["postgres:import", SERVICE]).stdin(std::fs::File::open(&file).unwrap()).output().unwrap();
    assert!(import.status.success(), "postgres:import: {}", String::from_utf8_lossy(&import.stderr));
    let back: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('organization_user')::text").fetch_one(&mut connection).await.unwrap();
    assert_eq!(back.as_deref(), Some("organization_user"));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM organization").fetch_one(&mut connection).await.unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn a_file_that_is_not_a_dump_does_not_verify() {
    let project = TestProject::from_repo();
    let not_a_dump = project.path().join("notes.dump");
    std::fs::write(&not_a_dump, "SELECT 1;\n").unwrap();
    project
        .run(&["--env", "test", "backup", "verify", &not_a_dump.to_string_lossy()])
        .expect_code(5)
        .expect_stderr_contains("does not verify")
        .expect_stderr_contains("pg_restore said");
    std::fs::write(&not_a_dump, "").unwrap();
    project
        .run(&["--env", "test", "backup", "verify", &not_a_dump.to_string_lossy()])
        .expect_code(5)
        .expect_stderr_contains("the file is empty");
}

/// A production environment on the test Dokku whose app's database is `database`,
/// migrated up to the shipped migrations, with one more migration pending.
fn production_with_pending(dokku: &TestDokku, database: &TestDatabase) -> TestProject {
    let project = TestProject::from_repo();
    project.file("environments/prod.toml", &format!("kind = \"production\"\n\n{}", dokku.section(APP)));
    dokku.add_app(APP, project.path(), Some(&database.url));
    dokku.add_postgres_service(SERVICE, &database.url, &[APP]);
    project.run(&["--env", "prod", "migrate", "--yes", "--no-backup"]).expect_code(0);
    let journal_path = project.path().join("migrations/meta/_journal.json");
    let mut journal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&journal_path).unwrap()).unwrap();
    let entries = journal["entries"].as_array_mut().unwrap();
    let when = entries.last().unwrap()["when"].as_i64().unwrap() + 1000;
    entries.push(serde_json::json!({"idx": entries.len(), "version": "7", "when": when, "tag": "0002_coach_notes", "breakpoints": true}));
    std::fs::write(&journal_path, serde_json::to_string_pretty(&journal).unwrap()).unwrap();
    project.file(
        "migrations/0002_coach_notes.sql",
        "CREATE TABLE \"coach_note\" (\"id\" text PRIMARY KEY NOT NULL, \"body\" text NOT NULL);",
    );
    project
}

async fn logged_backup(database: &TestDatabase, tag: &str) -> Option<serde_json::Value> {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let backup: Option<String> =
        sqlx::query_scalar("SELECT backup::text FROM praxia_deploy.migration_log WHERE tag = $1")
            .bind(tag)
            .fetch_one(&mut connection)
            .await
            .unwrap();
    backup.map(|text| serde_json::from_str(&text).unwrap())
}

fn call_starts(dokku: &TestDokku) -> Vec<String> {
    dokku
        .calls()
        .iter()
        .map(|call| {
            let words: Vec<&str> = call.iter().map(String::as_str).collect();
            let program = words.iter().position(|word| *word == "praxia-deploy");
            match (words.get(1), program) {
                (Some(&"run"), Some(at)) => {
                    let command = words.get(at + 1).copied().unwrap_or("");
                    let backup = words[at..].iter().find(|word| word.contains("backup")).copied().unwrap_or("");
                    format!("run {command} {backup}").trim_end().to_owned()
                }
                _ => words.first().map_or(String::new(), |first| (*first).to_owned()),
            }
        })
        .collect()
}

#[tokio::test]
async fn a_production_migrate_takes_a_verified_backup_first_and_records_it() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = production_with_pending(&dokku, &database);
    let before = dokku.calls().len();
    project
        .run(&["--env", "prod", "migrate", "--yes"])
        .expect_code(0)
        .expect_stderr_contains("1 migration pending: taking a verified backup first")
        .expect_stdout_contains("ran 0002_coach_notes");
    let calls = call_starts(&dokku)[before..].to_vec();
    assert_eq!(calls[..3], ["run migrate", "postgres:app-links", "postgres:export"], "{calls:?}");
    assert!(calls[3].starts_with("run migrate --after-backup"), "{calls:?}");
    let dumps = dumps_in(&project.path().join("backups"));
    assert_eq!(dumps.len(), 1);
    assert!(dumps[0].ends_with("-0001_praxia_organizations.dump"), "the backup holds what was there before: {dumps:?}");
    let logged = logged_backup(&database, "0002_coach_notes").await.expect("the backup is in the log");
    assert_eq!(logged["file"], dumps[0]);
    let bytes = std::fs::read(project.path().join("backups").join(&dumps[0])).unwrap();
    assert_eq!(logged["sha256"], hex::encode(Sha256::digest(&bytes)));
    project
        .run(&["--env", "prod", "status"])
        .expect_code(0)
        .expect_stdout_contains(&format!("last backup  {} ({} bytes", dumps[0], bytes.len()))
        .expect_stdout_contains("before 0002_coach_notes");

    // Nothing pending: no backup, and the container is told not to take one.
    let before = dokku.calls().len();
    project.run(&["--env", "prod", "migrate", "--yes"]).expect_code(0).expect_stdout_contains("nothing to do");
    assert_eq!(call_starts(&dokku)[before..], ["run migrate", "run migrate --no-backup"]);
}

#[tokio::test]
async fn no_backup_skips_it_and_a_failed_backup_migrates_nothing() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = production_with_pending(&dokku, &database);
    dokku.break_export_after(SERVICE, 1000);
    let before = dokku.calls().len();
    project
        .run(&["--env", "prod", "migrate", "--yes"])
        .expect_code(7)
        .expect_stderr_contains("failed (exit 137) before the dump was complete")
        .expect_stderr_contains("nothing was migrated");
    let migrated = dokku.calls()[before..]
        .iter()
        .any(|call| call.iter().any(|word| word == "migrate") && !call.iter().any(|word| word == "--dry-run"));
    assert!(!migrated, "migrate ran after a failed backup: {:?}", dokku.calls());
    assert_eq!(dumps_in(&project.path().join("backups")), Vec::<String>::new());

    let outcome = Outcome::of(
        project.command().args(["--env", "prod", "migrate", "--no-backup"]).stdin(std::process::Stdio::null()),
    );
    outcome.expect_code(3).expect_stderr_contains("was not confirmed");
    project
        .run(&["--env", "prod", "migrate", "--no-backup", "--yes"])
        .expect_code(0)
        .expect_stdout_contains("ran 0002_coach_notes");
    assert_eq!(logged_backup(&database, "0002_coach_notes").await, None);
    project
        .run(&["--env", "prod", "status"])
        .expect_code(0)
        .expect_stdout_contains("last backup  none recorded before 0002_coach_notes");
}

#[tokio::test]
async fn the_release_phase_dumps_into_its_storage_mount_with_the_real_pg_dump() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.file(
        "environments/prod.toml",
        "kind = \"production\"\n\n[database]\nwait = \"5s\"\n\n[backup]\nrelease_dir = \"mounted/backups\"\n",
    );
    // Not mounted: refused with the fix, nothing migrated, no folder made in the container.
    let unmounted =
        Outcome::of(project.command().args(["--env", "prod", "release"]).env("DATABASE_URL", &database.url));
    unmounted.expect_code(2).expect_stderr_contains("does not exist").expect_stderr_contains("dokku storage:mount");
    assert!(!project.path().join("mounted").exists());
    std::fs::create_dir_all(project.path().join("mounted/backups")).unwrap();
    let outcome = Outcome::of(project.command().args(["--env", "prod", "release"]).env("DATABASE_URL", &database.url));
    outcome
        .expect_code(0)
        .expect_stdout_contains("verified before migrating")
        .expect_stdout_contains("applied 2 migrations");
    let dumps = dumps_in(&project.path().join("mounted/backups"));
    assert_eq!(dumps.len(), 1, "{dumps:?}");
    assert!(dumps[0].starts_with("praxia-prod-") && dumps[0].ends_with("-empty.dump"), "{dumps:?}");
    assert!(pg_restore_list(&project.path().join("mounted/backups").join(&dumps[0])).contains("Dumped by pg_dump"));
    assert_eq!(logged_backup(&database, "0000_better_auth").await.unwrap()["file"], dumps[0]);
    // The no-op release Dokku re-runs on every config:set takes none.
    Outcome::of(project.command().args(["--env", "prod", "release"]).env("DATABASE_URL", &database.url)).expect_code(0);
    assert_eq!(dumps_in(&project.path().join("mounted/backups")).len(), 1);
}

#[test]
fn a_pg_dump_older_than_the_server_is_a_clear_error_and_nothing_is_migrated() {
    // This machine has one PostgreSQL; the mismatch is pg_dump's own words, from a
    // stand-in pg_dump that says what pg_dump 14 says to a 15 server.
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.file("environments/prod.toml", "kind = \"production\"\n\n[backup]\nrelease_dir = \"mounted\"\n");
    std::fs::create_dir_all(project.path().join("mounted")).unwrap();
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("pg_dump");
    std::fs::write(&fake, "#!/bin/sh\necho 'pg_dump: error: aborting because of server version mismatch' >&2\necho 'pg_dump: detail: server version: 15.18; pg_dump version: 14.11' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::copy(support_pg_restore(), bin.path().join("pg_restore")).unwrap();
    let outcome = Outcome::of(
        project
            .command()
            .args(["--env", "prod", "release"])
            .env("DATABASE_URL", &database.url)
            .env("PG_BIN", bin.path()),
    );
    outcome
        .expect_code(5)
        .expect_stderr_contains("server version mismatch")
        .expect_stderr_contains("postgresql-client-$POSTGRES_MAJOR");
    assert_eq!(files_in(&project.path().join("mounted")), Vec::<String>::new());
    let mut connection = Command::new("psql");
    let rows = connection
        .args(["-X", "-tA", &database.url, "-c", "SELECT to_regclass('drizzle.__drizzle_migrations') IS NULL"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&rows.stdout).trim(), "t", "nothing was migrated");
}

fn support_pg_restore() -> PathBuf {
    let output = Command::new("sh").args(["-c", "command -v pg_restore"]).output().unwrap();
    PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
}

#[test]
fn a_local_backup_with_verify_restore_drills_it_at_once() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    let document = project
        .run_on(&database, &["--env", "test", "--output", "json", "backup", "--verify-restore"])
        .expect_code(0)
        .json();
    let path = PathBuf::from(document["result"]["backup"]["path"].as_str().unwrap());
    assert!(path.starts_with(project.path().join("backups")), "{path:?}");
    assert!(path.file_name().unwrap().to_string_lossy().starts_with("praxia-test-"), "{path:?}");
    let drill = &document["result"]["restore_drill"];
    assert_eq!(drill["applied_migrations"], 2);
    assert_eq!(drill["tables"].as_array().unwrap().len(), 10, "{drill}");
    assert!(document["result"]["restore_commands"][0].as_str().unwrap().starts_with("pg_restore --clean --if-exists"));
}

#[tokio::test]
async fn a_dry_run_that_fails_in_the_container_is_not_nothing_pending() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = production_with_pending(&dokku, &database);
    project.file(
        "environments/prod.toml",
        &format!("kind = \"production\"\n\n[database]\nwait = \"1s\"\n\n{}", dokku.section(APP)),
    );
    // The container's status meets a database that does not answer (a restart, say).
    let wrapper = dokku.dir.join("bin/praxia-deploy");
    let real = std::fs::read_link(&wrapper).unwrap();
    std::fs::remove_file(&wrapper).unwrap();
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \" $* \" in *\" --dry-run \"*) export DATABASE_URL=postgres://nobody@127.0.0.1:1/none ;; esac\nexec {} \"$@\"\n",
            real.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let before = dokku.calls().len();
    project
        .run(&["--env", "prod", "migrate", "--yes"])
        .expect_code(7)
        .expect_stderr_contains("`migrate --dry-run` in the container: the database")
        .expect_stderr_contains("was not reachable")
        .expect_stderr_contains("nothing was migrated");
    assert_eq!(call_starts(&dokku)[before..], ["run migrate"], "only the dry run: no backup decision, no migrate");
}

#[test]
fn two_backups_in_the_same_second_are_both_kept() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    let children: Vec<std::process::Child> = (0..2)
        .map(|_| {
            project
                .on(&database)
                .args(["--env", "test", "-q", "backup"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(dumps_in(&project.path().join("backups")).len(), 2, "{:?}", files_in(&project.path().join("backups")));
}

#[tokio::test]
async fn the_drill_brings_back_partitions_and_names_with_spaces() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    execute(
        &database,
        "CREATE TABLE ev (id int, at date) PARTITION BY RANGE (at); \
         CREATE TABLE ev_2026 PARTITION OF ev FOR VALUES FROM ('2026-01-01') TO ('2027-01-01'); \
         INSERT INTO ev VALUES (1, '2026-06-01'); \
         CREATE SCHEMA \"My Schema\"; CREATE TABLE \"My Schema\".\"my table\" (x int); INSERT INTO \"My Schema\".\"my table\" VALUES (1), (2); \
         CREATE TABLE \"two  spaces\" (x int); INSERT INTO \"two  spaces\" VALUES (3);",
    )
    .await;
    let document = project
        .run_on(&database, &["--env", "test", "--output", "json", "backup", "--verify-restore"])
        .expect_code(0)
        .json();
    let tables = document["result"]["restore_drill"]["tables"].as_array().unwrap();
    let rows = |schema: &str, name: &str| {
        tables
            .iter()
            .find(|table| table["table"]["schema"] == schema && table["table"]["name"] == name)
            .map(|table| table["rows"].as_i64().unwrap())
    };
    assert_eq!(rows("My Schema", "my table"), Some(2), "{tables:?}");
    assert_eq!(rows("public", "ev_2026"), Some(1), "{tables:?}");
    assert_eq!(rows("public", "ev"), Some(1), "{tables:?}");
    assert_eq!(rows("public", "two  spaces"), Some(1), "{tables:?}");
}

#[test]
fn an_sslpassword_is_never_put_on_pg_dumps_command_line() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    let url = format!("{}&sslpassword=KeyPass1", database.url);
    let url = if url.contains('?') { url } else { url.replacen('&', "?", 1) };
    let outcome = Outcome::of(project.command().args(["--env", "test", "backup"]).env("DATABASE_URL", &url));
    outcome.expect_code(2).expect_stderr_contains("has an sslpassword");
    assert!(!outcome.stderr.contains("KeyPass1"), "{}", outcome.stderr);
}

#[tokio::test]
async fn a_migration_the_gate_refuses_costs_no_backup_over_ssh() {
    let dokku = TestDokku::start();
    let database = test_postgres().fresh_database();
    let project = production_with_pending(&dokku, &database);
    project.file("migrations/0002_coach_notes.sql", "ALTER TABLE \"organization\" DROP COLUMN \"slug\";");
    let before = dokku.calls().len();
    project
        .run(&["--env", "prod", "migrate", "--yes"])
        .expect_code(3)
        .expect_stderr_contains("the review gate of environment prod refuses")
        .expect_stderr_contains("no backup was taken");
    assert_eq!(call_starts(&dokku)[before..], ["run migrate"], "no export for a refused migration");
    assert_eq!(dumps_in(&project.path().join("backups")), Vec::<String>::new());
}

#[tokio::test]
async fn the_drill_runs_the_dumps_code_without_superuser_rights() {
    // A role without superuser rights wrote an index function that acts only when
    // it runs as a superuser: restored as one, the drill would run it with those rights.
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    let author = format!("author_{}", database.name);
    execute(
        &database,
        &format!(
            "CREATE ROLE {author}; GRANT CREATE ON SCHEMA public TO {author}; SET ROLE {author}; \
             CREATE FUNCTION probe(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ BEGIN \
               IF current_setting('is_superuser') = 'on' THEN RAISE EXCEPTION 'the dump ran as a superuser'; END IF; \
               RETURN x; END $$; \
             CREATE TABLE probed (x int); INSERT INTO probed VALUES (1), (2); CREATE INDEX probed_probe ON probed (probe(x)); \
             RESET ROLE; \
             CREATE EXTENSION IF NOT EXISTS vector; CREATE TABLE embedding (v vector(3)); INSERT INTO embedding VALUES ('[1,2,3]'); \
             CREATE SCHEMA ext; CREATE EXTENSION citext WITH SCHEMA ext; CREATE TABLE folded (v ext.citext); INSERT INTO folded VALUES ('A');"
        ),
    )
    .await;
    let document = project
        .run_on(&database, &["--env", "test", "--output", "json", "backup", "--verify-restore"])
        .expect_code(0)
        .json();
    let tables = document["result"]["restore_drill"]["tables"].as_array().unwrap();
    let rows = |name: &str| {
        tables.iter().find(|table| table["table"]["name"] == name).map(|table| table["rows"].as_i64().unwrap())
    };
    assert_eq!(rows("probed"), Some(2), "{tables:?}");
    assert_eq!(rows("embedding"), Some(1), "{tables:?}");
    // An extension in a schema of its own goes back there.
    assert_eq!(rows("folded"), Some(1), "{tables:?}");
}

#[tokio::test]
async fn the_dumps_code_cannot_reset_its_way_to_the_drills_superuser() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    let marker = std::env::temp_dir().join(format!("praxia-drill-escalated-{}", database.name));
    let _ = std::fs::remove_file(&marker);
    // A CHECK whose function leaves any SET ROLE and writes a file when it finds
    // itself a superuser inside a drill (never in the source database).
    execute(
        &database,
        &format!(
            "CREATE FUNCTION escape(x int) RETURNS bool LANGUAGE plpgsql VOLATILE AS $$ BEGIN \
               EXECUTE 'RESET ROLE'; \
               IF current_setting('is_superuser') = 'on' AND current_database() LIKE 'praxia_drill_%' THEN \
                 EXECUTE format('COPY (SELECT 1) TO %L', '{}'); END IF; \
               RETURN true; END $$; \
             CREATE TABLE checked (x int CHECK (escape(x))); INSERT INTO checked VALUES (1);",
            marker.display()
        ),
    )
    .await;
    project.run_on(&database, &["--env", "test", "backup", "--verify-restore"]).expect_code(0);
    assert!(!marker.exists(), "the dump's code ran as the drill's superuser and wrote {}", marker.display());
}
