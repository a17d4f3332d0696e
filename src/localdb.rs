//! The embedded development Postgres: one cluster per checkout under
//! `.praxia/postgres/`, one database per environment in it.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::Environment;
use crate::error::{Error, Result};
use crate::pgserver::{Cluster, Durability, PgBinaries, ServerAccount, ServerState, StopMode};

/// Relative to the project root; git-ignored.
pub const LOCAL_DIR: &str = ".praxia/postgres";

pub struct LocalDatabase {
    dir: PathBuf,
    cluster: Cluster,
}

#[derive(Debug, Serialize)]
pub struct Started {
    pub url: String,
    pub database: String,
    /// The cluster was created by this call.
    pub initialised: bool,
    /// The server was already running.
    pub already_running: bool,
    pub database_created: bool,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub dir: PathBuf,
    pub initialised: bool,
    pub running: bool,
    pub pid: Option<u32>,
    pub port: Option<u16>,
    pub socket_dir: Option<PathBuf>,
    pub server_version: String,
}

impl LocalDatabase {
    pub fn for_project(root: &Path) -> Result<LocalDatabase> {
        let dir = root.join(LOCAL_DIR);
        let cluster = Cluster::in_dir(&dir, PgBinaries::locate()?, ServerAccount::for_this_process()?);
        Ok(LocalDatabase { dir, cluster })
    }

    /// Creates the cluster if needed, starts it if stopped, and makes sure the
    /// environment's database exists. Safe to run any number of times, even at once.
    pub fn start(&self, env: &Environment) -> Result<Started> {
        let database = database_name(env)?;
        let _lock = self.lock()?;
        let initialised = !self.cluster.exists();
        if initialised {
            tracing::info!(dir = %self.dir.display(), "creating the development PostgreSQL cluster");
            self.cluster.init(Durability::Durable)?;
        }
        let already_running = matches!(self.cluster.state()?, ServerState::Running { .. });
        if !already_running {
            tracing::info!(port = self.cluster.port()?, "starting the development PostgreSQL");
            self.cluster.start()?;
        }
        let database_created = self.cluster.ensure_database(&database)?;
        Ok(Started { url: self.cluster.url(&database)?, database, initialised, already_running, database_created })
    }

    /// Creates the cluster if needed and starts it if stopped, for a scratch
    /// database of the caller's own (the restore drill, drift's replay). Returns
    /// the URL of `database` on it, which the caller creates and drops.
    pub fn start_for_scratch(&self, database: &str) -> Result<String> {
        let _lock = self.lock()?;
        if !self.cluster.exists() {
            tracing::info!(dir = %self.dir.display(), "creating the development PostgreSQL cluster");
            self.cluster.init(Durability::Durable)?;
        }
        if !matches!(self.cluster.state()?, ServerState::Running { .. }) {
            tracing::info!(port = self.cluster.port()?, "starting the development PostgreSQL");
            self.cluster.start()?;
        }
        self.cluster.url(database)
    }

    /// Stops the server, keeping the data. Returns whether it was running.
    pub fn stop(&self) -> Result<bool> {
        let _lock = self.lock()?;
        if !self.cluster.exists() || self.cluster.state()? == ServerState::Stopped {
            return Ok(false);
        }
        self.cluster.stop(StopMode::Fast)?;
        Ok(true)
    }

    pub fn status(&self) -> Result<Status> {
        let initialised = self.cluster.exists();
        let state = if initialised { self.cluster.state()? } else { ServerState::Stopped };
        Ok(Status {
            dir: self.dir.clone(),
            initialised,
            running: matches!(state, ServerState::Running { .. }),
            pid: match state {
                ServerState::Running { pid } => Some(pid),
                ServerState::Stopped => None,
            },
            port: if initialised { Some(self.cluster.port()?) } else { None },
            socket_dir: self.cluster.socket_dir.clone(),
            server_version: self.cluster.binaries.version()?,
        })
    }

    /// The environment's URL; the cluster must exist (it need not be running).
    pub fn url(&self, env: &Environment) -> Result<String> {
        if !self.cluster.exists() {
            return Err(Error::usage(format!("there is no development database in {} yet", self.dir.display()))
                .help(format!("create and start it with `praxia-deploy db start --env {}`", env.name)));
        }
        self.cluster.url(&database_name(env)?)
    }

    pub fn is_running(&self) -> Result<bool> {
        Ok(self.cluster.exists() && matches!(self.cluster.state()?, ServerState::Running { .. }))
    }

    /// Serialises start and stop across processes (two commands starting the
    /// database at once must not both run initdb).
    fn lock(&self) -> Result<FileLock> {
        let parent = self.dir.parent().expect("the local folder has a parent");
        std::fs::create_dir_all(parent).map_err(|err| Error::io("create", parent, err))?;
        FileLock::acquire(&parent.join("postgres.lock"))
    }
}

/// `praxia_<environment>`: one database per environment in the shared cluster.
/// Only development and test environments have one.
pub fn database_name(env: &Environment) -> Result<String> {
    if !env.kind.uses_embedded_database() {
        return Err(Error::usage(format!(
            "the embedded database serves development and test environments; `{}` is {}",
            env.name, env.kind
        ))
        .help(format!("{} talks to the database in ${}", env.name, env.database.url_env)));
    }
    Ok(format!("praxia_{}", env.name.replace(|c: char| !c.is_ascii_alphanumeric(), "_")))
}

/// Holds an exclusive `flock` until dropped.
struct FileLock {
    _file: File,
}

impl FileLock {
    fn acquire(path: &Path) -> Result<FileLock> {
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|err| Error::io("open", path, err))?;
        file.lock().map_err(|err| Error::io("lock", path, err))?;
        Ok(FileLock { _file: file })
    }
}
