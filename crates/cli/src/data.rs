//! Reading the user's files through the harness's loaders, with messages that name the
//! file, what it was for, and what to do.

use std::path::Path;

use anyhow::{Context, bail};
use hnswtune_harness::ground_truth::GroundTruth;
use hnswtune_harness::loaders::{self, Matrix};
use hnswtune_harness::{Metric, Vectors};

use crate::cli::MetricArg;

/// The harness metric for `--metric`.
pub fn metric(arg: MetricArg) -> Metric {
    match arg {
        MetricArg::Cosine => Metric::Cosine,
        MetricArg::L2 => Metric::L2,
    }
}

fn must_exist(path: &Path, flag: &str) -> anyhow::Result<()> {
    if !path.exists() {
        bail!(
            "{flag} {} does not exist. Check the path (relative paths are taken from the \
             current directory).",
            path.display()
        );
    }
    if path.is_dir() {
        bail!(
            "{flag} {} is a directory, not a vector file.",
            path.display()
        );
    }
    Ok(())
}

/// Reads a vector file by its extension (.fvecs, .bvecs, .npy) into validated vectors.
pub fn load_vectors(
    path: &Path,
    flag: &str,
    what: &str,
    metric: Metric,
) -> anyhow::Result<Vectors> {
    must_exist(path, flag)?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let matrix: Matrix<f32> = match ext.as_str() {
        "fvecs" => loaders::read_fvecs(path),
        "bvecs" => loaders::read_bvecs(path),
        "npy" => loaders::read_npy(path),
        _ => bail!(
            "{flag} {} has an extension hnswtune does not read. Use .fvecs or .bvecs (TEXMEX) \
             or .npy (float32, C order).",
            path.display()
        ),
    }
    .with_context(|| format!("cannot read the {what} ({flag})"))?;
    if matrix.rows() == 0 {
        bail!("{flag} {} holds no vectors.", path.display());
    }
    Vectors::new(what, matrix.dim, matrix.data, metric)
        .with_context(|| format!("the {what} in {} cannot be used", path.display()))
}

/// Checks that the queries have the base's dimension, naming both files.
pub fn check_dimensions(
    base: &Vectors,
    base_path: &Path,
    queries: &Vectors,
    queries_path: &Path,
) -> anyhow::Result<()> {
    if base.dim() != queries.dim() {
        bail!(
            "dimension mismatch: the queries in {} have {} components but the base vectors in \
             {} have {}. Queries and base must come from the same embedding model.",
            queries_path.display(),
            queries.dim(),
            base_path.display(),
            base.dim()
        );
    }
    Ok(())
}

/// Reads a TEXMEX `.ivecs` ground truth and keeps the first `k` ids per query.
pub fn load_ground_truth(
    path: &Path,
    base: &Vectors,
    queries: &Vectors,
    k: usize,
) -> anyhow::Result<GroundTruth> {
    must_exist(path, "--groundtruth")?;
    let matrix =
        loaders::read_ivecs(path).context("cannot read the ground truth (--groundtruth)")?;
    if matrix.rows() != queries.len() {
        bail!(
            "--groundtruth {} has {} rows but there are {} queries: it must hold one row of \
             true neighbour ids per query, in the same order.",
            path.display(),
            matrix.rows(),
            queries.len()
        );
    }
    if matrix.dim < k {
        bail!(
            "--groundtruth {} holds {} neighbours per query, fewer than --k {k}. Lower --k or \
             omit --groundtruth to compute it exactly.",
            path.display(),
            matrix.dim
        );
    }
    let mut ids = Vec::with_capacity(queries.len() * k);
    for q in 0..matrix.rows() {
        let row = matrix.row(q).unwrap_or_default();
        for &id in &row[..k] {
            let id = u32::try_from(id)
                .ok()
                .filter(|&i| (i as usize) < base.len());
            match id {
                Some(id) => ids.push(id),
                None => bail!(
                    "--groundtruth {} row {q} names a neighbour id outside the base's {} \
                     vectors: it does not belong to this base file.",
                    path.display(),
                    base.len()
                ),
            }
        }
    }
    GroundTruth::from_ids(base, queries, k, &ids)
        .with_context(|| format!("the ground truth in {} cannot be used", path.display()))
}
