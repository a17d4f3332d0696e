//! The SSH connection to the Dokku host: the system `ssh` as a ControlMaster
//! (openssh, native mux), so the user's agent and ~/.ssh/config apply, with host
//! keys checked strictly unless the environment says otherwise.

use std::path::PathBuf;
use std::time::Duration;

use std::num::NonZeroUsize;

use openssh::{ControlPersist, KnownHosts, Session, SessionBuilder};

use crate::config::{DokkuSettings, EnvironmentKind, KnownHostsPolicy};
use crate::error::{Error, ErrorKind, Result};

/// A connection and the private folder holding its control socket (and pinned key).
pub struct DokkuConnection {
    pub session: Session,
    pub destination: String,
    _dir: tempfile::TempDir,
}

impl DokkuConnection {
    pub async fn open(settings: &DokkuSettings, kind: EnvironmentKind) -> Result<DokkuConnection> {
        // The control socket's path must stay under ~108 bytes: a short folder in /tmp.
        let dir = tempfile::Builder::new()
            .prefix("pxd")
            .tempdir_in("/tmp")
            .map_err(|err| Error::internal(format!("could not create a folder for the SSH control socket: {err}")))?;
        let mut builder = SessionBuilder::default();
        builder
            .user(settings.user.clone())
            .control_directory(dir.path())
            .connect_timeout(Duration::from_secs(15))
            .server_alive_interval(Duration::from_secs(15))
            // If this process dies without closing the session, the master ends
            // once its sessions have been idle this long, instead of staying logged in.
            .control_persist(ControlPersist::IdleFor(NonZeroUsize::new(30).expect("30 is not zero")));
        if let Some(port) = settings.port {
            builder.port(port);
        }
        if let Some(identity) = &settings.identity_file {
            builder.keyfile(expand_home(identity));
        }
        let policy = *settings.known_hosts.get_ref();
        match (&settings.host_key, policy) {
            (Some(key), _) => {
                let file = dir.path().join("known_hosts");
                std::fs::write(&file, known_hosts_line(&settings.host, settings.port, key.as_str()))
                    .map_err(|err| Error::io("write", &file, err))?;
                builder.user_known_hosts_file(&file).known_hosts_check(KnownHosts::Strict);
            }
            (None, KnownHostsPolicy::AcceptNew) if kind != EnvironmentKind::Production => {
                builder.known_hosts_check(KnownHosts::Add);
            }
            (None, _) => {
                builder.known_hosts_check(KnownHosts::Strict);
            }
        }
        let destination = format!("{}@{}:{}", settings.user, settings.host, settings.port.unwrap_or(22));
        match builder.connect_mux(settings.host.as_str()).await {
            Ok(session) => Ok(DokkuConnection { session, destination, _dir: dir }),
            Err(err) => Err(explain_failure(&crate::error::chain(&err), settings)),
        }
    }
}

/// A known_hosts line for the pinned key: `[host]:port key` unless the port is 22.
pub fn known_hosts_line(host: &str, port: Option<u16>, key: &str) -> String {
    match port {
        Some(port) if port != 22 => format!("[{host}]:{port} {key}\n"),
        _ => format!("{host} {key}\n"),
    }
}

fn expand_home(path: &std::path::Path) -> PathBuf {
    match (path.strip_prefix("~"), std::env::var_os("HOME")) {
        (Ok(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => path.to_path_buf(),
    }
}

/// Turns ssh's own words into what failed and what to do. Pure.
pub fn explain_failure(text: &str, settings: &DokkuSettings) -> Error {
    let user = &settings.user;
    let host = &settings.host;
    let port = settings.port.unwrap_or(22);
    let target = format!("{user}@{host}:{port}");
    let keyscan = if port == 22 { format!("ssh-keyscan {host}") } else { format!("ssh-keyscan -p {port} {host}") };
    let lower = text.to_lowercase();
    let (message, help) = if lower.contains("identification has changed")
        || lower.contains("host key for") && lower.contains("has changed")
    {
        (
            format!("the SSH host key of {host} has CHANGED since it was recorded"),
            format!(
                "if the host was really rebuilt, check the new key out of band, then update known_hosts \
                 (`ssh-keygen -R {host}`) or the pinned host_key; otherwise someone may be in the middle"
            ),
        )
    } else if lower.contains("host key verification failed")
        || lower.contains("no ") && lower.contains("host key is known")
    {
        (
            format!("the SSH host key of {host} is not known, and host keys are checked strictly"),
            format!(
                "pin it in the environment file: host_key = \"<key>\" from `{keyscan}` (the part after the host name), \
                 checked against the host out of band"
            ),
        )
    } else if lower.contains("permission denied") {
        (
            format!("{target} refused the SSH key"),
            "add your public key on the host (`dokku ssh-keys:add <name> < ~/.ssh/id_ed25519.pub`), \
             load it into your ssh agent, or set identity_file in the [dokku] section"
                .to_owned(),
        )
    } else if lower.contains("connection refused")
        || lower.contains("could not resolve")
        || lower.contains("timed out")
        || lower.contains("no route")
        || lower.contains("network is unreachable")
    {
        (
            format!("could not reach {target}"),
            "check the host and port in the [dokku] section, and your network or VPN".to_owned(),
        )
    } else {
        (format!("SSH to {target} failed"), format!("try `ssh -p {port} {user}@{host} version` to see why"))
    };
    Error::new(ErrorKind::Remote, message).note("ssh said", last_line(text)).help(help)
}

fn last_line(text: &str) -> String {
    text.lines().map(str::trim).rfind(|line| !line.is_empty()).unwrap_or(text).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> DokkuSettings {
        toml::from_str("host = \"fenrir\"\nport = 2222\napp = \"praxia\"\n").unwrap()
    }

    #[test]
    fn each_ssh_failure_gets_its_own_message_and_fix() {
        let cases = [
            ("Host key verification failed.", "is not known", "ssh-keyscan -p 2222 fenrir"),
            (
                "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.",
                "is not known",
                "host_key",
            ),
            ("@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @", "has CHANGED", "ssh-keygen -R fenrir"),
            ("dokku@fenrir: Permission denied (publickey).", "refused the SSH key", "dokku ssh-keys:add"),
            ("ssh: connect to host fenrir port 2222: Connection refused", "could not reach dokku@fenrir:2222", "VPN"),
            ("ssh: Could not resolve hostname fenrir: Name or service not known", "could not reach", "host and port"),
            ("something else entirely", "SSH to dokku@fenrir:2222 failed", "ssh -p 2222"),
        ];
        for (said, message, help) in cases {
            let err = explain_failure(said, &settings());
            assert_eq!(err.exit_code(), 7, "{said}");
            assert!(err.message.contains(message), "{said}: {}", err.message);
            assert!(err.help.as_deref().unwrap().contains(help), "{said}: {:?}", err.help);
        }
    }

    #[test]
    fn a_pinned_key_is_written_for_the_port_ssh_will_look_up() {
        assert_eq!(known_hosts_line("fenrir", None, "ssh-ed25519 AAAA"), "fenrir ssh-ed25519 AAAA\n");
        assert_eq!(known_hosts_line("fenrir", Some(22), "ssh-ed25519 AAAA"), "fenrir ssh-ed25519 AAAA\n");
        assert_eq!(
            known_hosts_line("127.0.0.1", Some(2222), "ssh-ed25519 AAAA"),
            "[127.0.0.1]:2222 ssh-ed25519 AAAA\n"
        );
    }
}
