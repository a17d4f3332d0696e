//! Dokku over SSH: laptop commands run in a one-off container of the app, with
//! their output streamed back and their exit code kept.

pub mod invocation;
pub mod remote;
pub mod ssh;
