//! The one error type of the harness.

use std::path::PathBuf;

/// Result alias used across the harness.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything the harness can report.
///
/// Callers match on the variant: the input variants (`InvalidInput`, `NonFinite`,
/// `DimensionMismatch`, `ZeroVector`, `Empty`, `InvalidK`, `KExceedsEfSearch`,
/// `MissingParam`, `UnknownParam`) mean "change what you pass"; `Malformed` and `Io` name a
/// file; `Core` carries a store error from the blob seam (a `Backend` may pass on retry).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument was rejected before any work was done.
    #[error("invalid {what}: {why}")]
    InvalidInput {
        /// The argument or field.
        what: String,
        /// Why it was rejected.
        why: String,
    },
    /// A vector component is NaN or infinite.
    #[error("{what}: row {row}, component {component} is not finite ({value})")]
    NonFinite {
        /// Which vector set.
        what: String,
        /// The row index.
        row: usize,
        /// The component index inside the row.
        component: usize,
        /// The offending value.
        value: f32,
    },
    /// Two vector sets (or a vector set and a query) do not share a dimension.
    #[error("{what}: dimension {found} does not match the expected {expected}")]
    DimensionMismatch {
        /// What was being compared.
        what: String,
        /// The expected dimension (usually the base's).
        expected: usize,
        /// The dimension found.
        found: usize,
    },
    /// A zero vector cannot be normalised for the cosine metric.
    #[error("{what}: row {row} is the zero vector, which has no direction under cosine")]
    ZeroVector {
        /// Which vector set.
        what: String,
        /// The row index.
        row: usize,
    },
    /// A vector set (base, queries) is empty.
    #[error("{what} is empty")]
    Empty {
        /// Which set.
        what: String,
    },
    /// `k` is zero or larger than the number of base vectors (or stored ground truth).
    #[error("invalid k = {k}: must be in 1..={limit}")]
    InvalidK {
        /// The k asked for.
        k: usize,
        /// The largest k allowed here.
        limit: usize,
    },
    /// The backend can return at most `ef_search` results; asking for more would silently
    /// lower recall, so it is refused.
    #[error(
        "k = {k} exceeds ef_search = {ef_search}; this backend returns at most ef_search results"
    )]
    KExceedsEfSearch {
        /// The k asked for.
        k: usize,
        /// The index's ef_search.
        ef_search: usize,
    },
    /// A parameter the backend needs is missing from the params map.
    #[error("missing parameter {name:?}")]
    MissingParam {
        /// The parameter name.
        name: String,
    },
    /// The params map holds a parameter the backend does not know.
    #[error("unknown parameter {name:?} for backend {backend}")]
    UnknownParam {
        /// The parameter name.
        name: String,
        /// The backend that rejected it.
        backend: String,
    },
    /// A parameter value is of the wrong type or out of range.
    #[error("parameter {name:?}: {why}")]
    BadParam {
        /// The parameter name.
        name: String,
        /// What is wrong with the value.
        why: String,
    },
    /// A file is truncated or malformed.
    #[error("{}: malformed at byte offset {offset}: {why}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The byte offset where parsing failed.
        offset: u64,
        /// What was wrong.
        why: String,
    },
    /// A file could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A stored object could not be decoded, or does not match what it claims to be.
    #[error("corrupt {what}: {why}")]
    Corrupt {
        /// The key or object.
        what: String,
        /// What was wrong with it.
        why: String,
    },
    /// The backend does not offer this operation.
    #[error("not supported by {backend}: {what}")]
    Unsupported {
        /// The backend.
        backend: String,
        /// What was asked for.
        what: String,
    },
    /// No index, eval set or stored object of that name.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked up.
        what: String,
    },
    /// An error from the core data model (search-space validation, names).
    #[error(transparent)]
    Core(#[from] hnswtune_core::Error),
    /// Building or searching an index failed inside the backend.
    #[error("backend {backend} failed: {why}")]
    Backend {
        /// The backend.
        backend: String,
        /// What went wrong.
        why: String,
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

    pub(crate) fn malformed(path: &std::path::Path, offset: u64, why: impl Into<String>) -> Self {
        Error::Malformed {
            path: path.to_path_buf(),
            offset,
            why: why.into(),
        }
    }
}

impl From<hnswtune_core::SpaceError> for Error {
    fn from(e: hnswtune_core::SpaceError) -> Self {
        Error::Core(e.into())
    }
}

impl From<Error> for hnswtune_core::Error {
    /// Maps each harness error onto the core variant a caller acts on: bad input stays
    /// `InvalidInput` (or the core's own `Space` errors for parameters), missing things are
    /// `NotFound`, store trouble is the transient `Backend`, everything else `Evaluation`.
    fn from(e: Error) -> Self {
        use hnswtune_core::{Error as Core, SpaceError};
        match e {
            Error::Core(inner) => inner,
            Error::MissingParam { name } => Core::Space(SpaceError::Missing { name }),
            Error::UnknownParam { name, .. } => Core::Space(SpaceError::Unknown { name }),
            Error::NotFound { what } => Core::NotFound { what },
            Error::Unsupported { backend, what } => Core::Unsupported {
                what: format!("{backend}: {what}"),
            },
            Error::Corrupt { what, why } => Core::Corrupt { key: what, why },
            Error::Backend { .. } | Error::Io { .. } => Core::Evaluation { why: e.to_string() },
            Error::InvalidInput { what, why } => Core::InvalidInput { what, why },
            Error::BadParam { name, why } => Core::InvalidInput { what: name, why },
            other => Core::InvalidInput {
                what: "evaluation input".into(),
                why: other.to_string(),
            },
        }
    }
}
