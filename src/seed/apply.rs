//! The one path by which fixtures reach a database (`seed`, and `release` in
//! development and test): in one transaction, under a lock, the stamp and the
//! applied migrations are read, the policy decides, and only then is anything written.

use serde::Serialize;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::fixtures::{SeedCounts, write_fixtures};
use super::policy::{PolicyInputs, SeedVerdict, StampState, fixtures_allowed};
use super::scale::write_scale;
use crate::config::{Environment, SeedSettings};
use crate::error::{Error, Result};
use crate::migrations::bookkeeping::Bookkeeping;
use crate::own_schema;
use crate::provenance::Provenance;
use crate::stamp::{self, Overwrite};

/// Seeding is serialised per database: two runs never race on the same rows.
const SEED_LOCK_KEY: i64 = 0x7072_6178_6961_5345; // "praxiaSE"

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FixtureOutcome {
    Written {
        counts: SeedCounts,
    },
    /// The policy said no; nothing was written (the transaction was rolled back).
    Refused {
        verdict: SeedVerdict,
    },
}

/// Applies the policy and writes the fixtures (and `scale` synthetic
/// organizations), all or nothing. A new database is stamped with `env` in the
/// same transaction; a database stamped for another environment is refused (exit 3).
pub async fn apply_fixtures(
    connection: &mut PgConnection,
    env: &Environment,
    fixtures: &SeedSettings,
    scale: Option<usize>,
    node_env: Option<&str>,
) -> Result<FixtureOutcome> {
    let mut transaction = connection.begin().await.map_err(|err| crate::database::write_failed("seeding", &err))?;
    let outcome = decide_and_write(&mut transaction, env, fixtures, scale, node_env).await?;
    match outcome {
        FixtureOutcome::Written { .. } => {
            transaction.commit().await.map_err(|err| crate::database::write_failed("seeding", &err))?
        }
        FixtureOutcome::Refused { .. } => {
            let _ = transaction.rollback().await;
        }
    }
    Ok(outcome)
}

async fn decide_and_write(
    transaction: &mut PgConnection,
    env: &Environment,
    fixtures: &SeedSettings,
    scale: Option<usize>,
    node_env: Option<&str>,
) -> Result<FixtureOutcome> {
    let failed = |err: sqlx::Error| crate::database::write_failed("seeding", &err);
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SEED_LOCK_KEY)
        .execute(&mut *transaction)
        .await
        .map_err(failed)?;
    // Our own tables exist from here on, so reading the stamp cannot abort the
    // transaction; on a refusal they are rolled back with everything else.
    own_schema::ensure(&mut *transaction).await.map_err(failed)?;
    let current = stamp::read(transaction).await?;
    let has_applied = Bookkeeping::new(&env.migrations).has_applied(transaction).await.map_err(failed)?;
    let state = StampState::of(current.as_ref().map(|stamp| stamp.kind), has_applied);
    let verdict = fixtures_allowed(PolicyInputs { kind: env.kind, node_env, stamp: Some(state) });
    if let SeedVerdict::Refused { .. } = verdict {
        return Ok(FixtureOutcome::Refused { verdict });
    }
    stamp::check(env, current.as_ref())?;
    if state == StampState::Fresh {
        stamp::write(transaction, env, &Provenance::here(&env.name), Overwrite::No).await.map_err(failed)?;
    }
    let mut counts = write_fixtures(transaction, fixtures).await.map_err(failed)?;
    if let Some(target) = scale {
        let password = fixtures.password.get_ref();
        counts.add(write_scale(transaction, target, || crate::auth::hash_password(password)).await.map_err(failed)?);
    }
    Ok(FixtureOutcome::Written { counts })
}

impl FixtureOutcome {
    /// What was written, or the refusal as an exit-3 error.
    pub fn written(self) -> Result<SeedCounts> {
        match self {
            FixtureOutcome::Written { counts } => Ok(counts),
            FixtureOutcome::Refused { verdict } => Err(refusal(&verdict)),
        }
    }
}

/// The exit-3 error for a refused policy, naming each guard and what it saw.
pub fn refusal(verdict: &SeedVerdict) -> Error {
    let mut error = Error::new(
        crate::error::ErrorKind::Policy,
        "refusing to write fixtures: this is not a development or test database",
    );
    if let SeedVerdict::Refused { guards } = verdict {
        for (_, reason) in guards {
            error = error.note("refused because", reason);
        }
    }
    error.help(
        "fixtures are for development and test only, and no flag or variable changes that; \
         staging and production get their first admin with `praxia-deploy bootstrap`",
    )
}
