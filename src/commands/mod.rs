//! Runs one command: loads the environment, does the work, returns a report.

mod config;
mod db;

use crate::cli::{Cli, Command};
use crate::config::{Environment, Project};
use crate::error::{Error, Result};
use crate::output::Report;

/// What every command gets: the project and the selected environment.
pub struct Context<'a> {
    pub cli: &'a Cli,
    pub project: Project,
    pub env: Environment,
}

pub async fn run(cli: &Cli) -> Result<Report> {
    let cwd = std::env::current_dir()
        .map_err(|err| Error::internal(format!("no current directory: {err}")))?;
    let project = Project::locate(cli.global.config_dir.as_deref(), &cwd)?;
    let env = project.load(&cli.global.env)?;
    let context = Context { cli, project, env };
    match &cli.command {
        Command::Db(command) => db::run(&context, command),
        Command::Config(command) => config::run(&context, command),
    }
}
