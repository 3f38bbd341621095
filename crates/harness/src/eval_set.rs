//! Eval sets and their ground truth, persisted through object_store next to the journal.
//!
//! An [`EvalSet`] is a named set of query vectors with optional texts and the `k` of
//! recall@k. Its ground truth depends on the base it is measured against, so it is stored
//! per (eval set, base content hash): when data is appended the hash changes and the ground
//! truth is recomputed once, never reused on data it does not describe.
//!
//! Layout under the store prefix (JSON, one object per key):
//!
//! ```text
//! {prefix}/eval-sets/{name}.json
//! {prefix}/ground-truth/{name}/{base_hash:016x}-{base_len}-k{k}.json
//! ```
//!
//! The methods are async, as object_store is; [`block_on`] runs them from the synchronous
//! evaluator (which the agent calls on a blocking thread).

use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ground_truth::GroundTruth;
use crate::vectors::Vectors;

/// A named set of queries with the `k` of recall@k.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalSet {
    /// A storage-safe name: ASCII letters, digits, `.`, `_`, `-`; 1 to 128 bytes.
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
    let ok = !name.is_empty()
        && name.len() <= 128
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "eval set name",
            format!("{name:?} must be 1-128 bytes of ASCII letters, digits, '.', '_' or '-'"),
        ))
    }
}

/// Runs an object-store future to completion on the current thread.
///
/// Safe on a tokio blocking thread (`spawn_blocking`) and outside any runtime; do not call
/// it on an async worker thread, where it would block the executor.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures::executor::block_on(future)
}

/// Eval sets and ground truth on an object store.
#[derive(Clone, Debug)]
pub struct EvalStore {
    store: Arc<dyn ObjectStore>,
    prefix: Path,
}

impl EvalStore {
    /// Stores under `prefix` (for example the journal's root) in `store`.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: impl Into<Path>) -> Self {
        EvalStore {
            store,
            prefix: prefix.into(),
        }
    }

    fn eval_key(&self, name: &str) -> Path {
        self.prefix
            .clone()
            .join("eval-sets")
            .join(format!("{name}.json"))
    }

    fn truth_key(&self, name: &str, base: &Vectors, k: usize) -> Path {
        self.prefix
            .clone()
            .join("ground-truth")
            .join(name)
            .join(format!(
                "{:016x}-{}-k{k}.json",
                base.content_hash(),
                base.len()
            ))
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, key: &Path) -> Result<Option<T>> {
        let got = match self.store.get(key).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(source) => {
                return Err(Error::Store {
                    op: format!("get {key}"),
                    source,
                });
            }
        };
        let bytes = got.bytes().await.map_err(|source| Error::Store {
            op: format!("read {key}"),
            source,
        })?;
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                what: key.to_string(),
                why: e.to_string(),
            })
    }

    async fn put_json<T: Serialize>(&self, key: &Path, value: &T) -> Result<()> {
        let body = serde_json::to_vec(value).map_err(|e| Error::Corrupt {
            what: key.to_string(),
            why: format!("cannot encode: {e}"),
        })?;
        self.store
            .put(key, bytes::Bytes::from(body).into())
            .await
            .map(|_| ())
            .map_err(|source| Error::Store {
                op: format!("put {key}"),
                source,
            })
    }

    /// Saves (or replaces) an eval set.
    pub async fn put_eval_set(&self, set: &EvalSet) -> Result<()> {
        check_name(&set.name)?;
        self.put_json(&self.eval_key(&set.name), set).await
    }

    /// Loads an eval set; `Ok(None)` when there is none of that name.
    pub async fn get_eval_set(&self, name: &str) -> Result<Option<EvalSet>> {
        check_name(name)?;
        let set: Option<EvalSet> = self.get_json(&self.eval_key(name)).await?;
        match set {
            Some(s) if s.name != name => Err(Error::Corrupt {
                what: self.eval_key(name).to_string(),
                why: format!("holds eval set {:?}", s.name),
            }),
            other => Ok(other),
        }
    }

    /// Saves the ground truth of eval set `name` against `base`.
    pub async fn put_ground_truth(
        &self,
        name: &str,
        base: &Vectors,
        truth: &GroundTruth,
    ) -> Result<()> {
        check_name(name)?;
        self.put_json(&self.truth_key(name, base, truth.k), truth)
            .await
    }

    /// Loads the stored ground truth of `set` against `base`, if any. A stored object
    /// that does not match the base or the queries is [`Error::Corrupt`].
    pub async fn get_ground_truth(
        &self,
        set: &EvalSet,
        base: &Vectors,
    ) -> Result<Option<GroundTruth>> {
        let key = self.truth_key(&set.name, base, set.k);
        let truth: Option<GroundTruth> = self.get_json(&key).await?;
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
    pub async fn ground_truth(&self, set: &EvalSet, base: &Vectors) -> Result<(GroundTruth, bool)> {
        if let Some(t) = self.get_ground_truth(set, base).await? {
            return Ok((t, false));
        }
        let truth = crate::ground_truth::compute(base, &set.queries, set.k)?;
        self.put_ground_truth(&set.name, base, &truth).await?;
        Ok((truth, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::clustered;
    use crate::vectors::Metric;
    use object_store::memory::InMemory;

    #[test]
    fn eval_sets_and_ground_truth_round_trip_and_are_keyed_by_base() {
        let store = EvalStore::new(Arc::new(InMemory::new()), "journal/root");
        let base = clustered(400, 8, 4, 1, Metric::Cosine);
        let set = EvalSet::new("smoke", clustered(10, 8, 4, 2, Metric::Cosine), 5, None).unwrap();
        block_on(store.put_eval_set(&set)).unwrap();
        assert_eq!(
            block_on(store.get_eval_set("smoke")).unwrap(),
            Some(set.clone())
        );
        assert_eq!(block_on(store.get_eval_set("other")).unwrap(), None);

        let (first, computed) = block_on(store.ground_truth(&set, &base)).unwrap();
        assert!(computed);
        let (again, computed) = block_on(store.ground_truth(&set, &base)).unwrap();
        assert!(!computed);
        assert_eq!(first, again);
        // Other data (an append) is a different key: computed afresh.
        let grown = clustered(401, 8, 4, 1, Metric::Cosine);
        let (_, computed) = block_on(store.ground_truth(&set, &grown)).unwrap();
        assert!(computed);
    }

    #[test]
    fn bad_names_texts_and_k_are_rejected() {
        let q = clustered(3, 4, 2, 1, Metric::L2);
        assert!(EvalSet::new("../x", q.clone(), 1, None).is_err());
        assert!(EvalSet::new("", q.clone(), 1, None).is_err());
        assert!(matches!(
            EvalSet::new("a", q.clone(), 0, None),
            Err(Error::InvalidK { .. })
        ));
        assert!(EvalSet::new("a", q, 1, Some(vec!["one".into()])).is_err());
    }

    #[test]
    fn corrupt_objects_are_reported() {
        let mem = Arc::new(InMemory::new());
        let store = EvalStore::new(mem.clone(), "p");
        block_on(mem.put(
            &Path::from("p/eval-sets/bad.json"),
            bytes::Bytes::from_static(b"{not json").into(),
        ))
        .unwrap();
        assert!(matches!(
            block_on(store.get_eval_set("bad")),
            Err(Error::Corrupt { .. })
        ));
    }
}
