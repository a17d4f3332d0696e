-- The schema of the current database as one JSON array of objects, each
-- {"kind", "name", "ident", "table", "table_ident", "attrs"}: names as PostgreSQL
-- prints them (`ident`, `table_ident`: quoted for SQL; for a column, constraint,
-- trigger or policy `ident` is its own name, `table_ident` its table's),
-- definitions normalised by PostgreSQL itself (pg_get_*def, format_type,
-- pg_get_expr), so that two databases made by the same statements compare
-- equal. $1: the schemas left out (praxia-deploy's own and the bookkeeping one).
-- Objects that belong to an extension are left out with it.
WITH ns AS (
    SELECT n.oid, n.nspname
    FROM pg_namespace n
    WHERE n.nspname <> ALL ($1::text[])
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
),
rel AS (
    SELECT c.oid, c.relname, c.relkind, ns.nspname,
           quote_ident(ns.nspname) || '.' || quote_ident(c.relname) AS ident
    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
    WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
),
objects AS (
    SELECT 'schema' AS kind, ns.nspname AS name, quote_ident(ns.nspname) AS ident, NULL::text AS tbl, NULL::text AS tbl_ident,
           jsonb_build_object('comment', obj_description(ns.oid, 'pg_namespace')) AS attrs
    FROM ns
    UNION ALL
    SELECT CASE rel.relkind WHEN 'p' THEN 'partitioned table' ELSE 'table' END, rel.nspname || '.' || rel.relname, rel.ident, NULL, NULL,
           jsonb_build_object(
               'row level security', c.relrowsecurity::text,
               'forced row level security', c.relforcerowsecurity::text,
               'persistence', c.relpersistence::text,
               'partition key', pg_get_partkeydef(c.oid),
               'partition of', (SELECT p.oid::regclass::text FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = c.oid AND c.relispartition),
               'partition bound', pg_get_expr(c.relpartbound, c.oid),
               'inherits', (SELECT string_agg(h.inhparent::regclass::text, ', ' ORDER BY h.inhseqno) FROM pg_inherits h WHERE h.inhrelid = c.oid AND NOT c.relispartition),
               'options', array_to_string(c.reloptions, ', '),
               'replica identity', NULLIF(c.relreplident::text, 'd'),
               'comment', obj_description(c.oid, 'pg_class'))
    FROM rel JOIN pg_class c ON c.oid = rel.oid
    WHERE rel.relkind IN ('r', 'p')
    UNION ALL
    SELECT CASE WHEN rel.relkind IN ('v', 'm') THEN 'view column' ELSE 'column' END,
           rel.nspname || '.' || rel.relname || '.' || a.attname, quote_ident(a.attname), rel.nspname || '.' || rel.relname, rel.ident,
           jsonb_build_object(
               'type', format_type(a.atttypid, a.atttypmod),
               'not null', a.attnotnull::text,
               'default', CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
               'generated', CASE WHEN a.attgenerated <> '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
               'identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END,
               'collation', CASE WHEN a.attcollation <> t.typcollation THEN (SELECT collname FROM pg_collation WHERE oid = a.attcollation) END,
               'identity options', CASE WHEN a.attidentity <> '' THEN (
                   SELECT format('start %s increment %s minimum %s maximum %s cache %s cycle %s', sq.seqstart, sq.seqincrement, sq.seqmin, sq.seqmax, sq.seqcache, sq.seqcycle)
                   FROM pg_sequence sq WHERE sq.seqrelid = pg_get_serial_sequence(rel.ident, a.attname)::regclass) END,
               'storage', NULLIF(a.attstorage::text, t.typstorage::text),
               'statistics', CASE WHEN a.attstattarget >= 0 THEN a.attstattarget::text END,
               'comment', col_description(rel.oid, a.attnum))
    FROM rel
    JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE rel.relkind IN ('r', 'p', 'v', 'm', 'f')
    UNION ALL
    SELECT 'constraint', rel.nspname || '.' || rel.relname || '.' || con.conname, quote_ident(con.conname), rel.nspname || '.' || rel.relname, rel.ident,
           jsonb_build_object('definition', pg_get_constraintdef(con.oid), 'comment', obj_description(con.oid, 'pg_constraint'))
    FROM pg_constraint con JOIN rel ON rel.oid = con.conrelid
    UNION ALL
    SELECT 'index', rel.nspname || '.' || ic.relname, quote_ident(rel.nspname) || '.' || quote_ident(ic.relname), rel.nspname || '.' || rel.relname, rel.ident,
           jsonb_build_object('definition', pg_get_indexdef(i.indexrelid), 'valid', i.indisvalid::text,
                              'comment', obj_description(ic.oid, 'pg_class'),
                              -- a partition's index made by its parent's (CREATE INDEX on the parent)
                              'attached to', (SELECT h.inhparent::regclass::text FROM pg_inherits h WHERE h.inhrelid = i.indexrelid))
    FROM pg_index i
    JOIN rel ON rel.oid = i.indrelid
    JOIN pg_class ic ON ic.oid = i.indexrelid
    WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid)
    UNION ALL
    SELECT CASE rel.relkind WHEN 'v' THEN 'view' ELSE 'materialized view' END, rel.nspname || '.' || rel.relname, rel.ident, NULL, NULL,
           jsonb_build_object('definition', pg_get_viewdef(rel.oid, true), 'comment', obj_description(rel.oid, 'pg_class'),
                              'options', (SELECT array_to_string(c.reloptions, ', ') FROM pg_class c WHERE c.oid = rel.oid),
                              'populated', CASE WHEN rel.relkind = 'm' THEN (SELECT c.relispopulated::text FROM pg_class c WHERE c.oid = rel.oid) END)
    FROM rel WHERE rel.relkind IN ('v', 'm')
    UNION ALL
    SELECT 'sequence', rel.nspname || '.' || rel.relname, rel.ident, NULL, NULL,
           jsonb_build_object(
               'type', format_type(s.seqtypid, NULL), 'start', s.seqstart::text, 'increment', s.seqincrement::text,
               'minimum', s.seqmin::text, 'maximum', s.seqmax::text, 'cache', s.seqcache::text, 'cycle', s.seqcycle::text,
               'owned by', (SELECT d.refobjid::regclass::text || '.' || a.attname FROM pg_depend d
                            JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                            WHERE d.classid = 'pg_class'::regclass AND d.objid = rel.oid AND d.deptype IN ('a', 'i') LIMIT 1),
               'comment', obj_description(rel.oid, 'pg_class'))
    FROM rel JOIN pg_sequence s ON s.seqrelid = rel.oid
    WHERE rel.relkind = 'S'
      -- an identity column's sequence is the column's (its `identity`)
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = rel.oid AND d.deptype = 'i')
    UNION ALL
    SELECT 'enum', ns.nspname || '.' || t.typname, quote_ident(ns.nspname) || '.' || quote_ident(t.typname), NULL, NULL,
           jsonb_build_object(
               'values', (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
               'comment', obj_description(t.oid, 'pg_type'))
    FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
    WHERE t.typtype = 'e'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
    UNION ALL
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
           ns.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           quote_ident(ns.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')', NULL, NULL,
           jsonb_build_object('definition', pg_get_functiondef(p.oid), 'comment', obj_description(p.oid, 'pg_proc'))
    FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
    WHERE p.prokind IN ('f', 'p')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'trigger', rel.nspname || '.' || rel.relname || '.' || tg.tgname, quote_ident(tg.tgname), rel.nspname || '.' || rel.relname, rel.ident,
           jsonb_build_object('definition', pg_get_triggerdef(tg.oid, true), 'enabled', tg.tgenabled::text,
                              'comment', obj_description(tg.oid, 'pg_trigger'))
    FROM pg_trigger tg JOIN rel ON rel.oid = tg.tgrelid
    WHERE NOT tg.tgisinternal
    UNION ALL
    SELECT 'policy', rel.nspname || '.' || rel.relname || '.' || pol.polname, quote_ident(pol.polname), rel.nspname || '.' || rel.relname, rel.ident,
           jsonb_build_object(
               'command', pol.polcmd::text,
               'permissive', pol.polpermissive::text,
               'roles', (SELECT string_agg(role, ', ' ORDER BY role) FROM (SELECT CASE r WHEN 0 THEN 'public' ELSE r::regrole::text END AS role FROM unnest(pol.polroles) r) roles),
               'using', pg_get_expr(pol.polqual, pol.polrelid),
               'with check', pg_get_expr(pol.polwithcheck, pol.polrelid),
               'comment', obj_description(pol.oid, 'pg_policy'))
    FROM pg_policy pol JOIN rel ON rel.oid = pol.polrelid
    UNION ALL
    SELECT 'rule', rel.nspname || '.' || rel.relname || '.' || rw.rulename, quote_ident(rw.rulename), rel.nspname || '.' || rel.relname, rel.ident,
           jsonb_build_object('definition', pg_get_ruledef(rw.oid, true), 'enabled', rw.ev_enabled::text)
    FROM pg_rewrite rw JOIN rel ON rel.oid = rw.ev_class
    WHERE rw.rulename <> '_RETURN'
    UNION ALL
    SELECT 'domain', ns.nspname || '.' || t.typname, quote_ident(ns.nspname) || '.' || quote_ident(t.typname), NULL, NULL,
           jsonb_build_object(
               'type', format_type(t.typbasetype, t.typtypmod),
               'not null', t.typnotnull::text,
               'default', t.typdefault,
               'constraints', (SELECT string_agg(con.conname || ' ' || pg_get_constraintdef(con.oid), '; ' ORDER BY con.conname) FROM pg_constraint con WHERE con.contypid = t.oid),
               'comment', obj_description(t.oid, 'pg_type'))
    FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
    WHERE t.typtype = 'd'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'composite type', ns.nspname || '.' || t.typname, quote_ident(ns.nspname) || '.' || quote_ident(t.typname), NULL, NULL,
           jsonb_build_object(
               'attributes', (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
                              FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped),
               'comment', obj_description(t.oid, 'pg_type'))
    FROM pg_type t JOIN ns ON ns.oid = t.typnamespace JOIN pg_class c ON c.oid = t.typrelid
    WHERE t.typtype = 'c' AND c.relkind = 'c'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'aggregate', ns.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           quote_ident(ns.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')', NULL, NULL,
           jsonb_build_object(
               'transition', ag.aggtransfn::regproc::text,
               'state type', format_type(ag.aggtranstype, NULL),
               'final', NULLIF(ag.aggfinalfn::oid, 0)::regproc::text,
               'initial', ag.agginitval,
               'comment', obj_description(p.oid, 'pg_proc'))
    FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace JOIN pg_aggregate ag ON ag.aggfnoid = p.oid
    WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'statistics', ns.nspname || '.' || st.stxname, quote_ident(ns.nspname) || '.' || quote_ident(st.stxname), NULL, NULL,
           jsonb_build_object('definition', pg_get_statisticsobjdef(st.oid))
    FROM pg_statistic_ext st JOIN ns ON ns.oid = st.stxnamespace
    UNION ALL
    SELECT 'event trigger', ev.evtname, quote_ident(ev.evtname), NULL, NULL,
           jsonb_build_object(
               'event', ev.evtevent, 'function', ev.evtfoid::regproc::text,
               'tags', array_to_string(ev.evttags, ', '), 'enabled', ev.evtenabled::text)
    FROM pg_event_trigger ev
    WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_event_trigger'::regclass AND d.objid = ev.oid AND d.deptype = 'e')
    UNION ALL
    SELECT 'publication', pb.pubname, quote_ident(pb.pubname), NULL, NULL,
           jsonb_build_object(
               'all tables', pb.puballtables::text,
               'publishes', concat_ws(', ', CASE WHEN pb.pubinsert THEN 'insert' END, CASE WHEN pb.pubupdate THEN 'update' END,
                                      CASE WHEN pb.pubdelete THEN 'delete' END, CASE WHEN pb.pubtruncate THEN 'truncate' END),
               'tables', (SELECT string_agg(pt.schemaname || '.' || pt.tablename, ', ' ORDER BY 1) FROM pg_publication_tables pt WHERE pt.pubname = pb.pubname))
    FROM pg_publication pb
    UNION ALL
    SELECT 'extension', e.extname, quote_ident(e.extname), NULL, NULL,
           jsonb_build_object('schema', (SELECT nspname FROM pg_namespace WHERE oid = e.extnamespace))
    FROM pg_extension e WHERE e.extname <> 'plpgsql'
)
SELECT coalesce(jsonb_agg(jsonb_build_object('kind', kind, 'name', name, 'ident', ident, 'table', tbl, 'table_ident', tbl_ident,
                                             'attrs', jsonb_strip_nulls(attrs)) ORDER BY kind, name), '[]')::text
FROM objects
