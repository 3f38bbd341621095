//! An in-memory blob store.

use std::collections::HashMap;
use std::sync::Mutex;

use hnswtune_core::{BlobKey, BlobStore, Error};

/// A [`BlobStore`] in a map: `create` writes only an absent key, as the trait requires.
/// [`MemoryBlobs::insert_raw`] puts any bytes at a key, for corrupt-object tests.
#[derive(Debug, Default)]
pub struct MemoryBlobs {
    blobs: Mutex<HashMap<BlobKey, Vec<u8>>>,
}

impl MemoryBlobs {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Puts `bytes` at `key`, replacing what is there: a stand-in for a damaged object.
    pub fn insert_raw(&self, key: &BlobKey, bytes: Vec<u8>) {
        self.lock().insert(key.clone(), bytes);
    }

    /// The keys stored, in no particular order.
    pub fn keys(&self) -> Vec<BlobKey> {
        self.lock().keys().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<BlobKey, Vec<u8>>> {
        self.blobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl BlobStore for MemoryBlobs {
    fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.lock().get(key).cloned())
    }

    fn create(&self, key: &BlobKey, bytes: Vec<u8>) -> Result<bool, Error> {
        let mut blobs = self.lock();
        if blobs.contains_key(key) {
            return Ok(false);
        }
        blobs.insert(key.clone(), bytes);
        Ok(true)
    }
}
