//! `[studio]`: what the studio hides besides Better Auth's secrets. Pure.

use serde::{Deserialize, Serialize};
use toml::Spanned;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StudioFile {
    /// `table.column` (any schema), shown as redacted.
    #[serde(default)]
    pub(super) redact: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StudioSettings {
    /// (table, column) pairs redacted on top of Better Auth's secrets.
    pub redact: Vec<(String, String)>,
}

impl StudioSettings {
    /// The settings, or the span and reason of the first entry that is not `table.column`.
    pub(super) fn resolve(file: StudioFile) -> Result<StudioSettings, (std::ops::Range<usize>, String)> {
        let mut redact = Vec::new();
        for entry in file.redact {
            let pair = entry
                .get_ref()
                .split_once('.')
                .filter(|(table, column)| !table.is_empty() && !column.is_empty() && !column.contains('.'));
            match pair {
                Some((table, column)) => redact.push((table.to_owned(), column.to_owned())),
                None => {
                    return Err((entry.span(), format!("`{}` is not `table.column`", entry.get_ref())));
                }
            }
        }
        Ok(StudioSettings { redact })
    }
}
