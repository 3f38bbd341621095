//! The projected history: every history entry that the space's projection rule keeps,
//! as ladder indices, with the set of visited configs and a digest for seeding.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use hnswtune_core::{Trial, TrialMetrics};
use rand_chacha::ChaCha8Rng;

use super::Lattice;
use super::hash::{FxHasher, seeded_rng, splitmix};

/// The projected history, owned: every projected entry, flat, and the set of visited
/// points by rank, built without an allocation per entry.
#[derive(Clone, Debug)]
struct HistoryIndex {
    dims: usize,
    /// Ladder indices of the projected entries, `dims` per entry, in history order.
    coords: Vec<u64>,
    /// The history position of each projected entry.
    positions: Vec<usize>,
    /// Entries whose point appears for the first time.
    distinct: Vec<usize>,
    visited: Visited,
    /// The digest of every projected point and whether its trial completed.
    hasher: FxHasher,
}

impl HistoryIndex {
    /// Reads every trial of `history`, in order.
    fn new(lattice: &Lattice<'_>, history: &[Trial]) -> Self {
        let dims = lattice.dims();
        let mut index = HistoryIndex {
            dims,
            coords: Vec::with_capacity(history.len() * dims),
            positions: Vec::with_capacity(history.len()),
            distinct: Vec::with_capacity(history.len()),
            visited: Visited::new(lattice.cardinality(), history.len()),
            hasher: FxHasher::default(),
        };
        for (position, trial) in history.iter().enumerate() {
            let before = index.coords.len();
            if !lattice.encode_into(&trial.params, &mut index.coords) {
                index.coords.truncate(before);
                continue;
            }
            let point = &index.coords[before..];
            for &i in point {
                index.hasher.write_u64(i);
            }
            index.hasher.write_u64(u64::from(trial.is_complete()));
            if index.visited.insert(lattice.rank(point)) {
                index.distinct.push(index.positions.len());
            }
            index.positions.push(position);
        }
        index
    }

    /// Number of projected entries.
    pub(crate) fn len(&self) -> usize {
        self.positions.len()
    }

    /// The point of entry `i`.
    pub(crate) fn point(&self, i: usize) -> &[u64] {
        &self.coords[i * self.dims..(i + 1) * self.dims]
    }
}

/// The history as the strategies need it: the projected entries, the set of visited
/// configs, and a digest of both for seeding.
#[derive(Debug)]
pub(crate) struct HistoryView<'a> {
    index: HistoryIndex,
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
    /// Reads `history` through the projection rule of `lattice`.
    pub(crate) fn new(lattice: &Lattice<'_>, history: &'a [Trial]) -> Self {
        let index = HistoryIndex::new(lattice, history);
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
