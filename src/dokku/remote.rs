//! Dokku commands over the SSH connection: `apps:exists`, `config:get`, and
//! `run` with its output streamed live and its exit code kept.

use openssh::{Session, Stdio};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use super::invocation::DokkuCommand;
use crate::error::{Error, ErrorKind, Result};

/// What Dokku prints when `run` finds no deployed image.
const NEVER_DEPLOYED: &str = "Invalid image stage";

/// Whether the app exists: `apps:exists` exits 0, or 20 when it does not.
pub async fn app_exists(session: &Session, app: &str) -> Result<bool> {
    let output = dokku(session, &["apps:exists", app]).await?;
    match output.status.code() {
        Some(0) => Ok(true),
        Some(20) => Ok(false),
        _ => Err(unexpected("apps:exists", &output)),
    }
}

/// Whether `KEY` is set on the app. The value is read and dropped, never shown.
pub async fn config_is_set(session: &Session, app: &str, key: &str) -> Result<bool> {
    Ok(config_get(session, app, key).await?.is_some_and(|value| !value.trim().is_empty()))
}

/// The app's `KEY`, or `None` when unset. Only for values that are not secrets.
pub async fn config_get(session: &Session, app: &str, key: &str) -> Result<Option<String>> {
    let output = dokku(session, &["config:get", app, key]).await?;
    match output.status.code() {
        Some(0) => Ok(Some(String::from_utf8_lossy(&output.stdout).trim_end_matches(['\n', '\r']).to_owned())),
        Some(1) if output.stdout.is_empty() => Ok(None),
        _ => Err(unexpected("config:get", &output)),
    }
}

/// How a remote `run` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunExit {
    pub code: Option<i32>,
    /// Dokku said the app has no deployed image.
    pub never_deployed: bool,
    /// Dokku said the app does not exist (its own check, so no `apps:exists` first).
    pub app_missing: bool,
    /// The container could not start praxia-deploy: the image lacks it on its PATH.
    pub binary_missing: bool,
}

/// Whether a line of a `run`'s stderr says the image has no praxia-deploy to
/// run: a shell's or Docker's "not found", or the official Node images'
/// entrypoint, which runs a command it cannot find as a script (`node
/// praxia-deploy ...`: "Cannot find module '/app/praxia-deploy'"). Pure.
pub fn says_binary_missing(line: &str) -> bool {
    line.contains("praxia-deploy: not found")
        || line.contains("praxia-deploy: command not found")
        || line.contains("Cannot find module") && line.contains("/praxia-deploy'")
        || line.contains("executable file not found") && line.contains("praxia-deploy")
        // tini (`ENTRYPOINT ["tini", "--"]`, docker run --init), exit 127; dumb-init, exit 2.
        || line.contains("exec praxia-deploy failed: No such file or directory")
        || line.contains("[dumb-init] praxia-deploy: No such file or directory")
}

/// What waiting for a `run` gave: openssh turns exit 127 into an error, which is
/// the container's answer when it said it has no praxia-deploy, and otherwise
/// the host's own "no such command".
fn run_exit_code(
    waited: std::result::Result<std::process::ExitStatus, openssh::Error>,
    binary_missing: bool,
) -> Result<Option<i32>> {
    match waited {
        Ok(status) => Ok(status.code()),
        Err(openssh::Error::Remote(inner)) if inner.kind() == std::io::ErrorKind::NotFound && binary_missing => {
            Ok(Some(127))
        }
        Err(err) => Err(ssh_lost("waiting for the remote command", &err)),
    }
}

/// Runs `arguments` through Dokku for `app`, copying the remote stdout and stderr
/// to ours as they arrive.
pub async fn run_streaming(session: &Session, app: &str, arguments: &DokkuCommand) -> Result<RunExit> {
    let mut child = spawn_run(session, arguments).await?;
    let stdout = child.stdout().take().expect("piped stdout");
    let stderr = child.stderr().take().expect("piped stderr");
    // Dokku's own words, on stderr before anything of ours runs.
    let missing = format!("App {app} does not exist");
    let watch = watched(&missing);
    let (_, seen) =
        tokio::join!(copy_lines(stdout, tokio::io::stdout(), &[]), copy_lines(stderr, tokio::io::stderr(), &watch));
    Ok(run_exit(run_exit_code(child.wait().await, seen[2])?, &seen))
}

/// Whether a line of stderr is one a watcher looks for.
type LineWatch<'a> = Box<dyn Fn(&str) -> bool + 'a>;

/// What `run`'s stderr is watched for: Dokku's "never deployed", its "App X does
/// not exist", and the container's "no praxia-deploy" (in `RunExit`'s order).
fn watched(missing: &str) -> [LineWatch<'_>; 3] {
    [
        Box::new(|line| line.contains(NEVER_DEPLOYED)),
        Box::new(move |line| line.contains(missing)),
        Box::new(says_binary_missing),
    ]
}

fn run_exit(code: Option<i32>, seen: &[bool]) -> RunExit {
    let failed = code != Some(0);
    RunExit {
        code,
        never_deployed: seen[0] && failed,
        app_missing: seen[1] && failed,
        binary_missing: seen[2] && failed,
    }
}

/// Starts `arguments` (a Dokku command line) with stdout and stderr piped, no stdin.
async fn spawn_run<'s>(session: &'s Session, arguments: &DokkuCommand) -> Result<openssh::RemoteChild<'s>> {
    let (program, rest) = arguments.words().split_first().expect("a Dokku command");
    session
        .command(program.as_str())
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .await
        .map_err(|err| ssh_lost("starting the remote command", &err))
}

/// Copies line by line, flushing each, and reports which of `watch` matched a line.
async fn copy_lines(
    from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    watch: &[LineWatch<'_>],
) -> Vec<bool> {
    let mut reader = BufReader::new(from);
    let mut line = Vec::new();
    let mut seen = vec![false; watch.len()];
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return seen,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                for (seen, watch) in seen.iter_mut().zip(watch) {
                    *seen |= watch(&text);
                }
                let _ = to.write_all(&line).await;
                let _ = to.flush().await;
            }
        }
    }
}

async fn dokku(session: &Session, arguments: &[&str]) -> Result<std::process::Output> {
    let command = DokkuCommand::new(arguments)
        .map_err(|reason| Error::usage(format!("cannot send {arguments:?} to Dokku: {reason}")))?;
    let (program, rest) = command.words().split_first().expect("a Dokku command");
    session.command(program).args(rest).output().await.map_err(|err| ssh_lost(program, &err))
}

fn unexpected(what: &str, output: &std::process::Output) -> Error {
    Error::new(ErrorKind::Remote, format!("`dokku {what}` failed ({})", output.status))
        .note("dokku said", String::from_utf8_lossy(&output.stderr).trim())
}

fn ssh_lost(what: &str, err: &openssh::Error) -> Error {
    let text = match err {
        openssh::Error::Remote(inner) if inner.kind() == std::io::ErrorKind::NotFound => {
            "a command was not found (exit 127): the host's `dokku` (is this a Dokku host, and the user `dokku`?)"
                .to_owned()
        }
        other => other.to_string(),
    };
    Error::new(ErrorKind::Remote, format!("SSH failed while {what}")).note("reason", text)
}

/// The Postgres services linked to `app` (`postgres:app-links`: one per line).
pub async fn postgres_links(session: &Session, app: &str) -> Result<Vec<String>> {
    let output = dokku(session, &["postgres:app-links", app]).await?;
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        if said.contains("does not exist") && said.contains(app) {
            return Err(Error::new(ErrorKind::Remote, format!("the Dokku app {app} does not exist"))
                .help("fix `app` in the [dokku] section"));
        }
        if said.contains("is not a dokku command") || said.contains("is not a valid command") {
            return Err(Error::new(ErrorKind::Remote, "the Dokku host has no postgres plugin")
                .note("dokku said", said.trim())
                .help("install it: `sudo dokku plugin:install https://github.com/dokku/dokku-postgres.git --name postgres`"));
        }
        return Err(unexpected("postgres:app-links", &output));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("=====>") && !line.starts_with("----->"))
        .map(str::to_owned)
        .collect())
}

/// `postgres:export <service>` started: its stdout is the dump (pg_dump's custom
/// format, made inside the service's container, so the client matches the server).
pub async fn postgres_export<'s>(session: &'s Session, service: &str) -> Result<openssh::RemoteChild<'s>> {
    let command = DokkuCommand::new(&["postgres:export", service])
        .map_err(|reason| Error::usage(format!("cannot send {service:?} to Dokku: {reason}")))?;
    let (program, rest) = command.words().split_first().expect("a Dokku command");
    session
        .command(program)
        .args(rest)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .await
        .map_err(|err| ssh_lost("starting postgres:export", &err))
}

/// Waits for a started remote command, with what it said on stderr when it failed.
pub async fn finish(mut child: openssh::RemoteChild<'_>, what: &str) -> Result<()> {
    let mut said = String::new();
    if let Some(mut stderr) = child.stderr().take() {
        use tokio::io::AsyncReadExt;
        let _ = stderr.read_to_string(&mut said).await;
    }
    let status = child.wait().await.map_err(|err| ssh_lost(what, &err))?;
    if status.success() {
        return Ok(());
    }
    let code = status.code().map_or_else(|| "killed by a signal".to_owned(), |code| format!("exit {code}"));
    Err(Error::new(ErrorKind::Remote, format!("`dokku {what}` failed ({code}) before the dump was complete"))
        .note("dokku said", if said.trim().is_empty() { "nothing" } else { said.trim() }))
}

/// Runs `arguments` through Dokku for `app` and returns the remote stdout (stderr
/// copied to ours as it arrives), for a command whose answer we read.
pub async fn run_captured(session: &Session, app: &str, arguments: &DokkuCommand) -> Result<(RunExit, Vec<u8>)> {
    let mut child = spawn_run(session, arguments).await?;
    let mut stdout = child.stdout().take().expect("piped stdout");
    let stderr = child.stderr().take().expect("piped stderr");
    let missing = format!("App {app} does not exist");
    let watch = watched(&missing);
    let mut captured = Vec::new();
    let (read, seen) = tokio::join!(
        tokio::io::AsyncReadExt::read_to_end(&mut stdout, &mut captured),
        copy_lines(stderr, tokio::io::stderr(), &watch)
    );
    read.map_err(|err| Error::new(ErrorKind::Remote, "the remote command's output broke off").note("reason", err))?;
    Ok((run_exit(run_exit_code(child.wait().await, seen[2])?, &seen), captured))
}

/// Runs `arguments` through Dokku for `app` and returns what it wrote on stdout
/// and on stderr, copying neither: for a command whose failure we explain
/// ourselves (doctor's probe, where "command not found", exit 127, is an answer;
/// call it only once Dokku is known to be there).
pub async fn run_collected(
    session: &Session,
    app: &str,
    arguments: &DokkuCommand,
) -> Result<(RunExit, Vec<u8>, String)> {
    use tokio::io::AsyncReadExt;
    let mut child = spawn_run(session, arguments).await?;
    let mut stdout = child.stdout().take().expect("piped stdout");
    let mut stderr = child.stderr().take().expect("piped stderr");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (read_out, read_err) = tokio::join!(stdout.read_to_end(&mut out), stderr.read_to_end(&mut err));
    for read in [read_out, read_err] {
        read.map_err(|err| Error::new(ErrorKind::Remote, "the remote command's output broke off").note("reason", err))?;
    }
    let said = String::from_utf8_lossy(&err).into_owned();
    let missing = format!("App {app} does not exist");
    let seen: Vec<bool> = watched(&missing).iter().map(|watch| said.lines().any(watch)).collect();
    // The caller knows the host has `dokku`: exit 127 is the container's "no such command".
    let code = run_exit_code(child.wait().await, true)?;
    Ok((run_exit(code, &seen), out, said))
}

#[cfg(test)]
mod tests {
    use super::says_binary_missing;

    #[test]
    fn the_containers_ways_of_saying_it_has_no_praxia_deploy() {
        for line in [
            "bash: line 1: exec: praxia-deploy: not found",
            "/bin/sh: 1: praxia-deploy: not found",
            "bash: praxia-deploy: command not found",
            "Error: Cannot find module '/app/praxia-deploy'",
            "docker: Error response from daemon: exec: \"praxia-deploy\": executable file not found in $PATH",
            "[FATAL tini (7)] exec praxia-deploy failed: No such file or directory",
            "[dumb-init] praxia-deploy: No such file or directory",
        ] {
            assert!(says_binary_missing(line), "{line}");
        }
        for line in [
            "error: the migration folder backend/drizzle was not found",
            "help: run `praxia-deploy status`: the table was not found",
            "praxia-deploy: exit 6",
            "error: cannot read /srv/praxia-deploy/environments/staging.toml: No such file or directory (os error 2)",
        ] {
            assert!(!says_binary_missing(line), "{line}");
        }
    }
}
