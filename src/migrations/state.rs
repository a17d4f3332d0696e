//! What the database holds for a run, read in one round trip: the environment
//! stamp, the bookkeeping table's shape and rows, and the INVALID indexes. The
//! no-op `release` Dokku re-runs on every `config:set` is this one read.

use futures_util::TryStreamExt;
use sqlx::Row;
use sqlx::postgres::PgConnection;

use super::bookkeeping::Bookkeeping;
use super::plan::{AppliedRow, AppliedRows, TableShape};
use crate::error::{Error, Result};
use crate::pg_error::{describe, has_code, sqlstate};
use crate::stamp::{self, EnvironmentStamp};

/// What the database holds: its stamp and its bookkeeping rows.
#[derive(Debug, Clone)]
pub struct DatabaseState {
    pub stamp: Option<EnvironmentStamp>,
    pub rows: AppliedRows,
    /// Every INVALID index of the database (a failed or killed concurrent build).
    pub invalid_indexes: Vec<String>,
}

/// Reads the state. Three statements in one simple-protocol message: the
/// catalog facts, the stamp, the rows. A missing table ends the message early
/// with an error (a new database); the catalog facts say what is still to read.
pub async fn read(connection: &mut PgConnection, bookkeeping: &Bookkeeping) -> Result<DatabaseState> {
    let unreadable = |err: sqlx::Error| {
        Error::unavailable(format!("could not read the migration state ({})", bookkeeping.name()))
            .note("reason", describe(&err))
    };
    let sql = format!(
        "SELECT (SELECT coalesce(json_agg(attname::text), '[]') FROM pg_attribute \
                 WHERE attrelid = to_regclass({table}) AND attnum > 0 AND NOT attisdropped)::text, \
                to_regclass('praxia_deploy.environment') IS NOT NULL, \
                (SELECT coalesce(json_agg(i.indexrelid::regclass::text ORDER BY i.indexrelid::regclass::text), '[]') \
                 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema'))::text;\n\
         {stamp};\n\
         {rows};",
        table = bookkeeping.table_literal(),
        stamp = stamp::SELECT_SQL,
        rows = bookkeeping.rows_sql(),
    );
    let mut statement = 0;
    let mut catalog: Option<(String, bool, String)> = None;
    let mut stamp_row = None;
    let mut rows = Vec::new();
    let mut stream = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_many(&mut *connection);
    let stopped = loop {
        match stream.try_next().await {
            Ok(Some(sqlx::Either::Left(_done))) => statement += 1,
            Ok(Some(sqlx::Either::Right(row))) => {
                let decoded = match statement {
                    0 => row_tuple3(&row).map(|values| catalog = Some(values)),
                    1 => row_tuple4(&row).map(|values| stamp_row = Some(values)),
                    _ => applied_row(&row).map(|row| rows.push(row)),
                };
                decoded.map_err(unreadable)?;
            }
            Ok(None) => break None,
            Err(err) => break Some(err),
        }
    };
    drop(stream);
    let Some((columns, has_stamp_table, invalid)) = catalog else {
        return Err(unreadable(stopped.unwrap_or(sqlx::Error::RowNotFound)));
    };
    if let Some(err) = stopped
        && !has_code(&err, &[sqlstate::UNDEFINED_TABLE, sqlstate::INVALID_SCHEMA_NAME])
    {
        return Err(unreadable(err));
    }
    let columns: Vec<String> = serde_json::from_str(&columns).unwrap_or_default();
    let invalid_indexes: Vec<String> = serde_json::from_str(&invalid).unwrap_or_default();
    let shape = match () {
        _ if columns.is_empty() => TableShape::Missing,
        // drizzle-orm 1.0 tells its shape by the `name` column alone.
        _ if columns.iter().any(|column| column == "name") => TableShape::Drizzle1,
        _ => TableShape::Drizzle0,
    };
    // The stamp table was missing, so the rows were not read: read them now (an
    // unstamped database that drizzle migrated).
    if statement < 2 && shape != TableShape::Missing && !has_stamp_table {
        rows = sqlx::raw_sql(sqlx::AssertSqlSafe(bookkeeping.rows_sql()))
            .fetch_all(&mut *connection)
            .await
            .map_err(unreadable)?
            .iter()
            .map(applied_row)
            .collect::<std::result::Result<_, _>>()
            .map_err(unreadable)?;
    }
    let stamp = stamp_row.map(stamp::from_row).transpose()?;
    let rows = if shape == TableShape::Missing { Vec::new() } else { rows };
    Ok(DatabaseState { stamp, rows: AppliedRows { shape, rows }, invalid_indexes })
}

fn row_tuple3(row: &sqlx::postgres::PgRow) -> std::result::Result<(String, bool, String), sqlx::Error> {
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
}

fn row_tuple4(row: &sqlx::postgres::PgRow) -> std::result::Result<(String, String, String, String), sqlx::Error> {
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?))
}

fn applied_row(row: &sqlx::postgres::PgRow) -> std::result::Result<AppliedRow, sqlx::Error> {
    Ok(AppliedRow { id: row.try_get(0)?, hash: row.try_get(1)?, created_at: row.try_get(2)?, name: row.try_get(3)? })
}
