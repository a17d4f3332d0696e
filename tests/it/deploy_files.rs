//! Procfile, app.json and Dockerfile, read as Dokku reads them: every command they
//! name is a real praxia-deploy command, and the health check hits a real route.

use crate::support::project::{copy_tree, repo_root};
use clap::Parser;
use praxia_deploy::cli::{Cli, Command};
use serde_json::Value;

fn read(name: &str) -> String {
    std::fs::read_to_string(repo_root().join(name)).unwrap_or_else(|err| panic!("{name}: {err}"))
}

#[test]
fn every_procfile_line_is_a_real_command() {
    let mut kinds = Vec::new();
    for line in read("Procfile").lines().filter(|line| !line.trim().is_empty() && !line.starts_with('#')) {
        let (kind, command) = line.split_once(':').unwrap_or_else(|| panic!("not `type: command`: {line}"));
        let words: Vec<&str> = command.split_whitespace().collect();
        assert_eq!(words[0], "praxia-deploy", "{line}");
        let cli = Cli::try_parse_from(&words).unwrap_or_else(|err| panic!("`{command}` is not a command: {err}"));
        match kind.trim() {
            "release" => assert!(matches!(cli.command, Command::Release { .. }), "{line}"),
            "web" => assert!(matches!(cli.command, Command::Serve { .. }), "{line}"),
            other => panic!("unexpected process type {other}"),
        }
        kinds.push(kind.trim().to_owned());
    }
    assert_eq!(kinds, ["release", "web"]);
}

#[tokio::test]
async fn the_app_json_health_check_hits_the_servers_health_route_on_dokkus_port() {
    let app: Value = serde_json::from_str(&read("app.json")).unwrap();
    let check = &app["healthchecks"]["web"][0];
    assert_eq!(check["type"], "startup");
    assert_eq!(check["port"], 5000);
    let default_bind = praxia_deploy::setup::server::DEFAULT_PORT;
    assert_eq!(check["port"], default_bind, "serve listens on 5000 when Dokku gives no PORT");

    // The path is a route of the real server (a database that is down makes it 503, not 404).
    let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
    let settings =
        praxia_deploy::setup::server::ServerSettings { token: None, token_env: "T".into(), trusted_proxies: vec![] };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(praxia_deploy::setup::server::serve(
        listener,
        praxia_deploy::setup::server::router(pool, settings),
        praxia_deploy::setup::server::ConnectionLimits::default(),
    ));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let url = format!("http://127.0.0.1:{port}{}", check["path"].as_str().unwrap());
    let status = reqwest::get(&url).await.unwrap().status().as_u16();
    assert_eq!(status, 503, "{url} is not the health route");
}

#[test]
fn the_dockerfile_has_no_entrypoint_and_ships_what_the_release_needs() {
    let dockerfile = read("Dockerfile");
    let instructions: Vec<&str> = dockerfile.lines().filter(|line| !line.trim_start().starts_with('#')).collect();
    assert!(
        !instructions.iter().any(|line| line.trim_start().starts_with("ENTRYPOINT")),
        "Dokku would pass the Procfile line to it"
    );
    for needed in [
        "COPY migrations ./migrations",
        "COPY environments ./environments",
        "/usr/local/bin/praxia-deploy",
        "ENV PRAXIA_ENV=production",
    ] {
        assert!(instructions.iter().any(|line| line.contains(needed)), "the Dockerfile lacks `{needed}`");
    }
    assert!(
        instructions.iter().any(|line| line.contains("install") && line.contains("bash")),
        "Dokku runs the release line with bash"
    );
    // The release phase's backup: pg_dump of the service's major version, chosen at build time.
    assert!(
        instructions.iter().any(|line| line.starts_with("ARG POSTGRES_MAJOR=")),
        "no POSTGRES_MAJOR build argument"
    );
    assert!(
        instructions
            .iter()
            .any(|line| line.contains("install") && line.contains("\"postgresql-client-${POSTGRES_MAJOR}\"")),
        "the image does not install the matching pg_dump"
    );
}

/// The build stage copies only some files into the image; cargo must still be able
/// to read the manifest from exactly those (every declared target's file included).
#[test]
fn the_dockerfile_build_stage_copies_everything_cargo_needs() {
    let dockerfile = read("Dockerfile");
    let build_stage: Vec<&str> = dockerfile.lines().take_while(|line| !line.starts_with("FROM debian")).collect();
    let dir = tempfile::tempdir().unwrap();
    for line in build_stage.iter().filter_map(|line| line.strip_prefix("COPY ")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (sources, destination) = words.split_at(words.len() - 1);
        for source in sources {
            let from = repo_root().join(source);
            let to = if destination[0].ends_with('/') && sources.len() > 1 || destination[0] == "./" {
                dir.path().join(source)
            } else {
                dir.path().join(destination[0])
            };
            copy_tree(&from, &to);
        }
    }
    // Every target the manifest declares must find its file among the copies, or
    // cargo refuses the manifest ("can't find `praxia` bench").
    let manifest: toml::Table = toml::from_str(&read("Cargo.toml")).unwrap();
    let mut needed = vec!["Cargo.lock".to_owned(), "src/lib.rs".to_owned()];
    for (kind, default_dir) in [("bin", "src/bin"), ("bench", "benches"), ("test", "tests"), ("example", "examples")] {
        for target in manifest.get(kind).and_then(|targets| targets.as_array()).into_iter().flatten() {
            let name = target["name"].as_str().unwrap();
            let path = target
                .get("path")
                .and_then(|path| path.as_str())
                .map_or(format!("{default_dir}/{name}.rs"), str::to_owned);
            needed.push(path);
        }
    }
    for path in needed {
        assert!(
            dir.path().join(&path).is_file(),
            "the Dockerfile's build stage does not copy {path}, which Cargo.toml needs"
        );
    }
}
