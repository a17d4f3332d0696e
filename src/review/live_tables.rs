//! Reads, for each table or index the findings name, whether it exists and how
//! big its table is, from `pg_class`: one query, estimates only (no scan). A
//! partitioned or inherited table counts with all its descendants: a lock on the
//! parent reaches them (a partitioned parent's own estimate, the sum of its
//! partitions', is left out). And whether the database holds any table at all
//! beyond the bookkeeping's and praxia-deploy's own (a first deploy).

use sqlx::Row;
use sqlx::postgres::PgConnection;

use super::{LiveTable, LiveTables, Relation, Target};

/// `bookkeeping`: the drizzle table, quoted and schema-qualified.
pub async fn read(
    connection: &mut PgConnection,
    targets: &[Target],
    bookkeeping: &str,
) -> Result<LiveTables, sqlx::Error> {
    // Any relation that can hold or show data (tables, views, sequences, foreign
    // tables) but the bookkeeping table, its sequence, praxia-deploy's own schema
    // and what extensions install; and any large object.
    let holds_no_tables: bool = sqlx::query_scalar(
        "SELECT NOT EXISTS ( \
             SELECT FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p', 'm', 'v', 'f', 'S') \
               AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'praxia_deploy') \
               AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' \
               AND c.oid IS DISTINCT FROM to_regclass($1) \
               AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid \
                   AND (d.deptype = 'e' OR (d.refobjid = to_regclass($1) AND d.deptype IN ('a', 'i'))))) \
         AND NOT EXISTS (SELECT FROM pg_largeobject_metadata)",
    )
    .bind(bookkeeping)
    .fetch_one(&mut *connection)
    .await?;
    let current_schema: Option<String> =
        sqlx::query_scalar("SELECT current_schema()::text").fetch_one(&mut *connection).await?;
    let mut live = LiveTables { holds_no_tables, current_schema, ..LiveTables::default() };
    if targets.is_empty() {
        return Ok(live);
    }
    let names: Vec<String> = targets.iter().map(|target| target.relation().sql_name()).collect();
    let rows = sqlx::query(
        "WITH RECURSIVE target AS ( \
             SELECT v.i, t.oid AS table_oid \
             FROM unnest($1::text[]) WITH ORDINALITY AS v(name, i) \
             LEFT JOIN pg_class c ON c.oid = to_regclass(v.name) \
             LEFT JOIN pg_index x ON x.indexrelid = c.oid \
             LEFT JOIN pg_class t ON t.oid = coalesce(x.indrelid, c.oid) \
         ), tree AS ( \
             SELECT i, table_oid AS oid FROM target WHERE table_oid IS NOT NULL \
             UNION ALL \
             SELECT tree.i, h.inhrelid FROM tree JOIN pg_inherits h ON h.inhparent = tree.oid \
         ), size AS ( \
             SELECT tree.i, \
                    bool_or(c.reltuples < 0 AND c.relkind NOT IN ('p', 'I')) AS unanalysed, \
                    sum(CASE WHEN c.relkind IN ('p', 'I') THEN 0 ELSE greatest(c.reltuples, 0) END)::float8 AS rows, \
                    sum(pg_total_relation_size(c.oid))::bigint AS bytes \
             FROM tree JOIN pg_class c ON c.oid = tree.oid GROUP BY tree.i \
         ) \
         SELECT target.i, target.table_oid IS NOT NULL, n.nspname::text, t.relname::text, \
                CASE WHEN size.unanalysed THEN -1 ELSE coalesce(size.rows, 0) END::float8, \
                coalesce(size.bytes, 0)::bigint \
         FROM target \
         LEFT JOIN pg_class t ON t.oid = target.table_oid \
         LEFT JOIN pg_namespace n ON n.oid = t.relnamespace \
         LEFT JOIN size ON size.i = target.i \
         ORDER BY target.i",
    )
    .bind(names)
    .fetch_all(connection)
    .await?;
    for (target, row) in targets.iter().zip(rows) {
        let table = if row.try_get::<bool, _>(1)? {
            let reltuples: f64 = row.try_get(4)?;
            Some(LiveTable {
                table: Relation { schema: row.try_get(2)?, name: row.try_get(3)? },
                rows: (reltuples >= 0.0).then_some(reltuples),
                bytes: row.try_get(5)?,
            })
        } else {
            None
        };
        live.found.insert(target.clone(), table);
    }
    Ok(live)
}
