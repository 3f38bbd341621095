//! [`HnswEvaluator`]: the core [`Evaluator`] over any [`IndexBackend`], a
//! [`VectorSource`] and eval sets.
//!
//! One evaluation:
//!
//! 1. fetch the index's vectors and fingerprint them (xxh3 content hash, memoised per
//!    `Arc`);
//! 2. split the params by the backend's declared phases (unknown names are errors);
//! 3. load the ground truth for (eval set, data), computing and persisting it once;
//! 4. reuse the build from the [`BuildCache`] when (data, backend, build params, seed,
//!    threads) match ([`BuildKind::Cached`]); else, when the backend declares
//!    [`Capabilities::incremental_insert`](crate::Capabilities::incremental_insert) and the
//!    cache holds the same config built over a prefix of the data, extend that build with
//!    the appended rows ([`BuildKind::Extended`]); else build and time it
//!    ([`BuildKind::Fresh`], 1 thread when the request is deterministic);
//! 5. apply the search params (instant-distance: the ef patch);
//! 6. the timed passes of [`crate::latency`] measure latency and keep every query's
//!    answer, from which recall is computed (no separate answers pass).
//!
//! **Extension is checked, not assumed.** A cached build is extended only when the xxh3
//! hash of the first `n` rows of the new data equals the hash its key was built on (`n`
//! its row count), so changed or reordered rows always cause a fresh build. The extended
//! build replaces the prefix build in the cache (the old data is gone from the source), and
//! the trial's `build_secs` is the time of the extension alone. A prefix build whose `Arc`
//! some caller still holds is not mutated; the evaluator builds afresh instead. (A searcher
//! does not hold the build's `Arc`: a usearch searcher made before the extension shares the
//! index and sees the appended rows.) A failed extension drops the prefix build.
//!
//! [`Evaluator::compare`] prepares both configs the same way and measures them interleaved
//! ([`latency::compare_interleaved`]), so the agent decides promotions on latencies taken
//! under the same machine conditions.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use hnswtune_core::{
    AbComparison, BuildKind, DatasetFingerprint, EvalRequest, Evaluation, Evaluator, IndexName,
    SearchSpace, TrialMetrics,
};

use crate::backend::{BuildOptions, IndexBackend, Searcher};
use crate::cache::{BuildCache, BuildKey, SharedIndex};
use crate::error::{Error, Result};
use crate::eval_set::{EvalSet, EvalStore};
use crate::ground_truth::GroundTruth;
use crate::latency::{self, LatencyOptions, LatencySummary};
use crate::recall::{self, RecallSummary};
use crate::vectors::Vectors;

/// Where an index's vectors come from.
pub trait VectorSource: Send + Sync + Debug {
    /// The current vectors of `index`. Returning a new `Arc` signals new data (for
    /// example after an append); the same `Arc` lets the evaluator reuse its fingerprint.
    fn vectors(&self, index: &IndexName) -> Result<Arc<Vectors>>;
}

/// A [`VectorSource`] holding vectors in memory, replaceable per index.
#[derive(Debug, Default)]
pub struct InMemorySource {
    indexes: RwLock<HashMap<String, Arc<Vectors>>>,
}

impl InMemorySource {
    /// An empty source.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets (or replaces) the vectors of `index`.
    pub fn insert(&self, index: &IndexName, vectors: Arc<Vectors>) {
        self.indexes
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(index.as_str().to_owned(), vectors);
    }
}

impl VectorSource for InMemorySource {
    fn vectors(&self, index: &IndexName) -> Result<Arc<Vectors>> {
        self.indexes
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(index.as_str())
            .cloned()
            .ok_or_else(|| Error::NotFound {
                what: format!("vectors of index {index}"),
            })
    }
}

/// The fingerprint of `vectors` in the core's form.
pub fn fingerprint(vectors: &Vectors) -> DatasetFingerprint {
    DatasetFingerprint {
        vector_count: vectors.len() as u64,
        dimension: vectors.dim() as u32,
        content_hash: format!("{:016x}", vectors.content_hash()),
    }
}

/// Tunables of the evaluator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EvaluatorOptions {
    /// How latency is measured.
    pub latency: LatencyOptions,
    /// ε of the tolerant recall.
    pub epsilon: f32,
    /// Build threads for non-deterministic requests.
    pub threads: usize,
    /// Bound of the build cache, bytes.
    pub cache_bytes: u64,
}

impl Default for EvaluatorOptions {
    fn default() -> Self {
        EvaluatorOptions {
            latency: LatencyOptions::default(),
            epsilon: recall::DEFAULT_EPSILON,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cache_bytes: 2 << 30,
        }
    }
}

/// Everything one evaluation measured, beyond the core's [`TrialMetrics`].
#[derive(Clone, Debug)]
pub struct Measurement {
    /// The core metrics (what the journal stores).
    pub metrics: TrialMetrics,
    /// The data measured on.
    pub dataset: DatasetFingerprint,
    /// Build threads.
    pub threads: u32,
    /// Seconds the build took when it was built, even if this evaluation reused it.
    pub original_build_secs: f64,
    /// Seconds spent turning the build into a searcher (the ef patch).
    pub prepare_secs: f64,
    /// The latency passes.
    pub latency: LatencySummary,
    /// Both recalls.
    pub recall: RecallSummary,
    /// Whether the ground truth was computed (not loaded) for this evaluation.
    pub ground_truth_computed: bool,
}

struct Prepared {
    base: Arc<Vectors>,
    dataset: DatasetFingerprint,
    set: Arc<EvalSet>,
    truth: Arc<GroundTruth>,
    index: SharedIndex,
    searcher: Arc<dyn Searcher>,
    build_kind: BuildKind,
    build_secs: f64,
    original_build_secs: f64,
    prepare_secs: f64,
    threads: usize,
    truth_computed: bool,
}

/// The harness's [`Evaluator`].
///
/// ```
/// use std::sync::Arc;
/// use hnswtune_core::{EvalRequest, Evaluator, IndexName, Params, EF_CONSTRUCTION, EF_SEARCH};
/// use hnswtune_harness::{EvalSet, HnswEvaluator, InMemorySource, Metric, backend::instant::InstantDistance, testdata::clustered};
///
/// let index = IndexName::new("docs")?;
/// let source = Arc::new(InMemorySource::new());
/// source.insert(&index, Arc::new(clustered(500, 16, 4, 1, Metric::Cosine)));
/// let evaluator = HnswEvaluator::new(Arc::new(InstantDistance::default()), source);
/// evaluator.add_eval_set(EvalSet::new("smoke", clustered(20, 16, 4, 2, Metric::Cosine), 5, None)?);
/// let request = EvalRequest {
///     index,
///     eval_set: "smoke".into(),
///     params: Params::new().with(EF_CONSTRUCTION, 40).with(EF_SEARCH, 40),
///     seed: 7,
///     deterministic: true,
/// };
/// let evaluation = evaluator.evaluate(&request)?;
/// assert!(evaluation.metrics.recall > 0.8);
/// assert_eq!(evaluation.threads, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct HnswEvaluator {
    backend: Arc<dyn IndexBackend>,
    source: Arc<dyn VectorSource>,
    store: Option<EvalStore>,
    options: EvaluatorOptions,
    eval_sets: RwLock<HashMap<String, Arc<EvalSet>>>,
    truths: Mutex<HashMap<(String, String, usize), Arc<GroundTruth>>>,
    fingerprints: Mutex<HashMap<String, (Arc<Vectors>, DatasetFingerprint)>>,
    build_secs: Mutex<HashMap<BuildKey, f64>>,
    cache: BuildCache,
}

impl HnswEvaluator {
    /// An evaluator with default options and no persistent store.
    pub fn new(backend: Arc<dyn IndexBackend>, source: Arc<dyn VectorSource>) -> Self {
        Self::with_options(backend, source, EvaluatorOptions::default())
    }

    /// An evaluator with explicit options.
    pub fn with_options(
        backend: Arc<dyn IndexBackend>,
        source: Arc<dyn VectorSource>,
        options: EvaluatorOptions,
    ) -> Self {
        HnswEvaluator {
            backend,
            source,
            store: None,
            options,
            eval_sets: RwLock::default(),
            truths: Mutex::default(),
            fingerprints: Mutex::default(),
            build_secs: Mutex::default(),
            cache: BuildCache::new(options.cache_bytes),
        }
    }

    /// Persists eval sets and ground truth in `store` (and loads them from it).
    pub fn with_store(mut self, store: EvalStore) -> Self {
        self.store = Some(store);
        self
    }

    /// Registers an eval set in memory (it takes precedence over the store).
    pub fn add_eval_set(&self, set: EvalSet) {
        self.eval_sets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(set.name.clone(), Arc::new(set));
    }

    /// The backend evaluated.
    pub fn backend(&self) -> &Arc<dyn IndexBackend> {
        &self.backend
    }

    /// The build cache.
    pub fn cache(&self) -> &BuildCache {
        &self.cache
    }

    /// The options in force.
    pub fn options(&self) -> &EvaluatorOptions {
        &self.options
    }

    fn eval_set(&self, name: &str) -> Result<Arc<EvalSet>> {
        if let Some(set) = self
            .eval_sets
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
        {
            return Ok(Arc::clone(set));
        }
        let missing = || Error::NotFound {
            what: format!("eval set {name:?}"),
        };
        let store = self.store.as_ref().ok_or_else(missing)?;
        let set = Arc::new(store.get_eval_set(name)?.ok_or_else(missing)?);
        self.eval_sets
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(name.to_owned(), Arc::clone(&set));
        Ok(set)
    }

    fn data(&self, index: &IndexName) -> Result<(Arc<Vectors>, DatasetFingerprint)> {
        let base = self.source.vectors(index)?;
        let mut memo = self
            .fingerprints
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((held, fp)) = memo.get(index.as_str())
            && Arc::ptr_eq(held, &base)
        {
            return Ok((base, fp.clone()));
        }
        let fp = fingerprint(&base);
        memo.insert(index.as_str().to_owned(), (Arc::clone(&base), fp.clone()));
        Ok((base, fp))
    }

    fn truth(
        &self,
        set: &EvalSet,
        base: &Vectors,
        dataset: &DatasetFingerprint,
    ) -> Result<(Arc<GroundTruth>, bool)> {
        let key = (set.name.clone(), dataset.content_hash.clone(), set.k);
        if let Some(t) = self
            .truths
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
        {
            return Ok((Arc::clone(t), false));
        }
        let (truth, computed) = match &self.store {
            Some(store) => store.ground_truth(set, base)?,
            None => (
                crate::ground_truth::compute(base, &set.queries, set.k)?,
                true,
            ),
        };
        let truth = Arc::new(truth);
        self.truths
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(key, Arc::clone(&truth));
        Ok((truth, computed))
    }

    fn prepare(&self, request: &EvalRequest) -> Result<Prepared> {
        let (base, dataset) = self.data(&request.index)?;
        let set = self.eval_set(&request.eval_set)?;
        base.check_compatible("eval set queries", &set.queries)?;
        if set.k > base.len() {
            return Err(Error::InvalidK {
                k: set.k,
                limit: base.len(),
            });
        }
        let (build_params, search_params) = self.backend.split_params(&request.params)?;
        let build_params = self.backend.effective_build_params(&build_params)?;
        let threads = if request.deterministic {
            1
        } else {
            self.options.threads.max(1)
        };
        let key = BuildKey {
            backend: self.backend.name().to_owned(),
            dataset_hash: dataset.content_hash.clone(),
            vector_count: dataset.vector_count,
            build_params: build_params.clone(),
            seed: request.seed,
            threads,
        };
        // Build first: a bad build parameter should fail before ground truth is computed.
        let (index, build_kind, build_secs) = match self.cache.get(&key) {
            Some(index) => (index, BuildKind::Cached, 0.0),
            None => {
                let (index, kind, secs) = match self.extend_cached(&key, &base)? {
                    Some((index, secs)) => (index, BuildKind::Extended, secs),
                    None => {
                        let started = Instant::now();
                        let options = BuildOptions {
                            seed: request.seed,
                            threads,
                        };
                        let index: SharedIndex =
                            Arc::from(self.backend.build(&base, &build_params, &options)?);
                        (index, BuildKind::Fresh, started.elapsed().as_secs_f64())
                    }
                };
                self.cache.insert(key.clone(), Arc::clone(&index));
                self.build_secs
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .insert(key.clone(), secs);
                (index, kind, secs)
            }
        };
        let original_build_secs = self
            .build_secs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&key)
            .copied()
            .unwrap_or(build_secs);
        let started = Instant::now();
        let searcher = index.searcher(&search_params)?;
        let prepare_secs = started.elapsed().as_secs_f64();
        if let Some(max_k) = searcher.max_k()
            && set.k > max_k
        {
            return Err(Error::KExceedsEfSearch {
                k: set.k,
                ef_search: max_k,
            });
        }
        let (truth, truth_computed) = self.truth(&set, &base, &dataset)?;
        Ok(Prepared {
            base,
            dataset,
            set,
            truth,
            index,
            searcher,
            build_kind,
            build_secs,
            original_build_secs,
            prepare_secs,
            threads,
            truth_computed,
        })
    }

    /// Extends a cached build of `key`'s config whose data is a prefix of `base`, when the
    /// backend can insert incrementally. Returns the extended build and the seconds the
    /// extension took, or `None` when a fresh build is needed.
    fn extend_cached(&self, key: &BuildKey, base: &Vectors) -> Result<Option<(SharedIndex, f64)>> {
        if !self.backend.capabilities().incremental_insert {
            return Ok(None);
        }
        for candidate in self.cache.extendable(key) {
            let Ok(rows) = usize::try_from(candidate.vector_count) else {
                continue;
            };
            if rows == 0
                || format!("{:016x}", base.prefix_content_hash(rows)) != candidate.dataset_hash
            {
                continue;
            }
            let Some(mut index) = self.cache.remove(&candidate) else {
                continue;
            };
            let Some(exclusive) = Arc::get_mut(&mut index) else {
                // Someone still holds the prefix build: leave it untouched and build afresh.
                self.cache.insert(candidate, index);
                return Ok(None);
            };
            if exclusive.len() != rows {
                self.cache.insert(candidate, index);
                continue;
            }
            let started = Instant::now();
            exclusive.extend(base)?;
            return Ok(Some((index, started.elapsed().as_secs_f64())));
        }
        Ok(None)
    }

    fn answers(p: &Prepared) -> Result<Vec<Vec<u32>>> {
        let k = p.set.k;
        p.set
            .queries
            .rows()
            .map(|q| {
                let mut out = Vec::with_capacity(k);
                p.searcher.search(q, k, &mut out)?;
                Ok(out)
            })
            .collect()
    }

    fn recall_of(&self, p: &Prepared) -> Result<RecallSummary> {
        Ok(self.recall_from(p, &Self::answers(p)?))
    }

    fn recall_from(&self, p: &Prepared, found: &[Vec<u32>]) -> RecallSummary {
        recall::summarise(
            &p.base,
            &p.set.queries,
            &p.truth,
            found,
            p.set.k,
            self.options.epsilon,
        )
    }

    fn metrics(p: &Prepared, recall: RecallSummary, latency: &LatencySummary) -> TrialMetrics {
        TrialMetrics {
            build_secs: p.build_secs,
            search_p50_us: latency.p50_us,
            search_p95_us: latency.p95_us,
            search_p99_us: latency.p99_us,
            qps: latency.qps,
            recall: recall.recall,
            recall_tolerant: recall.recall_tolerant,
            k: p.set.k as u32,
            index_bytes: p.index.index_bytes(),
            vector_count: p.base.len() as u64,
            eval_query_count: p.set.queries.len() as u64,
            brute_force_us: p.truth.brute_force_us_per_query,
            search_secs: latency.runs.iter().map(|r| r.search_secs).sum(),
            build_kind: p.build_kind,
            config_build_secs: Some(p.original_build_secs),
            p50_pass_spread: (latency.runs.len() >= 2).then(|| latency.p50_spread()),
        }
    }

    /// Evaluates `request` and returns everything measured, including the latency passes
    /// and the original build time of a reused build.
    pub fn measure(&self, request: &EvalRequest) -> Result<Measurement> {
        let p = self.prepare(request)?;
        let queries = &p.set.queries;
        // The timed passes keep each query's answer (every pass writes the same ids
        // into the same buffer), so recall needs no pass of its own: a search-only
        // trial costs the warm-up plus the timed passes.
        let mut found: Vec<Vec<u32>> = (0..queries.len())
            .map(|_| Vec::with_capacity(p.set.k))
            .collect();
        let latency = latency::measure(queries.len(), &self.options.latency, |q| {
            p.searcher.search(queries.row(q), p.set.k, &mut found[q])
        })?;
        let recall = self.recall_from(&p, &found);
        Ok(Measurement {
            metrics: Self::metrics(&p, recall, &latency),
            dataset: p.dataset.clone(),
            threads: p.threads as u32,
            original_build_secs: p.original_build_secs,
            prepare_secs: p.prepare_secs,
            latency,
            recall,
            ground_truth_computed: p.truth_computed,
        })
    }

    /// Measures two configs interleaved, returning both latency summaries and the ratio.
    pub fn compare_detailed(
        &self,
        champion: &EvalRequest,
        challenger: &EvalRequest,
        repeats: usize,
    ) -> Result<(latency::AbLatency, RecallSummary, RecallSummary)> {
        if champion.index != challenger.index || champion.eval_set != challenger.eval_set {
            return Err(Error::invalid(
                "comparison",
                "champion and challenger must use the same index and eval set",
            ));
        }
        let a = self.prepare(champion)?;
        let b = self.prepare(challenger)?;
        let recall_a = self.recall_of(&a)?;
        let recall_b = self.recall_of(&b)?;
        let queries = &a.set.queries;
        let k = a.set.k;
        let options = LatencyOptions {
            repeats: repeats.max(1),
            ..self.options.latency
        };
        let (mut out_a, mut out_b) = (Vec::with_capacity(k), Vec::with_capacity(k));
        let ab = latency::compare_interleaved(
            queries.len(),
            &options,
            |q| a.searcher.search(queries.row(q), k, &mut out_a),
            |q| b.searcher.search(queries.row(q), k, &mut out_b),
        )?;
        Ok((ab, recall_a, recall_b))
    }
}

impl Evaluator for HnswEvaluator {
    fn dataset(&self, index: &IndexName) -> hnswtune_core::Result<DatasetFingerprint> {
        Ok(self.data(index)?.1)
    }

    fn evaluate(&self, request: &EvalRequest) -> hnswtune_core::Result<Evaluation> {
        let m = self.measure(request)?;
        Ok(Evaluation {
            metrics: m.metrics,
            dataset: m.dataset,
            threads: m.threads,
        })
    }

    fn compare(
        &self,
        champion: &EvalRequest,
        challenger: &EvalRequest,
        repeats: usize,
    ) -> hnswtune_core::Result<AbComparison> {
        let (ab, recall_a, recall_b) = self.compare_detailed(champion, challenger, repeats)?;
        Ok(AbComparison {
            champion_p50_us: ab.a.runs.iter().map(|r| r.p50_us).collect(),
            challenger_p50_us: ab.b.runs.iter().map(|r| r.p50_us).collect(),
            champion_recall: recall_a.recall,
            challenger_recall: recall_b.recall,
        })
    }

    fn search_space(&self) -> Option<SearchSpace> {
        self.backend.search_space().ok()
    }

    fn parameter_names(&self) -> Option<Vec<String>> {
        Some(
            self.backend
                .parameters()
                .into_iter()
                .map(|s| s.name)
                .collect(),
        )
    }
}
