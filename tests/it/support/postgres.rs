//! One throwaway PostgreSQL server per test binary: initdb + pg_ctl on a free
//! loopback port in a temp dir (as the `postgres` user when running as root),
//! stopped and removed when the test process exits, however it exits.

use std::path::PathBuf;
use std::process::ChildStdin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use praxia_deploy::pgserver::{Cluster, Durability, PgBinaries, ServerAccount};

pub struct TestPostgres {
    pub cluster: Cluster,
    pub dir: PathBuf,
    next_database: AtomicUsize,
    /// The watchdog stops the server when this pipe closes, i.e. when the test process ends.
    _watchdog: Mutex<ChildStdin>,
}

/// A database of its own for one test.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

/// The server for this test binary, started on first use. Panics with the reason
/// and the fix when PostgreSQL cannot be started: a missing prerequisite fails tests.
pub fn test_postgres() -> &'static TestPostgres {
    static SERVER: OnceLock<Result<TestPostgres, String>> = OnceLock::new();
    match SERVER.get_or_init(start) {
        Ok(server) => server,
        Err(reason) => panic!("{reason}"),
    }
}

impl TestPostgres {
    /// A URL on this server as `praxia_shadow`, a role that may create databases
    /// and nothing more: what `drift --shadow-url` asks for.
    #[allow(dead_code)]
    pub fn shadow_url(&self) -> String {
        static MADE: OnceLock<()> = OnceLock::new();
        MADE.get_or_init(|| {
            let database = self.fresh_database();
            let made = std::process::Command::new(self.cluster.binaries.program("psql"))
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", &database.url, "-c"])
                .arg("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'praxia_shadow') THEN CREATE ROLE praxia_shadow LOGIN CREATEDB; END IF; END $$")
                .output()
                .expect("psql runs");
            assert!(made.status.success(), "could not make praxia_shadow: {}", String::from_utf8_lossy(&made.stderr));
        });
        self.cluster.url("postgres").expect("the test cluster has a port").replacen("postgres@", "praxia_shadow@", 1)
    }

    pub fn fresh_database(&self) -> TestDatabase {
        let name = format!("test_{}", self.next_database.fetch_add(1, Ordering::SeqCst));
        self.cluster
            .ensure_database(&name)
            .unwrap_or_else(|err| panic!("could not create test database {name}: {err}"));
        TestDatabase { url: self.cluster.url(&name).expect("the test cluster has a port"), name }
    }
}

fn start() -> Result<TestPostgres, String> {
    let install = "install the PostgreSQL 15 server (Debian: `apt-get install postgresql-15`) or set PG_BIN to its \
                   bin folder; as root, the `postgres` system user must exist (tests run the server as it)";
    let fail = |what: &str, err: &dyn std::fmt::Display, fix: &str| {
        format!("cannot start the test PostgreSQL: {what}: {err}\nfix: {fix}")
    };
    let binaries = PgBinaries::locate().map_err(|err| fail("finding the server programs", &err, install))?;
    let account =
        ServerAccount::for_this_process().map_err(|err| fail("choosing the server account", &err, install))?;
    let dir = tempfile::Builder::new()
        .prefix("praxia-test-pg-")
        .tempdir()
        .map_err(|err| fail("creating a temp dir", &err, "make TMPDIR writable"))?
        .keep();
    let cluster = Cluster::in_dir(&dir, binaries, account);
    let watchdog = spawn_watchdog(&cluster, &dir)
        .map_err(|err| fail("starting the cleanup watchdog", &err, "`sh` and `cat` must be on PATH"))?;
    let log_hint = format!("read the server log in {}", dir.display());
    cluster.init(Durability::Throwaway).map_err(|err| fail("initdb", &err, &log_hint))?;
    cluster.start().map_err(|err| fail("pg_ctl start", &err, &log_hint))?;
    Ok(TestPostgres { cluster, dir, next_database: AtomicUsize::new(0), _watchdog: Mutex::new(watchdog) })
}

/// Stops the server and removes the folder when the test process exits.
fn spawn_watchdog(cluster: &Cluster, dir: &std::path::Path) -> std::io::Result<ChildStdin> {
    let stop = cluster.immediate_stop_command();
    let mut args = vec![dir.as_os_str(), stop.get_program()];
    args.extend(stop.get_args());
    super::watchdog::on_exit(r#"dir="$1"; shift; "$@" >/dev/null 2>&1; rm -rf "$dir""#, &args)
}

impl TestDatabase {
    /// The schema outside the bookkeeping's, in pg_dump's words (without its
    /// random `\restrict` key): two databases' end states compared.
    pub fn schema_dump(&self) -> String {
        let output = std::process::Command::new(test_postgres().cluster.binaries.program("pg_dump"))
            .args([
                "--schema-only",
                "--no-owner",
                "--no-privileges",
                "--exclude-schema=praxia_deploy",
                "--exclude-schema=drizzle",
            ])
            .arg(&self.url)
            .output()
            .expect("pg_dump runs");
        assert!(output.status.success(), "pg_dump: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter(|line| !line.starts_with("\\restrict ") && !line.starts_with("\\unrestrict "))
            .collect::<Vec<_>>()
            .join("\n")
    }
}
