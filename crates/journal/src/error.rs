//! Mapping object_store's errors into [`hnswtune_core::Error`].
//!
//! The journal crate has no error enum of its own: callers match on the core's
//! variants, and object_store's error is kept as the `source` of
//! [`Error::Backend`] so nothing is lost.

use hnswtune_core::Error;
use object_store::path::Path;

/// Maps `err`, raised by `op` on `key`, into the core error.
///
/// `AlreadyExists` and `Precondition` become [`Error::Conflict`] (someone else
/// created the key first), `NotFound` becomes [`Error::NotFound`], and everything
/// else becomes [`Error::Backend`] naming the operation and key.
pub(crate) fn from_store(op: &str, key: &Path, err: object_store::Error) -> Error {
    match err {
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => {
            Error::Conflict {
                what: format!("{key} already exists"),
            }
        }
        object_store::Error::NotFound { .. } => Error::NotFound {
            what: key.to_string(),
        },
        other => Error::Backend {
            op: format!("{op} {key}"),
            source: Box::new(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic() -> Box<dyn std::error::Error + Send + Sync> {
        "boom".into()
    }

    #[test]
    fn variants_map_to_what_callers_act_on() {
        let key = Path::from("a/b");
        let exists = object_store::Error::AlreadyExists {
            path: "a/b".into(),
            source: generic(),
        };
        assert!(matches!(
            from_store("put", &key, exists),
            Error::Conflict { .. }
        ));
        let missing = object_store::Error::NotFound {
            path: "a/b".into(),
            source: generic(),
        };
        assert!(matches!(
            from_store("get", &key, missing),
            Error::NotFound { .. }
        ));
        let other = object_store::Error::Generic {
            store: "test",
            source: generic(),
        };
        let mapped = from_store("list", &key, other);
        assert!(mapped.is_transient());
        assert!(mapped.to_string().contains("list a/b"), "{mapped}");
    }
}
