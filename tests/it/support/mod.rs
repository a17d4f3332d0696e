//! Test support: a throwaway PostgreSQL per test binary, a fresh database per
//! test, and a builder for a project folder that the real binary runs in.
#![allow(dead_code, unused_imports)] // each test binary uses its own part of the support module

pub mod corpus;
pub mod debian_root;
pub mod drizzle;
pub mod postgres;
pub mod project;
pub mod sshd;
pub mod watchdog;

pub use postgres::{TestDatabase, test_postgres};
pub use project::{Outcome, TestProject};
