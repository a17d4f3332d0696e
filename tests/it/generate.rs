//! `generate NAME`: the project's own drizzle-kit (here the pinned 0.31 of
//! tests/interop, linked in as the project's node_modules) generates the next
//! migration from the TypeScript schema; praxia-deploy then reviews it and says
//! how it will run.

use crate::support::project::{link_drizzle_kit, repo_root};
use crate::support::{TestProject, test_postgres};

const CONFIG: &str = "import { defineConfig } from \"drizzle-kit\";\n\
export default defineConfig({ dialect: \"postgresql\", schema: \"./schema/index.ts\", out: \"./migrations\" });\n";

/// The repository's folder and schema, with drizzle-kit installed as a project installs it.
fn project() -> TestProject {
    let project = TestProject::from_repo();
    for file in ["index.ts", "auth.ts", "praxia.ts"] {
        let text = std::fs::read_to_string(repo_root().join("schema").join(file)).unwrap();
        project.file(&format!("schema/{file}"), &text);
    }
    project.file("drizzle.config.ts", CONFIG);
    link_drizzle_kit(project.path());
    project
}

fn add_to_schema(project: &TestProject, typescript: &str) {
    let path = project.path().join("schema/praxia.ts");
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(typescript);
    std::fs::write(path, text).unwrap();
}

#[test]
fn generate_writes_the_next_migration_with_drizzle_kit_then_reviews_it() {
    let project = project();
    project
        .run(&["--env", "test", "generate", "nothing_yet"])
        .expect_code(0)
        .expect_stdout_contains("no schema changes: drizzle-kit generated nothing");
    add_to_schema(
        &project,
        "\nexport const coachNote = pgTable(\"coach_note\", {\n  id: uuid(\"id\").primaryKey().defaultRandom(),\n  body: text(\"body\").notNull(),\n});\n",
    );
    let outcome = project.run(&["--env", "test", "--output", "json", "generate", "add_coach_notes"]);
    let document = outcome.expect_code(0).json();
    assert_eq!(document["result"]["generated"][0]["tag"], "0002_add_coach_notes", "{document}");
    assert_eq!(document["result"]["errors"], 0);
    let sql = std::fs::read_to_string(project.path().join("migrations/0002_add_coach_notes.sql")).unwrap();
    assert!(sql.contains("CREATE TABLE \"coach_note\""), "{sql}");
    project.run(&["--env", "test", "status"]).expect_code(0).expect_stdout_contains("0002_add_coach_notes");

    // Dropping a column: drizzle-kit writes it, the review stops it (exit 10) and says the safe way.
    let path = project.path().join("schema/praxia.ts");
    let text = std::fs::read_to_string(&path).unwrap().replace("  body: text(\"body\").notNull(),\n", "");
    std::fs::write(&path, text).unwrap();
    project
        .run(&["--env", "test", "generate", "drop_body"])
        .expect_code(10)
        .expect_stdout_contains("created ")
        .expect_stdout_contains("error[ban-drop-column]")
        .expect_stdout_contains("-- 0003_drop_body (")
        .expect_stdout_contains("(2 at error level); not applied anywhere: edit it, or acknowledge the finding")
        .expect_stderr_contains("the new migration has 2 findings at error level");
}

#[test]
fn without_drizzle_kit_or_a_config_it_says_what_to_install_or_set() {
    let project = project();
    std::fs::remove_file(project.path().join("node_modules")).unwrap();
    project
        .run(&["--env", "test", "generate", "x"])
        .expect_code(2)
        .expect_stderr_contains("drizzle-kit is not installed for")
        .expect_stderr_contains("npm install --save-dev drizzle-kit");
    std::fs::remove_file(project.path().join("drizzle.config.ts")).unwrap();
    project
        .run(&["--env", "test", "generate", "x"])
        .expect_code(2)
        .expect_stderr_contains("no drizzle config in")
        .expect_stderr_contains("[migrations] drizzle_config");
    // --custom is `new`: no drizzle-kit needed.
    project
        .run(&["--env", "test", "generate", "--custom", "backfill_roles"])
        .expect_code(0)
        .expect_stdout_contains("0002_backfill_roles.sql");
    project
        .run(&["--env", "test", "generate", "Bad-Name"])
        .expect_code(2)
        .expect_stderr_contains("is not a migration name");
}

/// The authoring loop with the rewrite: drizzle-kit generates an index on an
/// existing table, `lint --fix --write` makes it lock-safe, and drizzle's own
/// tools still agree: generate finds no schema change, check passes, drizzle's
/// migrator applies the folder, and so does praxia-deploy.
#[test]
fn a_generated_index_fixed_by_lint_keeps_drizzle_kit_and_both_migrators_content() {
    let project = project();
    let path = project.path().join("schema/praxia.ts");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "(table) => [unique(\"organization_slug_unique\").on(table.slug)],",
        "(table) => [unique(\"organization_slug_unique\").on(table.slug), index(\"organization_name_idx\").on(table.name)],",
    );
    std::fs::write(&path, text).unwrap();
    project
        .run(&["--env", "test", "generate", "organization_name_index"])
        .expect_code(10)
        .expect_stderr_contains("`praxia-deploy lint --fix 0002_organization_name_index --write` rewrites what it can");
    let file = project.path().join("migrations/0002_organization_name_index.sql");
    assert!(std::fs::read_to_string(&file).unwrap().contains("CREATE INDEX \"organization_name_idx\""));

    project
        .run(&["--env", "test", "lint", "--fix", "0002", "--write"])
        .expect_code(0)
        .expect_stdout_contains("wrote 1 file");
    assert!(std::fs::read_to_string(&file).unwrap().contains("CREATE INDEX CONCURRENTLY \"organization_name_idx\""));

    project
        .run(&["--env", "test", "generate", "after_fix"])
        .expect_code(0)
        .expect_stdout_contains("no schema changes: drizzle-kit generated nothing");
    let check = std::process::Command::new(project.path().join("node_modules/.bin/drizzle-kit"))
        .args(["check", "--config", "drizzle.config.ts"])
        .current_dir(project.path())
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&check.stdout), String::from_utf8_lossy(&check.stderr));
    assert!(check.status.success() && said.contains("Everything's fine"), "drizzle-kit check: {said}");
    let drizzle = test_postgres().fresh_database();
    crate::support::drizzle::Drizzle::V0.migrate(&drizzle, &project.path().join("migrations"));
    let database = test_postgres().fresh_database();
    project.run_on(&database, &["migrate"]).expect_code(0).expect_stdout_contains("ran 0002_organization_name_index");
}
