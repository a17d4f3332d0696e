//! praxia-deploy: the Praxia backend's database from a drizzle-kit migration folder
//! to a deployed schema with its first administrator. `main.rs` is the binary's
//! thin shell; everything it runs lives here.

pub mod auth;
pub mod backoff;
pub mod backup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod confirmation;
pub mod database;
pub mod dokku;
pub mod drift;
pub mod error;
pub mod json_file;
pub mod localdb;
pub mod logging;
pub mod migration_folder;
pub mod migrations;
pub mod output;
pub mod own_schema;
pub mod pg_error;
pub mod pgserver;
pub mod provenance;
pub mod redact;
pub mod rehearse;
pub mod release;
pub mod report;
pub mod review;
pub mod roles;
pub mod rule_names;
pub mod scratch_database;
pub mod seed;
pub mod setup;
pub mod signals;
pub mod stamp;
pub mod studio;
pub mod text;
pub mod text_position;
