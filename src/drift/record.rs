//! The expected schema of a set of applied migrations, recorded ahead of time
//! where a replay is safe (`drift --record`: the embedded cluster, a cluster of
//! the tool's own, or `--shadow-url`) and read by the release, which never
//! replays. Kept in a JSON file beside the project (`[drift] expected_schema`),
//! one entry per set of migrations and PostgreSQL major version, found by the
//! digest of the set. The file is written whole or not at all.

use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::SchemaObject;
use crate::error::{Error, Result};
use crate::migration_folder::Migration;

/// The file's format; a file of another format is refused, never half-read.
const FORMAT: u32 = 1;
/// How many sets a file keeps: the folder's, and the prefixes recorded before it
/// (the set a database is at before its next release is usually one of them).
const KEPT: usize = 5;

/// The expected schema of one set of applied migrations on one major version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    /// `set_digest` of the applied migrations.
    pub applied_digest: String,
    pub postgres: u32,
    pub migrations: usize,
    /// The newest migration of the set (for people reading the file).
    pub last: Option<String>,
    pub objects: Vec<SchemaObject>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RecordedFile {
    pub format: u32,
    pub about: String,
    pub entries: Vec<Recorded>,
}

/// What identifies a set of applied migrations as drift compares it: this
/// tool's catalog query, the schemas left out, and the migrations in order.
pub fn set_digest<'a>(excluded: &[String], hashes: impl Iterator<Item = &'a str>) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!("praxia-deploy drift {FORMAT}; without {excluded:?};"));
    // The query itself: a changed catalog query never reuses objects read by the old one.
    hasher.update(super::CATALOG_SQL.as_bytes());
    for hash in hashes {
        hasher.update(hash.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

/// The digest of `migrations` (a prefix of the folder, in order).
pub fn digest_of(excluded: &[String], migrations: &[&Migration]) -> String {
    set_digest(excluded, migrations.iter().map(|migration| migration.hash.as_str()))
}

/// Why no recorded expected schema is at hand for a set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Missing {
    NoFile,
    /// Recorded for other sets of migrations only (the newest: how many it holds).
    OtherSets {
        newest: usize,
    },
    /// This set, on other major versions only.
    OtherMajor {
        recorded: Vec<u32>,
    },
}

impl Missing {
    pub fn describe(&self, file: &Path, migrations: usize, major: u32) -> String {
        let set = crate::text::plural(migrations, "applied migration");
        match self {
            Missing::NoFile => format!("no expected schema is recorded ({} does not exist)", file.display()),
            Missing::OtherSets { newest } => format!(
                "{} holds no expected schema for the {set} (its newest is for {}; a set of other or edited migrations, or one recorded by another version of praxia-deploy, does not count)",
                file.display(),
                crate::text::plural(*newest, "migration")
            ),
            Missing::OtherMajor { recorded } => format!(
                "{} holds the {set} for PostgreSQL {}, the database runs {major}",
                file.display(),
                recorded.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ),
        }
    }
}

impl RecordedFile {
    /// Reads `path`; None when there is no such file.
    pub fn read(path: &Path) -> Result<Option<RecordedFile>> {
        let Some(file) = crate::json_file::read::<RecordedFile>(
            path,
            "an expected-schema file",
            "`praxia-deploy drift --record` writes it anew; never edit it by hand",
        )?
        else {
            return Ok(None);
        };
        if file.format != FORMAT {
            return Err(Error::usage(format!(
                "{} has format {}, this praxia-deploy reads format {FORMAT}",
                path.display(),
                file.format
            ))
            .help("write it again with `praxia-deploy drift --record`"));
        }
        Ok(Some(file))
    }

    /// The entry for `digest` on `major`, or why there is none.
    pub fn find(file: Option<&RecordedFile>, digest: &str, major: u32) -> std::result::Result<Recorded, Missing> {
        let Some(file) = file else { return Err(Missing::NoFile) };
        if let Some(entry) = file.entries.iter().find(|entry| entry.applied_digest == digest && entry.postgres == major)
        {
            return Ok(entry.clone());
        }
        let mut recorded: Vec<u32> =
            file.entries.iter().filter(|entry| entry.applied_digest == digest).map(|entry| entry.postgres).collect();
        if recorded.is_empty() {
            let newest = file.entries.iter().map(|entry| entry.migrations).max().unwrap_or(0);
            return Err(Missing::OtherSets { newest });
        }
        recorded.sort_unstable();
        Err(Missing::OtherMajor { recorded })
    }

    /// `previous` with `entry` added: the entries kept are `entry`, the same set
    /// on other major versions, and the sets that are still prefixes of the
    /// folder (`prefix_digests[n]`: the digest of its first n migrations), newest
    /// first, at most `KEPT` sets. Pure.
    pub fn with(previous: Option<RecordedFile>, entry: Recorded, prefix_digests: &[String]) -> RecordedFile {
        let mut entries = vec![entry.clone()];
        let mut sets = vec![entry.applied_digest.clone()];
        let mut older: Vec<Recorded> = previous
            .map(|file| file.entries)
            .unwrap_or_default()
            .into_iter()
            .filter(|old| !(old.applied_digest == entry.applied_digest && old.postgres == entry.postgres))
            .filter(|old| prefix_digests.get(old.migrations) == Some(&old.applied_digest))
            .collect();
        older.sort_by(|a, b| b.migrations.cmp(&a.migrations).then(a.postgres.cmp(&b.postgres)));
        for old in older {
            if !sets.contains(&old.applied_digest) {
                if sets.len() == KEPT {
                    continue;
                }
                sets.push(old.applied_digest.clone());
            }
            entries.push(old);
        }
        RecordedFile {
            format: FORMAT,
            about: "The schema the migrations make, recorded by `praxia-deploy drift --record` for the release's drift check. Written by the tool: do not edit.".to_owned(),
            entries,
        }
    }

    /// Writes the file whole (a temporary file renamed into place).
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::json_file::write(path, self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(digest: &str, postgres: u32, migrations: usize) -> Recorded {
        Recorded { applied_digest: digest.to_owned(), postgres, migrations, last: None, objects: Vec::new() }
    }

    #[test]
    fn the_digest_changes_with_any_part_of_what_was_replayed() {
        let excluded = vec!["praxia_deploy".to_owned()];
        let base = set_digest(&excluded, ["a", "b"].into_iter());
        assert_eq!(base, set_digest(&excluded, ["a", "b"].into_iter()));
        assert_ne!(base, set_digest(&excluded, ["a"].into_iter()));
        assert_ne!(base, set_digest(&excluded, ["b", "a"].into_iter()));
        assert_ne!(base, set_digest(&["x".to_owned()], ["a", "b"].into_iter()));
    }

    #[test]
    fn an_entry_is_found_by_set_and_major_version_or_the_reason_is_said() {
        let file = RecordedFile::with(None, entry("d2", 15, 2), &["d0".into(), "d1".into(), "d2".into()]);
        assert_eq!(RecordedFile::find(Some(&file), "d2", 15).unwrap().migrations, 2);
        assert_eq!(RecordedFile::find(Some(&file), "d2", 17).unwrap_err(), Missing::OtherMajor { recorded: vec![15] });
        assert_eq!(RecordedFile::find(Some(&file), "d1", 15).unwrap_err(), Missing::OtherSets { newest: 2 });
        assert_eq!(RecordedFile::find(None, "d1", 15).unwrap_err(), Missing::NoFile);
    }

    #[test]
    fn recording_keeps_the_earlier_sets_that_are_still_prefixes_of_the_folder() {
        let prefixes: Vec<String> = (0..=8).map(|n| format!("d{n}")).collect();
        let mut file = None;
        for n in 1..=7 {
            file = Some(RecordedFile::with(file, entry(&format!("d{n}"), 15, n), &prefixes[..=n]));
        }
        let file = RecordedFile::with(file, entry("d7", 17, 7), &prefixes);
        let kept: Vec<(usize, u32)> = file.entries.iter().map(|entry| (entry.migrations, entry.postgres)).collect();
        assert_eq!(kept, [(7, 17), (7, 15), (6, 15), (5, 15), (4, 15), (3, 15)]);
        // A history edited below them: those entries are not kept.
        let edited: Vec<String> = (0..=8).map(|n| if n >= 5 { format!("e{n}") } else { format!("d{n}") }).collect();
        let file = RecordedFile::with(Some(file), entry("e8", 15, 8), &edited);
        let kept: Vec<usize> = file.entries.iter().map(|entry| entry.migrations).collect();
        assert_eq!(kept, [8, 4, 3]);
    }
}
