//! Proposer strategies for hnswtune: which config to try next.
//!
//! A [`Proposer`] reads the search space, the trial history (Running and Failed trials
//! included), the champion and the [`Objective`], and returns the next config, or
//! `None` once every config of the space has been tried. Five strategies implement it,
//! one file each:
//!
//! - [`Frontier`]: bisects each build for its cheapest feasible `ef_search` and opens
//!   only builds that measured neighbours cannot prove dominated. The recommended one.
//! - [`Grid`]: every point once, coarse to fine.
//! - [`Annealing`]: simulated annealing with a recall penalty and a shrinking
//!   neighbourhood.
//! - [`EpsilonGreedy`]: the seed's ε-greedy local search, configurable.
//! - [`Random`]: uniform without replacement, the baseline.
//!
//! [`StrategyKind`] names them for hosts and the CLI. [`Landscape`] holds a recorded
//! table of measurements (JSON lines of [`hnswtune_core::Trial`]) and replays it as a
//! simulated evaluator ([`Replay`]); [`measure_efficiency`] runs every strategy on a
//! landscape over many seeds and returns an [`EfficiencyTable`] of builds, trials and
//! simulated seconds to reach a near-optimal config.
//!
//! ## Where it sits
//!
//! It depends on `hnswtune-core` only: no tokio, no object_store, no index library. A
//! host that only wants to choose configs pulls in nothing else; `hnswtune-agent`
//! drives a [`Proposer`] through the trait object.
//!
//! ## Why it is built this way
//!
//! A proposal is a pure function of (settings, space, history): strategies derive
//! their RNG from a configured seed mixed with a digest of the projected history, and
//! keep nothing between calls that could change a proposal. That makes every decision reproducible from the journal,
//! lets a study resume after a restart, and lets several agents share one journal.
//! Every strategy honours the same contract, checked for all of them by one
//! conformance suite (`tests/conformance.rs`):
//!
//! - proposals lie in the space, on its steps;
//! - no config of the history (any state) is proposed again;
//! - `None` only when the space is exhausted;
//! - history entries are read through [`SearchSpace::project`]: names the space lacks
//!   are dropped and entries that are not a valid point of the space are ignored.
//!
//! Cost is counted in builds and in seconds, not only in trials: an HNSW build takes
//! tens of seconds while a search-time change on a cached build takes a fraction of
//! one, so strategies prefer search-time moves on builds that already exist.
//!
//! ## Feature flags
//!
//! None.
//!
//! ## Example
//!
//! ```
//! use hnswtune_core::{Objective, Params, Trial};
//! use hnswtune_propose::{AnalyticLandscape, Frontier, ProposalContext, Proposer};
//!
//! // A small synthetic landscape stands in for a real evaluator.
//! let landscape = AnalyticLandscape::default().build()?;
//! let mut replay = landscape.replay(7);
//! let objective = Objective::new(0.95)?;
//! let frontier = Frontier::seeded(7);
//! let mut history: Vec<Trial> = Vec::new();
//! for _ in 0..20 {
//!     let ctx = ProposalContext {
//!         space: landscape.space(),
//!         history: &history,
//!         champion: objective.best(&history),
//!         objective: &objective,
//!     };
//!     let Some(params) = frontier.propose(&ctx)? else { break };
//!     assert!(landscape.space().contains(&params));
//!     history.push(replay.trial(&params, frontier.name())?);
//! }
//! let best = objective.best(&history).expect("a feasible config within 20 trials");
//! let optimum = landscape.best_feasible(0.95).expect("the landscape has one");
//! assert!(landscape.truth(&best.params).unwrap().p50_us <= optimum.1 * 1.10);
//! assert!(replay.builds() * 2 < 20, "most trials reuse a build");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod annealing;
mod convergence;
mod efficiency;
mod epsilon_greedy;
mod frontier;
mod grid;
mod landscape;
mod lattice;
mod noise;
mod random;
mod rehearsal;
mod tpe;

pub use annealing::{Annealing, AnnealingConfig, acceptance_probability};
pub use convergence::{Assessment, Candidate, Convergence, assess, assess_with};
pub use efficiency::{
    EfficiencyRow, EfficiencySettings, EfficiencyTable, RunOutcome, STOP_HORIZON, Spread,
    StopOutcome, measure_efficiency, run_replay,
};
pub use epsilon_greedy::{EpsilonGreedy, EpsilonGreedyConfig};
pub use frontier::{Frontier, FrontierConfig};
pub use grid::Grid;
pub use landscape::{AnalyticLandscape, ConfigTruth, Landscape, Replay};
pub use noise::{PRIOR_P50_SPREAD, PRIOR_WEIGHT, StudyNoise};
pub use random::Random;
pub use rehearsal::LandscapeEvaluator;
pub use tpe::{MAX_OBSERVED, STARTUP_TRIALS, Tpe};

use std::fmt::Debug;
use std::sync::Arc;

use hnswtune_core::{Objective, Params, SearchSpace, SpaceError, Trial};

/// Everything a proposer may look at.
#[derive(Clone, Copy, Debug)]
pub struct ProposalContext<'a> {
    /// The space to propose from; every proposal must validate against it.
    pub space: &'a SearchSpace,
    /// Every trial of the index so far, in creation order, in any state (Running,
    /// Failed and Pruned included). Entries from another space are ignored by the rule
    /// of [`SearchSpace::project`].
    pub history: &'a [Trial],
    /// The current champion, if any.
    pub champion: Option<&'a Trial>,
    /// What "better" means.
    pub objective: &'a Objective,
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProposeError {
    /// A strategy was configured with a value it cannot work with.
    #[error("invalid {what}: {why}")]
    InvalidConfig {
        /// The setting.
        what: String,
        /// Why it was rejected.
        why: String,
    },
    /// The space is unusable.
    #[error(transparent)]
    Space(#[from] SpaceError),
    /// A landscape file or table that cannot be used.
    #[error("invalid landscape {source_name}: {why}")]
    Landscape {
        /// The file (or name) of the landscape, with the line where known.
        source_name: String,
        /// What is wrong.
        why: String,
    },
    /// A landscape file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl ProposeError {
    /// Shorthand for [`ProposeError::InvalidConfig`].
    pub fn invalid(what: impl Into<String>, why: impl Into<String>) -> Self {
        ProposeError::InvalidConfig {
            what: what.into(),
            why: why.into(),
        }
    }
}

impl From<ProposeError> for hnswtune_core::Error {
    fn from(e: ProposeError) -> Self {
        match e {
            ProposeError::InvalidConfig { what, why } => {
                hnswtune_core::Error::InvalidInput { what, why }
            }
            ProposeError::Space(s) => hnswtune_core::Error::Space(s),
            ProposeError::Landscape { source_name, why } => hnswtune_core::Error::Corrupt {
                key: source_name,
                why,
            },
            ProposeError::Io { path, source } => hnswtune_core::Error::Backend {
                op: format!("read {path}"),
                source: Box::new(source),
            },
        }
    }
}

/// Chooses the next config from the history.
///
/// Contract, checked for every strategy by the conformance suite:
/// - deterministic: the same configuration (seed), space and history give the same
///   proposal; no global entropy;
/// - every proposal lies in the space, on its steps;
/// - no config already in the history (whatever its state) is proposed again;
/// - `Ok(None)` only when every config of the space is in the history.
pub trait Proposer: Send + Sync + Debug {
    /// A short, stable name recorded in each trial (`"frontier"`, `"grid"`, ...).
    fn name(&self) -> &str;

    /// The next config to try, or `None` when the space is exhausted.
    fn propose(&self, ctx: &ProposalContext<'_>) -> Result<Option<Params>, ProposeError>;

    /// `Some` when, by this strategy's account, the study is done: no untried config
    /// is expected to beat the champion by more than the noise. A study stops there
    /// ([`assess`] is the model [`Frontier`] answers with). The default, `None`, claims
    /// nothing: a strategy without a model of the landscape runs until its budget ends.
    fn convergence(&self, ctx: &ProposalContext<'_>) -> Option<Convergence> {
        let _ = ctx;
        None
    }
}

macro_rules! forward_proposer {
    ($($ty:ty),*) => {$(
        impl<T: Proposer + ?Sized> Proposer for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn propose(&self, ctx: &ProposalContext<'_>) -> Result<Option<Params>, ProposeError> {
                (**self).propose(ctx)
            }
            fn convergence(&self, ctx: &ProposalContext<'_>) -> Option<Convergence> {
                (**self).convergence(ctx)
            }
        }
    )*};
}
forward_proposer!(Arc<T>, &T, Box<T>);

/// The strategies of this crate, by name.
///
/// ```
/// use hnswtune_propose::StrategyKind;
/// let kind: StrategyKind = "frontier".parse()?;
/// assert_eq!(kind.build(3).name(), "frontier");
/// assert!("bogus".parse::<StrategyKind>().is_err());
/// # Ok::<(), hnswtune_propose::ProposeError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum StrategyKind {
    /// [`Frontier`].
    Frontier,
    /// [`Grid`].
    Grid,
    /// [`Annealing`].
    Annealing,
    /// [`EpsilonGreedy`].
    EpsilonGreedy,
    /// [`Random`].
    Random,
    /// [`Tpe`].
    Tpe,
}

impl StrategyKind {
    /// Every strategy, the recommended one first.
    pub const ALL: [StrategyKind; 6] = [
        StrategyKind::Frontier,
        StrategyKind::Grid,
        StrategyKind::Annealing,
        StrategyKind::EpsilonGreedy,
        StrategyKind::Random,
        StrategyKind::Tpe,
    ];

    /// The stable name, as recorded in trials.
    pub fn name(self) -> &'static str {
        match self {
            StrategyKind::Frontier => "frontier",
            StrategyKind::Grid => "grid",
            StrategyKind::Annealing => "annealing",
            StrategyKind::EpsilonGreedy => "epsilon_greedy",
            StrategyKind::Random => "random",
            StrategyKind::Tpe => "tpe",
        }
    }

    /// The strategy with its default settings and `seed`.
    pub fn build(self, seed: u64) -> Box<dyn Proposer> {
        match self {
            StrategyKind::Frontier => Box::new(Frontier::seeded(seed)),
            StrategyKind::Grid => Box::new(Grid::new()),
            StrategyKind::Annealing => Box::new(Annealing::seeded(seed)),
            StrategyKind::EpsilonGreedy => Box::new(EpsilonGreedy::seeded(seed)),
            StrategyKind::Random => Box::new(Random::seeded(seed)),
            StrategyKind::Tpe => Box::new(Tpe::seeded(seed)),
        }
    }
}

impl std::fmt::Display for StrategyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for StrategyKind {
    type Err = ProposeError;
    fn from_str(s: &str) -> Result<Self, ProposeError> {
        let wanted = s.trim().to_ascii_lowercase().replace('-', "_");
        StrategyKind::ALL
            .into_iter()
            .find(|k| {
                k.name() == wanted || (wanted == "epsilon" && *k == StrategyKind::EpsilonGreedy)
            })
            .ok_or_else(|| {
                ProposeError::invalid(
                    "strategy",
                    format!(
                        "{s:?} is not one of {}",
                        StrategyKind::ALL.map(StrategyKind::name).join(", ")
                    ),
                )
            })
    }
}

/// Small builders for the unit tests of this crate.
#[cfg(test)]
pub(crate) mod test_support {
    use hnswtune_core::{
        BuildKind, DatasetFingerprint, IndexName, Params, Trial, TrialMetrics, TriggerReason,
    };

    /// Metrics with the given recall and p50 and plausible figures elsewhere.
    pub(crate) fn metrics(recall: f64, p50_us: f64) -> TrialMetrics {
        TrialMetrics {
            build_secs: 1.0,
            search_p50_us: p50_us,
            search_p95_us: p50_us * 1.5,
            search_p99_us: p50_us * 2.0,
            qps: 1e6 / p50_us,
            recall,
            recall_tolerant: recall,
            k: 10,
            index_bytes: 1 << 20,
            vector_count: 1_000,
            eval_query_count: 100,
            brute_force_us: 500.0,
            search_secs: 0.1,
            build_kind: BuildKind::Fresh,
            config_build_secs: None,
            p50_pass_spread: None,
        }
    }

    /// A completed study trial of `params`.
    pub(crate) fn trial_of(params: Params, metrics: TrialMetrics) -> Trial {
        Trial::start(
            IndexName::new("unit").expect("valid"),
            "q",
            params,
            DatasetFingerprint {
                vector_count: 1_000,
                dimension: 8,
                content_hash: "unit".into(),
            },
            TriggerReason::Study,
        )
        .complete(metrics)
    }
}
