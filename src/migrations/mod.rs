//! The migration engine: plan the folder (`migration_folder`) against the applied
//! rows (pure), apply under a lock in one transaction (Postgres).

pub mod apply;
pub mod bookkeeping;
pub mod contract;
pub mod lock;
pub mod new;
pub mod plan;
pub mod retire;
pub mod run;
pub mod snapshot;
pub mod state;
