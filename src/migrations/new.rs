//! `new NAME`: the next migration written exactly as `drizzle-kit generate
//! --custom --name NAME` writes it in the folder's layout, so that drizzle-kit
//! (`generate`, `check`, `up`) and drizzle's migrators read it as their own.

use std::path::{Path, PathBuf};

use super::folder::journal::{self, Journal};
use super::folder::timestamped::{self, MIGRATION_FILE, SNAPSHOT_FILE};
use super::folder::{Layout, Migration};
use super::snapshot::{ORIGIN_ID, Snapshot};
use crate::error::{Error, ErrorKind, Result};

/// What drizzle-kit writes into a custom migration.
pub const CUSTOM_SQL: &str = "-- Custom SQL migration file, put your code below! --";

/// The folder as `new` finds it.
#[derive(Debug, Clone, Copy)]
pub struct Existing<'a> {
    pub layout: Layout,
    /// The journal's text (journal layout).
    pub journal: Option<&'a str>,
    /// The newest migration and its snapshot's text, if that file exists.
    pub last: Option<(&'a Migration, Option<&'a str>)>,
    /// Whether any migration of the folder has a snapshot.
    pub has_snapshots: bool,
}

/// What `new` will write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMigration {
    pub layout: Layout,
    pub tag: String,
    pub when: i64,
    /// The drizzle 1.0 migration's own folder, created first.
    pub folder: Option<PathBuf>,
    pub file: PathBuf,
    pub sql: String,
    /// The snapshot and its text; None in a folder that has no snapshots at all.
    pub snapshot: Option<(PathBuf, String)>,
    /// The whole journal with the new entry (journal layout).
    pub journal: Option<String>,
}

/// Decides the next migration. `now_ms` is the clock; the migration comes after
/// the newest one even when the clock is behind (by a millisecond in the journal,
/// a second in drizzle 1.0's folder names, as drizzle-kit does). Pure.
pub fn prepare(dir: &Path, existing: Existing, name: &str, now_ms: i64, id: &str) -> Result<NewMigration> {
    check_name(name)?;
    let previous = previous_snapshot(existing)?;
    let snapshot_text = |path: PathBuf| -> Option<(PathBuf, String)> {
        let snapshot = match &previous {
            Some(previous) => previous.carried_forward(id),
            None if existing.last.is_some() => return None, // a folder without snapshots stays without
            None => empty_snapshot(existing.layout, id),
        };
        Some((path, snapshot.to_text()))
    };
    let last_when = existing.last.map(|(migration, _)| migration.when);
    match existing.layout {
        Layout::Journal => {
            let mut document = match existing.journal {
                Some(text) => Journal::parse(dir, text)?.0,
                None => Journal::empty(),
            };
            let when = last_when.map_or(now_ms, |last| now_ms.max(last + 1));
            let idx = document.next_idx();
            let tag = format!("{idx:04}_{name}");
            document.append(&tag, when);
            Ok(NewMigration {
                layout: Layout::Journal,
                file: dir.join(format!("{tag}.sql")),
                snapshot: snapshot_text(dir.join(journal::snapshot_path(idx))),
                journal: Some(document.to_text()),
                folder: None,
                sql: CUSTOM_SQL.to_owned(),
                tag,
                when,
            })
        }
        Layout::Folders => {
            let second = |ms: i64| ms.div_euclid(1000) * 1000;
            let when = last_when.map_or(second(now_ms), |last| second(now_ms).max(last + 1000));
            let tag = format!("{}_{name}", timestamped::timestamp_of(when));
            let folder = dir.join(&tag);
            Ok(NewMigration {
                layout: Layout::Folders,
                file: folder.join(MIGRATION_FILE),
                snapshot: snapshot_text(folder.join(SNAPSHOT_FILE)),
                journal: None,
                folder: Some(folder),
                sql: CUSTOM_SQL.to_owned(),
                tag,
                when,
            })
        }
    }
}

/// The newest migration's snapshot, parsed; None when the folder has no
/// snapshots at all. A folder that has them but not for its newest migration is
/// refused: drizzle-kit would compare the schema against an older state and
/// write a migration that creates again what exists.
fn previous_snapshot(existing: Existing) -> Result<Option<Snapshot>> {
    let Some((migration, text)) = existing.last else {
        return Ok(None);
    };
    match text {
        Some(text) => Snapshot::parse(&migration.snapshot, text).map(Some),
        None if existing.has_snapshots => Err(Error::new(
            ErrorKind::Integrity,
            format!("the drizzle-kit snapshot of the newest migration, {}, is missing", migration.tag),
        )
        .note("snapshot", migration.snapshot.display())
        .help("restore it from version control: without it drizzle-kit generate compares against an older schema and writes a migration that creates existing tables again")),
        None => Ok(None),
    }
}

/// The snapshot drizzle-kit writes for a custom first migration: an empty schema.
fn empty_snapshot(layout: Layout, id: &str) -> Snapshot {
    let text = match layout {
        Layout::Journal => serde_json::json!({
            "id": id, "prevId": ORIGIN_ID, "version": "7", "dialect": "postgresql",
            "tables": {}, "enums": {}, "schemas": {}, "views": {}, "sequences": {}, "roles": {}, "policies": {},
            "_meta": { "columns": {}, "schemas": {}, "tables": {} }
        }),
        Layout::Folders => serde_json::json!({
            "type": "base", "version": "9", "dialect": "postgres", "id": id, "prevIds": [ORIGIN_ID],
            "footprints": [], "ddl": []
        }),
    };
    Snapshot::parse(Path::new("(new)"), &text.to_string()).expect("the empty snapshot is a snapshot")
}

/// Writes the migration, never over an existing file: the drizzle 1.0 folder or
/// the SQL file first, then the snapshot, then the journal through a temporary
/// file renamed into place. If any write fails, what was written is removed
/// again, so the folder is never left half-changed.
pub fn write(dir: &Path, migration: &NewMigration) -> Result<()> {
    let mut created: Vec<PathBuf> = Vec::new();
    let result = write_all(dir, migration, &mut created);
    if result.is_err() {
        for path in created.iter().rev() {
            let _ = if path.is_dir() { std::fs::remove_dir(path) } else { std::fs::remove_file(path) };
        }
    }
    result
}

fn write_all(dir: &Path, migration: &NewMigration, created: &mut Vec<PathBuf>) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|err| Error::io("create", dir, err))?;
    if let Some(folder) = &migration.folder {
        std::fs::create_dir(folder).map_err(|err| Error::io("create", folder, err))?;
        created.push(folder.clone());
    }
    create_file(&migration.file, &migration.sql, created)?;
    if let Some((path, text)) = &migration.snapshot {
        if let Some(meta) = path.parent() {
            std::fs::create_dir_all(meta).map_err(|err| Error::io("create", meta, err))?;
        }
        create_file(path, text, created)?;
    }
    if let Some(text) = &migration.journal {
        let path = dir.join(journal::JOURNAL_PATH);
        let meta = path.parent().expect("the journal is in meta/");
        std::fs::create_dir_all(meta).map_err(|err| Error::io("create", meta, err))?;
        let staging = meta.join(format!("._journal.json.{}", std::process::id()));
        let written = std::fs::write(&staging, text).and_then(|()| std::fs::rename(&staging, &path));
        if let Err(err) = written {
            let _ = std::fs::remove_file(&staging);
            return Err(Error::io("write", &path, err));
        }
    }
    Ok(())
}

fn create_file(path: &Path, text: &str, created: &mut Vec<PathBuf>) -> Result<()> {
    let mut file = std::fs::File::create_new(path).map_err(|err| Error::io("create", path, err))?;
    created.push(path.to_path_buf());
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(|err| Error::io("write", path, err))
}

fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 60
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with('_');
    if valid {
        return Ok(());
    }
    let suggestion: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect::<String>()
        .trim_matches('_')
        .to_owned();
    let mut error =
        Error::usage(format!("`{name}` is not a migration name: lowercase letters, digits and `_`, up to 60"));
    if !suggestion.is_empty() && suggestion.len() <= 60 {
        error = error.help(format!("try `praxia-deploy new {suggestion}`"));
    }
    Err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrations::folder::tests::{folder, folders};
    use serde_json::Value;

    const ID: &str = "404ca282-518b-41ee-85d2-1b1bced448ed";

    fn fresh(layout: Layout) -> Existing<'static> {
        Existing { layout, journal: None, last: None, has_snapshots: false }
    }

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn the_first_journal_migration_creates_the_journal_and_an_empty_snapshot() {
        let new =
            prepare(Path::new("migrations"), fresh(Layout::Journal), "create_users", 1_700_000_000_000, ID).unwrap();
        assert_eq!(new.tag, "0000_create_users");
        assert_eq!(new.file, Path::new("migrations/0000_create_users.sql"));
        assert_eq!(new.sql, CUSTOM_SQL);
        let journal = json(new.journal.as_deref().unwrap());
        assert_eq!(journal["entries"][0]["tag"], "0000_create_users");
        assert_eq!(journal["entries"][0]["when"], 1_700_000_000_000_i64);
        let (path, snapshot) = new.snapshot.unwrap();
        assert_eq!(path, Path::new("migrations/meta/0000_snapshot.json"));
        assert_eq!(json(&snapshot)["prevId"], ORIGIN_ID);
        assert_eq!(json(&snapshot)["id"], ID);
    }

    #[test]
    fn the_next_journal_migration_carries_the_snapshot_forward_and_comes_after_the_last() {
        let existing = folder(&[("0000_a", 5_000, "SELECT 1;")]).unwrap();
        let previous = r#"{"id": "9e5f", "prevId": "0000", "version": "7", "dialect": "postgresql", "tables": {"public.user": {}}, "_meta": {"columns": {"x": "y"}, "schemas": {}, "tables": {}}}"#;
        let journal_text = super::super::folder::tests::journal(&[("0000_a", 5_000)]);
        let state = Existing {
            layout: Layout::Journal,
            journal: Some(&journal_text),
            last: Some((&existing.migrations[0], Some(previous))),
            has_snapshots: true,
        };
        let new = prepare(Path::new("m"), state, "b", 1_000, ID).unwrap();
        assert_eq!((new.tag.as_str(), new.when), ("0001_b", 5_001));
        let (path, snapshot) = new.snapshot.unwrap();
        assert_eq!(path, Path::new("m/meta/0001_snapshot.json"));
        let snapshot = json(&snapshot);
        assert_eq!((snapshot["id"].as_str(), snapshot["prevId"].as_str()), (Some(ID), Some("9e5f")));
        assert_eq!(snapshot["tables"], json(r#"{"public.user": {}}"#));
        assert_eq!(
            snapshot["_meta"],
            json(r#"{"columns": {}, "schemas": {}, "tables": {}}"#),
            "renames are not carried"
        );
    }

    #[test]
    fn a_drizzle_1_migration_gets_its_timestamped_folder_and_an_empty_diff_snapshot() {
        let existing = folders(&[("20250101000000_a", "SELECT 1;")]).unwrap();
        let previous = r#"{"type": "base", "version": "9", "dialect": "postgres", "id": "9e5f", "prevIds": ["0000"], "footprints": [], "ddl": [{"entityType": "tables"}]}"#;
        let state = Existing {
            layout: Layout::Folders,
            journal: None,
            last: Some((&existing.migrations[0], Some(previous))),
            has_snapshots: true,
        };
        // The clock is behind the newest folder: one second after it.
        let new = prepare(Path::new("m"), state, "add_x", 1_000, ID).unwrap();
        assert_eq!(new.tag, "20250101000001_add_x");
        assert_eq!(new.folder.as_deref(), Some(Path::new("m/20250101000001_add_x")));
        assert_eq!(new.file, Path::new("m/20250101000001_add_x/migration.sql"));
        let (path, snapshot) = new.snapshot.unwrap();
        assert_eq!(path, Path::new("m/20250101000001_add_x/snapshot.json"));
        assert_eq!(
            json(&snapshot),
            json(&format!(
                r#"{{"type": "diff", "version": "9", "dialect": "postgres", "id": "{ID}", "prevIds": ["9e5f"], "footprints": [], "deltas": []}}"#
            ))
        );
        // A clock ahead of it gives the clock's second, in UTC.
        let new = prepare(Path::new("m"), state, "add_x", 1_796_114_835_123, ID).unwrap();
        assert_eq!(new.tag, "20261201084715_add_x");
        assert_eq!(new.when, 1_796_114_835_000);
    }

    #[test]
    fn a_missing_or_broken_newest_snapshot_is_refused_and_a_folder_without_any_gets_none() {
        let existing = folder(&[("0000_a", 5_000, "SELECT 1;")]).unwrap();
        let journal_text = super::super::folder::tests::journal(&[("0000_a", 5_000)]);
        let state = |snapshot: Option<&'static str>, has_snapshots| Existing {
            layout: Layout::Journal,
            journal: Some(&journal_text),
            last: Some((&existing.migrations[0], snapshot)),
            has_snapshots,
        };
        let err = prepare(Path::new("m"), state(None, true), "b", 9_000, ID).unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert!(err.to_string().contains("snapshot: migrations/meta/0000_snapshot.json"), "{err}");
        let err = prepare(Path::new("m"), state(Some("{\"id\": "), true), "b", 9_000, ID).unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert!(err.message.starts_with("the drizzle-kit snapshot migrations/meta/0000_snapshot.json:1:"), "{err}");
        let new = prepare(Path::new("m"), state(None, false), "b", 9_000, ID).unwrap();
        assert_eq!(new.snapshot, None);
    }

    #[test]
    fn bad_names_are_refused_with_a_suggestion() {
        for (name, suggestion) in
            [("Add Users", Some("add_users")), ("add-users", Some("add_users")), ("", None), ("_x", Some("x"))]
        {
            let err = prepare(Path::new("m"), fresh(Layout::Journal), name, 1, ID).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{name}");
            assert_eq!(
                err.help.as_deref().map(|help| help.contains(suggestion.unwrap_or("~"))),
                suggestion.map(|_| true),
                "{name}: {err}"
            );
        }
    }
}
