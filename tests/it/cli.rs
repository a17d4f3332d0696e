//! The command line as a user meets it: help, environments, configuration errors,
//! redaction, JSON output and colour.

use crate::support::TestProject;

const STAGING_WITH_DOKKU: &str = r#"kind = "staging"

[database]
url_env = "STAGING_DATABASE_URL"

[dokku]
host = "fenrir"
app = "praxia-coaching-app-backend-staging"
"#;

#[test]
fn help_lists_every_exit_code_and_the_commands() {
    let project = TestProject::from_repo();
    let outcome = project.run(&["--help"]);
    outcome.expect_code(0).expect_stdout_contains("Exit codes:");
    for code in 0..=9 {
        outcome.expect_stdout_contains(&format!("\n  {code}  "));
    }
    outcome.expect_stdout_contains("db").expect_stdout_contains("config");
    project.run(&["db", "--help"]).expect_code(0).expect_stdout_contains("praxia-deploy db start");
}

#[test]
fn version_prints_the_crate_version() {
    TestProject::from_repo()
        .run(&["--version"])
        .expect_code(0)
        .expect_stdout_contains(&format!("praxia-deploy {}", env!("CARGO_PKG_VERSION")));
}

#[test]
fn an_unknown_environment_exits_2_and_lists_the_ones_found() {
    let project = TestProject::from_repo();
    for command in [&["config", "show"][..], &["db", "start"], &["db", "url"], &["db", "status"]] {
        let mut args = vec!["--env", "nope"];
        args.extend_from_slice(command);
        project
            .run(&args)
            .expect_code(2)
            .expect_stderr_contains("unknown environment `nope`")
            .expect_stderr_contains("environments found: development, production, staging, test");
    }
    assert!(!project.path().join(".praxia").exists(), "a refused command created the local database folder");
}

#[test]
fn config_show_of_an_environment_behind_dokku_says_the_database_is_the_apps() {
    let project = TestProject::from_repo();
    let outcome = project.run(&["--env", "staging", "config", "show"]);
    outcome.expect_code(0).expect_stdout_contains(
        "database:    the Dokku app's own (migrate, status, plan, seed and drift run there over SSH)",
    );
    assert!(!outcome.stdout.contains("exit 2"), "staging's database commands do not exit 2:\n{}", outcome.stdout);
    let document = project.run(&["--env", "staging", "--output", "json", "config", "show"]).expect_code(0).json();
    assert_eq!(document["result"]["database"]["target"]["over_ssh"], true);
    // Without [dokku], a missing URL is what it was.
    project.file("environments/qa.toml", "kind = \"staging\"\n");
    project
        .run(&["--env", "qa", "config", "show"])
        .expect_code(0)
        .expect_stdout_contains("(commands that need the database exit 2)");
}

#[test]
fn praxia_env_selects_the_environment_and_the_flag_overrides_it() {
    let project = TestProject::from_repo();
    let outcome = project.command().env("PRAXIA_ENV", "staging").args(["config", "show"]).output().unwrap();
    assert!(String::from_utf8_lossy(&outcome.stdout).contains("environment: staging (staging)"));
    let outcome =
        project.command().env("PRAXIA_ENV", "nope").args(["--env", "test", "config", "show"]).output().unwrap();
    assert!(String::from_utf8_lossy(&outcome.stdout).contains("environment: test (test)"));
}

#[test]
fn a_typo_in_a_config_key_exits_2_naming_file_line_column_and_key() {
    let project = TestProject::empty();
    project
        .file("environments/staging.toml", "kind = \"staging\"\n\n[database]\nwait = \"60s\"\nlock_timout = \"5s\"\n");
    let outcome = project.run(&["--env", "staging", "config", "show"]);
    outcome
        .expect_code(2)
        .expect_stderr_contains("environments/staging.toml:5:1: key `database.lock_timout`")
        .expect_stderr_contains("unknown field `lock_timout`")
        .expect_stderr_contains("expected one of");
}

#[test]
fn config_check_reports_every_invalid_file() {
    let project = TestProject::from_repo();
    project.file("environments/qa.toml", "kind = \"qa\"\n");
    project.file("environments/preview.toml", "kind = \"staging\"\n[database]\nwait = \"soon\"\n");
    let outcome = project.run(&["config", "check"]);
    outcome
        .expect_code(2)
        .expect_stderr_contains("2 of 6 environment files are invalid")
        .expect_stderr_contains("qa.toml:1:8: key `kind`")
        .expect_stderr_contains("preview.toml:3:8: key `database.wait`");

    TestProject::from_repo()
        .run(&["config", "check"])
        .expect_code(0)
        .expect_stdout_contains("ok  staging (staging), Dokku app praxia-coaching-app-backend-staging on fenrir");
}

#[test]
fn config_check_reports_a_broken_or_missing_default_environment_too() {
    let project = TestProject::from_repo();
    project.file("environments/development.toml", "kind = \"development\"\n[database\n");
    project
        .run(&["config", "check"])
        .expect_code(2)
        .expect_stderr_contains("1 of 4 environment files are invalid")
        .expect_stderr_contains("development.toml:2:");
    std::fs::remove_file(project.path().join("environments/development.toml")).unwrap();
    project.run(&["config", "check"]).expect_code(0).expect_stdout_contains("ok  production (production)");
}

#[test]
fn completions_come_from_clap_for_each_shell() {
    let project = TestProject::empty();
    for (shell, marker) in
        [("bash", "complete -F"), ("zsh", "#compdef praxia-deploy"), ("fish", "complete -c praxia-deploy")]
    {
        project
            .run(&["completions", shell])
            .expect_code(0)
            .expect_stdout_contains(marker)
            .expect_stdout_contains("migrate");
    }
    project.run(&["completions", "tcsh"]).expect_code(2);
}

#[test]
fn the_shipped_environments_describe_the_real_dokku_setup() {
    let project = TestProject::from_repo();
    for (env, app) in
        [("staging", "praxia-coaching-app-backend-staging"), ("production", "praxia-coaching-app-backend-production")]
    {
        let document = project.run(&["--env", env, "--output", "json", "config", "show"]).expect_code(0).json();
        let dokku = &document["result"]["dokku"];
        assert_eq!(dokku["host"], "fenrir", "{env}");
        assert_eq!(dokku["app"], app, "{env}");
        assert_eq!(dokku["user"], "dokku", "{env}");
        assert_eq!(document["result"]["kind"], env);
    }
}

#[test]
fn a_database_password_is_never_printed() {
    let project = TestProject::empty();
    project.file("environments/staging.toml", STAGING_WITH_DOKKU);
    let url = "postgres://postgres:0123456789abcdef0123456789abcdef@dokku-postgres-praxia:5432/praxia";
    for args in [&["config", "show"][..], &["--output", "json", "config", "show"], &["-vv", "config", "show"]] {
        let mut all = vec!["--env", "staging"];
        all.extend_from_slice(args);
        let outcome = crate::support::Outcome::of(project.command().env("STAGING_DATABASE_URL", url).args(&all));
        outcome.expect_code(0).expect_stdout_contains("postgres:***@dokku-postgres-praxia:5432/praxia");
        assert!(!outcome.stdout.contains("0123456789abcdef") && !outcome.stderr.contains("0123456789abcdef"));
    }
    for (url, scheme) in [("mysql://u:hunter2@h/d", "mysql"), ("x:postgres://u:hunter2@h/d", "x")] {
        let outcome = project.run(&["--env", "staging", "--database-url", url, "config", "show"]);
        outcome.expect_code(2).expect_stderr_contains(&format!("scheme `{scheme}`"));
        assert!(!outcome.stderr.contains("hunter2") && !outcome.stdout.contains("hunter2"), "{}", outcome.stderr);
    }
}

#[test]
fn staging_without_a_database_url_exits_2_naming_the_variable() {
    let project = TestProject::empty();
    project.file("environments/staging.toml", STAGING_WITH_DOKKU);
    project
        .run(&["--env", "staging", "db", "psql"])
        .expect_code(2)
        .expect_stderr_contains("no database URL for the staging environment `staging`")
        .expect_stderr_contains("$STAGING_DATABASE_URL");
    project
        .run(&["--env", "staging", "config", "show"])
        .expect_code(0)
        .expect_stdout_contains("not set: $STAGING_DATABASE_URL");
}

#[test]
fn json_output_is_one_document_on_success_and_on_failure() {
    let project = TestProject::from_repo();
    let document = project.run(&["--output", "json", "config", "check"]).expect_code(0).json();
    assert_eq!(document["ok"], true);
    assert_eq!(document["command"], "config check");
    assert_eq!(document["result"]["environments"].as_array().unwrap().len(), 4);

    let outcome = project.run(&["--output", "json", "--env", "nope", "config", "show"]);
    let document = outcome.expect_code(2).json();
    assert_eq!(document["ok"], false);
    assert_eq!(document["error"]["kind"], "usage");
    assert_eq!(document["error"]["exit_code"], 2);
    assert!(document["error"]["message"].as_str().unwrap().contains("unknown environment"));

    let document = project.run(&["--output", "json", "db", "frobnicate"]).expect_code(2).json();
    assert_eq!(document["ok"], false);
    assert!(document["error"]["message"].as_str().unwrap().contains("frobnicate"), "{document}");
}

#[test]
fn the_project_is_found_from_a_subfolder_or_through_config_dir() {
    let project = TestProject::from_repo();
    std::fs::create_dir_all(project.path().join("src/deep")).unwrap();
    let outcome = crate::support::Outcome::of(
        project.command().current_dir(project.path().join("src/deep")).args(["config", "show"]),
    );
    outcome.expect_code(0).expect_stdout_contains(&format!("{}/migrations", project.path().display()));

    let elsewhere = tempfile::tempdir().unwrap();
    let run_elsewhere =
        |extra: &mut std::process::Command| crate::support::Outcome::of(extra.current_dir(elsewhere.path()));
    run_elsewhere(project.command().args(["config", "show"]))
        .expect_code(2)
        .expect_stderr_contains("no `environments/` folder");
    run_elsewhere(
        project.command().arg("--config-dir").arg(project.path().join("environments")).args(["config", "show"]),
    )
    .expect_code(0);
    run_elsewhere(
        project.command().env("PRAXIA_CONFIG_DIR", project.path().join("environments")).args(["config", "show"]),
    )
    .expect_code(0);
}

#[test]
fn errors_are_coloured_only_when_asked_or_on_a_terminal() {
    let project = TestProject::from_repo();
    let piped = project.run(&["--env", "nope", "config", "show"]);
    assert!(piped.stderr.starts_with("error: unknown environment"), "{}", piped.stderr);
    assert!(!piped.stderr.contains('\x1b'));
    let forced = project.run(&["--color", "always", "--env", "nope", "config", "show"]);
    assert!(forced.stderr.contains("\x1b[1;31merror\x1b[0m"), "{}", forced.stderr);
    let never = crate::support::Outcome::of(
        project.command().env("NO_COLOR", "1").args(["--color", "never", "--env", "nope", "config", "show"]),
    );
    assert!(!never.stderr.contains('\x1b'));
}
