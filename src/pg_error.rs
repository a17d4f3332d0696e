//! PostgreSQL errors: the SQLSTATEs the tool acts on, what kind of failure an
//! error is, and how a user should read it. A leaf: no connection, no config.

/// The SQLSTATEs praxia-deploy tells apart.
pub mod sqlstate {
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const INVALID_SCHEMA_NAME: &str = "3F000";
    pub const UNIQUE_VIOLATION: &str = "23505";
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";
    pub const DEADLOCK_DETECTED: &str = "40P01";
    pub const CANNOT_CONNECT_NOW: &str = "57P03";
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
    pub const OUT_OF_MEMORY: &str = "53200";
    pub const ADMIN_SHUTDOWN: &str = "57P01";
    pub const NO_ACTIVE_TRANSACTION: &str = "25P01";
    pub const IN_FAILED_TRANSACTION: &str = "25P02";
    pub const CRASH_SHUTDOWN: &str = "57P02";
    pub const IDLE_SESSION_TIMEOUT: &str = "57P05";
    pub const QUERY_CANCELED: &str = "57014";
    pub const UNDEFINED_FUNCTION: &str = "42883";
}

/// What kind of failure an error is, for deciding what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// The connection or the server went away (restart, failover, network):
    /// nothing the SQL did; reconnect and try again.
    ConnectionLost,
    /// A lock timeout or a deadlock: the transaction was rolled back and may simply run again.
    Contention,
    /// The server refused the statement itself.
    Statement,
    /// Anything else on the client side (a protocol or decoding error).
    Client,
}

pub fn classify(err: &sqlx::Error) -> FailureClass {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => {
            FailureClass::ConnectionLost
        }
        sqlx::Error::Tls(_) => FailureClass::ConnectionLost,
        sqlx::Error::Database(db) => classify_sqlstate(db.code().as_deref().unwrap_or("")),
        _ => FailureClass::Client,
    }
}

/// Class 08 (connection exception) and the shutdown codes are the server going
/// away, not the SQL being wrong.
pub fn classify_sqlstate(code: &str) -> FailureClass {
    use sqlstate::*;
    match code {
        ADMIN_SHUTDOWN | CRASH_SHUTDOWN | CANNOT_CONNECT_NOW | IDLE_SESSION_TIMEOUT => FailureClass::ConnectionLost,
        code if code.starts_with("08") => FailureClass::ConnectionLost,
        LOCK_NOT_AVAILABLE | DEADLOCK_DETECTED => FailureClass::Contention,
        _ => FailureClass::Statement,
    }
}

/// Whether the error is one of these SQLSTATEs.
pub fn has_code(err: &sqlx::Error, codes: &[&str]) -> bool {
    err.as_database_error().and_then(|db| db.code()).is_some_and(|code| codes.contains(&code.as_ref()))
}

/// Whether the error is what a value or a name sent by a client causes, not the
/// server's fault: class 22 (a data exception), 23 (a domain's check), 42883 (no
/// operator for this type, as json = json) and 42P01 (a regclass naming nothing).
pub fn is_bad_input(err: &sqlx::Error) -> bool {
    use sqlstate::*;
    err.as_database_error().and_then(|db| db.code()).is_some_and(|code| {
        code.starts_with("22") || code.starts_with("23") || code == UNDEFINED_FUNCTION || code == UNDEFINED_TABLE
    })
}

/// A database error as the user should read it: the server's message and SQLSTATE
/// (sqlx's own text appends a line number of PostgreSQL's C source), URLs redacted.
pub fn describe(err: &sqlx::Error) -> String {
    match err {
        sqlx::Error::Database(db) => {
            format!("{} ({})", db.message(), db.code().as_deref().unwrap_or("no SQLSTATE"))
        }
        other => crate::redact::redact_in(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_going_away_is_not_the_statements_fault() {
        let table = [
            ("57P01", FailureClass::ConnectionLost),
            ("57P02", FailureClass::ConnectionLost),
            ("08006", FailureClass::ConnectionLost),
            ("08003", FailureClass::ConnectionLost),
            ("55P03", FailureClass::Contention),
            ("40P01", FailureClass::Contention),
            ("42P01", FailureClass::Statement),
            ("23505", FailureClass::Statement),
            ("57014", FailureClass::Statement),
        ];
        for (code, class) in table {
            assert_eq!(classify_sqlstate(code), class, "{code}");
        }
        let io = sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset"));
        assert_eq!(classify(&io), FailureClass::ConnectionLost);
    }
}
