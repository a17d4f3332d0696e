//! `lint --changed [BASE]`: the migrations the current git branch adds or
//! changes over BASE (its upstream, else `main`, else `origin/main`), committed
//! or not yet, untracked files included.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::migration_folder::{Migration, MigrationFolder};

/// What the branch changes in the folder.
pub struct Changed<'f> {
    /// What it was compared with.
    pub base: String,
    /// The migrations whose file it adds or changes, or whose journal entry it adds
    /// (a file the journal did not list runs once it does), in folder order.
    pub migrations: Vec<&'f Migration>,
}

pub fn changed<'f>(folder: &'f MigrationFolder, base: Option<&str>) -> Result<Changed<'f>> {
    let (base, merge_base, files) = changed_files(&folder.dir, base)?;
    let journal = folder.dir.join(crate::migration_folder::journal::JOURNAL_PATH);
    let listed_before = if files.iter().any(|file| same_file(file, &journal)) {
        journal_tags_at(&folder.dir, &merge_base, &journal)
    } else {
        None
    };
    let migrations = folder
        .migrations
        .iter()
        .filter(|migration| {
            files.iter().any(|file| same_file(&migration.file, file))
                || listed_before.as_ref().is_some_and(|tags| !tags.contains(&migration.tag))
        })
        .collect();
    Ok(Changed { base, migrations })
}

/// The tags the journal listed at `commit` (None when it did not exist or does not parse: then
/// every migration whose file changed is still found by its file).
fn journal_tags_at(dir: &Path, commit: &str, journal: &Path) -> Option<Vec<String>> {
    let top = git(dir, &["rev-parse", "--show-toplevel"]).ok()?;
    let canonical = journal.canonicalize().ok()?;
    let relative = canonical.strip_prefix(Path::new(top.trim()).canonicalize().ok()?).ok()?;
    let text = git(dir, &["show", &format!("{commit}:{}", relative.display())]).ok()?;
    let entries = crate::migration_folder::journal::Journal::entries(journal.parent()?.parent()?, &text).ok()?;
    Some(entries.into_iter().map(|entry| entry.tag).collect())
}

/// The branch's changed files under `dir`, as absolute paths, the base they were
/// compared with and the commit where the branch left it.
fn changed_files(dir: &Path, base: Option<&str>) -> Result<(String, String, Vec<PathBuf>)> {
    let top = git(dir, &["rev-parse", "--show-toplevel"]).map_err(|reason| {
        Error::usage(format!("lint --changed needs a git repository, and {} is not in one", dir.display()))
            .note("git", reason)
            .help("run it in the project's clone, or name the migrations: `praxia-deploy lint TAG...`")
    })?;
    let top = PathBuf::from(top.trim());
    let base = match base {
        Some(base) => base.to_owned(),
        None => default_base(dir)?,
    };
    let merge_base = git(dir, &["merge-base", "HEAD", &base]).map_err(|reason| {
        Error::usage(format!("git finds no common ancestor of HEAD and `{base}`"))
            .note("git", reason)
            .help("fetch the base first (in GitHub Actions: actions/checkout with `fetch-depth: 0`), or name another: `lint --changed origin/main`")
    })?;
    let merge_base = merge_base.trim().to_owned();
    let merge_base = merge_base.as_str();
    let folder = dir.to_string_lossy();
    // --no-relative: `diff.relative` in a user's git config must not make the names relative to the folder.
    let tracked = git(
        dir,
        &["diff", "--name-only", "--no-relative", "--no-renames", "--diff-filter=d", "-z", merge_base, "--", &folder],
    )
    .map_err(|reason| Error::usage("git diff failed").note("git", reason))?;
    let untracked = git(dir, &["ls-files", "--others", "--exclude-standard", "--full-name", "-z", "--", &folder])
        .map_err(|reason| Error::usage("git ls-files failed").note("git", reason))?;
    let files =
        tracked.split('\0').chain(untracked.split('\0')).filter(|name| !name.is_empty()).map(|name| top.join(name));
    Ok((base, merge_base.to_owned(), files.collect()))
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The branch's upstream, else `main`, else `origin/main`. An upstream that is
/// the branch's own copy on a remote (after `git push -u`) is not a base: it
/// holds the branch's own migrations.
fn default_base(dir: &Path) -> Result<String> {
    let branch = git(dir, &["rev-parse", "--abbrev-ref", "HEAD"]).unwrap_or_default();
    if let Ok(upstream) = git(dir, &["rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"]) {
        let upstream = upstream.trim();
        let own_copy = upstream.split_once('/').is_some_and(|(_, name)| name == branch.trim());
        if !own_copy {
            return Ok(upstream.to_owned());
        }
    }
    for candidate in ["main", "origin/main"] {
        if git(dir, &["rev-parse", "--verify", "--quiet", &format!("{candidate}^{{commit}}")]).is_ok() {
            return Ok(candidate.to_owned());
        }
    }
    Err(Error::usage(
        "lint --changed: this branch has no upstream, and there is no `main` or `origin/main` to compare with",
    )
    .help("name the base: `praxia-deploy lint --changed origin/develop`"))
}

/// git's stdout, or why it failed (its stderr).
fn git(dir: &Path, args: &[&str]) -> std::result::Result<String, String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .map_err(|err| format!("could not run git: {err}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
    }
}
