//! Ctrl-C and SIGTERM, for the commands that must clean up before they go
//! (the SSH session, a half-written backup, a scratch database).

/// Waits for SIGINT or SIGTERM and names it.
pub async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut interrupt), Ok(mut terminate)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    }
}
