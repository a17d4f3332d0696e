//! Environments: `environments/<name>.toml` read into typed settings, and the
//! project folder they live in.

mod backup;
mod contract;
pub(crate) mod database_url;
mod drift;
mod duration;
mod file;
mod review;
mod seed;
mod studio;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub use backup::BackupSettings;
pub use contract::ContractSettings;
pub use database_url::{DatabaseTarget, DatabaseUrl, UrlSource, missing_url_error, resolve as resolve_database};
pub use drift::{DriftSettings, OnRelease};
pub use duration::{HumanDuration, PgTimeout};
pub use file::{
    DatabaseSettings, DokkuSettings, Identifier, KnownHostsPolicy, MigrationSettings, OutsideJournal, ProxyAddress,
    SetupSettings, parse_environment,
};
pub use review::{ReviewSettings, RuleLevel};
pub use seed::{SeedOrganization, SeedSettings, SeedUser, is_plausible_email, is_unsafe_char};
pub use studio::StudioSettings;

/// The name of the folder that holds the environment files.
pub const ENVIRONMENTS_DIR: &str = "environments";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvironmentKind {
    Development,
    Test,
    Staging,
    Production,
}

impl EnvironmentKind {
    /// Development and test may fall back to the embedded Postgres; staging and production never.
    pub fn uses_embedded_database(self) -> bool {
        matches!(self, EnvironmentKind::Development | EnvironmentKind::Test)
    }

    /// Only development and test databases may receive fixtures.
    pub fn accepts_fixtures(self) -> bool {
        matches!(self, EnvironmentKind::Development | EnvironmentKind::Test)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            EnvironmentKind::Development => "development",
            EnvironmentKind::Test => "test",
            EnvironmentKind::Staging => "staging",
            EnvironmentKind::Production => "production",
        }
    }
}

impl std::fmt::Display for EnvironmentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One environment, fully resolved: defaults applied, paths absolute.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub name: String,
    pub kind: EnvironmentKind,
    /// The file it was read from.
    pub file: PathBuf,
    /// The project root: the folder that holds `environments/`.
    pub root: PathBuf,
    pub database: DatabaseSettings,
    pub migrations: MigrationSettings,
    pub dokku: Option<DokkuSettings>,
    pub setup: Option<SetupSettings>,
    /// Development fixtures; only development and test environments may have them.
    pub seed: Option<SeedSettings>,
    /// How migrations are reviewed, and whether the gate refuses them.
    pub review: ReviewSettings,
    /// Where backups go, and when they are taken.
    pub backup: BackupSettings,
    /// What `release` does about drift.
    pub drift: DriftSettings,
    /// What `release` does with contract parts, and how the post-deploy step waits.
    pub contract: ContractSettings,
    /// What the studio hides.
    pub studio: StudioSettings,
}

impl Environment {
    /// Decides the database from `--database-url`, the configured variable and the kind.
    pub fn database_target(&self, flag: Option<&str>) -> Result<DatabaseTarget> {
        let variable = &self.database.url_env;
        let value = std::env::var(variable.as_str()).ok();
        database_url::resolve(flag, variable, value.as_deref(), self.kind)
    }

    /// The file `rehearse` writes and the lock budget reads: `[review] rehearsals`,
    /// or `rehearsals/<environment>.json`, from the project root.
    pub fn rehearsals_file(&self) -> PathBuf {
        let relative =
            self.review.rehearsals.clone().unwrap_or_else(|| PathBuf::from(format!("rehearsals/{}.json", self.name)));
        self.root.join(relative)
    }
}

/// A checkout (or container image) of the project: the folder holding `environments/`.
#[derive(Debug, Clone)]
pub struct Project {
    pub root: PathBuf,
    pub environments_dir: PathBuf,
}

impl Project {
    /// `explicit` is `--config-dir` / `PRAXIA_CONFIG_DIR` (the environments folder itself);
    /// otherwise the nearest `environments/` in `start` or its parents.
    pub fn locate(explicit: Option<&Path>, start: &Path) -> Result<Project> {
        if let Some(dir) = explicit {
            let dir = start.join(dir);
            if !dir.is_dir() {
                return Err(Error::usage(format!("the config directory {} does not exist", dir.display()))
                    .help("pass --config-dir (or set PRAXIA_CONFIG_DIR) to the folder that holds <env>.toml files"));
            }
            let dir = dir.canonicalize().map_err(|err| Error::io("read", &dir, err))?;
            let root = dir.parent().unwrap_or(&dir).to_path_buf();
            return Ok(Project { root, environments_dir: dir });
        }
        for folder in start.ancestors() {
            let candidate = folder.join(ENVIRONMENTS_DIR);
            if candidate.is_dir() {
                return Ok(Project { root: folder.to_path_buf(), environments_dir: candidate });
            }
        }
        let error =
            Error::usage(format!("no `{ENVIRONMENTS_DIR}/` folder in {} or any folder above it", start.display()));
        match environments_below(start).as_slice() {
            [] => {
                Err(error
                    .help("run praxia-deploy inside the project checkout, or pass --config-dir (PRAXIA_CONFIG_DIR)"))
            }
            found => {
                let shown: Vec<String> = found.iter().map(|dir| dir.display().to_string()).collect();
                Err(error.note("found below", shown.join(", ")).help(format!(
                    "run praxia-deploy in the folder that holds it (or below), or pass --config-dir {}",
                    shown[0]
                )))
            }
        }
    }

    /// The names of the environments found (file stems of `*.toml`), sorted.
    pub fn environment_names(&self) -> Result<Vec<String>> {
        let entries =
            std::fs::read_dir(&self.environments_dir).map_err(|err| Error::io("read", &self.environments_dir, err))?;
        let mut names = Vec::new();
        for entry in entries {
            let path = entry.map_err(|err| Error::io("read", &self.environments_dir, err))?.path();
            if path.extension().is_some_and(|ext| ext == "toml")
                && let Some(stem) = path.file_stem().and_then(|stem| stem.to_str())
            {
                names.push(stem.to_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    pub fn load(&self, name: &str) -> Result<Environment> {
        let names = self.environment_names()?;
        if !names.iter().any(|known| known == name) {
            let found = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
            return Err(Error::usage(format!("unknown environment `{name}`"))
                .note("environments found", found)
                .note("in", self.environments_dir.display())
                .help(format!(
                    "pass --env (or set PRAXIA_ENV) to one of those, or create {}/{name}.toml",
                    self.environments_dir.display()
                )));
        }
        let file = self.environments_dir.join(format!("{name}.toml"));
        let text = std::fs::read_to_string(&file).map_err(|err| Error::io("read", &file, err))?;
        parse_environment(name, &file, &text, &self.root)
    }
}

/// `environments/` folders holding `*.toml` files up to three levels below
/// `start` (relative to it, sorted), for the error that found none above it: a
/// backend that keeps them in `backend/environments/` is run from the root.
fn environments_below(start: &Path) -> Vec<PathBuf> {
    const SKIPPED: [&str; 4] = ["node_modules", ".git", "target", ".praxia"];
    let mut found = Vec::new();
    if start.parent().is_none() {
        return found;
    }
    let mut folders = vec![(start.to_path_buf(), 0)];
    while let Some((folder, depth)) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if !path.is_dir() || SKIPPED.iter().any(|skipped| name == *skipped) {
                continue;
            }
            if name == ENVIRONMENTS_DIR && holds_toml(&path) {
                found.push(path.strip_prefix(start).unwrap_or(&path).to_path_buf());
            } else if depth < 2 {
                folders.push((path, depth + 1));
            }
        }
    }
    found.sort();
    found
}

fn holds_toml(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .map(|entries| entries.flatten().any(|entry| entry.path().extension().is_some_and(|ext| ext == "toml")))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_with(files: &[(&str, &str)]) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().unwrap();
        let envs = dir.path().join(ENVIRONMENTS_DIR);
        std::fs::create_dir(&envs).unwrap();
        for (name, text) in files {
            std::fs::write(envs.join(name), text).unwrap();
        }
        let project = Project::locate(None, dir.path()).unwrap();
        (dir, project)
    }

    #[test]
    fn locate_walks_up_from_a_subfolder() {
        let (dir, _) = project_with(&[("development.toml", "kind = \"development\"\n")]);
        let deep = dir.path().join("src/a/b");
        std::fs::create_dir_all(&deep).unwrap();
        let project = Project::locate(None, &deep).unwrap();
        assert_eq!(project.root, dir.path());
    }

    #[test]
    fn with_none_above_it_names_the_environments_folders_below() {
        let dir = tempfile::tempdir().unwrap();
        for folder in ["backend/environments", "docs/example/environments", "node_modules/x/environments"] {
            std::fs::create_dir_all(dir.path().join(folder)).unwrap();
            std::fs::write(dir.path().join(folder).join("staging.toml"), "kind = \"staging\"\n").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("empty/environments")).unwrap();
        let text = Project::locate(None, dir.path()).unwrap_err().to_string();
        assert!(text.contains("found below: backend/environments, docs/example/environments"), "{text}");
        assert!(text.contains("pass --config-dir backend/environments"), "{text}");
        assert!(!text.contains("node_modules") && !text.contains("empty"), "{text}");
    }

    #[test]
    fn an_unknown_environment_lists_the_ones_found() {
        let (_dir, project) = project_with(&[
            ("development.toml", "kind = \"development\"\n"),
            ("staging.toml", "kind = \"staging\"\n"),
            ("notes.txt", ""),
        ]);
        let err = project.load("nope").unwrap_err();
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        assert!(text.contains("unknown environment `nope`"), "{text}");
        assert!(text.contains("environments found: development, staging"), "{text}");
    }

    #[test]
    fn a_path_is_not_an_environment_name() {
        let (_dir, project) = project_with(&[("development.toml", "kind = \"development\"\n")]);
        assert_eq!(project.load("../development").unwrap_err().exit_code(), 2);
    }

    #[test]
    fn paths_resolve_against_the_project_root() {
        let (dir, project) = project_with(&[("development.toml", "kind = \"development\"\n")]);
        let env = project.load("development").unwrap();
        assert_eq!(env.migrations.dir, dir.path().join("migrations"));
        assert_eq!(env.root, dir.path());
    }
}
