//! How noisy one p50 measurement is, measured by the study itself.
//!
//! Every rule that compares two latencies (Frontier's dominance bounds, the convergence
//! rule of [`crate::assess`], the agent's promotion margin) must know how far apart two
//! measurements of one config can fall. That spread depends on the backend, the data and
//! the machine: instant-distance builds on 2 threads differ by a median of 8–11% and a
//! 90th percentile of about 25–35%; hnswlib-like backends by 3–4%. A constant chosen on
//! one of them is wrong on the other, so the study measures it:
//!
//! - **Repeats within a trial.** The harness times several passes over the queries;
//!   each completed trial records the spread of their p50s
//!   ([`TrialMetrics::p50_pass_spread`](hnswtune_core::TrialMetrics::p50_pass_spread)).
//! - **Repeats across trials.** A config measured more than once (a re-measured
//!   champion, a second build, another worker's trial) gives `max / min − 1` of its p50s.
//!
//! The estimate is the 90th percentile of those samples, blended with a prior until
//! there are enough of them: `r = (w·prior + n·p90) / (w + n)` with `w =`
//! [`PRIOR_WEIGHT`] pseudo-samples. The prior, [`PRIOR_P50_SPREAD`], is the pooled 90th
//! percentile of the repeat pairs of the recorded landscapes
//! (`cargo run --release -p hnswtune-bench-propose --bin efficiency -- --noise
//! landscapes/*.jsonl`), so a study with no measurements behaves as one on the noisiest
//! backend measured. A dominance tolerance follows as `r / (1 + r)`: a bound and an
//! incumbent are told apart only when they differ by more than nine in ten repeat pairs
//! do.
//!
//! Within-trial passes are seconds apart on one build, so they see timing noise but not
//! the difference between two builds of one config; cross-trial repeats see both. Both
//! enter the same pool; docs/stopping.md ("Measured noise") gives the figures of a
//! real study.

use hnswtune_core::Trial;

use crate::lattice::{ByValues, FxHashMap};
use serde::Serialize;

/// The prior spread: the pooled 90th percentile of `max / min − 1` over the repeat
/// pairs of the recorded MiniLM and clustered landscapes (250 configs).
pub const PRIOR_P50_SPREAD: f64 = 0.351;

/// How many measured samples the prior counts as.
pub const PRIOR_WEIGHT: f64 = 5.0;

/// A study's estimate of the relative spread of one p50 measurement.
///
/// ```
/// use hnswtune_propose::{StudyNoise, PRIOR_P50_SPREAD};
///
/// let none = StudyNoise::of_history(&[]);
/// assert_eq!(none.samples, 0);
/// assert_eq!(none.spread, PRIOR_P50_SPREAD);
/// assert!((none.tolerance() - 0.26).abs() < 0.001);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StudyNoise {
    /// The blended estimate `r` of the 90th-percentile relative spread.
    pub spread: f64,
    /// The 90th percentile of the measured samples alone, when there are any.
    pub measured: Option<f64>,
    /// How many samples were measured.
    pub samples: usize,
}

impl StudyNoise {
    /// The prior alone, as for a study with no measurements.
    pub fn prior() -> Self {
        StudyNoise {
            spread: PRIOR_P50_SPREAD,
            measured: None,
            samples: 0,
        }
    }

    /// The estimate from the completed trials of `history` (the trials of one data set).
    pub fn of_history(history: &[Trial]) -> Self {
        Self::with_prior(history, PRIOR_P50_SPREAD)
    }

    /// As [`StudyNoise::of_history`] with another prior spread.
    pub fn with_prior(history: &[Trial], prior: f64) -> Self {
        let mut samples: Vec<f64> = Vec::new();
        let mut by_config: FxHashMap<ByValues<'_>, (f64, f64, usize)> =
            FxHashMap::with_capacity_and_hasher(history.len(), Default::default());
        for trial in history {
            let Some(m) = trial.completed_metrics() else {
                continue;
            };
            if let Some(s) = m.p50_pass_spread.filter(|s| s.is_finite() && *s >= 0.0) {
                samples.push(s);
            }
            let p50 = m.search_p50_us;
            if p50 > 0.0 && p50.is_finite() {
                let e = by_config
                    .entry(ByValues(&trial.params))
                    .or_insert((p50, p50, 0));
                e.0 = e.0.min(p50);
                e.1 = e.1.max(p50);
                e.2 += 1;
            }
        }
        samples.extend(
            by_config
                .values()
                .filter(|(_, _, n)| *n >= 2)
                .map(|(lo, hi, _)| hi / lo - 1.0),
        );
        let measured = p90(&mut samples);
        let n = samples.len() as f64;
        let spread = match measured {
            Some(m) => (PRIOR_WEIGHT * prior + n * m) / (PRIOR_WEIGHT + n),
            None => prior,
        };
        StudyNoise {
            spread,
            measured,
            samples: samples.len(),
        }
    }

    /// The relative tolerance of a comparison between two single measurements,
    /// `r / (1 + r)`: `a` is told apart from `b > a` only when `a < b × (1 − tolerance)`.
    pub fn tolerance(&self) -> f64 {
        (self.spread / (1.0 + self.spread)).clamp(0.0, 0.95)
    }
}

/// The 90th percentile (nearest rank) of `values`, `None` when empty.
fn p90(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let rank = ((0.9 * values.len() as f64).ceil() as usize).clamp(1, values.len());
    let (_, nth, _) = values.select_nth_unstable_by(rank - 1, f64::total_cmp);
    Some(*nth)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{metrics, trial_of};
    use hnswtune_core::Params;

    fn trial(ef: i64, p50: f64, spread: Option<f64>) -> Trial {
        let mut m = metrics(0.95, p50);
        m.p50_pass_spread = spread;
        trial_of(Params::new().with("ef_search", ef), m)
    }

    #[test]
    fn the_prior_gives_way_to_measurements() {
        let quiet: Vec<Trial> = (0..45).map(|i| trial(i, 100.0, Some(0.04))).collect();
        let noise = StudyNoise::of_history(&quiet);
        assert_eq!(noise.samples, 45);
        assert_eq!(noise.measured, Some(0.04));
        let expected = (5.0 * PRIOR_P50_SPREAD + 45.0 * 0.04) / 50.0;
        assert!((noise.spread - expected).abs() < 1e-12);
        assert!(noise.tolerance() < StudyNoise::prior().tolerance() / 2.0);
        let few = StudyNoise::of_history(&quiet[..2]);
        assert!(few.spread > 0.25, "two samples barely move the prior");
    }

    #[test]
    fn a_config_measured_twice_is_a_sample_and_failed_trials_are_not() {
        let history = vec![
            trial(10, 100.0, None),
            trial(10, 130.0, None),
            trial(20, 100.0, None),
            trial(30, 90.0, None).fail("boom"),
        ];
        let noise = StudyNoise::of_history(&history);
        assert_eq!(noise.samples, 1);
        assert!((noise.measured.unwrap() - 0.3).abs() < 1e-12);
    }

    #[test]
    fn the_90th_percentile_takes_the_nearest_rank() {
        let mut v: Vec<f64> = (1..=10).map(f64::from).collect();
        assert_eq!(p90(&mut v), Some(9.0));
        assert_eq!(p90(&mut [5.0]), Some(5.0));
        assert_eq!(p90(&mut []), None);
    }
}
