//! Backups: `dokku postgres:export` through a real sshd into a verified,
//! rotated file; the failure paths, each leaving nothing behind; the restore
//! drill; the real `pg_restore` reading what was written.

mod support;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use support::sshd::TestDokku;
use support::{Outcome, TestDatabase, TestProject, test_postgres};

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
    assert_eq!(backup["record"]["sha256"], hex::encode(Sha256::digest(&bytes)));
    let checksum = std::fs::read_to_string(backups.join(format!("{name}.sha256"))).unwrap();
    assert_eq!(checksum, format!("{}  {name}\n", hex::encode(Sha256::digest(&bytes))));
    assert!(pg_restore_list(&file).contains("TABLE public organization_user"));
    assert_eq!(document["result"]["service"], SERVICE);
    let restore = document["result"]["restore_commands"].as_array().unwrap();
    assert_eq!(restore[0], format!("dokku postgres:import {SERVICE} < {}", file.display()));
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
    // The process may write 8 KiB per file: the dump is bigger. SIGXFSZ ignored,
    // so the write fails with EFBIG as a full disk fails with ENOSPC.
    let mut command = project.on(&database);
    command.args(["--env", "test", "backup"]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit { rlim_cur: 8192, rlim_max: 8192 };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    Outcome::of(&mut command)
        .expect_code(5)
        .expect_stderr_contains("could not write the backup")
        .expect_stderr_contains("the file grew past the size this process may write")
        .expect_stderr_contains("the partial file was removed");
    assert_eq!(files_in(&project.path().join("backups")), Vec::<String>::new());
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
