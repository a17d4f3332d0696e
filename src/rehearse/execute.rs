//! Runs the planned steps on the scratch database statement by statement (a
//! batch in one transaction, a migration PostgreSQL refuses in one each on its
//! own, one that controls its transaction chunk by chunk as drizzle sends it),
//! under the environment's limits, timing each. After each statement and each
//! commit the session looks at itself (its locks, every table's file, the
//! indexes, the INVALID ones); while a statement runs a second session (the
//! cluster superuser's, on `postgres`) samples `pg_locks` for it. Nothing is recorded in the scratch database's
//! bookkeeping: it is dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::Deserialize;
use sqlx::{Connection, PgConnection};

use super::timeline::{LockMode, Observation, Oid, Span};
use crate::error::{Error, ErrorKind, Result};
use crate::migration_folder::Migration;
use crate::migration_folder::sql::{SqlStatement, waits_without_blocking};
use crate::migrations::apply::Limits;
use crate::migrations::plan::Step;

/// How often the second session samples `pg_locks` while a statement runs.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(10);

/// The session's own view after a statement: one round trip.
const LOOK: &str = "SELECT pg_catalog.json_build_object(\
 'locks', COALESCE((SELECT pg_catalog.json_agg(pg_catalog.json_build_array(l.relation::pg_catalog.int8, l.mode)) \
   FROM pg_catalog.pg_locks l WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() \
   AND l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.granted), '[]'), \
 'tables', COALESCE((SELECT pg_catalog.json_agg(pg_catalog.json_build_array(c.oid::pg_catalog.int8, \
   pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname), \
   c.relfilenode::pg_catalog.int8)) \
   FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
   WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'm', 'f', 'v']::pg_catalog.\"char\"[]) \
   AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' \
   AND n.nspname OPERATOR(pg_catalog.!~) '^pg_'), '[]'), \
 'indexes', COALESCE((SELECT pg_catalog.json_agg(pg_catalog.json_build_array(i.indexrelid::pg_catalog.int8, \
   pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(ic.relname), \
   pg_catalog.quote_ident(n.nspname) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(c.relname), \
   c.oid::pg_catalog.int8)) \
   FROM pg_catalog.pg_index i JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.indrelid \
   JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid \
   JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace \
   WHERE n.nspname OPERATOR(pg_catalog.<>) 'information_schema' AND n.nspname OPERATOR(pg_catalog.!~) '^pg_'), '[]'), \
 'invalid', COALESCE((SELECT pg_catalog.json_agg(i.indexrelid::pg_catalog.regclass::pg_catalog.text) \
   FROM pg_catalog.pg_index i WHERE NOT i.indisvalid), '[]'))::pg_catalog.text";

/// The second session's sample of the first's locks.
const SAMPLE: &str = "SELECT l.relation::pg_catalog.int8, l.mode::pg_catalog.text FROM pg_catalog.pg_locks l \
 WHERE l.pid OPERATOR(pg_catalog.=) $1 AND l.locktype OPERATOR(pg_catalog.=) 'relation' AND l.granted";

#[derive(Debug, Deserialize)]
struct Look {
    locks: Vec<(Oid, String)>,
    tables: Vec<(Oid, String, i64)>,
    /// Each index of a user table: its oid, its name, its table's name and oid.
    indexes: Vec<(Oid, String, String, Oid)>,
    invalid: Vec<String>,
}

/// One statement as it ran (or one message of statements, `sent_with`).
#[derive(Debug, Clone)]
pub struct RanStatement {
    /// Index into the migrations the steps ran, in order.
    pub migration: usize,
    pub number: usize,
    pub line: usize,
    pub offset: usize,
    pub text: String,
    /// The byte offsets of the statements sent with it in one message.
    pub sent_with: Vec<usize>,
    pub span: Span,
    pub rewrote: Vec<String>,
    pub invalid_indexes: Vec<String>,
}

/// Everything the run saw.
#[derive(Debug, Default)]
pub struct Executed {
    pub statements: Vec<RanStatement>,
    pub observations: Vec<Observation>,
    /// Every table seen, by oid: a table dropped later keeps its name.
    pub names: BTreeMap<Oid, String>,
    /// Each index's table.
    pub table_of: BTreeMap<Oid, Oid>,
    /// The tables made by the migrations run: which one (an index into them) made each.
    pub made_by: BTreeMap<Oid, usize>,
    /// The statement that failed, and why; nothing after it ran.
    pub failure: Option<Error>,
}

struct Runner<'c> {
    connection: &'c mut PgConnection,
    sampler: PgConnection,
    pid: i32,
    origin: Instant,
    limits: Limits,
    files: BTreeMap<Oid, i64>,
    invalid: BTreeSet<String>,
    executed: Executed,
    migrations: usize,
    /// Why the sampling session stopped answering, if it did: the rehearsal fails.
    sampler_lost: Option<sqlx::Error>,
    /// Whether the look before the first statement was taken (the tables it sees are the restore's).
    looked: bool,
}

/// Runs `steps` on `connection` (the scratch database, as its role);
/// `sampler` is the cluster superuser's session on its `postgres` database,
/// which reads `pg_locks` for the whole cluster.
pub async fn execute(
    connection: &mut PgConnection,
    sampler: PgConnection,
    steps: &[Step<'_>],
    limits: Limits,
) -> Result<Executed> {
    let pid: i32 = sqlx::query_scalar("SELECT pg_catalog.pg_backend_pid()")
        .fetch_one(&mut *connection)
        .await
        .map_err(|err| rehearsal_error("prepare its session", &err))?;
    let mut runner = Runner {
        connection,
        sampler,
        pid,
        origin: Instant::now(),
        limits,
        files: BTreeMap::new(),
        invalid: BTreeSet::new(),
        executed: Executed::default(),
        migrations: 0,
        sampler_lost: None,
        looked: false,
    };
    runner.look().await.map_err(|err| rehearsal_error("read the restored tables", &err))?;
    for step in steps {
        let ran = match step {
            Step::Batch(migrations) => runner.batch(migrations).await,
            Step::Alone(migration) => runner.alone(migration).await,
            Step::AsWritten(migration) => runner.as_written(migration).await,
            Step::Bookkeeping => Ok(()),
        };
        if let Err(failure) = ran {
            let _ = sqlx::raw_sql("ROLLBACK").execute(&mut *runner.connection).await;
            runner.executed.failure = Some(failure);
            break;
        }
        // The session's defaults again, and the rehearsal's search_path (`mod.rs`).
        let _ = sqlx::raw_sql("RESET ALL; SET search_path = public").execute(&mut *runner.connection).await;
    }
    let _ = runner.sampler.close().await;
    Ok(runner.executed)
}

impl Runner<'_> {
    async fn batch(&mut self, migrations: &[&Migration]) -> Result<()> {
        let timeouts = self.limits.for_statements(
            migrations.iter().flat_map(|migration| migration.chunks.iter().flat_map(|chunk| &chunk.statements)),
        );
        let limits = timeouts.sql(self.connection, "SET");
        self.send(&format!("{limits} BEGIN")).await?;
        for migration in migrations {
            self.statements(migration, Sending::EachInTransaction).await?;
        }
        self.send("COMMIT").await?;
        self.look().await.map_err(|err| rehearsal_error("look at its session", &err))
    }

    async fn alone(&mut self, migration: &Migration) -> Result<()> {
        self.statements(migration, Sending::EachAlone).await
    }

    async fn as_written(&mut self, migration: &Migration) -> Result<()> {
        let limits = self.limits.blocking.sql(self.connection, "SET");
        self.send(&format!("{limits} BEGIN")).await?;
        self.statements(migration, Sending::Chunks).await?;
        // Only a warning when its own COMMIT ended the transaction already.
        self.send("COMMIT").await?;
        self.look().await.map_err(|err| rehearsal_error("look at its session", &err))
    }

    /// Each statement of `migration` (or each chunk, as drizzle sends a
    /// migration that controls its transaction), timed, with a look after it.
    async fn statements(&mut self, migration: &Migration, sending: Sending) -> Result<()> {
        let index = self.migrations;
        self.migrations += 1;
        let mut sets_own_limits = false;
        for message in messages(migration, sending) {
            // As the engine runs them: a statement PostgreSQL refuses in a
            // transaction under its own limits (unless the migration set its own);
            // a chunk after the migration's own COMMIT that only waits without
            // blocking, under the concurrent ones.
            let own_limits = match sending {
                Sending::EachAlone if !sets_own_limits => {
                    Some(self.limits.for_statements(message.statements.iter().copied()))
                }
                Sending::Chunks
                    if message
                        .statements
                        .iter()
                        .any(|statement| waits_without_blocking(&statement.words).is_some())
                        && !self.in_transaction().await? =>
                {
                    Some(self.limits.for_statements(message.statements.iter().copied()))
                }
                _ => None,
            };
            if let Some(timeouts) = own_limits {
                let limits = timeouts.sql(self.connection, "SET");
                self.send(&limits).await?;
            }
            sets_own_limits |= message
                .statements
                .iter()
                .any(|statement| matches!(statement.words.first().map(String::as_str), Some("SET" | "RESET")));
            let start = self.origin.elapsed();
            let ran = self.timed(&message.text).await;
            let end = self.origin.elapsed();
            if let Some(err) = self.sampler_lost.take() {
                return Err(rehearsal_error("keep sampling the migration's locks (its second session ended)", &err)
                    .help("a lock the samples did not see would be a lock the rehearsal says was never taken: rehearse again; if it ends again, the dump's code may be ending it"));
            }
            if let Err(err) = ran {
                return Err(Error::new(
                    ErrorKind::MigrationFailed,
                    format!("migration {} failed in its rehearsal at line {}", migration.tag, message.line),
                )
                .note("file", migration.file.display())
                .note("reason", crate::pg_error::describe(&err))
                .help("it would fail the same way in production: fix the migration (nothing touched the database it was backed up from; the scratch database was dropped)"));
            }
            if own_limits.is_some() && sending == Sending::Chunks {
                let limits = self.limits.blocking.sql(self.connection, "SET");
                self.send(&limits).await?;
            }
            let files_before = self.files.clone();
            let invalid_before = self.invalid.clone();
            self.look().await.map_err(|err| rehearsal_error("look at its session", &err))?;
            let rewrote = files_before
                .iter()
                .filter(|(oid, file)| self.files.get(oid).is_some_and(|now| now != *file && *now != 0))
                .filter_map(|(oid, _)| self.executed.names.get(oid).cloned())
                .collect();
            let invalid_indexes = self.invalid.difference(&invalid_before).cloned().collect();
            self.executed.statements.push(RanStatement {
                migration: index,
                number: message.number,
                line: message.line,
                offset: message.offset,
                text: message.text,
                sent_with: message.sent_with,
                span: Span { start, end },
                rewrote,
                invalid_indexes,
            });
        }
        Ok(())
    }

    /// Whether the session is inside a transaction block (a migration's own BEGIN).
    async fn in_transaction(&mut self) -> Result<bool> {
        let open: bool =
            sqlx::query_scalar("SELECT pg_catalog.now() OPERATOR(pg_catalog.<>) pg_catalog.statement_timestamp()")
                .fetch_one(&mut *self.connection)
                .await
                .map_err(|err| rehearsal_error("look at its session", &err))?;
        Ok(open)
    }

    /// Runs one message while the second session samples its locks.
    async fn timed(&mut self, sql: &str) -> std::result::Result<(), sqlx::Error> {
        let sent = sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned())).execute(&mut *self.connection);
        tokio::pin!(sent);
        let mut samples = Vec::new();
        let outcome = loop {
            tokio::select! {
                biased;
                done = &mut sent => break done.map(|_| ()),
                () = tokio::time::sleep(SAMPLE_EVERY) => {
                    match sqlx::query_as(SAMPLE).bind(self.pid).fetch_all(&mut self.sampler).await {
                        Ok(rows) => samples.push(Observation { at: self.origin.elapsed(), held: held(rows) }),
                        // A lock it did not see would be a lock the rehearsal says was never taken.
                        Err(err) => {
                            self.sampler_lost = Some(err);
                            break (&mut sent).await.map(|_| ());
                        }
                    }
                }
            }
        };
        self.executed.observations.extend(samples);
        outcome
    }

    /// The session's locks, tables and INVALID indexes now.
    async fn look(&mut self) -> std::result::Result<(), sqlx::Error> {
        let text: String = sqlx::query_scalar(LOOK).fetch_one(&mut *self.connection).await?;
        let at = self.origin.elapsed();
        let look: Look = serde_json::from_str(&text).map_err(|err| sqlx::Error::Decode(Box::new(err)))?;
        let first = !self.looked;
        self.looked = true;
        self.files.clear();
        for (oid, name, file) in look.tables {
            if !first && !self.executed.names.contains_key(&oid) {
                self.executed.made_by.insert(oid, self.migrations.saturating_sub(1));
            }
            self.executed.names.insert(oid, name);
            self.files.insert(oid, file);
        }
        // An index's ACCESS EXCLUSIVE (REINDEX) stops every query that plans on its table.
        for (oid, index, table, table_oid) in look.indexes {
            self.executed.table_of.insert(oid, table_oid);
            if !first && !self.executed.names.contains_key(&oid) {
                self.executed.made_by.insert(oid, self.migrations.saturating_sub(1));
            }
            self.executed.names.insert(oid, format!("{index} (an index of {table})"));
        }
        self.invalid = look.invalid.into_iter().collect();
        self.executed.observations.push(Observation { at, held: held(look.locks) });
        Ok(())
    }

    async fn send(&mut self, sql: &str) -> Result<()> {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&mut *self.connection)
            .await
            .map(|_| ())
            .map_err(|err| rehearsal_error("prepare its transaction", &err))
    }
}

/// How a migration's statements are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sending {
    /// One by one in the step's transaction.
    EachInTransaction,
    /// One by one, each its own transaction (PostgreSQL refuses the migration in one).
    EachAlone,
    /// Chunk by chunk, as drizzle sends a migration that controls its transaction.
    Chunks,
}

/// What is sent to the server at once.
struct Message<'m> {
    number: usize,
    line: usize,
    offset: usize,
    text: String,
    statements: Vec<&'m SqlStatement>,
    sent_with: Vec<usize>,
}

fn messages(migration: &Migration, sending: Sending) -> Vec<Message<'_>> {
    let mut messages: Vec<Message<'_>> = Vec::new();
    let mut chunk_of_last = None;
    for statement in migration.statements() {
        if sending == Sending::Chunks && chunk_of_last == Some(statement.chunk_index) {
            let last = messages.last_mut().expect("a message for the chunk");
            last.statements.push(statement.statement);
            last.sent_with.push(statement.offset);
            continue;
        }
        chunk_of_last = Some(statement.chunk_index);
        let text = match sending {
            Sending::Chunks => migration.chunks[statement.chunk_index].text(migration).to_owned(),
            _ => statement.text.to_owned(),
        };
        messages.push(Message {
            number: statement.number,
            line: statement.line,
            offset: statement.offset,
            text,
            statements: vec![statement.statement],
            sent_with: Vec::new(),
        });
    }
    messages
}

fn held(rows: Vec<(Oid, String)>) -> BTreeSet<(Oid, LockMode)> {
    rows.into_iter().filter_map(|(oid, mode)| LockMode::from_pg(&mode).map(|mode| (oid, mode))).collect()
}

fn rehearsal_error(what: &str, err: &sqlx::Error) -> Error {
    Error::unavailable(format!("the rehearsal could not {what}")).note("reason", crate::pg_error::describe(err))
}
