//! `new NAME`: the next migration written exactly as `drizzle-kit generate
//! --custom --name NAME` writes it in the folder's layout, so that drizzle-kit
//! (`generate`, `check`, `up`) and drizzle's migrators read it as their own.
//! `read` gathers the folder, `prepare` decides (pure), `write` writes.

use std::path::{Path, PathBuf};

use super::snapshot::{ORIGIN_ID, Snapshot};
use crate::error::{Error, Result};
use crate::migration_folder::journal::{self, Journal};
use crate::migration_folder::timestamped::{self, MIGRATION_FILE, SNAPSHOT_FILE};
use crate::migration_folder::{FolderContents, Layout, Migration, parse_folder, read_contents};

/// What drizzle-kit writes into a custom migration.
pub const CUSTOM_SQL: &str = "-- Custom SQL migration file, put your code below! --";

/// The folder as `new` finds it.
#[derive(Debug, Clone, Default)]
pub struct Existing {
    /// The layout of a folder that has migrations.
    pub layout: Option<Layout>,
    /// The journal's text (journal layout).
    pub journal: Option<String>,
    /// Every migration with its snapshot's text (None: no snapshot file), in folder order.
    pub migrations: Vec<(Migration, Option<String>)>,
}

/// Reads what `prepare` needs; a folder that would be refused is refused here
/// (appending to it would only hide the problem). A missing or empty folder is
/// a new one.
pub fn read(dir: &Path) -> Result<Existing> {
    let contents = if dir.exists() { read_contents(dir)? } else { FolderContents::default() };
    if contents.journal.is_none() && contents.sql_files.is_empty() && contents.subfolders.is_empty() {
        return Ok(Existing::default());
    }
    let journal = contents.journal.clone();
    let folder = parse_folder(dir, contents)?;
    let mut migrations = Vec::with_capacity(folder.migrations.len());
    for migration in folder.migrations {
        let snapshot = match std::fs::read_to_string(&migration.snapshot) {
            Ok(text) => Some(text),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(Error::io("read", &migration.snapshot, err)),
        };
        migrations.push((migration, snapshot));
    }
    Ok(Existing { layout: Some(folder.layout), journal, migrations })
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
/// `layout` is what `--layout` asked for: the layout of a new folder; an
/// existing folder keeps its own.
pub fn prepare(
    dir: &Path,
    existing: &Existing,
    layout: Option<Layout>,
    name: &str,
    now_ms: i64,
    id: &str,
) -> Result<NewMigration> {
    check_name(name)?;
    let layout = choose_layout(dir, existing.layout, layout)?;
    let previous = previous_snapshot(existing)?;
    let snapshot_text = |path: PathBuf| -> Option<(PathBuf, String)> {
        let snapshot = match &previous {
            Some((previous, parents)) => previous.carried_forward(id, parents),
            None if !existing.migrations.is_empty() => return None, // a folder without snapshots stays without
            None => empty_snapshot(layout, id),
        };
        Some((path, snapshot.to_text()))
    };
    let last_when = existing.migrations.last().map(|(migration, _)| migration.when);
    // At least a second after the newest: `drizzle-kit up` names folders by the second.
    let when = last_when.map_or(now_ms, |last| now_ms.max(last.div_euclid(1000) * 1000 + 1000));
    match layout {
        Layout::Journal => {
            let mut document = match &existing.journal {
                Some(text) => Journal::parse(dir, text)?.0,
                None => Journal::empty(),
            };
            let idx = document.next_idx();
            let tag = format!("{}_{name}", journal::next_prefix(document.last_tag(), idx, when));
            document.append(&tag, when);
            Ok(NewMigration {
                layout: Layout::Journal,
                file: dir.join(format!("{tag}.sql")),
                snapshot: snapshot_text(dir.join(journal::snapshot_path(&tag))),
                journal: Some(document.to_text()),
                folder: None,
                sql: CUSTOM_SQL.to_owned(),
                tag,
                when,
            })
        }
        Layout::Folders => {
            let when = when.div_euclid(1000) * 1000;
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

/// The folder's own layout, or the asked one for a new folder (journal by default).
fn choose_layout(dir: &Path, found: Option<Layout>, asked: Option<Layout>) -> Result<Layout> {
    match (found, asked) {
        (Some(found), Some(asked)) if found != asked => Err(Error::usage(format!(
            "the migration folder {} already uses the {found} layout",
            dir.display()
        ))
        .help(match found {
            Layout::Journal => {
                "to move it to drizzle 1.0's layout, run `drizzle-kit up` (drizzle-kit 1.0); then `new` follows it"
            }
            Layout::Folders => "an existing folder keeps its layout; leave out --layout",
        })),
        (Some(found), _) => Ok(found),
        (None, asked) => Ok(asked.unwrap_or(Layout::Journal)),
    }
}

/// The newest migration's snapshot, parsed, and the ids the next one points back
/// at; None when the folder has no snapshots at all. A folder that has them but
/// not for its newest migration is refused: drizzle-kit would compare the schema
/// against an older state and write a migration that creates again what exists.
/// In drizzle 1.0's layout the parents are every leaf of the snapshot graph
/// (both branches after a merge), as drizzle-kit links them.
fn previous_snapshot(existing: &Existing) -> Result<Option<(Snapshot, Vec<String>)>> {
    let Some((migration, text)) = existing.migrations.last() else {
        return Ok(None);
    };
    let has_snapshots = existing.migrations.iter().any(|(_, text)| text.is_some());
    let Some(text) = text else {
        if !has_snapshots {
            return Ok(None);
        }
        return Err(Error::integrity(format!(
            "the drizzle-kit snapshot of the newest migration, {}, is missing",
            migration.tag
        ))
        .note("snapshot", migration.snapshot.display())
        .help("restore it from version control: without it drizzle-kit generate compares against an older schema and writes a migration that creates existing tables again"));
    };
    let newest = Snapshot::parse(&migration.snapshot, text)?;
    if existing.layout != Some(Layout::Folders) {
        let parents = vec![newest.id().to_owned()];
        return Ok(Some((newest, parents)));
    }
    let mut all = Vec::new();
    for (migration, text) in &existing.migrations {
        if let Some(text) = text {
            all.push(Snapshot::parse(&migration.snapshot, text)?);
        }
    }
    Ok(Some((newest, leaves(&all))))
}

/// The ids no other snapshot points back at, in folder order.
fn leaves(snapshots: &[Snapshot]) -> Vec<String> {
    let parents: std::collections::HashSet<&str> = snapshots.iter().flat_map(Snapshot::parent_ids).collect();
    snapshots.iter().map(Snapshot::id).filter(|id| !parents.contains(id)).map(str::to_owned).collect()
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

/// A migration name as drizzle-kit and `new` take it.
pub fn check_name(name: &str) -> Result<()> {
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
    use crate::migration_folder::tests::{folder, folders, journal};
    use serde_json::Value;

    const ID: &str = "404ca282-518b-41ee-85d2-1b1bced448ed";

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    /// A journal folder of `(tag, when)` with these snapshot texts.
    fn journal_folder(entries: &[(&str, i64)], snapshots: &[Option<&str>]) -> Existing {
        let with_sql: Vec<(&str, i64, &str)> = entries.iter().map(|(tag, when)| (*tag, *when, "SELECT 1;")).collect();
        let parsed = folder(&with_sql).unwrap();
        Existing {
            layout: Some(Layout::Journal),
            journal: Some(journal(entries)),
            migrations: parsed
                .migrations
                .into_iter()
                .zip(snapshots.iter().map(|text| text.map(str::to_owned)))
                .collect(),
        }
    }

    #[test]
    fn the_first_journal_migration_creates_the_journal_and_an_empty_snapshot() {
        let new = prepare(Path::new("migrations"), &Existing::default(), None, "create_users", 1_700_000_000_000, ID)
            .unwrap();
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
    fn the_next_journal_migration_carries_the_snapshot_forward_a_second_after_the_last() {
        let previous = r#"{"id": "9e5f", "prevId": "0000", "version": "7", "dialect": "postgresql", "tables": {"public.user": {}}, "_meta": {"columns": {"x": "y"}, "schemas": {}, "tables": {}}}"#;
        let existing = journal_folder(&[("0000_a", 5_000)], &[Some(previous)]);
        // The clock is behind the newest entry: one second after it, so that
        // `drizzle-kit up` gives the two different folder names.
        let new = prepare(Path::new("m"), &existing, None, "b", 1_000, ID).unwrap();
        assert_eq!((new.tag.as_str(), new.when), ("0001_b", 6_000));
        let new = prepare(Path::new("m"), &existing, None, "b", 5_500, ID).unwrap();
        assert_eq!(new.when, 6_000);
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
    fn a_journal_with_timestamp_prefixes_gets_one_and_its_snapshot_is_named_after_it() {
        let previous = r#"{"id": "9e5f", "prevId": "0000", "version": "7", "dialect": "postgresql"}"#;
        let existing = journal_folder(&[("20231114221320_a", 1_700_000_000_000)], &[Some(previous)]);
        let new = prepare(Path::new("m"), &existing, None, "b", 1_700_000_100_000, ID).unwrap();
        assert_eq!(new.tag, "20231114221500_b");
        assert_eq!(new.snapshot.unwrap().0, Path::new("m/meta/20231114221500_snapshot.json"));
    }

    #[test]
    fn a_drizzle_1_migration_gets_its_timestamped_folder_and_an_empty_diff_pointing_at_every_leaf() {
        let parsed = folders(&[
            ("20250101000000_a", "SELECT 1;"),
            ("20250102000000_b", "SELECT 1;"),
            ("20250102000001_c", "SELECT 1;"),
        ])
        .unwrap();
        let base = r#"{"type": "base", "version": "9", "dialect": "postgres", "id": "base", "prevIds": ["00000000-0000-0000-0000-000000000000"], "footprints": [], "ddl": [{"entityType": "tables"}]}"#;
        let branch = |id: &str| {
            format!(
                r#"{{"type": "diff", "version": "9", "dialect": "postgres", "id": "{id}", "prevIds": ["base"], "footprints": [], "deltas": []}}"#
            )
        };
        let texts = [Some(base.to_owned()), Some(branch("left")), Some(branch("right"))];
        let existing = Existing {
            layout: Some(Layout::Folders),
            journal: None,
            migrations: parsed.migrations.into_iter().zip(texts).collect(),
        };
        // The clock is behind the newest folder: one second after it.
        let new = prepare(Path::new("m"), &existing, None, "add_x", 1_000, ID).unwrap();
        assert_eq!(new.tag, "20250102000002_add_x");
        assert_eq!(new.folder.as_deref(), Some(Path::new("m/20250102000002_add_x")));
        assert_eq!(new.file, Path::new("m/20250102000002_add_x/migration.sql"));
        let (path, snapshot) = new.snapshot.unwrap();
        assert_eq!(path, Path::new("m/20250102000002_add_x/snapshot.json"));
        assert_eq!(
            json(&snapshot),
            json(&format!(
                r#"{{"type": "diff", "version": "9", "dialect": "postgres", "id": "{ID}", "prevIds": ["left", "right"], "footprints": [], "deltas": []}}"#
            ))
        );
        // A clock ahead of it gives the clock's second, in UTC.
        let new = prepare(Path::new("m"), &existing, None, "add_x", 1_796_114_835_123, ID).unwrap();
        assert_eq!((new.tag.as_str(), new.when), ("20261201084715_add_x", 1_796_114_835_000));
    }

    #[test]
    fn a_missing_or_broken_newest_snapshot_is_refused_and_a_folder_without_any_gets_none() {
        let refused = journal_folder(&[("0000_a", 5_000), ("0001_b", 9_000)], &[Some("{}"), None]);
        let err = prepare(Path::new("m"), &refused, None, "c", 9_000, ID).unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert!(err.to_string().contains("snapshot: migrations/meta/0001_snapshot.json"), "{err}");
        let broken = journal_folder(&[("0000_a", 5_000)], &[Some("{\"id\": ")]);
        let err = prepare(Path::new("m"), &broken, None, "b", 9_000, ID).unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert!(err.message.starts_with("the drizzle-kit snapshot migrations/meta/0000_snapshot.json:1:"), "{err}");
        let without = journal_folder(&[("0000_a", 5_000)], &[None]);
        assert_eq!(prepare(Path::new("m"), &without, None, "b", 9_000, ID).unwrap().snapshot, None);
    }

    #[test]
    fn an_existing_folder_keeps_its_layout() {
        let existing = journal_folder(&[("0000_a", 5_000)], &[None]);
        let err = prepare(Path::new("m"), &existing, Some(Layout::Folders), "b", 9_000, ID).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.help.unwrap().contains("drizzle-kit up"));
        let new = prepare(Path::new("m"), &Existing::default(), Some(Layout::Folders), "init", 1_700_000_000_000, ID)
            .unwrap();
        assert_eq!(new.tag, "20231114221320_init");
        assert_eq!(json(&new.snapshot.unwrap().1)["type"], "base");
    }

    #[test]
    fn bad_names_are_refused_with_a_suggestion() {
        for (name, suggestion) in
            [("Add Users", Some("add_users")), ("add-users", Some("add_users")), ("", None), ("_x", Some("x"))]
        {
            let err = prepare(Path::new("m"), &Existing::default(), None, name, 1, ID).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{name}");
            assert_eq!(
                err.help.as_deref().map(|help| help.contains(suggestion.unwrap_or("~"))),
                suggestion.map(|_| true),
                "{name}: {err}"
            );
        }
    }
}
