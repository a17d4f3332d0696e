//! `doctor`: the checklist of an environment's Dokku side, from a laptop. On the
//! host: SSH, the app, its PRAXIA_ENV and DATABASE_URL (never shown). In the
//! app's image, through one `dokku run` of `doctor --probe` (`probe.rs`): that
//! praxia-deploy runs there, the Procfile's release line, the environment's
//! migration folder. The decisions are `checks.rs`'s, pure.

pub mod checks;
pub mod probe;

use serde_json::json;

use self::checks::{Check, CheckStatus, Checkout, IMAGE_CHECKS, ProbeAnswer, image_checks, praxia_env_check};
use self::probe::{MigrationFact, PROBE_ARGUMENTS};
use super::Context;
use crate::config::{DokkuSettings, Environment};
use crate::dokku::invocation::run_arguments;
use crate::dokku::remote::{app_exists, config_get, config_is_set, run_collected};
use crate::dokku::ssh::DokkuConnection;
use crate::error::{Error, ErrorKind, Result};
use crate::output::Report;

/// Every check, in order; a check that depends on one that failed is shown as skipped.
pub async fn run(context: &Context<'_>) -> Result<Report> {
    let env = &context.env;
    let Some(dokku) = &env.dokku else {
        return Err(Error::usage(format!("the {} environment has no [dokku] section to check", env.name))
            .help("add [dokku] with host and app to the environment file"));
    };
    let mut checks = Vec::new();
    let skip_from = |checks: &mut Vec<Check>, names: &[&'static str], because: &str| {
        checks.extend(names.iter().map(|name| Check::skipped(name, because)));
    };
    const ON_THE_APP: [&str; 2] = ["praxia_env", "database_url"];
    match DokkuConnection::open(dokku, env.kind).await {
        Err(err) => {
            let text = err.to_string();
            let detail: Vec<&str> = text.lines().map(str::trim).filter(|line| !line.is_empty()).collect();
            checks.push(Check::new("ssh", false, detail.join("; ")));
            skip_from(&mut checks, &["app"], "SSH failed");
            skip_from(&mut checks, &ON_THE_APP, "SSH failed");
            skip_from(&mut checks, &IMAGE_CHECKS, "SSH failed");
        }
        Ok(connection) => {
            checks.push(Check::new("ssh", true, format!("{} answers", connection.destination)));
            match app_exists(&connection.session, &dokku.app).await {
                Ok(true) => {
                    checks.push(Check::new("app", true, format!("{} exists", dokku.app)));
                    let praxia_env = config_get(&connection.session, &dokku.app, "PRAXIA_ENV").await;
                    checks.push(praxia_env_check(praxia_env, &env.name, &dokku.app));
                    let database = config_is_set(&connection.session, &dokku.app, "DATABASE_URL").await;
                    checks.push(match database {
                        Ok(true) => Check::new("database_url", true, "DATABASE_URL is set (value not shown)"),
                        Ok(false) => Check::new(
                            "database_url",
                            false,
                            format!("DATABASE_URL is not set: `dokku postgres:link <service> {}`", dokku.app),
                        ),
                        Err(err) => Check::new("database_url", false, err.message),
                    });
                    let answer = ask_the_image(&connection, env, dokku).await;
                    checks.extend(image_checks(&answer, &checkout(env), &dokku.app));
                }
                Ok(false) => {
                    checks.push(Check::new(
                        "app",
                        false,
                        format!("{} does not exist: `dokku apps:create {}`", dokku.app, dokku.app),
                    ));
                    skip_from(&mut checks, &ON_THE_APP, "the app does not exist");
                    skip_from(&mut checks, &IMAGE_CHECKS, "the app does not exist");
                }
                Err(err) => {
                    checks.push(Check::new("app", false, err.message));
                    skip_from(&mut checks, &ON_THE_APP, "the app check failed");
                    skip_from(&mut checks, &IMAGE_CHECKS, "the app check failed");
                }
            }
            let _ = connection.session.close().await;
        }
    }
    render(&checks, env, dokku)
}

/// `praxia-deploy doctor --probe` in a one-off container of the app.
async fn ask_the_image(connection: &DokkuConnection, env: &Environment, dokku: &DokkuSettings) -> ProbeAnswer {
    let arguments: Vec<String> = PROBE_ARGUMENTS.map(str::to_owned).to_vec();
    let arguments = match run_arguments(&env.name, &dokku.app, &arguments) {
        Ok(arguments) => arguments,
        Err(reason) => {
            return ProbeAnswer::Failed { code: None, said: format!("cannot send it through Dokku: {reason}") };
        }
    };
    tracing::info!("asking a one-off container of {} what its image holds", dokku.app);
    match run_collected(&connection.session, &dokku.app, &arguments).await {
        Ok((exit, stdout, stderr)) => checks::read_answer(exit, &stdout, &stderr),
        Err(err) => ProbeAnswer::Failed { code: None, said: err.to_string().lines().collect::<Vec<_>>().join("; ") },
    }
}

/// This checkout's migrations, to compare the image's with.
fn checkout(env: &Environment) -> Checkout {
    let migrations = crate::migration_folder::read_folder(&env.migrations.dir)
        .map(|folder| folder.migrations.iter().map(MigrationFact::of).collect())
        .map_err(|err| err.message);
    Checkout { env_name: env.name.clone(), migrations, version: env!("CARGO_PKG_VERSION").to_owned() }
}

fn render(checks: &[Check], env: &Environment, dokku: &DokkuSettings) -> Result<Report> {
    let human: String = checks
        .iter()
        .map(|check| {
            let status = match check.status {
                CheckStatus::Ok => "ok  ",
                CheckStatus::Fail => "FAIL",
                CheckStatus::Skipped => "SKIP",
            };
            format!("{status}  {:<13} {}\n", check.name, check.detail)
        })
        .collect();
    let count = |status: CheckStatus| checks.iter().filter(|check| check.status == status).count();
    let (failed, skipped) = (count(CheckStatus::Fail), count(CheckStatus::Skipped));
    let report = Report::new(&json!({ "app": dokku.app, "checks": checks }), human);
    if failed == 0 {
        return Ok(report);
    }
    let skipped = if skipped > 0 { format!(", {skipped} not run") } else { String::new() };
    Err(Error::new(ErrorKind::Remote, format!("{failed} of {} checks failed for {}{skipped}", checks.len(), env.name))
        .help(format!(
            "fix each FAIL line above, then run `praxia-deploy doctor --env {}` again (the SKIP lines run once what they depend on passes)",
            env.name
        ))
        .with_report(report))
}
