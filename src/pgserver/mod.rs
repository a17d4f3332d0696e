//! The machine's PostgreSQL server programs and the clusters made with them: the
//! embedded development database and the test harness both stand on this.

mod account;
mod binaries;
mod cluster;

pub use account::{SERVER_USER, ServerAccount};
pub use binaries::PgBinaries;
pub use cluster::{Cluster, Durability, SUPERUSER, ServerState, StopMode, free_loopback_port};
