//! PostgreSQL's client programs (`pg_dump`, `pg_restore`): found the way the
//! embedded database finds the server's, and run with their words kept.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const DEBIAN_VERSIONS_DIR: &str = "/usr/lib/postgresql";

/// `PG_BIN/<name>` if PG_BIN is set, else `<name>` on PATH, else the newest
/// `/usr/lib/postgresql/*/bin/<name>`; none is an error saying how to install it.
pub fn program(name: &str) -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN").filter(|dir| !dir.is_empty()) {
        let path = Path::new(&dir).join(name);
        if path.is_file() {
            return Ok(path);
        }
        return Err(Error::usage(format!("PG_BIN is {}, but {name} is not there", Path::new(&dir).display()))
            .help(install_help(name)));
    }
    if let Some(path) = std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
    {
        return Ok(path);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_VERSIONS_DIR)
        .map(|entries| {
            entries
                .filter_map(|entry| entry.ok())
                .filter_map(|entry| {
                    let major = entry.file_name().to_str()?.parse().ok()?;
                    Some((major, entry.path().join("bin").join(name)))
                })
                .filter(|(_, path)| path.is_file())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().map(|(_, path)| path).ok_or_else(|| {
        Error::usage(format!("{name} is not installed on this machine"))
            .note("looked in", "$PATH, /usr/lib/postgresql/*/bin")
            .help(install_help(name))
    })
}

/// `program(name)` for a dump of (or a restore into) a server of `server_major`:
/// missing, the help names the client package of that major version.
pub fn program_for_server(name: &str, server_major: Option<u32>) -> Result<PathBuf> {
    program(name).map_err(|error| match server_major {
        Some(major) => error.help(server_install_help(name, major)),
        None => error,
    })
}

fn server_install_help(name: &str, major: u32) -> String {
    format!(
        "the server is PostgreSQL {major}: install its client programs, that major version or newer (Debian/Ubuntu: `apt-get install postgresql-client-{major}`, from apt.postgresql.org when the distribution lacks that version; in an image, in its Dockerfile's runtime stage), or set PG_BIN to the folder that holds {name}"
    )
}

fn install_help(name: &str) -> String {
    format!(
        "install PostgreSQL's client programs, the server's major version or newer (Debian/Ubuntu: `apt-get install postgresql-client`, or `postgresql-client-17` from apt.postgresql.org; macOS: `brew install libpq` and put its bin on PATH), or set PG_BIN to the folder that holds {name}"
    )
}

/// The major version a client program reports (`pg_restore (PostgreSQL) 15.18 ...` is 15).
pub fn major_version(program: &Path) -> Result<u32> {
    let output =
        std::process::Command::new(program).arg("--version").output().map_err(|err| Error::io("run", program, err))?;
    let text = String::from_utf8_lossy(&output.stdout);
    parse_major(&text).ok_or_else(|| Error::internal(format!("{} --version said {text:?}", program.display())))
}

/// `pg_dump (PostgreSQL) 17.5` -> 17, `... 9.6.24` -> 9.
pub fn parse_major(version: &str) -> Option<u32> {
    let number = version.split_whitespace().find(|word| word.starts_with(|c: char| c.is_ascii_digit()))?;
    number.split('.').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_versions_are_read_from_either_numbering() {
        assert_eq!(parse_major("pg_restore (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"), Some(15));
        assert_eq!(parse_major("pg_dump (PostgreSQL) 17.5"), Some(17));
        assert_eq!(parse_major("15.18 (Debian 15.18-0+deb12u1)"), Some(15));
        assert_eq!(parse_major("nothing"), None);
    }
}
