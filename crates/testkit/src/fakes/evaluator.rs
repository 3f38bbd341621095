//! An evaluator whose measurements are a function of the params.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use hnswtune_core::{
    AbComparison, BuildKind, DatasetFingerprint, EF_CONSTRUCTION, EF_SEARCH, Error, EvalRequest,
    Evaluation, Evaluator, IndexName, Params, TrialMetrics,
};
use tokio::sync::Notify;

/// Computes the metrics of one evaluation.
pub type MetricsFn =
    dyn Fn(&EvalRequest, &DatasetFingerprint) -> Result<TrialMetrics, Error> + Send + Sync;

/// Computes one A/B comparison `(champion, challenger, repeats)`.
pub type CompareFn =
    dyn Fn(&EvalRequest, &EvalRequest, usize) -> Result<AbComparison, Error> + Send + Sync;

/// A fingerprint for `vector_count` vectors of dimension 32 whose hash is derived from
/// the count, so that appending data changes it.
pub fn fingerprint(vector_count: u64) -> DatasetFingerprint {
    DatasetFingerprint {
        vector_count,
        dimension: 32,
        content_hash: format!("{vector_count:016x}{:016x}", vector_count.wrapping_mul(31)),
    }
}

/// A smooth, monotone model of HNSW on `dataset`, so tests can reason about outcomes:
///
/// - recall rises with `ef_search` and `ef_construction` and falls as the data grows:
///   `1 − e^(−ef_search/30) · (0.5 + 0.5·e^(−ef_construction/100)) · √(n/1000)`;
/// - p50 grows linearly with `ef_search` (and a little with `ef_construction`) and
///   logarithmically with `n`;
/// - build time grows with `ef_construction · n`.
///
/// Missing parameters take the seed's defaults (100 and 64).
pub fn analytic_metrics(params: &Params, dataset: &DatasetFingerprint) -> TrialMetrics {
    let ef_c = params.int(EF_CONSTRUCTION).unwrap_or(100) as f64;
    let ef_s = params.int(EF_SEARCH).unwrap_or(64) as f64;
    let n = dataset.vector_count.max(1) as f64;
    let miss = (-ef_s / 30.0).exp() * (0.5 + 0.5 * (-ef_c / 100.0).exp()) * (n / 1000.0).sqrt();
    let recall = (1.0 - miss).clamp(0.0, 1.0);
    let scale = (n.ln() / 1000f64.ln()).max(0.1);
    let p50 = (10.0 + 1.5 * ef_s + 0.05 * ef_c) * scale;
    TrialMetrics {
        build_secs: ef_c * n / 1e5,
        search_p50_us: p50,
        search_p95_us: p50 * 1.4,
        search_p99_us: p50 * 1.8,
        qps: 1e6 / p50,
        recall,
        recall_tolerant: recall,
        k: 10,
        index_bytes: dataset.vector_count * (u64::from(dataset.dimension) * 4 + 128),
        vector_count: dataset.vector_count,
        eval_query_count: 100,
        brute_force_us: n * 0.05,
        search_secs: p50 * 100.0 / 1e6,
        build_kind: BuildKind::Fresh,
        config_build_secs: None,
        p50_pass_spread: None,
    }
}

/// Blocks evaluations until opened, and tells a test when one has started: a long
/// build without a real sleep.
#[derive(Clone, Debug, Default)]
pub struct EvalGate {
    open: Arc<(Mutex<bool>, Condvar)>,
    started: Arc<Notify>,
}

impl EvalGate {
    /// A closed gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Waits until an evaluation has reached the gate (returns at once if one already
    /// has and nobody waited for it yet).
    pub async fn wait_started(&self) {
        self.started.notified().await;
    }

    /// Opens the gate for good: held and later evaluations proceed.
    pub fn open(&self) {
        let (lock, cvar) = &*self.open;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cvar.notify_all();
    }

    fn pass(&self) {
        self.started.notify_one();
        let (lock, cvar) = &*self.open;
        let mut open = lock.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = cvar.wait(open).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// An [`Evaluator`] whose metrics come from a function of the request and the current
/// fingerprint ([`analytic_metrics`] unless replaced).
pub struct FakeEvaluator {
    model: Arc<MetricsFn>,
    comparator: Option<Arc<CompareFn>>,
    datasets: Mutex<HashMap<IndexName, DatasetFingerprint>>,
    default_dataset: DatasetFingerprint,
    delay: Option<Duration>,
    gate: Option<EvalGate>,
    fail_evaluations: AtomicU64,
    evaluations: AtomicU64,
    comparisons: AtomicU64,
}

impl fmt::Debug for FakeEvaluator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeEvaluator")
            .field("default_dataset", &self.default_dataset)
            .field("delay", &self.delay)
            .field("gated", &self.gate.is_some())
            .field("custom_comparator", &self.comparator.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for FakeEvaluator {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeEvaluator {
    /// The analytic model on 1,000 vectors for every index.
    pub fn new() -> Self {
        Self::with_model(|request, dataset| Ok(analytic_metrics(&request.params, dataset)))
    }

    /// An evaluator computing metrics with `model`.
    pub fn with_model(
        model: impl Fn(&EvalRequest, &DatasetFingerprint) -> Result<TrialMetrics, Error>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        FakeEvaluator {
            model: Arc::new(model),
            comparator: None,
            datasets: Mutex::new(HashMap::new()),
            default_dataset: fingerprint(1000),
            delay: None,
            gate: None,
            fail_evaluations: AtomicU64::new(0),
            evaluations: AtomicU64::new(0),
            comparisons: AtomicU64::new(0),
        }
    }

    /// Answers A/B comparisons with `comparator` instead of re-running the model.
    pub fn with_comparator(
        mut self,
        comparator: impl Fn(&EvalRequest, &EvalRequest, usize) -> Result<AbComparison, Error>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.comparator = Some(Arc::new(comparator));
        self
    }

    /// Sleeps for `delay` in every evaluation (benchmarks only; tests use a gate).
    pub fn with_delay(mut self, delay: Duration) -> Self {
        self.delay = Some(delay);
        self
    }

    /// Blocks every evaluation on `gate` until it is opened.
    pub fn with_gate(mut self, gate: EvalGate) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Sets the data `index` is measured on.
    pub fn set_dataset(&self, index: &IndexName, dataset: DatasetFingerprint) {
        self.lock_datasets().insert(index.clone(), dataset);
    }

    /// Simulates `added` vectors appended to `index`'s data: the count and the
    /// fingerprint change. Returns the new fingerprint.
    pub fn append_vectors(&self, index: &IndexName, added: u64) -> DatasetFingerprint {
        let mut datasets = self.lock_datasets();
        let current = datasets
            .get(index)
            .map_or(self.default_dataset.vector_count, |d| d.vector_count);
        let next = fingerprint(current + added);
        datasets.insert(index.clone(), next.clone());
        next
    }

    /// Makes the next `n` evaluations fail with [`Error::Evaluation`].
    pub fn fail_next_evaluations(&self, n: u64) {
        self.fail_evaluations.store(n, Ordering::SeqCst);
    }

    /// Evaluations run so far (including those inside comparisons).
    pub fn evaluations(&self) -> u64 {
        self.evaluations.load(Ordering::SeqCst)
    }

    /// Comparisons run so far.
    pub fn comparisons(&self) -> u64 {
        self.comparisons.load(Ordering::SeqCst)
    }

    fn lock_datasets(&self) -> std::sync::MutexGuard<'_, HashMap<IndexName, DatasetFingerprint>> {
        self.datasets.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Evaluator for FakeEvaluator {
    fn dataset(&self, index: &IndexName) -> Result<DatasetFingerprint, Error> {
        Ok(self
            .lock_datasets()
            .get(index)
            .cloned()
            .unwrap_or_else(|| self.default_dataset.clone()))
    }

    fn evaluate(&self, request: &EvalRequest) -> Result<Evaluation, Error> {
        self.evaluations.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.pass();
        }
        if let Some(delay) = self.delay {
            std::thread::sleep(delay);
        }
        if super::journal::take_failure(&self.fail_evaluations) {
            return Err(Error::Evaluation {
                why: format!("injected failure building {}", request.params),
            });
        }
        let dataset = self.dataset(&request.index)?;
        let metrics = (self.model)(request, &dataset)?;
        Ok(Evaluation {
            metrics,
            dataset,
            threads: if request.deterministic { 1 } else { 4 },
        })
    }

    fn compare(
        &self,
        champion: &EvalRequest,
        challenger: &EvalRequest,
        repeats: usize,
    ) -> Result<AbComparison, Error> {
        self.comparisons.fetch_add(1, Ordering::SeqCst);
        if let Some(comparator) = &self.comparator {
            return comparator(champion, challenger, repeats);
        }
        hnswtune_core::compare_by_alternating(self, champion, challenger, repeats)
    }
}
