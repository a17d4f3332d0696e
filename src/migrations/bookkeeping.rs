//! The rows that say what is applied: drizzle's own table, kept exactly as its
//! migrator keeps it, and praxia-deploy's log beside it, written in the same
//! transaction as the migration.

use std::time::Duration;

use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnection;

use super::plan::{TableShape, TableWork};
use crate::config::MigrationSettings;
use crate::error::Result;
use crate::migration_folder::Migration;
use crate::own_schema::LOG_SCHEMA;
use crate::provenance::Provenance;

/// drizzle's table (`"drizzle"."__drizzle_migrations"` unless configured) and our log.
#[derive(Debug, Clone)]
pub struct Bookkeeping {
    /// The quoted, schema-qualified drizzle table.
    table: String,
    schema: String,
    /// The name the lock key is derived from.
    qualified_name: String,
}

impl Bookkeeping {
    pub fn new(settings: &MigrationSettings) -> Bookkeeping {
        Bookkeeping {
            table: format!("{}.{}", quote(&settings.schema), quote(&settings.table)),
            schema: quote(&settings.schema),
            qualified_name: format!("{}.{}", settings.schema, settings.table),
        }
    }

    /// `schema.table`, for messages.
    pub fn name(&self) -> &str {
        &self.qualified_name
    }

    /// The advisory lock key: one lock per database (advisory locks are per
    /// database already) and bookkeeping table.
    pub fn lock_key(&self) -> i64 {
        let digest = Sha256::digest(format!("praxia-deploy migrations {}", self.qualified_name).as_bytes());
        i64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 digest has 8 bytes"))
    }

    /// The table, quoted and schema-qualified, for `to_regclass($1)`.
    pub fn quoted(&self) -> &str {
        &self.table
    }

    /// The table as a string literal, for `to_regclass('...')` in SQL sent as text.
    pub fn table_literal(&self) -> String {
        format!("'{}'", self.table.replace('\'', "''"))
    }

    /// The rows whatever the shape: the table's own columns (`*`), so the result
    /// says the shape (drizzle 1.0's has `name`) without the catalog or a look at
    /// each row as a whole, which a new backend pays for.
    pub fn rows_sql(&self) -> String {
        format!("SELECT * FROM {} ORDER BY created_at, id", self.table)
    }

    /// Whether any migration was applied, safe inside a transaction (a missing
    /// table is looked up first, not stumbled on).
    pub async fn has_applied(&self, connection: &mut PgConnection) -> Result<bool, sqlx::Error> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(&self.table)
            .fetch_one(&mut *connection)
            .await?;
        if !exists {
            return Ok(false);
        }
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", self.table);
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(connection).await
    }

    /// Creates drizzle's table exactly as the drizzle version of `shape` does, if missing.
    pub fn ensure_sql(&self, shape: TableShape) -> String {
        let columns = match shape {
            TableShape::Drizzle1 => {
                "id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint, name text, applied_at timestamp with time zone DEFAULT now()"
            }
            TableShape::Drizzle0 | TableShape::Missing => {
                "id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint"
            }
        };
        format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {table} ({columns});",
            schema = self.schema,
            table = self.table,
        )
    }

    /// Brings the table to the planned shape: creates it (and our own schema),
    /// widens a 0.x table as drizzle-orm 1.0 does (`name`, and `applied_at` left
    /// NULL on the rows it did not see applied), and writes the missing names.
    pub async fn prepare_table(&self, connection: &mut PgConnection, work: &TableWork) -> Result<(), sqlx::Error> {
        crate::own_schema::ensure(&mut *connection).await?;
        let mut sql = self.ensure_sql(work.write_shape);
        if work.widen {
            sql.push_str(&format!(
                "\nALTER TABLE {table} ADD COLUMN IF NOT EXISTS \"name\" text;\nALTER TABLE {table} ADD COLUMN IF NOT EXISTS \"applied_at\" timestamp with time zone DEFAULT now();",
                table = self.table
            ));
        }
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *connection).await?;
        if work.names.is_empty() {
            return Ok(());
        }
        let applied_at = if work.widen { ", \"applied_at\" = NULL" } else { "" };
        let sql = format!(
            "UPDATE {} AS t SET \"name\" = v.name{applied_at} FROM unnest($1::int[], $2::text[]) AS v(id, name) WHERE t.id = v.id",
            self.table
        );
        let ids: Vec<i32> = work.names.iter().map(|backfill| backfill.id).collect();
        let names: Vec<&str> = work.names.iter().map(|backfill| backfill.name.as_str()).collect();
        sqlx::query(sqlx::AssertSqlSafe(sql)).bind(ids).bind(names).execute(connection).await.map(|_| ())
    }

    /// drizzle's row and our log row, in one round trip: `(hash, created_at)` in
    /// drizzle 0.x's shape, `(hash, created_at, name)` in 1.0's (`applied_at` defaults); the log row
    /// keeps the acknowledgements of review findings, with their reasons.
    pub async fn record(
        &self,
        connection: &mut PgConnection,
        shape: TableShape,
        migration: &Migration,
        duration: Duration,
        provenance: &Provenance,
    ) -> std::result::Result<(), sqlx::Error> {
        use crate::migration_folder::Part;
        match migration.part {
            // The file is not all applied: drizzle's migrator must still see it pending.
            Part::Expand => {
                let revision = provenance.revision.as_deref();
                let (tag, hash) = (&migration.tag, &migration.hash);
                return crate::own_schema::hold_contract(
                    connection,
                    &self.qualified_name,
                    tag,
                    hash,
                    &provenance.applied_by,
                    revision,
                )
                .await;
            }
            Part::Contract | Part::Abandoned => {
                if !crate::own_schema::contract_done(&mut *connection, &self.qualified_name, &migration.tag).await? {
                    return Err(sqlx::Error::Protocol(format!(
                        "the contract part of {} was applied by another run meanwhile",
                        migration.tag
                    )));
                }
            }
            Part::Whole => {}
        }
        let drizzle_row = match shape {
            TableShape::Drizzle1 => {
                format!("INSERT INTO {} (\"hash\", \"created_at\", \"name\") VALUES ($1, $2, $12)", self.table)
            }
            TableShape::Drizzle0 | TableShape::Missing => {
                format!("INSERT INTO {} (\"hash\", \"created_at\") VALUES ($1, $2)", self.table)
            }
        };
        let sql = format!(
            "WITH drizzle_row AS ({drizzle_row}) \
             INSERT INTO {LOG_SCHEMA}.migration_log \
             (bookkeeping_table, tag, hash, created_at, duration_ms, applied_by, tool_version, environment, acknowledgements, backup, contract) \
             VALUES ($3, $4, $1, $2, $5, $6, $7, $8, $9::jsonb, $10::jsonb, $11)"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&migration.hash)
            .bind(migration.when)
            .bind(&self.qualified_name)
            .bind(&migration.tag)
            .bind(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
            .bind(&provenance.applied_by)
            .bind(provenance.tool_version)
            .bind(&provenance.environment);
        let acknowledgements =
            serde_json::to_string(&crate::review::log_entries(migration)).expect("acknowledgements serialise");
        query = query.bind(acknowledgements);
        let backup =
            provenance.backup.as_ref().map(|backup| serde_json::to_string(backup).expect("a record serialises"));
        query = query.bind(backup);
        query = query.bind(match migration.part {
            Part::Contract => Some("contract"),
            Part::Abandoned => Some("abandoned"),
            Part::Whole | Part::Expand => None,
        });
        if shape == TableShape::Drizzle1 {
            query = query.bind(&migration.name);
        }
        query.execute(connection).await.map(|_| ())
    }
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bookkeeping(schema: &str, table: &str) -> Bookkeeping {
        let settings: MigrationSettings =
            toml::from_str(&format!("schema = \"{schema}\"\ntable = \"{table}\"\n")).unwrap();
        Bookkeeping::new(&settings)
    }

    #[test]
    fn the_drizzle_table_is_created_exactly_as_drizzle_creates_it() {
        let sql = bookkeeping("drizzle", "__drizzle_migrations").ensure_sql(TableShape::Drizzle0);
        assert!(sql.contains("CREATE SCHEMA IF NOT EXISTS \"drizzle\";"));
        assert!(sql.contains(
            "CREATE TABLE IF NOT EXISTS \"drizzle\".\"__drizzle_migrations\" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint);"
        ));
        let sql = bookkeeping("drizzle", "__drizzle_migrations").ensure_sql(TableShape::Drizzle1);
        assert!(sql.contains(
            "CREATE TABLE IF NOT EXISTS \"drizzle\".\"__drizzle_migrations\" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at bigint, name text, applied_at timestamp with time zone DEFAULT now());"
        ));
    }

    #[test]
    fn each_bookkeeping_table_has_its_own_stable_lock() {
        let default = bookkeeping("drizzle", "__drizzle_migrations");
        assert_eq!(default.lock_key(), bookkeeping("drizzle", "__drizzle_migrations").lock_key());
        assert_ne!(default.lock_key(), bookkeeping("ops", "__drizzle_migrations").lock_key());
        assert_ne!(default.lock_key(), bookkeeping("drizzle", "migrations").lock_key());
    }
}
