//! The environment stamp: the database's own record of which environment it
//! belongs to (`praxia_deploy.environment`), written by the first migrate or
//! release, and checked by every later mutating command.

use serde::Serialize;
use sqlx::postgres::PgConnection;

use crate::config::{Environment, EnvironmentKind};
use crate::error::{Error, ErrorKind, Result};
use crate::own_schema;
use crate::provenance::Provenance;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvironmentStamp {
    pub name: String,
    pub kind: EnvironmentKind,
    pub stamped_at: String,
    pub stamped_by: String,
}

/// The query that reads the stamp: name, kind, when (seconds since 1970,
/// formatted here: the server's time zone rules would cost a new backend more
/// than the rest of the read), by whom.
pub const SELECT_SQL: &str = concat!(
    "SELECT name, kind, extract(epoch FROM stamped_at)::bigint, stamped_by FROM ",
    crate::own_table!(environment)
);

/// A row of `SELECT_SQL` as the stamp.
pub fn from_row((name, kind, stamped_at, stamped_by): (String, String, i64, String)) -> Result<EnvironmentStamp> {
    let kind = serde_json::from_value(serde_json::Value::String(kind.clone()))
        .map_err(|_| Error::internal(format!("praxia_deploy.environment holds an unknown kind `{kind}`")))?;
    let stamped_at = chrono::DateTime::from_timestamp(stamped_at, 0)
        .map_or_else(|| stamped_at.to_string(), |time| time.format("%Y-%m-%d %H:%M:%S UTC").to_string());
    Ok(EnvironmentStamp { name, kind, stamped_at, stamped_by })
}

/// The stamp, or `None` when the database was never stamped.
pub async fn read(connection: &mut PgConnection) -> Result<Option<EnvironmentStamp>> {
    let row = sqlx::query_as::<_, (String, String, i64, String)>(SELECT_SQL).fetch_optional(connection).await;
    match row {
        Ok(None) => Ok(None),
        Ok(Some(row)) => from_row(row).map(Some),
        Err(sqlx::Error::Database(err))
            if matches!(
                err.code().as_deref(),
                Some(crate::pg_error::sqlstate::UNDEFINED_TABLE | crate::pg_error::sqlstate::INVALID_SCHEMA_NAME)
            ) =>
        {
            Ok(None)
        }
        Err(err) => {
            Err(Error::unavailable("could not read the environment stamp")
                .note("reason", crate::pg_error::describe(&err)))
        }
    }
}

/// Whether a mutating command for `env` may touch a database with `stamp`. Pure.
pub fn check(env: &Environment, stamp: Option<&EnvironmentStamp>) -> Result<()> {
    let Some(stamp) = stamp else { return Ok(()) };
    if stamp.name != env.name {
        let help = if may_become(stamp.kind, env.kind) {
            format!(
                "check the database URL: it points at {}'s database. If the database really moved, re-stamp it with \
                 `praxia-deploy stamp --force --env {}` (with the same --database-url, if this command was given one)",
                stamp.name, env.name
            )
        } else {
            format!(
                "check the database URL: it points at {}'s database, and a {} database never becomes a {} one. \
                 Point {} at a {} database{}",
                stamp.name,
                stamp.kind,
                env.kind,
                env.database.url_env,
                env.kind,
                if env.kind.uses_embedded_database() { " (unset it to use the embedded one)" } else { "" }
            )
        };
        return Err(Error::new(
            ErrorKind::Policy,
            format!("this database belongs to the `{}` environment, not `{}`", stamp.name, env.name),
        )
        .note("stamped", describe(stamp))
        .note("requested", format!("{} ({})", env.name, env.kind))
        .help(help));
    }
    if stamp.kind != env.kind {
        return Err(Error::new(
            ErrorKind::Policy,
            format!(
                "this database was stamped `{}` as {}, but the environment file now says {}",
                stamp.name, stamp.kind, env.kind
            ),
        )
        .note("stamped", describe(stamp))
        .note("file", env.file.display())
        .help(if may_become(stamp.kind, env.kind) {
            format!(
                "restore the environment's kind, or re-stamp with `praxia-deploy stamp --force --env {}` (with the same \
                 --database-url, if this command was given one) if the change is deliberate",
                env.name
            )
        } else {
            format!("restore the environment's kind in {}: a {} database never becomes a {} one", env.file.display(), stamp.kind, env.kind)
        }));
    }
    Ok(())
}

/// Whether `stamp --force` may turn a database stamped `from` into one of kind
/// `to`: a staging or production stamp never becomes development or test (the
/// stamp keeps fixtures away from real data). Pure; the one owner of that rule.
pub fn may_become(from: EnvironmentKind, to: EnvironmentKind) -> bool {
    let production_like = |kind: EnvironmentKind| !kind.uses_embedded_database();
    !production_like(from) || production_like(to)
}

/// What the database says about itself: the one owner of "fresh" and "unclaimed".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StampState {
    /// Stamped with this kind.
    Stamped(EnvironmentKind),
    /// No stamp and no migration applied: a new database, claimed by whoever stamps it first.
    Fresh,
    /// No stamp, but migrations were applied (by drizzle, say): nobody has said
    /// what it is, so it is not taken for a development database.
    Unclaimed,
}

impl StampState {
    pub fn of(stamp: Option<EnvironmentKind>, has_applied_migrations: bool) -> StampState {
        match (stamp, has_applied_migrations) {
            (Some(kind), _) => StampState::Stamped(kind),
            (None, false) => StampState::Fresh,
            (None, true) => StampState::Unclaimed,
        }
    }

    /// Whether a run of an environment of `kind` stamps this database by itself.
    /// Staging and production claim any unstamped database (it can only tighten
    /// the policy); development and test claim only a new one, so that pointing
    /// one at a database migrated by drizzle does not make it a fixture target.
    pub fn claimed_by(self, kind: EnvironmentKind) -> bool {
        match self {
            StampState::Stamped(_) => false,
            StampState::Fresh => true,
            StampState::Unclaimed => !kind.accepts_fixtures(),
        }
    }
}

/// Said when a development or test run leaves an unstamped, already migrated database unstamped.
pub fn unclaimed_warning(env: &Environment) -> String {
    format!(
        "the database has applied migrations but no environment stamp; it was not stamped `{}` \
         (if it is a development database, claim it with `praxia-deploy stamp --env {}`)",
        env.name, env.name
    )
}

/// What `stamp` does with the database's current stamp. Pure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Restamp {
    /// Unstamped, or forced: write the stamp.
    Write,
    /// Already stamped for this environment.
    AlreadyStamped,
}

pub fn restamp(env: &Environment, stamp: Option<&EnvironmentStamp>, force: bool) -> Result<Restamp> {
    let Some(stamp) = stamp else { return Ok(Restamp::Write) };
    if stamp.name == env.name && stamp.kind == env.kind {
        return Ok(Restamp::AlreadyStamped);
    }
    if !may_become(stamp.kind, env.kind) {
        return Err(Error::new(
            ErrorKind::Policy,
            format!("a {} database cannot become a {} one", stamp.kind, env.kind),
        )
        .note("stamped", describe(stamp))
        .help("make a new database for development or test instead; the stamp keeps fixtures away from real data"));
    }
    if !force {
        return check(env, Some(stamp)).map(|()| Restamp::AlreadyStamped);
    }
    Ok(Restamp::Write)
}

/// Writes the stamp for `env`: only if there is none (`Overwrite::No`), or replacing it.
pub async fn write(
    connection: &mut PgConnection,
    env: &Environment,
    provenance: &Provenance,
    overwrite: Overwrite,
) -> std::result::Result<(), sqlx::Error> {
    own_schema::ensure(&mut *connection).await?;
    let on_conflict = match overwrite {
        Overwrite::No => "DO NOTHING",
        Overwrite::Yes => {
            "DO UPDATE SET name = excluded.name, kind = excluded.kind, stamped_at = now(), \
             stamped_by = excluded.stamped_by, tool_version = excluded.tool_version"
        }
    };
    let sql = format!(
        "INSERT INTO {} (name, kind, stamped_by, tool_version) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (singleton) {on_conflict}",
        crate::own_table!(environment)
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&env.name)
        .bind(env.kind.as_str())
        .bind(&provenance.applied_by)
        .bind(provenance.tool_version)
        .execute(connection)
        .await
        .map(|_| ())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overwrite {
    No,
    Yes,
}

fn describe(stamp: &EnvironmentStamp) -> String {
    format!("{} ({}) on {} by {}", stamp.name, stamp.kind, stamp.stamped_at, stamp.stamped_by)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn env(name: &str, kind: &str) -> Environment {
        crate::config::parse_environment(name, Path::new("e.toml"), &format!("kind = \"{kind}\"\n"), Path::new("/p"))
            .unwrap()
    }

    fn stamp(name: &str, kind: EnvironmentKind) -> EnvironmentStamp {
        EnvironmentStamp {
            name: name.into(),
            kind,
            stamped_at: "2026-01-01 00:00:00 UTC".into(),
            stamped_by: "ci@runner".into(),
        }
    }

    #[test]
    fn an_unstamped_or_matching_database_is_fine() {
        assert!(check(&env("staging", "staging"), None).is_ok());
        assert!(check(&env("staging", "staging"), Some(&stamp("staging", EnvironmentKind::Staging))).is_ok());
    }

    #[test]
    fn another_environments_database_is_refused_naming_both() {
        let err = check(&env("development", "development"), Some(&stamp("production", EnvironmentKind::Production)))
            .unwrap_err();
        assert_eq!(err.exit_code(), 3);
        let text = err.to_string();
        assert!(text.contains("belongs to the `production` environment, not `development`"), "{text}");
        assert!(text.contains("production (production) on 2026-01-01 00:00:00 UTC by ci@runner"), "{text}");
    }

    #[test]
    fn a_kind_changed_under_the_same_name_is_refused() {
        let err = check(&env("main", "development"), Some(&stamp("main", EnvironmentKind::Production))).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(
            err.to_string().contains("stamped `main` as production, but the environment file now says development")
        );
    }

    #[test]
    fn only_new_databases_are_claimed_for_development_and_test() {
        use EnvironmentKind::*;
        for (kind, has_applied, claims) in [
            (Development, false, true),
            (Development, true, false),
            (Test, true, false),
            (Staging, true, true),
            (Production, true, true),
            (Production, false, true),
        ] {
            assert_eq!(StampState::of(None, has_applied).claimed_by(kind), claims, "{kind:?} {has_applied}");
            assert!(!StampState::of(Some(kind), has_applied).claimed_by(kind), "already stamped");
        }
    }

    #[test]
    fn restamping_follows_its_rules() {
        use EnvironmentKind::*;
        type Case = (&'static str, &'static str, Option<(&'static str, EnvironmentKind)>, bool, Option<Restamp>);
        let cases: [Case; 8] = [
            ("staging", "staging", None, false, Some(Restamp::Write)),
            ("staging", "staging", Some(("staging", Staging)), false, Some(Restamp::AlreadyStamped)),
            ("staging", "staging", Some(("staging", Staging)), true, Some(Restamp::AlreadyStamped)),
            ("staging-eu", "staging", Some(("staging", Staging)), false, None),
            ("staging-eu", "staging", Some(("staging", Staging)), true, Some(Restamp::Write)),
            ("production", "production", Some(("staging", Staging)), true, Some(Restamp::Write)),
            ("development", "development", Some(("production", Production)), true, None),
            ("test", "test", Some(("development", Development)), true, Some(Restamp::Write)),
        ];
        for (name, kind, current, force, expected) in cases {
            let current = current.map(|(name, kind)| stamp(name, kind));
            let got = restamp(&env(name, kind), current.as_ref(), force);
            match expected {
                Some(expected) => assert_eq!(got.unwrap(), expected, "{name} {current:?} force={force}"),
                None => assert_eq!(got.unwrap_err().exit_code(), 3, "{name} {current:?} force={force}"),
            }
        }
    }
}
