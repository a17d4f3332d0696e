//! `seed`, `stamp`, and `release`'s fixture step: the seed policy applied.

use serde_json::json;
use sqlx::Connection;

use super::Context;
use crate::cli::WaitArgs;
use crate::database;
use crate::error::{Error, Result};
use crate::output::Report;
use crate::provenance::Provenance;
use crate::seed::apply::{apply_fixtures, refusal};
use crate::seed::policy::{PolicyInputs, SeedVerdict, fixtures_allowed};
use crate::seed::release_step::{SeedOutcome, summary};
use crate::stamp::{self, Overwrite, Restamp};

pub async fn seed(context: &Context<'_>, wait: &WaitArgs, scale: Option<usize>) -> Result<Report> {
    let env = &context.env;
    refuse_before_connecting(context)?;
    let Some(fixtures) = &env.seed else {
        return Err(Error::usage(format!("the {} environment declares no fixtures", env.name))
            .note("file", env.file.display())
            .help("add a [seed] section with a password, [[seed.organizations]] and [[seed.users]] (see the README)"));
    };
    let url = database::url_for(env, context.cli.global.database_url.as_deref())?;
    let mut connection = database::connect(&url, context.wait(wait), "praxia-deploy seed").await?;
    let outcome = apply_fixtures(&mut connection, env, fixtures, scale, context.node_env.as_deref()).await;
    let _ = connection.close().await;
    let written = outcome?.written()?;
    let outcome = SeedOutcome { verdict: SeedVerdict::Allowed, written, summary: summary(written) };
    let human = outcome.summary.clone();
    Ok(Report::new(&json!({ "database": url.redacted(), "seed": outcome, "scale": scale }), human))
}

/// The guards known without the database: the environment's kind and NODE_ENV.
fn policy_before_connecting(context: &Context) -> SeedVerdict {
    fixtures_allowed(PolicyInputs { kind: context.env.kind, node_env: context.node_env.as_deref(), stamp: None })
}

/// Refuses on the kind and NODE_ENV before connecting anywhere (database or Dokku host).
pub fn refuse_before_connecting(context: &Context) -> Result<()> {
    match policy_before_connecting(context) {
        SeedVerdict::Allowed => Ok(()),
        verdict => Err(refusal(&verdict)),
    }
}

pub async fn stamp_command(context: &Context<'_>, wait: &WaitArgs, force: bool) -> Result<Report> {
    let env = &context.env;
    let url = database::url_for(env, context.cli.global.database_url.as_deref())?;
    let mut connection = database::connect(&url, context.wait(wait), "praxia-deploy stamp").await?;
    let current = stamp::read(&mut connection).await?;
    let decision = stamp::restamp(env, current.as_ref(), force)?;
    if decision == Restamp::Write {
        if let Some(previous) = &current {
            tracing::warn!(previous = %previous.name, kind = %previous.kind, "re-stamping the database as `{}`", env.name);
        }
        let overwrite = if current.is_some() { Overwrite::Yes } else { Overwrite::No };
        let provenance = Provenance::here(&env.name);
        let failed = |err: sqlx::Error| database::write_failed("stamping", &err);
        let mut transaction = connection.begin().await.map_err(failed)?;
        stamp::write(&mut transaction, env, &provenance, overwrite).await.map_err(failed)?;
        transaction.commit().await.map_err(failed)?;
    }
    let now = stamp::read(&mut connection).await?;
    let _ = connection.close().await;
    let human = match decision {
        Restamp::AlreadyStamped => format!("already stamped `{}` ({}); nothing changed", env.name, env.kind),
        Restamp::Write => format!("stamped the database as `{}` ({})", env.name, env.kind),
    };
    Ok(Report::new(&json!({ "database": url.redacted(), "stamp": now, "previous": current }), human))
}
