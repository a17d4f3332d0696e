//! `release`, `migrate`, `status`, `plan`, `new`: the migration engine's commands.

use std::fmt::Write;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use super::Context;
use crate::cli::{ApplyArgs, WaitArgs};
use crate::config::{DatabaseUrl, Environment};
use crate::database;
use crate::error::{Error, ErrorKind, Result};
use crate::migrations::apply::{AppliedMigration, Applier, Limits};
use crate::migrations::bookkeeping::{Bookkeeping, Provenance};
use crate::migrations::folder::{Layout, Migration, MigrationFolder, TransactionMode, read_folder};
use crate::migrations::lock::{LockGuard, MigrationLock};
use crate::migrations::plan::{NameBackfill, OutOfOrder, Plan, Step, TableShape, plan, steps};
use crate::migrations::{folder, new};
use crate::output::{MigrationProgress, Report};
use crate::stamp::{self, EnvironmentStamp, Overwrite};

/// The JSON `result` of every migration command: the same shape for all of them.
#[derive(Debug, Serialize)]
struct MigrationReport {
    environment: serde_json::Value,
    database: String,
    bookkeeping: String,
    /// The folder's layout: `journal` (drizzle-kit 0.x) or `folders` (drizzle 1.0).
    layout: Layout,
    /// The bookkeeping table's shape as found: `missing`, `drizzle0` or `drizzle1`.
    table_shape: TableShape,
    /// Rows of a drizzle 1.0 table without a name (drizzle-orm 1.0 would run them
    /// again); `migrate` and `release` write them.
    names_missing: Vec<NameBackfill>,
    applied: Vec<MigrationEntry>,
    pending: Vec<MigrationEntry>,
    problems: Vec<serde_json::Value>,
    /// What this command ran (migrate and release).
    ran: Vec<AppliedMigration>,
    /// The database's environment stamp, if it has one.
    stamp: Option<EnvironmentStamp>,
    /// What `release` did about fixtures.
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
struct MigrationEntry {
    tag: String,
    /// drizzle 1.0's name for it (the folder name, or the one `drizzle-kit up` gives).
    name: String,
    when: i64,
    hash: String,
    #[serde(flatten)]
    mode: TransactionMode,
    /// The statements, for `plan` and `migrate --dry-run`.
    #[serde(skip_serializing_if = "Option::is_none")]
    statements: Option<Vec<StatementEntry>>,
}

#[derive(Debug, Serialize)]
struct StatementEntry {
    number: usize,
    line: usize,
    sql: String,
}

/// The environment's database and its migration folder.
struct Session<'c> {
    context: &'c Context<'c>,
    url: DatabaseUrl,
    folder: MigrationFolder,
    bookkeeping: Bookkeeping,
    stamp: Option<EnvironmentStamp>,
}

impl<'c> Session<'c> {
    /// The folder is read first: a broken folder is refused before any connection.
    async fn open(context: &'c Context<'c>, wait: &WaitArgs) -> Result<(Session<'c>, PgConnection)> {
        let env = &context.env;
        let folder = read_folder(&env.migrations.dir)?;
        let url = database::url_for(env, context.cli.global.database_url.as_deref())?;
        let wait = wait.wait.unwrap_or(env.database.wait).0;
        let mut connection = database::connect(&url, wait, &application_name(context)).await?;
        let stamp = stamp::read(&mut connection).await?;
        Ok((Session { context, url, folder, bookkeeping: Bookkeeping::new(&env.migrations), stamp }, connection))
    }

    fn report(&self, plan: &Plan, ran: Vec<AppliedMigration>, with_statements: bool) -> MigrationReport {
        let env = &self.context.env;
        MigrationReport {
            environment: json!({ "name": env.name, "kind": env.kind }),
            database: self.url.redacted(),
            bookkeeping: self.bookkeeping.name().to_owned(),
            layout: plan.layout,
            table_shape: plan.shape,
            names_missing: plan.names_missing().to_vec(),
            applied: plan.applied.iter().map(|(migration, _)| entry(migration, false)).collect(),
            pending: plan.pending.iter().map(|migration| entry(migration, with_statements)).collect(),
            problems: plan.problems.iter().map(problem_json).collect(),
            ran,
            stamp: self.stamp.clone(),
            seed: None,
        }
    }
}

fn entry(migration: &Migration, with_statements: bool) -> MigrationEntry {
    MigrationEntry {
        tag: migration.tag.clone(),
        name: migration.name.clone(),
        when: migration.when,
        hash: migration.hash.clone(),
        mode: migration.mode,
        statements: with_statements.then(|| {
            migration
                .statements()
                .map(|statement| StatementEntry {
                    number: statement.number,
                    line: statement.line,
                    sql: statement.text.trim().to_owned(),
                })
                .collect()
        }),
    }
}

fn problem_json(problem: &crate::migrations::plan::Problem) -> serde_json::Value {
    let mut value = serde_json::to_value(problem).expect("problems serialise");
    value["tag"] = json!(problem.tag());
    value["detail"] = json!(problem.describe());
    value
}

fn application_name(context: &Context) -> String {
    format!("praxia-deploy {} ({})", context.cli.command.name(), context.env.name)
}

pub async fn status(context: &Context<'_>, wait: &WaitArgs, exit_code: bool) -> Result<Report> {
    let (session, mut connection) = Session::open(context, wait).await?;
    let rows = session.bookkeeping.read_applied(&mut connection).await?;
    let _ = connection.close().await;
    let plan = plan(&session.folder, &rows, OutOfOrder::Refuse);
    let report = session.report(&plan, Vec::new(), false);
    let human = status_table(&session, &plan);
    let report = Report::new(&report, human);
    if let Some(refusal) = plan.refusal() {
        return Err(refusal.with_report(report));
    }
    if exit_code && !plan.pending.is_empty() {
        return Err(Error::new(ErrorKind::Pending, format!("{} migrations are pending", plan.pending.len()))
            .help("apply them with `praxia-deploy migrate`")
            .with_report(report));
    }
    Ok(report)
}

pub async fn plan_command(context: &Context<'_>, wait: &WaitArgs, allow_out_of_order: bool) -> Result<Report> {
    let (session, mut connection) = Session::open(context, wait).await?;
    let rows = session.bookkeeping.read_applied(&mut connection).await?;
    let _ = connection.close().await;
    let plan = plan(&session.folder, &rows, out_of_order(allow_out_of_order));
    let report = Report::new(&session.report(&plan, Vec::new(), true), sql_listing(&plan));
    match plan.refusal() {
        Some(refusal) => Err(refusal.with_report(report)),
        None => Ok(report),
    }
}

pub async fn migrate(context: &Context<'_>, args: &ApplyArgs, dry_run: bool) -> Result<Report> {
    let run = run_migrations(context, args, dry_run).await?;
    Ok(Report::new(&run.report, run.human))
}

/// `release`: migrate, then the seed policy: development and test get their
/// fixtures (idempotently), staging and production are skipped with one line.
pub async fn release(context: &Context<'_>, args: &ApplyArgs) -> Result<Report> {
    let MigrationRun { mut report, mut human, url } = run_migrations(context, args, false).await?;
    let outcome = super::seed::release_step(context, &url).await?;
    human.push('\n');
    human.push_str(&outcome.summary);
    report.seed = Some(serde_json::to_value(&outcome).expect("seed outcomes serialise"));
    Ok(Report::new(&report, human))
}

/// Read, check the stamp, plan; if anything is pending, lock, read again, apply.
/// With nothing pending it takes no lock and creates nothing but the stamp of a
/// database that has none.
async fn run_migrations(context: &Context<'_>, args: &ApplyArgs, dry_run: bool) -> Result<MigrationRun> {
    let started = Instant::now();
    let env = &context.env;
    let (mut session, mut connection) = Session::open(context, &args.wait).await?;
    stamp::check(env, session.stamp.as_ref())?;
    let order = out_of_order(args.allow_out_of_order);
    let rows = session.bookkeeping.read_applied(&mut connection).await?;
    let first_look = plan(&session.folder, &rows, order);
    if let Some(refusal) = first_look.refusal() {
        let report = Report::new(&session.report(&first_look, Vec::new(), false), "");
        return Err(refusal.with_report(report));
    }
    if dry_run {
        let _ = connection.close().await;
        let human = format!("dry run: nothing was changed\n{}", sql_listing(&first_look));
        return Ok(MigrationRun { report: session.report(&first_look, Vec::new(), true), human, url: session.url });
    }
    if first_look.pending.is_empty() && first_look.names_missing().is_empty() {
        if session.stamp.is_none() {
            if stamp::claims_unstamped(env.kind, !rows.rows.is_empty()) {
                session.stamp = stamp_now(&mut connection, env).await?;
            } else {
                tracing::warn!("{}", stamp::unclaimed_warning(env));
            }
        }
        let _ = connection.close().await;
        let human = format!(
            "nothing to do: {} migrations applied, none pending ({} ms)",
            first_look.applied.len(),
            started.elapsed().as_millis()
        );
        return Ok(MigrationRun { report: session.report(&first_look, Vec::new(), false), human, url: session.url });
    }

    let nothing_was_pending = first_look.pending.is_empty();
    let lock_wait = args.lock_wait.unwrap_or(env.database.lock_wait).0;
    let lock = MigrationLock::acquire(
        &session.url,
        session.bookkeeping.lock_key(),
        lock_wait,
        &format!("{} lock", application_name(context)),
    )
    .await?;
    let outcome = apply_locked(context, &mut session, &mut connection, order, lock.guard()).await;
    // The outcome matters more than the unlock: a failed release of the lock only warns.
    if let Err(err) = lock.release().await {
        tracing::warn!("{err}; the server drops the lock when the connection closes");
    }
    let _ = connection.close().await;
    let (mut report, ran, named) = outcome?;
    let mut human = if ran.is_empty() && nothing_was_pending {
        format!("nothing to do: {} migrations applied, none pending", report.applied.len())
    } else if ran.is_empty() {
        "nothing to do: another runner applied the pending migrations first".to_owned()
    } else {
        format!("applied {} migrations in {} ms", ran.len(), started.elapsed().as_millis())
    };
    if named > 0 {
        human.push_str(&format!(
            "\nrecorded the drizzle 1.0 name of {named} applied migrations in {} (drizzle-orm 1.0 would have run them again)",
            session.bookkeeping.name()
        ));
    }
    report.ran = ran;
    Ok(MigrationRun { report, human, url: session.url })
}

/// What `run_migrations` hands to `migrate` and `release`.
struct MigrationRun {
    report: MigrationReport,
    human: String,
    url: DatabaseUrl,
}

/// Stamps an unstamped database with `env` and returns the stamp now in place.
async fn stamp_now(connection: &mut PgConnection, env: &Environment) -> Result<Option<EnvironmentStamp>> {
    let provenance = Provenance::here(&env.name);
    let mut transaction = connection.begin().await.map_err(stamp_failed)?;
    stamp::write(&mut transaction, env, &provenance, Overwrite::No).await.map_err(stamp_failed)?;
    transaction.commit().await.map_err(stamp_failed)?;
    let stamp = stamp::read(connection).await?;
    stamp::check(env, stamp.as_ref())?;
    Ok(stamp)
}

fn stamp_failed(err: sqlx::Error) -> Error {
    Error::unavailable("could not write the environment stamp").note("reason", database::describe(&err))
}

/// Under the lock: the applied state read again (another runner may have just
/// finished), checked again, then applied.
async fn apply_locked(
    context: &Context<'_>,
    session: &mut Session<'_>,
    connection: &mut PgConnection,
    order: OutOfOrder,
    lock: LockGuard,
) -> Result<(MigrationReport, Vec<AppliedMigration>, usize)> {
    let env = &context.env;
    session.stamp = stamp::read(connection).await?;
    stamp::check(env, session.stamp.as_ref())?;
    let rows = session.bookkeeping.read_applied(connection).await?;
    let locked_plan = plan(&session.folder, &rows, order);
    if let Some(refusal) = locked_plan.refusal() {
        return Err(refusal);
    }
    let named = locked_plan.names_missing().len();
    if locked_plan.pending.is_empty() && named == 0 {
        return Ok((session.report(&locked_plan, Vec::new(), false), Vec::new(), 0));
    }
    let claim = session.stamp.is_none() && stamp::claims_unstamped(env.kind, !rows.rows.is_empty());
    if session.stamp.is_none() && !claim {
        tracing::warn!("{}", stamp::unclaimed_warning(env));
    }
    if !locked_plan.pending.is_empty() {
        context.printer.progress_line(&format!(
            "applying {} migrations to {} ({})",
            locked_plan.pending.len(),
            session.url,
            env.name
        ));
    }
    let provenance = Provenance::here(&env.name);
    let limits = Limits { lock_timeout: env.database.lock_timeout, statement_timeout: env.database.statement_timeout };
    let applier = Applier {
        bookkeeping: &session.bookkeeping,
        table: &locked_plan.table,
        provenance: &provenance,
        limits: &limits,
        stamp: claim.then_some(env),
        lock,
    };
    let mut progress = MigrationProgress::new(context.printer, locked_plan.pending.len());
    // Nothing pending but names to write: one transaction that writes only them.
    let steps =
        if locked_plan.pending.is_empty() { vec![Step::Batch(Vec::new())] } else { steps(&locked_plan.pending) };
    let outcome = applier.apply(connection, &steps, &mut progress).await;
    progress.finish();
    let ran = outcome?;
    session.stamp = stamp::read(connection).await?;
    let rows = session.bookkeeping.read_applied(connection).await?;
    let after = plan(&session.folder, &rows, OutOfOrder::Allow);
    Ok((session.report(&after, Vec::new(), false), ran, named))
}

pub fn new_migration(context: &Context<'_>, name: &str, layout: Option<Layout>) -> Result<Report> {
    let dir = &context.env.migrations.dir;
    let contents = if dir.exists() { folder::read_contents(dir)? } else { folder::FolderContents::default() };
    let is_empty = contents.journal.is_none() && contents.sql_files.is_empty() && contents.subfolders.is_empty();
    // Appending to a folder that would be refused only hides the problem.
    let existing_folder = if is_empty { None } else { Some(folder::parse_folder(dir, contents)?) };
    let found_layout = existing_folder.as_ref().map(|folder| folder.layout);
    if let (Some(found), Some(asked)) = (found_layout, layout)
        && found != asked
    {
        return Err(Error::usage(format!("the migration folder {} already uses the {found} layout", dir.display()))
            .help(match found {
                Layout::Journal => {
                    "to move it to drizzle 1.0's layout, run `drizzle-kit up` (drizzle-kit 1.0); then `new` follows it"
                }
                Layout::Folders => "an existing folder keeps its layout; leave out --layout",
            }));
    }
    let layout = found_layout.or(layout).unwrap_or(Layout::Journal);
    let journal = match layout {
        Layout::Journal => read_text(&dir.join(folder::JOURNAL_PATH))?,
        Layout::Folders => None,
    };
    let last = existing_folder.as_ref().and_then(|folder| folder.migrations.last());
    let last_snapshot = last.map(|migration| read_text(&migration.snapshot)).transpose()?.flatten();
    let has_snapshots = existing_folder
        .as_ref()
        .is_some_and(|folder| folder.migrations.iter().any(|migration| migration.snapshot.is_file()));
    let existing = new::Existing {
        layout,
        journal: journal.as_deref(),
        last: last.map(|migration| (migration, last_snapshot.as_deref())),
        has_snapshots,
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
    let id = uuid::Uuid::new_v4().to_string();
    let migration = new::prepare(dir, existing, name, now_ms, &id)?;
    new::write(dir, &migration)?;
    let mut human = format!("created {} ({}, when {})", migration.file.display(), migration.tag, migration.when);
    match &migration.snapshot {
        Some((path, _)) => human.push_str(&format!("\nsnapshot {} (the previous schema, carried forward)", path.display())),
        None => human.push_str(
            "\nno snapshot written: the folder has none, so `drizzle-kit generate` and `drizzle-kit up` cannot work on it until drizzle-kit's snapshots are added",
        ),
    }
    let report = json!({
        "tag": migration.tag,
        "when": migration.when,
        "layout": migration.layout,
        "file": migration.file,
        "snapshot": migration.snapshot.as_ref().map(|(path, _)| path),
    });
    Ok(Report::new(&report, human))
}

/// A file's text, or None when it does not exist.
fn read_text(path: &std::path::Path) -> Result<Option<String>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(Error::io("read", path, err)),
    }
}

fn out_of_order(allow: bool) -> OutOfOrder {
    if allow { OutOfOrder::Allow } else { OutOfOrder::Refuse }
}

fn status_table(session: &Session, plan: &Plan) -> String {
    let env = &session.context.env;
    let mut text = String::new();
    let _ = writeln!(text, "environment  {} ({})", env.name, env.kind);
    let _ = writeln!(text, "database     {}", session.url);
    let _ = writeln!(text, "folder       {} -> {}", session.folder.dir.display(), session.bookkeeping.name());
    let _ = writeln!(text, "layout       {}", session.folder.layout);
    let _ = writeln!(text, "table        {}", plan.shape);
    let stamp = match &session.stamp {
        Some(stamp) => format!("{} ({}), {} by {}", stamp.name, stamp.kind, stamp.stamped_at, stamp.stamped_by),
        None => "none yet (the first migrate or release writes it)".to_owned(),
    };
    let _ = writeln!(text, "stamp        {stamp}");
    let width = session.folder.migrations.iter().map(|migration| migration.tag.len()).max().unwrap_or(9).max(9);
    let _ = writeln!(text, "\n  {:<8}  {:<width$}  {:<19}  mode", "state", "migration", "when (UTC)");
    for (migration, _) in &plan.applied {
        let _ = writeln!(text, "  {:<8}  {:<width$}  {:<19}", "applied", migration.tag, when(migration.when));
    }
    for migration in &plan.pending {
        let _ = writeln!(
            text,
            "  {:<8}  {:<width$}  {:<19}  {}",
            "pending",
            migration.tag,
            when(migration.when),
            migration.mode
        );
    }
    let _ = writeln!(text, "\n{} applied, {} pending", plan.applied.len(), plan.pending.len());
    let mut text: String = text.lines().map(|line| format!("{}\n", line.trim_end())).collect();
    for problem in &plan.problems {
        let _ = writeln!(text, "problem: {}", problem.describe());
    }
    for backfill in plan.names_missing() {
        let _ = writeln!(
            text,
            "warning: row {} ({}) has no name: drizzle-orm 1.0 would run it again; `praxia-deploy migrate` records it",
            backfill.id, backfill.name
        );
    }
    if plan.shape == TableShape::Drizzle0 && plan.layout == Layout::Folders {
        let _ = writeln!(
            text,
            "note: the table gets drizzle 1.0's name and applied_at columns in the transaction of the next migration"
        );
    }
    text
}

fn sql_listing(plan: &Plan) -> String {
    if plan.pending.is_empty() {
        return "nothing pending\n".to_owned();
    }
    let mut text = String::new();
    for migration in &plan.pending {
        let _ = writeln!(text, "-- {} ({}), {}", migration.tag, migration.file.display(), migration.mode);
        for statement in migration.statements() {
            let _ = writeln!(text, "-- statement {}, line {}", statement.number, statement.line);
            let _ = writeln!(text, "{}\n", statement.text.trim());
        }
    }
    text
}

fn when(ms: i64) -> String {
    let Ok(ms) = u64::try_from(ms) else {
        return ms.to_string();
    };
    let time = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(time).to_string().replace('T', " ").trim_end_matches('Z').to_owned()
}
