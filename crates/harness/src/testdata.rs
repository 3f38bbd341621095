//! Small, seeded synthetic data: clustered Gaussians.
//!
//! Tests and examples need data with the structure of real embeddings (points gathered
//! around topics) without shipping files. Centres are drawn uniformly in `[-1, 1]^dim`;
//! each point is its centre plus Gaussian noise with σ = 0.15 (Box–Muller on a ChaCha8
//! stream), so the same `seed` always gives the same vectors on every platform.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::vectors::{Metric, Vectors};

/// `n` points of dimension `dim` around `clusters` centres, prepared for `metric`.
///
/// The centres depend only on `dim` and `clusters` (not on `seed`), so a base set and a
/// query set generated with different seeds share the same topics, as real queries do.
/// Returns an empty-free set: `n`, `dim` and `clusters` are raised to at least 1.
pub fn clustered(n: usize, dim: usize, clusters: usize, seed: u64, metric: Metric) -> Vectors {
    let (n, dim, clusters) = (n.max(1), dim.max(1), clusters.max(1));
    let mut centre_rng =
        ChaCha8Rng::seed_from_u64(0x5eed_c0de ^ (dim as u64) << 16 ^ clusters as u64);
    let centres: Vec<f32> = (0..clusters * dim)
        .map(|_| centre_rng.gen_range(-1.0f32..1.0))
        .collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = rng.gen_range(0..clusters);
        for j in 0..dim {
            let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
            let u2: f64 = rng.r#gen();
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            data.push(centres[c * dim + j] + 0.15 * z as f32);
        }
    }
    match Vectors::new("synthetic", dim, data, metric) {
        Ok(v) => v,
        // A Gaussian sample is never the zero vector in practice; fall back to L2, which
        // accepts it, rather than panicking.
        Err(_) => clustered(n, dim, clusters, seed.wrapping_add(1), metric),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped() {
        let a = clustered(100, 8, 4, 7, Metric::L2);
        let b = clustered(100, 8, 4, 7, Metric::L2);
        let c = clustered(100, 8, 4, 8, Metric::L2);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!((a.len(), a.dim()), (100, 8));
    }
}
