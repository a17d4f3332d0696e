//! `bootstrap` against scripted HTTP servers that misbehave: redirects, rate
//! limits, silence, huge answers. Each server is a plain TCP listener on
//! loopback answering with bytes written here, so the test says exactly what
//! the client was sent.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::{Outcome, TestProject};

const TOKEN: &str = "bootstrap-test-token-0123456789abcdef";

/// What a scripted server answers.
#[derive(Clone)]
enum Script {
    Bytes(Vec<u8>),
    /// Accepts and never answers.
    Silence,
    /// Reads the request and closes the connection: the answer is lost.
    Hangup,
    /// A 500 whose body is this many bytes, streamed (the test never holds it).
    HugeBody(usize),
}

/// A server that answers the n-th request with the n-th of `answers` (the last
/// one again after that). Counts requests.
struct Scripted {
    url: String,
    requests: Arc<AtomicUsize>,
}

impl Scripted {
    fn start(answers: Vec<Script>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let n = counter.fetch_add(1, Ordering::SeqCst);
                let answer = answers.get(n).or(answers.last()).cloned().unwrap_or(Script::Silence);
                std::thread::spawn(move || {
                    read_request(&mut stream);
                    match answer {
                        Script::Bytes(bytes) => {
                            let _ = stream.write_all(&bytes);
                        }
                        Script::Silence => std::thread::sleep(Duration::from_secs(120)),
                        Script::Hangup => drop(stream),
                        Script::HugeBody(size) => {
                            let head = format!(
                                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {size}\r\n\r\n"
                            );
                            let _ = stream.write_all(head.as_bytes());
                            let chunk = vec![b'x'; 64 * 1024];
                            for _ in 0..size / chunk.len() {
                                if stream.write_all(&chunk).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                });
            }
        });
        Scripted { url, requests }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads up to the end of the headers and a small body, enough for the client to finish sending.
fn read_request(stream: &mut TcpStream) {
    stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buffer = vec![0u8; 16 * 1024];
    let mut seen = Vec::new();
    while let Ok(read) = stream.read(&mut buffer) {
        if read == 0 {
            break;
        }
        seen.extend_from_slice(&buffer[..read]);
        if let Some(end) = seen.windows(4).position(|window| window == b"\r\n\r\n") {
            let headers = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
            let length = headers
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if seen.len() >= end + 4 + length {
                break;
            }
        }
    }
}

fn http(status: &str, headers: &[&str], body: &str) -> Script {
    let mut text = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for header in headers {
        text.push_str(header);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    text.push_str(body);
    Script::Bytes(text.into_bytes())
}

fn bootstrap(url: &str, extra: &[&str]) -> (Outcome, Duration) {
    let project = TestProject::from_repo();
    let mut command = project.command();
    command
        .env("PRAXIA_ENV", "test")
        .env("PRAXIA_SETUP_TOKEN", TOKEN)
        .env("PRAXIA_ADMIN_PASSWORD", "a-long-enough-password")
        .args(["bootstrap", "--url", url, "--email", "root@praxia.example", "--name", "Root"])
        .args(extra);
    let started = Instant::now();
    let outcome = Outcome::of(&mut command);
    (outcome, started.elapsed())
}

#[test]
fn a_redirect_is_never_followed_and_names_where_it_pointed() {
    let elsewhere =
        Scripted::start(vec![http("201 Created", &[], "{\"id\": \"x\", \"email\": \"root@praxia.example\"}")]);
    let location = format!("Location: {}/api/setup/first-run", elsewhere.url);
    let redirecting = Scripted::start(vec![http("307 Temporary Redirect", &[&location], "")]);
    let (outcome, _) = bootstrap(&redirecting.url, &[]);
    outcome
        .expect_code(7)
        .expect_stderr_contains("answered with a redirect (HTTP 307); it was not followed")
        .expect_stderr_contains(&format!("location: {}/api/setup/first-run", elsewhere.url));
    assert_eq!(elsewhere.requests(), 0, "the password went to the redirect's target");
    assert_eq!(redirecting.requests(), 1);
}

#[test]
fn a_rate_limited_answer_is_retried_after_what_retry_after_says() {
    let server = Scripted::start(vec![
        http(
            "429 Too Many Requests",
            &["Retry-After: 2", "Content-Type: application/json"],
            "{\"error\": \"too_many_attempts\"}",
        ),
        http(
            "201 Created",
            &["Content-Type: application/json"],
            "{\"id\": \"abc\", \"email\": \"root@praxia.example\"}",
        ),
    ]);
    let (outcome, took) = bootstrap(&server.url, &["--wait", "20s"]);
    outcome.expect_code(0).expect_stdout_contains("created the platform admin").expect_stderr_contains("HTTP 429");
    assert_eq!(server.requests(), 2);
    assert!(took >= Duration::from_secs(2), "Retry-After: 2 was not waited for ({took:?})");
}

#[test]
fn a_server_that_never_answers_costs_at_most_the_wait() {
    let silent = Scripted::start(vec![Script::Silence]);
    let (outcome, took) = bootstrap(&silent.url, &["--wait", "3s"]);
    outcome.expect_code(7).expect_stderr_contains("no answer within");
    // Before, one attempt alone waited 60 s whatever --wait said.
    assert!(took < Duration::from_secs(30), "--wait 3s took {took:?}");
}

#[test]
fn a_huge_answer_is_not_read_whole() {
    let server = Scripted::start(vec![Script::HugeBody(100 * 1024 * 1024)]);
    // Its own peak, from its /proc status (VmHWM belongs to the program it
    // runs; a child's rusage would count the test process it was spawned from),
    // sampled until it exits: a high-water mark only grows.
    let project = TestProject::from_repo();
    let mut child = project
        .command()
        .env("PRAXIA_ENV", "test")
        .env("PRAXIA_SETUP_TOKEN", TOKEN)
        .env("PRAXIA_ADMIN_PASSWORD", "a-long-enough-password")
        .args(["bootstrap", "--url", &server.url, "--email", "root@praxia.example", "--name", "Root"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut { stderr }, &mut text);
        text
    });
    let mut peak_kb: u64 = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        let hwm = std::fs::read_to_string(&status_file).unwrap_or_default();
        let kb = hwm
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next().and_then(|kb| kb.parse::<u64>().ok()));
        peak_kb = peak_kb.max(kb.unwrap_or(0));
        std::thread::sleep(Duration::from_millis(2));
    };
    let said = reader.join().unwrap();
    assert_eq!(status.code(), Some(9), "{said}");
    assert!(said.contains("HTTP 500 http_500"), "{said}");
    assert!(peak_kb > 0, "the child's memory was never read");
    assert!(peak_kb < 60 * 1024, "bootstrap held {} MB for a 100 MB answer", peak_kb / 1024);
}

#[test]
fn a_rate_limit_outlasting_the_wait_is_reported_as_the_servers_refusal_not_as_unreachable() {
    let server = Scripted::start(vec![http(
        "429 Too Many Requests",
        &["Retry-After: 60", "Content-Type: application/json"],
        "{\"error\": \"too_many_attempts\", \"message\": \"too many failed attempts; try again later\"}",
    )]);
    let (outcome, took) = bootstrap(&server.url, &["--wait", "2s"]);
    outcome
        .expect_code(9)
        .expect_stderr_contains("the setup endpoint refused: too many failed attempts")
        .expect_stderr_contains("HTTP 429 too_many_attempts")
        .expect_stderr_contains("too many wrong tokens came from this address");
    assert_eq!(server.requests(), 1, "Retry-After: 60 outlasts --wait 2s: no second attempt");
    assert!(took < Duration::from_secs(30), "{took:?}");
}

#[test]
fn an_admin_found_after_a_lost_answer_may_be_our_own_and_require_fresh_says_so() {
    let already = || {
        http(
            "409 Conflict",
            &["Content-Type: application/json"],
            "{\"error\": \"already_initialized\", \"message\": \"the platform admin exists\"}",
        )
    };
    // The first POST reaches the server (which may have created the admin) and its answer is lost.
    let server = Scripted::start(vec![Script::Hangup, already()]);
    let (outcome, _) = bootstrap(&server.url, &["--wait", "20s", "--require-fresh"]);
    outcome
        .expect_code(3)
        .expect_stderr_contains("an earlier attempt of this run got no answer")
        .expect_stderr_contains("check whether root@praxia.example can sign in");
    assert_eq!(server.requests(), 2);

    let server = Scripted::start(vec![Script::Hangup, already()]);
    let (outcome, _) = bootstrap(&server.url, &["--wait", "20s"]);
    outcome.expect_code(0).expect_stdout_contains("may have created it");

    // Without a lost answer, an existing admin is simply someone else's.
    let server = Scripted::start(vec![already()]);
    let (outcome, _) = bootstrap(&server.url, &["--require-fresh"]);
    outcome.expect_code(3).expect_stderr_contains("bootstrapped before");
}

#[test]
fn a_proxys_bare_429_is_unreachable_and_its_502_may_have_hidden_our_own_admin() {
    let server = Scripted::start(vec![http("429 Too Many Requests", &["Retry-After: 60"], "<html>slow down</html>")]);
    let (outcome, _) = bootstrap(&server.url, &["--wait", "2s"]);
    outcome.expect_code(7).expect_stderr_contains("could not reach").expect_stderr_contains("HTTP 429");

    let already = http(
        "409 Conflict",
        &["Content-Type: application/json"],
        "{\"error\": \"already_initialized\", \"message\": \"the platform admin exists\"}",
    );
    let server = Scripted::start(vec![http("502 Bad Gateway", &[], "bad gateway"), already]);
    let (outcome, _) = bootstrap(&server.url, &["--wait", "20s", "--require-fresh"]);
    outcome.expect_code(3).expect_stderr_contains("an earlier attempt of this run got no answer");
}
