//! A real OpenSSH sshd on a loopback port, with an authorized_keys line carrying
//! Dokku's own forced-command prefix in front of a `dokku` stand-in
//! (`tests/it/support/dokku-stub`). One per test; stopped and removed when the test
//! process exits, however it exits.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command};
use std::time::{Duration, Instant};

use super::project::repo_root;

const SSHD: &str = "/usr/sbin/sshd";

pub struct TestDokku {
    pub dir: PathBuf,
    pub port: u16,
    /// The server's host key as a `host_key` setting takes it: `ssh-ed25519 AAAA...`.
    pub host_key: String,
    /// The key the authorized_keys line accepts.
    pub client_key: PathBuf,
    /// A key the server does not know.
    pub stranger_key: PathBuf,
    /// The login user (the one running the tests).
    pub user: String,
    _watchdog: ChildStdin,
}

impl TestDokku {
    /// Starts sshd, or fails the test with what is missing and how to get it.
    pub fn start() -> TestDokku {
        assert!(
            Path::new(SSHD).is_file(),
            "the SSH tests need a real sshd at {SSHD}: install openssh-server \
             (`apt-get install openssh-server`; `bash scripts/test` does it when run as root)"
        );
        // The control and socket paths must stay short: a folder right under /tmp.
        let dir = tempfile::Builder::new().prefix("pxs").tempdir_in("/tmp").expect("temp dir").keep();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let run = |program: &str, args: &[&str]| {
            let output = Command::new(program).args(args).output().unwrap_or_else(|err| panic!("{program}: {err}"));
            assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
            String::from_utf8_lossy(&output.stdout).trim().to_owned()
        };
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();
        for key in ["host_key", "client_key", "stranger_key"] {
            run("ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", key, "-f", &path(key)]);
        }
        let user = run("id", &["-un"]);
        let port = praxia_deploy::pgserver::free_loopback_port().unwrap();

        let stub = dir.join("dokku");
        std::fs::copy(repo_root().join("tests/it/support/dokku-stub"), &stub).unwrap();
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(dir.join("sshcommand"), format!("{}\n", stub.display())).unwrap();
        std::fs::create_dir_all(dir.join("apps")).unwrap();
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_praxia-deploy"), dir.join("bin/praxia-deploy")).unwrap();
        std::fs::write(dir.join("calls.log"), "").unwrap();

        let client_public = std::fs::read_to_string(dir.join("client_key.pub")).unwrap();
        // Dokku's own line, but for the stand-in's root folder.
        let authorized = format!(
            "command=\"FINGERPRINT=SHA256:test NAME=\\\"default\\\" DOKKU_TEST_ROOT={} `cat {}` $SSH_ORIGINAL_COMMAND\",\
             no-agent-forwarding,no-user-rc,no-X11-forwarding,no-port-forwarding {}",
            dir.display(),
            dir.join("sshcommand").display(),
            client_public.trim()
        );
        std::fs::write(dir.join("authorized_keys"), format!("{authorized}\n")).unwrap();
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}\nAuthorizedKeysFile {}\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
             StrictModes no\nMaxSessions 20\nLogLevel VERBOSE\n",
            path("host_key"),
            path("sshd.pid"),
            path("authorized_keys"),
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        let _ = std::fs::create_dir_all("/run/sshd"); // privilege separation, when root

        let watchdog = watchdog(&dir);
        let status = Command::new(SSHD).args(["-f", &path("sshd_config"), "-E", &path("sshd.log")]).status().unwrap();
        assert!(
            status.success(),
            "sshd did not start:\n{}",
            std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "sshd never listened on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let host_public = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        let host_key = host_public.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        TestDokku {
            client_key: dir.join("client_key"),
            stranger_key: dir.join("stranger_key"),
            dir,
            port,
            host_key,
            user,
            _watchdog: watchdog,
        }
    }

    /// An app whose one-off containers run in `project` with this DATABASE_URL.
    pub fn add_app(&self, app: &str, project: &Path, database_url: Option<&str>) -> &TestDokku {
        let app_dir = self.dir.join("apps").join(app);
        std::fs::create_dir_all(app_dir.join("config")).unwrap();
        std::fs::write(app_dir.join("project"), project.to_string_lossy().as_bytes()).unwrap();
        if let Some(url) = database_url {
            std::fs::write(app_dir.join("config/DATABASE_URL"), url).unwrap();
        }
        self
    }

    /// A Postgres service for `postgres:export` and `postgres:import`, linked to `apps`.
    pub fn add_postgres_service(&self, service: &str, database_url: &str, apps: &[&str]) -> &TestDokku {
        let dir = self.dir.join("services").join(service);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("url"), database_url).unwrap();
        std::fs::write(dir.join("LINKS"), apps.iter().map(|app| format!("{app}\n")).collect::<String>()).unwrap();
        self
    }

    /// Makes `postgres:export` of `service` stop after `bytes` and fail.
    pub fn break_export_after(&self, service: &str, bytes: usize) {
        std::fs::write(self.dir.join("services").join(service).join("die-after-bytes"), bytes.to_string()).unwrap();
    }

    /// Makes `postgres:export` of `service` lose its SSH session after `bytes`.
    pub fn drop_connection_during_export(&self, service: &str, bytes: usize) {
        let file = self.dir.join("services").join(service).join("drop-connection-after-bytes");
        std::fs::write(file, bytes.to_string()).unwrap();
    }

    /// `ssh <user>@<this host> <arguments>` with the accepted key, as a user runs Dokku commands.
    pub fn ssh(&self, arguments: &[&str]) -> Command {
        let mut command = Command::new("ssh");
        command
            .args(["-i", &self.client_key.to_string_lossy(), "-p", &self.port.to_string()])
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"])
            .arg(format!("{}@127.0.0.1", self.user))
            .args(arguments);
        command
    }

    /// Gives the app's image this PATH (instead of the test's, with praxia-deploy first).
    pub fn set_image_path(&self, app: &str, path: &str) {
        std::fs::write(self.dir.join("apps").join(app).join("path"), path).unwrap();
    }

    /// Gives the app's image this ENTRYPOINT script: `dokku run` passes it the command.
    pub fn set_image_entrypoint(&self, app: &str, script: &str) {
        let file = self.dir.join("apps").join(app).join("entrypoint");
        std::fs::write(&file, script).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Makes `dokku run` answer as for an app that was never deployed.
    pub fn mark_undeployed(&self, app: &str) {
        std::fs::write(self.dir.join("apps").join(app).join("undeployed"), "").unwrap();
    }

    /// The `[dokku]` section of an environment file that reaches this server.
    pub fn section(&self, app: &str) -> String {
        format!(
            "[dokku]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{}\"\napp = \"{app}\"\nhost_key = \"{}\"\nidentity_file = \"{}\"\n",
            self.port,
            self.user,
            self.host_key,
            self.client_key.display()
        )
    }

    /// Every call Dokku received, as the words after its re-split.
    pub fn calls(&self) -> Vec<Vec<String>> {
        let log = std::fs::read_to_string(self.dir.join("calls.log")).unwrap_or_default();
        log.split("---\n")
            .filter(|call| !call.is_empty())
            .map(|call| call.lines().map(str::to_owned).collect())
            .collect()
    }

    pub fn sshd_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("sshd.log")).unwrap_or_default()
    }
}

/// Kills sshd and removes the folder when the test process exits.
fn watchdog(dir: &Path) -> ChildStdin {
    super::watchdog::on_exit(r#"kill "$(cat "$1/sshd.pid" 2>/dev/null)" 2>/dev/null; rm -rf "$1""#, &[dir.as_os_str()])
        .expect("sh runs")
}
