//! [`LandscapeEvaluator`]: a recorded landscape as a real [`Evaluator`], for rehearsing
//! a deployment (several workers, leases, crashes) without building an index.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hnswtune_core::{
    DatasetFingerprint, Error, EvalRequest, Evaluation, Evaluator, IndexName, Params, SearchSpace,
};

use crate::Landscape;

/// Answers each request with a recorded repeat of its config (as [`crate::Replay`]
/// does) and sleeps the recorded seconds times `time_scale`: the build's on first use
/// of its build key in this process, plus the search's. So a worker using it spends
/// time and makes builds in the proportions a real study would, at any speed.
///
/// ```
/// use hnswtune_core::{EvalRequest, Evaluator, IndexName};
/// use hnswtune_propose::{AnalyticLandscape, LandscapeEvaluator};
/// let landscape = AnalyticLandscape::default().build()?;
/// let params = landscape.configs().next().unwrap().clone();
/// let evaluator = LandscapeEvaluator::new(landscape.into(), 0.0, 7);
/// let request = EvalRequest {
///     index: IndexName::new("rehearsal")?,
///     eval_set: "landscape".into(),
///     params,
///     seed: 0,
///     deterministic: true,
/// };
/// let first = evaluator.evaluate(&request)?;
/// assert!(first.metrics.recall > 0.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LandscapeEvaluator {
    landscape: Arc<Landscape>,
    time_scale: f64,
    seed: u64,
    built: Mutex<BTreeMap<Params, usize>>,
}

impl LandscapeEvaluator {
    /// An evaluator over `landscape` that sleeps `time_scale` × the recorded seconds
    /// (0 does not sleep) and picks repeats with `seed`.
    pub fn new(landscape: Arc<Landscape>, time_scale: f64, seed: u64) -> Self {
        LandscapeEvaluator {
            landscape,
            time_scale: if time_scale.is_finite() {
                time_scale.max(0.0)
            } else {
                0.0
            },
            seed,
            built: Mutex::new(BTreeMap::new()),
        }
    }

    /// The landscape.
    pub fn landscape(&self) -> &Landscape {
        &self.landscape
    }
}

impl Evaluator for LandscapeEvaluator {
    fn dataset(&self, _index: &IndexName) -> Result<DatasetFingerprint, Error> {
        Ok(DatasetFingerprint {
            vector_count: 0,
            dimension: 0,
            content_hash: format!("landscape:{}", self.landscape.name()),
        })
    }

    fn evaluate(&self, request: &EvalRequest) -> Result<Evaluation, Error> {
        let answer = {
            let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
            self.landscape
                .answer(self.seed, &mut built, &request.params)
        };
        let (metrics, build_secs) = answer.ok_or_else(|| {
            Error::invalid(
                "params",
                format!(
                    "the landscape {} has no record of {}",
                    self.landscape.name(),
                    request.params
                ),
            )
        })?;
        let secs = (build_secs + metrics.search_secs) * self.time_scale;
        if secs > 0.0 {
            std::thread::sleep(Duration::from_secs_f64(secs.min(3600.0)));
        }
        Ok(Evaluation {
            metrics,
            dataset: self.dataset(&request.index)?,
            threads: 1,
        })
    }

    fn search_space(&self) -> Option<SearchSpace> {
        Some(self.landscape.space().clone())
    }
}
