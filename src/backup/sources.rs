//! Where a dump comes from: `dokku postgres:export` over SSH (the laptop), or
//! `pg_dump` of the database URL here (the release phase, a local database).

use std::path::Path;

use super::{Taken, take, tools};
use crate::config::{DatabaseUrl, DokkuSettings, Environment};
use crate::dokku::remote::{finish, postgres_export, postgres_links};
use crate::dokku::ssh::DokkuConnection;
use crate::error::{Error, ErrorKind, Result};
use crate::migration_folder::MigrationFolder;

/// The service to export: the one named in `[backup] service`, else the only one linked.
pub fn choose_service(links: &[String], configured: Option<&str>, app: &str) -> Result<String> {
    let linked = if links.is_empty() { "none".to_owned() } else { links.join(", ") };
    match (configured, links) {
        (Some(service), _) if links.iter().any(|link| link == service) => Ok(service.to_owned()),
        (Some(service), _) => Err(Error::usage(format!("[backup] service `{service}` is not linked to the app {app}"))
            .note("linked", linked)
            .help(format!("name one of the linked services, or link it: `dokku postgres:link {service} {app}`"))),
        (None, [only]) => Ok(only.clone()),
        (None, []) => Err(Error::usage(format!("no Postgres service is linked to the app {app}"))
            .help(format!("link the app's database: `dokku postgres:link <service> {app}`"))),
        (None, _) => Err(Error::usage(format!("several Postgres services are linked to the app {app}: {linked}"))
            .help(
                "say which one holds the app's database: `service = \"<name>\"` in the environment's [backup] section",
            )),
    }
}

/// Streams `dokku postgres:export` of the app's service into `env.backup.dir`.
pub async fn through_dokku(
    env: &Environment,
    folder: &MigrationFolder,
    dokku: &DokkuSettings,
    connection: &DokkuConnection,
) -> Result<(Taken, String)> {
    let links = postgres_links(&connection.session, &dokku.app).await?;
    let service = choose_service(&links, env.backup.service.as_deref(), &dokku.app)?;
    tracing::info!("exporting the Postgres service {service} from {}", connection.destination);
    let mut child = postgres_export(&connection.session, &service).await?;
    let stdout = child.stdout().take().expect("piped stdout");
    let what = format!("postgres:export {service}");
    let taken = take(env, folder, &env.backup.dir, &dokku.app, stdout, finish(child, &what)).await?;
    Ok((taken, service))
}

/// Streams `pg_dump --format=custom` of `url` into `dir`, named for `app`.
/// The password goes in `PGPASSWORD`, never on the command line.
pub async fn with_pg_dump(
    env: &Environment,
    folder: &MigrationFolder,
    url: &DatabaseUrl,
    dir: &Path,
    app: &str,
) -> Result<Taken> {
    let pg_dump = tools::program("pg_dump")?;
    let (without_password, password) = url.split_password();
    if without_password.contains("sslpassword=") {
        return Err(Error::usage(format!("the database URL {} has an sslpassword", url.redacted()))
            .help("pg_dump can take it only on its command line, where every user of this machine sees it: use a client key without a passphrase for backups"));
    }
    let mut command = tokio::process::Command::new(&pg_dump);
    command
        .args(["--format=custom", "--no-owner", "--no-acl", "--dbname"])
        .arg(&without_password)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    tracing::info!("pg_dump of {} into {}", url.redacted(), dir.display());
    let mut child = command.spawn().map_err(|err| Error::io("run", &pg_dump, err))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let finished = async move {
        let mut said = String::new();
        use tokio::io::AsyncReadExt;
        let _ = stderr.read_to_string(&mut said).await;
        let status = child.wait().await.map_err(|err| Error::io("wait for", &pg_dump, err))?;
        if status.success() {
            return Ok(());
        }
        let said = crate::redact::redact_in(said.trim());
        let mut error = Error::new(ErrorKind::Unavailable, format!("pg_dump of {} failed ({status})", url.redacted()))
            .note("pg_dump said", &said);
        if said.contains("server version mismatch") {
            error = error.help(
                "pg_dump must be the server's major version or newer: the image installs postgresql-client-$POSTGRES_MAJOR (the Dockerfile's build argument); set it to the server's major version and deploy again",
            );
        }
        Err(error)
    };
    take(env, folder, dir, app, stdout, finished).await
}

/// Where the backup before migrations comes from: decided by the command from
/// the environment and its flags, taken by `before_migrating`.
#[derive(Debug, Clone)]
pub enum BackupSource {
    /// None is taken (`--no-backup`, development, a drift replay).
    Skip,
    /// None can be: production's release phase with no `[backup] release_dir`,
    /// which says so when something is pending.
    Unavailable,
    /// A verified `pg_dump` here into `dir`. `must_exist`: the folder is the
    /// release phase's storage mount; made on demand, a missing mount would be a
    /// folder in the container, lost with it.
    PgDump { dir: std::path::PathBuf, must_exist: bool },
    /// Taken by the laptop before it sent `migrate` here (`--after-backup`).
    TakenBefore(super::BackupRecord),
}

impl BackupSource {
    /// The release phase's: a verified dump into `[backup] release_dir`, which
    /// must be a storage mount; production without one migrates and says none
    /// could be taken; other environments take none.
    pub fn for_release(env: &Environment) -> BackupSource {
        match &env.backup.release_dir {
            Some(dir) => BackupSource::PgDump { dir: dir.clone(), must_exist: true },
            None if env.kind == crate::config::EnvironmentKind::Production => BackupSource::Unavailable,
            None => BackupSource::Skip,
        }
    }

    /// `migrate`'s, as configured: `[backup] before_migrate` into `[backup] dir`.
    pub fn for_migrate(env: &Environment) -> BackupSource {
        if env.backup.before_migrate {
            BackupSource::PgDump { dir: env.backup.dir.clone(), must_exist: false }
        } else {
            BackupSource::Skip
        }
    }
}

/// What `before_migrating` got: the record the migration log keeps, and the file
/// when it was taken here.
#[derive(Debug, Clone, Default)]
pub struct BeforeMigrating {
    pub record: Option<super::BackupRecord>,
    pub taken_here: Option<Taken>,
}

/// The backup before `pending` migrations, from `source`, of a server of
/// `server_major` (named in the help when pg_dump is missing).
pub async fn before_migrating(
    source: &BackupSource,
    env: &Environment,
    folder: &MigrationFolder,
    url: &DatabaseUrl,
    pending: usize,
    server_major: Option<u32>,
) -> Result<BeforeMigrating> {
    let migrations = crate::text::plural(pending, "migration");
    match source {
        BackupSource::Skip => Ok(BeforeMigrating::default()),
        BackupSource::Unavailable => {
            tracing::warn!(
                "no backup is taken before {}: [backup] release_dir is not set (README, Backups: a Dokku storage mount)",
                if pending == 1 { "this migration".to_owned() } else { format!("these {migrations}") }
            );
            Ok(BeforeMigrating::default())
        }
        BackupSource::TakenBefore(record) => Ok(BeforeMigrating { record: Some(record.clone()), taken_here: None }),
        BackupSource::PgDump { dir, must_exist } => {
            if *must_exist && !dir.is_dir() {
                return Err(Error::usage(format!("the backup folder {} does not exist", dir.display()))
                    .note("nothing was migrated", "the backup comes first")
                    .help("[backup] release_dir must be a Dokku storage mount, or the dump is lost with the container: `dokku storage:mount <app> /var/lib/dokku/data/storage/<name>:<that folder>` (README, Backups)"));
            }
            tracing::info!("{migrations} pending: taking a verified backup into {} first", dir.display());
            // The client programs first: missing, the error names the server's client package.
            for name in ["pg_dump", "pg_restore"] {
                tools::program_for_server(name, server_major)
                    .map_err(|error| error.note("nothing was migrated", "the backup comes first"))?;
            }
            let taken = with_pg_dump(env, folder, url, dir, &super::app_name(env)).await?;
            tracing::info!(
                "backup {} ({} bytes, sha256 {}) verified",
                taken.path.display(),
                taken.record.bytes,
                taken.record.sha256
            );
            Ok(BeforeMigrating { record: Some(taken.record.clone()), taken_here: Some(taken) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn the_service_is_the_named_one_or_the_only_one() {
        assert_eq!(choose_service(&links(&["db"]), None, "api").unwrap(), "db");
        assert_eq!(choose_service(&links(&["a", "b"]), Some("b"), "api").unwrap(), "b");
        let none = choose_service(&[], None, "api").unwrap_err().to_string();
        assert!(none.contains("no Postgres service is linked to the app api"), "{none}");
        let several = choose_service(&links(&["a", "b"]), None, "api").unwrap_err().to_string();
        assert!(several.contains("several Postgres services are linked to the app api: a, b"), "{several}");
        assert!(several.contains("service = \"<name>\""), "{several}");
        let unlinked = choose_service(&links(&["a"]), Some("c"), "api").unwrap_err().to_string();
        assert!(unlinked.contains("`c` is not linked"), "{unlinked}");
    }
}
