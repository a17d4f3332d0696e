//! Which statement took which lock, and for how long: pure. The rehearsal sees
//! the locks of its migration session at observations in time: exact ones after
//! each statement and each commit (taken on the session itself), and samples of
//! `pg_locks` from a second session while a statement runs (the only view of a
//! lock a statement takes and releases before it returns, such as
//! `CREATE INDEX CONCURRENTLY`'s). A lock belongs to the statement running when
//! it was first seen (or the one that just ended, for a look between two), from
//! that statement's start, or the look before, whichever is later; it is held
//! until the first look that no longer sees it (a commit's, for a transaction's
//! locks): so a time reported is never shorter than the real one by more than
//! the look's own duration.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A relation's oid, as `pg_locks.relation` gives it.
pub type Oid = i64;

/// PostgreSQL's table-level lock modes, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum LockMode {
    #[serde(rename = "ACCESS SHARE")]
    AccessShare,
    #[serde(rename = "ROW SHARE")]
    RowShare,
    #[serde(rename = "ROW EXCLUSIVE")]
    RowExclusive,
    #[serde(rename = "SHARE UPDATE EXCLUSIVE")]
    ShareUpdateExclusive,
    #[serde(rename = "SHARE")]
    Share,
    #[serde(rename = "SHARE ROW EXCLUSIVE")]
    ShareRowExclusive,
    #[serde(rename = "EXCLUSIVE")]
    Exclusive,
    #[serde(rename = "ACCESS EXCLUSIVE")]
    AccessExclusive,
}

impl LockMode {
    /// From `pg_locks.mode` (`AccessExclusiveLock`).
    pub fn from_pg(mode: &str) -> Option<LockMode> {
        Some(match mode {
            "AccessShareLock" => LockMode::AccessShare,
            "RowShareLock" => LockMode::RowShare,
            "RowExclusiveLock" => LockMode::RowExclusive,
            "ShareUpdateExclusiveLock" => LockMode::ShareUpdateExclusive,
            "ShareLock" => LockMode::Share,
            "ShareRowExclusiveLock" => LockMode::ShareRowExclusive,
            "ExclusiveLock" => LockMode::Exclusive,
            "AccessExclusiveLock" => LockMode::AccessExclusive,
            _ => return None,
        })
    }

    /// As `LOCK TABLE ... IN <mode> MODE` and the documentation write it.
    pub fn name(self) -> &'static str {
        match self {
            LockMode::AccessShare => "ACCESS SHARE",
            LockMode::RowShare => "ROW SHARE",
            LockMode::RowExclusive => "ROW EXCLUSIVE",
            LockMode::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            LockMode::Share => "SHARE",
            LockMode::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            LockMode::Exclusive => "EXCLUSIVE",
            LockMode::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// What the app can no longer do while it is held.
    pub fn blocks(self) -> &'static str {
        match self {
            LockMode::AccessShare | LockMode::RowShare | LockMode::RowExclusive | LockMode::ShareUpdateExclusive => {
                "nothing the app does"
            }
            LockMode::Share | LockMode::ShareRowExclusive => "writes",
            LockMode::Exclusive => "writes and SELECT ... FOR UPDATE",
            LockMode::AccessExclusive => "every read and write",
        }
    }
}

/// When a statement ran, from the rehearsal's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: Duration,
    pub end: Duration,
}

/// The locks the migration session held at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    pub at: Duration,
    pub held: BTreeSet<(Oid, LockMode)>,
}

/// A lock a statement took, and for how long it was held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub oid: Oid,
    pub mode: LockMode,
    pub held: Duration,
}

/// For each statement (in `spans`' order), the locks it took: not one it
/// asked for while an equal or stronger lock on the relation, taken before it,
/// was held throughout it (a rewrite after `ALTER TABLE ... ADD COLUMN` in one
/// transaction holds the first statement's ACCESS EXCLUSIVE, and that is the one
/// the app waits for). `observations` need not be sorted. A lock seen before any
/// statement started is nobody's. `table_of` maps an index to its table.
pub fn attribute(spans: &[Span], observations: &[Observation], table_of: &BTreeMap<Oid, Oid>) -> Vec<Vec<Held>> {
    let episodes = episodes(spans, observations);
    let mut taken: Vec<BTreeMap<(Oid, LockMode), Duration>> = vec![BTreeMap::new(); spans.len()];
    for episode in &episodes {
        let span = spans[episode.owner];
        // An index's lock is covered by its table's too: the app waits for that one first.
        let relation = episode.key.0;
        let table = table_of.get(&relation).copied();
        let covered = episodes.iter().any(|earlier| {
            earlier.owner < episode.owner
                && (earlier.key.0 == relation || Some(earlier.key.0) == table)
                && earlier.key.1 >= episode.key.1
                && earlier.from <= span.start
                && earlier.until >= span.end
        });
        if !covered {
            *taken[episode.owner].entry(episode.key).or_default() += episode.until.saturating_sub(episode.from);
        }
    }
    taken
        .into_iter()
        .map(|locks| locks.into_iter().map(|((oid, mode), held)| Held { oid, mode, held }).collect())
        .collect()
}

/// One lock held from `from` to `until`, taken by statement `owner`.
struct Episode {
    key: (Oid, LockMode),
    owner: usize,
    from: Duration,
    until: Duration,
}

fn episodes(spans: &[Span], observations: &[Observation]) -> Vec<Episode> {
    let mut looks: Vec<&Observation> = observations.iter().collect();
    looks.sort_by_key(|look| look.at);
    let keys: BTreeSet<(Oid, LockMode)> = looks.iter().flat_map(|look| look.held.iter().copied()).collect();
    let mut found = Vec::new();
    for key in keys {
        let mut open: Option<(Duration, Duration)> = None; // (first seen, the look before it)
        let mut previous_look = Duration::ZERO;
        let mut close = |first: Duration, before: Duration, until: Duration| {
            if let Some(owner) = spans.iter().rposition(|span| span.start <= first) {
                found.push(Episode { key, owner, from: before.max(spans[owner].start), until });
            }
        };
        for look in &looks {
            let present = look.held.contains(&key);
            match (present, open) {
                (true, None) => open = Some((look.at, previous_look)),
                (false, Some((first, before))) => {
                    close(first, before, look.at);
                    open = None;
                }
                _ => {}
            }
            previous_look = look.at;
        }
        if let Some((first, before)) = open {
            let last = looks.last().map_or(Duration::ZERO, |look| look.at);
            let end = spans.last().map_or(last, |span| span.end.max(last));
            close(first, before, end);
        }
    }
    found
}

/// The strongest lock taken on each relation, with how long it was held.
pub fn strongest(locks: &[Held]) -> Vec<Held> {
    let mut by_relation: BTreeMap<Oid, Held> = BTreeMap::new();
    for &lock in locks {
        by_relation
            .entry(lock.oid)
            .and_modify(|kept| {
                if lock.mode > kept.mode {
                    *kept = lock;
                }
            })
            .or_insert(lock);
    }
    by_relation.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    fn look(at: u64, held: &[(Oid, LockMode)]) -> Observation {
        Observation { at: ms(at), held: held.iter().copied().collect() }
    }

    const TABLE: Oid = 16_384;
    const OTHER: Oid = 16_400;

    #[test]
    fn a_transactions_lock_is_the_first_statements_and_held_until_its_commit() {
        // BEGIN; ALTER TABLE (0-10 ms); UPDATE (12-1,012 ms); COMMIT (1,013-1,015 ms).
        let spans = [Span { start: ms(0), end: ms(10) }, Span { start: ms(12), end: ms(1_012) }];
        let looks = [
            look(0, &[]),
            look(11, &[(TABLE, LockMode::AccessExclusive)]),
            look(1_012, &[(TABLE, LockMode::AccessExclusive), (TABLE, LockMode::RowExclusive)]),
            look(1_015, &[]),
        ];
        let taken = attribute(&spans, &looks, &BTreeMap::new());
        assert_eq!(taken[0], vec![Held { oid: TABLE, mode: LockMode::AccessExclusive, held: ms(1_015) }]);
        assert!(taken[1].is_empty(), "the UPDATE's ROW EXCLUSIVE waits for nothing the first did not: {:?}", taken[1]);
    }

    #[test]
    fn a_weaker_lock_under_a_stronger_one_already_held_is_not_the_statements() {
        // ADD COLUMN (ACCESS EXCLUSIVE), then a rewrite that also asks for SHARE (its index build).
        let spans = [Span { start: ms(0), end: ms(2) }, Span { start: ms(3), end: ms(200) }];
        let looks = [
            look(0, &[]),
            look(2, &[(TABLE, LockMode::AccessExclusive)]),
            look(200, &[(TABLE, LockMode::AccessExclusive), (TABLE, LockMode::Share)]),
            look(201, &[]),
        ];
        let taken = attribute(&spans, &looks, &BTreeMap::new());
        assert_eq!(taken[0], vec![Held { oid: TABLE, mode: LockMode::AccessExclusive, held: ms(201) }]);
        assert!(taken[1].is_empty(), "{:?}", taken[1]);
    }

    #[test]
    fn an_index_lock_under_its_tables_stronger_lock_is_not_the_statements() {
        const INDEX: Oid = 16_390;
        let spans = [Span { start: ms(0), end: ms(2) }, Span { start: ms(3), end: ms(90) }];
        let looks = [
            look(0, &[]),
            look(2, &[(TABLE, LockMode::AccessExclusive)]),
            look(90, &[(TABLE, LockMode::AccessExclusive), (INDEX, LockMode::AccessExclusive)]),
            look(91, &[]),
        ];
        let taken = attribute(&spans, &looks, &BTreeMap::from([(INDEX, TABLE)]));
        assert!(taken[1].is_empty(), "{:?}", taken[1]);
        let alone = attribute(&spans[1..], &looks[2..], &BTreeMap::from([(INDEX, TABLE)]));
        assert_eq!(alone[0].len(), 2, "taken by the statement itself, both count: {alone:?}");
    }

    #[test]
    fn a_lock_released_inside_its_statement_is_known_from_the_samples() {
        // CREATE INDEX CONCURRENTLY, 100-600 ms, on its own: the look after it sees nothing.
        let spans = [Span { start: ms(100), end: ms(600) }];
        let looks = [
            look(99, &[]),
            look(110, &[(TABLE, LockMode::ShareUpdateExclusive)]),
            look(590, &[(TABLE, LockMode::ShareUpdateExclusive)]),
            look(601, &[]),
        ];
        let taken = attribute(&spans, &looks, &BTreeMap::new());
        assert_eq!(taken[0], vec![Held { oid: TABLE, mode: LockMode::ShareUpdateExclusive, held: ms(501) }]);
    }

    #[test]
    fn a_lock_first_seen_between_two_statements_is_the_earlier_ones() {
        let spans = [Span { start: ms(0), end: ms(5) }, Span { start: ms(8), end: ms(9) }];
        let looks = [look(0, &[]), look(6, &[(OTHER, LockMode::Share)]), look(10, &[])];
        let taken = attribute(&spans, &looks, &BTreeMap::new());
        assert_eq!(taken[0], vec![Held { oid: OTHER, mode: LockMode::Share, held: ms(10) }]);
        assert!(taken[1].is_empty());
    }

    #[test]
    fn a_lock_never_released_is_held_to_the_end() {
        let spans = [Span { start: ms(0), end: ms(50) }];
        let looks = [look(0, &[]), look(20, &[(TABLE, LockMode::AccessExclusive)])];
        assert_eq!(attribute(&spans, &looks, &BTreeMap::new())[0][0].held, ms(50));
    }

    #[test]
    fn the_strongest_lock_on_each_table_is_kept() {
        let locks = [
            Held { oid: TABLE, mode: LockMode::RowExclusive, held: ms(900) },
            Held { oid: TABLE, mode: LockMode::AccessExclusive, held: ms(3) },
            Held { oid: OTHER, mode: LockMode::ShareRowExclusive, held: ms(4) },
        ];
        assert_eq!(
            strongest(&locks),
            vec![
                Held { oid: TABLE, mode: LockMode::AccessExclusive, held: ms(3) },
                Held { oid: OTHER, mode: LockMode::ShareRowExclusive, held: ms(4) },
            ]
        );
    }

    #[test]
    fn modes_read_as_pg_locks_writes_them() {
        assert_eq!(LockMode::from_pg("AccessExclusiveLock"), Some(LockMode::AccessExclusive));
        assert_eq!(LockMode::from_pg("ShareUpdateExclusiveLock").map(LockMode::name), Some("SHARE UPDATE EXCLUSIVE"));
        assert_eq!(LockMode::from_pg("SIReadLock"), None);
        assert!(LockMode::AccessExclusive > LockMode::Exclusive && LockMode::RowShare < LockMode::RowExclusive);
    }
}
