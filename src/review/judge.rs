//! The findings of the pending migrations judged against the database they are
//! about to run on: a finding on a table created earlier in the same release,
//! on a table that is not there, or (for a rule about lock time) on a table
//! small enough that the lock is short, is harmless, and says why. Pure: the
//! caller reads the tables (`live_tables`).

use std::collections::HashMap;

use super::target::StatementFacts;
use super::{Level, Names, Part, Relation, Reviewed, Target, Verdict};
use crate::config::ReviewSettings;

/// Rules whose danger grows with the table: a lock held while the table is
/// scanned, rewritten or indexed. On a small table the lock is short. The others
/// (drops, renames, a required column) break the running release whatever the size.
/// These are the rules about how long a lock is held (the benchmarks count them).
pub const SIZE_BOUND_RULES: [&str; 15] = [
    super::rules::WHOLE_TABLE_WRITE,
    super::rules::TABLE_REWRITE,
    super::rules::EXPLICIT_LOCK,
    "adding-field-with-default",
    "adding-foreign-key-constraint",
    "adding-not-nullable-field",
    "adding-primary-key-constraint",
    "adding-serial-primary-key-field",
    "changing-column-type",
    "constraint-missing-not-valid",
    "disallowed-unique-constraint",
    "require-concurrent-index-creation",
    "require-concurrent-index-deletion",
    "require-concurrent-reindex",
    "require-concurrent-partition-detach",
];

const FIRST_DEPLOY: &str =
    "the database holds no tables yet (a first deploy): there is no live data to harm and no running release to break";

/// A table as the catalog has it.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTable {
    /// The table (for an index: the table it is on).
    pub table: Relation,
    /// `pg_class.reltuples`; None when never analysed.
    pub rows: Option<f64>,
    /// `pg_total_relation_size`: the table with its indexes and TOAST.
    pub bytes: i64,
}

impl LiveTable {
    fn is_small(&self, settings: &ReviewSettings) -> bool {
        let bytes_ok = u64::try_from(self.bytes).is_ok_and(|bytes| bytes <= settings.small_table_bytes);
        #[allow(clippy::cast_precision_loss)]
        let rows_ok = self.rows.is_none_or(|rows| rows <= settings.small_table_rows as f64);
        bytes_ok && rows_ok
    }

    fn size(&self) -> String {
        let rows = match self.rows {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Some(rows) => format!("~{} rows", rows.round() as u64),
            None => "rows not estimated yet (never analysed)".to_owned(),
        };
        format!("{rows}, {}", pretty_bytes(u64::try_from(self.bytes).unwrap_or(0)))
    }
}

/// What the database has of each target the findings name; None: not there.
#[derive(Debug, Clone, Default)]
pub struct LiveTables {
    pub found: HashMap<Target, Option<LiveTable>>,
    /// The database holds no table, view or sequence but the bookkeeping's and
    /// praxia-deploy's own: a first deploy, with no live data to harm.
    pub holds_no_tables: bool,
    /// The session's `current_schema()`, where unqualified names are made and found.
    pub current_schema: Option<String>,
}

impl LiveTables {
    /// The targets to look up: those of findings not already judged, and the
    /// tables renamed or moved (a later statement names them by their new name).
    pub fn wanted(reviews: &[Reviewed]) -> Vec<Target> {
        let mut targets: Vec<Target> = reviews
            .iter()
            .flat_map(|review| review.findings.iter())
            .filter(|finding| finding.level == Level::Error && finding.verdict == Verdict::Danger)
            .flat_map(|finding| finding.targets.iter().cloned())
            .chain(reviews.iter().flat_map(|review| {
                review
                    .facts
                    .iter()
                    .filter_map(|fact| fact.renames.as_ref().map(|(from, _)| Target::Table(from.clone())))
            }))
            .collect();
        targets.sort_by(|a, b| a.relation().cmp(b.relation()));
        targets.dedup();
        targets
    }
}

/// How one target of a finding stands.
enum Standing {
    Harmless(String),
    /// A live table, big enough (or a rule whatever the size).
    Live(LiveTable),
    Unknown,
}

/// Judges the reviews of the pending migrations, in the order they will run. A
/// finding is harmless only when every table it touches is.
pub fn judge(reviews: &mut [Reviewed], live: &LiveTables, settings: &ReviewSettings) {
    // `"public"."note"` and `"note"` are one table when unqualified names land in the
    // current schema for the whole release: not if the release makes a schema, which
    // may come ahead of it in the search_path (`"$user"`). Otherwise names compare as written.
    let makes_schema = reviews.iter().any(|review| review.facts.iter().any(|fact| fact.creates_schema));
    let schema = live.current_schema.as_deref().filter(|_| !makes_schema);
    let qualify = |relation: &Relation| schema.map_or_else(|| relation.clone(), |schema| relation.qualified(schema));
    // Renames as written, for the catalog lookup, which resolves names itself.
    let mut earlier_as_written = Names::default();
    let mut earlier = Names::default();
    // After a statement the review cannot see, its catalog read and what the
    // release made are no longer known: later findings are judged on nothing.
    let mut blind = false;
    for review in reviews.iter_mut() {
        let unseen_from = super::unseen_from(&review.findings);
        let facts: Vec<StatementFacts> = match schema {
            Some(schema) => review.facts.iter().map(|fact| fact.qualified(schema)).collect(),
            None => review.facts.clone(),
        };
        // Warnings never stop the gate: only errors are weighed against the database.
        for finding in review
            .findings
            .iter_mut()
            .filter(|finding| finding.level == Level::Error && finding.verdict == Verdict::Danger)
        {
            let unseen_before = blind || unseen_from.is_some_and(|offset| offset < finding.offset);
            // What the release has renamed and created before this statement.
            let mut names = earlier.clone();
            names.apply(&facts, &review.tag, finding.offset);
            let mut as_written = earlier_as_written.clone();
            as_written.apply(&review.facts, &review.tag, finding.offset);
            let made_earlier = |part: &Part| {
                let part_here = schema.map_or_else(|| part.clone(), |schema| part.qualified(schema));
                names.made_by(&part_here).map(|tag| format!("{part} is made by {tag} earlier in this release"))
            };
            if !unseen_before && let Some(reason) = finding.removes_only(&made_earlier) {
                finding.verdict = Verdict::Harmless { reason };
                continue;
            }
            // A database that held no table still holds none of the app's data, whatever ran since.
            let first_deploy = live.holds_no_tables && !finding.reaches_beyond;
            if finding.targets.is_empty() {
                if first_deploy {
                    finding.verdict = Verdict::Harmless { reason: FIRST_DEPLOY.to_owned() };
                }
                continue;
            }
            let standings: Vec<Standing> = finding
                .targets
                .iter()
                .map(|target| standing(target, &finding.rule, (&names, &as_written), &qualify, live, settings))
                .collect();
            if let Some(table) = standings.iter().find_map(|standing| match standing {
                Standing::Live(table) => Some(table),
                _ => None,
            }) {
                finding.table_size = Some(format!("table {}: {}", table.table, table.size()));
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let rows = table.rows.map(|rows| rows.round() as u64);
                finding.table_rows = rows;
                finding.table_bytes = Some(table.bytes);
            }
            // After a statement the review cannot see, what it read no longer excuses anything.
            if !unseen_before && standings.iter().all(|standing| matches!(standing, Standing::Harmless(_))) {
                let reasons: Vec<String> = standings
                    .into_iter()
                    .filter_map(|standing| match standing {
                        Standing::Harmless(reason) => Some(reason),
                        _ => None,
                    })
                    .collect();
                finding.verdict = Verdict::Harmless { reason: reasons.join("; ") };
            } else if first_deploy {
                // The most specific reason first; on a first deploy, whatever is left.
                finding.verdict = Verdict::Harmless { reason: FIRST_DEPLOY.to_owned() };
            }
        }
        blind |= unseen_from.is_some();
        earlier.apply(&facts, &review.tag, usize::MAX);
        earlier_as_written.apply(&review.facts, &review.tag, usize::MAX);
    }
}

fn standing(
    target: &Target,
    rule: &str,
    (names, as_written): (&Names, &Names),
    qualify: &dyn Fn(&Relation) -> Relation,
    live: &LiveTables,
    settings: &ReviewSettings,
) -> Standing {
    if let Target::Table(table) = target
        && let Some(tag) = names.created_by(&qualify(table))
    {
        return Standing::Harmless(format!(
            "table {table} is created by {tag} earlier in this release: nothing uses it yet"
        ));
    }
    let in_database = match target {
        // The name it had before the release, as written: the catalog lookup resolves it.
        Target::Table(table) => Target::Table(as_written.in_database(table)),
        Target::Index(_) => target.clone(),
    };
    match live.found.get(&in_database) {
        Some(None) => {
            let what = match target {
                Target::Table(_) => "table",
                Target::Index(_) => "index",
            };
            Standing::Harmless(format!("{what} {} does not exist in the database", target.relation()))
        }
        Some(Some(table)) if SIZE_BOUND_RULES.contains(&rule) && table.is_small(settings) => {
            Standing::Harmless(format!(
                "table {} is small ({}; review.small_table_rows = {}, small_table_size = {}): the lock is short",
                table.table,
                table.size(),
                settings.small_table_rows,
                pretty_bytes(settings.small_table_bytes)
            ))
        }
        Some(Some(table)) => Standing::Live(table.clone()),
        None => Standing::Unknown,
    }
}

/// As PostgreSQL's `pg_size_pretty` writes sizes (1024-based units).
fn pretty_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 10 * 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes;
    let mut unit = 0;
    value = (value + 512) / 1024;
    while value >= 10 * 1024 && unit + 1 < UNITS.len() {
        value = (value + 512) / 1024;
        unit += 1;
    }
    format!("{value} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{EnvironmentKind, ReviewSettings};
    use crate::migration_folder::tests::folder;

    fn table(name: &str) -> Relation {
        Relation { schema: None, name: name.to_owned() }
    }

    fn live(entries: &[(&str, Option<(f64, i64)>)]) -> LiveTables {
        let found = entries
            .iter()
            .map(|(name, size)| {
                let live = size.map(|(rows, bytes)| LiveTable { table: table(name), rows: Some(rows), bytes });
                (Target::Table(table(name)), live)
            })
            .collect();
        LiveTables { found, holds_no_tables: false, current_schema: None }
    }

    /// The verdict of each finding, by tag and rule, after judging `sql` migrations against `live`.
    fn verdicts(sql: &[&str], live: &LiveTables) -> Vec<(String, String, Verdict)> {
        let entries: Vec<(String, i64, &str)> =
            sql.iter().enumerate().map(|(i, sql)| (format!("000{i}_m"), 1_700_000_000_000 + i as i64, *sql)).collect();
        let borrowed: Vec<(&str, i64, &str)> =
            entries.iter().map(|(tag, when, sql)| (tag.as_str(), *when, *sql)).collect();
        let folder = folder(&borrowed).unwrap();
        let settings = ReviewSettings::defaults(EnvironmentKind::Production);
        let mut reviews: Vec<Reviewed> = folder.migrations.iter().map(|m| Reviewed::of(m, &settings)).collect();
        judge(&mut reviews, live, &settings);
        reviews
            .into_iter()
            .flat_map(|review| review.findings)
            .filter(|finding| finding.level == crate::review::Level::Error)
            .map(|finding| (finding.tag, finding.rule, finding.verdict))
            .collect()
    }

    #[test]
    fn a_table_created_earlier_in_the_release_makes_every_finding_on_it_harmless() {
        let found = verdicts(
            &[
                "CREATE TABLE note (id int, body text);",
                "CREATE INDEX note_body ON note (body);\nALTER TABLE note DROP COLUMN body;",
            ],
            &live(&[("note", None)]),
        );
        assert!(!found.is_empty());
        for (tag, rule, verdict) in found {
            assert_eq!(tag, "0001_m");
            let Verdict::Harmless { reason } = verdict else { panic!("{rule}: {verdict:?}") };
            assert_eq!(reason, "table note is created by 0000_m earlier in this release: nothing uses it yet");
        }
    }

    #[test]
    fn a_small_table_only_excuses_the_rules_about_lock_time() {
        let sql = ["CREATE INDEX note_body ON note (body);\nALTER TABLE note DROP COLUMN body;"];
        let found = verdicts(&sql, &live(&[("note", Some((12.0, 16_384)))]));
        for (_, rule, verdict) in &found {
            match rule.as_str() {
                "require-concurrent-index-creation" => {
                    assert!(
                        matches!(verdict, Verdict::Harmless { reason } if reason.starts_with("table note is small (~12 rows, 16 kB;")),
                        "{verdict:?}"
                    )
                }
                _ => assert_eq!(*verdict, Verdict::Danger, "{rule}"),
            }
        }
        // Over either threshold, it is not small.
        let by_rows = verdicts(&sql, &live(&[("note", Some((10_001.0, 16_384)))]));
        let by_bytes = verdicts(&sql, &live(&[("note", Some((12.0, 11 * 1024 * 1024)))]));
        for (_, rule, verdict) in by_rows.iter().chain(&by_bytes) {
            assert_eq!(*verdict, Verdict::Danger, "{rule}");
        }
    }

    #[test]
    fn a_table_that_is_not_there_is_harmless_and_a_never_analysed_one_is_judged_by_size() {
        for (_, _, verdict) in verdicts(&["ALTER TABLE ghost DROP COLUMN x;"], &live(&[("ghost", None)])) {
            assert_eq!(verdict, Verdict::Harmless { reason: "table ghost does not exist in the database".to_owned() });
        }
        let unanalysed = LiveTables {
            found: [(Target::Table(table("note")), Some(LiveTable { table: table("note"), rows: None, bytes: 8192 }))]
                .into(),
            holds_no_tables: false,
            current_schema: None,
        };
        let found = verdicts(&["CREATE INDEX note_body ON note (body);"], &unanalysed);
        assert!(
            matches!(&found[0].2, Verdict::Harmless { reason } if reason.contains("rows not estimated yet")),
            "{found:?}"
        );
    }

    #[test]
    fn sizes_print_like_pg_size_pretty() {
        assert_eq!(pretty_bytes(8192), "8192 bytes");
        assert_eq!(pretty_bytes(16384), "16 kB");
        assert_eq!(pretty_bytes(10 * 1024 * 1024), "10 MB");
        assert_eq!(pretty_bytes(3 * 1024 * 1024 * 1024), "3072 MB");
    }
}
