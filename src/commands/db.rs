//! `db start | stop | status | url`: the embedded development Postgres.

use serde_json::json;

use super::Context;
use crate::cli::DbCommand;
use crate::error::{Error, Result};
use crate::localdb::{LocalDatabase, database_name};
use crate::output::OutputFormat;
use crate::output::Report;
use crate::pgserver::PgBinaries;

pub fn run(context: &Context, command: &DbCommand) -> Result<Report> {
    let env = &context.env;
    let local = LocalDatabase::for_project(&context.project.root)?;
    match command {
        DbCommand::Start { .. } => {
            // Checked before anything is created: staging and production have no embedded database.
            database_name(env)?;
            let started = local.start(env)?;
            let mut what = Vec::new();
            if started.initialised {
                what.push("created the cluster".to_owned());
            }
            what.push(if started.already_running { "already running".to_owned() } else { "started".to_owned() });
            if started.database_created {
                what.push(format!("created database {}", started.database));
            }
            let human =
                format!("development PostgreSQL for `{}`: {}\nurl: {}\n", env.name, what.join(", "), started.url);
            Ok(Report::new(&started, human))
        }
        DbCommand::Stop { .. } => {
            let was_running = local.stop()?;
            let human = if was_running {
                "stopped the development PostgreSQL (the data is kept)"
            } else {
                "the development PostgreSQL was not running"
            };
            Ok(Report::new(&json!({ "was_running": was_running }), human))
        }
        DbCommand::Status { .. } => {
            let status = local.status()?;
            let state = match (status.initialised, status.running) {
                (false, _) => "not created yet (`praxia-deploy db start` creates it)".to_owned(),
                (true, false) => "stopped".to_owned(),
                (true, true) => format!("running (pid {})", status.pid.unwrap_or_default()),
            };
            let mut human =
                format!("state:   {state}\nfolder:  {}\nserver:  {}\n", status.dir.display(), status.server_version);
            if let Some(port) = status.port {
                human.push_str(&format!("port:    {port} on 127.0.0.1\n"));
            }
            if let (true, Some(socket_dir)) = (status.initialised, &status.socket_dir) {
                human.push_str(&format!("socket:  {}\n", socket_dir.display()));
            }
            Ok(Report::new(&status, human))
        }
        DbCommand::Psql { args, .. } => psql(context, args),
        DbCommand::Url { .. } => {
            let url = local.url(env)?;
            if !local.is_running()? {
                tracing::warn!("the development PostgreSQL is not running; start it with `praxia-deploy db start`");
            }
            Ok(Report::new(&json!({ "url": url }), format!("{url}\n")))
        }
    }
}

/// Runs psql on the environment's database with the terminal handed over; the
/// password travels in PGPASSWORD, never on psql's visible command line.
fn psql(context: &Context, args: &[std::ffi::OsString]) -> Result<Report> {
    if context.cli.global.output == OutputFormat::Json {
        return Err(
            Error::usage("`db psql` is interactive and has no JSON output").help("run it without --output json")
        );
    }
    let url = crate::database::url_for(&context.env, context.cli.global.database_url.as_deref())?;
    let (url_without_password, password) = url.split_password();
    let program = PgBinaries::locate()
        .map(|binaries| binaries.program("psql"))
        .ok()
        .filter(|path| path.is_file())
        .unwrap_or_else(|| "psql".into());
    let mut command = std::process::Command::new(&program);
    command.arg(&url_without_password).args(args);
    match password {
        Some(password) => command.env("PGPASSWORD", password),
        None => command.env_remove("PGPASSWORD"),
    };
    let status = command.status().map_err(|err| {
        Error::usage(format!("could not run {}: {err}", program.display()))
            .help("install the PostgreSQL client (Debian/Ubuntu: `apt-get install postgresql-client`)")
    })?;
    let mut report = Report::new(&json!({ "psql_exit_code": status.code() }), "");
    report.exit_code = status.code().map_or(1, |code| u8::try_from(code).unwrap_or(1));
    Ok(report)
}
