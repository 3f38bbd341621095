//! Recall@k, two ways.
//!
//! * **Plain id recall**: `|found[..k] ∩ truth[..k]| / k`, the definition most papers use.
//! * **Tolerant recall** (ann-benchmarks, Aumüller et al., "ANN-Benchmarks", Information
//!   Systems 2020, `knn` metric in `ann_benchmarks/plotting/metrics.py`): a returned item is a
//!   hit if its true distance to the query is ≤ the true k-th distance + ε. With duplicate or
//!   equidistant vectors the exact top-k is not unique; the tolerant figure does not punish
//!   an index for returning the "other" tied vector. The default ε is ann-benchmarks' 1e-3.
//!
//! Both take the returned ids and recompute distances with the harness's own kernel, so a
//! backend's internal distance scale (for example squared L2 on unit vectors standing in for
//! cosine) never leaks into the figure.

use crate::ground_truth::GroundTruth;
use crate::vectors::Vectors;

/// ann-benchmarks' ε for the tolerant recall.
pub const DEFAULT_EPSILON: f32 = 1e-3;

/// Plain recall of one query: the share of `truth[..k]` present in `found[..k]`.
pub fn id_recall(found: &[u32], truth: &[u32], k: usize) -> f64 {
    if k == 0 {
        return 0.0;
    }
    let truth = &truth[..k.min(truth.len())];
    let hits = found.iter().take(k).filter(|id| truth.contains(id)).count();
    hits as f64 / k as f64
}

/// Tolerant recall of one query: the share of `found[..k]` whose distance to `query` is at
/// most `kth_distance + epsilon`. Repeated ids count once.
pub fn tolerant_recall(
    base: &Vectors,
    query: &[f32],
    found: &[u32],
    kth_distance: f32,
    k: usize,
    epsilon: f32,
) -> f64 {
    if k == 0 {
        return 0.0;
    }
    let metric = base.metric();
    let mut seen: Vec<u32> = Vec::with_capacity(k);
    let mut hits = 0usize;
    for &id in found.iter().take(k) {
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        if let Some(row) = base.get(id as usize)
            && metric.distance(query, row) <= kth_distance + epsilon
        {
            hits += 1;
        }
    }
    hits as f64 / k as f64
}

/// Mean recall over an eval set, both definitions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecallSummary {
    /// Mean plain id recall@k.
    pub recall: f64,
    /// Mean tolerant (ann-benchmarks) recall@k.
    pub recall_tolerant: f64,
}

/// Averages both recalls over all queries; `found[q]` are the ids returned for query `q`.
pub fn summarise(
    base: &Vectors,
    queries: &Vectors,
    truth: &GroundTruth,
    found: &[Vec<u32>],
    k: usize,
    epsilon: f32,
) -> RecallSummary {
    let n = found.len().min(queries.len()).max(1);
    let mut plain = 0.0;
    let mut tolerant = 0.0;
    for (q, ids) in found.iter().enumerate().take(queries.len()) {
        plain += id_recall(ids, truth.ids(q, k), k);
        tolerant += tolerant_recall(
            base,
            queries.row(q),
            ids,
            truth.kth_distance(q, k),
            k,
            epsilon,
        );
    }
    RecallSummary {
        recall: plain / n as f64,
        recall_tolerant: tolerant / n as f64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ground_truth::compute;
    use crate::vectors::Metric;

    #[test]
    fn id_recall_counts_overlap() {
        assert_eq!(id_recall(&[1, 2, 3], &[3, 2, 9], 3), 2.0 / 3.0);
        assert_eq!(id_recall(&[1, 2], &[1, 2, 3], 3), 2.0 / 3.0);
        assert_eq!(id_recall(&[], &[1], 1), 0.0);
    }

    #[test]
    fn tolerant_recall_forgives_ties_between_duplicates() {
        // Rows 1 and 2 are duplicates; truth picks 1 (smaller id), an index may return 2.
        let base = Vectors::new(
            "base",
            2,
            vec![5.0, 5.0, 1.0, 1.0, 1.0, 1.0, 9.0, 9.0],
            Metric::L2,
        )
        .unwrap();
        let queries = Vectors::new("q", 2, vec![1.0, 1.1], Metric::L2).unwrap();
        let gt = compute(&base, &queries, 1).unwrap();
        assert_eq!(gt.ids(0, 1), &[1]);
        let found = vec![vec![2u32]];
        let s = summarise(&base, &queries, &gt, &found, 1, DEFAULT_EPSILON);
        assert_eq!(s.recall, 0.0);
        assert_eq!(s.recall_tolerant, 1.0);
        // A far point is a miss under both; a repeated id counts once.
        let s = summarise(&base, &queries, &gt, &[vec![3u32]], 1, DEFAULT_EPSILON);
        assert_eq!(s.recall_tolerant, 0.0);
        let gt2 = compute(&base, &queries, 2).unwrap();
        let s = summarise(&base, &queries, &gt2, &[vec![1u32, 1]], 2, DEFAULT_EPSILON);
        assert_eq!(s.recall_tolerant, 0.5);
    }
}
