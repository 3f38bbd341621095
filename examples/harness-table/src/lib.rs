//! Shared helpers of the harness examples: loading the MiniLM data set and running the
//! Python side of the comparisons.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use hnswtune_harness::loaders::{read_fvecs, read_ivecs};
use hnswtune_harness::{EvalSet, Metric, Vectors};

/// The shared data set's folder: `$HNSWTUNE_DATA` or `../shared/datasets/debian-descriptions-minilm`
/// relative to the workspace root.
pub fn data_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("HNSWTUNE_DATA") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/datasets/debian-descriptions-minilm")
}

/// The MiniLM base, the eval set (1000 queries, k = 10) and the shipped exact top-100 ids.
pub struct MiniLm {
    /// 20k × 384, cosine.
    pub base: Arc<Vectors>,
    /// The queries as an eval set with k = 10.
    pub eval: EvalSet,
    /// `groundtruth.ivecs`: 100 ids per query.
    pub shipped_truth: Vec<u32>,
}

/// Loads the data set from [`data_dir`].
pub fn load(k: usize) -> anyhow::Result<MiniLm> {
    load_dir(&data_dir(), k)
}

/// [`load`] from another directory of the same layout (cosine), for example a set made
/// by the shared `make.py` from another corpus.
pub fn load_dir(dir: &std::path::Path, k: usize) -> anyhow::Result<MiniLm> {
    let base = read_fvecs(dir.join("base.fvecs"))
        .with_context(|| format!("loading from {}", dir.display()))?;
    let queries = read_fvecs(dir.join("query.fvecs"))?;
    let truth = read_ivecs(dir.join("groundtruth.ivecs"))?;
    let texts = std::fs::read_to_string(dir.join("texts_query.txt"))
        .ok()
        .map(|t| t.lines().map(str::to_owned).collect::<Vec<_>>());
    let base = Vectors::new("base", base.dim, base.data, Metric::Cosine)?;
    let queries = Vectors::new("queries", queries.dim, queries.data, Metric::Cosine)?;
    let texts = texts.filter(|t| t.len() == queries.len());
    let eval = EvalSet::new("minilm-1k", queries, k, texts)?;
    Ok(MiniLm {
        base: Arc::new(base),
        eval,
        shipped_truth: truth.data.iter().map(|&x| x as u32).collect(),
    })
}

/// Runs `py/side_by_side.py` (numpy and hnswlib, the other side of the comparisons) with
/// `args` and returns the JSON it prints.
pub fn python(args: &[&str]) -> anyhow::Result<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/side_by_side.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .context("running python3 (pip install numpy hnswlib)")?;
    anyhow::ensure!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(serde_json::from_slice(&out.stdout)?)
}
