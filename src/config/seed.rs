//! The `[seed]` section: development fixtures, declared in the environment file.

use std::collections::HashSet;
use std::ops::Range;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::auth::{MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH};
use crate::roles::Role;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeedSettings {
    /// The one development password every fixture user signs in with.
    #[serde(skip_serializing)]
    pub password: Spanned<String>,
    #[serde(default)]
    pub organizations: Vec<SeedOrganization>,
    #[serde(default)]
    pub users: Vec<SeedUser>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeedOrganization {
    pub slug: Spanned<String>,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeedUser {
    pub email: Spanned<String>,
    pub name: String,
    pub role: Role,
    /// The slug of the organization the user belongs to; required for every role
    /// but platform_admin.
    pub organization: Option<Spanned<String>>,
}

/// Cross-checks that serde cannot express: each problem with the span it is about.
pub fn problems(seed: &SeedSettings) -> Vec<(Range<usize>, String)> {
    let mut problems = Vec::new();
    let password_length = seed.password.get_ref().chars().count();
    if !(MIN_PASSWORD_LENGTH..=MAX_PASSWORD_LENGTH).contains(&password_length) {
        problems.push((
            seed.password.span(),
            format!("the fixture password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters, as Better Auth requires"),
        ));
    }
    let mut slugs = HashSet::new();
    for organization in &seed.organizations {
        let slug = organization.slug.get_ref();
        if !is_slug(slug) {
            problems
                .push((organization.slug.span(), format!("`{slug}` is not a slug: lowercase letters, digits and `-`")));
        } else if !slugs.insert(slug.as_str()) {
            problems.push((organization.slug.span(), format!("organization `{slug}` is declared twice")));
        }
    }
    let mut emails = HashSet::new();
    for user in &seed.users {
        let email = user.email.get_ref();
        if !is_plausible_email(email) || *email != email.trim().to_lowercase() {
            problems.push((user.email.span(), format!("`{email}` is not a lowercase email address")));
        } else if !emails.insert(email.as_str()) {
            problems.push((user.email.span(), format!("user `{email}` is declared twice")));
        }
        match &user.organization {
            Some(slug) if !slugs.contains(slug.get_ref().as_str()) => problems
                .push((slug.span(), format!("organization `{}` is not among [[seed.organizations]]", slug.get_ref()))),
            None if user.role.is_organization_role() => problems
                .push((user.email.span(), format!("`{email}` is a {}, which needs an `organization`", user.role))),
            _ => {}
        }
    }
    problems
}

fn is_slug(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// One `@`, something on each side, a dot in the domain, no spaces.
pub fn is_plausible_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    // RFC 5321: a local part of at most 64 bytes; DNS: labels of 1 to 63
    // characters that neither start nor end with a hyphen.
    let label_ok = |label: &str| (1..=63).contains(&label.len()) && !label.starts_with('-') && !label.ends_with('-');
    !local.is_empty()
        && local.len() <= 64
        && domain.contains('.')
        && !domain.contains('@')
        && domain.split('.').all(label_ok)
        && !text.chars().any(|c| c.is_whitespace() || is_unsafe_char(c))
        && text.len() <= 254
}

/// Characters no name or address should carry: C0 and C1 controls (NUL, ESC...),
/// and the bidirectional overrides and isolates that make text read other than it is.
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}
