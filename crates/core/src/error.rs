//! The one error type of the core and of every seam trait.

use crate::space::SpaceError;

/// Result alias used across hnswtune's seam traits.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything a journal, registry or evaluator can report.
///
/// Callers match on the variant to decide what to do: `Conflict` means "re-read and
/// decide again", `NotFound` means "nothing there yet", `InvalidInput` means "the caller
/// must change what it passes", `Backend` means "the store is unavailable, retry later".
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The thing asked for does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked up.
        what: String,
    },
    /// Another writer got there first (for example a promotion revision already taken).
    #[error("conflict: {what}")]
    Conflict {
        /// What was contended.
        what: String,
    },
    /// An argument was rejected before any work was done.
    #[error("invalid {what}: {why}")]
    InvalidInput {
        /// The argument or field.
        what: String,
        /// Why it was rejected.
        why: String,
    },
    /// An index name that cannot be used as a storage key segment.
    #[error("invalid index name {name:?}: {why}")]
    InvalidName {
        /// The rejected name (debug-escaped when printed).
        name: String,
        /// Why it was rejected.
        why: String,
    },
    /// A parameter set or search space failed validation.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// A promotion or other state change that the rules forbid.
    #[error("rejected: {why}")]
    Rejected {
        /// Which rule forbade it.
        why: String,
    },
    /// A stored object could not be decoded.
    #[error("corrupt entry {key}: {why}")]
    Corrupt {
        /// The storage key of the entry.
        key: String,
        /// What was wrong with it.
        why: String,
    },
    /// A stored or submitted object exceeds the size limit.
    #[error("{what} is {size_bytes} bytes, over the limit of {limit_bytes}")]
    TooLarge {
        /// What was too large.
        what: String,
        /// Its size.
        size_bytes: u64,
        /// The limit.
        limit_bytes: u64,
    },
    /// The operation is not offered by this implementation.
    #[error("not supported: {what}")]
    Unsupported {
        /// What was asked for.
        what: String,
    },
    /// Building or measuring an index failed.
    #[error("evaluation failed: {why}")]
    Evaluation {
        /// What went wrong.
        why: String,
    },
    /// The storage backend failed (unreachable, permission denied, I/O error).
    #[error("storage backend error during {op}: {source}")]
    Backend {
        /// The operation that failed, with its key where known.
        op: String,
        /// The backend's own error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(what: impl Into<String>, why: impl Into<String>) -> Self {
        Error::InvalidInput {
            what: what.into(),
            why: why.into(),
        }
    }

    /// True when retrying the same call later may succeed (backend trouble).
    pub fn is_transient(&self) -> bool {
        matches!(self, Error::Backend { .. })
    }
}
