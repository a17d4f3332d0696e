//! The tool's one error type: every failure has a kind, and every kind one exit code.

use std::fmt;

use serde::Serialize;

use crate::report::Report;

/// What kind of failure happened; decides the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A bug or an unexpected condition in praxia-deploy itself.
    Internal,
    /// A bad flag, a bad configuration file, a missing prerequisite.
    Usage,
    /// Refused by policy: fixtures on a non-development database, production
    /// without confirmation, environment stamp mismatch.
    Policy,
    /// The migration folder and the applied rows disagree, or the folder is malformed.
    Integrity,
    /// The database was unreachable after waiting, or the migration lock was not acquired.
    Unavailable,
    /// A migration failed and its transaction was rolled back.
    MigrationFailed,
    /// SSH or Dokku failed.
    Remote,
    /// `status --exit-code` found pending migrations.
    Pending,
    /// The setup endpoint rejected the bootstrap request.
    BootstrapRejected,
    /// `lint` or `generate` found an error-level problem in a migration.
    LintFailed,
    /// `drift` found the database different from what its migrations make.
    Drift,
}

impl ErrorKind {
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Internal => 1,
            ErrorKind::Usage => 2,
            ErrorKind::Policy => 3,
            ErrorKind::Integrity => 4,
            ErrorKind::Unavailable => 5,
            ErrorKind::MigrationFailed => 6,
            ErrorKind::Remote => 7,
            ErrorKind::Pending => 8,
            ErrorKind::BootstrapRejected => 9,
            ErrorKind::LintFailed => 10,
            ErrorKind::Drift => 11,
        }
    }

    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Internal,
        ErrorKind::Usage,
        ErrorKind::Policy,
        ErrorKind::Integrity,
        ErrorKind::Unavailable,
        ErrorKind::MigrationFailed,
        ErrorKind::Remote,
        ErrorKind::Pending,
        ErrorKind::BootstrapRejected,
        ErrorKind::LintFailed,
        ErrorKind::Drift,
    ];

    /// The kind a praxia-deploy process exited with (over SSH, say); None for a code it never uses.
    pub fn from_exit_code(code: u64) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|kind| u64::from(kind.exit_code()) == code)
    }
}

/// The exit code table, as shown in `--help` and the README; its lines fit 80 columns.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  done (including \"nothing to do\")
  1  unexpected internal error
  2  usage or configuration error
  3  refused by policy (seeding staging/production, production without
     confirmation, stamp mismatch, the review gate, the lock budget)
  4  migration integrity (edited applied file, missing or out-of-order
     migration, malformed journal)
  5  database unreachable after waiting, or migration lock not acquired in time
  6  a migration failed; its transaction was rolled back
  7  SSH or Dokku failure (unreachable host, auth, host key, app missing)
  8  `status --exit-code` and pending migrations exist
  9  bootstrap rejected (bad setup token, invalid input)
 10  `lint` or `generate` found an error-level problem in a migration
 11  `drift` found the database different from what its applied migrations make";

/// One labelled fact about a failure, printed as `  label: value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Note {
    pub label: String,
    pub value: String,
}

/// A failure as the user sees it: what failed, the facts around it, what to do next.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub notes: Vec<Note>,
    pub help: Option<String>,
    /// What the command found before it failed (a status table, the problems):
    /// printed before the error, and the JSON document's `result`.
    #[serde(skip)]
    pub report: Option<Box<Report>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), notes: Vec::new(), help: None, report: None }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Usage, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    pub fn integrity(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Integrity, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unavailable, message)
    }

    /// An I/O failure on a path, as an internal error that names the path.
    pub fn io(action: &str, path: &std::path::Path, err: std::io::Error) -> Self {
        Error::internal(format!("could not {action} {}: {err}", path.display()))
    }

    pub fn note(mut self, label: impl Into<String>, value: impl fmt::Display) -> Self {
        self.notes.push(Note { label: label.into(), value: value.to_string() });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_report(mut self, report: Report) -> Self {
        self.report = Some(Box::new(report));
        self
    }

    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        for note in &self.notes {
            write!(f, "\n  {}: {}", note.label, note.value)?;
        }
        if let Some(help) = &self.help {
            write!(f, "\nhelp: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// At most ten items, then how many more: a note stays one readable line
/// however long the history.
pub fn capped_list(items: &[impl AsRef<str>]) -> String {
    const SHOWN: usize = 10;
    let mut text = items.iter().take(SHOWN).map(AsRef::as_ref).collect::<Vec<_>>().join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    text
}

/// An error and its sources, `: `-joined (openssh and reqwest keep the cause there).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_comes_back_from_its_exit_code() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_exit_code(u64::from(kind.exit_code())), Some(kind));
        }
        assert_eq!(ErrorKind::from_exit_code(0), None);
        assert_eq!(ErrorKind::from_exit_code(153), None);
    }

    #[test]
    fn every_kind_has_the_documented_exit_code() {
        let table = [
            (ErrorKind::Internal, 1),
            (ErrorKind::Usage, 2),
            (ErrorKind::Policy, 3),
            (ErrorKind::Integrity, 4),
            (ErrorKind::Unavailable, 5),
            (ErrorKind::MigrationFailed, 6),
            (ErrorKind::Remote, 7),
            (ErrorKind::Pending, 8),
            (ErrorKind::BootstrapRejected, 9),
            (ErrorKind::LintFailed, 10),
            (ErrorKind::Drift, 11),
        ];
        assert_eq!(table.len(), ErrorKind::ALL.len(), "every kind is in the table");
        for (kind, code) in table {
            assert_eq!(kind.exit_code(), code, "{kind:?}");
            assert!(
                EXIT_CODES_HELP.contains(&format!("\n{code:>3}  ")),
                "exit code {code} is missing from the help text"
            );
        }
        // clap would wrap a longer line at the terminal's width, back at its first column.
        assert!(EXIT_CODES_HELP.lines().all(|line| line.len() <= 80), "a line of the table is over 80 columns");
    }

    #[test]
    fn display_puts_notes_under_the_message_and_help_last() {
        let err = Error::usage("unknown environment `nope`")
            .note("found", "development, test")
            .help("pass --env with one of those");
        assert_eq!(
            err.to_string(),
            "unknown environment `nope`\n  found: development, test\nhelp: pass --env with one of those"
        );
    }
}
