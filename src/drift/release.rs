//! Drift with a release (`[drift] on_release`), on the release's own connection,
//! reading only: the release never replays migrations, least of all on the live
//! database's server. The expected schema of the applied set comes from the
//! database's own record of it (`praxia_deploy.drift_expected`, kept by an
//! earlier release) or from the file `drift --record` wrote (`record.rs`).
//!
//! 1. One query: the server's major version, the kept record's fingerprint of
//!    the live catalog when it last matched, and the live catalog's fingerprint
//!    now. Equal: no drift, nothing more is read (a no-op release stays cheap).
//! 2. Otherwise the live catalog is read (with its fingerprint, in one snapshot)
//!    and compared; a match is kept, so the next release stops at step 1.
//! 3. After migrating, the new set is checked the same way and its expected
//!    schema kept, so the next release can check whatever its image holds.

use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};

use super::record::{self, Recorded, RecordedFile};
use super::{Difference, Schema, SchemaObject, excluded_schemas, read_schema_and_fingerprint, without_bookkeeping};
use crate::config::{Environment, OnRelease};
use crate::error::{Error, ErrorKind, Result};
use crate::migration_folder::Migration;
use crate::migrations::plan::Plan;
use crate::text::plural;

/// The release's drift check.
pub struct DriftOnRelease<'e> {
    env: &'e Environment,
}

impl<'e> DriftOnRelease<'e> {
    pub fn new(env: &'e Environment) -> DriftOnRelease<'e> {
        DriftOnRelease { env }
    }
}

/// What a check found.
#[derive(Debug)]
enum Verdict {
    Same,
    Differs(Vec<Difference>),
    /// No expected schema at hand for the set: why.
    NotChecked(String),
}

/// Before or after the migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Moment {
    Before,
    After,
}

impl DriftOnRelease<'_> {
    /// Before anything is written, on the release's connection: an error stops the
    /// release with nothing written (`on_release = "refuse"`).
    pub async fn before(&mut self, connection: &mut PgConnection, plan: &Plan<'_>) -> Result<()> {
        let on_release = self.env.drift.on_release;
        if on_release == OnRelease::Off {
            return Ok(());
        }
        let verdict = check(self.env, connection, plan, Moment::Before).await;
        let name = &self.env.name;
        match (verdict, on_release) {
            (Ok(Verdict::Same), _) => Ok(()),
            (Ok(Verdict::Differs(differences)), OnRelease::Warn) => {
                for difference in &differences {
                    tracing::warn!("drift: {}", difference.describe());
                }
                tracing::warn!(
                    "the database differs from its migrations in {}; `praxia-deploy drift --env {name}` shows each one and how to put it back",
                    plural(differences.len(), "place"),
                );
                Ok(())
            }
            (Ok(Verdict::Differs(differences)), _) => {
                let mut error = Error::new(
                    ErrorKind::Policy,
                    format!(
                        "the database differs from its migrations in {}: nothing was migrated ([drift] on_release = \"refuse\")",
                        plural(differences.len(), "place")
                    ),
                );
                for difference in differences.iter().take(10) {
                    error = error.note("drift", difference.describe());
                }
                Err(error.help(format!(
                    "`praxia-deploy drift --env {name}` shows each difference and how to put it back; change the schema only through migrations"
                )))
            }
            (Ok(Verdict::NotChecked(reason)), OnRelease::Warn) => {
                tracing::warn!("drift: not checked: {reason}");
                tracing::warn!("drift: {}", record_help(self.env));
                Ok(())
            }
            (Ok(Verdict::NotChecked(reason)), _) => Err(Error::new(
                ErrorKind::Policy,
                format!("drift could not be checked: nothing was migrated ([drift] on_release = \"refuse\"): {reason}"),
            )
            .help(format!(
                "{}; for the set the database is at, run it on a checkout of the release that applied it; or let this one release through with on_release = \"warn\"",
                record_help(self.env)
            ))),
            (Err(error), OnRelease::Warn) => {
                tracing::warn!("drift: not checked: {error}");
                Ok(())
            }
            (Err(error), _) => {
                Err(error.note("while", "checking drift before the release ([drift] on_release = \"refuse\")"))
            }
        }
    }

    /// Once migrations were applied, on the new state: warns, never fails.
    pub async fn after(&mut self, connection: &mut PgConnection, plan: &Plan<'_>) {
        if self.env.drift.on_release == OnRelease::Off {
            return;
        }
        match check(self.env, connection, plan, Moment::After).await {
            Ok(Verdict::Same) => {}
            Ok(Verdict::Differs(differences)) => {
                for difference in &differences {
                    tracing::warn!("drift: {}", difference.describe());
                }
                tracing::warn!(
                    "after migrating, the database differs from its migrations in {}; `praxia-deploy drift --env {}` shows how",
                    plural(differences.len(), "place"),
                    self.env.name
                );
            }
            Ok(Verdict::NotChecked(reason)) => {
                tracing::warn!("drift: the next release cannot check drift: {reason}");
                tracing::warn!("drift: {}", record_help(self.env));
            }
            Err(error) => tracing::warn!("drift: not checked after migrating: {error}"),
        }
    }
}

fn record_help(env: &Environment) -> String {
    format!(
        "record the expected schema with `praxia-deploy drift --record --env {}` (on a machine with the PostgreSQL server programs of the database's major version, or with --shadow-url) and ship {} with the release",
        env.name,
        env.drift.expected_schema.strip_prefix(&env.root).unwrap_or(&env.drift.expected_schema).display()
    )
}

/// The applied set of `plan` against the live catalog.
async fn check(env: &Environment, connection: &mut PgConnection, plan: &Plan<'_>, moment: Moment) -> Result<Verdict> {
    let applied: Vec<&Migration> = plan.applied.iter().map(|(migration, _)| *migration).collect();
    if applied.is_empty() {
        // A first release: no migration has made anything yet to compare with.
        return Ok(Verdict::Same);
    }
    let excluded = excluded_schemas(env);
    let digest = record::digest_of(&excluded, &applied);
    if moment == Moment::After {
        // The record is written in any case: made first, its making does not
        // change the fingerprint read below.
        ensure_record(connection).await?;
    }
    let kept = kept(connection, &digest).await?;
    if kept.verified.is_some() && kept.verified.as_deref() == Some(kept.fingerprint.as_str()) {
        return Ok(Verdict::Same);
    }
    let expected: Vec<SchemaObject> = match kept.objects {
        Some(objects) => objects,
        None => {
            let file = RecordedFile::read(&env.drift.expected_schema)?;
            match RecordedFile::find(file.as_ref(), &digest, kept.major) {
                Ok(Recorded { objects, .. }) => objects,
                Err(missing) => {
                    return Ok(Verdict::NotChecked(missing.describe(
                        &env.drift.expected_schema,
                        applied.len(),
                        kept.major,
                    )));
                }
            }
        }
    };
    let (live, fingerprint) = read_schema_and_fingerprint(connection, &excluded).await?;
    let expected_schema = Schema::from_objects(expected.clone());
    let differences = super::model::differences(&expected_schema, &without_bookkeeping(live, env));
    let verified = differences.is_empty().then_some(fingerprint);
    // Kept when it matched (so the next check stops at the fingerprint), and after
    // migrating in any case (so the next release has the expected schema).
    if (verified.is_some() || moment == Moment::After)
        && let Err(error) = keep(connection, &digest, kept.major, &expected, verified.as_deref()).await
    {
        // Only what the next release can skip or check is lost.
        tracing::warn!("drift: {error}");
    }
    Ok(if differences.is_empty() { Verdict::Same } else { Verdict::Differs(differences) })
}

/// What the database keeps for a set, with the live fingerprint, in one query.
struct Kept {
    major: u32,
    /// The fingerprint of the live catalog when it last matched the set.
    verified: Option<String>,
    /// The set's expected schema, when kept and needed.
    objects: Option<Vec<SchemaObject>>,
    fingerprint: String,
}

async fn kept(connection: &mut PgConnection, digest: &str) -> Result<Kept> {
    let failed = |err: sqlx::Error| {
        Error::unavailable("could not read the database's catalog").note("reason", crate::pg_error::describe(&err))
    };
    // A digest is hex, so it can be written into the SQL: the whole read is one
    // simple-protocol message (one round trip on the no-op path), made as the
    // catalog is read (`READ_SETTINGS`), so that the fingerprints compare.
    assert!(digest.bytes().all(|byte| byte.is_ascii_hexdigit()), "a digest is hex");
    let fingerprint = super::FINGERPRINT_SQL.trim().trim_end_matches(';');
    let major = "current_setting('server_version_num')::int / 10000";
    let read = |select: String| format!("BEGIN; {}; {select}; ROLLBACK", super::READ_SETTINGS);
    let with_record = read(format!(
        "SELECT {major}, k.verified_fingerprint, k.applied_digest IS NOT NULL, ({fingerprint}\n) \
         FROM (SELECT 1) one LEFT JOIN {expected} k ON k.applied_digest = '{digest}' AND k.postgres = {major}",
        expected = crate::own_table!(drift_expected)
    ));
    let found = sqlx::raw_sql(sqlx::AssertSqlSafe(with_record)).fetch_all(&mut *connection).await;
    let (major, verified, recorded, fingerprint): (i32, Option<String>, bool, String) = match found {
        Ok(rows) => {
            let row = rows.first().ok_or_else(|| Error::internal("the drift record's read returned no row"))?;
            let decoded: std::result::Result<_, sqlx::Error> =
                (|| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?)))();
            decoded.map_err(failed)?
        }
        // No record yet (a database no release with drift on has migrated). The
        // failed statement left its transaction open: it is rolled back.
        Err(err) if crate::pg_error::has_code(&err, &[crate::pg_error::sqlstate::UNDEFINED_TABLE]) => {
            sqlx::raw_sql("ROLLBACK").execute(&mut *connection).await.map_err(failed)?;
            let without = read(format!("SELECT {major}, ({fingerprint}\n)"));
            let rows = sqlx::raw_sql(sqlx::AssertSqlSafe(without)).fetch_all(&mut *connection).await.map_err(failed)?;
            let row = rows.first().ok_or_else(|| Error::internal("the catalog's fingerprint read returned no row"))?;
            (row.try_get(0).map_err(failed)?, None, false, row.try_get(1).map_err(failed)?)
        }
        Err(err) => {
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *connection).await;
            return Err(failed(err));
        }
    };
    let major = u32::try_from(major).unwrap_or_default();
    let objects = if recorded && verified.as_deref() != Some(fingerprint.as_str()) {
        let text: String = sqlx::query_scalar(concat!(
            "SELECT objects::text FROM ",
            crate::own_table!(drift_expected),
            " WHERE applied_digest = $1 AND postgres = $2"
        ))
        .bind(digest)
        .bind(major as i32)
        .fetch_one(&mut *connection)
        .await
        .map_err(failed)?;
        // A record this version cannot read is as good as none.
        serde_json::from_str(&text).ok()
    } else {
        None
    };
    Ok(Kept { major, verified, objects, fingerprint })
}

/// Keeps the set's expected schema, and the live fingerprint that matched it (if any).
async fn keep(
    connection: &mut PgConnection,
    digest: &str,
    major: u32,
    objects: &[SchemaObject],
    verified: Option<&str>,
) -> Result<()> {
    let failed = |err: sqlx::Error| {
        Error::unavailable("could not keep the expected schema in praxia_deploy.drift_expected")
            .note("reason", crate::pg_error::describe(&err))
    };
    let text = serde_json::to_string(objects).expect("objects serialise");
    ensure_record(connection).await?;
    let mut transaction = connection.begin().await.map_err(failed)?;
    sqlx::query(concat!(
        "INSERT INTO ",
        crate::own_table!(drift_expected),
        " (applied_digest, postgres, objects, verified_fingerprint) \
             VALUES ($1, $2, $3::jsonb, $4) ON CONFLICT (applied_digest, postgres) DO UPDATE \
             SET objects = EXCLUDED.objects, verified_fingerprint = EXCLUDED.verified_fingerprint, recorded_at = now()"
    ))
    .bind(digest)
    .bind(major as i32)
    .bind(text)
    .bind(verified)
    .execute(&mut *transaction)
    .await
    .map_err(failed)?;
    transaction.commit().await.map_err(failed)
}

async fn ensure_record(connection: &mut PgConnection) -> Result<()> {
    let failed = |err: sqlx::Error| {
        Error::unavailable("could not make praxia_deploy.drift_expected")
            .note("reason", crate::pg_error::describe(&err))
    };
    let mut transaction = connection.begin().await.map_err(failed)?;
    crate::own_schema::ensure_drift_record(&mut transaction).await.map_err(failed)?;
    transaction.commit().await.map_err(failed)
}
