//! The evaluator seam: turn a config into measurements.
//!
//! Evaluation is CPU-bound and blocking (an index build can take a minute), so the
//! trait is synchronous; the agent calls it from a blocking thread. The harness crate
//! implements it over real index libraries; hosts and tests can implement it too.

use std::fmt::Debug;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{
    AbComparison, DatasetFingerprint, Error, IndexName, Params, SearchSpace, TrialMetrics,
};

/// What to measure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalRequest {
    /// The index whose data to use.
    pub index: IndexName,
    /// The eval set to measure against.
    pub eval_set: String,
    /// The config.
    pub params: Params,
    /// The build seed.
    pub seed: u64,
    /// Build in one thread so that the result is reproducible.
    pub deterministic: bool,
}

/// What was measured, and on what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The measurements.
    pub metrics: TrialMetrics,
    /// The data they were measured on.
    pub dataset: DatasetFingerprint,
    /// Threads the build used.
    pub threads: u32,
}

/// Measures configs.
pub trait Evaluator: Send + Sync + Debug {
    /// The fingerprint of the data `index` would be measured on now.
    fn dataset(&self, index: &IndexName) -> Result<DatasetFingerprint, Error>;

    /// Builds (or reuses) an index with `request.params` and measures it.
    fn evaluate(&self, request: &EvalRequest) -> Result<Evaluation, Error>;

    /// Measures `champion` and `challenger` alternately, `repeats` times each, so that
    /// machine drift affects both alike. The default alternates whole evaluations; the
    /// harness overrides it with a per-run interleaving of two built indexes.
    fn compare(
        &self,
        champion: &EvalRequest,
        challenger: &EvalRequest,
        repeats: usize,
    ) -> Result<AbComparison, Error> {
        compare_by_alternating(self, champion, challenger, repeats)
    }

    /// The parameters this evaluator reads, with their phases and bounds, when it knows
    /// them. The harness derives the space from its backend's capabilities (usearch adds
    /// `m`); the agent checks an index's space against it before the first trial. The
    /// default, `None`, means "unknown" and skips the check.
    fn search_space(&self) -> Option<SearchSpace> {
        None
    }

    /// Every parameter name this evaluator reads, tunable by default or not (the
    /// harness: its backend's parameters, e.g. instant-distance's `ml_milli`). The agent
    /// refuses a space naming anything else. Defaults to the names of
    /// [`Evaluator::search_space`].
    fn parameter_names(&self) -> Option<Vec<String>> {
        self.search_space()
            .map(|space| space.specs().iter().map(|s| s.name.clone()).collect())
    }
}

/// The default [`Evaluator::compare`]: alternates whole evaluations of `champion` and
/// `challenger`, `repeats` times (at least once). Public so that an implementation that
/// overrides `compare` for bookkeeping can still fall back to it.
pub fn compare_by_alternating<E: Evaluator + ?Sized>(
    evaluator: &E,
    champion: &EvalRequest,
    challenger: &EvalRequest,
    repeats: usize,
) -> Result<AbComparison, Error> {
    let mut ab = AbComparison::default();
    for _ in 0..repeats.max(1) {
        let a = evaluator.evaluate(champion)?;
        let b = evaluator.evaluate(challenger)?;
        ab.champion_p50_us.push(a.metrics.search_p50_us);
        ab.challenger_p50_us.push(b.metrics.search_p50_us);
        ab.champion_recall = a.metrics.recall;
        ab.challenger_recall = b.metrics.recall;
    }
    Ok(ab)
}

macro_rules! forward_evaluator {
    ($($ty:ty),*) => {$(
        impl<T: Evaluator + ?Sized> Evaluator for $ty {
            fn dataset(&self, index: &IndexName) -> Result<DatasetFingerprint, Error> {
                (**self).dataset(index)
            }
            fn evaluate(&self, request: &EvalRequest) -> Result<Evaluation, Error> {
                (**self).evaluate(request)
            }
            fn compare(&self, a: &EvalRequest, b: &EvalRequest, repeats: usize) -> Result<AbComparison, Error> {
                (**self).compare(a, b, repeats)
            }
            fn search_space(&self) -> Option<SearchSpace> {
                (**self).search_space()
            }
            fn parameter_names(&self) -> Option<Vec<String>> {
                (**self).parameter_names()
            }
        }
    )*};
}
forward_evaluator!(Arc<T>, &T, Box<T>);
