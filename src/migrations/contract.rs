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
    /// `contract --abandon TAG`: the expanded migration TAG recorded as applied
    /// without its contract part (which cannot run, and whose file must not change).
    Abandon { tag: String },
}

impl ContractMode {
    /// What `release` of `revision` does, as `[contract] hold_back` says.
    pub fn for_release(settings: &crate::config::ContractSettings, revision: Option<String>) -> ContractMode {
        if settings.hold_back { ContractMode::HoldBack { revision } } else { ContractMode::AtOnce }
    }

    /// The `application_name` prefix whose sessions decide this run, when they
    /// do: a release that may finish a contract part an earlier one held back.
    pub fn sessions_decide<'s>(
        &self,
        settings: &'s crate::config::ContractSettings,
        contracts: &[PendingContract],
    ) -> Option<&'s str> {
        let holds = matches!(self, ContractMode::HoldBack { .. });
        settings.app_sessions.as_deref().filter(|_| holds && !contracts.is_empty())
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
/// In folder order, as drizzle's migrator runs them: a contract part an
/// earlier run held back, where it may run now; then the new migrations, whole,
/// or as their expand part where `release` holds their contract part back (and
/// no later migration of the run needs what it drops). Rows are written in
/// folder order: after a part that must wait, every later migration runs as an
/// expand part, its row waiting too.
pub fn arrange<'f>(
    plan: &mut Plan<'f>,
    contracts: &[PendingContract],
    mode: &ContractMode,
    connected: Option<&[SeenRevision]>,
) -> Result<Vec<Waiting>, Error> {
    plan.held_back.clear();
    plan.contract_waits = !matches!(mode, ContractMode::AtOnce);
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
            .help("restore the file as it was (from version control): its contract part must be the one the expand part was written for; to do something else, `praxia-deploy contract --abandon TAG` and a new migration"));
        }
    }
    if let ContractMode::Abandon { tag } = mode {
        return abandon(plan, contracts, tag);
    }
    // Nothing applied yet, nothing held back: no previous release uses this database's schema.
    let first_deploy = plan.applied.is_empty() && contracts.is_empty();
    let holds = matches!(mode, ContractMode::HoldBack { .. }) && !first_deploy;
    let pending = std::mem::take(&mut plan.pending);
    let (mut runs, mut waiting) = (Vec::new(), Vec::new());
    // A part that must wait: every row after it waits too.
    let mut blocked = false;
    for (index, &migration) in pending.iter().enumerate() {
        if let Some(contract) = expanded(migration) {
            let may_run = match mode {
                ContractMode::HoldBack { revision } => contract_may_run(contract, revision.as_deref(), connected),
                ContractMode::AtOnce | ContractMode::ContractOnly | ContractMode::Abandon { .. } => true,
            };
            if may_run && !blocked {
                runs.push(&parts(migration).contract);
            } else {
                blocked = true;
                waiting.push(Waiting {
                    tag: migration.tag.clone(),
                    why: "expanded; its contract part waits for the previous release to retire (`praxia-deploy contract`, the post-deploy step)",
                });
            }
            continue;
        }
        match mode {
            ContractMode::ContractOnly => {
                blocked = true;
                waiting.push(Waiting {
                    tag: migration.tag.clone(),
                    why: "pending: the next release applies it (the post-deploy step only finishes what a release held back)",
                });
            }
            ContractMode::AtOnce | ContractMode::Abandon { .. } => runs.push(migration),
            ContractMode::HoldBack { .. } => {
                if runs_expanded(migration, &pending[index + 1..], holds, blocked) {
                    blocked = true;
                    runs.push(&parts(migration).expand);
                    plan.held_back.push(&parts(migration).contract);
                } else {
                    runs.push(migration);
                }
            }
        }
    }
    plan.pending = runs;
    Ok(waiting)
}

/// Whether `release` runs `migration` as its expand part (its contract part held
/// back): where it holds back (`holds`: `[contract] hold_back`, not a first
/// deploy), the file has something to hold and no `later` migration of the run
/// needs it gone; or, once an earlier one was (`blocked`), always, so that rows
/// stay in folder order.
pub fn runs_expanded(migration: &Migration, later: &[&Migration], holds: bool, blocked: bool) -> bool {
    blocked || holds && parts(migration).holds_back && !needed_later(migration, later)
}

/// Whether a later migration of the run may need what `migration` would hold back gone.
fn needed_later(migration: &Migration, later: &[&Migration]) -> bool {
    later.iter().any(|next| crate::review::expand_contract::needs_dropped(migration, &next.text))
}

/// `contract --abandon TAG`: the expanded migration recorded as applied, its
/// contract part not run. Only the first expanded one, so rows stay in order.
fn abandon<'f>(plan: &mut Plan<'f>, contracts: &[PendingContract], tag: &str) -> Result<Vec<Waiting>, Error> {
    let first = plan.pending.first().copied();
    let Some(migration) = first.filter(|migration| {
        (migration.tag == tag || migration.name == tag)
            && contracts.iter().any(|contract| contract.tag == migration.tag)
    }) else {
        let held: Vec<&str> = contracts.iter().map(|contract| contract.tag.as_str()).collect();
        return Err(Error::usage(format!("{tag} is not the first migration whose contract part is held back"))
            .note("held back", if held.is_empty() { "none".to_owned() } else { held.join(", ") })
            .help("name the first one `status` shows as expanded"));
    };
    plan.pending = vec![&parts(migration).abandoned];
    Ok(Vec::new())
}

/// A revision an app's session carries after `[contract] app_sessions`, and
/// whether the server cut its name (63 bytes): then only its start is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRevision {
    pub revision: String,
    pub cut: bool,
}

/// Whether `release` may run a contract part an earlier release held back:
/// this is another revision, that release is known to have gone live (its
/// post-deploy step ran, or the app's sessions of its revision are connected),
/// and where the app's sessions say their revision (`connected`), none is of an
/// older release, which could still use what is dropped.
fn contract_may_run(contract: &PendingContract, revision: Option<&str>, connected: Option<&[SeenRevision]>) -> bool {
    let (Some(now), Some(then)) = (revision, contract.revision.as_deref()) else {
        return false;
    };
    let is = |seen: &SeenRevision, known: &str| {
        if seen.cut { !seen.revision.is_empty() && known.starts_with(&seen.revision) } else { seen.revision == known }
    };
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
        let seen = |names: &[&str]| {
            names.iter().map(|name| SeenRevision { revision: (*name).to_owned(), cut: false }).collect::<Vec<_>>()
        };
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
        // Cut by the server's 63 bytes: its start is enough; uncut, a prefix is another revision.
        let cut = [SeenRevision { revision: "01234567".to_owned(), cut: true }];
        assert!(contract_may_run(&held("0123456789abcdef", true), Some("fedcba"), Some(&cut)));
        assert!(!contract_may_run(&held("v10", false), Some("v11"), Some(&seen(&["v1"]))));
    }
}
