//! drizzle-kit's schema snapshots, as far as `new` needs them: the snapshot of a
//! custom migration is the previous one carried forward under a new id that
//! points back at it, which is what `drizzle-kit generate --custom` writes. Pure.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::error::{Error, Result};

/// The id drizzle-kit gives the (absent) snapshot before the first one.
pub const ORIGIN_ID: &str = "00000000-0000-0000-0000-000000000000";

/// Which drizzle-kit wrote a snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnapshotFormat {
    /// drizzle-kit 0.x: `{"id", "prevId", "version": "7", "dialect": "postgresql", ...}`.
    Kit0,
    /// drizzle-kit 1.0: `{"id", "prevIds": [...], "dialect": "postgres", ...}`.
    Kit1,
}

/// A parsed snapshot, kept whole so everything drizzle-kit wrote survives.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    pub format: SnapshotFormat,
    document: Map<String, Value>,
}

impl Snapshot {
    /// Parses a snapshot file's text; errors name the file, line and column.
    pub fn parse(path: &Path, text: &str) -> Result<Snapshot> {
        let value: Value = serde_json::from_str(text).map_err(|err| {
            Error::integrity(format!(
                "the drizzle-kit snapshot {}:{}:{} is not valid JSON",
                path.display(),
                err.line(),
                err.column()
            ))
            .note("reason", err)
            .help("restore it from version control: drizzle-kit compares the next schema against it")
        })?;
        let shape_error = |what: &str| {
            Error::integrity(format!("the drizzle-kit snapshot {} has no {what}", path.display()))
                .help("restore it from version control, or let drizzle-kit write it (`drizzle-kit generate`)")
        };
        let Value::Object(document) = value else {
            return Err(shape_error("JSON object"));
        };
        if !document.get("id").is_some_and(Value::is_string) {
            return Err(shape_error("`id`"));
        }
        let format = match (document.get("prevIds"), document.get("prevId")) {
            (Some(Value::Array(_)), _) => SnapshotFormat::Kit1,
            (_, Some(Value::String(_))) => SnapshotFormat::Kit0,
            _ => return Err(shape_error("`prevId` or `prevIds`")),
        };
        Ok(Snapshot { format, document })
    }

    pub fn id(&self) -> &str {
        self.document["id"].as_str().expect("checked when parsed")
    }

    /// The ids this snapshot points back at.
    pub fn parent_ids(&self) -> impl Iterator<Item = &str> {
        let single = self.document.get("prevId").and_then(Value::as_str);
        let many =
            self.document.get("prevIds").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
        single.into_iter().chain(many)
    }

    /// The snapshot of a custom migration that follows this one, as drizzle-kit
    /// `generate --custom` writes it: 0.x carries the schema forward under the new
    /// id (its rename notes reset); 1.0's format 9 records a change set, which for a
    /// custom migration is empty.
    /// `parents` are the ids it points back at (1.0's `prevIds`; 0.x keeps one).
    pub fn carried_forward(&self, id: &str, parents: &[String]) -> Snapshot {
        let mut document = self.document.clone();
        document.insert("id".to_owned(), json!(id));
        match self.format {
            SnapshotFormat::Kit0 => {
                document.insert("prevId".to_owned(), json!(self.id()));
                if document.contains_key("_meta") {
                    document.insert("_meta".to_owned(), json!({ "columns": {}, "schemas": {}, "tables": {} }));
                }
            }
            SnapshotFormat::Kit1 if document.contains_key("type") => {
                let field = |key: &str| self.document.get(key).cloned().unwrap_or(Value::Null);
                let diff = json!({
                    "type": "diff",
                    "version": field("version"),
                    "dialect": field("dialect"),
                    "id": id,
                    "prevIds": parents,
                    "footprints": [],
                    "deltas": [],
                });
                let Value::Object(diff) = diff else { unreachable!("a JSON object literal") };
                document = diff;
            }
            SnapshotFormat::Kit1 => {
                document.insert("prevIds".to_owned(), json!(parents));
            }
        }
        Snapshot { format: self.format, document }
    }

    /// Two-space indented JSON, as drizzle-kit writes it.
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(&self.document).expect("a JSON value serialises")
    }
}
