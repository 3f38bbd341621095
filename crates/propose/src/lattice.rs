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

use hnswtune_core::{
    ParamKind, ParamSpec, ParamValue, Params, Phase, Scale, SearchSpace, Trial, TrialMetrics,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A config as one ladder index per spec, in the space's declaration order.
pub(crate) type Point = Vec<u64>;

/// Equality of two parameter names, with two overlapping word compares for names of 8
/// to 16 bytes instead of a `memcmp` call: encoding runs it for every history entry.
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    if (8..=16).contains(&n) {
        let word = |x: &[u8], at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&x[at..at + 8]);
            u64::from_le_bytes(w)
        };
        return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
    }
    a == b
}

/// A set of points hashed with [`FxHasher`].
#[cfg(test)]
pub(crate) type PointSet = HashSet<Point, BuildHasherDefault<FxHasher>>;

/// The multiply-rotate hash of rustc (FxHash): fast on short integer keys, and
/// deterministic, which std's randomly keyed SipHash is not.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxHasher(u64);

/// A `HashMap` keyed with [`FxHasher`]: for maps that live for one call and whose
/// iteration order is never observed.
pub(crate) type FxHashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A config as a map key that hashes only its values: the trials of one study share
/// their parameter names, so hashing the names too would only cost time. Equality is
/// still the whole config's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByValues<'a>(pub(crate) &'a Params);

impl std::hash::Hash for ByValues<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for (_, value) in self.0.iter() {
            value.hash(state);
        }
    }
}

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
    /// The specs sorted by name, each with its index and its ladder: a history
    /// entry's params (a map sorted by name) are matched against the specs in one
    /// merge walk instead of one map lookup per spec.
    by_name: Vec<(&'a str, usize, Ladder<'a>)>,
    /// True when `by_name` is in declaration order.
    declared_by_name: bool,
    /// True when the specs are declared in name order and every ladder is
    /// [`Ladder::Unit`] (the HNSW space): the fast path of
    /// [`Lattice::try_encode_into`] reads such a space.
    unit_ladders: bool,
    /// Per spec, how ladder indices map to unit positions.
    scales: Vec<UnitScale>,
}

/// One spec's allowed values, as encoding reads them: the ladder index of a value is
/// what [`ParamSpec::index_of`] gives, without the checks that only build an error.
#[derive(Clone, Copy, Debug)]
enum Ladder<'a> {
    /// An integer ladder with step 1: the index is the offset from `low`.
    Unit {
        low: i64,
        high: i64,
    },
    Int {
        low: i64,
        high: i64,
        step: i64,
    },
    Levels(&'a [i64]),
    Categorical(&'a [String]),
}

impl<'a> Ladder<'a> {
    fn of(spec: &'a ParamSpec) -> Self {
        match &spec.kind {
            &ParamKind::Int {
                low, high, step: 1, ..
            } => Ladder::Unit { low, high },
            &ParamKind::Int {
                low, high, step, ..
            } => Ladder::Int { low, high, step },
            ParamKind::Levels { values } => Ladder::Levels(values),
            ParamKind::Categorical { choices } => Ladder::Categorical(choices),
        }
    }

    /// The ladder index of `value`, or `None` when the spec does not allow it.
    #[inline]
    fn index(&self, value: &ParamValue) -> Option<u64> {
        match (self, value) {
            (&Ladder::Unit { low, high }, &ParamValue::Int(v)) => {
                if v < low || v > high {
                    return None;
                }
                Some((v - low) as u64)
            }
            (&Ladder::Int { low, high, step }, &ParamValue::Int(v)) => {
                if v < low || v > high || (v - low) % step != 0 {
                    return None;
                }
                Some(((v - low) / step) as u64)
            }
            (Ladder::Levels(values), ParamValue::Int(v)) => {
                values.binary_search(v).ok().map(|i| i as u64)
            }
            (Ladder::Categorical(choices), ParamValue::Cat(v)) => {
                choices.iter().position(|c| c == v).map(|i| i as u64)
            }
            _ => None,
        }
    }
}

/// How one spec maps ladder indices to unit positions and back: the arithmetic of
/// [`ParamSpec::to_unit`] and [`ParamSpec::from_unit`], with the logarithms of a log
/// ladder's bounds taken once per lattice instead of on every call, and without the
/// round trip through [`ParamValue`]. The same operations on the same numbers, so the
/// same bits (see the tests).
#[derive(Clone, Copy, Debug)]
enum UnitScale {
    /// An integer ladder; `ln` holds the logarithms of `low` and `high` on a log scale.
    Int {
        low: i64,
        high: i64,
        step: i64,
        last: u64,
        ln: Option<(f64, f64)>,
    },
    /// Levels and categories, spread by index over `n` values.
    Index { n: u64 },
}

impl UnitScale {
    fn of(spec: &ParamSpec) -> Self {
        match spec.kind {
            ParamKind::Int {
                low,
                high,
                step,
                scale,
            } => UnitScale::Int {
                low,
                high,
                step,
                last: spec.cardinality().saturating_sub(1),
                ln: (scale == Scale::Log).then(|| ((low as f64).ln(), (high as f64).ln())),
            },
            _ => UnitScale::Index {
                n: spec.cardinality(),
            },
        }
    }

    /// `spec.to_unit(&spec.value_at(i))` (the index is clamped to the ladder).
    fn unit(&self, i: u64) -> f64 {
        match *self {
            UnitScale::Int {
                low,
                high,
                step,
                last,
                ln,
            } => {
                let v = low + step * i.min(last) as i64;
                match ln {
                    _ if high == low => 0.0,
                    None => (v - low) as f64 / (high - low) as f64,
                    Some((ln_low, ln_high)) => ((v as f64).ln() - ln_low) / (ln_high - ln_low),
                }
            }
            UnitScale::Index { n } => {
                if n <= 1 {
                    0.0
                } else {
                    (i.min(n - 1) as f64 + 0.5) / n as f64
                }
            }
        }
    }

    /// `spec.index_of(&spec.from_unit(u))`.
    fn index_at(&self, u: f64) -> u64 {
        let u = if u.is_finite() {
            u.clamp(0.0, 1.0)
        } else {
            0.0
        };
        match *self {
            UnitScale::Int {
                low,
                high,
                step,
                last,
                ln,
            } => {
                let x = match ln {
                    None => low as f64 + u * (high - low) as f64,
                    Some((ln_low, ln_high)) => (ln_low + u * (ln_high - ln_low)).exp(),
                };
                (((x - low as f64) / step as f64).round().max(0.0) as u64).min(last)
            }
            UnitScale::Index { n } => ((u * n as f64).floor() as u64).min(n - 1),
        }
    }
}

impl<'a> Lattice<'a> {
    pub(crate) fn new(space: &'a SearchSpace) -> Self {
        let specs = space.specs();
        let mut order: Vec<usize> = (0..specs.len()).collect();
        order.sort_by(|&a, &b| specs[a].name.cmp(&specs[b].name));
        let by_name: Vec<_> = order
            .into_iter()
            .map(|k| (specs[k].name.as_str(), k, Ladder::of(&specs[k])))
            .collect();
        let declared_by_name = specs
            .windows(2)
            .all(|w| w[0].name.as_str() < w[1].name.as_str());
        let unit_ladders = declared_by_name
            && by_name
                .iter()
                .all(|(_, _, ladder)| matches!(ladder, Ladder::Unit { .. }));
        Lattice {
            space,
            cards: specs.iter().map(ParamSpec::cardinality).collect(),
            build: specs.iter().map(|s| s.phase == Phase::Build).collect(),
            by_name,
            declared_by_name,
            unit_ladders,
            scales: specs.iter().map(UnitScale::of).collect(),
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
        let mut point = Vec::with_capacity(self.cards.len());
        self.encode_into(params, &mut point).then_some(point)
    }

    /// The mixed-radix rank of `point`: distinct points get distinct ranks whenever the
    /// space has fewer than 2^128 configs (a larger space wraps, and two configs could
    /// then share a rank; no real space comes near).
    pub(crate) fn rank(&self, point: &[u64]) -> u128 {
        if let (&[a, b], &[_, c]) = (point, &self.cards[..]) {
            // Two specs (the HNSW space): the fold below, unrolled.
            return u128::from(a)
                .wrapping_mul(u128::from(c))
                .wrapping_add(u128::from(b));
        }
        point.iter().zip(&self.cards).fold(0u128, |acc, (&i, &c)| {
            acc.wrapping_mul(u128::from(c)).wrapping_add(u128::from(i))
        })
    }

    /// Appends the point of `params` to `out`; false (with `out` partly written) when
    /// it has none.
    #[inline]
    pub(crate) fn encode_into(&self, params: &Params, out: &mut Vec<u64>) -> bool {
        self.try_encode_into(params, out).is_some()
    }

    // Inlined into the history loop: a call costs as much as the fast path's work.
    #[inline(always)]
    fn try_encode_into(&self, params: &Params, point: &mut Vec<u64>) -> Option<()> {
        // Fast path: a space of unit ladders declared in name order, and an entry with
        // as many names as the space has specs. Both name lists are sorted and hold
        // distinct names, so the entry has every spec exactly when its names match the
        // specs' in turn: then the general walk would read the same pairs in the same
        // order, and at the first name that differs the entry lacks a spec.
        if self.unit_ladders && params.len() == self.by_name.len() {
            for ((name, value), (spec_name, _, ladder)) in params.iter().zip(&self.by_name) {
                match (ladder, value) {
                    (&Ladder::Unit { low, high }, &ParamValue::Int(v))
                        if same_name(name, spec_name) && low <= v && v <= high =>
                    {
                        point.push((v - low) as u64)
                    }
                    _ => return None,
                }
            }
            return Some(());
        }
        self.walk_into(params, point)
    }

    /// The general encoding: one merge walk of the entry's names and the specs' names.
    #[inline(never)]
    fn walk_into(&self, params: &Params, point: &mut Vec<u64>) -> Option<()> {
        let base = point.len();
        // When the specs are declared in name order (the HNSW space's are), the walk
        // meets them in point order and appends; otherwise it fills a zeroed point.
        if !self.declared_by_name {
            point.extend(std::iter::repeat_n(0, self.by_name.len()));
        }
        let mut entries = params.iter();
        for (spec_name, k, ladder) in &self.by_name {
            // Both sides are sorted by name: skip the names the space does not know.
            let value = loop {
                let (name, value) = entries.next()?;
                if same_name(name, spec_name) {
                    break value;
                }
                if name > *spec_name {
                    return None;
                }
            };
            let i = ladder.index(value)?;
            if self.declared_by_name {
                point.push(i);
            } else {
                point[base + *k] = i;
            }
        }
        Some(())
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
    /// The same number as `spec.to_unit(&spec.value_at(i))`, computed without the
    /// value.
    pub(crate) fn unit(&self, dim: usize, i: u64) -> f64 {
        self.scales[dim].unit(i)
    }

    /// The ladder index nearest to unit position `u` on `dim`: the same index as
    /// `spec.index_of(&spec.from_unit(u))`, computed without the value.
    pub(crate) fn index_at_unit(&self, dim: usize, u: f64) -> u64 {
        self.scales[dim].index_at(u)
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

    /// The numeric value of ladder index `i` of an integer spec: `spec.value_at(i)`,
    /// clamped to the ladder the same way, without building the value.
    pub(crate) fn int_value(&self, dim: usize, i: u64) -> Option<i64> {
        let i = i.min(self.cards[dim].saturating_sub(1));
        match &self.spec(dim).kind {
            ParamKind::Int { low, step, .. } => Some(low + step * i as i64),
            ParamKind::Levels { values } => Some(values[i as usize]),
            ParamKind::Categorical { .. } => None,
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

/// The projected history, owned: every projected entry, flat, and the set of visited
/// points by rank, built without an allocation per entry. A strategy that keeps it
/// between calls ([`crate::Frontier`]) extends it by the trials appended since, or
/// truncates it where the history changed, instead of reading every trial again.
#[derive(Clone, Debug)]
pub(crate) struct HistoryIndex {
    dims: usize,
    /// Ladder indices of the projected entries, `dims` per entry, in history order.
    coords: Vec<u64>,
    /// The history position of each projected entry.
    positions: Vec<usize>,
    /// Entries whose point appears for the first time.
    distinct: Vec<usize>,
    visited: Visited,
    /// The running digest.
    hasher: FxHasher,
    /// How many history trials have been read, projected or not.
    read: usize,
}

impl HistoryIndex {
    pub(crate) fn new(lattice: &Lattice<'_>, history: &[Trial]) -> Self {
        Self::with_capacity(lattice, history, history.len())
    }

    /// [`HistoryIndex::new`] with room for `capacity` entries, so that a kept index
    /// grows without reallocating.
    pub(crate) fn with_capacity(lattice: &Lattice<'_>, history: &[Trial], capacity: usize) -> Self {
        let dims = lattice.dims();
        let capacity = capacity.max(history.len());
        let mut index = HistoryIndex {
            dims,
            coords: Vec::with_capacity(capacity * dims),
            positions: Vec::with_capacity(capacity),
            distinct: Vec::with_capacity(capacity),
            visited: Visited::new(lattice.cardinality(), capacity),
            hasher: FxHasher::default(),
            read: 0,
        };
        index.extend(lattice, history);
        index
    }

    /// Reads the trials of `history` past the ones already read. Returns the index of
    /// the first entry added.
    pub(crate) fn extend(&mut self, lattice: &Lattice<'_>, history: &[Trial]) -> usize {
        let first = self.positions.len();
        for (position, trial) in history.iter().enumerate().skip(self.read) {
            let before = self.coords.len();
            if !lattice.encode_into(&trial.params, &mut self.coords) {
                self.coords.truncate(before);
                continue;
            }
            let point = &self.coords[before..];
            for &i in point {
                self.hasher.write_u64(i);
            }
            self.hasher.write_u64(u64::from(trial.is_complete()));
            if self.visited.insert(lattice.rank(point)) {
                self.distinct.push(self.positions.len());
            }
            self.positions.push(position);
        }
        self.read = self.read.max(history.len());
        first
    }

    /// Forgets every trial from history position `keep` on, as if only the first
    /// `keep` trials of `history` had been read (they must be the ones read before).
    pub(crate) fn truncate(&mut self, lattice: &Lattice<'_>, history: &[Trial], keep: usize) {
        let entries = self.positions.partition_point(|&p| p < keep);
        while self.distinct.last().is_some_and(|&e| e >= entries) {
            let e = self.distinct.pop().unwrap_or(entries);
            let rank = lattice.rank(&self.coords[e * self.dims..(e + 1) * self.dims]);
            self.visited.remove(rank);
        }
        self.coords.truncate(entries * self.dims);
        self.positions.truncate(entries);
        self.read = self.read.min(keep);
        // Truncation is rare (a trial changed state): the digest is recomputed rather
        // than a state kept per entry, which every strategy would pay for.
        self.hasher = FxHasher::default();
        for e in 0..entries {
            for &i in &self.coords[e * self.dims..(e + 1) * self.dims] {
                self.hasher.write_u64(i);
            }
            let complete = history[self.positions[e]].is_complete();
            self.hasher.write_u64(u64::from(complete));
        }
    }

    /// Number of projected entries.
    pub(crate) fn len(&self) -> usize {
        self.positions.len()
    }

    /// The point of entry `i`.
    pub(crate) fn point(&self, i: usize) -> &[u64] {
        &self.coords[i * self.dims..(i + 1) * self.dims]
    }

    /// The point and history position of every entry from `first` on, in order (the
    /// space has at least one spec).
    pub(crate) fn entries_from(&self, first: usize) -> impl Iterator<Item = (&[u64], usize)> {
        debug_assert!(self.dims > 0, "a space without specs has no points to list");
        let points = self.coords[first * self.dims..].chunks_exact(self.dims.max(1));
        points.zip(self.positions[first..].iter().copied())
    }
}

/// The history as the strategies need it: a [`HistoryIndex`] (owned, or borrowed
/// from a strategy's cache) over the history it was read from.
#[derive(Debug)]
pub(crate) struct HistoryView<'a> {
    index: std::borrow::Cow<'a, HistoryIndex>,
    history: &'a [Trial],
    /// A digest of the projected history, for seeding.
    pub(crate) digest: u64,
}

/// The set of visited ranks: a bitmap when the space is small next to the history (the
/// default HNSW space of 74 681 configs takes 9 KiB), a hash set otherwise.
#[derive(Clone, Debug)]
enum Visited {
    Dense { bits: Vec<u64>, len: usize },
    Sparse(HashSet<u128, BuildHasherDefault<FxHasher>>),
}

/// Spaces up to this many configs always use the bitmap (32 KiB).
const DENSE_VISITED: u128 = 1 << 18;

impl Visited {
    fn new(cardinality: u128, history_len: usize) -> Self {
        if cardinality <= DENSE_VISITED.max(64 * history_len as u128) {
            Visited::Dense {
                bits: vec![0; cardinality.div_ceil(64) as usize],
                len: 0,
            }
        } else {
            Visited::Sparse(HashSet::with_capacity_and_hasher(
                history_len,
                Default::default(),
            ))
        }
    }

    /// Adds `rank`; true when it was not there.
    fn insert(&mut self, rank: u128) -> bool {
        match self {
            Visited::Dense { bits, len } => {
                let (word, bit) = ((rank / 64) as usize, rank % 64);
                let fresh = bits[word] & (1 << bit) == 0;
                bits[word] |= 1 << bit;
                *len += usize::from(fresh);
                fresh
            }
            Visited::Sparse(set) => set.insert(rank),
        }
    }

    fn remove(&mut self, rank: u128) {
        match self {
            Visited::Dense { bits, len } => {
                let (word, bit) = ((rank / 64) as usize, rank % 64);
                if bits[word] & (1 << bit) != 0 {
                    bits[word] &= !(1 << bit);
                    *len -= 1;
                }
            }
            Visited::Sparse(set) => {
                set.remove(&rank);
            }
        }
    }

    fn contains(&self, rank: u128) -> bool {
        match self {
            Visited::Dense { bits, .. } => bits
                .get((rank / 64) as usize)
                .is_some_and(|w| w & (1 << (rank % 64)) != 0),
            Visited::Sparse(set) => set.contains(&rank),
        }
    }

    fn len(&self) -> usize {
        match self {
            Visited::Dense { len, .. } => *len,
            Visited::Sparse(set) => set.len(),
        }
    }
}

impl<'a> HistoryView<'a> {
    pub(crate) fn new(lattice: &Lattice<'_>, history: &'a [Trial]) -> Self {
        Self::over(
            std::borrow::Cow::Owned(HistoryIndex::new(lattice, history)),
            history,
        )
    }

    /// The view of `index`, which must have read exactly `history`.
    pub(crate) fn over(index: std::borrow::Cow<'a, HistoryIndex>, history: &'a [Trial]) -> Self {
        debug_assert_eq!(index.read, history.len());
        HistoryView {
            digest: splitmix(index.hasher.finish()),
            index,
            history,
        }
    }

    /// The point of entry `i`.
    pub(crate) fn point(&self, i: usize) -> &[u64] {
        self.index.point(i)
    }

    /// Projected entries in history order, whatever their state.
    pub(crate) fn entries(&self) -> impl DoubleEndedIterator<Item = (&[u64], &'a Trial)> + '_ {
        let history = self.history;
        self.index
            .positions
            .iter()
            .enumerate()
            .map(move |(i, &p)| (self.point(i), &history[p]))
    }

    /// The point of the latest projected entry.
    pub(crate) fn last_point(&self) -> Option<&[u64]> {
        self.index.len().checked_sub(1).map(|i| self.point(i))
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    /// True when `point` is in the history (any state).
    pub(crate) fn contains(&self, lattice: &Lattice<'_>, point: &[u64]) -> bool {
        self.index.visited.contains(lattice.rank(point))
    }

    /// Number of distinct projected configs in the history.
    pub(crate) fn visited_len(&self) -> usize {
        self.index.visited.len()
    }

    /// Each distinct projected config once.
    pub(crate) fn visited_points(&self) -> impl Iterator<Item = &[u64]> + '_ {
        self.index.distinct.iter().map(|&i| self.point(i))
    }

    /// True when every point of the space is in the history.
    pub(crate) fn exhausted(&self, lattice: &Lattice<'_>) -> bool {
        self.index.visited.len() as u128 >= lattice.cardinality()
    }

    /// Completed entries with their metrics, in history order.
    pub(crate) fn completed(&self) -> impl Iterator<Item = (&[u64], &'a TrialMetrics)> + '_ {
        self.entries()
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
    view: &HistoryView<'_>,
    anchor: &[u64],
) -> Option<Point> {
    nearest_where(
        lattice,
        view.visited_len(),
        |p| view.contains(lattice, p),
        anchor,
    )
}

/// [`nearest_unvisited`] over any visited set of `visited_len` points.
pub(crate) fn nearest_where(
    lattice: &Lattice<'_>,
    visited_len: usize,
    visited: impl Fn(&[u64]) -> bool,
    anchor: &[u64],
) -> Option<Point> {
    if visited_len as u128 >= lattice.cardinality() {
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
                && !visited(&point)
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
        if !visited(&point) {
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
        let space = SearchSpace::hnsw_fine((10, 400), (10, 200)).unwrap();
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

    /// Encoding gives the same points whether or not the specs are declared in name
    /// order (the walk appends in the first case and fills a zeroed point in the
    /// other), and follows the projection rule in both.
    #[test]
    fn encode_is_the_same_in_either_declaration_order() {
        use hnswtune_core::Phase::{Build, Search};
        let specs = || {
            vec![
                ParamSpec::int("b_steps", 10, 100, 10, Build),
                ParamSpec::categorical("c_kind", ["x", "y"], Search),
                ParamSpec::levels("a_levels", vec![2, 4, 8], Search),
            ]
        };
        let unsorted = SearchSpace::new(specs()).unwrap();
        let mut sorted_specs = specs();
        sorted_specs.sort_by(|a, b| a.name.cmp(&b.name));
        let sorted = SearchSpace::new(sorted_specs).unwrap();
        let (lu, ls) = (Lattice::new(&unsorted), Lattice::new(&sorted));
        assert!(ls.declared_by_name && !lu.declared_by_name);
        for params in [
            unsorted.default_params(),
            unsorted.default_params().with("b_steps", 70).with("zz", 1),
            unsorted.default_params().with("a_levels", 8).with("aa", 3),
            unsorted.default_params().with("b_steps", 75),
            unsorted.default_params().with("c_kind", "z"),
            Params::new().with("b_steps", 20).with("c_kind", "y"),
        ] {
            let (pu, ps) = (lu.encode(&params), ls.encode(&params));
            assert_eq!(
                pu.is_some(),
                unsorted.project(&params).is_some(),
                "{params:?}"
            );
            assert_eq!(
                ps.is_some(),
                sorted.project(&params).is_some(),
                "{params:?}"
            );
            if let (Some(pu), Some(ps)) = (pu, ps) {
                assert_eq!(lu.decode(&pu), unsorted.project(&params).unwrap());
                assert_eq!(ls.decode(&ps), sorted.project(&params).unwrap());
                // The same indices, in each space's own spec order.
                assert_eq!(pu, vec![ps[1], ps[2], ps[0]]);
            }
        }
    }

    /// The fast path of encoding (unit ladders declared in name order, as many names as
    /// specs) gives what the general walk gives, and follows the projection rule, on entries with unknown,
    /// missing, renamed, off-ladder and mistyped parameters; spaces it does not apply to
    /// (a categorical spec, specs not in name order, a stepped ladder) take the walk.
    #[test]
    fn the_encoding_fast_path_matches_the_general_walk() {
        use hnswtune_core::Phase::{Build, Search};
        let spaces = [
            SearchSpace::hnsw_fine((10, 400), (10, 200)).unwrap(),
            SearchSpace::new(vec![
                ParamSpec::int("a_unit", -5, 5, 1, Build),
                ParamSpec::int("b_unit_longer_than_16", 0, 3, 1, Search),
                ParamSpec::int("c", 7, 9, 1, Search),
            ])
            .unwrap(),
            SearchSpace::new(vec![
                ParamSpec::int(EF_SEARCH, 10, 200, 1, Search),
                ParamSpec::int(EF_CONSTRUCTION, 10, 400, 1, Build),
            ])
            .unwrap(),
            SearchSpace::new(vec![
                ParamSpec::int(EF_CONSTRUCTION, 10, 400, 1, Build),
                ParamSpec::categorical(EF_SEARCH, ["x", "y"], Search),
            ])
            .unwrap(),
            SearchSpace::new(vec![
                ParamSpec::int(EF_CONSTRUCTION, 10, 400, 10, Build),
                ParamSpec::int(EF_SEARCH, 10, 200, 1, Search),
            ])
            .unwrap(),
        ];
        let fast = [true, true, false, false, false];
        for (space, fast) in spaces.iter().zip(fast) {
            let lattice = Lattice::new(space);
            assert_eq!(lattice.unit_ladders, fast, "{space:?}");
            let names: Vec<&str> = space.specs().iter().map(|s| s.name.as_str()).collect();
            let mut cases = vec![space.default_params(), Params::new()];
            for &name in &names {
                let base = space.default_params();
                let renamed = base.filtered(|n| n != name);
                cases.extend([
                    renamed.clone(),
                    renamed.clone().with(format!("{name}_"), 12),
                    renamed.clone().with(&name[..name.len() - 1], 12),
                    renamed.clone().with("", 12),
                    base.clone().with(name, 11),
                    base.clone().with(name, -6),
                    base.clone().with(name, 3),
                    base.clone().with(name, 9),
                    base.clone().with(name, 401),
                    base.clone().with(name, 201),
                    base.clone().with(name, "x"),
                    base.clone().with(name, "y"),
                    base.clone().with("0_unknown", 1),
                    base.clone().with("zz_unknown", 1),
                    base.clone().with("m", 16),
                ]);
            }
            for params in cases {
                let mut walked = vec![7];
                let walk = lattice
                    .walk_into(&params, &mut walked)
                    .map(|()| walked[1..].to_vec());
                let encoded = lattice.encode(&params);
                assert_eq!(encoded, walk, "{params:?} in {space:?}");
                assert_eq!(
                    encoded.map(|p| lattice.decode(&p)),
                    space.project(&params),
                    "{params:?} in {space:?}"
                );
                // Appending after earlier points leaves them alone.
                let mut out = vec![1, 2];
                if lattice.encode_into(&params, &mut out) {
                    assert_eq!(out[..2], [1, 2]);
                    assert_eq!(Some(out[2..].to_vec()), lattice.encode(&params));
                }
            }
        }
    }

    #[test]
    fn nearest_unvisited_prefers_search_moves_and_finds_the_last_point() {
        let space = SearchSpace::hnsw_fine((10, 14), (10, 12)).unwrap();
        let lattice = Lattice::new(&space);
        let mut visited = PointSet::default();
        visited.insert(vec![2, 1]);
        let near = |v: &PointSet, a: &[u64]| nearest_where(&lattice, v.len(), |p| v.contains(p), a);
        let next = near(&visited, &[2, 1]).unwrap();
        assert_eq!(next[0], 2, "a search-time neighbour comes first");
        for a in 0..5 {
            for b in 0..3 {
                if (a, b) != (4, 2) {
                    visited.insert(vec![a, b]);
                }
            }
        }
        assert_eq!(near(&visited, &[0, 0]), Some(vec![4, 2]));
        visited.insert(vec![4, 2]);
        assert_eq!(near(&visited, &[0, 0]), None);
    }

    /// `Lattice::unit` and `Lattice::index_at_unit` give bit for bit what the specs'
    /// own `to_unit` and `from_unit` give, on every ladder index (and past the end) and
    /// on every unit position the strategies ask for: dyadic ones to depth 14, each
    /// index's own unit and its neighbouring floats, and out-of-range ones.
    #[test]
    fn unit_scales_match_the_specs_bit_for_bit() {
        use hnswtune_core::Phase::{Build, Search};
        let specs = vec![
            ParamSpec::int("a", 10, 400, 1, Build).log_scale(),
            ParamSpec::int("b", 10, 200, 1, Search).log_scale(),
            ParamSpec::int("c", 100, 600, 10, Build),
            ParamSpec::int("d", 1, 100_000, 1, Search).log_scale(),
            ParamSpec::int("e", 3, 1000, 7, Search).log_scale(),
            ParamSpec::int("f", 5, 5, 1, Search).log_scale(),
            ParamSpec::int("g", 5, 5, 1, Search),
            ParamSpec::int("h", -50, 77, 3, Search),
            ParamSpec::int("i", 2, 9, 4, Build).log_scale(),
            ParamSpec::levels("j", vec![4, 8, 16, 32, 64, 100], Build),
            ParamSpec::levels("k", vec![7], Build),
            ParamSpec::categorical("l", ["x", "y", "z"], Search),
            ParamSpec::categorical("m", ["x"], Search),
        ];
        let space = SearchSpace::new(specs).unwrap();
        let lattice = Lattice::new(&space);
        for d in 0..lattice.dims() {
            let spec = lattice.spec(d);
            let card = lattice.cards[d];
            let mut units = vec![0.0, 1.0, -0.0, -0.5, 1.5, f64::NAN, f64::INFINITY];
            units.push(f64::NEG_INFINITY);
            for depth in 0..=14u32 {
                let n = 1u64 << depth;
                units.extend((0..n).map(|j| (2 * j + 1) as f64 / (2 * n) as f64));
            }
            for i in 0..card + 2 {
                let want = spec.to_unit(&spec.value_at(i)).unwrap_or(0.0);
                let got = lattice.unit(d, i);
                assert_eq!(got.to_bits(), want.to_bits(), "{} index {i}", spec.name);
                let value = match spec.value_at(i) {
                    ParamValue::Int(v) => Some(v),
                    ParamValue::Cat(_) => None,
                };
                assert_eq!(lattice.int_value(d, i), value, "{} index {i}", spec.name);
                units.push(want);
                if want > 0.0 {
                    units.push(f64::from_bits(want.to_bits() - 1));
                    units.push(f64::from_bits(want.to_bits() + 1));
                }
            }
            for u in units {
                let want = spec.index_of(&spec.from_unit(u)).unwrap_or(0);
                assert_eq!(lattice.index_at_unit(d, u), want, "{} unit {u}", spec.name);
            }
        }
    }
}
