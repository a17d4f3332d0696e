//! Drift against a real PostgreSQL: the applied migrations replayed by the release
//! engine into a scratch database on the same server (`--shadow-url`), both
//! catalogs read and compared; each kind of hand-made change reported exactly,
//! and nothing else.

mod support;

use sqlx::{Connection, PgConnection};
use support::{TestDatabase, TestProject, test_postgres};

/// A schema with one of everything drift compares: an enum, a function and a
/// trigger using it, row-level security with a policy, a check, a foreign key,
/// an index, a view, a sequence and a comment.
const BASE: &str = r#"CREATE TYPE "role" AS ENUM('member', 'admin');
--> statement-breakpoint
CREATE TABLE "organization" ("id" text PRIMARY KEY NOT NULL, "name" text NOT NULL);
--> statement-breakpoint
CREATE TABLE "note" (
	"id" text PRIMARY KEY NOT NULL,
	"organization_id" text REFERENCES "organization"("id") ON DELETE CASCADE,
	"body" text DEFAULT '' NOT NULL,
	"score" integer,
	"role" "role" DEFAULT 'member' NOT NULL,
	"updated_at" timestamp DEFAULT now() NOT NULL,
	CONSTRAINT "note_score_positive" CHECK ("score" >= 0)
);
--> statement-breakpoint
CREATE INDEX "note_body_idx" ON "note" USING btree ("body");
--> statement-breakpoint
CREATE FUNCTION "touch"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
--> statement-breakpoint
CREATE TRIGGER "note_touch" BEFORE UPDATE ON "note" FOR EACH ROW EXECUTE FUNCTION "touch"();
--> statement-breakpoint
ALTER TABLE "note" ENABLE ROW LEVEL SECURITY;
--> statement-breakpoint
CREATE POLICY "note_members" ON "note" FOR SELECT USING ("role" = 'member');
--> statement-breakpoint
CREATE VIEW "note_summary" AS SELECT "id", "score" FROM "note";
--> statement-breakpoint
CREATE SEQUENCE "ticket_seq" START 100;
--> statement-breakpoint
COMMENT ON COLUMN "note"."body" IS 'what the coach wrote';"#;

fn project() -> TestProject {
    TestProject::with_migrations(&[("0000_base", 1_700_000_000_000, BASE)])
}

async fn execute(database: &TestDatabase, sql: &str) {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut connection).await.unwrap();
}

/// `drift` on `database`, replaying on the test server itself.
fn drift(project: &TestProject, database: &TestDatabase) -> support::Outcome {
    project.run_on(database, &["--output", "json", "drift", "--shadow-url", &database.url])
}

/// The (kind, name, attribute) of every difference reported.
fn reported(outcome: &support::Outcome) -> Vec<(String, String, Option<String>)> {
    let document = outcome.json();
    document["result"]["differences"]
        .as_array()
        .unwrap_or_else(|| panic!("no differences in {document}"))
        .iter()
        .map(|difference| {
            (
                difference["kind"].as_str().unwrap().to_owned(),
                difference["name"].as_str().unwrap().to_owned(),
                difference["attribute"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test]
async fn migrations_on_a_fresh_database_have_no_drift_and_the_shipped_ones_neither() {
    let database = test_postgres().fresh_database();
    let project = project();
    project.run_on(&database, &["migrate"]).expect_code(0);
    let outcome = project.run_on(&database, &["drift", "--shadow-url", &database.url]);
    outcome.expect_code(0).expect_stdout_contains("no drift").expect_stdout_contains("1 applied migration replayed");

    let shipped = TestProject::from_repo();
    let database = test_postgres().fresh_database();
    shipped.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    shipped.run_on(&database, &["--env", "test", "drift", "--shadow-url", &database.url]).expect_code(0);
}

/// A hand-made change, the one difference it must make (kind, name, attribute),
/// and the SQL offered to undo it.
type Case = (&'static str, (&'static str, &'static str, Option<&'static str>), Option<&'static str>);

#[tokio::test]
async fn each_kind_of_hand_made_change_is_reported_exactly_and_alone() {
    let cases: [Case; 11] = [
        (
            "CREATE INDEX hand_made ON note (score)",
            ("index", "public.hand_made", None),
            Some("DROP INDEX public.hand_made;"),
        ),
        (
            "DROP INDEX note_body_idx",
            ("index", "public.note_body_idx", None),
            Some("CREATE INDEX note_body_idx ON public.note USING btree (body);"),
        ),
        (
            "ALTER TABLE organization ALTER COLUMN name TYPE varchar(200)",
            ("column", "public.organization.name", Some("type")),
            Some("ALTER TABLE public.organization ALTER COLUMN name TYPE text;"),
        ),
        (
            "ALTER TABLE note ALTER COLUMN body SET DEFAULT 'x'",
            ("column", "public.note.body", Some("default")),
            Some("ALTER TABLE public.note ALTER COLUMN body SET DEFAULT ''::text;"),
        ),
        (
            "ALTER TABLE organization ALTER COLUMN name DROP NOT NULL",
            ("column", "public.organization.name", Some("not null")),
            Some("ALTER TABLE public.organization ALTER COLUMN name SET NOT NULL;"),
        ),
        (
            "ALTER TABLE organization ADD CONSTRAINT name_long CHECK (length(name) > 2)",
            ("constraint", "public.organization.name_long", None),
            Some("ALTER TABLE public.organization DROP CONSTRAINT name_long;"),
        ),
        ("ALTER TYPE role ADD VALUE 'coach'", ("enum", "public.role", Some("values")), None),
        (
            "CREATE TRIGGER extra BEFORE INSERT ON organization FOR EACH ROW EXECUTE FUNCTION touch()",
            ("trigger", "public.organization.extra", None),
            Some("DROP TRIGGER extra ON public.organization;"),
        ),
        (
            "CREATE OR REPLACE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$",
            ("function", "public.touch()", Some("definition")),
            None,
        ),
        (
            "CREATE POLICY admins ON note FOR ALL USING (role = 'admin')",
            ("policy", "public.note.admins", None),
            Some("DROP POLICY admins ON public.note;"),
        ),
        (
            "CREATE TABLE scratchpad (id int)",
            ("table", "public.scratchpad", None),
            Some("DROP TABLE public.scratchpad;"),
        ),
    ];
    for (change, (kind, name, attribute), fix) in cases {
        let database = test_postgres().fresh_database();
        let project = project();
        project.run_on(&database, &["migrate"]).expect_code(0);
        execute(&database, change).await;
        let outcome = drift(&project, &database);
        outcome.expect_code(11);
        let found = reported(&outcome);
        assert_eq!(found, [(kind.to_owned(), name.to_owned(), attribute.map(str::to_owned))], "after `{change}`");
        let document = outcome.json();
        let first = &document["result"]["differences"][0];
        match fix {
            Some(fix) => assert_eq!(first["fix"], fix, "after `{change}`"),
            None if kind == "function" => {
                assert!(
                    first["fix"].as_str().unwrap().starts_with("CREATE OR REPLACE FUNCTION public.touch()"),
                    "{first}"
                )
            }
            None => assert!(first["fix"].is_null(), "{first}"),
        }
    }
}

#[tokio::test]
async fn an_edited_applied_migration_is_reported_with_what_it_changed() {
    let database = test_postgres().fresh_database();
    let project = project();
    project.run_on(&database, &["migrate"]).expect_code(0);
    project.set_migrations(&[(
        "0000_base",
        1_700_000_000_000,
        &BASE.replace("CREATE SEQUENCE \"ticket_seq\" START 100;", "CREATE SEQUENCE \"ticket_seq\" START 500;"),
    )]);
    let outcome = project.run_on(&database, &["drift", "--shadow-url", &database.url]);
    outcome
        .expect_code(11)
        .expect_stdout_contains("migrations: migration 0000_base was edited after it was applied")
        .expect_stdout_contains("sequence public.ticket_seq: start: migrations make 500, the database has 100");
}

#[tokio::test]
async fn the_human_listing_says_each_difference_and_its_fix() {
    let database = test_postgres().fresh_database();
    let project = project();
    project.run_on(&database, &["migrate"]).expect_code(0);
    execute(&database, "CREATE INDEX hand_made ON note (score)").await;
    project
        .run_on(&database, &["drift", "--shadow-url", &database.url])
        .expect_code(11)
        .expect_stdout_contains("index public.hand_made: in the database, not made by the migrations")
        .expect_stdout_contains("  fix: DROP INDEX public.hand_made;")
        .expect_stderr_contains("the database differs from its migrations in 1 place");
}

#[tokio::test]
async fn release_warns_or_refuses_on_drift_and_replays_once_per_set_of_migrations() {
    let database = test_postgres().fresh_database();
    let project = project();
    project.run_on(&database, &["migrate"]).expect_code(0);
    execute(&database, "CREATE INDEX hand_made ON note (score)").await;
    let environment = support::project::TEST_ENVIRONMENT;
    project.file("environments/test.toml", &format!("{environment}\n[drift]\non_release = \"warn\"\n"));
    project
        .run_on(&database, &["release"])
        .expect_code(0)
        .expect_stderr_contains("drift: replaying 1 applied migration on the database's server")
        .expect_stderr_contains("drift: index public.hand_made: in the database, not made by the migrations");
    // The same set again: the expected schema is kept, nothing is replayed.
    let again = project.run_on(&database, &["release"]);
    again.expect_code(0).expect_stderr_contains("drift: index public.hand_made");
    assert!(!again.stderr.contains("replaying"), "{}", again.stderr);

    project.file("environments/test.toml", &format!("{environment}\n[drift]\non_release = \"refuse\"\n"));
    project.set_migrations(&[
        ("0000_base", 1_700_000_000_000, BASE),
        ("0001_more", 1_700_000_001_000, "CREATE TABLE \"more\" (\"id\" int);"),
    ]);
    project
        .run_on(&database, &["release"])
        .expect_code(3)
        .expect_stderr_contains("the database differs from its migrations in 1 place: nothing was migrated")
        .expect_stderr_contains("drift: index public.hand_made");
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let more: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('more')::text").fetch_one(&mut connection).await.unwrap();
    assert_eq!(more, None, "refused before migrating");
    execute(&database, "DROP INDEX hand_made").await;
    project.run_on(&database, &["release"]).expect_code(0).expect_stdout_contains("applied 1 migration");
}

/// Identity, generated and deferrable things, a materialized view and an
/// extension: replayed, they compare equal; changed by hand, each is one line.
const MORE: &str = r#"CREATE EXTENSION IF NOT EXISTS "pgcrypto";
--> statement-breakpoint
CREATE TABLE "ledger" (
	"id" bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	"amount" numeric(10, 2) NOT NULL,
	"doubled" numeric GENERATED ALWAYS AS ("amount" * 2) STORED,
	"token" uuid DEFAULT gen_random_uuid() NOT NULL,
	"note_id" text
);
--> statement-breakpoint
ALTER TABLE "ledger" ADD CONSTRAINT "ledger_note_fk" FOREIGN KEY ("note_id") REFERENCES "note"("id") DEFERRABLE INITIALLY DEFERRED;
--> statement-breakpoint
CREATE MATERIALIZED VIEW "ledger_total" AS SELECT sum("amount") AS "total" FROM "ledger";"#;

/// Domains and composite types, for the objects drift compares beyond tables.
const TYPES: &str = r#"CREATE DOMAIN "positive" AS integer CONSTRAINT "positive_check" CHECK (VALUE > 0);
--> statement-breakpoint
CREATE TYPE "pair" AS ("a" integer, "b" text);"#;

#[tokio::test]
async fn identity_generated_deferrable_views_and_extensions_compare_and_their_changes_show() {
    let cases: [Case; 11] = [
        (
            "CREATE RULE no_delete AS ON DELETE TO organization DO INSTEAD NOTHING",
            ("rule", "public.organization.no_delete", None),
            None,
        ),
        (
            "ALTER DOMAIN positive DROP CONSTRAINT positive_check",
            ("domain", "public.positive", Some("constraints")),
            None,
        ),
        ("ALTER TYPE pair ADD ATTRIBUTE c integer", ("composite type", "public.pair", Some("attributes")), None),
        (
            "ALTER TABLE ledger ALTER COLUMN id SET INCREMENT BY 100",
            ("column", "public.ledger.id", Some("identity options")),
            None,
        ),
        (
            "ALTER VIEW note_summary SET (security_barrier = true)",
            ("view", "public.note_summary", Some("options")),
            None,
        ),
        ("ALTER TABLE note REPLICA IDENTITY FULL", ("table", "public.note", Some("replica identity")), None),
        ("CREATE TABLE drizzle.hidden (id int)", ("table", "drizzle.hidden", None), Some("DROP TABLE drizzle.hidden;")),
        (
            "ALTER TABLE note DISABLE ROW LEVEL SECURITY",
            ("table", "public.note", Some("row level security")),
            Some("ALTER TABLE public.note ENABLE ROW LEVEL SECURITY;"),
        ),
        (
            "COMMENT ON COLUMN note.body IS 'changed'",
            ("column", "public.note.body", Some("comment")),
            Some("COMMENT ON COLUMN public.note.body IS 'what the coach wrote';"),
        ),
        (
            "ALTER TABLE ledger ALTER CONSTRAINT ledger_note_fk NOT DEFERRABLE",
            ("constraint", "public.ledger.ledger_note_fk", Some("definition")),
            None,
        ),
        (
            "ALTER TABLE ledger ALTER COLUMN id SET GENERATED BY DEFAULT",
            ("column", "public.ledger.id", Some("identity")),
            None,
        ),
    ];
    let migrations = [
        ("0000_base", 1_700_000_000_000, BASE),
        ("0001_more", 1_700_000_001_000, MORE),
        ("0002_types", 1_700_000_002_000, TYPES),
    ];
    for (change, (kind, name, attribute), fix) in cases {
        let database = test_postgres().fresh_database();
        let project = TestProject::with_migrations(&migrations);
        project.run_on(&database, &["migrate"]).expect_code(0);
        drift(&project, &database).expect_code(0);
        execute(&database, change).await;
        let outcome = drift(&project, &database);
        outcome.expect_code(11);
        assert_eq!(
            reported(&outcome),
            [(kind.to_owned(), name.to_owned(), attribute.map(str::to_owned))],
            "after `{change}`"
        );
        if let Some(fix) = fix {
            assert_eq!(outcome.json()["result"]["differences"][0]["fix"], fix, "after `{change}`");
        }
    }
}

#[tokio::test]
async fn a_first_release_is_not_refused_and_a_check_that_cannot_run_only_warns() {
    let environment = support::project::TEST_ENVIRONMENT;
    let database = test_postgres().fresh_database();
    let project = project();
    project.file("environments/test.toml", &format!("{environment}\n[drift]\non_release = \"refuse\"\n"));
    // Nothing applied yet: `public` and what the server gives every database are expected.
    project.run_on(&database, &["release"]).expect_code(0).expect_stdout_contains("applied 1 migration");

    // A user who may not create the scratch database: under warn the release goes on.
    let other = test_postgres().fresh_database();
    let role = format!("nocreatedb_{}", other.name);
    execute(&other, &format!("CREATE ROLE {role} LOGIN NOCREATEDB; ALTER DATABASE {} OWNER TO {role}; ALTER SCHEMA public OWNER TO {role}", other.name)).await;
    let url = url::Url::parse(&other.url).unwrap();
    let mut as_role = url.clone();
    as_role.set_username(&role).unwrap();
    as_role.set_password(None).unwrap();
    project.file("environments/test.toml", &format!("{environment}\n[drift]\non_release = \"warn\"\n"));
    let outcome = support::Outcome::of(
        project.command().env("PRAXIA_ENV", "test").env("DATABASE_URL", as_role.as_str()).arg("release"),
    );
    outcome.expect_code(0).expect_stderr_contains("drift: not checked").expect_stdout_contains("applied 1 migration");
}

#[tokio::test]
async fn another_environments_database_is_refused_before_drift_writes_anything() {
    let database = test_postgres().fresh_database();
    let project = project();
    project.run_on(&database, &["migrate"]).expect_code(0);
    let environment = support::project::TEST_ENVIRONMENT;
    project.file("environments/other.toml", &format!("{environment}\n[drift]\non_release = \"warn\"\n"));
    project
        .run_on(&database, &["--env", "other", "release"])
        .expect_code(3)
        .expect_stderr_contains("belongs to the `test` environment");
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let cache: Option<String> = sqlx::query_scalar("SELECT to_regclass('praxia_deploy.expected_schema')::text")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(cache, None, "nothing written for a database that is not this environment's");
}

#[tokio::test]
async fn with_the_bookkeeping_table_in_public_public_is_still_compared() {
    let database = test_postgres().fresh_database();
    let project = project();
    let environment = support::project::TEST_ENVIRONMENT;
    project.file("environments/test.toml", &format!("{environment}\n[migrations]\nschema = \"public\"\n"));
    project.run_on(&database, &["migrate"]).expect_code(0);
    drift(&project, &database).expect_code(0);
    execute(&database, "CREATE TABLE by_hand (id int)").await;
    let outcome = drift(&project, &database);
    outcome.expect_code(11);
    assert_eq!(reported(&outcome), [("table".to_owned(), "public.by_hand".to_owned(), None)]);
}

#[tokio::test]
async fn a_folder_that_is_not_the_databases_history_offers_no_fixes() {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[
        ("0000_base", 1_700_000_000_000, BASE),
        ("0001_more", 1_700_000_001_000, "CREATE TABLE \"more\" (\"id\" int);"),
    ]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    // A checkout that is behind: the second migration is not in it.
    project.set_migrations(&[("0000_base", 1_700_000_000_000, BASE)]);
    let outcome = project.run_on(&database, &["drift", "--shadow-url", &database.url]);
    outcome
        .expect_code(11)
        .expect_stdout_contains("migrations: applied migration")
        .expect_stdout_contains("table public.more: in the database, not made by the migrations")
        .expect_stdout_contains("no fixes are offered");
    assert!(!outcome.stdout.contains("fix: DROP"), "{}", outcome.stdout);
}
