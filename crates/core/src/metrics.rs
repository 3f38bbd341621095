//! What one trial measured.

use serde::{Deserialize, Serialize};

use crate::Error;

/// How the index a trial measured came to exist.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuildKind {
    /// Built from scratch for this trial.
    #[default]
    Fresh,
    /// Reused from the build cache: only search-time parameters changed.
    Cached,
    /// An earlier build extended with appended vectors.
    Extended,
}

/// The measurements of one completed trial.
///
/// Every float must be finite and non-negative, and recalls lie in `[0, 1]`;
/// [`TrialMetrics::validate`] enforces that and every journal calls it before writing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialMetrics {
    /// Wall-clock seconds to build the index (0 when the build was cached).
    pub build_secs: f64,
    /// Median single-query latency, microseconds.
    pub search_p50_us: f64,
    /// 95th-percentile single-query latency, microseconds.
    pub search_p95_us: f64,
    /// 99th-percentile single-query latency, microseconds.
    pub search_p99_us: f64,
    /// Single-threaded queries per second.
    pub qps: f64,
    /// recall@k by ids: the mean over queries of |returned ∩ true top-k| / k.
    pub recall: f64,
    /// recall@k by distance (ann-benchmarks): a returned item is a hit when its distance
    /// is at most the true k-th distance plus a small epsilon, so ties cost nothing.
    pub recall_tolerant: f64,
    /// The k of recall@k.
    pub k: u32,
    /// Measured size of the index in bytes.
    pub index_bytes: u64,
    /// Number of vectors in the index.
    pub vector_count: u64,
    /// Number of evaluation queries.
    pub eval_query_count: u64,
    /// Brute-force (exact) latency per query, microseconds.
    pub brute_force_us: f64,
    /// Total wall-clock seconds spent searching in this trial (all repeats).
    #[serde(default)]
    pub search_secs: f64,
    /// Whether the index was built, reused or extended.
    #[serde(default)]
    pub build_kind: BuildKind,
    /// Seconds the build this trial ran on took when it was made: equal to
    /// `build_secs` for a fresh build, the original build's time for a cached one. This
    /// is what the config costs; `build_secs` is what this trial spent. `None` in
    /// trials recorded before it was measured ([`TrialMetrics::build_cost_secs`] then
    /// falls back to `build_secs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_build_secs: Option<f64>,
    /// The spread of p50 over this trial's timed passes, `max / min − 1` (0.05: the
    /// slowest pass's p50 was 5% above the fastest's). A study's own measure of timing
    /// noise; `None` when not measured (one pass, or an older trial).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_pass_spread: Option<f64>,
}

impl TrialMetrics {
    /// What building this config costs, seconds: [`TrialMetrics::config_build_secs`]
    /// when recorded, else `build_secs`. The Pareto front, the CLI's champion line and
    /// its plots rank builds by this, so a trial on a reused build is not free.
    pub fn build_cost_secs(&self) -> f64 {
        self.config_build_secs.unwrap_or(self.build_secs)
    }

    /// Rejects non-finite or negative figures and recalls outside `[0, 1]`.
    pub fn validate(&self) -> Result<(), Error> {
        let floats = [
            ("build_secs", self.build_secs),
            ("search_p50_us", self.search_p50_us),
            ("search_p95_us", self.search_p95_us),
            ("search_p99_us", self.search_p99_us),
            ("qps", self.qps),
            ("recall", self.recall),
            ("recall_tolerant", self.recall_tolerant),
            ("brute_force_us", self.brute_force_us),
            ("search_secs", self.search_secs),
            (
                "config_build_secs",
                self.config_build_secs.unwrap_or_default(),
            ),
            ("p50_pass_spread", self.p50_pass_spread.unwrap_or_default()),
        ];
        for (name, v) in floats {
            if !v.is_finite() {
                return Err(Error::invalid(
                    format!("metrics.{name}"),
                    format!("{v} is not finite"),
                ));
            }
            if v < 0.0 {
                return Err(Error::invalid(
                    format!("metrics.{name}"),
                    format!("{v} is negative"),
                ));
            }
        }
        for (name, v) in [
            ("recall", self.recall),
            ("recall_tolerant", self.recall_tolerant),
        ] {
            if v > 1.0 {
                return Err(Error::invalid(
                    format!("metrics.{name}"),
                    format!("{v} is above 1"),
                ));
            }
        }
        if self.k == 0 {
            return Err(Error::invalid("metrics.k", "k must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn a_cached_trial_costs_its_build_and_old_trials_fall_back_to_build_secs() {
        let mut m = sample();
        m.build_secs = 0.0;
        m.build_kind = BuildKind::Cached;
        m.config_build_secs = Some(129.0);
        assert_eq!(m.build_cost_secs(), 129.0);
        m.config_build_secs = None;
        m.build_secs = 7.0;
        assert_eq!(m.build_cost_secs(), 7.0);
        m.config_build_secs = Some(f64::NAN);
        assert!(m.validate().is_err());
        let old = r#"{"build_secs":2.0,"search_p50_us":1.0,"search_p95_us":1.0,"search_p99_us":1.0,"qps":1.0,"recall":0.9,"recall_tolerant":0.9,"k":10,"index_bytes":1,"vector_count":1,"eval_query_count":1,"brute_force_us":1.0}"#;
        let old: TrialMetrics = serde_json::from_str(old).unwrap();
        assert_eq!((old.config_build_secs, old.p50_pass_spread), (None, None));
        let json = serde_json::to_string(&old).unwrap();
        assert!(
            !json.contains("config_build_secs"),
            "unset fields stay out: {json}"
        );
    }

    pub(crate) fn sample() -> TrialMetrics {
        TrialMetrics {
            build_secs: 1.5,
            search_p50_us: 120.0,
            search_p95_us: 180.0,
            search_p99_us: 240.0,
            qps: 8000.0,
            recall: 0.95,
            recall_tolerant: 0.96,
            k: 10,
            index_bytes: 1 << 20,
            vector_count: 1000,
            eval_query_count: 100,
            brute_force_us: 900.0,
            search_secs: 0.05,
            build_kind: BuildKind::Fresh,
            config_build_secs: None,
            p50_pass_spread: None,
        }
    }

    #[test]
    fn rejects_non_finite_and_out_of_range_values() {
        sample().validate().unwrap();
        for bad in [f64::NAN, f64::INFINITY, -1.0] {
            let mut m = sample();
            m.search_p50_us = bad;
            assert!(matches!(m.validate(), Err(Error::InvalidInput { .. })));
        }
        let mut m = sample();
        m.recall = 1.01;
        assert!(m.validate().is_err());
        let mut m = sample();
        m.k = 0;
        assert!(m.validate().is_err());
    }
}
