//! The bearer token that guards the mutating routes.

use std::fmt;

use axum::http::{HeaderMap, StatusCode, header};
use subtle::ConstantTimeEq;

use crate::ApiError;

/// The shortest token accepted: a guessable token is no guard.
pub const MIN_TOKEN_BYTES: usize = 16;

/// A secret that a client sends as `Authorization: Bearer <token>`.
///
/// It is compared in constant time, and its `Debug` output never shows it.
#[derive(Clone)]
pub struct BearerToken(Vec<u8>);

impl BearerToken {
    /// Accepts `token` with surrounding whitespace (a trailing newline from a file)
    /// removed. Refuses a token shorter than [`MIN_TOKEN_BYTES`] or one holding
    /// characters a header cannot carry.
    pub fn new(token: &str) -> Result<Self, hnswtune_core::Error> {
        let token = token.trim();
        if token.len() < MIN_TOKEN_BYTES {
            return Err(hnswtune_core::Error::invalid(
                "token",
                format!(
                    "it is {} bytes; use at least {MIN_TOKEN_BYTES} (for example the output of \
                     `openssl rand -hex 32`)",
                    token.len()
                ),
            ));
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(hnswtune_core::Error::invalid(
                "token",
                "it holds spaces or characters other than printable ASCII",
            ));
        }
        Ok(BearerToken(token.as_bytes().to_vec()))
    }

    /// True when `presented` is this token, in time that does not depend on where the
    /// two differ.
    pub fn matches(&self, presented: &[u8]) -> bool {
        self.0.ct_eq(presented).into()
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

/// Checks a mutating request: 403 when the server has no token (it is read-only),
/// 401 when the request carries none, 403 when it carries another.
pub(crate) fn authorize(token: Option<&BearerToken>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this server is read-only: no token is configured (hnswtune serve --token-file FILE \
             turns on enqueue and rollback)",
        ));
    };
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "));
    match presented {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this route needs the header Authorization: Bearer <token>",
        )),
        Some(presented) if token.matches(presented) => Ok(()),
        Some(_) => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the bearer token is not the one this server was given",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_itself_only() {
        let token = BearerToken::new("0123456789abcdef-secret\n").unwrap();
        assert!(token.matches(b"0123456789abcdef-secret"));
        assert!(!token.matches(b"0123456789abcdef-secreT"));
        assert!(!token.matches(b"0123456789abcdef-secret2"));
        assert!(!token.matches(b""));
        assert_eq!(format!("{token:?}"), "BearerToken(<redacted>)");
    }

    #[test]
    fn short_or_spaced_tokens_are_refused() {
        assert!(BearerToken::new("short").is_err());
        assert!(BearerToken::new("0123456789 abcdef").is_err());
    }
}
