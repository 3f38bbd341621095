//! When a study is done, and which builds are worth opening: a small model of the
//! landscape that every study rule reads.
//!
//! ## The model
//!
//! A config's *group* is everything but its `ef_search`: one build (plus any other
//! search-time parameter). Within a group recall and latency grow with `ef_search`, so
//! its best config is the smallest feasible `ef_search`, and latency there is bounded
//! below by `cost(hi) × v / hi` for `v < hi` (latency is close to affine in `ef_search`
//! with a non-negative intercept). The *incumbent* is the feasible config with the
//! lowest mean cost; `t` is the comparison tolerance of the study's measured noise
//! ([`StudyNoise::tolerance`]).
//!
//! A config is **promising** when it is expected to beat the incumbent by more than
//! the noise:
//!
//! 1. **On an existing build** (a search-time move, cheap): the untried `ef_search`
//!    values between the group's largest infeasible and smallest feasible value, when
//!    the bound at the smallest of them is below `incumbent × (1 − t)`; for a group with
//!    no feasible value yet, the next larger value, when its bound (the cost measured at
//!    the largest value, scaled up) is below that line.
//! 2. **On a new build** (seconds to minutes): only a build one step ([`BUILD_STEP`],
//!    1.5×) from the incumbent's along an integer build parameter, and only while the
//!    trend says a step may gain more than the noise. Steps are *bands* of values,
//!    `[v·1.5^k / √1.5, v·1.5^k · √1.5)`, so a space with step 1 is walked at the same
//!    resolution as the default ladder; a band is explored once any build in it was
//!    made; on an axis whose own values lie further apart than a step (`m`: 8, 16, 32,
//!    64) the band reaches to the next value. For the band on one side, look at the
//!    nearest explored band on the *other* side of the incumbent's. If there is none,
//!    nothing is known about the trend and the band is promising (so the two
//!    neighbours of the first good build are each opened once). If there is one, the
//!    band is promising only when its best cost is above `incumbent × (1 + t)`: the
//!    last step gained more than the noise, so the next one may too. A categorical build parameter (the neighbour heuristic) offers
//!    each other choice once.
//!
//! Builds further away are expected to gain less than the noise: their neighbours
//! already showed the trend. This is a hill climb along the build ladder with a
//! noise-sized step threshold; a landscape whose best build lies past a flat stretch
//! wider than the noise is where it stops short, and docs/stopping.md gives the
//! replayed cost of that.
//!
//! The study has **converged** when there is an incumbent and no promising config.
//! Strategies and the agent use the model two ways: [`crate::Frontier`] takes a
//! promising search-time move before any new build it would open, replaces a build no
//! measurement could tell from one already made by the model's candidate, and past its
//! first few builds (the first and one on each side along every build axis) opens only
//! builds the model finds promising while it finds any; and the study stops when
//! [`Proposer::convergence`](crate::Proposer::convergence) says so. Frontier's first
//! builds are its own because a model that walks only one step from the incumbent
//! stops short of optima past a flat stretch; docs/stopping.md ("Tried and not kept")
//! gives the replayed cost of gating every build on it.
//!
//! The model needs an ordered search-time `ef_search` and a latency objective (p50 or
//! p95); without them it claims nothing ([`Assessment::modelled`] is false).

use std::borrow::Cow;
use std::collections::BTreeMap;

use hnswtune_core::space::EF_CONSTRUCTION_RATIO;
use hnswtune_core::{EF_SEARCH, Minimize, ParamValue, Params, Phase, Trial};
use serde::Serialize;

use crate::ProposalContext;
use crate::lattice::FxHashMap;
use crate::noise::StudyNoise;

/// Why a study is done: the figures behind "no untried config is expected to beat the
/// champion by more than the noise".
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Convergence {
    /// One sentence for people.
    pub reason: String,
    /// The incumbent's mean cost (µs for p50 and p95).
    pub champion_cost: f64,
    /// The comparison tolerance that was applied, a fraction.
    pub tolerance: f64,
    /// The study's noise estimate behind it.
    pub noise: StudyNoise,
    /// How many builds (groups) have a completed trial.
    pub builds: usize,
}

/// A config the model finds worth a trial.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    /// The config to try.
    pub params: Params,
    /// True when it needs a build that does not exist yet.
    pub new_build: bool,
    /// A lower bound (existing builds) or an estimate (new builds) of its cost.
    pub cost: f64,
}

/// What the model makes of a history (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assessment {
    /// False when the space or objective is outside the model; nothing else then
    /// means anything and the study is never called converged.
    pub modelled: bool,
    /// The study's noise estimate.
    pub noise: StudyNoise,
    /// The comparison tolerance used, `noise.tolerance()` unless overridden.
    pub tolerance: f64,
    /// The incumbent config and its mean cost.
    pub incumbent: Option<(Params, f64)>,
    /// The promising configs: search-time moves first (lowest bound first), then new
    /// builds (smaller build first).
    pub promising: Vec<Candidate>,
    /// Groups with a completed trial.
    pub builds: usize,
    /// Group keys (params without `ef_search`) that any trial touched.
    #[serde(skip)]
    touched: Vec<Params>,
}

impl Assessment {
    /// `Some` when the study has converged.
    pub fn converged(&self) -> Option<Convergence> {
        let (_, cost) = self.incumbent.as_ref()?;
        if !self.modelled || !self.promising.is_empty() {
            return None;
        }
        Some(Convergence {
            reason: format!(
                "no untried config is expected to beat the best measured cost ({cost:.1}, {}) \
                 by more than the measured noise ({:.0}%); {} builds opened",
                self.incumbent
                    .as_ref()
                    .map_or(String::new(), |(p, _)| p.to_string()),
                self.tolerance * 100.0,
                self.builds
            ),
            champion_cost: *cost,
            tolerance: self.tolerance,
            noise: self.noise,
            builds: self.builds,
        })
    }

    /// True when `params` would need a build (group) that no trial has touched.
    pub fn opens_new_group(&self, params: &Params) -> bool {
        let key = group_key(params);
        !self.touched.contains(&key)
    }

    /// True when `params` needs a new build that lies within one build step's
    /// resolution of a build some trial already touched: every integer build parameter
    /// within a factor `√BUILD_STEP` of that build's and every other one equal. No
    /// measurement can tell two such builds apart (ef_construction 370 and 374).
    pub fn indistinguishable_from_touched(&self, params: &Params) -> bool {
        let key = group_key(params);
        if self.touched.contains(&key) {
            return false;
        }
        let close = |a: &ParamValue, b: &ParamValue| match (a, b) {
            (ParamValue::Int(x), ParamValue::Int(y)) if *x > 0 && *y > 0 => {
                (*x.max(y) as f64 / *x.min(y) as f64) < BUILD_STEP.sqrt()
            }
            _ => a == b,
        };
        self.touched.iter().any(|t| {
            t.len() == key.len()
                && t.iter()
                    .zip(key.iter())
                    .all(|((na, va), (nb, vb))| na == nb && close(va, vb))
        })
    }

    /// True when `params`'s group holds a promising candidate.
    pub fn group_is_promising(&self, params: &Params) -> bool {
        let key = group_key(params);
        self.promising.iter().any(|c| group_key(&c.params) == key)
    }
}

/// Assesses `ctx` with the tolerance of the study's own noise estimate.
///
/// ```
/// use hnswtune_core::{Objective, SearchSpace};
/// use hnswtune_propose::{ProposalContext, assess};
///
/// let space = SearchSpace::hnsw();
/// let objective = Objective::new(0.9)?;
/// let ctx = ProposalContext { space: &space, history: &[], champion: None, objective: &objective };
/// let a = assess(&ctx);
/// assert!(a.modelled);
/// assert!(a.converged().is_none(), "nothing is done before a feasible config exists");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn assess(ctx: &ProposalContext<'_>) -> Assessment {
    let noise = StudyNoise::of_history(ctx.history);
    assess_with(ctx, noise, noise.tolerance())
}

/// Per config: the sums the model needs.
#[derive(Default)]
struct Agg {
    recall: f64,
    cost: f64,
    completed: usize,
    first: Option<hnswtune_core::TrialMetrics>,
}

/// One group's measurements: `ef_search` ladder index → (mean cost, feasible).
type Measured = BTreeMap<usize, (f64, bool)>;

/// Assesses `ctx` with a given tolerance (see the module docs).
pub fn assess_with(ctx: &ProposalContext<'_>, noise: StudyNoise, tolerance: f64) -> Assessment {
    let mut out = Assessment {
        modelled: false,
        noise,
        tolerance,
        incumbent: None,
        promising: Vec::new(),
        builds: 0,
        touched: Vec::new(),
    };
    let space = ctx.space;
    let Some(ladder) = space
        .spec(EF_SEARCH)
        .filter(|s| s.phase == Phase::Search && s.is_ordered())
        .map(|s| {
            s.values()
                .into_iter()
                .filter_map(|v| match v {
                    ParamValue::Int(i) => Some(i),
                    ParamValue::Cat(_) => None,
                })
                .collect::<Vec<i64>>()
        })
    else {
        return out;
    };
    if ctx.objective.minimize == Minimize::BuildSecs || ladder.is_empty() {
        return out;
    }
    out.modelled = true;

    // Per config, then per group. Configs borrow from the history where they already
    // lie in the space; groups are derived once per distinct config.
    let mut configs: FxHashMap<Cow<'_, Params>, Agg> = FxHashMap::default();
    for trial in ctx.history {
        let params = if space.contains(&trial.params) {
            Cow::Borrowed(&trial.params)
        } else {
            match space.project(&trial.params) {
                Some(p) => Cow::Owned(p),
                None => continue,
            }
        };
        let agg = configs.entry(params).or_default();
        if let Some(m) = completed(trial) {
            agg.recall += m.recall;
            agg.cost += ctx.objective.cost(m);
            agg.completed += 1;
            agg.first.get_or_insert_with(|| m.clone());
        }
    }
    let mut groups: BTreeMap<Params, Measured> = BTreeMap::new();
    let mut visited: BTreeMap<Params, Vec<usize>> = BTreeMap::new();
    for (params, agg) in &configs {
        let Some(ef) = params.int(EF_SEARCH) else {
            continue;
        };
        let Ok(i) = ladder.binary_search(&ef) else {
            continue;
        };
        let key = group_key(params);
        visited.entry(key.clone()).or_default().push(i);
        if let Some(first) = &agg.first {
            let n = agg.completed as f64;
            let mut mean = first.clone();
            mean.recall = agg.recall / n;
            let feasible = ctx.objective.feasible(&mean);
            groups
                .entry(key)
                .or_default()
                .insert(i, (agg.cost / n, feasible));
        }
    }
    out.touched = visited.keys().cloned().collect();
    out.builds = groups.len();

    let incumbent = groups
        .iter()
        .flat_map(|(key, m)| {
            m.iter()
                .filter(|(_, (_, f))| *f)
                .map(move |(&i, &(c, _))| (key, i, c))
        })
        .min_by(|a, b| a.2.total_cmp(&b.2));
    let line = incumbent.map(|(_, _, c)| c * (1.0 - tolerance));
    out.incumbent = incumbent.map(|(key, i, c)| (key.clone().with(EF_SEARCH, ladder[i]), c));

    // 1. Search-time moves on the groups that have measurements.
    for (key, measured) in &groups {
        let seen = &visited[key];
        let hi = measured.iter().find(|(_, (_, f))| *f).map(|(&i, _)| i);
        let below_hi = |i: &usize| hi.is_none_or(|h| *i < h);
        let lo = measured
            .iter()
            .filter(|(i, (_, f))| !*f && below_hi(i))
            .map(|(&i, _)| i)
            .next_back();
        let open: Vec<usize> = match hi {
            Some(h) => (lo.map_or(0, |l| l + 1)..h)
                .filter(|i| !seen.contains(i))
                .collect(),
            None => (lo.map_or(0, |l| l + 1)..ladder.len())
                .filter(|i| !seen.contains(i))
                .collect(),
        };
        let Some(&first_open) = open.first() else {
            continue;
        };
        let (probe, bound) = match hi {
            Some(h) => {
                let cost_hi = measured[&h].0;
                let bound = cost_hi * ladder[first_open] as f64 / ladder[h] as f64;
                (open[open.len() / 2], bound)
            }
            None => {
                let l = lo.expect("a group with measurements and no feasible value has a lo");
                let cost_lo = measured[&l].0;
                let bound = cost_lo * ladder[first_open] as f64 / ladder[l] as f64;
                (open[(open.len() - 1) / 2], bound)
            }
        };
        if line.is_none_or(|line| bound < line) {
            out.promising.push(Candidate {
                params: key.clone().with(EF_SEARCH, ladder[probe]),
                new_build: false,
                cost: bound,
            });
        }
    }
    out.promising.sort_by(|a, b| a.cost.total_cmp(&b.cost));

    // 2. New builds next to the incumbent's, while the trend allows.
    if let Some((best_key, best_i, best_cost)) = incumbent {
        let best_of = |key: &Params| -> Option<f64> {
            groups.get(key).map(|m| {
                m.values()
                    .filter(|(_, f)| *f)
                    .map(|(c, _)| *c)
                    .fold(f64::INFINITY, f64::min)
            })
        };
        let mut new_builds = Vec::new();
        for spec in space.specs().iter().filter(|s| s.name != EF_SEARCH) {
            let Some(current) = best_key.get(&spec.name) else {
                continue;
            };
            let with = |v: &ParamValue| best_key.clone().with(spec.name.clone(), v.clone());
            let mut consider = |neighbour: Params, opposite: Option<f64>| {
                let trend_allows = opposite.is_none_or(|c| c > best_cost * (1.0 + tolerance));
                if trend_allows && !visited.contains_key(&neighbour) {
                    new_builds.push((spec.phase == Phase::Build, neighbour));
                }
            };
            let values = spec.values();
            let ints: Vec<i64> = values
                .iter()
                .filter_map(|v| match v {
                    ParamValue::Int(i) => Some(*i),
                    ParamValue::Cat(_) => None,
                })
                .collect();
            let (ParamValue::Int(b), true) = (current, ints.len() == values.len()) else {
                // Categorical: each other choice once.
                for v in values.iter().filter(|v| *v != current) {
                    consider(with(v), None);
                }
                continue;
            };
            // The values along this axis that other groups of the same coordinates
            // touched (any trial) and opened (a completed trial), with their best cost.
            let mut touched_at: Vec<i64> = Vec::new();
            let mut opened_at: Vec<(i64, f64)> = Vec::new();
            for &v in &ints {
                let key = with(&ParamValue::Int(v));
                if visited.contains_key(&key) {
                    touched_at.push(v);
                }
                if let Some(c) = best_of(&key) {
                    opened_at.push((v, c));
                }
            }
            // Bands of one build step (`BUILD_STEP`) on each side of the incumbent's
            // value: a band is explored when any build in it was touched, whatever the
            // space's own step, so a fine space is walked at the same resolution.
            let band = |k: i32| -> (f64, f64) {
                let centre = *b as f64 * BUILD_STEP.powi(k);
                (centre / BUILD_STEP.sqrt(), centre * BUILD_STEP.sqrt())
            };
            let inside = |v: i64, (lo, hi): (f64, f64)| (v as f64) >= lo && (v as f64) < hi;
            for side in [-1i32, 1] {
                // The band one step away, or, on an axis whose own values lie further
                // apart than a step (`m`: 8, 16, 32, 64), everything up to the next value.
                let mut near = band(side);
                if !ints.iter().any(|&v| inside(v, near)) {
                    let (lo, hi) = band(0);
                    let next = if side > 0 {
                        ints.iter().copied().filter(|&v| v as f64 >= hi).min()
                    } else {
                        ints.iter().copied().filter(|&v| (v as f64) < lo).max()
                    };
                    let Some(next) = next else {
                        continue;
                    };
                    near = if side > 0 {
                        (hi, next as f64 + 0.5)
                    } else {
                        (next as f64 - 0.5, lo)
                    };
                }
                if touched_at.iter().any(|&v| inside(v, near)) {
                    continue;
                }
                let target = *b as f64 * BUILD_STEP.powi(side);
                let Some(&pick) = ints.iter().filter(|&&v| inside(v, near)).min_by(|x, y| {
                    let d = |v: i64| ((v as f64) / target).ln().abs();
                    d(**x).total_cmp(&d(**y))
                }) else {
                    continue;
                };
                // The nearest opened band on the other side of the incumbent's.
                let mut opposite = None;
                for k in 1..=64 {
                    let (lo, hi) = band(-side * k);
                    if hi < 1.0 || lo > ints[ints.len() - 1] as f64 {
                        break;
                    }
                    let costs = opened_at
                        .iter()
                        .filter(|(v, _)| inside(*v, (lo, hi)))
                        .map(|(_, c)| *c);
                    if let Some(c) = costs.reduce(f64::min) {
                        opposite = Some(c);
                        break;
                    }
                }
                consider(with(&ParamValue::Int(pick)), opposite);
            }
        }
        new_builds.sort_by(|a, b| a.1.cmp(&b.1));
        for (build, key) in new_builds {
            out.promising.push(Candidate {
                params: key.with(EF_SEARCH, ladder[best_i]),
                new_build: build,
                cost: best_cost,
            });
        }
    }
    out
}

/// The ratio between neighbouring builds the model compares: the default space's
/// `ef_construction` step ([`EF_CONSTRUCTION_RATIO`]), the resolution at which two
/// builds' latencies differ by more than a measurement's noise.
pub const BUILD_STEP: f64 = EF_CONSTRUCTION_RATIO;

/// A trial's metrics when it completed.
fn completed(trial: &Trial) -> Option<&hnswtune_core::TrialMetrics> {
    trial.completed_metrics()
}

/// A config without its `ef_search`: its build and any other search-time parameter.
fn group_key(params: &Params) -> Params {
    params.filtered(|name| name != EF_SEARCH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{metrics, trial_of};
    use hnswtune_core::{EF_CONSTRUCTION, M, Objective, ParamSpec, SearchSpace};

    fn at(ef_c: i64, ef_s: i64, recall: f64, p50: f64) -> Trial {
        trial_of(
            Params::new()
                .with(EF_CONSTRUCTION, ef_c)
                .with(EF_SEARCH, ef_s),
            metrics(recall, p50),
        )
    }

    fn run(history: &[Trial], tolerance: f64) -> Assessment {
        let space = SearchSpace::hnsw();
        let objective = Objective::new(0.95).unwrap();
        let ctx = ProposalContext {
            space: &space,
            history,
            champion: None,
            objective: &objective,
        };
        assess_with(&ctx, StudyNoise::prior(), tolerance)
    }

    #[test]
    fn a_bracket_narrower_than_the_noise_is_resolved() {
        // 120: infeasible at 24, feasible at 34 (100 µs); 27 and 30 remain untried.
        let history = [at(120, 24, 0.94, 80.0), at(120, 34, 0.96, 100.0)];
        let wide = run(&history, 0.10);
        assert!(
            wide.promising
                .iter()
                .any(|c| !c.new_build && c.params.int(EF_SEARCH) == Some(30)),
            "27 is 21% below 34, outside a 10% noise, so the bracket is bisected: {:?}",
            wide.promising
        );
        let noisy = run(&history, 0.26);
        assert!(
            noisy.promising.iter().all(|c| c.new_build),
            "inside a 26% noise the bracket is done"
        );
    }

    #[test]
    fn the_neighbours_of_the_first_good_build_are_opened_once_then_the_trend_decides() {
        let first = [at(120, 34, 0.96, 100.0), at(120, 30, 0.94, 90.0)];
        let a = run(&first, 0.2);
        let builds: Vec<i64> = a
            .promising
            .iter()
            .filter(|c| c.new_build)
            .map(|c| c.params.int(EF_CONSTRUCTION).unwrap())
            .collect();
        assert_eq!(builds, [80, 180], "both neighbours, nothing further");
        assert!(a.converged().is_none());

        // 180 is within the noise of 120 (95 against 100): the step gained less than the
        // noise, so neither 270 (past 180) nor 80 (past 120, away from the gain) is
        // expected to gain more.
        let mut flat = first.to_vec();
        flat.extend([at(180, 30, 0.955, 95.0), at(180, 27, 0.945, 88.0)]);
        let a = run(&flat, 0.2);
        let c = a.converged().expect("nothing left is expected to gain");
        assert_eq!(c.builds, 2);
        assert_eq!(c.champion_cost, 95.0);
        assert!(c.reason.contains("95.0"), "{}", c.reason);

        // 80 opened first instead and much worse (150): the step from 80 to 120 gained
        // more than the noise, so 180 is still worth a build.
        let mut rising = first.to_vec();
        rising.extend([at(80, 34, 0.951, 150.0), at(80, 30, 0.93, 140.0)]);
        let a = run(&rising, 0.2);
        let builds: Vec<i64> = a
            .promising
            .iter()
            .filter(|c| c.new_build)
            .map(|c| c.params.int(EF_CONSTRUCTION).unwrap())
            .collect();
        assert_eq!(builds, [180]);

        // Had 180 been much better than 120, 270 would be next.
        let mut falling = first.to_vec();
        falling.extend([at(180, 30, 0.955, 70.0), at(180, 27, 0.945, 60.0)]);
        let a = run(&falling, 0.2);
        assert!(
            a.promising
                .iter()
                .any(|c| c.new_build && c.params.int(EF_CONSTRUCTION) == Some(270))
        );
    }

    #[test]
    fn an_axis_coarser_than_a_step_offers_its_next_values() {
        // `m` steps by 2×, past the 1.5× band: its neighbours are the next values.
        let space = SearchSpace::hnsw()
            .with_param(ParamSpec::levels(M, vec![8, 16, 32, 64], Phase::Build).with_default(32))
            .unwrap();
        let objective = Objective::new(0.95).unwrap();
        let with_m = |m: i64, mut t: Trial| {
            t.params = t.params.clone().with(M, m);
            t
        };
        let ms_offered = |history: &[Trial]| -> Vec<i64> {
            let ctx = ProposalContext {
                space: &space,
                history,
                champion: None,
                objective: &objective,
            };
            assess_with(&ctx, StudyNoise::prior(), 0.2)
                .promising
                .iter()
                .filter(|c| c.new_build && c.params.int(EF_CONSTRUCTION) == Some(120))
                .map(|c| c.params.int(M).unwrap())
                .collect()
        };
        let first = [with_m(32, at(120, 34, 0.96, 100.0))];
        assert_eq!(ms_offered(&first), [16, 64], "both neighbours along m");
        // 16 opened and much worse: the step gained, so 64 stays; 8 lies past 16.
        let mut rising = first.to_vec();
        rising.push(with_m(16, at(120, 34, 0.96, 150.0)));
        assert_eq!(ms_offered(&rising), [64]);
        // 16 opened and level: 64 is not expected to gain more than the noise.
        let mut flat = first.to_vec();
        flat.push(with_m(16, at(120, 34, 0.96, 105.0)));
        assert_eq!(ms_offered(&flat), Vec::<i64>::new());
    }

    #[test]
    fn nothing_is_claimed_without_a_feasible_config_or_outside_the_model() {
        let infeasible = [at(120, 200, 0.90, 400.0)];
        assert!(run(&infeasible, 0.2).converged().is_none());
        let space = SearchSpace::new(vec![hnswtune_core::ParamSpec::int(
            EF_CONSTRUCTION,
            10,
            20,
            1,
            Phase::Build,
        )])
        .unwrap();
        let objective = Objective::new(0.9).unwrap();
        let ctx = ProposalContext {
            space: &space,
            history: &[],
            champion: None,
            objective: &objective,
        };
        assert!(!assess(&ctx).modelled);
    }

    #[test]
    fn a_group_with_no_feasible_value_is_bounded_by_its_largest_measurement() {
        // 80 misses the floor at 200, the top of the ladder: resolved, nothing to try.
        let history = [at(120, 34, 0.96, 100.0), at(80, 200, 0.94, 500.0)];
        let a = run(&history, 0.2);
        assert!(
            a.promising
                .iter()
                .all(|c| c.params.int(EF_CONSTRUCTION) != Some(80)),
            "{:?}",
            a.promising
        );
        // 80 misses at 24 (60 µs): 27 could still be cheap.
        let history = [at(120, 34, 0.96, 100.0), at(80, 24, 0.94, 60.0)];
        let a = run(&history, 0.2);
        assert!(
            a.promising
                .iter()
                .any(|c| !c.new_build && c.params.int(EF_CONSTRUCTION) == Some(80))
        );
    }
}
