//! The scratch database the applied migrations are replayed into: on the
//! embedded development cluster, or on a server of the caller's choosing (the
//! live database's own server in the release phase), always dropped.

use sqlx::Connection;

use crate::config::{DatabaseUrl, Environment};
use crate::error::{Error, Result};
use crate::localdb::LocalDatabase;

/// A scratch database for the replay, dropped whatever happens.
pub struct Scratch {
    pub url: DatabaseUrl,
    admin: DatabaseUrl,
    name: String,
}

impl Scratch {
    /// On `shadow_url`'s server when given, else on the embedded development cluster.
    pub async fn create(env: &Environment, shadow_url: Option<&str>, wait: std::time::Duration) -> Result<Scratch> {
        let name = format!("praxia_drift_{}", uuid::Uuid::new_v4().simple());
        let (admin, url) = match shadow_url {
            Some(shadow) => {
                let admin = DatabaseUrl::parse(shadow, "--shadow-url")?;
                let mut scratch =
                    url::Url::parse(admin.expose_secret()).map_err(|_| Error::usage("--shadow-url is not a URL"))?;
                scratch.set_path(&format!("/{name}"));
                (admin, DatabaseUrl::parse(scratch.as_str(), "--shadow-url")?)
            }
            None => {
                let local = LocalDatabase::for_project(&env.root)?;
                let admin = DatabaseUrl::parse(&local.start_for_scratch("postgres")?, "the development cluster")?;
                let url = DatabaseUrl::parse(&local.start_for_scratch(&name)?, "the development cluster")?;
                (admin, url)
            }
        };
        let mut connection = crate::database::connect(&admin, wait, "praxia-deploy drift").await?;
        let sql = format!("CREATE DATABASE \"{name}\"");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut connection).await.map_err(|err| {
            Error::unavailable("could not create the scratch database for the replay")
                .note("reason", crate::pg_error::describe(&err))
                .help("the --shadow-url user needs CREATEDB")
        })?;
        let _ = connection.close().await;
        Ok(Scratch { url, admin, name })
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
