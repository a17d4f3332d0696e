//! A database's schema as the catalog query describes it, and the differences
//! between two: pure, on plain data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One object of the schema: a table, a column, an index...
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SchemaObject {
    pub kind: String,
    /// As PostgreSQL prints it: `public.note`, `public.note.body`, `public.f(integer)`.
    pub name: String,
    /// Quoted for SQL (for a column, constraint, trigger or policy: its own name).
    pub ident: String,
    /// The table it belongs to, for columns, constraints, indexes, triggers and policies.
    #[serde(default)]
    pub table: Option<String>,
    #[serde(default)]
    pub table_ident: Option<String>,
    /// Its definition, attribute by attribute, normalised by PostgreSQL; an
    /// attribute that is not there is "none" (no default, no comment).
    #[serde(default)]
    pub attrs: BTreeMap<String, String>,
}

/// A schema: its objects by (kind, name).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub objects: BTreeMap<(String, String), SchemaObject>,
}

impl Schema {
    /// The catalog query's JSON document. Two objects of one (kind, name) would
    /// make every comparison a coin toss: refused.
    pub fn from_json(text: &str) -> Result<Schema, String> {
        let objects: Vec<SchemaObject> = serde_json::from_str(text).map_err(|err| err.to_string())?;
        let count = objects.len();
        let schema = Schema::from_objects(objects);
        if schema.objects.len() != count {
            return Err(format!("{} objects share a kind and name with another", count - schema.objects.len()));
        }
        Ok(schema)
    }

    /// Objects by (kind, name). Names join their parts with dots, so a name with a
    /// dot in it could meet another (`"a.b".c` and `a."b.c"` both read `a.b.c`):
    /// an object any part of whose name needs quoting is named by its quoted
    /// identifiers instead (`public."User".id`), which never meet, on both sides
    /// alike whatever the other side holds. Any that still meet are named so too.
    pub fn from_objects(objects: Vec<SchemaObject>) -> Schema {
        let quoted = |text: &str| text.contains('"');
        let objects: Vec<SchemaObject> = objects
            .into_iter()
            .map(|mut object| {
                if quoted(&object.ident) || object.table_ident.as_deref().is_some_and(quoted) {
                    object.name = match &object.table_ident {
                        Some(table) => format!("{table}.{}", object.ident),
                        None => object.ident.clone(),
                    };
                }
                if object.table_ident.as_deref().is_some_and(quoted) {
                    object.table.clone_from(&object.table_ident);
                }
                object
            })
            .collect();
        let mut seen: BTreeMap<(String, String), usize> = BTreeMap::new();
        for object in &objects {
            *seen.entry((object.kind.clone(), object.name.clone())).or_default() += 1;
        }
        let objects = objects.into_iter().map(|mut object| {
            if seen[&(object.kind.clone(), object.name.clone())] > 1 {
                object.name = match &object.table_ident {
                    Some(table) => format!("{table}.{}", object.ident),
                    None => object.ident.clone(),
                };
            }
            ((object.kind.clone(), object.name.clone()), object)
        });
        Schema { objects: objects.collect() }
    }
}

/// One way the database is not what its migrations make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    pub kind: String,
    pub name: String,
    /// The attribute that differs; None: the whole object is missing or extra.
    pub attribute: Option<String>,
    /// What the migrations make (None: nothing, the object should not be there).
    pub expected: Option<String>,
    /// What the database has (None: nothing, the object is missing).
    pub actual: Option<String>,
    /// SQL that would bring the database back, where there is a plain one that
    /// loses nothing.
    pub fix: Option<String>,
    /// SQL that would bring it back by destroying data: never offered to run,
    /// printed commented out with what it would lose.
    pub destructive: Option<DestructiveFix>,
}

/// A fix that loses data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DestructiveFix {
    pub sql: String,
    /// What it would lose, in words.
    pub loses: String,
}

/// SQL that puts a difference back.
enum Fix {
    Safe(String),
    Destructive(String, String),
}

impl Difference {
    fn new(
        object: &SchemaObject,
        attribute: Option<&str>,
        expected: Option<String>,
        actual: Option<String>,
        fix: Option<Fix>,
    ) -> Difference {
        let (fix, destructive) = match fix {
            Some(Fix::Safe(sql)) => (Some(sql), None),
            Some(Fix::Destructive(sql, loses)) => (None, Some(DestructiveFix { sql, loses })),
            None => (None, None),
        };
        Difference {
            kind: object.kind.clone(),
            name: object.name.clone(),
            attribute: attribute.map(str::to_owned),
            expected,
            actual,
            fix,
            destructive,
        }
    }
}

impl Difference {
    /// One line: object, what the migrations make, what the database has.
    pub fn describe(&self) -> String {
        let object = match &self.attribute {
            Some(attribute) => format!("{} {}: {attribute}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        };
        let show = |value: &Option<String>, absent: &str| value.as_deref().map_or_else(|| absent.to_owned(), one_line);
        match (&self.attribute, &self.expected, &self.actual) {
            (None, Some(_), None) => format!("{object}: the migrations make it, the database does not have it"),
            (None, None, Some(_)) => format!("{object}: in the database, not made by the migrations"),
            _ => format!(
                "{object}: migrations make {}, the database has {}",
                show(&self.expected, "none"),
                show(&self.actual, "none")
            ),
        }
    }
}

/// `expected` against `actual`: first the renames (a table or column missing on
/// one side with exactly one of the same shape on the other, fixed by RENAME),
/// then the rest in kind and name order, compared as if the renames were undone.
/// A table missing or extra as a whole is one difference: its columns,
/// constraints, indexes, triggers and policies go with it.
pub fn differences(expected: &Schema, actual: &Schema) -> Vec<Difference> {
    let renames = super::rename::find(expected, actual);
    let undone = super::rename::undo(actual, &renames);
    let mut found: Vec<Difference> =
        renames.iter().filter(|rename| !rename.implied).map(super::rename::Rename::difference).collect();
    let mut rest = compare(expected, &undone);
    withhold_fixes_that_cannot_run(&mut rest, &undone);
    rest.sort_by_cached_key(|difference| {
        (fix_order(difference), difference.kind.clone(), difference.name.clone(), difference.attribute.clone())
    });
    order_views(&mut rest);
    found.extend(rest);
    found
}

/// Where a difference's fix runs, so that the fixes can be applied in the order
/// printed. Five phases: drops of what depends on others (dependents before
/// what they depend on), makes of what others depend on (types, functions,
/// sequences), the changes (a default may use a new function, or stop using an
/// old one), drops of what others depend on, makes of the rest (what they depend
/// on first). A foreign key comes after the key it references, both ways.
fn fix_order(difference: &Difference) -> (u8, u8) {
    const MADE_IN_ORDER: [&str; 18] = [
        "schema",
        "extension",
        "collation",
        "enum",
        "domain",
        "composite type",
        "range type",
        "sequence",
        "function",
        "procedure",
        "aggregate",
        "table",
        "partitioned table",
        "column",
        "constraint",
        "index",
        "foreign key",
        "view",
    ];
    /// The kinds others are made of: made before the changes, dropped after them.
    const DEPENDED_ON: usize = 11;
    let is_foreign_key = difference.kind == "constraint"
        && [&difference.expected, &difference.actual]
            .iter()
            .any(|definition| definition.as_deref().is_some_and(|text| text.starts_with("FOREIGN KEY")));
    let kind = if is_foreign_key { "foreign key" } else { difference.kind.as_str() };
    let position = MADE_IN_ORDER.iter().position(|made| *made == kind).unwrap_or(MADE_IN_ORDER.len());
    let rank = position as u8;
    let depended_on = position < DEPENDED_ON;
    match (&difference.attribute, &difference.expected, &difference.actual) {
        (None, None, Some(_)) if depended_on => (3, u8::MAX - rank),
        (None, None, Some(_)) => (0, u8::MAX - rank),
        (None, Some(_), None) if depended_on => (1, rank),
        (None, Some(_), None) => (4, rank),
        _ => (2, rank),
    }
}

/// Views made or dropped by the fixes, in an order that runs: a view whose
/// definition names another comes after it when made, before it when dropped.
fn order_views(found: &mut [Difference]) {
    let is_view = |difference: &Difference| {
        matches!(difference.kind.as_str(), "view" | "materialized view") && difference.attribute.is_none()
    };
    let mut start = 0;
    while start < found.len() {
        if !is_view(&found[start]) {
            start += 1;
            continue;
        }
        let end = (start..found.len()).find(|&index| !is_view(&found[index])).unwrap_or(found.len());
        let group = &mut found[start..end];
        let made = group[0].actual.is_none();
        // Repeatedly take the first view that needs none of those still waiting.
        let mut waiting: Vec<Difference> = group.to_vec();
        let mut ordered = Vec::with_capacity(waiting.len());
        while !waiting.is_empty() {
            let needs = |view: &Difference, other: &Difference| {
                let (first, then) = if made { (other, view) } else { (view, other) };
                let definition = then.expected.as_deref().or(then.actual.as_deref()).unwrap_or("");
                !std::ptr::eq(view, other) && mentions(definition, &first.name)
            };
            let next = (0..waiting.len())
                .find(|&index| !waiting.iter().any(|other| needs(&waiting[index], other)))
                .unwrap_or(0);
            ordered.push(waiting.remove(next));
        }
        group.clone_from_slice(&ordered);
        start = end;
    }
}

/// Whether a definition names `name` whole (`public.z`, never `public.z_t`).
fn mentions(definition: &str, name: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '$' || c == '"' || c == '.';
    definition.match_indices(name).any(|(at, _)| {
        let before = definition[..at].chars().next_back();
        let after = definition[at + name.len()..].chars().next();
        before.is_none_or(|c| !word(c)) && after.is_none_or(|c| !word(c))
    })
}

/// Fixes that cannot run because what they need has none: a schema made by
/// hand is dropped only once everything in it is (when something in it has no fix
/// offered, its drop would destroy data, so neither has the schema's), and a
/// column is added back only if the sequence its default draws from is there.
fn withhold_fixes_that_cannot_run(found: &mut [Difference], actual: &Schema) {
    let unfixed: Vec<&SchemaObject> = found
        .iter()
        .filter(|difference| difference.expected.is_none() && difference.fix.is_none() && difference.kind != "schema")
        .filter_map(|difference| actual.objects.get(&(difference.kind.clone(), difference.name.clone())))
        .collect();
    let held: Vec<String> = found
        .iter()
        .filter(|difference| difference.kind == "schema" && difference.expected.is_none())
        .filter_map(|difference| actual.objects.get(&(difference.kind.clone(), difference.name.clone())))
        .filter(|schema| {
            unfixed.iter().any(|object| {
                object.attrs.get("schema") == Some(&schema.name)
                    || super::rename::schema_part(&object.ident) == Some(schema.ident.as_str())
            })
        })
        .map(|schema| schema.name.clone())
        .collect();
    let sequences_missing: Vec<String> = found
        .iter()
        .filter(|difference| difference.kind == "sequence" && difference.actual.is_none() && difference.fix.is_none())
        .map(|difference| difference.name.clone())
        .collect();
    for difference in found.iter_mut() {
        let schema_held =
            difference.kind == "schema" && difference.expected.is_none() && held.contains(&difference.name);
        let draws_from_missing = difference.kind == "column"
            && difference.actual.is_none()
            && difference.fix.as_deref().is_some_and(|fix| {
                sequences_missing.iter().any(|sequence| fix.contains(&format!("nextval('{sequence}'")))
            });
        if schema_held || draws_from_missing {
            difference.fix = None;
        }
    }
}

fn compare(expected: &Schema, actual: &Schema) -> Vec<Difference> {
    let mut found = Vec::new();
    let keys: std::collections::BTreeSet<&(String, String)> =
        expected.objects.keys().chain(actual.objects.keys()).collect();
    let whole_tables = |from: &Schema, other: &Schema| -> std::collections::BTreeSet<String> {
        from.objects
            .values()
            .filter(|object| {
                matches!(object.kind.as_str(), "table" | "partitioned table" | "view" | "materialized view")
            })
            .filter(|object| !other.objects.contains_key(&(object.kind.clone(), object.name.clone())))
            .map(|object| object.name.clone())
            .collect()
    };
    let (missing_tables, extra_tables) = (whole_tables(expected, actual), whole_tables(actual, expected));
    let belongs_to = |object: &SchemaObject, tables: &std::collections::BTreeSet<String>| {
        object.table.as_ref().is_some_and(|table| tables.contains(table))
            || (object.kind == "column"
                && object.name.rsplit_once('.').is_some_and(|(table, _)| tables.contains(table)))
    };
    for key in keys {
        match (expected.objects.get(key), actual.objects.get(key)) {
            (Some(object), None) if belongs_to(object, &missing_tables) => {}
            (None, Some(object)) if belongs_to(object, &extra_tables) => {}
            (Some(object), None) => {
                found.push(Difference::new(object, None, Some(summary(object)), None, create(object).map(Fix::Safe)))
            }
            (None, Some(object)) => {
                found.push(Difference::new(object, None, None, Some(summary(object)), drop(object)))
            }
            // Of a table missing or extra as a whole (not a rename): its difference says it.
            (Some(want), Some(have)) if belongs_to(want, &missing_tables) || belongs_to(have, &extra_tables) => {}
            (Some(want), Some(have)) => {
                let attributes: std::collections::BTreeSet<&String> =
                    want.attrs.keys().chain(have.attrs.keys()).collect();
                for attribute in attributes {
                    let (expected, actual) = (want.attrs.get(attribute), have.attrs.get(attribute));
                    if expected != actual {
                        found.push(Difference::new(
                            want,
                            Some(attribute),
                            expected.cloned(),
                            actual.cloned(),
                            change(want, attribute, expected.map(String::as_str), actual.map(String::as_str)),
                        ));
                    }
                }
            }
            (None, None) => {}
        }
    }
    found
}

fn summary(object: &SchemaObject) -> String {
    object.attrs.get("definition").cloned().unwrap_or_else(|| {
        object.attrs.iter().map(|(key, value)| format!("{key} {value}")).collect::<Vec<_>>().join(", ")
    })
}

fn one_line(text: &str) -> String {
    let joined = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if joined.chars().count() > 160 { joined.chars().take(160).collect::<String>() + "..." } else { joined }
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn table_of(object: &SchemaObject) -> &str {
    object.table_ident.as_deref().unwrap_or("?")
}

/// What makes a missing object, where it is one statement.
fn create(object: &SchemaObject) -> Option<String> {
    let definition = object.attrs.get("definition");
    Some(match object.kind.as_str() {
        "schema" => format!("CREATE SCHEMA {};", object.ident),
        // A partition's index comes back with its parent's; the parent's definition
        // (`ON ONLY`) alone would leave it invalid.
        "index" if object.attrs.contains_key("attached to") || definition?.contains(" ON ONLY ") => return None,
        "index" | "trigger" => format!("{};", definition?),
        "function" | "procedure" => format!("{};", definition?.trim_end()),
        "constraint" => format!("ALTER TABLE {} ADD CONSTRAINT {} {};", table_of(object), object.ident, definition?),
        "view" => format!("CREATE VIEW {} AS {}", object.ident, definition?.trim()),
        // A generated or identity column is more than its type: no plain fix.
        "column" if object.attrs.contains_key("generated") || object.attrs.contains_key("identity") => return None,
        // On a table with rows it would fail: the column must be filled first, by a migration.
        "column"
            if object.attrs.get("not null").is_some_and(|value| value == "true")
                && !object.attrs.contains_key("default") =>
        {
            return None;
        }
        "column" => {
            let mut sql =
                format!("ALTER TABLE {} ADD COLUMN {} {}", table_of(object), object.ident, object.attrs.get("type")?);
            if let Some(collation) = object.attrs.get("collation") {
                sql.push_str(&format!(" COLLATE \"{}\"", collation.replace('"', "\"\"")));
            }
            if let Some(default) = object.attrs.get("default") {
                sql.push_str(&format!(" DEFAULT {default}"));
            }
            if object.attrs.get("not null").is_some_and(|value| value == "true") {
                sql.push_str(" NOT NULL");
            }
            sql + ";"
        }
        "enum" => format!("CREATE TYPE {} AS ENUM ({});", object.ident, object.attrs.get("values")?),
        "extension" => match object.attrs.get("schema") {
            Some(schema) => {
                format!("CREATE EXTENSION IF NOT EXISTS {} SCHEMA \"{}\";", object.ident, schema.replace('"', "\"\""))
            }
            None => format!("CREATE EXTENSION IF NOT EXISTS {};", object.ident),
        },
        _ => return None,
    })
}

/// What removes an extra object; destructive when it holds data.
fn drop(object: &SchemaObject) -> Option<Fix> {
    let ident = &object.ident;
    let table = table_of(object);
    let destructive = |sql: String, loses: &str| Some(Fix::Destructive(sql, loses.to_owned()));
    let safe = |sql: String| Some(Fix::Safe(sql));
    match object.kind.as_str() {
        "table" | "partitioned table" => destructive(format!("DROP TABLE {ident};"), "the table and every row in it"),
        "column" => destructive(format!("ALTER TABLE {table} DROP COLUMN {ident};"), "the column and its values"),
        "materialized view" => {
            destructive(format!("DROP MATERIALIZED VIEW {ident};"), "the materialized view and the rows it holds")
        }
        "sequence" => destructive(format!("DROP SEQUENCE {ident};"), "the sequence and its current value"),
        "extension" => {
            destructive(format!("DROP EXTENSION {ident};"), "the extension's objects and any data they hold")
        }
        "schema" => safe(format!("DROP SCHEMA {ident};")),
        "constraint" => safe(format!("ALTER TABLE {table} DROP CONSTRAINT {ident};")),
        "index" => safe(format!("DROP INDEX {ident};")),
        "view" => safe(format!("DROP VIEW {ident};")),
        "enum" => safe(format!("DROP TYPE {ident};")),
        "function" => safe(format!("DROP FUNCTION {ident};")),
        "procedure" => safe(format!("DROP PROCEDURE {ident};")),
        "trigger" => safe(format!("DROP TRIGGER {ident} ON {table};")),
        "policy" => safe(format!("DROP POLICY {ident} ON {table};")),
        _ => None,
    }
}

/// What sets `attribute` of `object` back to `expected` from `actual`.
fn change(object: &SchemaObject, attribute: &str, expected: Option<&str>, actual: Option<&str>) -> Option<Fix> {
    let table = table_of(object);
    let ident = &object.ident;
    if (object.kind.as_str(), attribute) == ("column", "type") {
        let (expected, actual) = (expected?, actual?);
        let sql = format!("ALTER TABLE {table} ALTER COLUMN {ident} TYPE {expected};");
        return Some(if widens(actual, expected) {
            Fix::Safe(sql)
        } else {
            Fix::Destructive(
                sql,
                format!(
                    "the column's values, converted from {actual} to {expected} (rounded, cut or changed in meaning)"
                ),
            )
        });
    }
    Some(Fix::Safe(match (object.kind.as_str(), attribute) {
        ("column", "default") => match expected {
            Some(default) => format!("ALTER TABLE {table} ALTER COLUMN {ident} SET DEFAULT {default};"),
            None => format!("ALTER TABLE {table} ALTER COLUMN {ident} DROP DEFAULT;"),
        },
        ("column", "not null") => match expected {
            Some("true") => format!("ALTER TABLE {table} ALTER COLUMN {ident} SET NOT NULL;"),
            _ => format!("ALTER TABLE {table} ALTER COLUMN {ident} DROP NOT NULL;"),
        },
        ("column", "comment") => {
            format!("COMMENT ON COLUMN {table}.{ident} IS {};", expected.map_or("NULL".to_owned(), literal))
        }
        ("table" | "partitioned table", "row level security") => match expected {
            Some("true") => format!("ALTER TABLE {ident} ENABLE ROW LEVEL SECURITY;"),
            _ => format!("ALTER TABLE {ident} DISABLE ROW LEVEL SECURITY;"),
        },
        ("table" | "partitioned table", "forced row level security") => match expected {
            Some("true") => format!("ALTER TABLE {ident} FORCE ROW LEVEL SECURITY;"),
            _ => format!("ALTER TABLE {ident} NO FORCE ROW LEVEL SECURITY;"),
        },
        ("table" | "partitioned table", "comment") => {
            format!("COMMENT ON TABLE {ident} IS {};", expected.map_or("NULL".to_owned(), literal))
        }
        ("index", "definition") => format!("DROP INDEX {ident}; {};", expected?),
        ("constraint", "definition") => {
            format!(
                "ALTER TABLE {table} DROP CONSTRAINT {ident}; ALTER TABLE {table} ADD CONSTRAINT {ident} {};",
                expected?
            )
        }
        ("trigger", "definition") => format!("DROP TRIGGER {ident} ON {table}; {};", expected?),
        ("function" | "procedure", "definition") => format!("{};", expected?.trim_end()),
        ("view", "definition") => format!("CREATE OR REPLACE VIEW {ident} AS {}", expected?.trim()),
        _ => return None,
    }))
}

/// Whether every value of type `from` is kept exactly by `to` (as format_type prints them).
fn widens(from: &str, to: &str) -> bool {
    let length = |text: &str, prefix: &str| -> Option<Option<u32>> {
        let rest = text.strip_prefix(prefix)?;
        if rest.is_empty() {
            return Some(None);
        }
        rest.strip_prefix('(')?.strip_suffix(')')?.parse().ok().map(Some)
    };
    let integers = ["smallint", "integer", "bigint"];
    if let (Some(a), Some(b)) =
        (integers.iter().position(|name| *name == from), integers.iter().position(|name| *name == to))
    {
        return a <= b;
    }
    match (length(from, "character varying"), to) {
        (Some(_), "text") => return true,
        (Some(Some(n)), _) => {
            if let Some(m) = length(to, "character varying") {
                return m.is_none_or(|m| m >= n);
            }
        }
        _ => {}
    }
    from.starts_with("numeric(") && to == "numeric"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: &str, name: &str, ident: &str, attrs: &[(&str, &str)]) -> SchemaObject {
        let table = name.rsplit_once('.').map(|(table, _)| table.to_owned());
        SchemaObject {
            kind: kind.to_owned(),
            name: name.to_owned(),
            ident: ident.to_owned(),
            table_ident: table.clone(),
            table,
            attrs: attrs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect(),
        }
    }

    fn schema(objects: Vec<SchemaObject>) -> Schema {
        Schema {
            objects: objects.into_iter().map(|object| ((object.kind.clone(), object.name.clone()), object)).collect(),
        }
    }

    #[test]
    fn identical_schemas_have_no_differences() {
        let a = schema(vec![object("column", "public.note.body", "body", &[("type", "text"), ("not null", "true")])]);
        assert!(differences(&a, &a.clone()).is_empty());
    }

    #[test]
    fn each_difference_is_one_attribute_with_the_sql_that_puts_it_back() {
        let expected = schema(vec![
            object("column", "public.note.score", "score", &[("type", "integer"), ("not null", "false")]),
            object(
                "column",
                "public.note.body",
                "body",
                &[("type", "text"), ("not null", "true"), ("default", "''::text")],
            ),
            object(
                "index",
                "public.note_pkey_idx",
                "public.note_pkey_idx",
                &[("definition", "CREATE INDEX note_pkey_idx ON public.note USING btree (id)")],
            ),
        ]);
        let actual = schema(vec![
            object("column", "public.note.score", "score", &[("type", "bigint"), ("not null", "false")]),
            object("column", "public.note.body", "body", &[("type", "text"), ("not null", "false")]),
            object(
                "index",
                "public.note_body_idx",
                "public.note_body_idx",
                &[("definition", "CREATE INDEX note_body_idx ON public.note USING btree (body)")],
            ),
        ]);
        let found = differences(&expected, &actual);
        let lines: Vec<(String, Option<String>)> = found
            .iter()
            .map(|d| {
                (
                    d.describe(),
                    d.fix.clone().or_else(|| d.destructive.as_ref().map(|fix| format!("destructive: {}", fix.sql))),
                )
            })
            .collect();
        assert_eq!(
            lines,
            vec![
                (
                    "index public.note_body_idx: in the database, not made by the migrations".to_owned(),
                    Some("DROP INDEX public.note_body_idx;".to_owned())
                ),
                (
                    "column public.note.body: default: migrations make ''::text, the database has none".to_owned(),
                    Some("ALTER TABLE public.note ALTER COLUMN body SET DEFAULT ''::text;".to_owned())
                ),
                (
                    "column public.note.body: not null: migrations make true, the database has false".to_owned(),
                    Some("ALTER TABLE public.note ALTER COLUMN body SET NOT NULL;".to_owned())
                ),
                (
                    "column public.note.score: type: migrations make integer, the database has bigint".to_owned(),
                    Some("destructive: ALTER TABLE public.note ALTER COLUMN score TYPE integer;".to_owned())
                ),
                (
                    "index public.note_pkey_idx: the migrations make it, the database does not have it".to_owned(),
                    Some("CREATE INDEX note_pkey_idx ON public.note USING btree (id);".to_owned())
                ),
            ]
        );
    }

    #[test]
    fn fixes_come_in_an_order_they_can_be_applied_in() {
        let table = |name: &str| object("table", name, name, &[]);
        let mut trigger = object("trigger", "public.t.audit", "audit", &[("definition", "CREATE TRIGGER audit ...")]);
        trigger.table_ident = Some("public.t".to_owned());
        let expected = schema(vec![
            table("public.t"),
            object("enum", "public.mood", "public.mood", &[("values", "'ok'")]),
            object("column", "public.t.m", "m", &[("type", "public.mood"), ("not null", "false")]),
            object("column", "public.t.title", "title", &[("type", "text"), ("not null", "true")]),
        ]);
        let actual = schema(vec![
            table("public.t"),
            object("function", "public.audit()", "public.audit()", &[("definition", "CREATE FUNCTION ...")]),
            trigger,
        ]);
        let fixes: Vec<String> = differences(&expected, &actual).iter().filter_map(|d| d.fix.clone()).collect();
        assert_eq!(
            fixes,
            [
                "DROP TRIGGER audit ON public.t;",
                "CREATE TYPE public.mood AS ENUM ('ok');",
                "DROP FUNCTION public.audit();",
                "ALTER TABLE public.t ADD COLUMN m public.mood;",
            ],
            "and no fix for a NOT NULL column without a default: it fails on a table with rows"
        );
    }

    #[test]
    fn views_over_views_and_keys_under_foreign_keys_come_in_an_order_that_runs() {
        let view = |name: &str, definition: &str| object("view", name, name, &[("definition", definition)]);
        let constraint = |name: &str, definition: &str| {
            let mut constraint =
                object("constraint", name, name.rsplit('.').next().unwrap(), &[("definition", definition)]);
            constraint.table_ident = Some("public.t".to_owned());
            constraint
        };
        let views = [
            view("public.a_top", " SELECT id FROM public.z_base;"),
            view("public.z_base", " SELECT id FROM public.t;"),
        ];
        let keys = [
            constraint("public.t.a_fk", "FOREIGN KEY (p) REFERENCES public.t(id)"),
            constraint("public.t.z_pkey", "PRIMARY KEY (id)"),
        ];
        let with = |objects: &[SchemaObject]| schema(objects.to_vec());
        let made: Vec<String> = differences(&with(&[views.clone(), keys.clone()].concat()), &with(&[]))
            .iter()
            .filter_map(|d| d.fix.clone())
            .collect();
        assert_eq!(
            made,
            [
                "ALTER TABLE public.t ADD CONSTRAINT z_pkey PRIMARY KEY (id);",
                "ALTER TABLE public.t ADD CONSTRAINT a_fk FOREIGN KEY (p) REFERENCES public.t(id);",
                "CREATE VIEW public.z_base AS SELECT id FROM public.t;",
                "CREATE VIEW public.a_top AS SELECT id FROM public.z_base;",
            ]
        );
        let dropped: Vec<String> = differences(&with(&[]), &with(&[views.clone(), keys.clone()].concat()))
            .iter()
            .filter_map(|d| d.fix.clone())
            .collect();
        assert_eq!(
            dropped,
            [
                "DROP VIEW public.a_top;",
                "DROP VIEW public.z_base;",
                "ALTER TABLE public.t DROP CONSTRAINT a_fk;",
                "ALTER TABLE public.t DROP CONSTRAINT z_pkey;",
            ]
        );
    }

    #[test]
    fn a_view_reads_another_only_by_its_whole_name() {
        assert!(mentions(" SELECT id FROM public.z;", "public.z"));
        assert!(!mentions(" SELECT id FROM public.z_t;", "public.z"));
        assert!(!mentions(" SELECT id FROM other.public.z;", "public.z"));
    }

    #[test]
    fn the_index_of_a_table_missing_as_a_whole_is_not_dropped_and_made_again() {
        let mut want = object(
            "index",
            "public.t_b_idx",
            "public.t_b_idx",
            &[("definition", "CREATE INDEX t_b_idx ON public.t USING btree (b)")],
        );
        want.table = Some("public.t".to_owned());
        let mut have = object(
            "index",
            "public.t_b_idx",
            "public.t_b_idx",
            &[("definition", "CREATE INDEX t_b_idx ON public.t2 USING btree (b)")],
        );
        have.table = Some("public.t2".to_owned());
        let expected = schema(vec![object("table", "public.t", "public.t", &[]), want]);
        let actual = schema(vec![object("table", "public.t2", "public.t2", &[("options", "x")]), have]);
        let found: Vec<String> = differences(&expected, &actual).iter().map(Difference::describe).collect();
        assert_eq!(
            found,
            [
                "table public.t2: in the database, not made by the migrations",
                "table public.t: the migrations make it, the database does not have it"
            ]
        );
    }

    #[test]
    fn a_table_missing_or_extra_as_a_whole_is_one_difference() {
        let expected = schema(vec![object("table", "public.note", "public.note", &[])]);
        let actual = schema(vec![
            object("table", "public.note", "public.note", &[]),
            object("table", "public.extra", "public.extra", &[]),
            object("column", "public.extra.id", "id", &[("type", "integer")]),
            object("index", "public.extra_idx", "public.extra_idx", &[("definition", "CREATE INDEX ...")]),
        ]);
        let mut index = actual.objects[&("index".to_owned(), "public.extra_idx".to_owned())].clone();
        index.table = Some("public.extra".to_owned());
        let mut actual = actual;
        actual.objects.insert(("index".to_owned(), "public.extra_idx".to_owned()), index);
        let found: Vec<String> = differences(&expected, &actual).iter().map(Difference::describe).collect();
        assert_eq!(found, ["table public.extra: in the database, not made by the migrations"]);
    }

    #[test]
    fn no_plain_fix_is_offered_where_it_would_make_something_else() {
        let generated = object("column", "public.t.upper", "upper", &[("type", "text"), ("generated", "upper(name)")]);
        let identity = object("column", "public.t.id", "id", &[("type", "bigint"), ("identity", "always")]);
        let attached = object(
            "index",
            "public.ev_2024_at_idx",
            "public.ev_2024_at_idx",
            &[
                ("definition", "CREATE INDEX ev_2024_at_idx ON public.ev_2024 USING btree (at)"),
                ("attached to", "public.ev_at_idx"),
            ],
        );
        let parent = object(
            "index",
            "public.ev_at_idx",
            "public.ev_at_idx",
            &[("definition", "CREATE INDEX ev_at_idx ON ONLY public.ev USING btree (at)")],
        );
        for missing in [generated, identity, attached, parent] {
            assert_eq!(create(&missing), None, "{missing:?}");
        }
        let collated =
            object("column", "public.t.code", "code", &[("type", "text"), ("collation", "C"), ("not null", "false")]);
        assert_eq!(create(&collated).as_deref(), Some("ALTER TABLE public.t ADD COLUMN code text COLLATE \"C\";"));
    }

    #[test]
    fn names_that_meet_through_a_dot_are_told_apart_by_their_quoted_identifiers() {
        let mut a = object("column", "public.t.x.y", "\"x.y\"", &[("type", "text")]);
        a.table_ident = Some("public.t".to_owned());
        let mut b = object("column", "public.t.x.y", "y", &[("type", "integer")]);
        b.table_ident = Some("public.\"t.x\"".to_owned());
        let schema = Schema::from_objects(vec![a, b]);
        let names: Vec<&str> = schema.objects.keys().map(|(_, name)| name.as_str()).collect();
        assert_eq!(names, ["public.\"t.x\".y", "public.t.\"x.y\""]);
    }

    #[test]
    fn the_catalog_document_is_read_as_the_query_writes_it() {
        let text = r#"[{"kind": "constraint", "name": "public.note.note_pkey", "ident": "note_pkey", "table": "public.note", "table_ident": "public.note", "attrs": {"definition": "PRIMARY KEY (id)"}}]"#;
        let schema = Schema::from_json(text).unwrap();
        let object = &schema.objects[&("constraint".to_owned(), "public.note.note_pkey".to_owned())];
        assert_eq!(object.attrs["definition"], "PRIMARY KEY (id)");
    }
}
