//! `db start | stop | status | url`: the embedded development Postgres.

use serde_json::json;

use super::Context;
use crate::cli::DbCommand;
use crate::error::Result;
use crate::localdb::{LocalDatabase, database_name};
use crate::output::Report;

pub fn run(context: &Context, command: &DbCommand) -> Result<Report> {
    let env = &context.env;
    let local = LocalDatabase::for_project(&context.project.root)?;
    match command {
        DbCommand::Start => {
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
        DbCommand::Stop => {
            let was_running = local.stop()?;
            let human = if was_running { "stopped the development PostgreSQL (the data is kept)" } else { "the development PostgreSQL was not running" };
            Ok(Report::new(&json!({ "was_running": was_running }), human))
        }
        DbCommand::Status => {
            let status = local.status()?;
            let state = match (status.initialised, status.running) {
                (false, _) => "not created yet (`praxia-deploy db start` creates it)".to_owned(),
                (true, false) => "stopped".to_owned(),
                (true, true) => format!("running (pid {})", status.pid.unwrap_or_default()),
            };
            let mut human = format!("state:   {state}\nfolder:  {}\nserver:  {}\n", status.dir.display(), status.server_version);
            if let Some(port) = status.port {
                human.push_str(&format!("port:    {port} on 127.0.0.1\n"));
            }
            if let (true, Some(socket_dir)) = (status.initialised, &status.socket_dir) {
                human.push_str(&format!("socket:  {}\n", socket_dir.display()));
            }
            Ok(Report::new(&status, human))
        }
        DbCommand::Url => {
            let url = local.url(env)?;
            if !local.is_running()? {
                tracing::warn!("the development PostgreSQL is not running; start it with `praxia-deploy db start`");
            }
            Ok(Report::new(&json!({ "url": url }), format!("{url}\n")))
        }
    }
}
