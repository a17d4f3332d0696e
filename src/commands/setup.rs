//! `serve` and `bootstrap`: the first-run endpoint and its CI client.

use std::io::Read;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use serde_json::json;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::Context;
use crate::config::HumanDuration;
use crate::database;
use crate::error::{Error, ErrorKind, Result};
use crate::output::Report;
use crate::setup::api::ApiError;
use crate::setup::client::{BootstrapOutcome, BootstrapRequest, bootstrap};
use crate::setup::server::{ConnectionLimits, DEFAULT_PORT, ServerSettings, router, serve};
use crate::setup::token;

/// The variable the admin's password may come from.
pub const PASSWORD_ENV: &str = "PRAXIA_ADMIN_PASSWORD";

/// `0.0.0.0:$PORT` (Dokku gives web containers PORT), else port 5000. Pure.
pub fn default_bind(port: Option<&str>) -> Result<SocketAddr> {
    let port = match port.map(str::trim).filter(|port| !port.is_empty()) {
        Some(text) => text.parse::<u16>().map_err(|_| {
            Error::usage(format!("PORT is `{text}`, not a port number")).help("unset PORT or pass --bind")
        })?,
        None => DEFAULT_PORT,
    };
    Ok(SocketAddr::from(([0, 0, 0, 0], port)))
}

/// The longest a statement of `serve` may run (its requests end at 30 s).
const SERVE_STATEMENT_MS: u128 = 20_000;

pub async fn serve_command(context: &Context<'_>, bind: Option<SocketAddr>) -> Result<Report> {
    let env = &context.env;
    let bind = match bind {
        Some(bind) => bind,
        None => default_bind(std::env::var("PORT").ok().as_deref())?,
    };
    let url = database::url_for(env, context.cli.global.database_url.as_deref())?;
    let options = PgConnectOptions::from_str(&url.for_driver())
        .map_err(|_| Error::usage(format!("the database URL {url} is not usable")))?
        .application_name("praxia-deploy serve")
        .disable_statement_logging()
        // No database work outlives its request: the lock waits and statements of a
        // request are cut before the request's own 30 s bound.
        .options([
            ("lock_timeout", format!("{}ms", env.database.lock_timeout.millis().min(SERVE_STATEMENT_MS))),
            ("statement_timeout", format!("{}ms", env.database.statement_timeout.millis().min(SERVE_STATEMENT_MS))),
        ]);
    // Lazy: the server starts, and /healthz answers 503, while the database is down.
    let pool =
        PgPoolOptions::new().max_connections(8).acquire_timeout(Duration::from_secs(5)).connect_lazy_with(options);

    let token_env = token::token_variable(env);
    let token = token::configured(env);
    if token.is_none() {
        tracing::warn!("{token_env} is not set: POST /api/setup/first-run is disabled and answers 403");
    }
    let trusted_proxies = env.setup.as_ref().map(|setup| setup.trusted_proxies.clone()).unwrap_or_default();
    let app = router(pool, ServerSettings { token, token_env, trusted_proxies });

    let listener = tokio::net::TcpListener::bind(bind).await.map_err(|err| {
        Error::usage(format!("could not listen on {bind}: {err}"))
            .help("pass another --bind address, or stop what uses the port")
    })?;
    let local = listener.local_addr().map_err(|err| Error::internal(format!("no local address: {err}")))?;
    tracing::info!("listening on http://{local} (database {url}, environment {})", env.name);
    let limits = match &env.setup {
        Some(setup) => ConnectionLimits {
            header_read: setup.header_timeout.0,
            max_connections: setup.max_connections.max(1),
            ..ConnectionLimits::default()
        },
        None => ConnectionLimits::default(),
    };
    serve(listener, app, limits).await.map_err(|err| Error::internal(format!("the server failed: {err}")))?;
    Ok(Report::new(&json!({ "bind": local.to_string(), "stopped": true }), "setup server stopped"))
}

pub struct BootstrapArgs<'a> {
    pub url: Option<&'a str>,
    pub email: &'a str,
    pub name: &'a str,
    pub password_stdin: bool,
    pub wait: HumanDuration,
    pub require_fresh: bool,
}

pub async fn bootstrap_command(context: &Context<'_>, args: &BootstrapArgs<'_>) -> Result<Report> {
    let env = &context.env;
    let setup = env.setup.as_ref();
    let base_url = match (args.url, setup.and_then(|setup| setup.url.as_ref())) {
        (Some(url), _) => url.to_owned(),
        (None, Some(url)) => url.to_string(),
        (None, None) => {
            return Err(Error::usage(format!("no setup URL for the {} environment", env.name))
                .help(format!("pass --url, or set [setup].url in {}", env.file.display())));
        }
    };
    crate::setup::client::check_base_url(&base_url)
        .map_err(|reason| Error::usage(format!("refusing the setup URL: {reason}")))?;
    let token_env = token::token_variable(env);
    // Where the server's token comes from: the Dokku app's settings, or the
    // environment of a `serve` started by hand.
    let on_dokku = env.dokku.is_some();
    let token = token::configured(env).ok_or_else(|| {
        let from = if on_dokku {
            format!("the token the server was deployed with (`dokku config:get <app> {token_env}`)")
        } else {
            "the token `praxia-deploy serve` was started with".to_owned()
        };
        Error::usage(format!("no setup token: ${token_env} is not set")).help(format!("set {token_env} to {from}"))
    })?;
    let password = read_password(args.password_stdin)?;
    let request = BootstrapRequest {
        base_url: &base_url,
        token: &token,
        email: args.email,
        name: args.name,
        password: &password,
    };
    let outcome = bootstrap(&request, args.wait.0).await;
    let report = |human: String| Report::new(&json!({ "url": base_url, "result": outcome }), human);
    match &outcome {
        BootstrapOutcome::Created { id, email } => {
            Ok(report(format!("created the platform admin {email} (user id {id})")))
        }
        BootstrapOutcome::AlreadyInitialized { earlier_attempt_unanswered } if args.require_fresh => {
            let error = Error::new(ErrorKind::Policy, "the platform already has its admin (--require-fresh)");
            let error = if *earlier_attempt_unanswered {
                error.note("but", "an earlier attempt of this run got no answer: it may be the one that created the admin").help(
                    format!("check whether {} can sign in: if so, this run created the admin and the answer was lost", request.email),
                )
            } else {
                error.help("this environment was bootstrapped before; drop --require-fresh to accept that")
            };
            Err(error.with_report(report(String::new())))
        }
        BootstrapOutcome::AlreadyInitialized { earlier_attempt_unanswered } => {
            let why = if *earlier_attempt_unanswered {
                " (an earlier attempt of this run got no answer and may have created it)"
            } else {
                ""
            };
            let mut human = format!("already initialised: the platform admin exists{why}; nothing to do");
            if let Some(fixture) = fixture_admin(env) {
                human.push_str(&format!(
                    "\nin {}, the fixtures (`release` and `seed` write them from {}) include the platform admin \
                     {fixture}: if this database has them, that admin is why (else an earlier bootstrap made it). \
                     To try the first run, use a database without fixtures (README: \"Trying the first run locally\")",
                    env.name,
                    env.file.display()
                ));
            }
            Ok(report(human))
        }
        BootstrapOutcome::Rejected { status, code, message, fields } => {
            let mut error = Error::new(ErrorKind::BootstrapRejected, format!("the setup endpoint refused: {message}"))
                .note("answer", format!("HTTP {status} {code}"));
            if let Some(fields) = fields.as_ref().and_then(|fields| fields.as_object()) {
                for (field, problem) in fields {
                    error = error.note(field, problem.as_str().unwrap_or_default());
                }
            }
            let help = match ApiError::from_code(code) {
                Some(ApiError::InvalidToken) => format!("check {token_env}: it must be the token the server runs with"),
                Some(ApiError::SetupDisabled) if on_dokku => {
                    format!("set {token_env} on the app (`dokku config:set`) and redeploy")
                }
                Some(ApiError::SetupDisabled) => format!("restart `praxia-deploy serve` with {token_env} set"),
                Some(ApiError::TooManyAttempts) => {
                    "wait a minute: too many wrong tokens came from this address".to_owned()
                }
                Some(ApiError::SchemaMissing) => "run the release phase first (`praxia-deploy release`)".to_owned(),
                Some(ApiError::DatabaseBusy) => {
                    "the app's database is held by something else (a migration?); run again once it is done, or wait longer with --wait".to_owned()
                }
                _ => "fix the request and run again".to_owned(),
            };
            Err(error.help(help).with_report(report(String::new())))
        }
        BootstrapOutcome::DatabaseUnavailable { reason } => {
            Err(Error::new(ErrorKind::Unavailable, format!("{base_url} answers, but its database does not"))
                .note("last answer", reason)
                .help(
                    "check the app's database (`dokku postgres:info`, `dokku postgres:link`); wait longer with --wait",
                )
                .with_report(report(String::new())))
        }
        BootstrapOutcome::Redirected { status, location } => Err(Error::new(
            ErrorKind::Remote,
            format!("{base_url} answered with a redirect (HTTP {status}); it was not followed"),
        )
        .note("location", crate::redact::redact(location))
        .help("give bootstrap the app's own URL (--url or [setup].url): following a redirect would send the admin's password to another address")
        .with_report(report(String::new()))),
        BootstrapOutcome::Unreachable { reason } => {
            Err(Error::new(ErrorKind::Remote, format!("could not reach {base_url}"))
                .note("last error", reason)
                .help("is the app deployed and running? Wait for it with --wait 2min")
                .with_report(report(String::new())))
        }
    }
}

/// The platform admin among the environment's fixtures, where it has fixtures
/// (development and test): why its database says it is initialised. Pure.
fn fixture_admin(env: &crate::config::Environment) -> Option<&str> {
    if !env.kind.accepts_fixtures() {
        return None;
    }
    let users = &env.seed.as_ref()?.users;
    let admin = users.iter().find(|user| user.role == crate::roles::Role::PlatformAdmin)?;
    Some(admin.email.get_ref().as_str())
}

/// From stdin (`--password-stdin`, one trailing newline dropped) or the variable; never a flag.
fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|err| Error::usage(format!("could not read stdin: {err}")))?;
        let text =
            text.strip_suffix('\n').map(|rest| rest.strip_suffix('\r').unwrap_or(rest)).unwrap_or(&text).to_owned();
        if text.is_empty() {
            return Err(Error::usage("--password-stdin read an empty password"));
        }
        return Ok(text);
    }
    std::env::var(PASSWORD_ENV).ok().filter(|password| !password.is_empty()).ok_or_else(|| {
        Error::usage("no password for the admin")
            .help(format!("pipe it in with --password-stdin, or set {PASSWORD_ENV} (it is never taken from a flag)"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_address_follows_port() {
        assert_eq!(default_bind(None).unwrap().to_string(), "0.0.0.0:5000");
        assert_eq!(default_bind(Some("")).unwrap().to_string(), "0.0.0.0:5000");
        assert_eq!(default_bind(Some("8080")).unwrap().to_string(), "0.0.0.0:8080");
        assert_eq!(default_bind(Some("http")).unwrap_err().exit_code(), 2);
    }
}
