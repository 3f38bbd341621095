//! The one error shape every route answers with.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hnswtune_agent::AgentError;
use hnswtune_core::Error;
use serde::Serialize;

/// How long a client should wait before retrying after a transient store error.
pub const RETRY_AFTER_SECS: u64 = 2;

/// An error answer: a status code and the body `{"error": <code>, "what": <sentence>}`.
///
/// `error` is a short machine-readable code (`not_found`, `conflict`, `bad_request`,
/// `invalid_index_name`, `unauthorized`, `forbidden`, `too_large`, `too_many_requests`,
/// `no_agent`, `unavailable`, `method_not_allowed`, `internal`); `what` is a sentence
/// for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The status code.
    pub status: StatusCode,
    /// The machine-readable code.
    pub error: &'static str,
    /// The sentence.
    pub what: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    what: &'a str,
}

impl ApiError {
    /// An error with `status`, `error` code and sentence.
    pub fn new(status: StatusCode, error: &'static str, what: impl Into<String>) -> Self {
        ApiError {
            status,
            error,
            what: what.into(),
        }
    }

    /// 400 `bad_request`.
    pub fn bad_request(what: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", what)
    }

    /// 404 `not_found`.
    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let what = e.to_string();
        match e {
            Error::NotFound { .. } => ApiError::not_found(what),
            Error::Conflict { .. } => ApiError::new(StatusCode::CONFLICT, "conflict", what),
            Error::InvalidName { .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_index_name",
                format!("{what}. {}", hnswtune_core::INDEX_NAME_RULE),
            ),
            Error::InvalidInput { .. } | Error::Space(_) | Error::Rejected { .. } => {
                ApiError::bad_request(what)
            }
            Error::TooLarge { .. } => {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", what)
            }
            Error::Unsupported { .. } => {
                ApiError::new(StatusCode::NOT_IMPLEMENTED, "unsupported", what)
            }
            e if e.is_transient() => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", what)
            }
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", what),
        }
    }
}

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> Self {
        let what = e.to_string();
        match e {
            AgentError::UnknownIndex { .. } => ApiError::not_found(what),
            AgentError::QueueFull { .. } => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", what)
            }
            AgentError::Disabled | AgentError::Stopped => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", what)
            }
            AgentError::Core(core) => core.into(),
            _ => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", what),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: self.error,
            what: &self.what,
        };
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_errors_map_to_their_status_codes() {
        let cases = [
            (Error::NotFound { what: "x".into() }, 404),
            (Error::Conflict { what: "x".into() }, 409),
            (Error::invalid("revision", "is zero"), 400),
            (
                Error::Backend {
                    op: "get".into(),
                    source: "connection refused".into(),
                },
                503,
            ),
            (
                Error::Corrupt {
                    key: "k".into(),
                    why: "bad json".into(),
                },
                500,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(ApiError::from(error).status.as_u16(), status);
        }
    }

    #[test]
    fn an_unavailable_store_says_when_to_retry() {
        let response = ApiError::from(Error::Backend {
            op: "list".into(),
            source: "timeout".into(),
        })
        .into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
