//! The seed policy and the development fixtures against a real database: every
//! role after `seed`, idempotence, each refusal (exit 3, every table unchanged),
//! the environment stamp, `release`'s fixture step, `--scale`, and sign-in through
//! the real Better Auth.

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::project::repo_root;
use crate::support::{TestDatabase, TestProject, test_postgres};
use sqlx::{Connection, PgConnection};

const PASSWORD: &str = "praxia-dev-password";

async fn connect(database: &TestDatabase) -> PgConnection {
    PgConnection::connect(&database.url).await.unwrap()
}

/// Every row of every table, as text: what "unchanged" is checked against.
async fn snapshot(database: &TestDatabase) -> BTreeMap<String, String> {
    let mut connection = connect(database).await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT quote_ident(table_schema) || '.' || quote_ident(table_name) FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    let mut snapshot = BTreeMap::new();
    for table in tables {
        let sql = format!("SELECT coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '') FROM {table} t");
        let rows: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut connection).await.unwrap();
        snapshot.insert(table, rows);
    }
    snapshot
}

/// A migrated database and the repository's project (its test environment has fixtures).
async fn migrated() -> (TestDatabase, TestProject) {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.run_on(&database, &["migrate"]).expect_code(0);
    (database, project)
}

#[tokio::test]
async fn seed_writes_a_user_in_every_role_with_profiles_and_memberships() {
    let (database, project) = migrated().await;
    project
        .run_on(&database, &["seed"])
        .expect_code(0)
        .expect_stdout_contains("seeded 2 organizations, 8 users, 8 accounts, 8 profiles, 7 memberships");

    let mut connection = connect(&database).await;
    let roles: Vec<(String, i64)> = sqlx::query_as("SELECT role, count(*) FROM profile GROUP BY role ORDER BY role")
        .fetch_all(&mut connection)
        .await
        .unwrap();
    let roles: Vec<&str> = roles.iter().map(|(role, _)| role.as_str()).collect();
    assert_eq!(roles, ["coach", "manager", "organization_admin", "platform_admin", "teacher"]);

    let admin: (String, Option<String>, bool) = sqlx::query_as(
        "SELECT p.role, p.organization_id::text, u.email_verified FROM profile p JOIN \"user\" u ON u.id = p.user_id \
         WHERE u.email = 'admin@praxia.test'",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    assert_eq!(admin, ("platform_admin".to_owned(), None, true));

    let memberships: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT o.slug, u.email, m.role FROM organization_user m JOIN organization o ON o.id = m.organization_id \
         JOIN \"user\" u ON u.id = m.user_id ORDER BY 1, 2",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(memberships.len(), 7);
    assert!(memberships.contains(&("riverside-coaching".into(), "coach@riverside.test".into(), "coach".into())));

    let accounts: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT a.provider_id, a.account_id, u.id, a.password FROM account a JOIN \"user\" u ON u.id = a.user_id",
    )
    .fetch_all(&mut connection)
    .await
    .unwrap();
    assert_eq!(accounts.len(), 8);
    for (provider, account_id, user_id, hash) in &accounts {
        assert_eq!(provider, "credential");
        assert_eq!(account_id, user_id, "Better Auth's credential account_id is the user id");
        assert!(praxia_deploy::auth::verify_password(hash, PASSWORD));
    }
    let user_ids: Vec<String> = sqlx::query_scalar("SELECT id FROM \"user\"").fetch_all(&mut connection).await.unwrap();
    assert!(user_ids.iter().all(|id| id.len() == 32 && id.chars().all(|c| c.is_ascii_alphanumeric())));
}

#[tokio::test]
async fn a_second_seed_writes_nothing_and_says_so() {
    let (database, project) = migrated().await;
    project.run_on(&database, &["seed"]).expect_code(0);
    let before = snapshot(&database).await;
    project
        .run_on(&database, &["seed"])
        .expect_code(0)
        .expect_stdout_contains("fixtures already present: nothing written");
    assert_eq!(snapshot(&database).await, before);
}

#[tokio::test]
async fn a_staging_kind_refuses_fixtures_and_changes_nothing() {
    let (database, project) = migrated().await;
    project.file("environments/qa.toml", "kind = \"staging\"\n");
    let before = snapshot(&database).await;
    project
        .run_on(&database, &["--env", "qa", "seed"])
        .expect_code(3)
        .expect_stderr_contains("refusing to write fixtures")
        .expect_stderr_contains("refused because: the environment's kind is staging")
        .expect_stderr_contains("praxia-deploy bootstrap");
    assert_eq!(snapshot(&database).await, before);
}

#[tokio::test]
async fn node_env_production_refuses_fixtures_and_changes_nothing() {
    let (database, project) = migrated().await;
    let before = snapshot(&database).await;
    crate::support::Outcome::of(project.on(&database).env("NODE_ENV", "production").arg("seed"))
        .expect_code(3)
        .expect_stderr_contains("refused because: NODE_ENV is `production`");
    assert_eq!(snapshot(&database).await, before);
}

#[tokio::test]
async fn a_production_stamp_refuses_fixtures_under_env_development() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.run_on(&database, &["--env", "production", "migrate", "--local"]).expect_code(0);
    let before = snapshot(&database).await;
    project
        .run_on(&database, &["--env", "development", "seed"])
        .expect_code(3)
        .expect_stderr_contains("refused because: the database is stamped production");
    assert_eq!(snapshot(&database).await, before);
    // No flag or variable changes that.
    crate::support::Outcome::of(project.on(&database).env("NODE_ENV", "development").args([
        "--env",
        "development",
        "seed",
    ]))
    .expect_code(3);
    assert_eq!(snapshot(&database).await, before);
}

#[tokio::test]
async fn a_stamp_mismatch_refuses_seed_and_migrate_naming_both_environments() {
    let (database, project) = migrated().await; // stamped `test`
    let before = snapshot(&database).await;
    for command in ["migrate", "release"] {
        project
            .run_on(&database, &["--env", "development", command])
            .expect_code(3)
            .expect_stderr_contains("this database belongs to the `test` environment, not `development`")
            .expect_stderr_contains("`praxia-deploy stamp --force --env development`");
    }
    assert_eq!(snapshot(&database).await, before);
    // The command the help suggests is one that works.
    project.run_on(&database, &["--env", "development", "stamp", "--force"]).expect_code(0);
}

#[tokio::test]
async fn a_stamp_mismatch_reached_by_database_url_suggests_a_stamp_of_that_database() {
    let (database, project) = migrated().await; // stamped `test`
    let outcome = crate::support::Outcome::of(project.command().args([
        "--env",
        "development",
        "--database-url",
        &database.url,
        "migrate",
    ]));
    outcome.expect_code(3).expect_stderr_contains("this database belongs to the `test` environment, not `development`");
    // The suggested stamp must reach the database that was refused, not $DATABASE_URL or the embedded one.
    outcome.expect_stderr_contains(
        "`praxia-deploy stamp --force --env development` (with the same --database-url, if this command was given one)",
    );
    assert!(!outcome.stderr.contains(&database.url), "the help repeats the URL:\n{}", outcome.stderr);
}

#[tokio::test]
async fn a_staging_database_reached_as_development_is_never_told_to_restamp() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.file("environments/staging.toml", "kind = \"staging\"\n");
    project.run_on(&database, &["--env", "staging", "migrate"]).expect_code(0);
    for command in ["migrate", "release"] {
        let outcome = project.run_on(&database, &["--env", "development", command]);
        outcome
            .expect_code(3)
            .expect_stderr_contains("this database belongs to the `staging` environment, not `development`")
            .expect_stderr_contains("a staging database never becomes a development one")
            .expect_stderr_contains("Point DATABASE_URL at a development database (unset it to use the embedded one)");
        assert!(!outcome.stderr.contains("stamp --force"), "suggests a command that is refused:\n{}", outcome.stderr);
    }
    // Nor when the file's kind changed under the same name.
    project.file("environments/staging.toml", "kind = \"development\"\n");
    let outcome = project.run_on(&database, &["--env", "staging", "migrate"]);
    outcome.expect_code(3).expect_stderr_contains("a staging database never becomes a development one");
    assert!(!outcome.stderr.contains("stamp --force"), "suggests a command that is refused:\n{}", outcome.stderr);
}

#[tokio::test]
async fn the_first_migrate_stamps_the_database_and_stamp_force_moves_it() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project.file("environments/staging.toml", "kind = \"staging\"\n");
    project.file("environments/staging-eu.toml", "kind = \"staging\"\n");
    project.run_on(&database, &["--env", "staging", "migrate"]).expect_code(0);
    let status = project.run_on(&database, &["--env", "staging", "--output", "json", "status"]).expect_code(0).json();
    assert_eq!(status["result"]["stamp"]["name"], "staging");
    assert_eq!(status["result"]["stamp"]["kind"], "staging");
    assert!(status["result"]["stamp"]["stamped_by"].as_str().unwrap().contains('@'));

    project.run_on(&database, &["--env", "staging-eu", "migrate"]).expect_code(3);
    project.run_on(&database, &["--env", "staging-eu", "stamp"]).expect_code(3).expect_stderr_contains("stamp --force");
    project
        .run_on(&database, &["--env", "staging-eu", "stamp", "--force"])
        .expect_code(0)
        .expect_stdout_contains("stamped the database as `staging-eu`");
    project.run_on(&database, &["--env", "staging-eu", "migrate"]).expect_code(0);
    project
        .run_on(&database, &["--env", "staging-eu", "stamp"])
        .expect_code(0)
        .expect_stdout_contains("already stamped");

    let before = snapshot(&database).await;
    project
        .run_on(&database, &["--env", "development", "stamp", "--force"])
        .expect_code(3)
        .expect_stderr_contains("a staging database cannot become a development one");
    assert_eq!(snapshot(&database).await, before);
}

#[tokio::test]
async fn release_seeds_development_and_skips_staging_by_policy() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    let outcome = project.run_on(&database, &["release"]);
    outcome
        .expect_code(0)
        .expect_stdout_contains("applied 2 migrations")
        .expect_stdout_contains("seeded 2 organizations");
    project.run_on(&database, &["release"]).expect_code(0).expect_stdout_contains("fixtures already present");

    let staging = test_postgres().fresh_database();
    project.file("environments/staging.toml", "kind = \"staging\"\n");
    let document = project.run_on(&staging, &["--env", "staging", "--output", "json", "release"]).expect_code(0).json();
    assert_eq!(document["result"]["seed"]["verdict"], "refused");
    project
        .run_on(&staging, &["--env", "staging", "release"])
        .expect_code(0)
        .expect_stdout_contains("fixtures skipped by policy: the environment's kind is staging");
    let mut connection = connect(&staging).await;
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM \"user\"").fetch_one(&mut connection).await.unwrap();
    assert_eq!(users, 0);
}

#[tokio::test]
async fn seed_scale_adds_synthetic_organizations_once() {
    let (database, project) = migrated().await;
    project
        .run_on(&database, &["seed", "--scale", "30"])
        .expect_code(0)
        .expect_stdout_contains("seeded 32 organizations, 308 users");
    project.run_on(&database, &["seed", "--scale", "30"]).expect_code(0).expect_stdout_contains("nothing written");
    project
        .run_on(&database, &["seed", "--scale", "31"])
        .expect_code(0)
        .expect_stdout_contains("seeded 1 organizations");
    let mut connection = connect(&database).await;
    let (users, profiles, memberships, accounts): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM \"user\"), (SELECT count(*) FROM profile), \
                (SELECT count(*) FROM organization_user), (SELECT count(*) FROM account)",
    )
    .fetch_one(&mut connection)
    .await
    .unwrap();
    assert_eq!((profiles, accounts), (users, users));
    assert_eq!(memberships, users - 1, "everyone but the platform admin is a member");
}

#[test]
fn seed_before_migrate_says_to_migrate_first() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    project
        .run_on(&database, &["seed"])
        .expect_code(2)
        .expect_stderr_contains("nothing was written")
        .expect_stderr_contains("run `praxia-deploy migrate` first");
}

#[tokio::test]
async fn the_real_better_auth_signs_in_every_fixture_user() {
    let (database, project) = migrated().await;
    project.run_on(&database, &["seed", "--scale", "1"]).expect_code(0);
    let interop = repo_root().join("tests/interop");
    assert!(
        interop.join("node_modules/better-auth/package.json").is_file(),
        "better-auth is not installed in {}: run `bash scripts/test` (it runs `npm ci` there)",
        interop.display()
    );
    let emails = [
        "admin@praxia.test",
        "orgadmin@northwind.test",
        "manager@northwind.test",
        "coach@northwind.test",
        "teacher@northwind.test",
        "orgadmin@riverside.test",
        "coach@riverside.test",
        "teacher@riverside.test",
        "load-00001-1@load.praxia.test",
    ];
    let mut command = Command::new("node");
    command.arg(interop.join("better-auth-sign-in.mjs")).arg(&database.url);
    for email in emails {
        command.args([email, PASSWORD]);
    }
    command.args(["admin@praxia.test", "not-the-password"]);
    let output = command.output().unwrap();
    // One attempt was refused (the wrong password), so the script says so in its status.
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let results: Vec<serde_json::Value> =
        String::from_utf8_lossy(&output.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(results.len(), emails.len() + 1);
    for (result, email) in results.iter().zip(emails) {
        assert_eq!(result["email"], email);
        assert_eq!(result["ok"], true, "Better Auth refused {email}: {result}");
    }
    assert_eq!(results[emails.len()]["ok"], false, "a wrong password signed in");
    let mut connection = connect(&database).await;
    let sessions: i64 = sqlx::query_scalar("SELECT count(*) FROM session").fetch_one(&mut connection).await.unwrap();
    assert_eq!(sessions, emails.len() as i64, "each sign-in wrote a Better Auth session");
}

/// A database migrated by drizzle has tables and applied rows but no stamp: a
/// development environment pointed at it must not take it for its own.
#[tokio::test]
async fn an_unstamped_database_migrated_elsewhere_is_not_taken_for_a_development_one() {
    let database = test_postgres().fresh_database();
    let project = TestProject::from_repo();
    let output = Command::new("node")
        .arg(repo_root().join("tests/interop/drizzle-migrate.mjs"))
        .arg(&database.url)
        .arg(project.path().join("migrations"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let before = snapshot(&database).await;

    project
        .run_on(&database, &["--env", "development", "seed"])
        .expect_code(3)
        .expect_stderr_contains("no environment stamp but already has migrations applied");
    assert_eq!(snapshot(&database).await, before);

    project
        .run_on(&database, &["--env", "development", "release"])
        .expect_code(0)
        .expect_stderr_contains("it was not stamped `development`")
        .expect_stdout_contains("fixtures skipped by policy");
    assert_eq!(snapshot(&database).await, before, "release wrote fixtures or a stamp");

    project.run_on(&database, &["--env", "development", "stamp"]).expect_code(0);
    project.run_on(&database, &["--env", "development", "seed"]).expect_code(0).expect_stdout_contains("seeded");
}
