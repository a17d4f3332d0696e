//! `drift`: the live schema against the applied migrations replayed.

use std::fmt::Write;

use serde_json::json;
use sqlx::Connection;

use super::Context;
use crate::config::DatabaseUrl;
use crate::drift;
use crate::error::{Error, ErrorKind, Result};
use crate::localdb::LocalDatabase;
use crate::migrations::folder::MigrationFolder;
use crate::migrations::plan::{OutOfOrder, plan};
use crate::migrations::run::Migrator;
use crate::output::{Report, plural};

pub async fn run(context: &Context<'_>, shadow_url: Option<&str>, wait: &crate::cli::WaitArgs) -> Result<Report> {
    let env = &context.env;
    let migrator = Migrator::open(env, context.cli.global.database_url.as_deref(), "praxia-deploy drift".to_owned())?;
    let wait = context.wait(wait);
    let excluded = drift::excluded_schemas(env);

    // The live side: what it recorded, and its schema.
    let state = migrator.inspect(wait).await?;
    let planned = plan(migrator.folder(), &state.rows, OutOfOrder::Allow);
    let mut connection = crate::database::connect(migrator.url(), wait, "praxia-deploy drift").await?;
    let live_major = drift::major_version(&mut connection).await?;
    let live = drift::read_schema(&mut connection, &excluded).await?;
    let _ = connection.close().await;
    let applied = MigrationFolder {
        dir: migrator.folder().dir.clone(),
        layout: migrator.folder().layout,
        migrations: planned.applied.iter().map(|(migration, _)| (*migration).clone()).collect(),
    };
    let problems: Vec<String> = planned
        .problems
        .iter()
        .filter(|problem| !matches!(problem, crate::migrations::plan::Problem::OutOfOrder { .. }))
        .map(crate::migrations::plan::Problem::describe)
        .collect();

    // The expected side: those migrations replayed into a scratch database.
    let scratch = Scratch::create(env, shadow_url, wait).await?;
    let expected = async {
        let mut connection = crate::database::connect(&scratch.url, wait, "praxia-deploy drift").await?;
        let scratch_major = drift::major_version(&mut connection).await?;
        let _ = connection.close().await;
        if scratch_major != live_major {
            return Err(Error::usage(format!(
                "the database runs PostgreSQL {live_major}, the scratch server {scratch_major}: the catalogs would differ by version alone"
            ))
            .help(format!("pass --shadow-url with a PostgreSQL {live_major} server to replay on")));
        }
        drift::replay(env, applied.clone(), scratch.url.clone()).await?;
        let mut connection = crate::database::connect(&scratch.url, wait, "praxia-deploy drift").await?;
        let schema = drift::read_schema(&mut connection, &excluded).await;
        let _ = connection.close().await;
        schema
    }
    .await;
    scratch.drop().await;
    let expected = expected?;

    let differences = drift::model::differences(&expected, &live);
    let mut human = String::new();
    for problem in &problems {
        let _ = writeln!(human, "migrations: {problem}");
    }
    for difference in &differences {
        let _ = writeln!(human, "{}", difference.describe());
        if let Some(fix) = &difference.fix {
            let _ = writeln!(human, "  fix: {fix}");
        }
    }
    let compared = format!(
        "{} compared with {} replayed ({} objects)",
        migrator.url().redacted(),
        plural(applied.migrations.len(), "applied migration"),
        expected.objects.len()
    );
    let report = json!({
        "database": migrator.url().redacted(),
        "applied": applied.migrations.len(),
        "objects": expected.objects.len(),
        "problems": problems,
        "differences": differences,
    });
    if differences.is_empty() && problems.is_empty() {
        let _ = writeln!(human, "no drift: {compared}");
        return Ok(Report::new(&report, human));
    }
    let count = differences.len() + problems.len();
    let _ = writeln!(human, "{}: {compared}", plural(count, "difference"));
    Err(Error::new(ErrorKind::Drift, format!("the database differs from its migrations in {}", plural(count, "place")))
        .help("change the schema through a migration (`praxia-deploy new`), or put the database back with the fixes shown; never by hand in production")
        .with_report(Report::new(&report, human)))
}

/// A scratch database for the replay, dropped whatever happens.
struct Scratch {
    url: DatabaseUrl,
    admin: DatabaseUrl,
    name: String,
}

impl Scratch {
    async fn create(
        env: &crate::config::Environment,
        shadow_url: Option<&str>,
        wait: std::time::Duration,
    ) -> Result<Scratch> {
        let name = format!("praxia_drift_{}", uuid::Uuid::new_v4().simple());
        let (admin, url) = match shadow_url {
            Some(shadow) => {
                let admin = DatabaseUrl::parse(shadow, "--shadow-url")?;
                let mut scratch =
                    url::Url::parse(admin.expose_secret()).map_err(|_| Error::usage("--shadow-url is not a URL"))?;
                scratch.set_path(&format!("/{name}"));
                (admin, DatabaseUrl::parse(scratch.as_str(), "--shadow-url")?)
            }
            None => {
                let local = LocalDatabase::for_project(&env.root)?;
                let admin = DatabaseUrl::parse(&local.start_for_scratch("postgres")?, "the development cluster")?;
                let url = DatabaseUrl::parse(&local.start_for_scratch(&name)?, "the development cluster")?;
                (admin, url)
            }
        };
        let mut connection = crate::database::connect(&admin, wait, "praxia-deploy drift").await?;
        for sql in [format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"), format!("CREATE DATABASE \"{name}\"")] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut connection).await.map_err(|err| {
                Error::unavailable("could not create the scratch database for the replay")
                    .note("reason", crate::pg_error::describe(&err))
            })?;
        }
        let _ = connection.close().await;
        Ok(Scratch { url, admin, name })
    }

    async fn drop(self) {
        if let Ok(mut connection) =
            crate::database::connect(&self.admin, std::time::Duration::from_secs(10), "praxia-deploy drift").await
        {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            if let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut connection).await {
                tracing::warn!(
                    "could not drop the scratch database {}: {}",
                    self.name,
                    crate::pg_error::describe(&err)
                );
            }
            let _ = connection.close().await;
        }
    }
}
