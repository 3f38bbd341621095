//! The efficiency measure: what a strategy spends before it reaches a near-optimal
//! config on a replayed landscape.
//!
//! For one strategy, landscape, recall floor and seed, [`run_replay`] proposes and
//! replays configs (the replay seed and the strategy seed are the same number) with
//! the best feasible trial so far as champion. The **target** is any config whose mean
//! recall over the landscape's repeats meets the floor and whose mean p50 is within
//! `within` (5%) of the landscape's best such p50. The run records the builds, trials
//! and simulated seconds spent when the target is first *proposed and measured*, and,
//! after `budget` trials, the true mean p50 of the config the strategy itself would
//! pick (the objective's best of its own measurements) relative to the optimum. A run
//! continues past the budget until it reaches the target, at the latest when the
//! space is exhausted, so every run has a cost to target.
//!
//! A strategy with a model of when a study is done ([`Proposer::convergence`]) is also
//! asked, before each proposal, whether it has converged. The first time it says so,
//! the run records what a study that stops there would have spent and found
//! ([`StopOutcome`]): builds, trials, simulated seconds, whether the target had been
//! measured, and the true mean p50 of its champion over the optimum. A run continues
//! for that up to [`STOP_HORIZON`] trials, so a strategy that never stops shows as such.
//!
//! [`measure_efficiency`] repeats that over seeds `0..seeds` and reports median and
//! quartiles per strategy and floor as an [`EfficiencyTable`], whose `Display` is a
//! Markdown table.

use std::fmt;

use crate::landscape::Landscape;
use crate::{ProposalContext, ProposeError, Proposer, StrategyKind};
use hnswtune_core::{Objective, Trial};

/// Settings of [`measure_efficiency`].
#[derive(Clone, Debug, PartialEq)]
pub struct EfficiencySettings {
    /// Seeds per strategy and floor (at least 1; the issue asks for 20).
    pub seeds: u32,
    /// Trials after which the best found is scored (at least 1).
    pub budget: u32,
    /// Recall floors, each in (0, 1].
    pub min_recalls: Vec<f64>,
    /// Relative distance to the optimum's p50 that counts as reaching it (0.05).
    pub within: f64,
    /// The strategies to measure.
    pub strategies: Vec<StrategyKind>,
}

impl Default for EfficiencySettings {
    fn default() -> Self {
        EfficiencySettings {
            seeds: 20,
            budget: 30,
            min_recalls: vec![0.90, 0.95, 0.99],
            within: 0.05,
            strategies: StrategyKind::ALL.to_vec(),
        }
    }
}

impl EfficiencySettings {
    fn validate(&self) -> Result<(), ProposeError> {
        if self.seeds == 0 {
            return Err(ProposeError::invalid("seeds", "must be at least 1"));
        }
        if self.budget == 0 {
            return Err(ProposeError::invalid("budget", "must be at least 1"));
        }
        if let Some(r) = self.min_recalls.iter().find(|r| !(**r > 0.0 && **r <= 1.0)) {
            return Err(ProposeError::invalid(
                "min_recall",
                format!("{r} is outside (0, 1]"),
            ));
        }
        if !(self.within.is_finite() && self.within >= 0.0) {
            return Err(ProposeError::invalid(
                "within",
                format!("{} is not a non-negative number", self.within),
            ));
        }
        Ok(())
    }
}

/// The longest a replayed run goes on waiting for a strategy to say it has converged.
pub const STOP_HORIZON: usize = 100;

/// What a study that stops where its strategy says it has converged spends and finds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StopOutcome {
    /// Builds made before the stop.
    pub builds: u64,
    /// Trials run before the stop.
    pub trials: u64,
    /// Simulated seconds spent before the stop.
    pub secs: f64,
    /// Whether a target config had been measured by then.
    pub reached: bool,
    /// True mean p50 of the champion (the objective's best measured) over the
    /// optimum's; `None` when nothing feasible was found or nothing is feasible.
    pub champion_ratio: Option<f64>,
}

/// What one replayed run spent and found.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunOutcome {
    /// Builds, trials and simulated seconds when the target was first measured;
    /// `None` when the landscape has no feasible config at this floor.
    pub to_target: Option<(u64, u64, f64)>,
    /// True mean p50 of the strategy's own best feasible config after the budget,
    /// divided by the optimum's p50; `None` when it had found no feasible config.
    pub best_ratio_at_budget: Option<f64>,
    /// Where the strategy said the study had converged, if it did within
    /// [`STOP_HORIZON`] trials.
    pub at_stop: Option<StopOutcome>,
}

/// Replays `proposer` on `landscape` with replay seed `seed` (see the module docs).
pub fn run_replay(
    landscape: &Landscape,
    proposer: &dyn Proposer,
    min_recall: f64,
    seed: u64,
    budget: u32,
    within: f64,
) -> Result<RunOutcome, ProposeError> {
    let objective = Objective::new(min_recall)
        .map_err(|e| ProposeError::invalid("min_recall", e.to_string()))?;
    let optimum = landscape.best_feasible(min_recall).map(|(_, p50)| p50);
    let mut replay = landscape.replay(seed);
    let mut history: Vec<Trial> = Vec::new();
    let mut to_target = None;
    let mut best_ratio_at_budget = None;
    let mut at_stop = None;
    let cap = landscape.space().cardinality().min(u128::from(u32::MAX)) as usize;
    while history.len() < cap {
        let ctx = ProposalContext {
            space: landscape.space(),
            history: &history,
            champion: objective.best(&history),
            objective: &objective,
        };
        if at_stop.is_none() && proposer.convergence(&ctx).is_some() {
            at_stop = Some(StopOutcome {
                builds: replay.builds(),
                trials: replay.trials(),
                secs: replay.simulated_secs(),
                reached: to_target.is_some(),
                champion_ratio: score(landscape, &objective, &history, optimum),
            });
        }
        let Some(params) = proposer.propose(&ctx)? else {
            break;
        };
        let trial = replay.trial(&params, proposer.name())?;
        history.push(trial);
        if to_target.is_none()
            && let (Some(opt), Some(truth)) = (optimum, landscape.truth(&params))
            && truth.recall >= min_recall
            && truth.p50_us <= opt * (1.0 + within)
        {
            to_target = Some((replay.builds(), replay.trials(), replay.simulated_secs()));
        }
        if history.len() == budget as usize {
            best_ratio_at_budget = score(landscape, &objective, &history, optimum);
        }
        let target_done = to_target.is_some() || optimum.is_none();
        let stop_done = at_stop.is_some() || history.len() >= STOP_HORIZON;
        if history.len() >= budget as usize && target_done && stop_done {
            break;
        }
    }
    if history.len() < budget as usize {
        best_ratio_at_budget = score(landscape, &objective, &history, optimum);
    }
    Ok(RunOutcome {
        to_target,
        best_ratio_at_budget,
        at_stop,
    })
}

fn score(
    landscape: &Landscape,
    objective: &Objective,
    history: &[Trial],
    optimum: Option<f64>,
) -> Option<f64> {
    let best = objective.best(history)?;
    Some(landscape.truth(&best.params)?.p50_us / optimum?)
}

/// Median and quartiles of a sample.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spread {
    /// Median.
    pub median: f64,
    /// First quartile.
    pub p25: f64,
    /// Third quartile.
    pub p75: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Sample size.
    pub n: usize,
}

impl Spread {
    /// The spread of `values` (NaN fields for an empty sample).
    pub fn of(values: &[f64]) -> Self {
        if values.is_empty() {
            return Spread {
                median: f64::NAN,
                p25: f64::NAN,
                p75: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
                n: 0,
            };
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let x = p * (v.len() - 1) as f64;
            let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (x - lo as f64)
        };
        Spread {
            median: q(0.5),
            p25: q(0.25),
            p75: q(0.75),
            min: v[0],
            max: v[v.len() - 1],
            n: v.len(),
        }
    }
}

impl Spread {
    /// The same spread with every figure × 100, for a fraction shown as a percentage.
    pub fn percent(&self) -> Spread {
        Spread {
            median: self.median * 100.0,
            p25: self.p25 * 100.0,
            p75: self.p75 * 100.0,
            min: self.min * 100.0,
            max: self.max * 100.0,
            n: self.n,
        }
    }
}

/// One strategy at one recall floor.
#[derive(Clone, Debug, PartialEq)]
pub struct EfficiencyRow {
    /// The strategy.
    pub strategy: StrategyKind,
    /// The recall floor.
    pub min_recall: f64,
    /// The landscape's best feasible mean p50, µs (`None`: nothing is feasible).
    pub optimum_p50_us: Option<f64>,
    /// Seeds that reached the target within the budget.
    pub reached_within_budget: u32,
    /// Seeds run.
    pub seeds: u32,
    /// Builds to target.
    pub builds: Spread,
    /// Trials to target.
    pub trials: Spread,
    /// Simulated seconds to target.
    pub secs: Spread,
    /// Simulated seconds to target as a fraction of the exhaustive grid's.
    pub secs_fraction: Spread,
    /// Best found after the budget over the optimum (true mean p50s).
    pub best_ratio_at_budget: Spread,
    /// Seeds whose strategy said the study had converged within [`STOP_HORIZON`].
    pub stopped: u32,
    /// Of those, the seeds that had measured a target config by the stop.
    pub reached_by_stop: u32,
    /// Builds at the stop.
    pub builds_at_stop: Spread,
    /// Simulated seconds at the stop as a fraction of the exhaustive grid's.
    pub secs_fraction_at_stop: Spread,
    /// Champion over optimum (true mean p50s) at the stop.
    pub ratio_at_stop: Spread,
}

/// The efficiency of several strategies on one landscape.
#[derive(Clone, Debug, PartialEq)]
pub struct EfficiencyTable {
    /// The landscape's name.
    pub landscape: String,
    /// Configs in the landscape.
    pub configs: u128,
    /// Builds in the landscape.
    pub builds: usize,
    /// Simulated seconds of the exhaustive grid.
    pub exhaustive_secs: f64,
    /// The settings used.
    pub settings: EfficiencySettings,
    /// One row per strategy and floor, floors outer.
    pub rows: Vec<EfficiencyRow>,
}

impl EfficiencyTable {
    /// The row of `strategy` at `min_recall`.
    pub fn row(&self, strategy: StrategyKind, min_recall: f64) -> Option<&EfficiencyRow> {
        self.rows
            .iter()
            .find(|r| r.strategy == strategy && (r.min_recall - min_recall).abs() < 1e-12)
    }
}

/// Measures every configured strategy at every floor over `settings.seeds` seeds.
///
/// ```
/// use hnswtune_propose::{AnalyticLandscape, EfficiencySettings, StrategyKind, measure_efficiency};
/// let landscape = AnalyticLandscape::default().build()?;
/// let settings = EfficiencySettings {
///     seeds: 3,
///     min_recalls: vec![0.95],
///     strategies: vec![StrategyKind::Frontier, StrategyKind::Random],
///     ..Default::default()
/// };
/// let table = measure_efficiency(&landscape, &settings)?;
/// let frontier = table.row(StrategyKind::Frontier, 0.95).unwrap();
/// let random = table.row(StrategyKind::Random, 0.95).unwrap();
/// assert!(frontier.builds.median < random.builds.median);
/// assert!(table.to_string().contains("frontier"));
/// # Ok::<(), hnswtune_propose::ProposeError>(())
/// ```
pub fn measure_efficiency(
    landscape: &Landscape,
    settings: &EfficiencySettings,
) -> Result<EfficiencyTable, ProposeError> {
    settings.validate()?;
    let exhaustive = landscape.exhaustive_secs();
    let mut rows = Vec::new();
    for &min_recall in &settings.min_recalls {
        let optimum = landscape.best_feasible(min_recall).map(|(_, p)| p);
        for &strategy in &settings.strategies {
            let (mut builds, mut trials, mut secs, mut fraction, mut ratio) =
                (vec![], vec![], vec![], vec![], vec![]);
            let mut reached = 0;
            let (mut stopped, mut reached_by_stop) = (0, 0);
            let (mut stop_builds, mut stop_fraction, mut stop_ratio) = (vec![], vec![], vec![]);
            for seed in 0..u64::from(settings.seeds) {
                let proposer = strategy.build(seed);
                let out = run_replay(
                    landscape,
                    proposer.as_ref(),
                    min_recall,
                    seed,
                    settings.budget,
                    settings.within,
                )?;
                if let Some((b, t, s)) = out.to_target {
                    builds.push(b as f64);
                    trials.push(t as f64);
                    secs.push(s);
                    fraction.push(if exhaustive > 0.0 {
                        s / exhaustive
                    } else {
                        f64::NAN
                    });
                    if t <= u64::from(settings.budget) {
                        reached += 1;
                    }
                }
                if let Some(r) = out.best_ratio_at_budget {
                    ratio.push(r);
                }
                if let Some(stop) = out.at_stop {
                    stopped += 1;
                    reached_by_stop += u32::from(stop.reached);
                    stop_builds.push(stop.builds as f64);
                    if exhaustive > 0.0 {
                        stop_fraction.push(stop.secs / exhaustive);
                    }
                    if let Some(r) = stop.champion_ratio {
                        stop_ratio.push(r);
                    }
                }
            }
            rows.push(EfficiencyRow {
                strategy,
                min_recall,
                optimum_p50_us: optimum,
                reached_within_budget: reached,
                seeds: settings.seeds,
                builds: Spread::of(&builds),
                trials: Spread::of(&trials),
                secs: Spread::of(&secs),
                secs_fraction: Spread::of(&fraction),
                best_ratio_at_budget: Spread::of(&ratio),
                stopped,
                reached_by_stop,
                builds_at_stop: Spread::of(&stop_builds),
                secs_fraction_at_stop: Spread::of(&stop_fraction),
                ratio_at_stop: Spread::of(&stop_ratio),
            });
        }
    }
    Ok(EfficiencyTable {
        landscape: landscape.name().to_owned(),
        configs: landscape.space().cardinality(),
        builds: landscape.build_count(),
        exhaustive_secs: exhaustive,
        settings: settings.clone(),
        rows,
    })
}

struct Cell<'a>(&'a Spread, usize);

impl fmt::Display for Cell<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Cell(s, digits) = *self;
        if s.n == 0 {
            return f.write_str("–");
        }
        write!(
            f,
            "{:.d$} [{:.d$}–{:.d$}]",
            s.median,
            s.p25,
            s.p75,
            d = digits
        )
    }
}

impl fmt::Display for EfficiencyTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "landscape {}: {} configs, {} builds, exhaustive grid {:.1} simulated s; {} seeds, budget {} trials, target within {:.0}% of the best feasible mean p50",
            self.landscape,
            self.configs,
            self.builds,
            self.exhaustive_secs,
            self.settings.seeds,
            self.settings.budget,
            self.settings.within * 100.0
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "| min_recall | strategy | optimum p50 µs | reached ≤ budget | builds to target | trials to target | sim. s to target | % of grid s | best/optimum at budget |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|")?;
        for r in &self.rows {
            let pct = r.secs_fraction.percent();
            writeln!(
                f,
                "| {:.2} | {} | {} | {}/{} | {} | {} | {} | {} | {} |",
                r.min_recall,
                r.strategy,
                r.optimum_p50_us
                    .map_or("none feasible".into(), |p| format!("{p:.1}")),
                r.reached_within_budget,
                r.seeds,
                Cell(&r.builds, 1),
                Cell(&r.trials, 1),
                Cell(&r.secs, 1),
                Cell(&pct, 1),
                Cell(&r.best_ratio_at_budget, 3),
            )?;
        }
        let stopping: Vec<&EfficiencyRow> = self.rows.iter().filter(|r| r.stopped > 0).collect();
        if !stopping.is_empty() {
            writeln!(f)?;
            writeln!(
                f,
                "Where a strategy said the study had converged (within {STOP_HORIZON} trials):"
            )?;
            writeln!(f)?;
            writeln!(
                f,
                "| min_recall | strategy | stopped | target measured by then | builds at stop | % of grid s at stop | champion/optimum at stop |"
            )?;
            writeln!(f, "|---|---|---|---|---|---|---|")?;
            for r in stopping {
                let pct = r.secs_fraction_at_stop.percent();
                writeln!(
                    f,
                    "| {:.2} | {} | {}/{} | {}/{} | {} | {} | {} |",
                    r.min_recall,
                    r.strategy,
                    r.stopped,
                    r.seeds,
                    r.reached_by_stop,
                    r.stopped,
                    Cell(&r.builds_at_stop, 1),
                    Cell(&pct, 1),
                    Cell(&r.ratio_at_stop, 3),
                )?;
            }
        }
        Ok(())
    }
}
