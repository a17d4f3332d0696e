//! Where the database URL comes from, and how it is shown without its password.

use crate::redact::redact;
use std::fmt;

use serde::Serialize;

use super::EnvironmentKind;
use crate::error::{Error, Result};

/// A PostgreSQL connection URL. It may hold a password, so it only ever prints redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    /// Checks that `text` is a `postgres://` or `postgresql://` URL; `origin` names
    /// where it came from, for the error (the URL itself is never echoed whole).
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let parsed = url::Url::parse(text).map_err(|err| {
            Error::usage(format!("the database URL from {origin} is not a valid URL ({err})"))
                .help("write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE")
        })?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            // The URL is not echoed: a parser that disagrees on its shape might miss the password.
            return Err(Error::usage(format!(
                "the database URL from {origin} has scheme `{}`, not postgres",
                parsed.scheme()
            ))
            .help("write it as postgres://USER:PASSWORD@HOST:PORT/DATABASE"));
        }
        Ok(DatabaseUrl(text.to_owned()))
    }

    /// The full URL, password included: only for handing to the database driver.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// The URL for sqlx: without `sslpassword`, which sqlx does not take and would
    /// otherwise name, value and all, in its "unrecognized parameter" warning.
    pub fn for_driver(&self) -> String {
        let Ok(mut url) = url::Url::parse(&self.0) else {
            return self.0.clone();
        };
        if !url.query_pairs().any(|(key, _)| key.eq_ignore_ascii_case("sslpassword")) {
            return self.0.clone();
        }
        remove_query_parameter(&mut url, "sslpassword");
        url.to_string()
    }

    /// The URL without its password, and the password (percent-decoded), for programs
    /// such as psql that take it from `PGPASSWORD` rather than the visible command line.
    pub fn split_password(&self) -> (String, Option<String>) {
        let Ok(mut url) = url::Url::parse(&self.0) else {
            return (self.0.clone(), None);
        };
        let mut password = url
            .password()
            .map(|password| percent_encoding::percent_decode_str(password).decode_utf8_lossy().into_owned());
        let _ = url.set_password(None);
        let mut kept = Vec::new();
        for (key, value) in url.query_pairs() {
            if key == "password" {
                password = Some(value.into_owned());
            } else {
                kept.push((key.into_owned(), value.into_owned()));
            }
        }
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
        (url.to_string(), password)
    }

    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

/// Removes every `name` parameter (in any case) from `url`'s query, and the
/// query itself when nothing is left of it.
pub(crate) fn remove_query_parameter(url: &mut url::Url, name: &str) {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(key, _)| !key.eq_ignore_ascii_case(name))
        .map(|(key, value)| (key.into_owned(), value.into_owned()))
        .collect();
    if kept.is_empty() {
        url.set_query(None);
    } else {
        url.query_pairs_mut().clear().extend_pairs(kept);
    }
}

impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

/// Which database a command talks to, and how that was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Url {
        url: DatabaseUrl,
        source: UrlSource,
    },
    /// No URL given: development and test use the embedded Postgres under `.praxia/`.
    Embedded,
    /// No URL given, and staging and production have no fallback.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum UrlSource {
    Flag,
    Variable(String),
}

impl fmt::Display for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlSource::Flag => f.write_str("--database-url"),
            UrlSource::Variable(name) => write!(f, "${name}"),
        }
    }
}

/// Decides the database from the flag, the environment variable's value (empty counts
/// as unset) and the environment kind. Pure: the caller reads the variable.
pub fn resolve(
    flag: Option<&str>,
    variable_name: &str,
    variable_value: Option<&str>,
    kind: EnvironmentKind,
) -> Result<DatabaseTarget> {
    if let Some(text) = flag {
        let url = DatabaseUrl::parse(text, "--database-url")?;
        return Ok(DatabaseTarget::Url { url, source: UrlSource::Flag });
    }
    if let Some(text) = variable_value.filter(|value| !value.trim().is_empty()) {
        let url = DatabaseUrl::parse(text, &format!("${variable_name}"))?;
        return Ok(DatabaseTarget::Url { url, source: UrlSource::Variable(variable_name.to_owned()) });
    }
    if kind.uses_embedded_database() {
        return Ok(DatabaseTarget::Embedded);
    }
    Ok(DatabaseTarget::Missing)
}

/// The error for a command that needs the database when no URL was given.
pub fn missing_url_error(environment: &str, kind: EnvironmentKind, variable_name: &str) -> Error {
    Error::usage(format!("no database URL for the {kind} environment `{environment}`"))
        .note("looked in", format!("--database-url, ${variable_name}"))
        .help(format!("set {variable_name} (on Dokku it comes from `dokku postgres:link`), or pass --database-url"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_url_never_prints_its_password() {
        let url = DatabaseUrl::parse("postgres://postgres:abc123@dokku-postgres-x:5432/x", "$DATABASE_URL").unwrap();
        assert!(!format!("{url} {url:?}").contains("abc123"));
        assert!(!serde_json::to_string(&url).unwrap().contains("abc123"));
        assert_eq!(url.expose_secret(), "postgres://postgres:abc123@dokku-postgres-x:5432/x");
    }

    #[test]
    fn the_password_can_be_split_off_for_pgpassword() {
        let url = DatabaseUrl::parse("postgres://app:p%40ss%2Fw@db:5432/praxia?sslmode=require", "t").unwrap();
        assert_eq!(
            url.split_password(),
            ("postgres://app@db:5432/praxia?sslmode=require".to_owned(), Some("p@ss/w".to_owned()))
        );
        let url = DatabaseUrl::parse("postgres://app@db/praxia", "t").unwrap();
        assert_eq!(url.split_password(), ("postgres://app@db/praxia".to_owned(), None));
        let url = DatabaseUrl::parse("postgres://app@db/praxia?password=s3cret&sslmode=require", "t").unwrap();
        assert_eq!(
            url.split_password(),
            ("postgres://app@db/praxia?sslmode=require".to_owned(), Some("s3cret".to_owned()))
        );
    }

    #[test]
    fn a_malformed_url_is_refused_without_echoing_it() {
        let err = DatabaseUrl::parse("postgres//user:hunter2@host", "$DATABASE_URL").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("$DATABASE_URL"));
        assert!(!err.to_string().contains("hunter2"));
        for text in ["mysql://user:hunter2@host/db", "x:postgres://u:hunter2@h/d"] {
            let err = DatabaseUrl::parse(text, "--database-url").unwrap_err();
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn the_flag_wins_then_the_variable_then_the_embedded_database() {
        use EnvironmentKind::*;
        let flag = "postgres://flag@h/d";
        let var = "postgres://var@h/d";
        let url = |text: &str| DatabaseUrl::parse(text, "t").unwrap();
        struct Case {
            flag: Option<&'static str>,
            var: Option<&'static str>,
            kind: EnvironmentKind,
            expected: Option<DatabaseTarget>,
        }
        let from_var = || DatabaseTarget::Url { url: url(var), source: UrlSource::Variable("DATABASE_URL".into()) };
        let from_flag = || DatabaseTarget::Url { url: url(flag), source: UrlSource::Flag };
        let cases = [
            Case { flag: Some(flag), var: Some(var), kind: Production, expected: Some(from_flag()) },
            Case { flag: None, var: Some(var), kind: Production, expected: Some(from_var()) },
            Case { flag: None, var: Some(var), kind: Development, expected: Some(from_var()) },
            Case { flag: None, var: None, kind: Development, expected: Some(DatabaseTarget::Embedded) },
            Case { flag: None, var: Some("  "), kind: Test, expected: Some(DatabaseTarget::Embedded) },
            Case { flag: None, var: None, kind: Staging, expected: Some(DatabaseTarget::Missing) },
            Case { flag: None, var: Some(""), kind: Production, expected: Some(DatabaseTarget::Missing) },
            Case { flag: Some("nope"), var: Some(var), kind: Development, expected: None },
        ];
        for case in cases {
            let got = resolve(case.flag, "DATABASE_URL", case.var, case.kind);
            match case.expected {
                Some(expected) => assert_eq!(got.unwrap(), expected),
                None => assert_eq!(got.unwrap_err().exit_code(), 2),
            }
        }
    }

    #[test]
    fn a_missing_url_names_the_variable_and_the_fix() {
        let err = missing_url_error("staging", EnvironmentKind::Staging, "STAGING_DB");
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("$STAGING_DB"), "{err}");
        assert!(err.help.unwrap().contains("postgres:link"));
    }
}
