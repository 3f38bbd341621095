//! What "better" means: a recall floor, optional budgets, one quantity to minimise, a
//! noise-aware "beats the champion" rule, and Pareto dominance.
//!
//! ## The promotion rule
//!
//! A challenger can only win when it is *feasible*: recall ≥ `min_recall` and within
//! `max_index_bytes` / `max_build_secs` when set. That floor is never waived. Among
//! feasible configs the objective minimises one cost (p50 by default). A challenger
//! beats a feasible champion when its cost is lower by more than `noise_margin` (a
//! fraction, 3% by default). When its cost is lower by less than that, or equal, the
//! two tie, and a challenger with recall higher by more than [`RECALL_TIE_EPSILON`]
//! wins. Unlike the seed's rule, a slower challenger never wins a tie: recall above the
//! floor is not what the objective buys, and a tie band above the champion's cost would
//! let each recall tie-break add up to one margin of latency (a measured margin can be
//! 10% or more). A feasible challenger always beats an infeasible champion (for example
//! one whose recall fell after data was appended).
//!
//! Comparing against the champion's *recorded* metrics is only a pre-filter: the agent
//! re-measures both side by side ([`crate::AbComparison`]) before promoting.

use serde::{Deserialize, Serialize};

use crate::{Error, Trial, TrialMetrics};

/// Recalls closer than this are equal (the seed's 1e-4).
pub const RECALL_TIE_EPSILON: f64 = 1e-4;

/// The quantity minimised among feasible configs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Minimize {
    /// Median query latency.
    #[default]
    P50,
    /// 95th-percentile query latency.
    P95,
    /// Build time.
    BuildSecs,
}

/// A recall floor, optional budgets, and what to minimise.
///
/// ```
/// use hnswtune_core::Objective;
/// let objective = Objective::new(0.95).unwrap();
/// assert!(Objective::new(1.5).is_err());
/// assert_eq!(objective.noise_margin, 0.03);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    /// The hard recall floor, in (0, 1].
    pub min_recall: f64,
    /// Largest acceptable index size.
    #[serde(default)]
    pub max_index_bytes: Option<u64>,
    /// Longest acceptable build.
    #[serde(default)]
    pub max_build_secs: Option<f64>,
    /// What to minimise among feasible configs.
    #[serde(default)]
    pub minimize: Minimize,
    /// Relative improvement a challenger needs to count as better, in [0, 1).
    #[serde(default = "default_noise_margin")]
    pub noise_margin: f64,
}

fn default_noise_margin() -> f64 {
    0.03
}

impl Default for Objective {
    fn default() -> Self {
        Objective {
            min_recall: 0.9,
            max_index_bytes: None,
            max_build_secs: None,
            minimize: Minimize::P50,
            noise_margin: default_noise_margin(),
        }
    }
}

impl Objective {
    /// An objective with recall floor `min_recall` and the defaults otherwise.
    pub fn new(min_recall: f64) -> Result<Self, Error> {
        let objective = Objective {
            min_recall,
            ..Objective::default()
        };
        objective.validate()?;
        Ok(objective)
    }

    /// Checks the fields' ranges.
    pub fn validate(&self) -> Result<(), Error> {
        if !(self.min_recall > 0.0 && self.min_recall <= 1.0) {
            return Err(Error::invalid(
                "objective.min_recall",
                format!("{} is outside (0, 1]", self.min_recall),
            ));
        }
        if !(self.noise_margin >= 0.0 && self.noise_margin < 1.0) {
            return Err(Error::invalid(
                "objective.noise_margin",
                format!("{} is outside [0, 1)", self.noise_margin),
            ));
        }
        if let Some(b) = self.max_build_secs
            && !(b.is_finite() && b > 0.0)
        {
            return Err(Error::invalid(
                "objective.max_build_secs",
                format!("{b} is not a positive number"),
            ));
        }
        Ok(())
    }

    /// True when the metrics meet the recall floor and every budget.
    pub fn feasible(&self, m: &TrialMetrics) -> bool {
        m.recall >= self.min_recall
            && self
                .max_index_bytes
                .is_none_or(|limit| m.index_bytes <= limit)
            && self
                .max_build_secs
                .is_none_or(|limit| m.build_cost_secs() <= limit)
    }

    /// The minimised quantity of `m`.
    pub fn cost(&self, m: &TrialMetrics) -> f64 {
        match self.minimize {
            Minimize::P50 => m.search_p50_us,
            Minimize::P95 => m.search_p95_us,
            Minimize::BuildSecs => m.build_cost_secs(),
        }
    }

    /// The promotion rule (see the module docs): does `challenger` beat `champion`?
    pub fn beats(&self, challenger: &TrialMetrics, champion: Option<&TrialMetrics>) -> bool {
        if !self.feasible(challenger) {
            return false;
        }
        let Some(champion) = champion else {
            return true;
        };
        if !self.feasible(champion) {
            return true;
        }
        let (c, k) = (self.cost(challenger), self.cost(champion));
        if c < k * (1.0 - self.noise_margin) {
            return true;
        }
        // A tie: lower by less than the margin, or equal; never slower.
        c <= k && challenger.recall > champion.recall + RECALL_TIE_EPSILON
    }

    /// The feasible trial with the lowest cost in `trials` (ties: higher recall, then
    /// the earlier id), ignoring incomplete trials.
    pub fn best<'a>(&self, trials: impl IntoIterator<Item = &'a Trial>) -> Option<&'a Trial> {
        trials
            .into_iter()
            .filter(|t| t.completed_metrics().is_some_and(|m| self.feasible(m)))
            .min_by(|a, b| {
                let (ma, mb) = (
                    a.metrics.as_ref().expect("filtered"),
                    b.metrics.as_ref().expect("filtered"),
                );
                self.cost(ma)
                    .total_cmp(&self.cost(mb))
                    .then(mb.recall.total_cmp(&ma.recall))
                    .then(a.id.cmp(&b.id))
            })
    }
}

/// True when `a` Pareto-dominates `b` over (recall ↑, p50 ↓, index bytes ↓, build
/// cost ↓): no worse on every axis and strictly better on at least one. The build cost is
/// [`TrialMetrics::build_cost_secs`], so a trial on a reused build counts what its build
/// took, not the 0 s the trial itself spent building.
pub fn dominates(a: &TrialMetrics, b: &TrialMetrics) -> bool {
    let no_worse = a.recall >= b.recall
        && a.search_p50_us <= b.search_p50_us
        && a.index_bytes <= b.index_bytes
        && a.build_cost_secs() <= b.build_cost_secs();
    let better = a.recall > b.recall
        || a.search_p50_us < b.search_p50_us
        || a.index_bytes < b.index_bytes
        || a.build_cost_secs() < b.build_cost_secs();
    no_worse && better
}

/// The completed trials that no other completed trial dominates, in input order.
///
/// It visits the trials in an order in which every trial's dominators come first
/// (p50 ascending, then recall descending, then size and build cost ascending), and
/// checks each only against the front found so far: a dominated trial is dominated by
/// some trial of the front, because dominance is transitive. That is O(n · front)
/// instead of O(n²), which matters for a server answering a study of 10k trials.
pub fn pareto_front<'a>(trials: impl IntoIterator<Item = &'a Trial>) -> Vec<&'a Trial> {
    let mut done: Vec<(usize, &TrialMetrics, &Trial)> = trials
        .into_iter()
        .enumerate()
        .filter_map(|(i, t)| t.completed_metrics().map(|m| (i, m, t)))
        .collect();
    done.sort_by(|(_, a, _), (_, b, _)| {
        a.search_p50_us
            .total_cmp(&b.search_p50_us)
            .then(b.recall.total_cmp(&a.recall))
            .then(a.index_bytes.cmp(&b.index_bytes))
            .then(a.build_cost_secs().total_cmp(&b.build_cost_secs()))
    });
    let mut front: Vec<(usize, &TrialMetrics, &Trial)> = Vec::new();
    for candidate in done {
        if !front.iter().any(|(_, m, _)| dominates(m, candidate.1)) {
            front.push(candidate);
        }
    }
    front.sort_by_key(|(i, _, _)| *i);
    front.into_iter().map(|(_, _, t)| t).collect()
}

/// Latency of a champion and a challenger measured alternately in one run.
///
/// Each vector holds one p50 per repeat; the repeats interleave A and B so that
/// machine drift affects both alike.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AbComparison {
    /// The champion's p50 per repeat, microseconds.
    pub champion_p50_us: Vec<f64>,
    /// The challenger's p50 per repeat, microseconds.
    pub challenger_p50_us: Vec<f64>,
    /// The champion's recall in this run.
    pub champion_recall: f64,
    /// The challenger's recall in this run.
    pub challenger_recall: f64,
}

impl AbComparison {
    /// The median of the champion's repeats.
    pub fn champion_median_us(&self) -> f64 {
        median(&self.champion_p50_us)
    }

    /// The median of the challenger's repeats.
    pub fn challenger_median_us(&self) -> f64 {
        median(&self.challenger_p50_us)
    }

    /// The noise rule: the challenger wins on latency when its median p50 is at least
    /// `margin` lower than the champion's **and** its slowest repeat is faster than the
    /// champion's fastest, so the gain lies outside the spread of the repeats.
    pub fn challenger_faster(&self, margin: f64) -> bool {
        if self.champion_p50_us.is_empty() || self.challenger_p50_us.is_empty() {
            return false;
        }
        let worst_challenger = self
            .challenger_p50_us
            .iter()
            .copied()
            .fold(f64::MIN, f64::max);
        let best_champion = self
            .champion_p50_us
            .iter()
            .copied()
            .fold(f64::MAX, f64::min);
        self.challenger_median_us() <= self.champion_median_us() * (1.0 - margin)
            && worst_challenger < best_champion
    }
}

/// The median of `values` (NaN for an empty slice).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::tests::sample;
    use crate::trial::tests::arb_trial;
    use proptest::prelude::*;

    fn m(recall: f64, p50: f64) -> TrialMetrics {
        TrialMetrics {
            recall,
            search_p50_us: p50,
            ..sample()
        }
    }

    #[test]
    fn a_reused_build_is_not_free_on_the_front() {
        let fresh = {
            let mut m = m(0.95, 100.0);
            m.build_secs = 10.0;
            m
        };
        let cached = {
            let mut m = m(0.95, 100.0);
            m.build_secs = 0.0;
            m.build_kind = crate::BuildKind::Cached;
            m.config_build_secs = Some(129.0);
            m
        };
        assert!(
            dominates(&fresh, &cached),
            "129 s of build is worse than 10 s"
        );
        assert!(!dominates(&cached, &fresh));
    }

    #[test]
    fn beats_follows_the_documented_rule() {
        let o = Objective::new(0.9).unwrap();
        assert!(o.beats(&m(0.95, 100.0), None));
        assert!(!o.beats(&m(0.89, 10.0), None));
        assert!(o.beats(&m(0.95, 90.0), Some(&m(0.95, 100.0))));
        assert!(
            !o.beats(&m(0.95, 98.0), Some(&m(0.95, 100.0))),
            "within noise"
        );
        assert!(
            o.beats(&m(0.97, 99.0), Some(&m(0.95, 100.0))),
            "tie broken by recall"
        );
        assert!(
            !o.beats(&m(0.99, 150.0), Some(&m(0.95, 100.0))),
            "slower loses"
        );
        assert!(
            !o.beats(&m(0.99, 101.0), Some(&m(0.95, 100.0))),
            "a slower challenger never wins on recall, even within the margin"
        );
        assert!(
            o.beats(&m(0.96, 100.0), Some(&m(0.95, 100.0))),
            "an equal cost is a tie"
        );
        assert!(
            o.beats(&m(0.91, 500.0), Some(&m(0.85, 100.0))),
            "infeasible champion"
        );
    }

    #[test]
    fn budgets_make_configs_infeasible() {
        let o = Objective {
            max_index_bytes: Some(100),
            ..Objective::new(0.5).unwrap()
        };
        assert!(!o.feasible(&m(0.99, 1.0)));
    }

    #[test]
    fn objective_validation() {
        assert!(Objective::new(0.0).is_err());
        assert!(Objective::new(f64::NAN).is_err());
        assert!(Objective::new(1.0).is_ok());
        let o = Objective {
            noise_margin: 1.0,
            ..Objective::default()
        };
        assert!(o.validate().is_err());
    }

    #[test]
    fn ab_noise_rule() {
        let ab = AbComparison {
            champion_p50_us: vec![100.0, 102.0, 101.0],
            challenger_p50_us: vec![90.0, 91.0, 92.0],
            ..Default::default()
        };
        assert!(ab.challenger_faster(0.03));
        let overlapping = AbComparison {
            champion_p50_us: vec![100.0, 80.0, 101.0],
            challenger_p50_us: vec![90.0, 91.0, 92.0],
            ..Default::default()
        };
        assert!(!overlapping.challenger_faster(0.03));
        assert!(!AbComparison::default().challenger_faster(0.0));
    }

    proptest! {
        #[test]
        fn the_front_is_exactly_the_undominated_completed_trials(
            points in proptest::collection::vec((0u8..6, 0u8..6, 0u8..3, 0u8..3, any::<bool>()), 0..40),
        ) {
            // Few distinct values per axis, so that ties and equal trials are common.
            let trials: Vec<Trial> = points
                .iter()
                .map(|&(recall, p50, bytes, build, complete)| {
                    let metrics = TrialMetrics {
                        recall: f64::from(recall) / 5.0,
                        search_p50_us: f64::from(p50),
                        index_bytes: u64::from(bytes),
                        build_secs: f64::from(build),
                        config_build_secs: None,
                        ..sample()
                    };
                    let trial = Trial::start(
                        crate::IndexName::new("front").unwrap(),
                        "eval",
                        crate::Params::new(),
                        crate::trial::tests::fingerprint(),
                        crate::TriggerReason::Study,
                    );
                    if complete { trial.complete(metrics) } else { trial }
                })
                .collect();
            let naive: Vec<&Trial> = trials
                .iter()
                .filter(|t| t.is_complete())
                .filter(|t| {
                    !trials.iter().filter(|o| o.is_complete()).any(|o| {
                        dominates(o.metrics.as_ref().unwrap(), t.metrics.as_ref().unwrap())
                    })
                })
                .collect();
            let ids = |v: Vec<&Trial>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
            prop_assert_eq!(ids(pareto_front(&trials)), ids(naive));
        }

        #[test]
        fn beats_never_accepts_below_min_recall(
            min in 0.01f64..=1.0, recall in 0.0f64..=1.0, p50 in 0.0f64..1e6,
            champ in proptest::option::of((0.0f64..=1.0, 0.0f64..1e6)),
        ) {
            let o = Objective::new(min).unwrap();
            let champion = champ.map(|(r, p)| m(r, p));
            if o.beats(&m(recall, p50), champion.as_ref()) {
                prop_assert!(recall >= min);
            }
        }

        #[test]
        fn pareto_front_is_exactly_the_non_dominated_set(trials in proptest::collection::vec(arb_trial(), 0..24)) {
            let front = pareto_front(&trials);
            for a in &front {
                for b in &front {
                    prop_assert!(!dominates(a.metrics.as_ref().unwrap(), b.metrics.as_ref().unwrap()));
                }
            }
            for t in trials.iter().filter(|t| t.is_complete()) {
                if !front.iter().any(|f| f.id == t.id && std::ptr::eq(*f, t)) {
                    let mt = t.metrics.as_ref().unwrap();
                    prop_assert!(front.iter().any(|f| dominates(f.metrics.as_ref().unwrap(), mt)));
                }
            }
        }
    }
}
