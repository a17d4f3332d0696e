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
    /// production): contract parts are held back; those an earlier release of
    /// another revision held back run first, since the code that serves now
    /// stopped using what they drop.
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
pub fn arrange<'f>(
    plan: &mut Plan<'f>,
    contracts: &[PendingContract],
    mode: &ContractMode,
) -> Result<Vec<Waiting>, Error> {
    let mut runs: Vec<&'f Migration> = Vec::new();
    plan.held_back.clear();
    // Nothing applied yet, nothing held back: no previous release uses this database's schema.
    let first_deploy = plan.applied.is_empty() && contracts.is_empty();
    let mode = match mode {
        ContractMode::HoldBack { .. } if first_deploy => &ContractMode::AtOnce,
        other => other,
    };
    let mut waiting = Vec::new();
    let mut holding = false;
    for &migration in &plan.pending {
        let held = contracts.iter().find(|contract| contract.tag == migration.tag);
        if let Some(contract) = held
            && contract.hash != migration.hash
        {
            return Err(Error::integrity(format!(
                "migration {} was edited after its expand part ran ({})",
                migration.tag, contract.expanded_at
            ))
            .note("file", migration.file.display())
            .help("restore the file as it was (from version control): its contract part must be the one the expand part was written for"));
        }
        match (held, mode) {
            (Some(_), ContractMode::AtOnce) => runs.push(&parts(migration).contract),
            (Some(_), ContractMode::ContractOnly) if !holding => runs.push(&parts(migration).contract),
            (Some(_), ContractMode::ContractOnly) => waiting.push(Waiting {
                tag: migration.tag.clone(),
                why: "expanded, after a migration still pending: the next release finishes both in order",
            }),
            (None, ContractMode::AtOnce) => runs.push(migration),
            (None, ContractMode::ContractOnly) => {
                holding = true;
                waiting.push(Waiting {
                    tag: migration.tag.clone(),
                    why: "pending: the next release applies it (the post-deploy step only finishes what a release held back)",
                });
            }
            (Some(contract), ContractMode::HoldBack { revision }) => {
                let other_revision = matches!((revision, &contract.revision), (Some(now), Some(then)) if now != then);
                if other_revision && !holding {
                    runs.push(&parts(migration).contract);
                } else {
                    holding = true;
                    waiting.push(Waiting {
                        tag: migration.tag.clone(),
                        why: "expanded; its contract part waits for the previous release to retire (`praxia-deploy contract`, the post-deploy step)",
                    });
                }
            }
            (None, ContractMode::HoldBack { .. }) => {
                let split = parts(migration);
                if holding || split.holds_back {
                    holding = true;
                    runs.push(&split.expand);
                    plan.held_back.push(&split.contract);
                } else {
                    runs.push(migration);
                }
            }
        }
    }
    plan.pending = runs;
    Ok(waiting)
}
