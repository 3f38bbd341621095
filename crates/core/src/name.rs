//! Validated index names.
//!
//! An index name becomes a segment of a storage key (`trials/<index>/...`), so it must
//! not be able to escape its prefix or collide after encoding. The rule is deliberately
//! narrow: 1 to 200 bytes of ASCII letters, digits, `-`, `_` and `.`, not starting with
//! `.`. That refuses `../x`, `a/b`, empty names and control characters by construction.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// The longest accepted index name, in bytes.
pub const MAX_INDEX_NAME_BYTES: usize = 200;

/// The rule for index names in one sentence, for messages that refuse a name (the CLI
/// and the HTTP routes give the same explanation).
pub const INDEX_NAME_RULE: &str = "An index name becomes part of a storage key, so it must \
    be 1 to 200 bytes of ASCII letters, digits, '-', '_' or '.', not starting with '.'.";

/// The name of a tuned index, safe to use as a storage key segment.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IndexName(String);

impl IndexName {
    /// Validates `name`.
    ///
    /// ```
    /// use hnswtune_core::IndexName;
    /// assert!(IndexName::new("products-v2").is_ok());
    /// assert!(IndexName::new("../x").is_err());
    /// ```
    pub fn new(name: impl Into<String>) -> Result<Self, Error> {
        let name = name.into();
        let fail = |why: String| Error::InvalidName {
            name: name.clone(),
            why,
        };
        if name.is_empty() {
            return Err(fail("the name is empty".into()));
        }
        if name.len() > MAX_INDEX_NAME_BYTES {
            return Err(fail(format!(
                "the name is {} bytes, over the limit of {MAX_INDEX_NAME_BYTES}",
                name.len()
            )));
        }
        if name.starts_with('.') {
            return Err(fail("the name must not start with '.'".into()));
        }
        if let Some((pos, ch)) = name
            .char_indices()
            .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(fail(format!(
                "character {ch:?} at byte {pos} is not allowed (use ASCII letters, digits, '-', '_', '.')"
            )));
        }
        Ok(IndexName(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IndexName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for IndexName {
    type Error = Error;
    fn try_from(value: String) -> Result<Self, Error> {
        IndexName::new(value)
    }
}

impl TryFrom<&str> for IndexName {
    type Error = Error;
    fn try_from(value: &str) -> Result<Self, Error> {
        IndexName::new(value)
    }
}

impl std::str::FromStr for IndexName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        IndexName::new(s)
    }
}

impl From<IndexName> for String {
    fn from(value: IndexName) -> String {
        value.0
    }
}

impl AsRef<str> for IndexName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unsafe_names() {
        for bad in [
            "",
            "../x",
            "a/b",
            "a\\b",
            ".hidden",
            "..",
            "tab\there",
            "nul\0",
            "späce",
            "a b",
        ] {
            let err = IndexName::new(bad).unwrap_err();
            assert!(matches!(err, Error::InvalidName { .. }), "{bad:?}: {err}");
        }
        assert!(IndexName::new("x".repeat(201)).is_err());
        assert!(IndexName::new("x".repeat(200)).is_ok());
    }

    #[test]
    fn accepts_ordinary_names_and_round_trips() {
        let name = IndexName::new("docs_v1.2-en").unwrap();
        let json = serde_json::to_string(&name).unwrap();
        assert_eq!(json, "\"docs_v1.2-en\"");
        let back: IndexName = serde_json::from_str(&json).unwrap();
        assert_eq!(back, name);
        assert!(serde_json::from_str::<IndexName>("\"../x\"").is_err());
    }
}
