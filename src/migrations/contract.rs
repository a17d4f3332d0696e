//! Which part of each pending migration a run applies: all of it, its expand
//! part (its contract part held back until the previous release has retired),
//! or the contract part an earlier run held back. Pure.
//!
//! drizzle's row is written only when all of a file has run, in folder order:
//! once a run holds one migration back, every later one runs as an expand part
//! too (all its statements, its row waiting), so that no later row makes
//! drizzle's migrator, which reads only the newest row, take an earlier
//! migration for applied.

use crate::error::Error;
use crate::migration_folder::Migration;
use crate::own_schema::PendingContract;
use crate::review::expand_contract::parts;

use super::plan::Plan;

/// What a run does with contract parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContractMode {
    /// `release` where the previous release serves while it runs (staging,
    /// production): contract parts are held back; those an earlier release held
    /// back run after the new expand parts once that release is known live
    /// (`contract_may_run`), since the code that serves now stopped using what
    /// they drop.
    HoldBack { revision: Option<String> },
    /// `migrate`, and `release` in development and test: everything.
    AtOnce,
    /// The post-deploy step (`contract`): only the contract parts held back.
    ContractOnly,
}

impl ContractMode {
    /// What `release` does, as `[contract] hold_back` says.
    pub fn for_release(settings: &crate::config::ContractSettings) -> ContractMode {
        if settings.hold_back {
            ContractMode::HoldBack { revision: crate::provenance::revision() }
        } else {
            ContractMode::AtOnce
        }
    }
}

/// A migration the run leaves for later, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    pub tag: String,
    pub why: &'static str,
}

/// Replaces `plan.pending` with the parts this run applies; what it leaves
/// for later, or the refusal of a file edited after its expand part ran.
///
/// With nothing expanded before and nothing to hold back, every migration runs
/// whole, as always. Otherwise the run goes in two phases, in one order: the
/// expand parts of the new migrations first (what the new release needs), then
/// the contract parts that may run now, in folder order, each with drizzle's
/// row, up to the first one that must wait; every row after it waits too. So a
/// new migration can make a held contract part runnable (a view dropped before
/// the column it reads), and rows are written in folder order.
pub fn arrange<'f>(
    plan: &mut Plan<'f>,
    contracts: &[PendingContract],
    mode: &ContractMode,
    connected: Option<&[String]>,
) -> Result<Vec<Waiting>, Error> {
    plan.held_back.clear();
    let expanded = |migration: &Migration| contracts.iter().find(|contract| contract.tag == migration.tag);
    for &migration in &plan.pending {
        if let Some(contract) = expanded(migration)
            && contract.hash != migration.hash
        {
            return Err(Error::integrity(format!(
                "migration {} was edited after its expand part ran ({})",
                migration.tag, contract.expanded_at
            ))
            .note("file", migration.file.display())
            .help("restore the file as it was (from version control): its contract part must be the one the expand part was written for; to change what it does, add a new migration (it runs before the contract part)"));
        }
    }
    // Nothing applied yet, nothing held back: no previous release uses this database's schema.
    let first_deploy = plan.applied.is_empty() && contracts.is_empty();
    let holds = matches!(mode, ContractMode::HoldBack { .. }) && !first_deploy;
    let any_expanded = plan.pending.iter().any(|migration| expanded(migration).is_some());
    let any_held = holds && plan.pending.iter().any(|migration| parts(migration).holds_back);
    if let ContractMode::AtOnce = mode {
        // `migrate`: everything, in folder order, as drizzle's migrator would run it.
        let runs = plan.pending.iter().map(|&migration| match expanded(migration) {
            Some(_) => &parts(migration).contract,
            None => migration,
        });
        plan.pending = runs.collect();
        return Ok(Vec::new());
    }
    if !any_expanded && !any_held {
        return Ok(match mode {
            ContractMode::ContractOnly => {
                let waiting = plan.pending.iter().map(|migration| Waiting {
                    tag: migration.tag.clone(),
                    why: "pending: the next release applies it (the post-deploy step only finishes what a release held back)",
                });
                let waiting = waiting.collect();
                plan.pending.clear();
                waiting
            }
            ContractMode::AtOnce | ContractMode::HoldBack { .. } => Vec::new(),
        });
    }
    let (mut expands, mut contracts_now, mut waiting) = (Vec::new(), Vec::new(), Vec::new());
    // A contract part that must wait: every row after it waits too.
    let mut blocked = false;
    for &migration in &plan.pending {
        let split = parts(migration);
        if let Some(contract) = expanded(migration) {
            let may_run = match mode {
                ContractMode::HoldBack { revision } => contract_may_run(contract, revision.as_deref(), connected),
                ContractMode::AtOnce | ContractMode::ContractOnly => true,
            };
            if may_run && !blocked {
                contracts_now.push(&split.contract);
            } else {
                blocked = true;
                waiting.push(Waiting {
                    tag: migration.tag.clone(),
                    why: "expanded; its contract part waits for the previous release to retire (`praxia-deploy contract`, the post-deploy step)",
                });
            }
            continue;
        }
        if matches!(mode, ContractMode::ContractOnly) {
            blocked = true;
            waiting.push(Waiting {
                tag: migration.tag.clone(),
                why: "pending: the next release applies it (the post-deploy step only finishes what a release held back)",
            });
            continue;
        }
        expands.push(&split.expand);
        let held = holds && split.holds_back;
        if held || blocked {
            blocked = true;
            plan.held_back.push(&split.contract);
        } else {
            contracts_now.push(&split.contract);
        }
    }
    expands.extend(contracts_now);
    plan.pending = expands;
    Ok(waiting)
}

/// Whether `release` may run a contract part an earlier release held back:
/// this is another revision, that release is known to have gone live (its
/// post-deploy step ran, or the app's sessions of its revision are connected),
/// and where the app's sessions say their revision (`connected`), none is of an
/// older release, which could still use what is dropped.
fn contract_may_run(contract: &PendingContract, revision: Option<&str>, connected: Option<&[String]>) -> bool {
    let (Some(now), Some(then)) = (revision, contract.revision.as_deref()) else {
        return false;
    };
    // A long application_name is cut by the server: a revision's start is enough.
    let is = |seen: &String, known: &str| !seen.is_empty() && known.starts_with(seen.as_str());
    let no_older = connected.is_none_or(|revisions| revisions.iter().all(|seen| is(seen, now) || is(seen, then)));
    let then_serves = connected.is_some_and(|revisions| revisions.iter().any(|seen| is(seen, then)));
    now != then && no_older && (contract.went_live || then_serves)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(revision: &str, went_live: bool) -> PendingContract {
        PendingContract {
            tag: "0001_x".to_owned(),
            hash: "h".to_owned(),
            expanded_at: "2026-12-07T00:00:00Z".to_owned(),
            revision: Some(revision.to_owned()),
            went_live,
        }
    }

    #[test]
    fn a_release_finishes_a_contract_part_only_once_its_release_is_known_live_and_no_older_one_is_connected() {
        let seen = |names: &[&str]| names.iter().map(|name| (*name).to_owned()).collect::<Vec<_>>();
        // Its post-deploy step ran; nothing says otherwise.
        assert!(contract_may_run(&held("rev1", true), Some("rev2"), None));
        // The same revision again (a config:set), or no revision known.
        assert!(!contract_may_run(&held("rev1", true), Some("rev1"), None));
        assert!(!contract_may_run(&held("rev1", true), None, None));
        // Skipped post-deploy step: only the app's sessions of rev1 say it went live.
        assert!(!contract_may_run(&held("rev1", false), Some("rev2"), None));
        assert!(contract_may_run(&held("rev1", false), Some("rev2"), Some(&seen(&["rev1", "rev2"]))));
        assert!(!contract_may_run(&held("rev1", false), Some("rev2"), Some(&[])));
        // rev0 still connected (rev1's deploy failed, or it has not retired): never.
        assert!(!contract_may_run(&held("rev1", true), Some("rev2"), Some(&seen(&["rev0", "rev1"]))));
        // Cut by the server's 63 bytes.
        assert!(contract_may_run(&held("0123456789abcdef", true), Some("fedcba"), Some(&seen(&["01234567"]))));
    }
}
