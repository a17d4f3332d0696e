//! Reads, for each table or index the findings name, whether it exists and how
//! big its table is, from `pg_class`: one query, estimates only (no scan). A
//! partitioned or inherited table counts with all its descendants: a lock on the
//! parent reaches them (a partitioned parent's own estimate, the sum of its
//! partitions', is left out).

use sqlx::Row;
use sqlx::postgres::PgConnection;

use super::{LiveTable, LiveTables, Relation, Target};

pub async fn read(connection: &mut PgConnection, targets: &[Target]) -> Result<LiveTables, sqlx::Error> {
    if targets.is_empty() {
        return Ok(LiveTables::default());
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
    let mut live = LiveTables::default();
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
