//! Where the applied migrations are replayed: a scratch database that is always
//! dropped, on a server the replay may touch. Never the live database's server
//! (the release reads a recorded expected schema instead, see `record.rs`):
//! - `--shadow-url`: a server of the caller's, possibly shared; refused when a
//!   migration reaches beyond its database (roles, `ALTER DATABASE`, tablespaces,
//!   `ALTER SYSTEM`...), which would change that server;
//! - a cluster made for this replay alone (initdb in a temporary folder, removed
//!   after), when a migration reaches beyond its database and no shadow is given;
//! - otherwise the embedded development cluster.

use sqlx::Connection;

use crate::config::{DatabaseUrl, Environment};
use crate::error::{Error, Result};
use crate::localdb::LocalDatabase;
use crate::migration_folder::MigrationFolder;
use crate::pgserver::{Cluster, Durability, PgBinaries, ServerAccount, StopMode};
use crate::scratch_database::ScratchKind;

/// A scratch database for the replay, dropped whatever happens.
pub struct Scratch {
    pub url: DatabaseUrl,
    admin: DatabaseUrl,
    name: String,
    /// The cluster made for this replay, stopped and removed with it.
    own_cluster: Option<OwnCluster>,
}

/// The first statement of the applied migrations that reaches beyond its database.
#[derive(Debug, Clone)]
pub struct Reaching {
    pub file: String,
    pub line: usize,
    pub reason: &'static str,
}

/// The first applied migration statement that touches more than its database.
pub fn reaching_beyond(applied: &MigrationFolder) -> Option<Reaching> {
    applied.migrations.iter().find_map(|migration| {
        migration.cluster_wide_statements().first().map(|(line, reason)| Reaching {
            file: migration.file.display().to_string(),
            line: *line,
            reason,
        })
    })
}

impl Scratch {
    /// On `shadow_url`'s server when given (refused if `applied` reaches beyond
    /// its database), else on a cluster of the tool's own.
    pub async fn create(
        env: &Environment,
        shadow_url: Option<&str>,
        live_server: LiveServer<'_>,
        applied: &MigrationFolder,
        wait: std::time::Duration,
    ) -> Result<Scratch> {
        let name = REPLAYS.new_name();
        let reaching = reaching_beyond(applied);
        let (admin, url, own_cluster) = match (shadow_url, reaching) {
            (Some(_), Some(reaching)) => return Err(shared_server_refusal(&reaching)),
            (Some(shadow), None) => {
                let admin = DatabaseUrl::parse(shadow, "--shadow-url")?;
                (admin.clone(), on_database(&admin, &name)?, None)
            }
            (None, Some(reaching)) => {
                tracing::info!(
                    "drift: {}:{} reaches beyond its database ({}): replaying on a PostgreSQL cluster made for this replay",
                    reaching.file,
                    reaching.line,
                    reaching.reason
                );
                let cluster = OwnCluster::start()?;
                let admin = DatabaseUrl::parse(&cluster.cluster.url("postgres")?, "the replay's cluster")?;
                let url = DatabaseUrl::parse(&cluster.cluster.url(&name)?, "the replay's cluster")?;
                (admin, url, Some(cluster))
            }
            (None, None) => {
                let local = LocalDatabase::for_project(&env.root)?;
                let admin = DatabaseUrl::parse(&local.start_for_scratch("postgres")?, "the development cluster")?;
                let url = DatabaseUrl::parse(&local.start_for_scratch(&name)?, "the development cluster")?;
                (admin, url, None)
            }
        };
        let mut connection = crate::database::connect(&admin, wait, "praxia-deploy drift").await?;
        if shadow_url.is_some() {
            let checked = shadow_is_safe(&mut connection, env, live_server).await;
            if let Err(error) = checked {
                let _ = connection.close().await;
                return Err(error);
            }
        }
        REPLAYS.drop_stale(&mut connection).await;
        // From template0: what the migrations make from nothing, not what a
        // server's template1 was given by hand.
        REPLAYS.create(&mut connection, &name, Some("template0")).await.map_err(|err| {
            Error::unavailable("could not create the scratch database for the replay")
                .note("reason", crate::pg_error::describe(&err))
                .help("the user needs CREATEDB on that server (or give drift --shadow-url a server where it has it)")
        })?;
        let _ = connection.close().await;
        let scratch = Scratch { url, admin, name, own_cluster };
        // The replay must never run anywhere else.
        let reached = async {
            let mut connection = crate::database::connect(&scratch.url, wait, "praxia-deploy drift").await?;
            let on: std::result::Result<String, sqlx::Error> =
                sqlx::query_scalar("SELECT current_database()::text").fetch_one(&mut connection).await;
            let _ = connection.close().await;
            on.map_err(|err| {
                Error::unavailable("could not reach the scratch database")
                    .note("reason", crate::pg_error::describe(&err))
            })
        }
        .await;
        match reached {
            Ok(on) if on == scratch.name => Ok(scratch),
            Ok(on) => {
                let name = scratch.name.clone();
                scratch.drop().await;
                Err(Error::usage(format!(
                    "the scratch URL reaches the database `{on}`, not the scratch database `{name}`"
                ))
                .help("remove the dbname parameter from the URL: the database is the URL's path"))
            }
            Err(error) => {
                scratch.drop().await;
                Err(error)
            }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn drop(self) {
        if let Ok(mut connection) =
            crate::database::connect(&self.admin, std::time::Duration::from_secs(10), "praxia-deploy drift").await
        {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
            if let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut connection).await {
                tracing::warn!(
                    "could not drop the scratch database {}: {}",
                    self.name,
                    crate::pg_error::describe(&err)
                );
            }
            let _ = connection.close().await;
        } else if self.own_cluster.is_none() {
            tracing::warn!("could not connect to drop the scratch database {}", self.name);
        }
        if let Some(cluster) = self.own_cluster {
            cluster.remove();
        }
    }
}

/// The live database's server, as far as a replay knows it.
#[derive(Debug, Clone, Copy)]
pub enum LiveServer<'a> {
    /// `drift --record`: no live database is read.
    NotRead,
    /// Its system identifier, when it could be read.
    Read(Option<&'a str>),
}

/// A `--shadow-url` server is shared: the replay runs there as the URL's role,
/// so that role must be unable to change anything beyond the databases it makes
/// (whatever a migration runs, a function, dynamic SQL or a C symbol included),
/// and the server must not be a staging or production database's own.
async fn shadow_is_safe(
    connection: &mut sqlx::PgConnection,
    env: &Environment,
    live_server: LiveServer<'_>,
) -> Result<()> {
    if let (false, LiveServer::Read(live_server)) = (env.kind.uses_embedded_database(), live_server) {
        let shadow = super::system_identifier(connection).await;
        let (Some(live), Some(shadow)) = (live_server, shadow.as_deref()) else {
            return Err(Error::usage(format!(
                "cannot tell whether --shadow-url is the {} database's own server (pg_control_system() is not readable on one of them)",
                env.kind.as_str()
            ))
            .help("leave --shadow-url out to replay on the embedded cluster, or let both users read pg_control_system()"));
        };
        if live == shadow {
            return Err(Error::usage(format!(
                "--shadow-url reaches the {} database's own server: a replay would write to it",
                env.kind.as_str()
            ))
            .help("give --shadow-url another server of the same major version, or leave it out to replay on the embedded cluster"));
        }
    }
    // Through every role it may SET ROLE to (membership, inherited or not).
    let powers: Vec<String> = sqlx::query_scalar(
        "SELECT power FROM ( \
            SELECT 'superuser (' || r.rolname || ')' AS power FROM pg_roles r \
             WHERE r.rolsuper AND pg_has_role(current_user, r.oid, 'MEMBER') \
            UNION ALL SELECT 'CREATEROLE (' || r.rolname || ')' FROM pg_roles r \
             WHERE r.rolcreaterole AND pg_has_role(current_user, r.oid, 'MEMBER') \
            UNION ALL SELECT 'REPLICATION (' || r.rolname || ')' FROM pg_roles r \
             WHERE r.rolreplication AND pg_has_role(current_user, r.oid, 'MEMBER') \
            UNION ALL SELECT b.name FROM unnest(ARRAY['pg_write_server_files', 'pg_execute_server_program', \
                'pg_read_server_files', 'pg_signal_backend', 'pg_write_all_data', 'pg_checkpoint']) AS b(name) \
             WHERE CASE WHEN to_regrole(b.name) IS NULL THEN false ELSE pg_has_role(current_user, b.name, 'MEMBER') END \
         ) AS p ORDER BY power",
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(|err| {
        Error::unavailable("could not read the --shadow-url role's rights").note("reason", crate::pg_error::describe(&err))
    })?;
    if powers.is_empty() {
        return Ok(());
    }
    Err(Error::usage(
        "the --shadow-url role may change that server beyond the databases it makes: a replay runs every migration as it",
    )
    .note("it has", powers.join(", "))
    .help("give --shadow-url a role that may create databases and nothing more (CREATE ROLE praxia_shadow LOGIN CREATEDB PASSWORD '...'), or leave it out to replay on the embedded cluster"))
}

/// The refusal of a replay on a shared server.
fn shared_server_refusal(reaching: &Reaching) -> Error {
    Error::usage("the applied migrations reach beyond their database: they are not replayed on the --shadow-url server")
        .note("migration", format!("{}:{}", reaching.file, reaching.line))
        .note("it changes", reaching.reason)
        .help("run drift without --shadow-url: the replay then runs on a PostgreSQL cluster made for it and removed after (it needs the PostgreSQL server programs of the database's major version; PG_BIN says where)")
}

/// A cluster in a temporary folder, for one replay.
struct OwnCluster {
    cluster: Cluster,
    folder: tempfile::TempDir,
}

impl OwnCluster {
    fn start() -> Result<OwnCluster> {
        let folder = tempfile::Builder::new()
            .prefix("praxia-replay-")
            .tempdir()
            .map_err(|err| Error::io("create", &std::env::temp_dir(), err))?;
        let cluster = Cluster::in_dir(folder.path(), PgBinaries::locate()?, ServerAccount::for_this_process()?);
        cluster.init(Durability::Throwaway)?;
        let own = OwnCluster { cluster, folder };
        own.cluster.start()?;
        Ok(own)
    }

    fn remove(self) {
        if let Err(error) = self.cluster.stop(StopMode::Immediate) {
            tracing::warn!("could not stop the replay's cluster: {error}");
        }
        let path = self.folder.path().to_path_buf();
        if let Err(err) = self.folder.close() {
            tracing::warn!("could not remove {}: {err}", path.display());
        }
    }
}

/// `admin`'s server and credentials, on the database `name`: the path set, any
/// `dbname` parameter (which would win over the path) removed.
fn on_database(admin: &DatabaseUrl, name: &str) -> Result<DatabaseUrl> {
    let mut url =
        url::Url::parse(admin.expose_secret()).map_err(|_| Error::usage("the scratch server's URL is not a URL"))?;
    crate::config::database_url::remove_query_parameter(&mut url, "dbname");
    url.set_path(&format!("/{name}"));
    DatabaseUrl::parse(url.as_str(), "the scratch server's URL")
}

/// No replay runs an hour: an older scratch database was left by one that was killed.
const REPLAYS: ScratchKind =
    ScratchKind { prefix: "praxia_drift_", stale_after_seconds: 3600, left_by: "an interrupted drift" };

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_url_is_the_scratch_database_whatever_the_url_said() {
        let admin =
            DatabaseUrl::parse("postgres://u:p@db:5432/postgres?dbname=victim&sslmode=require", "test").unwrap();
        let scratch = on_database(&admin, "praxia_drift_x").unwrap();
        assert_eq!(scratch.expose_secret(), "postgres://u:p@db:5432/praxia_drift_x?sslmode=require");
    }
}
