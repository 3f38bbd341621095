//! Contiguous `f32` vector storage and the two metrics.
//!
//! [`Vectors`] keeps all rows in one `Vec<f32>` (row-major), never `Vec<Vec<f32>>`: one
//! allocation, cache-friendly scans, and a slice the GEMM in [`crate::ground_truth`] can use
//! directly. Construction validates every component (NaN and infinity are errors) and, for
//! [`Metric::Cosine`], normalises each row once, so that every later distance is a plain
//! inner product or squared L2 on unit vectors.
//!
//! Duplicate rows are allowed and kept: real corpora have them. Ground truth breaks distance
//! ties by the smaller id, and the tolerant recall ([`crate::recall`]) counts any returned row
//! at the true k-th distance as a hit, so duplicates never cost tolerant recall.

use serde::{Deserialize, Serialize};

use crate::distance;
use crate::error::{Error, Result};

/// The distance the index and the ground truth rank by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// Cosine distance `1 - cos(a, b)`; rows are normalised at load.
    Cosine,
}

impl Metric {
    /// The distance between two rows already prepared for this metric (for cosine: unit
    /// vectors). Cosine gives `1 - a·b`, L2 gives `|a - b|²`.
    #[inline]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        match self {
            Metric::L2 => distance::l2_squared(a, b),
            Metric::Cosine => 1.0 - distance::dot(a, b),
        }
    }

    /// The same distance computed in `f64`, used to re-score ground-truth candidates.
    pub fn distance_f64(self, a: &[f32], b: &[f32]) -> f64 {
        match self {
            Metric::L2 => a
                .iter()
                .zip(b)
                .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
                .sum(),
            Metric::Cosine => {
                1.0 - a
                    .iter()
                    .zip(b)
                    .map(|(x, y)| f64::from(*x) * f64::from(*y))
                    .sum::<f64>()
            }
        }
    }

    /// A short lowercase name (`"l2"`, `"cosine"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Cosine => "cosine",
        }
    }
}

/// Validated, contiguous, row-major `f32` vectors prepared for one [`Metric`].
///
/// ```
/// use hnswtune_harness::{Metric, Vectors};
/// let v = Vectors::new("base", 2, vec![3.0, 4.0, 0.0, 2.0], Metric::Cosine)?;
/// assert_eq!(v.len(), 2);
/// assert_eq!(v.row(0), &[0.6, 0.8]);
/// # Ok::<(), hnswtune_harness::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "VectorsRepr")]
pub struct Vectors {
    dim: usize,
    metric: Metric,
    data: Vec<f32>,
}

/// The stored form of [`Vectors`]; deserialising re-validates it without re-normalising
/// (normalising twice could change the last bits, and with them the content hash).
#[derive(Deserialize)]
struct VectorsRepr {
    dim: usize,
    metric: Metric,
    data: Vec<f32>,
}

impl TryFrom<VectorsRepr> for Vectors {
    type Error = Error;

    fn try_from(repr: VectorsRepr) -> Result<Self> {
        let checked = Vectors::new("stored vectors", repr.dim, repr.data.clone(), Metric::L2)?;
        if repr.metric == Metric::Cosine {
            for (row, r) in checked.rows().enumerate() {
                let norm = r
                    .iter()
                    .map(|x| f64::from(*x) * f64::from(*x))
                    .sum::<f64>()
                    .sqrt();
                if (norm - 1.0).abs() > 1e-3 {
                    return Err(Error::invalid(
                        "stored vectors",
                        format!("cosine row {row} has norm {norm}, not 1"),
                    ));
                }
            }
        }
        Ok(Vectors {
            dim: repr.dim,
            metric: repr.metric,
            data: repr.data,
        })
    }
}

impl Vectors {
    /// Validates `data` as rows of `dim` components and prepares them for `metric`.
    ///
    /// `what` names the set in errors ("base", "queries"). Errors: [`Error::InvalidInput`]
    /// for `dim == 0` or a length that is not a multiple of `dim`, [`Error::Empty`],
    /// [`Error::NonFinite`], and [`Error::ZeroVector`] under cosine.
    pub fn new(what: &str, dim: usize, mut data: Vec<f32>, metric: Metric) -> Result<Self> {
        if dim == 0 {
            return Err(Error::invalid(what, "dimension must be at least 1"));
        }
        if !data.len().is_multiple_of(dim) {
            return Err(Error::invalid(
                what,
                format!(
                    "{} components is not a multiple of dimension {dim}",
                    data.len()
                ),
            ));
        }
        if data.is_empty() {
            return Err(Error::Empty { what: what.into() });
        }
        for (row, chunk) in data.chunks_exact(dim).enumerate() {
            if let Some((component, &value)) =
                chunk.iter().enumerate().find(|(_, x)| !x.is_finite())
            {
                return Err(Error::NonFinite {
                    what: what.into(),
                    row,
                    component,
                    value,
                });
            }
        }
        if metric == Metric::Cosine {
            for (row, chunk) in data.chunks_exact_mut(dim).enumerate() {
                let norm = chunk
                    .iter()
                    .map(|x| f64::from(*x) * f64::from(*x))
                    .sum::<f64>()
                    .sqrt();
                if norm == 0.0 || !norm.is_finite() {
                    return Err(Error::ZeroVector {
                        what: what.into(),
                        row,
                    });
                }
                for x in chunk.iter_mut() {
                    *x = (f64::from(*x) / norm) as f32;
                }
            }
        }
        Ok(Vectors { dim, metric, data })
    }

    /// Builds from rows of equal length (convenience for tests and small hosts).
    pub fn from_rows(what: &str, rows: &[Vec<f32>], metric: Metric) -> Result<Self> {
        let dim = rows
            .first()
            .map(Vec::len)
            .ok_or_else(|| Error::Empty { what: what.into() })?;
        let mut data = Vec::with_capacity(dim * rows.len());
        for (i, row) in rows.iter().enumerate() {
            if row.len() != dim {
                return Err(Error::DimensionMismatch {
                    what: format!("{what} row {i}"),
                    expected: dim,
                    found: row.len(),
                });
            }
            data.extend_from_slice(row);
        }
        Vectors::new(what, dim, data, metric)
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }

    /// Always false: construction rejects empty sets. Present for API symmetry.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Components per row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The metric the rows were prepared for.
    pub fn metric(&self) -> Metric {
        self.metric
    }

    /// Row `i`. Panics when `i >= len()`, like slice indexing; use [`Vectors::get`] otherwise.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Row `i`, or `None` when out of range.
    pub fn get(&self, i: usize) -> Option<&[f32]> {
        self.data.get(i * self.dim..(i + 1) * self.dim)
    }

    /// Iterates over the rows in order.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, f32> {
        self.data.chunks_exact(self.dim)
    }

    /// All components, row-major.
    pub fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The first `n` rows (all rows if `n >= len()`, at least one row since a set is never
    /// empty), as a new set.
    pub fn prefix(&self, n: usize) -> Vectors {
        let n = n.clamp(1, self.len());
        Vectors {
            dim: self.dim,
            metric: self.metric,
            data: self.data[..n * self.dim].to_vec(),
        }
    }

    /// Checks that `other` can be searched against `self` (same dimension and metric).
    pub fn check_compatible(&self, what: &str, other: &Vectors) -> Result<()> {
        if other.dim != self.dim {
            return Err(Error::DimensionMismatch {
                what: what.into(),
                expected: self.dim,
                found: other.dim,
            });
        }
        if other.metric != self.metric {
            return Err(Error::invalid(
                what,
                format!(
                    "metric {} differs from the base's {}",
                    other.metric.as_str(),
                    self.metric.as_str()
                ),
            ));
        }
        Ok(())
    }

    /// A 64-bit content hash (xxh3) of the metric, the dimension and every component's bits.
    ///
    /// Two sets hash equal only if they hold the same rows in the same order, so a cached
    /// build or ground truth keyed by it is never reused on other data.
    pub fn content_hash(&self) -> u64 {
        self.prefix_content_hash(self.len())
    }

    /// The [`content_hash`](Vectors::content_hash) of the first `n` rows (all rows when
    /// `n >= len()`), without copying them: equal to `self.prefix(n).content_hash()` for
    /// `n >= 1`. The evaluator uses it to check that cached data is a prefix of new data.
    pub fn prefix_content_hash(&self, n: usize) -> u64 {
        let rows = &self.data[..n.min(self.len()) * self.dim];
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(self.metric.as_str().as_bytes());
        hasher.update(&(self.dim as u64).to_le_bytes());
        let mut buf = Vec::with_capacity(64 * 1024);
        for chunk in rows.chunks(16 * 1024) {
            buf.clear();
            for x in chunk {
                buf.extend_from_slice(&x.to_le_bytes());
            }
            hasher.update(&buf);
        }
        hasher.digest()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_hash_equals_the_hash_of_the_prefix() {
        let v = crate::testdata::clustered(50, 8, 3, 1, Metric::Cosine);
        for n in [1, 17, 49, 50] {
            assert_eq!(v.prefix_content_hash(n), v.prefix(n).content_hash());
        }
        assert_eq!(v.prefix_content_hash(500), v.content_hash());
        assert_ne!(v.prefix_content_hash(49), v.content_hash());
    }

    #[test]
    fn rejects_bad_input_with_typed_errors() {
        assert!(matches!(
            Vectors::new("b", 2, vec![1.0, f32::NAN], Metric::L2),
            Err(Error::NonFinite {
                row: 0,
                component: 1,
                ..
            })
        ));
        assert!(matches!(
            Vectors::new("b", 2, vec![1.0, 1.0, f32::INFINITY, 0.0], Metric::L2),
            Err(Error::NonFinite {
                row: 1,
                component: 0,
                ..
            })
        ));
        assert!(matches!(
            Vectors::new("b", 2, vec![], Metric::L2),
            Err(Error::Empty { .. })
        ));
        assert!(matches!(
            Vectors::new("b", 0, vec![], Metric::L2),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            Vectors::new("b", 2, vec![1.0; 3], Metric::L2),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            Vectors::new("b", 2, vec![1.0, 0.0, 0.0, 0.0], Metric::Cosine),
            Err(Error::ZeroVector { row: 1, .. })
        ));
        // The zero vector is a fine point under L2.
        assert!(Vectors::new("b", 2, vec![0.0, 0.0], Metric::L2).is_ok());
        assert!(matches!(
            Vectors::from_rows("b", &[vec![1.0], vec![1.0, 2.0]], Metric::L2),
            Err(Error::DimensionMismatch {
                expected: 1,
                found: 2,
                ..
            })
        ));
    }

    #[test]
    fn cosine_normalises_once_and_hash_tracks_content() {
        let v = Vectors::new("b", 2, vec![3.0, 4.0, 10.0, 0.0], Metric::Cosine).unwrap();
        assert_eq!(v.row(1), &[1.0, 0.0]);
        assert!((Metric::Cosine.distance(v.row(0), v.row(1)) - 0.4).abs() < 1e-6);
        let same = Vectors::new("b", 2, vec![3.0, 4.0, 10.0, 0.0], Metric::Cosine).unwrap();
        let other = Vectors::new("b", 2, vec![3.0, 4.0, 10.0, 0.5], Metric::Cosine).unwrap();
        assert_eq!(v.content_hash(), same.content_hash());
        assert_ne!(v.content_hash(), other.content_hash());
        let json = serde_json::to_string(&v).unwrap();
        let back: Vectors = serde_json::from_str(&json).unwrap();
        assert_eq!(back.content_hash(), v.content_hash());
        assert!(
            serde_json::from_str::<Vectors>(r#"{"dim":2,"metric":"cosine","data":[3.0,4.0]}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<Vectors>(r#"{"dim":2,"metric":"l2","data":[3.0]}"#).is_err()
        );
        let l2 = Vectors::new("b", 2, vec![3.0, 4.0, 10.0, 0.0], Metric::L2).unwrap();
        assert_ne!(l2.content_hash(), v.content_hash());
    }
}
