//! Better Auth's password hash (`@better-auth/utils/password`, node build):
//! `<salt>:<key>` where salt is 16 random bytes as 32 lowercase hex characters,
//! and key = scrypt(NFKC(password), salt, N=16384, r=16, p=1, dkLen=64) in hex.
//! The salt given to scrypt is the hex string's bytes, not the decoded bytes.

use std::fmt;

use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;

const LOG_N: u8 = 14; // N = 16384
const R: u32 = 16;
const P: u32 = 1;
const KEY_LENGTH: usize = 64;

/// A stored hash. Never printed: its Debug output is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

/// Hashes with a fresh random salt. Costs about 0.1 s and 32 MiB.
pub fn hash_password(password: &str) -> PasswordHash {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the operating system provides random numbers");
    hash_password_with_salt(password, &hex::encode(salt))
}

/// Hashes with a given salt (32 hex characters); for test vectors.
pub fn hash_password_with_salt(password: &str, salt_hex: &str) -> PasswordHash {
    PasswordHash(format!("{salt_hex}:{}", hex::encode(derive_key(password, salt_hex))))
}

/// Whether `password` matches `stored`, as Better Auth's `verifyPassword` decides.
pub fn verify_password(stored: &str, password: &str) -> bool {
    let Some((salt, key)) = stored.split_once(':') else {
        return false;
    };
    let Ok(expected) = hex::decode(key) else { return false };
    let derived = derive_key(password, salt);
    expected.len() == derived.len() && bool::from(expected.ct_eq(&derived))
}

fn derive_key(password: &str, salt: &str) -> [u8; KEY_LENGTH] {
    let normalized: String = password.nfkc().collect();
    let params = scrypt::Params::new(LOG_N, R, P).expect("Better Auth's scrypt parameters are valid");
    let mut key = [0u8; KEY_LENGTH];
    scrypt::scrypt(normalized.as_bytes(), salt.as_bytes(), &params, &mut key).expect("a 64-byte key is a valid length");
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed with node's crypto.scrypt exactly as @better-auth/utils/password does.
    const SALT: &str = "000102030405060708090a0b0c0d0e0f";
    const VECTORS: [(&str, &str); 2] = [
        (
            "correct horse battery staple",
            "000102030405060708090a0b0c0d0e0f:7034425e783148ac6ce2c4521177f6fc8ba611950b64145053bf3c4fbf26457865bbf1ea8164754187636d431114bca7374e96cf91409d23fbc0b086580d2442",
        ),
        (
            "\u{fb01}anc\u{e9} \u{3a9}",
            "000102030405060708090a0b0c0d0e0f:ec7477a24456a8fb5706c0fd9ff0cfe976f360034dfe8af0b2386863075aa7058a6fc387159e8bf51c3357b0d3cf8ef14d9bd56ae38ab1786d7c3b558df7a7c1",
        ),
    ];

    #[test]
    fn matches_better_auths_hash_for_fixed_vectors() {
        for (password, expected) in VECTORS {
            assert_eq!(hash_password_with_salt(password, SALT).as_str(), expected, "{password}");
        }
    }

    #[test]
    fn a_fresh_hash_has_the_stored_format_and_verifies() {
        let hash = hash_password("praxia-dev-password");
        let (salt, key) = hash.as_str().split_once(':').unwrap();
        assert_eq!((salt.len(), key.len()), (32, 128));
        assert!(salt.chars().chain(key.chars()).all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert!(verify_password(hash.as_str(), "praxia-dev-password"));
        assert!(!verify_password(hash.as_str(), "praxia-dev-passwore"));
        assert!(!verify_password("garbage", "x"));
        assert_eq!(format!("{hash:?}"), "PasswordHash(***)");
    }

    #[test]
    fn passwords_are_nfkc_normalised_before_hashing() {
        // U+FB01 (the "fi" ligature) normalises to "fi".
        assert!(verify_password(VECTORS[1].1, "fianc\u{e9} \u{3a9}"));
    }
}
