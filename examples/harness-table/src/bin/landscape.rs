//! Records the real ef_construction × ef_search landscape on the MiniLM data set as JSON
//! lines of `hnswtune_core::Trial`, for the proposers' replay.
//!
//! ```text
//! cargo run --release -p hnswtune-example-harness --bin landscape -- landscapes/minilm-20k.jsonl
//! ```
//!
//! Each build (ef_construction, seed) is made once with all cores; every ef_search value is
//! then measured on it through the ef patch. Every line repeats its build's real
//! `build_secs` (the first line of a build has `build_kind = fresh`, the others `cached`),
//! and `search_secs` is the summed single-threaded search time of that line's timed passes.

use std::io::Write;
use std::sync::Arc;

use hnswtune_core::{
    EF_CONSTRUCTION, EF_SEARCH, EvalRequest, IndexName, Params, Trial, TriggerReason,
};
use hnswtune_harness::backend::instant::InstantDistance;
use hnswtune_harness::latency::LatencyOptions;
use hnswtune_harness::{EvaluatorOptions, HnswEvaluator, InMemorySource};

const EF_CONSTRUCTION_VALUES: [i64; 8] = [10, 25, 50, 80, 120, 180, 270, 400];
const EF_SEARCH_VALUES: [i64; 10] = [10, 20, 30, 40, 60, 80, 100, 130, 160, 200];
const SEEDS: [u64; 2] = [1, 2];

fn main() -> anyhow::Result<()> {
    let out_path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "landscapes/minilm-20k.jsonl".into());
    let data = hnswtune_example_harness::load(10)?;
    let index = IndexName::new("minilm-20k")?;
    let source = Arc::new(InMemorySource::new());
    source.insert(&index, Arc::clone(&data.base));
    let options = EvaluatorOptions {
        latency: LatencyOptions {
            warmup_queries: 50,
            repeats: 2,
        },
        cache_bytes: 256 << 20,
        ..EvaluatorOptions::default()
    };
    let evaluator =
        HnswEvaluator::with_options(Arc::new(InstantDistance::default()), source, options);
    evaluator.add_eval_set(data.eval.clone());
    let mut out = std::io::BufWriter::new(std::fs::File::create(&out_path)?);
    // Seeds inside: a run cut short still holds both repeats of every build it reached.
    for ef_construction in EF_CONSTRUCTION_VALUES {
        for seed in SEEDS {
            for ef_search in EF_SEARCH_VALUES {
                let params = Params::new()
                    .with(EF_CONSTRUCTION, ef_construction)
                    .with(EF_SEARCH, ef_search);
                let request = EvalRequest {
                    index: index.clone(),
                    eval_set: data.eval.name.clone(),
                    params: params.clone(),
                    seed,
                    deterministic: false,
                };
                let m = evaluator.measure(&request)?;
                let mut metrics = m.metrics.clone();
                metrics.build_secs = m.original_build_secs;
                let mut trial = Trial::start(
                    index.clone(),
                    data.eval.name.clone(),
                    params,
                    m.dataset.clone(),
                    TriggerReason::Study,
                );
                trial.seed = seed;
                trial.threads = m.threads;
                trial.proposer = "grid".into();
                trial.worker = "harness-landscape".into();
                trial.note = format!(
                    "landscape: build_secs is the real time of build (ef_construction={ef_construction}, seed={seed}), repeated on each of its lines; ef patch {:.3}s",
                    m.prepare_secs
                );
                let trial = trial.complete(metrics);
                trial.validate()?;
                writeln!(out, "{}", serde_json::to_string(&trial)?)?;
                out.flush()?;
                eprintln!(
                    "seed {seed} ef_c {ef_construction:>3} ef_s {ef_search:>3}: build {:6.2}s ({:?}) recall {:.4} p50 {:7.1}us search {:.2}s",
                    m.original_build_secs,
                    m.metrics.build_kind,
                    m.metrics.recall,
                    m.metrics.search_p50_us,
                    m.metrics.search_secs
                );
            }
        }
    }
    Ok(())
}
