//! `backup` and `backup verify FILE`: rendering what `backup::` did.

use std::fmt::Write;
use std::path::Path;

use serde_json::json;

use super::Context;
use crate::backup::{self, Taken, drill, sources};
use crate::cli::{BackupAction, BackupArgs};
use crate::commands::forward::{Location, location};
use crate::dokku::ssh::DokkuConnection;
use crate::error::Result;
use crate::migration_folder::read_environment_folder;
use crate::output::Report;
use crate::text::plural;

pub async fn run(context: &Context<'_>, args: &BackupArgs) -> Result<Report> {
    match &args.action {
        Some(BackupAction::Verify { file, .. }) => verify(context, file).await,
        None => take(context, args).await,
    }
}

async fn take(context: &Context<'_>, args: &BackupArgs) -> Result<Report> {
    let env = &context.env;
    let folder = read_environment_folder(&env.migrations)?;
    let (taken, service) = match location(&env.name, env.dokku.as_ref(), &args.remote)? {
        Location::Remote(dokku) => {
            let connection = DokkuConnection::open(dokku, env.kind).await?;
            let taken = sources::through_dokku(env, &folder, dokku, &connection).await;
            let _ = connection.session.close().await;
            let (taken, service) = taken?;
            (taken, Some(service))
        }
        Location::Local => {
            let url = crate::database::url_for(env, context.cli.global.database_url.as_deref())?;
            // --wait: for a database that is starting (pg_dump itself does not wait).
            let connection = crate::database::connect(&url, context.wait(&args.wait), "praxia-deploy backup").await?;
            let _ = sqlx::Connection::close(connection).await;
            (sources::with_pg_dump(env, &folder, &url, &env.backup.dir, &backup::app_name(env)).await?, None)
        }
    };
    let mut human = taken_summary(&taken, env.backup.keep);
    let _ = writeln!(human, "restore it with:");
    for command in backup::restore_commands(&taken.path, service.as_deref(), env.dokku.as_ref()) {
        let _ = writeln!(human, "  {command}");
    }
    let drill = if args.verify_restore { Some(drill::run(env, &taken.path).await?) } else { None };
    if let Some(drill) = &drill {
        human.push_str(&drill_summary(drill));
    }
    let report = json!({
        "backup": taken,
        "service": service,
        "restore_commands": backup::restore_commands(&taken.path, service.as_deref(), env.dokku.as_ref()),
        "restore_drill": drill,
    });
    Ok(Report::new(&report, human))
}

async fn verify(context: &Context<'_>, file: &Path) -> Result<Report> {
    let drill = drill::run(&context.env, file).await?;
    Ok(Report::new(&json!({ "restore_drill": drill }), drill_summary(&drill)))
}

fn taken_summary(taken: &Taken, keep: usize) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "backup {} ({} bytes, sha256 {}), verified: {} in its table of contents, every block readable",
        taken.path.display(),
        taken.record.bytes,
        taken.record.sha256,
        plural(taken.tables, "table")
    );
    let _ = writeln!(
        text,
        "newest applied migration in it: {}",
        taken.newest_tag.as_deref().unwrap_or("none (no bookkeeping rows)")
    );
    for removed in &taken.removed {
        let _ = writeln!(text, "removed the older backup {removed} ([backup] keep = {keep})");
    }
    text
}

fn drill_summary(drill: &drill::Drill) -> String {
    let mut text = format!(
        "restore drill: {} restored into the scratch database {} on the development cluster in {} ms, then dropped\n",
        drill.file, drill.scratch_database, drill.took_ms
    );
    let width = drill.tables.iter().map(|table| table.table.to_string().len()).max().unwrap_or(5);
    for table in &drill.tables {
        let _ = writeln!(
            text,
            "  {:<width$}  {}",
            table.table.to_string(),
            plural(usize::try_from(table.rows).unwrap_or(0), "row")
        );
    }
    let _ = writeln!(
        text,
        "{} back; bookkeeping table: {}",
        plural(drill.tables.len(), "table"),
        drill.applied_migrations.map_or("not in this dump".to_owned(), |rows| format!("{rows} applied migrations"))
    );
    text
}
