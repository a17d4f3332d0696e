//! Development fixtures: the policy that decides whether they may be written
//! (pure), and the writers (Postgres).

pub mod apply;
pub mod fixtures;
pub mod policy;
pub mod release_step;
pub mod scale;
