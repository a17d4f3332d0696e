//! The first-run setup: the server that creates the first platform admin
//! (`serve`), and the CI client that calls it (`bootstrap`). Validation, client
//! addresses and rate limiting are pure; the first-run transaction talks to Postgres.

pub mod admission;
pub mod api;
pub mod client;
pub mod client_address;
pub mod first_run;
mod head_bound;
pub mod rate_limit;
pub mod server;
pub mod status_cache;
pub mod token;
pub mod validation;
