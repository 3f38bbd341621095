//! Re-measures a few configs side by side, interleaved, to tell a landscape's real
//! differences from the drift of the machine it was recorded on.
//!
//! ```text
//! cargo run --release -p hnswtune-example-harness --bin remeasure -- [--dir DIR] [--rounds R] EFC/EFS ...
//! ```
//!
//! Builds every named ef_construction on instant-distance for seeds 1 and 2 (all cores),
//! then runs `R` rounds (default 7). A round times one pass of all queries for every
//! (config, seed), after a warm-up of 100 queries, in an order rotated by one each round,
//! so that a slow minute falls on every config alike. Prints per config: the recall of
//! each build, the median over rounds of each build's p50, their mean, and that mean
//! over the best mean among the configs whose recall meets `--min-recall` (default 0.95)
//! in both builds. `DIR` holds base.fvecs, query.fvecs and groundtruth.ivecs (default the
//! shared MiniLM set).

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, bail};
use hnswtune_core::{EF_CONSTRUCTION, EF_SEARCH, Params};
use hnswtune_harness::backend::instant::InstantDistance;
use hnswtune_harness::latency::median;
use hnswtune_harness::recall::id_recall;
use hnswtune_harness::{BuildOptions, IndexBackend, Searcher};

const K: usize = 10;

/// One (config, build seed) measured in the rounds.
struct Side {
    config: (i64, i64),
    searcher: std::sync::Arc<dyn Searcher>,
    recall: f64,
}
const SEEDS: [u64; 2] = [1, 2];

fn main() -> anyhow::Result<()> {
    let mut dir = hnswtune_example_harness::data_dir();
    let mut rounds = 7usize;
    let mut min_recall = 0.95f64;
    let mut configs: Vec<(i64, i64)> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--dir" => dir = args.next().context("--dir needs a value")?.into(),
            "--rounds" => rounds = args.next().context("--rounds needs a value")?.parse()?,
            "--min-recall" => {
                min_recall = args.next().context("--min-recall needs a value")?.parse()?
            }
            flag if flag.starts_with("--") => bail!("unknown flag {flag}"),
            config => {
                let (c, s) = config
                    .split_once('/')
                    .context("a config is EF_CONSTRUCTION/EF_SEARCH, for example 80/11")?;
                configs.push((c.parse()?, s.parse()?));
            }
        }
    }
    if configs.is_empty() || rounds == 0 {
        bail!("name at least one config (EFC/EFS) and at least one round");
    }
    let data = hnswtune_example_harness::load_dir(&dir, K)?;
    let queries = &data.eval.queries;
    let truth = &data.shipped_truth;
    let per_query = truth.len() / queries.len();
    let backend = InstantDistance::default();

    // One build per (ef_construction, seed), one searcher per (config, seed).
    let mut builds = BTreeMap::new();
    for &(c, _) in &configs {
        for seed in SEEDS {
            if builds.contains_key(&(c, seed)) {
                continue;
            }
            let started = Instant::now();
            let built = backend.build(
                &data.base,
                &Params::new().with(EF_CONSTRUCTION, c),
                &BuildOptions::parallel(seed),
            )?;
            eprintln!(
                "built ef_construction {c} seed {seed} in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            builds.insert((c, seed), built);
        }
    }
    let mut sides: Vec<Side> = Vec::new();
    for &(c, s) in &configs {
        for seed in SEEDS {
            let searcher = builds[&(c, seed)].searcher(&Params::new().with(EF_SEARCH, s))?;
            let mut out = Vec::new();
            let mut recall = 0.0;
            for (q, query) in queries.rows().enumerate() {
                searcher.search(query, K, &mut out)?;
                recall += id_recall(&out, &truth[q * per_query..(q + 1) * per_query], K);
            }
            let recall = recall / queries.len() as f64;
            sides.push(Side {
                config: (c, s),
                searcher,
                recall,
            });
        }
    }
    let mut p50s: Vec<Vec<f64>> = vec![Vec::new(); sides.len()];
    let mut times = vec![0.0f64; queries.len()];
    let mut out = Vec::new();
    for round in 0..rounds {
        for i in 0..sides.len() {
            let j = (i + round) % sides.len();
            let searcher = &sides[j].searcher;
            for query in queries.rows().take(100) {
                searcher.search(query, K, &mut out)?;
            }
            for (q, query) in queries.rows().enumerate() {
                let t = Instant::now();
                searcher.search(query, K, &mut out)?;
                times[q] = t.elapsed().as_secs_f64() * 1e6;
            }
            p50s[j].push(median(&mut times));
        }
    }
    // Per config: recall and median p50 of each build, and their mean.
    let mut rows = Vec::new();
    for &(c, s) in &configs {
        let mine: Vec<usize> = (0..sides.len())
            .filter(|&i| sides[i].config == (c, s))
            .collect();
        let recalls: Vec<f64> = mine.iter().map(|&i| sides[i].recall).collect();
        let p50: Vec<f64> = mine.iter().map(|&i| median(&mut p50s[i].clone())).collect();
        let mean = p50.iter().sum::<f64>() / p50.len() as f64;
        rows.push(((c, s), recalls, p50, mean));
    }
    let best = rows
        .iter()
        .filter(|r| r.1.iter().all(|&x| x >= min_recall))
        .map(|r| r.3)
        .fold(f64::INFINITY, f64::min);
    println!(
        "{rounds} interleaved rounds, {} queries, k = {K}; best mean p50 feasible in both builds at {min_recall}: {best:.1} µs",
        queries.len()
    );
    println!("| config | recall seed 1 / 2 | p50 µs seed 1 / 2 | mean p50 µs | over the best |");
    println!("|---|---|---|---|---|");
    for ((c, s), recalls, p50, mean) in rows {
        println!(
            "| {c}/{s} | {:.4} / {:.4} | {:.1} / {:.1} | {mean:.1} | {:.3} |",
            recalls[0],
            recalls[1],
            p50[0],
            p50[1],
            mean / best
        );
    }
    Ok(())
}
