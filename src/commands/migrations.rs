//! `release`, `migrate`, `status`, `plan`, `new`: the migration engine's commands,
//! which render what the engine (`migrations::run`) returns.

use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use super::Context;
use crate::backup::sources::BackupSource;
use crate::cli::{ApplyArgs, WaitArgs};
use crate::error::{Error, ErrorKind, Result};
use crate::migration_folder::{Layout, Migration, TransactionMode};
use crate::migrations::apply::AppliedMigration;
use crate::migrations::contract::{ContractMode, Waiting, arrange};
use crate::migrations::new;
use crate::migrations::plan::{NameBackfill, OutOfOrder, Plan, TableShape};
use crate::migrations::run::{DatabaseState, Migrator, Outcome, Run, Settings};
use crate::output::{MigrationProgress, Report};
use crate::provenance::BackupRecord;
use crate::release::{Released, Steps};
use crate::review::{Reviewed, Verdict};
use crate::stamp::{self, EnvironmentStamp};
use crate::text::plural;

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
    /// Whether the next write adds drizzle 1.0's columns to a 0.x table.
    widens_table: bool,
    /// How many drizzle 1.0 names this run wrote (migrate and release).
    names_written: usize,
    /// INVALID indexes of the database, each with the statement that removes it.
    invalid_indexes: Vec<serde_json::Value>,
    applied: Vec<MigrationEntry>,
    pending: Vec<MigrationEntry>,
    problems: Vec<serde_json::Value>,
    /// What this command ran (migrate and release).
    ran: Vec<AppliedMigration>,
    /// Migrations whose expand part ran and whose contract part is held back
    /// until the previous release has retired (drizzle's row waits with it).
    held_back: Vec<crate::own_schema::PendingContract>,
    /// The database's environment stamp, if it has one.
    stamp: Option<EnvironmentStamp>,
    /// What `release` did about fixtures.
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<serde_json::Value>,
    /// `plan` and `--dry-run`: what the review found, and the gate's answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    review: Option<serde_json::Value>,
    /// The verified backup taken before these migrations (migrate, release).
    #[serde(skip_serializing_if = "Option::is_none")]
    backup: Option<BackupRecord>,
    /// `status`: the newest row of the migration log, with the backup taken before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    last_migration: Option<crate::own_schema::LastLogged>,
    /// `plan`, where `[review] lock_budget` is set: what it would refuse.
    #[serde(skip_serializing_if = "Option::is_none")]
    over_budget: Option<Vec<crate::rehearse::budget::OverBudget>>,
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
    /// With the statements: the review's findings on none of them (the migration as a whole).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    findings: Vec<crate::review::Finding>,
}

#[derive(Debug, Serialize)]
struct StatementEntry {
    number: usize,
    line: usize,
    sql: String,
    /// The review's findings on this statement (offline: what `lint` finds).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    findings: Vec<crate::review::Finding>,
}

/// The engine's view of the environment, opened the way every migration command opens it.
fn open<'e>(context: &'e Context<'e>) -> Result<Migrator<'e>> {
    Migrator::open(&context.env, context.cli.global.database_url.as_deref(), application_name(context))
}

/// `open`, with the run's first connection and read made while the folder is read.
async fn open_connected<'e>(
    context: &'e Context<'e>,
    wait: Duration,
) -> Result<(Migrator<'e>, crate::migrations::run::Connected)> {
    Migrator::open_connected(&context.env, context.cli.global.database_url.as_deref(), application_name(context), wait)
        .await
}

fn application_name(context: &Context<'_>) -> String {
    format!("praxia-deploy {} ({})", context.cli.command.name(), context.env.name)
}

/// The JSON `result` every migration command shares.
fn report(
    migrator: &Migrator,
    state: &DatabaseState,
    plan: &Plan,
    ran: Vec<AppliedMigration>,
    statements: Option<&[Reviewed]>,
) -> MigrationReport {
    let env = migrator.env();
    MigrationReport {
        environment: json!({ "name": env.name, "kind": env.kind }),
        database: migrator.url().redacted(),
        bookkeeping: migrator.bookkeeping().name().to_owned(),
        layout: plan.layout,
        table_shape: plan.found_shape,
        names_missing: plan.names_missing().to_vec(),
        widens_table: plan.table.widen && !plan.pending.is_empty(),
        names_written: 0,
        invalid_indexes: state
            .invalid_indexes
            .iter()
            .map(|index| {
                json!({ "index": index, "drop": crate::migrations::apply::drop_statements(std::slice::from_ref(index)) })
            })
            .collect(),
        applied: plan.applied.iter().map(|(migration, _)| entry(migration, None)).collect(),
        pending: plan
            .pending
            .iter()
            .enumerate()
            .map(|(i, migration)| entry(migration, statements.map(|reviews| &reviews[i])))
            .collect(),
        problems: plan.problems.iter().map(problem_json).collect(),
        ran,
        held_back: state.contracts.clone(),
        stamp: state.stamp.clone(),
        seed: None,
        review: statements.map(|reviews| review_json(migrator.env(), reviews)),
        over_budget: None,
        backup: None,
        last_migration: None,
    }
}

/// With `review`, the statements and the findings on them.
fn entry(migration: &Migration, review: Option<&Reviewed>) -> MigrationEntry {
    MigrationEntry {
        tag: migration.tag.clone(),
        name: migration.name.clone(),
        when: migration.when,
        hash: migration.hash.clone(),
        mode: migration.mode,
        statements: review.map(|review| {
            migration
                .statements()
                .map(|statement| StatementEntry {
                    number: statement.number,
                    line: statement.line,
                    sql: statement.text.trim().to_owned(),
                    findings: review.on(statement.number).cloned().collect(),
                })
                .collect()
        }),
        findings: review.map(|review| review.on(0).cloned().collect()).unwrap_or_default(),
    }
}

fn problem_json(problem: &crate::migrations::plan::Problem) -> serde_json::Value {
    let mut value = serde_json::to_value(problem).expect("problems serialise");
    value["tag"] = json!(problem.tag());
    value["detail"] = json!(problem.describe());
    value
}

pub async fn status(context: &Context<'_>, wait: &WaitArgs, exit_code: bool) -> Result<Report> {
    let migrator = open(context)?;
    let state = migrator.inspect(context.wait(wait)).await?;
    let plan = migrator.plan(&state, OutOfOrder::Refuse);
    let last = migrator.last_logged(context.wait(wait)).await?;
    let mut json_report = report(&migrator, &state, &plan, Vec::new(), None);
    json_report.last_migration = last.clone();
    let mut table = status_table(&migrator, &state, &plan);
    let backs_up = [BackupSource::for_migrate(&context.env), BackupSource::for_release(&context.env)]
        .iter()
        .any(|source| !matches!(source, BackupSource::Skip));
    table.push_str(&last_backup_line(last.as_ref(), backs_up));
    let report = Report::new(&json_report, table);
    if let Some(refusal) = plan.refusal() {
        return Err(refusal.with_report(report));
    }
    if exit_code && !plan.pending.is_empty() {
        return Err(Error::new(ErrorKind::Pending, format!("{} pending", plural(plan.pending.len(), "migration")))
            .help("apply them with `praxia-deploy migrate`")
            .with_report(report));
    }
    if exit_code && !plan.names_missing().is_empty() {
        return Err(Error::new(
            ErrorKind::Pending,
            format!(
                "{} {} no drizzle 1.0 name: drizzle-orm 1.0 would run them again",
                plural(plan.names_missing().len(), "applied migration"),
                if plan.names_missing().len() == 1 { "has" } else { "have" }
            ),
        )
        .help("record the names with `praxia-deploy migrate` (nothing is run again)")
        .with_report(report));
    }
    Ok(report)
}

pub async fn plan_command(context: &Context<'_>, wait: &WaitArgs, allow_out_of_order: bool) -> Result<Report> {
    let migrator = open(context)?;
    let state = migrator.inspect(context.wait(wait)).await?;
    let mut plan = migrator.plan(&state, out_of_order(allow_out_of_order));
    // What `release` would run: the parts, where it holds contract parts back.
    let mode = ContractMode::for_release(&context.env.contract, crate::provenance::revision());
    let connected = match mode.sessions_decide(&context.env.contract, &state.contracts) {
        Some(prefix) => {
            let mut connection = migrator.connect(context.wait(wait)).await?;
            let seen = crate::migrations::retire::revisions_connected(&mut connection, prefix).await;
            let _ = sqlx::Connection::close(connection).await;
            Some(seen?)
        }
        None => None,
    };
    let waiting = arrange(&mut plan, &state.contracts, &mode, connected.as_deref())?;
    let reviews = migrator.review(&plan, None, context.wait(wait)).await?;
    let mut listing = sql_listing(&plan, migrator.bookkeeping().name(), &reviews);
    listing.push_str(&held_back_by_release(&plan, &waiting));
    listing.push_str(&gate_summary(&context.env, &reviews));
    let over_budget = budget(&context.env, &migrator, &plan, context.wait(wait)).await?;
    if let Some(over) = &over_budget {
        listing.push_str(&budget_summary(&context.env, over));
    }
    let mut document = report(&migrator, &state, &plan, Vec::new(), Some(&reviews));
    document.over_budget = over_budget;
    let report = Report::new(&document, listing);
    match plan.refusal() {
        Some(refusal) => Err(refusal.with_report(report)),
        None => Ok(report),
    }
}

/// What `[review] lock_budget` would refuse of the pending migrations, where one is set.
async fn budget(
    env: &crate::config::Environment,
    migrator: &Migrator<'_>,
    plan: &Plan<'_>,
    wait: std::time::Duration,
) -> Result<Option<Vec<crate::rehearse::budget::OverBudget>>> {
    if env.review.lock_budget.is_none() || plan.pending.is_empty() {
        return Ok(None);
    }
    let mut connection = migrator.connect(wait).await?;
    let over = crate::rehearse::over_budget(env, &mut connection, plan, None, migrator.bookkeeping().quoted()).await;
    let _ = sqlx::Connection::close(connection).await;
    over.map(Some)
}

fn budget_summary(env: &crate::config::Environment, over: &[crate::rehearse::budget::OverBudget]) -> String {
    let Some(budget) = env.review.lock_budget else {
        return String::new();
    };
    if over.is_empty() {
        return format!(
            "lock budget {budget}: every pending migration was rehearsed within it (or this is a first deploy)\n"
        );
    }
    let mut lines = String::new();
    for problem in over {
        let _ = writeln!(
            lines,
            "lock budget {budget} refuses {}",
            problem.describe(budget.0, env.review.rehearsal_max_age.0)
        );
    }
    lines
}

/// What `release` would leave for later: each statement of a contract part it
/// holds back, and each migration it leaves waiting.
fn held_back_by_release(plan: &Plan, waiting: &[Waiting]) -> String {
    let mut lines = String::new();
    for contract in &plan.held_back {
        for statement in contract.statements() {
            let _ = writeln!(
                lines,
                "release holds back {} line {} until the previous release has retired (`praxia-deploy contract` applies it): {}",
                contract.tag,
                statement.line,
                statement.text.trim().lines().next().unwrap_or("")
            );
        }
    }
    for later in waiting {
        let _ = writeln!(lines, "{}: {}", later.tag, later.why);
    }
    lines
}

/// What `migrate` does about the backup before it.
#[derive(Debug, Clone)]
pub enum Backup {
    /// `[backup] before_migrate`: a pg_dump here into `[backup] dir` when something is pending.
    AsConfigured,
    /// `--no-backup`.
    Skip,
    /// `--after-backup`: the laptop took it before sending `migrate` here.
    TakenBefore(BackupRecord),
}

pub async fn migrate(context: &Context<'_>, args: &ApplyArgs, dry_run: bool, backup: Backup) -> Result<Report> {
    if dry_run {
        let migrator = open(context)?;
        let state = migrator.inspect(context.wait(&args.wait)).await?;
        stamp::check(&context.env, state.stamp.as_ref())?;
        let mut plan = migrator.plan(&state, out_of_order(args.allow_out_of_order));
        // What `migrate` runs: an expanded migration's contract part, not its whole file.
        arrange(&mut plan, &state.contracts, &ContractMode::AtOnce, None)?;
        let reviews =
            migrator.review(&plan, args.batch_size.map(|size| size as usize), context.wait(&args.wait)).await?;
        let report = report(&migrator, &state, &plan, Vec::new(), Some(&reviews));
        if let Some(refusal) = plan.refusal() {
            return Err(refusal.with_report(Report::new(&report, "")));
        }
        let listing = format!(
            "dry run: nothing was changed\n{}{}",
            sql_listing(&plan, migrator.bookkeeping().name(), &reviews),
            gate_summary(&context.env, &reviews)
        );
        // A dry run answers what the run would do: the gate's refusal is its answer.
        if context.env.review.gate
            && let Some(refusal) = crate::review::gate_refusal(&context.env, &reviews)
        {
            return Err(refusal.with_report(Report::new(&report, listing)));
        }
        return Ok(Report::new(&report, listing));
    }
    let source = match backup {
        Backup::AsConfigured => BackupSource::for_migrate(&context.env),
        Backup::Skip => BackupSource::Skip,
        Backup::TakenBefore(record) => BackupSource::TakenBefore(record),
    };
    let steps = Steps { drift: false, backup: source, contract: ContractMode::AtOnce };
    let settings = settings(context, args);
    let (migrator, connected) = open_connected(context, settings.wait).await?;
    let mut progress = progress(context, &migrator);
    let released = crate::release::run(&migrator, connected, &steps, settings, &mut progress).await?;
    let (report, human) = render(&migrator, released, settings.order, &steps)?;
    Ok(Report::new(&report, human))
}

/// `release`: migrate (with the drift check, and the backup from `[backup]
/// release_dir`), then the seed policy: development and test get their
/// fixtures (idempotently), staging and production are skipped with one line.
pub async fn release(context: &Context<'_>, args: &ApplyArgs) -> Result<Report> {
    let steps = Steps {
        drift: true,
        backup: BackupSource::for_release(&context.env),
        contract: ContractMode::for_release(&context.env.contract, crate::provenance::revision()),
    };
    let settings = settings(context, args);
    let (migrator, connected) = open_connected(context, settings.wait).await?;
    let mut progress = progress(context, &migrator);
    let (released, seeded) =
        crate::release::release(&migrator, connected, &steps, settings, &mut progress, context.node_env.as_deref())
            .await?;
    let (mut report, mut human) = render(&migrator, released, settings.order, &steps)?;
    if let Some(seeded) = seeded {
        human.push('\n');
        human.push_str(&seeded.summary);
        report.seed = Some(serde_json::to_value(&seeded).expect("seed outcomes serialise"));
    }
    Ok(Report::new(&report, human))
}

/// `contract`, the post-deploy step: once the previous release has retired, the
/// contract parts `release` held back, each with drizzle's row for its file.
pub async fn contract(context: &Context<'_>, args: &ApplyArgs, no_wait: bool, abandon: Option<&str>) -> Result<Report> {
    let settings = settings(context, args);
    let migrator = open(context)?;
    let state = migrator.inspect(settings.wait).await?;
    stamp::check(&context.env, state.stamp.as_ref())?;
    if state.contracts.is_empty() {
        let plan = migrator.plan(&state, settings.order);
        let report = report(&migrator, &state, &plan, Vec::new(), None);
        return Ok(Report::new(&report, "nothing held back: no contract part waits"));
    }
    if let Some(tag) = abandon {
        let steps =
            Steps { drift: false, backup: BackupSource::Skip, contract: ContractMode::Abandon { tag: tag.to_owned() } };
        let (migrator, connected) = open_connected(context, settings.wait).await?;
        let mut progress = progress(context, &migrator);
        let released = crate::release::run(&migrator, connected, &steps, settings, &mut progress).await?;
        let (report, human) = render(&migrator, released, settings.order, &steps)?;
        return Ok(Report::new(
            &report,
            format!(
                "{human}\n{tag}: recorded as applied; its contract part was abandoned and did not run: a new migration does what it should have"
            ),
        ));
    }
    let revision = crate::provenance::revision();
    let mut connection = migrator.connect(settings.wait).await?;
    // This release is live (the post-deploy step runs after Dokku's switch): what
    // it held back, the next release may finish even if this step cannot.
    if let Some(revision) = &revision {
        crate::own_schema::went_live(&mut connection, migrator.bookkeeping().name(), revision).await.map_err(
            |err| {
                Error::unavailable("could not record that this release went live")
                    .note("reason", crate::pg_error::describe(&err))
            },
        )?;
    }
    let retired = if no_wait {
        Ok(crate::migrations::retire::Retired::NotWaited)
    } else {
        let bound = context.env.contract.retire_wait(std::env::var("DOKKU_WAIT_TO_RETIRE").ok().as_deref());
        crate::migrations::retire::wait(&mut connection, &context.env.contract, revision.as_deref(), bound).await
    };
    let _ = sqlx::Connection::close(connection).await;
    let retired = retired?;
    let steps =
        Steps { drift: false, backup: BackupSource::for_release(&context.env), contract: ContractMode::ContractOnly };
    let (migrator, connected) = open_connected(context, settings.wait).await?;
    let mut progress = progress(context, &migrator);
    let released = crate::release::run(&migrator, connected, &steps, settings, &mut progress).await?;
    let (report, human) = render(&migrator, released, settings.order, &steps)?;
    let waited = match retired {
        crate::migrations::retire::Retired::SessionsGone(took) => {
            format!("the previous release's sessions were gone after {} s\n", took.as_secs())
        }
        crate::migrations::retire::Retired::BoundWaited(took) => {
            format!("waited {} s for the previous release to retire\n", took.as_secs())
        }
        crate::migrations::retire::Retired::NotWaited => "not waited for the previous release (--no-wait)\n".to_owned(),
    };
    Ok(Report::new(&report, format!("{waited}{human}")))
}

fn settings(context: &Context<'_>, args: &ApplyArgs) -> Settings {
    Settings {
        wait: context.wait(&args.wait),
        lock_wait: context.lock_wait(args),
        order: out_of_order(args.allow_out_of_order),
        batch_size: args.batch_size.map(|size| size as usize),
    }
}

fn progress(context: &Context<'_>, migrator: &Migrator<'_>) -> MigrationProgress {
    MigrationProgress::new(context.printer, format!("{} ({})", migrator.url(), context.env.name))
}

/// What the release algorithm returned, as the report and the human text; a
/// refusal as the error it is.
fn render(
    migrator: &Migrator<'_>,
    released: Released,
    order: OutOfOrder,
    steps: &Steps,
) -> Result<(MigrationReport, String)> {
    let Released { run: Run { state, outcome, took }, backup, waiting } = released;
    // The report shows the state as left, with anything late-merged that ran counted as applied.
    let order = match outcome {
        Outcome::Applied { .. } => OutOfOrder::Allow,
        _ => order,
    };
    let plan = migrator.plan(&state, order);
    let mut names = 0;
    let (ran, mut human) = match outcome {
        Outcome::Refused(refusal) => {
            let report = report(migrator, &state, &plan, Vec::new(), None);
            return Err(refusal.with_report(Report::new(&report, "")));
        }
        Outcome::UpToDate => (
            Vec::new(),
            format!(
                "nothing to do: {} applied, none pending ({} ms)",
                plural(plan.applied.len(), "migration"),
                took.as_millis()
            ),
        ),
        Outcome::AppliedByAnother => {
            (Vec::new(), "nothing to do: another runner applied the pending migrations first".to_owned())
        }
        Outcome::Applied { ran, names_written, reconnects } => {
            let expanded =
                ran.iter().filter(|migration| migration.part == crate::migration_folder::Part::Expand).count();
            let mut human = if ran.is_empty() {
                format!("nothing to do: {} applied, none pending", plural(plan.applied.len(), "migration"))
            } else if expanded > 0 {
                let applied = ran.len() - expanded;
                let applied =
                    if applied > 0 { format!("applied {}, ", plural(applied, "migration")) } else { String::new() };
                format!(
                    "{applied}expanded {} (its contract part or drizzle's row waiting) in {} ms",
                    plural(expanded, "migration"),
                    took.as_millis()
                )
            } else {
                format!("applied {} in {} ms", plural(ran.len(), "migration"), took.as_millis())
            };
            if reconnects > 0 {
                human.push_str(&format!(
                    "\nthe database connection was lost {} and the run reconnected",
                    if reconnects == 1 { "once".to_owned() } else { format!("{reconnects} times") }
                ));
            }
            names = names_written;
            if names_written > 0 {
                human.push_str(&format!(
                    "\nrecorded the drizzle 1.0 name of {} in {} (drizzle-orm 1.0 would have run them again)",
                    plural(names_written, "applied migration"),
                    migrator.bookkeeping().name()
                ));
            }
            (ran, human)
        }
    };
    human.push_str(&held_back_lines(&state.contracts, &waiting));
    let mut report = report(migrator, &state, &plan, ran, None);
    report.names_written = names;
    if let Some(taken) = &backup.taken_here {
        human = format!(
            "backup {} ({} bytes, sha256 {}) verified before migrating\n{human}",
            taken.path.display(),
            taken.record.bytes,
            taken.record.sha256
        );
    }
    // The laptop's backup is the run's, even when another runner applied what was pending.
    report.backup = backup.record.or(match &steps.backup {
        BackupSource::TakenBefore(record) => Some(record.clone()),
        _ => None,
    });
    Ok((report, human))
}

/// A line per migration whose contract part is held back, and per migration a
/// run left for later.
fn held_back_lines(contracts: &[crate::own_schema::PendingContract], waiting: &[Waiting]) -> String {
    let mut lines = String::new();
    for contract in contracts {
        let _ = write!(
            lines,
            "\n{}: expanded, contract pending since {}: `praxia-deploy contract` (the post-deploy step) applies it once the previous release has retired; drizzle's row waits with it",
            contract.tag, contract.expanded_at
        );
    }
    for later in waiting.iter().filter(|later| !contracts.iter().any(|contract| contract.tag == later.tag)) {
        let _ = write!(lines, "\n{}: {}", later.tag, later.why);
    }
    lines
}

pub fn new_migration(context: &Context<'_>, name: &str, layout: Option<Layout>) -> Result<Report> {
    let dir = &context.env.migrations.dir;
    let existing = new::read(dir)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX));
    let id = uuid::Uuid::new_v4().to_string();
    let migration = new::prepare(dir, &existing, layout, name, now_ms, &id)?;
    new::write(dir, &migration)?;
    let mut human = format!("created {} ({}, when {})", migration.file.display(), migration.tag, migration.when);
    match &migration.snapshot {
        Some((path, _)) if existing.migrations.is_empty() => {
            human.push_str(&format!("\nsnapshot {} (an empty schema)", path.display()))
        }
        Some((path, _)) => human.push_str(&format!(
            "\nsnapshot {} (the previous schema, carried forward)\n\
             write only SQL that leaves the schema as the TypeScript schema says (data, grants, functions drizzle does not model): \
             for a schema change, edit the TypeScript schema and run `praxia-deploy generate NAME`, so that the snapshot follows",
            path.display()
        )),
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

fn out_of_order(allow: bool) -> OutOfOrder {
    if allow { OutOfOrder::Allow } else { OutOfOrder::Refuse }
}

fn status_table(migrator: &Migrator, state: &DatabaseState, plan: &Plan) -> String {
    let env = migrator.env();
    let mut text = String::new();
    let _ = writeln!(text, "environment  {} ({})", env.name, env.kind);
    let _ = writeln!(text, "database     {}", migrator.url());
    let _ = writeln!(text, "folder       {} -> {}", migrator.folder().dir.display(), migrator.bookkeeping().name());
    let _ = writeln!(text, "layout       {}", migrator.folder().layout);
    let _ = writeln!(text, "table        {}", plan.found_shape);
    let stamp = match &state.stamp {
        Some(stamp) => format!("{} ({}), {} by {}", stamp.name, stamp.kind, stamp.stamped_at, stamp.stamped_by),
        None => "none yet (the first migrate or release writes it)".to_owned(),
    };
    let _ = writeln!(text, "stamp        {stamp}");
    let width = migrator.folder().migrations.iter().map(|migration| migration.tag.len()).max().unwrap_or(9).max(9);
    let _ = writeln!(text, "\n  {:<8}  {:<width$}  {:<19}  mode", "state", "migration", "generated (UTC)");
    for (migration, _) in &plan.applied {
        let _ = writeln!(text, "  {:<8}  {:<width$}  {:<19}", "applied", migration.tag, when(migration.when));
    }
    for migration in &plan.pending {
        let expanded = state.contracts.iter().any(|contract| contract.tag == migration.tag);
        let _ = writeln!(
            text,
            "  {:<8}  {:<width$}  {:<19}  {}",
            if expanded { "expanded" } else { "pending" },
            migration.tag,
            when(migration.when),
            migration.mode
        );
    }
    let _ = writeln!(text, "\n{} applied, {} pending", plan.applied.len(), plan.pending.len());
    let mut text: String = text.lines().map(|line| format!("{}\n", line.trim_end())).collect();
    let held = held_back_lines(&state.contracts, &[]);
    if !held.is_empty() {
        let _ = writeln!(text, "{}", held.trim_start());
    }
    for problem in &plan.problems {
        let _ = writeln!(text, "problem: {}", problem.describe());
    }
    for index in &state.invalid_indexes {
        let _ = writeln!(
            text,
            "warning: the index {index} is INVALID; remove it with {}",
            crate::migrations::apply::drop_statements(std::slice::from_ref(index))
        );
    }
    for backfill in plan.names_missing() {
        let _ = writeln!(
            text,
            "warning: row {} ({}) has no name: drizzle-orm 1.0 would run it again; `praxia-deploy migrate` records it",
            backfill.id, backfill.name
        );
    }
    if plan.found_shape == TableShape::Drizzle0 && plan.layout == Layout::Folders {
        let _ = writeln!(
            text,
            "note: the table gets drizzle 1.0's name and applied_at columns in the transaction of the next migration"
        );
    }
    text
}

/// `status`'s line on the backup taken before the last migration; "none
/// recorded" only where this environment takes one (`backs_up`).
fn last_backup_line(last: Option<&crate::own_schema::LastLogged>, backs_up: bool) -> String {
    match last {
        None => String::new(),
        Some(last) => match &last.backup {
            Some(backup) => format!(
                "last backup  {} ({} bytes, sha256 {}), taken {}, before {} (applied {})\n",
                backup.file, backup.bytes, backup.sha256, backup.taken_at, last.tag, last.applied_at
            ),
            None if backs_up => {
                format!("last backup  none recorded before {} (applied {})\n", last.tag, last.applied_at)
            }
            None => String::new(),
        },
    }
}

/// The review's counts and the gate's answer, for the JSON of `plan` and `--dry-run`.
fn review_json(env: &crate::config::Environment, reviews: &[Reviewed]) -> serde_json::Value {
    let findings: Vec<&crate::review::Finding> = reviews.iter().flat_map(|review| review.findings.iter()).collect();
    let blocking = crate::review::blocking(reviews).len();
    let gate = match (env.review.gate, blocking) {
        (false, _) => "off",
        (true, 0) => "passes",
        (true, _) => "refuses",
    };
    json!({
        "findings": findings.len(),
        "blocking": blocking,
        "acknowledged_or_harmless": findings.iter().filter(|finding| finding.verdict != Verdict::Danger).count(),
        "gate": gate,
    })
}

/// The last lines of `plan` and `--dry-run`: what the review found, and what the gate makes of it.
fn gate_summary(env: &crate::config::Environment, reviews: &[Reviewed]) -> String {
    let findings: Vec<&crate::review::Finding> = reviews.iter().flat_map(|review| review.findings.iter()).collect();
    if findings.is_empty() {
        return String::new();
    }
    let blocking = crate::review::blocking(reviews).len();
    let accepted = findings.iter().filter(|finding| finding.verdict != Verdict::Danger).count();
    let gate = match (env.review.gate, blocking) {
        (false, _) => format!("the review gate is off in {}", env.name),
        (true, 0) => format!("the review gate of {} lets these migrations through", env.name),
        (true, n) => format!("the review gate of {} refuses {}", env.name, plural(n, "finding")),
    };
    format!(
        "-- review: {} ({blocking} blocking, {accepted} acknowledged or harmless); {gate}\n",
        plural(findings.len(), "finding")
    )
}

fn sql_listing(plan: &Plan, bookkeeping: &str, reviews: &[Reviewed]) -> String {
    let mut text = String::new();
    if plan.table.widen && !plan.pending.is_empty() {
        let _ = writeln!(
            text,
            "-- bookkeeping: {bookkeeping} gets drizzle 1.0's name and applied_at columns and the names of {} (in the first transaction)\n",
            plural(plan.table.names.len(), "applied migration")
        );
    } else if !plan.names_missing().is_empty() {
        let _ = writeln!(
            text,
            "-- bookkeeping: the drizzle 1.0 name of {} is written to {bookkeeping}\n",
            plural(plan.names_missing().len(), "applied migration")
        );
    }
    if plan.pending.is_empty() {
        text.push_str("nothing pending\n");
        return text;
    }
    for (migration, review) in plan.pending.iter().zip(reviews) {
        text.push_str(&migration_listing(migration, review));
    }
    text
}

/// One migration as SQL: how it runs, then each statement with its findings as comments.
pub(super) fn migration_listing(migration: &crate::migration_folder::Migration, review: &Reviewed) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "-- {} ({}), {}", migration.tag, migration.file.display(), migration.mode);
    review.on(0).for_each(|finding| comment_finding(&mut text, finding));
    for statement in migration.statements() {
        let _ = writeln!(text, "-- statement {}, line {}", statement.number, statement.line);
        review.on(statement.number).for_each(|finding| comment_finding(&mut text, finding));
        let _ = writeln!(text, "{}\n", statement.text.trim());
    }
    text
}

/// A finding as SQL comments, so that the listing stays SQL.
fn comment_finding(text: &mut String, finding: &crate::review::Finding) {
    let head =
        format!("{}[{}] at {}:{}: {}", finding.level, finding.rule, finding.line, finding.column, finding.message);
    let mut details = Vec::new();
    if let Some(size) = &finding.table_size {
        details.push(size.clone());
    }
    match &finding.verdict {
        Verdict::Danger => {}
        Verdict::Harmless { reason } => details.push(format!("harmless: {reason}")),
        Verdict::Acknowledged { reason, line } => details.push(format!("acknowledged on line {line}: {reason}")),
    }
    if let Some(help) = &finding.help {
        details.push(format!("help: {help}"));
    }
    for (indent, part) in std::iter::once(("", head)).chain(details.into_iter().map(|detail| ("  ", detail))) {
        for line in part.lines() {
            let _ = writeln!(text, "-- {indent}{line}");
        }
    }
}

fn when(ms: i64) -> String {
    let Ok(ms) = u64::try_from(ms) else {
        return ms.to_string();
    };
    let time = std::time::UNIX_EPOCH + Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(time).to_string().replace('T', " ").trim_end_matches('Z').to_owned()
}
