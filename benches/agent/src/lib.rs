//! Measures the hnswtune agent's own cost per trial.
//!
//! The agent's overhead is everything a trial costs besides the evaluator: reading the
//! journal, proposing, recording the running and finished states, screening and
//! bookkeeping the promotion, and the hops to and from the blocking pool. It is
//! measured as the wall time of [`hnswtune_agent::tune`] minus the time spent inside
//! the evaluator (a [`TimedEvaluator`] around the testkit's analytic fake, whose own
//! work is a few arithmetic operations), on an in-memory journal that already holds
//! `prior_trials` trials, so the growth with history shows.
//!
//! Run it with `cargo bench -p hnswtune-bench-agent`; `docs/agent.md` records the
//! figures and relates them to real build times.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hnswtune_agent::{AgentConfig, AgentError, Backends, IndexSettings, NoObserver, StudyBudget};
use hnswtune_core::{
    AbComparison, DatasetFingerprint, EF_CONSTRUCTION, EF_SEARCH, Error, EvalRequest, Evaluation,
    Evaluator, IndexName, Params, Trial, TrialJournal, TriggerReason,
};
use hnswtune_propose::{EpsilonGreedy, EpsilonGreedyConfig, Frontier, FrontierConfig, Proposer};
use hnswtune_testkit::fakes::{FakeEvaluator, MemoryJournal, MemoryRegistry, analytic_metrics};

/// An evaluator wrapper that adds up the time spent inside the wrapped evaluator.
#[derive(Debug)]
pub struct TimedEvaluator<E> {
    inner: E,
    nanos: AtomicU64,
}

impl<E> TimedEvaluator<E> {
    /// Wraps `inner`.
    pub fn new(inner: E) -> Self {
        TimedEvaluator {
            inner,
            nanos: AtomicU64::new(0),
        }
    }

    /// Microseconds spent inside the evaluator so far.
    pub fn spent_us(&self) -> f64 {
        self.nanos.load(Ordering::Relaxed) as f64 / 1e3
    }

    fn timed<T>(&self, call: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let value = call();
        self.nanos
            .fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        value
    }
}

impl<E: Evaluator> Evaluator for TimedEvaluator<E> {
    fn dataset(&self, index: &IndexName) -> Result<DatasetFingerprint, Error> {
        self.timed(|| self.inner.dataset(index))
    }

    fn evaluate(&self, request: &EvalRequest) -> Result<Evaluation, Error> {
        self.timed(|| self.inner.evaluate(request))
    }

    fn compare(
        &self,
        champion: &EvalRequest,
        challenger: &EvalRequest,
        repeats: usize,
    ) -> Result<AbComparison, Error> {
        self.timed(|| self.inner.compare(champion, challenger, repeats))
    }
}

/// The proposer a measurement uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// The seed's ε-greedy.
    EpsilonGreedy,
    /// The frontier search.
    Frontier,
}

impl Strategy {
    fn build(self) -> Result<Arc<dyn Proposer>, AgentError> {
        Ok(match self {
            Strategy::EpsilonGreedy => {
                Arc::new(EpsilonGreedy::new(EpsilonGreedyConfig::default())?)
            }
            Strategy::Frontier => Arc::new(Frontier::new(FrontierConfig::default())?),
        })
    }

    /// The strategy's recorded name.
    pub fn name(self) -> &'static str {
        match self {
            Strategy::EpsilonGreedy => "epsilon_greedy",
            Strategy::Frontier => "frontier",
        }
    }
}

/// The result of one measurement.
#[derive(Clone, Debug)]
pub struct Overhead {
    /// The proposer used.
    pub strategy: Strategy,
    /// Trials in the journal before the measured ones.
    pub prior_trials: usize,
    /// Trials measured.
    pub trials: usize,
    /// Wall time of the whole study, microseconds.
    pub total_us: f64,
    /// Of which inside the evaluator, microseconds.
    pub evaluator_us: f64,
}

impl Overhead {
    /// The agent's own time per trial, microseconds.
    pub fn per_trial_us(&self) -> f64 {
        (self.total_us - self.evaluator_us).max(0.0) / self.trials.max(1) as f64
    }

    /// The agent's own time per trial as a fraction of a build of `build_secs`.
    pub fn share_of_build(&self, build_secs: f64) -> f64 {
        self.per_trial_us() / (build_secs * 1e6)
    }
}

/// A journal of `n` completed trials of `index` on `dataset`, spread over the seed's
/// space.
async fn prefill(
    journal: &MemoryJournal,
    index: &IndexName,
    dataset: &DatasetFingerprint,
    n: usize,
) -> Result<(), Error> {
    let configs = (1..=40)
        .map(|i| i * 10)
        .flat_map(|c| (10..=200).step_by(3).map(move |s| (c, s)))
        .take(n);
    for (ef_construction, ef_search) in configs {
        let params = Params::new()
            .with(EF_CONSTRUCTION, ef_construction)
            .with(EF_SEARCH, ef_search);
        let metrics = analytic_metrics(&params, dataset);
        let trial = Trial::start(
            index.clone(),
            "eval",
            params,
            dataset.clone(),
            TriggerReason::Periodic,
        )
        .complete(metrics);
        journal.append(&trial).await?;
    }
    Ok(())
}

/// Runs a study of `trials` trials after `prior_trials` earlier ones and reports the
/// agent's own time.
pub fn measure(
    strategy: Strategy,
    prior_trials: usize,
    trials: usize,
) -> Result<Overhead, AgentError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| AgentError::EvaluatorLost {
            why: format!("cannot start a runtime: {e}"),
        })?;
    runtime.block_on(async {
        let index = IndexName::new("bench")?;
        let journal = Arc::new(MemoryJournal::new());
        let fake = FakeEvaluator::new();
        prefill(&journal, &index, &fake.dataset(&index)?, prior_trials).await?;
        let evaluator = Arc::new(TimedEvaluator::new(fake));
        let backends = Backends::new(
            journal.clone(),
            Arc::new(MemoryRegistry::new()),
            evaluator.clone(),
        );
        let settings = IndexSettings::new(index, "eval", strategy.build()?);
        let start = Instant::now();
        let report = hnswtune_agent::tune(
            &AgentConfig::default(),
            &backends,
            &settings,
            StudyBudget::trials(trials),
            &NoObserver,
        )
        .await?;
        let total_us = start.elapsed().as_secs_f64() * 1e6;
        Ok(Overhead {
            strategy,
            prior_trials,
            trials: report.trials.len(),
            total_us,
            evaluator_us: evaluator.spent_us(),
        })
    })
}
