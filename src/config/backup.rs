//! `[backup]`: where backups go, how many are kept, which Dokku service, and
//! whether migrations wait for one. Pure.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::EnvironmentKind;

/// `[backup]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BackupFile {
    dir: Option<PathBuf>,
    pub(super) keep: Option<toml::Spanned<usize>>,
    service: Option<String>,
    release_dir: Option<PathBuf>,
    before_migrate: Option<bool>,
}

/// The backup settings of one environment, defaults applied, paths absolute.
#[derive(Debug, Clone, Serialize)]
pub struct BackupSettings {
    /// Where `backup` (and the backup before `migrate`) writes on this machine.
    pub dir: PathBuf,
    /// How many backups of the app are kept there; older ones are removed.
    pub keep: usize,
    /// The Dokku postgres service to export, when the app has several linked.
    pub service: Option<String>,
    /// In the release phase, `pg_dump` into this folder (a Dokku storage mount)
    /// before migrating; unset, the release phase takes none.
    pub release_dir: Option<PathBuf>,
    /// `migrate` takes a backup first when something is pending (production by default).
    pub before_migrate: bool,
}

impl BackupSettings {
    pub(super) fn resolve(file: BackupFile, kind: EnvironmentKind, root: &Path) -> BackupSettings {
        BackupSettings {
            dir: root.join(file.dir.unwrap_or_else(|| PathBuf::from("backups"))),
            keep: file.keep.map_or(10, toml::Spanned::into_inner),
            service: file.service,
            release_dir: file.release_dir.map(|dir| root.join(dir)),
            before_migrate: file.before_migrate.unwrap_or(kind == EnvironmentKind::Production),
        }
    }
}
