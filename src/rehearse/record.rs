//! What `rehearse` measured, kept in a JSON file beside the project
//! (`Environment::rehearsals_file`, shipped with the image) for the release's
//! lock budget to read: one entry per migration, the newest rehearsal of the
//! file as it is now (its SHA-256), on the backup it was restored from. The
//! file is written whole or not at all.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::timeline::LockMode;
use crate::error::{Error, Result};
use crate::migration_folder::{MigrationFolder, Part};

/// The file's format; a file of another format is refused, never half-read.
const FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RehearsalFile {
    pub format: u32,
    pub about: String,
    pub migrations: Vec<RehearsedMigration>,
}

/// One migration as its rehearsal ran it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RehearsedMigration {
    pub tag: String,
    /// SHA-256 of the file rehearsed: an edited file is not rehearsed.
    pub hash: String,
    /// Unix seconds.
    pub rehearsed_at: u64,
    pub backup: BackupUsed,
    /// The development cluster's PostgreSQL major version.
    pub postgres: u32,
    /// Its statements (those of the part that was pending, for a contract part).
    pub statements: Vec<RehearsedStatement>,
}

/// The backup a rehearsal was restored from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupUsed {
    /// The file name (not its path: the laptop's folders are nobody's business).
    pub file: String,
    pub sha256: String,
    /// When it was taken, unix seconds (from its name, else its modification time).
    pub taken_at: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RehearsedStatement {
    /// Its number in the file, and the line it starts on.
    pub number: usize,
    pub line: usize,
    /// Its byte offset in the file: what identifies it (two statements may share a line).
    pub offset: usize,
    /// Its first line, shortened.
    pub sql: String,
    pub duration_ms: f64,
    /// The strongest lock it took on each table, and how long that was held
    /// (to the end of its transaction).
    pub locks: Vec<TableLock>,
    /// Tables it rewrote (their file changed: `relfilenode`).
    pub rewrote: Vec<String>,
    /// Indexes left INVALID after it.
    pub invalid_indexes: Vec<String>,
    /// The byte offsets of the statements sent with it in one message (a
    /// migration that controls its transaction is sent chunk by chunk, as
    /// drizzle sends it): the figures are the message's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent_with: Vec<usize>,
    /// The part of its file it was rehearsed in (`expand` or `contract` where
    /// `release` splits the file; each part ran in a transaction of its own).
    #[serde(default, skip_serializing_if = "is_whole")]
    pub part: Part,
}

fn is_whole(part: &Part) -> bool {
    *part == Part::Whole
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableLock {
    pub table: String,
    pub mode: LockMode,
    pub held_ms: f64,
    /// The migration that made the table, when one of those rehearsed did: the
    /// lock budget leaves the lock out where that migration is pending too (no
    /// release uses the table yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub made_by: Option<String>,
    /// The part of that migration which made it: an expand part's table is the
    /// app's by the time the contract part runs.
    #[serde(default, skip_serializing_if = "is_whole")]
    pub made_in: Part,
}

impl RehearsalFile {
    fn new(migrations: Vec<RehearsedMigration>) -> RehearsalFile {
        RehearsalFile {
            format: FORMAT,
            about: "written by `praxia-deploy rehearse`: how long each pending migration's statements ran and held their locks on a restore of a backup; read by `release` and `migrate` for [review] lock_budget. Commit it with the migrations.".to_owned(),
            migrations,
        }
    }

    /// The rehearsal of `tag` as the file is now (`hash`), if any.
    pub fn of(&self, tag: &str) -> Option<&RehearsedMigration> {
        self.migrations.iter().find(|migration| migration.tag == tag)
    }
}

/// Reads the file; a missing one is an empty record.
pub fn read(path: &Path) -> Result<RehearsalFile> {
    let Some(file) = crate::json_file::read::<RehearsalFile>(
        path,
        "a rehearsal record",
        "it is written by `praxia-deploy rehearse`; restore it from version control, or delete it and rehearse again",
    )?
    else {
        return Ok(RehearsalFile::new(Vec::new()));
    };
    if file.format != FORMAT {
        return Err(Error::usage(format!(
            "{} has format {}, this praxia-deploy reads format {FORMAT}",
            path.display(),
            file.format
        ))
        .help("rehearse again with this version (`praxia-deploy rehearse`)"));
    }
    Ok(file)
}

/// `rehearsed` merged into the file at `path`: each replaces its migration's
/// earlier rehearsal; a migration no longer in `folder` is dropped; in folder order.
pub fn write(path: &Path, folder: &MigrationFolder, rehearsed: &[RehearsedMigration]) -> Result<()> {
    let earlier = read(path)?;
    let mut kept: Vec<RehearsedMigration> = Vec::new();
    for migration in &folder.migrations {
        let newest = rehearsed.iter().find(|new| new.tag == migration.tag).or_else(|| earlier.of(&migration.tag));
        if let Some(found) = newest {
            kept.push(found.clone());
        }
    }
    crate::json_file::write(path, &RehearsalFile::new(kept))?;
    Ok(())
}
