//! `config show | check`: the resolved settings of one environment, or a check of all.

use std::fmt::Write;

use serde_json::json;

use super::Context;
use crate::cli::ConfigCommand;
use crate::config::{DatabaseTarget, Environment, Project};
use crate::error::{Error, Result};
use crate::localdb::{LOCAL_DIR, database_name};
use crate::output::Report;

pub fn run(context: &Context, command: &ConfigCommand) -> Result<Report> {
    match command {
        ConfigCommand::Show { .. } => show(context),
        ConfigCommand::Check { .. } => check(&context.project),
    }
}

fn show(context: &Context) -> Result<Report> {
    let env = &context.env;
    let target = env.database_target(context.cli.global.database_url.as_deref())?;
    let (database_text, database_json) = match &target {
        DatabaseTarget::Url { url, source } => {
            (format!("{url} (from {source})"), json!({ "url": url, "source": source }))
        }
        // With [dokku], the database commands run in the app's container over SSH,
        // with the app's own DATABASE_URL: nothing is missing for them here.
        DatabaseTarget::Missing if env.dokku.is_some() => (
            format!(
                "the Dokku app's own (migrate, status, plan, seed and drift run there over SSH); \
                 ${} is not set here, which only the commands that run here need (--local, release, serve, \
                 studio, stamp, db psql)",
                env.database.url_env
            ),
            json!({ "url": null, "missing": env.database.url_env, "over_ssh": true }),
        ),
        DatabaseTarget::Missing => (
            format!("not set: ${} is empty (commands that need the database exit 2)", env.database.url_env),
            json!({ "url": null, "missing": env.database.url_env }),
        ),
        DatabaseTarget::Embedded => {
            let name = database_name(env)?;
            (
                format!("embedded: database {name} in {LOCAL_DIR} (no URL given)"),
                json!({ "embedded": true, "database": name }),
            )
        }
    };
    let mut human = String::new();
    let _ = writeln!(human, "environment: {} ({})", env.name, env.kind);
    let _ = writeln!(human, "file:        {}", env.file.display());
    let _ = writeln!(human, "database:    {database_text}");
    let _ = writeln!(
        human,
        "waits:       database {}, migration lock {}; lock_timeout {}, statement_timeout {}; \
         concurrent_lock_timeout {}, concurrent_statement_timeout {}",
        env.database.wait,
        env.database.lock_wait,
        env.database.lock_timeout,
        env.database.statement_timeout,
        env.database.concurrent_lock_timeout,
        env.database.concurrent_statement_timeout
    );
    let _ = writeln!(
        human,
        "migrations:  {} -> \"{}\".\"{}\"",
        env.migrations.dir.display(),
        env.migrations.schema,
        env.migrations.table
    );
    match &env.dokku {
        Some(dokku) => {
            let _ = writeln!(
                human,
                "dokku:       {}@{}:{} app {} (host keys: {:?})",
                dokku.user,
                dokku.host,
                dokku.port.unwrap_or(22),
                dokku.app,
                dokku.known_hosts.get_ref()
            );
        }
        None => {
            let _ = writeln!(human, "dokku:       none (commands run locally)");
        }
    }
    if let Some(setup) = &env.setup {
        let url = setup.url.as_ref().map_or("(none; pass bootstrap --url)", |url| url.as_str());
        let _ = writeln!(human, "setup:       {url}, token from ${}", setup.token_env);
    }
    let mut result = serde_json::to_value(env).expect("settings serialise");
    result["database"]["target"] = database_json;
    Ok(Report::new(&result, human))
}

/// Every environment file of the project, whichever environment is selected.
pub fn check(project: &Project) -> Result<Report> {
    let mut checked = Vec::new();
    let mut failures: Vec<Error> = Vec::new();
    for name in project.environment_names()? {
        match project.load(&name) {
            Ok(env) => checked.push(summary(&env)),
            Err(err) => failures.push(err),
        }
    }
    if let Some(first) = failures.first() {
        let mut error = Error::usage(format!(
            "{} of {} environment files are invalid",
            failures.len(),
            failures.len() + checked.len()
        ));
        for failure in &failures {
            error = error.note("error", failure.to_string());
        }
        return Err(error.help(first.help.clone().unwrap_or_default()));
    }
    let human: String =
        checked.iter().map(|line| format!("ok  {}\n", line["summary"].as_str().unwrap_or(""))).collect();
    Ok(Report::new(&json!({ "environments": checked }), human))
}

fn summary(env: &Environment) -> serde_json::Value {
    json!({
        "name": env.name,
        "kind": env.kind,
        "file": env.file,
        "summary": format!("{} ({}){}", env.name, env.kind, env.dokku.as_ref().map_or(String::new(), |dokku| format!(", Dokku app {} on {}", dokku.app, dokku.host))),
    })
}
