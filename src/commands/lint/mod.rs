//! `lint [TAG...] [--changed [BASE]]`: the review of migrations, offline,
//! rendered for a person, for GitHub Actions or as Markdown; `--fix` shows
//! their lock-safe rewrite (`fix.rs`).

mod changed;
mod fix;
mod render;
mod select;

pub use fix::fix;

use std::path::PathBuf;

use serde_json::json;

use super::Context;
use crate::error::{Error, ErrorKind, Result};
use crate::migration_folder::{Migration, read_folder};
use crate::output::{OutputFormat, Report};
use crate::review::{Finding, Reviewed, Verdict};
use crate::text::plural;
use render::Summary;

/// What to review: the migrations named, those the branch changes over a base
/// (None: the default base), or all.
pub enum Scope<'a> {
    All,
    Named(&'a [String]),
    Changed(Option<&'a str>),
}

pub fn run(context: &Context<'_>, scope: Scope<'_>) -> Result<Report> {
    // A folder problem (a file the journal does not list) is reported, never a reason not to review.
    let folder = read_folder(&context.env.migrations.dir)?;
    let problems: Vec<String> = folder
        .outside_journal
        .iter()
        .map(|file| {
            format!(
                "{} is not in {}: drizzle ignores it, and so does praxia-deploy; add it to the journal or delete it",
                file.display(),
                folder.dir.join(crate::migration_folder::journal::JOURNAL_PATH).display()
            )
        })
        .collect();
    let (selected, base): (Vec<&Migration>, Option<String>) = match scope {
        Scope::All => (folder.migrations.iter().collect(), None),
        Scope::Named(tags) => (select::named(&folder, tags)?, None),
        Scope::Changed(base) => {
            let changed = changed::changed(&folder, base)?;
            (changed.migrations, Some(changed.base))
        }
    };
    // The baseline leaves history out of a whole-folder review. Migrations named on the
    // command line, or changed by the branch, are reviewed whatever it says (a branch
    // could raise it past its own migration).
    let baseline = context.env.review.baseline.as_deref().filter(|_| matches!(scope, Scope::All));
    let (selected, skipped) = match baseline {
        Some(tag) => {
            let at = select::position(&folder, tag).map_err(|err| {
                Error::usage(format!("[review] baseline = \"{tag}\" names no single migration of the folder"))
                    .note("file", context.env.file.display())
                    .note("because", err.message)
                    .help("give the tag of the newest migration that is history, as `status` shows it")
            })?;
            let (kept, skipped) = select::after_baseline(&folder, selected, at);
            (kept, Some((skipped, tag)))
        }
        None => (selected, None),
    };
    // Migrations a branch adds (or named here) deploy together: those that would
    // share a transaction are reviewed as one. History ran release by release.
    let findings: Vec<Finding> = match scope {
        Scope::All => {
            selected.iter().flat_map(|migration| Reviewed::of(migration, &context.env.review).findings).collect()
        }
        Scope::Named(_) | Scope::Changed(_) => crate::migrations::plan::steps(&selected)
            .iter()
            .flat_map(|step| Reviewed::of_transaction(step.migrations(), &context.env.review))
            .flat_map(|review| review.findings)
            .collect(),
    };
    // Where `release` holds contract parts back, the drops it would hold back break no client.
    let mut findings = findings;
    if context.env.contract.hold_back {
        for migration in &selected {
            crate::review::expand_contract::excuse_held_back(migration, &mut findings);
        }
    }
    let errors = findings.iter().filter(|finding| finding.blocks()).count();
    let accepted = findings.iter().filter(|finding| finding.verdict != Verdict::Danger).count();
    let summary =
        Summary { findings: &findings, migrations: selected.len(), errors, accepted, skipped, problems: &problems };
    let top = repository_root(&folder.dir);
    let text = match context.printer.format {
        OutputFormat::Github => {
            if let Ok(path) = std::env::var("GITHUB_STEP_SUMMARY")
                && !path.is_empty()
            {
                append(&path, &render::markdown(&summary, top.as_deref()));
            }
            render::github(&summary, top.as_deref())
        }
        OutputFormat::Markdown => render::markdown(&summary, top.as_deref()),
        OutputFormat::Human | OutputFormat::Json => {
            for problem in &problems {
                tracing::warn!("{problem}");
            }
            render::human(&summary)
        }
    };
    let report = Report::new(
        &json!({
            "migrations": selected.len(),
            "errors": errors,
            "skipped": skipped.map_or(0, |(count, _)| count),
            "base": base,
            "problems": problems,
            "findings": findings,
        }),
        text,
    );
    if errors > 0 {
        return Err(Error::new(ErrorKind::LintFailed, format!("{} at error level", plural(errors, "finding")))
            .help("write the migration the safe way the findings describe, or acknowledge a finding you accept, with why, on the line before its statement: `-- praxia-deploy: allow RULE: <reason>`")
            .with_report(report));
    }
    Ok(report)
}

/// The git repository's root, which GitHub resolves annotation paths against.
pub(super) fn repository_root(dir: &std::path::Path) -> Option<PathBuf> {
    let output =
        std::process::Command::new("git").arg("-C").arg(dir).args(["rev-parse", "--show-toplevel"]).output().ok()?;
    output.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

/// Adds the Markdown summary to GitHub's job summary; a failure is only logged.
fn append(path: &str, text: &str) {
    use std::io::Write;
    let written = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()));
    if let Err(err) = written {
        tracing::warn!("could not write the job summary to {path}: {err}");
    }
}
