//! The first-run API's error answers as one typed contract: each has one status
//! and one code, written by the server and read by `bootstrap`, so that renaming
//! one fails to compile (or fails the round-trip test) instead of a user's CI.

/// An error answer of `/api/setup/*`: `{"error": <code>, "message": ...}` with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiError {
    SetupDisabled,
    InvalidToken,
    TooManyAttempts,
    BodyTooLarge,
    UnreadableBody,
    UnsupportedMediaType,
    InvalidJson,
    InvalidInput,
    AlreadyInitialized,
    EmailInUse,
    SchemaMissing,
    DatabaseUnavailable,
    DatabaseBusy,
    RequestTimeout,
    NotFound,
    InternalError,
}

impl ApiError {
    pub const ALL: [ApiError; 16] = [
        ApiError::SetupDisabled,
        ApiError::InvalidToken,
        ApiError::TooManyAttempts,
        ApiError::BodyTooLarge,
        ApiError::UnreadableBody,
        ApiError::UnsupportedMediaType,
        ApiError::InvalidJson,
        ApiError::InvalidInput,
        ApiError::AlreadyInitialized,
        ApiError::EmailInUse,
        ApiError::SchemaMissing,
        ApiError::DatabaseUnavailable,
        ApiError::DatabaseBusy,
        ApiError::RequestTimeout,
        ApiError::NotFound,
        ApiError::InternalError,
    ];

    /// The HTTP status it is sent with.
    pub fn status(self) -> u16 {
        match self {
            ApiError::SetupDisabled => 403,
            ApiError::InvalidToken => 401,
            ApiError::TooManyAttempts => 429,
            ApiError::BodyTooLarge => 413,
            ApiError::UnreadableBody | ApiError::InvalidJson => 400,
            ApiError::UnsupportedMediaType => 415,
            ApiError::InvalidInput => 422,
            ApiError::AlreadyInitialized | ApiError::EmailInUse => 409,
            ApiError::SchemaMissing | ApiError::InternalError => 500,
            ApiError::DatabaseUnavailable | ApiError::DatabaseBusy => 503,
            ApiError::RequestTimeout => 408,
            ApiError::NotFound => 404,
        }
    }

    /// The `error` field.
    pub fn code(self) -> &'static str {
        match self {
            ApiError::SetupDisabled => "setup_disabled",
            ApiError::InvalidToken => "invalid_token",
            ApiError::TooManyAttempts => "too_many_attempts",
            ApiError::BodyTooLarge => "body_too_large",
            ApiError::UnreadableBody => "unreadable_body",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::InvalidJson => "invalid_json",
            ApiError::InvalidInput => "invalid_input",
            ApiError::AlreadyInitialized => "already_initialized",
            ApiError::EmailInUse => "email_in_use",
            ApiError::SchemaMissing => "schema_missing",
            ApiError::DatabaseUnavailable => "database_unavailable",
            ApiError::DatabaseBusy => "database_busy",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::NotFound => "not_found",
            ApiError::InternalError => "internal_error",
        }
    }

    /// The answer a client read, if it is one of these.
    pub fn from_code(code: &str) -> Option<ApiError> {
        ApiError::ALL.into_iter().find(|error| error.code() == code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_back_as_itself_and_no_two_share_one() {
        for error in ApiError::ALL {
            assert_eq!(ApiError::from_code(error.code()), Some(error));
            assert!((400..600).contains(&error.status()), "{error:?}");
        }
        let codes: std::collections::HashSet<&str> = ApiError::ALL.iter().map(|error| error.code()).collect();
        assert_eq!(codes.len(), ApiError::ALL.len());
        assert_eq!(ApiError::from_code("no_such_code"), None);
    }
}
