//! Simulated annealing over the space, coarse first and fine later.
//!
//! ## Method
//!
//! The energy of a measured config is `ln(cost) + penalty × max(0, min_recall −
//! recall)`, where cost is the objective's minimised quantity (p50 by default): a
//! config that misses the recall floor is not forbidden, it is penalised in proportion
//! to how far it misses (with the default penalty of 100 a miss of 0.01 weighs as much
//! as a factor e in latency).
//!
//! The walk is replayed from the history on every call, so it needs no state: the
//! completed trials are taken in history order as the successive candidates of a
//! Metropolis chain. After `k` completed trials the temperature is
//! `T_k = initial_temperature × cooling^k` (a geometric schedule); a candidate that
//! lowers the energy is always accepted, one that raises it by `Δ` is accepted with
//! probability `exp(−Δ / T_k)` ([`acceptance_probability`]), the uniform draw coming
//! from an RNG seeded with the configured seed and `k`.
//!
//! The next candidate is a move from the chain's current point. Its radius, in the
//! unit coordinates of each ordered parameter (log-spaced for log scales), shrinks as
//! trials accumulate: `max(final_radius, initial_radius × shrink^k)`, coarse first and
//! fine later. With probability `search_move_probability` only search-time parameters
//! move, which reuses the current build. After `attempts` draws land in the history,
//! the unvisited config nearest to the current point is proposed.
//!
//! Source: Kirkpatrick, Gelatt and Vecchi, "Optimization by Simulated Annealing",
//! Science 220 (1983); Metropolis et al., J. Chem. Phys. 21 (1953) for the acceptance
//! rule. argmin's `SimulatedAnnealing` solver has the same shape (temperature schedule,
//! Metropolis step, injected RNG).
//!
//! ## Invariants
//!
//! - `initial_temperature > 0`, `cooling ∈ (0, 1]`, radii in `(0, 1]` with
//!   `final_radius ≤ initial_radius`, `shrink ∈ (0, 1]`, `penalty ≥ 0`,
//!   `search_move_probability ∈ [0, 1]`, `attempts ≥ 1`; anything else is refused at
//!   construction with [`ProposeError::InvalidConfig`].
//! - The acceptance probability lies in `[0, 1]`, is 1 for improvements, and for a
//!   worsening move decreases as the temperature falls.

use rand::Rng;

use crate::lattice::{HistoryView, Lattice, Point, nearest_unvisited, splitmix};
use crate::{ProposalContext, ProposeError, Proposer};
use hnswtune_core::{Objective, Params, TrialMetrics};

/// Settings of [`Annealing`].
#[derive(Clone, Debug, PartialEq)]
pub struct AnnealingConfig {
    /// Seed of the RNG.
    pub seed: u64,
    /// Temperature before the first completed trial (energy units), positive.
    pub initial_temperature: f64,
    /// Factor applied to the temperature after each completed trial, in `(0, 1]`.
    pub cooling: f64,
    /// Energy added per unit of recall below `min_recall`, non-negative.
    pub penalty: f64,
    /// Move radius (unit coordinates) before the first completed trial, in `(0, 1]`.
    pub initial_radius: f64,
    /// Smallest move radius, in `(0, initial_radius]`.
    pub final_radius: f64,
    /// Factor applied to the radius after each completed trial, in `(0, 1]`.
    pub shrink: f64,
    /// Probability that a move changes only search-time parameters, in `[0, 1]`.
    pub search_move_probability: f64,
    /// Draws before falling back to the nearest unvisited config (at least 1).
    pub attempts: u32,
}

impl Default for AnnealingConfig {
    fn default() -> Self {
        AnnealingConfig {
            seed: 0,
            initial_temperature: 0.5,
            cooling: 0.9,
            penalty: 100.0,
            initial_radius: 0.5,
            final_radius: 0.05,
            shrink: 0.85,
            search_move_probability: 0.5,
            attempts: 64,
        }
    }
}

/// The Metropolis rule: the probability of accepting a move that changes the energy by
/// `delta_energy` at `temperature`.
///
/// ```
/// use hnswtune_propose::acceptance_probability;
/// assert_eq!(acceptance_probability(-1.0, 0.1), 1.0);
/// assert!(acceptance_probability(1.0, 1.0) > acceptance_probability(1.0, 0.5));
/// ```
pub fn acceptance_probability(delta_energy: f64, temperature: f64) -> f64 {
    if delta_energy.is_nan() {
        return 0.0;
    }
    if delta_energy <= 0.0 {
        return 1.0;
    }
    if temperature.is_nan() || temperature <= 0.0 {
        return 0.0;
    }
    let x = delta_energy / temperature;
    // exp(−x) is 0 in f64 beyond this; libm's underflow path is slow, and a cold chain
    // over a long history takes it on almost every step.
    if x > 746.0 {
        return 0.0;
    }
    (-x).exp()
}

/// Simulated annealing with a geometric schedule and a shrinking neighbourhood.
#[derive(Clone, Debug)]
pub struct Annealing {
    config: AnnealingConfig,
}

impl Annealing {
    /// Checks `config` and builds the proposer.
    ///
    /// ```
    /// use hnswtune_propose::{Annealing, AnnealingConfig};
    /// let cold = AnnealingConfig { initial_temperature: 0.0, ..Default::default() };
    /// assert!(Annealing::new(cold).is_err());
    /// ```
    pub fn new(config: AnnealingConfig) -> Result<Self, ProposeError> {
        let c = &config;
        let in_unit = |v: f64| v > 0.0 && v <= 1.0;
        if !(c.initial_temperature.is_finite() && c.initial_temperature > 0.0) {
            return Err(ProposeError::invalid(
                "initial_temperature",
                format!("{} is not a positive number", c.initial_temperature),
            ));
        }
        if !in_unit(c.cooling) {
            return Err(ProposeError::invalid(
                "cooling",
                format!("{} is outside (0, 1]", c.cooling),
            ));
        }
        if !(c.penalty.is_finite() && c.penalty >= 0.0) {
            return Err(ProposeError::invalid(
                "penalty",
                format!("{} is not a non-negative number", c.penalty),
            ));
        }
        if !in_unit(c.initial_radius) {
            return Err(ProposeError::invalid(
                "initial_radius",
                format!("{} is outside (0, 1]", c.initial_radius),
            ));
        }
        if !(in_unit(c.final_radius) && c.final_radius <= c.initial_radius) {
            return Err(ProposeError::invalid(
                "final_radius",
                format!("{} is outside (0, initial_radius]", c.final_radius),
            ));
        }
        if !in_unit(c.shrink) {
            return Err(ProposeError::invalid(
                "shrink",
                format!("{} is outside (0, 1]", c.shrink),
            ));
        }
        if !(0.0..=1.0).contains(&c.search_move_probability) {
            return Err(ProposeError::invalid(
                "search_move_probability",
                format!("{} is outside [0, 1]", c.search_move_probability),
            ));
        }
        if c.attempts == 0 {
            return Err(ProposeError::invalid("attempts", "must be at least 1"));
        }
        Ok(Annealing { config })
    }

    /// The default settings with `seed`.
    pub fn seeded(seed: u64) -> Self {
        Annealing {
            config: AnnealingConfig {
                seed,
                ..AnnealingConfig::default()
            },
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &AnnealingConfig {
        &self.config
    }

    /// The temperature after `completed` completed trials.
    pub fn temperature(&self, completed: usize) -> f64 {
        self.config.initial_temperature * self.config.cooling.powi(saturate(completed))
    }

    /// The move radius (unit coordinates) after `completed` completed trials.
    pub fn radius(&self, completed: usize) -> f64 {
        (self.config.initial_radius * self.config.shrink.powi(saturate(completed)))
            .max(self.config.final_radius)
    }

    /// The energy of `metrics` under `objective` (lower is better).
    pub fn energy(&self, objective: &Objective, metrics: &TrialMetrics) -> f64 {
        let shortfall = (objective.min_recall - metrics.recall).max(0.0);
        objective.cost(metrics).max(1e-9).ln() + self.config.penalty * shortfall
    }

    fn step(
        &self,
        lattice: &Lattice<'_>,
        current: &[u64],
        radius: f64,
        search_only: bool,
        rng: &mut impl Rng,
    ) -> Point {
        let mut point = current.to_vec();
        let movable: Vec<usize> = (0..lattice.dims())
            .filter(|&d| lattice.cards[d] > 1 && (!search_only || !lattice.build[d]))
            .collect();
        for &d in &movable {
            let card = lattice.cards[d];
            if lattice.ordered(d) {
                let u = lattice.unit(d, point[d]) + rng.gen_range(-radius..=radius);
                point[d] = lattice.index_at_unit(d, u);
            } else if rng.gen_bool(radius.min(1.0)) {
                let other = rng.gen_range(0..card - 1);
                point[d] = if other >= point[d] { other + 1 } else { other };
            }
        }
        if point == current
            && let Some(&d) = movable.get(rng.gen_range(0..movable.len().max(1)))
        {
            let card = lattice.cards[d];
            point[d] = if point[d] + 1 < card && (point[d] == 0 || rng.gen_bool(0.5)) {
                point[d] + 1
            } else {
                point[d] - 1
            };
            if point[d] >= card {
                point[d] = card - 1;
            }
        }
        point
    }
}

/// The uniform draw in `[0, 1)` of the Metropolis test after `step` completed trials:
/// SplitMix64 of the seed and the step (a fresh ChaCha per step would cost more than
/// the rest of the replay).
fn unit_draw(seed: u64, step: u64) -> f64 {
    (splitmix(splitmix(seed ^ 0xA11) ^ step) >> 11) as f64 / (1u64 << 53) as f64
}

fn saturate(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

impl Proposer for Annealing {
    fn name(&self) -> &str {
        "annealing"
    }

    fn propose(&self, ctx: &ProposalContext<'_>) -> Result<Option<Params>, ProposeError> {
        let lattice = Lattice::new(ctx.space);
        let view = HistoryView::new(&lattice, ctx.history);
        if view.exhausted(&lattice) {
            return Ok(None);
        }
        let mut current: Option<(&[u64], f64)> = None;
        let mut completed = 0usize;
        for (point, metrics) in view.completed() {
            let e = self.energy(ctx.objective, metrics);
            match &current {
                None => current = Some((point, e)),
                Some((_, e_cur)) => {
                    // An improvement is always taken; only a worsening move needs the
                    // temperature and the draw.
                    let accept = e <= *e_cur || {
                        let p = acceptance_probability(e - e_cur, self.temperature(completed));
                        unit_draw(self.config.seed, completed as u64) < p
                    };
                    if accept {
                        current = Some((point, e));
                    }
                }
            }
            completed += 1;
        }
        let origin = match current {
            Some((p, _)) => p.to_vec(),
            None => view
                .last_point()
                .map(<[u64]>::to_vec)
                .unwrap_or_else(|| lattice.centre()),
        };
        if view.is_empty() {
            return Ok(Some(lattice.decode(&origin)));
        }
        let mut rng = view.rng(self.config.seed, ctx.history.len());
        let radius = self.radius(completed);
        let has_search = lattice.build.iter().any(|b| !b);
        for _ in 0..self.config.attempts {
            let search_only = has_search && rng.gen_bool(self.config.search_move_probability);
            let candidate = self.step(&lattice, &origin, radius, search_only, &mut rng);
            if !view.contains(&lattice, &candidate) {
                return Ok(Some(lattice.decode(&candidate)));
            }
        }
        Ok(nearest_unvisited(&lattice, &view, &origin).map(|p| lattice.decode(&p)))
    }
}
