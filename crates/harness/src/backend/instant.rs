//! The default backend: instant-distance 0.6 (HNSW, Malkov & Yashunin, "Efficient and robust
//! approximate nearest neighbor search using Hierarchical Navigable Small World graphs",
//! IEEE TPAMI 2018).
//!
//! **Points are stored inline.** instant-distance keeps its points in a `Vec<P>`; a point
//! that is a fixed-size array (`InlinePoint<D>`) puts every vector in one contiguous
//! allocation, while a heap-backed point costs a pointer chase per distance. The inline form
//! builds and searches about twice as fast, so rows are zero-padded up to the next size in
//! [`INLINE_DIMS`] (zeros change neither squared L2 nor inner products) and only wider data
//! falls back to `BoxedPoint`.
//!
//! **Rows are prefetched.** Each distance first prefetches every cache line of the stored
//! row ([`crate::distance::prefetch`]), so the row's memory loads overlap instead of
//! arriving one out-of-order window at a time.
//!
//! **One distance for both metrics.** The point distance is squared L2 from
//! [`crate::distance`]. Cosine data is normalised at load, and on unit vectors
//! `|a - b|² = 2 - 2 cos(a, b)`, which ranks exactly as cosine distance does.
//!
//! **Search-time `ef` without a rebuild.** instant-distance stores `ef_search` inside the
//! built `Hnsw` and offers no setter. Its serde form (bincode, fixed-width integers) starts
//! with that field as a little-endian `u64`, so [`BuiltIndex::searcher`] serialises the
//! index, checks that the first eight bytes hold the current `ef_search`, overwrites them,
//! and deserialises: the graph is untouched, and the patched index returns exactly what an
//! index built with the new `ef_search` returns (tested with 1-thread builds). The check
//! turns a future layout change into an error, never a silently wrong index. The patched
//! copy replaces the held one, so memory stays at one copy. Cost: one serialise and one
//! deserialise (about 0.03 s for 20k × 384), against tens of seconds for a build.
//!
//! **`M` is fixed at 32** by the library; the `m` parameter is accepted only as 32.
//! **`ef_construction` below `M` is raised to `M`**, as hnswlib does
//! (`ef_construction_ = max(ef_construction, M)` in its index constructor). instant-distance
//! takes a new node's neighbours from its `ef_construction` candidates, so below 32 every
//! node gets fewer than `M` links and the graph degrades sharply: on the shared MiniLM set,
//! a build at 10 gave recall@10 0.52 at ef_search 10 where hnswlib, building at 32, gave
//! 0.84. The raise is explicit: [`IndexBackend::effective_build_params`] reports it, so the
//! evaluator's build cache treats 10, 20 and 32 as the same build, and this backend's
//! [`IndexBackend::search_space`] starts `ef_construction` at 32, so a tuner does not spend
//! trials on values that build the same graph.
//! **k > ef_search is an error** ([`Error::KExceedsEfSearch`]): the library returns at most
//! `ef_search` results, and a silent short list would read as low recall.
//!
//! **Index size** is `bincode::serialized_size` of the `Hnsw` (points, zero layer, upper
//! layers) plus 4 bytes per vector for the id map: the bytes a saved index occupies.
//! Padding columns count, as they occupy memory too.
//!
//! Invariants: ids returned are the row numbers of the `Vectors` the index was built from;
//! a 1-thread build with a given seed is byte-identical on every run.

use std::fmt;
use std::sync::{Arc, Mutex};

use hnswtune_core::{
    EF_CONSTRUCTION, EF_SEARCH, M, ML_MILLI, NEIGHBOUR_HEURISTIC, ParamSpec, Params, Phase,
    SearchSpace,
};
use instant_distance::{Builder, Heuristic, Hnsw, Point, PointId, Search};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{
    BuildOptions, BuiltIndex, Capabilities, IndexBackend, Searcher, optional_usize, reject_unknown,
    required_usize,
};
use crate::error::{Error, Result};
use crate::vectors::Vectors;

/// The backend's name, part of every build-cache key.
pub const NAME: &str = "instant-distance";

/// instant-distance's fixed connectivity.
pub const FIXED_M: usize = 32;

/// Widths with an inline point type; a row is zero-padded to the first width ≥ its dimension.
pub const INLINE_DIMS: [usize; 10] = [16, 32, 64, 128, 256, 384, 512, 768, 1024, 1536];

/// The neighbour-selection choices of [`NEIGHBOUR_HEURISTIC`] this backend can build.
/// `heuristic_extend` is left out of the space on purpose: instant-distance 0.6.1
/// deadlocks with `extend_candidates`, so it is refused with `Error::Unsupported`.
pub const HEURISTICS: [&str; 2] = ["heuristic", "simple"];

const BUILD_PARAMS: [&str; 4] = [EF_CONSTRUCTION, ML_MILLI, NEIGHBOUR_HEURISTIC, M];
const SEARCH_PARAMS: [&str; 1] = [EF_SEARCH];

/// A vector stored inline as `D` floats.
#[derive(Clone)]
pub struct InlinePoint<const D: usize>([f32; D]);

impl<const D: usize> Point for InlinePoint<D> {
    #[inline]
    fn distance(&self, other: &Self) -> f32 {
        // `other` is a stored row, usually out of cache; `self` is the query or the row
        // being inserted, which stays hot.
        crate::distance::prefetch(&other.0);
        crate::distance::l2_squared(&self.0, &other.0)
    }
}

impl<const D: usize> Serialize for InlinePoint<D> {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeTuple;
        let mut t = serializer.serialize_tuple(D)?;
        for x in &self.0 {
            t.serialize_element(x)?;
        }
        t.end()
    }
}

impl<'de, const D: usize> Deserialize<'de> for InlinePoint<D> {
    fn deserialize<De: serde::Deserializer<'de>>(
        deserializer: De,
    ) -> std::result::Result<Self, De::Error> {
        struct Visit<const D: usize>;
        impl<'de, const D: usize> serde::de::Visitor<'de> for Visit<D> {
            type Value = InlinePoint<D>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{D} floats")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> std::result::Result<Self::Value, A::Error> {
                let mut out = [0.0f32; D];
                for (i, slot) in out.iter_mut().enumerate() {
                    *slot = seq
                        .next_element()?
                        .ok_or_else(|| serde::de::Error::invalid_length(i, &self))?;
                }
                Ok(InlinePoint(out))
            }
        }
        deserializer.deserialize_tuple(D, Visit::<D>)
    }
}

/// A vector on the heap, for dimensions beyond [`INLINE_DIMS`].
#[derive(Clone, Serialize, Deserialize)]
pub struct BoxedPoint(Box<[f32]>);

impl Point for BoxedPoint {
    #[inline]
    fn distance(&self, other: &Self) -> f32 {
        // `other` is a stored row, usually out of cache; `self` is the query or the row
        // being inserted, which stays hot.
        crate::distance::prefetch(&other.0);
        crate::distance::l2_squared(&self.0, &other.0)
    }
}

/// A point type the backend can build from a row.
trait RowPoint: Point + Serialize + DeserializeOwned + Send + Sync + 'static {
    fn from_row(row: &[f32]) -> Self;
}

impl<const D: usize> RowPoint for InlinePoint<D> {
    fn from_row(row: &[f32]) -> Self {
        let mut out = [0.0f32; D];
        let n = row.len().min(D);
        out[..n].copy_from_slice(&row[..n]);
        InlinePoint(out)
    }
}

impl RowPoint for BoxedPoint {
    fn from_row(row: &[f32]) -> Self {
        BoxedPoint(row.into())
    }
}

fn build_with<P: RowPoint>(vectors: &Vectors, builder: Builder) -> (Hnsw<P>, Vec<PointId>) {
    let points: Vec<P> = vectors.rows().map(P::from_row).collect();
    builder.build_hnsw(points)
}

fn patch<P: RowPoint>(hnsw: &Hnsw<P>, from_ef: usize, to_ef: usize) -> Result<Hnsw<P>> {
    let fail = |why: String| Error::Backend {
        backend: NAME.into(),
        why,
    };
    let mut bytes =
        bincode::serialize(hnsw).map_err(|e| fail(format!("serialise for the ef patch: {e}")))?;
    let head = bytes
        .get_mut(0..8)
        .ok_or_else(|| fail("serialised index shorter than 8 bytes".into()))?;
    if *head != (from_ef as u64).to_le_bytes() {
        return Err(fail(format!(
            "serialised index does not start with ef_search = {from_ef}; the instant-distance layout changed, refusing to patch"
        )));
    }
    head.copy_from_slice(&(to_ef as u64).to_le_bytes());
    bincode::deserialize(&bytes).map_err(|e| fail(format!("deserialise after the ef patch: {e}")))
}

fn search_in<P: RowPoint>(
    hnsw: &Hnsw<P>,
    query: &[f32],
    k: usize,
    ids: &[u32],
    search: &mut Search,
    out: &mut Vec<u32>,
) {
    let point = P::from_row(query);
    out.extend(
        hnsw.search(&point, search)
            .take(k)
            .map(|item| ids[item.pid.into_inner() as usize]),
    );
}

macro_rules! graphs {
    ($($variant:ident = $dim:literal),* $(,)?) => {
        /// A built graph with the point type chosen by the data's width.
        enum Graph {
            $($variant(Hnsw<InlinePoint<$dim>>),)*
            Boxed(Hnsw<BoxedPoint>),
        }

        impl Graph {
            fn build(vectors: &Vectors, inline: bool, builder: Builder) -> (Graph, Vec<PointId>) {
                let dim = vectors.dim();
                $(
                    if inline && dim <= $dim {
                        let (h, ids) = build_with::<InlinePoint<$dim>>(vectors, builder);
                        return (Graph::$variant(h), ids);
                    }
                )*
                let (h, ids) = build_with::<BoxedPoint>(vectors, builder);
                (Graph::Boxed(h), ids)
            }

            fn patched(&self, from_ef: usize, to_ef: usize) -> Result<Graph> {
                Ok(match self {
                    $(Graph::$variant(h) => Graph::$variant(patch(h, from_ef, to_ef)?),)*
                    Graph::Boxed(h) => Graph::Boxed(patch(h, from_ef, to_ef)?),
                })
            }

            fn search(&self, query: &[f32], k: usize, ids: &[u32], search: &mut Search, out: &mut Vec<u32>) {
                match self {
                    $(Graph::$variant(h) => search_in(h, query, k, ids, search, out),)*
                    Graph::Boxed(h) => search_in(h, query, k, ids, search, out),
                }
            }

            fn serialized_len(&self) -> Result<u64> {
                let r = match self {
                    $(Graph::$variant(h) => bincode::serialized_size(h),)*
                    Graph::Boxed(h) => bincode::serialized_size(h),
                };
                r.map_err(|e| Error::Backend { backend: NAME.into(), why: format!("measure serialised size: {e}") })
            }

            #[cfg(test)]
            fn serialize(&self) -> Result<Vec<u8>> {
                let r = match self {
                    $(Graph::$variant(h) => bincode::serialize(h),)*
                    Graph::Boxed(h) => bincode::serialize(h),
                };
                r.map_err(|e| Error::Backend { backend: NAME.into(), why: format!("serialise: {e}") })
            }

            fn width(&self) -> Option<usize> {
                match self {
                    $(Graph::$variant(_) => Some($dim),)*
                    Graph::Boxed(_) => None,
                }
            }
        }
    };
}

graphs!(
    D16 = 16,
    D32 = 32,
    D64 = 64,
    D128 = 128,
    D256 = 256,
    D384 = 384,
    D512 = 512,
    D768 = 768,
    D1024 = 1024,
    D1536 = 1536
);

/// The instant-distance backend.
///
/// ```
/// use hnswtune_core::{Params, EF_CONSTRUCTION, EF_SEARCH};
/// use hnswtune_harness::backend::{BuildOptions, IndexBackend, instant::InstantDistance};
/// use hnswtune_harness::{Metric, testdata::clustered};
///
/// let base = clustered(300, 16, 4, 1, Metric::L2);
/// let index = InstantDistance::default().build(&base, &Params::new().with(EF_CONSTRUCTION, 40), &BuildOptions::deterministic(7))?;
/// let searcher = index.searcher(&Params::new().with(EF_SEARCH, 20))?;
/// let mut out = Vec::new();
/// searcher.search(base.row(5), 3, &mut out)?;
/// assert_eq!(out[0], 5);
/// # Ok::<(), hnswtune_harness::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct InstantDistance {
    inline_points: bool,
}

impl Default for InstantDistance {
    fn default() -> Self {
        InstantDistance {
            inline_points: true,
        }
    }
}

impl InstantDistance {
    /// A backend that stores every point on the heap, whatever its width: slower, kept to
    /// measure the inline layout against.
    pub fn boxed_points() -> Self {
        InstantDistance {
            inline_points: false,
        }
    }

    fn builder(params: &Params, options: &BuildOptions) -> Result<Builder> {
        reject_unknown(params, &BUILD_PARAMS, NAME)?;
        let ef_construction = required_usize(params, EF_CONSTRUCTION)?.max(FIXED_M);
        let mut builder = Builder::default()
            .ef_construction(ef_construction)
            .seed(options.seed);
        if let Some(m) = optional_usize(params, M)?
            && m != FIXED_M
        {
            return Err(Error::BadParam {
                name: M.into(),
                why: format!("instant-distance fixes M at {FIXED_M}; {m} cannot be built"),
            });
        }
        if let Some(ml_milli) = optional_usize(params, ML_MILLI)? {
            // ml ≥ 1 makes instant-distance's layer-size loop never end.
            if ml_milli >= 1000 {
                return Err(Error::BadParam {
                    name: ML_MILLI.into(),
                    why: format!("ml = {ml_milli}/1000 must be below 1"),
                });
            }
            builder = builder.ml(ml_milli as f32 / 1000.0);
        }
        if let Some(value) = params.get(NEIGHBOUR_HEURISTIC) {
            let heuristic = match value.to_string().as_str() {
                "heuristic" => Some(Heuristic {
                    extend_candidates: false,
                    keep_pruned: true,
                }),
                "heuristic_extend" => {
                    // With extend_candidates, instant-distance 0.6.1 takes a read lock on
                    // the node it is inserting while holding that node's write lock
                    // (Construction::insert → add_neighbor_heuristic → select_heuristic →
                    // nearest_iter(new)): the build deadlocks. Refuse it instead.
                    return Err(Error::Unsupported {
                        backend: NAME.into(),
                        what: "neighbour_heuristic = heuristic_extend (instant-distance 0.6.1 deadlocks while building with extend_candidates)".into(),
                    });
                }
                "simple" => None,
                other => {
                    return Err(Error::BadParam {
                        name: NEIGHBOUR_HEURISTIC.into(),
                        why: format!("{other:?} is not one of {HEURISTICS:?}"),
                    });
                }
            };
            builder = builder.select_heuristic(heuristic);
        }
        Ok(builder)
    }

    /// Builds with `ef_search` fixed at build time, as the library does; used to check the
    /// ef patch against a real build.
    pub fn build_with_ef_search(
        &self,
        vectors: &Vectors,
        params: &Params,
        ef_search: usize,
        options: &BuildOptions,
    ) -> Result<Box<dyn BuiltIndex>> {
        Ok(Box::new(
            self.build_inner(vectors, params, options, ef_search)?,
        ))
    }

    fn build_inner(
        &self,
        vectors: &Vectors,
        params: &Params,
        options: &BuildOptions,
        ef_search: usize,
    ) -> Result<InstantIndex> {
        if vectors.len() >= u32::MAX as usize {
            return Err(Error::invalid(
                "base",
                "instant-distance indexes fewer than 2^32 - 1 vectors",
            ));
        }
        if ef_search == 0 {
            return Err(Error::BadParam {
                name: EF_SEARCH.into(),
                why: "must be at least 1".into(),
            });
        }
        let builder = Self::builder(params, options)?.ef_search(ef_search);
        let inline = self.inline_points;
        let (graph, out) = options.install(NAME, || Graph::build(vectors, inline, builder))?;
        let mut ids = vec![0u32; out.len()];
        for (row, pid) in out.iter().enumerate() {
            ids[pid.into_inner() as usize] = row as u32;
        }
        let bytes = graph.serialized_len()? + 4 * ids.len() as u64;
        Ok(InstantIndex {
            current: Mutex::new((ef_search, Arc::new(graph))),
            ids: Arc::new(ids),
            dim: vectors.dim(),
            index_bytes: bytes,
        })
    }
}

impl IndexBackend for InstantDistance {
    fn name(&self) -> &str {
        NAME
    }

    fn parameters(&self) -> Vec<ParamSpec> {
        vec![
            ParamSpec::int(EF_CONSTRUCTION, 1, 100_000, 1, Phase::Build).with_default(100),
            ParamSpec::int(ML_MILLI, 1, 999, 1, Phase::Build).with_default(289),
            ParamSpec::categorical(NEIGHBOUR_HEURISTIC, HEURISTICS, Phase::Build),
            ParamSpec::levels(M, vec![FIXED_M as i64], Phase::Build),
            ParamSpec::int(EF_SEARCH, 1, 100_000, 1, Phase::Search).with_default(100),
        ]
    }

    fn build(
        &self,
        vectors: &Vectors,
        params: &Params,
        options: &BuildOptions,
    ) -> Result<Box<dyn BuiltIndex>> {
        // ef_search does not influence construction; any value will be patched later.
        Ok(Box::new(self.build_inner(vectors, params, options, 100)?))
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            tunable_m: false,
            runtime_ef: false,
            incremental_insert: false,
        }
    }

    /// Raises `ef_construction` below [`FIXED_M`] to it (see the module docs).
    fn effective_build_params(&self, params: &Params) -> Result<Params> {
        let mut effective = params.clone();
        if let Some(ef_construction) = optional_usize(params, EF_CONSTRUCTION)?
            && ef_construction < FIXED_M
        {
            effective.set(EF_CONSTRUCTION, FIXED_M as i64);
        }
        Ok(effective)
    }

    /// The seed's bounds, with `ef_construction` from [`FIXED_M`] (anything lower builds the
    /// same graph as `FIXED_M`).
    fn search_space(&self) -> Result<SearchSpace> {
        Ok(SearchSpace::hnsw_with_bounds(
            (FIXED_M as i64, 400),
            (10, 200),
        )?)
    }
}

/// A built instant-distance index and the `ef_search` it currently holds.
struct InstantIndex {
    current: Mutex<(usize, Arc<Graph>)>,
    ids: Arc<Vec<u32>>,
    dim: usize,
    index_bytes: u64,
}

impl fmt::Debug for InstantIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstantIndex")
            .field("len", &self.ids.len())
            .field("dim", &self.dim)
            .field("index_bytes", &self.index_bytes)
            .finish_non_exhaustive()
    }
}

impl InstantIndex {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, Arc<Graph>)> {
        // A panic while patching leaves the old, valid graph in place.
        self.current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl BuiltIndex for InstantIndex {
    fn searcher(&self, params: &Params) -> Result<Arc<dyn Searcher>> {
        reject_unknown(params, &SEARCH_PARAMS, NAME)?;
        let ef = required_usize(params, EF_SEARCH)?;
        let mut current = self.lock();
        if current.0 != ef {
            let patched = current.1.patched(current.0, ef)?;
            *current = (ef, Arc::new(patched));
        }
        Ok(Arc::new(InstantSearcher {
            graph: Arc::clone(&current.1),
            ef_search: ef,
            ids: Arc::clone(&self.ids),
            dim: self.dim,
            pool: Mutex::new(Vec::new()),
        }))
    }

    fn index_bytes(&self) -> u64 {
        self.index_bytes
    }

    fn len(&self) -> usize {
        self.ids.len()
    }
}

/// Searches one instant-distance graph at a fixed `ef_search`.
struct InstantSearcher {
    graph: Arc<Graph>,
    ef_search: usize,
    ids: Arc<Vec<u32>>,
    dim: usize,
    pool: Mutex<Vec<Search>>,
}

impl fmt::Debug for InstantSearcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstantSearcher")
            .field("ef_search", &self.ef_search)
            .field("width", &self.graph.width())
            .finish_non_exhaustive()
    }
}

impl Searcher for InstantSearcher {
    fn search(&self, query: &[f32], k: usize, out: &mut Vec<u32>) -> Result<()> {
        out.clear();
        super::check_query_dim(query, self.dim)?;
        if k == 0 || k > self.ids.len() {
            return Err(Error::InvalidK {
                k,
                limit: self.ids.len(),
            });
        }
        if k > self.ef_search {
            return Err(Error::KExceedsEfSearch {
                k,
                ef_search: self.ef_search,
            });
        }
        let mut search = self
            .pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        self.graph.search(query, k, &self.ids, &mut search, out);
        self.pool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(search);
        Ok(())
    }

    fn max_k(&self) -> Option<usize> {
        Some(self.ef_search.min(self.ids.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::clustered;
    use crate::vectors::Metric;

    /// Tests run unoptimised, where the pruning heuristic's O(M²) distance checks per
    /// insert dominate; the simple selection keeps them fast. One test below covers the
    /// default heuristic.
    fn build_params(ef_construction: i64) -> Params {
        Params::new()
            .with(EF_CONSTRUCTION, ef_construction)
            .with(NEIGHBOUR_HEURISTIC, "simple")
    }

    fn search_all(index: &InstantIndex, queries: &Vectors, ef: i64, k: usize) -> Vec<Vec<u32>> {
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

    #[test]
    fn one_thread_builds_are_byte_identical_and_patched_ef_equals_built_ef() {
        let base = clustered(300, 16, 8, 3, Metric::Cosine);
        let queries = clustered(30, 16, 8, 4, Metric::Cosine);
        let default_heuristic = Params::new().with(EF_CONSTRUCTION, 16);
        let small = base.prefix(120);
        let backend = InstantDistance::default();
        let x = backend
            .build_inner(
                &small,
                &default_heuristic,
                &BuildOptions::deterministic(5),
                100,
            )
            .unwrap();
        let y = backend
            .build_inner(
                &small,
                &default_heuristic,
                &BuildOptions::deterministic(5),
                100,
            )
            .unwrap();
        assert_eq!(
            x.lock().1.serialize().unwrap(),
            y.lock().1.serialize().unwrap()
        );
        let z = backend
            .build_inner(
                &small,
                &default_heuristic,
                &BuildOptions::deterministic(6),
                100,
            )
            .unwrap();
        assert_ne!(
            x.lock().1.serialize().unwrap(),
            z.lock().1.serialize().unwrap(),
            "the seed matters"
        );
        let opts = BuildOptions::deterministic(42);
        let a = backend
            .build_inner(&base, &build_params(40), &opts, 100)
            .unwrap();
        let b = backend
            .build_inner(&base, &build_params(40), &opts, 100)
            .unwrap();
        assert_eq!(
            a.lock().1.serialize().unwrap(),
            b.lock().1.serialize().unwrap()
        );

        for ef in [12usize, 37] {
            let fresh = backend
                .build_inner(&base, &build_params(40), &opts, ef)
                .unwrap();
            let patched = search_all(&a, &queries, ef as i64, 10);
            let built = search_all(&fresh, &queries, ef as i64, 10);
            assert_eq!(patched, built, "ef_search {ef}");
            // The patched graph is the freshly built one, byte for byte.
            assert_eq!(
                a.lock().1.serialize().unwrap(),
                fresh.lock().1.serialize().unwrap()
            );
        }
        // The held graph now carries the last ef_search asked for.
        assert_eq!(a.lock().0, 37);
        assert_eq!(a.lock().1.serialize().unwrap()[..8], 37u64.to_le_bytes());
    }

    #[test]
    fn ef_construction_below_m_builds_the_graph_of_m() {
        let base = clustered(200, 16, 4, 12, Metric::L2);
        let backend = InstantDistance::default();
        let opts = BuildOptions::deterministic(9);
        let bytes = |ef_construction: i64| {
            let index = backend
                .build_inner(&base, &build_params(ef_construction), &opts, 100)
                .unwrap();
            index.lock().1.serialize().unwrap()
        };
        let at_m = bytes(FIXED_M as i64);
        assert_eq!(bytes(10), at_m);
        assert_eq!(bytes(1), at_m);
        assert_ne!(
            bytes(FIXED_M as i64 + 8),
            at_m,
            "ef_construction above M matters"
        );

        let effective = |ef_construction: i64| {
            backend
                .effective_build_params(&build_params(ef_construction))
                .unwrap()
                .get(EF_CONSTRUCTION)
                .cloned()
        };
        assert_eq!(effective(10), Some(32.into()));
        assert_eq!(effective(32), Some(32.into()));
        assert_eq!(effective(33), Some(33.into()));
        let space = backend.search_space().unwrap();
        let spec = space.spec(EF_CONSTRUCTION).unwrap();
        assert!(spec.check(&31.into()).is_err());
        assert!(spec.check(&32.into()).is_ok());
        // A shared backend (`Arc<T>`) answers as the backend itself does.
        let shared = Arc::new(backend.clone());
        assert_eq!(IndexBackend::search_space(&shared).unwrap(), space);
        assert_eq!(
            IndexBackend::effective_build_params(&shared, &build_params(10)).unwrap(),
            backend.effective_build_params(&build_params(10)).unwrap()
        );
        assert!(matches!(
            IndexBackend::split_params(&shared, &Params::new().with("x", 1)),
            Err(Error::UnknownParam { .. })
        ));
    }

    #[test]
    fn recall_is_high_on_clustered_data_and_inline_matches_boxed() {
        let base = clustered(400, 32, 8, 5, Metric::L2);
        let queries = clustered(20, 32, 8, 6, Metric::L2);
        let gt = crate::ground_truth::compute(&base, &queries, 10).unwrap();
        let opts = BuildOptions::deterministic(1);
        let inline = InstantDistance::default()
            .build_inner(&base, &build_params(32), &opts, 100)
            .unwrap();
        let found = search_all(&inline, &queries, 48, 10);
        let r = crate::recall::summarise(
            &base,
            &queries,
            &gt,
            &found,
            10,
            crate::recall::DEFAULT_EPSILON,
        );
        assert!(r.recall > 0.9, "recall {}", r.recall);
        let boxed = InstantDistance::boxed_points()
            .build_inner(&base, &build_params(32), &opts, 100)
            .unwrap();
        assert_eq!(boxed.lock().1.width(), None);
        assert_eq!(inline.lock().1.width(), Some(32));
        assert_eq!(search_all(&boxed, &queries, 48, 10), found);
        assert!(inline.index_bytes() > (400 * 32 * 4) as u64);
    }

    #[test]
    fn padding_keeps_neighbours_exact_for_odd_dimensions() {
        let base = clustered(150, 13, 4, 8, Metric::L2);
        let index = InstantDistance::default()
            .build_inner(
                &base,
                &build_params(20),
                &BuildOptions::deterministic(2),
                100,
            )
            .unwrap();
        assert_eq!(index.lock().1.width(), Some(16));
        let found = search_all(&index, &base.prefix(20), 50, 1);
        for (i, ids) in found.iter().enumerate() {
            assert_eq!(ids[0] as usize, i);
        }
    }

    #[test]
    fn bad_params_and_queries_are_typed_errors() {
        let base = clustered(80, 16, 4, 9, Metric::L2);
        let backend = InstantDistance::default();
        let opts = BuildOptions::deterministic(3);
        assert!(matches!(
            backend.build(&base, &Params::new(), &opts),
            Err(Error::MissingParam { .. })
        ));
        assert!(matches!(
            backend.build(&base, &build_params(20).with("mystery", 1), &opts),
            Err(Error::UnknownParam { .. })
        ));
        assert!(matches!(
            backend.build(&base, &build_params(20).with(M, 16), &opts),
            Err(Error::BadParam { .. })
        ));
        assert!(matches!(
            backend.build(&base, &build_params(20).with(ML_MILLI, 1000), &opts),
            Err(Error::BadParam { .. })
        ));
        assert!(matches!(
            backend.build(&base, &build_params(0), &opts),
            Err(Error::BadParam { .. })
        ));
        assert!(matches!(
            backend.build(
                &base,
                &build_params(20).with(NEIGHBOUR_HEURISTIC, "random"),
                &opts
            ),
            Err(Error::BadParam { .. })
        ));
        assert!(matches!(
            backend.build(
                &base,
                &build_params(20).with(NEIGHBOUR_HEURISTIC, "heuristic_extend"),
                &opts
            ),
            Err(Error::Unsupported { .. })
        ));
        for h in ["heuristic", "simple"] {
            backend
                .build(
                    &base,
                    &Params::new()
                        .with(EF_CONSTRUCTION, 10)
                        .with(NEIGHBOUR_HEURISTIC, h)
                        .with(M, 32)
                        .with(ML_MILLI, 250),
                    &opts,
                )
                .unwrap();
        }
        let index = backend.build(&base, &build_params(20), &opts).unwrap();
        assert!(matches!(
            index.searcher(&Params::new()),
            Err(Error::MissingParam { .. })
        ));
        assert!(matches!(
            index.searcher(&Params::new().with(EF_SEARCH, 10).with(EF_CONSTRUCTION, 10)),
            Err(Error::UnknownParam { .. })
        ));
        let s = index.searcher(&Params::new().with(EF_SEARCH, 10)).unwrap();
        let mut out = Vec::new();
        assert!(matches!(
            s.search(base.row(0), 11, &mut out),
            Err(Error::KExceedsEfSearch {
                k: 11,
                ef_search: 10
            })
        ));
        assert!(matches!(
            s.search(base.row(0), 0, &mut out),
            Err(Error::InvalidK { .. })
        ));
        assert!(matches!(
            s.search(&[0.0; 3], 1, &mut out),
            Err(Error::DimensionMismatch { .. })
        ));
        assert_eq!(s.max_k(), Some(10));
        let (b, q) = backend
            .split_params(&Params::new().with(EF_CONSTRUCTION, 20).with(EF_SEARCH, 10))
            .unwrap();
        assert_eq!((b.len(), q.len()), (1, 1));
        assert!(matches!(
            backend.split_params(&Params::new().with("x", 1)),
            Err(Error::UnknownParam { .. })
        ));
    }
}
