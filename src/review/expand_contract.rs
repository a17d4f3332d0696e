//! Expand and contract: which statements of a pending migration wait until the
//! previous release has retired. Dokku's release phase runs while the old
//! containers serve, and they keep serving for `DOKKU_WAIT_TO_RETIRE` after the
//! switch: a table or column dropped in the release phase breaks their queries.
//! Held back, the drop runs once no session of the old release remains. Pure.
//!
//! Held back: every statement after a `-- praxia-deploy: contract` line (the
//! author's choice), and a `DROP TABLE` or `ALTER TABLE ... DROP COLUMN` (only
//! drops, no `CASCADE`) that no later statement left in the expand part names.
//! A rename or a move is never held back: the new release needs the new name
//! and the old one the old name, so only a new column written twice helps.

use std::ops::Range;

use squawk_syntax::SourceFile;

use super::target::{Part, StatementFacts, facts};
use crate::migration_folder::sql::identifiers;
use crate::migration_folder::{Migration, Part as FilePart, Parts, TransactionMode};

/// A migration's statements, parted into what runs in the release phase (the
/// expand part) and what waits (the contract part).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExpandContract {
    /// The statements held back, in file order.
    pub held_back: Vec<Statement>,
    /// The drops and renames the old release would notice that stay in the
    /// expand part, and why.
    pub kept: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Byte range in the file, its `;` included.
    pub range: Range<usize>,
    pub why: Why,
    /// What it drops, when it is a drop.
    pub dropped: Option<Dropped>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    /// After the migration's `-- praxia-deploy: contract` line.
    AfterDirective,
    /// It drops what the old release may still use: `table t`, `column t.c`.
    Drops(String),
    /// Kept: a rename or a move.
    Renames,
    /// Kept: a `CASCADE` reaches what depends on it, which later statements may need gone.
    Cascades(String),
    /// Kept: a later statement of the expand part names the table.
    UsedLater { what: String, table: String },
    /// Kept: the migration controls its transaction, or runs outside one.
    ChoosesItsTransaction(String),
    /// Kept: the author acknowledged `previous-release-overlap` on it (it runs now).
    Acknowledged,
}

impl Why {
    pub fn describe(&self) -> String {
        match self {
            Why::AfterDirective => "after the migration's `-- praxia-deploy: contract` line".to_owned(),
            Why::Drops(what) => format!("drops {what}, which the previous release may still use"),
            Why::Renames => {
                "a rename: the old release needs the old name and the new one the new name; add the new column, write both, then drop the old one in a later migration".to_owned()
            }
            Why::Cascades(what) => {
                format!("drops {what} with CASCADE, which reaches what depends on it: not held back")
            }
            Why::UsedLater { what, table } => {
                format!("drops {what}, but a later statement names {table}: not held back; move the drop to the end of the migration, or put `-- praxia-deploy: contract` before it")
            }
            Why::ChoosesItsTransaction(mode) => format!("the migration {mode}: nothing is held back"),
            Why::Acknowledged => {
                "its `-- praxia-deploy: allow previous-release-overlap` says it runs in the release phase".to_owned()
            }
        }
    }
}

impl ExpandContract {
    pub fn is_empty(&self) -> bool {
        self.held_back.is_empty()
    }

    /// The file with the contract part blanked: what runs in the release phase.
    /// Every other byte, and so every line and column, stays where it was.
    pub fn expand_sql(&self, text: &str) -> String {
        blank(text, self.held_back.iter().map(|statement| statement.range.clone()))
    }

    /// The file with everything but the contract part blanked (its comments and
    /// breakpoints kept): what runs once the previous release has retired.
    pub fn contract_sql(&self, text: &str, statements: &[Range<usize>]) -> String {
        let held = |range: &Range<usize>| self.held_back.iter().any(|statement| &statement.range == range);
        blank(text, statements.iter().filter(|range| !held(range)).cloned())
    }
}

/// The findings about clients of the dropped object breaking: none is left once
/// the previous release has retired.
const CLIENTS_BREAK: [&str; 3] = ["previous-release-overlap", "ban-drop-column", "ban-drop-table"];

/// Why a finding on a held-back drop is harmless.
const HELD_BACK: &str = "held back until the previous release has retired: no client of it is left";

/// A contract part run at once (`migrate`): its findings judged as they are.
pub fn judge_as_run_at_once(finding: &mut super::Finding) {
    if matches!(&finding.verdict, super::Verdict::Harmless { reason } if reason == HELD_BACK) {
        finding.verdict = super::Verdict::Danger;
    }
}

/// A finding of those rules on a statement of a contract part is harmless; not
/// a rename's, which the new release would meet under the old name.
pub fn excuse(finding: &mut super::Finding) {
    let renames = finding.message.contains("renamed") || finding.message.contains("moved");
    if finding.verdict == super::Verdict::Danger && CLIENTS_BREAK.contains(&finding.rule.as_str()) && !renames {
        finding.verdict = super::Verdict::Harmless { reason: HELD_BACK.to_owned() };
    }
}

/// Offline, for an environment whose `release` holds contract parts back: the
/// findings on the statements `release` would hold back, excused.
pub fn excuse_held_back(migration: &Migration, findings: &mut [super::Finding]) {
    // Splitting parses the file again: only where a finding could be excused.
    let about_clients =
        |finding: &super::Finding| finding.tag == migration.tag && CLIENTS_BREAK.contains(&finding.rule.as_str());
    if !findings.iter().any(about_clients) {
        return;
    }
    let split = split(migration);
    for finding in findings.iter_mut().filter(|finding| finding.tag == migration.tag) {
        if split.held_back.iter().any(|statement| statement.range.contains(&finding.offset)) {
            excuse(finding);
        }
    }
}

/// `migration`'s expand and contract parts, split once and kept with it.
pub fn parts(migration: &Migration) -> &Parts {
    migration.parts.get_or_init(|| {
        let split = split(migration);
        let expand = split.expand_sql(&migration.text);
        let contract = split.contract_sql(&migration.text, &statement_ranges(migration));
        let nothing = blank(&migration.text, std::iter::once(0..migration.text.len()));
        Box::new(Parts {
            expand: migration.part_of(FilePart::Expand, expand),
            contract: migration.part_of(FilePart::Contract, contract),
            abandoned: migration.part_of(FilePart::Abandoned, nothing),
            holds_back: !split.is_empty(),
        })
    })
}

/// Whether `later` (another migration's text) may need what `migration` would
/// hold back gone: it names a dropped table or column, or drops what a column
/// may use.
pub fn needs_dropped(migration: &Migration, later: &str) -> bool {
    let words = identifiers(later);
    split(migration)
        .held_back
        .iter()
        .filter_map(|statement| statement.dropped.as_ref())
        .any(|dropped| needs(&words, dropped))
}

/// The statements of `migration` as byte ranges, their `;` included, in file order.
pub fn statement_ranges(migration: &Migration) -> Vec<Range<usize>> {
    facts(&SourceFile::parse(&migration.text).tree())
        .iter()
        .map(|statement| with_semicolon(&migration.text, statement.start..statement.end))
        .collect()
}

/// What of `migration` waits for the previous release to retire.
pub fn split(migration: &Migration) -> ExpandContract {
    let all = facts(&SourceFile::parse(&migration.text).tree());
    let text = &migration.text;
    let mut split = ExpandContract::default();
    let statements: Vec<(Range<usize>, &StatementFacts)> =
        all.iter().map(|statement| (with_semicolon(text, statement.start..statement.end), statement)).collect();
    let mode = match &migration.mode {
        TransactionMode::Transactional | TransactionMode::OwnTransaction(_) => None,
        TransactionMode::NonTransactional(_) => Some("runs outside a transaction"),
        TransactionMode::AsWritten { .. } => Some("controls its transaction itself"),
    };
    // From the last statement back: whether a drop is held back depends on what stays after it.
    let mut kept_after: Vec<&Range<usize>> = Vec::new();
    for (range, statement) in statements.iter().rev() {
        if migration.contract_directive.is_some_and(|directive| range.start > directive) && mode.is_none() {
            split.held_back.push(Statement {
                range: range.clone(),
                why: Why::AfterDirective,
                dropped: drops(statement).map(|(_, _, dropped)| dropped),
            });
            continue;
        }
        let renames =
            statement.renames.is_some() || identifiers(&text[range.clone()]).iter().any(|word| word == "rename");
        let alone = statement.drops.len() == 1 || only_drops_columns(&text[range.clone()]);
        let Some((what, table, dropped)) = drops(statement).filter(|_| !renames && alone) else {
            if renames {
                split.kept.push(Statement { range: range.clone(), why: Why::Renames, dropped: None });
            }
            kept_after.push(range);
            continue;
        };
        let why = if let Some(mode) = mode {
            Some(Why::ChoosesItsTransaction(mode.to_owned()))
        } else if overlap_acknowledged(migration, range.start) {
            Some(Why::Acknowledged)
        } else if cascades(&text[range.clone()]) {
            Some(Why::Cascades(what.clone()))
        } else {
            kept_after
                .iter()
                .any(|later| needs(&identifiers(&text[(*later).clone()]), &dropped))
                .then(|| Why::UsedLater { what: what.clone(), table: table.clone() })
        };
        match why {
            Some(why) => {
                split.kept.push(Statement { range: range.clone(), why, dropped: None });
                kept_after.push(range);
            }
            None => {
                split.held_back.push(Statement { range: range.clone(), why: Why::Drops(what), dropped: Some(dropped) })
            }
        }
    }
    split.held_back.reverse();
    split.kept.reverse();
    split
}

/// What a statement held back takes away: a table, or columns of one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    Table(String),
    Columns { table: String, columns: Vec<String> },
}

/// Whether a later statement (its identifiers) may need what `dropped` takes
/// away to be gone: one that names a dropped table or column, or an object
/// named after it (an index `t_c_idx` made anew), that reads or writes rows of
/// the table (a positional `INSERT` counts its columns), or that drops what a
/// column can depend on (a type, a sequence, a function).
fn needs(words: &[String], dropped: &Dropped) -> bool {
    const ROWS: [&str; 6] = ["insert", "update", "delete", "select", "copy", "merge"];
    const DEPENDED_ON: [&str; 7] = ["type", "domain", "sequence", "function", "schema", "extension", "collation"];
    const INDEXED: [&str; 4] = ["unique", "primary", "exclude", "index"];
    let has = |word: &str| words.iter().any(|candidate| candidate == word);
    if words.first().is_some_and(|word| word == "drop")
        && words.get(1).is_some_and(|kind| DEPENDED_ON.contains(&kind.as_str()))
    {
        return true;
    }
    let named_after = |stem: &str| words.iter().any(|word| word.starts_with(&format!("{stem}_")));
    match dropped {
        // A dropped table's foreign keys use other tables' keys and indexes: a later
        // statement dropping a constraint or an index may need them gone.
        Dropped::Table(table) => {
            words.contains(table) || named_after(table) || (has("drop") && (has("constraint") || has("index")))
        }
        // A dropped column's constraints and indexes free their names: a later one
        // on the same table may reuse it.
        Dropped::Columns { table, columns } => {
            columns.iter().any(|column| words.contains(column) || named_after(&format!("{table}_{column}")))
                || (words.contains(table) && words.iter().any(|word| ROWS.contains(&word.as_str())))
                || (words.contains(table) && has("constraint") && INDEXED.iter().any(|word| has(word)))
        }
    }
}

/// Whether every action of an `ALTER TABLE` drops a column (so holding it back
/// holds nothing the new release needs).
fn only_drops_columns(text: &str) -> bool {
    use squawk_syntax::ast;
    let parsed = SourceFile::parse(text);
    let Some(ast::Stmt::AlterTable(alter)) = parsed.tree().stmts().next() else {
        return false;
    };
    let mut actions = alter.actions().peekable();
    actions.peek().is_some() && actions.all(|action| matches!(action, ast::AlterTableAction::DropColumn(_)))
}

/// What a statement that only drops drops (`table t` or `column t.c`), the
/// table's name, and what a later statement must not need.
fn drops(statement: &StatementFacts) -> Option<(String, String, Dropped)> {
    if !statement.makes.is_empty() || statement.renames.is_some() {
        return None;
    }
    if let [table] = statement.drops.as_slice() {
        return Some((format!("table {table}"), table.name.clone(), Dropped::Table(table.name.clone())));
    }
    let columns: Vec<(&super::Relation, &String)> = statement
        .removes
        .iter()
        .filter_map(|part| match part {
            Part::Column(table, column) => Some((table, column)),
            _ => None,
        })
        .collect();
    let (table, _) = *columns.first()?;
    if columns.len() != statement.removes.len() || columns.iter().any(|(other, _)| *other != table) {
        return None;
    }
    let names: Vec<String> = columns.iter().map(|(_, column)| format!("{table}.{column}")).collect();
    let dropped =
        Dropped::Columns { table: table.name.clone(), columns: columns.iter().map(|(_, c)| (*c).clone()).collect() };
    Some((format!("column {}", names.join(", ")), table.name.clone(), dropped))
}

/// Whether the statement at `start` has an acknowledgement of
/// `previous-release-overlap` on the line before it: its author runs it now.
fn overlap_acknowledged(migration: &Migration, start: usize) -> bool {
    migration.acknowledgements.iter().any(|acknowledgement| {
        acknowledgement.rules.iter().any(|rule| rule == "previous-release-overlap")
            && acknowledgement.end <= start
            && migration.text[acknowledgement.end..start]
                .lines()
                .all(|line| line.trim().is_empty() || line.trim_start().starts_with("--"))
    })
}

fn cascades(text: &str) -> bool {
    identifiers(text).iter().any(|word| word == "cascade")
}

/// `range` and the `;` right after it, if there is one.
fn with_semicolon(text: &str, range: Range<usize>) -> Range<usize> {
    let rest = &text[range.end..];
    let spaces = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    if rest[spaces..].starts_with(';') { range.start..range.end + spaces + 1 } else { range }
}

/// `text` with every byte of `ranges` but line ends turned into spaces.
fn blank(text: &str, ranges: impl Iterator<Item = Range<usize>>) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for range in ranges {
        for byte in &mut bytes[range] {
            if *byte != b'\n' && *byte != b'\r' {
                *byte = b' ';
            }
        }
    }
    // Whole statements are blanked, each starting and ending on a character boundary;
    // a multi-byte character inside one becomes spaces throughout.
    String::from_utf8(bytes).expect("statements end on character boundaries")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration_folder::tests::folder;

    fn split_of(sql: &str) -> (Migration, ExpandContract) {
        let migration = folder(&[("0001_x", 1, sql)]).unwrap().migrations.remove(0);
        let split = split(&migration);
        (migration, split)
    }

    fn held(sql: &str) -> Vec<String> {
        let (migration, split) = split_of(sql);
        split.held_back.iter().map(|statement| migration.text[statement.range.clone()].to_owned()).collect()
    }

    #[test]
    fn a_drop_no_later_statement_names_is_held_back_and_the_rest_expands() {
        let sql = "DROP TABLE \"files_to_agents\";--> statement-breakpoint\nALTER TABLE \"files\" ADD COLUMN \"hash\" varchar(64);--> statement-breakpoint\nALTER TABLE \"note\" DROP COLUMN \"legacy\";";
        let (migration, split) = split_of(sql);
        assert_eq!(held(sql), ["DROP TABLE \"files_to_agents\";", "ALTER TABLE \"note\" DROP COLUMN \"legacy\";"]);
        assert_eq!(split.held_back[0].why, Why::Drops("table files_to_agents".to_owned()));
        assert_eq!(split.held_back[1].why, Why::Drops("column note.legacy".to_owned()));
        let expand = split.expand_sql(&migration.text);
        assert_eq!(expand.len(), sql.len());
        assert!(!expand.contains("DROP") && expand.contains("ADD COLUMN \"hash\""), "{expand}");
        let contract = split.contract_sql(&migration.text, &statement_ranges(&migration));
        assert!(
            contract.contains("DROP TABLE") && contract.contains("DROP COLUMN") && !contract.contains("ADD COLUMN")
        );
        assert_eq!(contract.matches("--> statement-breakpoint").count(), 2, "breakpoints kept: {contract}");
    }

    #[test]
    fn a_drop_a_later_statement_needs_renames_and_cascades_stay_in_the_expand_part() {
        let sql = "ALTER TABLE \"users\" DROP COLUMN IF EXISTS \"phone_number\";--> statement-breakpoint\nUPDATE \"users\" SET \"phone\" = '1';--> statement-breakpoint\nALTER TABLE \"a\" RENAME COLUMN \"x\" TO \"y\";--> statement-breakpoint\nDROP TABLE \"market\" CASCADE;";
        let (_, split) = split_of(sql);
        assert!(split.held_back.is_empty(), "{split:?}");
        let why: Vec<&Why> = split.kept.iter().map(|statement| &statement.why).collect();
        assert_eq!(
            why,
            [
                &Why::UsedLater { what: "column users.phone_number".to_owned(), table: "users".to_owned() },
                &Why::Renames,
                &Why::Cascades("table market".to_owned()),
            ]
        );
    }

    #[test]
    fn a_later_statement_on_the_table_that_does_not_need_the_column_gone_lets_the_drop_wait() {
        // drizzle-kit's own order: the drop, then the new column; and a later index.
        let sql = "ALTER TABLE \"note\" DROP COLUMN \"legacy\";--> statement-breakpoint\nALTER TABLE \"note\" ADD COLUMN \"title\" text;--> statement-breakpoint\nCREATE INDEX \"note_title_idx\" ON \"note\" (\"title\");";
        assert_eq!(held(sql), ["ALTER TABLE \"note\" DROP COLUMN \"legacy\";"]);
        // A later statement naming the column, or writing rows of the table, keeps it.
        for later in ["ALTER TABLE \"note\" ADD COLUMN \"legacy\" integer;", "INSERT INTO \"note\" VALUES (1, 'x');"] {
            let sql = format!("ALTER TABLE \"note\" DROP COLUMN \"legacy\";--> statement-breakpoint\n{later}");
            assert!(held(&sql).is_empty(), "{later}");
        }
    }

    #[test]
    fn a_drop_whose_overlap_the_author_acknowledged_runs_now() {
        let sql = "-- praxia-deploy: allow previous-release-overlap: nothing reads it since v2\nALTER TABLE \"note\" DROP COLUMN \"legacy\";--> statement-breakpoint\nALTER TABLE \"note\" DROP COLUMN \"other\";";
        let (_, split) = split_of(sql);
        assert_eq!(held(sql), ["ALTER TABLE \"note\" DROP COLUMN \"other\";"]);
        assert_eq!(split.kept[0].why, Why::Acknowledged);
    }

    #[test]
    fn everything_after_the_contract_line_is_held_back() {
        let sql = "ALTER TABLE \"profile\" ADD COLUMN \"about\" text;--> statement-breakpoint\n-- praxia-deploy: contract\nUPDATE \"profile\" SET \"about\" = \"bio\";--> statement-breakpoint\nALTER TABLE \"profile\" DROP COLUMN \"bio\";";
        assert_eq!(
            held(sql),
            ["UPDATE \"profile\" SET \"about\" = \"bio\";", "ALTER TABLE \"profile\" DROP COLUMN \"bio\";"]
        );
        // A second line is refused.
        let twice = format!("-- praxia-deploy: contract\n{sql}");
        let error = folder(&[("0001_x", 1, &twice)]).unwrap_err();
        assert!(error.message.contains("a second `-- praxia-deploy: contract` line"), "{}", error.message);
    }

    #[test]
    fn a_migration_that_chooses_its_transaction_holds_nothing_back() {
        let sql = "-- praxia-deploy: no-transaction\nDROP TABLE \"old\";\nCREATE INDEX CONCURRENTLY i ON t (x);";
        let (_, split) = split_of(sql);
        assert!(split.held_back.is_empty());
        assert_eq!(split.kept[0].why, Why::ChoosesItsTransaction("runs outside a transaction".to_owned()));
    }
}
