//! The scratch database the applied migrations are replayed into: on the
//! embedded development cluster, or on a server of the caller's choosing (the
//! live database's own server in the release phase), always dropped.

use sqlx::Connection;

use crate::config::{DatabaseUrl, Environment};
use crate::error::{Error, Result};
use crate::localdb::LocalDatabase;
use crate::scratch_database::ScratchKind;

/// A scratch database for the replay, dropped whatever happens.
pub struct Scratch {
    pub url: DatabaseUrl,
    admin: DatabaseUrl,
    name: String,
}

impl Scratch {
    /// On `shadow_url`'s server when given, else on the embedded development cluster.
    pub async fn create(env: &Environment, shadow_url: Option<&str>, wait: std::time::Duration) -> Result<Scratch> {
        let name = REPLAYS.new_name();
        let (admin, url) = match shadow_url {
            Some(shadow) => {
                let admin = DatabaseUrl::parse(shadow, "--shadow-url")?;
                (admin.clone(), on_database(&admin, &name)?)
            }
            None => {
                let local = LocalDatabase::for_project(&env.root)?;
                let admin = DatabaseUrl::parse(&local.start_for_scratch("postgres")?, "the development cluster")?;
                let url = DatabaseUrl::parse(&local.start_for_scratch(&name)?, "the development cluster")?;
                (admin, url)
            }
        };
        let mut connection = crate::database::connect(&admin, wait, "praxia-deploy drift").await?;
        REPLAYS.drop_stale(&mut connection).await;
        // From template0: what the migrations make from nothing, not what a
        // server's template1 was given by hand.
        let sql = format!("CREATE DATABASE \"{name}\" TEMPLATE template0");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut connection).await.map_err(|err| {
            Error::unavailable("could not create the scratch database for the replay")
                .note("reason", crate::pg_error::describe(&err))
                .help("the user needs CREATEDB on that server (or give drift --shadow-url a server where it has it)")
        })?;
        let _ = connection.close().await;
        let scratch = Scratch { url, admin, name };
        // The replay must never run anywhere else.
        let mut connection = crate::database::connect(&scratch.url, wait, "praxia-deploy drift").await?;
        let on: String =
            sqlx::query_scalar("SELECT current_database()::text").fetch_one(&mut connection).await.map_err(|err| {
                Error::unavailable("could not reach the scratch database")
                    .note("reason", crate::pg_error::describe(&err))
            })?;
        let _ = connection.close().await;
        if on != scratch.name {
            let name = scratch.name.clone();
            scratch.drop().await;
            return Err(Error::usage(format!(
                "the scratch URL reaches the database `{on}`, not the scratch database `{name}`"
            ))
            .help("remove the dbname parameter from the URL: the database is the URL's path"));
        }
        Ok(scratch)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn drop(self) {
        let Ok(mut connection) =
            crate::database::connect(&self.admin, std::time::Duration::from_secs(10), "praxia-deploy drift").await
        else {
            tracing::warn!("could not connect to drop the scratch database {}", self.name);
            return;
        };
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut connection).await {
            tracing::warn!("could not drop the scratch database {}: {}", self.name, crate::pg_error::describe(&err));
        }
        let _ = connection.close().await;
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
    fn only_scratch_databases_older_than_any_run_are_stale() {
        let now = 1_800_000_000;
        assert!(REPLAYS.is_stale("praxia_drift_1799990000_abc", now));
        assert!(!REPLAYS.is_stale("praxia_drift_1799999000_abc", now), "another run's, between its steps");
        assert!(!REPLAYS.is_stale("praxia_drift_abc", now));
        assert!(!REPLAYS.is_stale("praxia_development", now));
    }

    #[test]
    fn the_scratch_url_is_the_scratch_database_whatever_the_url_said() {
        let admin =
            DatabaseUrl::parse("postgres://u:p@db:5432/postgres?dbname=victim&sslmode=require", "test").unwrap();
        let scratch = on_database(&admin, "praxia_drift_x").unwrap();
        assert_eq!(scratch.expose_secret(), "postgres://u:p@db:5432/praxia_drift_x?sslmode=require");
    }
}
