//! Search latency only: how much of usearch's gap to hnswlib is the harness's, and how much
//! is usearch's own.
//!
//! ```text
//! pip install numpy hnswlib
//! cargo run --release -p hnswtune-example-harness --features usearch --bin search_ab -- [ROUNDS]
//! ```
//!
//! For ef_construction 40 and 100 (M = 32, cosine) it builds one usearch index through the
//! harness (one thread, seed 1) and a second, raw `usearch::Index` with the same options
//! and the same insertion order, so both hold the same graph (checked: every query returns
//! the same ids), and prints both build times. For ef_search 20 and 60 it then alternates, `ROUNDS` times (default 15):
//!
//! - the harness's [`Searcher`](hnswtune_harness::Searcher) (its lock, its dimension and
//!   `k` checks, its copy of the ids), timed per query as the harness's latency
//!   measurement does;
//! - the raw index's `search`, timed per query the same way;
//! - the raw index over all queries in one loop, timed once: the mean without per-query
//!   timers.
//!
//! and runs `py/side_by_side.py search` for hnswlib 0.8 (M = 32) on the same data: the
//! per-query p50 through Python (call overhead included) and the mean of one native
//! single-threaded batch call. Prints medians over the rounds and the ratios. Without the
//! `usearch` feature it says so and stops.

#[cfg(feature = "usearch")]
fn main() -> anyhow::Result<()> {
    use std::time::Instant;

    use anyhow::{Context, ensure};
    use hnswtune_core::{EF_CONSTRUCTION, EF_SEARCH, M, Params};
    use hnswtune_harness::backend::usearch::{Usearch, insertion_order, library_info};
    use hnswtune_harness::latency::median;
    use hnswtune_harness::{BuildOptions, IndexBackend};
    use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

    const K: usize = 10;
    let rounds: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context("rounds must be a positive integer")?,
        None => 15,
    };
    let data = hnswtune_example_harness::load(K)?;
    let dir = hnswtune_example_harness::data_dir();
    let queries = &data.eval.queries;
    let base = &data.base;
    println!(
        "{}; 1 build thread, searches on 1 thread; {rounds} alternated rounds",
        library_info()
    );
    println!(
        "| ef_construction | ef_search | harness p50 µs | raw p50 µs | harness / raw | raw loop mean µs | hnswlib p50 µs (Python) | hnswlib batch mean µs | raw p50 / hnswlib p50 | raw mean / hnswlib mean |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for ef_construction in [40usize, 100] {
        let seed = 1u64;
        let options = BuildOptions::deterministic(seed);
        let params = Params::new()
            .with(EF_CONSTRUCTION, ef_construction as i64)
            .with(M, 32);
        let started = Instant::now();
        let built = Usearch.build(base, &params, &options)?;
        let harness_build = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let raw = Index::new(&IndexOptions {
            dimensions: base.dim(),
            metric: MetricKind::IP,
            quantization: ScalarKind::F32,
            connectivity: 32,
            expansion_add: ef_construction,
            expansion_search: 64,
            multi: false,
        })?;
        raw.reserve_capacity_and_threads(base.len(), 1)?;
        // The harness's insertion order for a fresh build.
        for row in insertion_order(0..base.len(), seed) {
            raw.add(row as u64, base.row(row))?;
        }
        let raw_build = started.elapsed().as_secs_f64();
        println!(
            "ef_construction {ef_construction}: 1-thread build {harness_build:.2} s through the harness, {raw_build:.2} s raw ({:.3}×)",
            harness_build / raw_build
        );
        let hn = hnswtune_example_harness::python(&[
            "search",
            &dir.to_string_lossy(),
            &ef_construction.to_string(),
            "20,60",
        ])?;
        for (i, ef_search) in [20usize, 60].into_iter().enumerate() {
            let searcher = built.searcher(&Params::new().with(EF_SEARCH, ef_search as i64))?;
            raw.change_expansion_search(ef_search);
            let mut out = Vec::new();
            for (q, query) in queries.rows().enumerate() {
                searcher.search(query, K, &mut out)?;
                let keys: Vec<u32> = raw
                    .search(query, K)?
                    .keys
                    .iter()
                    .map(|&k| k as u32)
                    .collect();
                ensure!(keys == out, "query {q}: the raw index holds another graph");
            }
            let (mut ours, mut theirs, mut loops) = (Vec::new(), Vec::new(), Vec::new());
            let mut per_query = vec![0.0f64; queries.len()];
            for _ in 0..rounds {
                for (q, query) in queries.rows().enumerate() {
                    let t = Instant::now();
                    searcher.search(query, K, &mut out)?;
                    per_query[q] = t.elapsed().as_secs_f64() * 1e6;
                }
                ours.push(median(&mut per_query));
                for (q, query) in queries.rows().enumerate() {
                    let t = Instant::now();
                    let found = raw.search(query, K)?;
                    per_query[q] = t.elapsed().as_secs_f64() * 1e6;
                    std::hint::black_box(found);
                }
                theirs.push(median(&mut per_query));
                let t = Instant::now();
                for query in queries.rows() {
                    std::hint::black_box(raw.search(query, K)?);
                }
                loops.push(t.elapsed().as_secs_f64() * 1e6 / queries.len() as f64);
            }
            let row = &hn["rows"][i];
            let hn_p50 = row["p50_us"].as_f64().context("hnswlib p50")?;
            let hn_mean = row["batch_mean_us"].as_f64().context("hnswlib mean")?;
            let (ours, theirs, loops) =
                (median(&mut ours), median(&mut theirs), median(&mut loops));
            println!(
                "| {ef_construction} | {ef_search} | {ours:.1} | {theirs:.1} | {:.3} | {loops:.1} | {hn_p50:.1} | {hn_mean:.1} | {:.2} | {:.2} |",
                ours / theirs,
                theirs / hn_p50,
                loops / hn_mean
            );
        }
    }
    Ok(())
}

#[cfg(not(feature = "usearch"))]
fn main() {
    eprintln!(
        "search_ab compares usearch with hnswlib; run it with `--features usearch` (needs a C++ compiler)"
    );
}
