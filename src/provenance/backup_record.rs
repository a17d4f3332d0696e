//! A backup as the migration log keeps it, and as the laptop tells the
//! one-off container about the backup it just took (`--after-backup`).

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupRecord {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    /// RFC 3339, UTC, to the second.
    pub taken_at: String,
}

impl BackupRecord {
    pub fn new(file: String, bytes: u64, sha256: String, at: SystemTime) -> BackupRecord {
        let seconds = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
        let taken_at = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds)).to_string();
        BackupRecord { file, bytes, sha256, taken_at }
    }

    /// `FILE,BYTES,SHA256,TAKEN_AT`: one word Dokku's re-split leaves intact.
    pub fn to_argument(&self) -> String {
        format!("{},{},{},{}", self.file, self.bytes, self.sha256, self.taken_at)
    }
}

impl std::fmt::Display for BackupRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_argument())
    }
}

impl FromStr for BackupRecord {
    type Err = String;

    fn from_str(text: &str) -> Result<BackupRecord, String> {
        let invalid = || format!("`{text}` is not FILE,BYTES,SHA256,TAKEN_AT (as `backup` writes it)");
        let parts: Vec<&str> = text.split(',').collect();
        let [file, bytes, sha256, taken_at] = parts.as_slice() else {
            return Err(invalid());
        };
        let safe_name = !file.is_empty()
            && file.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !file.starts_with('.');
        let hex = sha256.len() == 64 && sha256.chars().all(|c| c.is_ascii_hexdigit());
        let time = humantime::parse_rfc3339(taken_at).is_ok();
        match (safe_name, bytes.parse::<u64>(), hex, time) {
            (true, Ok(bytes), true, true) => Ok(BackupRecord {
                file: (*file).to_owned(),
                bytes,
                sha256: (*sha256).to_owned(),
                taken_at: (*taken_at).to_owned(),
            }),
            _ => Err(invalid()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_argument_form_round_trips_and_refuses_anything_else() {
        let record = BackupRecord::new(
            "api-20261201T112505Z-0001_a.dump".to_owned(),
            4096,
            "ab".repeat(32),
            UNIX_EPOCH + Duration::from_secs(1_764_588_305),
        );
        assert_eq!(record.taken_at, "2025-12-01T11:25:05Z");
        assert_eq!(record.to_argument().parse::<BackupRecord>(), Ok(record.clone()));
        for bad in ["", "a,b,c", "../x.dump,1,aa,2025-12-01T11:25:05Z", &record.to_argument().replace("4096", "-1")] {
            assert!(bad.parse::<BackupRecord>().is_err(), "{bad}");
        }
    }
}
