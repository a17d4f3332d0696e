//! The environment file format: serde structs with defaults, validation, and
//! errors that name the file, line, column and key. Pure: no I/O.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, de};
use toml::Spanned;

use super::backup::{BackupFile, BackupSettings};
use super::contract::{ContractFile, ContractSettings};
use super::drift::{DriftFile, DriftSettings};
use super::duration::PgTimeout;
use super::review::{ReviewFile, ReviewSettings};
use super::seed::SeedSettings;
use super::studio::{StudioFile, StudioSettings};
use super::{Environment, EnvironmentKind, HumanDuration};
use crate::error::{Error, Result};
use crate::text_position::line_column;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentFile {
    kind: EnvironmentKind,
    #[serde(default)]
    database: DatabaseSettings,
    #[serde(default)]
    migrations: MigrationSettings,
    dokku: Option<DokkuSettings>,
    setup: Option<SetupSettings>,
    seed: Option<Spanned<SeedSettings>>,
    #[serde(default)]
    review: ReviewFile,
    #[serde(default)]
    backup: BackupFile,
    #[serde(default)]
    drift: DriftFile,
    #[serde(default)]
    studio: StudioFile,
    #[serde(default)]
    contract: ContractFile,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// The variable that holds the database URL.
    pub url_env: VariableName,
    /// How long `release` waits for the database to accept connections.
    pub wait: HumanDuration,
    /// How long a migration run waits for the migration lock held by another runner.
    pub lock_wait: HumanDuration,
    /// `SET lock_timeout` inside migrations.
    pub lock_timeout: PgTimeout,
    /// `SET statement_timeout` inside migrations.
    pub statement_timeout: PgTimeout,
    /// `lock_timeout` for a statement that does not block the app's reads and
    /// writes while it waits (`CREATE INDEX CONCURRENTLY`, `VALIDATE CONSTRAINT`,
    /// ...): an index build waits for every older transaction of the database.
    pub concurrent_lock_timeout: PgTimeout,
    /// `statement_timeout` for those statements: a build on a large table is long.
    pub concurrent_statement_timeout: PgTimeout,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url_env: VariableName("DATABASE_URL".to_owned()),
            wait: HumanDuration::from_secs(60),
            lock_wait: HumanDuration::from_secs(60),
            lock_timeout: PgTimeout::from_secs(5),
            statement_timeout: PgTimeout::from_secs(600),
            concurrent_lock_timeout: PgTimeout::from_secs(30 * 60),
            concurrent_statement_timeout: PgTimeout::from_secs(4 * 60 * 60),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MigrationSettings {
    /// The drizzle-kit migration folder; relative paths resolve against the project root.
    pub dir: PathBuf,
    /// drizzle's `migrationsSchema`.
    pub schema: Identifier,
    /// drizzle's `migrationsTable`.
    pub table: Identifier,
    /// What to do about a `.sql` file the journal does not list.
    pub outside_journal: OutsideJournal,
    /// The drizzle-kit config `generate` runs with; relative to the project root.
    /// None: the first of drizzle.config.{ts,mts,js,mjs,cjs,json} beside the
    /// migrations folder, or in a folder above it up to the root.
    pub drizzle_config: Option<PathBuf>,
}

/// A `.sql` file in the folder that the journal does not list (drizzle ignores it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutsideJournal {
    /// Name it in a warning and go on, as drizzle goes on.
    #[default]
    Warn,
    /// Refuse the folder (exit 4).
    Refuse,
}

impl Default for MigrationSettings {
    fn default() -> Self {
        MigrationSettings {
            dir: PathBuf::from("migrations"),
            schema: Identifier("drizzle".to_owned()),
            table: Identifier("__drizzle_migrations".to_owned()),
            outside_journal: OutsideJournal::Warn,
            drizzle_config: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DokkuSettings {
    pub host: HostName,
    /// Unset: the user's ssh config decides (22 by default).
    pub port: Option<u16>,
    #[serde(default = "default_dokku_user")]
    pub user: String,
    pub app: AppName,
    #[serde(default = "default_known_hosts")]
    pub known_hosts: Spanned<KnownHostsPolicy>,
    /// A pinned host key (`ssh-ed25519 AAAA...`), checked strictly.
    pub host_key: Option<HostKey>,
    pub identity_file: Option<PathBuf>,
}

fn default_known_hosts() -> Spanned<KnownHostsPolicy> {
    Spanned::new(0..0, KnownHostsPolicy::Strict)
}

fn default_dokku_user() -> String {
    "dokku".to_owned()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KnownHostsPolicy {
    #[default]
    Strict,
    AcceptNew,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SetupSettings {
    /// The deployed app's base URL; `bootstrap --url` overrides it.
    pub url: Option<HttpUrl>,
    #[serde(default = "default_token_env")]
    pub token_env: VariableName,
    /// Replaced by `trusted_proxies`: `true` is refused with how to name the proxy.
    #[serde(default)]
    pub trust_proxy: bool,
    /// The proxies whose `X-Forwarded-For` is believed (addresses or CIDRs): on
    /// Dokku, nginx on the host, seen from the container as the Docker bridge's
    /// gateway. Empty: the header is ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<ProxyAddress>,
    /// `serve`: how long a client has to send a request's headers, and how long an
    /// idle keep-alive connection stays open.
    #[serde(default = "default_header_timeout")]
    pub header_timeout: HumanDuration,
    /// `serve`: connections served at once; more wait until one closes.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
}

/// An address or a network (`172.17.0.1`, `10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyAddress(pub ipnet::IpNet);

impl ProxyAddress {
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        self.0.contains(&address.to_canonical())
    }
}

impl<'de> Deserialize<'de> for ProxyAddress {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let net = match text.parse::<std::net::IpAddr>() {
            Ok(address) => Ok(ipnet::IpNet::from(address.to_canonical())),
            Err(_) => text.parse::<ipnet::IpNet>(),
        };
        net.map(ProxyAddress)
            .map_err(|_| de::Error::custom(format!("`{text}` is not an address or a network (172.17.0.1, 10.0.0.0/8)")))
    }
}

impl Serialize for ProxyAddress {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

fn default_token_env() -> VariableName {
    VariableName("PRAXIA_SETUP_TOKEN".to_owned())
}

fn default_header_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}

fn default_max_connections() -> usize {
    1024
}

/// Reads one environment file. `name` is the file stem, `root` the project root
/// that relative paths resolve against.
pub fn parse_environment(name: &str, file: &Path, text: &str, root: &Path) -> Result<Environment> {
    let parsed: EnvironmentFile =
        toml::from_str(text).map_err(|err| located_error(file, text, err.span(), err.message()))?;

    if let Some(dokku) = &parsed.dokku
        && parsed.kind == EnvironmentKind::Production
        && *dokku.known_hosts.get_ref() == KnownHostsPolicy::AcceptNew
    {
        return Err(located_error(
            file,
            text,
            Some(dokku.known_hosts.span()),
            "`accept-new` trusts whatever host answers first; production must check host keys strictly",
        )
        .help("set known_hosts = \"strict\" and pin the key with host_key = \"ssh-ed25519 AAAA...\" (from `ssh-keyscan HOST`)"));
    }

    if parsed.setup.as_ref().is_some_and(|setup| setup.trust_proxy) {
        return Err(located_error(
            file,
            text,
            None,
            "`trust_proxy = true` believed X-Forwarded-For from any private address (any container on the Docker bridge could forge it)",
        )
        .help("name the proxy instead: trusted_proxies = [\"172.17.0.1\"], the Docker bridge's gateway where Dokku's nginx runs (on the host: `docker network inspect bridge --format '{{(index .IPAM.Config 0).Gateway}}'`)"));
    }

    if let Some(seed) = &parsed.seed {
        if !parsed.kind.uses_embedded_database() {
            return Err(located_error(
                file,
                text,
                Some(seed.span()),
                &format!(
                    "a [seed] section is not allowed in a {} environment: fixtures never reach staging or production",
                    parsed.kind
                ),
            )
            .help("remove it; staging and production get their first admin through `praxia-deploy bootstrap`"));
        }
        if let Some((span, reason)) = super::seed::problems(seed.get_ref()).into_iter().next() {
            return Err(located_error(file, text, Some(span), &reason));
        }
    }

    if let Some((rule, level)) = parsed.review.rules.iter().find(|(rule, _)| !crate::rule_names::is_rule(rule)) {
        return Err(located_error(file, text, Some(level.span()), &format!("unknown review rule `{rule}`")).help(
            "name rules as `lint` prints them (ban-drop-column, require-concurrent-index-creation, previous-release-overlap, ...); the README lists them under Reviewing migrations",
        ));
    }

    if let Some(keep) = &parsed.backup.keep
        && *keep.get_ref() == 0
    {
        return Err(located_error(file, text, Some(keep.span()), "`keep = 0` would remove the backup just taken")
            .help("keep at least 1 (the default is 10)"));
    }

    let studio = StudioSettings::resolve(parsed.studio.clone()).map_err(|(span, reason)| {
        located_error(file, text, Some(span), &reason)
            .help("name each column to redact as `table.column`, e.g. redact = [\"profile.phone\"]")
    })?;

    let mut migrations = parsed.migrations;
    migrations.dir = root.join(&migrations.dir);
    migrations.drizzle_config = migrations.drizzle_config.map(|config| root.join(config));
    Ok(Environment {
        name: name.to_owned(),
        kind: parsed.kind,
        file: file.to_path_buf(),
        root: root.to_path_buf(),
        database: parsed.database,
        migrations,
        dokku: parsed.dokku,
        setup: parsed.setup,
        seed: parsed.seed.map(Spanned::into_inner),
        review: ReviewSettings::resolve(parsed.review, parsed.kind),
        backup: BackupSettings::resolve(parsed.backup, parsed.kind, root),
        drift: DriftSettings::resolve(parsed.drift, parsed.kind, root),
        contract: ContractSettings::resolve(parsed.contract, parsed.kind),
        studio,
    })
}

/// A configuration error pointing at `span` of `text`: file, line, column and key.
fn located_error(file: &Path, text: &str, span: Option<std::ops::Range<usize>>, reason: &str) -> Error {
    let reason = reason.trim_end();
    let Some(span) = span else {
        return Error::usage(format!("invalid environment file {}: {reason}", file.display()))
            .help("every key an environment file may hold is listed in the README, under Configuration");
    };
    let location = Location::of(text, span.start);
    let key = match (missing_field(reason), &location.key) {
        // serde points a missing field at the table that lacks it: the whole document,
        // or a `[section]` header.
        (Some(field), Some(table)) if span.start > 0 => format!("{table}.{field}"),
        (Some(field), _) => field,
        (None, Some(key)) => key.clone(),
        (None, None) => "(top level)".to_owned(),
    };
    Error::usage(format!(
        "invalid environment file {}:{}:{}: key `{key}`",
        file.display(),
        location.line,
        location.column
    ))
    .note("reason", reason)
    .note("line", format!("{} | {}", location.line, location.text.trim_end()))
    .help("every key an environment file may hold is listed in the README, under Configuration")
}

/// Where a byte offset falls: 1-based line and column, the line's text, and the
/// dotted key being defined there (`database.wait`), when the line defines one.
/// The key is read off the lines, not a parse tree, on purpose: most of these
/// errors are syntax errors, which leave toml no tree to walk.
#[derive(Debug, PartialEq, Eq)]
struct Location {
    line: usize,
    column: usize,
    text: String,
    key: Option<String>,
}

impl Location {
    fn of(text: &str, offset: usize) -> Location {
        let offset = offset.min(text.len());
        let (line, column) = line_column(text, offset);
        let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let line_text = text[line_start..].lines().next().unwrap_or("").to_owned();

        let mut table: Option<String> = None;
        for earlier in text[..line_start].lines() {
            if let Some(header) = table_header(earlier) {
                table = Some(header);
            }
        }
        let key = if let Some(header) = table_header(&line_text) {
            Some(header)
        } else {
            line_text.split_once('=').map(|(key, _)| {
                let key = unquote(key.trim());
                match &table {
                    Some(table) => format!("{table}.{key}"),
                    None => key,
                }
            })
        };
        Location { line, column, text: line_text, key }
    }
}

fn table_header(line: &str) -> Option<String> {
    let line = line.trim();
    let inner = line.strip_prefix('[')?.split(']').next()?;
    Some(unquote(inner.trim_start_matches('[').trim()))
}

fn unquote(key: &str) -> String {
    key.split('.').map(|part| part.trim().trim_matches('"').trim_matches('\'')).collect::<Vec<_>>().join(".")
}

/// The field serde names in "missing field `kind`".
fn missing_field(reason: &str) -> Option<String> {
    let rest = reason.split_once("missing field `")?.1;
    Some(rest.split('`').next()?.to_owned())
}

/// Defines a string newtype whose deserializer runs `$check`, so a bad value is
/// reported at its own line and column.
macro_rules! checked_string {
    ($(#[$meta:meta])* $name:ident, $check:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                let check: fn(&str) -> std::result::Result<(), String> = $check;
                check(&text).map_err(de::Error::custom)?;
                Ok($name(text))
            }
        }
    };
}

checked_string!(
    /// A PostgreSQL identifier for the bookkeeping schema or table (quoted when used).
    Identifier,
    |text| {
        if text.is_empty() || text.len() > 63 || text.contains('\0') || text.contains('"') {
            return Err(format!("`{text}` is not a usable PostgreSQL name: 1 to 63 bytes, no `\"`"));
        }
        Ok(())
    }
);

checked_string!(
    /// The name of an environment variable.
    VariableName,
    |text| {
        let mut chars = text.chars();
        let valid_start = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        if !valid_start || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("`{text}` is not a variable name: letters, digits and `_`, not starting with a digit"));
        }
        Ok(())
    }
);

checked_string!(
    /// A Dokku app name: lowercase letters, digits and dashes, starting with a letter.
    AppName,
    |text| {
        let valid = text.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if !valid {
            return Err(format!(
                "`{text}` is not a Dokku app name: lowercase letters, digits and `-`, starting with a letter"
            ));
        }
        Ok(())
    }
);

checked_string!(
    /// An SSH host name or address.
    HostName,
    |text| {
        if text.is_empty() || text.starts_with('-') || text.chars().any(|c| c.is_whitespace() || c == '@') {
            return Err(format!("`{text}` is not a host name (no spaces, no `@`: the user goes in `user`)"));
        }
        Ok(())
    }
);

checked_string!(
    /// A pinned SSH host key as `ssh-keyscan` prints it, without the host: `ssh-ed25519 AAAA...`.
    HostKey,
    |text| {
        let mut parts = text.split_whitespace();
        let (Some(algorithm), Some(key)) = (parts.next(), parts.next()) else {
            return Err("a host key is `<algorithm> <base64 key>`, e.g. `ssh-ed25519 AAAAC3Nza...`".to_owned());
        };
        let known = algorithm.starts_with("ssh-") || algorithm.starts_with("ecdsa-") || algorithm.starts_with("sk-");
        let base64 = key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='));
        if !known || !base64 {
            return Err(format!(
                "`{algorithm} ...` is not a host key: copy a line from `ssh-keyscan HOST` without the host name"
            ));
        }
        Ok(())
    }
);

checked_string!(
    /// An `http://` or `https://` base URL.
    HttpUrl,
    |text| {
        match url::Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Ok(()),
            _ => Err(format!("`{text}` is not an http(s) URL such as \"https://staging.praxia.example\"")),
        }
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Environment> {
        parse_environment("staging", Path::new("environments/staging.toml"), text, Path::new("/project"))
    }

    fn error_of(text: &str) -> String {
        let err = parse(text).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        err.to_string()
    }

    #[test]
    fn a_minimal_file_gets_every_default() {
        let env = parse("kind = \"staging\"\n").unwrap();
        assert_eq!(env.kind, EnvironmentKind::Staging);
        assert_eq!(env.database.url_env.as_str(), "DATABASE_URL");
        assert_eq!(env.database.wait, HumanDuration::from_secs(60));
        assert_eq!(env.database.statement_timeout, PgTimeout::from_secs(600));
        assert_eq!(env.migrations.dir, Path::new("/project/migrations"));
        assert_eq!(env.migrations.schema.as_str(), "drizzle");
        assert_eq!(env.migrations.table.as_str(), "__drizzle_migrations");
        assert!(env.dokku.is_none() && env.setup.is_none());
    }

    #[test]
    fn a_full_file_is_read_into_typed_settings() {
        let env = parse(
            r#"
kind = "staging"

[database]
url_env = "STAGING_DATABASE_URL"
wait = "30s"
lock_wait = "2min"
lock_timeout = "3s"
statement_timeout = "10min"

[migrations]
dir = "db/migrations"
schema = "ops"
table = "migrations"

[dokku]
host = "fenrir"
port = 2222
user = "dokku"
app = "praxia-coaching-app-backend-staging"
known_hosts = "accept-new"
host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB"

[setup]
url = "https://staging.praxia.example"
token_env = "SETUP_TOKEN"
trusted_proxies = ["172.17.0.1", "fd00::/8"]
"#,
        )
        .unwrap();
        assert_eq!(env.database.url_env.as_str(), "STAGING_DATABASE_URL");
        assert_eq!(env.database.lock_wait, HumanDuration::from_secs(120));
        assert_eq!(env.migrations.dir, Path::new("/project/db/migrations"));
        let dokku = env.dokku.unwrap();
        assert_eq!((dokku.host.as_str(), dokku.port, dokku.user.as_str()), ("fenrir", Some(2222), "dokku"));
        assert_eq!(dokku.app.as_str(), "praxia-coaching-app-backend-staging");
        assert_eq!(*dokku.known_hosts.get_ref(), KnownHostsPolicy::AcceptNew);
        let setup = env.setup.unwrap();
        assert_eq!(setup.token_env.as_str(), "SETUP_TOKEN");
        assert!(setup.trusted_proxies[0].contains("172.17.0.1".parse().unwrap()));
        assert!(
            setup.trusted_proxies[0].contains("::ffff:172.17.0.1".parse().unwrap()),
            "IPv4-mapped is the same client"
        );
        assert!(!setup.trusted_proxies[0].contains("172.17.0.2".parse().unwrap()));
        assert!(setup.trusted_proxies[1].contains("fd00::1".parse().unwrap()));
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line_and_column() {
        let text = error_of("kind = \"staging\"\n\n[database]\nwiat = \"60s\"\n");
        assert!(
            text.starts_with("invalid environment file environments/staging.toml:4:1: key `database.wiat`"),
            "{text}"
        );
        assert!(text.contains("unknown field `wiat`"), "{text}");
    }

    #[test]
    fn an_unknown_table_is_named() {
        let text = error_of("kind = \"staging\"\n[dokkku]\nhost = \"fenrir\"\n");
        assert!(text.contains("staging.toml:2:"), "{text}");
        assert!(text.contains("key `dokkku`"), "{text}");
    }

    #[test]
    fn bad_values_are_named_at_their_own_position() {
        struct Case {
            text: &'static str,
            location: &'static str,
            reason: &'static str,
        }
        let cases = [
            Case { text: "kind = \"qa\"\n", location: ":1:8: key `kind`", reason: "unknown variant `qa`" },
            Case {
                text: "kind = \"test\"\n[database]\nwait = \"sixty\"\n",
                location: ":3:8: key `database.wait`",
                reason: "\"60s\"",
            },
            Case {
                text: "kind = \"test\"\n[database]\nwait = 60\n",
                location: ":3:8: key `database.wait`",
                reason: "duration string",
            },
            Case {
                text: "kind = \"test\"\n[database]\nlock_timeout = \"0s\"\n",
                location: ":3:16: key `database.lock_timeout`",
                reason: "turn the timeout off",
            },
            Case {
                text: "kind = \"test\"\n[database]\nurl_env = \"DATABASE URL\"\n",
                location: ":3:11: key `database.url_env`",
                reason: "not a variable name",
            },
            Case {
                text: "kind = \"test\"\n[dokku]\nhost = \"fenrir\"\napp = \"Praxia_App\"\n",
                location: ":4:7: key `dokku.app`",
                reason: "not a Dokku app name",
            },
            Case {
                text: "kind = \"test\"\n[dokku]\nhost = \"fenrir\"\napp = \"a\"\nhost_key = \"fenrir ssh-ed25519 AAAA\"\n",
                location: ":5:12: key `dokku.host_key`",
                reason: "ssh-keyscan",
            },
            Case {
                text: "kind = \"test\"\n[setup]\nurl = \"staging.praxia.example\"\n",
                location: ":3:7: key `setup.url`",
                reason: "http(s) URL",
            },
            Case {
                text: "kind = \"test\"\n[migrations]\ntable = \"\"\n",
                location: ":3:9: key `migrations.table`",
                reason: "1 to 63 bytes",
            },
            Case { text: "[database]\nwait = \"5s\"\n", location: "key `kind`", reason: "missing field `kind`" },
            Case { text: "kind = \"test\"\nkind = \"test\"\n", location: ":2:1", reason: "duplicate key" },
            Case { text: "kind = \"test\n", location: "staging.toml:1:13: key `kind`", reason: "invalid basic string" },
        ];
        for case in cases {
            let text = error_of(case.text);
            assert!(text.contains(case.location), "expected `{}` in:\n{text}", case.location);
            assert!(text.contains(case.reason), "expected `{}` in:\n{text}", case.reason);
        }
    }

    #[test]
    fn a_dokku_section_needs_host_and_app() {
        let text = error_of("kind = \"staging\"\n[dokku]\nhost = \"fenrir\"\n");
        assert!(text.contains("missing field `app`"), "{text}");
        assert!(text.contains("key `dokku.app`"), "{text}");
    }

    #[test]
    fn production_refuses_accept_new_host_keys() {
        let text = error_of(
            "kind = \"production\"\n[dokku]\nhost = \"fenrir\"\napp = \"praxia\"\nknown_hosts = \"accept-new\"\n",
        );
        assert!(text.contains(":5:15: key `dokku.known_hosts`"), "{text}");
        assert!(text.contains("host_key"), "{text}");
    }

    const SEED: &str = "[seed]\npassword = \"praxia-dev-password\"\n\n[[seed.organizations]]\nslug = \"north\"\nname = \"North\"\n\n[[seed.users]]\nemail = \"coach@north.test\"\nname = \"C\"\nrole = \"coach\"\norganization = \"north\"\n";

    fn with_kind(kind: &str, rest: &str) -> String {
        format!("kind = \"{kind}\"\n{rest}")
    }

    #[test]
    fn development_and_test_may_declare_fixtures() {
        for kind in ["development", "test"] {
            let env = parse(&with_kind(kind, SEED)).unwrap();
            let seed = env.seed.unwrap();
            assert_eq!(seed.users[0].role, crate::roles::Role::Coach);
            assert_eq!(seed.organizations[0].slug.get_ref(), "north");
        }
    }

    #[test]
    fn a_seed_section_in_staging_or_production_is_refused() {
        for kind in ["staging", "production"] {
            let text = error_of(&with_kind(kind, SEED));
            assert!(text.contains(":2:1: key `seed`"), "{text}");
            assert!(text.contains("fixtures never reach staging or production"), "{text}");
            assert!(text.contains("bootstrap"), "{text}");
        }
    }

    #[test]
    fn fixtures_are_cross_checked() {
        let cases = [
            (
                SEED.replace("organization = \"north\"", "organization = \"south\""),
                ":13:16: key `seed.users.organization`",
                "`south` is not among",
            ),
            (SEED.replace("\norganization = \"north\"", ""), "key `seed.users.email`", "needs an `organization`"),
            (SEED.replace("coach@north.test", "Coach@North.test"), "key `seed.users.email`", "not a lowercase email"),
            (SEED.replace("praxia-dev-password", "short"), "key `seed.password`", "8 to 128 characters"),
            (SEED.replace("role = \"coach\"", "role = \"owner\""), "key `seed.users.role`", "unknown variant `owner`"),
            (SEED.replace("slug = \"north\"", "slug = \"North Side\""), "key `seed.organizations.slug`", "not a slug"),
        ];
        for (seed, location, reason) in cases {
            let text = error_of(&with_kind("development", &seed));
            assert!(text.contains(location), "expected {location:?} in:\n{text}");
            assert!(text.contains(reason), "expected {reason:?} in:\n{text}");
        }
    }

    #[test]
    fn location_handles_quoted_keys_and_unicode() {
        let text = "kind = \"x\"\n[\"dokku\"]\n\"app\" = \"é\"\n";
        let offset = text.find("\"é").unwrap() + 1;
        let location = Location::of(text, offset);
        assert_eq!((location.line, location.column), (3, 10));
        assert_eq!(location.key.as_deref(), Some("dokku.app"));
    }
}
