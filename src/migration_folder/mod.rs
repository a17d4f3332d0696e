//! The drizzle-kit migration folder in either of its layouts (the 0.x journal or
//! drizzle 1.0's folder per migration), read exactly as drizzle's migrators read
//! it (same order, same split, same hash), and refused with a message naming the
//! file when it is not what drizzle would apply.

pub mod journal;
pub mod sql;
pub mod timestamped;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use journal::JOURNAL_PATH;

use self::sql::{
    Lexer, SqlStatement, TransactionControl, non_transactional_reason, own_transaction_reason, talks_to_client,
    transaction_control,
};
use crate::error::{Error, Result};
use crate::text_position::{LineIndex, byte_offset_of_char, line_column};

/// drizzle-kit's statement separator.
pub const BREAKPOINT: &str = "--> statement-breakpoint";

/// One migration of the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// What people call it: the journal tag (`0003_add_profile`) or the folder
    /// name (`20250101093000_add_profile`).
    pub tag: String,
    /// Its `name` in drizzle 1.0's bookkeeping table: the folder name, or for a
    /// journal entry the folder `drizzle-kit up` will give it.
    pub name: String,
    /// The journal's `when`, or the folder's time (UTC, to the second): the
    /// `created_at` of its bookkeeping row, and its identity in the journal layout.
    pub when: i64,
    /// SHA-256 (hex) of the file's exact bytes, as drizzle computes it.
    pub hash: String,
    pub file: PathBuf,
    /// Where drizzle-kit keeps the schema snapshot after this migration.
    pub snapshot: PathBuf,
    pub text: String,
    /// The pieces between breakpoints, in order, as drizzle executes them.
    pub chunks: Vec<Chunk>,
    pub mode: TransactionMode,
    /// Its `-- praxia-deploy: allow ...` comments, in file order.
    pub acknowledgements: Vec<Acknowledgement>,
    /// Where the file's lines start, to number statements in linear time.
    pub lines: LineIndex,
    /// A statement praxia-deploy cannot run (it controls the transaction, or
    /// talks to the client): refused while the migration is pending.
    pub unrunnable: Option<Unrunnable>,
    /// Where its `-- praxia-deploy: contract` line is (a byte offset): the
    /// statements after it are its contract part.
    pub contract_directive: Option<usize>,
    /// Which part of the file this runs: the folder reads whole migrations; a
    /// release that holds a contract part back runs the two parts apart.
    pub part: Part,
    /// Its expand and contract parts, once asked for (`review::expand_contract::parts`).
    pub parts: std::sync::OnceLock<Box<Parts>>,
}

/// Which part of its file a migration runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    #[default]
    Whole,
    /// All but the contract part: runs in the release phase, and its row goes to
    /// praxia-deploy's `contract_pending`, not drizzle's table.
    Expand,
    /// The statements held back: run once the previous release has retired,
    /// with drizzle's row for the whole file.
    Contract,
    /// The contract part given up (`contract --abandon`): nothing runs, drizzle's
    /// row is written, and the log says so.
    Abandoned,
}

/// A migration's two parts, each the whole file with the other part blanked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parts {
    pub expand: Migration,
    pub contract: Migration,
    /// The contract part abandoned: nothing of it runs, drizzle's row is written.
    pub abandoned: Migration,
    /// Whether any statement is held back (else the contract part is blank, and
    /// only drizzle's row waits with it).
    pub holds_back: bool,
}

impl Migration {
    /// This migration running only `text`: the file with the other part blanked
    /// (the same length, every line where it was), split as drizzle splits it.
    pub fn part_of(&self, part: Part, text: String) -> Migration {
        debug_assert_eq!(text.len(), self.text.len());
        let chunks = chunks_of(&text);
        Migration {
            text,
            chunks,
            part,
            parts: std::sync::OnceLock::new(),
            unrunnable: self.unrunnable.clone(),
            ..self.clone()
        }
    }
}

/// The pieces between breakpoints, lexed.
fn chunks_of(text: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut offset = 0;
    let mut lexer = Lexer::default();
    for piece in text.split(BREAKPOINT) {
        let (statements, comments) = lexer.split_with_comments(piece);
        chunks.push(Chunk { offset, len: piece.len(), statements, comments });
        offset += piece.len() + BREAKPOINT.len();
    }
    chunks
}

/// The text between two breakpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Byte offset of the chunk in its file.
    pub offset: usize,
    pub len: usize,
    /// Its top-level SQL statements, as byte ranges of the chunk.
    pub statements: Vec<SqlStatement>,
    /// Its comments, as byte ranges of the chunk (never text inside a string).
    pub comments: Vec<std::ops::Range<usize>>,
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
    /// Runs in a transaction of its own, committed before the next migration
    /// starts (a new enum value is usable only after that commit).
    OwnTransaction(&'static str),
    /// Holds a statement PostgreSQL refuses inside a transaction block: runs on
    /// its own, statement by statement.
    NonTransactional(&'static str),
    /// Controls its transaction itself (`BEGIN;`, `COMMIT;`): runs on its own as
    /// drizzle's migrator runs it, chunk by chunk inside a `BEGIN` its own `COMMIT`
    /// may end, and is recorded after its last statement.
    AsWritten {
        /// Whether it commits (else it only opens one, which the server ignores with a warning).
        commits: bool,
        /// The line of its first COMMIT (or, if none, of its first BEGIN).
        line: usize,
        /// That statement's number in the migration (as `plan` numbers them).
        statement: usize,
    },
}

impl std::fmt::Display for TransactionMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TransactionMode::Transactional => f.write_str("in the transaction"),
            TransactionMode::OwnTransaction(reason) => write!(f, "in a transaction of its own ({reason})"),
            TransactionMode::NonTransactional(reason) => write!(f, "alone, outside a transaction ({reason})"),
            TransactionMode::AsWritten { commits: true, line, .. } => write!(
                f,
                "alone, as drizzle runs it: its COMMIT (line {line}) ends the transaction, so a failure after that line leaves what came before it applied"
            ),
            TransactionMode::AsWritten { commits: false, line, .. } => {
                write!(
                    f,
                    "alone, as drizzle runs it: its BEGIN (line {line}) only draws a warning, it stays all or nothing"
                )
            }
        }
    }
}

/// The comment that sets a migration's mode by hand, on a line of its own;
/// drizzle sends it to the server as the comment it is.
pub const DIRECTIVE: &str = "-- praxia-deploy:";
const OWN_TRANSACTION_DIRECTIVE: &str = "own-transaction";
const NO_TRANSACTION_DIRECTIVE: &str = "no-transaction";
/// `-- praxia-deploy: allow RULE[, RULE...]: reason`: a review finding accepted
/// on purpose, for the statement after it.
const ALLOW_DIRECTIVE: &str = "allow";
/// `-- praxia-deploy: contract`: the statements after it are the migration's
/// contract part, applied once the previous release has retired.
const CONTRACT_DIRECTIVE: &str = "contract";

/// A review finding the migration's author accepted, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Acknowledgement {
    pub rules: Vec<String>,
    pub reason: String,
    /// 1-based line of the comment, and its byte offset.
    pub line: usize,
    #[serde(skip)]
    pub start: usize,
    /// Byte offset just after the comment's line: it covers the statement after it.
    #[serde(skip)]
    pub end: usize,
}

/// One statement of a migration, numbered from 1 across the whole file.
#[derive(Debug, Clone, Copy)]
pub struct NumberedStatement<'m> {
    pub number: usize,
    pub chunk_index: usize,
    /// Byte offset of the statement in its chunk.
    pub start_in_chunk: usize,
    /// Byte offset of the statement in the file: its identity, which a part
    /// (the file with the other part blanked) keeps, where its number does not.
    pub offset: usize,
    /// 1-based line of the statement's first character in the file.
    pub line: usize,
    pub text: &'m str,
    /// What the lexer made of it (its unquoted words).
    pub statement: &'m SqlStatement,
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
    /// The names of the indexes its `CREATE INDEX CONCURRENTLY` statements build.
    pub fn built_indexes(&self) -> Vec<String> {
        self.statements()
            .filter(|statement| statement.text.len() < 100_000)
            .filter_map(|statement| sql::built_index_name(statement.text))
            .collect()
    }

    /// Its statements that reach beyond the database (`sql::cluster_wide_reason`),
    /// with their line: such a migration is replayed only on a server the tool owns.
    pub fn cluster_wide_statements(&self) -> Vec<(usize, &'static str)> {
        self.chunks
            .iter()
            .flat_map(|chunk| {
                let text = chunk.text(self);
                chunk.statements.iter().filter_map(move |statement| {
                    sql::cluster_wide_reason(statement.text(text), &statement.words)
                        .map(|reason| (self.lines.line_column(&self.text, chunk.offset + statement.start).0, reason))
                })
            })
            .collect()
    }

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
                    .map(move |statement| (chunk_index, chunk, statement, statement.text(chunk_text)))
            })
            .enumerate()
            .map(|(index, (chunk_index, chunk, statement, text))| NumberedStatement {
                number: index + 1,
                chunk_index,
                start_in_chunk: statement.start,
                offset: chunk.offset + statement.start,
                line: self.lines.line_column(&self.text, chunk.offset + statement.start).0,
                text,
                statement,
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
        let (line, column) = self.lines.line_column(&self.text, chunk.offset + offset_in_chunk);
        let before: usize = self.chunks[..chunk_index].iter().map(|chunk| chunk.statements.len()).sum();
        let within = chunk
            .statements
            .iter()
            .position(|statement| offset_in_chunk < statement.end)
            .unwrap_or(chunk.statements.len().saturating_sub(1));
        ErrorLocation { line, column, statement: before + within + 1, of: self.statement_count() }
    }
}

/// Which of drizzle-kit's two folder layouts a migration folder uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// drizzle-kit 0.x: `meta/_journal.json` and `<tag>.sql` files.
    Journal,
    /// drizzle 1.0: `<YYYYMMDDHHMMSS>_<name>/migration.sql` folders.
    Folders,
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::Journal => "drizzle-kit 0.x journal (meta/_journal.json)",
            Layout::Folders => "drizzle 1.0 folders (<timestamp>_<name>/migration.sql)",
        })
    }
}

#[derive(Debug, Clone)]
pub struct MigrationFolder {
    pub dir: PathBuf,
    pub layout: Layout,
    pub migrations: Vec<Migration>,
    /// `.sql` files the journal does not list: drizzle ignores them.
    pub outside_journal: Vec<PathBuf>,
}

/// Everything read from disk, for the pure parse below.
#[derive(Debug, Default)]
pub struct FolderContents {
    /// `meta/_journal.json`, when present.
    pub journal: Option<String>,
    /// Every `*.sql` file directly in the folder, by file name.
    pub sql_files: BTreeMap<String, Vec<u8>>,
    /// Every subfolder but `meta/` and hidden ones without a `migration.sql`, by name.
    pub subfolders: BTreeMap<String, Subfolder>,
}

/// A subfolder of the migration folder: a drizzle 1.0 migration when it holds a `migration.sql`.
#[derive(Debug, Default, Clone)]
pub struct Subfolder {
    pub migration_sql: Option<Vec<u8>>,
}

/// Reads the folder from disk and parses it.
pub fn read_folder(dir: &Path) -> Result<MigrationFolder> {
    parse_folder(dir, read_contents(dir)?)
}

/// An environment's folder, with its rule for `.sql` files the journal does not
/// list: named in a warning each (drizzle ignores them), or refused.
pub fn read_environment_folder(settings: &crate::config::MigrationSettings) -> Result<MigrationFolder> {
    let folder = read_folder(&settings.dir)?;
    let journal = folder.dir.join(journal::JOURNAL_PATH);
    if let (Some(file), crate::config::OutsideJournal::Refuse) =
        (folder.outside_journal.first(), settings.outside_journal)
    {
        return Err(Error::integrity(format!("{} is in the migration folder but not in the journal", file.display()))
            .note("journal", journal.display())
            .help("drizzle ignores it: add it to the journal (`praxia-deploy new` writes both) or delete it ([migrations] outside_journal = \"refuse\")"));
    }
    for file in &folder.outside_journal {
        tracing::warn!(
            "{} is not in {}: drizzle ignores it, and so does praxia-deploy; add it to the journal or delete it",
            file.display(),
            journal.display()
        );
    }
    Ok(folder)
}

/// Reads what `parse_folder` needs: the journal, the top-level `.sql` files and
/// each subfolder's `migration.sql`.
pub fn read_contents(dir: &Path) -> Result<FolderContents> {
    if !dir.is_dir() {
        return Err(Error::usage(format!("the migration folder {} does not exist", dir.display())).help(
            "set [migrations].dir in the environment file, or create the first migration with `praxia-deploy new NAME`",
        ));
    }
    let journal_path = dir.join(JOURNAL_PATH);
    if journal_path.is_dir() {
        return Err(Error::integrity(format!("the journal {} is a folder, not a file", journal_path.display()))
            .help("drizzle-kit keeps meta/_journal.json as a JSON file: restore it from version control"));
    }
    let journal = match read_optional(&journal_path)? {
        Some(bytes) => Some(String::from_utf8(bytes).map_err(|err| {
            let (line, column) = line_column(&String::from_utf8_lossy(err.as_bytes()), err.utf8_error().valid_up_to());
            Error::integrity(format!("the journal {}:{line}:{column} is not valid UTF-8", journal_path.display()))
                .help("drizzle-kit writes the journal as UTF-8 JSON: restore it from version control")
        })?),
        None => None,
    };
    let mut contents = FolderContents { journal, ..FolderContents::default() };
    for entry in std::fs::read_dir(dir).map_err(|err| Error::io("read", dir, err))? {
        let entry = entry.map_err(|err| Error::io("read", dir, err))?;
        let path = entry.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        // The directory entry's own type (no stat per file); a symlink is followed.
        let kind = entry.file_type().map_err(|err| Error::io("read", &path, err))?;
        let (is_dir, is_file) =
            if kind.is_symlink() { (path.is_dir(), path.is_file()) } else { (kind.is_dir(), kind.is_file()) };
        if is_dir {
            if name == "meta" {
                continue;
            }
            let migration_sql = read_optional(&path.join(timestamped::MIGRATION_FILE))?;
            // drizzle-orm 1.0 reads a hidden folder's migration.sql too; other hidden folders are not ours.
            if name.starts_with('.') && migration_sql.is_none() {
                continue;
            }
            contents.subfolders.insert(name, Subfolder { migration_sql });
        } else if is_file && path.extension().is_some_and(|ext| ext == "sql") {
            let bytes = std::fs::read(&path).map_err(|err| Error::io("read", &path, err))?;
            contents.sql_files.insert(name, bytes);
        }
    }
    Ok(contents)
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::io("read", path, err)),
    }
}

/// The folder's layout, or why it has none: detected from what is in it. Pure.
pub fn detect_layout(dir: &Path, contents: &FolderContents) -> Result<Layout> {
    let migration_folders: Vec<&String> =
        contents.subfolders.iter().filter(|(_, sub)| sub.migration_sql.is_some()).map(|(name, _)| name).collect();
    match (&contents.journal, migration_folders.first()) {
        (Some(journal), Some(_)) if journal_already_converted(dir, journal, contents) => Err(Error::integrity(format!(
            "the migration folder {} still has {JOURNAL_PATH}, but every entry of it already has its drizzle 1.0 folder",
            dir.display()
        ))
        .note("journal", dir.join(JOURNAL_PATH).display())
        .help("`drizzle-kit up` converted this folder and meta/ came back (a merge or a restore): delete meta/")),
        (Some(_), Some(first)) => Err(Error::integrity(format!(
            "the migration folder {} mixes drizzle-kit's two layouts: it has {JOURNAL_PATH} and drizzle 1.0 migration folders",
            dir.display()
        ))
        .note("journal", dir.join(JOURNAL_PATH).display())
        .note("folder", dir.join(first).join(timestamped::MIGRATION_FILE).display())
        .help("finish the move to drizzle 1.0 with `drizzle-kit up` (it turns every journal entry into a folder and removes meta/), or, if the folders were added by mistake, remove them")),
        (Some(_), None) => Ok(Layout::Journal),
        (None, Some(_)) => {
            if let Some(file) = contents.sql_files.keys().next() {
                return Err(Error::integrity(format!(
                    "the migration folder {} mixes drizzle-kit's two layouts: {file} is a drizzle-kit 0.x file in a drizzle 1.0 folder",
                    dir.display()
                ))
                .note("file", dir.join(file).display())
                .help("drizzle 1.0 ignores it silently; move it into its own <YYYYMMDDHHMMSS>_<name>/migration.sql folder, or delete it"));
            }
            Ok(Layout::Folders)
        }
        (None, None) if !contents.sql_files.is_empty() => Err(Error::integrity(format!(
            "the migration folder {} has .sql files but no journal: {} is missing",
            dir.display(),
            dir.join(JOURNAL_PATH).display()
        ))
        .help("restore meta/_journal.json from version control (drizzle-kit 0.x writes it with every migration); drizzle 1.0 folders hold <YYYYMMDDHHMMSS>_<name>/migration.sql instead")),
        (None, None) => Err(Error::integrity(format!("the migration folder {} holds no migrations", dir.display())).help(
            "check [migrations].dir in the environment file, or create the first migration with `praxia-deploy new NAME`",
        )),
    }
}

/// Whether every journal entry already has the folder `drizzle-kit up` makes of it.
fn journal_already_converted(dir: &Path, journal_text: &str, contents: &FolderContents) -> bool {
    let Ok(entries) = journal::Journal::entries(dir, journal_text) else {
        return false;
    };
    !entries.is_empty()
        && entries.iter().all(|entry| {
            let folder = journal::folder_name_after_up(&entry.tag, entry.when);
            contents.subfolders.get(&folder).is_some_and(|sub| sub.migration_sql.is_some())
        })
}

/// Checks and parses the folder's contents. Pure.
pub fn parse_folder(dir: &Path, contents: FolderContents) -> Result<MigrationFolder> {
    let layout = detect_layout(dir, &contents)?;
    let (migrations, outside_journal) = match layout {
        Layout::Journal => journal::parse(dir, contents.journal.as_deref().unwrap_or_default(), contents.sql_files)?,
        Layout::Folders => (timestamped::parse(dir, contents.subfolders)?, Vec::new()),
    };
    Ok(MigrationFolder { dir: dir.to_path_buf(), layout, migrations, outside_journal })
}

/// Where a migration's file is and who it is, as its layout says.
pub(crate) struct MigrationSource {
    pub tag: String,
    pub name: String,
    pub when: i64,
    pub file: PathBuf,
    pub snapshot: PathBuf,
}

/// Decodes, splits and classifies one migration file.
fn parse_migration(source: MigrationSource, bytes: Vec<u8>) -> Result<Migration> {
    let MigrationSource { tag, name, when, file, snapshot } = source;
    let text = String::from_utf8(bytes).map_err(|err| {
        let (line, column) = line_column(&String::from_utf8_lossy(err.as_bytes()), err.utf8_error().valid_up_to());
        Error::integrity(format!("{}:{line}:{column} is not valid UTF-8", file.display()))
            .help("save the migration as UTF-8")
    })?;
    if text.starts_with('\u{feff}') {
        return Err(Error::integrity(format!("{} starts with a byte-order mark", file.display()))
            .help("save the file as UTF-8 without a BOM: PostgreSQL reads the mark as part of the first statement"));
    }
    let hash = hex::encode(Sha256::digest(text.as_bytes()));
    let chunks = chunks_of(&text);
    let lines = LineIndex::new(&text);
    let at = |offset: usize| {
        let (line, column) = lines.line_column(&text, offset);
        format!("{}:{line}:{column}", file.display())
    };
    let (mut own_transaction, mut non_transactional) = (None, None);
    // The first COMMIT, else the first BEGIN: the migration runs as drizzle runs it.
    let mut controls: Option<(TransactionControl, usize, usize)> = None;
    let mut number = 0;
    // What praxia-deploy cannot run is refused only while the migration is
    // pending (`plan.rs`): an applied one is history, verified by its hash alone.
    let mut unrunnable = None;
    for chunk in &chunks {
        for statement in &chunk.statements {
            let position = chunk.offset + statement.start;
            number += 1;
            match transaction_control(&statement.words) {
                Some(TransactionControl::Undo(what)) if unrunnable.is_none() => {
                    unrunnable = Some(Unrunnable {
                        problem: format!("{}: migration `{tag}` undoes the transaction itself ({what})", at(position)),
                        help: "remove it while the migration is pending: drizzle's migrator would silently undo the earlier migrations of the same run (or leave a prepared transaction holding its locks), and praxia-deploy does not guess which end state you meant",
                    });
                }
                Some(control @ TransactionControl::Commit)
                    if !matches!(controls, Some((TransactionControl::Commit, ..))) =>
                {
                    controls = Some((control, lines.line_column(&text, position).0, number));
                }
                Some(control @ TransactionControl::Begin) if controls.is_none() => {
                    controls = Some((control, lines.line_column(&text, position).0, number));
                }
                _ => {}
            }
            if let Some(what) = talks_to_client(&statement.words)
                && unrunnable.is_none()
            {
                unrunnable = Some(Unrunnable {
                    problem: format!("{}: migration `{tag}` uses {what}", at(position)),
                    help: "a migration runner sends no COPY data and reads no COPY stream, so the release would wait forever; load data with INSERT ... SELECT, or COPY from a file on the database server",
                });
            }
            non_transactional = non_transactional.or(non_transactional_reason(&statement.words));
            own_transaction = own_transaction.or(own_transaction_reason(&statement.words));
        }
    }
    let detected = match (controls, non_transactional, own_transaction) {
        (Some((control, line, statement)), ..) => {
            TransactionMode::AsWritten { commits: control == TransactionControl::Commit, line, statement }
        }
        (None, Some(reason), _) => TransactionMode::NonTransactional(reason),
        (None, None, Some(reason)) => TransactionMode::OwnTransaction(reason),
        (None, None, None) => TransactionMode::Transactional,
    };
    let Directives { mode: directed, acknowledgements, contract: contract_directive } =
        directives(&text, &chunks, &lines, &at)?;
    let mode = match directed {
        None => detected,
        Some(TransactionMode::OwnTransaction(_)) if controls.is_some() => {
            return Err(Error::integrity(format!(
                "migration `{tag}` asks for a transaction of its own, but it controls its transaction itself (line {})",
                controls.map_or(0, |(_, line, _)| line)
            ))
            .note("file", file.display())
            .help("leave the directive out (praxia-deploy runs it as drizzle does), or use `-- praxia-deploy: no-transaction` to run it statement by statement"));
        }
        Some(TransactionMode::OwnTransaction(_)) if non_transactional.is_some() => {
            return Err(Error::integrity(format!(
                "migration `{tag}` asks for a transaction of its own, but {} cannot run in a transaction",
                non_transactional.unwrap_or_default()
            ))
            .note("file", file.display())
            .help(
                "use `-- praxia-deploy: no-transaction`, or leave the directive out: praxia-deploy sees it by itself",
            ));
        }
        Some(mode) => mode,
    };
    if let Some(directive) = contract_directive
        && matches!(mode, TransactionMode::NonTransactional(_) | TransactionMode::AsWritten { .. })
    {
        return Err(Error::integrity(format!(
            "{}: `-- praxia-deploy: contract` in a migration that runs outside drizzle's transaction ({mode})",
            at(directive)
        ))
        .help("the contract part is held back only from a migration that runs in a transaction: move what should wait into a migration of its own, or remove the line"));
    }
    Ok(Migration {
        tag,
        name,
        when,
        hash,
        file,
        snapshot,
        text,
        chunks,
        mode,
        acknowledgements,
        lines,
        unrunnable,
        contract_directive,
        part: Part::Whole,
        parts: std::sync::OnceLock::new(),
    })
}

/// What praxia-deploy cannot run in a migration, said when it is pending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrunnable {
    /// `file:line:column: migration `tag` ...`.
    pub problem: String,
    pub help: &'static str,
}

/// What the `-- praxia-deploy: ...` lines of a file say.
struct Directives {
    /// The mode they ask for, if the file has one.
    mode: Option<TransactionMode>,
    /// The review findings they acknowledge.
    acknowledgements: Vec<Acknowledgement>,
    /// Where the contract part starts.
    contract: Option<usize>,
}

fn directives(text: &str, chunks: &[Chunk], lines: &LineIndex, at: &dyn Fn(usize) -> String) -> Result<Directives> {
    let mut found = None;
    let mut acknowledgements = Vec::new();
    let mut contract = None;
    for (start, end) in line_comments_on_their_own_line(text, chunks) {
        let comment = &text[start..end];
        let Some(value) = comment.strip_prefix(DIRECTIVE) else {
            continue;
        };
        let value = value.trim();
        let mode = match value {
            CONTRACT_DIRECTIVE => {
                if contract.is_some() {
                    return Err(Error::integrity(format!("{}: a second `-- praxia-deploy: contract` line", at(start)))
                        .help("keep one: every statement after it is the contract part"));
                }
                contract = Some(start);
                continue;
            }
            OWN_TRANSACTION_DIRECTIVE => TransactionMode::OwnTransaction("-- praxia-deploy: own-transaction"),
            NO_TRANSACTION_DIRECTIVE => TransactionMode::NonTransactional("-- praxia-deploy: no-transaction"),
            other if other.split_whitespace().next() == Some(ALLOW_DIRECTIVE) => {
                let line_number = lines.line_column(text, start).0;
                let rest = &other[ALLOW_DIRECTIVE.len()..];
                let acknowledged = acknowledgement(rest, line_number, start..end).map_err(|(problem, help)| {
                    Error::integrity(format!("{}: {problem}", at(start)))
                        .note("line", format!("{line_number} | {}", comment.trim_end()))
                        .help(help)
                })?;
                acknowledgements.push(acknowledged);
                continue;
            }
            other => {
                return Err(Error::integrity(format!("{}: unknown praxia-deploy directive `{other}`", at(start))).help(
                    "the directives are `-- praxia-deploy: own-transaction` (run in a transaction of its own), `-- praxia-deploy: no-transaction` (statement by statement, outside any transaction), `-- praxia-deploy: allow RULE: reason` (accept a review finding on the next statement) and `-- praxia-deploy: contract` (the statements after it wait until the previous release has retired)",
                ));
            }
        };
        if found.is_some_and(|previous| previous != mode) {
            return Err(Error::integrity(format!("{}: a second, different praxia-deploy directive", at(start)))
                .help("keep one `-- praxia-deploy:` transaction directive per migration"));
        }
        found = Some(mode);
    }
    Ok(Directives { mode: found, acknowledgements, contract })
}

/// The `--` comments that have a line to themselves, as byte ranges of the file:
/// only real comments (the lexer's), never a `--` inside a string.
fn line_comments_on_their_own_line(text: &str, chunks: &[Chunk]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for chunk in chunks {
        for comment in &chunk.comments {
            let (start, end) = (chunk.offset + comment.start, chunk.offset + comment.end);
            let line_start = text[..start].rfind(['\n', '\r']).map_or(0, |i| i + 1);
            if text[start..].starts_with("--") && text[line_start..start].trim().is_empty() {
                found.push((start, end));
            }
        }
    }
    found
}

/// `RULE[, RULE...]: reason` after `allow`; or what is wrong with it, and the fix.
fn acknowledgement(
    rest: &str,
    line: usize,
    range: std::ops::Range<usize>,
) -> std::result::Result<Acknowledgement, (String, &'static str)> {
    const FORM: &str = "write it as `-- praxia-deploy: allow RULE: why it is safe here`, e.g. `-- praxia-deploy: allow ban-drop-column: column unused since v2.3`";
    let (rules, reason) = rest.split_once(':').unwrap_or((rest, ""));
    let reason = reason.trim();
    let rules: Vec<String> = rules.split(',').map(|rule| rule.trim().to_owned()).collect();
    if rules.iter().any(String::is_empty) {
        return Err(("an acknowledgement that names no rule".to_owned(), FORM));
    }
    if let Some(unknown) = rules.iter().find(|rule| !crate::rule_names::is_rule(rule)) {
        return Err((
            format!("an acknowledgement of `{unknown}`, which is not a review rule"),
            "name the rule as `lint` and `plan` print it (ban-drop-column, previous-release-overlap, ...); the README lists them under Reviewing migrations",
        ));
    }
    if reason.is_empty() {
        return Err(("an acknowledgement without a reason".to_owned(), FORM));
    }
    Ok(Acknowledgement { rules, reason: reason.to_owned(), line, start: range.start, end: range.end })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A journal for `(tag, when)` pairs.
    pub(crate) fn journal(entries: &[(&str, i64)]) -> String {
        let mut journal = journal::Journal::empty();
        for (tag, when) in entries {
            journal.append(tag, *when);
        }
        journal.to_text()
    }

    /// A drizzle 1.0 folder of `(folder name, sql)` pairs.
    pub(crate) fn folders(entries: &[(&str, &str)]) -> Result<MigrationFolder> {
        let contents = FolderContents {
            subfolders: entries
                .iter()
                .map(|(name, sql)| (name.to_string(), Subfolder { migration_sql: Some(sql.as_bytes().to_vec()) }))
                .collect(),
            ..FolderContents::default()
        };
        parse_folder(Path::new("migrations"), contents)
    }

    pub(crate) fn folder(entries: &[(&str, i64, &str)]) -> Result<MigrationFolder> {
        let journal_entries: Vec<(&str, i64)> = entries.iter().map(|(tag, when, _)| (*tag, *when)).collect();
        let contents = FolderContents {
            journal: Some(journal(&journal_entries)),
            sql_files: entries.iter().map(|(tag, _, sql)| (format!("{tag}.sql"), sql.as_bytes().to_vec())).collect(),
            ..FolderContents::default()
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
        assert_eq!((first.tag.as_str(), first.when), ("0000_first", 1_700_000_000_000));
        assert_eq!(first.name, "20231114221320_first");
        assert_eq!(first.file, Path::new("migrations/0000_first.sql"));
        assert_eq!(first.snapshot, Path::new("migrations/meta/0000_snapshot.json"));
        assert_eq!(folder.layout, Layout::Journal);
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
            ..FolderContents::default()
        };
        let parse = |contents| parse_folder(Path::new("migrations"), contents);
        let cases: Vec<(Result<MigrationFolder>, &str)> = vec![
            (parse(FolderContents::default()), "the migration folder migrations holds no migrations"),
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
                parse(contents(&journal(&[("0000_a", 1), ("0000_a", 2)]), &[("0000_a.sql", "")])),
                "the journal lists `0000_a` twice",
            ),
            (
                parse(contents(&journal(&[("0000_a", 5), ("0001_b", 5)]), &[("0000_a.sql", ""), ("0001_b.sql", "")])),
                "migrations `0000_a` and `0001_b` have the same `when` 5",
            ),
            (
                parse(contents(&journal(&[("0000_a", 1)]), &[("0000_a.sql", "\u{feff}SELECT 1;")])),
                "0000_a.sql starts with a byte-order mark",
            ),
        ];
        for (result, expected) in cases {
            let text = error_of(result);
            assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
        }
    }

    #[test]
    fn a_journal_whose_when_goes_back_is_read_in_journal_order_as_drizzle_runs_it() {
        // Real projects have it: a branch merged with its older `when`.
        let folder = folder(&[("0000_a", 5, ""), ("0001_b", 3, ""), ("0002_c", 9, "")]).unwrap();
        let order: Vec<(&str, i64)> = folder.migrations.iter().map(|m| (m.tag.as_str(), m.when)).collect();
        assert_eq!(order, [("0000_a", 5), ("0001_b", 3), ("0002_c", 9)]);
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
            ..FolderContents::default()
        };
        let folder = parse_folder(Path::new("migrations"), contents).unwrap();
        assert_eq!(folder.migrations.len(), 2);
    }

    #[test]
    fn a_file_that_is_not_utf8_is_refused_with_its_position() {
        let contents = FolderContents {
            journal: Some(journal(&[("0000_a", 1)])),
            sql_files: [("0000_a.sql".to_owned(), b"SELECT 1;\nSELECT '\xff';".to_vec())].into(),
            ..FolderContents::default()
        };
        let text = error_of(parse_folder(Path::new("migrations"), contents));
        assert!(text.contains("migrations/0000_a.sql:2:9 is not valid UTF-8"), "{text}");
    }

    #[test]
    fn a_drizzle_1_folder_is_read_in_name_order_with_times_from_the_names() {
        let folder = folders(&[
            ("20250102000000_second", "SELECT 2;"),
            ("20250101093000_first", "CREATE TABLE a (x int);\n--> statement-breakpoint\nSELECT 1;"),
        ])
        .unwrap();
        assert_eq!(folder.layout, Layout::Folders);
        let first = &folder.migrations[0];
        assert_eq!((first.tag.as_str(), first.name.as_str()), ("20250101093000_first", "20250101093000_first"));
        assert_eq!(first.when, 1_735_723_800_000);
        assert_eq!(first.file, Path::new("migrations/20250101093000_first/migration.sql"));
        assert_eq!(first.snapshot, Path::new("migrations/20250101093000_first/snapshot.json"));
        assert_eq!(first.statement_count(), 2);
        assert_eq!(
            first.hash,
            hex::encode(Sha256::digest(b"CREATE TABLE a (x int);\n--> statement-breakpoint\nSELECT 1;"))
        );
        assert_eq!(folder.migrations[1].tag, "20250102000000_second");
    }

    #[test]
    fn mixed_or_malformed_drizzle_1_folders_are_refused_naming_the_path() {
        let subfolder = |sql: Option<&str>| Subfolder { migration_sql: sql.map(|sql| sql.as_bytes().to_vec()) };
        let parse = |contents| parse_folder(Path::new("migrations"), contents);
        let cases: Vec<(FolderContents, &str)> = vec![
            (
                FolderContents {
                    journal: Some(journal(&[])),
                    subfolders: [("20250101000000_a".to_owned(), subfolder(Some("SELECT 1;")))].into(),
                    ..FolderContents::default()
                },
                "mixes drizzle-kit's two layouts: it has meta/_journal.json and drizzle 1.0 migration folders",
            ),
            (
                FolderContents {
                    sql_files: [("0000_a.sql".to_owned(), b"SELECT 1;".to_vec())].into(),
                    subfolders: [("20250101000000_a".to_owned(), subfolder(Some("SELECT 1;")))].into(),
                    ..FolderContents::default()
                },
                "0000_a.sql is a drizzle-kit 0.x file in a drizzle 1.0 folder",
            ),
            (
                FolderContents {
                    subfolders: [("2025010100000_a".to_owned(), subfolder(Some("SELECT 1;")))].into(),
                    ..FolderContents::default()
                },
                "the migration folder migrations/2025010100000_a does not start with a UTC timestamp",
            ),
            (
                FolderContents {
                    subfolders: [("20251301000000_a".to_owned(), subfolder(Some("SELECT 1;")))].into(),
                    ..FolderContents::default()
                },
                "migrations/20251301000000_a does not start with a UTC timestamp",
            ),
            (
                FolderContents {
                    subfolders: [("20250101000000a".to_owned(), subfolder(Some("SELECT 1;")))].into(),
                    ..FolderContents::default()
                },
                "migrations/20250101000000a does not start with a UTC timestamp",
            ),
            (
                FolderContents {
                    subfolders: [
                        ("20250101000000_a".to_owned(), subfolder(Some("SELECT 1;"))),
                        ("20250101000000_B".to_owned(), subfolder(Some("SELECT 1;"))),
                    ]
                    .into(),
                    ..FolderContents::default()
                },
                "the migrations 20250101000000_B and 20250101000000_a share the timestamp 20250101000000 and drizzle-orm 1.0 would order them differently",
            ),
            (
                FolderContents {
                    subfolders: [
                        ("20250101000000_a".to_owned(), subfolder(Some("SELECT 1;"))),
                        ("20250102000000_b".to_owned(), subfolder(None)),
                    ]
                    .into(),
                    ..FolderContents::default()
                },
                "the migration folder migrations/20250102000000_b has no migration.sql",
            ),
            (
                FolderContents {
                    sql_files: [("0000_a.sql".to_owned(), b"SELECT 1;".to_vec())].into(),
                    ..FolderContents::default()
                },
                "has .sql files but no journal: migrations/meta/_journal.json is missing",
            ),
            (FolderContents::default(), "the migration folder migrations holds no migrations"),
            (
                FolderContents {
                    journal: Some(journal(&[("0000_a", 1_735_689_600_000)])),
                    subfolders: [("20250101000000_a".to_owned(), subfolder(Some("SELECT 1;")))].into(),
                    ..FolderContents::default()
                },
                "every entry of it already has its drizzle 1.0 folder",
            ),
        ];
        for (contents, expected) in cases {
            let text = error_of(parse(contents));
            assert!(text.contains(expected), "expected {expected:?} in:\n{text}");
        }
    }
}
