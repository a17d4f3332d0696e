//! Drift: whether a live database is exactly what its applied migrations make.
//! The expected schema is the applied migrations replayed by the release engine
//! into a scratch database (`scratch.rs`: the embedded development cluster, a
//! cluster of the tool's own, or `--shadow-url`; never the live database's
//! server), or recorded ahead of time by such a replay (`record.rs`) for the
//! release; both schemas are read by one catalog query (`catalog.sql`,
//! normalised by PostgreSQL's own pg_get_*def functions) and compared by
//! `model::differences`, a pure function.

pub mod model;
pub mod record;
pub mod release;
mod rename;
pub mod scratch;

use std::time::Duration;

use sqlx::Connection;
use sqlx::postgres::PgConnection;

pub use model::{Difference, Schema, SchemaObject};

use crate::config::{DatabaseUrl, Environment};
use crate::error::{Error, Result};
use crate::migration_folder::MigrationFolder;
use crate::migrations::run::{Migrator, Outcome, Settings};
use crate::own_schema::LOG_SCHEMA;

pub(crate) const CATALOG_SQL: &str = include_str!("catalog.sql");
/// The first statements of every catalog read, in its transaction: one snapshot
/// for the schema and its fingerprint, every name qualified (an empty
/// search_path), and the settings that change how pg_get_expr prints constants
/// (a `timestamptz` default under another TimeZone) the same on every server.
pub(crate) const READ_SETTINGS: &str = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY; \
     SET LOCAL search_path TO pg_catalog; SET LOCAL TimeZone TO 'UTC'; SET LOCAL DateStyle TO 'ISO, MDY'; \
     SET LOCAL IntervalStyle TO 'postgres'; SET LOCAL extra_float_digits TO 1; SET LOCAL bytea_output TO 'hex'";
/// A digest of the catalog rows the catalog query reads: changed by any DDL,
/// never by the rows of tables (see the file).
pub(crate) const FINGERPRINT_SQL: &str = include_str!("fingerprint.sql");

/// What the live side sends for a comparison: its server's major version, its
/// bookkeeping rows (which migrations to replay) and its schema. Read where the
/// database is (in the container, over SSH) and compared where the scratch
/// database is: nothing of the database leaves the host but its schema.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Live {
    pub database: String,
    pub major: u32,
    /// The server's system identifier, so that no replay is sent to it.
    #[serde(default)]
    pub server: Option<String>,
    pub bookkeeping: crate::migrations::plan::AppliedRows,
    pub objects: Vec<SchemaObject>,
}

impl Live {
    pub fn schema(&self) -> Schema {
        Schema::from_objects(self.objects.clone())
    }
}

/// Reads the live side through `migrator`'s database.
pub async fn read_live(migrator: &Migrator<'_>, wait: Duration) -> Result<Live> {
    let state = migrator.inspect(wait).await?;
    read_live_beside(migrator, state.rows, wait).await
}

/// The live side, for a caller that has inspected the bookkeeping already.
pub async fn read_live_beside(
    migrator: &Migrator<'_>,
    bookkeeping: crate::migrations::plan::AppliedRows,
    wait: Duration,
) -> Result<Live> {
    let mut connection = crate::database::connect(migrator.url(), wait, "praxia-deploy drift").await?;
    let major = major_version(&mut connection).await;
    let server = system_identifier(&mut connection).await;
    let schema = read_schema(&mut connection, &excluded_schemas(migrator.env())).await;
    let _ = connection.close().await;
    Ok(Live {
        database: migrator.url().redacted(),
        major: major?,
        server,
        bookkeeping,
        objects: without_bookkeeping(schema?, migrator.env()).objects.into_values().collect(),
    })
}

/// The schemas never compared: praxia-deploy's own (its tables change with the
/// tool, never by a migration). Of drizzle's bookkeeping schema only its table is
/// left out (`without_bookkeeping`): anything else made there by hand is seen.
pub fn excluded_schemas(_env: &Environment) -> Vec<String> {
    vec![LOG_SCHEMA.to_owned()]
}

/// The schema of the database `connection` is on, with every name qualified
/// (search_path emptied for the read, so that two databases print alike).
pub async fn read_schema(connection: &mut PgConnection, excluded: &[String]) -> Result<Schema> {
    read_schema_and_fingerprint(connection, excluded).await.map(|(schema, _)| schema)
}

/// The schema and the catalog's fingerprint (`fingerprint.sql`), read in one
/// snapshot: the fingerprint says when the schema read can be trusted again
/// without reading it.
pub async fn read_schema_and_fingerprint(
    connection: &mut PgConnection,
    excluded: &[String],
) -> Result<(Schema, String)> {
    let failed = |err: sqlx::Error| {
        Error::unavailable("could not read the database's catalog").note("reason", crate::pg_error::describe(&err))
    };
    let mut transaction = connection.begin().await.map_err(failed)?;
    sqlx::raw_sql(READ_SETTINGS).execute(&mut *transaction).await.map_err(failed)?;
    let document: String =
        sqlx::query_scalar(CATALOG_SQL).bind(excluded).fetch_one(&mut *transaction).await.map_err(failed)?;
    let fingerprint: String = sqlx::query_scalar(FINGERPRINT_SQL).fetch_one(&mut *transaction).await.map_err(failed)?;
    transaction.rollback().await.map_err(failed)?;
    let schema = Schema::from_json(&document)
        .map_err(|err| Error::internal(format!("the catalog query's document did not parse: {err}")))?;
    Ok((schema, fingerprint))
}

/// The server's system identifier (what tells two servers apart, whatever
/// names reach them), when it can be read.
pub async fn system_identifier(connection: &mut PgConnection) -> Option<String> {
    sqlx::query_scalar("SELECT system_identifier::text FROM pg_control_system()").fetch_one(&mut *connection).await.ok()
}

/// The server's major version (`server_version_num` / 10000).
pub async fn major_version(connection: &mut PgConnection) -> Result<u32> {
    let number: String = sqlx::query_scalar("SELECT current_setting('server_version_num')")
        .fetch_one(&mut *connection)
        .await
        .map_err(|err| {
            Error::unavailable("could not read the server's version").note("reason", crate::pg_error::describe(&err))
        })?;
    number
        .parse::<u32>()
        .map(|number| number / 10_000)
        .map_err(|_| Error::internal(format!("server_version_num is {number}")))
}

/// Replays `applied` (the migrations the live database recorded, in order) into
/// the empty database at `scratch`, as a release would: the same engine, splitter
/// and transaction modes, with no gate and no backup (nothing there to protect).
pub async fn replay(env: &Environment, applied: MigrationFolder, scratch: DatabaseUrl) -> Result<()> {
    let mut replay_env = env.clone();
    replay_env.review.gate = false;
    replay_env.backup.before_migrate = false;
    let migrator = Migrator::with_folder(&replay_env, scratch, applied, "praxia-deploy drift (replay)".to_owned());
    let settings = Settings {
        wait: Duration::from_secs(30),
        lock_wait: Duration::from_secs(30),
        order: crate::migrations::plan::OutOfOrder::Allow,
        batch_size: None,
    };
    let replay_failed = |error: Error| {
        error.note("while", "replaying the applied migrations into a scratch database").help(
            "these migrations are applied in the database: do not edit them. A migration that needs a superuser, or a role or other object made outside the migrations, cannot be replayed as the --shadow-url role: leave --shadow-url out to replay on the embedded cluster (or a cluster made for the replay)",
        )
    };
    let outcome = migrator.replay(settings, &mut crate::migrations::apply::NoProgress).await.map_err(replay_failed)?;
    match outcome {
        Outcome::Refused(error) => Err(replay_failed(error)),
        _ => Ok(()),
    }
}

/// The live and scratch servers must be one major version: catalogs print
/// differently from one to the next by themselves.
pub fn same_major_version(live: u32, scratch: u32) -> Result<()> {
    if live == scratch {
        return Ok(());
    }
    Err(Error::usage(format!(
        "the database runs PostgreSQL {live}, the scratch server {scratch}: their catalogs would differ by version alone"
    ))
    .help(format!("pass --shadow-url with a PostgreSQL {live} server to replay on")))
}

/// The schema `applied` makes, replayed into a scratch database (on
/// `shadow_url`'s server, else the embedded development cluster) of the live
/// server's major version `major`; the scratch database is dropped.
/// With no `major`, the scratch server's decides; it is returned with the schema.
/// `live_server`: the live database's server, which a staging or production
/// environment's replay must never be sent to.
pub async fn expected(
    env: &Environment,
    applied: MigrationFolder,
    major: Option<u32>,
    shadow_url: Option<&str>,
    live_server: scratch::LiveServer<'_>,
    wait: Duration,
) -> Result<(Schema, u32)> {
    let scratch = scratch::Scratch::create(env, shadow_url, live_server, &applied, wait).await?;
    let replayed = async {
        let mut connection = crate::database::connect(&scratch.url, wait, "praxia-deploy drift").await?;
        let scratch_major = major_version(&mut connection).await?;
        let _ = connection.close().await;
        if let Some(major) = major {
            same_major_version(major, scratch_major)?;
        }
        replay(env, applied, scratch.url.clone()).await?;
        let mut connection = crate::database::connect(&scratch.url, wait, "praxia-deploy drift").await?;
        let schema = read_schema(&mut connection, &excluded_schemas(env)).await;
        let _ = connection.close().await;
        schema.map(|schema| (without_bookkeeping(schema, env), scratch_major))
    };
    // Interrupted (Ctrl-C, or Dokku's timeout on a release), the scratch database still goes.
    let expected = tokio::select! {
        expected = replayed => expected,
        signal = crate::signals::interrupted() => Err(Error::new(
            crate::error::ErrorKind::Unavailable,
            format!("drift was interrupted by {signal}; its scratch database was dropped"),
        )),
    };
    scratch.drop().await;
    expected
}

/// The schema without the bookkeeping table (and its sequence, columns and
/// constraints), whose rows differ by nature.
pub fn without_bookkeeping(mut schema: Schema, env: &Environment) -> Schema {
    let table = format!("{}.{}", env.migrations.schema.as_str(), env.migrations.table.as_str());
    let sequence = format!("{table}_id_seq");
    schema.objects.retain(|(_, name), object| {
        name != &table
            && name != &sequence
            && object.table.as_deref() != Some(table.as_str())
            && !name.strip_prefix(&table).is_some_and(|rest| rest.starts_with('.'))
    });
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_major_version_is_a_clear_error() {
        assert!(same_major_version(15, 15).is_ok());
        let error = same_major_version(17, 15).unwrap_err();
        assert_eq!(error.exit_code(), 2);
        let text = error.to_string();
        assert!(text.contains("the database runs PostgreSQL 17, the scratch server 15"), "{text}");
        assert!(text.contains("--shadow-url with a PostgreSQL 17 server"), "{text}");
    }
}

/// What a comparison found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    /// How many applied migrations were replayed, and how many objects they make.
    pub applied: usize,
    pub objects: usize,
    /// The folder against the database's history (an applied migration edited or
    /// missing): with any, no fix is offered.
    pub problems: Vec<String>,
    pub differences: Vec<Difference>,
}

/// Replays what `live` recorded (from `folder`) and compares.
pub async fn compare(
    env: &Environment,
    folder: &MigrationFolder,
    live: &Live,
    shadow_url: Option<&str>,
    wait: Duration,
) -> Result<Comparison> {
    use crate::migrations::plan::{OutOfOrder, Problem, plan};
    let planned = plan(folder, &live.bookkeeping, OutOfOrder::Allow);
    let applied = MigrationFolder {
        dir: folder.dir.clone(),
        layout: folder.layout,
        migrations: planned.applied.iter().map(|(migration, _)| (*migration).clone()).collect(),
        outside_journal: Vec::new(),
    };
    let problems: Vec<String> = planned
        .problems
        .iter()
        // About pending migrations, which a comparison of the applied ones leaves out.
        .filter(|problem| !matches!(problem, Problem::OutOfOrder { .. } | Problem::Unrunnable { .. }))
        .map(Problem::describe)
        .collect();
    let count = applied.migrations.len();
    let (expected, _) =
        expected(env, applied, Some(live.major), shadow_url, scratch::LiveServer::Read(live.server.as_deref()), wait)
            .await?;
    let mut differences = model::differences(&expected, &live.schema());
    if !problems.is_empty() {
        // Against a folder that is not the database's history, no SQL is offered
        // to "fix" a database that may be right.
        for difference in &mut differences {
            difference.fix = None;
            difference.destructive = None;
        }
    }
    Ok(Comparison { applied: count, objects: expected.objects.len(), problems, differences })
}
