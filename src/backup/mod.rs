//! Backups: a dump of the database streamed to a file (from `dokku
//! postgres:export` over SSH, or `pg_dump` here), verified by the client that
//! will restore it, named after what it holds, rotated; and the restore drill
//! that proves it restores.

pub mod archive;
pub mod catalog;
pub mod drill;
pub mod naming;
pub mod sources;
pub mod tools;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;
use tokio::io::AsyncRead;

use crate::provenance::BackupRecord;

use crate::config::Environment;
use crate::error::{Error, Result};
use crate::migration_folder::MigrationFolder;

/// A backup taken and verified.
#[derive(Debug, Clone, Serialize)]
pub struct Taken {
    pub record: BackupRecord,
    pub path: PathBuf,
    /// The newest migration applied in the dumped database (None: none applied).
    pub newest_tag: Option<String>,
    pub tables: usize,
    /// Older backups removed to keep `[backup] keep` of them.
    pub removed: Vec<String>,
}

/// Streams a dump from `stream` into `dir` as `app`'s backup, waits for its
/// producer to end well (`finished`), verifies it, names it after the newest
/// applied migration in it, and rotates. Nothing is left behind on failure.
pub async fn take(
    env: &Environment,
    folder: &MigrationFolder,
    dir: &Path,
    app: &str,
    stream: impl AsyncRead + Unpin,
    finished: impl Future<Output = Result<()>>,
) -> Result<Taken> {
    // Before anything is dumped: what will verify it.
    tools::program("pg_restore")?;
    tokio::fs::create_dir_all(dir).await.map_err(|err| Error::io("create", dir, err))?;
    let taken_at = SystemTime::now();
    // Unique: two backups in one second must not write (or remove) each other's file.
    let partial = dir.join(format!(
        "{app}-{}-{}{}{}",
        naming::timestamp(taken_at),
        uuid::Uuid::new_v4().simple(),
        naming::EXTENSION,
        naming::PARTIAL
    ));
    // Interrupted, the partial file goes (and the producer with the stream).
    let (written, ended) = tokio::select! {
        both = async { tokio::join!(archive::write(stream, &partial), finished) } => both,
        signal = crate::signals::interrupted() => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(Error::new(crate::error::ErrorKind::Unavailable, format!("the backup was interrupted by {signal}"))
                .note("nothing was migrated", "the partial file was removed"));
        }
    };
    let written = match (written, ended) {
        (Ok(written), Ok(())) => written,
        (Err(error), _) | (Ok(_), Err(error)) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(error.note("nothing was migrated", "the partial file was removed"));
        }
    };
    // Held while the dump is checked: a long check writes nothing, and another run's
    // sweep must not take the file for a killed run's.
    let _held = try_lock(&partial);
    let verified = match archive::verify(&written.path, &env.migrations).await {
        Ok(verified) => verified,
        Err(error) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(error);
        }
    };
    let newest_tag = verified.applied_hashes.last().map(|hash| {
        folder
            .migrations
            .iter()
            .find(|migration| &migration.hash == hash)
            .map_or_else(|| "unknown".to_owned(), |migration| migration.tag.clone())
    });
    let name = match keep_under_free_name(&partial, dir, &naming::file_name(app, taken_at, newest_tag.as_deref())) {
        Ok(name) => name,
        Err(err) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(Error::io("rename", &partial, err));
        }
    };
    let path = dir.join(&name);
    let checksum = dir.join(format!("{name}{}", naming::CHECKSUM));
    write_private(&checksum, format!("{}  {name}\n", written.sha256).as_bytes())
        .map_err(|err| Error::io("write", &checksum, err))?;
    // The backup is good whatever happens here: a rotation that fails only warns.
    let removed = match rotate(dir, app, env.backup.keep, &name).await {
        Ok(removed) => removed,
        Err(error) => {
            tracing::warn!("could not remove older backups: {error}");
            Vec::new()
        }
    };
    Ok(Taken {
        record: BackupRecord::new(name, written.bytes, written.sha256, taken_at),
        path,
        newest_tag,
        tables: verified.catalog.tables.len(),
        removed,
    })
}

/// Gives `partial` its final name in `dir`: `wanted`, or the next free one. A
/// link fails rather than replace a file, so two runs finishing in the same
/// second never take the same name (a rename would overwrite the other's dump).
fn keep_under_free_name(partial: &Path, dir: &Path, wanted: &str) -> std::io::Result<String> {
    for _ in 0..100 {
        let name = naming::unused(wanted, |name| dir.join(name).exists());
        match std::fs::hard_link(partial, dir.join(&name)) {
            Ok(()) => {
                // The dump is kept either way; a partial name left behind is swept later.
                if let Err(err) = std::fs::remove_file(partial) {
                    tracing::warn!("could not remove {}: {err}", partial.display());
                }
                return Ok(name);
            }
            // Another run took it between the look and the link: the next one.
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(err),
        }
    }
    Err(std::io::Error::new(std::io::ErrorKind::AlreadyExists, format!("no free name for {wanted}")))
}

/// Writes `bytes` to a new file readable by its owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(bytes)
}

/// An exclusive lock on `path`, if no other process holds one: held until the file is dropped.
fn try_lock(path: &Path) -> Option<std::fs::File> {
    let file = std::fs::File::open(path).ok()?;
    file.try_lock().ok()?;
    Some(file)
}

/// Removes the oldest backups of `app` in `dir` beyond `keep` (never `just_taken`),
/// with their checksum files.
async fn rotate(dir: &Path, app: &str, keep: usize, just_taken: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    let mut entries = tokio::fs::read_dir(dir).await.map_err(|err| Error::io("read", dir, err))?;
    while let Some(entry) = entries.next_entry().await.map_err(|err| Error::io("read", dir, err))? {
        let modified =
            entry.metadata().await.and_then(|metadata| metadata.modified()).unwrap_or(SystemTime::UNIX_EPOCH);
        if let Some(name) = entry.file_name().to_str() {
            names.push((name.to_owned(), modified));
        }
    }
    for name in naming::abandoned_partials(&names, app, SystemTime::now()) {
        // A run still at work holds a lock on its partial file (a long check writes nothing).
        let Some(_held) = try_lock(&dir.join(&name)) else { continue };
        if tokio::fs::remove_file(dir.join(&name)).await.is_ok() {
            tracing::info!("removed {name}, left by a backup that was killed");
        }
    }
    let removed = naming::to_remove(&names, app, keep, just_taken);
    for name in &removed {
        let path = dir.join(name);
        tokio::fs::remove_file(&path).await.map_err(|err| Error::io("remove", &path, err))?;
        let _ = tokio::fs::remove_file(dir.join(format!("{name}{}", naming::CHECKSUM))).await;
    }
    Ok(removed)
}

/// The name backups are filed under: the Dokku app, or `praxia-<environment>`.
pub fn app_name(env: &Environment) -> String {
    env.dokku.as_ref().map_or_else(|| format!("praxia-{}", env.name), |dokku| dokku.app.to_string())
}

/// How to put a backup back: on the Dokku host, from here over SSH, or into a
/// plain database URL.
pub fn restore_commands(
    file: &Path,
    service: Option<&str>,
    dokku: Option<&crate::config::DokkuSettings>,
) -> Vec<String> {
    let mut commands = Vec::new();
    if let Some(service) = service {
        commands.push(format!("dokku postgres:import {service} < {}", file.display()));
        if let Some(dokku) = dokku {
            let port = dokku.port.map_or(String::new(), |port| format!(" -p {port}"));
            commands.push(format!(
                "ssh{port} {}@{} postgres:import {service} < {}",
                dokku.user,
                dokku.host.as_str(),
                file.display()
            ));
        }
    }
    commands.push(format!(
        "pg_restore --clean --if-exists --no-owner --no-acl --single-transaction --dbname \"$DATABASE_URL\" {}",
        file.display()
    ));
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_final_name_another_run_holds_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let partial = dir.path().join("app-x.dump.partial");
        std::fs::write(&partial, "ours").unwrap();
        std::fs::write(dir.path().join("app-1.dump"), "theirs").unwrap();
        let name = keep_under_free_name(&partial, dir.path(), "app-1.dump").unwrap();
        assert_ne!(name, "app-1.dump");
        assert_eq!(std::fs::read_to_string(dir.path().join("app-1.dump")).unwrap(), "theirs");
        assert_eq!(std::fs::read_to_string(dir.path().join(&name)).unwrap(), "ours");
        assert!(!partial.exists());
    }
}
