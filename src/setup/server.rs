//! `praxia-deploy serve`: the lightweight server behind `/healthz`,
//! `GET /api/setup/status` and `POST /api/setup/first-run`.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::sync::Semaphore;

use super::admission::{Admission, BodyRefusal, admit, parse_body};
use super::api::ApiError;
use super::client_address::client_address;
use super::first_run::{FirstRunOutcome, create_first_admin, platform_admin_exists};
use super::head_bound::{HeadBound, close_unframed};
use super::rate_limit::FailureLimiter;
use super::status_cache::SetupStatusCache;
use crate::auth::hash_password;
use crate::config::ProxyAddress;

/// Dokku's default web port, when neither --bind nor PORT says otherwise.
pub const DEFAULT_PORT: u16 = 5000;

/// Bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// The most a request head (its line and headers) may hold; the README promises 431 above.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;

/// What the server needs to know, decided by the command from the environment.
pub struct ServerSettings {
    /// The setup token; `None` disables the first-run endpoint.
    pub token: Option<String>,
    /// The variable the token comes from, for messages.
    pub token_env: String,
    /// Whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ProxyAddress>,
}

struct AppState {
    pool: PgPool,
    token: Option<String>,
    token_env: String,
    trusted_proxies: Vec<ProxyAddress>,
    limiter: Mutex<FailureLimiter>,
    /// Each password hash takes 32 MiB and a core for ~0.1 s: at most one per core at a time.
    hashing: Semaphore,
    status: SetupStatusCache,
    /// Request ids: this server's random prefix, then a counter (no syscall per request).
    instance: u32,
    next_request: AtomicU64,
}

/// A request's id, in the access log, the `x-request-id` header and handler logs.
#[derive(Debug, Clone)]
struct RequestId(String);

/// The client's address as the rate limiter and the log see it.
#[derive(Debug, Clone, Copy)]
struct Client(std::net::IpAddr);

pub fn router(pool: PgPool, settings: ServerSettings) -> Router {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let state = Arc::new(AppState {
        pool,
        token: super::token::normalize(settings.token),
        token_env: settings.token_env,
        trusted_proxies: settings.trusted_proxies,
        limiter: Mutex::new(FailureLimiter::default()),
        hashing: Semaphore::new(cores),
        status: SetupStatusCache::default(),
        instance: getrandom::u32().unwrap_or_default(),
        next_request: AtomicU64::new(1),
    });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/api/setup/status", get(setup_status))
        .route("/api/setup/first-run", post(first_run))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(request_timeout))
        .layer(middleware::from_fn_with_state(state.clone(), access_log))
        .with_state(state)
}

/// How the server treats connections: what a client that sends slowly, or
/// nothing, may hold.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// To send a request's headers, and the most an idle keep-alive connection
    /// waits for the next request (hyper's header-read timer runs from the moment
    /// it waits for a request head).
    pub header_read: Duration,
    /// The largest request head, counted as sent (see `HeadBound`); at least 8 KiB.
    pub max_header_bytes: usize,
    /// Connections served at once; more wait in the listen queue until one closes.
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_read: Duration::from_secs(10),
            max_header_bytes: MAX_HEAD_BYTES,
            max_connections: 1024,
        }
    }
}

/// Serves until SIGTERM or SIGINT, then lets in-flight requests finish, for at
/// most `DRAIN` (Dokku kills the container 30 s after SIGTERM anyway). Each
/// connection is served by hyper's HTTP/1 builder with a timer, so that the
/// limits above hold (axum's `serve` sets none of them), its reads counted by
/// `HeadBound`.
pub async fn serve(listener: tokio::net::TcpListener, app: Router, limits: ConnectionLimits) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt;

    // Here, not in a router: every server's connections are counted by `HeadBound`.
    let app = app.layer(middleware::from_fn(close_unframed));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
    let signal = shutdown_signal();
    tokio::pin!(signal);
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => permit.expect("the connection semaphore is never closed"),
            () = &mut signal => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!("accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut signal => break,
        };
        let service = app.clone().map_request(move |mut request: axum::http::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
        });
        let connection = http.serve_connection(
            TokioIo::new(HeadBound::new(stream, limits.max_header_bytes)),
            hyper_util::service::TowerToHyperService::new(service),
        );
        let mut stopping = stopping_rx.clone();
        tokio::spawn(async move {
            // Each connection has its own graceful switch: at SIGTERM, and at
            // `MAX_CONNECTION_AGE` (a client that sends requests and never reads
            // the answers keeps hyper flushing forever, and no header timeout runs
            // then), hyper finishes the request in flight and closes; whatever is
            // still running `REQUEST_TIMEOUT` later is dropped.
            let mut connection = std::pin::pin!(connection);
            let finished = tokio::select! {
                _ = connection.as_mut() => true,
                () = tokio::time::sleep(MAX_CONNECTION_AGE) => false,
                _ = stopping.wait_for(|stopping| *stopping) => false,
            };
            if !finished {
                connection.as_mut().graceful_shutdown();
                let _ = tokio::time::timeout(REQUEST_TIMEOUT, connection).await;
            }
            drop(permit);
        });
    }
    // Stop taking connections at once: new clients are refused, not left hanging.
    drop(listener);
    let _ = stopping_tx.send(true);
    // Every connection holds a slot until it is done: all slots back means drained.
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(DRAIN, slots.acquire_many(all)).await.is_err() {
        tracing::warn!("requests still in flight after {} s; stopping anyway", DRAIN.as_secs());
    }
    Ok(())
}

/// How long in-flight requests get after SIGTERM.
const DRAIN: Duration = Duration::from_secs(10);
/// How long a connection is served before it is asked to close (after the
/// request in flight, which gets `REQUEST_TIMEOUT` more).
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(60);
/// The longest a request may take, body upload included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest the first-run body may take to arrive once the token checked out.
const BODY_READ: Duration = Duration::from_secs(10);

/// Whether reading the body stopped at `MAX_BODY_BYTES`.
fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = source {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = current.source();
    }
    false
}

/// Ends requests that take longer than `REQUEST_TIMEOUT` (a client trickling its
/// body must not hold a connection, or the shutdown, forever).
async fn request_timeout(request: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
        Ok(response) => response,
        Err(_) => error(ApiError::RequestTimeout, "the request took too long"),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("SIGTERM can be handled");
    let mut interrupt = signal(SignalKind::interrupt()).expect("SIGINT can be handled");
    let name = tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    };
    tracing::info!("{name}: finishing in-flight requests, then stopping");
}

/// One line per request: method, path (never the query), status, duration, id, client.
async fn access_log(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let id = RequestId(format!("{:08x}-{:x}", state.instance, state.next_request.fetch_add(1, Ordering::Relaxed)));
    // The last line of the header: a proxy that adds its own line puts it last.
    let forwarded_for =
        request.headers().get_all("x-forwarded-for").iter().next_back().and_then(|value| value.to_str().ok());
    let client = Client(client_address(peer, forwarded_for, &state.trusted_proxies));
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    request.extensions_mut().insert(id.clone());
    request.extensions_mut().insert(client);
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&id.0) {
        response.headers_mut().insert("x-request-id", value);
    }
    tracing::info!(
        target: "praxia_deploy::access",
        "{method} {path} {} {}ms id={} client={}",
        response.status().as_u16(),
        started.elapsed().as_millis(),
        id.0,
        client.0
    );
    response
}

/// 200 when the database answers; 503 `busy` when every pooled connection is in
/// use (the database is up, the server is loaded), 503 `down` when it does not answer.
async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let ping = async {
        let mut connection = state.pool.acquire().await?;
        sqlx::query("SELECT 1").execute(&mut *connection).await
    };
    match tokio::time::timeout(Duration::from_secs(2), ping).await {
        Ok(Ok(_)) => reply(StatusCode::OK, json!({ "status": "ok", "database": "up" })),
        Ok(Err(sqlx::Error::PoolTimedOut)) => {
            reply(StatusCode::SERVICE_UNAVAILABLE, json!({ "status": "busy", "database": "busy" }))
        }
        Err(_) if state.pool.num_idle() == 0 && state.pool.size() >= state.pool.options().get_max_connections() => {
            reply(StatusCode::SERVICE_UNAVAILABLE, json!({ "status": "busy", "database": "busy" }))
        }
        _ => reply(StatusCode::SERVICE_UNAVAILABLE, json!({ "status": "unavailable", "database": "down" })),
    }
}

async fn setup_status(State(state): State<Arc<AppState>>) -> Response {
    match needs_setup(&state).await {
        Ok(needs_setup) => reply(StatusCode::OK, json!({ "needsSetup": needs_setup })),
        Err(err) => database_unavailable(&err),
    }
}

/// From the cache while it holds, else from the database (and cached).
async fn needs_setup(state: &AppState) -> Result<bool, sqlx::Error> {
    if let Some(needs_setup) = state.status.answer(Instant::now()) {
        return Ok(needs_setup);
    }
    let exists = platform_admin_exists(&state.pool).await?;
    state.status.record(!exists, Instant::now());
    Ok(!exists)
}

async fn first_run(
    State(state): State<Arc<AppState>>,
    Extension(id): Extension<RequestId>,
    Extension(Client(client)): Extension<Client>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Response {
    // Parse and decide on the headers alone (pure), before anything else is read.
    let header_text = |name: header::HeaderName| headers.get(name).and_then(|value| value.to_str().ok());
    let blocked = state.limiter.lock().expect("the limiter lock is never poisoned").check(client, Instant::now());
    match admit(state.token.as_deref(), header_text(header::AUTHORIZATION), blocked) {
        Admission::Admitted => {}
        Admission::Disabled => {
            return error(
                ApiError::SetupDisabled,
                &format!("the first-run endpoint is disabled: no setup token is configured (set {})", state.token_env),
            );
        }
        Admission::Blocked(retry_after) => {
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            let mut response = error(ApiError::TooManyAttempts, "too many failed attempts; try again later");
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            return response;
        }
        Admission::Unauthorized => {
            state.limiter.lock().expect("the limiter lock is never poisoned").record_failure(client, Instant::now());
            tracing::warn!(request = %id.0, %client, "first-run: missing or wrong setup token");
            let mut response = error(ApiError::InvalidToken, "missing or wrong setup token");
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
    }
    // Only now, with the token checked from the headers, is the body read: a
    // client without the token cannot hold a request open by trickling one.
    let body = match tokio::time::timeout(BODY_READ, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(body)) => body,
        Ok(Err(err)) if is_length_limit(&err) => {
            return error(ApiError::BodyTooLarge, &format!("the body is over {} KiB", MAX_BODY_BYTES / 1024));
        }
        Ok(Err(_)) => return error(ApiError::UnreadableBody, "the body could not be read"),
        Err(_) => return error(ApiError::RequestTimeout, "the body took too long to arrive"),
    };
    // Parse and decide on the body (pure).
    let admin = match parse_body(header_text(header::CONTENT_TYPE), &body) {
        Ok(admin) => admin,
        Err(refusal) => {
            let kind = refusal.error();
            return match refusal {
                BodyRefusal::NotJson => error(kind, "send the body as application/json"),
                BodyRefusal::Malformed(reason) => error(kind, &format!("the body is not the expected JSON: {reason}")),
                BodyRefusal::Invalid(fields) => reply(
                    StatusCode::from_u16(kind.status()).expect("an HTTP status"),
                    json!({ "error": kind.code(), "message": "some fields are invalid", "fields": fields }),
                ),
            };
        }
    };

    // Write: the cheap check, the hash, the one transaction.
    // Cheap refusal before the expensive hash; the transaction checks again under its lock.
    match needs_setup(&state).await {
        Ok(false) => return already_initialized(),
        Ok(true) => {}
        Err(err) => return database_unavailable(&err),
    }
    let hash = {
        let _permit = state.hashing.acquire().await.expect("the hashing semaphore is never closed");
        let password = admin.password.clone();
        match tokio::task::spawn_blocking(move || hash_password(&password)).await {
            Ok(hash) => hash,
            Err(_) => return error(ApiError::InternalError, "hashing the password failed"),
        }
    };
    match create_first_admin(&state.pool, &admin, &hash).await {
        Ok(FirstRunOutcome::Created { id: user_id, email }) => {
            state.status.record(false, Instant::now());
            tracing::info!(request = %id.0, user = %user_id, %email, "first-run: created the platform admin");
            reply(StatusCode::CREATED, json!({ "id": user_id, "email": email }))
        }
        Ok(FirstRunOutcome::AlreadyInitialized) => {
            state.status.record(false, Instant::now());
            already_initialized()
        }
        Ok(FirstRunOutcome::EmailInUse) => error(ApiError::EmailInUse, "a user with this email exists already"),
        Err(err) => database_unavailable(&err),
    }
}

async fn not_found() -> Response {
    error(ApiError::NotFound, "no such endpoint")
}

fn already_initialized() -> Response {
    error(ApiError::AlreadyInitialized, "the platform admin exists already; first-run is done")
}

/// A database failure as the client should read it: a missing schema is final
/// (run the release), a duplicate email a conflict, anything else "try later".
fn database_unavailable(err: &sqlx::Error) -> Response {
    use crate::pg_error::sqlstate;
    tracing::error!("database error: {}", crate::pg_error::describe(err));
    let code = err.as_database_error().and_then(|db| db.code()).map(|code| code.into_owned());
    match code.as_deref() {
        Some(sqlstate::UNDEFINED_TABLE | sqlstate::UNDEFINED_COLUMN) => error(
            ApiError::SchemaMissing,
            "the Praxia tables are missing or old: run `praxia-deploy release` (the release phase) first",
        ),
        Some(sqlstate::UNIQUE_VIOLATION) => error(ApiError::EmailInUse, "a user with this email exists already"),
        // lock_timeout or statement_timeout: the database is up but held; the work was cancelled.
        Some(sqlstate::LOCK_NOT_AVAILABLE | sqlstate::QUERY_CANCELED) => busy(),
        _ if matches!(err, sqlx::Error::PoolTimedOut) => busy(),
        _ => error(ApiError::DatabaseUnavailable, "the database is not available"),
    }
}

/// The database is up but every connection, or the lock, is held: try again soon.
fn busy() -> Response {
    let mut response = error(ApiError::DatabaseBusy, "the database is busy; try again in a moment");
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
    response
}

fn error(kind: ApiError, message: &str) -> Response {
    let status = StatusCode::from_u16(kind.status()).expect("the contract's statuses are HTTP statuses");
    reply(status, json!({ "error": kind.code(), "message": message }))
}

fn reply(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}
