//! Eval sets and their ground truth, persisted next to the journal through the core's
//! [`BlobStore`] seam (hnswtune-journal's `ObjectStoreBlobs` on object_store).
//!
//! An [`EvalSet`] is a named set of query vectors with optional texts and the `k` of
//! recall@k. Its ground truth depends on the base it is measured against, so it is stored
//! per (eval set, base content hash): when data is appended the hash changes and the ground
//! truth is recomputed once, never reused on data it does not describe.
//!
//! Blob keys under the store's prefix (JSON, one object per key):
//!
//! ```text
//! {prefix}/eval-sets/{name}.json
//! {prefix}/ground-truth/{name}/{base_hash:016x}-{base_len}-k{k}.json
//! ```
//!
//! Blobs are written once (`create`): an eval set that is saved again must hold the
//! same queries, and a ground truth that another process stored first is kept (it is
//! the same exact answer). Like the seam, the methods block; the evaluator calls them
//! on the blocking thread it runs on.

use std::sync::Arc;

use hnswtune_core::{BlobKey, BlobStore, IndexName};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ground_truth::GroundTruth;
use crate::vectors::Vectors;

/// A named set of queries with the `k` of recall@k.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalSet {
    /// A storage-safe name, under the same rule as an index name
    /// ([`IndexName::new`]): ASCII letters, digits, `.`, `_`, `-`, not starting with
    /// `.`, 1 to 200 bytes.
    pub name: String,
    /// The k of recall@k.
    pub k: usize,
    /// The query vectors, prepared for the base's metric.
    pub queries: Vectors,
    /// The query texts, if known (one per query).
    #[serde(default)]
    pub texts: Option<Vec<String>>,
}

impl EvalSet {
    /// Validates and assembles an eval set.
    ///
    /// ```
    /// use hnswtune_harness::{EvalSet, Metric, Vectors};
    /// let q = Vectors::new("queries", 2, vec![1.0, 0.0], Metric::Cosine)?;
    /// let set = EvalSet::new("smoke", q, 1, Some(vec!["hello".into()]))?;
    /// assert_eq!(set.k, 1);
    /// # Ok::<(), hnswtune_harness::Error>(())
    /// ```
    pub fn new(
        name: impl Into<String>,
        queries: Vectors,
        k: usize,
        texts: Option<Vec<String>>,
    ) -> Result<Self> {
        let name = name.into();
        check_name(&name)?;
        if k == 0 {
            return Err(Error::InvalidK { k, limit: 0 });
        }
        if let Some(t) = &texts
            && t.len() != queries.len()
        {
            return Err(Error::invalid(
                "eval set texts",
                format!("{} texts for {} queries", t.len(), queries.len()),
            ));
        }
        Ok(EvalSet {
            name,
            k,
            queries,
            texts,
        })
    }
}

fn check_name(name: &str) -> Result<()> {
    IndexName::new(name).map(|_| ()).map_err(|e| match e {
        hnswtune_core::Error::InvalidName { why, .. } => {
            Error::invalid("eval set name", format!("{name:?}: {why}"))
        }
        other => Error::Core(other),
    })
}

/// Eval sets and ground truth in a [`BlobStore`].
#[derive(Clone, Debug)]
pub struct EvalStore {
    blobs: Arc<dyn BlobStore>,
}

impl EvalStore {
    /// Keeps eval sets and ground truth in `blobs` (for example hnswtune-journal's
    /// `ObjectStoreBlobs` on the journal's location).
    pub fn new(blobs: Arc<dyn BlobStore>) -> Self {
        EvalStore { blobs }
    }

    fn eval_key(name: &str) -> Result<BlobKey> {
        Ok(BlobKey::new([
            "eval-sets".to_owned(),
            format!("{name}.json"),
        ])?)
    }

    fn truth_key(name: &str, base: &Vectors, k: usize) -> Result<BlobKey> {
        Ok(BlobKey::new([
            "ground-truth".to_owned(),
            name.to_owned(),
            format!("{:016x}-{}-k{k}.json", base.content_hash(), base.len()),
        ])?)
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, key: &BlobKey) -> Result<Option<T>> {
        let Some(bytes) = self.blobs.get(key)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                what: key.to_string(),
                why: e.to_string(),
            })
    }

    /// Writes `value` at `key` unless a blob is there; true when this call wrote it.
    fn create_json<T: Serialize>(&self, key: &BlobKey, value: &T) -> Result<bool> {
        let body = serde_json::to_vec(value).map_err(|e| Error::Corrupt {
            what: key.to_string(),
            why: format!("cannot encode: {e}"),
        })?;
        Ok(self.blobs.create(key, body)?)
    }

    /// Saves an eval set. Saving the same set again is a no-op; a different set under
    /// a name already taken is refused ([`Error::InvalidInput`]), since measurements
    /// recorded against the name would otherwise change meaning.
    pub fn put_eval_set(&self, set: &EvalSet) -> Result<()> {
        check_name(&set.name)?;
        let key = Self::eval_key(&set.name)?;
        if self.create_json(&key, set)? {
            return Ok(());
        }
        match self.get_eval_set(&set.name)? {
            Some(stored) if stored == *set => Ok(()),
            _ => Err(Error::invalid(
                "eval set",
                format!(
                    "the store already holds another eval set named {:?}; give this one \
                     another name",
                    set.name
                ),
            )),
        }
    }

    /// Loads an eval set; `Ok(None)` when there is none of that name.
    pub fn get_eval_set(&self, name: &str) -> Result<Option<EvalSet>> {
        check_name(name)?;
        let key = Self::eval_key(name)?;
        let set: Option<EvalSet> = self.get_json(&key)?;
        match set {
            Some(s) if s.name != name => Err(Error::Corrupt {
                what: key.to_string(),
                why: format!("holds eval set {:?}", s.name),
            }),
            other => Ok(other),
        }
    }

    /// Saves the ground truth of eval set `name` against `base`, unless one is stored
    /// already (it describes the same base and queries, so it is kept).
    pub fn put_ground_truth(&self, name: &str, base: &Vectors, truth: &GroundTruth) -> Result<()> {
        check_name(name)?;
        self.create_json(&Self::truth_key(name, base, truth.k)?, truth)?;
        Ok(())
    }

    /// Loads the stored ground truth of `set` against `base`, if any. A stored object
    /// that does not match the base or the queries is [`Error::Corrupt`].
    pub fn get_ground_truth(&self, set: &EvalSet, base: &Vectors) -> Result<Option<GroundTruth>> {
        let key = Self::truth_key(&set.name, base, set.k)?;
        let truth: Option<GroundTruth> = self.get_json(&key)?;
        if let Some(t) = &truth {
            t.check_matches(base, &set.queries, set.k)
                .map_err(|e| Error::Corrupt {
                    what: key.to_string(),
                    why: e.to_string(),
                })?;
        }
        Ok(truth)
    }

    /// The ground truth of `set` against `base`: loaded when stored, otherwise computed
    /// (in parallel) and saved. Returns whether it was computed.
    pub fn ground_truth(&self, set: &EvalSet, base: &Vectors) -> Result<(GroundTruth, bool)> {
        if let Some(t) = self.get_ground_truth(set, base)? {
            return Ok((t, false));
        }
        let truth = crate::ground_truth::compute(base, &set.queries, set.k)?;
        self.put_ground_truth(&set.name, base, &truth)?;
        Ok((truth, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::clustered;
    use crate::vectors::Metric;
    use hnswtune_testkit::fakes::MemoryBlobs;

    #[test]
    fn eval_sets_and_ground_truth_round_trip_and_are_keyed_by_base() {
        let blobs = Arc::new(MemoryBlobs::new());
        let store = EvalStore::new(blobs.clone());
        let base = clustered(400, 8, 4, 1, Metric::Cosine);
        let set = EvalSet::new("smoke", clustered(10, 8, 4, 2, Metric::Cosine), 5, None).unwrap();
        store.put_eval_set(&set).unwrap();
        store.put_eval_set(&set).unwrap();
        assert_eq!(store.get_eval_set("smoke").unwrap(), Some(set.clone()));
        assert_eq!(store.get_eval_set("other").unwrap(), None);
        // Another set under a taken name is refused, and the first one stays.
        let other = EvalSet::new("smoke", clustered(10, 8, 4, 3, Metric::Cosine), 5, None).unwrap();
        assert!(matches!(
            store.put_eval_set(&other),
            Err(Error::InvalidInput { .. })
        ));
        assert_eq!(store.get_eval_set("smoke").unwrap(), Some(set.clone()));

        let (first, computed) = store.ground_truth(&set, &base).unwrap();
        assert!(computed);
        let (again, computed) = store.ground_truth(&set, &base).unwrap();
        assert!(!computed);
        assert_eq!(first, again);
        // Other data (an append) is a different key: computed afresh.
        let grown = clustered(401, 8, 4, 1, Metric::Cosine);
        let (_, computed) = store.ground_truth(&set, &grown).unwrap();
        assert!(computed);
        let mut keys: Vec<String> = blobs.keys().iter().map(ToString::to_string).collect();
        keys.sort();
        assert_eq!(keys.len(), 3, "{keys:?}");
        assert_eq!(keys[0], "eval-sets/smoke.json");
        assert!(keys[1].starts_with("ground-truth/smoke/"), "{keys:?}");
    }

    #[test]
    fn bad_names_texts_and_k_are_rejected() {
        let q = clustered(3, 4, 2, 1, Metric::L2);
        assert!(EvalSet::new("../x", q.clone(), 1, None).is_err());
        assert!(EvalSet::new("", q.clone(), 1, None).is_err());
        assert!(EvalSet::new(".hidden", q.clone(), 1, None).is_err());
        assert!(EvalSet::new("a".repeat(201), q.clone(), 1, None).is_err());
        assert!(EvalSet::new("a".repeat(200), q.clone(), 1, None).is_ok());
        assert!(matches!(
            EvalSet::new("a", q.clone(), 0, None),
            Err(Error::InvalidK { .. })
        ));
        assert!(EvalSet::new("a", q, 1, Some(vec!["one".into()])).is_err());
    }

    #[test]
    fn corrupt_objects_are_reported() {
        let blobs = Arc::new(MemoryBlobs::new());
        let store = EvalStore::new(blobs.clone());
        blobs.insert_raw(
            &BlobKey::new(["eval-sets", "bad.json"]).unwrap(),
            b"{not json".to_vec(),
        );
        assert!(matches!(
            store.get_eval_set("bad"),
            Err(Error::Corrupt { .. })
        ));
    }
}
