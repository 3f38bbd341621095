//! Records a real ef_construction × ef_search landscape as JSON lines of
//! `hnswtune_core::Trial`, for the proposers' replay.
//!
//! ```text
//! cargo run --release -p hnswtune-example-harness --bin landscape -- [--data minilm|minilm-v2|minilm-default|clustered] [OUT]
//! cargo run --release -p hnswtune-example-harness --bin landscape -- --data held-out --dir DIR [OUT]
//! cargo run --release -p hnswtune-example-harness --features usearch --bin landscape -- --data minilm-usearch [OUT]
//! ```
//!
//! - `minilm-usearch` (`landscapes/minilm-20k-usearch.jsonl`, needs `--features usearch`):
//!   the shared MiniLM set on usearch, every ef_construction, `M` and ef_search value of
//!   usearch's default space.
//! - `minilm-default` (`landscapes/minilm-20k-default.jsonl`) and `held-out`: every value
//!   of instant-distance's default search space (ef_construction 32, 53, 80, ... 400 ×
//!   the 26 ef_search values), so a replay sees what a default `hnswtune tune` sees.
//!
//! - `minilm` (the default, written to `landscapes/minilm-20k.jsonl`): the shared MiniLM
//!   data set, 20k × 384 cosine, ef_construction 10–400 × ef_search 10–200.
//! - `minilm-v2` (written to `landscapes/minilm-20k-v2.jsonl`): the same data recorded
//!   after the harness raised ef_construction below M to M and got the row prefetch and the
//!   intrinsics kernel: ef_construction 32–400 × the same ef_search values.
//! - `clustered` (written to `landscapes/clustered-20k-96.jsonl`): a synthetic set from
//!   `hnswtune_harness::testdata::clustered`, 20k × 96, 64 Gaussian clusters, L2, with
//!   1000 queries drawn from the same clusters under another seed. Its points are
//!   isotropic within a cluster, so the intrinsic dimension is high and the landscape
//!   differs from MiniLM's; it also uses its own ef ladders, so a proposer tuned on the
//!   MiniLM grid meets different values. It exists as a landscape the proposers were not
//!   tuned on.
//!
//! Each build (ef_construction, seed) is made once with all cores; every ef_search value is
//! then measured on it through the ef patch. Every line repeats its build's real
//! `build_secs` (the first line of a build has `build_kind = fresh`, the others `cached`),
//! and `search_secs` is the summed single-threaded search time of that line's timed passes.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, bail};

use hnswtune_core::{
    EF_CONSTRUCTION, EF_SEARCH, EvalRequest, IndexName, M, Params, Trial, TriggerReason,
};
use hnswtune_harness::IndexBackend;
use hnswtune_harness::backend::instant::InstantDistance;
use hnswtune_harness::latency::LatencyOptions;
use hnswtune_harness::testdata::clustered;
use hnswtune_harness::{EvalSet, EvaluatorOptions, HnswEvaluator, InMemorySource, Metric};

const SEEDS: [u64; 2] = [1, 2];

/// One data set to record, with its grid.
struct Recording {
    index: &'static str,
    default_out: &'static str,
    base: Arc<hnswtune_harness::Vectors>,
    eval: EvalSet,
    ef_construction: Vec<i64>,
    ef_search: Vec<i64>,
    /// `M` values, for a backend that tunes it; `None` leaves `M` out of the params.
    m: Vec<Option<i64>>,
    backend: Arc<dyn IndexBackend>,
}

fn minilm() -> anyhow::Result<Recording> {
    let data = hnswtune_example_harness::load(10)?;
    Ok(Recording {
        index: "minilm-20k",
        default_out: "landscapes/minilm-20k.jsonl",
        base: data.base,
        eval: data.eval,
        ef_construction: vec![10, 25, 50, 80, 120, 180, 270, 400],
        ef_search: vec![10, 20, 30, 40, 60, 80, 100, 130, 160, 200],
        m: vec![None],
        backend: Arc::new(InstantDistance::default()),
    })
}

/// MiniLM again, recorded after the harness changes of 2026-11-26 (ef_construction below
/// `M` raised to `M`, row prefetch, intrinsics kernel), so its ladder starts at `M` = 32.
fn minilm_v2() -> anyhow::Result<Recording> {
    Ok(Recording {
        default_out: "landscapes/minilm-20k-v2.jsonl",
        ef_construction: vec![32, 40, 50, 80, 120, 180, 270, 400],
        ..minilm()?
    })
}

/// The ladders of instant-distance's default search space: every value a default
/// `hnswtune tune` can propose.
fn default_ladders() -> anyhow::Result<(Vec<i64>, Vec<i64>)> {
    let space = InstantDistance::default().search_space()?;
    Ok((ladder(&space, EF_CONSTRUCTION)?, ladder(&space, EF_SEARCH)?))
}

/// The integer values of `name` in `space`.
fn ladder(space: &hnswtune_core::SearchSpace, name: &str) -> anyhow::Result<Vec<i64>> {
    let spec = space.spec(name).context("the default space names it")?;
    Ok(spec
        .values()
        .iter()
        .filter_map(|v| match v {
            hnswtune_core::ParamValue::Int(i) => Some(*i),
            hnswtune_core::ParamValue::Cat(_) => None,
        })
        .collect())
}

/// MiniLM on usearch at its default space's resolution: every ef_construction, `M` and
/// ef_search value of `Usearch::search_space` (issue 16's third axis).
#[cfg(feature = "usearch")]
fn minilm_usearch() -> anyhow::Result<Recording> {
    use hnswtune_harness::backend::usearch::Usearch;
    let space = Usearch.search_space()?;
    Ok(Recording {
        index: "minilm-20k-usearch",
        default_out: "landscapes/minilm-20k-usearch.jsonl",
        ef_construction: ladder(&space, EF_CONSTRUCTION)?,
        ef_search: ladder(&space, EF_SEARCH)?,
        m: ladder(&space, M)?.into_iter().map(Some).collect(),
        backend: Arc::new(Usearch),
        ..minilm()?
    })
}

#[cfg(not(feature = "usearch"))]
fn minilm_usearch() -> anyhow::Result<Recording> {
    bail!("--data minilm-usearch needs a binary built with `--features usearch`")
}

/// MiniLM at the default space's resolution (issue 16): every ef_construction and
/// ef_search value of instant-distance's default space.
fn minilm_default() -> anyhow::Result<Recording> {
    let (ef_construction, ef_search) = default_ladders()?;
    Ok(Recording {
        default_out: "landscapes/minilm-20k-default.jsonl",
        ef_construction,
        ef_search,
        ..minilm()?
    })
}

/// Another real set, made with `../shared/datasets/debian-descriptions-minilm/make.py`
/// from a second corpus, in `DIR` (base.fvecs, query.fvecs, groundtruth.ivecs), at the
/// default space's resolution.
fn held_out(dir: &str) -> anyhow::Result<Recording> {
    let (ef_construction, ef_search) = default_ladders()?;
    let data = hnswtune_example_harness::load_dir(std::path::Path::new(dir), 10)?;
    Ok(Recording {
        index: "held-out",
        default_out: "landscapes/held-out-default.jsonl",
        base: data.base,
        eval: data.eval,
        ef_construction,
        ef_search,
        m: vec![None],
        backend: Arc::new(InstantDistance::default()),
    })
}

fn synthetic_clusters() -> anyhow::Result<Recording> {
    const N: usize = 20_000;
    const DIM: usize = 96;
    const CLUSTERS: usize = 64;
    let base = clustered(N, DIM, CLUSTERS, 1, Metric::L2);
    // Same centres (they depend on dim and cluster count only), other draws.
    let queries = clustered(1_000, DIM, CLUSTERS, 2, Metric::L2);
    Ok(Recording {
        index: "clustered-20k-96",
        default_out: "landscapes/clustered-20k-96.jsonl",
        base: Arc::new(base),
        eval: EvalSet::new("clustered-1k", queries, 10, None)?,
        ef_construction: vec![12, 20, 32, 48, 72, 110, 160, 240, 350],
        ef_search: vec![10, 14, 20, 28, 40, 56, 80, 110, 150, 200],
        m: vec![None],
        backend: Arc::new(InstantDistance::default()),
    })
}

fn main() -> anyhow::Result<()> {
    let mut data_name = "minilm".to_owned();
    let mut data_dir: Option<String> = None;
    let mut out_path = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data_name = args.next().context("--data needs a value")?,
            "--dir" => data_dir = Some(args.next().context("--dir needs a value")?),
            flag if flag.starts_with("--") => bail!("unknown flag {flag}"),
            path => out_path = Some(path.to_owned()),
        }
    }
    let data = match data_name.as_str() {
        "minilm" => minilm()?,
        "minilm-v2" => minilm_v2()?,
        "clustered" => synthetic_clusters()?,
        "minilm-default" => minilm_default()?,
        "minilm-usearch" => minilm_usearch()?,
        "held-out" => held_out(data_dir.as_deref().context(
            "--data held-out needs --dir DIR with base.fvecs, query.fvecs, groundtruth.ivecs",
        )?)?,
        other => bail!(
            "--data {other}: expected minilm, minilm-v2, minilm-default, minilm-usearch, held-out or clustered"
        ),
    };
    let out_path = out_path.unwrap_or_else(|| data.default_out.to_owned());
    let index = IndexName::new(data.index)?;
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
    let evaluator = HnswEvaluator::with_options(Arc::clone(&data.backend), source, options);
    evaluator.add_eval_set(data.eval.clone());
    let mut out = std::io::BufWriter::new(std::fs::File::create(&out_path)?);
    // Seeds inside: a run cut short still holds both repeats of every build it reached.
    for &ef_construction in &data.ef_construction {
        for &m in &data.m {
            for seed in SEEDS {
                for &ef_search in &data.ef_search {
                    let mut params = Params::new()
                        .with(EF_CONSTRUCTION, ef_construction)
                        .with(EF_SEARCH, ef_search);
                    if let Some(m) = m {
                        params = params.with(M, m);
                    }
                    let request = EvalRequest {
                        index: index.clone(),
                        eval_set: data.eval.name.clone(),
                        params: params.clone(),
                        seed,
                        deterministic: false,
                    };
                    let measured = evaluator.measure(&request)?;
                    let mut metrics = measured.metrics.clone();
                    metrics.build_secs = measured.original_build_secs;
                    let mut trial = Trial::start(
                        index.clone(),
                        data.eval.name.clone(),
                        params,
                        measured.dataset.clone(),
                        TriggerReason::Study,
                    );
                    trial.seed = seed;
                    trial.threads = measured.threads;
                    trial.proposer = "grid".into();
                    trial.worker = "harness-landscape".into();
                    trial.note = format!(
                        "landscape: build_secs is the real time of build (ef_construction={ef_construction}{}, seed={seed}), repeated on each of its lines; ef patch {:.3}s",
                        m.map_or(String::new(), |m| format!(", m={m}")),
                        measured.prepare_secs
                    );
                    let trial = trial.complete(metrics);
                    trial.validate()?;
                    writeln!(out, "{}", serde_json::to_string(&trial)?)?;
                    out.flush()?;
                    eprintln!(
                        "seed {seed} ef_c {ef_construction:>3} m {m:?} ef_s {ef_search:>3}: build {:6.2}s ({:?}) recall {:.4} p50 {:7.1}us search {:.2}s",
                        measured.original_build_secs,
                        measured.metrics.build_kind,
                        measured.metrics.recall,
                        measured.metrics.search_p50_us,
                        measured.metrics.search_secs
                    );
                }
            }
        }
    }
    Ok(())
}
