//! One PostgreSQL cluster on disk, driven through initdb and pg_ctl: create it,
//! start it on a loopback port (and a unix socket), stop it, create databases in it.

use std::io::{self, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{PgBinaries, ServerAccount};
use crate::error::{Error, Result};

/// The superuser every cluster is created with; loopback connections are trusted.
pub const SUPERUSER: &str = "postgres";

/// Our settings live in their own file, included from postgresql.conf, so the
/// port can be changed without touching the rest.
const SETTINGS_FILE: &str = "praxia.conf";

/// Linux caps a unix socket path at 108 bytes including the final NUL.
const MAX_SOCKET_PATH: usize = 107;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync on: a development database that should survive a power cut.
    Durable,
    /// fsync and full-page writes off: a test cluster thrown away afterwards.
    Throwaway,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    Running { pid: u32 },
    Stopped,
}

#[derive(Debug, Clone)]
pub struct Cluster {
    pub data_dir: PathBuf,
    /// Where the server puts its unix socket; `None` when the path would be too long.
    pub socket_dir: Option<PathBuf>,
    pub log_file: PathBuf,
    pub binaries: PgBinaries,
    pub account: ServerAccount,
}

impl Cluster {
    /// A cluster whose data, socket and log all live under `dir`.
    pub fn in_dir(dir: &Path, binaries: PgBinaries, account: ServerAccount) -> Cluster {
        let socket_fits = dir.join(".s.PGSQL.65535").as_os_str().len() <= MAX_SOCKET_PATH;
        Cluster {
            data_dir: dir.join("data"),
            socket_dir: socket_fits.then(|| dir.to_path_buf()),
            log_file: dir.join("server.log"),
            binaries,
            account,
        }
    }

    pub fn exists(&self) -> bool {
        self.data_dir.join("PG_VERSION").is_file()
    }

    /// Runs initdb into a temporary folder beside the data folder and renames it
    /// into place, so an interrupted init never leaves a half-made cluster.
    pub fn init(&self, durability: Durability) -> Result<()> {
        let parent = self.data_dir.parent().expect("the data folder has a parent");
        std::fs::create_dir_all(parent).map_err(|err| Error::io("create", parent, err))?;
        self.account.check_reachable(parent)?;
        self.account.take_ownership(parent)?;

        let staging = parent.join(format!("data.init-{}", std::process::id()));
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(|err| Error::io("remove", &staging, err))?;
        }
        let output = self
            .account
            .command(&self.binaries.program("initdb"))
            .arg("-D")
            .arg(&staging)
            .args(["-U", SUPERUSER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
            .output()
            .map_err(|err| Error::io("run", &self.binaries.program("initdb"), err))?;
        if !output.status.success() {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(Error::internal(format!("initdb failed for {}", self.data_dir.display()))
                .note("initdb said", String::from_utf8_lossy(&output.stderr).trim())
                .help("check that the folder is writable and the disk has room, then run the command again"));
        }

        let include = format!("\n# praxia-deploy's settings (port, sockets, durability)\ninclude '{SETTINGS_FILE}'\n");
        let finished = append(&staging.join("postgresql.conf"), &include)
            .and_then(|()| self.write_settings(&staging, free_loopback_port()?, durability))
            .and_then(|()| {
                std::fs::rename(&staging, &self.data_dir)
                    .map_err(|err| Error::io("move into place", &self.data_dir, err))
            });
        if finished.is_err() {
            let _ = std::fs::remove_dir_all(&staging);
        }
        finished
    }

    /// The port written in our settings file.
    pub fn port(&self) -> Result<u16> {
        let path = self.data_dir.join(SETTINGS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|err| Error::io("read", &path, err))?;
        text.lines()
            .find_map(|line| line.strip_prefix("port = ")?.trim().parse().ok())
            .ok_or_else(|| Error::internal(format!("no `port = N` line in {}", path.display())))
    }

    pub fn state(&self) -> Result<ServerState> {
        let output = self.pg_ctl(&["status"])?;
        match output.status.code() {
            Some(0) => {
                let text = String::from_utf8_lossy(&output.stdout);
                let pid = text
                    .split("PID: ")
                    .nth(1)
                    .and_then(|rest| rest.split(')').next())
                    .and_then(|pid| pid.trim().parse().ok())
                    .unwrap_or(0);
                Ok(ServerState::Running { pid })
            }
            Some(3) | Some(4) => Ok(ServerState::Stopped),
            _ => Err(command_failed("pg_ctl status", &output)),
        }
    }

    /// Starts the server and waits until it accepts connections. If another program
    /// took the cluster's port while it was stopped, or takes it between our check
    /// and the server's bind (ports picked by other starts race for the same
    /// free ports), the cluster moves to a free one and tries again.
    pub fn start(&self) -> Result<()> {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            if !port_is_free(self.port()?) {
                self.move_to_free_port()?;
            }
            let log_before = std::fs::metadata(&self.log_file).map_or(0, |meta| meta.len());
            let output = self.pg_ctl(&["-l", &self.log_file.to_string_lossy(), "-w", "-t", "60", "-s", "start"])?;
            if output.status.success() {
                return Ok(());
            }
            let log = std::fs::read(&self.log_file).unwrap_or_default();
            let new_log = String::from_utf8_lossy(log.get(log_before as usize..).unwrap_or_default());
            if attempt < ATTEMPTS && new_log.contains("Address already in use") {
                tracing::info!("the cluster's port was taken as it started; moving to a free one");
                self.move_to_free_port()?;
                continue;
            }
            return Err(Error::unavailable(format!("PostgreSQL did not start ({})", self.data_dir.display()))
                .note("pg_ctl said", String::from_utf8_lossy(&output.stderr).trim())
                .note("server log (last lines)", self.log_tail(15))
                .help(format!("read {} for the whole story", self.log_file.display())));
        }
        unreachable!("the last attempt returns")
    }

    fn move_to_free_port(&self) -> Result<()> {
        let durability = self.durability()?;
        let port = free_loopback_port()?;
        tracing::info!(port, "moving the cluster to a free port");
        self.write_settings(&self.data_dir, port, durability)
    }

    /// Stops the server. `Fast` rolls back open transactions and shuts down cleanly;
    /// `Immediate` is for throwaway clusters.
    pub fn stop(&self, mode: StopMode) -> Result<()> {
        let mode = match mode {
            StopMode::Fast => "fast",
            StopMode::Immediate => "immediate",
        };
        let output = self.pg_ctl(&["-m", mode, "-w", "-t", "60", "-s", "stop"])?;
        if !output.status.success() {
            return Err(command_failed("pg_ctl stop", &output));
        }
        Ok(())
    }

    /// The argument list of `pg_ctl stop -m immediate` as this account runs it, for
    /// a watchdog process that must stop the server after its owner has exited.
    pub fn immediate_stop_command(&self) -> Command {
        let mut command = self.account.command(&self.binaries.program("pg_ctl"));
        command.arg("-D").arg(&self.data_dir).args(["-m", "immediate", "-s", "stop"]);
        command
    }

    /// A `postgres://` URL over loopback TCP that psql, sqlx and drizzle all accept.
    /// `sslmode=disable` keeps a `PGSSLMODE=require` in the user's shell from
    /// breaking the connection to a server that has no certificate.
    pub fn url(&self, database: &str) -> Result<String> {
        Ok(format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}?sslmode=disable", self.port()?))
    }

    /// Creates `database` unless it exists. Returns whether it was created.
    pub fn ensure_database(&self, database: &str) -> Result<bool> {
        let exists =
            self.psql(&format!("SELECT 1 FROM pg_database WHERE datname = '{}'", database.replace('\'', "''")))?;
        if exists.trim() == "1" {
            return Ok(false);
        }
        self.psql(&format!("CREATE DATABASE \"{}\"", database.replace('"', "\"\"")))?;
        Ok(true)
    }

    fn psql(&self, sql: &str) -> Result<String> {
        let program = self.binaries.program("psql");
        let output = Command::new(&program)
            .args([
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
            ])
            .arg("-p")
            .arg(self.port()?.to_string())
            .arg("-c")
            .arg(sql)
            .env_remove("PGPASSWORD")
            .env_remove("PGSERVICE")
            .env_remove("PGSSLMODE")
            .env_remove("PGOPTIONS")
            .output()
            .map_err(|err| Error::io("run", &program, err))?;
        if !output.status.success() {
            return Err(command_failed("psql", &output));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<Output> {
        let program = self.binaries.program("pg_ctl");
        self.account
            .command(&program)
            .arg("-D")
            .arg(&self.data_dir)
            .args(args)
            .output()
            .map_err(|err| Error::io("run", &program, err))
    }

    fn durability(&self) -> Result<Durability> {
        let path = self.data_dir.join(SETTINGS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|err| Error::io("read", &path, err))?;
        Ok(if text.contains("fsync = off") { Durability::Throwaway } else { Durability::Durable })
    }

    fn write_settings(&self, data_dir: &Path, port: u16, durability: Durability) -> Result<()> {
        let sockets = match &self.socket_dir {
            Some(dir) => dir.to_string_lossy().replace('\'', "''"),
            None => {
                tracing::warn!("the folder's path is too long for a unix socket; the server listens on TCP only");
                String::new()
            }
        };
        let mut text = format!(
            "# Written by praxia-deploy.\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{sockets}'\n"
        );
        if durability == Durability::Throwaway {
            text.push_str("fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n");
        }
        // Written beside and renamed over, so a crash never leaves it half-written.
        let path = data_dir.join(SETTINGS_FILE);
        let staging = data_dir.join(format!("{SETTINGS_FILE}.new"));
        std::fs::write(&staging, text).map_err(|err| Error::io("write", &staging, err))?;
        self.account.take_ownership(&staging)?;
        std::fs::rename(&staging, &path).map_err(|err| Error::io("write", &path, err))
    }

    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n    ")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    Fast,
    Immediate,
}

fn append(path: &Path, text: &str) -> Result<()> {
    let mut file = std::fs::OpenOptions::new().append(true).open(path).map_err(|err| Error::io("open", path, err))?;
    file.write_all(text.as_bytes()).map_err(|err| Error::io("write", path, err))
}

fn command_failed(what: &str, output: &Output) -> Error {
    let said = String::from_utf8_lossy(&output.stderr);
    Error::internal(format!("{what} failed ({})", output.status)).note("it said", said.trim())
}

/// A port nothing listens on right now (the kernel's pick).
pub fn free_loopback_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|err: io::Error| Error::internal(format!("could not find a free loopback port: {err}")))?;
    Ok(listener.local_addr().expect("a bound socket has an address").port())
}

fn port_is_free(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}
