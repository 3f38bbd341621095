//! TPE, the Tree-structured Parzen Estimator: the sampler Optuna users know, built on
//! the `tpe` crate (sile/tpe, by an Optuna contributor).
//!
//! ## Method
//!
//! As Optuna's `TPESampler` with its defaults does, each parameter gets its own
//! estimator ("independent" TPE). A parameter is seen as the index of its value in the
//! spec's ladder: ordered specs (integer ladders, level lists) as a continuous index in
//! `[0, n)` with a Parzen estimator, so neighbouring values share evidence, and
//! categorical specs with a histogram. Every completed trial of the history inside the
//! space is told to every estimator: its cost (p50, p95 or build seconds, per the
//! objective) when it meets the recall floor and the other budgets, and `+∞` when it
//! does not, so infeasible configs always fall in the "inferior" group. A config
//! measured several times is told once, with the mean of its values (`+∞` if any
//! repeat was infeasible). At most [`MAX_OBSERVED`] configs, the most recently
//! measured, are modelled. The first
//! [`STARTUP_TRIALS`] proposals are uniformly random (Optuna's `n_startup_trials`), and
//! so is any proposal whose TPE draws all land on configs already tried.
//!
//! The estimators are rebuilt from the history on every call and drawn with an RNG
//! seeded from the configured seed and the history length, so a proposer is a pure
//! function of (space, history, seed), as the [`Proposer`] contract asks.
//!
//! Source: Bergstra, Bardenet, Bengio and Kégl, "Algorithms for Hyper-Parameter
//! Optimization", NeurIPS 2011.
//!
//! TPE knows nothing of build costs: it does not prefer a search-time move on a build
//! that exists, which is what the efficiency tables measure against Frontier.

use hnswtune_core::{ParamKind, ParamValue, Params, SearchSpace, Trial};
use rand10::SeedableRng as _;

use crate::lattice::{ByValues, FxHashMap};
use crate::{ProposalContext, ProposeError, Proposer, Random};

/// Proposals made uniformly at random before TPE models the history (Optuna's default
/// `n_startup_trials`).
pub const STARTUP_TRIALS: usize = 10;

/// The most distinct configs TPE models: the most recently measured ones. Each draw
/// costs time linear in the configs modelled (two density estimates at 24 candidates);
/// with 500 a proposal at a 10k history of distinct configs takes about a millisecond
/// (criterion, `cargo bench -p hnswtune-bench-propose --bench propose`). Optuna, which
/// keeps them all, weights older trials down instead.
pub const MAX_OBSERVED: usize = 500;

/// TPE draws per proposal before it falls back to a random unvisited config.
const DRAWS: usize = 8;

/// The TPE strategy.
///
/// ```
/// use hnswtune_core::{Objective, SearchSpace};
/// use hnswtune_propose::{ProposalContext, Proposer, Tpe};
///
/// let space = SearchSpace::hnsw();
/// let objective = Objective::new(0.9)?;
/// let ctx = ProposalContext { space: &space, history: &[], champion: None, objective: &objective };
/// let first = Tpe::seeded(7).propose(&ctx)?.expect("an empty history leaves every config");
/// assert!(space.contains(&first));
/// assert_eq!(Tpe::seeded(7).propose(&ctx)?, Some(first), "same seed, same proposal");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Tpe {
    seed: u64,
}

impl Tpe {
    /// A TPE sampler seeded with `seed`.
    pub fn seeded(seed: u64) -> Self {
        Tpe { seed }
    }
}

/// One parameter's estimator over the index of its value: a Parzen estimator over
/// `[0, n)` for an ordered spec (an index is told as the middle of its unit cell), a
/// histogram over the `n` choices for a categorical one.
struct Axis {
    optimizer: ::tpe::TpeOptimizer,
    /// Added to an index when it is told: 0.5 for ordered specs, 0 for categorical.
    offset: f64,
    cardinality: u64,
}

impl Axis {
    fn new(cardinality: u64, categorical: bool) -> Result<Self, ProposeError> {
        let bad = |e: ::tpe::range::RangeError| ProposeError::invalid("tpe range", e.to_string());
        let (estimator, range, offset) = if categorical {
            (
                ::tpe::histogram_estimator(),
                ::tpe::categorical_range(cardinality as usize).map_err(bad)?,
                0.0,
            )
        } else {
            (
                ::tpe::parzen_estimator(),
                ::tpe::range(0.0, cardinality as f64).map_err(bad)?,
                0.5,
            )
        };
        Ok(Axis {
            optimizer: ::tpe::TpeOptimizer::new(estimator, range),
            offset,
            cardinality,
        })
    }

    fn tell(&mut self, index: u64, value: f64) -> Result<(), ProposeError> {
        self.optimizer
            .tell(index as f64 + self.offset, value)
            .map_err(|e| ProposeError::invalid("tpe observation", e.to_string()))
    }

    fn ask(&mut self, rng: &mut rand10::rngs::StdRng) -> Option<u64> {
        let x = self.optimizer.ask(rng).ok()?;
        x.is_finite()
            .then(|| (x.max(0.0).floor() as u64).min(self.cardinality.saturating_sub(1)))
    }
}

/// The observations of one config: the sum and count of its values.
#[derive(Default)]
struct Observed {
    sum: f64,
    n: usize,
}

/// The value `f64` TPE minimises for a completed trial: its cost when feasible, `+∞`
/// when not.
fn observed(ctx: &ProposalContext<'_>, trial: &Trial) -> Option<f64> {
    let m = trial.completed_metrics()?;
    let cost = ctx.objective.cost(m);
    Some(if ctx.objective.feasible(m) && cost.is_finite() {
        cost
    } else {
        f64::INFINITY
    })
}

/// The config at `indices` of `space`'s specs.
fn config_at(space: &SearchSpace, indices: &[u64]) -> Params {
    space
        .specs()
        .iter()
        .zip(indices)
        .map(|(spec, &i)| (spec.name.clone(), spec.value_at(i)))
        .collect()
}

impl Proposer for Tpe {
    fn name(&self) -> &str {
        "tpe"
    }

    fn propose(&self, ctx: &ProposalContext<'_>) -> Result<Option<Params>, ProposeError> {
        let space = ctx.space;
        // Every config tried inside the space (the keys; borrowed when a trial already
        // lies in the space), with the observations TPE models: one per distinct config
        // (repeats averaged), for at most the MAX_OBSERVED most recently measured
        // configs. Newest first, in one pass.
        let mut tried: FxHashMap<ByValues<'_>, Observed> =
            FxHashMap::with_capacity_and_hasher(ctx.history.len(), Default::default());
        let mut projected: Vec<Params> = Vec::new();
        let mut in_space = 0;
        let mut modelled = 0;
        for trial in ctx.history.iter().rev() {
            let params: &Params = if space.contains(&trial.params) {
                &trial.params
            } else {
                match space.project(&trial.params) {
                    Some(p) => {
                        projected.push(p);
                        continue;
                    }
                    None => continue,
                }
            };
            in_space += 1;
            let entry = tried.entry(ByValues(params)).or_default();
            let Some(value) = observed(ctx, trial) else {
                continue;
            };
            if entry.n == 0 {
                if modelled >= MAX_OBSERVED {
                    continue;
                }
                modelled += 1;
            }
            entry.sum += value;
            entry.n += 1;
        }
        let random = Random::seeded(self.seed);
        if in_space + projected.len() < STARTUP_TRIALS {
            return random.propose(ctx);
        }
        // Trials from another space: tried, but not modelled (their config was
        // projected, so their measurement may not describe it).
        for params in &projected {
            tried.entry(ByValues(params)).or_default();
        }
        if tried.len() as u128 >= space.cardinality() {
            return random.propose(ctx);
        }
        let mut axes = space
            .specs()
            .iter()
            .map(|s| {
                Axis::new(
                    s.cardinality(),
                    matches!(s.kind, ParamKind::Categorical { .. }),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (params, obs) in tried.iter().filter(|(_, o)| o.n > 0) {
            let value = obs.sum / obs.n as f64;
            for (axis, spec) in axes.iter_mut().zip(space.specs()) {
                let index = params
                    .0
                    .get(&spec.name)
                    .and_then(|v: &ParamValue| spec.index_of(v))
                    .expect("a config inside the space has every parameter of it");
                axis.tell(index, value)?;
            }
        }
        let mut rng = rand10::rngs::StdRng::seed_from_u64(
            self.seed ^ (ctx.history.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        for _ in 0..DRAWS {
            let indices: Option<Vec<u64>> =
                axes.iter_mut().map(|axis| axis.ask(&mut rng)).collect();
            let Some(indices) = indices else { break };
            let candidate = config_at(space, &indices);
            if !tried.contains_key(&ByValues(&candidate)) {
                return Ok(Some(candidate));
            }
        }
        // Every draw was a config already tried: a uniformly random unvisited one, which
        // is `None` only when the space is exhausted.
        random.propose(ctx)
    }
}
