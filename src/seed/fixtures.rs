//! Writes the fixtures declared in `[seed]`: organizations, users with a Better
//! Auth credential account, profiles and memberships. Idempotent: everything is
//! keyed on natural keys (slug, email) and inserted only where missing.

use serde::Serialize;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgConnection;

use crate::auth::records::{
    ACCOUNT_COLUMNS, CREDENTIAL_PROVIDER, EMAIL_VERIFIED, MEMBERSHIP_COLUMNS, PROFILE_COLUMNS, USER_COLUMNS,
};

use crate::auth::{PasswordHash, generate_id, hash_password};
use crate::config::SeedSettings;

/// Rows written, per table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SeedCounts {
    pub organizations: u64,
    pub users: u64,
    pub accounts: u64,
    pub profiles: u64,
    pub memberships: u64,
}

impl SeedCounts {
    pub fn total(&self) -> u64 {
        self.organizations + self.users + self.accounts + self.profiles + self.memberships
    }

    pub fn add(&mut self, other: SeedCounts) {
        self.organizations += other.organizations;
        self.users += other.users;
        self.accounts += other.accounts;
        self.profiles += other.profiles;
        self.memberships += other.memberships;
    }
}

impl std::fmt::Display for SeedCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} organizations, {} users, {} accounts, {} profiles, {} memberships",
            self.organizations, self.users, self.accounts, self.profiles, self.memberships
        )
    }
}

/// Writes what is missing of the fixtures, inside the caller's transaction.
/// The password is hashed once, and only when some user lacks a credential account.
pub async fn write_fixtures(connection: &mut PgConnection, seed: &SeedSettings) -> Result<SeedCounts, sqlx::Error> {
    let slugs: Vec<&str> = seed.organizations.iter().map(|org| org.slug.get_ref().as_str()).collect();
    let names: Vec<&str> = seed.organizations.iter().map(|org| org.name.as_str()).collect();
    let organizations = sqlx::query(
        "INSERT INTO organization (name, slug) SELECT * FROM UNNEST($1::text[], $2::text[]) ON CONFLICT (slug) DO NOTHING",
    )
    .bind(&names)
    .bind(&slugs)
    .execute(&mut *connection)
    .await?
    .rows_affected();

    let emails: Vec<&str> = seed.users.iter().map(|user| user.email.get_ref().as_str()).collect();
    let with_credentials: Vec<String> = sqlx::query_scalar(
        "SELECT u.email FROM \"user\" u WHERE u.email = ANY($1) \
         AND EXISTS (SELECT 1 FROM account a WHERE a.user_id = u.id AND a.provider_id = $2)",
    )
    .bind(&emails)
    .bind(CREDENTIAL_PROVIDER)
    .fetch_all(&mut *connection)
    .await?;
    if with_credentials.len() == emails.len() {
        // Users and accounts are all there; profiles and memberships may still be missing.
        let (profiles, memberships) = write_profiles_and_memberships(connection, seed).await?;
        return Ok(SeedCounts { organizations, profiles, memberships, ..SeedCounts::default() });
    }
    let hash: PasswordHash = hash_password(seed.password.get_ref());

    let ids: Vec<String> = seed.users.iter().map(|_| generate_id()).collect();
    let user_names: Vec<&str> = seed.users.iter().map(|user| user.name.as_str()).collect();
    let users = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {USER_COLUMNS} \
         SELECT id, name, email, $4 FROM UNNEST($1::text[], $2::text[], $3::text[]) AS x(id, name, email) \
         ON CONFLICT (email) DO NOTHING"
    )))
    .bind(&ids)
    .bind(&user_names)
    .bind(&emails)
    .bind(EMAIL_VERIFIED)
    .execute(&mut *connection)
    .await?
    .rows_affected();

    let account_ids: Vec<String> = seed.users.iter().map(|_| generate_id()).collect();
    let accounts = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {ACCOUNT_COLUMNS} \
         SELECT x.id, u.id, $4, u.id, $3, now() \
         FROM UNNEST($1::text[], $2::text[]) AS x(id, email) JOIN \"user\" u ON u.email = x.email \
         WHERE NOT EXISTS (SELECT 1 FROM account a WHERE a.user_id = u.id AND a.provider_id = $4)"
    )))
    .bind(&account_ids)
    .bind(&emails)
    .bind(hash.as_str())
    .bind(CREDENTIAL_PROVIDER)
    .execute(&mut *connection)
    .await?
    .rows_affected();

    let (profiles, memberships) = write_profiles_and_memberships(connection, seed).await?;
    Ok(SeedCounts { organizations, users, accounts, profiles, memberships })
}

async fn write_profiles_and_memberships(
    connection: &mut PgConnection,
    seed: &SeedSettings,
) -> Result<(u64, u64), sqlx::Error> {
    let emails: Vec<&str> = seed.users.iter().map(|user| user.email.get_ref().as_str()).collect();
    let roles: Vec<&str> = seed.users.iter().map(|user| user.role.as_str()).collect();
    let slugs: Vec<Option<&str>> =
        seed.users.iter().map(|user| user.organization.as_ref().map(|slug| slug.get_ref().as_str())).collect();
    let profiles = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {PROFILE_COLUMNS} \
         SELECT u.id, x.role, o.id FROM UNNEST($1::text[], $2::text[], $3::text[]) AS x(email, role, slug) \
         JOIN \"user\" u ON u.email = x.email LEFT JOIN organization o ON o.slug = x.slug \
         ON CONFLICT (user_id) DO NOTHING"
    )))
    .bind(&emails)
    .bind(&roles)
    .bind(&slugs)
    .execute(&mut *connection)
    .await?
    .rows_affected();
    let memberships = sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO {MEMBERSHIP_COLUMNS} \
         SELECT o.id, u.id, x.role FROM UNNEST($1::text[], $2::text[], $3::text[]) AS x(email, role, slug) \
         JOIN \"user\" u ON u.email = x.email JOIN organization o ON o.slug = x.slug \
         WHERE x.role <> 'platform_admin' \
         ON CONFLICT (organization_id, user_id) DO NOTHING"
    )))
    .bind(&emails)
    .bind(&roles)
    .bind(&slugs)
    .execute(&mut *connection)
    .await?
    .rows_affected();
    Ok((profiles, memberships))
}
