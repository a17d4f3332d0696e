//! A project folder (environments/, migrations/) in a temp dir, and the real
//! praxia-deploy binary run inside it, as a user would.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use praxia_deploy::localdb::LOCAL_DIR;
use praxia_deploy::migration_folder::journal::{JOURNAL_PATH, Journal};
use praxia_deploy::pgserver::{Cluster, PgBinaries, ServerAccount, ServerState, StopMode};

/// The repository this test suite belongs to.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The `test` environment of projects built by `with_migrations`: short waits so
/// that a test about waiting does not wait long.
pub const TEST_ENVIRONMENT: &str = r#"kind = "test"

[database]
wait = "5s"
lock_wait = "20s"
lock_timeout = "2s"
statement_timeout = "1min"
"#;

/// The caller's settings that must not reach the binary under test: praxia's own,
/// and libpq's, which sqlx folds into every URL.
pub const LEAKY_VARIABLES: [&str; 14] = [
    "PRAXIA_ENV",
    "PRAXIA_CONFIG_DIR",
    "DATABASE_URL",
    "RUST_LOG",
    "NO_COLOR",
    "NODE_ENV",
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "PGSSLMODE",
    "PGOPTIONS",
    "SSH_AUTH_SOCK",
];

pub struct TestProject {
    dir: tempfile::TempDir,
}

impl TestProject {
    /// An empty project: just an `environments/` folder.
    pub fn empty() -> TestProject {
        TestProject::empty_in(&std::env::temp_dir())
    }

    /// An empty project in a new folder under `parent` (e.g. a root the binary is chrooted into).
    pub fn empty_in(parent: &Path) -> TestProject {
        let dir = tempfile::Builder::new().prefix("praxia-project-").tempdir_in(parent).expect("temp dir");
        // The server account (`postgres` when the tests run as root) must reach `.praxia/`.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::create_dir(dir.path().join("environments")).expect("mkdir environments");
        TestProject { dir }
    }

    /// A copy of the repository's own environments/ and migrations/.
    pub fn from_repo() -> TestProject {
        let project = TestProject::empty();
        for folder in ["environments", "migrations", "migrations/meta", "drift"] {
            let source = repo_root().join(folder);
            std::fs::create_dir_all(project.path().join(folder)).expect("mkdir");
            for entry in std::fs::read_dir(&source).expect("read repo folder") {
                let path = entry.expect("entry").path();
                if path.is_file() {
                    std::fs::copy(&path, project.path().join(folder).join(path.file_name().unwrap())).expect("copy");
                }
            }
        }
        project
    }

    /// A project with a `test` environment (short waits) and these migrations.
    pub fn with_migrations(migrations: &[(&str, i64, &str)]) -> TestProject {
        TestProject::with_migrations_in(&std::env::temp_dir(), migrations)
    }

    /// `with_migrations`, in a new folder under `parent`.
    pub fn with_migrations_in(parent: &Path, migrations: &[(&str, i64, &str)]) -> TestProject {
        let project = TestProject::empty_in(parent);
        project.file("environments/test.toml", TEST_ENVIRONMENT);
        project.set_migrations(migrations);
        project
    }

    /// Replaces the migration folder: a drizzle-kit journal and one file per migration.
    pub fn set_migrations(&self, migrations: &[(&str, i64, &str)]) -> &TestProject {
        let dir = self.path().join("migrations");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("meta")).expect("mkdir migrations/meta");
        let mut journal = Journal::empty();
        for (tag, when, sql) in migrations {
            journal.append(tag, *when);
            std::fs::write(dir.join(format!("{tag}.sql")), sql).unwrap();
        }
        std::fs::write(dir.join(JOURNAL_PATH), journal.to_text()).unwrap();
        self
    }

    /// Replaces the migration folder with drizzle 1.0's layout: one
    /// `<name>/migration.sql` per `(name, sql)`.
    pub fn set_folders(&self, migrations: &[(&str, &str)]) -> &TestProject {
        let dir = self.path().join("migrations");
        let _ = std::fs::remove_dir_all(&dir);
        for (name, sql) in migrations {
            std::fs::create_dir_all(dir.join(name)).expect("mkdir migration folder");
            std::fs::write(dir.join(name).join("migration.sql"), sql).unwrap();
        }
        std::fs::create_dir_all(&dir).expect("mkdir migrations");
        self
    }

    /// Runs the binary against `database` in the `test` environment.
    pub fn run_on(&self, database: &super::TestDatabase, args: &[&str]) -> Outcome {
        Outcome::of(self.on(database).args(args))
    }

    /// The binary, set up for `database` in the `test` environment, not yet run.
    pub fn on(&self, database: &super::TestDatabase) -> Command {
        let mut command = self.command();
        command.env("PRAXIA_ENV", "test").env("DATABASE_URL", &database.url);
        command
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `contents` at `relative`, creating folders.
    pub fn file(&self, relative: &str, contents: &str) -> &TestProject {
        let path = self.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).expect("mkdir");
        std::fs::write(&path, contents).expect("write");
        self
    }

    /// The binary, run in the project folder, with none of the caller's praxia
    /// or database settings leaking in.
    pub fn command(&self) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_praxia-deploy"));
        command.current_dir(self.path());
        for variable in LEAKY_VARIABLES {
            command.env_remove(variable);
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Outcome {
        Outcome::of(self.command().args(args))
    }
}

impl Drop for TestProject {
    /// Stops an embedded server a test left running, so no postgres outlives the test.
    fn drop(&mut self) {
        let dir = self.path().join(LOCAL_DIR);
        if !dir.join("data").exists() {
            return;
        }
        let (Ok(binaries), Ok(account)) = (PgBinaries::locate(), ServerAccount::for_this_process()) else {
            return;
        };
        let cluster = Cluster::in_dir(&dir, binaries, account);
        if matches!(cluster.state(), Ok(ServerState::Running { .. })) {
            let _ = cluster.stop(StopMode::Immediate);
        }
    }
}

/// What a user sees: the exit code, stdout and stderr.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn of(command: &mut Command) -> Outcome {
        let output = command.output().expect("the praxia-deploy binary runs");
        Outcome {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts the exit code, showing everything the command printed when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Outcome {
        assert_eq!(self.code, code, "unexpected exit code\n--- stdout\n{}\n--- stderr\n{}", self.stdout, self.stderr);
        self
    }

    #[track_caller]
    pub fn expect_stderr_contains(&self, text: &str) -> &Outcome {
        assert!(self.stderr.contains(text), "stderr lacks {text:?}\n--- stderr\n{}", self.stderr);
        self
    }

    #[track_caller]
    pub fn expect_stdout_contains(&self, text: &str) -> &Outcome {
        assert!(self.stdout.contains(text), "stdout lacks {text:?}\n--- stdout\n{}", self.stdout);
        self
    }

    /// stdout parsed as the one JSON document it must be.
    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|err| panic!("stdout is not one JSON document ({err}):\n{}", self.stdout))
    }
}

/// Copies the file or folder `from` to `to`, folders created as needed.
pub fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap_or_else(|err| panic!("{}: {err}", from.display()));
    }
}

/// tests/interop's drizzle-kit, linked in as `dir`'s node_modules (as a project installs it).
pub fn link_drizzle_kit(dir: &Path) {
    let installed = repo_root().join("tests/interop/node_modules");
    assert!(
        installed.join(".bin/drizzle-kit").is_file(),
        "drizzle-kit is not installed in tests/interop: run `bash scripts/test` (it runs `npm ci` there)"
    );
    std::os::unix::fs::symlink(&installed, dir.join("node_modules")).unwrap();
}
