//! Drift against a real PostgreSQL: the applied migrations replayed by the release
//! engine into a scratch database on the same server (`--shadow-url`), both
//! catalogs read and compared; each kind of hand-made change reported exactly,
//! and nothing else; every fix offered applied and proven to bring the database
//! back; the release's check reading a recorded expected schema and writing
//! nothing to the server but its own record.

use crate::support::{TestDatabase, TestProject, test_postgres};
use sqlx::{Connection, PgConnection};

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
fn drift(project: &TestProject, database: &TestDatabase) -> crate::support::Outcome {
    project.run_on(database, &["--output", "json", "drift", "--shadow-url", &test_postgres().shadow_url()])
}

/// The (kind, name, attribute) of every difference reported.
fn reported(outcome: &crate::support::Outcome) -> Vec<(String, String, Option<String>)> {
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
    let outcome = project.run_on(&database, &["drift", "--shadow-url", &test_postgres().shadow_url()]);
    outcome.expect_code(0).expect_stdout_contains("no drift").expect_stdout_contains("1 applied migration replayed");

    let shipped = TestProject::from_repo();
    let database = test_postgres().fresh_database();
    shipped.run_on(&database, &["--env", "test", "migrate"]).expect_code(0);
    shipped
        .run_on(&database, &["--env", "test", "drift", "--shadow-url", &test_postgres().shadow_url()])
        .expect_code(0);
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
        ("CREATE TABLE scratchpad (id int)", ("table", "public.scratchpad", None), None),
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
        fixes_bring_it_back(&project, &database, &outcome, change).await;
    }
}

/// Applies every fix `outcome` offered and checks that drift then finds nothing.
async fn fixes_bring_it_back(
    project: &TestProject,
    database: &TestDatabase,
    outcome: &crate::support::Outcome,
    change: &str,
) {
    let fixes: Vec<String> = outcome.json()["result"]["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|difference| difference["fix"].as_str().map(str::to_owned))
        .collect();
    if fixes.is_empty() {
        return;
    }
    for fix in &fixes {
        execute(database, fix).await;
    }
    let after = drift(project, database);
    assert_eq!(after.code, 0, "after `{change}` and its fixes {fixes:?}: {}{}", after.stdout, after.stderr);
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
    let outcome = project.run_on(&database, &["drift", "--shadow-url", &test_postgres().shadow_url()]);
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
        .run_on(&database, &["drift", "--shadow-url", &test_postgres().shadow_url()])
        .expect_code(11)
        .expect_stdout_contains("index public.hand_made: in the database, not made by the migrations")
        .expect_stdout_contains("  fix: DROP INDEX public.hand_made;")
        .expect_stderr_contains("the database differs from its migrations in 1 place")
        // The team's way to keep a change: the TypeScript schema, then drizzle-kit
        // generate (a hand-written `new` migration would leave the snapshot behind).
        .expect_stderr_contains("make it in the TypeScript schema and run `praxia-deploy generate NAME`");
}

/// The environment file with `[drift] on_release = <mode>`.
fn on_release(project: &TestProject, mode: &str) {
    let environment = crate::support::project::TEST_ENVIRONMENT;
    project.file("environments/test.toml", &format!("{environment}\n[drift]\non_release = \"{mode}\"\n"));
}

/// `drift --record`, replaying on the test server (a scratch database there).
fn record(project: &TestProject, database: &TestDatabase) {
    project.run_on(database, &["drift", "--record", "--shadow-url", &test_postgres().shadow_url()]).expect_code(0);
}

async fn scratch_databases(database: &TestDatabase) -> Vec<String> {
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE 'praxia\\_drift\\_%' ORDER BY 1")
        .fetch_all(&mut connection)
        .await
        .unwrap()
}

#[tokio::test]
async fn release_checks_drift_against_the_recorded_schema_and_never_replays_on_the_server() {
    let database = test_postgres().fresh_database();
    let project = project();
    on_release(&project, "warn");
    record(&project, &database);
    assert!(project.path().join("drift/expected-schema.json").is_file());
    let released = project.run_on(&database, &["release"]);
    released.expect_code(0).expect_stdout_contains("applied 1 migration");
    assert!(!released.stderr.contains("drift"), "a clean first release says nothing of drift: {}", released.stderr);
    let again = project.run_on(&database, &["release"]);
    again.expect_code(0);
    assert!(!again.stderr.contains("drift"), "{}", again.stderr);

    execute(&database, "CREATE INDEX hand_made ON note (score)").await;
    project
        .run_on(&database, &["release"])
        .expect_code(0)
        .expect_stderr_contains("drift: index public.hand_made: in the database, not made by the migrations")
        .expect_stderr_contains("the database differs from its migrations in 1 place");

    // A new migration, its schema not recorded: the check of the set the database
    // is at still runs (from the database's own record) and refuses.
    on_release(&project, "refuse");
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
    project
        .run_on(&database, &["release"])
        .expect_code(0)
        .expect_stdout_contains("applied 1 migration")
        .expect_stderr_contains("drift: the next release cannot check drift")
        .expect_stderr_contains("praxia-deploy drift --record --env test");
    // As it warned: under refuse, a set with no expected schema is not released.
    project
        .run_on(&database, &["release"])
        .expect_code(3)
        .expect_stderr_contains("drift could not be checked")
        .expect_stderr_contains("holds no expected schema for the 2 applied migrations");
    record(&project, &database);
    project.run_on(&database, &["release"]).expect_code(0);
}

#[tokio::test]
async fn a_no_op_release_checks_drift_on_its_one_connection() {
    let database = test_postgres().fresh_database();
    let project = project();
    on_release(&project, "refuse");
    record(&project, &database);
    // A role that may hold one connection at a time and only read: the no-op
    // release's check opens no connection of its own and writes nothing.
    let role = format!("one_connection_{}", database.name);
    execute(&database, &format!("CREATE ROLE {role} LOGIN CONNECTION LIMIT 1; GRANT pg_read_all_data TO {role}")).await;
    project.run_on(&database, &["release"]).expect_code(0);
    let mut url = url::Url::parse(&database.url).unwrap();
    url.set_username(&role).unwrap();
    url.set_password(None).unwrap();
    let as_role = |project: &TestProject| {
        crate::support::Outcome::of(
            project.command().env("PRAXIA_ENV", "test").env("DATABASE_URL", url.as_str()).arg("release"),
        )
    };
    let outcome = as_role(&project);
    outcome.expect_code(0).expect_stdout_contains("nothing to do");
    assert!(!outcome.stderr.contains("drift"), "{}", outcome.stderr);
    execute(&database, "ALTER TABLE note ALTER COLUMN score SET DEFAULT 7").await;
    as_role(&project)
        .expect_code(3)
        .expect_stderr_contains("drift: column public.note.score: default: migrations make none, the database has 7");
}

#[tokio::test]
async fn a_release_never_runs_migrations_again_on_the_live_server() {
    // The issue's case: a migration changes a role, someone changes it back by hand;
    // the next release (an unrelated migration) must not touch the role.
    let database = test_postgres().fresh_database();
    let role = format!("analytics_{}", database.name);
    execute(&database, &format!("CREATE ROLE {role} NOLOGIN")).await;
    let first = format!("ALTER ROLE \"{role}\" WITH LOGIN;");
    let project = TestProject::with_migrations(&[("0000_role", 1_700_000_000_000, &first)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    execute(&database, &format!("ALTER ROLE {role} NOLOGIN")).await;
    on_release(&project, "warn");
    project.set_migrations(&[
        ("0000_role", 1_700_000_000_000, &first),
        ("0001_more", 1_700_000_001_000, "CREATE TABLE \"more\" (\"id\" int);"),
    ]);
    project.run_on(&database, &["release"]).expect_code(0).expect_stderr_contains("drift: not checked");
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let can_login: bool = sqlx::query_scalar("SELECT rolcanlogin FROM pg_roles WHERE rolname = $1")
        .bind(&role)
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert!(!can_login, "the role was changed on the live server");

    // Recording it on a shared server is refused, with the migration and line.
    project
        .run_on(&database, &["drift", "--record", "--shadow-url", &test_postgres().shadow_url()])
        .expect_code(2)
        .expect_stderr_contains("the applied migrations reach beyond their database")
        .expect_stderr_contains("0000_role.sql:1")
        .expect_stderr_contains("a role (CREATE/ALTER/DROP ROLE)");
    project
        .run_on(&database, &["drift", "--shadow-url", &test_postgres().shadow_url()])
        .expect_code(2)
        .expect_stderr_contains("they are not replayed on the --shadow-url server");
}

#[tokio::test]
async fn a_migration_that_makes_roles_is_replayed_on_a_cluster_of_the_tools_own() {
    let database = test_postgres().fresh_database();
    let role = format!("reporting_{}", database.name);
    let sql = format!(
        "CREATE ROLE \"{role}\" NOLOGIN;\n--> statement-breakpoint\nCREATE TABLE \"report\" (\"id\" int);\n--> statement-breakpoint\nGRANT SELECT ON \"report\" TO \"{role}\";"
    );
    let project = TestProject::with_migrations(&[("0000_roles", 1_700_000_000_000, &sql)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    let outcome = project.run_on(&database, &["drift"]);
    outcome
        .expect_code(0)
        .expect_stdout_contains("no drift")
        .expect_stderr_contains("replaying on a PostgreSQL cluster made for this replay");
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("praxia-replay-"))
        .collect();
    assert!(leftovers.is_empty(), "the replay's cluster is removed: {leftovers:?}");
}

#[tokio::test]
async fn only_scratch_databases_the_tool_provably_made_are_swept() {
    let database = test_postgres().fresh_database();
    let project = project();
    project.run_on(&database, &["migrate"]).expect_code(0);
    let suffix = &database.name[database.name.len().saturating_sub(8)..];
    let uuid = format!("{:0>32}", suffix.replace(|c: char| !c.is_ascii_hexdigit(), "0"));
    let stale = format!("praxia_drift_1000000000_{uuid}");
    let look_alikes = [
        format!("praxia_drift_2024_archive_{suffix}"),
        format!("praxia_drift_1000000001_{uuid}"),
        format!("praxia_drift_1000000002_{uuid}"),
        format!("praxia_drift_1000000003_{uuid}_copy"),
    ];
    // Owned by the replay's role, so that only the sweep's proof keeps them.
    let _ = test_postgres().shadow_url();
    for name in look_alikes.iter().chain([&stale]) {
        execute(&database, &format!("CREATE DATABASE \"{name}\" OWNER praxia_shadow")).await;
    }
    // Ours: the mark a replay writes. Not ours: no comment, another comment.
    execute(
        &database,
        &format!(
            "COMMENT ON DATABASE \"{stale}\" IS 'praxia-deploy scratch database {stale}, dropped when its run ends'"
        ),
    )
    .await;
    execute(
        &database,
        &format!(
            "COMMENT ON DATABASE \"{}\" IS 'praxia-deploy scratch database somewhere else, dropped when its run ends'",
            look_alikes[2]
        ),
    )
    .await;
    // Any drift on this server sweeps (tests run at once): whichever did, only ours went.
    drift(&project, &database).expect_code(0);
    let left = scratch_databases(&database).await;
    for name in &look_alikes {
        assert!(left.contains(name), "{name} was dropped: {left:?}");
        execute(&database, &format!("DROP DATABASE \"{name}\"")).await;
    }
    assert!(!left.contains(&stale), "{left:?}");
}

#[tokio::test]
async fn long_names_and_many_constraints_give_the_same_answer_every_time() {
    let sql = r#"CREATE TABLE "users" ("id" text PRIMARY KEY NOT NULL);
--> statement-breakpoint
CREATE TABLE "user_memory_persona_documents" ("id" text PRIMARY KEY NOT NULL, "user_id" text, "other_user_id" text, "reviewer_user_id" text, "score" integer);
--> statement-breakpoint
ALTER TABLE "user_memory_persona_documents" ADD CONSTRAINT "user_memory_persona_documents_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade;
--> statement-breakpoint
ALTER TABLE "user_memory_persona_documents" ADD CONSTRAINT "user_memory_persona_documents_other_user_id_users_id_fk" FOREIGN KEY ("other_user_id") REFERENCES "public"."users"("id");
--> statement-breakpoint
ALTER TABLE "user_memory_persona_documents" ADD CONSTRAINT "user_memory_persona_documents_reviewer_user_id_users_id_fk" FOREIGN KEY ("reviewer_user_id") REFERENCES "public"."users"("id") ON DELETE set null;
--> statement-breakpoint
ALTER TABLE "user_memory_persona_documents" ADD CONSTRAINT "user_memory_persona_documents_score_is_positive_check" CHECK ("score" > 0);
--> statement-breakpoint
CREATE INDEX "user_memory_persona_documents_user_id_and_reviewer_user_id_idx" ON "user_memory_persona_documents" ("user_id", "reviewer_user_id");"#;
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_long", 1_700_000_000_000, sql)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    for run in 0..20 {
        let outcome = drift(&project, &database);
        assert_eq!(outcome.code, 0, "run {run}: {}", outcome.stdout);
    }
    execute(&database, "ALTER TABLE user_memory_persona_documents DROP CONSTRAINT user_memory_persona_documents_reviewer_user_id_users_id_fk").await;
    let first = drift(&project, &database);
    first.expect_code(11);
    for _ in 0..5 {
        assert_eq!(drift(&project, &database).stdout, first.stdout);
    }
    assert_eq!(
        reported(&first),
        [(
            "constraint".to_owned(),
            "public.user_memory_persona_documents.user_memory_persona_documents_reviewer_user_id_users_id_fk"
                .to_owned(),
            None
        )]
    );
}

#[tokio::test]
async fn renames_are_fixed_by_rename_and_what_would_lose_data_is_never_offered() {
    let database = test_postgres().fresh_database();
    let project = project();
    project.run_on(&database, &["migrate"]).expect_code(0);
    execute(&database, "INSERT INTO organization (id, name) VALUES ('o', 'Org'); INSERT INTO note (id, organization_id, body) SELECT 'n' || i, 'o', 'text ' || i FROM generate_series(1, 100) i").await;
    execute(
        &database,
        "ALTER TABLE note RENAME COLUMN body TO text_body; ALTER TABLE organization RENAME TO organisation",
    )
    .await;
    let human = project.run_on(&database, &["drift", "--shadow-url", &test_postgres().shadow_url()]);
    human
        .expect_code(11)
        .expect_stdout_contains("  fix: ALTER TABLE public.organisation RENAME TO organization;")
        .expect_stdout_contains("  fix: ALTER TABLE public.note RENAME COLUMN text_body TO body;");
    assert!(!human.stdout.contains("DROP"), "{}", human.stdout);
    let outcome = drift(&project, &database);
    fixes_bring_it_back(&project, &database, &outcome, "the renames").await;
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let kept: i64 = sqlx::query_scalar("SELECT count(*) FROM note WHERE body LIKE 'text %'")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(kept, 100, "the values are where they were");

    // A column made by hand: what would put it back loses data. A type narrowed by
    // hand is widened back: that loses nothing.
    execute(
        &database,
        "ALTER TABLE note ADD COLUMN extra text; ALTER TABLE organization ALTER COLUMN name TYPE varchar(10)",
    )
    .await;
    project
        .run_on(&database, &["drift", "--shadow-url", &test_postgres().shadow_url()])
        .expect_code(11)
        .expect_stdout_contains("no fix offered: putting it back would destroy the column and its values")
        .expect_stdout_contains("  -- ALTER TABLE public.note DROP COLUMN extra;")
        .expect_stdout_contains("  fix: ALTER TABLE public.organization ALTER COLUMN name TYPE text;");
    let document = drift(&project, &database).json();
    let extra = document["result"]["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|difference| difference["name"] == "public.note.extra")
        .unwrap()
        .clone();
    assert!(extra["fix"].is_null(), "{extra}");
    assert_eq!(extra["destructive"]["sql"], "ALTER TABLE public.note DROP COLUMN extra;");
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
        ("CREATE TABLE drizzle.hidden (id int)", ("table", "drizzle.hidden", None), None),
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
        fixes_bring_it_back(&project, &database, &outcome, change).await;
    }
}

#[tokio::test]
async fn a_first_release_is_not_refused_and_without_a_record_warn_only_warns() {
    let database = test_postgres().fresh_database();
    let project = project();
    on_release(&project, "refuse");
    // Nothing applied yet: nothing to compare, and no record is needed.
    project.run_on(&database, &["release"]).expect_code(0).expect_stdout_contains("applied 1 migration");

    let other = test_postgres().fresh_database();
    on_release(&project, "warn");
    project.run_on(&other, &["migrate"]).expect_code(0);
    project
        .run_on(&other, &["release"])
        .expect_code(0)
        .expect_stderr_contains("drift: not checked: no expected schema is recorded")
        .expect_stderr_contains("drift/expected-schema.json does not exist");
}

#[tokio::test]
async fn another_environments_database_is_refused_before_drift_writes_anything() {
    let database = test_postgres().fresh_database();
    let project = project();
    project.run_on(&database, &["migrate"]).expect_code(0);
    let environment = crate::support::project::TEST_ENVIRONMENT;
    project.file("environments/other.toml", &format!("{environment}\n[drift]\non_release = \"warn\"\n"));
    project
        .run_on(&database, &["--env", "other", "drift", "--record", "--shadow-url", &test_postgres().shadow_url()])
        .expect_code(0);
    project
        .run_on(&database, &["--env", "other", "release"])
        .expect_code(3)
        .expect_stderr_contains("belongs to the `test` environment");
    let mut connection = PgConnection::connect(&database.url).await.unwrap();
    let kept: Option<String> = sqlx::query_scalar("SELECT to_regclass('praxia_deploy.drift_expected')::text")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(kept, None, "nothing written for a database that is not this environment's");
}

#[tokio::test]
async fn with_the_bookkeeping_table_in_public_public_is_still_compared() {
    let database = test_postgres().fresh_database();
    let project = project();
    let environment = crate::support::project::TEST_ENVIRONMENT;
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
    let outcome = project.run_on(&database, &["drift", "--shadow-url", &test_postgres().shadow_url()]);
    outcome
        .expect_code(11)
        .expect_stdout_contains("migrations: applied migration")
        .expect_stdout_contains("table public.more: in the database, not made by the migrations")
        .expect_stdout_contains("no fixes are offered");
    assert!(!outcome.stdout.contains("fix: DROP"), "{}", outcome.stdout);
}

/// A range type, a text search configuration, a collation, an operator and a cast
/// made by the migrations: replayed, they compare equal (a range type as one
/// object, never as its constructor functions); made or changed by hand, each is
/// one difference.
const CATALOG_KINDS: &str = r#"CREATE TYPE "float_range" AS RANGE (subtype = float8);
--> statement-breakpoint
CREATE COLLATION "plain" (locale = 'C');
--> statement-breakpoint
CREATE TEXT SEARCH CONFIGURATION "notes_search" (COPY = english);
--> statement-breakpoint
CREATE FUNCTION "same_score"(integer, integer) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 = $2 $$;
--> statement-breakpoint
CREATE OPERATOR === (LEFTARG = integer, RIGHTARG = integer, FUNCTION = "same_score");
--> statement-breakpoint
CREATE CAST (integer AS "role") WITH INOUT;"#;

#[tokio::test]
async fn operators_collations_text_search_casts_ranges_and_storage_settings_are_compared() {
    let migrations = [("0000_base", 1_700_000_000_000, BASE), ("0001_kinds", 1_700_000_001_000, CATALOG_KINDS)];
    let cases: [(&str, (&str, &str)); 8] = [
        ("DROP TYPE float_range", ("range type", "public.float_range")),
        ("CREATE COLLATION by_hand (locale = 'C')", ("collation", "public.by_hand")),
        (
            "ALTER TEXT SEARCH CONFIGURATION notes_search DROP MAPPING FOR word",
            ("text search configuration", "public.notes_search"),
        ),
        (
            "CREATE OPERATOR !== (LEFTARG = integer, RIGHTARG = integer, FUNCTION = int4ne)",
            ("operator", "public.!==(integer,integer)"),
        ),
        ("DROP CAST (integer AS role)", ("cast", "integer AS public.role")),
        ("CREATE CAST (text AS role) WITH INOUT", ("cast", "text AS public.role")),
        ("ALTER INDEX note_body_idx SET (fillfactor = 50)", ("index", "public.note_body_idx")),
        ("ALTER TABLE note ALTER COLUMN body SET COMPRESSION pglz", ("column", "public.note.body")),
    ];
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&migrations);
    project.run_on(&database, &["migrate"]).expect_code(0);
    let clean = drift(&project, &database);
    clean.expect_code(0);
    for (change, (kind, name)) in cases {
        let database = test_postgres().fresh_database();
        project.run_on(&database, &["migrate"]).expect_code(0);
        execute(&database, change).await;
        let outcome = drift(&project, &database);
        outcome.expect_code(11);
        let found: Vec<(String, String)> = reported(&outcome).into_iter().map(|(kind, name, _)| (kind, name)).collect();
        assert_eq!(found, [(kind.to_owned(), name.to_owned())], "after `{change}`");
        fixes_bring_it_back(&project, &database, &outcome, change).await;
    }
}

#[tokio::test]
async fn the_shipped_expected_schema_is_what_the_shipped_migrations_make() {
    let database = test_postgres().fresh_database();
    let shipped = TestProject::from_repo();
    let file = shipped.path().join("drift/expected-schema.json");
    let before = std::fs::read_to_string(&file).unwrap();
    shipped
        .run_on(&database, &["--env", "production", "drift", "--record", "--shadow-url", &test_postgres().shadow_url()])
        .expect_code(0)
        .expect_stdout_contains("recorded the schema of 2 migrations on PostgreSQL 15");
    let after = std::fs::read_to_string(&file).unwrap();
    assert!(
        before == after,
        "drift/expected-schema.json is not what the migrations make: run `praxia-deploy drift --record --env production` and commit it"
    );
}

#[tokio::test]
async fn fixes_are_printed_in_an_order_that_applies_and_publications_compare_whole() {
    let database = test_postgres().fresh_database();
    let sql = format!("{BASE}\n--> statement-breakpoint\nCREATE PUBLICATION \"everything\" FOR ALL TABLES;");
    let project = TestProject::with_migrations(&[("0000_base", 1_700_000_000_000, &sql)]);
    on_release(&project, "refuse");
    // A FOR ALL TABLES publication needs a superuser: replayed on the embedded cluster.
    project.run_on(&database, &["drift", "--record"]).expect_code(0);
    project.run_on(&database, &["release"]).expect_code(0);
    // What an app does to its tables never reads as drift.
    execute(&database, "INSERT INTO organization VALUES ('o', 'Org'); TRUNCATE note; TRUNCATE organization CASCADE")
        .await;
    project.run_on(&database, &["drift"]).expect_code(0);
    project.run_on(&database, &["release"]).expect_code(0);
    project.run_on(&database, &["release"]).expect_code(0);

    // A trigger and its function made by hand: the trigger's drop comes first.
    execute(&database, "CREATE FUNCTION by_hand() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$; CREATE TRIGGER by_hand BEFORE INSERT ON organization FOR EACH ROW EXECUTE FUNCTION by_hand()").await;
    let outcome = project.run_on(&database, &["--output", "json", "drift"]);
    outcome.expect_code(11);
    let fixes: Vec<String> = outcome.json()["result"]["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|difference| difference["fix"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(fixes, ["DROP TRIGGER by_hand ON public.organization;", "DROP FUNCTION public.by_hand();"]);
    for fix in &fixes {
        execute(&database, fix).await;
    }
    project.run_on(&database, &["drift"]).expect_code(0);
}

#[tokio::test]
async fn a_production_replay_is_never_sent_to_the_production_server() {
    let database = test_postgres().fresh_database();
    let project = project();
    project.file("environments/live.toml", "kind = \"production\"\n\n[database]\nwait = \"5s\"\n");
    project.run_on(&database, &["--env", "live", "migrate", "--yes"]).expect_code(0);
    project
        .run_on(&database, &["--env", "live", "drift", "--shadow-url", &database.url])
        .expect_code(2)
        .expect_stderr_contains("--shadow-url reaches the production database's own server");
}

#[tokio::test]
async fn a_column_renamed_on_a_partitioned_table_is_one_rename() {
    let sql = r#"CREATE TABLE "event" ("id" bigint NOT NULL, "ts" timestamptz NOT NULL, "payload" text) PARTITION BY RANGE ("ts");
--> statement-breakpoint
CREATE TABLE "event_2025" PARTITION OF "event" FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
--> statement-breakpoint
CREATE TABLE "event_2026" PARTITION OF "event" FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
--> statement-breakpoint
CREATE INDEX "event_ts_idx" ON "event" ("ts");"#;
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_events", 1_700_000_000_000, sql)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    execute(&database, "ALTER TABLE event RENAME COLUMN payload TO body").await;
    let outcome = drift(&project, &database);
    outcome.expect_code(11);
    assert_eq!(reported(&outcome), [("column".to_owned(), "public.event.payload".to_owned(), Some("name".to_owned()))]);
    fixes_bring_it_back(&project, &database, &outcome, "a partitioned table's column renamed").await;
    // The partition key's column: its index and the key itself follow the rename.
    execute(&database, "ALTER TABLE event RENAME COLUMN ts TO happened_at").await;
    let outcome = drift(&project, &database);
    assert_eq!(reported(&outcome), [("column".to_owned(), "public.event.ts".to_owned(), Some("name".to_owned()))]);
    fixes_bring_it_back(&project, &database, &outcome, "the partition key's column renamed").await;
}

#[tokio::test]
async fn a_shadow_role_that_could_change_the_server_is_refused() {
    // Whatever a migration runs (a function, dynamic SQL, a C symbol), a replay
    // on a shared server runs as the --shadow-url role: it must not be able to
    // change that server beyond the databases it makes.
    let database = test_postgres().fresh_database();
    let project = project();
    project.run_on(&database, &["migrate"]).expect_code(0);
    project
        .run_on(&database, &["drift", "--shadow-url", &database.url])
        .expect_code(2)
        .expect_stderr_contains("the --shadow-url role may change that server beyond the databases it makes")
        .expect_stderr_contains("superuser (postgres)")
        .expect_stderr_contains("CREATE ROLE praxia_shadow LOGIN CREATEDB");
    assert!(
        !scratch_databases(&database).await.iter().any(|name| name.ends_with(&database.name)),
        "nothing was created"
    );
    // Powers it may take with SET ROLE count, inherited or not.
    let (member, powerful) = (format!("member_{}", database.name), format!("powerful_{}", database.name));
    execute(
        &database,
        &format!(
            "CREATE ROLE {powerful} SUPERUSER NOLOGIN; CREATE ROLE {member} LOGIN CREATEDB NOINHERIT; GRANT {powerful} TO {member}; GRANT pg_signal_backend TO {member}"
        ),
    )
    .await;
    let mut url = url::Url::parse(&test_postgres().shadow_url()).unwrap();
    url.set_username(&member).unwrap();
    project
        .run_on(&database, &["drift", "--shadow-url", url.as_str()])
        .expect_code(2)
        .expect_stderr_contains(&format!("it has: pg_signal_backend, superuser ({powerful})"));
}

#[tokio::test]
async fn names_with_dots_are_never_taken_for_one_another() {
    let sql = r#"CREATE SCHEMA "a.b";
--> statement-breakpoint
CREATE SCHEMA "a";
--> statement-breakpoint
CREATE TABLE "a.b"."c" ("id" int PRIMARY KEY);
--> statement-breakpoint
CREATE TABLE "a"."b.c" ("id" int PRIMARY KEY);
--> statement-breakpoint
CREATE TABLE "t" ("x.y" text);
--> statement-breakpoint
CREATE TABLE "t.x" ("y" text);"#;
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[("0000_dots", 1_700_000_000_000, sql)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    drift(&project, &database).expect_code(0);
    execute(&database, "DROP TABLE \"a.b\".c; ALTER TABLE \"t.x\" DROP COLUMN y").await;
    let outcome = drift(&project, &database);
    outcome.expect_code(11);
    assert_eq!(
        reported(&outcome),
        [
            ("table".to_owned(), "\"a.b\".c".to_owned(), None),
            ("column".to_owned(), "public.\"t.x\".y".to_owned(), None),
        ]
    );
}

#[tokio::test]
async fn fixes_over_views_of_views_and_keys_under_foreign_keys_apply_in_the_order_printed() {
    for change in [
        "CREATE VIEW a_top AS SELECT id FROM note; CREATE VIEW b_top AS SELECT id FROM a_top",
        "ALTER TABLE organization DROP CONSTRAINT organization_pkey CASCADE",
        "CREATE FUNCTION pick() RETURNS integer LANGUAGE sql AS $$ SELECT 1 $$; ALTER TABLE note ALTER COLUMN score SET DEFAULT pick()",
    ] {
        let database = test_postgres().fresh_database();
        let project = project();
        project.run_on(&database, &["migrate"]).expect_code(0);
        execute(&database, change).await;
        let outcome = drift(&project, &database);
        outcome.expect_code(11);
        fixes_bring_it_back(&project, &database, &outcome, change).await;
    }
}

#[tokio::test]
async fn ci_can_check_that_the_recorded_schema_is_the_folders() {
    let database = test_postgres().fresh_database();
    let project = project();
    project
        .run(&["--env", "test", "drift", "--record", "--check"])
        .expect_code(4)
        .expect_stderr_contains("drift/expected-schema.json does not hold the schema of the folder's 1 migration")
        .expect_stderr_contains("praxia-deploy drift --record --env test");
    record(&project, &database);
    project
        .run(&["--env", "test", "drift", "--record", "--check"])
        .expect_code(0)
        .expect_stdout_contains("holds the schema of the folder's 1 migration (PostgreSQL 15)");
    project.set_migrations(&[
        ("0000_base", 1_700_000_000_000, BASE),
        ("0001_more", 1_700_000_001_000, "CREATE TABLE \"more\" (\"id\" int);"),
    ]);
    project.run(&["--env", "test", "drift", "--record", "--check"]).expect_code(4);
}

#[tokio::test]
async fn a_replay_that_fails_says_which_migrations_it_had_committed() {
    // A hand-made table the replay's scratch database lacks: the third migration
    // fails there, after the first two (one of them alone, outside a transaction) committed.
    let database = test_postgres().fresh_database();
    execute(&database, "CREATE TABLE handmade (id int);").await;
    let project = TestProject::with_migrations(&[
        ("0000_a", 1_700_000_000_000, "CREATE TABLE a (id int);"),
        ("0001_idx", 1_700_000_001_000, "CREATE INDEX CONCURRENTLY a_id ON a (id);"),
        ("0002_hand", 1_700_000_002_000, "ALTER TABLE handmade ADD COLUMN x int;"),
    ]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    project
        .run_on(&database, &["drift", "--shadow-url", &test_postgres().shadow_url()])
        .expect_code(6)
        .expect_stderr_contains("committed before it: 0000_a, 0001_idx");
}
