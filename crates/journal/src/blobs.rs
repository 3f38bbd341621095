//! [`BlobStore`] on object_store: the eval sets and ground truth that the harness keeps
//! next to the journal, under the same location and prefix.
//!
//! A key's segments become path segments under the location's prefix (for example
//! `{prefix}/ground-truth/{eval set}/{hash}-{len}-k{k}.json`). `create` is a
//! `PutMode::Create`, atomic on memory, local disk and S3, so two processes that compute
//! the same ground truth write it once.
//!
//! The seam is synchronous (its caller, the evaluator, runs on a blocking thread); each
//! call runs its object_store future to completion on the calling thread. That is safe on
//! a tokio blocking thread and outside any runtime, and must not happen on an async
//! worker thread, where it would block the executor.

use hnswtune_core::{BlobKey, BlobStore, Error};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::StoreLocation;
use crate::error::from_store;

/// Blobs under a [`StoreLocation`].
///
/// ```
/// use hnswtune_core::{BlobKey, BlobStore};
/// use hnswtune_journal::{ObjectStoreBlobs, StoreLocation};
/// let blobs = ObjectStoreBlobs::new(StoreLocation::in_memory());
/// let key = BlobKey::new(["eval-sets", "smoke.json"])?;
/// assert_eq!(blobs.get(&key)?, None);
/// assert!(blobs.create(&key, b"{}".to_vec())?);
/// assert!(!blobs.create(&key, b"[]".to_vec())?, "the first blob stays");
/// assert_eq!(blobs.get(&key)?, Some(b"{}".to_vec()));
/// # Ok::<(), hnswtune_core::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ObjectStoreBlobs {
    location: StoreLocation,
}

impl ObjectStoreBlobs {
    /// Blobs under `location`'s store and prefix.
    pub fn new(location: StoreLocation) -> Self {
        ObjectStoreBlobs { location }
    }

    fn path(&self, key: &BlobKey) -> Path {
        let base = if self.location.prefix.is_empty() {
            Path::default()
        } else {
            Path::from(self.location.prefix.as_str())
        };
        key.segments()
            .iter()
            .fold(base, |path, segment| path.join(segment.as_str()))
    }
}

impl BlobStore for ObjectStoreBlobs {
    fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, Error> {
        let path = self.path(key);
        futures::executor::block_on(async {
            let got = match self.location.store.get(&path).await {
                Ok(got) => got,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(from_store("get", &path, e)),
            };
            let bytes = got
                .bytes()
                .await
                .map_err(|e| from_store("read", &path, e))?;
            Ok(Some(bytes.to_vec()))
        })
    }

    fn create(&self, key: &BlobKey, bytes: Vec<u8>) -> Result<bool, Error> {
        let path = self.path(key);
        let put = self.location.store.put_opts(
            &path,
            PutPayload::from(bytes),
            PutOptions::from(PutMode::Create),
        );
        match futures::executor::block_on(put) {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(from_store("put", &path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_live_under_the_prefix_and_are_written_once_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let mut location = StoreLocation::local(dir.path(), false).unwrap();
        location.prefix = "team/a".into();
        let blobs = ObjectStoreBlobs::new(location);
        let key = BlobKey::new(["ground-truth", "q-k10", "ab-10-k10.json"]).unwrap();
        assert_eq!(blobs.get(&key).unwrap(), None);
        assert!(blobs.create(&key, b"first".to_vec()).unwrap());
        assert!(!blobs.create(&key, b"second".to_vec()).unwrap());
        assert_eq!(blobs.get(&key).unwrap().as_deref(), Some(&b"first"[..]));
        assert!(
            dir.path()
                .join("team/a/ground-truth/q-k10/ab-10-k10.json")
                .is_file()
        );
    }

    #[test]
    fn two_creators_of_one_key_have_one_winner() {
        let blobs = ObjectStoreBlobs::new(StoreLocation::in_memory());
        let key = BlobKey::new(["race.json"]).unwrap();
        let wins: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let (blobs, key) = (&blobs, &key);
                    s.spawn(move || blobs.create(key, vec![i]).unwrap())
                })
                .collect();
            handles
                .into_iter()
                .map(|h| usize::from(h.join().unwrap()))
                .sum()
        });
        assert_eq!(wins, 1);
    }
}
