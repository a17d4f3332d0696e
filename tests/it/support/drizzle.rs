//! drizzle's own tools, pinned by lockfiles (installed by scripts/test):
//! drizzle-orm 0.45 + drizzle-kit 0.31 in tests/interop, drizzle-orm +
//! drizzle-kit 1.0.0-rc.5 in tests/interop/drizzle-1.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::TestDatabase;
use super::project::repo_root;

/// The two drizzle toolchains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drizzle {
    /// drizzle-orm 0.45 and drizzle-kit 0.31: the journal layout.
    V0,
    /// drizzle-orm and drizzle-kit 1.0.0-rc.5: one folder per migration.
    V1,
}

impl Drizzle {
    pub fn dir(self) -> PathBuf {
        let dir = match self {
            Drizzle::V0 => repo_root().join("tests/interop"),
            Drizzle::V1 => repo_root().join("tests/interop/drizzle-1"),
        };
        for package in ["drizzle-orm", "drizzle-kit"] {
            assert!(
                dir.join("node_modules").join(package).join("package.json").is_file(),
                "{package} is not installed in {}: run `bash scripts/test` (it runs `npm ci` there), \
                 or `npm ci --prefix {}`",
                dir.display(),
                dir.display()
            );
        }
        dir
    }

    /// drizzle-orm's migrator on `folder`, as the backend's `migrate.js` runs it.
    pub fn migrate(self, database: &TestDatabase, folder: &Path) {
        let output = self.try_migrate(database, folder, None);
        assert!(
            output.status.success(),
            "drizzle's migrator ({self:?}) failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    pub fn try_migrate(
        self,
        database: &TestDatabase,
        folder: &Path,
        bookkeeping: Option<(&str, &str)>,
    ) -> std::process::Output {
        let mut command = Command::new("node");
        command.arg(self.dir().join("drizzle-migrate.mjs")).arg(&database.url).arg(folder);
        if let Some((schema, table)) = bookkeeping {
            command.args([schema, table]);
        }
        command.output().expect("node runs (node 20 is on the machine)")
    }

    /// drizzle-kit on `folder` with the repository's schema/ (or `schema`);
    /// stdout and stderr together, and whether it exited 0. drizzle-kit 0.31
    /// exits 0 after most errors, so callers check the text.
    pub fn kit(self, folder: &Path, args: &[&str]) -> (bool, String) {
        let output = Command::new("node")
            .arg("node_modules/drizzle-kit/bin.cjs")
            .args(args)
            .args(["--config", "drizzle.config.ts"])
            .current_dir(self.dir())
            .env("DRIZZLE_OUT", folder)
            .env_remove("FORCE_COLOR")
            .output()
            .expect("node runs");
        let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        (output.status.success(), text)
    }
}
