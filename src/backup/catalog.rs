//! What `pg_restore --list` says a dump holds, and the bookkeeping rows in its
//! data: pure parsing of the client's own output.

/// A schema-qualified table name as the dump's table of contents writes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct TableName {
    pub schema: String,
    pub name: String,
}

impl std::fmt::Display for TableName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// A dump's table of contents.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// `Dumped from database version: 17.5`.
    pub server_version: Option<String>,
    /// `Dumped by pg_dump version: 17.5`.
    pub dump_version: Option<String>,
    /// The database the dump was taken of.
    pub database: Option<String>,
    /// Every table it creates.
    pub tables: Vec<TableName>,
    /// The tables whose rows it holds.
    pub table_data: Vec<TableName>,
    /// Each table's entry as pg_restore prints it after `TABLE `: `schema name
    /// owner`, unquoted, so a name with a space is only told apart by a catalog.
    pub tables_raw: Vec<String>,
    /// The extensions it creates.
    pub extensions: Vec<String>,
}

/// The entries a restore without superuser rights must leave to whoever made the
/// extensions: `EXTENSION`, `COMMENT - EXTENSION` (only an extension's owner may
/// comment on it), and the `SCHEMA` entries of `made_schemas` (made with them).
pub fn without_extensions(list: &str, made_schemas: &[String]) -> String {
    keep_entries(list, |words| match words {
        ["EXTENSION", ..] | ["COMMENT", "-", "EXTENSION", ..] => false,
        ["SCHEMA", "-", schema, ..] => !made_schemas.iter().any(|made| made == schema),
        _ => true,
    })
}

/// The `EXTENSION` entries alone, to have pg_restore print their statements.
pub fn only_extensions(list: &str) -> String {
    keep_entries(list, |words| matches!(words, ["EXTENSION", ..]))
}

fn keep_entries(list: &str, keep: impl Fn(&[&str]) -> bool) -> String {
    list.lines()
        .filter(|line| {
            if line.starts_with(';') {
                return true;
            }
            let Some((_, entry)) = line.split_once(';') else { return true };
            let words: Vec<&str> = entry.split_whitespace().collect();
            keep(words.get(2..).unwrap_or_default())
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

/// Each `CREATE EXTENSION IF NOT EXISTS <name> WITH SCHEMA <schema>;` pg_dump
/// wrote, as (name, schema), names unquoted.
pub fn extension_schemas(sql: &str) -> Vec<(String, String)> {
    let unquote = |text: &str| {
        let text = text.trim().trim_end_matches(';').trim();
        match text.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')) {
            Some(inner) => inner.replace("\"\"", "\""),
            None => text.to_owned(),
        }
    };
    sql.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("CREATE EXTENSION IF NOT EXISTS ")?;
            let (name, schema) = rest.split_once(" WITH SCHEMA ")?;
            Some((unquote(name), unquote(schema)))
        })
        .collect()
}

/// Reads `pg_restore --list`: header comments, then one entry per line,
/// `<id>; <oid> <oid> <TYPE...> <schema> <name> <owner>`.
pub fn parse_list(text: &str) -> Catalog {
    let mut catalog = Catalog::default();
    for line in text.lines() {
        if let Some(comment) = line.strip_prefix(';') {
            let comment = comment.trim();
            let value = |label: &str| comment.strip_prefix(label).map(|value| value.trim().to_owned());
            catalog.server_version = catalog.server_version.take().or_else(|| value("Dumped from database version:"));
            catalog.dump_version = catalog.dump_version.take().or_else(|| value("Dumped by pg_dump version:"));
            catalog.database = catalog.database.take().or_else(|| value("dbname:"));
            continue;
        }
        let Some((_, entry)) = line.split_once(';') else {
            continue;
        };
        let words: Vec<&str> = entry.split_whitespace().collect();
        // words: oid, oid, then the entry type and its names.
        if let Some(["EXTENSION", "-", name, ..]) = words.get(2..) {
            catalog.extensions.push((*name).to_owned());
            continue;
        }
        let (kind, rest) = match words.get(2..) {
            Some(["TABLE", "DATA", rest @ ..]) => ("data", rest),
            // A partition's attachment, not a table of its own.
            Some(["TABLE", "ATTACH", ..]) => continue,
            Some(["TABLE", rest @ ..]) => ("table", rest),
            _ => continue,
        };
        if kind == "table" {
            // As printed, spaces and all: a name may hold two spaces in a row.
            catalog.tables_raw.push(after_tokens(entry, 3).trim_end().to_owned());
        }
        // schema, name, owner (the owner is `-` or missing with --no-owner on some versions).
        let (Some(schema), Some(name)) = (rest.first(), rest.get(1)) else {
            continue;
        };
        let table = TableName { schema: (*schema).to_owned(), name: (*name).to_owned() };
        match kind {
            "data" => catalog.table_data.push(table),
            _ => catalog.tables.push(table),
        }
    }
    catalog
}

/// `text` after its first `count` whitespace-separated tokens, as written.
fn after_tokens(text: &str, count: usize) -> &str {
    let mut rest = text;
    for _ in 0..count {
        rest = rest.trim_start();
        rest = rest.find(char::is_whitespace).map_or("", |end| &rest[end..]);
    }
    rest.trim_start()
}

/// The `hash` column of the bookkeeping rows in `pg_restore --data-only
/// --table=...` output (a `COPY ... FROM stdin;` block), in id order.
pub fn bookkeeping_hashes(copy_script: &str) -> Vec<String> {
    let mut inside = false;
    let mut columns: Vec<String> = Vec::new();
    let mut rows: Vec<(i64, String)> = Vec::new();
    for line in copy_script.lines() {
        if !inside {
            if let Some(rest) = line.strip_prefix("COPY ")
                && let (Some(open), Some(close)) = (rest.find('('), rest.find(')'))
            {
                columns =
                    rest[open + 1..close].split(',').map(|column| column.trim().trim_matches('"').to_owned()).collect();
                inside = true;
            }
            continue;
        }
        if line == "\\." {
            inside = false;
            continue;
        }
        let fields: Vec<&str> = line.split('\t').collect();
        let field = |name: &str| columns.iter().position(|column| column == name).and_then(|i| fields.get(i).copied());
        if let (Some(id), Some(hash)) = (field("id").and_then(|id| id.parse().ok()), field("hash")) {
            rows.push((id, hash.to_owned()));
        }
    }
    rows.sort();
    rows.into_iter().map(|(_, hash)| hash).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &str = ";
; Archive created at 2026-12-01 11:25:05 UTC
;     dbname: praxia
;     TOC Entries: 12
;     Compression: gzip
;     Dump Version: 1.14-0
;     Format: CUSTOM
;     Dumped from database version: 15.18 (Debian 15.18-0+deb12u1)
;     Dumped by pg_dump version: 15.18 (Debian 15.18-0+deb12u1)
;
;
; Selected TOC Entries:
;
6; 2615 16385 SCHEMA - drizzle postgres
3190; 0 0 TABLE ATTACH public ev_2026 postgres
216; 1259 16387 TABLE drizzle __drizzle_migrations postgres
215; 1259 16386 SEQUENCE drizzle __drizzle_migrations_id_seq postgres
218; 1259 16399 TABLE public note -
3345; 0 16387 TABLE DATA drizzle __drizzle_migrations postgres
3346; 0 16399 TABLE DATA public note -
3195; 2606 16406 CONSTRAINT public note note_pkey postgres
";

    #[test]
    fn the_table_of_contents_names_tables_and_versions() {
        let catalog = parse_list(LIST);
        assert_eq!(catalog.server_version.as_deref(), Some("15.18 (Debian 15.18-0+deb12u1)"));
        assert_eq!(catalog.dump_version.as_deref(), Some("15.18 (Debian 15.18-0+deb12u1)"));
        assert_eq!(catalog.database.as_deref(), Some("praxia"));
        let names: Vec<String> = catalog.tables.iter().map(ToString::to_string).collect();
        assert_eq!(names, ["drizzle.__drizzle_migrations", "public.note"]);
        assert_eq!(catalog.table_data.len(), 2);
    }

    #[test]
    fn extensions_are_named_and_can_be_left_out_of_a_restore() {
        let list = ";\n; Archive created at 2026-01-01\n;\n3; 3079 16384 EXTENSION - vector \n4150; 0 0 COMMENT - EXTENSION vector \n215; 1259 16390 TABLE public emb postgres\n";
        assert_eq!(parse_list(list).extensions, ["vector"]);
        assert_eq!(
            without_extensions(list, &[]),
            ";\n; Archive created at 2026-01-01\n;\n215; 1259 16390 TABLE public emb postgres\n"
        );
        let with_schema = "6; 2615 16385 SCHEMA - ext postgres\n7; 2615 16386 SCHEMA - app postgres\n";
        assert_eq!(without_extensions(with_schema, &["ext".to_owned()]), "7; 2615 16386 SCHEMA - app postgres\n");
        assert_eq!(only_extensions(list), ";\n; Archive created at 2026-01-01\n;\n3; 3079 16384 EXTENSION - vector \n");
        let sql = "--\nCREATE EXTENSION IF NOT EXISTS citext WITH SCHEMA ext;\nCREATE EXTENSION IF NOT EXISTS \"uuid-ossp\" WITH SCHEMA \"My Ext\";\n";
        assert_eq!(
            extension_schemas(sql),
            [("citext".to_owned(), "ext".to_owned()), ("uuid-ossp".to_owned(), "My Ext".to_owned())]
        );
    }

    #[test]
    fn a_table_name_with_two_spaces_keeps_them() {
        let catalog = parse_list("215; 1259 16390 TABLE public two  spaces postgres\n");
        assert_eq!(catalog.tables_raw, ["public two  spaces postgres"]);
    }

    #[test]
    fn bookkeeping_rows_come_back_in_id_order() {
        let script = "--\n-- Data for Name: __drizzle_migrations\n--\n\nCOPY drizzle.__drizzle_migrations (id, hash, created_at, name, applied_at) FROM stdin;\n2\tbbb\t1700000001000\t20231114221321_b\t\\N\n1\taaa\t1700000000000\t20231114221320_a\t\\N\n\\.\n\nSELECT pg_catalog.setval('x', 2, true);\n";
        assert_eq!(bookkeeping_hashes(script), ["aaa", "bbb"]);
        assert!(bookkeeping_hashes("").is_empty());
    }
}
