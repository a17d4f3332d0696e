//! Cleanup that survives the test process: a shell that waits for its stdin to
//! close (the test process exited: passed, failed or killed), then runs `script`.

use std::process::{ChildStdin, Command, Stdio};

/// Runs `sh -c script watchdog args...` once the returned pipe closes. Keep the
/// pipe for as long as the resources must live.
pub fn on_exit(script: &str, args: &[&std::ffi::OsStr]) -> std::io::Result<ChildStdin> {
    // Never waited for on purpose: it must outlive this process; init reaps it.
    #[allow(clippy::zombie_processes)]
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("cat >/dev/null; {script}"))
        .arg("watchdog")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    Ok(child.stdin.take().expect("piped stdin"))
}
