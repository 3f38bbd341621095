//! The evaluation harness of hnswtune: turns a config into trustworthy metrics.
//!
//! - [`backend::IndexBackend`], [`backend::BuiltIndex`], [`backend::Searcher`]: the index
//!   seam; [`backend::instant::InstantDistance`] is the default backend, and
//!   `backend::usearch::Usearch` the fast one (feature `usearch`).
//! - [`Vectors`] and [`Metric`]: contiguous, validated `f32` storage; [`distance`] is the
//!   vectorised kernel.
//! - [`ground_truth`]: exact top-k by blocked GEMM and partial selection; [`recall`]: plain
//!   and tolerant recall@k; [`latency`]: percentiles, repeats and interleaved A/B.
//! - [`cache::BuildCache`]: builds reused across search-only trials, bounded by bytes.
//! - [`EvalSet`] and [`EvalStore`]: eval sets and ground truth, kept through the core's
//!   `BlobStore` seam.
//! - [`loaders`]: TEXMEX `.fvecs`/`.ivecs`/`.bvecs` and `.npy`.
//! - [`HnswEvaluator`]: the core's [`hnswtune_core::Evaluator`] over all of the above.
//!
//! ## Where it sits
//!
//! It depends on `hnswtune-core` and implements its `Evaluator` seam. It is the only crate
//! that owns index libraries (instant-distance; usearch behind the `usearch` feature), so
//! the agent and proposers never link them. It owns no storage: eval sets and ground
//! truth go through the core's `BlobStore` seam, which hnswtune-journal implements next
//! to the journal (`ObjectStoreBlobs`).
//!
//! ## Why it is built this way
//!
//! Index builds dominate tuning time (tens of seconds for 20k × 384 on instant-distance),
//! so every trial that can avoid one does: builds are cached by what determines them, and
//! search-time parameters are applied to a cached build. Measurements decide promotions,
//! so recall is checked against exact ground truth computed by the harness itself, and
//! latency is taken single-threaded after warm-up with repeats, or interleaved for A/B.
//! `docs/measurement.md` gives the method and its reasons.
//!
//! ## Feature flags
//!
//! - `usearch` (off): the second backend, `backend::usearch::Usearch`, on usearch 2.26.
//!   It declares every [`backend::Capabilities`]: tunable `M`, `ef_search` set at run time
//!   on the shared index, and incremental insert ([`backend::BuiltIndex::extend`]), which
//!   the evaluator uses to extend a cached build when data is appended. Its core is C++,
//!   compiled by cargo with the system C++ compiler; the default build needs none.
//!
//! ## Example
//!
//! ```
//! use hnswtune_harness::{Metric, ground_truth, testdata::clustered};
//! let base = clustered(1000, 32, 8, 1, Metric::Cosine);
//! let queries = clustered(10, 32, 8, 2, Metric::Cosine);
//! let truth = ground_truth::compute(&base, &queries, 10)?;
//! assert_eq!(truth.ids(0, 10).len(), 10);
//! # Ok::<(), hnswtune_harness::Error>(())
//! ```

pub mod backend;
pub mod cache;
pub mod distance;
mod error;
pub mod eval_set;
pub mod evaluator;
pub mod ground_truth;
pub mod latency;
pub mod loaders;
pub mod recall;
pub mod testdata;
pub mod vectors;

pub use backend::{BuildOptions, BuiltIndex, Capabilities, IndexBackend, Searcher};
pub use error::{Error, Result};
pub use eval_set::{EvalSet, EvalStore};
pub use evaluator::{
    EvaluatorOptions, HnswEvaluator, InMemorySource, Measurement, VectorSource, fingerprint,
};
pub use vectors::{Metric, Vectors};
