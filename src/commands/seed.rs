//! `seed`, `stamp`, and `release`'s fixture step: the seed policy applied.

use serde::Serialize;
use serde_json::json;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::Context;
use crate::cli::WaitArgs;
use crate::config::{DatabaseUrl, EnvironmentKind};
use crate::database;
use crate::error::{Error, ErrorKind, Result};
use crate::migrations::bookkeeping::Provenance;
use crate::output::Report;
use crate::seed::fixtures::{SeedCounts, write_fixtures};
use crate::seed::policy::{PolicyInputs, SeedVerdict, fixtures_allowed};
use crate::seed::scale::write_scale;
use crate::stamp::{self, Overwrite, Restamp};

/// What happened to fixtures, for the report.
#[derive(Debug, Serialize)]
pub struct SeedOutcome {
    #[serde(flatten)]
    pub verdict: SeedVerdict,
    pub written: SeedCounts,
    pub summary: String,
}

/// Seeding is serialised per database, so two `seed --scale` runs never race.
const SEED_LOCK_KEY: i64 = 0x7072_6178_6961_5345; // "praxiaSE"

/// After `release` migrated: development and test get their fixtures; anything
/// else is skipped with one line (a release never fails over fixtures).
pub async fn release_step(context: &Context<'_>, url: &DatabaseUrl, stamp: EnvironmentKind) -> Result<SeedOutcome> {
    let env = &context.env;
    let node_env = std::env::var("NODE_ENV").ok();
    let verdict = fixtures_allowed(PolicyInputs { kind: env.kind, node_env: node_env.as_deref(), stamp: Some(stamp) });
    if let SeedVerdict::Refused { .. } = &verdict {
        let summary = format!("fixtures skipped by policy: {}", verdict.reasons());
        return Ok(SeedOutcome { verdict, written: SeedCounts::default(), summary });
    }
    let Some(seed) = &env.seed else {
        let summary = format!("no fixtures declared ([seed] in {})", env.file.display());
        return Ok(SeedOutcome { verdict, written: SeedCounts::default(), summary });
    };
    let mut connection = database::connect(url, env.database.wait.0, "praxia-deploy release (seed)").await?;
    let written = in_transaction(&mut connection, async |transaction| write_fixtures(transaction, seed).await).await?;
    let _ = connection.close().await;
    Ok(SeedOutcome { verdict, written, summary: summary(written) })
}

pub async fn seed(context: &Context<'_>, wait: &WaitArgs, scale: Option<usize>) -> Result<Report> {
    let env = &context.env;
    let node_env = std::env::var("NODE_ENV").ok();
    refuse_before_connecting(env)?;
    let Some(fixtures) = &env.seed else {
        return Err(Error::usage(format!("the {} environment declares no fixtures", env.name))
            .note("file", env.file.display())
            .help("add a [seed] section with a password, [[seed.organizations]] and [[seed.users]] (see the README)"));
    };

    let url = database::url_for(env, context.cli.global.database_url.as_deref())?;
    let mut connection =
        database::connect(&url, wait.wait.unwrap_or(env.database.wait).0, "praxia-deploy seed").await?;
    let current = stamp::read(&mut connection).await?;
    refuse_unless_allowed(fixtures_allowed(PolicyInputs {
        kind: env.kind,
        node_env: node_env.as_deref(),
        stamp: current.as_ref().map(|stamp| stamp.kind),
    }))?;
    stamp::check(env, current.as_ref())?;

    let provenance = Provenance::here(&env.name);
    let written = in_transaction(&mut connection, async |transaction| {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(SEED_LOCK_KEY).execute(&mut *transaction).await?;
        if current.is_none() {
            stamp::write(transaction, env, &provenance, Overwrite::No).await?;
        }
        let mut written = write_fixtures(transaction, fixtures).await?;
        if let Some(target) = scale {
            let password = fixtures.password.get_ref();
            written.add(write_scale(transaction, target, || crate::auth::hash_password(password)).await?);
        }
        Ok(written)
    })
    .await?;
    let _ = connection.close().await;
    let outcome = SeedOutcome { verdict: SeedVerdict::Allowed, written, summary: summary(written) };
    let human = outcome.summary.clone();
    Ok(Report::new(&json!({ "database": url.redacted(), "seed": outcome, "scale": scale }), human))
}

/// The kind and NODE_ENV are known without the database (or the Dokku host):
/// refuse on them before connecting anywhere.
pub fn refuse_before_connecting(env: &crate::config::Environment) -> Result<()> {
    let node_env = std::env::var("NODE_ENV").ok();
    refuse_unless_allowed(fixtures_allowed(PolicyInputs { kind: env.kind, node_env: node_env.as_deref(), stamp: None }))
}

pub async fn stamp_command(context: &Context<'_>, wait: &WaitArgs, force: bool) -> Result<Report> {
    let env = &context.env;
    let url = database::url_for(env, context.cli.global.database_url.as_deref())?;
    let mut connection =
        database::connect(&url, wait.wait.unwrap_or(env.database.wait).0, "praxia-deploy stamp").await?;
    let current = stamp::read(&mut connection).await?;
    let decision = stamp::restamp(env, current.as_ref(), force)?;
    if decision == Restamp::Write {
        if let Some(previous) = &current {
            tracing::warn!(previous = %previous.name, kind = %previous.kind, "re-stamping the database as `{}`", env.name);
        }
        let overwrite = if current.is_some() { Overwrite::Yes } else { Overwrite::No };
        let provenance = Provenance::here(&env.name);
        in_transaction(&mut connection, async |transaction| {
            stamp::write(transaction, env, &provenance, overwrite).await
        })
        .await?;
    }
    let now = stamp::read(&mut connection).await?;
    let _ = connection.close().await;
    let human = match decision {
        Restamp::AlreadyStamped => format!("already stamped `{}` ({}); nothing changed", env.name, env.kind),
        Restamp::Write => format!("stamped the database as `{}` ({})", env.name, env.kind),
    };
    Ok(Report::new(&json!({ "database": url.redacted(), "stamp": now, "previous": current }), human))
}

fn refuse_unless_allowed(verdict: SeedVerdict) -> Result<()> {
    let SeedVerdict::Refused { guards } = verdict else { return Ok(()) };
    let mut error =
        Error::new(ErrorKind::Policy, "refusing to write fixtures: this is not a development or test database");
    for (_, reason) in &guards {
        error = error.note("refused because", reason);
    }
    Err(error.help(
        "fixtures are for development and test only, and no flag or variable changes that; \
         staging and production get their first admin with `praxia-deploy bootstrap`",
    ))
}

fn summary(written: SeedCounts) -> String {
    if written.total() == 0 {
        "fixtures already present: nothing written".to_owned()
    } else {
        format!("seeded {written}")
    }
}

/// Runs `work` in one transaction; any failure rolls everything back.
async fn in_transaction<T>(
    connection: &mut PgConnection,
    work: impl AsyncFnOnce(&mut PgConnection) -> std::result::Result<T, sqlx::Error>,
) -> Result<T> {
    let failed = |err: sqlx::Error| {
        let missing_tables = err.as_database_error().and_then(|db| db.code()).is_some_and(|code| code == "42P01");
        let error = Error::unavailable("writing to the database failed; nothing was written")
            .note("reason", database::describe(&err));
        if missing_tables {
            Error { kind: ErrorKind::Usage, ..error }
                .help("the Praxia tables are missing: run `praxia-deploy migrate` first")
        } else {
            error
        }
    };
    let mut transaction = connection.begin().await.map_err(failed)?;
    let value = work(&mut transaction).await.map_err(failed)?;
    transaction.commit().await.map_err(failed)?;
    Ok(value)
}
