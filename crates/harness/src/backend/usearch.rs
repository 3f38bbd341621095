//! The fast backend: usearch 2.26 (an HNSW index with a C++ core; Malkov & Yashunin,
//! "Efficient and robust approximate nearest neighbor search using Hierarchical Navigable
//! Small World graphs", IEEE TPAMI 2018). Compiled only with the `usearch` feature, which
//! needs the system C++ compiler.
//!
//! **Parameters.** `m` is usearch's connectivity (edges per node on the upper layers; the
//! base layer keeps twice as many, as in hnswlib) and defaults to [`DEFAULT_M`];
//! `ef_construction` is `expansion_add` and is required; `ef_search` is `expansion_search`.
//!
//! **Metric.** Vectors are stored as `f32` without quantisation. Cosine data is normalised
//! at load ([`Vectors`]), so cosine maps to usearch's inner product (`1 - a·b`, the cosine
//! distance on unit vectors) and skips usearch's per-distance norms; L2 maps to squared L2.
//! Both rank exactly as the ground truth does.
//!
//! **Run-time `ef_search`.** usearch keeps `expansion_search` in the index, not in the
//! search call, so every searcher of one build shares one [`usearch::Index`]: a search
//! takes the index's lock, sets `expansion_search` when the last search used another
//! value, and searches. No copy, no serde round trip. Searches on one build are therefore
//! serialised; the harness measures latency single-threaded, where the lock is uncontended
//! (tens of nanoseconds against tens of microseconds per query).
//!
//! **k > ef_search** is answered in full: usearch searches with `max(expansion_search, k)`,
//! so a searcher returns `k` results for any `k` up to the index size ([`Searcher::max_k`]
//! is `None`). That is usearch's documented clamp, applied upwards, never a silent short list.
//!
//! **Threads and seeds.** Rows are added from a rayon pool of [`BuildOptions::threads`]
//! workers, and usearch reserves exactly that many thread contexts. The insertion order is
//! a permutation of the rows drawn from [`BuildOptions::seed`] (ChaCha8); usearch's own
//! level generators are seeded per thread context by the library, not by the caller. So a
//! 1-thread build is a function of the data, the parameters and the seed, and is
//! byte-identical on every run (tested); a parallel build is not reproducible, because the
//! interleaving of inserts differs between runs.
//!
//! **Incremental insert.** [`BuiltIndex::extend`] adds rows `len()..` of the grown data,
//! in a seeded order, with the build's thread count, holding the search lock. Searchers
//! made earlier share the index and see the new rows. The evaluator uses it to extend a
//! cached build when data is appended (see [`crate::evaluator`]).
//!
//! **Index size** is usearch's `serialized_length`: the bytes `save` writes (header,
//! vectors and graph), remeasured after every extension. See docs/measurement.md.
//!
//! Invariants: the key of every added vector is its row number, so search results are row
//! numbers of the `Vectors` the index was built from; the index holds fewer than 2^32 rows.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hnswtune_core::{EF_CONSTRUCTION, EF_SEARCH, M, ParamSpec, Params, Phase};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use super::{
    BuildOptions, BuiltIndex, Capabilities, IndexBackend, Searcher, optional_usize, reject_unknown,
    required_usize,
};
use crate::error::{Error, Result};
use crate::vectors::{Metric, Vectors};

/// The backend's name, part of every build-cache key.
pub const NAME: &str = "usearch";

/// Connectivity used when the params do not name `m` (instant-distance's fixed value, so
/// the two backends compare at equal `M` by default).
pub const DEFAULT_M: usize = 32;

/// The `expansion_search` a fresh index holds until a searcher sets its own.
const INITIAL_EF_SEARCH: usize = 64;

const BUILD_PARAMS: [&str; 2] = [EF_CONSTRUCTION, M];
const SEARCH_PARAMS: [&str; 1] = [EF_SEARCH];

fn fail(what: &str, e: impl fmt::Display) -> Error {
    Error::Backend {
        backend: NAME.into(),
        why: format!("{what}: {e}"),
    }
}

/// The usearch crate's version and the SIMD instruction sets its kernels use on this CPU
/// (compiled in and supported at run time), for benchmark reports.
pub fn library_info() -> String {
    format!(
        "usearch {}, SIMD: {}",
        usearch::version(),
        usearch::hardware_acceleration_available()
    )
}

/// The usearch backend.
///
/// ```
/// use hnswtune_core::{Params, EF_CONSTRUCTION, EF_SEARCH, M};
/// use hnswtune_harness::backend::{BuildOptions, IndexBackend, usearch::Usearch};
/// use hnswtune_harness::{Metric, testdata::clustered};
///
/// let base = clustered(300, 16, 4, 1, Metric::Cosine);
/// let params = Params::new().with(EF_CONSTRUCTION, 40).with(M, 16);
/// let index = Usearch.build(&base, &params, &BuildOptions::deterministic(7))?;
/// let searcher = index.searcher(&Params::new().with(EF_SEARCH, 20))?;
/// let mut out = Vec::new();
/// searcher.search(base.row(5), 3, &mut out)?;
/// assert_eq!(out[0], 5);
/// # Ok::<(), hnswtune_harness::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Usearch;

impl Usearch {
    fn build_inner(
        &self,
        vectors: &Vectors,
        params: &Params,
        options: &BuildOptions,
    ) -> Result<UsearchIndex> {
        reject_unknown(params, &BUILD_PARAMS, NAME)?;
        let ef_construction = required_usize(params, EF_CONSTRUCTION)?;
        let m = optional_usize(params, M)?.unwrap_or(DEFAULT_M);
        if m < 2 {
            return Err(Error::BadParam {
                name: M.into(),
                why: "usearch needs a connectivity of at least 2".into(),
            });
        }
        let options_native = IndexOptions {
            dimensions: vectors.dim(),
            metric: match vectors.metric() {
                Metric::Cosine => MetricKind::IP,
                Metric::L2 => MetricKind::L2sq,
            },
            quantization: ScalarKind::F32,
            connectivity: m,
            expansion_add: ef_construction,
            expansion_search: INITIAL_EF_SEARCH,
            multi: false,
        };
        let index = Index::new(&options_native).map_err(|e| fail("create the index", e))?;
        let mut built = UsearchIndex {
            shared: Arc::new(Shared {
                index,
                ef_search: Mutex::new(INITIAL_EF_SEARCH),
            }),
            dim: vectors.dim(),
            metric: vectors.metric(),
            options: *options,
            index_bytes: 0,
        };
        built.add_rows(vectors)?;
        Ok(built)
    }
}

impl IndexBackend for Usearch {
    fn name(&self) -> &str {
        NAME
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::int(EF_CONSTRUCTION, 1, 100_000, 1, Phase::Build).with_default(100),
            ParamSpec::int(M, 2, 1024, 1, Phase::Build).with_default(DEFAULT_M as i64),
            ParamSpec::int(EF_SEARCH, 1, 100_000, 1, Phase::Search).with_default(100),
        ]
    }

    fn build(
        &self,
        vectors: &Vectors,
        params: &Params,
        options: &BuildOptions,
    ) -> Result<Box<dyn BuiltIndex>> {
        Ok(Box::new(self.build_inner(vectors, params, options)?))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tunable_m: true,
            runtime_ef: true,
            incremental_insert: true,
        }
    }
}

/// The usearch index and the `expansion_search` it holds; the lock guards every search
/// and every insert.
struct Shared {
    index: Index,
    ef_search: Mutex<usize>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, usize> {
        // The guarded value is only ever written right after a successful
        // change_expansion_search, so it is valid even after a panic elsewhere.
        self.ef_search
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The order in which a build with `seed` adds `rows` (a fresh build: `0..len`; an
/// extension: `len()..` of the grown data): a ChaCha8 shuffle. The first row enters the
/// seed, so an extension does not replay the build's order. A 1-thread build adds the
/// rows in exactly this order, so a caller can rebuild the same graph outside the harness.
///
/// ```
/// use hnswtune_harness::backend::usearch::insertion_order;
/// let order = insertion_order(0..5, 7);
/// let mut sorted = order.clone();
/// sorted.sort();
/// assert_eq!(sorted, vec![0, 1, 2, 3, 4]);
/// assert_eq!(order, insertion_order(0..5, 7));
/// ```
pub fn insertion_order(rows: std::ops::Range<usize>, seed: u64) -> Vec<usize> {
    let start = rows.start as u64;
    let mut order: Vec<usize> = rows.collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed ^ start.rotate_left(32)));
    order
}

/// A built usearch index.
struct UsearchIndex {
    shared: Arc<Shared>,
    dim: usize,
    metric: Metric,
    options: BuildOptions,
    index_bytes: u64,
}

impl fmt::Debug for UsearchIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsearchIndex")
            .field("len", &self.shared.index.size())
            .field("dim", &self.dim)
            .field("connectivity", &self.shared.index.connectivity())
            .field("expansion_add", &self.shared.index.expansion_add())
            .field("index_bytes", &self.index_bytes)
            .finish_non_exhaustive()
    }
}

impl UsearchIndex {
    /// Adds rows `len()..` of `vectors` in a seeded order with the build's thread count.
    fn add_rows(&mut self, vectors: &Vectors) -> Result<()> {
        if vectors.dim() != self.dim {
            return Err(Error::DimensionMismatch {
                what: "vectors to add".into(),
                expected: self.dim,
                found: vectors.dim(),
            });
        }
        if vectors.metric() != self.metric {
            return Err(Error::invalid(
                "vectors to add",
                format!(
                    "metric {} differs from the index's {}",
                    vectors.metric().as_str(),
                    self.metric.as_str()
                ),
            ));
        }
        if vectors.len() >= u32::MAX as usize {
            return Err(Error::invalid(
                "vectors to add",
                "the harness indexes fewer than 2^32 - 1 vectors",
            ));
        }
        let _searches_wait = self.shared.lock();
        let index = &self.shared.index;
        let start = index.size();
        if vectors.len() < start {
            return Err(Error::invalid(
                "vectors to add",
                format!("{} rows cannot extend an index of {start}", vectors.len()),
            ));
        }
        let threads = self.options.threads.max(1);
        index
            .reserve_capacity_and_threads(vectors.len(), threads)
            .map_err(|e| fail("reserve", e))?;
        let order = insertion_order(start..vectors.len(), self.options.seed);
        let add = |row: usize| {
            index
                .add(row as u64, vectors.row(row))
                .map_err(|e| fail(&format!("add row {row}"), e))
        };
        if threads == 1 {
            // A plain loop: the order is exactly `order`, whatever rayon's scheduling.
            order.iter().try_for_each(|&row| add(row))?;
        } else {
            self.options
                .install(NAME, || order.par_iter().try_for_each(|&row| add(row)))??;
        }
        self.index_bytes = index.serialized_length() as u64;
        Ok(())
    }

    #[cfg(test)]
    fn serialize(&self) -> Vec<u8> {
        let index = &self.shared.index;
        let mut buffer = vec![0u8; index.serialized_length()];
        index
            .save_to_buffer(&mut buffer)
            .unwrap_or_else(|e| panic!("save_to_buffer: {e}"));
        buffer
    }
}

impl BuiltIndex for UsearchIndex {
    fn searcher(&self, params: &Params) -> Result<Arc<dyn Searcher>> {
        reject_unknown(params, &SEARCH_PARAMS, NAME)?;
        let ef_search = required_usize(params, EF_SEARCH)?;
        Ok(Arc::new(UsearchSearcher {
            shared: Arc::clone(&self.shared),
            ef_search,
            dim: self.dim,
        }))
    }

    fn index_bytes(&self) -> u64 {
        self.index_bytes
    }

    fn len(&self) -> usize {
        self.shared.index.size()
    }

    fn extend(&mut self, vectors: &Vectors) -> Result<()> {
        self.add_rows(vectors)
    }
}

/// Searches a shared usearch index at one `ef_search`.
struct UsearchSearcher {
    shared: Arc<Shared>,
    ef_search: usize,
    dim: usize,
}

impl fmt::Debug for UsearchSearcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UsearchSearcher")
            .field("ef_search", &self.ef_search)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

impl Searcher for UsearchSearcher {
    fn search(&self, query: &[f32], k: usize, out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        super::check_query_dim(query, self.dim)?;
        let index = &self.shared.index;
        let mut current = self.shared.lock();
        let size = index.size();
        if k == 0 || k > size {
            return Err(Error::InvalidK { k, limit: size });
        }
        if *current != self.ef_search {
            index.change_expansion_search(self.ef_search);
            *current = self.ef_search;
        }
        let matches = index.search(query, k).map_err(|e| fail("search", e))?;
        drop(current);
        for key in matches.keys {
            out.push(u32::try_from(key).map_err(|_| fail("search", "a key beyond u32"))?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::clustered;

    fn params(ef_construction: i64, m: i64) -> Params {
        Params::new()
            .with(EF_CONSTRUCTION, ef_construction)
            .with(M, m)
    }

    fn search_all(index: &dyn BuiltIndex, queries: &Vectors, ef: i64, k: usize) -> Vec<Vec<u32>> {
        let s = index.searcher(&Params::new().with(EF_SEARCH, ef)).unwrap();
        queries
            .rows()
            .map(|q| {
                let mut out = Vec::new();
                s.search(q, k, &mut out).unwrap();
                out
            })
            .collect()
    }

    fn recall(base: &Vectors, queries: &Vectors, found: &[Vec<u32>], k: usize) -> f64 {
        let gt = crate::ground_truth::compute(base, queries, k).unwrap();
        crate::recall::summarise(base, queries, &gt, found, k, crate::recall::DEFAULT_EPSILON)
            .recall
    }

    #[test]
    fn one_thread_builds_are_byte_identical_and_the_seed_matters() {
        let base = clustered(400, 16, 8, 3, Metric::Cosine);
        let a = Usearch
            .build_inner(&base, &params(32, 8), &BuildOptions::deterministic(5))
            .unwrap();
        let b = Usearch
            .build_inner(&base, &params(32, 8), &BuildOptions::deterministic(5))
            .unwrap();
        let c = Usearch
            .build_inner(&base, &params(32, 8), &BuildOptions::deterministic(6))
            .unwrap();
        assert_eq!(a.serialize(), b.serialize());
        assert_ne!(a.serialize(), c.serialize(), "the seed orders the inserts");
        assert_eq!(a.index_bytes(), a.serialize().len() as u64);
    }

    #[test]
    fn recall_is_high_and_runtime_ef_changes_the_search() {
        let base = clustered(2000, 32, 16, 5, Metric::Cosine);
        let queries = clustered(100, 32, 16, 6, Metric::Cosine);
        let index = Usearch
            .build(&base, &params(32, 8), &BuildOptions::parallel(1))
            .unwrap();
        let low = search_all(&*index, &queries, 10, 10);
        let high = search_all(&*index, &queries, 200, 10);
        let (r_low, r_high) = (
            recall(&base, &queries, &low, 10),
            recall(&base, &queries, &high, 10),
        );
        assert!(r_high > 0.95, "recall at ef 200: {r_high}");
        assert!(r_high >= r_low, "{r_high} < {r_low}");
        assert_ne!(low, high, "ef_search must reach the search");
        // Two searchers over one build, used alternately, each keep their own ef.
        let s_low = index.searcher(&Params::new().with(EF_SEARCH, 10)).unwrap();
        let s_high = index.searcher(&Params::new().with(EF_SEARCH, 200)).unwrap();
        let mut out = Vec::new();
        for (i, q) in queries.rows().enumerate() {
            s_low.search(q, 10, &mut out).unwrap();
            assert_eq!(out, low[i]);
            s_high.search(q, 10, &mut out).unwrap();
            assert_eq!(out, high[i]);
        }
    }

    #[test]
    fn m_is_honoured() {
        let base = clustered(300, 16, 4, 7, Metric::L2);
        let opts = BuildOptions::deterministic(1);
        let small = Usearch.build_inner(&base, &params(20, 4), &opts).unwrap();
        let large = Usearch.build_inner(&base, &params(20, 48), &opts).unwrap();
        let default = Usearch
            .build_inner(&base, &Params::new().with(EF_CONSTRUCTION, 20), &opts)
            .unwrap();
        assert_eq!(small.shared.index.connectivity(), 4);
        assert_eq!(large.shared.index.connectivity(), 48);
        assert_eq!(default.shared.index.connectivity(), DEFAULT_M);
        assert!(large.index_bytes() > small.index_bytes());
    }

    #[test]
    fn k_above_ef_search_is_answered_in_full() {
        let base = clustered(500, 16, 4, 8, Metric::L2);
        let index = Usearch
            .build(&base, &params(20, 8), &BuildOptions::deterministic(2))
            .unwrap();
        let s = index.searcher(&Params::new().with(EF_SEARCH, 5)).unwrap();
        assert_eq!(s.max_k(), None);
        let mut out = Vec::new();
        s.search(base.row(3), 50, &mut out).unwrap();
        assert_eq!(out.len(), 50);
        assert_eq!(out[0], 3);
        s.search(base.row(3), 500, &mut out).unwrap();
        assert_eq!(out.len(), 500);
    }

    #[test]
    fn extend_appends_rows_and_keeps_recall() {
        let base = clustered(2000, 32, 16, 9, Metric::Cosine);
        let queries = clustered(100, 32, 16, 10, Metric::Cosine);
        let opts = BuildOptions::deterministic(3);
        let mut grown: Box<dyn BuiltIndex> = Usearch
            .build(&base.prefix(1200), &params(40, 8), &opts)
            .unwrap();
        let before = grown.index_bytes();
        assert_eq!(grown.len(), 1200);
        grown.extend(&base).unwrap();
        assert_eq!(grown.len(), 2000);
        assert!(grown.index_bytes() > before);
        let fresh = Usearch.build(&base, &params(40, 8), &opts).unwrap();
        let r_grown = recall(&base, &queries, &search_all(&*grown, &queries, 40, 10), 10);
        let r_fresh = recall(&base, &queries, &search_all(&*fresh, &queries, 40, 10), 10);
        assert!(r_grown > r_fresh - 0.03, "{r_grown} vs {r_fresh}");
        // Rows from the extension are found by their own row number.
        let s = grown.searcher(&Params::new().with(EF_SEARCH, 40)).unwrap();
        let mut out = Vec::new();
        s.search(base.row(1999), 1, &mut out).unwrap();
        assert_eq!(out, [1999]);
        // Extending with the same data is a no-op; with fewer rows, an error.
        grown.extend(&base).unwrap();
        assert_eq!(grown.len(), 2000);
        assert!(matches!(
            grown.extend(&base.prefix(10)),
            Err(Error::InvalidInput { .. })
        ));
        assert!(matches!(
            grown.extend(&clustered(3000, 8, 4, 1, Metric::Cosine)),
            Err(Error::DimensionMismatch { .. })
        ));
        assert!(matches!(
            grown.extend(&clustered(3000, 32, 4, 1, Metric::L2)),
            Err(Error::InvalidInput { .. })
        ));
    }

    #[test]
    fn capabilities_and_search_space_declare_m() {
        let caps = Usearch.capabilities();
        assert!(caps.tunable_m && caps.runtime_ef && caps.incremental_insert);
        let space = Usearch.search_space().unwrap();
        assert!(space.spec(M).is_some());
    }

    #[test]
    fn bad_params_and_queries_are_typed_errors() {
        let base = clustered(80, 16, 4, 9, Metric::L2);
        let opts = BuildOptions::deterministic(3);
        let build = |p: &Params| Usearch.build(&base, p, &opts);
        assert!(matches!(
            build(&Params::new()),
            Err(Error::MissingParam { .. })
        ));
        assert!(matches!(
            build(&params(20, 8).with("mystery", 1)),
            Err(Error::UnknownParam { .. })
        ));
        assert!(matches!(build(&params(0, 8)), Err(Error::BadParam { .. })));
        assert!(matches!(build(&params(20, 1)), Err(Error::BadParam { .. })));
        assert!(matches!(
            build(&params(20, 8).with(M, "wide")),
            Err(Error::BadParam { .. })
        ));
        let index = build(&params(20, 8)).unwrap();
        assert!(matches!(
            index.searcher(&Params::new()),
            Err(Error::MissingParam { .. })
        ));
        assert!(matches!(
            index.searcher(&Params::new().with(EF_SEARCH, 10).with(M, 8)),
            Err(Error::UnknownParam { .. })
        ));
        assert!(matches!(
            index.searcher(&Params::new().with(EF_SEARCH, 0)),
            Err(Error::BadParam { .. })
        ));
        let s = index.searcher(&Params::new().with(EF_SEARCH, 10)).unwrap();
        let mut out = vec![7];
        assert!(matches!(
            s.search(base.row(0), 0, &mut out),
            Err(Error::InvalidK { .. })
        ));
        assert!(out.is_empty());
        assert!(matches!(
            s.search(base.row(0), 81, &mut out),
            Err(Error::InvalidK { k: 81, limit: 80 })
        ));
        assert!(matches!(
            s.search(&[0.0; 3], 1, &mut out),
            Err(Error::DimensionMismatch { .. })
        ));
        let (b, q) = Usearch
            .split_params(&params(20, 8).with(EF_SEARCH, 10))
            .unwrap();
        assert_eq!((b.len(), q.len()), (2, 1));
    }
}
