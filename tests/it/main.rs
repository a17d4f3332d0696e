//! The integration tests, one binary: one PostgreSQL cluster for the whole run
//! (`support::test_postgres`), a fresh database per test, and a module per area.
//! Each drives the real binary, a real PostgreSQL, sshd, node and Chromium.

mod support;

mod backend_repo;
mod backup;
mod bootstrap;
mod cli;
mod concurrent_builds;
mod deploy_files;
mod doctor;
mod dokku_ssh;
mod drift;
mod drizzle_interop;
mod embedded_db;
mod expand_contract;
mod generate;
mod lint;
mod lock_safe;
mod long_history;
mod migrate;
mod real_projects;
mod rehearse;
mod release;
mod review;
mod review_corpus;
mod runtime;
mod schema;
mod seed;
mod setup_server;
mod snapshots;
mod sql_splitter;
mod studio;
mod tidy;
