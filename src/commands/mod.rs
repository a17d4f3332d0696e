//! Runs one command: loads the environment, does the work, returns a report.

mod backup;
mod config;
mod db;
mod doctor;
mod drift;
mod forward;
mod generate;
mod lint;
mod migrations;
mod rehearse;
mod remote;
mod seed;
mod setup;
mod studio;

use crate::cli::{Cli, Command, ConfigArgs, ConfigCommand};
use crate::commands::forward::{Location, location};
use crate::config::{Environment, Project};
use crate::error::{Error, Result};
use crate::output::{OutputFormat, Printer, Report};

/// What every command gets: the project, the selected environment, and the
/// process environment's inputs, read once here at the edge.
pub struct Context<'a> {
    pub cli: &'a Cli,
    pub printer: Printer,
    pub project: Project,
    pub env: Environment,
    /// `NODE_ENV`, one of the seed policy's guards.
    pub node_env: Option<String>,
}

impl Context<'_> {
    /// How long to wait for the database: `--wait`, else the environment's `database.wait`.
    pub fn wait(&self, args: &crate::cli::WaitArgs) -> std::time::Duration {
        args.wait.unwrap_or(self.env.database.wait).0
    }

    /// How long to wait for the migration lock: `--lock-wait`, else `database.lock_wait`.
    pub fn lock_wait(&self, args: &crate::cli::ApplyArgs) -> std::time::Duration {
        args.lock_wait.unwrap_or(self.env.database.lock_wait).0
    }
}

pub async fn run(cli: &Cli, printer: Printer) -> Result<Report> {
    let cwd = std::env::current_dir().map_err(|err| Error::internal(format!("no current directory: {err}")))?;
    if let Command::Completions { shell } = &cli.command {
        return Ok(completions(*shell));
    }
    if matches!(cli.global.output, OutputFormat::Github | OutputFormat::Markdown)
        && !matches!(cli.command, Command::Lint { .. })
    {
        let format = if cli.global.output == OutputFormat::Github { "github" } else { "markdown" };
        return Err(Error::usage(format!("--output {format} is lint's format, not {}'s", cli.command.name()))
            .help("other commands print `--output human` (the default) or `--output json`"));
    }
    // In the container: it reports a missing environments/ rather than stopping at it.
    if let Command::Doctor { probe: true, .. } = &cli.command {
        return doctor::probe::run(cli);
    }
    let project = Project::locate(cli.global.config_dir.as_deref(), &cwd)?;
    // Checks every file, so it must not stop at a broken or missing default one.
    if let Command::Config(ConfigArgs { command: ConfigCommand::Check { .. }, .. }) = &cli.command {
        return config::check(&project);
    }
    let env = project.load(&cli.global.env)?;
    let node_env = std::env::var("NODE_ENV").ok();
    let context = Context { cli, printer, project, env, node_env };
    // Reads no database: it never goes over SSH.
    if let Command::Drift { record: true, check: true, .. } = &cli.command {
        return drift::record_check(&context);
    }
    if let Command::Drift { record: true, shadow_url, wait, .. } = &cli.command {
        return drift::record(&context, shadow_url.as_deref(), wait).await;
    }
    if let Some(flags) = cli.command.remote_args()
        && let Location::Remote(dokku) = location(&context.env.name, context.env.dokku.as_ref(), flags)?
    {
        if let Command::Seed { .. } = cli.command {
            seed::refuse_before_connecting(&context)?;
        }
        if let Command::Drift { shadow_url, wait, .. } = &cli.command {
            return drift::remote(&context, dokku, shadow_url.as_deref(), wait).await;
        }
        return remote::run(&context, dokku).await;
    }
    match &cli.command {
        Command::Doctor { .. } => doctor::run(&context).await,
        Command::Release { apply, .. } => migrations::release(&context, apply).await,
        Command::Contract { apply, no_wait, abandon, .. } => {
            migrations::contract(&context, apply, *no_wait, abandon.as_deref()).await
        }
        Command::Serve { bind, .. } => setup::serve_command(&context, *bind).await,
        Command::Bootstrap { url, email, name, password_stdin, wait, require_fresh, .. } => {
            let args = setup::BootstrapArgs {
                url: url.as_deref(),
                email,
                name,
                password_stdin: *password_stdin,
                wait: *wait,
                require_fresh: *require_fresh,
            };
            setup::bootstrap_command(&context, &args).await
        }
        Command::Seed { wait, scale, .. } => seed::seed(&context, wait, *scale).await,
        Command::Stamp { wait, force, .. } => seed::stamp_command(&context, wait, *force).await,
        Command::Migrate { apply, dry_run, no_backup, after_backup, .. } => {
            let backup = match (after_backup, *no_backup) {
                (Some(record), _) => migrations::Backup::TakenBefore(record.clone()),
                (None, true) => migrations::Backup::Skip,
                (None, false) => migrations::Backup::AsConfigured,
            };
            migrations::migrate(&context, apply, *dry_run, backup).await
        }
        Command::Status { wait, exit_code, .. } => migrations::status(&context, wait, *exit_code).await,
        Command::Plan { wait, allow_out_of_order, .. } => {
            migrations::plan_command(&context, wait, *allow_out_of_order).await
        }
        Command::New { name, layout, .. } => migrations::new_migration(&context, name, layout.map(Into::into)),
        Command::Generate { name, custom, .. } => generate::run(&context, name, *custom),
        Command::Db(db) => db::run(&context, &db.command),
        Command::Config(config) => config::run(&context, &config.command),
        Command::Completions { .. } => unreachable!("answered before the project is read"),
        Command::Lint { tags, changed, fix, write, .. } => {
            let scope = match (changed.as_deref(), tags.is_empty()) {
                (Some(""), _) => lint::Scope::Changed(None),
                (Some(base), _) => lint::Scope::Changed(Some(base)),
                (None, false) => lint::Scope::Named(tags),
                (None, true) => lint::Scope::All,
            };
            if *fix { lint::fix(&context, scope, *write).await } else { lint::run(&context, scope) }
        }
        Command::Backup(args) => backup::run(&context, args).await,
        Command::Studio { bind, open, yes, .. } => studio::run(&context, *bind, *open, *yes).await,
        Command::Rehearse { backup, allow_out_of_order, .. } => {
            rehearse::run(&context, backup.as_deref(), *allow_out_of_order).await
        }
        Command::Drift { wait, print_catalog: true, .. } => drift::print_catalog(&context, wait).await,
        Command::Drift { shadow_url, wait, .. } => drift::run(&context, shadow_url.as_deref(), wait).await,
    }
}

/// The completion script for `shell`, as clap generates it from the definitions.
fn completions(shell: clap_complete::Shell) -> Report {
    use clap::CommandFactory;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "praxia-deploy", &mut script);
    Report::new(&serde_json::json!({ "shell": shell.to_string() }), String::from_utf8_lossy(&script).into_owned())
}
