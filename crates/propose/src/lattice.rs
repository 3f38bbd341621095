//! Shared machinery of the strategies: a space seen as a lattice of ladder indices, the
//! history read through the projection rule, deterministic RNG seeding, and the
//! deterministic scan for the nearest unvisited point.
//!
//! Every strategy goes through [`Lattice::encode`], which applies exactly the rule of
//! [`SearchSpace::project`]: names the space does not know are dropped, and an entry
//! that lacks one of the space's parameters or holds a value the space does not allow
//! is ignored. Encoding straight to ladder indices avoids cloning every history entry,
//! which keeps a proposal over a 1k-entry history well under 100 µs.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use hnswtune_core::{ParamKind, ParamSpec, Params, Phase, SearchSpace, Trial, TrialMetrics};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A config as one ladder index per spec, in the space's declaration order.
pub(crate) type Point = Vec<u64>;

/// A set of points hashed with [`FxHasher`] (the history is hashed on every call).
pub(crate) type PointSet = HashSet<Point, BuildHasherDefault<FxHasher>>;

/// The multiply-rotate hash of rustc (FxHash): fast on short integer keys, and
/// deterministic, which std's randomly keyed SipHash is not.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A space as a box of ladder indices.
#[derive(Debug)]
pub(crate) struct Lattice<'a> {
    pub(crate) space: &'a SearchSpace,
    /// Number of allowed values per spec.
    pub(crate) cards: Vec<u64>,
    /// `true` where the spec is build-time.
    pub(crate) build: Vec<bool>,
}

impl<'a> Lattice<'a> {
    pub(crate) fn new(space: &'a SearchSpace) -> Self {
        Lattice {
            space,
            cards: space.specs().iter().map(ParamSpec::cardinality).collect(),
            build: space
                .specs()
                .iter()
                .map(|s| s.phase == Phase::Build)
                .collect(),
        }
    }

    pub(crate) fn dims(&self) -> usize {
        self.cards.len()
    }

    pub(crate) fn spec(&self, dim: usize) -> &ParamSpec {
        &self.space.specs()[dim]
    }

    pub(crate) fn ordered(&self, dim: usize) -> bool {
        self.spec(dim).is_ordered()
    }

    /// The point of `params` under the projection rule, or `None` when it has none.
    pub(crate) fn encode(&self, params: &Params) -> Option<Point> {
        self.space
            .specs()
            .iter()
            .map(|spec| spec.index_of(params.get(&spec.name)?))
            .collect()
    }

    pub(crate) fn decode(&self, point: &[u64]) -> Params {
        self.space
            .specs()
            .iter()
            .zip(point)
            .map(|(spec, &i)| (spec.name.clone(), spec.value_at(i)))
            .collect()
    }

    pub(crate) fn cardinality(&self) -> u128 {
        self.space.cardinality()
    }

    /// The position of ladder index `i` of `dim` in `[0, 1]`, honouring the scale.
    pub(crate) fn unit(&self, dim: usize, i: u64) -> f64 {
        let spec = self.spec(dim);
        spec.to_unit(&spec.value_at(i)).unwrap_or(0.0)
    }

    /// The ladder index nearest to unit position `u` on `dim`.
    pub(crate) fn index_at_unit(&self, dim: usize, u: f64) -> u64 {
        let spec = self.spec(dim);
        spec.index_of(&spec.from_unit(u)).unwrap_or(0)
    }

    /// The ladder index whose value is nearest to `value` (integer specs only; a
    /// categorical spec returns `None`).
    pub(crate) fn index_near_value(&self, dim: usize, value: f64) -> Option<u64> {
        match &self.spec(dim).kind {
            ParamKind::Int { low, step, .. } => {
                let steps = ((value - *low as f64) / *step as f64).round();
                let max = (self.cards[dim] - 1) as f64;
                Some(steps.clamp(0.0, max) as u64)
            }
            ParamKind::Levels { values } => {
                let pos = values.partition_point(|&v| (v as f64) < value);
                let candidates = [pos.saturating_sub(1), pos.min(values.len() - 1)];
                candidates
                    .into_iter()
                    .min_by(|&a, &b| {
                        (values[a] as f64 - value)
                            .abs()
                            .total_cmp(&(values[b] as f64 - value).abs())
                    })
                    .map(|i| i as u64)
            }
            ParamKind::Categorical { .. } => None,
        }
    }

    /// The numeric value of ladder index `i` of an integer spec.
    pub(crate) fn int_value(&self, dim: usize, i: u64) -> Option<i64> {
        match self.spec(dim).value_at(i) {
            hnswtune_core::ParamValue::Int(v) => Some(v),
            hnswtune_core::ParamValue::Cat(_) => None,
        }
    }

    /// The point at the centre of the space (unit 0.5 on every ordered spec, the default
    /// label on categorical ones).
    pub(crate) fn centre(&self) -> Point {
        (0..self.dims())
            .map(|d| {
                if self.ordered(d) {
                    self.index_at_unit(d, 0.5)
                } else {
                    let spec = self.spec(d);
                    spec.index_of(&spec.default).unwrap_or(0)
                }
            })
            .collect()
    }
}

/// The history as the strategies need it.
#[derive(Debug)]
pub(crate) struct HistoryView<'t> {
    /// Every projected config of the history, whatever its state.
    pub(crate) visited: PointSet,
    /// Projected entries in history order, whatever their state.
    pub(crate) entries: Vec<(Point, &'t Trial)>,
    /// A digest of the projected history, for seeding.
    pub(crate) digest: u64,
}

impl<'t> HistoryView<'t> {
    pub(crate) fn new(lattice: &Lattice<'_>, history: &'t [Trial]) -> Self {
        let mut visited = PointSet::with_capacity_and_hasher(history.len(), Default::default());
        let mut entries = Vec::with_capacity(history.len());
        let mut digest = Fnv::new();
        for trial in history {
            let Some(point) = lattice.encode(&trial.params) else {
                continue;
            };
            for &i in &point {
                digest.write(i);
            }
            digest.write(u64::from(trial.is_complete()));
            visited.insert(point.clone());
            entries.push((point, trial));
        }
        HistoryView {
            visited,
            entries,
            digest: digest.finish(),
        }
    }

    /// True when every point of the space is in the history.
    pub(crate) fn exhausted(&self, lattice: &Lattice<'_>) -> bool {
        self.visited.len() as u128 >= lattice.cardinality()
    }

    /// Completed entries with their metrics, in history order.
    pub(crate) fn completed(&self) -> impl Iterator<Item = (&Point, &'t TrialMetrics)> {
        self.entries
            .iter()
            .filter_map(|(p, t)| t.completed_metrics().map(|m| (p, m)))
    }

    /// The RNG for one proposal: seeded from the configured seed, the history length
    /// and the digest of the projected history.
    pub(crate) fn rng(&self, seed: u64, history_len: usize) -> ChaCha8Rng {
        seeded_rng(&[seed, history_len as u64, self.digest])
    }
}

/// A ChaCha RNG seeded from `parts` (mixed with SplitMix64, stable across platforms).
pub(crate) fn seeded_rng(parts: &[u64]) -> ChaCha8Rng {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for &p in parts {
        state = splitmix(state ^ splitmix(p));
    }
    ChaCha8Rng::seed_from_u64(state)
}

pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a over 64-bit words: a stable digest (std's hasher may change between releases).
#[derive(Debug)]
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    pub(crate) fn write(&mut self, word: u64) {
        for b in word.to_le_bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub(crate) fn write_str(&mut self, s: &str) {
        for b in s.bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.write(s.len() as u64);
    }
    pub(crate) fn finish(&self) -> u64 {
        splitmix(self.0)
    }
}

/// The largest box (in points) the ring scan enumerates before it switches to the
/// linear scan.
const RING_BOX_LIMIT: u128 = 1 << 12;

/// The unvisited point nearest to `anchor`, found deterministically.
///
/// Rings of growing Chebyshev radius around `anchor` are scanned first; within a ring
/// the point that changes the fewest build-time ladder steps wins (a search-time move
/// reuses the build), then the smallest total move, then the lexicographically first.
/// When the rings grow too large the scan continues in lexicographic order from the
/// anchor, which meets an unvisited point within `visited.len() + 1` steps. Returns
/// `None` only when every point is visited.
pub(crate) fn nearest_unvisited(
    lattice: &Lattice<'_>,
    visited: &PointSet,
    anchor: &[u64],
) -> Option<Point> {
    if visited.len() as u128 >= lattice.cardinality() {
        return None;
    }
    let dims = lattice.dims();
    let max_radius = lattice.cards.iter().copied().max().unwrap_or(1);
    let mut radius = 0u64;
    loop {
        let side = 2 * u128::from(radius) + 1;
        if side.saturating_pow(dims as u32) > RING_BOX_LIMIT || radius >= max_radius {
            break;
        }
        let mut best: Option<((u64, u64), Point)> = None;
        let mut offset = vec![0u64; dims];
        'ring: loop {
            let mut point = Vec::with_capacity(dims);
            let mut on_ring = false;
            let mut valid = true;
            let mut key = (0u64, 0u64);
            for d in 0..dims {
                let delta = offset[d] as i128 - radius as i128;
                let v = anchor[d] as i128 + delta;
                if v < 0 || v >= lattice.cards[d] as i128 {
                    valid = false;
                    break;
                }
                if delta.unsigned_abs() == u128::from(radius) {
                    on_ring = true;
                }
                let step = delta.unsigned_abs() as u64;
                if lattice.build[d] {
                    key.0 += step;
                }
                key.1 += step;
                point.push(v as u64);
            }
            if valid
                && on_ring
                && !visited.contains(&point)
                && best.as_ref().is_none_or(|(k, p)| (key, &point) < (*k, p))
            {
                best = Some((key, point));
            }
            for d in (0..dims).rev() {
                offset[d] += 1;
                if offset[d] <= 2 * radius {
                    continue 'ring;
                }
                offset[d] = 0;
            }
            break;
        }
        if let Some((_, p)) = best {
            return Some(p);
        }
        radius += 1;
    }
    let mut point = anchor.to_vec();
    loop {
        if !visited.contains(&point) {
            return Some(point);
        }
        for d in (0..dims).rev() {
            point[d] += 1;
            if point[d] < lattice.cards[d] {
                break;
            }
            point[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hnswtune_core::{EF_CONSTRUCTION, EF_SEARCH};

    #[test]
    fn encode_follows_the_projection_rule() {
        let space = SearchSpace::hnsw();
        let lattice = Lattice::new(&space);
        let p = space.default_params().with("m", 16);
        let point = lattice.encode(&p).unwrap();
        assert_eq!(lattice.decode(&point), space.project(&p).unwrap());
        assert!(lattice.encode(&Params::new().with(EF_SEARCH, 20)).is_none());
        let off = Params::new()
            .with(EF_CONSTRUCTION, 1000)
            .with(EF_SEARCH, 20);
        assert!(lattice.encode(&off).is_none());
    }

    #[test]
    fn nearest_unvisited_prefers_search_moves_and_finds_the_last_point() {
        let space = SearchSpace::hnsw_with_bounds((10, 14), (10, 12)).unwrap();
        let lattice = Lattice::new(&space);
        let mut visited = PointSet::default();
        visited.insert(vec![2, 1]);
        let next = nearest_unvisited(&lattice, &visited, &[2, 1]).unwrap();
        assert_eq!(next[0], 2, "a search-time neighbour comes first");
        for a in 0..5 {
            for b in 0..3 {
                if (a, b) != (4, 2) {
                    visited.insert(vec![a, b]);
                }
            }
        }
        assert_eq!(
            nearest_unvisited(&lattice, &visited, &[0, 0]),
            Some(vec![4, 2])
        );
        visited.insert(vec![4, 2]);
        assert_eq!(nearest_unvisited(&lattice, &visited, &[0, 0]), None);
    }
}
