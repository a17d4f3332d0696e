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
use crate::migration_folder::{MigrationFolder, read_environment_folder};
use crate::migrations::apply::Limits;
use crate::migrations::contract::{ContractMode, arrange};
use crate::migrations::plan::OutOfOrder;
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
    let sampler = migrator.connect(Duration::from_secs(30)).await?;
    let state = migrator.read_checked(&mut connection).await?;
    let mut plan = migrator.plan(&state, order);
    if let Some(refusal) = plan.refusal() {
        return Err(refusal.note("in", "the backup's bookkeeping"));
    }
    // What `migrate` would run: every pending file, or the contract part of one expanded before.
    arrange(&mut plan, &state.contracts, &ContractMode::AtOnce, None)?;
    let steps = plan.steps(None);
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
    );
    let rehearsed_at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let migrations: Vec<RehearsedMigration> = plan
        .pending
        .iter()
        .enumerate()
        .map(|(index, migration)| RehearsedMigration {
            tag: migration.tag.clone(),
            hash: migration.hash.clone(),
            rehearsed_at,
            backup: backup.clone(),
            postgres,
            statements: executed
                .statements
                .iter()
                .zip(&locks)
                .filter(|(statement, _)| statement.migration == index)
                .map(|(statement, locks)| RehearsedStatement {
                    number: statement.number,
                    line: statement.line,
                    sql: first_line(&statement.text),
                    duration_ms: millis(statement.span.end.saturating_sub(statement.span.start)),
                    locks: timeline::strongest(locks)
                        .into_iter()
                        .filter_map(|lock| {
                            let table = executed.names.get(&lock.oid)?.clone();
                            let new_table = !executed.restored.contains(&lock.oid);
                            Some(TableLock { table, mode: lock.mode, held_ms: millis(lock.held), new_table })
                        })
                        .collect(),
                    rewrote: statement.rewrote.clone(),
                    invalid_indexes: statement.invalid_indexes.clone(),
                })
                .collect(),
        })
        .collect();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let over = budget::check(env, &migrations, &plan, now);
    Ok((migrations, over))
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
    Ok(Chosen {
        path: path.to_path_buf(),
        used: BackupUsed { file: name, sha256: actual, taken_at: taken_at.unwrap_or(0) },
    })
}
