//! Commands run on the Dokku host: `migrate`, `contract`, `status`, `plan`, `seed` in a
//! one-off container (`doctor`'s checklist is `doctor/`).

use super::Context;
use crate::cli::Command;
use crate::commands::forward::container_arguments;
use crate::config::{DokkuSettings, EnvironmentKind};
use crate::confirmation::{Answer, ask_to_type};
use crate::dokku::invocation::run_arguments;
use crate::dokku::remote::{run_captured, run_streaming};
use crate::dokku::ssh::DokkuConnection;
use crate::error::{Error, ErrorKind, Result};
use crate::output::Report;

/// Runs the command in a one-off container of the app. Everything that can be
/// refused is refused before the connection opens.
pub async fn run(context: &Context<'_>, dokku: &DokkuSettings) -> Result<Report> {
    let env = &context.env;
    let command = &context.cli.command;
    if context.cli.global.database_url.is_some() {
        return Err(Error::usage(
            "--database-url is for local runs; in the container the app's own DATABASE_URL is used",
        )
        .help("drop --database-url, or add --local to run here against that URL"));
    }
    if matches!(command, Command::Migrate { after_backup: Some(_), .. }) {
        return Err(Error::usage("--after-backup is what praxia-deploy sends to the container after taking a backup")
            .help("run `migrate` without it: on this environment it takes the backup itself (or pass --no-backup)"));
    }
    let mut arguments = container_arguments(command, &context.cli.global);
    // Checked before anything connects; the backup flag added later passes the same checks.
    run_arguments(&env.name, &dokku.app, &arguments)
        .map_err(|reason| Error::usage(format!("cannot send this command through Dokku: {reason}")))?;
    if env.kind == EnvironmentKind::Production && is_mutating(command) {
        confirm_production(&dokku.app, command)?;
    }

    // No `apps:exists` first: every SSH session costs sshd ~0.1 s, and `run`
    // says "App X does not exist" itself.
    let connection = DokkuConnection::open(dokku, env.kind).await?;
    if wants_backup_first(command, env) {
        let backup = backup_first(context, dokku, &connection).await;
        match backup {
            Ok(Some(record)) => arguments.extend(["--after-backup".to_owned(), record.to_argument()]),
            Ok(None) => arguments.push("--no-backup".to_owned()),
            Err(error) => {
                let _ = connection.session.close().await;
                return Err(error.note("nothing was migrated", "the backup comes first"));
            }
        }
    }
    let remote_arguments = run_arguments(&env.name, &dokku.app, &arguments)
        .map_err(|reason| Error::usage(format!("cannot send this command through Dokku: {reason}")))?;
    tracing::info!(
        "running `{}` in a one-off container of {} on {}",
        command.name(),
        dokku.app,
        connection.destination
    );
    // Ctrl-C or SIGTERM: close the session (no SSH master left behind) and say that
    // the one-off container may still be running on the host.
    let exit = tokio::select! {
        exit = run_streaming(&connection.session, &dokku.app, &remote_arguments) => exit?,
        signal = crate::signals::interrupted() => {
            let _ = connection.session.close().await;
            return Err(Error::new(ErrorKind::Remote, format!("interrupted by {signal}; the SSH connection was closed"))
                .help(format!(
                    "the one-off container may still be running on the host: `dokku ps:report {}` shows it",
                    dokku.app
                )));
        }
    };
    let _ = connection.session.close().await;
    if let Some(error) = dokku_refusal(exit, dokku, &connection.destination) {
        return Err(error);
    }
    let code = match exit.code {
        Some(code) => u8::try_from(code).unwrap_or(ErrorKind::Remote.exit_code()),
        None => return Err(Error::new(ErrorKind::Remote, "the remote command was killed by a signal")),
    };
    Ok(Report::streamed(code))
}

/// `migrate` on an environment whose `[backup] before_migrate` asks for a backup
/// first, unless `--no-backup` (or the record of one already taken) says otherwise.
fn wants_backup_first(command: &Command, env: &crate::config::Environment) -> bool {
    env.backup.before_migrate
        && matches!(command, Command::Migrate { dry_run: false, no_backup: false, after_backup: None, .. })
}

/// When the app's database has migrations pending (asked with `status` in a
/// one-off container), a verified `postgres:export` here; None: nothing pending.
async fn backup_first(
    context: &Context<'_>,
    dokku: &DokkuSettings,
    connection: &DokkuConnection,
) -> Result<Option<crate::provenance::BackupRecord>> {
    let env = &context.env;
    // A dry run in the container says what is pending and what the review gate
    // makes of it: a migration that will be refused costs no backup.
    let mut dry_run: Vec<String> =
        ["migrate", "--local", "--dry-run", "--output", "json", "-q"].map(str::to_owned).to_vec();
    if matches!(context.cli.command, Command::Migrate { ref apply, .. } if apply.allow_out_of_order) {
        dry_run.push("--allow-out-of-order".to_owned());
    }
    let dry_run = run_arguments(&env.name, &dokku.app, &dry_run)
        .map_err(|reason| Error::usage(format!("cannot send `migrate --dry-run` through Dokku: {reason}")))?;
    let (exit, stdout) = run_captured(&connection.session, &dokku.app, &dry_run).await?;
    if let Some(error) = dokku_refusal(exit, dokku, &connection.destination) {
        return Err(error);
    }
    let document: serde_json::Value = serde_json::from_slice(&stdout).map_err(|_| {
        Error::new(ErrorKind::Remote, "`migrate --dry-run` in the container did not answer with its JSON document")
            .note("exit code", exit.code.map_or("none".to_owned(), |code| code.to_string()))
    })?;
    if document["ok"] != true {
        // Refused there (the gate, a stamp, the folder) is refused here, with the
        // same exit code; anything else (a database restarting, say) is not
        // "nothing pending": no backup decision can be made.
        let message = document["error"]["message"].as_str().unwrap_or("no answer").to_owned();
        let kind = match document["error"]["exit_code"].as_u64().and_then(ErrorKind::from_exit_code) {
            Some(kind @ (ErrorKind::Policy | ErrorKind::Integrity)) => kind,
            _ => ErrorKind::Remote,
        };
        let mut error = Error::new(kind, format!("`migrate --dry-run` in the container: {message}"));
        for note in document["error"]["notes"].as_array().into_iter().flatten() {
            if let (Some(label), Some(value)) = (note["label"].as_str(), note["value"].as_str()) {
                error = error.note(label, value);
            }
        }
        if let Some(help) = document["error"]["help"].as_str() {
            error = error.help(help);
        }
        if matches!(kind, ErrorKind::Policy | ErrorKind::Integrity) {
            error = error.note("no backup was taken", "the migration would not run");
        }
        return Err(error);
    }
    let pending = document["result"]["pending"].as_array().map_or(0, Vec::len);
    if pending == 0 {
        tracing::info!("nothing pending: no backup needed before migrating");
        return Ok(None);
    }
    tracing::info!("{} pending: taking a verified backup first", crate::text::plural(pending, "migration"));
    let folder = crate::migration_folder::read_environment_folder(&env.migrations)?;
    let (taken, _) = crate::backup::sources::through_dokku(env, &folder, dokku, connection).await?;
    tracing::info!(
        "backup {} ({} bytes, sha256 {}) verified",
        taken.path.display(),
        taken.record.bytes,
        taken.record.sha256
    );
    for removed in &taken.removed {
        tracing::info!("removed the older backup {removed}");
    }
    Ok(Some(taken.record))
}

fn is_mutating(command: &Command) -> bool {
    matches!(command, Command::Migrate { dry_run: false, .. } | Command::Seed { .. } | Command::Contract { .. })
}

fn confirmed(command: &Command) -> bool {
    matches!(
        command,
        Command::Migrate { yes: true, .. } | Command::Seed { yes: true, .. } | Command::Contract { yes: true, .. }
    )
}

/// `--yes`, or the app's name typed at a terminal; without either, exit 3.
fn confirm_production(app: &str, command: &Command) -> Result<()> {
    if confirmed(command) {
        return Ok(());
    }
    let refusal =
        || Error::new(ErrorKind::Policy, format!("`{}` on production app {app} was not confirmed", command.name()));
    let without = if matches!(command, Command::Migrate { no_backup: true, .. }) { " WITHOUT a backup" } else { "" };
    let prompt =
        format!("This runs `{}` on the PRODUCTION app {app}{without}. Type the app name to continue: ", command.name());
    match ask_to_type(&prompt, app)? {
        Answer::Confirmed => Ok(()),
        Answer::NoTerminal => Err(refusal().help("confirm with --yes (no terminal to ask at)")),
        Answer::Refused => Err(refusal().help(format!("type `{app}` exactly, or pass --yes"))),
    }
}

/// What Dokku itself refused a `run` for, or the container could not start,
/// before anything of ours ran.
pub(crate) fn dokku_refusal(
    exit: crate::dokku::remote::RunExit,
    dokku: &DokkuSettings,
    destination: &str,
) -> Option<Error> {
    if exit.app_missing {
        return Some(missing_app(dokku, destination));
    }
    if exit.binary_missing {
        return Some(
            Error::new(ErrorKind::Remote, format!("the image of {} has no praxia-deploy on its PATH", dokku.app))
                .note("the container said", "above")
                .help(format!(
                    "{}, deploy, then check with `praxia-deploy doctor`; {}",
                    crate::commands::doctor::checks::BINARY_FIX,
                    crate::commands::doctor::checks::CANNOT_START_NOTE
                )),
        );
    }
    exit.never_deployed.then(|| {
        Error::new(ErrorKind::Remote, format!("the app {} has never been deployed", dokku.app))
            .help("deploy it once (`git push dokku main`); `dokku run` needs a built image")
    })
}

fn missing_app(dokku: &DokkuSettings, destination: &str) -> Error {
    Error::new(ErrorKind::Remote, format!("the Dokku app {} does not exist on {destination}", dokku.app))
        .help(format!("create it (`dokku apps:create {}`) or fix `app` in the [dokku] section", dokku.app))
}
