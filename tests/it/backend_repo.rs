//! praxia-deploy inside the backend's own repository (README: "Deploying with the
//! backend"): `environments/` at the root as docs/backend-repo/ has it, the
//! schema in `backend/src/db/schema/`, the drizzle-kit folder `backend/drizzle/`
//! with `backend/drizzle.config.ts` beside it, drizzle-kit installed in
//! `backend/`. The README's commands run from the root and from `backend/`.

use std::process::Command;

use crate::support::project::{copy_tree, link_drizzle_kit, repo_root};
use crate::support::{Outcome, TestProject, test_postgres};

const DRIZZLE_CONFIG: &str = "import { defineConfig } from \"drizzle-kit\";\n\
export default defineConfig({ dialect: \"postgresql\", schema: \"./src/db/schema/index.ts\", out: \"./drizzle\" });\n";

/// docs/backend-repo/ (what the README tells the backend team to add), in a
/// repository laid out as the backend's, with this repository's schema and
/// migrations standing in for the backend's.
fn backend_repository() -> TestProject {
    let project = TestProject::empty();
    copy_tree(&repo_root().join("docs/backend-repo"), project.path());
    project.file("package.json", "{ \"private\": true, \"workspaces\": [\"backend\"] }\n");
    project.file(
        "backend/package.json",
        "{ \"name\": \"backend\", \"private\": true, \"scripts\": { \"build\": \"tsc\" } }\n",
    );
    project.file("backend/drizzle.config.ts", DRIZZLE_CONFIG);
    copy_tree(&repo_root().join("schema"), &project.path().join("backend/src/db/schema"));
    copy_tree(&repo_root().join("migrations"), &project.path().join("backend/drizzle"));
    link_drizzle_kit(&project.path().join("backend"));
    project
}

/// The binary run in `folder` of the checkout, on `url` when one is given.
fn run_in(project: &TestProject, folder: &str, url: Option<&str>, args: &[&str]) -> Outcome {
    let mut command: Command = project.command();
    command.current_dir(project.path().join(folder));
    if let Some(url) = url {
        command.env("DATABASE_URL", url);
    }
    Outcome::of(command.args(args))
}

fn tags(project: &TestProject) -> Vec<String> {
    let journal: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(project.path().join("backend/drizzle/meta/_journal.json")).unwrap(),
    )
    .unwrap();
    journal["entries"].as_array().unwrap().iter().map(|entry| entry["tag"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_readme_commands_work_from_the_root_and_from_backend() {
    let project = backend_repository();
    let database = test_postgres().fresh_database();
    let url = Some(database.url.as_str());
    let shipped = tags(&project);

    // From the root: the release migrates the backend's folder and writes the fixtures.
    let release = run_in(&project, ".", url, &["--env", "development", "--output", "json", "release"]);
    let document = release.expect_code(0).json();
    let applied: Vec<&str> =
        document["result"]["applied"].as_array().unwrap().iter().map(|row| row["tag"].as_str().unwrap()).collect();
    assert_eq!(applied, shipped, "{document}");
    assert!(!project.path().join("migrations").exists(), "nothing may appear outside backend/drizzle");

    // From backend/ (and deeper): the same project, the same folder.
    for folder in ["backend", "backend/src/db"] {
        let status = run_in(&project, folder, url, &["--env", "development", "--output", "json", "status"]);
        let document = status.expect_code(0).json();
        let applied: Vec<&str> =
            document["result"]["applied"].as_array().unwrap().iter().map(|row| row["tag"].as_str().unwrap()).collect();
        assert_eq!(applied, shipped, "{document}");
        assert_eq!(document["result"]["pending"].as_array().map(Vec::len), Some(0), "{document}");
    }
    run_in(&project, "backend", url, &["--env", "development", "release"])
        .expect_code(0)
        .expect_stdout_contains("nothing to do");

    // generate, from backend/: backend/drizzle.config.ts beside the folder, drizzle-kit from backend/node_modules.
    let schema = project.path().join("backend/src/db/schema/praxia.ts");
    let mut typescript = std::fs::read_to_string(&schema).unwrap();
    typescript.push_str(
        "\nexport const coachNote = pgTable(\"coach_note\", {\n  id: uuid(\"id\").primaryKey().defaultRandom(),\n  body: text(\"body\").notNull(),\n});\n",
    );
    std::fs::write(&schema, typescript).unwrap();
    let generated = run_in(&project, "backend", None, &["--env", "development", "generate", "add_coach_notes"]);
    generated.expect_code(0).expect_stdout_contains("apply it with `praxia-deploy migrate`");
    let tag = format!("{:04}_add_coach_notes", shipped.len());
    let sql = std::fs::read_to_string(project.path().join(format!("backend/drizzle/{tag}.sql"))).unwrap();
    assert!(sql.contains("CREATE TABLE \"coach_note\""), "{sql}");

    // new, from the root: a hand-written migration in the same folder, journalled.
    run_in(&project, ".", None, &["--env", "development", "new", "backfill_notes"]).expect_code(0);
    let after = tags(&project);
    assert_eq!(after.len(), shipped.len() + 2, "{after:?}");
    assert!(after.last().unwrap().ends_with("_backfill_notes"), "{after:?}");

    // lint and migrate from the root see both.
    run_in(&project, ".", None, &["--env", "development", "lint"]).expect_code(0);
    let migrate = run_in(&project, ".", url, &["--env", "development", "--output", "json", "migrate"]);
    let document = migrate.expect_code(0).json();
    assert_eq!(document["result"]["ran"].as_array().map(Vec::len), Some(2), "{document}");
}

#[test]
fn the_embedded_database_of_the_backends_checkout_lives_at_its_root() {
    let project = backend_repository();
    run_in(&project, "backend", None, &["--env", "development", "release"])
        .expect_code(0)
        .expect_stdout_contains("0001_");
    assert!(project.path().join(".praxia/postgres").is_dir(), "the cluster belongs at the repository root");
    assert!(!project.path().join("backend/.praxia").exists());
    run_in(&project, ".", None, &["db", "stop"]).expect_code(0);
}

#[test]
fn the_backends_files_keep_its_web_line_and_carry_the_binary_from_the_tool_image() {
    let procfile = std::fs::read_to_string(repo_root().join("docs/backend-repo/Procfile")).unwrap();
    assert!(procfile.lines().any(|line| line == "release: praxia-deploy release"), "{procfile}");
    let web = procfile.lines().find_map(|line| line.strip_prefix("web:")).expect("a web line");
    assert!(!web.contains("praxia-deploy"), "the backend's web process must stay the backend: {web}");

    // The companion setup app serves and never migrates.
    let companion = std::fs::read_to_string(repo_root().join("docs/backend-repo/deploy/setup/Procfile")).unwrap();
    assert!(!companion.lines().any(|line| line.starts_with("release:")), "{companion}");
    assert_eq!(companion.trim(), "web: praxia-deploy serve");

    // Both Dockerfiles take the binary from the tool image of this version, and
    // neither has an ENTRYPOINT (Dokku would pass the Procfile line to it).
    let tool = format!("praxia-deploy:{}", env!("CARGO_PKG_VERSION"));
    for file in ["Dockerfile", "deploy/setup/Dockerfile"] {
        let text = std::fs::read_to_string(repo_root().join("docs/backend-repo").join(file)).unwrap();
        let instructions: Vec<&str> = text.lines().filter(|line| !line.starts_with('#')).collect();
        assert!(instructions.iter().any(|line| line.starts_with(&format!("FROM {tool}"))), "{file} is not on {tool}");
        assert!(!instructions.iter().any(|line| line.starts_with("ENTRYPOINT")), "{file}");
    }
    let backend = std::fs::read_to_string(repo_root().join("docs/backend-repo/Dockerfile")).unwrap();
    assert!(
        backend.contains("COPY --from=praxia-deploy /usr/local/bin/praxia-deploy /usr/local/bin/praxia-deploy"),
        "the backend's image must carry the binary on PATH"
    );
    let ours = std::fs::read_to_string(repo_root().join("Dockerfile")).unwrap();
    assert!(
        ours.contains("AS tool\n") && ours.contains(&format!("-t {tool} .")),
        "the tool stage the backend copies from"
    );
}

/// The README's setup companion, as Dokku runs it from deploy/setup/: an image
/// holding only environments/ (deploy/setup/Dockerfile), the Procfile's web line
/// with Dokku's PORT, the health check app.json names; `bootstrap --url` from the
/// backend's checkout creates the first admin through it, after the backend's
/// own release migrated.
#[test]
fn the_setup_companion_serves_the_first_run_beside_the_backend() {
    let project = backend_repository();
    let database = test_postgres().fresh_database();
    run_in(&project, ".", Some(&database.url), &["--env", "staging", "release"]).expect_code(0);

    let dockerfile = std::fs::read_to_string(project.path().join("deploy/setup/Dockerfile")).unwrap();
    assert!(dockerfile.lines().any(|line| line == "COPY environments ./environments"), "{dockerfile}");
    let image = tempfile::tempdir().unwrap();
    copy_tree(&project.path().join("environments"), &image.path().join("environments"));

    let procfile = std::fs::read_to_string(project.path().join("deploy/setup/Procfile")).unwrap();
    let web: Vec<&str> =
        procfile.lines().find_map(|line| line.strip_prefix("web:")).unwrap().split_whitespace().collect();
    let app: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(project.path().join("deploy/setup/app.json")).unwrap()).unwrap();
    let check = &app["healthchecks"]["web"][0];
    assert_eq!(check["port"], 5000, "Dokku's default port for a Dockerfile app that EXPOSEs 5000");
    let port = praxia_deploy::pgserver::free_loopback_port().unwrap();
    let token = "companion-token-0123456789abcdef";
    let mut server = project.command();
    server
        .current_dir(image.path())
        .args(&web[1..])
        .env("PORT", port.to_string())
        .env("PRAXIA_ENV", "staging")
        .env("DATABASE_URL", &database.url)
        .env("PRAXIA_SETUP_TOKEN", token)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    assert_eq!(web[0], "praxia-deploy");
    let child = KillOnDrop(server.spawn().unwrap());
    let path = check["path"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while status_line(port, path).as_deref() != Some("HTTP/1.1 200 OK") {
        assert!(std::time::Instant::now() < deadline, "the companion never answered 200 on {path}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }

    let url = format!("http://127.0.0.1:{port}");
    let mut bootstrap = project.command();
    bootstrap
        .args(["--env", "staging", "bootstrap", "--url", &url, "--email", "admin@praxia.example", "--name", "Admin"])
        .env("PRAXIA_SETUP_TOKEN", token)
        .env("PRAXIA_ADMIN_PASSWORD", "a long admin password");
    Outcome::of(&mut bootstrap)
        .expect_code(0)
        .expect_stdout_contains("created the platform admin admin@praxia.example");
    drop(child);
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The status line of `GET path`, or None while nothing listens.
fn status_line(port: u16, path: &str) -> Option<String> {
    use std::io::{BufRead, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").ok()?;
    let mut line = String::new();
    std::io::BufReader::new(stream).read_line(&mut line).ok()?;
    Some(line.trim_end().to_owned())
}

/// The README shows docs/backend-repo's files as they are (the ones these tests
/// run), and its recipe for deploying this repository never names the backend's app.
#[test]
fn the_readme_shows_the_tested_files_and_never_deploys_this_repository_to_the_backend() {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    for file in ["Dockerfile", "Procfile"] {
        let text = std::fs::read_to_string(repo_root().join("docs/backend-repo").join(file)).unwrap();
        let indented: String =
            text.lines().map(|line| if line.is_empty() { "\n".to_owned() } else { format!("   {line}\n") }).collect();
        assert!(readme.contains(&indented), "README.md does not show docs/backend-repo/{file} as it is");
    }
    let own = readme.split("### This repository as an app of its own").nth(1).expect("the section");
    let own = own.split("\n## ").next().unwrap();
    assert!(!own.contains("praxia-coaching-app-backend"), "the standalone recipe names the backend's app:\n{own}");
    let app: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo_root().join("app.json")).unwrap()).unwrap();
    assert!(!app["name"].as_str().unwrap().contains("backend"), "app.json calls this repository the backend");
}

/// A backend that keeps environments/ under backend/: run from the root, the
/// error names the folder and the flag; from backend/, the folder paths are
/// relative to backend/.
#[test]
fn environments_kept_under_backend_are_named_from_the_root() {
    let project = backend_repository();
    std::fs::rename(project.path().join("environments"), project.path().join("backend/environments")).unwrap();
    let development = project.path().join("backend/environments/development.toml");
    let text = std::fs::read_to_string(&development).unwrap().replace("dir = \"backend/drizzle\"", "dir = \"drizzle\"");
    std::fs::write(&development, text).unwrap();
    run_in(&project, ".", None, &["--env", "development", "lint"])
        .expect_code(2)
        .expect_stderr_contains("found below: backend/environments")
        .expect_stderr_contains("pass --config-dir backend/environments");
    run_in(&project, ".", None, &["--env", "development", "--config-dir", "backend/environments", "lint"])
        .expect_code(0);
    run_in(&project, "backend/src", None, &["--env", "development", "lint"]).expect_code(0);
}
