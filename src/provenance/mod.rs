//! Who applied a migration, where, with what, and the backup taken before it:
//! what the migration log records of each run.

mod backup_record;

pub use backup_record::BackupRecord;

/// Who applied a migration, where, with what: recorded in the log.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// `user@host`.
    pub applied_by: String,
    pub tool_version: &'static str,
    pub environment: String,
    /// The verified backup taken just before these migrations.
    pub backup: Option<BackupRecord>,
    /// The git revision being released: Dokku's `GIT_REV`, set in the app's
    /// containers (and so in its release phase and post-deploy step).
    pub revision: Option<String>,
}

impl Provenance {
    pub fn here(environment: &str) -> Provenance {
        Provenance {
            applied_by: format!("{}@{}", current_user(), hostname()),
            tool_version: env!("CARGO_PKG_VERSION"),
            environment: environment.to_owned(),
            backup: None,
            revision: revision(),
        }
    }

    pub fn with_backup(mut self, backup: Option<BackupRecord>) -> Provenance {
        self.backup = backup;
        self
    }
}

/// Dokku's `GIT_REV` (or `PRAXIA_REVISION`, for other hosts), if set.
pub fn revision() -> Option<String> {
    ["PRAXIA_REVISION", "GIT_REV"].iter().find_map(|name| {
        std::env::var(name).ok().map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
    })
}

fn current_user() -> String {
    if let Some(user) = ["USER", "LOGNAME"].iter().find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty())) {
        return user;
    }
    let uid = nix::unistd::geteuid();
    if uid.is_root() { "root".to_owned() } else { format!("uid{uid}") }
}

fn hostname() -> String {
    nix::unistd::gethostname().map_or_else(|_| "unknown-host".to_owned(), |name| name.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provenance_names_user_host_and_version() {
        let provenance = Provenance::here("staging");
        assert!(provenance.applied_by.contains('@'));
        assert_eq!(provenance.tool_version, env!("CARGO_PKG_VERSION"));
    }
}
