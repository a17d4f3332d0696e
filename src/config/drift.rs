//! `[drift]`: what `release` does about a database that is not what its
//! migrations make. Pure.

use std::path::{Path, PathBuf};

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
    expected_schema: Option<PathBuf>,
}

/// Where `drift --record` keeps the expected schema, relative to the project root.
pub const DEFAULT_EXPECTED_SCHEMA: &str = "drift/expected-schema.json";

#[derive(Debug, Clone, Serialize)]
pub struct DriftSettings {
    /// Off unless the environment file asks (the shipped production.toml warns).
    pub on_release: OnRelease,
    /// The expected schema recorded by `drift --record`, which the release reads
    /// (it never replays migrations on the live database's server).
    pub expected_schema: PathBuf,
}

impl DriftSettings {
    pub(super) fn resolve(file: DriftFile, _kind: EnvironmentKind, root: &Path) -> DriftSettings {
        DriftSettings {
            on_release: file.on_release.unwrap_or(OnRelease::Off),
            expected_schema: root.join(file.expected_schema.unwrap_or_else(|| PathBuf::from(DEFAULT_EXPECTED_SCHEMA))),
        }
    }
}
