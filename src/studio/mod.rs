//! `studio`: a local, read-only database browser. Everything it serves is in
//! the binary (`assets/`); every query runs in a READ ONLY transaction on
//! connections that default to read-only, with a statement timeout; secrets are
//! redacted on the server; a request needs the bound Host and the token.

pub mod guard;
pub mod queries;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sqlx::PgPool;

/// What every request needs.
pub struct Studio {
    pub pool: PgPool,
    pub token: String,
    /// The address the server listens on, as a Host header names it.
    pub bound: String,
    /// The environment, its kind and the redacted database URL.
    pub overview: serde_json::Value,
    /// For the migrations view: the folder and the bookkeeping table.
    pub env: crate::config::Environment,
    pub redaction: queries::Redaction,
    /// The database, for the drift check (the scratch database is elsewhere).
    pub database_url: crate::config::DatabaseUrl,
    /// Exports running at once, at most `EXPORTS_AT_ONCE`.
    pub exports: Arc<tokio::sync::Semaphore>,
}

/// Exports that may run at once: each holds a database connection while it streams.
pub const EXPORTS_AT_ONCE: usize = 2;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn router(studio: Arc<Studio>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/studio.js", get(script))
        .route("/studio.css", get(style))
        // Browsers ask for it; there is none.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/api/overview", get(overview))
        .route("/api/tables", get(tables))
        .route("/api/migrations", get(migrations))
        .route("/api/drift", get(drift))
        .route("/api/tables/{schema}/{table}", get(table))
        .route("/api/tables/{schema}/{table}/rows", get(rows))
        .route("/api/tables/{schema}/{table}/export", get(export))
        .layer(middleware::from_fn_with_state(studio.clone(), admit))
        .with_state(studio)
}

/// The guard, and the headers every answer carries.
async fn admit(State(studio): State<Arc<Studio>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|value| value.to_str().ok());
    let presented = guard::bearer(headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()));
    let needs_token = request.uri().path().starts_with("/api/");
    let mut response = match guard::decide(host, &studio.bound, &studio.token, presented, needs_token) {
        guard::Decision::WrongHost => {
            (StatusCode::MISDIRECTED_REQUEST, "this studio answers only to its own address\n").into_response()
        }
        guard::Decision::NoToken => {
            (StatusCode::UNAUTHORIZED, "open the URL praxia-deploy studio printed (it carries the token)\n")
                .into_response()
        }
        guard::Decision::Allow => next.run(request).await,
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (headers, body).into_response()
}

async fn page() -> Response {
    asset("text/html; charset=utf-8", include_str!("assets/index.html"))
}

async fn script() -> Response {
    asset("text/javascript; charset=utf-8", include_str!("assets/studio.js"))
}

async fn style() -> Response {
    asset("text/css; charset=utf-8", include_str!("assets/studio.css"))
}

/// The environment, and the database's stamp as it is now (a release may stamp it
/// while the studio runs), or why it could not be read: a role that may not read
/// praxia_deploy still browses the rest.
async fn overview(State(studio): State<Arc<Studio>>) -> Response {
    let mut overview = studio.overview.clone();
    match queries::stamp(&studio.pool).await {
        Ok(stamp) => overview["stamp"] = stamp,
        Err(reason) => overview["stamp_unreadable"] = reason.into(),
    }
    axum::Json(overview).into_response()
}

async fn migrations(State(studio): State<Arc<Studio>>) -> Response {
    answer(queries::migrations(&studio.pool, &studio.env).await)
}

/// Drift, on demand: the applied migrations replayed into a scratch database on
/// the embedded development cluster, compared with this database's catalog.
async fn drift(State(studio): State<Arc<Studio>>) -> Response {
    // The engine's futures are not Send; the replay runs on a thread of its own.
    let env = studio.env.clone();
    let url = studio.database_url.clone();
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::spawn_blocking(move || {
        handle.block_on(async {
            let wait = std::time::Duration::from_secs(10);
            let migrator = crate::migrations::run::Migrator::open(
                &env,
                Some(url.expose_secret()),
                "praxia-deploy studio (drift)".to_owned(),
            )?;
            let live = crate::drift::read_live(&migrator, wait).await?;
            crate::drift::compare(&env, migrator.folder(), &live, None, wait).await
        })
    })
    .await;
    match result {
        Ok(Ok(comparison)) => axum::Json(comparison).into_response(),
        Ok(Err(error)) => (StatusCode::BAD_GATEWAY, format!("{}\n", error.message)).into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "the drift check stopped\n").into_response(),
    }
}

async fn tables(State(studio): State<Arc<Studio>>) -> Response {
    answer(queries::tables(&studio.pool).await)
}

async fn table(State(studio): State<Arc<Studio>>, Path((schema, table)): Path<(String, String)>) -> Response {
    answer(queries::table(&studio.pool, &studio.redaction, &schema, &table).await)
}

/// `filter=column:op:value` (any number), `sort`, `order=desc`, `after`, `limit`.
fn rows_request(raw: Option<&str>, limit: usize) -> queries::RowsRequest {
    let mut request = queries::RowsRequest { limit, ..queries::RowsRequest::default() };
    for (key, value) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "filter" => request.filters.push(value.into_owned()),
            "sort" => request.sort = Some(value.into_owned()),
            "order" => request.descending = value == "desc",
            "after" => request.after = Some(value.into_owned()),
            "limit" => request.limit = value.parse::<usize>().map_or(limit, |asked| asked.clamp(1, limit)),
            _ => {}
        }
    }
    request
}

async fn rows(
    State(studio): State<Arc<Studio>>,
    Path((schema, table)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    answer(queries::rows(&studio.pool, &studio.redaction, &schema, &table, &rows_request(raw.as_deref(), 500)).await)
}

/// The current view (filters and order, up to 10,000 rows) as CSV or JSON, redacted.
async fn export(
    State(studio): State<Arc<Studio>>,
    Path((schema, table)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let mut request = rows_request(raw.as_deref(), EXPORT_ROWS);
    request.limit = EXPORT_ROWS;
    request.after = None;
    let csv = raw.as_deref().is_some_and(|raw| raw.split('&').any(|pair| pair == "format=csv"));
    let format = if csv { queries::ExportFormat::Csv } else { queries::ExportFormat::Json };
    let Ok(permit) = studio.exports.clone().try_acquire_owned() else {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            format!("{EXPORTS_AT_ONCE} exports are running already: try again when one has finished\n"),
        )
            .into_response();
    };
    let export = match queries::plan_export(&studio.pool, &studio.redaction, &schema, &table, &request, format).await {
        Ok(export) => export,
        Err(error) => return answer(Err(error)),
    };
    // Streamed: the rows go out as they are read, a few at a time.
    let (sink, mut source) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(8);
    tokio::spawn(async move {
        let _permit = permit;
        export.stream(sink).await;
    });
    let body = axum::body::Body::from_stream(futures_util::stream::poll_fn(move |context| source.poll_recv(context)));
    let file = format!("{schema}.{table}.{}", if csv { "csv" } else { "json" });
    let disposition = format!("attachment; filename=\"{}\"", file.replace(['"', '\\', '\r', '\n'], ""));
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    let content_type = if csv { "text/csv; charset=utf-8" } else { "application/json" };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    (headers, body).into_response()
}

/// The most rows an export holds.
const EXPORT_ROWS: usize = 10_000;

fn answer(result: Result<serde_json::Value, queries::QueryError>) -> Response {
    match result {
        Ok(value) => axum::Json(value).into_response(),
        Err(queries::QueryError::NotFound) => (StatusCode::NOT_FOUND, "no such table\n").into_response(),
        Err(queries::QueryError::Bad(message)) => (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response(),
        Err(queries::QueryError::Database(message)) => {
            (StatusCode::BAD_GATEWAY, format!("{message}\n")).into_response()
        }
    }
}
