//! Renames made by hand: a table or a column missing on one side with exactly one
//! of the same shape on the other side (and no other candidate either way). Fixed
//! by RENAME, never by a DROP and a CREATE that would lose its rows; the rest of
//! the schema is compared as if the rename were undone. Pure.

use std::collections::BTreeMap;

use super::model::{Difference, Schema, SchemaObject};

/// One rename found: the object as the migrations make it and as the database has it.
#[derive(Debug, Clone)]
pub struct Rename {
    pub expected: SchemaObject,
    pub actual: SchemaObject,
    /// A partition's or child's column renamed with its parent's: undone with
    /// it, and fixed by the parent's RENAME (which renames it too).
    pub implied: bool,
}

const TABLE_KINDS: [&str; 2] = ["table", "partitioned table"];

impl Rename {
    fn is_table(&self) -> bool {
        TABLE_KINDS.contains(&self.expected.kind.as_str())
    }

    /// The difference it makes, with the RENAME that puts it back (tables first:
    /// a column's RENAME names its table as the migrations make it).
    pub fn difference(&self) -> Difference {
        let fix = if self.is_table() {
            format!("ALTER TABLE {} RENAME TO {};", self.actual.ident, unqualified(&self.expected.ident))
        } else {
            format!(
                "ALTER TABLE {} RENAME COLUMN {} TO {};",
                self.expected.table_ident.as_deref().unwrap_or("?"),
                self.actual.ident,
                self.expected.ident
            )
        };
        Difference {
            kind: self.expected.kind.clone(),
            name: self.expected.name.clone(),
            attribute: Some("name".to_owned()),
            expected: Some(self.expected.name.clone()),
            actual: Some(self.actual.name.clone()),
            fix: Some(fix),
            destructive: None,
        }
    }
}

/// The renames from `expected` to `actual`: tables, then columns.
pub fn find(expected: &Schema, actual: &Schema) -> Vec<Rename> {
    let tables = |from: &Schema, other: &Schema| -> Vec<SchemaObject> {
        from.objects
            .values()
            .filter(|object| TABLE_KINDS.contains(&object.kind.as_str()))
            .filter(|object| !other.objects.contains_key(&(object.kind.clone(), object.name.clone())))
            .cloned()
            .collect()
    };
    let same_table = |want: &SchemaObject, have: &SchemaObject| {
        want.kind == have.kind
            && schema_of(&want.name) == schema_of(&have.name)
            && want.attrs == have.attrs
            && shape(&columns(expected, &want.name)) == shape(&columns(actual, &have.name))
    };
    let mut renames = pairs(&tables(expected, actual), &tables(actual, expected), same_table);
    let renamed: BTreeMap<String, String> =
        renames.iter().map(|rename| (rename.expected.name.clone(), rename.actual.name.clone())).collect();
    for table in expected.objects.values().filter(|object| TABLE_KINDS.contains(&object.kind.as_str())) {
        let there = renamed.get(&table.name).unwrap_or(&table.name);
        if !actual.objects.contains_key(&(table.kind.clone(), there.clone())) {
            continue;
        }
        let (want, have) = (columns(expected, &table.name), columns(actual, there));
        let missing: Vec<SchemaObject> =
            want.iter().filter(|(ident, _)| !have.contains_key(*ident)).map(|(_, column)| (*column).clone()).collect();
        let extra: Vec<SchemaObject> =
            have.iter().filter(|(ident, _)| !want.contains_key(*ident)).map(|(_, column)| (*column).clone()).collect();
        renames.extend(pairs(&missing, &extra, |a, b| a.attrs == b.attrs));
    }
    let columns: Vec<(Option<String>, String, String)> = renames
        .iter()
        .filter(|rename| !rename.is_table())
        .map(|rename| (rename.expected.table.clone(), rename.actual.ident.clone(), rename.expected.ident.clone()))
        .collect();
    for rename in renames.iter_mut().filter(|rename| !rename.is_table()) {
        let Some(table) = rename.expected.table.as_ref().and_then(|table| {
            TABLE_KINDS.iter().find_map(|kind| expected.objects.get(&((*kind).to_owned(), table.clone())))
        }) else {
            continue;
        };
        let parents: Vec<&str> = ["partition of", "inherits"]
            .iter()
            .filter_map(|attribute| table.attrs.get(*attribute))
            .flat_map(|parents| parents.split(", "))
            .collect();
        rename.implied = parents.iter().any(|parent| {
            columns.iter().any(|(table, from, to)| {
                table.as_deref() == Some(*parent) && *from == rename.actual.ident && *to == rename.expected.ident
            })
        });
    }
    renames
}

/// `actual` as it would be with `renames` undone: keys, tables and every
/// reference in a definition (outside string literals) back to the migrations' names.
pub fn undo(actual: &Schema, renames: &[Rename]) -> Schema {
    let mut objects: Vec<SchemaObject> = actual.objects.values().cloned().collect();
    for rename in renames.iter().filter(|rename| rename.is_table()) {
        let (from, to) = (&rename.actual, &rename.expected);
        for object in &mut objects {
            if object.kind == from.kind && object.name == from.name {
                object.name.clone_from(&to.name);
                object.ident.clone_from(&to.ident);
            }
            if object.table.as_deref() == Some(from.name.as_str()) {
                if let Some(own) = object.name.strip_prefix(&format!("{}.", from.name))
                    && object.kind != "index"
                {
                    object.name = format!("{}.{own}", to.name);
                }
                object.table = Some(to.name.clone());
                object.table_ident = Some(to.ident.clone());
            }
            for (attribute, value) in object.attrs.iter_mut() {
                if attribute != "comment" {
                    *value = replace_name(value, &from.ident, &to.ident, Boundary::Qualified);
                }
            }
        }
    }
    for rename in renames.iter().filter(|rename| !rename.is_table()) {
        let (from, to) = (&rename.actual, &rename.expected);
        let table = to.table.clone().unwrap_or_default();
        let table_ident = to.table_ident.clone().unwrap_or_default();
        let referenced = format!("REFERENCES {table_ident}(");
        for object in &mut objects {
            if object.kind == "column" && object.table.as_deref() == Some(table.as_str()) && object.ident == from.ident
            {
                object.name.clone_from(&to.name);
                object.ident.clone_from(&to.ident);
            }
            let the_table = TABLE_KINDS.contains(&object.kind.as_str()) && object.name == table;
            if object.table.as_deref() == Some(table.as_str()) || the_table {
                // SQL only: a comment is the user's text.
                for (attribute, value) in object.attrs.iter_mut() {
                    if attribute != "comment" && (!the_table || attribute == "partition key") {
                        *value = replace_name(value, &from.ident, &to.ident, Boundary::Column);
                    }
                }
            } else if object.kind == "constraint"
                && let Some(definition) = object.attrs.get_mut("definition")
                && let Some(start) = definition.find(&referenced)
            {
                // Another table's foreign key names the column in its REFERENCES list.
                let list_start = start + referenced.len();
                let list_end = definition[list_start..].find(')').map_or(definition.len(), |end| list_start + end);
                let list = replace_name(&definition[list_start..list_end], &from.ident, &to.ident, Boundary::Column);
                definition.replace_range(list_start..list_end, &list);
            }
        }
    }
    Schema::from_objects(objects)
}

/// The columns of `table`, by their quoted name.
fn columns<'s>(schema: &'s Schema, table: &str) -> BTreeMap<&'s str, &'s SchemaObject> {
    schema
        .objects
        .values()
        .filter(|object| object.kind == "column" && object.table.as_deref() == Some(table))
        .map(|object| (object.ident.as_str(), object))
        .collect()
}

/// The columns' names and definitions: what a table is but its name.
fn shape<'s>(columns: &BTreeMap<&'s str, &'s SchemaObject>) -> Vec<(&'s str, &'s BTreeMap<String, String>)> {
    columns.iter().map(|(ident, column)| (*ident, &column.attrs)).collect()
}

/// Pairs each of `missing` with the one of `extra` that `same` matches, when that
/// match is the only one both ways.
fn pairs(
    missing: &[SchemaObject],
    extra: &[SchemaObject],
    same: impl Fn(&SchemaObject, &SchemaObject) -> bool,
) -> Vec<Rename> {
    let mut found = Vec::new();
    for want in missing {
        let candidates: Vec<&SchemaObject> = extra.iter().filter(|have| same(want, have)).collect();
        let [have] = candidates.as_slice() else { continue };
        if missing.iter().filter(|other| same(other, have)).count() == 1 {
            found.push(Rename { expected: want.clone(), actual: (*have).clone(), implied: false });
        }
    }
    found
}

/// The schema part of a `schema.table` name.
fn schema_of(name: &str) -> &str {
    name.split_once('.').map_or(name, |(schema, _)| schema)
}

/// The schema part of a quoted, qualified name (`"a.b".c` -> `"a.b"`).
pub(super) fn schema_part(ident: &str) -> Option<&str> {
    let last = unqualified(ident);
    (last.len() < ident.len()).then(|| &ident[..ident.len() - last.len() - 1])
}

/// The last part of a quoted, qualified name (`public."Note"` -> `"Note"`).
fn unqualified(ident: &str) -> &str {
    let bytes = ident.as_bytes();
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == b'"' && bytes.get(i + 1) == Some(&b'"') {
                        i += 2;
                    } else if bytes[i] == b'"' {
                        break;
                    } else {
                        i += 1;
                    }
                }
                i += 1;
            }
            b'.' => {
                last = i + 1;
                i += 1;
            }
            _ => i += 1,
        }
    }
    &ident[last..]
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Boundary {
    /// A qualified table name: not after a `.` (it is the whole name).
    Qualified,
    /// A column: also after a `.` (`note.body`).
    Column,
}

/// `text` with every whole occurrence of the name `from` (as PostgreSQL prints
/// it) replaced by `to`, outside single-quoted literals.
fn replace_name(text: &str, from: &str, to: &str, boundary: Boundary) -> String {
    if from.is_empty() || !text.contains(from) {
        return text.to_owned();
    }
    let word = |byte: u8| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80;
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\'' {
            let start = i;
            i += 1;
            while i < bytes.len() {
                if bytes[i] == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                } else if bytes[i] == b'\'' {
                    i += 1;
                    break;
                } else {
                    i += 1;
                }
            }
            out.push_str(&text[start..i]);
            continue;
        }
        if text[i..].starts_with(from) {
            let before = i.checked_sub(1).map(|j| bytes[j]);
            let after = bytes.get(i + from.len()).copied();
            let starts =
                before.is_none_or(|byte| !word(byte) && byte != b'"' && (boundary == Boundary::Column || byte != b'.'));
            let ends = after.is_none_or(|byte| !word(byte) && byte != b'"');
            if starts && ends {
                out.push_str(to);
                i += from.len();
                continue;
            }
        }
        let len = text[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&text[i..i + len]);
        i += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(
        kind: &str,
        name: &str,
        ident: &str,
        table: Option<(&str, &str)>,
        attrs: &[(&str, &str)],
    ) -> SchemaObject {
        SchemaObject {
            kind: kind.to_owned(),
            name: name.to_owned(),
            ident: ident.to_owned(),
            table: table.map(|(name, _)| name.to_owned()),
            table_ident: table.map(|(_, ident)| ident.to_owned()),
            attrs: attrs.iter().map(|(key, value)| ((*key).to_owned(), (*value).to_owned())).collect(),
        }
    }

    fn note(column: &str, table: &str) -> Schema {
        let t = (table, table);
        Schema::from_objects(vec![
            object("table", table, table, None, &[]),
            object("column", &format!("{table}.id"), "id", Some(t), &[("type", "text")]),
            object(
                "column",
                &format!("{table}.{column}"),
                column,
                Some(t),
                &[("type", "text"), ("default", "'x'::text")],
            ),
            object(
                "index",
                "public.note_body_idx",
                "public.note_body_idx",
                Some(t),
                &[(
                    "definition",
                    &format!(
                        "CREATE INDEX note_body_idx ON {table} USING btree ({column}) WHERE ({column} <> 'body'::text)"
                    ),
                )],
            ),
        ])
    }

    #[test]
    fn a_renamed_column_is_one_rename_and_nothing_else() {
        let expected = note("body", "public.note");
        let actual = note("text_body", "public.note");
        let found = super::super::model::differences(&expected, &actual);
        let shown: Vec<(String, Option<String>)> = found.iter().map(|d| (d.describe(), d.fix.clone())).collect();
        assert_eq!(
            shown,
            [(
                "column public.note.body: name: migrations make public.note.body, the database has public.note.text_body"
                    .to_owned(),
                Some("ALTER TABLE public.note RENAME COLUMN text_body TO body;".to_owned())
            )]
        );
    }

    #[test]
    fn a_renamed_table_is_one_rename_and_nothing_else() {
        let expected = note("body", "public.note");
        let actual = note("body", "public.notes");
        let found = super::super::model::differences(&expected, &actual);
        let fixes: Vec<Option<String>> = found.iter().map(|d| d.fix.clone()).collect();
        assert_eq!(fixes, [Some("ALTER TABLE public.notes RENAME TO note;".to_owned())]);
    }

    #[test]
    fn two_candidates_of_one_shape_are_no_rename() {
        let t = ("public.t", "public.t");
        let expected = Schema::from_objects(vec![
            object("table", "public.t", "public.t", None, &[]),
            object("column", "public.t.a", "a", Some(t), &[("type", "text")]),
            object("column", "public.t.b", "b", Some(t), &[("type", "text")]),
        ]);
        let actual = Schema::from_objects(vec![
            object("table", "public.t", "public.t", None, &[]),
            object("column", "public.t.c", "c", Some(t), &[("type", "text")]),
            object("column", "public.t.d", "d", Some(t), &[("type", "text")]),
        ]);
        assert!(find(&expected, &actual).is_empty());
        let found = super::super::model::differences(&expected, &actual);
        assert!(found.iter().all(|difference| difference.fix.is_none() || difference.expected.is_some()));
        let drops: Vec<&str> =
            found.iter().filter_map(|d| d.destructive.as_ref()).map(|fix| fix.sql.as_str()).collect();
        assert_eq!(drops, ["ALTER TABLE public.t DROP COLUMN c;", "ALTER TABLE public.t DROP COLUMN d;"]);
    }

    #[test]
    fn names_are_replaced_whole_and_never_inside_a_literal() {
        let replaced = replace_name(
            "CHECK (((body <> 'body'::text) AND (note.body IS NOT NULL) AND (body_2 > ''::text)))",
            "body",
            "text",
            Boundary::Column,
        );
        assert_eq!(replaced, "CHECK (((text <> 'body'::text) AND (note.text IS NOT NULL) AND (body_2 > ''::text)))");
        assert_eq!(
            replace_name(
                "REFERENCES public.notes(id) public.notes_archive",
                "public.notes",
                "public.note",
                Boundary::Qualified
            ),
            "REFERENCES public.note(id) public.notes_archive"
        );
        assert_eq!(unqualified("public.\"Note.x\""), "\"Note.x\"");
        assert_eq!(unqualified("\"my.schema\".note"), "note");
        assert_eq!(schema_part("\"my.schema\".note"), Some("\"my.schema\""));
    }
}
