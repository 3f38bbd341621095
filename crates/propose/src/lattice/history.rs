//! The projected history: every history entry that the space's projection rule keeps,
//! as ladder indices, with the set of visited configs and a digest for seeding.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use hnswtune_core::{Trial, TrialMetrics};
use rand_chacha::ChaCha8Rng;

use super::Lattice;
use super::hash::{FxHasher, seeded_rng, splitmix};

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
