-- A fingerprint of everything catalog.sql reads: one text (an md5) that changes
-- whenever catalog.sql's document could have changed, so that a reader can keep
-- the document and read the catalog again only when the fingerprint moved. It
-- takes no parameter (it is also run as a scalar subquery, under any search_path):
-- the schemas catalog.sql leaves out are fingerprinted too (a change there costs
-- a full read, no more), and a reader that keeps documents keys them by those
-- schemas itself.
--
-- How: DDL writes new versions of catalog rows, and a new row version has a new
-- xmin (the transaction that wrote it); a dropped object's rows are gone. So: for
-- each catalog catalog.sql reads, its rows for user objects (oid >= 16384,
-- FirstNormalObjectId, read through the catalogs' indexes), each as its catalog,
-- key and xmin, all sorted and hashed. Freezing keeps the raw xmin. Also in it:
-- the server's version and the settings that change how pg_get_expr and
-- pg_get_*def print constants (TimeZone, DateStyle...), and the names of the
-- roles policies apply to (catalog.sql prints them; pg_authid is shared and not
-- readable by all, so a role's rename is seen by its name alone).
--
-- It changes on: any CREATE, ALTER, DROP, COMMENT or RENAME of what catalog.sql
-- reports (schemas, tables, columns, defaults, constraints, indexes, views,
-- sequences and OWNED BY, types, enum values, domains, range types, functions,
-- aggregates, triggers, policies, rules, statistics, event triggers,
-- publications, extensions, operators, operator classes and families and their
-- members, collations, text search objects and mappings, casts).
--
-- It does not change on: INSERT, UPDATE, DELETE, COPY, nextval and setval,
-- ANALYZE, VACUUM and autovacuum (they update pg_class and pg_database in
-- place, keeping xmin; statistics go to pg_statistic*, which is not read), nor
-- on other sessions' temporary objects: the namespaces pg_temp_N and
-- pg_toast_temp_N and what is in them (relations with their pg_attribute,
-- pg_attrdef, pg_index, pg_inherits, pg_trigger, pg_policy, pg_rewrite,
-- pg_sequence rows, the comments on them and their sequences' dependencies;
-- types, functions, constraints and statistics objects made there).
--
-- It also changes, harmlessly (one full read, no difference reported), on what
-- rewrites a relation (TRUNCATE, VACUUM FULL, CLUSTER, REINDEX, REFRESH
-- MATERIALIZED VIEW: a new relfilenode in pg_class), on GRANT, REVOKE and
-- ALTER ... OWNER (ACLs and owners live in the same rows; they are not
-- compared), on ALTER STATISTICS ... SET STATISTICS, on DDL in the schemas
-- catalog.sql leaves out, on enum values and operators made in pg_temp, and
-- when a temporary table is made a child or partition of a permanent one (the
-- parent's relhassubclass is set transactionally).
WITH temp_ns AS (
    SELECT n.oid FROM pg_namespace n WHERE n.nspname LIKE 'pg\_temp\_%' OR n.nspname LIKE 'pg\_toast\_temp\_%'
),
-- other sessions' temporary relations (and their indexes, TOAST tables, sequences)
temp_rel AS (
    SELECT c.oid FROM pg_class c WHERE c.oid >= 16384 AND c.relnamespace IN (SELECT temp_ns.oid FROM temp_ns)
)
-- One line per catalog row and one aggregate over all: a subquery for each
-- catalog costs more to plan than to run. Catalogs with no built-in rows are read
-- whole (no oid condition to plan).
SELECT md5(string_agg(r.line, ',' ORDER BY r.line COLLATE "C")) FROM (
    SELECT concat_ws('|', current_setting('server_version_num'), current_setting('TimeZone'), current_setting('DateStyle'),
                     current_setting('IntervalStyle'), current_setting('extra_float_digits'), current_setting('bytea_output'),
                     current_setting('standard_conforming_strings'), current_setting('quote_all_identifiers'),
                     current_setting('lc_monetary')) AS line
    UNION ALL
    -- all the schemas (public's oid is below 16384)
    SELECT 'namespace ' || n.oid || ':' || n.xmin FROM pg_namespace n WHERE n.oid NOT IN (SELECT temp_ns.oid FROM temp_ns)
    UNION ALL
    SELECT 'class ' || c.oid || ':' || c.xmin FROM pg_class c WHERE c.oid >= 16384 AND c.relnamespace NOT IN (SELECT temp_ns.oid FROM temp_ns)
    UNION ALL
    SELECT 'attribute ' || a.attrelid || '.' || a.attnum || ':' || a.xmin
    FROM pg_attribute a WHERE a.attrelid >= 16384 AND a.attnum > 0 AND a.attrelid NOT IN (SELECT temp_rel.oid FROM temp_rel)
    UNION ALL
    SELECT 'attrdef ' || ad.oid || ':' || ad.xmin FROM pg_attrdef ad WHERE ad.adrelid NOT IN (SELECT temp_rel.oid FROM temp_rel)
    UNION ALL
    SELECT 'constraint ' || con.oid || ':' || con.xmin
    FROM pg_constraint con WHERE con.oid >= 16384 AND con.connamespace NOT IN (SELECT temp_ns.oid FROM temp_ns)
    UNION ALL
    SELECT 'index ' || i.indexrelid || ':' || i.xmin FROM pg_index i WHERE i.indexrelid >= 16384 AND i.indrelid NOT IN (SELECT temp_rel.oid FROM temp_rel)
    UNION ALL
    SELECT 'inherits ' || h.inhrelid || '.' || h.inhseqno || ':' || h.xmin FROM pg_inherits h WHERE h.inhrelid NOT IN (SELECT temp_rel.oid FROM temp_rel)
    UNION ALL
    SELECT 'sequence ' || sq.seqrelid || ':' || sq.xmin FROM pg_sequence sq WHERE sq.seqrelid NOT IN (SELECT temp_rel.oid FROM temp_rel)
    UNION ALL
    SELECT 'type ' || t.oid || ':' || t.xmin FROM pg_type t WHERE t.oid >= 16384 AND t.typnamespace NOT IN (SELECT temp_ns.oid FROM temp_ns)
    UNION ALL
    SELECT 'enum ' || e.oid || ':' || e.xmin FROM pg_enum e
    UNION ALL
    SELECT 'range ' || rg.rngtypid || ':' || rg.xmin FROM pg_range rg
    UNION ALL
    SELECT 'proc ' || p.oid || ':' || p.xmin FROM pg_proc p WHERE p.oid >= 16384 AND p.pronamespace NOT IN (SELECT temp_ns.oid FROM temp_ns)
    UNION ALL
    SELECT 'aggregate ' || ag.aggfnoid || ':' || ag.xmin FROM pg_aggregate ag WHERE ag.aggfnoid >= 16384
    UNION ALL
    -- function definitions name their language
    SELECT 'language ' || l.oid || ':' || l.xmin FROM pg_language l
    UNION ALL
    SELECT 'trigger ' || tg.oid || ':' || tg.xmin FROM pg_trigger tg WHERE tg.tgrelid NOT IN (SELECT temp_rel.oid FROM temp_rel)
    UNION ALL
    SELECT 'policy ' || pol.oid || ':' || pol.xmin FROM pg_policy pol WHERE pol.polrelid NOT IN (SELECT temp_rel.oid FROM temp_rel)
    UNION ALL
    SELECT 'role ' || r.oid || ':' || pg_get_userbyid(r.oid)
    FROM pg_policy pol, unnest(pol.polroles) r(oid) WHERE r.oid <> 0 AND pol.polrelid NOT IN (SELECT temp_rel.oid FROM temp_rel)
    UNION ALL
    SELECT 'rewrite ' || rw.oid || ':' || rw.xmin FROM pg_rewrite rw WHERE rw.oid >= 16384 AND rw.ev_class NOT IN (SELECT temp_rel.oid FROM temp_rel)
    UNION ALL
    -- the comments on user objects and on the schemas older than 16384 (public)
    SELECT 'description ' || d.classoid || '.' || d.objoid || '.' || d.objsubid || ':' || d.xmin
    FROM pg_description d
    WHERE (d.objoid >= 16384 OR d.objoid = ANY (ARRAY(SELECT n.oid FROM pg_namespace n WHERE n.oid < 16384)))
      AND NOT (d.classoid = 'pg_class'::regclass AND d.objoid IN (SELECT temp_rel.oid FROM temp_rel))
    UNION ALL
    -- Of pg_depend, what catalog.sql reads: what extensions own; a sequence's
    -- OWNED BY and identity (an OWNED BY changes no other row); the functions and
    -- casts a type makes; what a publication holds (the dependencies of
    -- pg_publication_rel's and, 15+, pg_publication_namespace's rows).
    SELECT 'depend ' || concat_ws('.', d.classid, d.objid, d.objsubid, d.refclassid, d.refobjid, d.refobjsubid, d.deptype) || ':' || d.xmin
    FROM pg_depend d
    WHERE d.refclassid IN ('pg_extension'::regclass, 'pg_publication'::regclass)
       OR (d.classid = 'pg_class'::regclass AND d.objid >= 16384 AND d.deptype IN ('a', 'i')
           AND d.objid IN (SELECT c.oid FROM pg_class c WHERE c.oid >= 16384 AND c.relkind = 'S')
           AND d.objid NOT IN (SELECT temp_rel.oid FROM temp_rel))
       OR (d.classid IN ('pg_proc'::regclass, 'pg_cast'::regclass) AND d.objid >= 16384 AND d.deptype = 'i')
    UNION ALL
    SELECT 'extension ' || ex.oid || ':' || ex.xmin FROM pg_extension ex
    UNION ALL
    SELECT 'statistics ' || st.oid || ':' || st.xmin FROM pg_statistic_ext st WHERE st.stxnamespace NOT IN (SELECT temp_ns.oid FROM temp_ns)
    UNION ALL
    SELECT 'event trigger ' || ev.oid || ':' || ev.xmin FROM pg_event_trigger ev
    UNION ALL
    SELECT 'publication ' || pb.oid || ':' || pb.xmin FROM pg_publication pb
    UNION ALL
    SELECT 'publication rel ' || pr.oid || ':' || pr.xmin FROM pg_publication_rel pr
    UNION ALL
    SELECT 'operator ' || o.oid || ':' || o.xmin FROM pg_operator o WHERE o.oid >= 16384
    UNION ALL
    SELECT 'opclass ' || oc.oid || ':' || oc.xmin FROM pg_opclass oc WHERE oc.oid >= 16384
    UNION ALL
    SELECT 'opfamily ' || f.oid || ':' || f.xmin FROM pg_opfamily f WHERE f.oid >= 16384
    UNION ALL
    SELECT 'amop ' || ao.oid || ':' || ao.xmin FROM pg_amop ao WHERE ao.oid >= 16384
    UNION ALL
    SELECT 'amproc ' || ap.oid || ':' || ap.xmin FROM pg_amproc ap WHERE ap.oid >= 16384
    UNION ALL
    SELECT 'collation ' || co.oid || ':' || co.xmin FROM pg_collation co WHERE co.oid >= 16384
    UNION ALL
    SELECT 'ts config ' || cfg.oid || ':' || cfg.xmin FROM pg_ts_config cfg WHERE cfg.oid >= 16384
    UNION ALL
    SELECT 'ts config map ' || m.mapcfg || '.' || m.maptokentype || '.' || m.mapseqno || ':' || m.xmin
    FROM pg_ts_config_map m WHERE m.mapcfg >= 16384
    UNION ALL
    SELECT 'ts dict ' || dict.oid || ':' || dict.xmin FROM pg_ts_dict dict WHERE dict.oid >= 16384
    UNION ALL
    SELECT 'ts parser ' || prs.oid || ':' || prs.xmin FROM pg_ts_parser prs WHERE prs.oid >= 16384
    UNION ALL
    SELECT 'ts template ' || tm.oid || ':' || tm.xmin FROM pg_ts_template tm WHERE tm.oid >= 16384
    UNION ALL
    SELECT 'cast ' || c.oid || ':' || c.xmin FROM pg_cast c WHERE c.oid >= 16384
) r
