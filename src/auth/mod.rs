//! Better Auth-compatible ids and password hashes, so that users written by
//! praxia-deploy sign in through the backend's real Better Auth. Pure apart from
//! the operating system's random numbers.

mod id;
mod password;
pub mod records;

pub use id::generate_id;
pub use password::{PasswordHash, hash_password, hash_password_with_salt, verify_password};

/// Better Auth's default password length limits (`emailAndPassword.minPasswordLength` / `max`).
pub const MIN_PASSWORD_LENGTH: usize = 8;
pub const MAX_PASSWORD_LENGTH: usize = 128;
