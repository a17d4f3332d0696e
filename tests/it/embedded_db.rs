//! `db start | stop | status | url | psql`: the embedded development PostgreSQL,
//! run for real, as the current user and as an unprivileged one.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use crate::support::{Outcome, TestProject, test_postgres};

fn running_as_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The user story of the issue: start twice, read the URL, use it, stop, keep the data.
fn start_twice_url_stop(project: &TestProject, run: &dyn Fn(&[&str]) -> Outcome) {
    let first = run(&["--output", "json", "db", "start"]).expect_code(0).json();
    assert_eq!(first["result"]["initialised"], true);
    assert_eq!(first["result"]["already_running"], false);
    assert_eq!(first["result"]["database"], "praxia_development");

    let second = run(&["--output", "json", "db", "start"]).expect_code(0).json();
    assert_eq!(second["result"]["initialised"], false);
    assert_eq!(second["result"]["already_running"], true);
    assert_eq!(second["result"]["url"], first["result"]["url"]);

    let url = run(&["db", "url"]).expect_code(0).stdout.trim().to_owned();
    assert_eq!(url, first["result"]["url"].as_str().unwrap());
    assert!(url.starts_with("postgres://postgres@127.0.0.1:") && url.ends_with("/praxia_development?sslmode=disable"));

    // psql accepts the URL, and the unix socket inside the folder answers too.
    psql(&url, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('still here')");
    let status = run(&["--output", "json", "db", "status"]).expect_code(0).json();
    assert_eq!(status["result"]["running"], true);
    let socket_dir = status["result"]["socket_dir"].as_str().unwrap().to_owned();
    assert!(socket_dir.starts_with(project.path().to_str().unwrap()));
    let port = status["result"]["port"].to_string();
    let over_socket = Command::new("psql")
        .args([
            "-X",
            "-tA",
            "-h",
            &socket_dir,
            "-p",
            &port,
            "-U",
            "postgres",
            "-d",
            "praxia_development",
            "-c",
            "select note from kept",
        ])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&over_socket.stdout).trim(), "still here", "{over_socket:?}");

    run(&["db", "stop"]).expect_code(0).expect_stdout_contains("stopped");
    run(&["db", "stop"]).expect_code(0).expect_stdout_contains("was not running");
    let status = run(&["--output", "json", "db", "status"]).expect_code(0).json();
    assert_eq!(status["result"]["running"], false);
    assert_eq!(status["result"]["initialised"], true);

    run(&["db", "start"]).expect_code(0).expect_stdout_contains("started");
    assert_eq!(psql(&url, "select note from kept"), "still here", "db stop must keep the data");
    run(&["db", "stop"]).expect_code(0);
}

fn psql(url: &str, sql: &str) -> String {
    let output = Command::new("psql").args(["-X", "-tA", "-v", "ON_ERROR_STOP=1", url, "-c", sql]).output().unwrap();
    assert!(output.status.success(), "psql failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn db_start_twice_then_url_then_stop_as_the_current_user() {
    let project = TestProject::from_repo();
    start_twice_url_stop(&project, &|args| project.run(args));
}

/// As root this runs the binary as the unprivileged `postgres` user; as a normal user,
/// the current user already is one.
#[test]
fn db_start_twice_then_url_then_stop_as_an_unprivileged_user() {
    let project = TestProject::from_repo();
    if !running_as_root() {
        start_twice_url_stop(&project, &|args| project.run(args));
        return;
    }
    // The binary may live under a folder `postgres` cannot enter (/root/...): copy it.
    let binary = project.path().join("praxia-deploy");
    std::fs::copy(env!("CARGO_BIN_EXE_praxia-deploy"), &binary).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();
    let chown = Command::new("chown").args(["-R", "postgres:"]).arg(project.path()).status().unwrap();
    assert!(chown.success());
    start_twice_url_stop(&project, &|args| {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(&binary).args(args).current_dir(project.path());
        for variable in crate::support::project::LEAKY_VARIABLES {
            command.env_remove(variable);
        }
        Outcome::of(&mut command)
    });
}

#[test]
fn each_environment_gets_its_own_database_in_the_cluster() {
    let project = TestProject::from_repo();
    let development = project.run(&["db", "start"]).expect_code(0).stdout.clone();
    project
        .run(&["--env", "test", "db", "start"])
        .expect_code(0)
        .expect_stdout_contains("created database praxia_test");
    assert!(development.contains("/praxia_development"));
    let url = project.run(&["--env", "test", "db", "url"]).expect_code(0).stdout.trim().to_owned();
    assert_eq!(psql(&url, "select current_database()"), "praxia_test");
}

#[test]
fn a_development_command_without_a_url_starts_the_embedded_database_itself() {
    let project = TestProject::from_repo();
    let outcome = project.run(&["db", "psql", "--", "-tAc", "select current_database()"]);
    outcome.expect_code(0).expect_stderr_contains("started the embedded development PostgreSQL");
    assert_eq!(outcome.stdout.trim(), "praxia_development");
    let status = project.run(&["--output", "json", "db", "status"]).expect_code(0).json();
    assert_eq!(status["result"]["running"], true);
}

#[test]
fn a_given_database_url_wins_over_the_embedded_database() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    let outcome = Outcome::of(project.command().env("DATABASE_URL", &database.url).args([
        "db",
        "psql",
        "--",
        "-tAc",
        "select current_database()",
    ]));
    outcome.expect_code(0);
    assert_eq!(outcome.stdout.trim(), database.name);
    assert!(!project.path().join(".praxia").exists(), "the embedded database was started anyway");
}

#[test]
fn psql_passes_on_its_exit_status() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    let outcome = project.run(&[
        "--database-url",
        &database.url,
        "db",
        "psql",
        "--",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        "select nope",
    ]);
    outcome.expect_code(1).expect_stderr_contains("column \"nope\" does not exist");
}

#[test]
fn staging_and_production_have_no_embedded_database() {
    let project = TestProject::from_repo();
    for env in ["staging", "production"] {
        project
            .run(&["--env", env, "db", "start"])
            .expect_code(2)
            .expect_stderr_contains("the embedded database serves development and test environments");
    }
    assert!(!project.path().join(".praxia").exists());
}

#[test]
fn db_url_before_db_start_says_how_to_create_it() {
    let project = TestProject::from_repo();
    project
        .run(&["db", "url"])
        .expect_code(2)
        .expect_stderr_contains("there is no development database")
        .expect_stderr_contains("praxia-deploy db start");
}

#[test]
fn a_port_taken_while_stopped_moves_the_cluster_to_a_free_one() {
    let project = TestProject::from_repo();
    project.run(&["db", "start"]).expect_code(0);
    let status = project.run(&["--output", "json", "db", "status"]).expect_code(0).json();
    let old_port = status["result"]["port"].as_u64().unwrap() as u16;
    project.run(&["db", "stop"]).expect_code(0);

    let _squatter = std::net::TcpListener::bind(("127.0.0.1", old_port)).expect("the stopped cluster's port is free");
    project.run(&["db", "start"]).expect_code(0).expect_stdout_contains("started");
    let url = project.run(&["db", "url"]).expect_code(0).stdout.trim().to_owned();
    assert!(!url.contains(&format!(":{old_port}/")), "{url}");
    assert_eq!(psql(&url, "select 1"), "1");
}
