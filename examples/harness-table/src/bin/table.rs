//! The harness table on the MiniLM data set, side by side with hnswlib and numpy, in one run.
//!
//! ```text
//! pip install numpy hnswlib
//! cargo run --release -p hnswtune-example-harness --bin table
//! cargo run --release -p hnswtune-example-harness --features usearch --bin table
//! ```
//!
//! Prints: exact ground truth time (ours against numpy's `queries @ base.T` + `argpartition`)
//! and its agreement with the shipped `groundtruth.ivecs`; then, for a handful of configs,
//! build seconds, recall@10 (plain and tolerant), p50/p95 and index bytes for
//! instant-distance and (with the `usearch` feature) usearch at M = 32, followed by hnswlib
//! (M = 32) at the same ef values; then, per backend, the wall time of a build trial
//! against a search-only trial, overall and per build, and each search-only trial against a
//! build trial at the same ef_search (its build plus the same passes). `--gt-only` stops after the ground
//! truth; `--ef-construction 10,40` and `--ef-search 10,40,100,200` replace the default
//! configs (ef_construction 40, 100 × ef_search 10, 40, 100).

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use hnswtune_core::{BuildKind, EF_CONSTRUCTION, EF_SEARCH, EvalRequest, IndexName, Params};
use hnswtune_harness::backend::instant::InstantDistance;
use hnswtune_harness::latency::{LatencyOptions, median};
use hnswtune_harness::{
    EvaluatorOptions, HnswEvaluator, InMemorySource, IndexBackend, ground_truth,
};

const EF_CONSTRUCTION_VALUES: [i64; 2] = [40, 100];
const EF_SEARCH_VALUES: [i64; 3] = [10, 40, 100];

/// The comma-separated integers after `flag`, or `default` when the flag is absent.
fn list_arg(flag: &str, default: &[i64]) -> anyhow::Result<Vec<i64>> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == flag) {
        None => Ok(default.to_vec()),
        Some(i) => {
            let value = args
                .get(i + 1)
                .with_context(|| format!("{flag} needs a value such as 10,40"))?;
            value
                .split(',')
                .map(|v| {
                    v.trim()
                        .parse::<i64>()
                        .with_context(|| format!("{flag}: {v:?} is not an integer"))
                })
                .collect()
        }
    }
}

/// The backends in the table: a label, the backend, and build params beyond ef_construction.
fn backends() -> Vec<(&'static str, Arc<dyn IndexBackend>, Params)> {
    #[allow(unused_mut, reason = "usearch is pushed only with its feature")]
    let mut out: Vec<(&'static str, Arc<dyn IndexBackend>, Params)> = vec![(
        "instant-distance 0.6.1",
        Arc::new(InstantDistance::default()),
        Params::new(),
    )];
    #[cfg(feature = "usearch")]
    out.push((
        "usearch 2.26 (M=32)",
        Arc::new(hnswtune_harness::backend::usearch::Usearch),
        Params::new().with(hnswtune_core::M, 32),
    ));
    out
}

fn main() -> anyhow::Result<()> {
    let ef_construction_values = list_arg("--ef-construction", &EF_CONSTRUCTION_VALUES)?;
    let ef_search_values = list_arg("--ef-search", &EF_SEARCH_VALUES)?;
    let data = hnswtune_example_harness::load(10)?;
    let dir = hnswtune_example_harness::data_dir();
    let dir_str = dir.to_string_lossy().to_string();
    let base = &data.base;
    let queries = &data.eval.queries;
    println!(
        "data: {} base × {} dims (cosine), {} queries, {} threads",
        base.len(),
        base.dim(),
        queries.len(),
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );

    // Ground truth: ours (k = 100, median of 3) against numpy's, in the same run.
    let mut ours = Vec::new();
    let mut truth = None;
    for _ in 0..3 {
        let started = Instant::now();
        let t = ground_truth::compute(base, queries, 100)?;
        ours.push(started.elapsed().as_secs_f64());
        truth = Some(t);
    }
    let truth = truth.context("ground truth")?;
    let numpy = hnswtune_example_harness::python(&["gt", &dir_str, "100"])?;
    let numpy_secs = numpy["numpy_secs"].as_f64().unwrap_or(f64::NAN);
    let ours_secs = median(&mut ours);
    let mut agree = 0usize;
    for q in 0..queries.len() {
        let shipped = &data.shipped_truth[q * 100..q * 100 + 10];
        agree += truth
            .ids(q, 10)
            .iter()
            .filter(|id| shipped.contains(id))
            .count();
    }
    println!(
        "ground truth k=100: ours {:.3}s, numpy {} {:.3}s, ratio {:.2}x; brute force {:.0}us/query single-threaded",
        ours_secs,
        numpy["numpy"].as_str().unwrap_or("?"),
        numpy_secs,
        ours_secs / numpy_secs,
        truth.brute_force_us_per_query
    );
    println!(
        "agreement of our top-10 with the shipped groundtruth.ivecs: {:.5}",
        agree as f64 / (queries.len() * 10) as f64
    );

    if std::env::args().any(|a| a == "--gt-only") {
        return Ok(());
    }

    let index = IndexName::new("minilm-20k")?;
    let source = Arc::new(InMemorySource::new());
    source.insert(&index, Arc::clone(base));
    let options = EvaluatorOptions {
        latency: LatencyOptions {
            warmup_queries: 100,
            repeats: 3,
        },
        ..EvaluatorOptions::default()
    };

    #[cfg(feature = "usearch")]
    println!("{}", hnswtune_harness::backend::usearch::library_info());
    println!();
    println!(
        "| backend | ef_construction | ef_search | build s | recall@10 | tolerant | p50 us | p95 us | index bytes | trial wall s |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut ratios = Vec::new();
    let mut per_build = Vec::new();
    for (label, backend, extra) in backends() {
        let evaluator = HnswEvaluator::with_options(backend, source.clone(), options);
        evaluator.add_eval_set(data.eval.clone());
        let mut build_trials = Vec::new();
        let mut search_trials = Vec::new();
        for &ef_construction in &ef_construction_values {
            let mut build_wall = f64::NAN;
            let mut search_walls = Vec::new();
            // A build trial at a search-only trial's ef_search would pay this config's
            // build plus the same ef patch and passes, so the ratio at equal ef_search is
            // s / (build + s), every term measured.
            let mut equal_ef = Vec::new();
            for &ef_search in &ef_search_values {
                let mut params = extra.clone();
                params.set(EF_CONSTRUCTION, ef_construction);
                params.set(EF_SEARCH, ef_search);
                let request = EvalRequest {
                    index: index.clone(),
                    eval_set: data.eval.name.clone(),
                    params,
                    seed: 1,
                    deterministic: false,
                };
                let started = Instant::now();
                let m = evaluator.measure(&request)?;
                let wall = started.elapsed().as_secs_f64();
                match m.metrics.build_kind {
                    BuildKind::Fresh => {
                        build_trials.push(wall);
                        build_wall = wall;
                    }
                    _ => {
                        search_trials.push(wall);
                        search_walls.push(wall);
                        equal_ef.push((ef_search, wall / (m.original_build_secs + wall)));
                    }
                }
                println!(
                    "| {label} | {ef_construction} | {ef_search} | {:.2} | {:.4} | {:.4} | {:.1} | {:.1} | {} | {:.2} |",
                    m.original_build_secs,
                    m.metrics.recall,
                    m.metrics.recall_tolerant,
                    m.metrics.search_p50_us,
                    m.metrics.search_p95_us,
                    m.metrics.index_bytes,
                    wall
                );
            }
            let worst = search_walls.iter().copied().fold(f64::NAN, f64::max);
            per_build.push((
                label,
                ef_construction,
                build_wall,
                median(&mut search_walls),
                worst,
                equal_ef,
            ));
        }
        ratios.push((label, median(&mut build_trials), median(&mut search_trials)));
    }
    let efc: Vec<String> = ef_construction_values.iter().map(i64::to_string).collect();
    let efs: Vec<String> = ef_search_values.iter().map(i64::to_string).collect();
    let hnswlib =
        hnswtune_example_harness::python(&["hnswlib", &dir_str, &efc.join(","), &efs.join(",")])?;
    for row in hnswlib["rows"].as_array().into_iter().flatten() {
        println!(
            "| hnswlib {} (M=32, Python) | {} | {} | {:.2} | {:.4} | | {:.1} | | | |",
            hnswlib["hnswlib"].as_str().unwrap_or("?"),
            row["ef_construction"],
            row["ef_search"],
            row["build_secs"].as_f64().unwrap_or(f64::NAN),
            row["recall"].as_f64().unwrap_or(f64::NAN),
            row["p50_us"].as_f64().unwrap_or(f64::NAN),
        );
    }
    println!();
    for (label, build, search) in ratios {
        println!(
            "trial wall time, {label}: build trial median {build:.2}s, search-only trial median {search:.2}s ({:.1}% of a build trial)",
            100.0 * search / build
        );
    }
    for (label, ef_construction, build, search, worst, equal_ef) in per_build {
        if build.is_nan() {
            // Every trial of this ef_construction reused a build made for another value
            // (instant-distance raises ef_construction below M to M).
            println!(
                "  {label}, ef_construction {ef_construction}: no build trial (a cached build of equal effective parameters), search-only trials median {search:.2}s, worst {worst:.2}s"
            );
        } else {
            println!(
                "  {label}, ef_construction {ef_construction}: build trial {build:.2}s, search-only trials median {search:.2}s ({:.1}%), worst {worst:.2}s ({:.1}%)",
                100.0 * search / build,
                100.0 * worst / build
            );
        }
        let at_equal: Vec<String> = equal_ef
            .iter()
            .map(|(ef, ratio)| format!("ef_search {ef}: {:.1}%", 100.0 * ratio))
            .collect();
        println!(
            "    against a build trial at the same ef_search: {}",
            at_equal.join(", ")
        );
    }
    Ok(())
}
