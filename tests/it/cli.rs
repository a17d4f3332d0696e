//! The command line as a user meets it: help, environments, configuration errors,
//! redaction, JSON output and colour.

use clap::{CommandFactory, Parser};
use praxia_deploy::cli::Cli;

use crate::support::{Outcome, TestProject};

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
    // The limits of statements that wait without blocking the app are shown with the others.
    outcome
        .expect_stdout_contains("concurrent_lock_timeout 30m")
        .expect_stdout_contains("concurrent_statement_timeout 4h");
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
        .expect_stdout_contains("$STAGING_DATABASE_URL is not set here, which only the commands that run here need");
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

/// Every command and command group, as typed after `praxia-deploy` (the top level first).
fn every_command() -> Vec<Vec<String>> {
    fn walk(command: &clap::Command, path: &[String], found: &mut Vec<Vec<String>>) {
        for sub in command.get_subcommands().filter(|sub| sub.get_name() != "help") {
            let mut path = path.to_vec();
            path.push(sub.get_name().to_owned());
            found.push(path.clone());
            walk(sub, &path, found);
        }
    }
    let mut found = vec![Vec::new()];
    walk(&Cli::command(), &[], &mut found);
    found
}

/// The command line a user types for `path`.
fn shown(path: &[String]) -> String {
    std::iter::once("praxia-deploy").chain(path.iter().map(String::as_str)).collect::<Vec<_>>().join(" ")
}

/// `praxia-deploy <path> --help` as printed to a pipe, `COLUMNS` wide (unset: clap's own choice).
fn help(project: &TestProject, path: &[String], columns: Option<&str>) -> String {
    let mut command = project.command();
    command.args(path).arg("--help").env_remove("COLUMNS");
    if let Some(columns) = columns {
        command.env("COLUMNS", columns);
    }
    let outcome = Outcome::of(&mut command);
    outcome.expect_code(0);
    outcome.stdout
}

/// A help's section: the lines under `heading:` up to the next heading.
fn section<'h>(help: &'h str, heading: &str) -> Option<&'h str> {
    let start = help.find(&format!("\n{heading}:\n"))? + heading.len() + 3;
    let rest = &help[start..];
    let mut end = 0;
    for line in rest.split_inclusive('\n') {
        if !line.trim().is_empty() && !line.starts_with(' ') {
            break;
        }
        end += line.len();
    }
    Some(rest[..end].trim_end())
}

/// An example's praxia-deploy command line, split as a shell would: from `praxia-deploy`
/// to a pipe, a redirection or the end of a `$(...)`.
fn example_words(line: &str) -> Vec<String> {
    let start = line.find("praxia-deploy").expect("an example runs praxia-deploy");
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote = None;
    for c in line[start..].chars() {
        match (quote, c) {
            (None, '|' | '>' | ')') => break,
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_default();
            }
            (Some(open), c) if c == open => quote = None,
            (None, ' ') => words.extend(word.take()),
            (_, c) => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

/// The examples are printed as written, never re-wrapped at the terminal's width: each
/// command on a line of its own (two spaces in), what it does on the lines under it (six
/// spaces in), and each is a command line praxia-deploy accepts.
#[test]
fn every_example_is_a_whole_valid_command_line_at_any_width() {
    let project = TestProject::empty();
    for path in every_command() {
        let shown = shown(&path);
        let as_written = help(&project, &path, None);
        let examples = section(&as_written, "Examples").unwrap_or_else(|| panic!("`{shown}` has no examples"));
        for columns in ["30", "60", "80", "200"] {
            let narrow_or_wide = help(&project, &path, Some(columns));
            assert_eq!(section(&narrow_or_wide, "Examples"), Some(examples), "`{shown} --help` at COLUMNS={columns}");
        }
        for line in examples.lines() {
            if line.starts_with("      ") {
                continue;
            }
            assert!(line.starts_with("  ") && !line.starts_with("   "), "`{shown}`: mis-indented example {line:?}");
            let words = example_words(line);
            if let Err(err) = Cli::try_parse_from(&words) {
                panic!("`{shown}`: the example {line:?} is not a valid command line:\n{err}");
            }
        }
    }
}

#[test]
fn every_help_lists_the_commands_own_options_first_and_the_global_ones_under_their_own_heading() {
    let project = TestProject::empty();
    for path in every_command() {
        let shown = format!("{} --help", shown(&path));
        for columns in [None, Some("60")] {
            let help = help(&project, &path, columns);
            let own = section(&help, "Options").unwrap_or_else(|| panic!("`{shown}` has no options:\n{help}"));
            let global =
                section(&help, "Global options").unwrap_or_else(|| panic!("`{shown}` has no global options:\n{help}"));
            assert!(help.find("\nOptions:") < help.find("\nGlobal options:"), "{shown}:\n{help}");
            for flag in ["--output", "--verbose", "--quiet", "--no-progress", "--color"] {
                assert!(global.contains(flag) && !own.contains(flag), "{shown}: {flag}\n{help}");
            }
            for flag in ["--env", "--config-dir", "--database-url"] {
                assert!(!own.contains(flag), "{shown}: {flag} among the command's own options\n{help}");
            }
            assert!(own.contains("--help"), "{shown}:\n{help}");
        }
    }
    // What a command does not use, its help does not offer.
    for (path, absent) in [
        (&["doctor"][..], &["--database-url"][..]),
        (&["new"], &["--database-url"]),
        (&["completions"], &["--database-url", "--env", "--config-dir"]),
        (&["config", "check"], &["--database-url", "--env"]),
    ] {
        let path: Vec<String> = path.iter().map(|word| word.to_string()).collect();
        let help = help(&project, &path, None);
        for flag in absent {
            assert!(!help.contains(flag), "`{} --help` offers {flag}:\n{help}", shown(&path));
        }
    }
}

#[test]
fn a_global_flag_a_command_does_not_use_is_refused_before_or_after_it() {
    let project = TestProject::from_repo();
    let url = "postgres://u@127.0.0.1:1/x";
    for (before, command) in [
        (&["--database-url", url][..], &["doctor"][..]),
        (&["--database-url", url], &["new", "add_notes"]),
        (&["--database-url", url], &["completions", "bash"]),
        (&["--env", "staging"], &["completions", "bash"]),
        (&["--config-dir", "environments"], &["completions", "bash"]),
        (&["--env", "staging"], &["config", "check"]),
    ] {
        for args in [[before, command].concat(), [command, before].concat()] {
            project.run(&args).expect_code(2).expect_stderr_contains(&format!("unexpected argument '{}'", before[0]));
            let mut json = vec!["--output", "json"];
            json.extend(&args);
            let document = project.run(&json).expect_code(2).json();
            assert_eq!(document["error"]["kind"], "usage", "{args:?}");
        }
    }
    let written = std::fs::read_dir(project.path().join("migrations")).unwrap();
    assert!(!written.flatten().any(|entry| entry.file_name().to_string_lossy().contains("add_notes")), "`new` ran");
    // The variables are not flags: they stay harmless where they mean nothing.
    let outcome = Outcome::of(project.command().env("PRAXIA_ENV", "staging").args(["completions", "bash"]));
    outcome.expect_code(0).expect_stdout_contains("complete -F");
}

#[test]
fn database_url_still_works_before_and_after_the_commands_that_use_it() {
    let project = TestProject::from_repo();
    let url = "mysql://u:hunter2@h/d";
    for args in [
        &["--database-url", url, "config", "show"][..],
        &["config", "show", "--database-url", url],
        &["config", "--database-url", url, "show"],
        &["--database-url", url, "db", "psql"],
        &["db", "psql", "--database-url", url],
        &["--database-url", url, "status", "--local"],
        &["status", "--database-url", url],
    ] {
        // The URL was taken: it is the one refused for its scheme.
        project.run(args).expect_code(2).expect_stderr_contains("scheme `mysql`");
    }
}
