//! The restore drill: a backup restored into a scratch database on the embedded
//! development cluster (never into the database it came from), every table of
//! the dump checked to be back and counted, the bookkeeping table among them;
//! then the scratch database is dropped, whatever happened.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::{Connection, PgConnection};

use super::archive;
use super::catalog::TableName;
use super::tools;
use crate::config::{DatabaseUrl, Environment};
use crate::error::{Error, ErrorKind, Result};
use crate::localdb::LocalDatabase;

/// One table as it came back.
#[derive(Debug, Clone, Serialize)]
pub struct RestoredTable {
    pub table: TableName,
    pub rows: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Drill {
    pub file: String,
    pub scratch_database: String,
    pub tables: Vec<RestoredTable>,
    /// Rows of the bookkeeping table: the migrations the backup had applied.
    pub applied_migrations: Option<i64>,
    pub took_ms: u128,
}

pub async fn run(env: &Environment, file: &Path) -> Result<Drill> {
    let started = Instant::now();
    let verified = archive::verify(file, &env.migrations).await?;
    let scratch = format!("praxia_restore_drill_{}", uuid::Uuid::new_v4().simple());
    let local = LocalDatabase::for_project(&env.root)?;
    let admin_url = local.start_for_scratch("postgres")?;
    let scratch_url = local.start_for_scratch(&scratch)?;
    let mut admin = connect(&admin_url).await?;
    for sql in [format!("DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE)"), format!("CREATE DATABASE \"{scratch}\"")]
    {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .map_err(|err| drill_error("create the scratch database", &err))?;
    }
    let outcome = restore_and_count(file, &scratch_url, &verified.catalog.tables, env).await;
    let drop = format!("DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE)");
    let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await;
    let _ = admin.close().await;
    let (tables, applied_migrations) = outcome?;
    dropped.map_err(|err| drill_error("drop the scratch database", &err))?;
    Ok(Drill {
        file: file.display().to_string(),
        scratch_database: scratch,
        tables,
        applied_migrations,
        took_ms: started.elapsed().as_millis(),
    })
}

async fn restore_and_count(
    file: &Path,
    url: &str,
    tables: &[TableName],
    env: &Environment,
) -> Result<(Vec<RestoredTable>, Option<i64>)> {
    let pg_restore = tools::program("pg_restore")?;
    let output = tokio::process::Command::new(&pg_restore)
        .args(["--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", "--dbname", url])
        .arg(file)
        .output()
        .await
        .map_err(|err| Error::io("run", &pg_restore, err))?;
    if !output.status.success() {
        return Err(Error::new(ErrorKind::Unavailable, format!("the backup {} did not restore", file.display()))
            .note("pg_restore said", String::from_utf8_lossy(&output.stderr).trim())
            .help("the dump is readable but PostgreSQL refused it: a missing extension or role, or a server older than the dump's; the scratch database was dropped"));
    }
    let mut connection = connect(url).await?;
    let mut restored = Vec::new();
    for table in tables {
        let sql = format!("SELECT count(*) FROM {}.{}", quote(&table.schema), quote(&table.name));
        let rows: i64 =
            sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut connection).await.map_err(|err| {
                Error::new(ErrorKind::Unavailable, format!("table {table} of the dump did not come back"))
                    .note("reason", crate::pg_error::describe(&err))
            })?;
        restored.push(RestoredTable { table: table.clone(), rows });
    }
    let bookkeeping = restored
        .iter()
        .find(|table| table.table.schema == *env.migrations.schema && table.table.name == *env.migrations.table)
        .map(|table| table.rows);
    let _ = connection.close().await;
    Ok((restored, bookkeeping))
}

/// A connection to the development cluster, as every command connects (its statements not logged).
async fn connect(url: &str) -> Result<PgConnection> {
    let url = DatabaseUrl::parse(url, "the development cluster")?;
    crate::database::connect(&url, Duration::from_secs(30), "praxia-deploy backup verify").await
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn drill_error(what: &str, err: &sqlx::Error) -> Error {
    Error::unavailable(format!("the restore drill could not {what}")).note("reason", crate::pg_error::describe(err))
}
