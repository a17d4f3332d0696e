//! What the database holds for a run, read in one round trip: the environment
//! stamp, the bookkeeping table's shape and rows, and (in full) the INVALID
//! indexes. The no-op `release` Dokku re-runs on every `config:set` is one quick read.

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
    /// Every INVALID index of the database (a failed or killed concurrent build);
    /// read in full only.
    pub invalid_indexes: Vec<String>,
    /// The migrations whose contract part is held back; read in full only.
    pub contracts: Vec<crate::own_schema::PendingContract>,
}

/// How much to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The stamp and the rows (their columns say the table's shape; an empty
    /// table's is left to the full read): enough to see that nothing is to be
    /// written. Skips the catalog, whose scans cost a new backend more than
    /// everything else together (pg_index alone ~3 ms). A refusal is never decided
    /// on it (see `run.rs`).
    Quick,
    /// Also the table's columns from the catalog (its shape even when empty) and
    /// the INVALID indexes: under the lock, and for `status` and `plan`.
    Full,
}

/// Reads the state: in one simple-protocol message, the catalog facts (in full),
/// the stamp, the rows. A missing table ends the message early with an error (a
/// new database); what is still to read is read after.
pub async fn read(connection: &mut PgConnection, bookkeeping: &Bookkeeping, detail: Detail) -> Result<DatabaseState> {
    let unreadable = |err: sqlx::Error| {
        Error::unavailable(format!("could not read the migration state ({})", bookkeeping.name()))
            .note("reason", describe(&err))
    };
    let catalog_sql = format!(
        "SELECT (SELECT coalesce(json_agg(attname::text), '[]') FROM pg_attribute \
                 WHERE attrelid = to_regclass({table}) AND attnum > 0 AND NOT attisdropped)::text, \
                to_regclass('{environment}') IS NOT NULL, \
                (SELECT coalesce(json_agg(i.indexrelid::regclass::text ORDER BY i.indexrelid::regclass::text), '[]') \
                 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
                 WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema'))::text;\n",
        table = bookkeeping.table_literal(),
        environment = crate::own_table!(environment),
    );
    let sql = format!(
        "{catalog}{stamp};\n{rows};",
        catalog = if detail == Detail::Full { catalog_sql.as_str() } else { "" },
        stamp = stamp::SELECT_SQL,
        rows = bookkeeping.rows_sql(),
    );
    // Without the catalog statement, the stamp is statement 0.
    let mut statement = if detail == Detail::Full { 0 } else { 1 };
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
    if let Some(err) = &stopped
        && !has_code(err, &[sqlstate::UNDEFINED_TABLE, sqlstate::INVALID_SCHEMA_NAME])
    {
        return Err(unreadable(stopped.expect("an error")));
    }
    let stamp = stamp_row.map(stamp::from_row).transpose()?;
    // Each finished statement counts one: the rows are read once the third is done.
    let rows_read = statement >= 3;
    match (detail, catalog) {
        (Detail::Full, Some((columns, has_stamp_table, invalid))) => {
            let columns: Vec<String> = serde_json::from_str(&columns).unwrap_or_default();
            let invalid_indexes: Vec<String> = serde_json::from_str(&invalid).unwrap_or_default();
            let shape = match () {
                _ if columns.is_empty() => TableShape::Missing,
                // drizzle-orm 1.0 tells its shape by the `name` column alone.
                _ if columns.iter().any(|column| column == "name") => TableShape::Drizzle1,
                _ => TableShape::Drizzle0,
            };
            // The stamp table was missing, so the rows were not read: read them now
            // (an unstamped database that drizzle migrated).
            if !rows_read && shape != TableShape::Missing && !has_stamp_table {
                rows = read_rows(connection, &bookkeeping.rows_sql()).await.map_err(unreadable)?.unwrap_or_default();
            }
            let rows: Vec<AppliedRow> = rows.into_iter().map(|(row, _)| row).collect();
            let mut contracts =
                crate::own_schema::pending_contracts(connection, bookkeeping.name()).await.map_err(unreadable)?;
            // drizzle's migrator ran the whole file meanwhile: nothing of it is held back any more.
            contracts.retain(|contract| !rows.iter().any(|row| row.hash == contract.hash));
            Ok(DatabaseState { stamp, rows: AppliedRows { shape, rows }, invalid_indexes, contracts })
        }
        (Detail::Full, None) => Err(unreadable(stopped.unwrap_or(sqlx::Error::RowNotFound))),
        (Detail::Quick, _) => {
            // The message stopped before the rows when there is no stamp table (a
            // database only drizzle migrated): read them now.
            let rows = if rows_read {
                Some(rows)
            } else {
                read_rows(connection, &bookkeeping.rows_sql()).await.map_err(unreadable)?
            };
            let rows = match rows {
                None => AppliedRows::none(),
                // An empty table's shape is left to the full read under the lock:
                // everything is pending then.
                Some(rows) if rows.is_empty() => AppliedRows::none(),
                Some(rows) => {
                    let named = rows.iter().any(|(_, has_name)| *has_name);
                    let shape = if named { TableShape::Drizzle1 } else { TableShape::Drizzle0 };
                    AppliedRows { shape, rows: rows.into_iter().map(|(row, _)| row).collect() }
                }
            };
            Ok(DatabaseState { stamp, rows, invalid_indexes: Vec::new(), contracts: Vec::new() })
        }
    }
}

/// The rows alone; None when the table does not exist.
async fn read_rows(
    connection: &mut PgConnection,
    sql: &str,
) -> std::result::Result<Option<Vec<(AppliedRow, bool)>>, sqlx::Error> {
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).fetch_all(&mut *connection).await {
        Ok(rows) => rows.iter().map(applied_row).collect::<std::result::Result<Vec<_>, _>>().map(Some),
        Err(err) if has_code(&err, &[sqlstate::UNDEFINED_TABLE, sqlstate::INVALID_SCHEMA_NAME]) => Ok(None),
        Err(err) => Err(err),
    }
}

fn row_tuple3(row: &sqlx::postgres::PgRow) -> std::result::Result<(String, bool, String), sqlx::Error> {
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
}

fn row_tuple4(row: &sqlx::postgres::PgRow) -> std::result::Result<(String, String, i64, String), sqlx::Error> {
    Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?, row.try_get(3)?))
}

/// A row of `SELECT *`, and whether its table has drizzle 1.0's `name` column.
fn applied_row(row: &sqlx::postgres::PgRow) -> std::result::Result<(AppliedRow, bool), sqlx::Error> {
    let has_name = row.try_column("name").is_ok();
    let row_of = AppliedRow {
        id: row.try_get("id")?,
        hash: row.try_get("hash")?,
        created_at: row.try_get("created_at")?,
        name: if has_name { row.try_get("name")? } else { None },
    };
    Ok((row_of, has_name))
}
