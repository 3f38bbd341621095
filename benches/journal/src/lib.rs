//! Fixtures for the journal benchmarks (`benches/journal.rs`): realistic trials and a
//! fast way to fill a journal to a given length.
//!
//! Run the benchmarks with `cargo bench -p hnswtune-bench-journal`; docs/journal.md
//! records the figures and how they were taken.

use hnswtune_core::{
    BuildKind, DatasetFingerprint, EF_CONSTRUCTION, EF_SEARCH, Error, IndexName, Params, Trial,
    TrialJournal, TrialMetrics, TriggerReason,
};

/// A completed trial of `index` shaped like the agent's (about 700 bytes of JSON).
pub fn sample_trial(index: &IndexName, i: u64) -> Trial {
    let params = Params::new()
        .with(EF_CONSTRUCTION, 10 + (i % 390) as i64)
        .with(EF_SEARCH, 10 + (i % 190) as i64);
    let dataset = DatasetFingerprint {
        vector_count: 100_000,
        dimension: 128,
        content_hash: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
    };
    let mut trial = Trial::start(
        index.clone(),
        "eval-1k",
        params,
        dataset,
        TriggerReason::Periodic,
    );
    trial.proposer = "epsilon_greedy".into();
    trial.worker = "bench-host/1".into();
    trial.seed = i;
    trial.complete(TrialMetrics {
        build_secs: 12.5,
        search_p50_us: 180.0 + (i % 50) as f64,
        search_p95_us: 260.0,
        search_p99_us: 320.0,
        qps: 5400.0,
        recall: 0.95,
        recall_tolerant: 0.96,
        k: 10,
        index_bytes: 180 << 20,
        vector_count: 100_000,
        eval_query_count: 1000,
        brute_force_us: 21_000.0,
        search_secs: 0.9,
        build_kind: BuildKind::Fresh,
        config_build_secs: None,
        p50_pass_spread: None,
    })
}

/// Appends trials to `index` until it holds `target` entries, given that it holds
/// `current`; returns `target`.
pub async fn fill(
    journal: &dyn TrialJournal,
    index: &IndexName,
    current: u64,
    target: u64,
) -> Result<u64, Error> {
    for i in current..target {
        journal.append(&sample_trial(index, i)).await?;
    }
    Ok(target.max(current))
}
