//! The lock-safe rewrite (`review::rewrite_lock_safe`, under issue 26's `lint
//! --fix`) leaves the schema the original migration leaves: each is applied to
//! a fresh database, by praxia-deploy and by drizzle's migrator, and the
//! databases' `pg_dump --schema-only` compared.

use praxia_deploy::review::{Earlier, Outcome, Recipe, rewrite_lock_safe};

use crate::support::drizzle::Drizzle;
use crate::support::{TestDatabase, TestProject, test_postgres};

/// Existing tables, with rows that satisfy what the next migration adds.
const TABLES: (&str, i64, &str) = (
    "0000_tables",
    1000,
    concat!(
        "CREATE TABLE \"organization\" (\"id\" integer PRIMARY KEY);--> statement-breakpoint\n",
        "CREATE TABLE \"profile\" (\"id\" integer PRIMARY KEY, \"organization_id\" integer, \"nick\" text, \"age\" integer);--> statement-breakpoint\n",
        "CREATE INDEX \"profile_old_idx\" ON \"profile\" USING btree (\"age\");--> statement-breakpoint\n",
        "INSERT INTO \"organization\" VALUES (1);--> statement-breakpoint\n",
        "INSERT INTO \"profile\" SELECT g, 1, 'n' || g, g FROM generate_series(1, 50) g;",
    ),
);

/// drizzle-kit 0.31's output for one change of every recipe.
const CHANGE: &str = concat!(
    "ALTER TABLE \"profile\" ALTER COLUMN \"nick\" SET NOT NULL;--> statement-breakpoint\n",
    "ALTER TABLE \"profile\" ADD CONSTRAINT \"profile_nick_unique\" UNIQUE(\"nick\");--> statement-breakpoint\n",
    "ALTER TABLE \"profile\" ADD CONSTRAINT \"profile_org_age_unique\" UNIQUE NULLS NOT DISTINCT(\"organization_id\",\"age\");--> statement-breakpoint\n",
    "ALTER TABLE \"profile\" ADD CONSTRAINT \"profile_organization_id_organization_id_fk\" FOREIGN KEY (\"organization_id\") REFERENCES \"public\".\"organization\"(\"id\") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint\n",
    "ALTER TABLE \"public\".\"profile\" ADD CONSTRAINT \"profile_age_check\" CHECK (\"profile\".\"age\" > 0);--> statement-breakpoint\n",
    "DO $$ BEGIN\n ALTER TABLE \"profile\" ADD CONSTRAINT \"profile_age_max\" CHECK (\"profile\".\"age\" < 1000);\nEXCEPTION\n WHEN duplicate_object THEN null;\nEND $$;\n--> statement-breakpoint\n",
    "CREATE INDEX \"profile_nick_idx\" ON \"profile\" USING btree (\"nick\");--> statement-breakpoint\n",
    "DROP INDEX \"profile_old_idx\";",
);

#[test]
fn the_rewritten_migration_leaves_the_schema_the_original_leaves() {
    let fixed = rewrite_lock_safe(CHANGE, &Earlier::default());
    let recipes: Vec<Outcome> = fixed.statements.iter().map(|s| s.outcome.clone()).collect();
    assert_eq!(
        recipes,
        [
            Outcome::Rewritten(Recipe::NotNullThroughCheck),
            Outcome::Rewritten(Recipe::UniqueThroughConcurrentIndex),
            Outcome::Rewritten(Recipe::UniqueThroughConcurrentIndex),
            Outcome::Rewritten(Recipe::NotValidConstraint),
            Outcome::Rewritten(Recipe::NotValidConstraint),
            Outcome::Rewritten(Recipe::NotValidConstraint),
            Outcome::Rewritten(Recipe::ConcurrentIndex),
            Outcome::Rewritten(Recipe::ConcurrentDropIndex),
        ]
    );

    let expected = migrated_by_praxia_deploy(CHANGE).schema_dump();
    assert!(expected.contains("profile_nick_unique"), "the change was applied:\n{expected}");
    assert!(expected.contains("UNIQUE NULLS NOT DISTINCT"), "{expected}");
    assert_eq!(migrated_by_praxia_deploy(&fixed.sql).schema_dump(), expected);
    assert_eq!(migrated_by_drizzle(&fixed.sql).schema_dump(), expected);
}

/// drizzle 1.0's layout, fixed by `lint --fix --write` as a user runs it: the
/// folder written is applied by drizzle-orm 1.0's migrator and by praxia-deploy,
/// and both leave the schema the original change leaves.
#[test]
fn a_drizzle_1_folder_fixed_by_lint_is_applied_by_drizzle_1s_migrator() {
    let expected = migrated_by_praxia_deploy(CHANGE).schema_dump();
    let project = TestProject::with_migrations(&[]);
    project.set_folders(&[("20250101000000_tables", TABLES.2), ("20250102000000_change", CHANGE)]);
    project
        .run(&["--env", "test", "lint", "--fix", "20250102000000_change", "--write"])
        .expect_code(0)
        .expect_stdout_contains("8 statements rewritten in 1 migration")
        .expect_stdout_contains("--- a/migrations/20250102000000_change/migration.sql")
        .expect_stdout_contains("wrote 1 file");
    let fixed = std::fs::read_to_string(project.path().join("migrations/20250102000000_change/migration.sql")).unwrap();
    assert_eq!(fixed, rewrite_lock_safe(CHANGE, &Earlier::default()).sql);

    let by_drizzle = test_postgres().fresh_database();
    Drizzle::V1.migrate(&by_drizzle, &project.path().join("migrations"));
    assert_eq!(by_drizzle.schema_dump(), expected);
    let by_praxia = test_postgres().fresh_database();
    project.run_on(&by_praxia, &["migrate"]).expect_code(0);
    assert_eq!(by_praxia.schema_dump(), expected);
    // Each sees the other's run as complete.
    project.run_on(&by_drizzle, &["status", "--exit-code"]).expect_code(0);
    Drizzle::V1.migrate(&by_praxia, &project.path().join("migrations"));
    assert_eq!(by_praxia.schema_dump(), expected);
}

fn migrated_by_praxia_deploy(change: &str) -> TestDatabase {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[TABLES, ("0001_change", 2000, change)]);
    project.run_on(&database, &["migrate"]).expect_code(0);
    database
}

fn migrated_by_drizzle(change: &str) -> TestDatabase {
    let database = test_postgres().fresh_database();
    let project = TestProject::with_migrations(&[TABLES, ("0001_change", 2000, change)]);
    Drizzle::V0.migrate(&database, &project.path().join("migrations"));
    database
}
