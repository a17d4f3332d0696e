//! `seed --scale N`: synthetic organizations for load testing, `load-00001` to
//! `load-N`, each with a realistic spread of roles (about ten users), written in
//! bulk with COPY and one shared password hash.

use std::fmt::Write;

use sqlx::postgres::PgConnection;

use super::fixtures::SeedCounts;
use crate::auth::records::{
    ACCOUNT_COLUMNS, CREDENTIAL_PROVIDER, EMAIL_VERIFIED, MEMBERSHIP_COLUMNS, ORGANIZATION_COLUMNS, PROFILE_COLUMNS,
    USER_COLUMNS,
};
use crate::auth::{PasswordHash, generate_id};
use crate::roles::Role;

/// Slugs of synthetic organizations start with this.
pub const SLUG_PREFIX: &str = "load-";
/// Their users' emails end with this.
pub const EMAIL_DOMAIN: &str = "load.praxia.test";

/// One synthetic organization and its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticOrganization {
    pub number: usize,
    pub slug: String,
    pub name: String,
    pub users: Vec<SyntheticUser>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntheticUser {
    pub email: String,
    pub name: String,
    pub role: Role,
}

/// Organization `number` (from 1): one organization admin, one or two managers,
/// two or three coaches, and teachers for the rest of 8 to 12 users (10 on
/// average over any 10 consecutive organizations). Deterministic. Pure.
pub fn synthetic_organization(number: usize) -> SyntheticOrganization {
    let size = 8 + number % 5;
    let managers = 1 + number % 2;
    let coaches = 2 + (number / 2) % 2;
    let teachers = size - 1 - managers - coaches;
    let roles = std::iter::once(Role::OrganizationAdmin)
        .chain(std::iter::repeat_n(Role::Manager, managers))
        .chain(std::iter::repeat_n(Role::Coach, coaches))
        .chain(std::iter::repeat_n(Role::Teacher, teachers));
    let slug = format!("{SLUG_PREFIX}{number:05}");
    let users = roles
        .enumerate()
        .map(|(index, role)| SyntheticUser {
            email: format!("{slug}-{}@{EMAIL_DOMAIN}", index + 1),
            name: format!("Load User {number}.{}", index + 1),
            role,
        })
        .collect();
    SyntheticOrganization { number, name: format!("Load Test Organization {number}"), slug, users }
}

/// The numbers among 1..=target whose organization does not exist yet. Pure.
pub fn missing_numbers(target: usize, existing_slugs: &[String]) -> Vec<usize> {
    let existing: std::collections::HashSet<usize> =
        existing_slugs.iter().filter_map(|slug| slug.strip_prefix(SLUG_PREFIX)?.parse().ok()).collect();
    (1..=target).filter(|number| !existing.contains(number)).collect()
}

/// Makes sure organizations 1..=target exist, writing the missing ones with COPY
/// inside the caller's transaction.
pub async fn write_scale(
    connection: &mut PgConnection,
    target: usize,
    hash: impl FnOnce() -> PasswordHash,
) -> Result<SeedCounts, sqlx::Error> {
    let existing: Vec<String> = sqlx::query_scalar("SELECT slug FROM organization WHERE slug LIKE 'load-%'")
        .fetch_all(&mut *connection)
        .await?;
    let missing = missing_numbers(target, &existing);
    if missing.is_empty() {
        return Ok(SeedCounts::default());
    }
    let hash = hash();
    // account.updated_at has no default in Better Auth's schema; a UTC timestamp.
    let now = humantime::format_rfc3339_micros(std::time::SystemTime::now()).to_string();
    let mut organizations = String::new();
    let mut users = String::new();
    let mut accounts = String::new();
    let mut profiles = String::new();
    let mut memberships = String::new();
    for number in missing {
        let organization = synthetic_organization(number);
        let organization_id = uuid::Uuid::new_v4();
        let _ = writeln!(organizations, "{organization_id},{},{}", organization.name, organization.slug);
        for user in &organization.users {
            let user_id = generate_id();
            let _ = writeln!(users, "{user_id},{},{},{EMAIL_VERIFIED}", user.name, user.email);
            let _ = writeln!(
                accounts,
                "{},{user_id},{CREDENTIAL_PROVIDER},{user_id},{},{now}",
                generate_id(),
                hash.as_str()
            );
            let _ = writeln!(profiles, "{user_id},{},{organization_id}", user.role);
            let _ = writeln!(memberships, "{organization_id},{user_id},{}", user.role);
        }
    }
    Ok(SeedCounts {
        organizations: copy(connection, ORGANIZATION_COLUMNS, organizations).await?,
        users: copy(connection, USER_COLUMNS, users).await?,
        accounts: copy(connection, ACCOUNT_COLUMNS, accounts).await?,
        profiles: copy(connection, PROFILE_COLUMNS, profiles).await?,
        memberships: copy(connection, MEMBERSHIP_COLUMNS, memberships).await?,
    })
}

/// Every value written here is generated above: no commas, quotes or newlines.
async fn copy(connection: &mut PgConnection, target: &str, csv: String) -> Result<u64, sqlx::Error> {
    let mut copy = connection.copy_in_raw(&format!("COPY {target} FROM STDIN (FORMAT csv)")).await?;
    copy.send(csv.into_bytes()).await?;
    copy.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_organization_has_every_organization_role_and_ten_users_on_average() {
        let organizations: Vec<SyntheticOrganization> = (1..=1000).map(synthetic_organization).collect();
        let users: usize = organizations.iter().map(|organization| organization.users.len()).sum();
        assert_eq!(users, 10_000);
        for organization in &organizations {
            for role in [Role::OrganizationAdmin, Role::Manager, Role::Coach, Role::Teacher] {
                assert!(organization.users.iter().any(|user| user.role == role), "{} lacks {role}", organization.slug);
            }
            assert!(organization.users.iter().all(|user| user.role != Role::PlatformAdmin));
        }
        assert_eq!(synthetic_organization(7), synthetic_organization(7), "deterministic");
        assert_eq!(synthetic_organization(7).users[0].email, "load-00007-1@load.praxia.test");
    }

    #[test]
    fn only_missing_organizations_are_written() {
        let existing = vec!["load-00001".to_owned(), "load-00003".to_owned(), "northwind".to_owned()];
        assert_eq!(missing_numbers(4, &existing), [2, 4]);
        assert_eq!(missing_numbers(0, &existing), Vec::<usize>::new());
    }
}
