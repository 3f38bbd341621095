//! Benchmarks of hnswtune's proposers (publish = false).
//!
//! - `cargo bench -p hnswtune-bench-propose --bench propose`: proposal latency of every
//!   strategy at history sizes 10, 1k and 10k, and one efficiency run per strategy.
//! - `cargo run --release -p hnswtune-bench-propose --bin efficiency -- FILE...`: the
//!   efficiency table on recorded landscapes (`analytic` and `analytic-variant` name
//!   the synthetic ones).
//!
//! This library holds what both share: [`history`] builds a realistic history of any
//! size for the latency benchmark.

use hnswtune_core::{
    DatasetFingerprint, EF_CONSTRUCTION, EF_SEARCH, IndexName, Params, SearchSpace, Trial,
    TrialMetrics, TriggerReason,
};

/// A history of `n` trials over `space` (the default HNSW space in the benchmark):
/// configs spread by a multiplicative congruential walk, metrics from a smooth
/// HNSW-shaped model, every 17th trial failed and the last one still running.
pub fn history(space: &SearchSpace, n: usize) -> anyhow::Result<Vec<Trial>> {
    let index = IndexName::new("bench")?;
    let fingerprint = DatasetFingerprint {
        vector_count: 20_000,
        dimension: 384,
        content_hash: "bench".into(),
    };
    let specs = space.specs();
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let params: Params = specs
            .iter()
            .map(|s| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (s.name.clone(), s.value_at((state >> 33) % s.cardinality()))
            })
            .collect();
        let unit = |name: &str| {
            space
                .spec(name)
                .and_then(|s| s.to_unit(params.get(name)?))
                .unwrap_or(0.5)
        };
        let (c, s) = (unit(EF_CONSTRUCTION), unit(EF_SEARCH));
        let recall = (0.7 + 0.2 * s + 0.1 * c).min(1.0);
        let p50 = 30.0 + 200.0 * s + 20.0 * c;
        let t = Trial::start(
            index.clone(),
            "bench",
            params,
            fingerprint.clone(),
            TriggerReason::Study,
        );
        out.push(if i + 1 == n {
            t
        } else if i % 17 == 16 {
            t.fail("bench")
        } else {
            t.complete(TrialMetrics {
                build_secs: 10.0 * c,
                search_p50_us: p50,
                search_p95_us: p50 * 1.5,
                search_p99_us: p50 * 2.0,
                qps: 1e6 / p50,
                recall,
                recall_tolerant: recall,
                k: 10,
                index_bytes: 1 << 20,
                vector_count: 20_000,
                eval_query_count: 1_000,
                brute_force_us: 2_000.0,
                search_secs: 0.1,
                build_kind: Default::default(),
                config_build_secs: None,
                p50_pass_spread: None,
            })
        });
    }
    Ok(out)
}
