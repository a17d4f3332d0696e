//! The names the review's rules answer to: Squawk's, and praxia-deploy's own
//! (each implemented and documented in its file under `review/rules/`, the two
//! about acknowledgements in `review/acknowledgements.rs`). A leaf, so that an
//! environment file's `[review.rules]` and a migration's acknowledgements are
//! checked without the review.

/// praxia-deploy's own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnRule {
    PreviousReleaseOverlap,
    NonTransactionalStatements,
    UnreviewableStatement,
    TruncateTable,
    WholeTableWrite,
    TableRewrite,
    ExplicitLock,
    UnusedAcknowledgement,
    BlanketIgnore,
}

impl OwnRule {
    pub const ALL: [OwnRule; 9] = [
        OwnRule::PreviousReleaseOverlap,
        OwnRule::NonTransactionalStatements,
        OwnRule::UnreviewableStatement,
        OwnRule::TruncateTable,
        OwnRule::WholeTableWrite,
        OwnRule::TableRewrite,
        OwnRule::ExplicitLock,
        OwnRule::UnusedAcknowledgement,
        OwnRule::BlanketIgnore,
    ];

    /// As findings, acknowledgements and `[review.rules]` spell it.
    pub const fn name(self) -> &'static str {
        match self {
            OwnRule::PreviousReleaseOverlap => "previous-release-overlap",
            OwnRule::NonTransactionalStatements => "non-transactional-statements",
            OwnRule::UnreviewableStatement => "unreviewable-statement",
            OwnRule::TruncateTable => "truncate-table",
            OwnRule::WholeTableWrite => "whole-table-write",
            OwnRule::TableRewrite => "table-rewrite",
            OwnRule::ExplicitLock => "explicit-lock",
            OwnRule::UnusedAcknowledgement => "unused-acknowledgement",
            OwnRule::BlanketIgnore => "blanket-ignore",
        }
    }

    pub fn is_own(name: &str) -> bool {
        OwnRule::ALL.iter().any(|rule| rule.name() == name)
    }
}

/// Whether `name` is a rule `lint` can report (Squawk's names and aliases, and ours).
pub fn is_rule(name: &str) -> bool {
    OwnRule::is_own(name) || squawk_linter::Rule::try_from(name).is_ok()
}

/// A rule's one name (Squawk's aliases folded: `prefer-timestamptz` and `prefer-timestamp-tz` are one).
pub fn canonical(name: &str) -> String {
    squawk_linter::Rule::try_from(name).map_or_else(|_| name.to_owned(), |rule| rule.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_names_are_ours_and_squawks_are_known_by_any_alias() {
        assert!(OwnRule::ALL.iter().all(|rule| is_rule(rule.name())));
        assert!(OwnRule::ALL.iter().all(|rule| squawk_linter::Rule::try_from(rule.name()).is_err()));
        assert!(is_rule("ban-drop-column") && is_rule("prefer-timestamp-tz"));
        assert_eq!(canonical("prefer-timestamptz"), canonical("prefer-timestamp-tz"));
        assert_eq!(canonical("no-such-rule"), "no-such-rule");
        assert!(!is_rule("ban-drop-colum"));
    }
}
