//! The Praxia schema in migrations/: applied to a real database, the catalog must
//! hold exactly the tables, columns, constraints and indexes Better Auth and the
//! app expect.

use crate::support::project::repo_root;
use crate::support::test_postgres;
use sqlx::{Connection, PgConnection, Row};

/// Applies the folder the way drizzle's migrator does: journal order, each file's
/// statements split on the breakpoint marker, one transaction.
async fn apply_repository_migrations(connection: &mut PgConnection) {
    let dir = repo_root().join("migrations");
    let journal: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("meta/_journal.json")).unwrap()).unwrap();
    let mut transaction = connection.begin().await.unwrap();
    for entry in journal["entries"].as_array().unwrap() {
        let tag = entry["tag"].as_str().unwrap();
        let text = std::fs::read_to_string(dir.join(format!("{tag}.sql"))).unwrap();
        for statement in text.split("--> statement-breakpoint") {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(&mut *transaction)
                .await
                .unwrap_or_else(|err| panic!("{tag}: {err}\n{statement}"));
        }
    }
    transaction.commit().await.unwrap();
}

async fn migrated_database() -> PgConnection {
    let database = test_postgres().fresh_database();
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    apply_repository_migrations(&mut connection).await;
    connection
}

async fn rows(connection: &mut PgConnection, sql: &'static str) -> Vec<String> {
    sqlx::query(sql).fetch_all(connection).await.unwrap().iter().map(|row| row.get::<String, _>(0)).collect()
}

#[tokio::test]
async fn the_schema_has_exactly_the_expected_columns() {
    let mut connection = migrated_database().await;
    let columns = rows(
        &mut connection,
        "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || \
                CASE WHEN is_nullable = 'NO' THEN 'not null' ELSE 'null' END || \
                coalesce(' default ' || column_default, '') \
         FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY table_name, ordinal_position",
    )
    .await;
    let expected = [
        "account.id text not null",
        "account.account_id text not null",
        "account.provider_id text not null",
        "account.user_id text not null",
        "account.access_token text null",
        "account.refresh_token text null",
        "account.id_token text null",
        "account.access_token_expires_at timestamp without time zone null",
        "account.refresh_token_expires_at timestamp without time zone null",
        "account.scope text null",
        "account.password text null",
        "account.created_at timestamp without time zone not null default now()",
        "account.updated_at timestamp without time zone not null",
        "organization.id uuid not null default gen_random_uuid()",
        "organization.name text not null",
        "organization.slug text not null",
        "organization.created_at timestamp without time zone not null default now()",
        "organization.updated_at timestamp without time zone not null default now()",
        "organization_user.id uuid not null default gen_random_uuid()",
        "organization_user.organization_id uuid not null",
        "organization_user.user_id text not null",
        "organization_user.role text not null default 'teacher'::text",
        "organization_user.created_at timestamp without time zone not null default now()",
        "profile.id uuid not null default gen_random_uuid()",
        "profile.user_id text not null",
        "profile.role text not null default 'teacher'::text",
        "profile.organization_id uuid null",
        "profile.created_at timestamp without time zone not null default now()",
        "profile.updated_at timestamp without time zone not null default now()",
        "session.id text not null",
        "session.expires_at timestamp without time zone not null",
        "session.token text not null",
        "session.created_at timestamp without time zone not null default now()",
        "session.updated_at timestamp without time zone not null",
        "session.ip_address text null",
        "session.user_agent text null",
        "session.user_id text not null",
        "user.id text not null",
        "user.name text not null",
        "user.email text not null",
        "user.email_verified boolean not null default false",
        "user.image text null",
        "user.created_at timestamp without time zone not null default now()",
        "user.updated_at timestamp without time zone not null default now()",
        "verification.id text not null",
        "verification.identifier text not null",
        "verification.value text not null",
        "verification.expires_at timestamp without time zone not null",
        "verification.created_at timestamp without time zone not null default now()",
        "verification.updated_at timestamp without time zone not null default now()",
    ];
    assert_eq!(columns, expected);
}

#[tokio::test]
async fn keys_uniques_checks_and_foreign_keys_are_as_designed() {
    let mut connection = migrated_database().await;
    let mut constraints = rows(
        &mut connection,
        "SELECT conrelid::regclass::text || ' ' || contype::text || ' ' || pg_get_constraintdef(oid) \
         FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
         ORDER BY conrelid::regclass::text, contype, pg_get_constraintdef(oid)",
    )
    .await;
    let expected = [
        "account f FOREIGN KEY (user_id) REFERENCES \"user\"(id) ON DELETE CASCADE",
        "account p PRIMARY KEY (id)",
        "organization p PRIMARY KEY (id)",
        "organization u UNIQUE (slug)",
        "organization_user c CHECK ((role = ANY (ARRAY['organization_admin'::text, 'manager'::text, 'coach'::text, 'teacher'::text])))",
        "organization_user f FOREIGN KEY (organization_id) REFERENCES organization(id) ON DELETE CASCADE",
        "organization_user f FOREIGN KEY (user_id) REFERENCES \"user\"(id) ON DELETE CASCADE",
        "organization_user p PRIMARY KEY (id)",
        "organization_user u UNIQUE (organization_id, user_id)",
        "profile c CHECK ((role = ANY (ARRAY['platform_admin'::text, 'organization_admin'::text, 'manager'::text, 'coach'::text, 'teacher'::text])))",
        "profile f FOREIGN KEY (organization_id) REFERENCES organization(id)",
        "profile f FOREIGN KEY (user_id) REFERENCES \"user\"(id) ON DELETE CASCADE",
        "profile p PRIMARY KEY (id)",
        "profile u UNIQUE (user_id)",
        "session f FOREIGN KEY (user_id) REFERENCES \"user\"(id) ON DELETE CASCADE",
        "session p PRIMARY KEY (id)",
        "session u UNIQUE (token)",
        "\"user\" p PRIMARY KEY (id)",
        "\"user\" u UNIQUE (email)",
        "verification p PRIMARY KEY (id)",
    ];
    constraints.sort();
    let mut expected = expected.to_vec();
    expected.sort();
    assert_eq!(constraints, expected);
}

#[tokio::test]
async fn every_foreign_key_column_leads_an_index_and_better_auth_indexes_exist() {
    let mut connection = migrated_database().await;
    let unindexed = rows(
        &mut connection,
        "SELECT c.conrelid::regclass::text || '.' || a.attname \
         FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
         WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace \
           AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])",
    )
    .await;
    assert!(unindexed.is_empty(), "foreign-key columns without an index: {unindexed:?}");
    let indexes = rows(
        &mut connection,
        "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname LIKE '%\\_idx' ORDER BY 1",
    )
    .await;
    assert_eq!(
        indexes,
        [
            "account_userId_idx",
            "organization_user_user_id_idx",
            "profile_organization_id_idx",
            "session_userId_idx",
            "verification_identifier_idx"
        ]
    );
}

#[tokio::test]
async fn roles_are_limited_and_default_to_teacher() {
    let mut connection = migrated_database().await;
    sqlx::raw_sql(
        "INSERT INTO \"user\" (id, name, email) VALUES ('u1', 'Ada', 'ada@example.com'); \
         INSERT INTO profile (user_id) VALUES ('u1');",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let role: String =
        sqlx::query_scalar("SELECT role FROM profile WHERE user_id = 'u1'").fetch_one(&mut connection).await.unwrap();
    assert_eq!(role, "teacher");

    let err = sqlx::raw_sql("UPDATE profile SET role = 'superuser' WHERE user_id = 'u1'")
        .execute(&mut connection)
        .await
        .unwrap_err();
    assert_eq!(err.as_database_error().unwrap().code().as_deref(), Some("23514"), "{err}");

    let err = sqlx::raw_sql(
        "INSERT INTO organization (id, name, slug) VALUES ('00000000-0000-0000-0000-000000000001', 'A', 'a'); \
         INSERT INTO organization_user (organization_id, user_id, role) \
         VALUES ('00000000-0000-0000-0000-000000000001', 'u1', 'platform_admin')",
    )
    .execute(&mut connection)
    .await
    .unwrap_err();
    assert_eq!(
        err.as_database_error().unwrap().code().as_deref(),
        Some("23514"),
        "platform_admin is not an organization role"
    );
}

#[tokio::test]
async fn deleting_a_user_removes_their_sessions_accounts_profile_and_memberships() {
    let mut connection = migrated_database().await;
    sqlx::raw_sql(
        "INSERT INTO \"user\" (id, name, email) VALUES ('u1', 'Ada', 'ada@example.com'); \
         INSERT INTO organization (id, name, slug) VALUES ('00000000-0000-0000-0000-000000000001', 'A', 'a'); \
         INSERT INTO session (id, expires_at, token, updated_at, user_id) VALUES ('s1', now(), 't1', now(), 'u1'); \
         INSERT INTO account (id, account_id, provider_id, user_id, updated_at) VALUES ('a1', 'u1', 'credential', 'u1', now()); \
         INSERT INTO profile (user_id, organization_id) VALUES ('u1', '00000000-0000-0000-0000-000000000001'); \
         INSERT INTO organization_user (organization_id, user_id) VALUES ('00000000-0000-0000-0000-000000000001', 'u1'); \
         DELETE FROM \"user\" WHERE id = 'u1';",
    )
    .execute(&mut connection)
    .await
    .unwrap();
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM session) + (SELECT count(*) FROM account) \
              + (SELECT count(*) FROM profile) + (SELECT count(*) FROM organization_user)",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    assert_eq!(left, 0);
}
