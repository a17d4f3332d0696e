//! The first-run request and its validation, field by field. Pure.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::auth::{MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH};
use crate::config::{is_plausible_email, is_unsafe_char};

/// The body of `POST /api/setup/first-run`, as sent. Fields are optional here so
/// that a missing one is reported as a field error, not as unparseable JSON.
#[derive(Debug, Default, Deserialize)]
pub struct FirstRunRequest {
    pub email: Option<String>,
    pub name: Option<String>,
    pub password: Option<String>,
}

/// A request that passed validation: the email trimmed and lowercased, the name trimmed.
#[derive(Clone, PartialEq, Eq)]
pub struct NewAdmin {
    pub email: String,
    pub name: String,
    pub password: String,
}

impl std::fmt::Debug for NewAdmin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAdmin").field("email", &self.email).field("name", &self.name).finish_non_exhaustive()
    }
}

/// Field name to what is wrong with it.
pub type FieldErrors = BTreeMap<&'static str, String>;

pub const MAX_NAME_LENGTH: usize = 100;

pub fn validate(request: FirstRunRequest) -> Result<NewAdmin, FieldErrors> {
    let mut errors = FieldErrors::new();
    let email = request.email.as_deref().unwrap_or("").trim().to_lowercase();
    if email.is_empty() {
        errors.insert("email", "is required".to_owned());
    } else if email.chars().any(is_unsafe_char) {
        errors.insert("email", "contains control or bidirectional-override characters".to_owned());
    } else if !is_plausible_email(&email) {
        errors.insert("email", "is not a valid email address".to_owned());
    }
    let name = request.name.as_deref().unwrap_or("").trim().to_owned();
    let name_length = name.chars().count();
    if name_length == 0 {
        errors.insert("name", "is required".to_owned());
    } else if name.chars().any(is_unsafe_char) {
        errors.insert("name", "contains control or bidirectional-override characters".to_owned());
    } else if name_length > MAX_NAME_LENGTH {
        errors.insert("name", format!("must be at most {MAX_NAME_LENGTH} characters"));
    }
    let password = request.password.unwrap_or_default();
    let password_length = password.chars().count();
    if !(MIN_PASSWORD_LENGTH..=MAX_PASSWORD_LENGTH).contains(&password_length) {
        errors.insert("password", format!("must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters"));
    }
    if errors.is_empty() { Ok(NewAdmin { email, name, password }) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(email: &str, name: &str, password: &str) -> FirstRunRequest {
        FirstRunRequest { email: Some(email.into()), name: Some(name.into()), password: Some(password.into()) }
    }

    #[test]
    fn a_good_request_is_normalised() {
        let admin = validate(request("  Ada@Praxia.Example ", " Ada Lovelace ", "correct horse")).unwrap();
        assert_eq!((admin.email.as_str(), admin.name.as_str()), ("ada@praxia.example", "Ada Lovelace"));
        assert_eq!(admin.password, "correct horse", "passwords are never trimmed");
        assert!(!format!("{admin:?}").contains("correct horse"));
    }

    #[test]
    fn control_characters_and_malformed_addresses_are_field_errors() {
        let long_local = format!("{}@praxia.example", "a".repeat(65));
        for (email, name, field) in [
            ("ada@praxia.example", "Ada\0Lovelace", "name"),
            ("ada@praxia.example", "Ada \u{1b}[31mred", "name"),
            ("ada@praxia.example", "Ada \u{202e}ecalevol", "name"),
            ("ada@praxia.example", "Ada\u{85}x", "name"),
            ("ada\0@praxia.example", "Ada", "email"),
            (long_local.as_str(), "Ada", "email"),
            ("ada@praxia..example", "Ada", "email"),
            ("ada@-praxia.example", "Ada", "email"),
            ("ada@praxia-.example", "Ada", "email"),
        ] {
            let errors = validate(request(email, name, "correct horse")).unwrap_err();
            assert!(errors.contains_key(field), "{email:?} {name:?}: {errors:?}");
        }
        assert!(validate(request("a.b-c@sub.praxia-app.example", "Zoë Ünal", "correct horse")).is_ok());
    }

    #[test]
    fn every_field_is_checked_and_reported() {
        let long_name = "n".repeat(101);
        let long_password = "p".repeat(129);
        let cases: Vec<(FirstRunRequest, Vec<(&str, &str)>)> = vec![
            (
                FirstRunRequest::default(),
                vec![("email", "is required"), ("name", "is required"), ("password", "8 to 128")],
            ),
            (request("not-an-email", "Ada", "12345678"), vec![("email", "not a valid email")]),
            (request("a@b", "Ada", "12345678"), vec![("email", "not a valid email")]),
            (request("a@b.example", "   ", "12345678"), vec![("name", "is required")]),
            (request("a@b.example", &long_name, "12345678"), vec![("name", "at most 100")]),
            (request("a@b.example", "Ada", "1234567"), vec![("password", "8 to 128")]),
            (request("a@b.example", "Ada", &long_password), vec![("password", "8 to 128")]),
        ];
        for (input, expected) in cases {
            let errors = validate(input).unwrap_err();
            assert_eq!(errors.len(), expected.len(), "{errors:?}");
            for (field, text) in expected {
                assert!(errors[field].contains(text), "{field}: {}", errors[field]);
            }
        }
        assert!(validate(request("a@b.example", &"n".repeat(100), &"p".repeat(128))).is_ok());
        assert!(validate(request("a@b.example", "Zoë", "ünïcødé!")).is_ok(), "lengths count characters");
    }
}
