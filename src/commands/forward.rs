//! Where a command runs, and the command line it runs with inside the Dokku
//! container. Pure: decided from the parsed command line and the environment.

use crate::cli::{ApplyArgs, Command, GlobalArgs, RemoteArgs, WaitArgs};
use crate::config::DokkuSettings;
use crate::error::{Error, Result};
use crate::output::OutputFormat;

#[derive(Debug, Clone, Copy)]
pub enum Location<'a> {
    Local,
    Remote(&'a DokkuSettings),
}

/// `--local` wins, `--remote` needs a `[dokku]` section, and otherwise the section decides.
pub fn location<'a>(environment: &str, dokku: Option<&'a DokkuSettings>, flags: &RemoteArgs) -> Result<Location<'a>> {
    if flags.local {
        return Ok(Location::Local);
    }
    match (dokku, flags.remote) {
        (Some(dokku), _) => Ok(Location::Remote(dokku)),
        (None, true) => Err(Error::usage(format!("--remote needs a [dokku] section in the {environment} environment"))
            .help("add [dokku] with host and app to the environment file, or drop --remote")),
        (None, false) => Ok(Location::Local),
    }
}

/// The praxia-deploy command line for the container: the same command and flags,
/// `--local` so that it runs there, and the output settings; never `--env`
/// (Dokku gets it as a variable), `--database-url` (the app has its own),
/// `--config-dir` (the image has its own), `--color` (no terminal there) or `--yes`.
/// Every other flag is forwarded: a test sets each flag clap knows and checks
/// that the container parses the same command line back.
pub fn container_arguments(command: &Command, global: &GlobalArgs) -> Vec<String> {
    let mut arguments = vec![command.name().to_owned(), "--local".to_owned()];
    match command {
        Command::Migrate { apply, dry_run, no_backup, after_backup, .. } => {
            flag(&mut arguments, "--dry-run", *dry_run);
            flag(&mut arguments, "--no-backup", *no_backup);
            value(&mut arguments, "--after-backup", after_backup.as_ref());
            apply_arguments(&mut arguments, apply);
        }
        Command::Contract { apply, no_wait, abandon, .. } => {
            flag(&mut arguments, "--no-wait", *no_wait);
            value(&mut arguments, "--abandon", abandon.as_ref());
            apply_arguments(&mut arguments, apply);
        }
        Command::Status { wait, exit_code, .. } => {
            flag(&mut arguments, "--exit-code", *exit_code);
            wait_arguments(&mut arguments, wait);
        }
        Command::Plan { wait, allow_out_of_order, .. } => {
            flag(&mut arguments, "--allow-out-of-order", *allow_out_of_order);
            wait_arguments(&mut arguments, wait);
        }
        Command::Seed { wait, scale, .. } => {
            value(&mut arguments, "--scale", scale.as_ref());
            wait_arguments(&mut arguments, wait);
        }
        _ => {}
    }
    if global.output != OutputFormat::Human {
        let format = clap::ValueEnum::to_possible_value(&global.output).map(|value| value.get_name().to_owned());
        value(&mut arguments, "--output", format.as_ref());
    }
    flag(&mut arguments, "-q", global.quiet);
    if global.verbose > 0 {
        arguments.push(format!("-{}", "v".repeat(usize::from(global.verbose))));
    }
    flag(&mut arguments, "--no-progress", global.no_progress);
    arguments
}

fn apply_arguments(arguments: &mut Vec<String>, apply: &ApplyArgs) {
    flag(arguments, "--allow-out-of-order", apply.allow_out_of_order);
    value(arguments, "--lock-wait", apply.lock_wait.as_ref());
    value(arguments, "--batch-size", apply.batch_size.as_ref());
    wait_arguments(arguments, &apply.wait);
}

fn wait_arguments(arguments: &mut Vec<String>, wait: &WaitArgs) {
    value(arguments, "--wait", wait.wait.as_ref());
}

fn flag(arguments: &mut Vec<String>, name: &str, set: bool) {
    if set {
        arguments.push(name.to_owned());
    }
}

fn value(arguments: &mut Vec<String>, name: &str, value: Option<&impl std::fmt::Display>) {
    if let Some(value) = value {
        arguments.push(name.to_owned());
        arguments.push(value.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> crate::cli::Cli {
        crate::cli::Cli::try_parse_from(std::iter::once("praxia-deploy").chain(args.iter().copied())).unwrap()
    }

    fn remote_flags(cli: &crate::cli::Cli) -> RemoteArgs {
        cli.command.remote_args().cloned().unwrap_or_default()
    }

    #[test]
    fn the_dokku_section_decides_unless_a_flag_does() {
        let dokku: DokkuSettings =
            toml::from_str("host = \"fenrir\"\napp = \"praxia\"\n").expect("a minimal [dokku] section");
        let cases = [
            (Some(&dokku), vec!["migrate"], Some(true)),
            (Some(&dokku), vec!["migrate", "--local"], Some(false)),
            (None, vec!["migrate"], Some(false)),
            (None, vec!["migrate", "--remote"], None),
            (Some(&dokku), vec!["status", "--remote"], Some(true)),
        ];
        for (section, args, expected_remote) in cases {
            let cli = parse(&args);
            let decided = location("staging", section, &remote_flags(&cli));
            match expected_remote {
                Some(remote) => assert_eq!(matches!(decided.unwrap(), Location::Remote(_)), remote, "{args:?}"),
                None => assert_eq!(decided.unwrap_err().exit_code(), 2, "{args:?}"),
            }
        }
    }

    #[test]
    fn the_container_runs_the_same_command_locally() {
        let cases: [(&[&str], &[&str]); 5] = [
            (&["migrate"], &["migrate", "--local"]),
            (
                &["--env", "staging", "--output", "json", "-vv", "migrate", "--dry-run", "--lock-wait", "90s", "--yes"],
                &["migrate", "--local", "--dry-run", "--lock-wait", "1m 30s", "--output", "json", "-vv"],
            ),
            (&["status", "--exit-code", "--wait", "5s"], &["status", "--local", "--exit-code", "--wait", "5s"]),
            (&["plan", "--allow-out-of-order", "-q"], &["plan", "--local", "--allow-out-of-order", "-q"]),
            (&["seed", "--scale", "10", "--no-progress"], &["seed", "--local", "--scale", "10", "--no-progress"]),
        ];
        for (args, expected) in cases {
            let cli = parse(args);
            assert_eq!(container_arguments(&cli.command, &cli.global), expected, "{args:?}");
        }
    }

    /// Every flag clap knows, on every command that can run remotely, comes back
    /// the same when the container parses what it is sent: a new flag cannot be
    /// dropped on remote runs without this test failing.
    #[test]
    fn every_flag_survives_the_trip_to_the_container() {
        use clap::CommandFactory;
        let definition = crate::cli::Cli::command();
        // Not forwarded on purpose (see container_arguments), or where it runs.
        let local_only = ["env", "config_dir", "database_url", "color", "yes", "local", "remote", "help", "version"];
        let mut checked = 0;
        for name in ["migrate", "contract", "status", "plan", "seed"] {
            let subcommand = definition.find_subcommand(name).expect("a remote command");
            let arguments = subcommand.get_arguments().chain(definition.get_arguments());
            for argument in arguments.filter(|argument| !local_only.contains(&argument.get_id().as_str())) {
                let long = format!("--{}", argument.get_long().expect("every flag has a long name"));
                let mut line = vec![name.to_owned(), long];
                if argument.get_action().takes_values() {
                    line.push(sample_value(argument));
                }
                let borrowed: Vec<&str> = line.iter().map(String::as_str).collect();
                let sent = parse(&borrowed);
                let forwarded = container_arguments(&sent.command, &sent.global);
                let borrowed: Vec<&str> = forwarded.iter().map(String::as_str).collect();
                let received = parse(&borrowed);
                assert_eq!(normalized(&received), normalized(&sent), "{line:?} was sent as {forwarded:?}");
                checked += 1;
            }
        }
        assert!(checked >= 15, "only {checked} flags checked");
    }

    /// A valid value for a flag that takes one.
    fn sample_value(argument: &clap::Arg) -> String {
        if let Some(possible) = argument.get_possible_values().last() {
            return possible.get_name().to_owned();
        }
        match argument.get_value_names().and_then(|names| names.first()).map(|name| name.as_str()) {
            Some("DURATION") => "1m 30s".to_owned(),
            Some("N") => "7".to_owned(),
            Some("TAG") => "0007_drop_legacy".to_owned(),
            Some("RECORD") => {
                format!("praxia-20261201T112505Z-0001_a.dump,4096,{},2026-12-01T11:25:05Z", "ab".repeat(32))
            }
            other => panic!("no sample value for --{} ({other:?}): add one here", argument.get_id()),
        }
    }

    /// The command line without what is deliberately not forwarded.
    fn normalized(cli: &crate::cli::Cli) -> String {
        let mut global = cli.global.clone();
        global.env = String::new();
        global.config_dir = None;
        global.database_url = None;
        global.color = crate::output::ColorChoice::Auto;
        let command = format!("{:?}", cli.command);
        let command = regex_free_strip(&command, &["local: ", "remote: ", "yes: "]);
        format!("{global:?} {command}")
    }

    /// `name: true`/`name: false` pairs turned into `name: _`.
    fn regex_free_strip(text: &str, names: &[&str]) -> String {
        let mut text = text.to_owned();
        for name in names {
            for value in ["true", "false"] {
                text = text.replace(&format!("{name}{value}"), &format!("{name}_"));
            }
        }
        text
    }
}
