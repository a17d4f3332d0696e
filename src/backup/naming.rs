//! Backup file names and which old ones go: pure.
//!
//! `<app>-<YYYYMMDDTHHMMSSZ>-<newest applied tag>.dump`: sorted by name is sorted
//! by time, and the name says what the dump holds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The extension of a finished backup; one still being written ends in `.partial`.
pub const EXTENSION: &str = ".dump";
pub const PARTIAL: &str = ".partial";
/// The `sha256sum`-format file written beside each backup.
pub const CHECKSUM: &str = ".sha256";

/// When a backup was taken, to the second, as its file name writes it.
pub fn timestamp(at: SystemTime) -> String {
    let seconds = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_secs();
    let rfc = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(seconds)).to_string();
    // 2026-12-01T11:25:05Z -> 20261201T112505Z
    rfc.chars().filter(|c| !matches!(c, '-' | ':')).collect()
}

/// The file name of a finished backup. `tag` is the newest applied migration;
/// a database with none is `empty`.
pub fn file_name(app: &str, taken_at: SystemTime, tag: Option<&str>) -> String {
    let tag: String = tag
        .unwrap_or("empty")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-') { c } else { '_' })
        .collect();
    format!("{app}-{}-{tag}{EXTENSION}", timestamp(taken_at))
}

/// Whether `name` is a finished backup of `app` (and not of an app whose name
/// merely starts the same), and its timestamp.
fn backup_time<'n>(name: &'n str, app: &str) -> Option<&'n str> {
    let rest = name.strip_prefix(app)?.strip_prefix('-')?;
    rest.strip_suffix(EXTENSION)?;
    let time = rest.get(..16)?;
    let shaped = time.len() == 16
        && time.char_indices().all(|(i, c)| match i {
            8 => c == 'T',
            15 => c == 'Z',
            _ => c.is_ascii_digit(),
        });
    (shaped && rest[16..].starts_with('-')).then_some(time)
}

/// The backups of `app` among `names`, newest first (by the time in the name).
pub fn backups_newest_first<'n>(names: &'n [String], app: &str) -> Vec<&'n str> {
    let mut backups: Vec<(&str, &str)> =
        names.iter().filter_map(|name| backup_time(name, app).map(|time| (time, name.as_str()))).collect();
    backups.sort();
    backups.into_iter().rev().map(|(_, name)| name).collect()
}

/// When the backup named `name` was taken (unix seconds), from the time in its
/// name (`-YYYYMMDDTHHMMSSZ-`), whatever the app.
pub fn taken_at(name: &str) -> Option<u64> {
    let bytes = name.as_bytes();
    (0..bytes.len().saturating_sub(17)).find_map(|start| {
        let time = name.get(start + 1..start + 17)?;
        let shaped = bytes[start] == b'-'
            && bytes.get(start + 17) == Some(&b'-')
            && time.char_indices().all(|(i, c)| match i {
                8 => c == 'T',
                15 => c == 'Z',
                _ => c.is_ascii_digit(),
            });
        if !shaped {
            return None;
        }
        let rfc = format!(
            "{}-{}-{}T{}:{}:{}Z",
            &time[0..4],
            &time[4..6],
            &time[6..8],
            &time[9..11],
            &time[11..13],
            &time[13..15]
        );
        let at = humantime::parse_rfc3339(&rfc).ok()?;
        Some(at.duration_since(UNIX_EPOCH).ok()?.as_secs())
    })
}

/// The backups of `app` among `files` (name, modification time) to remove so
/// that the newest `keep` stay, oldest first: by when each was written (a file
/// copied in with a name from the future, or a clock stepped back, cannot push
/// out newer ones), then by the time in its name. `just_taken` is never chosen;
/// nor is a file that is not one of `app`'s backups.
pub fn to_remove(files: &[(String, SystemTime)], app: &str, keep: usize, just_taken: &str) -> Vec<String> {
    let mut backups: Vec<(SystemTime, &str, &String)> = files
        .iter()
        .filter(|(name, _)| name != just_taken)
        .filter_map(|(name, modified)| backup_time(name, app).map(|time| (*modified, time, name)))
        .collect();
    backups.sort();
    // The one just taken counts among those kept.
    let excess = (backups.len() + 1).saturating_sub(keep.max(1));
    backups.into_iter().take(excess).map(|(_, _, name)| name.clone()).collect()
}

/// How long a partial file may go unwritten before it is taken for a killed run's.
pub const PARTIAL_ABANDONED_AFTER: Duration = Duration::from_secs(3600);

/// The partial files of `app`'s killed runs: exactly the name `take` writes
/// (`<app>-<timestamp>-<32 hex>.dump.partial`), unwritten for `PARTIAL_ABANDONED_AFTER`.
pub fn abandoned_partials(files: &[(String, SystemTime)], app: &str, now: SystemTime) -> Vec<String> {
    files
        .iter()
        .filter(|(name, modified)| {
            let Some(rest) = name.strip_prefix(app).and_then(|rest| rest.strip_prefix('-')) else { return false };
            let Some(stem) = rest.strip_suffix(PARTIAL).and_then(|rest| rest.strip_suffix(EXTENSION)) else {
                return false;
            };
            let Some((stamp, id)) = stem.split_once('-') else { return false };
            let ours = stamp.len() == 16
                && stamp.ends_with('Z')
                && id.len() == 32
                && id.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
            ours && now.duration_since(*modified).is_ok_and(|idle| idle > PARTIAL_ABANDONED_AFTER)
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// `name`, or `name` with `-2`, `-3`... before the extension: the first that `exists` says is free.
pub fn unused(name: &str, exists: impl Fn(&str) -> bool) -> String {
    if !exists(name) {
        return name.to_owned();
    }
    let stem = name.strip_suffix(EXTENSION).unwrap_or(name);
    (2..).map(|n| format!("{stem}-{n}{EXTENSION}")).find(|candidate| !exists(candidate)).expect("a free name")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backups_time_is_read_from_its_name() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        let name = file_name("praxia-api-2", at, Some("0004_add_x"));
        assert_eq!(taken_at(&name), Some(1_796_000_000));
        assert_eq!(taken_at("praxia-api.dump"), None);
        let names = vec![
            file_name("app", at, Some("0001")),
            file_name("app", at + Duration::from_secs(60), Some("0002")),
            file_name("app-other", at + Duration::from_secs(120), Some("0003")),
        ];
        assert_eq!(backups_newest_first(&names, "app"), vec![names[1].as_str(), names[0].as_str()]);
    }

    #[test]
    fn names_sort_by_time_and_say_what_they_hold() {
        let at = UNIX_EPOCH + Duration::from_secs(1_764_588_305);
        assert_eq!(file_name("praxia-api", at, Some("0002_add_x")), "praxia-api-20251201T112505Z-0002_add_x.dump");
        assert_eq!(file_name("praxia-api", at, None), "praxia-api-20251201T112505Z-empty.dump");
        assert_eq!(file_name("a", at, Some("../../x y")), "a-20251201T112505Z-______x_y.dump");
    }

    #[test]
    fn only_our_own_partial_files_left_long_ago_are_abandoned() {
        let now = UNIX_EPOCH + Duration::from_secs(100_000);
        let at = |seconds_ago: u64| now - Duration::from_secs(seconds_ago);
        let id = "0123456789abcdef0123456789abcdef";
        let files: Vec<(String, SystemTime)> = vec![
            (format!("api-20251204T100000Z-{id}.dump.partial"), at(7200)),
            (format!("api-20251204T110000Z-{id}.dump.partial"), at(60)),
            ("api-20251204T100000Z-0002_b.dump.partial".to_owned(), at(7200)),
            (format!("other-20251204T100000Z-{id}.dump.partial"), at(7200)),
            (format!("api-20251204T100000Z-{id}.dump"), at(7200)),
        ];
        assert_eq!(abandoned_partials(&files, "api", now), [format!("api-20251204T100000Z-{id}.dump.partial")]);
    }

    #[test]
    fn rotation_keeps_the_newest_and_touches_nothing_else() {
        let written = |seconds: u64| UNIX_EPOCH + Duration::from_secs(seconds);
        let files: Vec<(String, SystemTime)> = [
            ("api-20251201T100000Z-0001_a.dump", 1),
            ("api-20251202T100000Z-0001_a.dump", 2),
            ("api-20251203T100000Z-0002_b.dump", 3),
            ("api-20251204T100000Z-0002_b.dump.partial", 4),
            ("api-20251204T100000Z-0002_b.dump.sha256", 4),
            ("api-staging-20251101T100000Z-0001_a.dump", 1),
            ("api-notes.txt", 1),
            ("other-20250101T000000Z-x.dump", 1),
        ]
        .iter()
        .map(|(name, at)| ((*name).to_owned(), written(*at)))
        .collect();
        let taken = "api-20251203T100000Z-0002_b.dump";
        assert_eq!(to_remove(&files, "api", 2, taken), ["api-20251201T100000Z-0001_a.dump"]);
        assert_eq!(
            to_remove(&files, "api", 1, taken),
            ["api-20251201T100000Z-0001_a.dump", "api-20251202T100000Z-0001_a.dump"]
        );
        assert_eq!(to_remove(&files, "api", 3, taken), Vec::<String>::new());
        assert_eq!(to_remove(&files, "api-staging", 0, "none"), ["api-staging-20251101T100000Z-0001_a.dump"]);
    }

    #[test]
    fn the_backup_just_taken_is_never_removed_whatever_the_names_say() {
        // A file copied in with a name from the future, older on disk.
        let files = vec![
            ("api-20990101T000000Z-copied.dump".to_owned(), UNIX_EPOCH + Duration::from_secs(1)),
            ("api-20251201T100000Z-0001_a.dump".to_owned(), UNIX_EPOCH + Duration::from_secs(2)),
        ];
        assert_eq!(
            to_remove(&files, "api", 1, "api-20251201T100000Z-0001_a.dump"),
            ["api-20990101T000000Z-copied.dump"]
        );
    }

    #[test]
    fn two_backups_in_one_second_keep_both_and_rotate_by_when_written() {
        let taken = "api-20251201T100000Z-0001_a.dump";
        let second = unused(taken, |name| name == taken);
        assert_eq!(second, "api-20251201T100000Z-0001_a-2.dump");
        let files = vec![
            (second.clone(), UNIX_EPOCH + Duration::from_secs(2)),
            (taken.to_owned(), UNIX_EPOCH + Duration::from_secs(1)),
        ];
        assert_eq!(to_remove(&files, "api", 1, &second), [taken]);
    }
}
