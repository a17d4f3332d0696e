//! A dump on disk: streamed into a `.partial` file while hashed, then checked by
//! the client that will one day restore it. A file that fails any step is removed.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::catalog::{Catalog, bookkeeping_hashes, parse_list};
use super::tools;
use crate::config::MigrationSettings;
use crate::error::{Error, ErrorKind, Result};

/// A dump written in full.
#[derive(Debug, Clone)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
}

/// Copies `stream` into `path` (which must not exist), hashing as it goes, and
/// syncs it to disk. On any failure the file is removed.
pub async fn write(mut stream: impl AsyncRead + Unpin, path: &Path) -> Result<Written> {
    // The dump holds password hashes and session tokens: readable by its owner only.
    // A file already there is someone else's: never written, never removed.
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|err| write_error(path, err))?;
    // While it is written, another run's sweep leaves it alone (a stalled stream writes nothing).
    let _ = file.try_lock();
    let mut file = tokio::fs::File::from_std(file);
    let result = async {
        let mut hasher = Sha256::new();
        let mut buffer = vec![0u8; 256 * 1024];
        let mut bytes = 0u64;
        loop {
            let read = stream
                .read(&mut buffer)
                .await
                .map_err(|err| Error::new(ErrorKind::Remote, "the dump stream broke off").note("reason", err))?;
            if read == 0 {
                break;
            }
            hasher.update(&buffer[..read]);
            file.write_all(&buffer[..read]).await.map_err(|err| write_error(path, err))?;
            bytes += read as u64;
        }
        file.flush().await.map_err(|err| write_error(path, err))?;
        file.sync_all().await.map_err(|err| write_error(path, err))?;
        Ok(Written { path: path.to_path_buf(), bytes, sha256: hex::encode(hasher.finalize()) })
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(path).await;
    }
    result
}

const SPACE: &str = "free space in the backup folder (or point [backup] dir elsewhere) and run it again";

fn write_error(path: &Path, err: std::io::Error) -> Error {
    let (reason, help) = match err.raw_os_error() {
        Some(nix::libc::ENOSPC) => ("the disk is full".to_owned(), SPACE),
        Some(nix::libc::EFBIG) => ("the file grew past the size this process may write (ulimit -f)".to_owned(), SPACE),
        Some(nix::libc::EDQUOT) => ("the disk quota is used up".to_owned(), SPACE),
        Some(nix::libc::EACCES | nix::libc::EPERM | nix::libc::EROFS) => {
            (err.to_string(), "make the backup folder writable by this user, or point [backup] dir elsewhere")
        }
        _ => (err.to_string(), "check the backup folder ([backup] dir) and run it again"),
    };
    Error::new(ErrorKind::Unavailable, format!("could not write the backup {}", path.display()))
        .note("reason", reason)
        .help(help)
}

/// What checking a dump found.
#[derive(Debug, Clone)]
pub struct Verified {
    pub catalog: Catalog,
    /// `pg_restore --list` as printed: what a restore may be told to leave out (`-L`).
    pub list: String,
    /// The bookkeeping table's `hash` column, in id order (empty when the dump has none).
    pub applied_hashes: Vec<String>,
}

/// Checks a dump as a restore would read it: not empty, its table of contents
/// read by `pg_restore --list`, every data block read through to the end (a
/// stream cut short fails here), and the bookkeeping rows it holds.
pub async fn verify(path: &Path, migrations: &MigrationSettings) -> Result<Verified> {
    let size = tokio::fs::metadata(path).await.map_err(|err| Error::io("read", path, err))?.len();
    if size == 0 {
        return Err(unverified(path, "the file is empty"));
    }
    let pg_restore = tools::program("pg_restore")?;
    let list = restore(&pg_restore, path, &["--list"]).await?;
    let catalog = parse_list(&list);
    restore(&pg_restore, path, &["--file=/dev/null"]).await?;
    let holds_rows =
        catalog.table_data.iter().any(|table| table.schema == *migrations.schema && table.name == *migrations.table);
    let applied_hashes = if holds_rows {
        let schema = format!("--schema={}", migrations.schema.as_str());
        let table = format!("--table={}", migrations.table.as_str());
        bookkeeping_hashes(&restore(&pg_restore, path, &["--data-only", &schema, &table, "--file=-"]).await?)
    } else {
        Vec::new()
    };
    Ok(Verified { catalog, list, applied_hashes })
}

/// Runs `pg_restore ARGS FILE` and returns its stdout, or why it failed.
pub(super) async fn restore(pg_restore: &Path, path: &Path, args: &[&str]) -> Result<String> {
    let output = tokio::process::Command::new(pg_restore)
        .args(args)
        .arg(path)
        .output()
        .await
        .map_err(|err| Error::io("run", pg_restore, err))?;
    if output.status.success() {
        return Ok(String::from_utf8_lossy(&output.stdout).into_owned());
    }
    let said = String::from_utf8_lossy(&output.stderr).trim().to_owned();
    let mut error =
        unverified(path, &format!("{} {} failed", pg_restore.display(), args.join(" "))).note("pg_restore said", &said);
    if said.contains("unsupported version") {
        let version = tools::major_version(pg_restore).map_or_else(|_| "this".to_owned(), |major| major.to_string());
        error = error.help(format!(
            "the dump was made by a newer pg_dump than this pg_restore ({version}): install the client of the server's version (Debian/Ubuntu: `apt-get install postgresql-client-<major>` from apt.postgresql.org), or set PG_BIN to it"
        ));
    }
    Err(error)
}

fn unverified(path: &Path, reason: &str) -> Error {
    Error::new(ErrorKind::Unavailable, format!("the backup {} does not verify", path.display()))
        .note("reason", reason)
        .help("nothing was migrated; take it again (`praxia-deploy backup`), and if it fails the same way, look at the database service's logs")
}
