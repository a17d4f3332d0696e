//! Reads, for each table or index the findings name, whether it exists and how
//! big its table is, from `pg_class`: one query, estimates only (no scan).

use sqlx::Row;
use sqlx::postgres::PgConnection;

use super::{LiveTable, LiveTables, Relation, Target};

pub async fn read(connection: &mut PgConnection, targets: &[Target]) -> Result<LiveTables, sqlx::Error> {
    if targets.is_empty() {
        return Ok(LiveTables::default());
    }
    let names: Vec<String> = targets.iter().map(|target| target.relation().sql_name()).collect();
    let rows = sqlx::query(
        "SELECT v.i, t.oid IS NOT NULL, n.nspname::text, t.relname::text, t.reltuples::float8, \
                coalesce(pg_total_relation_size(t.oid), 0)::bigint \
         FROM unnest($1::text[]) WITH ORDINALITY AS v(name, i) \
         LEFT JOIN pg_class c ON c.oid = to_regclass(v.name) \
         LEFT JOIN pg_index x ON x.indexrelid = c.oid \
         LEFT JOIN pg_class t ON t.oid = coalesce(x.indrelid, c.oid) \
         LEFT JOIN pg_namespace n ON n.oid = t.relnamespace \
         ORDER BY v.i",
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
