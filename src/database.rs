//! The database a command talks to: the URL from the flag or the environment's
//! variable, or, for development and test, the embedded Postgres started on demand.

use crate::config::{DatabaseTarget, DatabaseUrl, Environment, missing_url_error};
use crate::error::Result;
use crate::localdb::LocalDatabase;

/// The environment's database URL; starts the embedded database when that is the answer.
pub fn url_for(env: &Environment, flag: Option<&str>) -> Result<DatabaseUrl> {
    match env.database_target(flag)? {
        DatabaseTarget::Url { url, source } => {
            tracing::debug!(%url, %source, "database URL");
            Ok(url)
        }
        DatabaseTarget::Missing => Err(missing_url_error(
            &env.name,
            env.kind,
            &env.database.url_env,
        )),
        DatabaseTarget::Embedded => {
            let started = LocalDatabase::for_project(&env.root)?.start(env)?;
            if !started.already_running {
                tracing::info!(url = %started.url, "no database URL given: started the embedded development PostgreSQL");
            }
            DatabaseUrl::parse(&started.url, "the embedded database")
        }
    }
}
