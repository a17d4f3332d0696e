//! Throwaway databases a command makes on a development server (a restore drill,
//! a drift replay) and the sweep of those a killed run left behind. A database is
//! dropped by the sweep only when it is provably one of ours: its whole name has
//! our format (`<prefix><unix seconds>_<32 hex digits>`) and it carries the mark
//! written when it was made (a comment naming it). A name prefix is not ownership.

use sqlx::PgConnection;

/// One family of scratch databases, named `<prefix><unix seconds>_<uuid>`.
pub struct ScratchKind {
    pub prefix: &'static str,
    /// No run of this kind lasts longer: an older database was left by one that was killed.
    pub stale_after_seconds: u64,
    /// What made them, for the log line when one is dropped.
    pub left_by: &'static str,
}

impl ScratchKind {
    pub fn new_name(&self) -> String {
        format!("{}{}_{}", self.prefix, now_seconds(), uuid::Uuid::new_v4().simple())
    }

    /// The comment written on a scratch database when it is made: the proof, with
    /// the name, that the sweep may drop it.
    pub fn mark(&self, name: &str) -> String {
        format!("praxia-deploy scratch database {name}, dropped when its run ends")
    }

    /// When `name` has exactly our format, the unix time it was made.
    fn made_at(&self, name: &str) -> Option<u64> {
        let (seconds, uuid) = name.strip_prefix(self.prefix)?.split_once('_')?;
        let digits = !seconds.is_empty() && seconds.bytes().all(|byte| byte.is_ascii_digit());
        let hex = uuid.len() == 32 && uuid.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'));
        (digits && hex).then(|| seconds.parse().ok()).flatten()
    }

    /// Whether `name`, carrying `comment`, is one of ours left behind: a younger
    /// one may be another run's, between its steps.
    pub fn is_stale(&self, name: &str, comment: Option<&str>, now: u64) -> bool {
        let ours = comment == Some(self.mark(name).as_str());
        ours && self.made_at(name).is_some_and(|made| now.saturating_sub(made) > self.stale_after_seconds)
    }

    /// Creates the scratch database `name` (from `template`, or the server's
    /// default) and marks it as ours.
    pub async fn create(
        &self,
        admin: &mut PgConnection,
        name: &str,
        template: Option<&str>,
    ) -> std::result::Result<(), sqlx::Error> {
        let template = template.map(|template| format!(" TEMPLATE {template}")).unwrap_or_default();
        let create = format!("CREATE DATABASE \"{name}\"{template}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(create)).execute(&mut *admin).await?;
        let mark = format!("COMMENT ON DATABASE \"{name}\" IS '{}'", self.mark(name).replace('\'', "''"));
        if let Err(err) = sqlx::raw_sql(sqlx::AssertSqlSafe(mark)).execute(&mut *admin).await {
            let drop = format!("DROP DATABASE IF EXISTS \"{name}\"");
            let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(drop)).execute(&mut *admin).await;
            return Err(err);
        }
        Ok(())
    }

    /// Drops the stale ones; best effort, as a failure here only leaves them for the next run.
    pub async fn drop_stale(&self, admin: &mut PgConnection) {
        let pattern = format!("{}%", self.prefix.replace('_', "\\_"));
        let found: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT datname::text, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname LIKE $1",
        )
        .bind(pattern)
        .fetch_all(&mut *admin)
        .await
        .unwrap_or_default();
        let now = now_seconds();
        for (name, _) in found.into_iter().filter(|(name, comment)| self.is_stale(name, comment.as_deref(), now)) {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\"", name.replace('"', "\"\""));
            if sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&mut *admin).await.is_ok() {
                tracing::info!("dropped {name}, left by {}", self.left_by);
            }
        }
    }
}

fn now_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: ScratchKind =
        ScratchKind { prefix: "praxia_drift_", stale_after_seconds: 3600, left_by: "an interrupted drift" };
    const UUID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn only_an_old_database_with_our_whole_name_and_our_mark_is_stale() {
        let now = 1_800_000_000;
        let old = format!("praxia_drift_1799990000_{UUID}");
        let mark = KIND.mark(&old);
        assert!(KIND.is_stale(&old, Some(&mark), now));
        let young = format!("praxia_drift_1799999000_{UUID}");
        assert!(!KIND.is_stale(&young, Some(&KIND.mark(&young)), now), "another run's, between its steps");
        assert!(!KIND.is_stale(&old, None, now), "no mark: not provably ours");
        assert!(!KIND.is_stale(&old, Some("praxia-deploy scratch database"), now), "another mark");
        assert!(!KIND.is_stale(&old, Some(&KIND.mark(&young)), now), "the mark of another name");
        for look_alike in [
            "praxia_drift_2024_archive".to_owned(),
            "praxia_drift_1799990000".to_owned(),
            format!("praxia_drift_1799990000_{UUID}_copy"),
            format!("praxia_drift_1799990000_{}", UUID.to_uppercase()),
            format!("praxia_drift_17999x0000_{UUID}"),
            format!("praxia_drift__{UUID}"),
            "praxia_development".to_owned(),
        ] {
            assert!(!KIND.is_stale(&look_alike, Some(&KIND.mark(&look_alike)), now), "{look_alike}");
        }
    }

    #[test]
    fn a_new_name_has_the_format_the_sweep_checks() {
        let name = KIND.new_name();
        assert!(KIND.made_at(&name).is_some(), "{name}");
    }
}
