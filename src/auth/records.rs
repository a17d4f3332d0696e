//! The Better Auth rows praxia-deploy writes (the first-run admin, the fixtures,
//! the synthetic `--scale` users), defined once: their columns and the values
//! Better Auth's own email sign-up writes, so that all three paths agree.

/// The provider of an email-and-password account.
pub const CREDENTIAL_PROVIDER: &str = "credential";

/// Users praxia-deploy creates are made on purpose (by the setup token's holder,
/// or as development fixtures): verified, so that a backend with
/// `requireEmailVerification: true` signs them in.
pub const EMAIL_VERIFIED: bool = true;

/// `user`: id, name, email, email_verified.
pub const USER_COLUMNS: &str = "\"user\" (id, name, email, email_verified)";

/// A credential `account`: id, account_id (the user's id, as Better Auth writes
/// it), provider_id, user_id, password (the hash), updated_at.
pub const ACCOUNT_COLUMNS: &str = "account (id, account_id, provider_id, user_id, password, updated_at)";

/// `profile`: user_id, role, organization_id.
pub const PROFILE_COLUMNS: &str = "profile (user_id, role, organization_id)";

/// `organization_user`: organization_id, user_id, role.
pub const MEMBERSHIP_COLUMNS: &str = "organization_user (organization_id, user_id, role)";

/// `organization`: id, name, slug.
pub const ORGANIZATION_COLUMNS: &str = "organization (id, name, slug)";
