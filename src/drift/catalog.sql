-- The schema of the current database as one JSON array of objects, each
-- {"kind", "name", "ident", "table", "table_ident", "attrs"}: names as PostgreSQL
-- prints them (`ident`, `table_ident`: quoted for SQL; for a column, constraint,
-- trigger or policy `ident` is its own name, `table_ident` its table's),
-- definitions normalised by PostgreSQL itself (pg_get_*def, format_type,
-- pg_get_expr), so that two databases made by the same statements compare
-- equal. $1: the schemas left out (praxia-deploy's own and the bookkeeping one).
-- Objects that belong to an extension are left out with it, and so are the
-- built-in ones (oid below 16384, FirstNormalObjectId). `oid >= 16384` is also
-- written where the schema alone leaves the built-ins out: the few user rows are
-- read through the oid index, not all of pg_proc, pg_type, pg_collation... (no
-- object of a compared schema is built in but the schema `public` itself).
-- Columns that only some major versions have (attcompression and rngmultitypid
-- 14+, colliculocale 15-16, collicurules 16+, colllocale 17+) are read through
-- to_jsonb(row), so that the query runs on every version.
-- Most of this query's time is planning, not reading (a few rows per catalog):
-- hence one `ext`, `comments` for all the branches, and one branch for the
-- kinds that are rows of a catalog with a namespace and nothing more.
WITH ext AS (
    -- what the extensions own (their members' dependencies on them)
    SELECT d.classid, d.objid FROM pg_depend d WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e'
),
ns AS (
    SELECT n.oid, n.nspname
    FROM pg_namespace n
    WHERE n.nspname <> ALL ($1::text[])
      AND n.nspname NOT IN ('pg_catalog', 'information_schema')
      AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp%'
      AND n.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_namespace'::regclass)
),
rel AS (
    SELECT c.oid, c.relname, c.relkind, ns.nspname,
           quote_ident(ns.nspname) || '.' || quote_ident(c.relname) AS ident
    FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
    WHERE c.oid >= 16384
      AND c.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_class'::regclass)
),
comments AS (
    -- every comment that can be reported, as one jsonb by catalog/object/column
    -- (obj_description() for each kind would be planned for each kind)
    SELECT jsonb_object_agg(d.classoid::regclass::text || '/' || d.objoid || '/' || d.objsubid, d.description) AS c
    FROM pg_description d WHERE d.objoid >= 16384 OR d.objoid = ANY (ARRAY(SELECT ns.oid FROM ns))
),
objects AS (
    -- name is text: a `name` here would make the whole column `name`, cut at 63 bytes.
    SELECT 'schema'::text AS kind, ns.nspname::text AS name, quote_ident(ns.nspname) AS ident, NULL::text AS tbl, NULL::text AS tbl_ident,
           jsonb_build_object('comment', (SELECT comments.c ->> ('pg_namespace/' || ns.oid || '/0') FROM comments)) AS attrs
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
               -- ALTER TABLE t SET (toast.x = ...) is stored on the TOAST table
               'toast options', (SELECT array_to_string(tc.reloptions, ', ') FROM pg_class tc WHERE tc.oid = c.reltoastrelid),
               'replica identity', NULLIF(c.relreplident::text, 'd'),
               'comment', (SELECT comments.c ->> ('pg_class/' || c.oid || '/0') FROM comments))
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
               -- SET COMPRESSION (14+); none: the server's default_toast_compression
               'compression', CASE to_jsonb(a) ->> 'attcompression' WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4' END,
               'comment', (SELECT comments.c ->> ('pg_class/' || rel.oid || '/' || a.attnum) FROM comments))
    FROM rel
    JOIN pg_attribute a ON a.attrelid = rel.oid AND a.attnum > 0 AND NOT a.attisdropped
    JOIN pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
    WHERE rel.relkind IN ('r', 'p', 'v', 'm', 'f')
    UNION ALL
    SELECT 'constraint', rel.nspname || '.' || rel.relname || '.' || con.conname, quote_ident(con.conname), rel.nspname || '.' || rel.relname, rel.ident,
           jsonb_build_object('definition', pg_get_constraintdef(con.oid), 'comment', (SELECT comments.c ->> ('pg_constraint/' || con.oid || '/0') FROM comments),
                              -- the index of a primary key or unique constraint is not an 'index' object, and
                              -- pg_get_constraintdef shows neither its WITH (...) (an exclusion constraint's, it
                              -- does) nor its comment
                              'index options', CASE WHEN con.contype IN ('p', 'u') THEN
                                  (SELECT array_to_string(ic.reloptions, ', ') FROM pg_class ic WHERE ic.oid = con.conindid) END,
                              'index comment', CASE WHEN con.contype IN ('p', 'u', 'x') THEN (SELECT comments.c ->> ('pg_class/' || con.conindid || '/0') FROM comments) END)
    FROM pg_constraint con JOIN rel ON rel.oid = con.conrelid
    UNION ALL
    SELECT 'index', rel.nspname || '.' || ic.relname, quote_ident(rel.nspname) || '.' || quote_ident(ic.relname), rel.nspname || '.' || rel.relname, rel.ident,
           jsonb_build_object('definition', pg_get_indexdef(i.indexrelid), 'valid', i.indisvalid::text,
                              'comment', (SELECT comments.c ->> ('pg_class/' || ic.oid || '/0') FROM comments),
                              -- a partition's index made by its parent's (CREATE INDEX on the parent)
                              'attached to', (SELECT h.inhparent::regclass::text FROM pg_inherits h WHERE h.inhrelid = i.indexrelid))
    FROM pg_index i
    JOIN rel ON rel.oid = i.indrelid
    JOIN pg_class ic ON ic.oid = i.indexrelid
    -- an index is a constraint's when the constraint made it (primary key, unique,
    -- exclusion): a foreign key's conindid is the index it references, which can be a
    -- plain unique index of the same table (a self-reference)
    WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid
                                                        AND con.contype IN ('p', 'u', 'x'))
    UNION ALL
    SELECT CASE rel.relkind WHEN 'v' THEN 'view' ELSE 'materialized view' END, rel.nspname || '.' || rel.relname, rel.ident, NULL, NULL,
           jsonb_build_object('definition', pg_get_viewdef(rel.oid, true), 'comment', (SELECT comments.c ->> ('pg_class/' || rel.oid || '/0') FROM comments),
                              'options', (SELECT array_to_string(c.reloptions, ', ') FROM pg_class c WHERE c.oid = rel.oid),
                              'toast options', (SELECT array_to_string(tc.reloptions, ', ') FROM pg_class c JOIN pg_class tc ON tc.oid = c.reltoastrelid WHERE c.oid = rel.oid),
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
               'comment', (SELECT comments.c ->> ('pg_class/' || rel.oid || '/0') FROM comments))
    FROM rel JOIN pg_sequence s ON s.seqrelid = rel.oid
    WHERE rel.relkind = 'S'
      -- an identity column's sequence is the column's (its `identity`)
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = rel.oid AND d.deptype = 'i')
    UNION ALL
    SELECT 'enum', ns.nspname || '.' || t.typname, quote_ident(ns.nspname) || '.' || quote_ident(t.typname), NULL, NULL,
           jsonb_build_object(
               'values', (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
               'comment', (SELECT comments.c ->> ('pg_type/' || t.oid || '/0') FROM comments))
    FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
    WHERE t.typtype = 'e' AND t.oid >= 16384
      AND t.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_type'::regclass)
    UNION ALL
    SELECT CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END,
           ns.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           quote_ident(ns.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')', NULL, NULL,
           jsonb_build_object('definition', pg_get_functiondef(p.oid), 'comment', (SELECT comments.c ->> ('pg_proc/' || p.oid || '/0') FROM comments))
    FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
    WHERE p.prokind IN ('f', 'p') AND p.oid >= 16384
      -- not an extension's, nor a constructor CREATE TYPE ... AS RANGE made (the range
      -- type's and its multirange's): internal to their type (no other function
      -- depends internally on a type), they go with the 'range type'
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                                  AND (d.deptype = 'e' OR (d.deptype = 'i' AND d.refclassid = 'pg_type'::regclass)))
    UNION ALL
    SELECT 'trigger', rel.nspname || '.' || rel.relname || '.' || tg.tgname, quote_ident(tg.tgname), rel.nspname || '.' || rel.relname, rel.ident,
           jsonb_build_object('definition', pg_get_triggerdef(tg.oid, true), 'enabled', tg.tgenabled::text,
                              'comment', (SELECT comments.c ->> ('pg_trigger/' || tg.oid || '/0') FROM comments))
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
               'comment', (SELECT comments.c ->> ('pg_policy/' || pol.oid || '/0') FROM comments))
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
               'comment', (SELECT comments.c ->> ('pg_type/' || t.oid || '/0') FROM comments))
    FROM pg_type t JOIN ns ON ns.oid = t.typnamespace
    WHERE t.typtype = 'd' AND t.oid >= 16384
      AND t.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_type'::regclass)
    UNION ALL
    SELECT 'composite type', ns.nspname || '.' || t.typname, quote_ident(ns.nspname) || '.' || quote_ident(t.typname), NULL, NULL,
           jsonb_build_object(
               'attributes', (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
                              FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped),
               'comment', (SELECT comments.c ->> ('pg_type/' || t.oid || '/0') FROM comments))
    FROM pg_type t JOIN ns ON ns.oid = t.typnamespace JOIN pg_class c ON c.oid = t.typrelid
    WHERE t.typtype = 'c' AND c.relkind = 'c' AND t.oid >= 16384
      AND t.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_type'::regclass)
    UNION ALL
    SELECT 'aggregate', ns.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
           quote_ident(ns.nspname) || '.' || quote_ident(p.proname) || '(' || pg_get_function_identity_arguments(p.oid) || ')', NULL, NULL,
           jsonb_build_object(
               'transition', ag.aggtransfn::regproc::text,
               'state type', format_type(ag.aggtranstype, NULL),
               'final', NULLIF(ag.aggfinalfn::oid, 0)::regproc::text,
               'initial', ag.agginitval,
               'comment', (SELECT comments.c ->> ('pg_proc/' || p.oid || '/0') FROM comments))
    FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace JOIN pg_aggregate ag ON ag.aggfnoid = p.oid
    WHERE p.oid >= 16384
      AND p.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_proc'::regclass)
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
    WHERE ev.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_event_trigger'::regclass)
    UNION ALL
    SELECT 'publication', pb.pubname, quote_ident(pb.pubname), NULL, NULL,
           jsonb_build_object(
               'all tables', pb.puballtables::text,
               'publishes', concat_ws(', ', CASE WHEN pb.pubinsert THEN 'insert' END, CASE WHEN pb.pubupdate THEN 'update' END,
                                      CASE WHEN pb.pubdelete THEN 'delete' END, CASE WHEN pb.pubtruncate THEN 'truncate' END),
               -- FOR ALL TABLES lists the tool's own tables too: left out, as their schema is.
               'tables', (SELECT string_agg(pt.schemaname || '.' || pt.tablename, ', ' ORDER BY pt.schemaname, pt.tablename)
                          FROM pg_publication_tables pt WHERE pt.pubname = pb.pubname AND pt.schemaname <> ALL ($1::text[])))
    FROM pg_publication pb
    UNION ALL
    -- Range types, operators, operator classes and families, collations and text search
    -- objects: each a row of its own catalog and nothing more, in one branch (planning,
    -- more than reading, is what a branch costs). Each arm filters its own rows (a
    -- filter with a subquery is not pushed into an arm: its attributes would be
    -- computed for every extension's operator first). Names of other objects in
    -- their attributes are pg_identify_object's: schema-qualified.
    SELECT x.kind, x.nspname || '.' || x.name, quote_ident(x.nspname) || '.' || x.ident, NULL, NULL, x.attrs
    FROM (
        -- its constructor functions are not 'function's; its multirange is an attribute
        SELECT 'range type'::text AS kind, (SELECT ns.nspname FROM ns WHERE ns.oid = t.typnamespace) AS nspname,
               t.typname::text AS name, quote_ident(t.typname) AS ident,
               (SELECT jsonb_build_object(
                           'subtype', format_type(rg.rngsubtype, NULL),
                           'collation', (pg_identify_object('pg_collation'::regclass, NULLIF(rg.rngcollation, 0), 0)).identity,
                           'subtype opclass', (pg_identify_object('pg_opclass'::regclass, rg.rngsubopc, 0)).identity,
                           'canonical', NULLIF(rg.rngcanonical::oid, 0)::regproc::text,
                           'subtype diff', NULLIF(rg.rngsubdiff::oid, 0)::regproc::text,
                           'multirange type', format_type(NULLIF(to_jsonb(rg) ->> 'rngmultitypid', '0')::oid, NULL))
                FROM pg_range rg WHERE rg.rngtypid = t.oid)
               || jsonb_build_object('comment', (SELECT comments.c ->> ('pg_type/' || t.oid || '/0') FROM comments)) AS attrs
        FROM pg_type t WHERE t.typtype = 'r' AND t.oid >= 16384
          AND t.typnamespace = ANY (ARRAY(SELECT ns.oid FROM ns)) AND t.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_type'::regclass)
        UNION ALL
        -- an operator is its name and operand types (NONE: a prefix operator's left)
        SELECT 'operator', (SELECT ns.nspname FROM ns WHERE ns.oid = o.oprnamespace),
               o.oprname || '(' || coalesce(format_type(NULLIF(o.oprleft, 0), NULL), 'NONE') || ',' || format_type(o.oprright, NULL) || ')',
               o.oprname || ' (' || coalesce(format_type(NULLIF(o.oprleft, 0), NULL), 'NONE') || ', ' || format_type(o.oprright, NULL) || ')',
               jsonb_build_object(
                   -- none: a shell operator (named as another's commutator or negator, never defined)
                   'function', NULLIF(o.oprcode::oid, 0)::regprocedure::text,
                   'commutator', NULLIF(o.oprcom, 0)::regoperator::text,
                   'negator', NULLIF(o.oprnegate, 0)::regoperator::text,
                   'restrict', NULLIF(o.oprrest::oid, 0)::regproc::text,
                   'join', NULLIF(o.oprjoin::oid, 0)::regproc::text,
                   'hashes', o.oprcanhash::text,
                   'merges', o.oprcanmerge::text,
                   'comment', (SELECT comments.c ->> ('pg_operator/' || o.oid || '/0') FROM comments))
        FROM pg_operator o WHERE o.oid >= 16384
          AND o.oprnamespace = ANY (ARRAY(SELECT ns.oid FROM ns)) AND o.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_operator'::regclass)
        UNION ALL
        -- An operator class's members are the entries of its family bound to it (internal
        -- dependency: those CREATE OPERATOR CLASS made, and those ALTER OPERATOR FAMILY ADD
        -- gives it since PG 13); a family's, its other entries (auto dependency on the
        -- family). Each entry is so said once: `operator 1 (integer, integer) <(integer,integer)`,
        -- `function 1 (integer, integer) public.cmp(integer,integer)`, an ordering operator
        -- with `FOR ORDER BY` its sort family.
        SELECT 'operator class', (SELECT ns.nspname FROM ns WHERE ns.oid = oc.opcnamespace),
               oc.opcname || ' USING ' || (SELECT am.amname FROM pg_am am WHERE am.oid = oc.opcmethod),
               quote_ident(oc.opcname) || ' USING ' || (SELECT quote_ident(am.amname) FROM pg_am am WHERE am.oid = oc.opcmethod),
               jsonb_build_object(
                   'type', format_type(oc.opcintype, NULL),
                   'family', (pg_identify_object('pg_opfamily'::regclass, oc.opcfamily, 0)).identity,
                   'default', oc.opcdefault::text,
                   'storage', format_type(NULLIF(oc.opckeytype, 0), NULL),
                   'members', (SELECT string_agg(m.member, '; ' ORDER BY m.member) FROM (
                       SELECT CASE d.classid WHEN 'pg_amop'::regclass THEN (
                                  SELECT format('operator %s (%s, %s) %s', ao.amopstrategy, format_type(ao.amoplefttype, NULL), format_type(ao.amoprighttype, NULL), ao.amopopr::regoperator)
                                         || CASE WHEN ao.amoppurpose = 'o' THEN ' FOR ORDER BY ' || (pg_identify_object('pg_opfamily'::regclass, ao.amopsortfamily, 0)).identity ELSE '' END
                                  FROM pg_amop ao WHERE ao.oid = d.objid)
                              ELSE (
                                  SELECT format('function %s (%s, %s) %s', ap.amprocnum, format_type(ap.amproclefttype, NULL), format_type(ap.amprocrighttype, NULL), ap.amproc::regprocedure)
                                  FROM pg_amproc ap WHERE ap.oid = d.objid) END AS member
                       FROM pg_depend d
                       WHERE d.refclassid = 'pg_opclass'::regclass AND d.refobjid = oc.oid AND d.classid IN ('pg_amop'::regclass, 'pg_amproc'::regclass)) m),
                   'comment', (SELECT comments.c ->> ('pg_opclass/' || oc.oid || '/0') FROM comments))
        FROM pg_opclass oc WHERE oc.oid >= 16384
          AND oc.opcnamespace = ANY (ARRAY(SELECT ns.oid FROM ns)) AND oc.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_opclass'::regclass)
        UNION ALL
        SELECT 'operator family', (SELECT ns.nspname FROM ns WHERE ns.oid = f.opfnamespace),
               f.opfname || ' USING ' || (SELECT am.amname FROM pg_am am WHERE am.oid = f.opfmethod),
               quote_ident(f.opfname) || ' USING ' || (SELECT quote_ident(am.amname) FROM pg_am am WHERE am.oid = f.opfmethod),
               jsonb_build_object(
                   'members', (SELECT string_agg(m.member, '; ' ORDER BY m.member) FROM (
                       SELECT CASE d.classid WHEN 'pg_amop'::regclass THEN (
                                  SELECT format('operator %s (%s, %s) %s', ao.amopstrategy, format_type(ao.amoplefttype, NULL), format_type(ao.amoprighttype, NULL), ao.amopopr::regoperator)
                                         || CASE WHEN ao.amoppurpose = 'o' THEN ' FOR ORDER BY ' || (pg_identify_object('pg_opfamily'::regclass, ao.amopsortfamily, 0)).identity ELSE '' END
                                  FROM pg_amop ao WHERE ao.oid = d.objid)
                              ELSE (
                                  SELECT format('function %s (%s, %s) %s', ap.amprocnum, format_type(ap.amproclefttype, NULL), format_type(ap.amprocrighttype, NULL), ap.amproc::regprocedure)
                                  FROM pg_amproc ap WHERE ap.oid = d.objid) END AS member
                       FROM pg_depend d
                       WHERE d.refclassid = 'pg_opfamily'::regclass AND d.refobjid = f.oid AND d.classid IN ('pg_amop'::regclass, 'pg_amproc'::regclass)) m),
                   'comment', (SELECT comments.c ->> ('pg_opfamily/' || f.oid || '/0') FROM comments))
        FROM pg_opfamily f WHERE f.oid >= 16384
          AND f.opfnamespace = ANY (ARRAY(SELECT ns.oid FROM ns)) AND f.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_opfamily'::regclass)
        UNION ALL
        -- not its version (collversion: the operating system's library's)
        SELECT 'collation', (SELECT ns.nspname FROM ns WHERE ns.oid = co.collnamespace), co.collname::text, quote_ident(co.collname),
               jsonb_build_object(
                   'provider', CASE co.collprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' WHEN 'd' THEN 'default' ELSE co.collprovider::text END,
                   'locale', coalesce(to_jsonb(co) ->> 'colllocale', to_jsonb(co) ->> 'colliculocale'),
                   'collate', co.collcollate,
                   'ctype', co.collctype,
                   'rules', to_jsonb(co) ->> 'collicurules',
                   'deterministic', co.collisdeterministic::text,
                   'comment', (SELECT comments.c ->> ('pg_collation/' || co.oid || '/0') FROM comments))
        FROM pg_collation co WHERE co.oid >= 16384
          AND co.collnamespace = ANY (ARRAY(SELECT ns.oid FROM ns)) AND co.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_collation'::regclass)
        UNION ALL
        SELECT 'text search configuration', (SELECT ns.nspname FROM ns WHERE ns.oid = cfg.cfgnamespace), cfg.cfgname::text, quote_ident(cfg.cfgname),
               jsonb_build_object(
                   'parser', (pg_identify_object('pg_ts_parser'::regclass, cfg.cfgparser, 0)).identity,
                   -- each token type mapped: its dictionaries, in the order they are tried
                   'mapping', (SELECT string_agg(tt.alias || ': ' || (SELECT string_agg(m.mapdict::regdictionary::text, ', ' ORDER BY m.mapseqno)
                                                                       FROM pg_ts_config_map m WHERE m.mapcfg = cfg.oid AND m.maptokentype = tt.tokid),
                                                 '; ' ORDER BY tt.alias)
                               FROM ts_token_type(cfg.cfgparser) tt),
                   'comment', (SELECT comments.c ->> ('pg_ts_config/' || cfg.oid || '/0') FROM comments))
        FROM pg_ts_config cfg WHERE cfg.oid >= 16384
          AND cfg.cfgnamespace = ANY (ARRAY(SELECT ns.oid FROM ns)) AND cfg.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_ts_config'::regclass)
        UNION ALL
        SELECT 'text search dictionary', (SELECT ns.nspname FROM ns WHERE ns.oid = dict.dictnamespace), dict.dictname::text, quote_ident(dict.dictname),
               jsonb_build_object(
                   'template', (pg_identify_object('pg_ts_template'::regclass, dict.dicttemplate, 0)).identity,
                   'options', dict.dictinitoption,
                   'comment', (SELECT comments.c ->> ('pg_ts_dict/' || dict.oid || '/0') FROM comments))
        FROM pg_ts_dict dict WHERE dict.oid >= 16384
          AND dict.dictnamespace = ANY (ARRAY(SELECT ns.oid FROM ns)) AND dict.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_ts_dict'::regclass)
        UNION ALL
        SELECT 'text search parser', (SELECT ns.nspname FROM ns WHERE ns.oid = prs.prsnamespace), prs.prsname::text, quote_ident(prs.prsname),
               jsonb_build_object(
                   'start', prs.prsstart::text, 'gettoken', prs.prstoken::text, 'end', prs.prsend::text,
                   'headline', NULLIF(prs.prsheadline::oid, 0)::regproc::text, 'lextypes', prs.prslextype::text,
                   'comment', (SELECT comments.c ->> ('pg_ts_parser/' || prs.oid || '/0') FROM comments))
        FROM pg_ts_parser prs WHERE prs.oid >= 16384
          AND prs.prsnamespace = ANY (ARRAY(SELECT ns.oid FROM ns)) AND prs.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_ts_parser'::regclass)
        UNION ALL
        SELECT 'text search template', (SELECT ns.nspname FROM ns WHERE ns.oid = tm.tmplnamespace), tm.tmplname::text, quote_ident(tm.tmplname),
               jsonb_build_object(
                   'init', NULLIF(tm.tmplinit::oid, 0)::regproc::text, 'lexize', tm.tmpllexize::text,
                   'comment', (SELECT comments.c ->> ('pg_ts_template/' || tm.oid || '/0') FROM comments))
        FROM pg_ts_template tm WHERE tm.oid >= 16384
          AND tm.tmplnamespace = ANY (ARRAY(SELECT ns.oid FROM ns)) AND tm.oid NOT IN (SELECT ext.objid FROM ext WHERE ext.classid = 'pg_ts_template'::regclass)
    ) x
    UNION ALL
    -- A cast is in no schema: left out are the built-in ones (oid < 16384), those made
    -- with a type (internal dependency: a range type's to its multirange), and those
    -- from or to a type of a schema left out (excluded, temporary).
    SELECT 'cast', format_type(c.castsource, NULL) || ' AS ' || format_type(c.casttarget, NULL),
           '(' || format_type(c.castsource, NULL) || ' AS ' || format_type(c.casttarget, NULL) || ')', NULL, NULL,
           jsonb_build_object(
               'function', NULLIF(c.castfunc, 0)::regprocedure::text,
               'context', CASE c.castcontext WHEN 'e' THEN 'explicit' WHEN 'a' THEN 'assignment' WHEN 'i' THEN 'implicit' END,
               'method', CASE c.castmethod WHEN 'f' THEN 'function' WHEN 'i' THEN 'inout' WHEN 'b' THEN 'binary' END,
               'comment', (SELECT comments.c ->> ('pg_cast/' || c.oid || '/0') FROM comments))
    FROM pg_cast c
    WHERE c.oid >= 16384
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_cast'::regclass AND d.objid = c.oid AND d.deptype IN ('e', 'i'))
      AND NOT EXISTS (SELECT 1 FROM pg_type ty JOIN pg_namespace tn ON tn.oid = ty.typnamespace
                      WHERE ty.oid IN (c.castsource, c.casttarget)
                        AND (tn.nspname = ANY ($1::text[]) OR tn.nspname LIKE 'pg\_temp%'))
    UNION ALL
    SELECT 'extension', e.extname, quote_ident(e.extname), NULL, NULL,
           jsonb_build_object('schema', (SELECT nspname FROM pg_namespace WHERE oid = e.extnamespace))
    FROM pg_extension e WHERE e.extname <> 'plpgsql'
)
SELECT coalesce(jsonb_agg(jsonb_build_object('kind', kind, 'name', name, 'ident', ident, 'table', tbl, 'table_ident', tbl_ident,
                                             'attrs', jsonb_strip_nulls(attrs)) ORDER BY kind, name), '[]')::text
FROM objects
