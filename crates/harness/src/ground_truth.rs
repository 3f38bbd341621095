//! Exact k-nearest-neighbour ground truth by blocked matrix multiply and partial selection.
//!
//! For unit vectors (cosine) the distance is `1 - q·b`; for L2 it is `|q|² + |b|² - 2 q·b`.
//! Either way the expensive part is the matrix of inner products `base_block × queriesᵀ`,
//! which [`matrixmultiply::sgemm`] computes with a cache-blocked, packed, SIMD micro-kernel
//! (Goto & van de Geijn, "Anatomy of high-performance matrix multiplication", 2008). The
//! base is cut into blocks of [`BASE_BLOCK_ROWS`] rows that rayon spreads over the threads;
//! each block's score matrix is written query-major so every query's scores are contiguous,
//! and a bounded max-heap keeps each query's best candidates (a partial top-k selection,
//! O(n log c) at worst and close to O(n) in practice since most scores fail the threshold).
//!
//! GEMM rounding can swap two candidates whose distances differ in the last bits, so the
//! selection keeps `k + margin` candidates and re-scores them in `f64`; the final order is
//! by (distance, id), which breaks exact ties (duplicate vectors) by the smaller id. The
//! stored distances are those `f64` values rounded to `f32`.
//!
//! Invariants: `ids.len() == distances.len() == query_count * k`; each row is sorted
//! nearest first; every id is `< base_len`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::vectors::{Metric, Vectors};

/// Rows of the base handled by one GEMM call (and one rayon task).
pub const BASE_BLOCK_ROWS: usize = 1024;

/// How many queries are timed one at a time for [`GroundTruth::brute_force_us_per_query`].
pub const BRUTE_FORCE_SAMPLE: usize = 20;

/// The exact nearest neighbours of every query of an eval set, for one base.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroundTruth {
    /// Neighbours kept per query.
    pub k: usize,
    /// The number of queries.
    pub query_count: usize,
    /// Row-major `query_count × k` base ids, nearest first.
    pub ids: Vec<u32>,
    /// Row-major `query_count × k` distances under `metric` (see [`Metric::distance`]).
    pub distances: Vec<f32>,
    /// The metric the distances are in.
    pub metric: Metric,
    /// The number of base vectors it was computed against.
    pub base_len: usize,
    /// [`Vectors::content_hash`] of the base.
    pub base_hash: u64,
    /// [`Vectors::content_hash`] of the queries.
    pub query_hash: u64,
    /// Median single-threaded exact scan time for one query, in µs (the brute-force
    /// latency an index is meant to beat), over up to [`BRUTE_FORCE_SAMPLE`] queries.
    pub brute_force_us_per_query: f64,
    /// Wall time of the batched computation, in seconds.
    pub compute_secs: f64,
}

impl GroundTruth {
    /// The first `k` ids of query `q` (all stored ids if `k` exceeds them).
    pub fn ids(&self, q: usize, k: usize) -> &[u32] {
        let row = &self.ids[q * self.k..(q + 1) * self.k];
        &row[..k.min(self.k)]
    }

    /// The first `k` distances of query `q`.
    pub fn distances(&self, q: usize, k: usize) -> &[f32] {
        let row = &self.distances[q * self.k..(q + 1) * self.k];
        &row[..k.min(self.k)]
    }

    /// The true distance of query `q`'s `k`-th neighbour (1-based `k`).
    pub fn kth_distance(&self, q: usize, k: usize) -> f32 {
        self.distances[q * self.k + k.clamp(1, self.k) - 1]
    }

    /// Checks that this ground truth belongs to `base` and `queries` and covers `k`.
    pub fn check_matches(&self, base: &Vectors, queries: &Vectors, k: usize) -> Result<()> {
        if self.base_len != base.len() || self.base_hash != base.content_hash() {
            return Err(Error::Corrupt {
                what: "ground truth".into(),
                why: "computed for another base".into(),
            });
        }
        if self.query_count != queries.len() || self.query_hash != queries.content_hash() {
            return Err(Error::Corrupt {
                what: "ground truth".into(),
                why: "computed for other queries".into(),
            });
        }
        if k == 0 || k > self.k {
            return Err(Error::InvalidK { k, limit: self.k });
        }
        Ok(())
    }

    /// Builds a ground truth from externally computed ids (for example a TEXMEX `.ivecs`
    /// file), re-scoring the distances in `f64`. Errors if an id is out of range.
    pub fn from_ids(base: &Vectors, queries: &Vectors, k: usize, ids: &[u32]) -> Result<Self> {
        base.check_compatible("queries", queries)?;
        if k == 0 || k > base.len() {
            return Err(Error::InvalidK {
                k,
                limit: base.len(),
            });
        }
        if ids.len() != queries.len() * k {
            return Err(Error::invalid(
                "ground-truth ids",
                format!("{} ids for {} queries × k={k}", ids.len(), queries.len()),
            ));
        }
        let metric = base.metric();
        let mut distances = Vec::with_capacity(ids.len());
        for (q, row) in ids.chunks_exact(k).enumerate() {
            for &id in row {
                let b = base.get(id as usize).ok_or_else(|| {
                    Error::invalid(
                        "ground-truth ids",
                        format!("id {id} ≥ base size {}", base.len()),
                    )
                })?;
                distances.push(metric.distance_f64(queries.row(q), b) as f32);
            }
        }
        Ok(GroundTruth {
            k,
            query_count: queries.len(),
            ids: ids.to_vec(),
            distances,
            metric,
            base_len: base.len(),
            base_hash: base.content_hash(),
            query_hash: queries.content_hash(),
            brute_force_us_per_query: brute_force_latency_us(base, queries, k),
            compute_secs: 0.0,
        })
    }
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    distance: f32,
    id: u32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance
            .total_cmp(&other.distance)
            .then(self.id.cmp(&other.id))
    }
}

/// A bounded max-heap holding the `capacity` smallest candidates seen.
#[derive(Clone, Debug)]
struct TopK {
    capacity: usize,
    heap: BinaryHeap<Candidate>,
}

impl TopK {
    fn new(capacity: usize) -> Self {
        TopK {
            capacity,
            heap: BinaryHeap::with_capacity(capacity + 1),
        }
    }

    #[inline]
    fn push(&mut self, candidate: Candidate) {
        if self.heap.len() < self.capacity {
            self.heap.push(candidate);
        } else if let Some(mut top) = self.heap.peek_mut()
            && candidate < *top
        {
            *top = candidate;
        }
    }

    #[inline]
    fn threshold(&self) -> f32 {
        if self.heap.len() < self.capacity {
            f32::INFINITY
        } else {
            self.heap.peek().map_or(f32::INFINITY, |c| c.distance)
        }
    }

    fn merge(&mut self, other: TopK) {
        for c in other.heap {
            self.push(c);
        }
    }
}

/// Computes exact top-`k` ground truth of `queries` against `base`, in parallel on the
/// current rayon pool.
///
/// Errors: [`Error::DimensionMismatch`] / [`Error::InvalidInput`] if the sets differ in
/// dimension or metric, [`Error::InvalidK`] unless `1 <= k <= base.len()`.
///
/// ```
/// use hnswtune_harness::{Metric, Vectors, ground_truth::compute};
/// let base = Vectors::new("base", 1, vec![0.0, 10.0, 3.0], Metric::L2)?;
/// let queries = Vectors::new("queries", 1, vec![2.0], Metric::L2)?;
/// let gt = compute(&base, &queries, 2)?;
/// assert_eq!(gt.ids(0, 2), &[2, 0]);
/// # Ok::<(), hnswtune_harness::Error>(())
/// ```
pub fn compute(base: &Vectors, queries: &Vectors, k: usize) -> Result<GroundTruth> {
    base.check_compatible("queries", queries)?;
    let n = base.len();
    if k == 0 || k > n {
        return Err(Error::InvalidK { k, limit: n });
    }
    let started = Instant::now();
    let metric = base.metric();
    let dim = base.dim();
    let nq = queries.len();
    let candidates = (k + 10 + k / 10).min(n);
    let base_norms: Vec<f32> = match metric {
        Metric::L2 => base.rows().map(|r| crate::distance::dot(r, r)).collect(),
        Metric::Cosine => Vec::new(),
    };

    let heaps = base
        .as_slice()
        .par_chunks(BASE_BLOCK_ROWS * dim)
        .enumerate()
        .fold(
            || (vec![TopK::new(candidates); nq], Vec::<f32>::new()),
            |(mut heaps, mut scores), (block, rows)| {
                let m = rows.len() / dim;
                let first = block * BASE_BLOCK_ROWS;
                scores.resize(m * nq, 0.0);
                inner_products(rows, queries.as_slice(), m, dim, nq, &mut scores);
                for (q, heap) in heaps.iter_mut().enumerate() {
                    let row = &scores[q * m..(q + 1) * m];
                    let mut threshold = heap.threshold();
                    for (i, &s) in row.iter().enumerate() {
                        let d = match metric {
                            Metric::Cosine => 1.0 - s,
                            Metric::L2 => base_norms[first + i] - 2.0 * s,
                        };
                        if d <= threshold {
                            heap.push(Candidate {
                                distance: d,
                                id: (first + i) as u32,
                            });
                            threshold = heap.threshold();
                        }
                    }
                }
                (heaps, scores)
            },
        )
        .map(|(heaps, _)| heaps)
        .reduce(
            || vec![TopK::new(candidates); nq],
            |mut a, b| {
                for (x, y) in a.iter_mut().zip(b) {
                    x.merge(y);
                }
                a
            },
        );

    let rows: Vec<(Vec<u32>, Vec<f32>)> = heaps
        .into_par_iter()
        .enumerate()
        .map(|(q, heap)| {
            let query = queries.row(q);
            let mut rescored: Vec<(f64, u32)> = heap
                .heap
                .into_iter()
                .map(|c| (metric.distance_f64(query, base.row(c.id as usize)), c.id))
                .collect();
            rescored.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            rescored.truncate(k);
            rescored.into_iter().map(|(d, id)| (id, d as f32)).unzip()
        })
        .collect();
    let compute_secs = started.elapsed().as_secs_f64();

    let mut ids = Vec::with_capacity(nq * k);
    let mut distances = Vec::with_capacity(nq * k);
    for (i, d) in rows {
        ids.extend(i);
        distances.extend(d);
    }
    Ok(GroundTruth {
        k,
        query_count: nq,
        ids,
        distances,
        metric,
        base_len: n,
        base_hash: base.content_hash(),
        query_hash: queries.content_hash(),
        brute_force_us_per_query: brute_force_latency_us(base, queries, k),
        compute_secs,
    })
}

/// `scores[q * m + i] = rows[i] · queries[q]` for a block of `m` base rows.
fn inner_products(
    rows: &[f32],
    queries: &[f32],
    m: usize,
    dim: usize,
    nq: usize,
    scores: &mut [f32],
) {
    debug_assert!(rows.len() >= m * dim && queries.len() >= nq * dim && scores.len() >= m * nq);
    if rows.len() < m * dim || queries.len() < nq * dim || scores.len() < m * nq {
        return;
    }
    #[allow(
        unsafe_code,
        reason = "matrixmultiply's sgemm takes raw pointers; bounds are checked above"
    )]
    // SAFETY: A is m×dim with strides (dim, 1) inside `rows`; B is dim×nq with strides
    // (1, dim) inside `queries` (B[k][j] = queries[j*dim + k]); C is m×nq with strides
    // (1, m) inside `scores`. The length checks above keep every element in bounds, and
    // `scores` is a unique borrow, so C aliases nothing.
    unsafe {
        matrixmultiply::sgemm(
            m,
            dim,
            nq,
            1.0,
            rows.as_ptr(),
            dim as isize,
            1,
            queries.as_ptr(),
            1,
            dim as isize,
            0.0,
            scores.as_mut_ptr(),
            1,
            m as isize,
        );
    }
}

/// Median single-threaded exact-scan latency per query, in µs.
pub fn brute_force_latency_us(base: &Vectors, queries: &Vectors, k: usize) -> f64 {
    let metric = base.metric();
    let mut times: Vec<f64> = queries
        .rows()
        .take(BRUTE_FORCE_SAMPLE)
        .map(|q| {
            let started = Instant::now();
            let mut top = TopK::new(k.clamp(1, base.len()));
            for (i, b) in base.rows().enumerate() {
                let d = metric.distance(q, b);
                if d <= top.threshold() {
                    top.push(Candidate {
                        distance: d,
                        id: i as u32,
                    });
                }
            }
            std::hint::black_box(top.heap.len());
            started.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    crate::latency::median(&mut times)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::clustered;

    fn naive(base: &Vectors, queries: &Vectors, k: usize) -> Vec<Vec<u32>> {
        queries
            .rows()
            .map(|q| {
                let mut all: Vec<(f64, u32)> = base
                    .rows()
                    .enumerate()
                    .map(|(i, b)| (base.metric().distance_f64(q, b), i as u32))
                    .collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                all.into_iter().take(k).map(|x| x.1).collect()
            })
            .collect()
    }

    #[test]
    fn matches_naive_f64_scan_for_both_metrics() {
        for metric in [Metric::L2, Metric::Cosine] {
            let base = clustered(2500, 24, 8, 1, metric);
            let queries = clustered(40, 24, 8, 2, metric);
            let gt = compute(&base, &queries, 10).unwrap();
            let want = naive(&base, &queries, 10);
            for (q, row) in want.iter().enumerate() {
                assert_eq!(gt.ids(q, 10), &row[..], "metric {metric:?} query {q}");
                let d = gt.distances(q, 10);
                assert!(d.windows(2).all(|w| w[0] <= w[1]));
            }
            assert!(gt.brute_force_us_per_query > 0.0);
            gt.check_matches(&base, &queries, 10).unwrap();
            assert!(matches!(
                gt.check_matches(&base, &queries, 11),
                Err(Error::InvalidK { .. })
            ));
            assert!(gt.check_matches(&queries, &queries, 10).is_err());
        }
    }

    #[test]
    fn duplicates_tie_break_by_smaller_id() {
        let base = Vectors::new(
            "base",
            2,
            vec![5.0, 5.0, 1.0, 1.0, 1.0, 1.0, 9.0, 9.0],
            Metric::L2,
        )
        .unwrap();
        let queries = Vectors::new("q", 2, vec![1.0, 1.1], Metric::L2).unwrap();
        let gt = compute(&base, &queries, 3).unwrap();
        assert_eq!(gt.ids(0, 3), &[1, 2, 0]);
        assert_eq!(gt.distances(0, 2)[0], gt.distances(0, 2)[1]);
    }

    #[test]
    fn rejects_bad_k_and_dimension() {
        let base = clustered(50, 4, 2, 1, Metric::L2);
        let q = clustered(3, 4, 2, 2, Metric::L2);
        assert!(matches!(
            compute(&base, &q, 0),
            Err(Error::InvalidK { k: 0, limit: 50 })
        ));
        assert!(matches!(
            compute(&base, &q, 51),
            Err(Error::InvalidK { k: 51, .. })
        ));
        let q3 = clustered(3, 3, 2, 2, Metric::L2);
        assert!(matches!(
            compute(&base, &q3, 5),
            Err(Error::DimensionMismatch { .. })
        ));
        let qc = clustered(3, 4, 2, 2, Metric::Cosine);
        assert!(matches!(
            compute(&base, &qc, 5),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn from_ids_rescores_and_checks_range() {
        let base = clustered(300, 8, 4, 1, Metric::Cosine);
        let q = clustered(5, 8, 4, 2, Metric::Cosine);
        let gt = compute(&base, &q, 5).unwrap();
        let again = GroundTruth::from_ids(&base, &q, 5, &gt.ids).unwrap();
        assert_eq!(again.ids, gt.ids);
        assert_eq!(again.distances, gt.distances);
        let mut bad = gt.ids.clone();
        bad[0] = 300;
        assert!(GroundTruth::from_ids(&base, &q, 5, &bad).is_err());
    }
}
