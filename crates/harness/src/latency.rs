//! Search latency: single-threaded per-query timing, percentiles, repeats, and an
//! interleaved A/B comparison.
//!
//! Method (docs/measurement.md has the reasons):
//!
//! 1. **Warm-up.** `warmup_queries` searches run untimed first, so caches, the allocator and
//!    the CPU clock settle before the first timed query.
//! 2. **One thread.** Queries run one after another on the calling thread; each is timed
//!    with [`Instant`] around the search call alone. p50/p95/p99 use the nearest-rank
//!    definition; QPS is queries divided by the run's summed search time.
//! 3. **Repeats.** The whole query set runs `repeats` times; each reported figure is the
//!    median over runs, and the runs are kept so the spread is visible.
//! 4. **Interleaving for A/B.** [`compare_interleaved`] alternates the two indexes run by
//!    run in an ABBA pattern, so slow drift of the machine (thermal, a neighbour's build)
//!    hits both sides alike. It reports the median of the per-repeat p50 ratios and their
//!    range.

use std::time::Instant;

use crate::error::{Error, Result};

/// How latency is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencyOptions {
    /// Untimed searches before the first timed run.
    pub warmup_queries: usize,
    /// Timed passes over the whole query set; figures are the median over passes.
    pub repeats: usize,
}

impl Default for LatencyOptions {
    fn default() -> Self {
        LatencyOptions {
            warmup_queries: 200,
            repeats: 3,
        }
    }
}

/// One timed pass over the query set.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencyRun {
    /// Median per-query latency, µs.
    pub p50_us: f64,
    /// 95th percentile, µs.
    pub p95_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// Queries per second on one thread.
    pub qps: f64,
    /// Summed per-query search time of the pass, seconds.
    pub search_secs: f64,
}

/// The median over passes of every figure, plus the passes themselves.
#[derive(Clone, Debug, PartialEq)]
pub struct LatencySummary {
    /// Median over passes of the per-pass p50, µs.
    pub p50_us: f64,
    /// Median over passes of the per-pass p95, µs.
    pub p95_us: f64,
    /// Median over passes of the per-pass p99, µs.
    pub p99_us: f64,
    /// Median over passes of the per-pass QPS.
    pub qps: f64,
    /// Median over passes of the pass's summed search time, seconds.
    pub search_secs: f64,
    /// Every pass, in the order run.
    pub runs: Vec<LatencyRun>,
}

impl LatencySummary {
    /// `(min, max)` of the per-pass p50, µs.
    pub fn p50_range_us(&self) -> (f64, f64) {
        self.runs
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), r| {
                (lo.min(r.p50_us), hi.max(r.p50_us))
            })
    }

    /// The spread of the per-pass p50, `max / min − 1`: 0 for one pass, and for a
    /// fastest pass of 0 µs (nothing to compare against).
    pub fn p50_spread(&self) -> f64 {
        let (lo, hi) = self.p50_range_us();
        // `lo` is NaN-free here only if it compares greater than 0; anything else returns 0.
        if self.runs.len() < 2
            || lo.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
            || !hi.is_finite()
        {
            return 0.0;
        }
        hi / lo - 1.0
    }

    fn from_runs(runs: Vec<LatencyRun>) -> Self {
        let pick = |f: fn(&LatencyRun) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            median(&mut v)
        };
        LatencySummary {
            p50_us: pick(|r| r.p50_us),
            p95_us: pick(|r| r.p95_us),
            p99_us: pick(|r| r.p99_us),
            qps: pick(|r| r.qps),
            search_secs: pick(|r| r.search_secs),
            runs,
        }
    }
}

/// The median of `values` (mean of the middle two for an even count; 0 when empty).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The nearest-rank percentile `p` (0..=1) of sorted `values`.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn check(query_count: usize, options: &LatencyOptions) -> Result<()> {
    if query_count == 0 {
        return Err(Error::Empty {
            what: "queries".into(),
        });
    }
    if options.repeats == 0 {
        return Err(Error::invalid("latency repeats", "must be at least 1"));
    }
    Ok(())
}

fn warm_up(
    query_count: usize,
    options: &LatencyOptions,
    search: &mut impl FnMut(usize) -> Result<()>,
) -> Result<()> {
    for i in 0..options.warmup_queries {
        search(i % query_count)?;
    }
    Ok(())
}

fn timed_pass(
    query_count: usize,
    search: &mut impl FnMut(usize) -> Result<()>,
) -> Result<LatencyRun> {
    let mut times_us = Vec::with_capacity(query_count);
    for q in 0..query_count {
        let started = Instant::now();
        search(q)?;
        times_us.push(started.elapsed().as_secs_f64() * 1e6);
    }
    let total_secs = times_us.iter().sum::<f64>() / 1e6;
    times_us.sort_by(f64::total_cmp);
    Ok(LatencyRun {
        p50_us: percentile(&times_us, 0.50),
        p95_us: percentile(&times_us, 0.95),
        p99_us: percentile(&times_us, 0.99),
        qps: if total_secs > 0.0 {
            query_count as f64 / total_secs
        } else {
            f64::INFINITY
        },
        search_secs: total_secs,
    })
}

/// Times `search(q)` for every query index `q < query_count`, after a warm-up, over
/// `options.repeats` passes.
///
/// ```
/// use hnswtune_harness::latency::{measure, LatencyOptions};
/// let s = measure(10, &LatencyOptions { warmup_queries: 2, repeats: 3 }, |_| Ok(()))?;
/// assert_eq!(s.runs.len(), 3);
/// assert!(s.p50_us <= s.p99_us);
/// # Ok::<(), hnswtune_harness::Error>(())
/// ```
pub fn measure(
    query_count: usize,
    options: &LatencyOptions,
    mut search: impl FnMut(usize) -> Result<()>,
) -> Result<LatencySummary> {
    check(query_count, options)?;
    warm_up(query_count, options, &mut search)?;
    let runs = (0..options.repeats)
        .map(|_| timed_pass(query_count, &mut search))
        .collect::<Result<Vec<_>>>()?;
    Ok(LatencySummary::from_runs(runs))
}

/// The outcome of an interleaved A/B latency comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct AbLatency {
    /// Side A's summary.
    pub a: LatencySummary,
    /// Side B's summary.
    pub b: LatencySummary,
    /// Median over repeats of `b.p50 / a.p50` within the same repeat (< 1: B is faster).
    pub p50_ratio: f64,
    /// Smallest per-repeat ratio.
    pub p50_ratio_min: f64,
    /// Largest per-repeat ratio.
    pub p50_ratio_max: f64,
}

/// Measures two searchers alternately in one run (ABBA order per repeat), so machine drift
/// cancels out of the comparison.
pub fn compare_interleaved(
    query_count: usize,
    options: &LatencyOptions,
    mut a: impl FnMut(usize) -> Result<()>,
    mut b: impl FnMut(usize) -> Result<()>,
) -> Result<AbLatency> {
    check(query_count, options)?;
    warm_up(query_count, options, &mut a)?;
    warm_up(query_count, options, &mut b)?;
    let mut runs_a = Vec::with_capacity(options.repeats);
    let mut runs_b = Vec::with_capacity(options.repeats);
    for r in 0..options.repeats {
        if r % 2 == 0 {
            runs_a.push(timed_pass(query_count, &mut a)?);
            runs_b.push(timed_pass(query_count, &mut b)?);
        } else {
            runs_b.push(timed_pass(query_count, &mut b)?);
            runs_a.push(timed_pass(query_count, &mut a)?);
        }
    }
    let mut ratios: Vec<f64> = runs_a
        .iter()
        .zip(&runs_b)
        .map(|(x, y)| {
            if x.p50_us > 0.0 {
                y.p50_us / x.p50_us
            } else {
                1.0
            }
        })
        .collect();
    let p50_ratio_min = ratios.iter().copied().fold(f64::INFINITY, f64::min);
    let p50_ratio_max = ratios.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    Ok(AbLatency {
        p50_ratio: median(&mut ratios),
        p50_ratio_min,
        p50_ratio_max,
        a: LatencySummary::from_runs(runs_a),
        b: LatencySummary::from_runs(runs_b),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(us: u64) {
        let t = Instant::now();
        while t.elapsed().as_micros() < u128::from(us) {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn percentiles_and_median() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn interleaved_comparison_sees_a_real_difference() {
        let opts = LatencyOptions {
            warmup_queries: 2,
            repeats: 3,
        };
        let ab = compare_interleaved(
            20,
            &opts,
            |_| {
                spin(40);
                Ok(())
            },
            |_| {
                spin(200);
                Ok(())
            },
        )
        .unwrap();
        assert!(ab.p50_ratio > 2.0, "ratio {}", ab.p50_ratio);
        assert!(ab.p50_ratio_min <= ab.p50_ratio && ab.p50_ratio <= ab.p50_ratio_max);
        assert_eq!(ab.a.runs.len(), 3);
        assert!(ab.a.p50_us < ab.b.p50_us);
    }

    #[test]
    fn bad_options_and_search_errors_surface() {
        let opts = LatencyOptions {
            warmup_queries: 0,
            repeats: 0,
        };
        assert!(matches!(
            measure(3, &opts, |_| Ok(())),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            measure(0, &LatencyOptions::default(), |_| Ok(())),
            Err(Error::Empty { .. })
        ));
        let r = measure(3, &LatencyOptions::default(), |_| {
            Err(Error::invalid("x", "y"))
        });
        assert!(r.is_err());
    }
}
