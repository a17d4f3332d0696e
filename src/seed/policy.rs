//! The seed policy: fixtures are written only when every present answer says
//! development or test. Pure; no flag or variable overrides it.

use serde::Serialize;

use crate::config::EnvironmentKind;
pub use crate::stamp::StampState;

/// One of the three answers to "is this a development or test database?".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Guard {
    /// The environment file's `kind`.
    EnvironmentKind,
    /// The `NODE_ENV` variable, when set.
    NodeEnv,
    /// The environment stamp recorded in the database itself.
    DatabaseStamp,
}

/// The inputs: the environment's kind, `NODE_ENV` if set, and the database's
/// stamp state once it is known (`None` before connecting).
#[derive(Debug, Clone, Copy)]
pub struct PolicyInputs<'a> {
    pub kind: EnvironmentKind,
    pub node_env: Option<&'a str>,
    pub stamp: Option<StampState>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum SeedVerdict {
    Allowed,
    /// Every guard that said no, in the order above, each with what it said.
    Refused {
        guards: Vec<(Guard, String)>,
    },
}

pub fn fixtures_allowed(inputs: PolicyInputs) -> SeedVerdict {
    let is_development = EnvironmentKind::accepts_fixtures;
    let mut refusals = Vec::new();
    if !is_development(inputs.kind) {
        refusals.push((Guard::EnvironmentKind, format!("the environment's kind is {}", inputs.kind)));
    }
    if let Some(node_env) = inputs.node_env
        && !matches!(node_env.trim(), "development" | "test")
    {
        refusals.push((Guard::NodeEnv, format!("NODE_ENV is `{node_env}`")));
    }
    match inputs.stamp {
        Some(StampState::Stamped(stamp)) if !is_development(stamp) => {
            refusals.push((Guard::DatabaseStamp, format!("the database is stamped {stamp}")));
        }
        Some(StampState::Unclaimed) => refusals.push((
            Guard::DatabaseStamp,
            "the database has no environment stamp but already has migrations applied \
             (if it is a development database, claim it with `praxia-deploy stamp`)"
                .to_owned(),
        )),
        _ => {}
    }
    if refusals.is_empty() { SeedVerdict::Allowed } else { SeedVerdict::Refused { guards: refusals } }
}

impl SeedVerdict {
    /// `fixtures refused: the environment's kind is staging; NODE_ENV is `production``.
    pub fn reasons(&self) -> String {
        match self {
            SeedVerdict::Allowed => "fixtures allowed".to_owned(),
            SeedVerdict::Refused { guards } => {
                guards.iter().map(|(_, reason)| reason.as_str()).collect::<Vec<_>>().join("; ")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EnvironmentKind::*;

    /// Every combination of kind, NODE_ENV and stamp, against the rule written out
    /// longhand: allowed only when each present answer is development or test.
    #[test]
    fn every_combination_follows_the_rule() {
        let kinds = [Development, Test, Staging, Production];
        let node_envs = [None, Some("development"), Some("test"), Some("staging"), Some("production"), Some("preview")];
        let stamps = [
            None,
            Some(StampState::Fresh),
            Some(StampState::Unclaimed),
            Some(StampState::Stamped(Development)),
            Some(StampState::Stamped(Test)),
            Some(StampState::Stamped(Staging)),
            Some(StampState::Stamped(Production)),
        ];
        let mut checked = 0;
        for kind in kinds {
            for node_env in node_envs {
                for stamp in stamps {
                    let kind_ok = matches!(kind, Development | Test);
                    let node_ok = node_env.is_none_or(|value| value == "development" || value == "test");
                    let stamp_ok =
                        matches!(stamp, None | Some(StampState::Fresh) | Some(StampState::Stamped(Development | Test)));
                    let verdict = fixtures_allowed(PolicyInputs { kind, node_env, stamp });
                    let expected_guards: Vec<Guard> = [
                        (!kind_ok).then_some(Guard::EnvironmentKind),
                        (!node_ok).then_some(Guard::NodeEnv),
                        (!stamp_ok).then_some(Guard::DatabaseStamp),
                    ]
                    .into_iter()
                    .flatten()
                    .collect();
                    match &verdict {
                        SeedVerdict::Allowed => assert!(expected_guards.is_empty(), "{kind:?} {node_env:?} {stamp:?}"),
                        SeedVerdict::Refused { guards } => {
                            let got: Vec<Guard> = guards.iter().map(|(guard, _)| *guard).collect();
                            assert_eq!(got, expected_guards, "{kind:?} {node_env:?} {stamp:?}");
                        }
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 4 * 6 * 7);
    }

    #[test]
    fn a_refusal_says_which_guard_and_what_it_saw() {
        let verdict = fixtures_allowed(PolicyInputs {
            kind: Development,
            node_env: Some("production"),
            stamp: Some(StampState::Stamped(Production)),
        });
        assert_eq!(verdict.reasons(), "NODE_ENV is `production`; the database is stamped production");
    }
}
