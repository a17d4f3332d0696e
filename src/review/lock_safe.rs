//! Rewrites one pending drizzle-kit migration into lock-safe equivalents, statement
//! by statement, on drizzle-kit's own output shapes only: whatever is not
//! recognised exactly is left as written and reported. Pure.
//!
//! drizzle-orm 0.x's migrator runs every pending migration in one transaction,
//! where `CONCURRENTLY` is refused; the form both it and praxia-deploy run is the
//! migration ending that transaction itself: `COMMIT;`, the concurrent statement,
//! `BEGIN;`, each its own breakpoint chunk. The same boundary, once at the end,
//! gives the `VALIDATE CONSTRAINT`s a transaction after the migration's other work.

use std::ops::Range;

use sha2::{Digest, Sha256};

use crate::migration_folder::BREAKPOINT;
use crate::migration_folder::sql::{Lexer, SqlStatement, non_transactional_reason, own_transaction_reason};
use crate::migration_folder::sql::{identifiers, transaction_control, waits_without_blocking};

/// A table as a statement names it: the schema when written, the name as
/// `pg_class` has it (bare names folded to lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: Option<String>,
    pub name: String,
}

impl TableName {
    /// Unqualified names are taken as `public`'s: drizzle-kit writes either
    /// `"t"` or `"public"."t"` for the same table.
    fn is(&self, other: &TableName) -> bool {
        let schema = |table: &TableName| table.schema.clone().unwrap_or_else(|| "public".to_owned());
        self.name == other.name && schema(self) == schema(other)
    }
}

/// The migration rewritten, and what became of each of its statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockSafe {
    pub sql: String,
    pub statements: Vec<StatementOutcome>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementOutcome {
    /// Byte offset of the statement in the original text.
    pub offset: usize,
    /// The statement as written.
    pub statement: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Rewritten(Recipe),
    LeftAlone(LeftAlone),
}

/// A rewrite the engine applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipe {
    /// `CREATE INDEX` -> `CREATE INDEX CONCURRENTLY` between `COMMIT` and `BEGIN`.
    ConcurrentIndex,
    /// `ADD CONSTRAINT ... FOREIGN KEY|CHECK` -> `NOT VALID`, validated at the end.
    NotValidConstraint,
    /// `SET NOT NULL` -> a `NOT VALID` check, validated at the end, then `SET
    /// NOT NULL` (PostgreSQL 12+ trusts the valid check and skips its scan) and
    /// the check dropped.
    NotNullThroughCheck,
    /// `ADD CONSTRAINT ... UNIQUE(...)` -> a concurrent unique index, then the
    /// constraint `USING INDEX`.
    UniqueThroughConcurrentIndex,
    /// `DROP INDEX` -> `DROP INDEX CONCURRENTLY` between `COMMIT` and `BEGIN`.
    ConcurrentDropIndex,
}

impl Recipe {
    /// The review's rule whose finding the recipe answers.
    pub fn rule(self) -> &'static str {
        match self {
            Recipe::ConcurrentIndex => "require-concurrent-index-creation",
            Recipe::NotValidConstraint => "constraint-missing-not-valid",
            Recipe::NotNullThroughCheck => "adding-not-nullable-field",
            Recipe::UniqueThroughConcurrentIndex => "disallowed-unique-constraint",
            Recipe::ConcurrentDropIndex => "require-concurrent-index-deletion",
        }
    }

    /// Whether a finding of `rule` is one a recipe answers: a foreign key added
    /// NOT VALID and validated apart answers Squawk's `adding-foreign-key-constraint` too.
    pub fn answers(rule: &str) -> bool {
        rule == "adding-foreign-key-constraint"
            || [
                Recipe::ConcurrentIndex,
                Recipe::NotValidConstraint,
                Recipe::NotNullThroughCheck,
                Recipe::UniqueThroughConcurrentIndex,
                Recipe::ConcurrentDropIndex,
            ]
            .iter()
            .any(|recipe| recipe.rule() == rule)
    }

    /// What the rewrite does, for a person.
    pub fn describe(self) -> &'static str {
        match self {
            Recipe::ConcurrentIndex => "built CONCURRENTLY, between the migration's own COMMIT and BEGIN",
            Recipe::NotValidConstraint => "added NOT VALID, validated at the end in a transaction of its own",
            Recipe::NotNullThroughCheck => {
                "a NOT VALID check validated at the end, then SET NOT NULL without a scan, then the check dropped"
            }
            Recipe::UniqueThroughConcurrentIndex => "a unique index built CONCURRENTLY, then the constraint USING it",
            Recipe::ConcurrentDropIndex => "dropped CONCURRENTLY, between the migration's own COMMIT and BEGIN",
        }
    }
}

/// Why a statement is left as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeftAlone {
    /// The migration has its own `COMMIT`/`BEGIN` (as a rewritten one has).
    ControlsTransaction,
    /// The migration already runs outside drizzle's transaction.
    RunsOutsideTransaction(&'static str),
    InDoBlock,
    /// The table is created by this migration or earlier in the release: empty,
    /// so its lock harms no one.
    NewTable(String),
    /// A later statement of the migration that the engine does not read names
    /// the table: the validation cannot be moved past it.
    TableUsedLater(String),
    /// PostgreSQL builds no index on a partitioned table CONCURRENTLY.
    PartitionedIndex(String),
    /// PostgreSQL drops no index of a partitioned table CONCURRENTLY.
    PartitionedIndexDrop(String),
    /// PostgreSQL adds no foreign key NOT VALID to a partitioned table.
    PartitionedForeignKey(String),
    TypeChange,
    DefaultCallsFunction,
    PrimaryKey,
    /// It starts like a statement a recipe rewrites but is not exactly its shape.
    Unrecognised,
    /// Nothing the engine knows how to make lock-safer.
    NoRecipe,
}

impl LeftAlone {
    pub fn reason(&self) -> String {
        match self {
            LeftAlone::ControlsTransaction => "the migration controls its transaction itself (COMMIT/BEGIN)".to_owned(),
            LeftAlone::RunsOutsideTransaction(what) => {
                format!("the migration already runs outside a transaction ({what})")
            }
            LeftAlone::InDoBlock => "inside a DO block".to_owned(),
            LeftAlone::NewTable(table) => format!("{table} is new in this release: empty, its lock blocks no one"),
            LeftAlone::TableUsedLater(table) => format!(
                "a later statement uses {table}: its validation cannot be moved past it to the end of the migration"
            ),
            LeftAlone::PartitionedIndex(table) => {
                format!("{table} is partitioned: PostgreSQL builds no index on a partitioned table CONCURRENTLY")
            }
            LeftAlone::PartitionedIndexDrop(index) => {
                format!("{index} is a partitioned table's index: PostgreSQL drops none CONCURRENTLY")
            }
            LeftAlone::PartitionedForeignKey(table) => {
                format!("{table} is partitioned: PostgreSQL adds no foreign key NOT VALID to a partitioned table")
            }
            LeftAlone::TypeChange => "a column type change may rewrite the table; no lock-safe equivalent".to_owned(),
            LeftAlone::DefaultCallsFunction => {
                "a default that calls a function may be volatile and rewrite the table".to_owned()
            }
            LeftAlone::PrimaryKey => {
                "a primary key sets its columns NOT NULL, a scan under ACCESS EXCLUSIVE the engine cannot prove away"
                    .to_owned()
            }
            LeftAlone::Unrecognised => "not exactly a shape the engine rewrites".to_owned(),
            LeftAlone::NoRecipe => "no lock-safe rewrite applies".to_owned(),
        }
    }

    /// Whether a person reading the rewrite should be told: a statement a recipe
    /// would rewrite but could not, rather than one no recipe is about.
    pub fn worth_saying(&self) -> bool {
        !matches!(
            self,
            LeftAlone::NoRecipe
                | LeftAlone::NewTable(_)
                | LeftAlone::ControlsTransaction
                | LeftAlone::RunsOutsideTransaction(_)
        )
    }

    /// The expand/contract advice, where a rewrite cannot help.
    pub fn advice(&self) -> Option<&'static str> {
        match self {
            LeftAlone::TypeChange => Some(
                "expand and contract: add a column of the new type, write both, backfill in batches, switch reads, then drop the old one",
            ),
            LeftAlone::DefaultCallsFunction => {
                Some("add the column without a default, backfill in batches, then SET DEFAULT for new rows")
            }
            LeftAlone::PartitionedIndex(_) => Some(
                "create the index ON ONLY the partitioned table, build each partition's index CONCURRENTLY, then ALTER INDEX ... ATTACH PARTITION each",
            ),
            LeftAlone::PrimaryKey => Some(
                "make the columns NOT NULL first (lock-safe through a check), build a unique index CONCURRENTLY, then ADD PRIMARY KEY USING INDEX",
            ),
            _ => None,
        }
    }
}

/// What the migrations before this one made that changes a recipe: the tables
/// this release creates (empty when the migration runs, so their locks harm no
/// one) and, from any earlier migration, the partitioned tables and their
/// indexes, which PostgreSQL neither indexes nor drops an index of CONCURRENTLY,
/// nor gives a `NOT VALID` foreign key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Earlier {
    pub new_tables: Vec<TableName>,
    pub partitioned: Vec<TableName>,
    /// Indexes of partitioned tables, by name.
    pub partitioned_indexes: Vec<TableName>,
}

impl Earlier {
    /// Reads a migration that has shipped (or runs before the selected ones in
    /// another release): only what it partitions.
    pub fn shipped(&mut self, sql: &str) {
        for statement in located_statements(sql) {
            self.read_partitioning(&sql[statement.range.clone()], &statement.words);
        }
    }

    /// Reads a migration of this release: the tables it surely creates are new to the later ones.
    pub fn in_release(&mut self, sql: &str) {
        self.shipped(sql);
        self.new_tables.extend(
            located_statements(sql).iter().filter_map(|statement| created_for_sure(&sql[statement.range.clone()])),
        );
    }

    fn read_partitioning(&mut self, text: &str, words: &[String]) {
        if let Some(table) = created_table(text)
            && words.windows(2).any(|pair| pair[0] == "PARTITION" && pair[1] == "BY")
            && !words.windows(2).any(|pair| pair[0] == "PARTITION" && pair[1] == "OF")
        {
            self.partitioned.push(table);
        }
        if let Some((index, table)) = created_index(text)
            && self.is_partitioned(&table)
        {
            self.partitioned_indexes.push(index);
        }
    }

    fn is_partitioned(&self, table: &TableName) -> bool {
        self.partitioned.iter().any(|partitioned| partitioned.is(table))
    }

    fn is_partitioned_index(&self, index: &TableName) -> bool {
        self.partitioned_indexes.iter().any(|partitioned| partitioned.is(index))
    }
}

/// Rewrites `sql`, one migration's text, after the migrations `earlier` read;
/// the tables it creates itself are read here.
pub fn rewrite(sql: &str, earlier: &Earlier) -> LockSafe {
    let statements = located_statements(sql);
    if let Some(reason) = migration_left_alone(&statements) {
        let statements = statements.iter().map(|s| outcome(sql, s, Outcome::LeftAlone(reason.clone()))).collect();
        return LockSafe { sql: sql.to_owned(), statements };
    }
    let mut plan = Plan::default();
    let mut known = earlier.clone();
    known.new_tables.extend(statements.iter().filter_map(|s| created_for_sure(&sql[s.range.clone()])));
    let mut outcomes = Vec::new();
    for (index, s) in statements.iter().enumerate() {
        outcomes.push(outcome(sql, s, plan.statement(sql, s, &statements[index + 1..], &known)));
        known.read_partitioning(&sql[s.range.clone()], &s.words);
    }
    LockSafe { sql: plan.apply(sql), statements: outcomes }
}

/// The tables `sql` creates (`CREATE TABLE`, `IF NOT EXISTS` or not).
pub fn tables_created(sql: &str) -> Vec<TableName> {
    located_statements(sql).iter().filter_map(|statement| created_table(&sql[statement.range.clone()])).collect()
}

/// A statement with its byte range in the whole file and its place in its chunk.
struct Located {
    range: Range<usize>,
    words: Vec<String>,
    first_in_chunk: bool,
    last_in_chunk: bool,
}

fn located_statements(sql: &str) -> Vec<Located> {
    let mut found = Vec::new();
    let mut lexer = Lexer::default();
    let mut offset = 0;
    for piece in sql.split(BREAKPOINT) {
        let statements: Vec<SqlStatement> = lexer.split(piece);
        let count = statements.len();
        for (index, statement) in statements.into_iter().enumerate() {
            found.push(Located {
                range: offset + statement.start..offset + statement.end,
                words: statement.words,
                first_in_chunk: index == 0,
                last_in_chunk: index + 1 == count,
            });
        }
        offset += piece.len() + BREAKPOINT.len();
    }
    found
}

fn outcome(sql: &str, statement: &Located, outcome: Outcome) -> StatementOutcome {
    StatementOutcome { offset: statement.range.start, statement: sql[statement.range.clone()].to_owned(), outcome }
}

/// A migration that already chose how it runs keeps that choice whole.
fn migration_left_alone(statements: &[Located]) -> Option<LeftAlone> {
    if statements.iter().any(|s| transaction_control(&s.words).is_some()) {
        return Some(LeftAlone::ControlsTransaction);
    }
    statements
        .iter()
        .find_map(|s| {
            non_transactional_reason(&s.words).or_else(|| own_transaction_reason(&s.words)).or_else(|| {
                // VALIDATE CONSTRAINT and the like run in drizzle's transaction; only
                // the statements that cannot are a choice made.
                waits_without_blocking(&s.words).filter(|what| what.contains("CONCURRENTLY"))
            })
        })
        .map(LeftAlone::RunsOutsideTransaction)
}

/// The edits of one migration: replacements in place, in file order, and the
/// statements that run after the closing `COMMIT`/`BEGIN`.
#[derive(Default)]
struct Plan {
    replacements: Vec<(Range<usize>, String)>,
    at_end: Vec<String>,
    after_validation: Vec<String>,
}

impl Plan {
    fn statement(&mut self, sql: &str, statement: &Located, later: &[Located], known: &Earlier) -> Outcome {
        let text = &sql[statement.range.clone()];
        let Some((shape, guarded)) = read_shape(text, &statement.words) else {
            return Outcome::LeftAlone(left_alone_reason(text, &statement.words));
        };
        if let Some(table) = shape.table()
            && known.new_tables.iter().any(|new| new.is(&table.name))
        {
            return Outcome::LeftAlone(LeftAlone::NewTable(table.written.clone()));
        }
        if let Some(reason) = partitioned_reason(&shape, known) {
            return Outcome::LeftAlone(reason);
        }
        if let Shape::AddConstraint { table, .. } | Shape::SetNotNull { table, .. } = &shape
            && later.iter().any(|next| uses_table_unrecognised(sql, next, &table.name))
        {
            return Outcome::LeftAlone(LeftAlone::TableUsedLater(table.written.clone()));
        }
        if let Shape::AddConstraint { references: Some(referenced), .. } = &shape
            && later.iter().any(|next| uses_table_unrecognised(sql, next, &referenced.name))
        {
            return Outcome::LeftAlone(LeftAlone::TableUsedLater(referenced.written.clone()));
        }
        let body = text.strip_suffix(';').unwrap_or(text);
        let recipe = match &shape {
            Shape::CreateIndex { after_index, .. } | Shape::DropIndex { after_index, .. } => {
                let concurrent = format!("{} CONCURRENTLY{};", &body[..*after_index], &body[*after_index..]);
                self.replace_concurrently(statement, &concurrent, None);
                if matches!(shape, Shape::DropIndex { .. }) {
                    Recipe::ConcurrentDropIndex
                } else {
                    Recipe::ConcurrentIndex
                }
            }
            Shape::AddConstraint { table, constraint, .. } => {
                let not_valid = match guarded {
                    // drizzle-kit's guard: NOT VALID inside it, before the guarded statement's `;`.
                    Some(end) => format!("{} NOT VALID{}", &text[..end], &text[end..]),
                    None => format!("{body} NOT VALID;"),
                };
                self.replacements.push((statement.range.clone(), not_valid));
                self.at_end.push(validate(table, constraint));
                Recipe::NotValidConstraint
            }
            Shape::SetNotNull { table, column } => {
                let check = check_name(&table.name.name, &column.name);
                self.replacements.push((
                    statement.range.clone(),
                    format!(
                        "ALTER TABLE {} ADD CONSTRAINT {check} CHECK ({} IS NOT NULL) NOT VALID;",
                        table.written, column.written
                    ),
                ));
                self.at_end.push(validate(table, &check));
                self.after_validation.push(text_with_semicolon(text));
                self.after_validation.push(format!("ALTER TABLE {} DROP CONSTRAINT {check};", table.written));
                Recipe::NotNullThroughCheck
            }
            Shape::AddUnique { table, constraint, columns, nulls_not_distinct } => {
                let nulls = if *nulls_not_distinct { " NULLS NOT DISTINCT" } else { "" };
                let index =
                    format!("CREATE UNIQUE INDEX CONCURRENTLY {constraint} ON {} ({columns}){nulls};", table.written);
                let attach = format!(
                    "ALTER TABLE {} ADD CONSTRAINT {constraint} UNIQUE USING INDEX {constraint};",
                    table.written
                );
                self.replace_concurrently(statement, &index, Some(attach));
                Recipe::UniqueThroughConcurrentIndex
            }
        };
        Outcome::Rewritten(recipe)
    }

    /// `statement` replaced by its own chunks: `COMMIT;`, `concurrent`, `BEGIN;`
    /// (and `then`), each chunk holding one statement.
    fn replace_concurrently(&mut self, statement: &Located, concurrent: &str, then: Option<String>) {
        let mut chunks = vec!["COMMIT;".to_owned(), concurrent.to_owned(), "BEGIN;".to_owned()];
        chunks.extend(then);
        let mut text = chunks.join(&format!("\n{BREAKPOINT}\n"));
        if !statement.first_in_chunk {
            text = format!("{BREAKPOINT}\n{text}");
        }
        if !statement.last_in_chunk {
            text.push_str(&format!("\n{BREAKPOINT}"));
        }
        self.replacements.push((statement.range.clone(), text));
    }

    fn apply(self, sql: &str) -> String {
        let mut out = String::with_capacity(sql.len() * 2);
        let mut copied = 0;
        for (range, text) in &self.replacements {
            out.push_str(&sql[copied..range.start]);
            out.push_str(text);
            copied = range.end;
        }
        let rest = &sql[copied..];
        let body = rest.trim_end();
        out.push_str(body);
        if !self.at_end.is_empty() {
            let mut tail = vec!["COMMIT;".to_owned(), "BEGIN;".to_owned()];
            tail.extend(self.at_end);
            tail.extend(self.after_validation);
            if !out.trim_end().ends_with(';') {
                out.push('\n');
            }
            for chunk in tail {
                out.push_str(&format!("{BREAKPOINT}\n{chunk}"));
                out.push('\n');
            }
            out.pop();
        }
        out.push_str(&rest[body.len()..]);
        out
    }
}

/// What PostgreSQL does not do on a partitioned table: build or drop an index
/// CONCURRENTLY, add a foreign key NOT VALID.
fn partitioned_reason(shape: &Shape, known: &Earlier) -> Option<LeftAlone> {
    let on_partitioned = |table: &WrittenTable| known.is_partitioned(&table.name).then(|| table.written.clone());
    match shape {
        Shape::CreateIndex { table, .. } | Shape::AddUnique { table, .. } => {
            on_partitioned(table).map(LeftAlone::PartitionedIndex)
        }
        Shape::AddConstraint { table, references: Some(_), .. } => {
            on_partitioned(table).map(LeftAlone::PartitionedForeignKey)
        }
        Shape::DropIndex { index, .. } if known.is_partitioned_index(index) => {
            Some(LeftAlone::PartitionedIndexDrop(index.name.clone()))
        }
        _ => None,
    }
}

/// Whether `statement` names `table` and is not a shape the engine reads: then
/// moving a validation past it could change what it meets (a dropped column, a
/// renamed table).
fn uses_table_unrecognised(sql: &str, statement: &Located, table: &TableName) -> bool {
    let text = &sql[statement.range.clone()];
    identifiers(text).contains(&table.name) && read_shape(text, &statement.words).is_none()
}

/// The statement's shape, read exactly; or, for drizzle-kit 0.2x's guard
/// (`DO $$ BEGIN <ADD CONSTRAINT>; EXCEPTION WHEN duplicate_object THEN null; END $$;`),
/// the guarded constraint's, with where its `;` is in `text`.
fn read_shape(text: &str, words: &[String]) -> Option<(Shape, Option<usize>)> {
    if let Some(shape) = Shape::read(text, words) {
        return Some((shape, None));
    }
    let inner = guarded(text)?;
    let words = ["ALTER".to_owned(), "TABLE".to_owned()];
    match Shape::read(&text[inner.clone()], &words)? {
        Shape::AddConstraint { table, constraint, references } => {
            // Offsets and written names are the inner text's: shifted to the statement's.
            Some((Shape::AddConstraint { table, constraint, references }, Some(inner.end)))
        }
        _ => None,
    }
}

/// The guarded statement of drizzle-kit's duplicate_object guard, without its
/// `;`, as a range of `text`: exactly that shape, or nothing.
fn guarded(text: &str) -> Option<Range<usize>> {
    let mut at = 0;
    let word = |expected: &str, at: &mut usize| -> Option<()> {
        let rest = &text[*at..];
        let skipped = rest.len() - rest.trim_start().len();
        let rest = &rest[skipped..];
        let matches = rest.get(..expected.len()).is_some_and(|head| head.eq_ignore_ascii_case(expected));
        matches.then(|| *at += skipped + expected.len())
    };
    for expected in ["DO", "$$", "BEGIN"] {
        word(expected, &mut at)?;
    }
    let start = at + (text[at..].len() - text[at..].trim_start().len());
    let end = start + text[start..].find(';')?;
    let mut after = end + 1;
    for expected in ["EXCEPTION", "WHEN", "duplicate_object", "THEN", "null", ";", "END", "$$"] {
        word(expected, &mut after)?;
    }
    let tail = text[after..].trim();
    let inner = &text[start..end];
    (matches!(tail, "" | ";") && !inner.contains("$$") && !inner.contains("--") && !inner.contains("/*"))
        .then_some(start..end)
}

fn text_with_semicolon(text: &str) -> String {
    if text.ends_with(';') { text.to_owned() } else { format!("{text};") }
}

fn validate(table: &WrittenTable, constraint: &str) -> String {
    format!("ALTER TABLE {} VALIDATE CONSTRAINT {constraint};", table.written)
}

/// The temporary check's name, quoted: `<table>_<column>_not_null_check`.
/// PostgreSQL 18 names a NOT NULL constraint `<table>_<column>_not_null`, so that
/// name is avoided. Over 63 bytes (PostgreSQL would truncate it, and two
/// columns could meet), the name is cut and ends in a hash of the full one.
fn check_name(table: &str, column: &str) -> String {
    let full = format!("{table}_{column}_not_null_check");
    let name = if full.len() <= 63 {
        full
    } else {
        let hash = hex::encode(Sha256::digest(full.as_bytes()));
        let mut cut = 63 - 1 - 8;
        while !full.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}_{}", &full[..cut], &hash[..8])
    };
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn left_alone_reason(text: &str, words: &[String]) -> LeftAlone {
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let has = |word: &str| words.iter().any(|candidate| candidate == word);
    let pair = |first: &str, second: &str| words.windows(2).any(|pair| pair[0] == first && pair[1] == second);
    match (w(0), w(1)) {
        ("DO", _) => LeftAlone::InDoBlock,
        ("ALTER", "TABLE") if pair("DATA", "TYPE") || (pair("ALTER", "COLUMN") && has("TYPE")) => LeftAlone::TypeChange,
        ("ALTER", "TABLE") if pair("PRIMARY", "KEY") => LeftAlone::PrimaryKey,
        ("ALTER", "TABLE") if pair("ADD", "COLUMN") && has("DEFAULT") && text.contains("()") => {
            LeftAlone::DefaultCallsFunction
        }
        ("CREATE", "INDEX" | "UNIQUE") | ("DROP", "INDEX") => LeftAlone::Unrecognised,
        ("ALTER", "TABLE") if pair("NOT", "NULL") && has("SET") => LeftAlone::Unrecognised,
        ("ALTER", "TABLE") if pair("ADD", "CONSTRAINT") && !has("VALID") => LeftAlone::Unrecognised,
        _ => LeftAlone::NoRecipe,
    }
}

/// The table `CREATE [UNLOGGED] TABLE [IF NOT EXISTS] name` creates.
fn created_table(text: &str) -> Option<TableName> {
    created(text).map(|(table, _)| table)
}

/// The table a statement creates for sure: not `IF NOT EXISTS`, which may find
/// the live table there (as the review takes it), so its lock may matter.
fn created_for_sure(text: &str) -> Option<TableName> {
    created(text).filter(|(_, for_sure)| *for_sure).map(|(table, _)| table)
}

/// `CREATE [UNLOGGED] TABLE [IF NOT EXISTS] name`: the name, and whether it is made for sure.
fn created(text: &str) -> Option<(TableName, bool)> {
    let tokens = tokens(text).0;
    let mut at = Cursor { tokens: &tokens, at: 0 };
    at.keyword("CREATE")?;
    at.optional_keyword("UNLOGGED");
    at.keyword("TABLE")?;
    let before = at.at;
    at.if_exists(&["IF", "NOT", "EXISTS"]);
    let for_sure = at.at == before;
    Some((at.table(text)?.name, for_sure))
}

/// A table as written (`"public"."t"`), and its name.
#[derive(Debug)]
struct WrittenTable {
    written: String,
    name: TableName,
}

#[derive(Debug)]
struct WrittenName {
    written: String,
    name: String,
}

/// The statement shapes the recipes rewrite, read exactly.
#[derive(Debug)]
enum Shape {
    /// `after_index`: the byte offset just past the INDEX keyword.
    CreateIndex {
        after_index: usize,
        table: WrittenTable,
    },
    DropIndex {
        after_index: usize,
        index: TableName,
    },
    AddConstraint {
        table: WrittenTable,
        constraint: String,
        /// A foreign key's referenced table: dropping it (or its key) drops the constraint.
        references: Option<WrittenTable>,
    },
    SetNotNull {
        table: WrittenTable,
        column: WrittenName,
    },
    AddUnique {
        table: WrittenTable,
        constraint: String,
        columns: String,
        nulls_not_distinct: bool,
    },
}

impl Shape {
    fn read(text: &str, words: &[String]) -> Option<Shape> {
        let (tokens, complete) = tokens(text);
        if !complete {
            return None;
        }
        let mut at = Cursor { tokens: &tokens, at: 0 };
        match (words.first()?.as_str(), words.get(1).map(String::as_str)) {
            ("CREATE", _) => create_index(&mut at, text),
            ("DROP", Some("INDEX")) => drop_index(&mut at),
            ("ALTER", Some("TABLE")) => alter_table(&mut at, text),
            _ => None,
        }
    }

    fn table(&self) -> Option<&WrittenTable> {
        match self {
            Shape::CreateIndex { table, .. }
            | Shape::AddConstraint { table, .. }
            | Shape::SetNotNull { table, .. }
            | Shape::AddUnique { table, .. } => Some(table),
            Shape::DropIndex { .. } => None,
        }
    }
}

fn create_index(at: &mut Cursor, text: &str) -> Option<Shape> {
    at.keyword("CREATE")?;
    at.optional_keyword("UNIQUE");
    let after_index = at.keyword("INDEX")?;
    at.if_exists(&["IF", "NOT", "EXISTS"]);
    at.name(text)?;
    at.keyword("ON")?;
    let table = at.table(text)?;
    at.rest_without_top_level_comma()?;
    Some(Shape::CreateIndex { after_index, table })
}

fn drop_index(at: &mut Cursor) -> Option<Shape> {
    at.keyword("DROP")?;
    let after_index = at.keyword("INDEX")?;
    at.if_exists(&["IF", "EXISTS"]);
    let (first, _) = at.next_name()?;
    let index = if at.punct('.').is_some() {
        TableName { schema: Some(first), name: at.next_name()?.0 }
    } else {
        TableName { schema: None, name: first }
    };
    at.optional_keyword("RESTRICT");
    at.end()?;
    Some(Shape::DropIndex { after_index, index })
}

/// The index `CREATE [UNIQUE] INDEX [CONCURRENTLY] [IF NOT EXISTS] name ON [ONLY] table`
/// creates (in its table's schema), and the table.
fn created_index(text: &str) -> Option<(TableName, TableName)> {
    let tokens = tokens(text).0;
    let mut at = Cursor { tokens: &tokens, at: 0 };
    at.keyword("CREATE")?;
    at.optional_keyword("UNIQUE");
    at.keyword("INDEX")?;
    at.optional_keyword("CONCURRENTLY");
    at.if_exists(&["IF", "NOT", "EXISTS"]);
    let (name, _) = at.next_name()?;
    at.keyword("ON")?;
    at.optional_keyword("ONLY");
    let table = at.table(text)?.name;
    Some((TableName { schema: table.schema.clone(), name }, table))
}

fn alter_table(at: &mut Cursor, text: &str) -> Option<Shape> {
    at.keyword("ALTER")?;
    at.keyword("TABLE")?;
    let table = at.table(text)?;
    if at.optional_keyword("ALTER") {
        at.keyword("COLUMN")?;
        let column = at.name(text)?;
        at.keyword("SET")?;
        at.keyword("NOT")?;
        at.keyword("NULL")?;
        at.end()?;
        return Some(Shape::SetNotNull { table, column });
    }
    at.keyword("ADD")?;
    at.keyword("CONSTRAINT")?;
    let constraint = at.name(text)?.written;
    if at.optional_keyword("UNIQUE") {
        let nulls_not_distinct = at.optional_keyword("NULLS");
        if nulls_not_distinct {
            at.keyword("NOT")?;
            at.keyword("DISTINCT")?;
        }
        let open = at.punct('(')?;
        let close = loop {
            at.name(text)?;
            if let Some(end) = at.punct(')') {
                break end;
            }
            at.punct(',')?;
        };
        at.end()?;
        let columns = text[open..close - 1].to_owned();
        return Some(Shape::AddUnique { table, constraint, columns, nulls_not_distinct });
    }
    if !(at.optional_keyword("CHECK") || at.optional_keyword("FOREIGN")) {
        return None;
    }
    let rest = at.rest_without_top_level_comma()?;
    // Already NOT VALID.
    if rest.iter().any(|token| token.kind == Kind::Word("VALID".to_owned())) {
        return None;
    }
    let references = rest.iter().position(|token| token.kind == Kind::Word("REFERENCES".to_owned())).and_then(|at| {
        let mut cursor = Cursor { tokens: &rest[at + 1..], at: 0 };
        cursor.table(text)
    });
    Some(Shape::AddConstraint { table, constraint, references })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// A bare word, upper-cased.
    Word(String),
    /// A double-quoted identifier, unescaped.
    Quoted(String),
    Punct(char),
    /// A string or a number.
    Literal,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    range: Range<usize>,
}

/// The statement's tokens, and whether the whole statement was read: a comment,
/// a dollar quote or a backslash stops the reading (the engine does not guess).
fn tokens(text: &str) -> (Vec<Token>, bool) {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let kind = match bytes[i] {
            b if b.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => return (found, false),
            b'/' if bytes.get(i + 1) == Some(&b'*') => return (found, false),
            b'$' | b'\\' => return (found, false),
            b'"' | b'\'' => {
                let quote = bytes[i];
                i += 1;
                loop {
                    match bytes.get(i) {
                        None => return (found, false),
                        Some(&b) if b == quote && bytes.get(i + 1) == Some(&quote) => i += 2,
                        Some(&b) if b == quote => break,
                        Some(b'\\') => return (found, false),
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                if quote == b'"' { Kind::Quoted(text[start + 1..i - 1].replace("\"\"", "\"")) } else { Kind::Literal }
            }
            b if b.is_ascii_alphabetic() || b == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$') {
                    i += 1;
                }
                if bytes.get(i) == Some(&b'\'') || bytes.get(i) == Some(&b'&') {
                    return (found, false); // E'...', U&"..."
                }
                Kind::Word(text[start..i].to_ascii_uppercase())
            }
            b if b.is_ascii_digit() => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
                Kind::Literal
            }
            b if b.is_ascii() => {
                i += 1;
                Kind::Punct(b as char)
            }
            _ => return (found, false),
        };
        found.push(Token { kind, range: start..i });
    }
    (found, true)
}

struct Cursor<'t> {
    tokens: &'t [Token],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    /// The keyword's end offset, when it is next.
    fn keyword(&mut self, word: &str) -> Option<usize> {
        let token = self.peek()?;
        let end = token.range.end;
        (token.kind == Kind::Word(word.to_owned())).then(|| self.at += 1)?;
        Some(end)
    }

    fn optional_keyword(&mut self, word: &str) -> bool {
        self.keyword(word).is_some()
    }

    fn if_exists(&mut self, words: &[&str]) {
        let start = self.at;
        if !words.iter().all(|word| self.keyword(word).is_some()) {
            self.at = start;
        }
    }

    fn punct(&mut self, c: char) -> Option<usize> {
        let token = self.peek()?;
        let end = token.range.end;
        (token.kind == Kind::Punct(c)).then(|| self.at += 1)?;
        Some(end)
    }

    /// An identifier: its name as `pg_class` has it and its token.
    fn next_name(&mut self) -> Option<(String, Range<usize>)> {
        let token = self.peek()?.clone();
        let name = match token.kind {
            Kind::Quoted(name) => name,
            Kind::Word(word) if !RESERVED.contains(&word.as_str()) => word.to_ascii_lowercase(),
            _ => return None,
        };
        self.at += 1;
        Some((name, token.range))
    }

    fn name(&mut self, text: &str) -> Option<WrittenName> {
        let (name, range) = self.next_name()?;
        Some(WrittenName { written: text[range].to_owned(), name })
    }

    /// `name` or `schema.name`; `ONLY` (a partitioned parent alone) is not read.
    fn table(&mut self, text: &str) -> Option<WrittenTable> {
        let (first, range) = self.next_name()?;
        let (schema, name, end) = if self.punct('.').is_some() {
            let (second, second_range) = self.next_name()?;
            (Some(first), second, second_range.end)
        } else {
            (None, first, range.end)
        };
        Some(WrittenTable { written: text[range.start..end].to_owned(), name: TableName { schema, name } })
    }

    /// The statement's end: an optional `;`, then nothing.
    fn end(&mut self) -> Option<()> {
        self.punct(';');
        (self.at == self.tokens.len()).then_some(())
    }

    /// The remaining tokens up to the end, refusing a second action (a comma
    /// outside parentheses) and unbalanced parentheses.
    fn rest_without_top_level_comma(&mut self) -> Option<&[Token]> {
        let rest = &self.tokens[self.at..];
        let mut depth = 0i32;
        for (index, token) in rest.iter().enumerate() {
            match token.kind {
                Kind::Punct('(') => depth += 1,
                Kind::Punct(')') => depth -= 1,
                Kind::Punct(',') if depth == 0 => return None,
                Kind::Punct(';') if index + 1 != rest.len() || depth != 0 => return None,
                _ => {}
            }
            if depth < 0 {
                return None;
            }
        }
        self.at = self.tokens.len();
        (depth == 0).then_some(rest)
    }
}

/// Words that end a name where a name is expected: never taken as one.
const RESERVED: &[&str] = &["ON", "ONLY", "IF", "CONCURRENTLY", "USING", "ADD", "ALTER", "SET", "CASCADE"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration_folder::sql::split_statements;

    const BP: &str = "--> statement-breakpoint";

    fn existing() -> Earlier {
        Earlier::default()
    }

    /// The rewritten migration's statements, chunk by chunk, as the crate's lexer reads them.
    fn chunks(sql: &str) -> Vec<Vec<String>> {
        sql.split(BP)
            .map(|chunk| split_statements(chunk).iter().map(|s| s.text(chunk).trim().to_owned()).collect())
            .filter(|statements: &Vec<String>| !statements.is_empty())
            .collect()
    }

    fn one_per_chunk(sql: &str) -> Vec<String> {
        chunks(sql)
            .into_iter()
            .map(|chunk| {
                assert_eq!(chunk.len(), 1, "one statement per chunk: {chunk:?}");
                chunk.into_iter().next().unwrap()
            })
            .collect()
    }

    fn recipes(fixed: &LockSafe) -> Vec<Outcome> {
        fixed.statements.iter().map(|s| s.outcome.clone()).collect()
    }

    fn assert_idempotent(fixed: &LockSafe) {
        let again = rewrite(&fixed.sql, &existing());
        assert_eq!(again.sql, fixed.sql);
        assert!(again.statements.iter().all(|s| s.outcome == Outcome::LeftAlone(LeftAlone::ControlsTransaction)));
    }

    #[test]
    fn an_index_on_an_existing_table_is_built_concurrently_between_commit_and_begin() {
        for (written, concurrent) in [
            // drizzle-kit 0.31
            (
                r#"CREATE INDEX "profile_organization_id_idx" ON "profile" USING btree ("organization_id");"#,
                r#"CREATE INDEX CONCURRENTLY "profile_organization_id_idx" ON "profile" USING btree ("organization_id");"#,
            ),
            // drizzle-kit 1.0, schema-qualified, unique, IF NOT EXISTS
            (
                r#"CREATE UNIQUE INDEX IF NOT EXISTS "t_x_key" ON "public"."t" ("x") WHERE "x" > 0;"#,
                r#"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "t_x_key" ON "public"."t" ("x") WHERE "x" > 0;"#,
            ),
        ] {
            let fixed = rewrite(written, &existing());
            assert_eq!(one_per_chunk(&fixed.sql), ["COMMIT;", concurrent, "BEGIN;"]);
            assert_eq!(recipes(&fixed), [Outcome::Rewritten(Recipe::ConcurrentIndex)]);
            assert_idempotent(&fixed);
        }
    }

    #[test]
    fn every_other_byte_of_the_file_is_kept() {
        let sql = "-- a note\nCREATE TABLE \"a\" (\"x\" int);--> statement-breakpoint\nCREATE INDEX \"b_y_idx\" ON \"b\" USING btree (\"y\");--> statement-breakpoint\n/* kept */ SELECT 1;\n";
        let fixed = rewrite(sql, &existing());
        assert_eq!(
            fixed.sql,
            "-- a note\nCREATE TABLE \"a\" (\"x\" int);--> statement-breakpoint\nCOMMIT;\n--> statement-breakpoint\nCREATE INDEX CONCURRENTLY \"b_y_idx\" ON \"b\" USING btree (\"y\");\n--> statement-breakpoint\nBEGIN;--> statement-breakpoint\n/* kept */ SELECT 1;\n"
        );
    }

    #[test]
    fn a_foreign_key_or_check_is_added_not_valid_and_validated_after_everything_else() {
        let sql = concat!(
            r#"ALTER TABLE "profile" ADD CONSTRAINT "profile_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;"#,
            "--> statement-breakpoint\n",
            r#"ALTER TABLE "public"."t" ADD CONSTRAINT "t_role_check" CHECK ("t"."role" IN ('a', 'b'));"#,
            "--> statement-breakpoint\n",
            r#"ALTER TABLE "w" ADD COLUMN "y" integer;"#,
            "\n",
        );
        let fixed = rewrite(sql, &existing());
        assert_eq!(
            one_per_chunk(&fixed.sql),
            [
                r#"ALTER TABLE "profile" ADD CONSTRAINT "profile_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action NOT VALID;"#,
                r#"ALTER TABLE "public"."t" ADD CONSTRAINT "t_role_check" CHECK ("t"."role" IN ('a', 'b')) NOT VALID;"#,
                r#"ALTER TABLE "w" ADD COLUMN "y" integer;"#,
                "COMMIT;",
                "BEGIN;",
                r#"ALTER TABLE "profile" VALIDATE CONSTRAINT "profile_user_id_user_id_fk";"#,
                r#"ALTER TABLE "public"."t" VALIDATE CONSTRAINT "t_role_check";"#,
            ]
        );
        assert!(fixed.sql.ends_with("VALIDATE CONSTRAINT \"t_role_check\";\n"), "the trailing newline stays last");
        assert_eq!(
            recipes(&fixed),
            [
                Outcome::Rewritten(Recipe::NotValidConstraint),
                Outcome::Rewritten(Recipe::NotValidConstraint),
                Outcome::LeftAlone(LeftAlone::NoRecipe)
            ]
        );
        assert_idempotent(&fixed);
    }

    #[test]
    fn set_not_null_goes_through_a_validated_check() {
        let fixed = rewrite(r#"ALTER TABLE "public"."t" ALTER COLUMN "x" SET NOT NULL;"#, &existing());
        assert_eq!(
            one_per_chunk(&fixed.sql),
            [
                r#"ALTER TABLE "public"."t" ADD CONSTRAINT "t_x_not_null_check" CHECK ("x" IS NOT NULL) NOT VALID;"#,
                "COMMIT;",
                "BEGIN;",
                r#"ALTER TABLE "public"."t" VALIDATE CONSTRAINT "t_x_not_null_check";"#,
                r#"ALTER TABLE "public"."t" ALTER COLUMN "x" SET NOT NULL;"#,
                r#"ALTER TABLE "public"."t" DROP CONSTRAINT "t_x_not_null_check";"#,
            ]
        );
        assert_eq!(recipes(&fixed), [Outcome::Rewritten(Recipe::NotNullThroughCheck)]);
        assert_idempotent(&fixed);
    }

    #[test]
    fn a_long_check_name_fits_63_bytes_and_stays_distinct() {
        let table = "a".repeat(40);
        let first = check_name(&table, &format!("{}_one", "c".repeat(30)));
        let second = check_name(&table, &format!("{}_two", "c".repeat(30)));
        assert_eq!(first.len(), 63 + 2, "{first}");
        assert_ne!(first, second);
        assert_eq!(check_name("t", "x"), "\"t_x_not_null_check\"");
    }

    #[test]
    fn a_unique_constraint_is_built_as_a_concurrent_index_first() {
        let fixed = rewrite(r#"ALTER TABLE "public"."t" ADD CONSTRAINT "t_a_b_unique" UNIQUE("a","b");"#, &existing());
        assert_eq!(
            one_per_chunk(&fixed.sql),
            [
                "COMMIT;",
                r#"CREATE UNIQUE INDEX CONCURRENTLY "t_a_b_unique" ON "public"."t" ("a","b");"#,
                "BEGIN;",
                r#"ALTER TABLE "public"."t" ADD CONSTRAINT "t_a_b_unique" UNIQUE USING INDEX "t_a_b_unique";"#,
            ]
        );
        assert_eq!(recipes(&fixed), [Outcome::Rewritten(Recipe::UniqueThroughConcurrentIndex)]);
        assert_idempotent(&fixed);
    }

    #[test]
    fn a_nulls_not_distinct_unique_constraint_keeps_its_nulls_clause_on_the_index() {
        let fixed =
            rewrite(r#"ALTER TABLE "e" ADD CONSTRAINT "e_ext_idx" UNIQUE NULLS NOT DISTINCT("a","b");"#, &existing());
        assert_eq!(
            one_per_chunk(&fixed.sql),
            [
                "COMMIT;",
                r#"CREATE UNIQUE INDEX CONCURRENTLY "e_ext_idx" ON "e" ("a","b") NULLS NOT DISTINCT;"#,
                "BEGIN;",
                r#"ALTER TABLE "e" ADD CONSTRAINT "e_ext_idx" UNIQUE USING INDEX "e_ext_idx";"#,
            ]
        );
    }

    #[test]
    fn an_index_is_dropped_concurrently() {
        for (written, concurrent) in [
            (r#"DROP INDEX "t_x_idx";"#, r#"DROP INDEX CONCURRENTLY "t_x_idx";"#),
            (r#"DROP INDEX IF EXISTS "public"."t_x_idx";"#, r#"DROP INDEX CONCURRENTLY IF EXISTS "public"."t_x_idx";"#),
        ] {
            let fixed = rewrite(written, &existing());
            assert_eq!(one_per_chunk(&fixed.sql), ["COMMIT;", concurrent, "BEGIN;"]);
            assert_eq!(recipes(&fixed), [Outcome::Rewritten(Recipe::ConcurrentDropIndex)]);
            assert_idempotent(&fixed);
        }
    }

    #[test]
    fn a_statement_sharing_its_chunk_still_gets_chunks_of_its_own() {
        let fixed = rewrite("SELECT 1; CREATE INDEX i ON t (x); SELECT 2;", &existing());
        assert_eq!(
            one_per_chunk(&fixed.sql),
            ["SELECT 1;", "COMMIT;", "CREATE INDEX CONCURRENTLY i ON t (x);", "BEGIN;", "SELECT 2;"]
        );
    }

    #[test]
    fn statements_on_tables_new_in_the_release_are_left_alone() {
        let sql = concat!(
            "CREATE TABLE \"t\" (\"x\" integer);\n--> statement-breakpoint\n",
            "CREATE INDEX \"t_x_idx\" ON \"public\".\"t\" USING btree (\"x\");--> statement-breakpoint\n",
            "ALTER TABLE \"u\" ALTER COLUMN \"y\" SET NOT NULL;",
        );
        let mut earlier = Earlier::default();
        earlier.in_release("CREATE TABLE u (id int, y int);");
        let fixed = rewrite(sql, &earlier);
        assert_eq!(fixed.sql, sql);
        assert_eq!(
            recipes(&fixed),
            [
                Outcome::LeftAlone(LeftAlone::NoRecipe),
                Outcome::LeftAlone(LeftAlone::NewTable("\"public\".\"t\"".to_owned())),
                Outcome::LeftAlone(LeftAlone::NewTable("\"u\"".to_owned())),
            ]
        );
    }

    #[test]
    fn drizzle_kits_duplicate_object_guard_gets_not_valid_inside_it() {
        let guard = |constraint: &str| {
            format!(
                "DO $$ BEGIN\n ALTER TABLE \"s\" ADD CONSTRAINT {constraint};\nEXCEPTION\n WHEN duplicate_object THEN null;\nEND $$;\n"
            )
        };
        let sql = [
            guard("\"s_a_fk\" FOREIGN KEY (\"a\") REFERENCES \"public\".\"a\"(\"id\") ON DELETE cascade ON UPDATE no action"),
            guard("\"s_b_fk\" FOREIGN KEY (\"b\") REFERENCES \"public\".\"b\"(\"id\") ON DELETE cascade ON UPDATE no action"),
        ]
        .join("--> statement-breakpoint\n");
        let fixed = rewrite(&sql, &existing());
        assert_eq!(
            recipes(&fixed),
            [Outcome::Rewritten(Recipe::NotValidConstraint), Outcome::Rewritten(Recipe::NotValidConstraint)]
        );
        assert!(
            fixed.sql.contains("ON UPDATE no action NOT VALID;\nEXCEPTION\n WHEN duplicate_object THEN null;\nEND $$;"),
            "{}",
            fixed.sql
        );
        assert!(fixed.sql.ends_with("COMMIT;\n--> statement-breakpoint\nBEGIN;\n--> statement-breakpoint\nALTER TABLE \"s\" VALIDATE CONSTRAINT \"s_a_fk\";\n--> statement-breakpoint\nALTER TABLE \"s\" VALIDATE CONSTRAINT \"s_b_fk\";\n"), "{}", fixed.sql);
        assert_idempotent(&fixed);
        // Anything else in a DO block stays as written.
        let other = "DO $$ BEGIN\n ALTER TABLE \"s\" ADD CONSTRAINT \"c\" CHECK (a > 0);\nEXCEPTION\n WHEN others THEN null;\nEND $$;";
        assert_eq!(recipes(&rewrite(other, &existing())), [Outcome::LeftAlone(LeftAlone::InDoBlock)]);
    }

    #[test]
    fn a_table_created_if_not_exists_may_be_live_and_its_index_is_built_concurrently() {
        let sql = concat!(
            "CREATE TABLE IF NOT EXISTS \"t\" (\"id\" integer PRIMARY KEY, \"x\" integer);--> statement-breakpoint\n",
            "CREATE INDEX IF NOT EXISTS \"t_x_idx\" ON \"t\" USING btree (\"x\");--> statement-breakpoint\n",
            "CREATE TABLE \"u\" (\"id\" integer PRIMARY KEY, \"x\" integer);--> statement-breakpoint\n",
            "CREATE INDEX \"u_x_idx\" ON \"u\" USING btree (\"x\");--> statement-breakpoint\n",
            "ALTER TABLE \"t\" ALTER COLUMN \"x\" TYPE bigint USING \"x\"::bigint;",
        );
        let fixed = rewrite(sql, &existing());
        assert_eq!(
            recipes(&fixed),
            [
                Outcome::LeftAlone(LeftAlone::NoRecipe),
                Outcome::Rewritten(Recipe::ConcurrentIndex),
                Outcome::LeftAlone(LeftAlone::NoRecipe),
                Outcome::LeftAlone(LeftAlone::NewTable("\"u\"".to_owned())),
                Outcome::LeftAlone(LeftAlone::TypeChange),
            ]
        );
        assert!(Recipe::answers("adding-foreign-key-constraint"));
    }

    #[test]
    fn a_partitioned_tables_indexes_and_foreign_keys_are_left_as_written_with_why() {
        let mut earlier = Earlier::default();
        earlier.shipped(concat!(
            "CREATE TABLE \"event\" (\"id\" integer, \"org\" integer, \"at\" date) PARTITION BY RANGE (\"at\");--> statement-breakpoint\n",
            "CREATE TABLE \"event_2026\" PARTITION OF \"event\" FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');--> statement-breakpoint\n",
            "CREATE INDEX \"event_at_idx\" ON \"event\" USING btree (\"at\");--> statement-breakpoint\n",
            "CREATE INDEX \"event_2026_org_idx\" ON \"event_2026\" (\"org\");",
        ));
        let sql = concat!(
            "CREATE INDEX \"event_org_idx\" ON \"public\".\"event\" USING btree (\"org\");--> statement-breakpoint\n",
            "ALTER TABLE \"event\" ADD CONSTRAINT \"event_org_fk\" FOREIGN KEY (\"org\") REFERENCES \"organization\"(\"id\");--> statement-breakpoint\n",
            "ALTER TABLE \"event\" ADD CONSTRAINT \"event_id_at_unique\" UNIQUE(\"id\",\"at\");--> statement-breakpoint\n",
            "DROP INDEX \"event_at_idx\";--> statement-breakpoint\n",
            "ALTER TABLE \"event\" ADD CONSTRAINT \"event_org_check\" CHECK (\"event\".\"org\" > 0);--> statement-breakpoint\n",
            "CREATE INDEX \"event_2026_at_idx\" ON \"event_2026\" (\"at\");--> statement-breakpoint\n",
            "DROP INDEX \"event_2026_org_idx\";",
        );
        let fixed = rewrite(sql, &earlier);
        assert_eq!(
            recipes(&fixed),
            [
                Outcome::LeftAlone(LeftAlone::PartitionedIndex("\"public\".\"event\"".to_owned())),
                Outcome::LeftAlone(LeftAlone::PartitionedForeignKey("\"event\"".to_owned())),
                Outcome::LeftAlone(LeftAlone::PartitionedIndex("\"event\"".to_owned())),
                Outcome::LeftAlone(LeftAlone::PartitionedIndexDrop("event_at_idx".to_owned())),
                // A check is added NOT VALID to a partitioned table, and each partition is a table.
                Outcome::Rewritten(Recipe::NotValidConstraint),
                Outcome::Rewritten(Recipe::ConcurrentIndex),
                Outcome::Rewritten(Recipe::ConcurrentDropIndex),
            ]
        );
        assert!(fixed.sql.starts_with("CREATE INDEX \"event_org_idx\" ON"), "{}", fixed.sql);
        // The same index on a table the history does not partition is rewritten.
        assert_eq!(recipes(&rewrite(sql, &existing()))[0], Outcome::Rewritten(Recipe::ConcurrentIndex));
    }

    #[test]
    fn drizzle_kit_1_0_output_in_a_schema_of_its_own() {
        let sql = concat!(
            "CREATE TABLE \"app\".\"t\" (\n\t\"id\" integer PRIMARY KEY\n);\n--> statement-breakpoint\n",
            "CREATE INDEX \"t_id_idx\" ON \"app\".\"t\" (\"id\");--> statement-breakpoint\n",
            "CREATE INDEX \"u_t_id_idx\" ON \"app\".\"u\" (\"t_id\" DESC NULLS LAST) WITH (fillfactor=70);--> statement-breakpoint\n",
            "CREATE INDEX \"public_t_idx\" ON \"t\" (\"x\");--> statement-breakpoint\n",
            "ALTER TABLE \"app\".\"u\" ADD CONSTRAINT \"u_t_id_t_id_fkey\" FOREIGN KEY (\"t_id\") REFERENCES \"app\".\"t\"(\"id\");",
        );
        let fixed = rewrite(sql, &existing());
        assert_eq!(
            recipes(&fixed),
            [
                Outcome::LeftAlone(LeftAlone::NoRecipe),
                Outcome::LeftAlone(LeftAlone::NewTable("\"app\".\"t\"".to_owned())),
                Outcome::Rewritten(Recipe::ConcurrentIndex),
                Outcome::Rewritten(Recipe::ConcurrentIndex),
                Outcome::Rewritten(Recipe::NotValidConstraint),
            ]
        );
        let statements = one_per_chunk(&fixed.sql);
        assert!(statements.contains(&r#"CREATE INDEX CONCURRENTLY "u_t_id_idx" ON "app"."u" ("t_id" DESC NULLS LAST) WITH (fillfactor=70);"#.to_owned()));
        assert_eq!(statements.last().unwrap(), r#"ALTER TABLE "app"."u" VALIDATE CONSTRAINT "u_t_id_t_id_fkey";"#);
        assert_idempotent(&fixed);
    }

    #[test]
    fn what_the_engine_does_not_rewrite_is_left_as_written_with_its_reason() {
        for (sql, reason) in [
            (r#"ALTER TABLE "t" ALTER COLUMN "x" SET DATA TYPE bigint;"#, LeftAlone::TypeChange),
            (r#"ALTER TABLE "t" ADD COLUMN "id" uuid DEFAULT gen_random_uuid();"#, LeftAlone::DefaultCallsFunction),
            (r#"ALTER TABLE "t" ADD CONSTRAINT "t_pkey" PRIMARY KEY("id");"#, LeftAlone::PrimaryKey),
            (r#"ALTER TABLE "t" ALTER COLUMN "x" SET DEFAULT now();"#, LeftAlone::NoRecipe),
            (
                r#"DO $$ BEGIN ALTER TABLE "a" ADD CONSTRAINT "a_fk" FOREIGN KEY ("b") REFERENCES "b"("id"); EXCEPTION WHEN others THEN null; END $$;"#,
                LeftAlone::InDoBlock,
            ),
            // Shapes read exactly or not at all.
            ("CREATE INDEX /* why */ i ON t (x);", LeftAlone::Unrecognised),
            ("CREATE INDEX ON t (x);", LeftAlone::Unrecognised),
            ("CREATE INDEX i ON ONLY t (x);", LeftAlone::Unrecognised),
            ("DROP INDEX a, b;", LeftAlone::Unrecognised),
            ("DROP INDEX a CASCADE;", LeftAlone::Unrecognised),
            (
                r#"ALTER TABLE "t" ALTER COLUMN "x" SET NOT NULL, ALTER COLUMN "y" SET NOT NULL;"#,
                LeftAlone::Unrecognised,
            ),
            (
                r#"ALTER TABLE "t" ADD CONSTRAINT "c" FOREIGN KEY ("x") REFERENCES "u"("id"), ADD COLUMN "z" int;"#,
                LeftAlone::Unrecognised,
            ),
            (r#"ALTER TABLE "t" ADD CONSTRAINT "c" UNIQUE NULLS DISTINCT("x");"#, LeftAlone::Unrecognised),
            (r#"ALTER TABLE "t" ADD CONSTRAINT "c" CHECK ("x" > 0) NOT VALID;"#, LeftAlone::NoRecipe),
            (r#"ALTER TABLE "t" VALIDATE CONSTRAINT "c";"#, LeftAlone::NoRecipe),
            // The migration already chose how it runs.
            (
                "CREATE INDEX CONCURRENTLY i ON t (x);\n--> statement-breakpoint\nCREATE INDEX j ON t (y);",
                LeftAlone::RunsOutsideTransaction("CREATE INDEX CONCURRENTLY"),
            ),
            ("COMMIT;\n--> statement-breakpoint\nCREATE INDEX j ON t (y);", LeftAlone::ControlsTransaction),
        ] {
            let fixed = rewrite(sql, &existing());
            assert_eq!(fixed.sql, sql);
            assert_eq!(fixed.statements.last().unwrap().outcome, Outcome::LeftAlone(reason.clone()), "{sql}");
            let _ = (reason.reason(), reason.advice());
        }
    }

    #[test]
    fn a_validation_is_not_moved_past_a_later_statement_on_its_table() {
        let sql = concat!(
            "ALTER TABLE \"t\" ALTER COLUMN \"x\" SET NOT NULL;--> statement-breakpoint\n",
            "ALTER TABLE \"t\" ADD CONSTRAINT \"t_u_fk\" FOREIGN KEY (\"u\") REFERENCES \"u\"(\"id\");--> statement-breakpoint\n",
            "ALTER TABLE \"t\" DROP COLUMN \"x\";--> statement-breakpoint\n",
            "ALTER TABLE \"v\" ADD CONSTRAINT \"v_c\" CHECK (\"y\" > 0);--> statement-breakpoint\n",
            "CREATE INDEX \"v_y_idx\" ON \"v\" (\"y\");",
        );
        let fixed = rewrite(sql, &existing());
        assert_eq!(
            recipes(&fixed),
            [
                Outcome::LeftAlone(LeftAlone::TableUsedLater("\"t\"".to_owned())),
                Outcome::LeftAlone(LeftAlone::TableUsedLater("\"t\"".to_owned())),
                Outcome::LeftAlone(LeftAlone::NoRecipe),
                Outcome::Rewritten(Recipe::NotValidConstraint),
                Outcome::Rewritten(Recipe::ConcurrentIndex),
            ]
        );
    }

    /// Dropping the referenced table (CASCADE) drops the foreign key: its
    /// validation moved to the end would not find it.
    #[test]
    fn a_foreign_key_validation_is_not_moved_past_a_later_statement_on_the_referenced_table() {
        let sql = concat!(
            "ALTER TABLE \"child\" ADD CONSTRAINT \"child_pid_parent_id_fk\" FOREIGN KEY (\"pid\") ",
            "REFERENCES \"public\".\"parent\"(\"id\") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint\n",
            "DROP TABLE \"parent\" CASCADE;",
        );
        let fixed = rewrite(sql, &existing());
        assert_eq!(fixed.sql, sql);
        assert_eq!(
            recipes(&fixed),
            [
                Outcome::LeftAlone(LeftAlone::TableUsedLater("\"public\".\"parent\"".to_owned())),
                Outcome::LeftAlone(LeftAlone::NoRecipe),
            ]
        );
    }

    #[test]
    fn type_changes_and_volatile_defaults_carry_expand_contract_advice() {
        assert!(LeftAlone::TypeChange.advice().unwrap().starts_with("expand and contract"));
        assert!(LeftAlone::DefaultCallsFunction.advice().is_some());
        assert_eq!(LeftAlone::Unrecognised.advice(), None);
    }

    #[test]
    fn a_real_drizzle_migration_is_rewritten_whole_and_only_once() {
        let sql = concat!(
            "ALTER TABLE \"profile\" ADD COLUMN \"nick\" text;--> statement-breakpoint\n",
            "ALTER TABLE \"profile\" ALTER COLUMN \"nick\" SET NOT NULL;--> statement-breakpoint\n",
            "ALTER TABLE \"profile\" ADD CONSTRAINT \"profile_nick_unique\" UNIQUE(\"nick\");--> statement-breakpoint\n",
            "ALTER TABLE \"profile\" ADD CONSTRAINT \"profile_org_fk\" FOREIGN KEY (\"org\") REFERENCES \"public\".\"organization\"(\"id\") ON DELETE no action ON UPDATE no action;--> statement-breakpoint\n",
            "CREATE INDEX \"profile_nick_idx\" ON \"profile\" USING btree (\"nick\");--> statement-breakpoint\n",
            "DROP INDEX \"profile_old_idx\";",
        );
        let fixed = rewrite(sql, &existing());
        let statements = one_per_chunk(&fixed.sql);
        assert_eq!(statements.len(), 19, "{statements:#?}");
        assert_eq!(statements.iter().filter(|s| *s == "COMMIT;").count(), 4);
        assert_eq!(statements.iter().filter(|s| *s == "BEGIN;").count(), 4);
        assert!(statements.last().unwrap().contains("DROP CONSTRAINT \"profile_nick_not_null_check\""));
        assert_idempotent(&fixed);
    }
}
