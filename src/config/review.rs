//! `[review]`: whether the production gate is on, what counts as a small table,
//! each rule's level, and the lock budget a rehearsal must meet. Pure.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, de};
use toml::Spanned;

use super::{EnvironmentKind, HumanDuration};

/// A table at or under both thresholds is small: a lock on it is short.
const DEFAULT_SMALL_TABLE_ROWS: u64 = 10_000;
const DEFAULT_SMALL_TABLE_BYTES: u64 = 10 * 1024 * 1024;
/// Last night's backup, or the night before's when a deploy comes before the next one.
const DEFAULT_REHEARSAL_MAX_AGE: HumanDuration = HumanDuration::from_secs(48 * 3600);

/// `[review]` as written; `None` is "the default for this kind of environment".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ReviewFile {
    gate: Option<bool>,
    small_table_rows: Option<u64>,
    small_table_size: Option<ByteSize>,
    baseline: Option<String>,
    lock_budget: Option<HumanDuration>,
    rehearsal_max_age: Option<HumanDuration>,
    rehearsals: Option<PathBuf>,
    #[serde(default)]
    pub(super) rules: BTreeMap<String, Spanned<RuleLevel>>,
}

/// The review settings of one environment, defaults applied.
#[derive(Debug, Clone, Serialize)]
pub struct ReviewSettings {
    /// `release` and `migrate` refuse a pending migration with an error-level
    /// finding on a live table that it does not acknowledge. On by default in
    /// staging and production.
    pub gate: bool,
    pub small_table_rows: u64,
    pub small_table_bytes: u64,
    /// Rules set by name (as Squawk and `lint` spell them); the others keep their level.
    pub rules: BTreeMap<String, RuleLevel>,
    /// `lint` leaves out the migrations up to and including this tag: history,
    /// deployed long ago. The gate still reviews whatever a database has pending.
    pub baseline: Option<String>,
    /// `release` and `migrate` refuse a pending migration whose rehearsal
    /// (`rehearse`) held an ACCESS EXCLUSIVE lock longer than this, or that was
    /// not rehearsed on a backup younger than `rehearsal_max_age`. Off when unset.
    pub lock_budget: Option<HumanDuration>,
    pub rehearsal_max_age: HumanDuration,
    /// Where `rehearse` records what it measured, relative to the project root
    /// (default `rehearsals/<environment>.json`): shipped with the image, read by the release.
    pub rehearsals: Option<PathBuf>,
}

impl ReviewSettings {
    pub(super) fn resolve(file: ReviewFile, kind: EnvironmentKind) -> ReviewSettings {
        ReviewSettings {
            gate: file.gate.unwrap_or(matches!(kind, EnvironmentKind::Staging | EnvironmentKind::Production)),
            small_table_rows: file.small_table_rows.unwrap_or(DEFAULT_SMALL_TABLE_ROWS),
            small_table_bytes: file.small_table_size.map_or(DEFAULT_SMALL_TABLE_BYTES, |size| size.0),
            rules: file.rules.into_iter().map(|(rule, level)| (rule, level.into_inner())).collect(),
            baseline: file.baseline,
            lock_budget: file.lock_budget,
            rehearsal_max_age: file.rehearsal_max_age.unwrap_or(DEFAULT_REHEARSAL_MAX_AGE),
            rehearsals: file.rehearsals,
        }
    }

    /// What `lint` uses without an environment file's say: every rule at its level.
    pub fn defaults(kind: EnvironmentKind) -> ReviewSettings {
        ReviewSettings::resolve(ReviewFile::default(), kind)
    }
}

/// A rule's level as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleLevel {
    Off,
    Warning,
    Error,
}

/// A size in bytes: a number, or PostgreSQL's units (`64kB`, `10MB`, `1GB`, `1TB`; 1024-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ByteSize(u64);

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Bytes(bytes) => Ok(ByteSize(bytes)),
            Raw::Text(text) => parse_size(&text).map(ByteSize).map_err(de::Error::custom),
        }
    }
}

fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let invalid = || format!("`{text}` is not a size: a number of bytes, or a number with kB, MB, GB or TB (\"10MB\")");
    let trimmed = text.trim();
    let digits = trimmed.find(|c: char| !c.is_ascii_digit()).unwrap_or(trimmed.len());
    let number: u64 = trimmed[..digits].parse().map_err(|_| invalid())?;
    let multiplier: u64 = match trimmed[digits..].trim() {
        "" | "B" => 1,
        "kB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return Err(invalid()),
    };
    number.checked_mul(multiplier).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_postgresql_writes_them() {
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert_eq!(parse_size("64 kB"), Ok(64 << 10));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("10mb").is_err(), "PostgreSQL's units are case-sensitive");
        assert!(parse_size("ten MB").is_err());
        assert!(parse_size("99999999999TB").is_err());
    }

    #[test]
    fn the_gate_is_on_by_default_only_where_it_matters() {
        assert!(ReviewSettings::defaults(EnvironmentKind::Production).gate);
        assert!(ReviewSettings::defaults(EnvironmentKind::Staging).gate);
        assert!(!ReviewSettings::defaults(EnvironmentKind::Development).gate);
        assert!(!ReviewSettings::defaults(EnvironmentKind::Test).gate);
    }
}
