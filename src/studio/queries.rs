//! The studio's reads: each in a READ ONLY transaction, names quoted by
//! PostgreSQL itself, secret columns redacted before anything leaves.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::postgres::types::Oid;
use sqlx::{PgPool, Row};

pub enum QueryError {
    NotFound,
    /// The request names something it may not (400).
    Bad(String),
    Database(String),
}

impl QueryError {
    fn message(&self) -> &str {
        match self {
            QueryError::NotFound => "no such table",
            QueryError::Bad(message) | QueryError::Database(message) => message,
        }
    }
}

impl From<sqlx::Error> for QueryError {
    fn from(err: sqlx::Error) -> QueryError {
        if let Some(database) = err.as_database_error()
            && crate::pg_error::is_bad_input(&err)
        {
            return QueryError::Bad(format!("a value in the request does not fit: {}", database.message()));
        }
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

/// What is hidden: Better Auth's secrets and the environment's `[studio] redact`.
#[derive(Debug, Clone, Default)]
pub struct Redaction {
    pub extra: Vec<(String, String)>,
}

impl Redaction {
    pub fn hides(&self, table: &str, column: &str) -> bool {
        REDACTED.iter().any(|(t, c)| *t == table && *c == column)
            || self.extra.iter().any(|(t, c)| t == table && c == column)
    }

    /// Whether `column` is hidden in a table of this lineage (`lineage`): the
    /// data of a partition or inheritance child is its parent's.
    fn hides_in(&self, lineage: &[String], column: &str) -> bool {
        lineage.iter().any(|table| self.hides(table, column))
    }
}

/// The table's single-column primary key, as named and as quoted for SQL.
async fn single_key(transaction: &mut sqlx::PgConnection, oid: u32) -> Result<Option<(String, String)>, QueryError> {
    Ok(sqlx::query_as(
        "SELECT a.attname::text, quote_ident(a.attname) FROM pg_index i \
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
         WHERE i.indrelid = $1 AND i.indisprimary AND i.indnatts = 1",
    )
    .bind(sqlx::postgres::types::Oid(oid))
    .fetch_optional(&mut *transaction)
    .await?)
}

/// The table at `oid`, every table it inherits from or is a partition of, and
/// every one that inherits from it or is its partition: a parent's rows include
/// its children's, so a column redacted in any of them is redacted in all.
async fn lineage(transaction: &mut sqlx::PgConnection, oid: u32) -> Result<Vec<String>, QueryError> {
    Ok(sqlx::query_scalar(
        "WITH RECURSIVE up(oid) AS (SELECT $1::oid UNION SELECT i.inhparent FROM pg_inherits i JOIN up ON i.inhrelid = up.oid), \
         down(oid) AS (SELECT $1::oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN down ON i.inhparent = down.oid) \
         SELECT c.relname::text FROM (SELECT oid FROM up UNION SELECT oid FROM down) f JOIN pg_class c ON c.oid = f.oid",
    )
    .bind(sqlx::postgres::types::Oid(oid))
    .fetch_all(&mut *transaction)
    .await?)
}

async fn read_only(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, QueryError> {
    let mut transaction = pool.begin().await?;
    sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *transaction).await?;
    Ok(transaction)
}

const USER_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'";

/// How long reading one table's size (and counting its rows) may take, and how
/// long the list may spend counting: a count reads the whole table, and a table a
/// migration holds locked cannot be read at all. What does not fit is not known
/// (`null`), and the list still answers.
const TABLE_READ: Duration = Duration::from_millis(250);
const COUNTING: Duration = Duration::from_secs(2);

/// Every table with its size and rows, each counting its partitions and children
/// (its rows include theirs): PostgreSQL's estimate when every one of them was
/// analysed, else an exact count.
pub async fn tables(pool: &PgPool) -> Result<Value, QueryError> {
    let mut transaction = read_only(pool).await?;
    // The catalog alone: no table is locked, so none can keep the list waiting.
    let sql = format!(
        "WITH RECURSIVE tree(top, oid) AS ( \
             SELECT c.oid, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND {USER_SCHEMAS} \
             UNION SELECT tree.top, i.inhrelid FROM tree JOIN pg_inherits i ON i.inhparent = tree.oid) \
         SELECT n.nspname::text, c.relname::text, quote_ident(n.nspname) || '.' || quote_ident(c.relname), \
                quote_literal(array_agg(d.oid)), \
                CASE WHEN bool_or(d.reltuples < 0 AND d.relkind <> 'p') THEN -1 \
                     ELSE sum(CASE WHEN d.relkind = 'p' THEN 0 ELSE d.reltuples END) END::float8, \
                has_table_privilege(c.oid, 'SELECT') \
         FROM tree JOIN pg_class c ON c.oid = tree.top JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_class d ON d.oid = tree.oid GROUP BY 1, 2, 3, c.oid ORDER BY 1, 2"
    );
    let listed: Vec<(String, String, String, String, f64, bool)> =
        sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *transaction).await?;
    let counting_ends = Instant::now() + COUNTING;
    let mut tables = Vec::new();
    for (schema, name, ident, tree, estimate, readable) in listed {
        // A table this role may not read has a size all the same.
        let count = estimate < 0.0 && readable && Instant::now() < counting_ends;
        let (bytes, size, counted) = measure(&mut transaction, &ident, &tree, count).await?;
        let (rows, exact) =
            if estimate >= 0.0 { (Some(estimate.round() as i64), false) } else { (counted, counted.is_some()) };
        tables.push(json!({
            "schema": schema, "name": name, "bytes": bytes, "size": size, "rows": rows, "rows_exact": exact,
        }));
    }
    Ok(json!({ "tables": tables }))
}

/// The size in bytes and as people read it of the tables `tree` (a table and its
/// partitions and children, an `oid[]` literal), and, with `count`, the rows of
/// `table`: None when that took longer than `TABLE_READ` or failed. One round
/// trip, in a savepoint, so the transaction goes on.
async fn measure(
    transaction: &mut sqlx::PgConnection,
    table: &str,
    tree: &str,
    count: bool,
) -> Result<(Option<i64>, Option<String>, Option<i64>), QueryError> {
    let count = if count { format!("(SELECT count(*) FROM {table})") } else { "NULL::bigint".to_owned() };
    // Both quoted by PostgreSQL (quote_ident, quote_literal); a simple query, as it is several.
    let sql = format!(
        "SAVEPOINT measure; SET LOCAL statement_timeout = {}; \
         SELECT bytes, pg_size_pretty(bytes), {count} \
         FROM (SELECT sum(pg_total_relation_size(o))::bigint AS bytes FROM unnest({tree}::oid[]) o) s; \
         RELEASE SAVEPOINT measure",
        TABLE_READ.as_millis(),
    );
    match sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).fetch_all(&mut *transaction).await {
        Ok(rows) => {
            let row = rows.first().ok_or_else(|| QueryError::Database("the size query gave no row".to_owned()))?;
            Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?))
        }
        Err(sqlx::Error::Database(_)) => {
            sqlx::raw_sql("ROLLBACK TO SAVEPOINT measure").execute(&mut *transaction).await?;
            Ok((None, None, None))
        }
        Err(err) => Err(err.into()),
    }
}

/// The table's oid, or NotFound: the only way names from a URL reach SQL, so
/// only a table the list shows (never the system catalogs) can be read.
async fn table_oid(transaction: &mut sqlx::PgConnection, schema: &str, table: &str) -> Result<u32, QueryError> {
    let sql = format!(
        "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') AND {USER_SCHEMAS}"
    );
    let oid: Option<sqlx::postgres::types::Oid> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).bind(schema).bind(table).fetch_optional(&mut *transaction).await?;
    oid.map(|oid| oid.0).ok_or(QueryError::NotFound)
}

pub async fn table(pool: &PgPool, redaction: &Redaction, schema: &str, table: &str) -> Result<Value, QueryError> {
    let mut transaction = read_only(pool).await?;
    let oid = table_oid(&mut transaction, schema, table).await?;
    let lineage = lineage(&mut transaction, oid).await?;
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
    let foreign_keys: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT a.attname::text, n.nspname::text, c.relname::text, ra.attname::text FROM pg_constraint con \
         JOIN pg_class c ON c.oid = con.confrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1] \
         JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = con.confkey[1] \
         WHERE con.contype = 'f' AND con.conrelid = $1 AND array_length(con.conkey, 1) = 1 ORDER BY 1",
    )
    .bind(sqlx::postgres::types::Oid(oid))
    .fetch_all(&mut *transaction)
    .await?;
    let referenced_by = referenced_by(&mut transaction, redaction, oid, &lineage).await?;
    Ok(json!({
        "schema": schema,
        "name": table,
        "foreign_keys": foreign_keys.iter().map(|(column, schema, table, references)| json!({
            "column": column, "schema": schema, "table": table, "references": references,
        })).collect::<Vec<_>>(),
        "referenced_by": referenced_by,
        "columns": columns.iter().map(|row| json!({
            "name": row.get::<String, _>(0),
            "type": row.get::<String, _>(1),
            "not_null": row.get::<bool, _>(2),
            "default": row.get::<Option<String>, _>(3),
            "redacted": redaction.hides_in(&lineage, &row.get::<String, _>(0)),
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

/// A row as JSON with every number as its exact text (a JSON number would round
/// `numeric` and big integers, and a rounded key would never page on).
/// `t.*`, not `t`: a column named `t` would be taken for the row.
const ROW_JSON: &str = "(SELECT jsonb_object_agg(e.k, CASE jsonb_typeof(e.v) WHEN 'number' THEN to_jsonb(e.v #>> '{}') ELSE e.v END) \
                        FROM jsonb_each(to_jsonb(t.*)) AS e(k, v))";

/// What a page of rows asks for: filters, an order, where the last page ended.
#[derive(Debug, Default)]
pub struct RowsRequest {
    /// `column:op:value` (ops: eq ne lt le gt ge contains null notnull).
    pub filters: Vec<String>,
    pub sort: Option<String>,
    pub descending: bool,
    /// The JSON cursor `next` of the previous page.
    pub after: Option<String>,
    pub limit: usize,
}

/// A column of the table, as the catalog has it.
struct Column {
    name: String,
    ident: String,
    sql_type: String,
}

async fn columns_of(transaction: &mut sqlx::PgConnection, oid: u32) -> Result<Vec<Column>, QueryError> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT a.attname::text, quote_ident(a.attname), format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
         WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
    )
    .bind(sqlx::postgres::types::Oid(oid))
    .fetch_all(&mut *transaction)
    .await?;
    Ok(rows.into_iter().map(|(name, ident, sql_type)| Column { name, ident, sql_type }).collect())
}

/// An invalid request: the filter, column or cursor it names, and why.
fn bad(message: String) -> QueryError {
    QueryError::Bad(message)
}

/// A page of rows, filtered, in (sort column, primary key) order, after the
/// cursor (keyset paging, never OFFSET; NULLs last); secret columns redacted and
/// never filtered or sorted on (that would read them a bit at a time).
pub async fn rows(
    pool: &PgPool,
    redaction: &Redaction,
    schema: &str,
    table: &str,
    request: &RowsRequest,
) -> Result<Value, QueryError> {
    let mut transaction = read_only(pool).await?;
    let planned = plan_rows(&mut transaction, redaction, schema, table, request).await?;
    let sql = format!("{} LIMIT {}", planned.select, request.limit + 1);
    let mut query = sqlx::query_as::<_, (String, Vec<Option<String>>)>(sqlx::AssertSqlSafe(sql));
    for value in &planned.binds {
        query = query.bind(value);
    }
    let found = query.fetch_all(&mut *transaction).await?;
    let more = found.len() > request.limit;
    let page = &found[..found.len().min(request.limit)];
    let mut rows: Vec<Value> = page.iter().filter_map(|(text, _)| serde_json::from_str(text).ok()).collect();
    let next = match (more && planned.pageable, page.last()) {
        (true, Some((_, cursor))) => Some(serde_json::to_string(cursor).expect("a cursor serialises")),
        _ => None,
    };
    redact(redaction, &planned.lineage, &mut rows);
    Ok(json!({ "key": planned.key, "rows": rows, "next": next }))
}

/// A page's query, before its LIMIT: each row as JSON text and its cursor.
pub struct PlannedRows {
    select: String,
    binds: Vec<String>,
    lineage: Vec<String>,
    key: Option<String>,
    pageable: bool,
    /// The table's columns, in order.
    pub columns: Vec<String>,
}

/// The query for `request`'s rows, checked against the catalog (names, filters,
/// the cursor): every error a request can cause is found here, before a row is read.
async fn plan_rows(
    transaction: &mut sqlx::PgConnection,
    redaction: &Redaction,
    schema: &str,
    table: &str,
    request: &RowsRequest,
) -> Result<PlannedRows, QueryError> {
    let oid = table_oid(transaction, schema, table).await?;
    let lineage = lineage(transaction, oid).await?;
    let columns = columns_of(transaction, oid).await?;
    let column = |name: &str| -> Result<&Column, QueryError> {
        let found =
            columns.iter().find(|column| column.name == name).ok_or_else(|| bad(format!("no column `{name}`")))?;
        if redaction.hides_in(&lineage, name) {
            return Err(bad(format!("`{name}` is redacted: it cannot be filtered or sorted on")));
        }
        Ok(found)
    };
    let key = single_key(transaction, oid).await?.map(|(name, _)| name);
    // A redacted key is never an order nor a cursor (the cursor would carry it).
    let key = key.filter(|key| !redaction.hides_in(&lineage, key));
    let ident: String = sqlx::query_scalar("SELECT quote_ident($1) || '.' || quote_ident($2)")
        .bind(schema)
        .bind(table)
        .fetch_one(&mut *transaction)
        .await?;

    let mut conditions: Vec<String> = Vec::new();
    let mut binds: Vec<String> = Vec::new();
    for filter in &request.filters {
        let mut parts = filter.splitn(3, ':');
        let (name, op) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let value = parts.next();
        let column = column(name)?;
        let c = format!("t.{}", column.ident);
        let mut bound = |value: Option<&str>| -> Result<String, QueryError> {
            let value = value.ok_or_else(|| bad(format!("filter `{filter}` needs a value")))?;
            binds.push(value.to_owned());
            Ok(format!("${}", binds.len()))
        };
        conditions.push(match op {
            "null" => format!("{c} IS NULL"),
            "notnull" => format!("{c} IS NOT NULL"),
            "contains" => format!("{c}::text ILIKE '%' || {} || '%'", bound(value)?),
            "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
                let symbol = match op {
                    "eq" => "=",
                    "ne" => "<>",
                    "lt" => "<",
                    "le" => "<=",
                    "gt" => ">",
                    _ => ">=",
                };
                format!("{c} {symbol} {}::text::{}", bound(value)?, column.sql_type)
            }
            other => return Err(bad(format!("unknown filter `{other}`: eq ne lt le gt ge contains null notnull"))),
        });
    }

    // The order: the sort column (if any), then the key; the cursor resumes after both.
    let order: Vec<&Column> = match (&request.sort, &key) {
        (Some(sort), Some(key)) if sort != key => vec![column(sort)?, column(key)?],
        (Some(sort), None) => vec![column(sort)?],
        (_, Some(key)) => vec![columns.iter().find(|c| &c.name == key).ok_or(QueryError::NotFound)?],
        (None, None) => Vec::new(),
    };
    let direction = if request.descending { "DESC" } else { "ASC" };
    let pageable = key.is_some();
    if let (Some(after), true) = (&request.after, pageable) {
        let cursor: Vec<Option<String>> =
            serde_json::from_str(after).map_err(|_| bad("the page cursor is not one this studio made".to_owned()))?;
        if cursor.len() != order.len() {
            return Err(bad("the page cursor is not for this order".to_owned()));
        }
        let more = if request.descending { "<" } else { ">" };
        let mut bind = |value: &str, column: &Column| {
            binds.push(value.to_owned());
            format!("${}::text::{}", binds.len(), column.sql_type)
        };
        let key_column = order.last().expect("a key");
        let key_value = cursor.last().cloned().flatten().ok_or_else(|| bad("the page cursor has no key".to_owned()))?;
        let key_after = format!("t.{} {more} {}", key_column.ident, bind(&key_value, key_column));
        conditions.push(if order.len() == 2 {
            let sort = order[0];
            let s = format!("t.{}", sort.ident);
            match &cursor[0] {
                // NULLs come last: after a NULL only NULLs with a later key.
                None => format!("({s} IS NULL AND {key_after})"),
                Some(value) => {
                    let v = bind(value, sort);
                    format!("({s} {more} {v} OR ({s} = {v} AND {key_after}) OR {s} IS NULL)")
                }
            }
        } else {
            key_after
        });
    }
    let where_clause =
        if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    let order_clause = if order.is_empty() {
        String::new()
    } else {
        format!(
            "ORDER BY {}",
            order.iter().map(|c| format!("t.{} {direction} NULLS LAST", c.ident)).collect::<Vec<_>>().join(", ")
        )
    };
    // The cursor is each order column's own text (an array's `{1,2}`, not JSON's
    // `[1,2]`): what `$n::text::type` reads back.
    let cursor_sql = if order.is_empty() {
        "ARRAY[]::text[]".to_owned()
    } else {
        format!("ARRAY[{}]", order.iter().map(|c| format!("t.{}::text", c.ident)).collect::<Vec<_>>().join(", "))
    };
    Ok(PlannedRows {
        select: format!("SELECT {ROW_JSON}::text, {cursor_sql} FROM {ident} t {where_clause} {order_clause}"),
        binds,
        lineage,
        key,
        pageable,
        columns: columns.iter().map(|column| column.name.clone()).collect(),
    })
}

/// How an export is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Csv,
    Json,
}

/// An export, planned and checked: `stream` then sends it, row by row.
pub struct Export {
    transaction: sqlx::Transaction<'static, sqlx::Postgres>,
    planned: PlannedRows,
    redaction: Redaction,
    format: ExportFormat,
    limit: usize,
}

pub async fn plan_export(
    pool: &PgPool,
    redaction: &Redaction,
    schema: &str,
    table: &str,
    request: &RowsRequest,
    format: ExportFormat,
) -> Result<Export, QueryError> {
    let mut transaction = read_only(pool).await?;
    let planned = plan_rows(&mut transaction, redaction, schema, table, request).await?;
    Ok(Export { transaction, planned, redaction: redaction.clone(), format, limit: request.limit })
}

impl Export {
    /// Sends the export to `sink` a row at a time: a row is read from the server
    /// only when the last one was taken, so memory holds a few rows whatever the
    /// table's size. A database error mid-way ends the stream with it (the
    /// download is cut short, never silently whole).
    pub async fn stream(mut self, sink: tokio::sync::mpsc::Sender<std::io::Result<Vec<u8>>>) {
        use futures_util::StreamExt;
        let head = match self.format {
            ExportFormat::Csv => csv_line(self.planned.columns.iter().map(|column| Some(column.as_str()))),
            ExportFormat::Json => b"[".to_vec(),
        };
        if sink.send(Ok(head)).await.is_err() {
            return;
        }
        let sql = format!("{} LIMIT {}", self.planned.select, self.limit);
        let mut query = sqlx::query_as::<_, (String, Vec<Option<String>>)>(sqlx::AssertSqlSafe(sql));
        for value in &self.planned.binds {
            query = query.bind(value);
        }
        let mut rows = query.fetch(&mut *self.transaction);
        let mut first = true;
        while let Some(row) = rows.next().await {
            let chunk = match row {
                Ok((text, _)) => {
                    let mut value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    redact(&self.redaction, &self.planned.lineage, std::slice::from_mut(&mut value));
                    match self.format {
                        ExportFormat::Csv => csv_line(
                            self.planned
                                .columns
                                .iter()
                                .map(|column| match value.get(column) {
                                    None | Some(Value::Null) => None,
                                    Some(Value::String(text)) => Some(std::borrow::Cow::Borrowed(text.as_str())),
                                    Some(other) => Some(std::borrow::Cow::Owned(other.to_string())),
                                })
                                .collect::<Vec<_>>()
                                .iter()
                                .map(|cell| cell.as_deref()),
                        ),
                        ExportFormat::Json => {
                            let mut bytes = if first { b"\n".to_vec() } else { b",\n".to_vec() };
                            bytes.extend(serde_json::to_vec(&value).unwrap_or_default());
                            bytes
                        }
                    }
                }
                Err(err) => {
                    let _ = sink.send(Err(std::io::Error::other(crate::pg_error::describe(&err)))).await;
                    return;
                }
            };
            first = false;
            if sink.send(Ok(chunk)).await.is_err() {
                return;
            }
        }
        if self.format == ExportFormat::Json {
            let _ = sink.send(Ok(b"\n]\n".to_vec())).await;
        }
    }
}

fn redact(redaction: &Redaction, lineage: &[String], rows: &mut [Value]) {
    for row in rows {
        if let Value::Object(fields) = row {
            for (column, value) in fields.iter_mut() {
                if redaction.hides_in(lineage, column) && !value.is_null() {
                    *value = json!("[redacted]");
                }
            }
        }
    }
}

/// The single-column foreign keys of other tables (or this one) that point at the
/// table at `oid`: `column` of `schema.table` holds the value of `references`. A
/// key through a redacted column is left out: the link would carry its value.
async fn referenced_by(
    transaction: &mut sqlx::PgConnection,
    redaction: &Redaction,
    oid: u32,
    own_lineage: &[String],
) -> Result<Vec<Value>, QueryError> {
    // conparentid = 0: a partition's copy of its parent's key is the parent's key.
    let links: Vec<(String, String, String, String, Oid)> = sqlx::query_as(
        "SELECT n.nspname::text, c.relname::text, a.attname::text, ra.attname::text, c.oid FROM pg_constraint con \
         JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1] \
         JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = con.confkey[1] \
         WHERE con.contype = 'f' AND con.confrelid = $1 AND con.conparentid = 0 \
           AND array_length(con.conkey, 1) = 1 ORDER BY 1, 2, 3",
    )
    .bind(Oid(oid))
    .fetch_all(&mut *transaction)
    .await?;
    let mut found = Vec::new();
    for (schema, table, column, references, other) in links {
        let other_lineage = lineage(&mut *transaction, other.0).await?;
        if redaction.hides_in(own_lineage, &references) || redaction.hides_in(&other_lineage, &column) {
            continue;
        }
        found.push(json!({ "schema": schema, "table": table, "column": column, "references": references }));
    }
    Ok(found)
}

/// The environment stamp (`null`: never stamped), or why it could not be read.
pub async fn stamp(pool: &PgPool) -> Result<Value, String> {
    let mut transaction = read_only(pool).await.map_err(|error| error.message().to_owned())?;
    let stamp = crate::stamp::read(&mut transaction).await.map_err(|error| error.to_string())?;
    Ok(json!(stamp))
}

/// The migrations: applied (when, by whom, with what acknowledgements, from
/// praxia_deploy.migration_log) and pending (their SQL, how each will run, and
/// what the review finds in it offline).
pub async fn migrations(pool: &PgPool, env: &crate::config::Environment) -> Result<Value, QueryError> {
    use crate::migrations::bookkeeping::Bookkeeping;
    use crate::migrations::plan::{OutOfOrder, plan};
    use crate::migrations::state::{Detail, read};
    let folder = crate::migration_folder::read_environment_folder(&env.migrations)
        .map_err(|error| QueryError::Database(error.to_string()))?;
    let bookkeeping = Bookkeeping::new(&env.migrations);
    // A plain connection (read-only by its session default): the state read may end
    // early on a missing table, which would abort a transaction.
    let mut transaction = pool.acquire().await?;
    let state = read(&mut transaction, &bookkeeping, Detail::Full)
        .await
        .map_err(|error| QueryError::Database(error.to_string()))?;
    let logged: Vec<(String, String, String, String)> = if state.stamp.is_some()
        || sqlx::query_scalar::<_, bool>(concat!(
            "SELECT to_regclass('",
            crate::own_table!(migration_log),
            "') IS NOT NULL"
        ))
        .fetch_one(&mut *transaction)
        .await?
    {
        sqlx::query_as(concat!(
            "SELECT tag, to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), applied_by, \
                 (to_jsonb(l) -> 'acknowledgements')::text FROM ",
            crate::own_table!(migration_log),
            " l WHERE bookkeeping_table = $1 ORDER BY id"
        ))
        .bind(bookkeeping.name())
        .fetch_all(&mut *transaction)
        .await
        .unwrap_or_default()
    } else {
        Vec::new()
    };
    let planned = plan(&folder, &state.rows, OutOfOrder::Refuse);
    let sql_of = |migration: &crate::migration_folder::Migration| -> Vec<Value> {
        migration
            .statements()
            .map(
                |statement| json!({ "number": statement.number, "line": statement.line, "sql": statement.text.trim() }),
            )
            .collect()
    };
    let applied: Vec<Value> = planned
        .applied
        .iter()
        .map(|(migration, _)| {
            let log = logged.iter().rev().find(|(tag, ..)| tag == &migration.tag);
            json!({
                "tag": migration.tag,
                "mode": migration.mode.to_string(),
                "applied_at": log.map(|(_, at, ..)| at),
                "applied_by": log.map(|(_, _, by, _)| by),
                "acknowledgements": log.and_then(|(.., acks)| serde_json::from_str::<Value>(acks).ok()),
                "statements": sql_of(migration),
            })
        })
        .collect();
    let pending: Vec<Value> = planned
        .pending
        .iter()
        .map(|migration| {
            let review = crate::review::Reviewed::of(migration, &env.review);
            let expanded = state.contracts.iter().find(|contract| contract.tag == migration.tag);
            json!({
                "tag": migration.tag,
                "mode": migration.mode.to_string(),
                "expanded": expanded,
                "statements": sql_of(migration),
                "findings": review.findings,
            })
        })
        .collect();
    let problems: Vec<String> = planned.problems.iter().map(crate::migrations::plan::Problem::describe).collect();
    Ok(json!({ "applied": applied, "pending": pending, "problems": problems }))
}

/// Rows as CSV: a header of every column seen, values as text, quoted as RFC 4180 says.
pub fn to_csv(rows: &[Value]) -> String {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        if let Value::Object(fields) = row {
            for key in fields.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
    }
    let mut out = csv_line(columns.iter().map(|column| Some(column.as_str())));
    for row in rows {
        let cells: Vec<Option<String>> = columns
            .iter()
            .map(|column| match row.get(column) {
                None | Some(Value::Null) => None,
                Some(Value::String(text)) => Some(text.clone()),
                Some(other) => Some(other.to_string()),
            })
            .collect();
        out.extend(csv_line(cells.iter().map(|cell| cell.as_deref())));
    }
    String::from_utf8(out).expect("CSV of UTF-8 text")
}

/// One CSV record, CRLF-ended: a cell a spreadsheet would run as a formula kept
/// as text (OWASP's list: = + - @ tab CR; a negative number stays a number),
/// quoted where it must be; None is empty.
fn csv_line<'a>(cells: impl Iterator<Item = Option<&'a str>>) -> Vec<u8> {
    let defuse = |text: &str| {
        let number = text.parse::<f64>().is_ok() && !text.contains(['\t', '\r']);
        if text.starts_with(['=', '+', '-', '@', '\t', '\r']) && !number { format!("'{text}") } else { text.to_owned() }
    };
    let quote = |text: &str| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    };
    let mut line =
        cells.map(|cell| cell.map(|text| quote(&defuse(text))).unwrap_or_default()).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_a_spreadsheet_would_run_stays_text() {
        assert_eq!(to_csv(&[json!({"f": "=HYPERLINK(\"x\")"})]), "f\r\n\"'=HYPERLINK(\"\"x\"\")\"\r\n");
        assert_eq!(to_csv(&[json!({"n": "-5"})]), "n\r\n-5\r\n");
        assert_eq!(to_csv(&[json!({"f": "-2+3+cmd|' /C calc'!A0"})]), "f\r\n'-2+3+cmd|' /C calc'!A0\r\n");
        assert_eq!(to_csv(&[json!({"f": "+1"})]), "f\r\n+1\r\n");
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let rows = vec![json!({"id": 1, "note": "a, \"b\""}), json!({"id": 2, "note": null})];
        assert_eq!(to_csv(&rows), "id,note\r\n1,\"a, \"\"b\"\"\"\r\n2,\r\n");
    }

    #[test]
    fn better_auths_secrets_and_the_environments_are_redacted() {
        let redaction = Redaction { extra: vec![("profile".to_owned(), "phone".to_owned())] };
        assert!(redaction.hides("account", "password") && redaction.hides("session", "token"));
        assert!(redaction.hides("verification", "value") && redaction.hides("profile", "phone"));
        assert!(!redaction.hides("account", "provider_id"));
    }
}
