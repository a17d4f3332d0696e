//! The migration engine: read the drizzle-kit folder in either layout (pure), plan
//! against the applied rows (pure), apply under a lock in one transaction (Postgres).

pub mod apply;
pub mod bookkeeping;
pub mod folder;
pub mod lock;
pub mod new;
pub mod plan;
pub mod run;
pub mod snapshot;
pub mod sql;
pub mod state;
