//! Where a command runs, and the command line it runs with inside the Dokku
//! container. Pure: decided from the parsed command line and the environment.

use crate::cli::{Command, GlobalArgs, RemoteArgs};
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
/// (Dokku gets it as a variable), `--database-url` (the app has its own) or `--yes`.
pub fn container_arguments(command: &Command, global: &GlobalArgs) -> Vec<String> {
    let mut arguments = vec![command.name().to_owned(), "--local".to_owned()];
    let mut push = |flag: &str, value: Option<String>| {
        arguments.push(flag.to_owned());
        arguments.extend(value);
    };
    match command {
        Command::Migrate { apply, dry_run, .. } => {
            if *dry_run {
                push("--dry-run", None);
            }
            if apply.allow_out_of_order {
                push("--allow-out-of-order", None);
            }
            if let Some(lock_wait) = apply.lock_wait {
                push("--lock-wait", Some(lock_wait.to_string()));
            }
            if let Some(wait) = apply.wait.wait {
                push("--wait", Some(wait.to_string()));
            }
        }
        Command::Status { wait, exit_code, .. } => {
            if *exit_code {
                push("--exit-code", None);
            }
            if let Some(wait) = wait.wait {
                push("--wait", Some(wait.to_string()));
            }
        }
        Command::Plan { wait, allow_out_of_order, .. } => {
            if *allow_out_of_order {
                push("--allow-out-of-order", None);
            }
            if let Some(wait) = wait.wait {
                push("--wait", Some(wait.to_string()));
            }
        }
        Command::Seed { wait, scale, .. } => {
            if let Some(scale) = scale {
                push("--scale", Some(scale.to_string()));
            }
            if let Some(wait) = wait.wait {
                push("--wait", Some(wait.to_string()));
            }
        }
        _ => {}
    }
    if global.output == OutputFormat::Json {
        push("--output", Some("json".to_owned()));
    }
    if global.quiet {
        push("-q", None);
    }
    if global.verbose > 0 {
        push(&format!("-{}", "v".repeat(usize::from(global.verbose))), None);
    }
    if global.no_progress {
        push("--no-progress", None);
    }
    arguments
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
}
