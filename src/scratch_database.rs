//! Throwaway databases a command makes on a development server (a restore drill,
//! a drift replay) and the sweep of those a killed run left behind.

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

    /// Whether `name` is one of ours left behind: a younger one may be another run's.
    pub fn is_stale(&self, name: &str, now: u64) -> bool {
        name.strip_prefix(self.prefix)
            .and_then(|rest| rest.split('_').next())
            .and_then(|seconds| seconds.parse::<u64>().ok())
            .is_some_and(|made| now.saturating_sub(made) > self.stale_after_seconds)
    }

    /// Drops the stale ones; best effort, as a failure here only leaves them for the next run.
    pub async fn drop_stale(&self, admin: &mut PgConnection) {
        let pattern = format!("{}%", self.prefix.replace('_', "\\_"));
        let names: Vec<String> = sqlx::query_scalar("SELECT datname::text FROM pg_database WHERE datname LIKE $1")
            .bind(pattern)
            .fetch_all(&mut *admin)
            .await
            .unwrap_or_default();
        let now = now_seconds();
        for name in names.into_iter().filter(|name| self.is_stale(name, now)) {
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
