//! `serve` and `bootstrap` for real: the first-run endpoint over HTTP against a
//! migrated database, its security answers, concurrency, graceful shutdown, and
//! the admin signing in through the real Better Auth.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::project::repo_root;
use crate::support::{Outcome, TestDatabase, TestProject, test_postgres};
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};

const TOKEN: &str = "setup-token-5f1c9e";
const PASSWORD: &str = "a long admin password";

/// A running `praxia-deploy serve`, killed when dropped.
struct Server {
    child: Child,
    port: u16,
    log: PathBuf,
    _project: TestProject,
}

impl Server {
    fn start(database: &TestDatabase, token: Option<&str>) -> Server {
        Server::start_in(TestProject::from_repo(), database, token)
    }

    fn start_in(project: TestProject, database: &TestDatabase, token: Option<&str>) -> Server {
        let port = praxia_deploy::pgserver::free_loopback_port().unwrap();
        let log = project.path().join("serve.log");
        let mut command = project.on(database);
        command.args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
        command.stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap());
        match token {
            Some(token) => command.env("PRAXIA_SETUP_TOKEN", token),
            None => command.env_remove("PRAXIA_SETUP_TOKEN"),
        };
        let child = command.spawn().unwrap();
        let server = Server { child, port, log, _project: project };
        server.wait_until_listening();
        server
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "serve never listened:\n{}", self.log_text());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        // SAFETY: kill sends a signal to our own child's pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn migrated() -> TestDatabase {
    let database = test_postgres().fresh_database();
    TestProject::from_repo().run_on(&database, &["migrate"]).expect_code(0);
    database
}

async fn post(server: &Server, token: Option<&str>, body: Value) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = http().post(server.url("/api/setup/first-run")).json(&body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.json().await.unwrap_or(Value::Null), headers)
}

fn admin(email: &str) -> Value {
    json!({ "email": email, "name": "Ada Admin", "password": PASSWORD })
}

async fn counts(database: &TestDatabase) -> (i64, i64, i64) {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM \"user\"), (SELECT count(*) FROM account), \
                (SELECT count(*) FROM profile WHERE role = 'platform_admin')",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap()
}

fn node(script: &str, args: &[&str]) -> String {
    let interop = repo_root().join("tests/interop");
    assert!(
        interop.join("node_modules/better-auth/package.json").is_file(),
        "better-auth is not installed in {}: run `bash scripts/test` (it runs `npm ci` there)",
        interop.display()
    );
    let output = Command::new("node").arg(interop.join(script)).args(args).output().unwrap();
    assert!(output.status.success(), "{script}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn the_first_run_creates_a_verified_admin_that_better_auth_signs_in_with_verification_required() {
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    let status: Value = http().get(server.url("/api/setup/status")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status, json!({ "needsSetup": true }));
    let health = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);

    let (code, body, headers) = post(&server, Some(TOKEN), admin("  Ada@Praxia.Example ")).await;
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["email"], "ada@praxia.example");
    let id = body["id"].as_str().unwrap().to_owned();
    assert!(id.len() == 32 && id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
    assert!(headers.contains_key("x-request-id"));

    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let (email, verified, provider, account_id, hash, role): (String, bool, String, String, String, String) =
        sqlx::query_as(
            "SELECT u.email, u.email_verified, a.provider_id, a.account_id, a.password, p.role \
             FROM \"user\" u JOIN account a ON a.user_id = u.id JOIN profile p ON p.user_id = u.id WHERE u.id = $1",
        )
        .bind(&id)
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(
        (email.as_str(), verified, provider.as_str(), account_id.as_str(), role.as_str()),
        ("ada@praxia.example", true, "credential", id.as_str(), "platform_admin")
    );
    assert_eq!(node("verify-password.mjs", &[&hash, PASSWORD]).trim(), "true");
    assert_eq!(node("verify-password.mjs", &[&hash, "not the password"]).trim(), "false");
    let signed_in: Value =
        serde_json::from_str(node("better-auth-sign-in.mjs", &[&database.url, "ada@praxia.example", PASSWORD]).trim())
            .unwrap();
    assert_eq!(signed_in["ok"], true, "{signed_in}");
    assert_eq!(signed_in["userId"], id.as_str());

    let status: Value = http().get(server.url("/api/setup/status")).send().await.unwrap().json().await.unwrap();
    assert_eq!(status, json!({ "needsSetup": false }));
    let (code, body, _) = post(&server, Some(TOKEN), admin("eve@praxia.example")).await;
    assert_eq!((code, body["error"].as_str()), (409, Some("already_initialized")));

    let log = server.log_text();
    assert!(log.contains("POST /api/setup/first-run 201"), "{log}");
    assert!(
        !log.contains(TOKEN) && !log.contains(PASSWORD) && !log.contains(&hash),
        "a secret reached the log:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_simultaneous_first_runs_create_exactly_one_admin() {
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    let url = server.url("/api/setup/first-run");
    let client = http();
    let mut requests = tokio::task::JoinSet::new();
    for i in 0..50 {
        let request = client.post(&url).bearer_auth(TOKEN).json(&admin(&format!("admin{i}@praxia.example")));
        requests.spawn(async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        });
    }
    let answers = requests.join_all().await;
    let created = answers.iter().filter(|(code, _)| *code == 201).count();
    let conflicts =
        answers.iter().filter(|(code, body)| *code == 409 && body["error"] == "already_initialized").count();
    assert_eq!((created, conflicts), (1, 49), "{:?}", answers.iter().map(|(code, _)| code).collect::<Vec<_>>());
    assert_eq!(counts(&database).await, (1, 1, 1));
}

#[tokio::test]
async fn wrong_or_missing_tokens_are_refused_then_rate_limited_and_nothing_is_written() {
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    let (code, body, headers) = post(&server, None, admin("ada@praxia.example")).await;
    assert_eq!((code, body["error"].as_str()), (401, Some("invalid_token")));
    assert_eq!(headers["www-authenticate"], "Bearer");
    for _ in 0..4 {
        let (code, _, _) = post(&server, Some("guess"), admin("ada@praxia.example")).await;
        assert_eq!(code, 401);
    }
    let (code, body, headers) = post(&server, Some(TOKEN), admin("ada@praxia.example")).await;
    assert_eq!((code, body["error"].as_str()), (429, Some("too_many_attempts")), "the right token while blocked");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(counts(&database).await, (0, 0, 0));
    assert!(!server.log_text().contains("guess"), "a wrong token reached the log");
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_limited_on_its_own() {
    let database = migrated().await;
    let project = TestProject::from_repo();
    // The test's requests come from 127.0.0.1: here that is where the proxy is.
    project.file("environments/test.toml", "kind = \"test\"\n[setup]\ntrusted_proxies = [\"127.0.0.1\"]\n");
    let server = Server::start_in(project, &database, Some(TOKEN));
    let attempt = |forwarded: &'static str, token: &'static str| {
        http()
            .post(server.url("/api/setup/first-run"))
            .bearer_auth(token)
            .header("x-forwarded-for", forwarded)
            .json(&admin("ada@praxia.example"))
            .send()
    };
    for _ in 0..5 {
        // The client's own leftmost entry is ignored; nginx's appended address counts.
        assert_eq!(attempt("1.2.3.4, 203.0.113.10", "guess").await.unwrap().status().as_u16(), 401);
    }
    assert_eq!(attempt("9.9.9.9, 203.0.113.10", "guess").await.unwrap().status().as_u16(), 429);
    assert_eq!(attempt("203.0.113.11", TOKEN).await.unwrap().status().as_u16(), 201, "another client is not blocked");
    assert!(server.log_text().contains("client=203.0.113.10"));
}

#[tokio::test]
async fn without_a_configured_token_the_endpoint_is_disabled() {
    let database = migrated().await;
    let server = Server::start(&database, None);
    let (code, body, _) = post(&server, Some("anything"), admin("ada@praxia.example")).await;
    assert_eq!((code, body["error"].as_str()), (403, Some("setup_disabled")));
    assert!(body["message"].as_str().unwrap().contains("PRAXIA_SETUP_TOKEN"));
    assert_eq!(counts(&database).await, (0, 0, 0));
    assert!(server.log_text().contains("PRAXIA_SETUP_TOKEN is not set"));
}

#[tokio::test]
async fn bad_bodies_get_their_own_answers_and_write_nothing() {
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    let invalid = [
        (json!({ "email": "nope", "name": "Ada", "password": PASSWORD }), "email"),
        (json!({ "email": "ada@praxia.example", "name": "", "password": PASSWORD }), "name"),
        (json!({ "email": "ada@praxia.example", "name": "n".repeat(101), "password": PASSWORD }), "name"),
        (json!({ "email": "ada@praxia.example", "name": "Ada", "password": "short" }), "password"),
        (json!({ "email": "ada@praxia.example", "name": "Ada", "password": "p".repeat(129) }), "password"),
        (json!({}), "email"),
    ];
    for (body, field) in invalid {
        let (code, answer, _) = post(&server, Some(TOKEN), body.clone()).await;
        assert_eq!(code, 422, "{body}");
        assert_eq!(answer["error"], "invalid_input");
        assert!(answer["fields"][field].is_string(), "{answer}");
    }

    let raw = |content_type: &'static str, body: Vec<u8>| {
        http()
            .post(server.url("/api/setup/first-run"))
            .bearer_auth(TOKEN)
            .header("content-type", content_type)
            .body(body)
    };
    let answer = raw("application/json", vec![b'x'; 17 * 1024]).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 413);
    assert_eq!(answer.json::<Value>().await.unwrap()["error"], "body_too_large");
    let answer = raw("text/plain", br#"{"email":"a@b.example"}"#.to_vec()).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 415);
    let answer = raw("application/json", b"{\"email\": ".to_vec()).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 400);
    let body: Value = answer.json().await.unwrap();
    assert_eq!(body["error"], "invalid_json");
    assert!(body["message"].as_str().unwrap().contains("line 1"), "{body}");

    assert_eq!(counts(&database).await, (0, 0, 0));
}

#[tokio::test]
async fn health_is_503_while_the_database_is_down() {
    let port = praxia_deploy::pgserver::free_loopback_port().unwrap();
    let down =
        TestDatabase { name: "x".into(), url: format!("postgres://postgres@127.0.0.1:{port}/x?sslmode=disable") };
    let server = Server::start(&down, Some(TOKEN));
    let answer = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 503);
    assert_eq!(answer.json::<Value>().await.unwrap(), json!({ "status": "unavailable", "database": "down" }));
    let answer = http().get(server.url("/api/setup/status")).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 503);
}

#[tokio::test]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_0() {
    let database = migrated().await;
    let mut server = Server::start(&database, Some(TOKEN));
    let body = admin("ada@praxia.example").to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let head = format!(
        "POST /api/setup/first-run HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(&body.as_bytes()[..10]).unwrap();
    std::thread::sleep(Duration::from_millis(300));

    // SAFETY: a signal to our own child.
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(300));
    stream.write_all(&body.as_bytes()[10..]).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let status = server.terminate();
    assert_eq!(status.code(), Some(0), "{}", server.log_text());
    assert_eq!(counts(&database).await, (1, 1, 1));
}

fn bootstrap(server_url: &str, token: &str, extra: &[&str]) -> Outcome {
    let project = TestProject::from_repo();
    let mut command = project.command();
    command
        .env("PRAXIA_ENV", "test")
        .env("PRAXIA_SETUP_TOKEN", token)
        .env("PRAXIA_ADMIN_PASSWORD", PASSWORD)
        .args(["bootstrap", "--url", server_url, "--email", "root@praxia.example", "--name", "Root"])
        .args(extra);
    Outcome::of(&mut command)
}

#[tokio::test]
async fn bootstrap_creates_then_accepts_then_refuses_under_require_fresh() {
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    let base = server.url("");
    let created = bootstrap(&base, TOKEN, &["--output", "json"]).expect_code(0).json();
    assert_eq!(created["result"]["result"]["outcome"], "created");
    assert_eq!(created["result"]["result"]["email"], "root@praxia.example");
    bootstrap(&base, TOKEN, &[]).expect_code(0).expect_stdout_contains("already initialised");
    bootstrap(&base, TOKEN, &["--require-fresh"])
        .expect_code(3)
        .expect_stderr_contains("the platform already has its admin");
    let rejected = bootstrap(&base, "wrong-token", &["--output", "json"]);
    let document = rejected.expect_code(9).json();
    assert_eq!(document["error"]["exit_code"], 9);
    assert_eq!(document["result"]["result"]["code"], "invalid_token");
    assert_eq!(counts(&database).await, (1, 1, 1));
}

#[tokio::test]
async fn bootstrap_where_the_fixtures_made_the_admin_says_so_and_the_server_says_nothing_more() {
    let database = migrated().await;
    TestProject::from_repo().run_on(&database, &["seed"]).expect_code(0);
    let server = Server::start(&database, Some(TOKEN));
    bootstrap(&server.url(""), TOKEN, &[])
        .expect_code(0)
        .expect_stdout_contains("already initialised: the platform admin exists; nothing to do")
        .expect_stdout_contains(
            "include the platform admin admin@praxia.test: if this database has them, that admin is why",
        )
        .expect_stdout_contains("Trying the first run locally");
    // The server's answers are what they were: the fixtures are the client's knowledge.
    assert_eq!(
        http().get(server.url("/api/setup/status")).send().await.unwrap().json::<Value>().await.unwrap(),
        json!({ "needsSetup": false })
    );
    let (status, body, _) = post(&server, Some(TOKEN), admin("someone@praxia.example")).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("already_initialized")));
    assert!(!body.to_string().contains("praxia.test"), "the answer names a fixture: {body}");
}

#[tokio::test]
async fn bootstrap_reports_invalid_input_with_the_servers_reasons() {
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    let project = TestProject::from_repo();
    let mut child = project
        .command()
        .env("PRAXIA_ENV", "test")
        .env("PRAXIA_SETUP_TOKEN", TOKEN)
        .args(["bootstrap", "--url", &server.url(""), "--email", "nope", "--name", "Root", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let outcome = Outcome {
        code: output.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    outcome
        .expect_code(9)
        .expect_stderr_contains("the setup endpoint refused: some fields are invalid")
        .expect_stderr_contains("email: is not a valid email address")
        .expect_stderr_contains("password: must be 8 to 128 characters");
    assert_eq!(counts(&database).await, (0, 0, 0));
}

#[tokio::test]
async fn bootstrap_waits_for_a_server_that_starts_late_and_gives_up_on_one_that_never_does() {
    let database = migrated().await;
    let port = praxia_deploy::pgserver::free_loopback_port().unwrap();
    let project = TestProject::from_repo();
    let late_url = format!("http://127.0.0.1:{port}");
    let client = project
        .command()
        .env("PRAXIA_ENV", "test")
        .env("PRAXIA_SETUP_TOKEN", TOKEN)
        .env("PRAXIA_ADMIN_PASSWORD", PASSWORD)
        .args(["bootstrap", "--url", &late_url, "--email", "root@praxia.example", "--name", "Root", "--wait", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut command = project.on(&database);
    let mut late = command
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("PRAXIA_SETUP_TOKEN", TOKEN)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let output = client.wait_with_output().unwrap();
    let _ = late.kill();
    let _ = late.wait();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("not ready"), "{stderr}");
    assert_eq!(counts(&database).await, (1, 1, 1));

    let nowhere = format!("http://127.0.0.1:{}", praxia_deploy::pgserver::free_loopback_port().unwrap());
    bootstrap(&nowhere, TOKEN, &["--wait", "1s"])
        .expect_code(7)
        .expect_stderr_contains(&format!("could not reach {nowhere}"));
}

#[tokio::test]
async fn a_token_set_with_a_trailing_newline_still_matches() {
    let database = migrated().await;
    let server = Server::start(&database, Some(&format!("{TOKEN}\n")));
    let (code, body, _) = post(&server, Some(TOKEN), admin("ada@praxia.example")).await;
    assert_eq!(code, 201, "{body}");
}

#[tokio::test]
async fn a_database_without_the_schema_is_a_final_answer_not_a_wait() {
    let database = test_postgres().fresh_database();
    let server = Server::start(&database, Some(TOKEN));
    bootstrap(&server.url(""), TOKEN, &["--wait", "30s"])
        .expect_code(9)
        .expect_stderr_contains("run `praxia-deploy release`")
        .expect_stderr_contains("schema_missing");
}

#[test]
fn bootstrap_refuses_urls_that_would_expose_the_secrets() {
    bootstrap("http://staging.praxia.example", TOKEN, &[]).expect_code(2).expect_stderr_contains("unencrypted");
    let outcome = bootstrap("https://ci:hunter2@staging.praxia.example", TOKEN, &[]);
    outcome.expect_code(2).expect_stderr_contains("credentials");
    assert!(!outcome.stderr.contains("hunter2"));
}

/// A server whose environment says how long clients may take to send headers.
fn server_with_header_timeout(database: &TestDatabase, timeout: &str) -> Server {
    let project = TestProject::from_repo();
    project.file(
        "environments/test.toml",
        &format!("kind = \"test\"\n\n[setup]\nheader_timeout = \"{timeout}\"\nmax_connections = 600\n"),
    );
    Server::start_in(project, database, Some(TOKEN))
}

/// Whether the server closed the connection (a read that ends), waiting at most `within`.
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => return true,
            Ok(_) => continue, // an answer (408, or a keep-alive response) before the close
            Err(err) if matches!(err.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true, // reset
        }
    }
}

#[tokio::test]
async fn slow_headers_and_idle_connections_are_closed_while_healthz_keeps_answering() {
    let database = migrated().await;
    let server = server_with_header_timeout(&database, "1s");
    let address = ("127.0.0.1", server.port);
    let mut half_sent: Vec<TcpStream> = (0..150)
        .map(|_| {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(b"POST /api/setup/first-run HTTP/1.1\r\nHost: praxia\r\nX-Slow: ").unwrap();
            stream
        })
        .collect();
    let mut idle: Vec<TcpStream> = (0..150).map(|_| TcpStream::connect(address).unwrap()).collect();
    // A keep-alive connection that asked once and then went quiet.
    let mut kept = TcpStream::connect(address).unwrap();
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: praxia\r\n\r\n").unwrap();

    // With 300 connections hanging on, the health check still gets its answer.
    let health = http().get(server.url("/healthz")).timeout(Duration::from_secs(5)).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);

    for (what, streams) in [("half-sent", &mut half_sent), ("idle", &mut idle)] {
        for (i, stream) in streams.iter_mut().enumerate() {
            assert!(closed_within(stream, Duration::from_secs(10)), "{what} connection {i} is still open");
        }
    }
    assert!(closed_within(&mut kept, Duration::from_secs(10)), "the idle keep-alive connection is still open");
    let health = http().get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status().as_u16(), 200);
}

/// What the server answers `request`, sent in one write on a connection of its
/// own, read until it closes (at most 10 s).
fn raw_answer(port: u16, request: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = stream.write_all(request.as_bytes());
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

#[tokio::test]
async fn an_oversized_request_head_is_refused() {
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    let huge = "a".repeat(64 * 1024);
    let request = format!("GET /healthz HTTP/1.1\r\nHost: praxia\r\nX-Huge: {huge}\r\n\r\n");
    let answer = raw_answer(server.port, &request);
    assert!(answer.starts_with("HTTP/1.1 431"), "a 64 KiB header was accepted: {:?}", &answer[..answer.len().min(80)]);
}

#[tokio::test]
async fn a_head_between_32_and_64_kib_is_refused_too() {
    // hyper's buffer limit lets such a head through when it arrives in one piece.
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    for size in [33 * 1024, 48 * 1024] {
        let big = "a".repeat(size);
        let request = format!("GET /healthz HTTP/1.1\r\nHost: praxia\r\nX-Big: {big}\r\nConnection: close\r\n\r\n");
        let answer = raw_answer(server.port, &request);
        assert!(
            answer.starts_with("HTTP/1.1 431"),
            "a {size}-byte header was served: {:?}",
            &answer[..answer.len().min(80)]
        );
    }
    // Just under the limit is served.
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: praxia\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(30 * 1024)
    );
    let answer = raw_answer(server.port, &request);
    assert!(answer.starts_with("HTTP/1.1 200"), "{:?}", &answer[..answer.len().min(80)]);
}

#[tokio::test]
async fn a_head_padded_past_32_kib_is_refused() {
    // Parsing drops the spaces and tabs around a value: a limit measured after
    // parsing let such heads through.
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    let padded = format!("GET /healthz HTTP/1.1\r\nHost: praxia\r\nX-Pad: {}a\r\n\r\n", " ".repeat(40 * 1024));
    let tabbed = format!("GET /healthz HTTP/1.1\nHost: praxia\nX-Pad: a{}\n\n", "\t".repeat(40 * 1024));
    for (what, request) in [("space-padded", padded), ("tab-padded", tabbed)] {
        let answer = raw_answer(server.port, &request);
        assert!(
            answer.starts_with("HTTP/1.1 431"),
            "a {what} head of {} bytes was served: {:?}",
            request.len(),
            &answer[..answer.len().min(80)]
        );
    }
}

#[tokio::test]
async fn a_head_of_32_kib_is_served_and_one_byte_more_is_not() {
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    let head = |size: usize| {
        let start = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Pad: ";
        format!("{start}{}\r\n\r\n", "a".repeat(size - start.len() - 4))
    };
    for (size, status) in [(32 * 1024, "HTTP/1.1 200"), (32 * 1024 + 1, "HTTP/1.1 431")] {
        for _ in 0..5 {
            let request = head(size);
            assert_eq!(request.len(), size);
            let answer = raw_answer(server.port, &request);
            assert!(answer.starts_with(status), "a {size}-byte head: {:?}", &answer[..answer.len().min(60)]);
        }
    }
}

#[tokio::test]
async fn every_head_of_a_keep_alive_connection_is_held_to_the_limit() {
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    let padded = format!("GET /healthz HTTP/1.1\r\nHost: praxia\r\nX-Pad: {}a\r\n\r\n", " ".repeat(40 * 1024));
    // A small request with a body, then the padded head, sent at once.
    let body = "{}";
    let first = format!(
        "POST /api/setup/first-run HTTP/1.1\r\nHost: praxia\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let answer = raw_answer(server.port, &format!("{first}{padded}"));
    let statuses: Vec<&str> = answer.match_indices("HTTP/1.1 ").map(|(at, _)| &answer[at..at + 12]).collect();
    assert_eq!(statuses, ["HTTP/1.1 401", "HTTP/1.1 431"], "the second head was served: {answer}");
    // After a body it cannot count through, the connection serves no more.
    let chunked = "POST /api/setup/first-run HTTP/1.1\r\nHost: praxia\r\nContent-Type: application/json\r\n\
                   Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    let answer = raw_answer(server.port, &format!("{chunked}{padded}"));
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "{answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
}

#[tokio::test]
async fn the_token_is_checked_before_the_body_is_read() {
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    for attempt in 1..=6 {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        // Headers with a wrong token, then a body that never comes.
        stream
            .write_all(
                b"POST /api/setup/first-run HTTP/1.1\r\nHost: praxia\r\nAuthorization: Bearer wrong\r\n\
                  Content-Type: application/json\r\nContent-Length: 100\r\n\r\n",
            )
            .unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut answer = vec![0u8; 512];
        let read = stream.read(&mut answer).unwrap_or(0);
        let answer = String::from_utf8_lossy(&answer[..read]);
        let expected = if attempt <= 5 { "HTTP/1.1 401" } else { "HTTP/1.1 429" };
        assert!(answer.starts_with(expected), "attempt {attempt}: {answer:?}");
    }
    assert_eq!(counts(&database).await, (0, 0, 0));
}

#[tokio::test]
async fn control_characters_are_refused_as_invalid_input_not_a_database_error() {
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    for body in [
        json!({ "email": "ada@praxia.example", "name": "Ada\u{0}", "password": PASSWORD }),
        json!({ "email": "ada\u{0}@praxia.example", "name": "Ada", "password": PASSWORD }),
        json!({ "email": "ada@praxia.example", "name": "Ada \u{1b}[2J", "password": PASSWORD }),
        json!({ "email": "ada@praxia.example", "name": "evil\u{202e}gpj.exe", "password": PASSWORD }),
    ] {
        let (code, answer, _) = post(&server, Some(TOKEN), body.clone()).await;
        assert_eq!((code, answer["error"].as_str()), (422, Some("invalid_input")), "{body}: {answer}");
    }
    assert_eq!(counts(&database).await, (0, 0, 0));
    let log = server.log_text();
    assert!(!log.contains('\u{1b}') && !log.contains('\u{0}'), "raw control bytes reached the log");
}

#[tokio::test]
async fn forwarded_addresses_from_a_peer_that_is_not_the_proxy_are_ignored() {
    let database = migrated().await;
    let project = TestProject::from_repo();
    // The proxy is elsewhere: this test's loopback requests are an ordinary (private) peer.
    project.file("environments/test.toml", "kind = \"test\"\n[setup]\ntrusted_proxies = [\"10.9.9.9\"]\n");
    let server = Server::start_in(project, &database, Some(TOKEN));
    for i in 0..5 {
        let answer = http()
            .post(server.url("/api/setup/first-run"))
            .bearer_auth("guess")
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .json(&admin("ada@praxia.example"))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 401);
    }
    let fresh_address = http()
        .post(server.url("/api/setup/first-run"))
        .bearer_auth("guess")
        .header("x-forwarded-for", "198.51.100.77")
        .json(&admin("ada@praxia.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(fresh_address.status().as_u16(), 429, "a forged header bought a fresh address");
    assert!(server.log_text().contains("client=127.0.0.1"));
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let database = migrated().await;
    let server = Server::start(&database, Some(TOKEN));
    let answer = http()
        .post(server.url("/api/setup/first-run"))
        .header("authorization", format!("bearer {TOKEN}"))
        .json(&admin("ada@praxia.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status().as_u16(), 201);
}

#[test]
fn trust_proxy_true_is_refused_with_how_to_name_the_proxy() {
    let project = TestProject::from_repo();
    project.file("environments/test.toml", "kind = \"test\"\n[setup]\ntrust_proxy = true\n");
    project
        .run(&["--env", "test", "config", "show"])
        .expect_code(2)
        .expect_stderr_contains("trusted_proxies = [\"172.17.0.1\"]")
        .expect_stderr_contains("docker network inspect bridge");
}

#[tokio::test]
async fn a_held_first_run_lock_is_a_busy_answer_and_frees_its_connection() {
    let database = migrated().await;
    let project = TestProject::from_repo();
    project.file("environments/test.toml", "kind = \"test\"\n[database]\nlock_timeout = \"1s\"\n");
    let server = Server::start_in(project, &database, Some(TOKEN));
    // Another replica in the middle of its first run, holding the lock.
    let mut holder = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "BEGIN; SELECT pg_advisory_xact_lock({})",
        praxia_deploy::setup::first_run::FIRST_RUN_LOCK_KEY
    )))
    .execute(&mut holder)
    .await
    .unwrap();
    let started = Instant::now();
    let (code, body, headers) = post(&server, Some(TOKEN), admin("ada@praxia.example")).await;
    assert_eq!((code, body["error"].as_str()), (503, Some("database_busy")), "{body}");
    assert!(headers.contains_key("retry-after"));
    assert!(started.elapsed() < Duration::from_secs(15), "the request waited {:?}", started.elapsed());
    let health: Value = http().get(server.url("/healthz")).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["database"], "up", "the pool connection stayed blocked: {health}");
    sqlx::raw_sql("ROLLBACK").execute(&mut holder).await.unwrap();
    let (code, _, _) = post(&server, Some(TOKEN), admin("ada@praxia.example")).await;
    assert_eq!(code, 201);
}
