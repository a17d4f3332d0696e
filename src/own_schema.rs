//! praxia-deploy's own schema beside drizzle's: `praxia_deploy.migration_log`,
//! `praxia_deploy.environment` and `praxia_deploy.contract_pending`, their DDL in one place, and who is writing
//! (the provenance recorded with every migration and stamp).

use sqlx::postgres::PgConnection;

/// praxia-deploy's own schema, beside drizzle's.
pub const LOG_SCHEMA: &str = "praxia_deploy";

/// A table of the tool's schema, qualified, as a literal (for `concat!`): how
/// SQL elsewhere names it, so that the schema's names are spelled here only.
#[macro_export]
macro_rules! own_table {
    (environment) => {
        "praxia_deploy.environment"
    };
    (migration_log) => {
        "praxia_deploy.migration_log"
    };
    (drift_expected) => {
        "praxia_deploy.drift_expected"
    };
    (contract_pending) => {
        "praxia_deploy.contract_pending"
    };
}

/// praxia-deploy's own tables: the migration log and the environment stamp.
/// Run through `ensure`, never alone: two sessions creating the schema at once
/// collide on pg_namespace's unique index even with IF NOT EXISTS.
const OWN_SCHEMA_SQL: &str = "CREATE SCHEMA IF NOT EXISTS praxia_deploy;
CREATE TABLE IF NOT EXISTS praxia_deploy.migration_log (
    id bigserial PRIMARY KEY,
    bookkeeping_table text NOT NULL,
    tag text NOT NULL,
    hash text NOT NULL,
    created_at bigint NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    duration_ms bigint NOT NULL,
    applied_by text NOT NULL,
    tool_version text NOT NULL,
    environment text NOT NULL
);
-- The review findings the migration acknowledged, with the reasons given.
ALTER TABLE praxia_deploy.migration_log ADD COLUMN IF NOT EXISTS acknowledgements jsonb NOT NULL DEFAULT '[]';
-- The verified backup taken just before (file, bytes, sha256, taken_at), if one was.
ALTER TABLE praxia_deploy.migration_log ADD COLUMN IF NOT EXISTS backup jsonb;
-- A file applied in two parts: 'contract' when its held-back contract part ran,
-- 'abandoned' when it was given up (`contract --abandon`) and never ran.
ALTER TABLE praxia_deploy.migration_log ADD COLUMN IF NOT EXISTS contract text;
CREATE TABLE IF NOT EXISTS praxia_deploy.environment (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('development', 'test', 'staging', 'production')),
    stamped_at timestamptz NOT NULL DEFAULT now(),
    stamped_by text NOT NULL,
    tool_version text NOT NULL
);
";

/// The release's record of drift's expected schemas, made only where drift is
/// checked on release (`ensure_drift_record`): by the digest of the applied set
/// and the server's major version, with the live catalog's fingerprint when it
/// last matched, so a release that finds it unchanged reads no more. Its
/// forerunner (filled by replays on the live server, no longer done) goes.
const DRIFT_RECORD_SQL: &str = "CREATE TABLE IF NOT EXISTS praxia_deploy.drift_expected (
    applied_digest text NOT NULL,
    postgres integer NOT NULL,
    objects jsonb NOT NULL,
    verified_fingerprint text,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (applied_digest, postgres)
);
DROP TABLE IF EXISTS praxia_deploy.expected_schema;";

/// A migration whose expand part ran and whose contract part waits for the
/// previous release to retire: drizzle's row is written only once all of it ran.
/// Made by the first run that holds a contract part back.
const CONTRACT_SQL: &str = "CREATE TABLE IF NOT EXISTS praxia_deploy.contract_pending (
    bookkeeping_table text NOT NULL,
    tag text NOT NULL,
    hash text NOT NULL,
    expanded_at timestamptz NOT NULL DEFAULT now(),
    expanded_by text NOT NULL,
    revision text,
    -- When the release that expanded it went live: its post-deploy step ran.
    went_live_at timestamptz,
    PRIMARY KEY (bookkeeping_table, tag)
);";

/// Serialises the creation of the schema across sessions and processes.
const CREATE_LOCK_KEY: i64 = 0x7072_6178_6961_5344; // "praxiaSD"

/// Creates the schema and its tables if missing, inside the caller's transaction,
/// under a transaction-level advisory lock: concurrent first runs wait for each
/// other instead of failing on a duplicate key.
pub async fn ensure(transaction: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(CREATE_LOCK_KEY).execute(&mut *transaction).await?;
    sqlx::raw_sql(OWN_SCHEMA_SQL).execute(transaction).await.map(|_| ())
}

/// `ensure`, and the drift record's table.
pub async fn ensure_drift_record(transaction: &mut PgConnection) -> Result<(), sqlx::Error> {
    ensure(&mut *transaction).await?;
    sqlx::raw_sql(DRIFT_RECORD_SQL).execute(transaction).await.map(|_| ())
}

/// The newest row of the migration log for one bookkeeping table: what ran last,
/// when, and the backup taken before it (if one was).
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastLogged {
    pub tag: String,
    pub applied_at: String,
    pub backup: Option<crate::provenance::BackupRecord>,
}

/// None when nothing was logged yet (or the log does not exist).
pub async fn last_logged(connection: &mut PgConnection, bookkeeping: &str) -> Result<Option<LastLogged>, sqlx::Error> {
    // `to_jsonb(l)`: a log from before the backup column existed reads as no backup.
    let row: Option<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT l.tag, to_char(l.applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), (to_jsonb(l) -> 'backup')::text \
         FROM praxia_deploy.migration_log l \
         WHERE to_regclass('praxia_deploy.migration_log') IS NOT NULL AND l.bookkeeping_table = $1 \
         ORDER BY l.id DESC LIMIT 1",
    )
    .bind(bookkeeping)
    .fetch_optional(&mut *connection)
    .await
    .or_else(|err| match &err {
        _ if crate::pg_error::has_code(&err, &[crate::pg_error::sqlstate::UNDEFINED_TABLE]) => Ok(None),
        _ => Err(err),
    })?;
    Ok(row.map(|(tag, applied_at, backup)| LastLogged {
        tag,
        applied_at,
        backup: backup.and_then(|json| serde_json::from_str(&json).ok()),
    }))
}

/// A migration whose expand part ran, its contract part held back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingContract {
    pub tag: String,
    /// The file's hash when its expand part ran: the contract part runs only from the same file.
    pub hash: String,
    pub expanded_at: String,
    /// The git revision of the release that expanded it (Dokku's `GIT_REV`), if known.
    pub revision: Option<String>,
    /// Whether that release went live: its post-deploy step ran (after Dokku's switch).
    pub went_live: bool,
}

/// The contract parts held back for one bookkeeping table, oldest first; none
/// when the table does not exist (nothing was ever held back).
pub async fn pending_contracts(
    connection: &mut PgConnection,
    bookkeeping: &str,
) -> Result<Vec<PendingContract>, sqlx::Error> {
    let rows: Vec<(String, String, String, Option<String>, bool)> = sqlx::query_as(
        "SELECT tag, hash, to_char(expanded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), revision, \
                went_live_at IS NOT NULL \
         FROM praxia_deploy.contract_pending WHERE bookkeeping_table = $1 ORDER BY expanded_at, tag",
    )
    .bind(bookkeeping)
    .fetch_all(&mut *connection)
    .await
    .or_else(|err| match &err {
        _ if crate::pg_error::has_code(
            &err,
            &[crate::pg_error::sqlstate::UNDEFINED_TABLE, crate::pg_error::sqlstate::INVALID_SCHEMA_NAME],
        ) =>
        {
            Ok(Vec::new())
        }
        _ => Err(err),
    })?;
    Ok(rows
        .into_iter()
        .map(|(tag, hash, expanded_at, revision, went_live)| PendingContract {
            tag,
            hash,
            expanded_at,
            revision,
            went_live,
        })
        .collect())
}

/// Records, in the caller's transaction, that `tag`'s expand part ran.
pub async fn hold_contract(
    connection: &mut PgConnection,
    bookkeeping: &str,
    tag: &str,
    hash: &str,
    expanded_by: &str,
    revision: Option<&str>,
) -> Result<(), sqlx::Error> {
    ensure(&mut *connection).await?;
    sqlx::raw_sql(CONTRACT_SQL).execute(&mut *connection).await?;
    sqlx::query(
        "INSERT INTO praxia_deploy.contract_pending (bookkeeping_table, tag, hash, expanded_by, revision) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(bookkeeping)
    .bind(tag)
    .bind(hash)
    .bind(expanded_by)
    .bind(revision)
    .execute(connection)
    .await
    .map(|_| ())
}

/// Removes, in the caller's transaction, `tag`'s held-back row once its contract
/// part ran; false when there was none (another run did it first).
pub async fn contract_done(connection: &mut PgConnection, bookkeeping: &str, tag: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM praxia_deploy.contract_pending WHERE bookkeeping_table = $1 AND tag = $2")
        .bind(bookkeeping)
        .bind(tag)
        .execute(connection)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that the release of `revision` went live (its post-deploy step
/// runs): what it held back may be finished by the next release.
pub async fn went_live(connection: &mut PgConnection, bookkeeping: &str, revision: &str) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE praxia_deploy.contract_pending SET went_live_at = now() \
         WHERE bookkeeping_table = $1 AND revision = $2 AND went_live_at IS NULL",
    )
    .bind(bookkeeping)
    .bind(revision)
    .execute(connection)
    .await?;
    Ok(done.rows_affected())
}
