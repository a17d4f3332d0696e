//! The studio's reads: each in a READ ONLY transaction, names quoted by
//! PostgreSQL itself, secret columns redacted before anything leaves.

use serde_json::{Value, json};
use sqlx::{PgPool, Row};

pub enum QueryError {
    NotFound,
    Database(String),
}

impl From<sqlx::Error> for QueryError {
    fn from(err: sqlx::Error) -> QueryError {
        QueryError::Database(crate::pg_error::describe(&err))
    }
}

/// Better Auth's secrets: shown as redacted, never sent.
const REDACTED: [(&str, &str); 6] = [
    ("account", "password"),
    ("account", "access_token"),
    ("account", "refresh_token"),
    ("account", "id_token"),
    ("session", "token"),
    ("verification", "value"),
];

pub fn is_secret(table: &str, column: &str) -> bool {
    REDACTED.iter().any(|(t, c)| *t == table && *c == column)
}

async fn read_only(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, QueryError> {
    let mut transaction = pool.begin().await?;
    sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *transaction).await?;
    Ok(transaction)
}

const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'";

pub async fn tables(pool: &PgPool) -> Result<Value, QueryError> {
    let mut transaction = read_only(pool).await?;
    let sql = format!(
        "SELECT n.nspname::text, c.relname::text, c.reltuples::float8, pg_total_relation_size(c.oid)::bigint \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMAS} ORDER BY 1, 2"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *transaction).await?;
    let tables: Vec<Value> = rows
        .iter()
        .map(|row| {
            let estimate: f64 = row.get(2);
            json!({
                "schema": row.get::<String, _>(0),
                "name": row.get::<String, _>(1),
                "estimated_rows": if estimate < 0.0 { Value::Null } else { json!(estimate.round()) },
                "bytes": row.get::<i64, _>(3),
            })
        })
        .collect();
    Ok(json!({ "tables": tables }))
}

/// The table's oid, or NotFound: the only way names from a URL reach SQL.
async fn table_oid(transaction: &mut sqlx::PgConnection, schema: &str, table: &str) -> Result<u32, QueryError> {
    let oid: Option<sqlx::postgres::types::Oid> = sqlx::query_scalar(
        "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
    )
    .bind(schema)
    .bind(table)
    .fetch_optional(&mut *transaction)
    .await?;
    oid.map(|oid| oid.0).ok_or(QueryError::NotFound)
}

pub async fn table(pool: &PgPool, schema: &str, table: &str) -> Result<Value, QueryError> {
    let mut transaction = read_only(pool).await?;
    let oid = table_oid(&mut transaction, schema, table).await?;
    let columns = sqlx::query(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid) \
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind(sqlx::postgres::types::Oid(oid))
    .fetch_all(&mut *transaction)
    .await?;
    let constraints = sqlx::query(
        "SELECT conname::text, contype::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = $1 ORDER BY 1",
    )
    .bind(sqlx::postgres::types::Oid(oid))
    .fetch_all(&mut *transaction)
    .await?;
    let indexes = sqlx::query(
        "SELECT c.relname::text, pg_get_indexdef(i.indexrelid), i.indisvalid FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1 ORDER BY 1",
    )
    .bind(sqlx::postgres::types::Oid(oid))
    .fetch_all(&mut *transaction)
    .await?;
    Ok(json!({
        "schema": schema,
        "name": table,
        "columns": columns.iter().map(|row| json!({
            "name": row.get::<String, _>(0),
            "type": row.get::<String, _>(1),
            "not_null": row.get::<bool, _>(2),
            "default": row.get::<Option<String>, _>(3),
            "redacted": is_secret(table, &row.get::<String, _>(0)),
        })).collect::<Vec<_>>(),
        "constraints": constraints.iter().map(|row| json!({
            "name": row.get::<String, _>(0),
            "kind": match row.get::<String, _>(1).as_str() { "p" => "primary key", "u" => "unique", "c" => "check", "f" => "foreign key", "x" => "exclusion", _ => "other" },
            "definition": row.get::<String, _>(2),
        })).collect::<Vec<_>>(),
        "indexes": indexes.iter().map(|row| json!({
            "name": row.get::<String, _>(0),
            "definition": row.get::<String, _>(1),
            "valid": row.get::<bool, _>(2),
        })).collect::<Vec<_>>(),
    }))
}

/// A page of rows in primary-key order, after the key `after` (keyset paging,
/// never OFFSET); secret columns redacted.
pub async fn rows(
    pool: &PgPool,
    schema: &str,
    table: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Value, QueryError> {
    let mut transaction = read_only(pool).await?;
    let oid = table_oid(&mut transaction, schema, table).await?;
    // The single-column primary key and its type (paging needs an order to resume).
    let key: Option<(String, String)> = sqlx::query_as(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) FROM pg_index i \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
         WHERE i.indrelid = $1 AND i.indisprimary AND i.indnatts = 1",
    )
    .bind(sqlx::postgres::types::Oid(oid))
    .fetch_optional(&mut *transaction)
    .await?;
    let ident: String = sqlx::query_scalar("SELECT quote_ident($1) || '.' || quote_ident($2)")
        .bind(schema)
        .bind(table)
        .fetch_one(&mut *transaction)
        .await?;
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let rows: Vec<Value> = match &key {
        Some((column, column_type)) => {
            let column_ident: String =
                sqlx::query_scalar("SELECT quote_ident($1)").bind(column).fetch_one(&mut *transaction).await?;
            let sql = format!(
                "SELECT to_jsonb(t)::text FROM {ident} t WHERE ($1::text IS NULL OR t.{column_ident} > $1::text::{column_type}) \
                 ORDER BY t.{column_ident} LIMIT $2"
            );
            let texts: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(after)
                .bind(fetch)
                .fetch_all(&mut *transaction)
                .await?;
            texts.iter().filter_map(|text| serde_json::from_str(text).ok()).collect()
        }
        None => {
            let sql = format!("SELECT to_jsonb(t)::text FROM {ident} t LIMIT $1");
            let texts: Vec<String> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(fetch).fetch_all(&mut *transaction).await?;
            texts.iter().filter_map(|text| serde_json::from_str(text).ok()).collect()
        }
    };
    let more = rows.len() > limit;
    let mut rows: Vec<Value> = rows.into_iter().take(limit).collect();
    for row in &mut rows {
        if let Value::Object(fields) = row {
            for (column, value) in fields.iter_mut() {
                if is_secret(table, column) && !value.is_null() {
                    *value = json!("[redacted]");
                }
            }
        }
    }
    let next = match (&key, more) {
        (Some((column, _)), true) => rows.last().and_then(|row| row.get(column)).map(|value| match value {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        }),
        _ => None,
    };
    Ok(json!({ "key": key.map(|(column, _)| column), "rows": rows, "next": next }))
}
