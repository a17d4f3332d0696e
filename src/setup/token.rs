//! The setup token: where it comes from, and how a presented one is compared.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::Environment;

pub const DEFAULT_TOKEN_ENV: &str = "PRAXIA_SETUP_TOKEN";

/// The variable the environment names for the token.
pub fn token_variable(env: &Environment) -> String {
    env.setup.as_ref().map_or(DEFAULT_TOKEN_ENV.to_owned(), |setup| setup.token_env.to_string())
}

/// The token as both sides use it: trimmed (a stray newline from `config:set`
/// must not make it unmatchable), and absent when empty. Pure.
pub fn normalize(value: Option<String>) -> Option<String> {
    value.map(|value| value.trim().to_owned()).filter(|value| !value.is_empty())
}

/// The token from the environment's variable.
pub fn configured(env: &Environment) -> Option<String> {
    normalize(std::env::var(token_variable(env)).ok())
}

/// Compares digests in constant time, so neither the content nor the length of
/// the token leaks through timing.
pub fn matches(presented: &str, token: &str) -> bool {
    let presented = Sha256::digest(presented.trim().as_bytes());
    let expected = Sha256::digest(token.as_bytes());
    bool::from(presented.ct_eq(&expected))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_trim_and_empty_means_none() {
        assert_eq!(normalize(Some("tok123 \n".into())), Some("tok123".into()));
        assert_eq!(normalize(Some("  ".into())), None);
        assert_eq!(normalize(None), None);
        assert!(matches("tok123", &normalize(Some("tok123\r\n".into())).unwrap()));
        assert!(matches(" tok123 ", "tok123"));
        assert!(!matches("tok12", "tok123"));
        assert!(!matches("", "tok123"));
    }
}
