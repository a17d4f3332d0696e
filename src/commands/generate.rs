//! `generate NAME`: drizzle-kit generate, with the project's drizzle config and
//! the drizzle-kit the project installs, then the new migration's review and how
//! it will run (exit 10 on an error-level finding). `generate --custom NAME` is `new`.

use std::collections::BTreeSet;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::json;

use super::Context;
use crate::error::{Error, ErrorKind, Result};
use crate::migration_folder::{Migration, read_folder};
use crate::migrations::new::check_name;
use crate::output::Report;
use crate::review::Reviewed;
use crate::text::plural;

/// drizzle-kit's config file names, in the order it looks for them.
const CONFIG_NAMES: [&str; 6] = [
    "drizzle.config.ts",
    "drizzle.config.mts",
    "drizzle.config.js",
    "drizzle.config.mjs",
    "drizzle.config.cjs",
    "drizzle.config.json",
];

pub fn run(context: &Context<'_>, name: &str, custom: bool) -> Result<Report> {
    if custom {
        return super::migrations::new_migration(context, name, None);
    }
    check_name(name)?;
    let config = drizzle_config(context)?;
    let config_dir = config.parent().unwrap_or(Path::new("."));
    let kit = drizzle_kit(config_dir)?;
    let dir = &context.env.migrations.dir;
    let before = tags(dir)?;
    // At a terminal, drizzle-kit asks whether a column was renamed or made anew: it
    // gets the terminal. Otherwise (CI, --output json) what it prints is relayed to
    // stderr and read.
    let interactive = context.printer.format == crate::output::OutputFormat::Human
        && std::io::stdin().is_terminal()
        && std::io::stdout().is_terminal();
    let output = if interactive { run_kit_at_terminal(&kit, &config, name)? } else { run_kit(&kit, &config, name)? };
    let folder = read_folder(dir)?;
    let new: Vec<&Migration> = folder.migrations.iter().filter(|migration| !before.contains(&migration.tag)).collect();
    if new.is_empty() {
        if interactive {
            return Ok(Report::new(
                &json!({ "generated": [], "errors": 0 }),
                format!("drizzle-kit wrote no migration into {} (its output above says why)", dir.display()),
            ));
        }
        if output.contains("No schema changes") {
            return Ok(Report::new(
                &json!({ "generated": [], "errors": 0 }),
                "no schema changes: drizzle-kit generated nothing".to_owned(),
            ));
        }
        return Err(Error::usage(format!("drizzle-kit wrote no migration into {}", dir.display()))
            .note("config", config.display())
            .help("its output is above: if it failed, fix what it says; if it wrote elsewhere, make the config's `out` the environment's [migrations] dir"));
    }
    let reviews: Vec<Reviewed> = crate::migrations::plan::steps(&new)
        .iter()
        .flat_map(|step| Reviewed::of_transaction(step.migrations(), &context.env.review))
        .collect();
    let mut human = String::new();
    for (migration, review) in new.iter().zip(&reviews) {
        human.push_str(&format!("created {}\n\n", migration.file.display()));
        human.push_str(&super::migrations::migration_listing(migration, review));
    }
    let findings: Vec<&crate::review::Finding> = reviews.iter().flat_map(|review| &review.findings).collect();
    let errors = findings.iter().filter(|finding| finding.blocks()).count();
    let next = if errors > 0 {
        "not applied anywhere: edit it, or acknowledge the finding (see below)"
    } else {
        "apply it with `praxia-deploy migrate`"
    };
    human.push_str(&format!("-- review: {} ({errors} at error level); {next}\n", plural(findings.len(), "finding")));
    let report = Report::new(
        &json!({
            "generated": new.iter().map(|migration| json!({
                "tag": migration.tag,
                "file": migration.file,
                "mode": migration.mode.to_string(),
            })).collect::<Vec<_>>(),
            "errors": errors,
            "findings": findings,
        }),
        human,
    );
    if errors > 0 {
        let tags: Vec<&str> = new.iter().map(|migration| migration.tag.as_str()).collect();
        let fixable = findings.iter().any(|finding| crate::review::Recipe::answers(&finding.rule));
        let help = if fixable {
            format!(
                "`praxia-deploy lint --fix {} --write` rewrites what it can the lock-safe way (it is not applied anywhere yet); \
                 edit the rest the safe way the findings describe, or acknowledge a finding you accept, with why, on the line before its statement: `-- praxia-deploy: allow RULE: <reason>`",
                tags.join(" ")
            )
        } else {
            "edit the migration the safe way the findings describe (it is not applied anywhere yet), or acknowledge a finding you accept, with why, on the line before its statement: `-- praxia-deploy: allow RULE: <reason>`".to_owned()
        };
        return Err(Error::new(
            ErrorKind::LintFailed,
            format!("the new migration has {} at error level", plural(errors, "finding")),
        )
        .help(help)
        .with_report(report));
    }
    Ok(report)
}

/// `[migrations] drizzle_config`, else the first drizzle.config.* found beside
/// the migrations folder or in a folder between it and the project root.
fn drizzle_config(context: &Context<'_>) -> Result<PathBuf> {
    if let Some(config) = &context.env.migrations.drizzle_config {
        if config.is_file() {
            return Ok(config.clone());
        }
        return Err(Error::usage(format!("the drizzle config {} does not exist", config.display()))
            .note("set in", context.env.file.display())
            .help("point [migrations] drizzle_config at the project's drizzle.config.ts"));
    }
    let folders = config_folders(&context.env.root, &context.env.migrations.dir);
    let candidates = folders.iter().flat_map(|folder| CONFIG_NAMES.iter().map(move |name| folder.join(name)));
    candidates.into_iter().find(|path| path.is_file()).ok_or_else(|| {
        let shown: Vec<String> = folders.iter().map(|folder| folder.display().to_string()).collect();
        Error::usage(format!("no drizzle config in {}", shown.join(" or ")))
            .note("looked for", CONFIG_NAMES.join(", "))
            .help(format!(
                "set [migrations] drizzle_config = \"path/to/drizzle.config.ts\" in {}, or use `praxia-deploy generate --custom NAME` for a hand-written migration",
                context.env.file.display()
            ))
    })
}

/// Where a drizzle config is looked for, nearest the migrations folder first: the
/// folders from the migrations folder's parent up to the project root (a backend
/// under `backend/` keeps `backend/drizzle.config.ts` beside `backend/drizzle/`),
/// or the root alone when the folder is outside it. Pure.
fn config_folders(root: &Path, migrations_dir: &Path) -> Vec<PathBuf> {
    let Some(parent) = migrations_dir.parent().filter(|parent| parent.starts_with(root)) else {
        return vec![root.to_path_buf()];
    };
    parent.ancestors().take_while(|folder| folder.starts_with(root)).map(Path::to_path_buf).collect()
}

/// The drizzle-kit the project installs: node_modules/.bin/drizzle-kit in the
/// config's folder or the nearest folder above it, as node resolves it.
fn drizzle_kit(config_dir: &Path) -> Result<PathBuf> {
    let found = config_dir.ancestors().map(|dir| dir.join("node_modules/.bin/drizzle-kit")).find(|path| path.is_file());
    found.ok_or_else(|| {
        Error::usage(format!("drizzle-kit is not installed for {}", config_dir.display()))
            .help(format!(
                "install the project's drizzle-kit: `npm install --save-dev drizzle-kit` in {} (or `pnpm add -D drizzle-kit`, `yarn add -D drizzle-kit`)",
                config_dir.display()
            ))
    })
}

fn tags(dir: &Path) -> Result<BTreeSet<String>> {
    if !dir.exists() {
        return Ok(BTreeSet::new());
    }
    Ok(read_folder(dir)?.migrations.into_iter().map(|migration| migration.tag).collect())
}

/// Runs `drizzle-kit generate` on the terminal (its prompts need one); what it printed is not kept.
fn run_kit_at_terminal(kit: &Path, config: &Path, name: &str) -> Result<String> {
    let config_dir = config.parent().unwrap_or(Path::new("."));
    let config_name = config.file_name().map(PathBuf::from).unwrap_or_else(|| config.to_path_buf());
    let status = Command::new(kit)
        .args(["generate", "--config"])
        .arg(&config_name)
        .args(["--name", name])
        .current_dir(config_dir)
        .status()
        .map_err(|err| {
            Error::usage(format!("could not run {}: {err}", kit.display()))
                .help("drizzle-kit runs on node: install node (20 or later) and run `npm install` in the project")
        })?;
    if !status.success() {
        return Err(Error::usage(format!("drizzle-kit generate failed ({status})"))
            .note("config", config.display())
            .help("its output is above; nothing was reviewed"));
    }
    Ok(String::new())
}

/// Runs `drizzle-kit generate` in the config's folder; what it prints goes to
/// our stderr as it comes (stdout stays the report's) and is returned.
fn run_kit(kit: &Path, config: &Path, name: &str) -> Result<String> {
    let config_dir = config.parent().unwrap_or(Path::new("."));
    let config_name = config.file_name().map(PathBuf::from).unwrap_or_else(|| config.to_path_buf());
    let mut child = Command::new(kit)
        .args(["generate", "--config"])
        .arg(&config_name)
        .args(["--name", name])
        .current_dir(config_dir)
        .stdin(Stdio::inherit())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| {
            Error::usage(format!("could not run {}: {err}", kit.display()))
                .help("drizzle-kit runs on node: install node (20 or later) and run `npm install` in the project")
        })?;
    let relay = |mut from: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut buffer = [0_u8; 4096];
            while let Ok(read) = from.read(&mut buffer) {
                if read == 0 {
                    break;
                }
                let _ = std::io::stderr().write_all(&buffer[..read]);
                seen.extend_from_slice(&buffer[..read]);
            }
            String::from_utf8_lossy(&seen).into_owned()
        })
    };
    let out = relay(Box::new(child.stdout.take().expect("piped")));
    let err = relay(Box::new(child.stderr.take().expect("piped")));
    let status = child.wait().map_err(|err| Error::internal(format!("waiting for drizzle-kit: {err}")))?;
    let text = format!("{}{}", out.join().unwrap_or_default(), err.join().unwrap_or_default());
    if !status.success() {
        return Err(Error::usage(format!("drizzle-kit generate failed ({status})"))
            .note("config", config.display())
            .help("its output is above; nothing was reviewed"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_is_looked_for_beside_the_migrations_folder_then_up_to_the_root() {
        let root = Path::new("/repo");
        assert_eq!(config_folders(root, Path::new("/repo/migrations")), [PathBuf::from("/repo")]);
        assert_eq!(
            config_folders(root, Path::new("/repo/backend/drizzle")),
            [PathBuf::from("/repo/backend"), PathBuf::from("/repo")]
        );
        assert_eq!(
            config_folders(root, Path::new("/repo/apps/api/db/migrations")),
            ["/repo/apps/api/db", "/repo/apps/api", "/repo/apps", "/repo"].map(PathBuf::from)
        );
        assert_eq!(config_folders(root, Path::new("/elsewhere/drizzle")), [PathBuf::from("/repo")]);
    }
}
