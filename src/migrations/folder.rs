//! The drizzle-kit migration folder: `meta/_journal.json` plus one `<tag>.sql` per
//! entry, read exactly as drizzle's migrator reads it (same split, same hash), and
//! refused with a message naming the file when it is not what drizzle would apply.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::sql::{SqlStatement, is_transaction_control, non_transactional_reason, split_statements};
use crate::error::{Error, ErrorKind, Result};
use crate::text_position::{byte_offset_of_char, line_column};

/// drizzle-kit's statement separator.
pub const BREAKPOINT: &str = "--> statement-breakpoint";
pub const JOURNAL_PATH: &str = "meta/_journal.json";

/// One migration of the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub idx: u32,
    pub tag: String,
    /// The journal's `when`: the migration's identity and order, and the
    /// `created_at` of its bookkeeping row.
    pub when: i64,
    /// SHA-256 (hex) of the file's exact bytes, as drizzle computes it.
    pub hash: String,
    pub file: PathBuf,
    pub text: String,
    /// The pieces between breakpoints, in order, as drizzle executes them.
    pub chunks: Vec<Chunk>,
    pub mode: TransactionMode,
}

/// The text between two breakpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Byte offset of the chunk in its file.
    pub offset: usize,
    pub len: usize,
    /// Its top-level SQL statements, as byte ranges of the chunk.
    pub statements: Vec<SqlStatement>,
}

impl Chunk {
    pub fn text<'a>(&self, migration: &'a Migration) -> &'a str {
        &migration.text[self.offset..self.offset + self.len]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "mode", content = "because", rename_all = "snake_case")]
pub enum TransactionMode {
    /// Runs inside the release's single transaction.
    Transactional,
    /// Holds a statement PostgreSQL refuses inside a transaction block: runs on
    /// its own, statement by statement.
    NonTransactional(&'static str),
}

impl std::fmt::Display for TransactionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransactionMode::Transactional => f.write_str("in the transaction"),
            TransactionMode::NonTransactional(reason) => write!(f, "alone, outside a transaction ({reason})"),
        }
    }
}

/// One statement of a migration, numbered from 1 across the whole file.
#[derive(Debug, Clone, Copy)]
pub struct NumberedStatement<'m> {
    pub number: usize,
    pub chunk_index: usize,
    /// Byte offset of the statement in its chunk.
    pub start_in_chunk: usize,
    /// 1-based line of the statement's first character in the file.
    pub line: usize,
    pub text: &'m str,
}

/// Where in a migration file a database error points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorLocation {
    pub line: usize,
    pub column: usize,
    /// The statement's number, and how many the migration has.
    pub statement: usize,
    pub of: usize,
}

impl Migration {
    pub fn statement_count(&self) -> usize {
        self.chunks.iter().map(|chunk| chunk.statements.len()).sum()
    }

    pub fn statements(&self) -> impl Iterator<Item = NumberedStatement<'_>> {
        self.chunks
            .iter()
            .enumerate()
            .flat_map(|(chunk_index, chunk)| {
                let chunk_text = chunk.text(self);
                chunk
                    .statements
                    .iter()
                    .map(move |statement| (chunk_index, chunk, statement.start, statement.text(chunk_text)))
            })
            .enumerate()
            .map(|(index, (chunk_index, chunk, start_in_chunk, text))| NumberedStatement {
                number: index + 1,
                chunk_index,
                start_in_chunk,
                line: line_column(&self.text, chunk.offset + start_in_chunk).0,
                text,
            })
    }

    /// Locates an error in chunk `chunk_index`. The text sent to the server began at
    /// byte `sent_from` of the chunk (0 for a whole chunk, a statement's start when
    /// sent alone); `position` is PostgreSQL's 1-based character offset into it, if
    /// it gave one. Without a position, the error points at the start of what was sent.
    pub fn locate(&self, chunk_index: usize, sent_from: usize, position: Option<usize>) -> ErrorLocation {
        let chunk = &self.chunks[chunk_index];
        let sent = &chunk.text(self)[sent_from..];
        let offset_in_chunk = match position {
            Some(position) => sent_from + byte_offset_of_char(sent, position.saturating_sub(1)),
            None => sent_from + (sent.len() - sent.trim_start().len()),
        };
        let (line, column) = line_column(&self.text, chunk.offset + offset_in_chunk);
        let before: usize = self.chunks[..chunk_index].iter().map(|chunk| chunk.statements.len()).sum();
        let within = chunk
            .statements
            .iter()
            .position(|statement| offset_in_chunk < statement.end)
            .unwrap_or(chunk.statements.len().saturating_sub(1));
        ErrorLocation { line, column, statement: before + within + 1, of: self.statement_count() }
    }
}

#[derive(Debug, Clone)]
pub struct MigrationFolder {
    pub dir: PathBuf,
    pub migrations: Vec<Migration>,
}

/// Everything read from disk, for the pure parse below.
#[derive(Debug, Default)]
pub struct FolderContents {
    pub journal: Option<String>,
    /// Every `*.sql` file directly in the folder, by file name.
    pub sql_files: BTreeMap<String, Vec<u8>>,
}

#[derive(Deserialize)]
struct Journal {
    dialect: String,
    entries: Vec<JournalEntry>,
}

#[derive(Deserialize)]
struct JournalEntry {
    idx: u32,
    when: i64,
    tag: String,
}

/// Reads the folder from disk and parses it.
pub fn read_folder(dir: &Path) -> Result<MigrationFolder> {
    if !dir.is_dir() {
        return Err(Error::usage(format!("the migration folder {} does not exist", dir.display())).help(
            "set [migrations].dir in the environment file, or create the first migration with `praxia-deploy new NAME`",
        ));
    }
    let journal_path = dir.join(JOURNAL_PATH);
    let journal = match std::fs::read_to_string(&journal_path) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(Error::io("read", &journal_path, err)),
    };
    let mut sql_files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).map_err(|err| Error::io("read", dir, err))? {
        let path = entry.map_err(|err| Error::io("read", dir, err))?.path();
        if path.extension().is_some_and(|ext| ext == "sql") && path.is_file() {
            let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).map_err(|err| Error::io("read", &path, err))?;
            sql_files.insert(name, bytes);
        }
    }
    parse_folder(dir, FolderContents { journal, sql_files })
}

/// Checks and parses the folder's contents. Pure.
pub fn parse_folder(dir: &Path, contents: FolderContents) -> Result<MigrationFolder> {
    let journal_path = dir.join(JOURNAL_PATH);
    let Some(journal_text) = contents.journal else {
        return Err(integrity(format!(
            "the migration folder has no journal: {} is missing",
            journal_path.display()
        ))
        .help(
            "a drizzle-kit folder has meta/_journal.json; `praxia-deploy new NAME` creates it with the first migration",
        ));
    };
    let journal: Journal = serde_json::from_str(&journal_text).map_err(|err| malformed_journal(dir, &err))?;
    // drizzle-kit wrote "pg" before it wrote "postgresql"; drizzle's migrator reads neither.
    if !matches!(journal.dialect.as_str(), "postgresql" | "pg") {
        return Err(integrity(format!(
            "the journal {} is for dialect `{}`, not postgresql",
            journal_path.display(),
            journal.dialect
        )));
    }

    let mut seen_tags = HashSet::new();
    let mut migrations = Vec::with_capacity(journal.entries.len());
    for entry in journal.entries {
        let file = dir.join(format!("{}.sql", entry.tag));
        if !seen_tags.insert(entry.tag.clone()) {
            return Err(integrity(format!("the journal lists `{}` twice", entry.tag))
                .note("journal", journal_path.display())
                .help("each migration appears once in meta/_journal.json; remove the duplicate entry"));
        }
        if let Some(previous) = migrations.last().map(|migration: &Migration| (migration.when, migration.tag.clone()))
            && entry.when <= previous.0
        {
            return Err(integrity(format!(
                "migration `{}` has `when` {} that is not after `{}`'s {}",
                entry.tag, entry.when, previous.1, previous.0
            ))
            .note("journal", journal_path.display())
            .help("`when` must increase with idx: drizzle orders and identifies migrations by it"));
        }
        let Some(bytes) = contents.sql_files.get(&format!("{}.sql", entry.tag)) else {
            return Err(integrity(format!("migration `{}` is in the journal but its file is missing", entry.tag))
                .note("file", file.display())
                .help("restore the file from version control, or remove the entry if the migration was never applied anywhere"));
        };
        let text = String::from_utf8(bytes.clone()).map_err(|err| {
            let (line, column) = line_column(&String::from_utf8_lossy(bytes), err.utf8_error().valid_up_to());
            integrity(format!("{}:{line}:{column} is not valid UTF-8", file.display()))
                .help("save the migration as UTF-8")
        })?;
        if text.starts_with('\u{feff}') {
            return Err(integrity(format!("{} starts with a byte-order mark", file.display())).help(
                "save the file as UTF-8 without a BOM: PostgreSQL reads the mark as part of the first statement",
            ));
        }
        migrations.push(parse_migration(entry, file, text)?);
    }

    let is_listed = |name: &String| name.strip_suffix(".sql").is_some_and(|tag| seen_tags.contains(tag));
    if let Some(orphan) = contents.sql_files.keys().find(|name| !is_listed(name)) {
        return Err(integrity(format!("{orphan} is in the migration folder but not in the journal"))
            .note("file", dir.join(orphan).display())
            .note("journal", journal_path.display())
            .help("drizzle would ignore it silently; add it to the journal (`praxia-deploy new` creates both) or delete it"));
    }
    Ok(MigrationFolder { dir: dir.to_path_buf(), migrations })
}

fn parse_migration(entry: JournalEntry, file: PathBuf, text: String) -> Result<Migration> {
    let hash = hex::encode(Sha256::digest(text.as_bytes()));
    let mut chunks = Vec::new();
    let mut offset = 0;
    for piece in text.split(BREAKPOINT) {
        chunks.push(Chunk { offset, len: piece.len(), statements: split_statements(piece) });
        offset += piece.len() + BREAKPOINT.len();
    }
    let mut mode = TransactionMode::Transactional;
    for chunk in &chunks {
        for statement in &chunk.statements {
            let (line, column) = line_column(&text, chunk.offset + statement.start);
            if is_transaction_control(&statement.words) {
                return Err(integrity(format!(
                    "{}:{line}:{column}: migration `{}` controls the transaction itself ({})",
                    file.display(),
                    entry.tag,
                    statement.words[0]
                ))
                .help("remove BEGIN/COMMIT/ROLLBACK: praxia-deploy runs all pending migrations in one transaction"));
            }
            if let Some(reason) = non_transactional_reason(&statement.words) {
                mode = TransactionMode::NonTransactional(reason);
            }
        }
    }
    Ok(Migration { idx: entry.idx, tag: entry.tag, when: entry.when, hash, file, text, chunks, mode })
}

/// A journal that is not valid JSON of the expected shape, with line and column.
pub fn malformed_journal(dir: &Path, err: &serde_json::Error) -> Error {
    integrity(format!("the journal {}:{}:{} is malformed", dir.join(JOURNAL_PATH).display(), err.line(), err.column()))
        .note("reason", err)
        .help("fix the JSON (drizzle-kit writes {\"version\", \"dialect\", \"entries\": [{\"idx\", \"when\", \"tag\", ...}]})")
}

fn integrity(message: String) -> Error {
    Error::new(ErrorKind::Integrity, message)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A journal for `(tag, when)` pairs.
    pub(crate) fn journal(entries: &[(&str, i64)]) -> String {
        let entries: Vec<serde_json::Value> = entries
            .iter()
            .enumerate()
            .map(|(idx, (tag, when))| {
                serde_json::json!({"idx": idx, "version": "7", "when": when, "tag": tag, "breakpoints": true})
            })
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({"version": "7", "dialect": "postgresql", "entries": entries}))
            .unwrap()
    }

    pub(crate) fn folder(entries: &[(&str, i64, &str)]) -> Result<MigrationFolder> {
        let journal_entries: Vec<(&str, i64)> = entries.iter().map(|(tag, when, _)| (*tag, *when)).collect();
        let contents = FolderContents {
            journal: Some(journal(&journal_entries)),
            sql_files: entries.iter().map(|(tag, _, sql)| (format!("{tag}.sql"), sql.as_bytes().to_vec())).collect(),
        };
        parse_folder(Path::new("migrations"), contents)
    }

    fn error_of(result: Result<MigrationFolder>) -> String {
        let err = result.unwrap_err();
        assert_eq!(err.exit_code(), 4, "{err}");
        err.to_string()
    }

    #[test]
    fn reads_entries_in_journal_order_with_drizzles_hash_and_split() {
        let sql = "CREATE TABLE a (x int);\n--> statement-breakpoint\nCREATE TABLE b (y int);--> statement-breakpoint\nCREATE INDEX i ON b (y);";
        let folder =
            folder(&[("0000_first", 1_700_000_000_000, sql), ("0001_second", 1_700_000_000_001, "SELECT 1;")]).unwrap();
        let first = &folder.migrations[0];
        assert_eq!((first.idx, first.tag.as_str(), first.when), (0, "0000_first", 1_700_000_000_000));
        assert_eq!(first.file, Path::new("migrations/0000_first.sql"));
        // sha256 of the exact bytes, as `crypto.createHash("sha256").update(text).digest("hex")`.
        assert_eq!(first.hash, hex::encode(Sha256::digest(sql.as_bytes())));
        let chunks: Vec<&str> = first.chunks.iter().map(|chunk| chunk.text(first)).collect();
        assert_eq!(chunks, ["CREATE TABLE a (x int);\n", "\nCREATE TABLE b (y int);", "\nCREATE INDEX i ON b (y);"]);
        let numbered: Vec<(usize, usize, &str)> = first.statements().map(|s| (s.number, s.line, s.text)).collect();
        assert_eq!(
            numbered,
            [(1, 1, "CREATE TABLE a (x int);"), (2, 3, "CREATE TABLE b (y int);"), (3, 4, "CREATE INDEX i ON b (y);")]
        );
        assert_eq!(first.mode, TransactionMode::Transactional);
        assert_eq!(folder.migrations[1].tag, "0001_second");
    }

    #[test]
    fn the_hash_is_the_sha256_hex_of_the_file() {
        let folder = folder(&[("0000_a", 1, "SELECT 1;\n")]).unwrap();
        // printf 'SELECT 1;\n' | sha256sum
        assert_eq!(folder.migrations[0].hash, "b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd");
    }

    #[test]
    fn errors_are_located_in_the_file() {
        let sql = "CREATE TABLE a (x int);\n--> statement-breakpoint\nINSERT INTO a VALUES (1);\nINSERT INTO a\n  VALUES ('x');";
        let folder = folder(&[("0000_a", 1, sql)]).unwrap();
        let migration = &folder.migrations[0];
        let cases = [
            // (chunk, sent_from, position) -> (line, column, statement)
            ((1, 0, Some(52)), (5, 11, 3)),
            ((1, 0, None), (3, 1, 2)),
            ((0, 0, Some(8)), (1, 8, 1)),
        ];
        for ((chunk, sent_from, position), (line, column, statement)) in cases {
            let location = migration.locate(chunk, sent_from, position);
            assert_eq!((location.line, location.column, location.statement, location.of), (line, column, statement, 3));
        }
        // Sent alone: the position counts from the statement's own start.
        let third = migration.statements().nth(2).unwrap();
        let location = migration.locate(third.chunk_index, third.start_in_chunk, Some(15));
        assert_eq!((location.line, location.column, location.statement), (5, 1, 3));
    }

    #[test]
    fn a_migration_with_a_concurrent_index_runs_alone() {
        let folder = folder(&[(
            "0000_idx",
            1,
            "CREATE TABLE t (x int);\n--> statement-breakpoint\nCREATE INDEX CONCURRENTLY t_x ON t (x);",
        )])
        .unwrap();
        assert_eq!(folder.migrations[0].mode, TransactionMode::NonTransactional("CREATE INDEX CONCURRENTLY"));
        assert_eq!(folder.migrations[0].statement_count(), 2);
    }

    #[test]
    fn malformed_folders_are_refused_naming_the_file() {
        let contents = |journal: &str, files: &[(&str, &str)]| FolderContents {
            journal: Some(journal.to_owned()),
            sql_files: files.iter().map(|(name, sql)| (name.to_string(), sql.as_bytes().to_vec())).collect(),
        };
        let parse = |contents| parse_folder(Path::new("migrations"), contents);
        let cases: Vec<(Result<MigrationFolder>, &str)> = vec![
            (parse(FolderContents::default()), "migrations/meta/_journal.json is missing"),
            (
                parse(contents("{\"dialect\": \"postgresql\",\n \"entries\": [}", &[])),
                "migrations/meta/_journal.json:2:14 is malformed",
            ),
            (
                parse(contents(&journal(&[("0000_a", 1)]).replace("postgresql", "sqlite"), &[("0000_a.sql", "")])),
                "dialect `sqlite`",
            ),
            (parse(contents(&journal(&[("0000_a", 1)]), &[])), "`0000_a` is in the journal but its file is missing"),
            (
                parse(contents(&journal(&[("0000_a", 1)]), &[("0000_a.sql", ""), ("0001_b.sql", "")])),
                "0001_b.sql is in the migration folder but not in the journal",
            ),
            (
                parse(contents(&journal(&[("0000_a", 1), ("0000_a", 2)]), &[("0000_a.sql", "")])),
                "the journal lists `0000_a` twice",
            ),
            (
                parse(contents(&journal(&[("0000_a", 5), ("0001_b", 5)]), &[("0000_a.sql", ""), ("0001_b.sql", "")])),
                "`0001_b` has `when` 5 that is not after `0000_a`'s 5",
            ),
            (
                parse(contents(&journal(&[("0000_a", 5), ("0001_b", 3)]), &[("0000_a.sql", ""), ("0001_b.sql", "")])),
                "not after",
            ),
            (
                parse(contents(&journal(&[("0000_a", 1)]), &[("0000_a.sql", "\u{feff}SELECT 1;")])),
                "0000_a.sql starts with a byte-order mark",
            ),
            (
                parse(contents(&journal(&[("0000_a", 1)]), &[("0000_a.sql", ""), ("0000_a.sql.sql", "")])),
                "0000_a.sql.sql is in the migration folder but not in the journal",
            ),
            (
                parse(contents(&journal(&[("0000_a", 1)]), &[("0000_a.sql", "CREATE TABLE t ();\nCOMMIT;")])),
                "migrations/0000_a.sql:2:1: migration `0000_a` controls the transaction itself (COMMIT)",
            ),
        ];
        for (result, expected) in cases {
            let text = error_of(result);
            assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn older_pg_journals_and_renumbered_entries_are_read_as_drizzle_reads_them() {
        let text =
            journal(&[("0000_a", 1), ("0001_b", 2)]).replace("postgresql", "pg").replace("\"idx\": 1", "\"idx\": 7");
        let contents = FolderContents {
            journal: Some(text),
            sql_files: [
                ("0000_a.sql".to_owned(), b"SELECT 1;".to_vec()),
                ("0001_b.sql".to_owned(), b"SELECT 2;".to_vec()),
            ]
            .into(),
        };
        let folder = parse_folder(Path::new("migrations"), contents).unwrap();
        assert_eq!(folder.migrations.len(), 2);
    }

    #[test]
    fn a_file_that_is_not_utf8_is_refused_with_its_position() {
        let contents = FolderContents {
            journal: Some(journal(&[("0000_a", 1)])),
            sql_files: [("0000_a.sql".to_owned(), b"SELECT 1;\nSELECT '\xff';".to_vec())].into(),
        };
        let text = error_of(parse_folder(Path::new("migrations"), contents));
        assert!(text.contains("migrations/0000_a.sql:2:9 is not valid UTF-8"), "{text}");
    }
}
