//! Finding the machine's PostgreSQL server programs (initdb, pg_ctl, postgres, psql).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The programs every cluster operation needs.
const REQUIRED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// Where Debian and Ubuntu install each major version's server programs.
const DEBIAN_VERSIONS_DIR: &str = "/usr/lib/postgresql";

#[derive(Debug, Clone)]
pub struct PgBinaries {
    pub bindir: PathBuf,
}

impl PgBinaries {
    /// `PG_BIN` if set, else `pg_config --bindir`, else the newest `/usr/lib/postgresql/*/bin`.
    pub fn locate() -> Result<PgBinaries> {
        let mut looked = Vec::new();
        if let Some(dir) = std::env::var_os("PG_BIN").filter(|dir| !dir.is_empty()) {
            let dir = PathBuf::from(dir);
            return match missing_programs(&dir) {
                None => Ok(PgBinaries { bindir: dir }),
                Some(missing) => Err(Error::usage(format!("PG_BIN is {}, but {missing} is not there", dir.display()))
                    .help("set PG_BIN to the folder that holds initdb, pg_ctl and postgres, or unset it")),
            };
        }
        looked.push("$PG_BIN (unset)".to_owned());

        match pg_config_bindir() {
            Some(dir) => match missing_programs(&dir) {
                None => return Ok(PgBinaries { bindir: dir }),
                Some(missing) => looked.push(format!("pg_config --bindir ({}: no {missing})", dir.display())),
            },
            None => looked.push("pg_config --bindir (no pg_config on PATH)".to_owned()),
        }

        let versions: Vec<PathBuf> = std::fs::read_dir(DEBIAN_VERSIONS_DIR)
            .map(|entries| entries.filter_map(|entry| entry.ok().map(|entry| entry.path())).collect())
            .unwrap_or_default();
        let mut candidates = versions.clone();
        while let Some(version_dir) = newest_version_dir(&candidates) {
            let dir = version_dir.join("bin");
            if missing_programs(&dir).is_none() {
                return Ok(PgBinaries { bindir: dir });
            }
            candidates.retain(|candidate| candidate != &version_dir);
        }
        looked.push(format!("{DEBIAN_VERSIONS_DIR}/*/bin (no server programs)"));

        Err(Error::usage("no PostgreSQL server programs (initdb, pg_ctl, postgres) found on this machine")
            .note("looked in", looked.join("; "))
            .help(
                "install the server (Debian/Ubuntu: `apt-get install postgresql`; macOS: `brew install postgresql@15`), \
                 or set PG_BIN to the folder that holds initdb and pg_ctl",
            ))
    }

    pub fn program(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }

    /// `postgres --version`, e.g. `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`.
    pub fn version(&self) -> Result<String> {
        let output = Command::new(self.program("postgres"))
            .arg("--version")
            .output()
            .map_err(|err| Error::io("run", &self.program("postgres"), err))?;
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    Some(PathBuf::from(dir.trim()))
}

fn missing_programs(dir: &Path) -> Option<&'static str> {
    REQUIRED.into_iter().find(|program| !dir.join(program).is_file())
}

/// The folder whose name is the highest version number (`15` over `9.6`); others are ignored.
fn newest_version_dir(dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter()
        .filter_map(|dir| {
            let name = dir.file_name()?.to_str()?;
            let version: Option<Vec<u32>> = name.split('.').map(|part| part.parse().ok()).collect();
            Some((version?, dir))
        })
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, dir)| dir.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_version_wins_by_number_not_by_text() {
        let dirs: Vec<PathBuf> =
            ["/x/9.6", "/x/15", "/x/13", "/x/README", "/x/16beta"].iter().map(PathBuf::from).collect();
        assert_eq!(newest_version_dir(&dirs), Some(PathBuf::from("/x/15")));
        assert_eq!(newest_version_dir(&[PathBuf::from("/x/notes")]), None);
    }
}
