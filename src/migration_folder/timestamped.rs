//! drizzle 1.0's layout ("folders v3"): one folder per migration,
//! `<YYYYMMDDHHMMSS>_<name>/migration.sql` and its `snapshot.json`, no journal.
//! Read as drizzle-orm 1.0's `readMigrationFiles` reads it: every subfolder that
//! holds a `migration.sql`, in name order, its time from the first 14 characters (UTC).

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, NaiveDateTime};

use super::{Migration, MigrationSource, Subfolder, parse_migration};
use crate::error::{Error, Result};

pub const MIGRATION_FILE: &str = "migration.sql";
pub const SNAPSHOT_FILE: &str = "snapshot.json";

const TIMESTAMP_FORMAT: &str = "%Y%m%d%H%M%S";

/// `ms` since the epoch as the folder timestamp drizzle-kit writes: UTC, to the
/// second. Callers pass times of years 1970-9999 (the journal reader checks them).
pub fn timestamp_of(ms: i64) -> String {
    use chrono::{Datelike, Timelike};
    // Written out by hand: chrono's format strings are parsed on every call, and a
    // journal of a thousand entries names a thousand folders.
    DateTime::from_timestamp_millis(ms).map_or_else(
        || "00000000000000".to_owned(),
        |t| format!("{:04}{:02}{:02}{:02}{:02}{:02}", t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second()),
    )
}

/// The migration's time from its folder name's first 14 characters, as drizzle's
/// `formatToMillis` computes it; None when they are not a real UTC date and time.
pub fn millis_of(folder_name: &str) -> Option<i64> {
    let digits = folder_name.get(..14)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // chrono reads second 60 as a leap second; drizzle's Date.UTC rolls it into the next minute.
    if digits[12..14] >= *"60" {
        return None;
    }
    let time = NaiveDateTime::parse_from_str(digits, TIMESTAMP_FORMAT).ok()?;
    Some(time.and_utc().timestamp_millis())
}

/// Parses the folder-per-migration layout. `subfolders` are every subfolder but
/// hidden ones, by name.
pub(super) fn parse(dir: &Path, subfolders: BTreeMap<String, Subfolder>) -> Result<Vec<Migration>> {
    let mut migrations: Vec<Migration> = Vec::with_capacity(subfolders.len());
    for (name, subfolder) in subfolders {
        let name = &name;
        let folder = dir.join(name);
        let Some(bytes) = subfolder.migration_sql else {
            return Err(Error::integrity(format!("the migration folder {} has no {MIGRATION_FILE}", folder.display()))
                .help("drizzle would skip it silently; restore its migration.sql from version control, or delete the folder if it is not a migration"));
        };
        let valid_suffix = name.len() == 14 || name.as_bytes().get(14) == Some(&b'_');
        let Some(when) = millis_of(name).filter(|_| valid_suffix) else {
            return Err(Error::integrity(format!(
                "the migration folder {} does not start with a UTC timestamp (YYYYMMDDHHMMSS_name)",
                folder.display()
            ))
            .help("drizzle orders and times migrations by the first 14 characters of the folder name; name it as drizzle-kit does, e.g. 20250101093000_add_profiles (only if it was never applied anywhere)"));
        };
        if let Some(previous) = migrations.last()
            && previous.when == when
            && !same_order_for_drizzle(&previous.tag, name)
        {
            return Err(Error::integrity(format!(
                "the migrations {} and {name} share the timestamp {} and drizzle-orm 1.0 would order them differently",
                previous.tag,
                &name[..14]
            ))
            .note("folder", folder.display())
            .help("drizzle sorts folder names by locale rules (`_` before digits before letters, case ignored first), praxia-deploy by bytes, and here they disagree: rename the one that was not applied anywhere yet to a later timestamp (an applied folder keeps its name: its bookkeeping row refers to it)"));
        }
        let source = MigrationSource {
            tag: name.clone(),
            name: name.clone(),
            when,
            file: folder.join(MIGRATION_FILE),
            snapshot: folder.join(SNAPSHOT_FILE),
        };
        migrations.push(parse_migration(source, bytes)?);
    }
    Ok(migrations)
}

/// Whether drizzle-orm 1.0's `localeCompare` (ICU's root collation: punctuation
/// before digits before letters, letters compared case-blind first, lower case
/// before upper case last) puts `a` before `b` as byte order does. Names outside
/// ASCII letters, digits and `_` are not guessed at.
pub fn same_order_for_drizzle(a: &str, b: &str) -> bool {
    fn key(c: char) -> Option<(u8, char)> {
        match c {
            '_' => Some((0, c)),
            '0'..='9' => Some((1, c)),
            'a'..='z' | 'A'..='Z' => Some((2, c.to_ascii_lowercase())),
            _ => None,
        }
    }
    let (Some(primary_a), Some(primary_b)) =
        (a.chars().map(key).collect::<Option<Vec<_>>>(), b.chars().map(key).collect::<Option<Vec<_>>>())
    else {
        return false;
    };
    let locale = primary_a.cmp(&primary_b).then_with(|| {
        let case = |text: &str| text.chars().map(|c| c.is_ascii_uppercase()).collect::<Vec<_>>();
        case(a).cmp(&case(b))
    });
    locale == a.cmp(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_times_are_utc_seconds_both_ways() {
        assert_eq!(millis_of("20251101000000_better_auth"), Some(1_761_955_200_000));
        assert_eq!(millis_of("20231114221320"), Some(1_700_000_000_000));
        assert_eq!(timestamp_of(1_700_000_000_999), "20231114221320");
        for bad in [
            "2025110100000_x",
            "2025110100000x_x",
            "20251301000000_x",
            "20250230000000_x",
            "20250101240000_x",
            "20251231235960_x",
            "x",
        ] {
            assert_eq!(millis_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn same_second_folders_are_accepted_where_drizzles_locale_order_agrees_with_bytes() {
        let agree = [("x_add_a", "x_add_b"), ("x_add", "x_add_b"), ("x_a1", "x_a2"), ("x_ab", "x_b")];
        for (a, b) in agree {
            assert!(same_order_for_drizzle(a, b), "{a} {b}");
        }
        // Bytes: '1' < '_' and 'B' < 'a'; the locale: '_' < '1' and 'a' < 'B'.
        for (a, b) in [("x_a1", "x_a_"), ("x_B", "x_a"), ("x_é", "x_f")] {
            assert!(!same_order_for_drizzle(a, b), "{a} {b}");
        }
    }
}
