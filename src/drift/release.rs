//! Drift before a release: the live schema against what its applied migrations
//! make, replayed on the live database's own server (the container has no other)
//! only when that set of migrations was never replayed: the expected schema is
//! kept in `praxia_deploy.expected_schema`, keyed by a digest of the set, so a
//! no-op release reads two catalogs' worth of rows and replays nothing.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::Connection;

use super::{Difference, Schema, SchemaObject, excluded_schemas, expected, read_live_beside};
use crate::error::{Error, Result};
use crate::migrations::folder::MigrationFolder;
use crate::migrations::plan::{OutOfOrder, plan};
use crate::migrations::run::Migrator;

/// The differences of the database `migrator` is on, before anything is applied.
/// Empty when the folder and the rows disagree: the release refuses that itself.
pub async fn check(migrator: &Migrator<'_>, wait: Duration) -> Result<Vec<Difference>> {
    let env = migrator.env();
    // A database that belongs to another environment is refused by the release
    // itself, before this writes (the cache) or replays anything.
    let state = migrator.inspect(wait).await?;
    crate::stamp::check(env, state.stamp.as_ref())?;
    let live = read_live_beside(migrator, state.rows, wait).await?;
    let planned = plan(migrator.folder(), &live.bookkeeping, OutOfOrder::Allow);
    if !planned.problems.is_empty() {
        return Ok(Vec::new());
    }
    let applied = MigrationFolder {
        dir: migrator.folder().dir.clone(),
        layout: migrator.folder().layout,
        migrations: planned.applied.iter().map(|(migration, _)| (*migration).clone()).collect(),
    };
    let digest =
        digest(live.major, &excluded_schemas(env), applied.migrations.iter().map(|migration| migration.hash.as_str()));
    let mut connection = crate::database::connect(migrator.url(), wait, "praxia-deploy release (drift)").await?;
    let cached = lookup(&mut connection, &digest).await;
    let expected_schema = match cached {
        Some(objects) => schema_of(objects),
        None => {
            tracing::info!(
                "drift: replaying {} on the database's server (once for this set of migrations)",
                crate::output::plural(applied.migrations.len(), "applied migration")
            );
            let schema = expected(env, applied, live.major, Some(migrator.url().expose_secret()), wait).await?;
            store(&mut connection, &digest, &schema).await?;
            schema
        }
    };
    let _ = connection.close().await;
    Ok(super::model::differences(&expected_schema, &live.schema()))
}

/// What identifies an expected schema: this tool's catalog query, the server's
/// major version, the schemas left out, and the applied migrations in order.
fn digest<'a>(major: u32, excluded: &[String], hashes: impl Iterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!(
        "praxia-deploy {} catalog; PostgreSQL {major}; without {excluded:?};",
        env!("CARGO_PKG_VERSION")
    ));
    // The query itself: a changed catalog query never reuses rows read by the old one.
    hasher.update(super::CATALOG_SQL.as_bytes());
    for hash in hashes {
        hasher.update(hash.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

fn schema_of(objects: Vec<SchemaObject>) -> Schema {
    Schema { objects: objects.into_iter().map(|object| ((object.kind.clone(), object.name.clone()), object)).collect() }
}

/// The cached expected schema, if this set was replayed before (and the cache exists).
async fn lookup(connection: &mut sqlx::PgConnection, digest: &str) -> Option<Vec<SchemaObject>> {
    let found: Option<String> =
        sqlx::query_scalar("SELECT objects::text FROM praxia_deploy.expected_schema WHERE applied_digest = $1")
            .bind(digest)
            .fetch_optional(&mut *connection)
            .await
            .ok()
            .flatten();
    found.and_then(|text| serde_json::from_str(&text).ok())
}

async fn store(connection: &mut sqlx::PgConnection, digest: &str, schema: &Schema) -> Result<()> {
    let failed = |err: sqlx::Error| {
        Error::unavailable("could not keep the replayed schema in praxia_deploy.expected_schema")
            .note("reason", crate::pg_error::describe(&err))
    };
    let objects: Vec<&SchemaObject> = schema.objects.values().collect();
    let text = serde_json::to_string(&objects).expect("objects serialise");
    let mut transaction = connection.begin().await.map_err(failed)?;
    // Under ensure's lock: made only where drift is checked on release.
    crate::own_schema::ensure(&mut transaction).await.map_err(failed)?;
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS praxia_deploy.expected_schema (\
             applied_digest text PRIMARY KEY, objects jsonb NOT NULL, made_at timestamptz NOT NULL DEFAULT now())",
    )
    .execute(&mut *transaction)
    .await
    .map_err(failed)?;
    sqlx::query(
        "INSERT INTO praxia_deploy.expected_schema (applied_digest, objects) VALUES ($1, $2::jsonb) \
         ON CONFLICT (applied_digest) DO NOTHING",
    )
    .bind(digest)
    .bind(text)
    .execute(&mut *transaction)
    .await
    .map_err(failed)?;
    transaction.commit().await.map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_changes_with_any_part_of_what_was_replayed() {
        let excluded = vec!["praxia_deploy".to_owned(), "drizzle".to_owned()];
        let base = digest(15, &excluded, ["a", "b"].into_iter());
        assert_eq!(base, digest(15, &excluded, ["a", "b"].into_iter()));
        assert_ne!(base, digest(16, &excluded, ["a", "b"].into_iter()));
        assert_ne!(base, digest(15, &excluded, ["a"].into_iter()));
        assert_ne!(base, digest(15, &excluded, ["b", "a"].into_iter()));
        assert_ne!(base, digest(15, &["x".to_owned()], ["a", "b"].into_iter()));
    }
}
