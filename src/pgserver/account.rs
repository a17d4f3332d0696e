//! Which system account runs the PostgreSQL server. initdb and postgres refuse to
//! run as root, so as root they run as an unprivileged user (`postgres`) via runuser.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};

/// The unprivileged user the server runs as when this process is root.
pub const SERVER_USER: &str = "postgres";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAccount {
    /// This process is not root: run the programs directly.
    CurrentUser,
    /// This process is root: run the programs as this user, and hand it the folders.
    System { name: String, uid: u32, gid: u32 },
}

impl ServerAccount {
    pub fn for_this_process() -> Result<ServerAccount> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(ServerAccount::CurrentUser);
        }
        let (uid, gid) = lookup_user(SERVER_USER).ok_or_else(|| {
            Error::usage(format!(
                "running as root, and PostgreSQL refuses to run as root, but there is no `{SERVER_USER}` user to run it as"
            ))
            .help(format!(
                "create one (`useradd --system --home /var/lib/postgresql {SERVER_USER}`) or run as a normal user"
            ))
        })?;
        Ok(ServerAccount::System { name: SERVER_USER.to_owned(), uid, gid })
    }

    /// A command that runs `program` as this account.
    pub fn command(&self, program: &Path) -> Command {
        match self {
            ServerAccount::CurrentUser => Command::new(program),
            ServerAccount::System { name, .. } => {
                let mut command = Command::new("runuser");
                command.arg("-u").arg(name).arg("--").arg(program);
                command
            }
        }
    }

    /// Makes `dir` the server account's own (no-op for the current user).
    pub fn take_ownership(&self, dir: &Path) -> Result<()> {
        if let ServerAccount::System { uid, gid, .. } = self {
            std::os::unix::fs::chown(dir, Some(*uid), Some(*gid)).map_err(|err| Error::io("hand over", dir, err))?;
        }
        Ok(())
    }

    /// Fails with the folder to fix when the server account cannot reach `dir`
    /// (a checkout under /root, say, is not searchable by `postgres`).
    pub fn check_reachable(&self, dir: &Path) -> Result<()> {
        let ServerAccount::System { name, uid, gid } = self else {
            return Ok(());
        };
        for folder in dir.ancestors().skip(1) {
            let Ok(meta) = folder.metadata() else {
                continue;
            };
            if !is_searchable_by(meta.mode(), meta.uid(), meta.gid(), *uid, *gid) {
                return Err(Error::usage(format!(
                    "the `{name}` user that runs PostgreSQL cannot reach {}",
                    dir.display()
                ))
                .note("blocked by", format!("{} (mode {:o})", folder.display(), meta.mode() & 0o7777))
                .help(format!(
                    "let it through (`chmod o+x {}`), run praxia-deploy as a normal user, or use a checkout outside that folder",
                    folder.display()
                )));
            }
        }
        Ok(())
    }
}

fn is_searchable_by(mode: u32, owner: u32, group: u32, uid: u32, gid: u32) -> bool {
    if owner == uid {
        mode & 0o100 != 0
    } else if group == gid {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

fn lookup_user(name: &str) -> Option<(u32, u32)> {
    let user = nix::unistd::User::from_name(name).ok().flatten()?;
    Some((user.uid.as_raw(), user.gid.as_raw()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn searchable_follows_owner_then_group_then_others() {
        let (uid, gid) = (101, 104);
        assert!(is_searchable_by(0o700, 101, 0, uid, gid));
        assert!(!is_searchable_by(0o700, 0, 0, uid, gid));
        assert!(is_searchable_by(0o710, 0, 104, uid, gid));
        assert!(is_searchable_by(0o755, 0, 0, uid, gid));
        assert!(!is_searchable_by(0o750, 0, 0, uid, gid));
        assert!(!is_searchable_by(0o077, 101, 0, uid, gid), "the owner bits decide for the owner");
    }
}
