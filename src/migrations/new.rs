//! `new NAME`: the next `NNNN_name.sql` and its journal entry, written so that
//! drizzle-kit and drizzle's migrator read them as their own.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::folder::{JOURNAL_PATH, malformed_journal};
use crate::error::{Error, ErrorKind, Result};

/// What `new` will write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewMigration {
    pub tag: String,
    pub when: i64,
    pub file: PathBuf,
    pub sql: String,
    /// The whole journal, with the new entry appended.
    pub journal: String,
}

/// Decides the next migration from the current journal (if any). `when` is now,
/// or one millisecond after the last entry if the clock is behind it. Pure.
pub fn prepare(dir: &Path, journal: Option<&str>, name: &str, now_ms: i64) -> Result<NewMigration> {
    check_name(name)?;
    let mut document = match journal {
        Some(text) => serde_json::from_str::<Value>(text).map_err(|err| malformed_journal(dir, &err))?,
        None => json!({ "version": "7", "dialect": "postgresql", "entries": [] }),
    };
    let entries = document.get_mut("entries").and_then(Value::as_array_mut).ok_or_else(|| {
        Error::new(
            ErrorKind::Integrity,
            format!("the journal {} has no `entries` list", dir.join(JOURNAL_PATH).display()),
        )
    })?;
    let last_when = entries.iter().filter_map(|entry| entry.get("when").and_then(Value::as_i64)).max();
    let version = entries.last().and_then(|entry| entry.get("version")).cloned().unwrap_or_else(|| json!("7"));
    let idx = entries.len();
    let tag = format!("{idx:04}_{name}");
    let when = last_when.map_or(now_ms, |last| now_ms.max(last + 1));
    entries.push(json!({ "idx": idx, "version": version, "when": when, "tag": tag, "breakpoints": true }));
    let journal = serde_json::to_string_pretty(&document).expect("a JSON value serialises") + "\n";
    let sql = format!(
        "-- {tag}: write this migration's SQL here.\n\
         -- Separate statements with a line holding only `--> statement-breakpoint`.\n"
    );
    Ok(NewMigration { file: dir.join(format!("{tag}.sql")), tag, when, sql, journal })
}

/// Writes the SQL file (never over an existing one), then the journal through a
/// temporary file renamed into place; if the journal cannot be written, the SQL
/// file is removed again, so the folder is never left half-changed.
pub fn write(dir: &Path, migration: &NewMigration) -> Result<()> {
    let meta = dir.join("meta");
    std::fs::create_dir_all(&meta).map_err(|err| Error::io("create", &meta, err))?;
    let mut file =
        std::fs::File::create_new(&migration.file).map_err(|err| Error::io("create", &migration.file, err))?;
    if let Err(err) = std::io::Write::write_all(&mut file, migration.sql.as_bytes()) {
        let _ = std::fs::remove_file(&migration.file);
        return Err(Error::io("write", &migration.file, err));
    }
    let journal = dir.join(JOURNAL_PATH);
    let staging = meta.join(format!("._journal.json.{}", std::process::id()));
    let written = std::fs::write(&staging, &migration.journal).and_then(|()| std::fs::rename(&staging, &journal));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&staging);
        let _ = std::fs::remove_file(&migration.file);
        return Err(Error::io("write", &journal, err));
    }
    Ok(())
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
    use crate::migrations::folder::{FolderContents, parse_folder};

    #[test]
    fn the_first_migration_creates_the_journal() {
        let new = prepare(Path::new("migrations"), None, "create_users", 1_700_000_000_000).unwrap();
        assert_eq!(new.tag, "0000_create_users");
        assert_eq!(new.file, Path::new("migrations/0000_create_users.sql"));
        assert!(new.journal.starts_with(
            "{\n  \"version\": \"7\",\n  \"dialect\": \"postgresql\",\n  \"entries\": [\n    {\n      \"idx\": 0,"
        ));
        // What `new` writes is a folder the reader accepts.
        let contents = FolderContents {
            journal: Some(new.journal.clone()),
            sql_files: [(format!("{}.sql", new.tag), new.sql.into_bytes())].into(),
        };
        let folder = parse_folder(Path::new("migrations"), contents).unwrap();
        assert_eq!(folder.migrations[0].when, 1_700_000_000_000);
    }

    #[test]
    fn the_next_migration_comes_after_the_last_even_if_the_clock_is_behind() {
        let first = prepare(Path::new("m"), None, "a", 5_000).unwrap();
        let second = prepare(Path::new("m"), Some(&first.journal), "b", 1_000).unwrap();
        assert_eq!((second.tag.as_str(), second.when), ("0001_b", 5_001));
        let third = prepare(Path::new("m"), Some(&second.journal), "c", 9_000).unwrap();
        assert_eq!((third.tag.as_str(), third.when), ("0002_c", 9_000));
    }

    #[test]
    fn unknown_journal_fields_and_key_order_are_kept() {
        let journal = r#"{"version": "7", "dialect": "postgresql", "entries": [{"idx": 0, "version": "7", "when": 1, "tag": "0000_a", "breakpoints": true, "custom": 1}], "extra": true}"#;
        let new = prepare(Path::new("m"), Some(journal), "b", 2).unwrap();
        let value: Value = serde_json::from_str(&new.journal).unwrap();
        assert_eq!(value["entries"][0]["custom"], 1);
        assert_eq!(value["extra"], true);
        let keys: Vec<&String> = value.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["version", "dialect", "entries", "extra"]);
    }

    #[test]
    fn bad_names_are_refused_with_a_suggestion() {
        for (name, suggestion) in
            [("Add Users", Some("add_users")), ("add-users", Some("add_users")), ("", None), ("_x", Some("x"))]
        {
            let err = prepare(Path::new("m"), None, name, 1).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{name}");
            assert_eq!(
                err.help.as_deref().map(|help| help.contains(suggestion.unwrap_or("~"))),
                suggestion.map(|_| true),
                "{name}: {err}"
            );
        }
    }
}
