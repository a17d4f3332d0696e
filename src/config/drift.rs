//! `[drift]`: what `release` does about a database that is not what its
//! migrations make. Pure.

use serde::{Deserialize, Serialize};

use super::EnvironmentKind;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnRelease {
    /// Exit 3 before migrating, naming the differences.
    Refuse,
    /// Say each difference, then migrate.
    Warn,
    Off,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DriftFile {
    on_release: Option<OnRelease>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DriftSettings {
    /// Off unless the environment file asks (the shipped production.toml warns).
    pub on_release: OnRelease,
}

impl DriftSettings {
    pub(super) fn resolve(file: DriftFile, _kind: EnvironmentKind) -> DriftSettings {
        DriftSettings { on_release: file.on_release.unwrap_or(OnRelease::Off) }
    }
}
