//! `studio` over plain HTTP: the real binary serving a seeded database; the
//! token, the Host check, read-only answers, keyset paging and redaction, as a
//! browser (or an attacker's page) would meet them.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};

use crate::support::{TestDatabase, TestProject, test_postgres};
use serde_json::json;
use sqlx::{Connection, PgConnection};

/// The studio running for the test database; killed when dropped.
struct Running {
    child: Child,
    /// `http://127.0.0.1:<port>/#token=...`, as printed.
    url: String,
    port: u16,
    token: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(project: &TestProject, database: &TestDatabase) -> Running {
    let port = praxia_deploy::pgserver::free_loopback_port().unwrap();
    start_with(project, database, &["--bind", &format!("127.0.0.1:{port}")])
}

/// `studio` with `args`, once it has printed its URL.
fn start_with(project: &TestProject, database: &TestDatabase, args: &[&str]) -> Running {
    let mut stderr = tempfile::tempfile().unwrap();
    let mut child = project
        .on(database)
        .arg("studio")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    if line.is_empty() {
        let mut said = String::new();
        std::io::Seek::rewind(&mut stderr).unwrap();
        stderr.read_to_string(&mut said).unwrap();
        panic!("the studio printed no URL: {said}");
    }
    let url = line.split_whitespace().last().expect("the printed URL").to_owned();
    let token = url.split("token=").nth(1).expect("a token in the URL").to_owned();
    let port = url.split(['/', ':']).nth(4).and_then(|port| port.parse().ok()).expect("a port in the URL");
    Running { child, url, port, token }
}

/// A raw HTTP/1.1 request (any Host header, any method), with the token as the
/// page sends it (`Authorization: Bearer`): status, head and body.
fn request(port: u16, method: &str, path: &str, host: &str, token: Option<&str>) -> (u16, String, String) {
    let authorization = token.map_or(String::new(), |token| format!("Authorization: Bearer {token}\r\n"));
    raw(
        port,
        &format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{authorization}Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
    )
}

/// Any request, as written.
fn raw(port: u16, text: &str) -> (u16, String, String) {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.write_all(text.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body =
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    (status, head.to_owned(), body)
}

/// A chunked body's content (a streamed export); panics on a body cut short.
fn dechunk(mut body: &str) -> String {
    let mut content = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
        if size == 0 {
            return content;
        }
        content.push_str(&rest[..size]);
        body = rest[size..].strip_prefix("\r\n").expect("a chunk ends with CRLF");
    }
}

async fn seeded() -> (TestDatabase, TestProject) {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.run_on(&database, &["--env", "test", "release"]).expect_code(0);
    (database, project)
}

#[tokio::test]
async fn only_the_printed_url_on_the_bound_host_gets_in_and_the_page_is_locked_down() {
    let (database, project) = seeded().await;
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    assert!(studio.url.starts_with(&format!("http://{host}/#token=")), "{}", studio.url);

    let (status, _, _) = request(studio.port, "GET", "/api/tables", &host, None);
    assert_eq!(status, 401, "no token");
    let (status, _, _) = request(studio.port, "GET", "/api/tables", &host, Some("wrong"));
    assert_eq!(status, 401, "a wrong token");
    // A DNS-rebinding page reaches the port under its own name: refused, token or not.
    let (status, _, _) = request(studio.port, "GET", "/api/tables", "evil.example", Some(&studio.token));
    assert_eq!(status, 421);
    let (status, _, _) = request(studio.port, "GET", "/", "evil.example", None);
    assert_eq!(status, 421);
    // The token is taken from the header only: never from a URL (logs, history) nor
    // a cookie (a browser sends those to every port of the host).
    let (status, _, _) = request(studio.port, "GET", &format!("/api/tables?token={}", studio.token), &host, None);
    assert_eq!(status, 401);
    let (status, _, _) = raw(
        studio.port,
        &format!(
            "GET /api/tables HTTP/1.1\r\nHost: {host}\r\nCookie: praxia_studio={}\r\nConnection: close\r\n\r\n",
            studio.token
        ),
    );
    assert_eq!(status, 401);

    // The page holds no data: it loads without the token, and sets no cookie.
    let (status, head, body) = request(studio.port, "GET", "/", &host, None);
    assert_eq!(status, 200);
    let head = head.to_ascii_lowercase();
    assert!(!head.contains("set-cookie"), "{head}");
    assert!(head.contains("content-security-policy: default-src 'none'; script-src 'self'"), "{head}");
    assert!(!head.contains("access-control-allow-origin"), "no CORS: {head}");
    assert!(body.contains("<script src=\"/studio.js\""), "{body}");
    assert!(!body.contains("http://") && !body.contains("https://"), "nothing loaded from elsewhere: {body}");
    let (status, _, _) = request(studio.port, "GET", "/api/tables", &host, Some(&studio.token));
    assert_eq!(status, 200, "the token in the header");
}

#[tokio::test]
async fn the_api_reads_pages_by_key_redacts_secrets_and_cannot_write() {
    let (database, project) = seeded().await;
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    let get = |path: &str| {
        let (status, _, body) = request(studio.port, "GET", path, &host, Some(&studio.token));
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };

    let tables = get("/api/tables");
    let names: Vec<&str> = tables["tables"].as_array().unwrap().iter().map(|t| t["name"].as_str().unwrap()).collect();
    for praxia in ["user", "session", "account", "verification", "profile", "organization", "organization_user"] {
        assert!(names.contains(&praxia), "{praxia} in {names:?}");
    }

    // Keyset pages: the second starts after the first's last key, and none repeats.
    let first = get("/api/tables/public/user/rows?limit=3");
    assert_eq!(first["key"], "id");
    let next = first["next"].as_str().expect("more than one page").to_owned();
    let cursor: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
    let second = get(&format!("/api/tables/public/user/rows?limit=3&after={cursor}"));
    let ids = |page: &serde_json::Value| -> Vec<String> {
        page["rows"].as_array().unwrap().iter().map(|row| row["id"].as_str().unwrap().to_owned()).collect()
    };
    let (a, b) = (ids(&first), ids(&second));
    assert_eq!(a.len(), 3);
    assert!(!b.is_empty() && b.iter().all(|id| !a.contains(id)), "{a:?} then {b:?}");
    let resumed: Vec<String> = serde_json::from_str(&next).unwrap();
    assert_eq!(a.last(), resumed.last(), "the next page starts after the last key shown");

    // Password hashes never leave the server.
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let hash: String = sqlx::query_scalar("SELECT password FROM account WHERE password IS NOT NULL LIMIT 1")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    let (_, _, rows) =
        request(studio.port, "GET", "/api/tables/public/account/rows?limit=500", &host, Some(&studio.token));
    assert!(!rows.contains(&hash), "the hash reached the page");
    assert!(rows.contains("\"password\":\"[redacted]\""), "{rows}");
    let detail = get("/api/tables/public/account");
    let password = detail["columns"].as_array().unwrap().iter().find(|c| c["name"] == "password").unwrap();
    assert_eq!(password["redacted"], true);

    // No way to write: other methods are refused, and nothing changed.
    let before: i64 = sqlx::query_scalar("SELECT count(*) FROM \"user\"").fetch_one(&mut connection).await.unwrap();
    for (method, path) in
        [("POST", "/api/tables"), ("PUT", "/api/tables/public/user/rows"), ("DELETE", "/api/tables/public/user")]
    {
        let (status, _, _) = request(studio.port, method, path, &host, Some(&studio.token));
        assert_eq!(status, 405, "{method} {path}");
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM \"user\"").fetch_one(&mut connection).await.unwrap();
    assert_eq!(before, after);
    let (status, _, _) = request(studio.port, "GET", "/api/tables/public/nope/rows", &host, Some(&studio.token));
    assert_eq!(status, 404);
}

#[test]
fn production_needs_yes() {
    let project = TestProject::from_repo();
    let outcome = crate::support::Outcome::of(
        project.command().args(["--env", "production", "studio"]).env("DATABASE_URL", "postgres://u@127.0.0.1:1/x"),
    );
    outcome.expect_code(3).expect_stderr_contains("was not confirmed").expect_stderr_contains("--yes");
}

#[tokio::test]
async fn filters_sorting_links_referenced_by_and_export() {
    let (database, project) = seeded().await;
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    let fetch = |path: &str| request(studio.port, "GET", path, &host, Some(&studio.token));
    let get = |path: &str| {
        let (status, _, body) = fetch(path);
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };

    // A typed filter, and the foreign key from profile to organization as a link.
    let profile = get("/api/tables/public/profile");
    let link = profile["foreign_keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|fk| fk["column"] == "organization_id")
        .expect("profile.organization_id links to its organization")
        .clone();
    assert_eq!((link["table"].as_str(), link["references"].as_str()), (Some("organization"), Some("id")));
    let profiles = get("/api/tables/public/profile/rows?filter=organization_id:notnull");
    let organization_id = profiles["rows"][0]["organization_id"].as_str().unwrap().to_owned();
    let organization = get(&format!("/api/tables/public/organization/rows?filter=id:eq:{organization_id}"));
    assert_eq!(organization["rows"].as_array().unwrap().len(), 1);
    assert_eq!(organization["rows"][0]["id"], organization_id.as_str());

    // "Referenced by": the profiles and memberships pointing at organizations, each
    // a link to its table filtered to the rows pointing at one.
    let detail = get("/api/tables/public/organization");
    let from: Vec<(&str, &str, &str)> = detail["referenced_by"]
        .as_array()
        .unwrap()
        .iter()
        .map(|link| {
            (link["table"].as_str().unwrap(), link["column"].as_str().unwrap(), link["references"].as_str().unwrap())
        })
        .collect();
    assert_eq!(from, [("organization_user", "organization_id", "id"), ("profile", "organization_id", "id")]);
    let members =
        get(&format!("/api/tables/public/organization_user/rows?filter=organization_id:eq:{organization_id}"));
    let members = members["rows"].as_array().unwrap();
    assert!(!members.is_empty() && members.iter().all(|row| row["organization_id"] == organization_id.as_str()));

    // Sorted by a column, paged by (column, key): every row once, in order.
    let mut seen: Vec<String> = Vec::new();
    let mut emails: Vec<String> = Vec::new();
    let mut path = "/api/tables/public/user/rows?sort=email&order=desc&limit=3".to_owned();
    loop {
        let page = get(&path);
        for row in page["rows"].as_array().unwrap() {
            seen.push(row["id"].as_str().unwrap().to_owned());
            emails.push(row["email"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => {
                let cursor: String = url::form_urlencoded::byte_serialize(next.as_bytes()).collect();
                path = format!("/api/tables/public/user/rows?sort=email&order=desc&limit=3&after={cursor}");
            }
            None => break,
        }
    }
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let mut expected: Vec<String> =
        sqlx::query_scalar("SELECT email FROM \"user\" ORDER BY email DESC").fetch_all(&mut connection).await.unwrap();
    assert_eq!(emails, expected, "every row once, in the database's own order");
    expected.dedup();
    assert_eq!(seen.len(), expected.len());

    // A redacted column can be neither filtered nor sorted on; an unknown filter is refused.
    for path in [
        "/api/tables/public/account/rows?filter=password:contains:scrypt",
        "/api/tables/public/account/rows?sort=password",
        "/api/tables/public/user/rows?filter=email:like:x",
        "/api/tables/public/user/rows?filter=nope:eq:x",
    ] {
        assert_eq!(fetch(path).0, 400, "{path}");
    }

    // The export is the current view, redacted.
    let hash: String = sqlx::query_scalar("SELECT password FROM account WHERE password IS NOT NULL LIMIT 1")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    let (status, head, csv) = fetch("/api/tables/public/account/export?format=csv");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase().contains("content-disposition: attachment; filename=\"public.account.csv\""),
        "{head}"
    );
    assert!(csv.starts_with("id,") || csv.contains("password"), "{csv}");
    assert!(csv.contains("[redacted]") && !csv.contains(&hash), "{csv}");
    let (status, _, json) = fetch("/api/tables/public/user/export?format=json&filter=email:contains:northwind");
    assert_eq!(status, 200);
    let exported: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert!(exported.as_array().unwrap().iter().all(|row| row["email"].as_str().unwrap().contains("northwind")));
}

#[tokio::test]
async fn the_table_list_shows_each_tables_size_and_its_rows_counted_when_never_analysed() {
    let (database, project) = seeded().await;
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    // autovacuum off: no ANALYZE but the test's own.
    sqlx::raw_sql(
        "CREATE TABLE never_analysed (id int PRIMARY KEY) WITH (autovacuum_enabled = off); \
         INSERT INTO never_analysed SELECT generate_series(1, 1234); \
         CREATE TABLE analysed (id int PRIMARY KEY) WITH (autovacuum_enabled = off); \
         INSERT INTO analysed SELECT generate_series(1, 40); ANALYZE analysed; \
         CREATE TABLE parted (id int PRIMARY KEY) PARTITION BY RANGE (id); \
         CREATE TABLE parted_low PARTITION OF parted FOR VALUES FROM (0) TO (100) WITH (autovacuum_enabled = off); \
         INSERT INTO parted SELECT generate_series(1, 30);",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    let (status, _, body) = request(studio.port, "GET", "/api/tables", &host, Some(&studio.token));
    assert_eq!(status, 200, "{body}");
    let tables: serde_json::Value = serde_json::from_str(&body).unwrap();
    let tables = tables["tables"].as_array().unwrap();
    let listed = |name: &str| tables.iter().find(|table| table["name"] == name).expect(name).clone();
    let mut size = async |tables: &[&str]| -> (i64, String) {
        sqlx::query_as(
            "SELECT sum(pg_total_relation_size(t))::bigint, pg_size_pretty(sum(pg_total_relation_size(t))) \
             FROM unnest($1::text[]::regclass[]) t",
        )
        .bind(tables)
        .fetch_one(&mut connection)
        .await
        .unwrap()
    };

    let never = listed("never_analysed");
    assert_eq!((&never["rows"], &never["rows_exact"]), (&json!(1234), &json!(true)), "counted: {never}");
    let (bytes, pretty) = size(&["never_analysed"]).await;
    assert_eq!((never["bytes"].as_i64(), never["size"].as_str()), (Some(bytes), Some(pretty.as_str())));
    let analysed = listed("analysed");
    assert_eq!((&analysed["rows"], &analysed["rows_exact"]), (&json!(40), &json!(false)), "an estimate: {analysed}");
    // A partitioned table holds its partitions' rows, and their bytes.
    let parted = listed("parted");
    assert_eq!((&parted["rows"], &parted["rows_exact"]), (&json!(30), &json!(true)), "{parted}");
    assert_eq!(parted["bytes"].as_i64(), Some(size(&["parted", "parted_low"]).await.0));
    for table in tables {
        assert!(table["rows"].is_i64() && table["bytes"].is_i64() && table["size"].is_string(), "{table}");
    }
}

#[tokio::test]
async fn a_table_a_migration_holds_locked_is_not_known_yet_and_the_list_still_answers() {
    let (database, project) = seeded().await;
    let mut migration = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE busy (id int) WITH (autovacuum_enabled = off); INSERT INTO busy VALUES (1)")
        .execute(&mut migration)
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN; ALTER TABLE busy ADD COLUMN note text").execute(&mut migration).await.unwrap();
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    let started = std::time::Instant::now();
    let (status, _, body) = request(studio.port, "GET", "/api/tables", &host, Some(&studio.token));
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    // Well within the studio's 5 s statement timeout, which would otherwise decide.
    assert!(took < std::time::Duration::from_secs(4), "the list waited {took:?} for the lock");
    let tables: serde_json::Value = serde_json::from_str(&body).unwrap();
    let tables = tables["tables"].as_array().unwrap();
    let busy = tables.iter().find(|table| table["name"] == "busy").unwrap();
    assert_eq!((&busy["rows"], &busy["bytes"], &busy["size"]), (&json!(null), &json!(null), &json!(null)), "{busy}");
    let user = tables.iter().find(|table| table["name"] == "user").unwrap();
    assert!(user["rows"].is_i64() && user["bytes"].is_i64(), "{user}");
}

#[tokio::test]
async fn the_overview_shows_the_stamp_the_database_has_now() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    let overview = || {
        let (status, _, body) = request(studio.port, "GET", "/api/overview", &host, Some(&studio.token));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let before = overview();
    assert_eq!((&before["environment"], &before["stamp"]), (&json!("test"), &json!(null)), "{before}");
    project.run_on(&database, &["--env", "test", "release"]).expect_code(0);
    let stamp = overview()["stamp"].clone();
    assert_eq!((&stamp["name"], &stamp["kind"]), (&json!("test"), &json!("test")), "{stamp}");
    assert!(stamp["stamped_at"].as_str().unwrap().ends_with(" UTC"), "{stamp}");
    assert!(stamp["stamped_by"].as_str().unwrap().contains('@'), "{stamp}");
}

#[tokio::test]
async fn a_role_that_may_read_only_the_apps_tables_still_browses_and_is_told_what_it_cannot_see() {
    let (database, project) = seeded().await;
    let role = format!("browser_{}", database.name);
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let grant = format!("CREATE ROLE {role} LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}");
    sqlx::raw_sql(sqlx::AssertSqlSafe(grant)).execute(&mut connection).await.unwrap();
    let mut url = url::Url::parse(&database.url).unwrap();
    url.set_username(&role).unwrap();
    let port = praxia_deploy::pgserver::free_loopback_port().unwrap();
    let bind = format!("127.0.0.1:{port}");
    let studio = start_with(&project, &database, &["--bind", &bind, "--database-url", url.as_str()]);
    let get = |path: &str| {
        let (status, _, body) = request(studio.port, "GET", path, &bind, Some(&studio.token));
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let overview = get("/api/overview");
    let unreadable = overview["stamp_unreadable"].as_str().unwrap_or_default();
    assert!(unreadable.contains("permission denied for schema praxia_deploy"), "{overview}");
    let tables = get("/api/tables");
    let tables = tables["tables"].as_array().unwrap();
    let stamp = tables.iter().find(|table| table["name"] == "environment").unwrap();
    assert!(stamp["rows"].is_null() && stamp["bytes"].is_i64(), "not counted, but measured: {stamp}");
    let user = tables.iter().find(|table| table["name"] == "user").unwrap();
    assert!(user["rows"].is_i64() && user["bytes"].is_i64(), "{user}");
}

/// drizzle-kit studio listens on 127.0.0.1:4983 by default.
#[tokio::test]
async fn the_studio_runs_beside_drizzle_kit_studio_by_default() {
    let (database, project) = seeded().await;
    // Taken by this test, standing in for drizzle-kit studio, or by something else already.
    let drizzle = std::net::TcpListener::bind("127.0.0.1:4983");
    if let Err(err) = &drizzle {
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "{err}");
    }
    let studio = start_with(&project, &database, &[]);
    assert!(studio.url.starts_with("http://127.0.0.1:4993/#token="), "{}", studio.url);
    let (status, _, body) = request(studio.port, "GET", "/", "127.0.0.1:4993", None);
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn the_migrations_view_shows_applied_and_pending_with_their_review() {
    let (database, project) = seeded().await;
    let journal_path = project.path().join("migrations/meta/_journal.json");
    let mut journal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&journal_path).unwrap()).unwrap();
    let entries = journal["entries"].as_array_mut().unwrap();
    let when = entries.last().unwrap()["when"].as_i64().unwrap() + 1000;
    entries.push(
        serde_json::json!({"idx": 2, "version": "7", "when": when, "tag": "0002_drop_slug", "breakpoints": true}),
    );
    std::fs::write(&journal_path, serde_json::to_string(&journal).unwrap()).unwrap();
    project.file("migrations/0002_drop_slug.sql", "ALTER TABLE \"organization\" DROP COLUMN \"slug\";");
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    let (status, _, body) = request(studio.port, "GET", "/api/migrations", &host, Some(&studio.token));
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    let applied = view["applied"].as_array().unwrap();
    assert_eq!(applied.len(), 2);
    assert_eq!(applied[0]["tag"], "0000_better_auth");
    assert!(applied[0]["applied_by"].as_str().unwrap().contains('@'), "{}", applied[0]);
    assert!(applied[0]["applied_at"].as_str().is_some());
    assert!(applied[0]["statements"][0]["sql"].as_str().unwrap().starts_with("CREATE TABLE"));
    let pending = &view["pending"][0];
    assert_eq!(pending["tag"], "0002_drop_slug");
    assert_eq!(pending["mode"], "in the transaction");
    let rules: Vec<&str> =
        pending["findings"].as_array().unwrap().iter().map(|f| f["rule"].as_str().unwrap()).collect();
    assert!(rules.contains(&"ban-drop-column") && rules.contains(&"previous-release-overlap"), "{rules:?}");
    assert!(pending["expanded"].is_null());

    // A release that holds the drop back: the view says the migration is expanded.
    let test_env = std::fs::read_to_string(project.path().join("environments/test.toml")).unwrap();
    project.file("environments/test.toml", &format!("{test_env}\n[contract]\nhold_back = true\n"));
    project.run_on(&database, &["release"]).expect_code(0).expect_stdout_contains("expand part");
    let (status, _, body) = request(studio.port, "GET", "/api/migrations", &host, Some(&studio.token));
    assert_eq!(status, 200, "{body}");
    let view: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(view["pending"][0]["tag"], "0002_drop_slug");
    assert!(view["pending"][0]["expanded"]["expanded_at"].is_string(), "{}", view["pending"][0]);
}

/// The page in a real browser: Debian's chromium, driven by playwright-core
/// (tests/browser, installed by scripts/test with chromium itself).
#[tokio::test]
async fn the_page_works_in_chromium_and_never_leaves_127_0_0_1() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    assert!(
        std::path::Path::new(&chromium).is_file(),
        "the browser tests need chromium at {chromium}: `apt-get install chromium` (`bash scripts/test` does it as root), or set CHROMIUM"
    );
    let browser_dir = crate::support::project::repo_root().join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core/package.json").is_file(),
        "the browser tests need playwright-core: `npm ci --prefix tests/browser` (`bash scripts/test` does it)"
    );
    let (database, project) = seeded().await;
    project.run_on(&database, &["--env", "test", "seed", "--scale", "60"]).expect_code(0);
    let studio = start(&project, &database);
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let hash: String = sqlx::query_scalar("SELECT password FROM account WHERE password IS NOT NULL LIMIT 1")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    // organization analysed (an estimate), session never (nothing wrote it: counted),
    // verification held locked by a migration (not known) while the page runs.
    sqlx::raw_sql("ANALYZE organization").execute(&mut connection).await.unwrap();
    let organizations: i64 =
        sqlx::query_scalar("SELECT count(*) FROM organization").fetch_one(&mut connection).await.unwrap();
    let (user, organization): (String, String) = sqlx::query_as(
        "SELECT p.user_id, o.name FROM profile p JOIN organization o ON o.id = p.organization_id ORDER BY 1 LIMIT 1",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    let stamped_by: String = sqlx::query_scalar("SELECT stamped_by FROM praxia_deploy.environment")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    let mut migration = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql("BEGIN; ALTER TABLE verification ADD COLUMN note text").execute(&mut migration).await.unwrap();
    let expected = json!({
        "stamped_by": stamped_by, "organizations": organizations, "user": user, "organization": organization,
    });
    let shots = crate::support::project::repo_root().join("target/studio-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let mut stderr = tempfile::tempfile().unwrap();
    let mut node = std::process::Command::new("node")
        .arg(browser_dir.join("studio.mjs"))
        .arg(&studio.url)
        .arg(&shots)
        .arg(&hash)
        .arg(expected.to_string())
        .env("CHROMIUM", &chromium)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .unwrap();
    // Once the page has read the table list, the migration ends (the drift check
    // would wait on its lock), and the script goes on.
    let mut stdout = BufReader::new(node.stdout.take().unwrap());
    let mut said = String::new();
    while stdout.read_line(&mut said).unwrap() > 0 && !said.ends_with("listed\n") {}
    sqlx::raw_sql("ROLLBACK").execute(&mut migration).await.unwrap();
    let _ = node.stdin.take().unwrap().write_all(b"go\n");
    stdout.read_to_string(&mut said).unwrap();
    let status = node.wait().unwrap();
    let mut complaints = String::new();
    std::io::Seek::rewind(&mut stderr).unwrap();
    stderr.read_to_string(&mut complaints).unwrap();
    assert!(status.success(), "the browser run failed:\n{said}\n{complaints}");
}

#[tokio::test]
async fn the_environment_can_redact_more_columns_and_a_bad_entry_is_refused() {
    let (database, project) = seeded().await;
    let environment = crate::support::project::TEST_ENVIRONMENT;
    project.file("environments/test.toml", &format!("{environment}\n[studio]\nredact = [\"organization.slug\"]\n"));
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    let (status, _, body) =
        request(studio.port, "GET", "/api/tables/public/organization/rows", &host, Some(&studio.token));
    assert_eq!(status, 200);
    assert!(body.contains("\"slug\":\"[redacted]\"") && !body.contains("northwind-academy"), "{body}");
    let (status, _, _) = request(
        studio.port,
        "GET",
        "/api/tables/public/organization/rows?filter=slug:eq:x",
        &host,
        Some(&studio.token),
    );
    assert_eq!(status, 400, "a redacted column cannot be filtered on");
    drop(studio);

    project.file("environments/test.toml", &format!("{environment}\n[studio]\nredact = [\"slug\"]\n"));
    project
        .run_on(&database, &["studio"])
        .expect_code(2)
        .expect_stderr_contains("test.toml:10:")
        .expect_stderr_contains("`slug` is not `table.column`");
}

#[tokio::test]
async fn drift_is_checked_on_demand_from_the_migrations_view() {
    let (database, project) = seeded().await;
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    let drift = || {
        let (status, _, body) = request(studio.port, "GET", "/api/drift", &host, Some(&studio.token));
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let clean = drift();
    assert_eq!(clean["applied"], 2);
    assert_eq!(clean["differences"].as_array().unwrap().len(), 0, "{clean}");
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql("CREATE INDEX hand_made ON profile (created_at)").execute(&mut connection).await.unwrap();
    let drifted = drift();
    let names: Vec<&str> =
        drifted["differences"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["public.hand_made"]);
}

#[tokio::test]
async fn ctrl_c_stops_it_cleanly() {
    let (database, project) = seeded().await;
    let mut studio = start(&project, &database);
    // Once it serves (its signal handlers are in place by then).
    let host = format!("127.0.0.1:{}", studio.port);
    assert_eq!(request(studio.port, "GET", "/api/overview", &host, Some(&studio.token)).0, 200);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(studio.child.id() as i32, libc::SIGINT) };
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = studio.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "still running 10 s after Ctrl-C");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn redacted_keys_never_page_references_never_carry_secrets_and_numbers_stay_exact() {
    let (database, project) = seeded().await;
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE api_key (key text PRIMARY KEY, label text); \
         INSERT INTO api_key VALUES ('sk_live_SECRET_A', 'a'), ('sk_live_SECRET_B', 'b'); \
         CREATE TABLE money (id numeric PRIMARY KEY, amount numeric); \
         INSERT INTO money VALUES (1000000000000000000000.100001, 0.12345678901234567890), (1000000000000000000000.200002, 1); \
         CREATE TABLE session_audit (id serial PRIMARY KEY, session_token text REFERENCES session(token), note text); \
         INSERT INTO session VALUES ('sess1', now() + interval '1 day', 'SESSIONTOKEN_TOPSECRET_1', now(), now(), NULL, NULL, (SELECT id FROM \"user\" LIMIT 1)); \
         INSERT INTO session_audit (session_token, note) VALUES ('SESSIONTOKEN_TOPSECRET_1', 'seen');",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let environment = crate::support::project::TEST_ENVIRONMENT;
    project.file("environments/test.toml", &format!("{environment}\n[studio]\nredact = [\"api_key.key\"]\n"));
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    let fetch = |path: &str| request(studio.port, "GET", path, &host, Some(&studio.token));

    let (status, _, body) = fetch("/api/tables/public/api_key/rows?limit=1");
    assert_eq!(status, 200);
    assert!(!body.contains("sk_live"), "a redacted key left in the page or its cursor: {body}");
    assert_eq!(fetch("/api/tables/public/api_key/rows?sort=key").0, 400);

    // A "referenced by" link through the redacted token would carry its value.
    let (_, _, body) = fetch("/api/tables/public/session");
    let detail: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(detail["referenced_by"].as_array().unwrap().iter().all(|link| link["table"] != "session_audit"), "{body}");

    let (_, _, body) = fetch("/api/tables/public/money/rows?limit=1");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["rows"][0]["id"], "1000000000000000000000.100001", "{body}");
    assert_eq!(page["rows"][0]["amount"], "0.12345678901234567890");
    let cursor: String = url::form_urlencoded::byte_serialize(page["next"].as_str().unwrap().as_bytes()).collect();
    let (_, _, body) = fetch(&format!("/api/tables/public/money/rows?limit=1&after={cursor}"));
    let second: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(second["rows"][0]["id"], "1000000000000000000000.200002", "the next page moves on: {body}");
}

#[tokio::test]
async fn the_system_catalogs_cannot_be_read_and_redaction_follows_partitions_and_children() {
    let (database, project) = seeded().await;
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql(
        "ANALYZE; \
         CREATE TABLE audit (id int PRIMARY KEY, payload text, t text) PARTITION BY RANGE (id); \
         CREATE TABLE audit_2025 PARTITION OF audit FOR VALUES FROM (0) TO (1000); \
         INSERT INTO audit VALUES (1, 'the secret payload', 'a column named t'); \
         CREATE TABLE log (id int PRIMARY KEY, payload text); CREATE TABLE log_child () INHERITS (log); \
         INSERT INTO log_child VALUES (2, 'the inherited secret');",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let environment = crate::support::project::TEST_ENVIRONMENT;
    project.file(
        "environments/test.toml",
        &format!("{environment}\n[studio]\nredact = [\"audit.payload\", \"log.payload\"]\n"),
    );
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    for path in [
        "/api/tables/pg_catalog/pg_statistic/rows",
        "/api/tables/pg_catalog/pg_authid/rows",
        "/api/tables/pg_catalog/pg_authid",
        "/api/tables/information_schema/sql_features/rows",
        "/api/tables/pg_toast/pg_toast_2619/rows",
    ] {
        let (status, _, body) = request(studio.port, "GET", path, &host, Some(&studio.token));
        assert_eq!(status, 404, "{path}: {body}");
        assert!(!body.contains("SCRAM-SHA-256"), "{path}: {body}");
    }
    for path in
        ["/api/tables/public/audit_2025/rows", "/api/tables/public/audit/rows", "/api/tables/public/log_child/rows"]
    {
        let (status, _, body) = request(studio.port, "GET", path, &host, Some(&studio.token));
        assert_eq!(status, 200, "{path}: {body}");
        assert!(body.contains("[redacted]") && !body.contains("secret"), "{path}: {body}");
    }
    // A column named `t` is a column, not the row.
    let (_, _, body) = request(studio.port, "GET", "/api/tables/public/audit_2025/rows", &host, Some(&studio.token));
    assert!(body.contains("\"t\":\"a column named t\""), "{body}");
}

#[tokio::test]
async fn an_array_sorts_across_pages_and_a_bad_value_is_a_400_saying_why() {
    let (database, project) = seeded().await;
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE tagged (id int PRIMARY KEY, tags int[]); \
         INSERT INTO tagged SELECT g, ARRAY[g % 3, g] FROM generate_series(1, 30) g;",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    let mut seen = Vec::new();
    let mut path = "/api/tables/public/tagged/rows?sort=tags&limit=10".to_owned();
    loop {
        let (status, _, body) = request(studio.port, "GET", &path, &host, Some(&studio.token));
        assert_eq!(status, 200, "{path}: {body}");
        let page: serde_json::Value = serde_json::from_str(&body).unwrap();
        seen.extend(page["rows"].as_array().unwrap().iter().map(|row| row["id"].as_str().unwrap().to_owned()));
        let Some(next) = page["next"].as_str() else { break };
        let encoded: String = next.bytes().map(|byte| format!("%{byte:02X}")).collect();
        path = format!("/api/tables/public/tagged/rows?sort=tags&limit=10&after={encoded}");
    }
    assert_eq!(seen.len(), 30, "{seen:?}");
    let (status, _, body) =
        request(studio.port, "GET", "/api/tables/public/tagged/rows?filter=id:eq:abc", &host, Some(&studio.token));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid input syntax for type integer"), "{body}");
}

#[tokio::test]
async fn exports_stream_and_at_most_two_run_at_once() {
    let (database, project) = seeded().await;
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql("CREATE TABLE big (id int PRIMARY KEY, body text); INSERT INTO big SELECT g, repeat('x', 2000) FROM generate_series(1, 10000) g;")
        .execute(&mut connection)
        .await
        .unwrap();
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    // Two exports whose readers stall: each holds its place while the server waits.
    let stalled: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let mut stream = std::net::TcpStream::connect(("127.0.0.1", studio.port)).unwrap();
            write!(stream, "GET /api/tables/public/big/export?format=csv HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {}\r\n\r\n", studio.token).unwrap();
            stream
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let (status, _, body) =
        request(studio.port, "GET", "/api/tables/public/big/export?format=json", &host, Some(&studio.token));
    assert_eq!(status, 429, "{body}");
    assert!(body.contains("2 exports are running already"), "{body}");
    drop(stalled);
    // Once they end, an export runs, whole: 10,000 rows of 2 kB, streamed.
    let mut whole = None;
    for _ in 0..50 {
        let (status, _, body) =
            request(studio.port, "GET", "/api/tables/public/big/export?format=csv", &host, Some(&studio.token));
        if status == 200 {
            whole = Some(body);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let csv = whole.expect("the exports' places came back");
    assert_eq!(csv.lines().count(), 10_001, "a header and 10,000 rows");
}

#[tokio::test]
async fn a_parent_shows_its_childrens_rows_redacted_and_a_redacted_key_looks_nothing_up() {
    let (database, project) = seeded().await;
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql(
        "CREATE TABLE top (id int, secret text) PARTITION BY RANGE (id); \
         CREATE TABLE mid PARTITION OF top FOR VALUES FROM (0) TO (100) PARTITION BY RANGE (id); \
         CREATE TABLE leaf PARTITION OF mid FOR VALUES FROM (0) TO (50); \
         INSERT INTO top VALUES (1, 'LEAFSECRET'); \
         CREATE TABLE audit_base (id text, password text); ALTER TABLE account INHERIT audit_base; \
         CREATE TABLE pkred (code text PRIMARY KEY, other text UNIQUE); INSERT INTO pkred VALUES ('SECRETCODE1', 'o1'); \
         CREATE TABLE pkref (id int PRIMARY KEY, other text REFERENCES pkred (other)); INSERT INTO pkref VALUES (1, 'o1');",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let hash: String = sqlx::query_scalar("SELECT password FROM account WHERE password IS NOT NULL LIMIT 1")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    let environment = crate::support::project::TEST_ENVIRONMENT;
    project.file(
        "environments/test.toml",
        &format!("{environment}\n[studio]\nredact = [\"leaf.secret\", \"pkred.code\"]\n"),
    );
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    for path in [
        "/api/tables/public/top/rows",
        "/api/tables/public/mid/rows",
        "/api/tables/public/audit_base/rows",
        "/api/tables/public/audit_base/export?format=csv",
    ] {
        let (status, _, body) = request(studio.port, "GET", path, &host, Some(&studio.token));
        assert_eq!(status, 200, "{path}: {body}");
        assert!(!body.contains("LEAFSECRET") && !body.contains(&hash), "{path}: {body}");
    }
    let (status, _, body) = request(
        studio.port,
        "GET",
        "/api/tables/public/pkred/rows?filter=code:eq:SECRETCODE1",
        &host,
        Some(&studio.token),
    );
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn the_studio_holds_every_head_to_32_kib_after_a_chunked_request() {
    // serve's HeadBound stops counting after a Transfer-Encoding body; the
    // connection must end there, in the studio as in the setup server.
    let (database, project) = seeded().await;
    let studio = start(&project, &database);
    let host = format!("127.0.0.1:{}", studio.port);
    let chunked = format!("GET / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n");
    let padded =
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nX-Pad: {}a\r\nConnection: close\r\n\r\n", " ".repeat(40 * 1024));
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", studio.port)).unwrap();
    let _ = stream.write_all(format!("{chunked}{padded}").as_bytes());
    stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(answer.matches("HTTP/1.1 ").count(), 1, "the padded head was answered too:\n{answer}");
}
