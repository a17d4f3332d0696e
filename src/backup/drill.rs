//! The restore drill: a backup restored into a scratch database on the embedded
//! development cluster (never into the database it came from), every table of
//! the dump checked to be back and counted, the bookkeeping table among them;
//! then the scratch database is dropped, whatever happened.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;
use sqlx::{Connection, PgConnection};

use super::archive;
use super::catalog::{self, TableName};
use super::tools;
use crate::config::{DatabaseUrl, Environment};
use crate::error::{Error, ErrorKind, Result};
use crate::localdb::LocalDatabase;
use crate::scratch_database::ScratchKind;

/// One table as it came back.
#[derive(Debug, Clone, Serialize)]
pub struct RestoredTable {
    pub table: TableName,
    pub rows: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Drill {
    pub file: String,
    pub scratch_database: String,
    pub tables: Vec<RestoredTable>,
    /// Rows of the bookkeeping table: the migrations the backup had applied.
    pub applied_migrations: Option<i64>,
    pub took_ms: u128,
}

pub async fn run(env: &Environment, file: &Path) -> Result<Drill> {
    let started = Instant::now();
    let drilled = with_restore(env, file, "the restore drill", async |restored: &Restored<'_>| {
        count_tables(restored.url, restored.verified, env).await
    })
    .await?;
    let (scratch, (tables, applied_migrations)) = drilled;
    Ok(Drill {
        file: file.display().to_string(),
        scratch_database: scratch,
        tables,
        applied_migrations,
        took_ms: started.elapsed().as_millis(),
    })
}

/// A backup restored into a scratch database, as the work on it sees it.
pub struct Restored<'r> {
    /// The scratch database, as its own role (never a superuser).
    pub url: &'r str,
    /// The cluster's `postgres` database, as its superuser: for cluster-wide
    /// views (`pg_locks`) the dump's code cannot touch; never the scratch database.
    pub monitor_url: &'r str,
    pub name: &'r str,
    pub verified: &'r archive::Verified,
}

/// Verifies `file`, restores it into a new scratch database on the embedded
/// cluster as a role made for it, runs `work` on it (as that role), and drops
/// the database and the role whatever happened, interrupted too. `what` names
/// the command in the interruption's error. Returns the scratch database's name
/// with the work's result.
pub async fn with_restore<T>(
    env: &Environment,
    file: &Path,
    what: &str,
    work: impl AsyncFnOnce(&Restored<'_>) -> Result<T>,
) -> Result<(String, T)> {
    let verified = archive::verify(file, &env.migrations).await?;
    let scratch = DRILLS.new_name();
    let local = LocalDatabase::for_project(&env.root)?;
    let admin_url = local.start_for_scratch("postgres")?;
    let scratch_url = local.start_for_scratch(&scratch)?;
    let mut admin = connect(&admin_url).await?;
    DRILLS.drop_stale(&mut admin).await;
    drop_stale_roles(&mut admin).await;
    DRILLS.create(&mut admin, &scratch, None).await.map_err(|err| drill_error("create the scratch database", &err))?;
    // The dump's code (index expressions, defaults, functions) runs as a role made for
    // this restore, named as its database, with no special right, dropped after: a
    // production database's content never gains the rights of whoever restores it.
    // The role connects itself (the development cluster trusts loopback): a
    // superuser session that SET ROLE to it could be RESET by the dump's code, and
    // no superuser session ever opens the scratch database once the dump is in it
    // (its settings, views and functions are the dump's).
    let role_url = as_role(&scratch_url, &scratch)?;
    let extensions = extensions_of(file, &verified).await;
    let made_schemas: Vec<String> = extensions
        .as_ref()
        .map(|found| found.iter().map(|(_, schema)| schema.clone()).filter(|schema| schema != "public").collect())
        .unwrap_or_default();
    let prepared = match &extensions {
        Ok(extensions) => prepare_role(&mut admin, &scratch, &scratch_url, extensions).await,
        Err(error) => Err(error.clone()),
    };
    // Interrupted, the restore is stopped and the scratch database still dropped:
    // a copy of production's data is never left on the laptop.
    let outcome = match prepared {
        Err(error) => Err(error),
        Ok(()) => {
            let restored = Restored { url: &role_url, monitor_url: &admin_url, name: &scratch, verified: &verified };
            let restore_and_work = async {
                restore(file, &role_url, &verified, &made_schemas).await?;
                reset_settings(&mut admin, &scratch).await?;
                work(&restored).await
            };
            tokio::select! {
                outcome = restore_and_work => outcome,
                signal = crate::signals::interrupted() => Err(Error::new(
                    ErrorKind::Unavailable,
                    format!("{what} was interrupted by {signal}; its scratch database was dropped"),
                )),
            }
        }
    };
    let drop = format!("DROP DATABASE IF EXISTS \"{scratch}\" WITH (FORCE)");
    let dropped = sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await;
    let drop_role = format!("DROP ROLE IF EXISTS \"{scratch}\"");
    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop_role)).execute(&mut admin).await;
    let _ = admin.close().await;
    let outcome = outcome?;
    dropped.map_err(|err| drill_error("drop the scratch database", &err))?;
    Ok((scratch, outcome))
}

/// The settings the dump's code may have given the scratch database or its role
/// while it was restored (`ALTER DATABASE ... SET search_path`): gone, so that
/// what runs next sees the database as pg_dump wrote it.
async fn reset_settings(admin: &mut PgConnection, scratch: &str) -> Result<()> {
    let sql = format!(
        "ALTER DATABASE {name} RESET ALL; ALTER ROLE {name} RESET ALL; ALTER ROLE {name} IN DATABASE {name} RESET ALL",
        name = quote(scratch)
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *admin)
        .await
        .map(|_| ())
        .map_err(|err| drill_error("reset the settings the restore left on the scratch database", &err))
}

/// The drill's role: no superuser, no other right, owner of the scratch database
/// (so it may create its schemas), and the dump's extensions made for it, by the
/// cluster's superuser, from this machine's installed scripts.
async fn prepare_role(admin: &mut PgConnection, role: &str, url: &str, extensions: &[(String, String)]) -> Result<()> {
    let sql = format!(
        "CREATE ROLE \"{role}\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS; \
         ALTER DATABASE \"{role}\" OWNER TO \"{role}\""
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *admin)
        .await
        .map_err(|err| drill_error("make the drill's role", &err))?;
    if extensions.is_empty() {
        return Ok(());
    }
    let mut scratch = connect(url).await?;
    for (extension, schema) in extensions {
        let sql = if schema == "public" {
            format!("CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA public", quote(extension))
        } else {
            // Its schema, made for it and owned by the role (the restore leaves the schema's entry out).
            format!(
                "CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION \"{role}\"; CREATE EXTENSION IF NOT EXISTS {} WITH SCHEMA {schema}",
                quote(extension),
                schema = quote(schema)
            )
        };
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut scratch).await.map_err(|err| {
            drill_error(&format!("create the extension `{extension}` the dump uses"), &err).help(format!(
                "install the extension `{extension}` for the development cluster's PostgreSQL, then drill again"
            ))
        })?;
    }
    let _ = scratch.close().await;
    Ok(())
}

/// The dump's extensions and the schema each goes in, as pg_dump wrote them.
async fn extensions_of(file: &Path, verified: &archive::Verified) -> Result<Vec<(String, String)>> {
    if verified.catalog.extensions.is_empty() {
        return Ok(Vec::new());
    }
    let pg_restore = tools::program("pg_restore")?;
    let list = list_file(&catalog::only_extensions(&verified.list))?;
    let use_list = format!("--use-list={}", list.path().display());
    let sql = archive::restore(&pg_restore, file, &["--file=-", &use_list]).await?;
    Ok(catalog::extension_schemas(&sql))
}

/// A table of contents for `pg_restore --use-list`, in a temp file removed when dropped.
fn list_file(text: &str) -> Result<tempfile::NamedTempFile> {
    let list = tempfile::NamedTempFile::new().map_err(|err| Error::io("create", &std::env::temp_dir(), err))?;
    std::fs::write(list.path(), text).map_err(|err| Error::io("write", list.path(), err))?;
    Ok(list)
}

/// Roles of drills that were killed: their database is gone.
async fn drop_stale_roles(admin: &mut PgConnection) {
    let pattern = format!("{}%", DRILLS.prefix.replace('_', "\\_"));
    let left: Vec<String> = sqlx::query_scalar(
        "SELECT rolname::text FROM pg_roles r WHERE rolname LIKE $1 \
         AND NOT EXISTS (SELECT FROM pg_database d WHERE d.datname = r.rolname)",
    )
    .bind(pattern)
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    for role in left {
        let sql = format!("DROP ROLE IF EXISTS {}", quote(&role));
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *admin).await;
    }
}

/// The scratch database's URL, as the drill's role.
fn as_role(url: &str, role: &str) -> Result<String> {
    let mut parsed =
        url::Url::parse(url).map_err(|err| Error::internal(format!("the development cluster's URL: {err}")))?;
    parsed.set_username(role).map_err(|()| Error::internal("the development cluster's URL takes no user name"))?;
    Ok(parsed.to_string())
}

/// Restores `file` into the scratch database at `url` (the role's), in one transaction.
async fn restore(file: &Path, url: &str, verified: &archive::Verified, made_schemas: &[String]) -> Result<()> {
    let pg_restore = tools::program("pg_restore")?;
    // The extensions are made already; the restore leaves them (and their comments) out.
    let list = list_file(&catalog::without_extensions(&verified.list, made_schemas))?;
    let output = tokio::process::Command::new(&pg_restore)
        .args(["--no-owner", "--no-acl", "--exit-on-error", "--single-transaction", "--use-list"])
        .arg(list.path())
        .args(["--dbname", url])
        .arg(file)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|err| Error::io("run", &pg_restore, err))?;
    if !output.status.success() {
        return Err(Error::new(ErrorKind::Unavailable, format!("the backup {} did not restore", file.display()))
            .note("pg_restore said", String::from_utf8_lossy(&output.stderr).trim())
            .help("the dump is readable but PostgreSQL refused it: a server older than the dump's, or what only a superuser may restore (the drill restores as a role without special rights: event triggers, C functions, publications for all tables); the scratch database was dropped"));
    }
    Ok(())
}

/// Every table of the dump back, and its rows counted.
async fn count_tables(
    url: &str,
    verified: &archive::Verified,
    env: &Environment,
) -> Result<(Vec<RestoredTable>, Option<i64>)> {
    let tables_raw = &verified.catalog.tables_raw;
    // As the drill's role, with every name qualified: the dump may have set the
    // database's search_path and shadowed a catalog with a view of its own.
    let mut connection = connect(url).await?;
    sqlx::raw_sql("SET search_path = pg_catalog, pg_temp")
        .execute(&mut connection)
        .await
        .map_err(|err| drill_error("prepare its session", &err))?;
    // The tables as the scratch database has them, each matched to its entry in
    // the dump's table of contents (which prints names unquoted).
    let present: Vec<(String, String)> = sqlx::query_as(
        "SELECT n.nspname::text, c.relname::text FROM pg_catalog.pg_class c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2",
    )
    .fetch_all(&mut connection)
    .await
    .map_err(|err| drill_error("read the restored tables", &err))?;
    let mut unmatched: Vec<&String> = tables_raw.iter().collect();
    let mut restored = Vec::new();
    for (schema, name) in present {
        let prefix = format!("{schema} {name}");
        let Some(at) =
            unmatched.iter().position(|raw| raw.as_str() == prefix || raw.starts_with(&format!("{prefix} ")))
        else {
            continue;
        };
        unmatched.remove(at);
        let sql = format!("SELECT count(*) FROM {}.{}", quote(&schema), quote(&name));
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut connection)
            .await
            .map_err(|err| drill_error(&format!("count the rows of {schema}.{name}"), &err))?;
        restored.push(RestoredTable { table: TableName { schema, name }, rows });
    }
    if let Some(missing) = unmatched.first() {
        return Err(Error::new(ErrorKind::Unavailable, format!("table `{missing}` of the dump did not come back"))
            .note("tables in the dump", tables_raw.len())
            .note("tables back", restored.len()));
    }
    let bookkeeping = restored
        .iter()
        .find(|table| table.table.schema == *env.migrations.schema && table.table.name == *env.migrations.table)
        .map(|table| table.rows);
    let _ = connection.close().await;
    Ok((restored, bookkeeping))
}

/// A drill older than this was killed (a restore of a large dump may take hours).
const DRILLS: ScratchKind =
    ScratchKind { prefix: "praxia_drill_", stale_after_seconds: 12 * 3600, left_by: "an interrupted restore drill" };

/// A connection to the development cluster, as every command connects (its statements not logged).
async fn connect(url: &str) -> Result<PgConnection> {
    let url = DatabaseUrl::parse(url, "the development cluster")?;
    crate::database::connect(&url, Duration::from_secs(30), "praxia-deploy backup verify").await
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn drill_error(what: &str, err: &sqlx::Error) -> Error {
    Error::unavailable(format!("the restore drill could not {what}")).note("reason", crate::pg_error::describe(err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_drills_older_than_any_drill_are_stale() {
        let now = 1_800_000_000;
        let old = "praxia_drill_1799900000_0123456789abcdef0123456789abcdef";
        let running = "praxia_drill_1799990000_0123456789abcdef0123456789abcdef";
        assert!(DRILLS.is_stale(old, Some(&DRILLS.mark(old)), now));
        assert!(!DRILLS.is_stale(running, Some(&DRILLS.mark(running)), now), "a drill running now");
        assert!(!DRILLS.is_stale("praxia_drill_abc", Some(&DRILLS.mark("praxia_drill_abc")), now));
    }

    /// PostgreSQL keeps the first 63 bytes of a name: a drill named longer is
    /// made (and listed in `pg_database`) under a name whose uuid lost a digit,
    /// which the sweep never takes for one of ours. A drill killed outright
    /// (SIGKILL, SIGHUP, a closed laptop) leaves its copy of production's data
    /// on the development cluster for good.
    #[test]
    fn a_drills_name_fits_in_a_postgresql_name_so_the_sweep_can_find_it_again() {
        let name = DRILLS.new_name();
        // Made a day before the sweep looks: its comment is written with the name as given.
        let made = name.replacen(&name[DRILLS.prefix.len()..DRILLS.prefix.len() + 10], "1799900000", 1);
        let listed = &made[..made.len().min(63)];
        assert!(
            DRILLS.is_stale(listed, Some(&DRILLS.mark(&made)), 1_800_000_000),
            "{made} ({} bytes) is {listed} in pg_database: never swept",
            made.len()
        );
    }
}
