//! `rehearse`: the migrations a backup has pending, applied to a scratch
//! restore of it (the restore drill's, on the embedded development cluster, as
//! a role without special rights, always dropped), each statement timed and
//! its locks, rewrites and INVALID indexes seen (`execute.rs`, `timeline.rs`);
//! what it measured is recorded (`record.rs`) for the release's lock budget
//! (`budget.rs`). Nothing here connects to the database the backup came from.

pub mod budget;
mod execute;
pub mod record;
pub mod timeline;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sha2::{Digest, Sha256};

use self::budget::OverBudget;
use self::record::{BackupUsed, RehearsedMigration, RehearsedStatement, TableLock};
use crate::backup::drill::{self, Restored};
use crate::backup::naming;
use crate::config::{DatabaseUrl, Environment};
use crate::error::{Error, ErrorKind, Result};
use crate::migration_folder::{Migration, MigrationFolder, Part, read_environment_folder};
use crate::migrations::apply::Limits;
use crate::migrations::contract::{ContractMode, arrange, runs_expanded};
use crate::migrations::plan::OutOfOrder;
use crate::migrations::plan::Step;
use crate::migrations::run::Migrator;

/// What a rehearsal did.
#[derive(Debug, Serialize)]
pub struct Rehearsal {
    pub backup: PathBuf,
    pub backup_taken_at: u64,
    pub scratch_database: String,
    pub migrations: Vec<RehearsedMigration>,
    /// Where it was recorded (nothing pending: not written).
    pub record: Option<PathBuf>,
    pub over_budget: Vec<OverBudget>,
    pub took_ms: u128,
}

/// Rehearses the migrations pending in `backup` (by default the newest
/// verified backup of the environment's app in `[backup] dir`).
pub async fn run(env: &Environment, backup: Option<&Path>, order: OutOfOrder) -> Result<Rehearsal> {
    let started = Instant::now();
    let folder = read_environment_folder(&env.migrations)?;
    // A record it could not update is found before the restore, not after.
    record::read(&env.rehearsals_file())?;
    let chosen = match backup {
        Some(path) => checked(path)?,
        None => newest_verified(env)?,
    };
    let (scratch, rehearsed) =
        drill::with_restore(env, &chosen.path, "the rehearsal", async |restored: &Restored<'_>| {
            rehearse_on(env, &folder, restored, &chosen.used, order).await
        })
        .await?;
    let (migrations, over_budget) = rehearsed;
    let record = if migrations.is_empty() {
        None
    } else {
        let path = env.rehearsals_file();
        record::write(&path, &folder, &migrations)?;
        Some(path)
    };
    Ok(Rehearsal {
        backup: chosen.path,
        backup_taken_at: chosen.used.taken_at,
        scratch_database: scratch,
        migrations,
        record,
        over_budget,
        took_ms: started.elapsed().as_millis(),
    })
}

async fn rehearse_on(
    env: &Environment,
    folder: &MigrationFolder,
    restored: &Restored<'_>,
    backup: &BackupUsed,
    order: OutOfOrder,
) -> Result<(Vec<RehearsedMigration>, Vec<OverBudget>)> {
    let url = DatabaseUrl::parse(restored.url, "the scratch database")?;
    let migrator = Migrator::with_folder(env, url, folder.clone(), "praxia-deploy rehearse".to_owned());
    let mut connection = migrator.connect(Duration::from_secs(30)).await?;
    // As a release's session starts: PostgreSQL's default search_path, whatever
    // the dump's code did to the session (it cannot alter the database any more),
    // without `$user`: the rehearsal's role owns the scratch database, and a
    // schema the dump's code made under its name would come first.
    sqlx::raw_sql("SET search_path = public").execute(&mut connection).await.map_err(|err| {
        Error::unavailable("the rehearsal could not prepare its session")
            .note("reason", crate::pg_error::describe(&err))
    })?;
    // The samples come from a session the dump's code cannot end or fool.
    let monitor = DatabaseUrl::parse(restored.monitor_url, "the development cluster")?;
    let mut sampler =
        crate::database::connect(&monitor, Duration::from_secs(30), "praxia-deploy rehearse (locks)").await?;
    // As production's tables are: with statistics (a data migration's joins are
    // planned on them), and the restore's WAL checkpointed before anything is
    // timed (else a checkpoint it set off runs during the first statements).
    let prepared = async {
        // Its warnings are the shared catalogs it may not analyse: not the user's business.
        sqlx::raw_sql("SET client_min_messages = error; ANALYZE; RESET client_min_messages")
            .execute(&mut connection)
            .await?;
        sqlx::raw_sql("CHECKPOINT").execute(&mut sampler).await
    };
    prepared.await.map_err(|err| {
        Error::unavailable("the rehearsal could not prepare the restored database (ANALYZE, CHECKPOINT)")
            .note("reason", crate::pg_error::describe(&err))
    })?;
    let state = migrator.read_checked(&mut connection).await.map_err(|error| {
        if error.kind == ErrorKind::Policy {
            let mut error = error.note("backup", &backup.file);
            error.help = Some(format!(
                "this backup is of another environment's database (its stamp says so): rehearse a backup of {}'s, or use the --env of the one it came from; nothing was changed anywhere",
                env.name
            ));
            error
        } else {
            error
        }
    })?;
    let mut plan = migrator.plan(&state, order);
    if let Some(refusal) = plan.refusal() {
        return Err(refusal.note("in", "the backup's bookkeeping"));
    }
    // What `migrate` would run: every pending file, or the contract part of one expanded before.
    arrange(&mut plan, &state.contracts, &ContractMode::AtOnce, None)?;
    let (release_phase, after_retiring) = units(env, &plan, !state.contracts.is_empty());
    let units: Vec<&Migration> = release_phase.iter().chain(&after_retiring).copied().collect();
    // Each part alone, as if no other were pending: what runs with it in one
    // transaction at release time is added there (`budget.rs`), from these figures.
    let steps: Vec<Step<'_>> = units.iter().flat_map(|&unit| crate::migrations::plan::steps(&[unit])).collect();
    let first_deploy =
        plan.applied.is_empty() && holds_no_tables(&mut connection, migrator.bookkeeping().quoted()).await?;
    let postgres = connection.server_version_num().map_or(0, |number| number / 10_000);
    let executed = execute::execute(&mut connection, sampler, &steps, Limits::of(&env.database)).await;
    let _ = sqlx::Connection::close(connection).await;
    let executed = executed?;
    if let Some(failure) = executed.failure {
        return Err(failure);
    }
    let locks = timeline::attribute(
        &executed.statements.iter().map(|statement| statement.span).collect::<Vec<_>>(),
        &executed.observations,
        &executed.table_of,
    );
    let rehearsed_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let mut migrations: Vec<RehearsedMigration> = Vec::new();
    for (statement, locks) in executed.statements.iter().zip(&locks) {
        let unit = units[statement.migration];
        let rehearsed = RehearsedStatement {
            // A part numbers only its own statements: the file's number, by the line.
            number: file_number(folder, &unit.tag, statement.offset).unwrap_or(statement.number),
            line: statement.line,
            offset: statement.offset,
            sql: first_line(&statement.text),
            duration_ms: millis(statement.span.end.saturating_sub(statement.span.start)),
            locks: timeline::strongest(locks)
                .into_iter()
                .filter_map(|lock| {
                    let table = executed.names.get(&lock.oid)?.clone();
                    let maker = executed.made_by.get(&lock.oid).map(|&made| units[made]);
                    Some(TableLock {
                        table,
                        mode: lock.mode,
                        held_ms: millis(lock.held),
                        made_by: maker.map(|maker| maker.tag.clone()),
                        made_in: maker.map_or(Part::Whole, |maker| maker.part),
                    })
                })
                .collect(),
            rewrote: statement.rewrote.clone(),
            invalid_indexes: statement.invalid_indexes.clone(),
            sent_with: statement.sent_with.clone(),
            part: unit.part,
        };
        match migrations.iter_mut().find(|migration| migration.tag == unit.tag) {
            Some(migration) => migration.statements.push(rehearsed),
            None => migrations.push(RehearsedMigration {
                tag: unit.tag.clone(),
                hash: unit.hash.clone(),
                rehearsed_at,
                backup: backup.clone(),
                postgres,
                statements: vec![rehearsed],
            }),
        }
    }
    // Blank parts ran no statement: their file is rehearsed all the same.
    for unit in &units {
        if !migrations.iter().any(|migration| migration.tag == unit.tag) {
            migrations.push(RehearsedMigration {
                tag: unit.tag.clone(),
                hash: unit.hash.clone(),
                rehearsed_at,
                backup: backup.clone(),
                postgres,
                statements: Vec::new(),
            });
        }
    }
    for migration in &mut migrations {
        migration.statements.sort_by_key(|statement| statement.number);
    }
    let order = |tag: &str| folder.migrations.iter().position(|migration| migration.tag == tag);
    migrations.sort_by_key(|migration| order(&migration.tag));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    // Judged as the runs will go from the backup's state: the release phase, then
    // the post-deploy step (or, where nothing is held back, `migrate`'s one run).
    let mut over = Vec::new();
    for run in [release_phase, after_retiring] {
        let mut judged = plan.clone();
        judged.pending = run;
        over.extend(budget::check(env, &migrations, &judged, None, first_deploy, now));
    }
    Ok((migrations, over))
}

/// The parts of the pending migrations as they will run: where `release`
/// holds contract parts back, a file it splits is two parts, its expand part
/// in the release phase and its contract part in the post-deploy step (the
/// second list); otherwise each file whole, in the first.
fn units<'f>(
    env: &Environment,
    plan: &crate::migrations::plan::Plan<'f>,
    expanded_before: bool,
) -> (Vec<&'f Migration>, Vec<&'f Migration>) {
    // As `arrange` decides it: not on a first deploy (nothing applied, nothing expanded).
    let first_deploy = plan.applied.is_empty() && !expanded_before;
    let holds = env.contract.hold_back && !first_deploy;
    let (mut now, mut later) = (Vec::new(), Vec::new());
    let mut blocked = false;
    for (index, &migration) in plan.pending.iter().enumerate() {
        if migration.part == Part::Whole && runs_expanded(migration, &plan.pending[index + 1..], holds, blocked) {
            blocked = true;
            let parts = crate::review::expand_contract::parts(migration);
            now.push(&parts.expand);
            later.push(&parts.contract);
        } else {
            now.push(migration);
        }
    }
    (now, later)
}

/// What `[review] lock_budget` refuses of `plan` (run in batches of
/// `batch_size`) on the database at `connection`, from the environment's
/// rehearsals (`release`'s gate and `plan`).
pub async fn over_budget(
    env: &Environment,
    connection: &mut sqlx::PgConnection,
    plan: &crate::migrations::plan::Plan<'_>,
    batch_size: Option<usize>,
    bookkeeping: &str,
) -> Result<Vec<OverBudget>> {
    if env.review.lock_budget.is_none() || plan.pending.is_empty() {
        return Ok(Vec::new());
    }
    let rehearsed = record::read(&env.rehearsals_file())?;
    let first_deploy = plan.applied.is_empty() && holds_no_tables(connection, bookkeeping).await?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    Ok(budget::check(env, &rehearsed.migrations, plan, batch_size, first_deploy, now))
}

/// Whether the database holds no table but the bookkeeping's and the tool's (the review's "first deploy").
async fn holds_no_tables(connection: &mut sqlx::PgConnection, bookkeeping: &str) -> Result<bool> {
    crate::review::read_live_tables(connection, &[], bookkeeping).await.map(|live| live.holds_no_tables).map_err(
        |err| {
            Error::unavailable("could not read which tables the database holds")
                .note("reason", crate::pg_error::describe(&err))
        },
    )
}

/// The number, in the file, of the statement of `tag` at byte `offset`.
fn file_number(folder: &MigrationFolder, tag: &str, offset: usize) -> Option<usize> {
    let whole = folder.migrations.iter().find(|migration| migration.tag == tag)?;
    whole.statements().find(|statement| statement.offset == offset).map(|statement| statement.number)
}

fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 10_000.0).round() / 10.0
}

/// A statement's first line, at most 100 characters.
fn first_line(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or_default().trim();
    let mut short: String = line.chars().take(100).collect();
    if short.len() < line.len() || text.trim().lines().nth(1).is_some() {
        short.push_str(" ...");
    }
    short
}

struct Chosen {
    path: PathBuf,
    used: BackupUsed,
}

/// The newest backup of the environment's app that its checksum file vouches for.
fn newest_verified(env: &Environment) -> Result<Chosen> {
    let app = crate::backup::app_name(env);
    let dir = &env.backup.dir;
    let names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|entry| entry.ok()?.file_name().into_string().ok()).collect(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(Error::io("read", dir, err)),
    };
    let mut candidates = naming::backups_newest_first(&names, &app);
    let mut refused = Vec::new();
    for name in candidates.drain(..) {
        match checked(&dir.join(name)) {
            Ok(chosen) => return Ok(chosen),
            Err(error) => refused.push(format!("{name}: {}", error.message)),
        }
    }
    let mut error = Error::new(ErrorKind::Usage, format!("no verified backup of {app} in {}", dir.display()));
    for reason in refused {
        error = error.note("not used", reason);
    }
    Err(error.help(format!(
        "take one: `praxia-deploy backup --env {}` (verified as it is written), or name one with --backup FILE",
        env.name
    )))
}

/// `path`, if its `.sha256` file (written when it was taken and verified) matches it.
fn checked(path: &Path) -> Result<Chosen> {
    if !path.is_file() {
        return Err(Error::usage(format!("{}: no such backup", path.display())).help(
            "name a dump `praxia-deploy backup` wrote (its .sha256 beside it), or leave --backup out for the newest",
        ));
    }
    let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_owned();
    let sums = PathBuf::from(format!("{}{}", path.display(), naming::CHECKSUM));
    let expected = std::fs::read_to_string(&sums)
        .map_err(|err| {
            Error::io("read", &sums, err).help(
                "a backup praxia-deploy took has its checksum beside it; take a new one with `praxia-deploy backup`",
            )
        })?
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut file = std::fs::File::open(path).map_err(|err| Error::io("read", path, err))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0; 1 << 16];
    loop {
        let read = std::io::Read::read(&mut file, &mut buffer).map_err(|err| Error::io("read", path, err))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    let actual = hex::encode(hasher.finalize());
    if actual != expected {
        return Err(Error::new(ErrorKind::Usage, format!("{} does not match its checksum file", path.display()))
            .note("sha256", &actual)
            .note("expected", &expected)
            .help("the file changed after it was verified: take a new backup"));
    }
    let taken_at = naming::taken_at(&name).or_else(|| {
        let modified = file.metadata().ok()?.modified().ok()?;
        Some(modified.duration_since(UNIX_EPOCH).ok()?.as_secs())
    });
    let taken_at = taken_at.unwrap_or(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    if taken_at > now + 300 {
        return Err(Error::new(ErrorKind::Usage, format!("{} was taken in the future, by its name", path.display()))
            .help("its name (or this machine's clock) is wrong: take a new backup with `praxia-deploy backup`"));
    }
    Ok(Chosen { path: path.to_path_buf(), used: BackupUsed { file: name, sha256: actual, taken_at } })
}
