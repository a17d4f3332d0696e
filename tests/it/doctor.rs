//! `doctor` on the backend team's own repository: environments/ at the root,
//! the drizzle-kit folder under backend/, a Node server as `web:`. What it checks
//! in the deployed image comes from one `dokku run` of `doctor --probe`, through a
//! real sshd and Dokku's forced command; the fake image is a folder apart from
//! the laptop's checkout.

use praxia_deploy::migration_folder::journal::{JOURNAL_PATH, Journal};

use crate::support::TestProject;
use crate::support::sshd::TestDokku;

const APP: &str = "praxia-coaching-app-backend-staging";
/// Never read by doctor; it must never be shown either.
const DATABASE_URL: &str = "postgres://postgres:doctor-never-shows-this@dokku-postgres-praxia:5432/praxia";
const PROCFILE: &str = "release: praxia-deploy release\nweb: node backend/dist/server.js\n";
const MIGRATIONS: [(&str, i64, &str); 2] = [
    ("0000_create_coach", 1_700_000_000_000, "CREATE TABLE coach (id text PRIMARY KEY);"),
    ("0001_add_coach_name", 1_700_000_001_000, "ALTER TABLE coach ADD COLUMN name text;"),
];
const THIRD: (&str, i64, &str) =
    ("0002_add_coach_email", 1_700_000_002_000, "ALTER TABLE coach ADD COLUMN email text;");

/// The backend repository's shape: `environments/staging.toml` naming
/// `[migrations] dir = "backend/drizzle"` (unless `dir` is None), that folder
/// with `migrations`, and `procfile` when given.
fn backend_checkout(
    dokku: &TestDokku,
    dir: Option<&str>,
    migrations: &[(&str, i64, &str)],
    procfile: Option<&str>,
) -> TestProject {
    let project = TestProject::empty();
    let migrations_section = dir.map_or_else(String::new, |dir| format!("[migrations]\ndir = \"{dir}\"\n\n"));
    project.file(
        "environments/staging.toml",
        &format!("kind = \"staging\"\n\n{migrations_section}{}", dokku.section(APP)),
    );
    let folder = project.path().join("backend/drizzle");
    std::fs::create_dir_all(folder.join("meta")).unwrap();
    let mut journal = Journal::empty();
    for (tag, when, sql) in migrations {
        journal.append(tag, *when);
        std::fs::write(folder.join(format!("{tag}.sql")), sql).unwrap();
    }
    std::fs::write(folder.join(JOURNAL_PATH), journal.to_text()).unwrap();
    project.file("backend/dist/server.js", "require('http').createServer().listen(process.env.PORT);\n");
    if let Some(procfile) = procfile {
        project.file("Procfile", procfile);
    }
    project
}

/// The app on the test Dokku, its image being `image`, its config set as the
/// README says (PRAXIA_ENV=staging, DATABASE_URL from postgres:link).
fn deploy(dokku: &TestDokku, image: &TestProject) {
    dokku.add_app(APP, image.path(), Some(DATABASE_URL));
    std::fs::write(dokku.dir.join("apps").join(APP).join("config/PRAXIA_ENV"), "staging").unwrap();
}

/// (name, status, detail) of each check of the JSON document.
fn checks(document: &serde_json::Value) -> Vec<(String, String, String)> {
    document["result"]["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|check| {
            let text = |key: &str| check[key].as_str().unwrap_or_default().to_owned();
            (text("name"), text("status"), text("detail"))
        })
        .collect()
}

fn check(document: &serde_json::Value, name: &str) -> (String, String) {
    let (_, status, detail) = checks(document).into_iter().find(|(found, ..)| found == name).expect(name);
    (status, detail)
}

#[test]
fn the_backend_image_passes_every_check_and_its_files_are_the_ones_read() {
    let dokku = TestDokku::start();
    // The laptop has no Procfile: only the image's counts.
    let laptop = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, None);
    let image = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(PROCFILE));
    deploy(&dokku, &image);

    let outcome = laptop.run(&["--env", "staging", "doctor"]);
    outcome
        .expect_code(0)
        .expect_stdout_contains("ok    ssh")
        .expect_stdout_contains("ok    app           praxia-coaching-app-backend-staging exists")
        .expect_stdout_contains("ok    praxia_env    PRAXIA_ENV is staging")
        .expect_stdout_contains("ok    database_url  DATABASE_URL is set (value not shown)")
        .expect_stdout_contains(&format!(
            "ok    image         praxia-deploy {} runs in the image; project root {}",
            env!("CARGO_PKG_VERSION"),
            image.path().display()
        ))
        .expect_stdout_contains(&format!(
            "ok    procfile      {}/Procfile in the image runs `release: praxia-deploy release` in the release phase",
            image.path().display()
        ))
        .expect_stdout_contains(
            "ok    migrations    backend/drizzle in the image: 2 migrations, drizzle-kit 0.x journal (meta/_journal.json), the same as this checkout's",
        );
    assert!(!outcome.stdout.contains("doctor-never-shows-this") && !outcome.stderr.contains("doctor-never-shows-this"));
    // One `dokku run`, and nothing on it that Dokku would take for its own.
    let runs: Vec<Vec<String>> = dokku.calls().into_iter().filter(|call| call[1] == "run").collect();
    assert_eq!(
        runs,
        [[
            "--quiet",
            "run",
            "--no-tty",
            "--env=PRAXIA_ENV=staging",
            APP,
            "praxia-deploy",
            "doctor",
            "--probe",
            "--output",
            "json",
            "-q"
        ]]
    );

    let document = laptop.run(&["--env", "staging", "--output", "json", "doctor"]).expect_code(0).json();
    let names: Vec<(String, String)> = checks(&document).into_iter().map(|(name, status, _)| (name, status)).collect();
    let expected = ["ssh", "app", "praxia_env", "database_url", "image", "procfile", "migrations"];
    assert_eq!(names, expected.map(|name| (name.to_owned(), "ok".to_owned())));
    assert!(check(&document, "migrations").1.ends_with("the same as this checkout's"));

    // The probe itself, as the container runs it: facts only, no setting's value.
    let probe = image
        .command()
        .env("PRAXIA_ENV", "staging")
        .env("DATABASE_URL", DATABASE_URL)
        .args(["doctor", "--probe", "--output", "json", "-q"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&probe.stdout);
    assert!(probe.status.success(), "{text}");
    assert!(!text.contains("doctor-never-shows-this"), "{text}");
    let facts: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(facts["result"]["procfile"]["release"], "release: praxia-deploy release");
    assert_eq!(facts["result"]["environment"]["migrations"]["dir"], "backend/drizzle");
    assert_eq!(facts["result"]["environment"]["migrations"]["migrations"].as_array().unwrap().len(), 2);
}

#[test]
fn an_image_still_releasing_with_the_old_script_fails_naming_the_line() {
    let dokku = TestDokku::start();
    // The checkout already has the new line; the deployed image does not.
    let laptop = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(PROCFILE));
    let old = "release: node backend/dist/scripts/migrate.js\nweb: node backend/dist/server.js\n";
    let image = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(old));
    deploy(&dokku, &image);

    let expected = format!(
        "{}/Procfile in the image has `release: node backend/dist/scripts/migrate.js`: make it `release: praxia-deploy release`",
        image.path().display()
    );
    laptop
        .run(&["--env", "staging", "doctor"])
        .expect_code(7)
        .expect_stdout_contains(&format!("FAIL  procfile      {expected}"))
        .expect_stdout_contains("ok    migrations")
        .expect_stderr_contains("1 of 7 checks failed for staging");
    let document = laptop.run(&["--env", "staging", "--output", "json", "doctor"]).expect_code(7).json();
    assert_eq!(check(&document, "procfile"), ("fail".to_owned(), expected));
}

/// A secret written into the release line (a password variable, a URL) is masked where doctor names the line.
#[test]
fn a_secret_in_the_images_release_line_is_never_shown() {
    let dokku = TestDokku::start();
    let laptop = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(PROCFILE));
    let old = "release: PGPASSWORD=hunter2-secret node backend/dist/scripts/migrate.js postgres://u:pw-secret@db/app
";
    let image = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(old));
    deploy(&dokku, &image);
    for args in [&["--env", "staging", "doctor"][..], &["--env", "staging", "--output", "json", "doctor"]] {
        let outcome = laptop.run(args);
        outcome.expect_code(7).expect_stdout_contains("release: PGPASSWORD=*** node backend/dist/scripts/migrate.js");
        assert!(!format!("{}{}", outcome.stdout, outcome.stderr).contains("-secret"), "{outcome:?}");
    }
}

#[test]
fn an_environment_naming_a_folder_the_image_lacks_fails_with_the_folder_it_has() {
    let dokku = TestDokku::start();
    // No [migrations] section: the default `migrations`, which this repository does not have.
    let laptop = backend_checkout(&dokku, None, &MIGRATIONS, Some(PROCFILE));
    let image = backend_checkout(&dokku, None, &MIGRATIONS, Some(PROCFILE));
    // A dependency's drizzle folder is not the project's.
    image.file("node_modules/some-orm/drizzle/meta/_journal.json", "{}");
    deploy(&dokku, &image);

    let expected = format!(
        "migrations ([migrations] dir of environments/staging.toml) is not in the image (no {}/migrations): the image has a drizzle folder at backend/drizzle: set [migrations] dir = \"backend/drizzle\" in environments/staging.toml",
        image.path().display()
    );
    laptop
        .run(&["--env", "staging", "doctor"])
        .expect_code(7)
        .expect_stdout_contains(&format!("FAIL  migrations    {expected}"))
        .expect_stdout_contains("ok    procfile");
    let document = laptop.run(&["--env", "staging", "--output", "json", "doctor"]).expect_code(7).json();
    assert_eq!(check(&document, "migrations"), ("fail".to_owned(), expected));

    // Once the environment names it, the check passes.
    for project in [&laptop, &image] {
        let file = project.path().join("environments/staging.toml");
        let text = std::fs::read_to_string(&file).unwrap();
        let named = text.replacen("[dokku]", "[migrations]\ndir = \"backend/drizzle\"\n\n[dokku]", 1);
        std::fs::write(&file, named).unwrap();
    }
    laptop
        .run(&["--env", "staging", "doctor"])
        .expect_code(0)
        .expect_stdout_contains("ok    migrations    backend/drizzle in the image: 2 migrations");
}

#[test]
fn an_image_behind_the_checkout_names_the_migration_to_deploy_and_an_edited_one_fails() {
    let dokku = TestDokku::start();
    let [first, second] = MIGRATIONS;
    let laptop = backend_checkout(&dokku, Some("backend/drizzle"), &[first, second, THIRD], Some(PROCFILE));
    let image = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(PROCFILE));
    deploy(&dokku, &image);

    let behind = "backend/drizzle in the image: 2 migrations, drizzle-kit 0.x journal (meta/_journal.json); the image lacks 0002_add_coach_email (in this checkout): deploy to apply it";
    laptop
        .run(&["--env", "staging", "doctor"])
        .expect_code(0)
        .expect_stdout_contains(&format!("ok    migrations    {behind}"));
    let document = laptop.run(&["--env", "staging", "--output", "json", "doctor"]).expect_code(0).json();
    assert_eq!(check(&document, "migrations"), ("ok".to_owned(), behind.to_owned()));

    // The image's copy of an applied migration is not the checkout's.
    image.file("backend/drizzle/0001_add_coach_name.sql", "ALTER TABLE coach ADD COLUMN name varchar(80);");
    let outcome = laptop.run(&["--env", "staging", "doctor"]);
    outcome
        .expect_code(7)
        .expect_stdout_contains("FAIL  migrations    backend/drizzle in the image: 2 migrations")
        .expect_stdout_contains(
            "the image's 0001_add_coach_name differs from this checkout's: a migration must never change once applied",
        );
}

/// The official Node images' docker-entrypoint.sh (nodejs/docker-node): a first
/// argument that is not a command is run as a script with node.
const NODE_ENTRYPOINT: &str = r#"#!/bin/sh
set -e
if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi
exec "$@"
"#;

#[test]
fn an_image_without_praxia_deploy_on_its_path_fails_with_the_fix() {
    let dokku = TestDokku::start();
    let laptop = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(PROCFILE));
    let image = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(PROCFILE));
    deploy(&dokku, &image);
    // Node and the system's tools, not praxia-deploy.
    dokku.set_image_path(APP, "/usr/local/bin:/usr/bin:/bin");
    let fix = "copy the binary into the image (README: \"Deploying to Dokku\", step 3, \"The binary in the backend's image\")";

    // No ENTRYPOINT: the container's shell says "not found", exit 127.
    let outcome = laptop.run(&["--env", "staging", "doctor"]);
    outcome
        .expect_code(7)
        .expect_stdout_contains("FAIL  image         praxia-deploy is not on the image's PATH (")
        .expect_stdout_contains(fix)
        .expect_stdout_contains("SKIP  procfile      not checked: the image check failed")
        .expect_stdout_contains("SKIP  migrations    not checked: the image check failed")
        .expect_stderr_contains("1 of 7 checks failed for staging, 2 not run");

    // The Node image's entrypoint runs `node praxia-deploy ...`: exit 1, "Cannot find module".
    dokku.set_image_entrypoint(APP, NODE_ENTRYPOINT);
    let document = laptop.run(&["--env", "staging", "--output", "json", "doctor"]).expect_code(7).json();
    let (status, detail) = check(&document, "image");
    assert_eq!(status, "fail");
    assert!(
        detail.starts_with(&format!(
            "praxia-deploy is not on the image's PATH (the image's entrypoint ran it with node: Error: Cannot find module '{}/praxia-deploy'",
            image.path().display()
        )),
        "{detail}"
    );
    assert!(detail.ends_with(fix), "{detail}");
    assert_eq!(check(&document, "procfile").0, "skipped");
    assert_eq!(check(&document, "migrations").0, "skipped");

    // With the binary on the image's PATH, the same entrypoint runs it.
    let bin = image.path().join("usr-local-bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_praxia-deploy"), bin.join("praxia-deploy")).unwrap();
    dokku.set_image_path(APP, &format!("{}:/usr/bin:/bin", bin.display()));
    laptop.run(&["--env", "staging", "doctor"]).expect_code(0).expect_stdout_contains("ok    image");
}

#[test]
fn an_image_with_an_older_praxia_deploy_or_none_deployed_fails_clearly() {
    let dokku = TestDokku::start();
    let laptop = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(PROCFILE));
    let image = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(PROCFILE));
    deploy(&dokku, &image);
    // What a praxia-deploy from before `doctor --probe` prints (clap refuses the flag; --output json).
    let bin = image.path().join("old-bin");
    image.file(
        "old-bin/praxia-deploy",
        "#!/bin/sh\nprintf '%s\\n' '{\"command\":\"\",\"environment\":\"\",\"ok\":false,\"result\":null,\"error\":{\"kind\":\"usage\",\"exit_code\":2,\"message\":\"unexpected argument '\"'\"'--probe'\"'\"' found\",\"notes\":[],\"help\":\"run `praxia-deploy --help` for the usage\"}}'\nexit 2\n",
    );
    std::fs::set_permissions(bin.join("praxia-deploy"), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    dokku.set_image_path(APP, &format!("{}:/usr/bin:/bin", bin.display()));
    laptop
        .run(&["--env", "staging", "doctor"])
        .expect_code(7)
        .expect_stdout_contains(&format!(
            "FAIL  image         the image's praxia-deploy is older than this one ({}) and has no `doctor --probe` (unexpected argument '--probe' found): redeploy with this version in the image",
            env!("CARGO_PKG_VERSION")
        ))
        .expect_stdout_contains("SKIP  procfile");

    dokku.mark_undeployed(APP);
    let document = laptop.run(&["--env", "staging", "--output", "json", "doctor"]).expect_code(7).json();
    assert_eq!(
        check(&document, "image"),
        (
            "fail".to_owned(),
            format!(
                "{APP} has never been deployed, so it has no image to check: deploy it once (`git push dokku main`)"
            )
        )
    );
}

#[test]
fn an_image_without_environments_is_read_from_its_working_directory() {
    let dokku = TestDokku::start();
    let laptop = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(PROCFILE));
    let image = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(PROCFILE));
    std::fs::remove_dir_all(image.path().join("environments")).unwrap();
    deploy(&dokku, &image);

    let root = image.path().display();
    let outcome = laptop.run(&["--env", "staging", "doctor"]);
    outcome
        .expect_code(7)
        .expect_stdout_contains(&format!("no environments/ found, so the project root is its working directory {root}"))
        .expect_stdout_contains(&format!("ok    procfile      {root}/Procfile in the image runs"))
        .expect_stdout_contains(
            "FAIL  migrations    the image's environment staging could not be read (no `environments/` folder in",
        )
        .expect_stdout_contains(
            "copy environments/ into the image (its drizzle folder is backend/drizzle: name it in [migrations] dir)",
        );
}

/// Not only doctor: `migrate`, `status` and `drift` over SSH on an image without
/// the binary say so and how to fix it, rather than "the host has no dokku".
#[test]
fn remote_commands_on_an_image_without_praxia_deploy_say_so() {
    let dokku = TestDokku::start();
    let laptop = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(PROCFILE));
    let image = backend_checkout(&dokku, Some("backend/drizzle"), &MIGRATIONS, Some(PROCFILE));
    deploy(&dokku, &image);
    dokku.set_image_path(APP, "/usr/local/bin:/usr/bin:/bin");
    let said = format!("the image of {APP} has no praxia-deploy on its PATH");
    let fix = "copy the binary into the image (README: \"Deploying to Dokku\", step 3";
    for args in [&["status"][..], &["drift"], &["migrate", "--no-backup"]] {
        let mut command = vec!["--env", "staging"];
        command.extend_from_slice(args);
        laptop.run(&command).expect_code(7).expect_stderr_contains(&said).expect_stderr_contains(fix);
    }
    // The Node image's entrypoint: exit 1 and node's "Cannot find module".
    dokku.set_image_entrypoint(APP, NODE_ENTRYPOINT);
    laptop
        .run(&["--env", "staging", "status"])
        .expect_code(7)
        .expect_stderr_contains("Cannot find module")
        .expect_stderr_contains(&said);
}
