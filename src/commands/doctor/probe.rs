//! `doctor --probe`, run in a one-off container of the app: what the image
//! holds, as facts for the laptop's `doctor` to judge (`checks.rs`). It reads
//! files only: it opens no database and prints no setting's value.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli::Cli;
use crate::config::Project;
use crate::error::{Error, Result};
use crate::migration_folder::{JOURNAL_PATH, Layout, read_environment_folder, timestamped::MIGRATION_FILE};
use crate::output::Report;

/// Bumped when the facts change shape: the laptop says so rather than misread them.
pub const PROBE_FORMAT: u32 = 1;

/// What the laptop sends: `praxia-deploy doctor --probe ...` in the container.
pub const PROBE_ARGUMENTS: [&str; 5] = ["doctor", "--probe", "--output", "json", "-q"];

/// How deep under the project root a drizzle folder is looked for when the
/// environment's is missing (`backend/drizzle` is 2).
const SEARCH_DEPTH: usize = 3;

/// At most this many folders are listed in that search: it stays cheap in an
/// image with a large tree.
const SEARCH_BUDGET: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageFacts {
    pub probe_format: u32,
    /// The image's praxia-deploy version.
    pub version: String,
    /// The project root the image's praxia-deploy finds: the folder holding
    /// environments/, else its working directory.
    pub root: String,
    /// Whether `root` holds environments/ (false: it is the working directory).
    pub environments_found: bool,
    pub procfile: ProcfileFacts,
    pub environment: EnvironmentFacts,
    /// drizzle-kit folders under `root` (relative, sorted), looked for only when
    /// the environment's folder is missing or unknown.
    pub drizzle_folders: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcfileFacts {
    /// `<root>/Procfile`, in the image.
    pub path: String,
    pub found: bool,
    /// Its first uncommented `release:` line, as written (trimmed).
    pub release: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentFacts {
    pub name: String,
    /// The environment file read, when there is one.
    pub file: Option<String>,
    /// Why it could not be read, with its fix.
    pub error: Option<String>,
    /// Its `[migrations] dir`, when the file was read.
    pub migrations: Option<FolderFacts>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FolderFacts {
    /// `[migrations] dir` relative to the root (absolute when outside it).
    pub dir: String,
    /// The folder's full path in the image.
    pub path: String,
    pub exists: bool,
    pub layout: Option<Layout>,
    pub migrations: Vec<MigrationFact>,
    /// Why drizzle would not apply it, when it would not.
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationFact {
    pub tag: String,
    /// drizzle 1.0's name for it (the same in both layouts): what is compared.
    pub name: String,
    pub hash: String,
}

impl MigrationFact {
    pub fn of(migration: &crate::migration_folder::Migration) -> MigrationFact {
        MigrationFact { tag: migration.tag.clone(), name: migration.name.clone(), hash: migration.hash.clone() }
    }
}

/// Gathers the facts where it runs (in the container) and prints them.
pub fn run(cli: &Cli) -> Result<Report> {
    let cwd = std::env::current_dir().map_err(|err| Error::internal(format!("no current directory: {err}")))?;
    let facts = gather(cli, &cwd);
    let human = format!(
        "praxia-deploy {} in {}: Procfile {}, environment {} {}\n",
        facts.version,
        facts.root,
        if facts.procfile.found { "found" } else { "missing" },
        facts.environment.name,
        if facts.environment.error.is_none() { "read" } else { "unreadable" },
    );
    Ok(Report::new(&facts, human))
}

fn gather(cli: &Cli, cwd: &Path) -> ImageFacts {
    let name = cli.global.env.clone();
    let located = Project::locate(cli.global.config_dir.as_deref(), cwd);
    let root = located.as_ref().map_or_else(|_| cwd.to_path_buf(), |project| project.root.clone());
    let procfile = procfile_facts(&root.join("Procfile"));
    let environment = match &located {
        // Its help (run it in the checkout, or pass --config-dir) is for a laptop.
        Err(err) => EnvironmentFacts { name, file: None, error: Some(err.message.clone()), migrations: None },
        Ok(project) => match project.load(&name) {
            Err(err) => {
                let file = project.environments_dir.join(format!("{name}.toml"));
                let file = file.is_file().then(|| file.display().to_string());
                EnvironmentFacts { name, file, error: Some(describe(&err)), migrations: None }
            }
            Ok(env) => EnvironmentFacts {
                name,
                file: Some(env.file.display().to_string()),
                error: None,
                migrations: Some(folder_facts(&env.migrations, &root)),
            },
        },
    };
    let drizzle_folders = if environment.migrations.as_ref().is_none_or(|folder| !folder.exists) {
        find_drizzle_folders(&root)
    } else {
        Vec::new()
    };
    ImageFacts {
        probe_format: PROBE_FORMAT,
        version: env!("CARGO_PKG_VERSION").to_owned(),
        root: root.display().to_string(),
        environments_found: located.is_ok(),
        procfile,
        environment,
        drizzle_folders,
    }
}

/// An error's message and its fix, on one line.
fn describe(err: &Error) -> String {
    match &err.help {
        Some(help) => format!("{}: {help}", err.message),
        None => err.message.clone(),
    }
}

fn procfile_facts(path: &Path) -> ProcfileFacts {
    let text = std::fs::read_to_string(path).ok();
    ProcfileFacts {
        path: path.display().to_string(),
        found: text.is_some(),
        release: text.as_deref().and_then(release_line).map(|line| without_secrets(&line)),
    }
}

/// The line as doctor may show it: a URL's password and the value of every
/// `NAME=value` word (`PGPASSWORD=...`, `DATABASE_URL=...`) masked. Pure.
pub fn without_secrets(line: &str) -> String {
    let is_name = |name: &str| {
        !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit())
    };
    let assignments_masked = line
        .split(' ')
        .map(|word| match word.split_once('=') {
            Some((name, _)) if is_name(name) => format!("{name}={}", crate::redact::REDACTED),
            _ => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ");
    crate::redact::redact_in(&assignments_masked)
}

/// The first uncommented `release:` line of a Procfile, trimmed. Pure.
pub fn release_line(procfile: &str) -> Option<String> {
    procfile
        .lines()
        .map(str::trim)
        .filter(|line| !line.starts_with('#'))
        .find(|line| line.split_once(':').is_some_and(|(kind, _)| kind.trim() == "release"))
        .map(str::to_owned)
}

fn folder_facts(settings: &crate::config::MigrationSettings, root: &Path) -> FolderFacts {
    let path = &settings.dir;
    let dir = path.strip_prefix(root).unwrap_or(path).display().to_string();
    let mut facts = FolderFacts {
        dir,
        path: path.display().to_string(),
        exists: path.is_dir(),
        layout: None,
        migrations: Vec::new(),
        error: None,
    };
    if facts.exists {
        match read_environment_folder(settings) {
            Ok(folder) => {
                facts.layout = Some(folder.layout);
                facts.migrations = folder.migrations.iter().map(MigrationFact::of).collect();
            }
            Err(err) => facts.error = Some(describe(&err)),
        }
    }
    facts
}

/// Folders under `root` (at most `SEARCH_DEPTH` deep, never hidden ones or
/// node_modules, symlinks not followed) that hold `meta/_journal.json` or a
/// `<name>/migration.sql`: where a misnamed `[migrations] dir` may point.
fn find_drizzle_folders(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut budget = SEARCH_BUDGET;
    let mut level = subfolders(root, &mut budget);
    for _ in 0..SEARCH_DEPTH {
        let mut next = Vec::new();
        for dir in level {
            let children = subfolders(&dir, &mut budget);
            if dir.join(JOURNAL_PATH).is_file() || children.iter().any(|child| child.join(MIGRATION_FILE).is_file()) {
                found.push(dir.strip_prefix(root).unwrap_or(&dir).display().to_string());
            } else {
                next.extend(children);
            }
        }
        level = next;
    }
    found.sort();
    found
}

/// The folders directly in `dir` worth searching; none once the budget is spent.
fn subfolders(dir: &Path, budget: &mut usize) -> Vec<PathBuf> {
    if *budget == 0 {
        return Vec::new();
    }
    *budget -= 1;
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(std::result::Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|kind| kind.is_dir()))
        .filter(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            !name.starts_with('.') && name != "node_modules" && name != "meta"
        })
        .map(|entry| entry.path())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_release_lines_secrets_are_never_shown() {
        assert_eq!(
            without_secrets("release: PGPASSWORD=hunter2 DATABASE_URL=postgres://u:pw@db/app node migrate.js"),
            "release: PGPASSWORD=*** DATABASE_URL=*** node migrate.js"
        );
        assert_eq!(
            without_secrets("release: praxia-deploy release --database-url postgres://u:pw@db/app"),
            "release: praxia-deploy release --database-url postgres://u:***@db/app"
        );
        assert_eq!(without_secrets("release: praxia-deploy release"), "release: praxia-deploy release");
    }

    #[test]
    fn the_release_line_is_the_first_uncommented_one() {
        let procfile = "# release: praxia-deploy release\nweb: node backend/dist/server.js\n  release: node backend/dist/scripts/migrate.js  \nrelease: x\n";
        assert_eq!(release_line(procfile).as_deref(), Some("release: node backend/dist/scripts/migrate.js"));
        assert_eq!(release_line("web: node server.js\n"), None);
        assert_eq!(release_line("releases: x\n"), None);
    }

    #[test]
    fn drizzle_folders_are_found_in_either_layout_but_not_in_node_modules() {
        let root = tempfile::tempdir().unwrap();
        let make = |path: &str| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        };
        make("backend/drizzle/meta/_journal.json");
        make("services/api/db/20250101000000_init/migration.sql");
        make("node_modules/some-package/drizzle/meta/_journal.json");
        make(".git/drizzle/meta/_journal.json");
        make("a/b/c/d/meta/_journal.json");
        assert_eq!(find_drizzle_folders(root.path()), ["backend/drizzle", "services/api/db"]);
    }
}
