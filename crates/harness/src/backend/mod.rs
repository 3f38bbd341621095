//! The index seam: [`IndexBackend`] builds, [`BuiltIndex`] holds a build, [`Searcher`]
//! answers queries with one set of search-time parameters.
//!
//! The split follows what the libraries can do. Building is the expensive step and is
//! cached ([`crate::cache::BuildCache`]), so a build must outlive any one set of search
//! parameters; turning a build into a searcher is cheap (usearch sets `expansion_search` at
//! run time) or moderately cheap (instant-distance is patched through its serde form, see
//! [`instant`]). Searching takes `&self` so one searcher can be shared.
//!
//! Backends validate their own parameters: a name they do not declare in
//! [`IndexBackend::parameters`] is [`Error::UnknownParam`], a required one that is absent is
//! [`Error::MissingParam`].
//!
//! Each backend lives in its own file: [`instant`] (instant-distance, the default) and,
//! behind the `usearch` feature, `usearch` (tunable `M`, run-time ef, incremental insert).

use std::fmt::Debug;
use std::sync::Arc;

use hnswtune_core::{ParamSpec, ParamValue, Params, Phase, SearchSpace};

use crate::error::{Error, Result};
use crate::vectors::Vectors;

pub mod instant;
#[cfg(feature = "usearch")]
pub mod usearch;

/// What a backend can do; proposers and search spaces read it instead of assuming one
/// library.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct Capabilities {
    /// `M` (graph connectivity) is a build parameter rather than a constant.
    pub tunable_m: bool,
    /// `ef_search` changes at run time without copying the index.
    pub runtime_ef: bool,
    /// Vectors can be appended to a built index.
    pub incremental_insert: bool,
}

/// How to build: the seed and the thread count are recorded with every trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BuildOptions {
    /// Seed of the level generator.
    pub seed: u64,
    /// Threads of the build pool; 1 gives a reproducible (byte-identical) build.
    pub threads: usize,
}

impl BuildOptions {
    /// One thread: reproducible.
    pub fn deterministic(seed: u64) -> Self {
        BuildOptions { seed, threads: 1 }
    }

    /// All available cores: faster, not reproducible.
    pub fn parallel(seed: u64) -> Self {
        BuildOptions {
            seed,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }

    /// Runs `f` inside a rayon pool of `self.threads` threads.
    pub fn install<T: Send>(&self, backend: &str, f: impl FnOnce() -> T + Send) -> Result<T> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads.max(1))
            .build()
            .map_err(|e| Error::Backend {
                backend: backend.into(),
                why: format!("cannot start a {}-thread build pool: {e}", self.threads),
            })?;
        Ok(pool.install(f))
    }
}

/// The `M` values of a default space when a backend can tune `M`: powers of two, the
/// values hnswlib's and FAISS's guides have users try. `M` sets the edges per node, so
/// memory and build time grow about linearly in it; halving or doubling it is the
/// smallest move whose effect a study resolves through the noise of one build
/// (docs/stopping.md, "The default space").
pub const M_LADDER: [i64; 4] = [8, 16, 32, 64];

/// An index library: builds indexes from vectors and build-time parameters.
pub trait IndexBackend: Send + Sync + Debug {
    /// A short stable name (`"instant-distance"`, `"usearch"`), part of the build-cache key.
    fn name(&self) -> &str;

    /// The parameters this backend reads, each marked [`Phase::Build`] or
    /// [`Phase::Search`]. Anything else in a params map is an error.
    fn parameters(&self) -> Vec<ParamSpec>;

    /// Builds an index over every row of `vectors` with the build-phase `params`.
    fn build(
        &self,
        vectors: &Vectors,
        params: &Params,
        options: &BuildOptions,
    ) -> Result<Box<dyn BuiltIndex>>;

    /// What the backend can do. The default declares nothing beyond building and searching.
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }

    /// A search space over this backend's tunable parameters with the seed's bounds
    /// (ef_construction 10..=400, ef_search 10..=200, on [`SearchSpace::hnsw`]'s
    /// ladders), plus `M` when it is tunable: 8, 16, 32 and 64 ([`M_LADDER`]), default 32.
    fn search_space(&self) -> Result<SearchSpace> {
        let space = SearchSpace::hnsw();
        if self.capabilities().tunable_m {
            return Ok(space.with_param(
                ParamSpec::levels(hnswtune_core::M, M_LADDER.to_vec(), Phase::Build)
                    .with_default(32),
            )?);
        }
        Ok(space)
    }

    /// The build-phase parameters the backend really builds with, given the validated
    /// build-phase `params`. Two configs with equal effective parameters build the same
    /// graph, so the evaluator keys its build cache on this and a second such config is a
    /// search-only trial on the first one's build. The default changes nothing; a backend
    /// that raises or rounds a value (instant-distance raises `ef_construction` to `M`, as
    /// hnswlib does) says so here.
    fn effective_build_params(&self, params: &Params) -> Result<Params> {
        Ok(params.clone())
    }

    /// Splits `params` into (build, search) by this backend's declared phases, rejecting
    /// names it does not know.
    fn split_params(&self, params: &Params) -> Result<(Params, Params)> {
        let specs = self.parameters();
        let mut build = Params::new();
        let mut search = Params::new();
        for (name, value) in params.iter() {
            let spec =
                specs
                    .iter()
                    .find(|s| s.name == name)
                    .ok_or_else(|| Error::UnknownParam {
                        name: name.into(),
                        backend: self.name().into(),
                    })?;
            spec.check(value).map_err(|e| Error::BadParam {
                name: name.into(),
                why: e.to_string(),
            })?;
            match spec.phase {
                Phase::Build => build.set(name, value.clone()),
                Phase::Search => search.set(name, value.clone()),
            };
        }
        Ok((build, search))
    }
}

/// One built index. It outlives any one set of search parameters.
pub trait BuiltIndex: Send + Sync + Debug {
    /// A searcher with the search-phase `params` applied.
    fn searcher(&self, params: &Params) -> Result<Arc<dyn Searcher>>;

    /// The measured size of the index in bytes (see docs/measurement.md for each backend's
    /// method).
    fn index_bytes(&self) -> u64;

    /// The number of vectors indexed.
    fn len(&self) -> usize;

    /// True when nothing is indexed.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends rows `self.len()..` of `vectors` (the same data, grown). Only backends with
    /// [`Capabilities::incremental_insert`] implement it.
    fn extend(&mut self, vectors: &Vectors) -> Result<()> {
        let _ = vectors;
        Err(Error::Unsupported {
            backend: "this backend".into(),
            what: "incremental insert".into(),
        })
    }
}

/// Answers queries with fixed search-time parameters.
pub trait Searcher: Send + Sync + Debug {
    /// Writes the ids of the `k` nearest rows to `query` into `out` (cleared first),
    /// nearest first.
    fn search(&self, query: &[f32], k: usize, out: &mut Vec<u32>) -> Result<()>;

    /// The largest `k` this searcher can answer in full (`None`: up to the index size).
    fn max_k(&self) -> Option<usize> {
        None
    }
}

impl<T: IndexBackend + ?Sized> IndexBackend for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn parameters(&self) -> Vec<ParamSpec> {
        (**self).parameters()
    }
    fn build(
        &self,
        vectors: &Vectors,
        params: &Params,
        options: &BuildOptions,
    ) -> Result<Box<dyn BuiltIndex>> {
        (**self).build(vectors, params, options)
    }
    fn capabilities(&self) -> Capabilities {
        (**self).capabilities()
    }
    fn search_space(&self) -> Result<SearchSpace> {
        (**self).search_space()
    }
    fn effective_build_params(&self, params: &Params) -> Result<Params> {
        (**self).effective_build_params(params)
    }
    fn split_params(&self, params: &Params) -> Result<(Params, Params)> {
        (**self).split_params(params)
    }
}

/// Reads a required integer parameter as a positive `usize`.
pub(crate) fn required_usize(params: &Params, name: &str) -> Result<usize> {
    match params.get(name) {
        None => Err(Error::MissingParam { name: name.into() }),
        Some(value) => positive(name, value),
    }
}

/// Reads an optional integer parameter as a positive `usize`.
pub(crate) fn optional_usize(params: &Params, name: &str) -> Result<Option<usize>> {
    params.get(name).map(|v| positive(name, v)).transpose()
}

fn positive(name: &str, value: &ParamValue) -> Result<usize> {
    match value {
        ParamValue::Int(v) if *v >= 1 => usize::try_from(*v).map_err(|_| Error::BadParam {
            name: name.into(),
            why: format!("{v} does not fit this platform"),
        }),
        other => Err(Error::BadParam {
            name: name.into(),
            why: format!("expected a positive integer, found {other}"),
        }),
    }
}

/// Refuses a query whose dimension is not the index's.
pub(crate) fn check_query_dim(query: &[f32], dim: usize) -> Result<()> {
    if query.len() == dim {
        return Ok(());
    }
    Err(Error::DimensionMismatch {
        what: "query".into(),
        expected: dim,
        found: query.len(),
    })
}

/// Rejects any name in `params` that is not in `known`.
pub(crate) fn reject_unknown(params: &Params, known: &[&str], backend: &str) -> Result<()> {
    match params.iter().find(|(name, _)| !known.contains(name)) {
        Some((name, _)) => Err(Error::UnknownParam {
            name: name.into(),
            backend: backend.into(),
        }),
        None => Ok(()),
    }
}
