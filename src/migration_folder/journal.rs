//! drizzle-kit 0.x's layout: `meta/_journal.json` lists the migrations in order,
//! each `<tag>.sql` beside it, each snapshot at `meta/<NNNN>_snapshot.json`.
//! This module owns the journal format: the typed reader and the writer `new` uses.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Migration, MigrationSource, parse_migration};
use crate::error::{Error, Result};

pub const JOURNAL_PATH: &str = "meta/_journal.json";

/// 9999-12-31 23:59:59.999 UTC.
const MAX_WHEN: i64 = 253_402_300_799_999;

/// The journal document, kept whole so that fields drizzle-kit adds later survive
/// a rewrite; the entries are read through the typed view.
#[derive(Debug, Clone, PartialEq)]
pub struct Journal {
    document: Value,
}

/// The fields of an entry the migrator reads.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JournalEntry {
    pub idx: u32,
    pub when: i64,
    pub tag: String,
}

#[derive(Deserialize)]
struct TypedJournal {
    dialect: String,
    entries: Vec<JournalEntry>,
}

impl Journal {
    /// An empty journal, as drizzle-kit 0.x starts one.
    pub fn empty() -> Journal {
        Journal { document: json!({ "version": "7", "dialect": "postgresql", "entries": [] }) }
    }

    /// Parses the journal text; errors carry the file's line and column.
    pub fn parse(dir: &Path, text: &str) -> Result<(Journal, Vec<JournalEntry>)> {
        let entries = Journal::entries(dir, text)?;
        let document = serde_json::from_str(text).map_err(|err| malformed_journal(dir, &err))?;
        Ok((Journal { document }, entries))
    }

    /// The entries alone, as the migrator reads them (no document kept).
    pub fn entries(dir: &Path, text: &str) -> Result<Vec<JournalEntry>> {
        let typed: TypedJournal = serde_json::from_str(text).map_err(|err| malformed_journal(dir, &err))?;
        // drizzle-kit wrote "pg" before it wrote "postgresql".
        if !matches!(typed.dialect.as_str(), "postgresql" | "pg") {
            return Err(Error::integrity(format!(
                "the journal {} is for dialect `{}`, not postgresql",
                dir.join(JOURNAL_PATH).display(),
                typed.dialect
            )));
        }
        Ok(typed.entries)
    }

    fn entries_mut(&mut self) -> &mut Vec<Value> {
        self.document["entries"].as_array_mut().expect("a parsed journal has an entries list")
    }

    /// The `idx` the next entry gets: the last one's plus one, as drizzle-kit counts.
    pub fn next_idx(&self) -> u32 {
        let entries = self.document["entries"].as_array();
        let last = entries.and_then(|entries| entries.last()).and_then(|entry| entry["idx"].as_u64());
        last.map_or(0, |idx| u32::try_from(idx + 1).unwrap_or(u32::MAX))
    }

    /// The last entry's tag.
    pub fn last_tag(&self) -> Option<&str> {
        self.document["entries"].as_array()?.last()?.get("tag")?.as_str()
    }

    /// Appends the next entry as drizzle-kit writes it (the previous entry's
    /// `version`, `breakpoints: true`) and returns its `idx`.
    pub fn append(&mut self, tag: &str, when: i64) -> u32 {
        let idx = self.next_idx();
        let entries = self.entries_mut();
        let version = entries.last().and_then(|entry| entry.get("version")).cloned().unwrap_or_else(|| json!("7"));
        entries.push(json!({ "idx": idx, "version": version, "when": when, "tag": tag, "breakpoints": true }));
        idx
    }

    /// The text drizzle-kit writes: two-space indented JSON.
    pub fn to_text(&self) -> String {
        serde_json::to_string_pretty(&self.document).expect("a JSON value serialises")
    }
}

/// The snapshot drizzle-kit keeps for the entry `tag`: named after the tag's
/// prefix (`0003` of `0003_add_x`), as drizzle-kit writes it and `drizzle-kit up` reads it.
pub fn snapshot_path(tag: &str) -> String {
    let prefix = tag.split('_').next().unwrap_or(tag);
    format!("meta/{prefix}_snapshot.json")
}

/// The tag prefix of the next entry, in the style of the journal's last tag
/// (drizzle-kit's `migrations.prefix`): `0003` (index, the default), a UTC
/// timestamp `20250101093000` (timestamp, supabase) or unix seconds.
pub fn next_prefix(last_tag: Option<&str>, idx: u32, when: i64) -> String {
    let last_prefix = last_tag.and_then(|tag| tag.split('_').next()).unwrap_or("");
    let digits = !last_prefix.is_empty() && last_prefix.bytes().all(|b| b.is_ascii_digit());
    match last_prefix.len() {
        14 if digits => super::timestamped::timestamp_of(when),
        10 if digits => when.div_euclid(1000).to_string(),
        _ => format!("{idx:04}"),
    }
}

/// What `drizzle-kit up` names the folder of a journal entry: the entry's `when`
/// as a UTC timestamp at second precision, then the tag without its `NNNN_` prefix.
/// A row drizzle-orm 1.0 writes after the upgrade carries this name.
pub fn folder_name_after_up(tag: &str, when: i64) -> String {
    let rest = tag.split_once('_').map_or("", |(_, rest)| rest);
    format!("{}_{rest}", super::timestamped::timestamp_of(when))
}

/// Parses the journal layout: every entry in journal order, each with its file.
pub(super) fn parse(
    dir: &Path,
    journal_text: &str,
    mut sql_files: BTreeMap<String, Vec<u8>>,
) -> Result<(Vec<Migration>, Vec<PathBuf>)> {
    let journal_path = dir.join(JOURNAL_PATH);
    let entries = Journal::entries(dir, journal_text)?;
    let mut seen_tags = HashSet::new();
    let mut tag_of_when: HashMap<i64, String> = HashMap::with_capacity(entries.len());
    let mut migrations: Vec<Migration> = Vec::with_capacity(entries.len());
    for entry in entries {
        let file = dir.join(format!("{}.sql", entry.tag));
        if !seen_tags.insert(entry.tag.clone()) {
            return Err(Error::integrity(format!("the journal lists `{}` twice", entry.tag))
                .note("journal", journal_path.display())
                .help("each migration appears once in meta/_journal.json; remove the duplicate entry"));
        }
        // drizzle runs the journal in its order and identifies an applied migration
        // by `when` alone: a `when` older than the entry before it is history real
        // projects have (merged branches), two entries sharing one is ambiguous.
        if let Some(previous) = tag_of_when.insert(entry.when, entry.tag.clone()) {
            return Err(Error::integrity(format!(
                "migrations `{previous}` and `{}` have the same `when` {}",
                entry.tag, entry.when
            ))
            .note("journal", journal_path.display())
            .help("drizzle identifies an applied migration by its `when`: give the one never applied anywhere a `when` of its own"));
        }
        // drizzle-kit writes Date.now(); a `when` outside years 1970-9999 names no folder `drizzle-kit up` can make.
        if !(0..=MAX_WHEN).contains(&entry.when) {
            return Err(Error::integrity(format!(
                "migration `{}` has `when` {}, which is not a time (milliseconds since 1970, before the year 10000)",
                entry.tag, entry.when
            ))
            .note("journal", journal_path.display())
            .help("set `when` to the time the migration was written, in milliseconds since 1970 (only if it was never applied anywhere)"));
        }
        let Some(bytes) = sql_files.remove(&format!("{}.sql", entry.tag)) else {
            return Err(Error::integrity(format!("migration `{}` is in the journal but its file is missing", entry.tag))
                .note("file", file.display())
                .help("restore the file from version control, or remove the entry if the migration was never applied anywhere"));
        };
        let source = MigrationSource {
            tag: entry.tag.clone(),
            name: folder_name_after_up(&entry.tag, entry.when),
            when: entry.when,
            snapshot: dir.join(snapshot_path(&entry.tag)),
            file,
        };
        migrations.push(parse_migration(source, bytes)?);
    }

    // Every listed file was taken out above: what is left is in no entry, and
    // drizzle ignores it (a merge's leftover, in real projects).
    let outside = sql_files.into_keys().map(|name| dir.join(name)).collect();
    Ok((migrations, outside))
}

/// A journal that is not valid JSON of the expected shape, with line and column.
pub fn malformed_journal(dir: &Path, err: &serde_json::Error) -> Error {
    Error::integrity(format!("the journal {}:{}:{} is malformed", dir.join(JOURNAL_PATH).display(), err.line(), err.column()))
        .note("reason", err)
        .help("fix the JSON (drizzle-kit writes {\"version\", \"dialect\", \"entries\": [{\"idx\", \"when\", \"tag\", ...}]})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appending_keeps_unknown_fields_and_key_order() {
        let text = r#"{"version": "7", "dialect": "postgresql", "entries": [{"idx": 0, "version": "6", "when": 1, "tag": "0000_a", "breakpoints": true, "custom": 1}], "extra": true}"#;
        let (mut journal, _) = Journal::parse(Path::new("m"), text).unwrap();
        assert_eq!(journal.append("0001_b", 2), 1);
        let value: Value = serde_json::from_str(&journal.to_text()).unwrap();
        assert_eq!(value["entries"][0]["custom"], 1);
        assert_eq!(
            value["entries"][1],
            json!({"idx": 1, "version": "6", "when": 2, "tag": "0001_b", "breakpoints": true})
        );
        assert_eq!(value["extra"], true);
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["version", "dialect", "entries", "extra"]);
    }

    #[test]
    fn the_folder_name_after_up_is_the_utc_second_of_when_and_the_tag_without_its_number() {
        // drizzle-kit up: prepareSnapshotFolderName(when) + "_" + tag.split("_").slice(1).join("_")
        assert_eq!(folder_name_after_up("0000_better_auth", 1_761_955_200_000), "20251101000000_better_auth");
        assert_eq!(folder_name_after_up("0003_add_x", 1_700_000_000_999), "20231114221320_add_x");
        assert_eq!(folder_name_after_up("0004", 1_700_000_000_000), "20231114221320_");
    }

    #[test]
    fn snapshots_and_prefixes_follow_the_tags_as_drizzle_kit_names_them() {
        assert_eq!(snapshot_path("0003_add_x"), "meta/0003_snapshot.json");
        assert_eq!(snapshot_path("20250101093000_add_x"), "meta/20250101093000_snapshot.json");
        assert_eq!(next_prefix(None, 0, 1), "0000");
        assert_eq!(next_prefix(Some("0007_b"), 8, 1), "0008");
        assert_eq!(next_prefix(Some("20250101093000_b"), 2, 1_700_000_000_999), "20231114221320");
        assert_eq!(next_prefix(Some("1700000000_b"), 2, 1_700_000_100_000), "1700000100");
        let renumbered =
            r#"{"version": "7", "dialect": "postgresql", "entries": [{"idx": 7, "when": 1, "tag": "0007_a"}]}"#;
        assert_eq!(Journal::parse(Path::new("m"), renumbered).unwrap().0.next_idx(), 8);
    }
}
