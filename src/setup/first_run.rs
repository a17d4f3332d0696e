//! The first-run transaction: the first platform admin, written exactly as Better
//! Auth's email sign-up writes a user, plus a `platform_admin` profile.

use sqlx::PgPool;

use super::validation::NewAdmin;
use sqlx::AssertSqlSafe;

use crate::auth::records::{ACCOUNT_COLUMNS, CREDENTIAL_PROVIDER, EMAIL_VERIFIED, PROFILE_COLUMNS, USER_COLUMNS};
use crate::auth::{PasswordHash, generate_id};

/// Serialises first-run transactions across server processes and replicas.
pub const FIRST_RUN_LOCK_KEY: i64 = 0x7072_6178_6961_4652; // "praxiaFR"

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FirstRunOutcome {
    Created {
        id: String,
        email: String,
    },
    /// A platform admin exists already: the endpoint has done its one job.
    AlreadyInitialized,
    /// Some user already has this email.
    EmailInUse,
}

/// Whether the platform has its admin: the cheap check before hashing a password.
pub async fn platform_admin_exists(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(ADMIN_EXISTS).fetch_one(pool).await
}

const ADMIN_EXISTS: &str = "SELECT EXISTS (SELECT 1 FROM profile WHERE role = 'platform_admin')";

/// In one transaction, under a transaction-level advisory lock: check again that
/// no platform admin exists, then write the user, its credential account and the
/// platform_admin profile.
pub async fn create_first_admin(
    pool: &PgPool,
    admin: &NewAdmin,
    hash: &PasswordHash,
) -> Result<FirstRunOutcome, sqlx::Error> {
    let mut transaction = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(FIRST_RUN_LOCK_KEY).execute(&mut *transaction).await?;
    if sqlx::query_scalar::<_, bool>(ADMIN_EXISTS).fetch_one(&mut *transaction).await? {
        return Ok(FirstRunOutcome::AlreadyInitialized);
    }
    if sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM \"user\" WHERE email = $1)")
        .bind(&admin.email)
        .fetch_one(&mut *transaction)
        .await?
    {
        return Ok(FirstRunOutcome::EmailInUse);
    }
    let id = generate_id();
    sqlx::query(AssertSqlSafe(format!("INSERT INTO {USER_COLUMNS} VALUES ($1, $2, $3, $4)")))
        .bind(&id)
        .bind(&admin.name)
        .bind(&admin.email)
        .bind(EMAIL_VERIFIED)
        .execute(&mut *transaction)
        .await?;
    sqlx::query(AssertSqlSafe(format!("INSERT INTO {ACCOUNT_COLUMNS} VALUES ($1, $2, $3, $2, $4, now())")))
        .bind(generate_id())
        .bind(&id)
        .bind(CREDENTIAL_PROVIDER)
        .bind(hash.as_str())
        .execute(&mut *transaction)
        .await?;
    sqlx::query(AssertSqlSafe(format!("INSERT INTO {PROFILE_COLUMNS} VALUES ($1, 'platform_admin', NULL)")))
        .bind(&id)
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    Ok(FirstRunOutcome::Created { id, email: admin.email.clone() })
}
