//! `[contract]`: whether `release` holds a migration's contract part back until
//! the previous release has retired, and how the post-deploy step (`contract`)
//! knows it has. Pure, but for reading `DOKKU_WAIT_TO_RETIRE`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{EnvironmentKind, HumanDuration};

/// Dokku's default `DOKKU_WAIT_TO_RETIRE`, in seconds.
const DOKKU_DEFAULT_RETIRE: u64 = 60;
/// Beyond Dokku's retirement wait: the switch itself, and a request in flight.
const RETIRE_GRACE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ContractFile {
    hold_back: Option<bool>,
    app_sessions: Option<String>,
    retire_wait: Option<HumanDuration>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContractSettings {
    /// `release` holds contract parts back: on where the previous release serves
    /// while the release phase runs (staging and production).
    pub hold_back: bool,
    /// The start of the `application_name` the app's own connections carry,
    /// followed by their release's git revision (`PGAPPNAME=praxia@$GIT_REV`):
    /// how the post-deploy step sees the previous release's sessions end.
    pub app_sessions: Option<String>,
    /// How long the post-deploy step waits for the previous release to retire
    /// (default: `DOKKU_WAIT_TO_RETIRE`, else 60 s, and 30 s more).
    pub retire_wait: Option<HumanDuration>,
}

impl ContractSettings {
    pub(super) fn resolve(file: ContractFile, kind: EnvironmentKind) -> ContractSettings {
        ContractSettings {
            hold_back: file.hold_back.unwrap_or(matches!(kind, EnvironmentKind::Staging | EnvironmentKind::Production)),
            app_sessions: file.app_sessions.filter(|prefix| !prefix.is_empty()),
            retire_wait: file.retire_wait,
        }
    }

    /// The bound on the post-deploy step's wait; `dokku_wait` is `DOKKU_WAIT_TO_RETIRE`'s value.
    pub fn retire_wait(&self, dokku_wait: Option<&str>) -> Duration {
        if let Some(wait) = self.retire_wait {
            return wait.0;
        }
        let seconds = dokku_wait.and_then(|value| value.trim().parse::<u64>().ok()).unwrap_or(DOKKU_DEFAULT_RETIRE);
        Duration::from_secs(seconds) + RETIRE_GRACE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_and_production_hold_back_and_the_wait_follows_dokku() {
        let settings = |kind| ContractSettings::resolve(ContractFile::default(), kind);
        assert!(settings(EnvironmentKind::Production).hold_back && settings(EnvironmentKind::Staging).hold_back);
        assert!(!settings(EnvironmentKind::Development).hold_back && !settings(EnvironmentKind::Test).hold_back);
        let production = settings(EnvironmentKind::Production);
        assert_eq!(production.retire_wait(None), Duration::from_secs(90));
        assert_eq!(production.retire_wait(Some("120")), Duration::from_secs(150));
        assert_eq!(production.retire_wait(Some("soon")), Duration::from_secs(90));
    }
}
