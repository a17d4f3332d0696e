//! `lint --fix TAG... | --changed [--write]`: the lock-safe rewrite of migrations
//! that have not shipped (`review::rewrite_lock_safe`), shown as a unified diff
//! with what became of each statement. `--write` writes it only once the folder
//! before and after, replayed in scratch databases, make the same schema.

use serde_json::json;

use super::{Scope, changed, select};
use crate::commands::Context;
use crate::error::{Error, Result};
use crate::migration_folder::{Migration, read_folder};
use crate::output::{OutputFormat, Report};
use crate::review::{Earlier, LockSafe, Outcome, rewrite_lock_safe};
use crate::text::plural;

pub async fn fix(context: &Context<'_>, scope: Scope<'_>, write: bool) -> Result<Report> {
    let folder = read_folder(&context.env.migrations.dir)?;
    let selected: Vec<&Migration> = match scope {
        Scope::All => {
            return Err(Error::usage("lint --fix rewrites only migrations that have not shipped")
                .help("name them (`praxia-deploy lint --fix 0007`) or pass --changed for the ones this branch adds"));
        }
        Scope::Named(tags) => select::named(&folder, tags)?,
        Scope::Changed(base) => changed::changed(&folder, base)?.migrations,
    };
    if let Some((database, applied)) = applied_in_database(context, &folder).await {
        let shipped: Vec<&str> =
            selected.iter().map(|m| m.tag.as_str()).filter(|tag| applied.iter().any(|a| a == tag)).collect();
        if !shipped.is_empty() {
            return Err(Error::new(
                crate::error::ErrorKind::Policy,
                format!("{} recorded as applied in {database}: an applied migration is never edited", shipped.join(", ")),
            )
            .help("name only the migrations this branch adds (or use --changed); an applied one is changed by a new migration"));
        }
    }
    // Tables the earlier selected migrations create are new to the later ones;
    // what any earlier migration partitions is read too.
    let mut earlier = Earlier::default();
    let top = super::repository_root(&folder.dir);
    let mut human = if context.printer.format == OutputFormat::Markdown {
        "### praxia-deploy lint --fix\n\n".to_owned()
    } else {
        String::new()
    };
    let mut documents = Vec::new();
    let mut rewritten_total = 0;
    let mut files: Vec<(std::path::PathBuf, String)> = Vec::new();
    for migration in &folder.migrations {
        if !selected.iter().any(|chosen| std::ptr::eq(*chosen, migration)) {
            earlier.shipped(&migration.text);
            continue;
        }
        let fixed = rewrite_lock_safe(&migration.text, &earlier);
        if fixed.sql != migration.text {
            files.push((migration.file.clone(), fixed.sql.clone()));
        }
        earlier.in_release(&migration.text);
        let rewritten = fixed.statements.iter().filter(|s| matches!(s.outcome, Outcome::Rewritten(_))).count();
        rewritten_total += rewritten;
        let diff = unified_diff(&context.env.root, migration, &fixed);
        human.push_str(&match context.printer.format {
            OutputFormat::Github => annotations(top.as_deref(), migration, &fixed),
            OutputFormat::Markdown => markdown(migration, &fixed, rewritten, &diff),
            OutputFormat::Human | OutputFormat::Json => {
                let heading = format!("-- {} ({} rewritten)\n", migration.tag, plural(rewritten, "statement"));
                format!("{heading}{}{diff}\n", statement_lines(migration, &fixed))
            }
        });
        documents.push(json!({
            "tag": migration.tag,
            "file": migration.file,
            "rewritten": rewritten,
            "statements": fixed.statements.iter().map(|statement| statement_json(migration, statement)).collect::<Vec<_>>(),
            "diff": diff,
        }));
    }
    let rewritten =
        format!("{} rewritten in {}", plural(rewritten_total, "statement"), plural(selected.len(), "migration"));
    let write = write || (!files.is_empty() && asked_to_write(context, &mut human, files.len())?);
    if !write || files.is_empty() {
        let then = if files.is_empty() {
            "nothing to write"
        } else {
            "nothing written: `--write` writes it once a replay shows the same schema"
        };
        human.push_str(&format!("{rewritten}; {then}"));
        return Ok(Report::new(
            &json!({ "migrations": documents, "rewritten": rewritten_total, "written": false }),
            human,
        ));
    }
    // Refused, the rewrite is still shown: what was tried, and the diff to apply by hand.
    let objects = prove_same_schema(context, &folder.dir, &files).await.map_err(|mut error| {
        let document = json!({ "migrations": documents, "rewritten": rewritten_total, "written": false });
        error.report = Some(Box::new(Report::new(&document, format!("{human}{rewritten}; nothing written"))));
        error
    })?;
    let originals: Vec<(std::path::PathBuf, String)> =
        selected.iter().map(|migration| (migration.file.clone(), migration.text.clone())).collect();
    write_all_or_none(&files, &originals)?;
    human.push_str(&format!(
        "{rewritten}; the folder before and after, replayed in scratch databases, make the same schema ({} objects): wrote {}",
        objects,
        plural(files.len(), "file")
    ));
    Ok(Report::new(&json!({ "migrations": documents, "rewritten": rewritten_total, "written": true }), human))
}

/// At a terminal, without `--write`: the rewrite is shown now and the question
/// asked. Whether it was answered `yes`; what was shown is no longer in `human`.
fn asked_to_write(context: &Context<'_>, human: &mut String, files: usize) -> Result<bool> {
    use std::io::{IsTerminal, Write};
    if context.printer.format != crate::output::OutputFormat::Human || !std::io::stdout().is_terminal() {
        return Ok(false);
    }
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(human.as_bytes());
    let _ = out.flush();
    human.clear();
    let prompt = format!(
        "write the rewrite of {} once a replay shows the same schema? type yes to write: ",
        plural(files, "file")
    );
    Ok(matches!(crate::confirmation::ask_to_type(&prompt, "yes")?, crate::confirmation::Answer::Confirmed))
}

/// Replays the folder as it is and with `files` rewritten, each into a scratch
/// database of the embedded cluster: the number of objects both make, or what differs.
async fn prove_same_schema(
    context: &Context<'_>,
    dir: &std::path::Path,
    files: &[(std::path::PathBuf, String)],
) -> Result<usize> {
    use crate::drift::scratch::LiveServer;
    let copy = tempfile::tempdir().map_err(|err| Error::internal(format!("no temporary folder: {err}")))?;
    copy_folder(dir, copy.path())?;
    for (file, text) in files {
        let relative = file.strip_prefix(dir).unwrap_or(file);
        std::fs::write(copy.path().join(relative), text).map_err(|err| Error::io("write", copy.path(), err))?;
    }
    let wait = std::time::Duration::from_secs(30);
    let env = &context.env;
    let (before, _) = crate::drift::expected(env, read_folder(dir)?, None, None, LiveServer::NotRead, wait).await?;
    let (after, _) = crate::drift::expected(env, read_folder(copy.path())?, None, None, LiveServer::NotRead, wait)
        .await
        .map_err(|error| rewritten_did_not_replay(error, copy.path(), dir))?;
    let differences = crate::drift::model::differences(&before, &after);
    if differences.is_empty() {
        return Ok(before.objects.len());
    }
    let mut error = Error::integrity("the rewritten folder would not make the same schema: nothing written");
    for difference in &differences {
        error = error.note("differs", difference.describe());
    }
    Err(error.help(
        "apply the diff by hand where you agree with it, or leave the migration as it is; please report the statement",
    ))
}

/// The folder as it is replayed and the rewritten one did not: the replay's
/// failure said as the rewrite's, its file named in the folder, not the copy.
fn rewritten_did_not_replay(error: Error, copy: &std::path::Path, dir: &std::path::Path) -> Error {
    if error.kind != crate::error::ErrorKind::MigrationFailed {
        return error;
    }
    let (copy, dir) = (copy.display().to_string(), dir.display().to_string());
    let mut wrapped = Error::integrity(format!(
        "the rewritten folder does not replay where the folder as it is does: nothing written ({})",
        error.message.replace(&copy, &dir)
    ));
    for note in error.notes.into_iter().filter(|note| note.label != "while") {
        // Its line and statement are the rewrite's, not the file's as it is.
        let label = if note.label == "file" { "in the rewrite of".to_owned() } else { note.label };
        wrapped = wrapped.note(label, note.value.replace(&copy, &dir));
    }
    wrapped.help(
        "leave the migration as it is, or apply the diff by hand where you agree with it; please report the statement",
    )
}

/// Writes every file or none: each rewrite goes to a temporary file beside its
/// migration first, and only once all are written are they renamed over the
/// migrations; a rename that fails puts back the ones already renamed.
fn write_all_or_none(files: &[(std::path::PathBuf, String)], originals: &[(std::path::PathBuf, String)]) -> Result<()> {
    let temporary = |file: &std::path::Path| file.with_extension("sql.praxia-fix");
    let mut written = Vec::new();
    for (file, text) in files {
        let path = temporary(file);
        if let Err(err) = std::fs::write(&path, text) {
            for path in written {
                let _ = std::fs::remove_file(path);
            }
            return Err(Error::io("write", &path, err).help("nothing was written: no migration changed"));
        }
        written.push(path);
    }
    for (done, (file, _)) in files.iter().enumerate() {
        if let Err(err) = std::fs::rename(temporary(file), file) {
            for (file, _) in &files[done..] {
                let _ = std::fs::remove_file(temporary(file));
            }
            for (file, original) in
                originals.iter().filter(|(original, _)| files[..done].iter().any(|(f, _)| f == original))
            {
                let _ = std::fs::write(file, original);
            }
            return Err(
                Error::io("write", file, err).help("the migrations already rewritten were put back as they were")
            );
        }
    }
    Ok(())
}

fn copy_folder(from: &std::path::Path, to: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|err| Error::io("write", to, err))?;
    for entry in std::fs::read_dir(from).map_err(|err| Error::io("read", from, err))? {
        let entry = entry.map_err(|err| Error::io("read", from, err))?;
        let (path, target) = (entry.path(), to.join(entry.file_name()));
        if path.is_dir() {
            copy_folder(&path, &target)?;
        } else {
            std::fs::copy(&path, &target).map_err(|err| Error::io("write", &target, err))?;
        }
    }
    Ok(())
}

/// One line per statement the engine rewrote or left alone for a reason worth saying.
fn statement_lines(migration: &Migration, fixed: &LockSafe) -> String {
    let mut lines = String::new();
    for statement in &fixed.statements {
        let line = migration.lines.line_column(&migration.text, statement.offset).0;
        match &statement.outcome {
            Outcome::Rewritten(recipe) => {
                lines.push_str(&format!("   line {line}: {} ({})\n", recipe.describe(), recipe.rule()));
            }
            Outcome::LeftAlone(reason) if reason.worth_saying() => {
                let advice = reason.advice().map(|advice| format!("; {advice}")).unwrap_or_default();
                lines.push_str(&format!("   line {line}: left as written: {}{advice}\n", reason.reason()));
            }
            Outcome::LeftAlone(_) => {}
        }
    }
    lines
}

/// A notice per statement rewritten or worth a word, on its line of the pull request's diff.
fn annotations(top: Option<&std::path::Path>, migration: &Migration, fixed: &LockSafe) -> String {
    use super::render::{escape_data, escape_property};
    let file = top.and_then(|top| migration.file.strip_prefix(top).ok()).unwrap_or(&migration.file);
    let mut text = String::new();
    for statement in &fixed.statements {
        let message = match &statement.outcome {
            Outcome::Rewritten(recipe) => format!(
                "lock-safe rewrite: {} ({}); `praxia-deploy lint --fix {} --write` writes it",
                recipe.describe(),
                recipe.rule(),
                migration.tag
            ),
            Outcome::LeftAlone(reason) if reason.worth_saying() => {
                let advice = reason.advice().map(|advice| format!("; {advice}")).unwrap_or_default();
                format!("left as written: {}{advice}", reason.reason())
            }
            Outcome::LeftAlone(_) => continue,
        };
        text.push_str(&format!(
            "::notice file={},line={},title={}::{}\n",
            escape_property(&file.display().to_string()),
            migration.lines.line_column(&migration.text, statement.offset).0,
            escape_property("praxia-deploy lint --fix"),
            escape_data(&message)
        ));
    }
    text
}

/// A migration's part of the pull-request comment: what became of each
/// statement, then the diff in a fence no line of it can close.
fn markdown(migration: &Migration, fixed: &LockSafe, rewritten: usize, diff: &str) -> String {
    let mut text = format!("#### `{}` ({} rewritten)\n\n", migration.tag, plural(rewritten, "statement"));
    for line in statement_lines(migration, fixed).lines() {
        text.push_str(&format!("- {}\n", super::render::cell(line.trim_start())));
    }
    if !diff.is_empty() {
        let mut fence = "```".to_owned();
        while diff.contains(&fence) {
            fence.push('`');
        }
        text.push_str(&format!("\n{fence}diff\n{diff}{fence}\n"));
    }
    text.push('\n');
    text
}

fn statement_json(migration: &Migration, statement: &crate::review::StatementOutcome) -> serde_json::Value {
    let line = migration.lines.line_column(&migration.text, statement.offset).0;
    match &statement.outcome {
        Outcome::Rewritten(recipe) => json!({ "line": line, "rewritten": recipe.describe(), "rule": recipe.rule() }),
        Outcome::LeftAlone(reason) => {
            json!({ "line": line, "left_alone": reason.reason(), "advice": reason.advice() })
        }
    }
}

/// `a/FILE` against `b/FILE`, paths from the project root as `git diff` shows
/// them; empty when nothing changed.
fn unified_diff(root: &std::path::Path, migration: &Migration, fixed: &LockSafe) -> String {
    if fixed.sql == migration.text {
        return String::new();
    }
    let path = migration.file.strip_prefix(root).unwrap_or(&migration.file).display().to_string();
    similar::TextDiff::from_lines(&migration.text, &fixed.sql)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

/// The tags of the folder recorded as applied in the environment's database,
/// when its URL is set and it answers within a few seconds (else it is said
/// that it could not be checked): the database shown redacted, and the tags.
async fn applied_in_database(
    context: &Context<'_>,
    folder: &crate::migration_folder::MigrationFolder,
) -> Option<(String, Vec<String>)> {
    use crate::config::DatabaseTarget;
    use crate::migrations::{bookkeeping::Bookkeeping, plan, state};
    let url = match context.env.database_target(None) {
        Ok(DatabaseTarget::Url { url, .. }) => url,
        // A development or test environment's embedded database is this checkout's own.
        Ok(DatabaseTarget::Embedded) => return None,
        Ok(DatabaseTarget::Missing) | Err(_) => {
            tracing::warn!(
                "could not check which migrations the {} database has applied: {} is not set here",
                context.env.name,
                context.env.database.url_env
            );
            return None;
        }
    };
    let read = async {
        let mut connection =
            crate::database::connect(&url, std::time::Duration::from_secs(3), "praxia-deploy lint --fix").await?;
        let state =
            state::read(&mut connection, &Bookkeeping::new(&context.env.migrations), state::Detail::Quick).await;
        use sqlx::Connection;
        let _ = connection.close().await;
        state
    };
    match read.await {
        Ok(state) => {
            let planned = plan::plan(folder, &state.rows, plan::OutOfOrder::Allow);
            Some((url.to_string(), planned.applied.iter().map(|(migration, _)| migration.tag.clone()).collect()))
        }
        Err(error) => {
            tracing::warn!("could not check which migrations {url} has applied: {}", error.message);
            None
        }
    }
}
