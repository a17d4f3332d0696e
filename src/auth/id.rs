//! Better Auth's `generateId()`: 32 random characters from `a-z A-Z 0-9`.

const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const LENGTH: usize = 32;

/// A new id in Better Auth's format, from the operating system's CSPRNG.
pub fn generate_id() -> String {
    let mut id = String::with_capacity(LENGTH);
    let mut buffer = [0u8; 64];
    while id.len() < LENGTH {
        getrandom::fill(&mut buffer).expect("the operating system provides random numbers");
        // 248 = 4 * 62: rejecting bytes above it keeps every character equally likely.
        for &byte in buffer.iter().filter(|&&byte| byte < 248) {
            if id.len() == LENGTH {
                break;
            }
            id.push(ALPHABET[usize::from(byte) % ALPHABET.len()] as char);
        }
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_better_auths_shape_and_differ() {
        let first = generate_id();
        assert_eq!(first.len(), 32);
        assert!(first.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(first, generate_id());
    }
}
