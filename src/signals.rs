//! Ctrl-C, SIGTERM and SIGHUP, for the commands that must clean up before they go
//! (the SSH session, a half-written backup, a scratch database).

/// Waits for SIGINT, SIGTERM or SIGHUP (the terminal or the SSH session it ran
/// in closed) and names it.
pub async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate), Ok(mut hangup)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()), signal(SignalKind::hangup()))
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
        _ = hangup.recv() => "SIGHUP",
    }
}

/// Past `ulimit -f`, a write fails with EFBIG, which the backup reports like a
/// full disk and cleans up after; SIGXFSZ's default action would kill the
/// process with neither. A handler of our own (tokio's, which stays installed
/// for the process's life) replaces that default.
pub fn survive_file_size_limit() {
    use tokio::signal::unix::{SignalKind, signal};
    let _ = signal(SignalKind::from_raw(nix::libc::SIGXFSZ));
}
