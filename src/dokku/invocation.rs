//! What is sent to Dokku over SSH, and the rules each argument must pass first.
//! Dokku re-splits the command string with `xargs -n 1` (which honours quotes but
//! runs `echo` on every word) and scans every word for its own global flags. Pure.

/// Dokku's global flags: it takes them from anywhere in the command line, even
/// after the app name, so the in-container command must never contain them.
const DOKKU_GLOBAL_FLAGS: [&str; 4] = ["--app", "--quiet", "--trace", "--force"];

/// Why an argument cannot be sent through Dokku intact, if it cannot.
pub fn check_argument(argument: &str) -> Result<(), String> {
    if argument.is_empty() {
        return Err("an empty argument vanishes in Dokku's re-split".to_owned());
    }
    if argument.contains(['\n', '\r']) {
        return Err(format!("{argument:?} holds a line break, which Dokku cuts the command at"));
    }
    let echo_option =
        argument.len() > 1 && argument.starts_with('-') && argument[1..].chars().all(|c| matches!(c, 'n' | 'e' | 'E'));
    if echo_option || argument == "--help" || argument == "--version" {
        return Err(format!("`{argument}` is eaten by the `echo` in Dokku's re-split"));
    }
    let flag = argument.split('=').next().unwrap_or(argument);
    if DOKKU_GLOBAL_FLAGS.contains(&flag) {
        return Err(format!("`{argument}` is one of Dokku's own global flags, which it takes from anywhere"));
    }
    Ok(())
}

/// A Dokku command line whose every word of ours passed `check_argument`: built
/// only by `DokkuCommand::new` and `run_arguments`, so nothing unchecked reaches
/// the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DokkuCommand(Vec<String>);

impl DokkuCommand {
    /// `words`, each checked.
    pub fn new(words: &[&str]) -> Result<DokkuCommand, String> {
        for word in words {
            check_argument(word)?;
        }
        Ok(DokkuCommand(words.iter().map(|word| (*word).to_owned()).collect()))
    }

    pub fn words(&self) -> &[String] {
        &self.0
    }
}

/// `--quiet run --no-tty --env=PRAXIA_ENV=<env> <app> praxia-deploy <args...>`:
/// Dokku's flags before the app, and the environment passed as a variable so that
/// nothing after the app is mistaken for Dokku's.
pub fn run_arguments(environment: &str, app: &str, praxia_arguments: &[String]) -> Result<DokkuCommand, String> {
    for argument in praxia_arguments.iter().map(String::as_str).chain([environment, app]) {
        check_argument(argument)?;
    }
    if environment.contains(char::is_whitespace) {
        return Err(format!("the environment name {environment:?} has a space, which `--env=` cannot carry"));
    }
    let mut arguments = vec![
        "--quiet".to_owned(),
        "run".to_owned(),
        "--no-tty".to_owned(),
        format!("--env=PRAXIA_ENV={environment}"),
        app.to_owned(),
        "praxia-deploy".to_owned(),
    ];
    arguments.extend(praxia_arguments.iter().cloned());
    Ok(DokkuCommand(arguments))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_dokku_would_mangle_are_refused() {
        let refused = [
            "",
            "line\nbreak",
            "-n",
            "-e",
            "-E",
            "-ne",
            "-nEe",
            "--help",
            "--version",
            "--app",
            "--app=x",
            "--quiet",
            "--trace",
            "--force",
        ];
        for argument in refused {
            assert!(check_argument(argument).is_err(), "{argument:?} was accepted");
        }
        let accepted = [
            "-v",
            "-q",
            "--local",
            "--output",
            "json",
            "1min 30s",
            "it's \"quoted\"",
            "--no-progress",
            "-",
            "-x",
            "--env",
        ];
        for argument in accepted {
            assert!(check_argument(argument).is_ok(), "{argument:?} was refused");
        }
    }

    #[test]
    fn the_run_command_puts_dokkus_flags_before_the_app() {
        let arguments = run_arguments("staging", "praxia-api", &["migrate".into(), "--local".into()]).unwrap();
        assert_eq!(
            arguments.words(),
            [
                "--quiet",
                "run",
                "--no-tty",
                "--env=PRAXIA_ENV=staging",
                "praxia-api",
                "praxia-deploy",
                "migrate",
                "--local"
            ]
        );
        assert!(run_arguments("staging", "praxia-api", &["seed".into(), "--force".into()]).is_err());
    }
}
