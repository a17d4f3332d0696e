//! The release's fixture step: after migrating, development and test get their
//! fixtures; anything else is skipped with one line (a release never fails
//! over fixtures).

use serde::Serialize;
use sqlx::Connection;

use super::apply::{FixtureOutcome, apply_fixtures};
use super::fixtures::SeedCounts;
use super::policy::{PolicyInputs, SeedVerdict, fixtures_allowed};
use crate::config::{DatabaseUrl, Environment};
use crate::database;
use crate::error::Result;

/// What happened to fixtures, for the report.
#[derive(Debug, Serialize)]
pub struct SeedOutcome {
    #[serde(flatten)]
    pub verdict: SeedVerdict,
    pub written: SeedCounts,
    pub summary: String,
}

/// The fixtures of `env` into the database at `url`, as the seed policy allows
/// (`node_env`: the process's NODE_ENV).
pub async fn release_step(
    env: &Environment,
    node_env: Option<&str>,
    url: &DatabaseUrl,
    wait: std::time::Duration,
) -> Result<SeedOutcome> {
    let skipped = |verdict: SeedVerdict| {
        let summary = format!("fixtures skipped by policy: {}", verdict.reasons());
        SeedOutcome { verdict, written: SeedCounts::default(), summary }
    };
    let verdict = fixtures_allowed(PolicyInputs { kind: env.kind, node_env, stamp: None });
    if let SeedVerdict::Refused { .. } = verdict {
        return Ok(skipped(verdict));
    }
    let Some(fixtures) = &env.seed else {
        let summary = format!("no fixtures declared ([seed] in {})", env.file.display());
        return Ok(SeedOutcome { verdict, written: SeedCounts::default(), summary });
    };
    let mut connection = database::connect(url, wait, "praxia-deploy release (seed)").await?;
    let outcome = apply_fixtures(&mut connection, env, fixtures, None, node_env).await;
    let _ = connection.close().await;
    Ok(match outcome? {
        FixtureOutcome::Written { counts } => {
            SeedOutcome { verdict: SeedVerdict::Allowed, written: counts, summary: summary(counts) }
        }
        FixtureOutcome::Refused { verdict } => skipped(verdict),
    })
}

/// A seed run in words.
pub fn summary(written: SeedCounts) -> String {
    if written.total() == 0 {
        "fixtures already present: nothing written".to_owned()
    } else {
        format!("seeded {written}")
    }
}
