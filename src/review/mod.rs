//! Reviewing migrations before they run: Squawk's rules (the well-kept linter,
//! embedded, never re-implemented) told how each migration will run, plus our
//! own rules for what a Dokku deploy adds; the author's acknowledgements; and,
//! with a database, which findings are harmless there. Pure but for `live_tables`.

mod acknowledgements;
pub mod expand_contract;
mod gate;
mod judge;
mod live_tables;
mod lock_safe;
mod names;
mod rules;
mod squawk;
mod target;

use std::path::PathBuf;

use serde::Serialize;
use squawk_syntax::SourceFile;

pub use acknowledgements::{LogEntry, log_entries};
pub use gate::{blocking, describe, gate_refusal};
pub use judge::{LiveTable, LiveTables, SIZE_BOUND_RULES, judge};
pub use live_tables::read as read_live_tables;
pub use lock_safe::{
    Earlier, LeftAlone, LockSafe, Outcome, Recipe, StatementOutcome, TableName, rewrite as rewrite_lock_safe,
    tables_created,
};
pub(crate) use names::Names;
pub use target::{Part, Relation, Target};

use crate::config::{ReviewSettings, RuleLevel};
use crate::migration_folder::Migration;

/// How bad a finding is: errors fail `lint` (exit 10) and stop the gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Warning,
    Error,
}

impl std::fmt::Display for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Level::Warning => "warning",
            Level::Error => "error",
        })
    }
}

/// What is known to make a finding safe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing: it is what the rule says.
    Danger,
    /// A fact makes it harmless: the table is new, small, or not there.
    Harmless { reason: String },
    /// The migration accepts it in a `-- praxia-deploy: allow` comment (or Squawk's `-- squawk-ignore`).
    Acknowledged {
        reason: String,
        /// The comment's line (the finding has its own `line`).
        #[serde(rename = "acknowledgement_line")]
        line: usize,
    },
}

/// One problem found in a migration, where it is and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: String,
    pub level: Level,
    pub tag: String,
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// The statement it is about, trimmed (at most a few lines of it), and its
    /// number in the migration (as `plan` numbers them; 0 when outside any).
    pub statement: String,
    pub statement_number: usize,
    pub message: String,
    /// The safe way to write it.
    pub help: Option<String>,
    /// The tables or indexes the statement works on, when it names them.
    pub targets: Vec<Target>,
    /// With a database: the size of that table, as `pg_class` estimates it, in
    /// words, and as numbers (rows: None when never analysed).
    pub table_size: Option<String>,
    pub table_rows: Option<u64>,
    pub table_bytes: Option<i64>,
    #[serde(flatten)]
    pub verdict: Verdict,
    /// Byte offset in the file.
    #[serde(skip)]
    pub offset: usize,
    /// What its statement drops or renames away (columns, constraints, types).
    #[serde(skip)]
    pub removes: Vec<Part>,
    /// Its statement may reach beyond the database (roles, other databases, the
    /// server; `migrations/sql.rs` decides): no database's emptiness excuses it.
    #[serde(skip)]
    pub reaches_beyond: bool,
}

/// Rules whose danger is the running release losing what it uses: a part the
/// same release made is used by nothing yet. (Rules about lock time are not.)
const RELEASE_ONLY_RULES: [&str; 5] =
    ["ban-drop-column", "ban-drop-constraint", "ban-drop-type", "renaming-column", rules::PREVIOUS_RELEASE_OVERLAP];

impl Finding {
    /// Whether every part its statement removes was made before it (`made`),
    /// for a rule where that makes it harmless: the reason if so.
    fn removes_only(&self, made: &dyn Fn(&Part) -> Option<String>) -> Option<String> {
        if self.removes.is_empty() || !RELEASE_ONLY_RULES.contains(&self.rule.as_str()) {
            return None;
        }
        let reasons: Option<Vec<String>> = self.removes.iter().map(made).collect();
        Some(format!("{}: the running release does not use it", reasons?.join("; ")))
    }
}

impl Finding {
    /// Whether it stops the gate: an error nothing makes safe.
    pub fn blocks(&self) -> bool {
        self.level == Level::Error && self.verdict == Verdict::Danger
    }
}

pub use crate::rule_names::{canonical, is_rule};

/// A rule's level in `settings`: None when it is off.
fn level_of(rule: &str, settings: &ReviewSettings) -> Option<Level> {
    let configured = settings.rules.iter().find(|(name, _)| canonical(name) == rule).map(|(_, level)| *level);
    match configured {
        Some(RuleLevel::Off) => None,
        Some(RuleLevel::Warning) => Some(Level::Warning),
        Some(RuleLevel::Error) => Some(Level::Error),
        None => Some(default_level(rule)),
    }
}

/// Squawk's `prefer-*` rules are about style (timestamptz, bigint, text,
/// identity): worth seeing, never worth failing a deploy. So are the rules about
/// how a migration is written rather than what it does to a live table, and the
/// order of enum values (drizzle-kit appends new ones, as the schema lists them).
fn default_level(rule: &str) -> Level {
    const WARNINGS: [&str; 4] = [
        rules::NON_TRANSACTIONAL_STATEMENTS,
        acknowledgements::UNUSED_ACKNOWLEDGEMENT,
        "unused-ignore",
        "require-enum-value-ordering",
    ];
    if rule.starts_with("prefer-") || WARNINGS.contains(&rule) { Level::Warning } else { Level::Error }
}

/// The findings of one migration, offline, and what its statements create and rename.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub tag: String,
    pub findings: Vec<Finding>,
    /// What each of its statements creates, renames, drops, makes and removes, in
    /// file order (a guarded statement counts as making nothing: it may be skipped).
    pub(crate) facts: Vec<target::StatementFacts>,
}

impl Reviewed {
    /// Every finding of `migration`, in file order, at the levels `settings`
    /// give; acknowledged ones marked; findings on a table the migration itself
    /// created earlier marked harmless.
    pub fn of(migration: &Migration, settings: &ReviewSettings) -> Reviewed {
        Reviewed::after(migration, settings, &[])
    }

    /// The reviews of migrations that run in one transaction, in that order: a
    /// `VALIDATE` of a constraint an earlier one added `NOT VALID` holds that
    /// ADD's lock for its whole scan, as Squawk says within one file.
    pub fn of_transaction(migrations: &[&Migration], settings: &ReviewSettings) -> Vec<Reviewed> {
        let mut reviews: Vec<Reviewed> = Vec::with_capacity(migrations.len());
        for migration in migrations {
            reviews.push(Reviewed::after(migration, settings, &reviews));
        }
        reviews
    }

    /// As `of`, with `earlier` the reviews of what runs before it in its transaction.
    fn after(migration: &Migration, settings: &ReviewSettings, earlier: &[Reviewed]) -> Reviewed {
        let parse = SourceFile::parse(&migration.text);
        let mut findings = squawk::findings(migration, &parse, settings);
        findings.extend(rules::findings(migration, &parse));
        let mut facts = target::facts(&parse.tree());
        for (base, statement) in guarded_statements(migration) {
            findings.extend(squawk::findings_on_statement(migration, statement, base, settings));
            facts.extend(target::facts(&SourceFile::parse(statement).tree()).into_iter().map(|mut fact| {
                fact.start += base;
                fact.end += base;
                // Skipped when its object exists: it makes nothing for sure.
                fact.creates = None;
                fact.makes.clear();
                fact
            }));
        }
        facts.sort_by_key(|fact| fact.start);
        findings.extend(squawk_excused(migration, &parse, &facts, &findings, settings));
        findings.extend(validations_of_earlier_not_valid(migration, &facts, earlier));
        for finding in &mut findings {
            let statement = facts
                .iter()
                .filter(|statement| finding.offset >= statement.start && finding.offset < statement.end)
                // The innermost: a guarded statement's own, not its DO block's.
                .max_by_key(|statement| statement.start);
            // What the review cannot see is judged on nothing it knows of the tables
            // (a new table's partition bounds run a function as much as a live one's).
            if finding.rule != rules::UNREVIEWABLE_STATEMENT {
                finding.targets = statement.map(|statement| statement.targets.clone()).unwrap_or_default();
            }
            finding.removes = statement.map(|statement| statement.removes.clone()).unwrap_or_default();
        }
        // After a statement the review cannot see, nothing it knew holds: no later
        // finding is excused by what the migration created or made.
        let unseen_from = unseen_from(&findings);
        for finding in &mut findings {
            if unseen_from.is_some_and(|offset| offset < finding.offset) {
                continue;
            }
            let mut names = names::Names::default();
            names.apply(&facts, &migration.tag, finding.offset);
            if let Some(Target::Table(table)) = finding.targets.first()
                && finding.targets.iter().all(|target| match target {
                    Target::Table(table) => names.created_by(table).is_some(),
                    Target::Index(_) => false,
                })
            {
                finding.verdict =
                    Verdict::Harmless { reason: format!("table {table} is created earlier in this migration") };
            }
            let made_here =
                |part: &Part| names.made_by(part).map(|_| format!("{part} is made earlier in this migration"));
            if finding.verdict == Verdict::Danger
                && let Some(reason) = finding.removes_only(&made_here)
            {
                finding.verdict = Verdict::Harmless { reason };
            }
        }
        if migration.part == crate::migration_folder::Part::Contract {
            for finding in &mut findings {
                expand_contract::excuse(finding);
            }
        }
        acknowledgements::apply(migration, &mut findings);
        findings.retain_mut(|finding| match level_of(&finding.rule, settings) {
            Some(level) => {
                finding.level = level;
                true
            }
            None => false,
        });
        findings.sort_by_key(|finding| (finding.line, finding.column, finding.rule.clone()));
        Reviewed { tag: migration.tag.clone(), findings, facts }
    }

    /// The findings on statement `number` (as `plan` numbers them; 0: on the
    /// migration as a whole).
    pub fn on(&self, number: usize) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(move |finding| finding.statement_number == number)
    }
}

/// The statement in drizzle-kit's `DO $$ BEGIN ... EXCEPTION WHEN duplicate_object
/// THEN null; END $$` guard (its shape read by `migrations/sql.rs`), accepted only
/// when it is what drizzle-kit puts there: `ALTER TABLE ... ADD CONSTRAINT ...`
/// (every action), `CREATE TYPE` or `CREATE SCHEMA`. Anything else inside a DO
/// block (EXECUTE, SET, a nested DO, a DROP) stays unreviewable.
pub(crate) fn guarded_statement(statement: &str) -> Option<std::ops::Range<usize>> {
    use squawk_syntax::ast;
    let range = crate::migration_folder::sql::drizzle_guarded_statement(statement)?;
    let parse = SourceFile::parse(&statement[range.clone()]);
    if !parse.errors().is_empty() {
        return None;
    }
    let mut statements = parse.tree().stmts();
    let (Some(only), None) = (statements.next(), statements.next()) else {
        return None;
    };
    let drizzle_kits = match only {
        ast::Stmt::AlterTable(alter) => {
            let actions: Vec<ast::AlterTableAction> = alter.actions().collect();
            !actions.is_empty()
                && actions.iter().all(|action| matches!(action, ast::AlterTableAction::AddConstraint(_)))
        }
        ast::Stmt::CreateType(_) | ast::Stmt::CreateSchema(_) => true,
        _ => false,
    };
    drizzle_kits.then_some(range)
}

/// Squawk leaves out four of its rules for a table it takes for one made in the
/// same file, matching the bare name anywhere in the file: an index or a foreign
/// key on `app.events` after (or before) `CREATE TABLE events` got nothing. Such
/// a statement is linted again on its own, and what Squawk finds then is added,
/// unless our own names say the table is the one made earlier here.
fn squawk_excused(
    migration: &Migration,
    parse: &squawk_syntax::Parse<SourceFile>,
    facts: &[target::StatementFacts],
    findings: &[Finding],
    settings: &ReviewSettings,
) -> Vec<Finding> {
    use squawk_syntax::ast;
    const EXEMPTED: [&str; 4] = [
        "require-concurrent-index-creation",
        "constraint-missing-not-valid",
        "adding-foreign-key-constraint",
        "disallowed-unique-constraint",
    ];
    let created: Vec<String> = parse
        .tree()
        .stmts()
        .filter_map(|statement| match statement {
            ast::Stmt::CreateTable(create) => create.table_name()?.path()?.segment().map(|name| name.text()),
            _ => None,
        })
        .collect();
    // What the migration made before each statement, applied as the statements pass.
    let mut names = names::Names::default();
    let mut passed = 0;
    facts
        .iter()
        .filter(|fact| fact.creates.is_none())
        .filter_map(|fact| {
            let Some(Target::Table(table)) = fact.targets.first() else { return None };
            if !created.contains(&table.name) {
                return None;
            }
            while passed < facts.len() && facts[passed].end <= fact.start {
                names.apply(&facts[passed..=passed], &migration.tag, usize::MAX);
                passed += 1;
            }
            if names.created_by(table).is_some() {
                return None;
            }
            let alone =
                squawk::findings_on_statement(migration, &migration.text[fact.start..fact.end], fact.start, settings);
            Some(alone.into_iter().filter(|finding| {
                EXEMPTED.contains(&finding.rule.as_str())
                    && !findings.iter().any(|reported| {
                        reported.rule == finding.rule && reported.offset >= fact.start && reported.offset < fact.end
                    })
            }))
        })
        .flatten()
        .collect()
}

/// Squawk's `constraint-missing-not-valid` for a `VALIDATE` whose `NOT VALID`
/// ADD is in an earlier migration of the same transaction (Squawk sees one file).
/// Constraints compare as Squawk compares them within a file: by name, and here
/// by table too. (Renames in between are not followed.)
fn validations_of_earlier_not_valid(
    migration: &Migration,
    facts: &[target::StatementFacts],
    earlier: &[Reviewed],
) -> Vec<Finding> {
    // An unqualified table may be either: a schema on both sides must agree.
    let same = |a: &Part, b: &Part| match (a, b) {
        (Part::Constraint(table_a, a), Part::Constraint(table_b, b)) => {
            a == b
                && table_a.name == table_b.name
                && (table_a.schema.is_none() || table_b.schema.is_none() || table_a.schema == table_b.schema)
        }
        _ => false,
    };
    facts
        .iter()
        .flat_map(|fact| fact.validates.iter().map(move |part| (fact, part)))
        .filter_map(|(fact, validated)| {
            let adder = earlier.iter().find(|review| {
                review.facts.iter().any(|fact| fact.adds_not_valid.iter().any(|added| same(added, validated)))
            })?;
            let Part::Constraint(_, name) = validated else { return None };
            Some(finding_at(
                migration,
                fact.start,
                "constraint-missing-not-valid",
                format!(
                    "`VALIDATE CONSTRAINT {name}` runs in the same transaction as {}, which adds it `NOT VALID`: \
                     the lock that ADD took is held while the whole table is scanned, blocking the app's reads and writes.",
                    adder.tag
                ),
                Some(format!(
                    "Give this migration a transaction of its own (a line `-- praxia-deploy: own-transaction`), \
                     or deploy {} before it.",
                    adder.tag
                )),
            ))
        })
        .collect()
}

/// Where the first statement the review cannot see starts, if any.
pub(crate) fn unseen_from(findings: &[Finding]) -> Option<usize> {
    findings.iter().filter(|finding| finding.rule == rules::UNREVIEWABLE_STATEMENT).map(|finding| finding.offset).min()
}

/// The statements drizzle-kit's guards hold, with the byte offset of each in the file.
pub(crate) fn guarded_statements(migration: &Migration) -> Vec<(usize, &str)> {
    migration
        .statements()
        .filter_map(|statement| {
            let range = guarded_statement(statement.text)?;
            let start = migration.chunks[statement.chunk_index].offset + statement.start_in_chunk;
            Some((start + range.start, &statement.text[range]))
        })
        .collect()
}

/// A finding at byte `offset` of the migration's file, at its rule's default
/// level, not yet judged.
fn finding_at(migration: &Migration, offset: usize, rule: &str, message: String, help: Option<String>) -> Finding {
    let (line, column) = migration.lines.line_column(&migration.text, offset);
    let (statement_number, statement, reaches_beyond) = migration
        .statements()
        .find(|statement| {
            let chunk = &migration.chunks[statement.chunk_index];
            let start = chunk.offset + statement.start_in_chunk;
            offset >= start && offset < start + statement.text.len()
        })
        .map_or_else(
            || (0, String::new(), false),
            |statement| {
                let words = crate::migration_folder::sql::split_statements(statement.text)
                    .into_iter()
                    .next()
                    .map(|split| split.words)
                    .unwrap_or_default();
                let beyond = crate::migration_folder::sql::cluster_wide_reason(statement.text, &words).is_some();
                (statement.number, shorten(statement.text.trim()), beyond)
            },
        );
    Finding {
        rule: rule.to_owned(),
        level: default_level(rule),
        tag: migration.tag.clone(),
        file: migration.file.clone(),
        line,
        column,
        statement,
        statement_number,
        message,
        help,
        targets: Vec::new(),
        table_size: None,
        table_rows: None,
        table_bytes: None,
        verdict: Verdict::Danger,
        offset,
        removes: Vec::new(),
        reaches_beyond,
    }
}

/// At most three lines, at most 300 characters.
fn shorten(text: &str) -> String {
    let mut short: String = text.lines().take(3).collect::<Vec<_>>().join("\n");
    if short.chars().count() > 300 {
        short = short.chars().take(300).collect::<String>() + "...";
    } else if text.lines().count() > 3 {
        short.push_str("\n...");
    }
    short
}
