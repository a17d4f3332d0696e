//! `drift`: the live schema against the applied migrations replayed. The live
//! side is read where the database is (here, or in a one-off container over
//! SSH); the replay and the comparison run here, on the scratch database.

use std::fmt::Write;

use serde_json::json;

use super::Context;
use crate::config::{DokkuSettings, Environment};
use crate::dokku::invocation::run_arguments;
use crate::dokku::remote::run_captured;
use crate::dokku::ssh::DokkuConnection;
use crate::drift::{self, Live};
use crate::error::{Error, ErrorKind, Result};
use crate::migration_folder::{MigrationFolder, read_environment_folder};
use crate::migrations::run::Migrator;
use crate::output::Report;
use crate::text::plural;

/// `drift` here: the live side read from the environment's database.
pub async fn run(context: &Context<'_>, shadow_url: Option<&str>, wait: &crate::cli::WaitArgs) -> Result<Report> {
    let env = &context.env;
    let migrator = Migrator::open(env, context.cli.global.database_url.as_deref(), "praxia-deploy drift".to_owned())?;
    let live = drift::read_live(&migrator, context.wait(wait)).await?;
    compare(env, migrator.folder(), &live, shadow_url, context.wait(wait)).await
}

/// `drift --record`: the whole folder replayed where it is safe, and the schema it
/// makes written to `[drift] expected_schema` for the release.
pub async fn record(context: &Context<'_>, shadow_url: Option<&str>, wait: &crate::cli::WaitArgs) -> Result<Report> {
    use crate::drift::record::{Recorded, RecordedFile, digest_of, set_digest};
    let env = &context.env;
    let folder = read_environment_folder(&env.migrations)?;
    let path = &env.drift.expected_schema;
    // The tool's own file: one it cannot read is written anew.
    let previous = RecordedFile::read(path).unwrap_or_else(|error| {
        tracing::warn!("{error}; it is written anew");
        None
    });
    let excluded = drift::excluded_schemas(env);
    let migrations: Vec<&crate::migration_folder::Migration> = folder.migrations.iter().collect();
    let prefixes: Vec<String> = (0..=migrations.len())
        .map(|n| set_digest(&excluded, migrations[..n].iter().map(|migration| migration.hash.as_str())))
        .collect();
    let digest = digest_of(&excluded, &migrations);
    let count = migrations.len();
    let last = migrations.last().map(|migration| migration.tag.clone());
    let (schema, major) =
        drift::expected(env, folder.clone(), None, shadow_url, drift::scratch::LiveServer::NotRead, context.wait(wait))
            .await?;
    let objects: Vec<crate::drift::SchemaObject> = schema.objects.into_values().collect();
    let entry = Recorded { applied_digest: digest.clone(), postgres: major, migrations: count, last, objects };
    let object_count = entry.objects.len();
    let file = RecordedFile::with(previous, entry, &prefixes);
    file.write(path)?;
    let shown = path.strip_prefix(&env.root).unwrap_or(path).display().to_string();
    let human = format!(
        "recorded the schema of {} on PostgreSQL {major} ({object_count} objects) in {shown}\nship it with the release: `release` checks drift against it and never replays\n",
        plural(count, "migration"),
    );
    let report = json!({
        "file": shown,
        "applied_digest": digest,
        "postgres": major,
        "migrations": count,
        "objects": object_count,
        "sets_kept": file.entries.len(),
    });
    Ok(Report::new(&report, human))
}

/// `drift --record --check`: whether the recorded expected schema holds the
/// whole folder's set (on any major version); replays and writes nothing.
pub fn record_check(context: &Context<'_>) -> Result<Report> {
    use crate::drift::record::{RecordedFile, digest_of};
    let env = &context.env;
    let folder = read_environment_folder(&env.migrations)?;
    let path = &env.drift.expected_schema;
    let shown = path.strip_prefix(&env.root).unwrap_or(path).display().to_string();
    let migrations: Vec<&crate::migration_folder::Migration> = folder.migrations.iter().collect();
    let digest = digest_of(&drift::excluded_schemas(env), &migrations);
    let file = RecordedFile::read(path)?;
    let mut majors: Vec<u32> = file
        .iter()
        .flat_map(|file| file.entries.iter())
        .filter(|entry| entry.applied_digest == digest)
        .map(|entry| entry.postgres)
        .collect();
    majors.sort_unstable();
    if majors.is_empty() {
        return Err(Error::integrity(format!(
            "{shown} does not hold the schema of the folder's {}",
            plural(migrations.len(), "migration")
        ))
        .help(format!(
            "run `praxia-deploy drift --record --env {}` and commit {shown} with the migration: a release with [drift] on_release cannot check a set it does not hold",
            env.name
        )));
    }
    let on = majors.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    let human = format!(
        "{shown} holds the schema of the folder's {} (PostgreSQL {on})\n",
        plural(migrations.len(), "migration")
    );
    Ok(Report::new(&json!({ "file": shown, "applied_digest": digest, "postgres": majors }), human))
}

/// `drift --print-catalog` (in the container): the live side, as JSON.
pub async fn print_catalog(context: &Context<'_>, wait: &crate::cli::WaitArgs) -> Result<Report> {
    let env = &context.env;
    let migrator = Migrator::open(env, context.cli.global.database_url.as_deref(), "praxia-deploy drift".to_owned())?;
    let live = drift::read_live(&migrator, context.wait(wait)).await?;
    let human = format!("{} objects in {}", live.objects.len(), live.database);
    Ok(Report::new(&live, human))
}

/// `drift` on a `[dokku]` environment: the catalog read in a one-off container,
/// compared here.
pub async fn remote(
    context: &Context<'_>,
    dokku: &DokkuSettings,
    shadow_url: Option<&str>,
    wait: &crate::cli::WaitArgs,
) -> Result<Report> {
    let env = &context.env;
    let folder = read_environment_folder(&env.migrations)?;
    let mut arguments: Vec<String> =
        ["drift", "--local", "--print-catalog", "--output", "json", "-q"].map(str::to_owned).to_vec();
    if let Some(wait) = wait.wait {
        arguments.extend(["--wait".to_owned(), wait.to_string()]);
    }
    let arguments = run_arguments(&env.name, &dokku.app, &arguments)
        .map_err(|reason| Error::usage(format!("cannot send `drift` through Dokku: {reason}")))?;
    let connection = DokkuConnection::open(dokku, env.kind).await?;
    tracing::info!("reading the catalog in a one-off container of {} on {}", dokku.app, connection.destination);
    let captured = run_captured(&connection.session, &dokku.app, &arguments).await;
    let _ = connection.session.close().await;
    let (exit, stdout) = captured?;
    if let Some(error) = super::remote::dokku_refusal(exit, dokku, &connection.destination) {
        return Err(error);
    }
    let document: serde_json::Value = serde_json::from_slice(&stdout).map_err(|_| {
        Error::new(ErrorKind::Remote, "`drift --print-catalog` in the container did not answer with its JSON document")
            .note("exit code", exit.code.map_or("none".to_owned(), |code| code.to_string()))
            .help(format!("`dokku run {} praxia-deploy drift --local --print-catalog` shows what it says", dokku.app))
    })?;
    if document["ok"] != true {
        let message = document["error"]["message"].as_str().unwrap_or("failed").to_owned();
        let code = document["error"]["exit_code"].as_u64().and_then(|code| u8::try_from(code).ok());
        return Err(Error::new(ErrorKind::Remote, format!("reading the catalog in the container: {message}"))
            .note("its exit code", code.map_or("none".to_owned(), |code| code.to_string())));
    }
    let live: Live = serde_json::from_value(document["result"].clone())
        .map_err(|err| Error::internal(format!("the container's catalog did not parse: {err}")))?;
    compare(env, &folder, &live, shadow_url, context.wait(wait)).await
}

/// Replays what `live` recorded and compares; the report and exit 11 on a difference.
async fn compare(
    env: &Environment,
    folder: &MigrationFolder,
    live: &Live,
    shadow_url: Option<&str>,
    wait: std::time::Duration,
) -> Result<Report> {
    let drift::Comparison { applied, objects, problems, differences } =
        drift::compare(env, folder, live, shadow_url, wait).await?;
    let mut human = String::new();
    for problem in &problems {
        let _ = writeln!(human, "migrations: {problem}");
    }
    for difference in &differences {
        let _ = writeln!(human, "{}", difference.describe());
        if let Some(fix) = &difference.fix {
            let _ = writeln!(human, "  fix: {fix}");
        }
        if let Some(destructive) = &difference.destructive {
            let _ = writeln!(
                human,
                "  no fix offered: putting it back would destroy {}; if that is really meant:",
                destructive.loses
            );
            let _ = writeln!(human, "  -- {}", destructive.sql);
        }
    }
    let compared = format!(
        "{} compared with {} replayed ({} objects)",
        live.database,
        plural(applied, "applied migration"),
        objects
    );
    let report = json!({
        "database": live.database,
        "applied": applied,
        "objects": objects,
        "problems": problems,
        "differences": differences,
    });
    if differences.is_empty() && problems.is_empty() {
        let _ = writeln!(human, "no drift: {compared}");
        return Ok(Report::new(&report, human));
    }
    let count = differences.len() + problems.len();
    let _ = writeln!(human, "{}: {compared}", plural(count, "difference"));
    if !problems.is_empty() {
        let _ = writeln!(human, "no fixes are offered while the folder and the database's history disagree (above)");
    }
    Err(Error::new(ErrorKind::Drift, format!("the database differs from its migrations in {}", plural(count, "place")))
        .help("to keep the change, make it in the TypeScript schema and run `praxia-deploy generate NAME` (drizzle-kit generate: the migration and its snapshot); the database has it already, so make the generated statements allow for that (IF NOT EXISTS) before applying. Or put the database back with the fixes shown (none is offered where it would destroy data: decide that in a migration); never change production by hand")
        .with_report(Report::new(&report, human)))
}
