//! Named blobs kept next to the journal: the seam through which the harness stores eval
//! sets and ground truth, so that storage has one owner (hnswtune-journal implements
//! it on object_store) and the measurement crate never talks to a store itself.

use std::fmt::{self, Debug};
use std::sync::Arc;

use crate::{Error, IndexName};

/// The key of a blob: one or more segments, each following [`IndexName`]'s rule (ASCII
/// letters, digits, `-`, `_`, `.`, not starting with `.`, at most 200 bytes), so a key
/// can never climb out of its store's prefix.
///
/// ```
/// use hnswtune_core::BlobKey;
/// let key = BlobKey::new(["ground-truth", "queries-k10", "00ff-20000-k10.json"])?;
/// assert_eq!(key.to_string(), "ground-truth/queries-k10/00ff-20000-k10.json");
/// assert!(BlobKey::new(["eval-sets", ".."]).is_err());
/// # Ok::<(), hnswtune_core::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BlobKey(Vec<String>);

impl BlobKey {
    /// A key from its segments; a segment that breaks the rule is an
    /// [`Error::InvalidName`].
    pub fn new<S: Into<String>>(segments: impl IntoIterator<Item = S>) -> Result<Self, Error> {
        let segments: Vec<String> = segments
            .into_iter()
            .map(|s| IndexName::new(s).map(|n| n.as_str().to_owned()))
            .collect::<Result<_, _>>()?;
        if segments.is_empty() {
            return Err(Error::invalid(
                "blob key",
                "a key needs at least one segment",
            ));
        }
        Ok(BlobKey(segments))
    }

    /// The segments, outermost first.
    pub fn segments(&self) -> &[String] {
        &self.0
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("/"))
    }
}

/// Blobs that are written once and read many times: get, and create-if-absent.
///
/// The methods block until the store answers; call them from a thread that may block
/// (the evaluator runs on tokio's blocking pool; async code uses `spawn_blocking`).
pub trait BlobStore: Send + Sync + Debug {
    /// The blob at `key`, `None` when there is none.
    fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, Error>;

    /// Writes `bytes` at `key` unless a blob is there already: `Ok(true)` when this call
    /// wrote it, `Ok(false)` when the key was taken (that blob is left as it is). Atomic
    /// across processes: of two concurrent creators exactly one writes.
    fn create(&self, key: &BlobKey, bytes: Vec<u8>) -> Result<bool, Error>;
}

impl<T: BlobStore + ?Sized> BlobStore for Arc<T> {
    fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, Error> {
        (**self).get(key)
    }
    fn create(&self, key: &BlobKey, bytes: Vec<u8>) -> Result<bool, Error> {
        (**self).create(key, bytes)
    }
}
