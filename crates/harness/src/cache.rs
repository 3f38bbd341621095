//! The build cache: built indexes keyed by what determines them, bounded by bytes (LRU).
//!
//! A build is determined by the data ([`Vectors::content_hash`](crate::Vectors::content_hash)
//! and size), the backend, the build-phase parameters, the seed and the thread count (a
//! parallel build differs from a 1-thread build with the same seed). Search-phase parameters
//! are not part of the key, so a trial that changes only `ef_search` reuses the build.
//!
//! The bound counts each entry's measured [`BuiltIndex::index_bytes`]. Inserting evicts the
//! least recently used entries until the new one fits; an entry larger than the whole bound
//! is not kept at all. Entries are `Arc`s, so an evicted index that a caller still holds
//! stays alive until that caller drops it.

use std::sync::{Arc, Mutex};

use hnswtune_core::Params;
use serde::{Deserialize, Serialize};

use crate::backend::BuiltIndex;

/// Everything that determines a build.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BuildKey {
    /// The backend's name.
    pub backend: String,
    /// The data's content hash (hex, [`crate::fingerprint`]).
    pub dataset_hash: String,
    /// The data's row count.
    pub vector_count: u64,
    /// The build-phase parameters only.
    pub build_params: Params,
    /// The build seed.
    pub seed: u64,
    /// The build pool's thread count.
    pub threads: usize,
}

/// A shared built index.
pub type SharedIndex = Arc<dyn BuiltIndex>;

#[derive(Debug)]
struct Entry {
    key: BuildKey,
    index: SharedIndex,
    bytes: u64,
    last_used: u64,
}

#[derive(Debug, Default)]
struct Inner {
    entries: Vec<Entry>,
    tick: u64,
    hits: u64,
    misses: u64,
}

/// A byte-bounded LRU cache of built indexes.
///
/// ```
/// use hnswtune_harness::cache::BuildCache;
/// let cache = BuildCache::new(1 << 30);
/// assert_eq!(cache.held_bytes(), 0);
/// ```
#[derive(Debug)]
pub struct BuildCache {
    capacity_bytes: u64,
    inner: Mutex<Inner>,
}

impl BuildCache {
    /// A cache that never holds more than `capacity_bytes` of indexes.
    pub fn new(capacity_bytes: u64) -> Self {
        BuildCache {
            capacity_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The cache holds no invariant a panicking holder could break half-way.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The bound in bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_bytes
    }

    /// Bytes held now.
    pub fn held_bytes(&self) -> u64 {
        self.lock().entries.iter().map(|e| e.bytes).sum()
    }

    /// Number of entries held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `(hits, misses)` of [`BuildCache::get`] so far.
    pub fn stats(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.hits, inner.misses)
    }

    /// The index built for `key`, marking it most recently used.
    pub fn get(&self, key: &BuildKey) -> Option<SharedIndex> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let found = inner.entries.iter_mut().find(|e| &e.key == key).map(|e| {
            e.last_used = tick;
            Arc::clone(&e.index)
        });
        match found {
            Some(_) => inner.hits += 1,
            None => inner.misses += 1,
        }
        found
    }

    /// Stores `index` under `key`, evicting least recently used entries to stay within the
    /// bound. Returns false (and stores nothing) when the index alone exceeds the bound.
    pub fn insert(&self, key: BuildKey, index: SharedIndex) -> bool {
        let bytes = index.index_bytes();
        let mut inner = self.lock();
        inner.entries.retain(|e| e.key != key);
        if bytes > self.capacity_bytes {
            return false;
        }
        while inner.entries.iter().map(|e| e.bytes).sum::<u64>() + bytes > self.capacity_bytes {
            let Some(oldest) = inner
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.last_used)
                .map(|(i, _)| i)
            else {
                break;
            };
            inner.entries.swap_remove(oldest);
        }
        inner.tick += 1;
        let last_used = inner.tick;
        inner.entries.push(Entry {
            key,
            index,
            bytes,
            last_used,
        });
        true
    }

    /// Removes and returns the index held under `key`.
    pub fn remove(&self, key: &BuildKey) -> Option<SharedIndex> {
        let mut inner = self.lock();
        let at = inner.entries.iter().position(|e| &e.key == key)?;
        Some(inner.entries.swap_remove(at).index)
    }

    /// Keys of held builds that `key`'s build could extend: the same backend, build
    /// params, seed and threads over fewer rows, most rows first. Whether their data is a
    /// prefix of `key`'s is for the caller to check; the key holds only a hash.
    pub fn extendable(&self, key: &BuildKey) -> Vec<BuildKey> {
        let inner = self.lock();
        let mut found: Vec<BuildKey> = inner
            .entries
            .iter()
            .map(|e| &e.key)
            .filter(|k| {
                k.backend == key.backend
                    && k.build_params == key.build_params
                    && k.seed == key.seed
                    && k.threads == key.threads
                    && k.vector_count < key.vector_count
            })
            .cloned()
            .collect();
        found.sort_by_key(|k| std::cmp::Reverse(k.vector_count));
        found
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.lock().entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Searcher;
    use crate::error::Result;

    #[derive(Debug)]
    struct Fake(u64);
    impl BuiltIndex for Fake {
        fn searcher(&self, _: &Params) -> Result<Arc<dyn Searcher>> {
            Err(crate::Error::invalid("fake", "no search"))
        }
        fn index_bytes(&self) -> u64 {
            self.0
        }
        fn len(&self) -> usize {
            0
        }
    }

    fn key(seed: u64) -> BuildKey {
        BuildKey {
            backend: "fake".into(),
            dataset_hash: "d".into(),
            vector_count: 10,
            build_params: Params::new().with("ef_construction", 10),
            seed,
            threads: 1,
        }
    }

    #[test]
    fn evicts_least_recently_used_and_respects_the_bound() {
        let cache = BuildCache::new(100);
        assert!(cache.insert(key(1), Arc::new(Fake(40))));
        assert!(cache.insert(key(2), Arc::new(Fake(40))));
        assert!(cache.get(&key(1)).is_some()); // 1 is now fresher than 2
        assert!(cache.insert(key(3), Arc::new(Fake(40))));
        assert!(cache.get(&key(2)).is_none());
        assert!(cache.get(&key(1)).is_some());
        assert!(cache.get(&key(3)).is_some());
        assert!(cache.held_bytes() <= 100);
        assert!(!cache.insert(key(4), Arc::new(Fake(101))));
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.stats(), (3, 1));
        // Re-inserting a key replaces it rather than duplicating it.
        assert!(cache.insert(key(3), Arc::new(Fake(10))));
        assert_eq!(cache.held_bytes(), 50);
        cache.clear();
        assert!(cache.is_empty());
    }

    #[test]
    fn extendable_lists_smaller_builds_of_the_same_config_and_remove_takes_them() {
        let cache = BuildCache::new(1000);
        let with_rows = |seed: u64, rows: u64| BuildKey {
            vector_count: rows,
            dataset_hash: format!("h{rows}"),
            ..key(seed)
        };
        cache.insert(with_rows(1, 5), Arc::new(Fake(1)));
        cache.insert(with_rows(1, 8), Arc::new(Fake(1)));
        cache.insert(with_rows(1, 12), Arc::new(Fake(1)));
        cache.insert(with_rows(2, 5), Arc::new(Fake(1)));
        let found = cache.extendable(&with_rows(1, 10));
        let rows: Vec<u64> = found.iter().map(|k| k.vector_count).collect();
        assert_eq!(rows, [8, 5]);
        assert!(cache.remove(&found[0]).is_some());
        assert!(cache.remove(&found[0]).is_none());
        assert_eq!(cache.len(), 3);
    }
}
