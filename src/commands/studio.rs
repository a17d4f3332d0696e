//! `studio`: the read-only browser on this machine, for the selected environment.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use sqlx::ConnectOptions;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::Context;
use crate::config::EnvironmentKind;
use crate::confirmation::{Answer, ask_to_type};
use crate::error::{Error, ErrorKind, Result};
use crate::output::Report;
use crate::setup::server::{ConnectionLimits, serve};
use crate::studio::{Studio, router};

/// How long one of the studio's reads may take.
const STATEMENT_TIMEOUT: &str = "5s";

pub async fn run(context: &Context<'_>, bind: std::net::SocketAddr, open: bool, yes: bool) -> Result<Report> {
    let env = &context.env;
    if matches!(env.kind, EnvironmentKind::Staging | EnvironmentKind::Production) && !yes {
        confirm(env)?;
    }
    if !bind.ip().is_loopback() {
        tracing::warn!(
            "listening on {bind}, beyond this machine: anyone who gets the printed URL can read the database"
        );
    }
    let url = crate::database::url_for(env, context.cli.global.database_url.as_deref())?;
    let options = PgConnectOptions::from_str(&url.for_driver())
        .map_err(|_| Error::usage(format!("the database URL {url} is not usable")))?
        .application_name("praxia-deploy studio")
        .disable_statement_logging()
        // Read-only twice over: the session's default, and each read's own transaction.
        .options([("default_transaction_read_only", "on"), ("statement_timeout", STATEMENT_TIMEOUT)]);
    // The database is up before the URL is printed.
    let connection =
        crate::database::connect(&url, context.wait(&crate::cli::WaitArgs { wait: None }), "praxia-deploy studio")
            .await?;
    let _ = sqlx::Connection::close(connection).await;
    let pool =
        PgPoolOptions::new().max_connections(4).acquire_timeout(Duration::from_secs(5)).connect_lazy_with(options);

    let listener = tokio::net::TcpListener::bind(bind).await.map_err(|err| {
        Error::usage(format!("could not listen on {bind}: {err}"))
            .help("pass another --bind address, or stop what uses the port")
    })?;
    let local = listener.local_addr().map_err(|err| Error::internal(format!("no local address: {err}")))?;
    let token = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let overview = json!({
        "environment": env.name,
        "kind": env.kind,
        "database": url.redacted(),
    });
    let redaction = crate::studio::queries::Redaction { extra: env.studio.redact.clone() };
    let studio = Arc::new(Studio {
        exports: Arc::new(tokio::sync::Semaphore::new(crate::studio::EXPORTS_AT_ONCE)),
        pool,
        token: token.clone(),
        bound: local.to_string(),
        overview,
        env: env.clone(),
        redaction,
        database_url: url.clone(),
    });
    // In the fragment: no request carries it, so no log or proxy sees it.
    let address = format!("http://{local}/#token={token}");
    // The URL is the key: printed once, on stdout, for the user (never logged).
    println!("studio for {} ({}) at {address}", env.name, url.redacted());
    if open {
        let opener = if cfg!(target_os = "macos") { "open" } else { "xdg-open" };
        if let Err(err) = std::process::Command::new(opener).arg(&address).spawn() {
            tracing::warn!("could not open the browser ({opener}: {err}); open the URL above");
        }
    }
    serve(listener, router(studio), ConnectionLimits::default())
        .await
        .map_err(|err| Error::internal(format!("the studio's server stopped: {err}")))?;
    Ok(Report::new(&json!({ "stopped": true }), "studio stopped"))
}

/// `--yes`, or the app's name (the environment's without `[dokku]`) typed at a terminal.
fn confirm(env: &crate::config::Environment) -> Result<()> {
    let name = env.dokku.as_ref().map_or_else(|| env.name.clone(), |dokku| dokku.app.to_string());
    let refusal = || {
        Error::new(
            ErrorKind::Policy,
            format!("the studio on the {} database of {} was not confirmed", env.kind, env.name),
        )
    };
    let prompt =
        format!("This shows the {} database of {} on this machine. Type `{name}` to continue: ", env.kind, env.name);
    match ask_to_type(&prompt, &name)? {
        Answer::Confirmed => Ok(()),
        Answer::NoTerminal => {
            Err(refusal().help("it is read-only, but it shows that data on this machine: confirm with --yes"))
        }
        Answer::Refused => Err(refusal().help(format!("type `{name}` exactly, or pass --yes"))),
    }
}
