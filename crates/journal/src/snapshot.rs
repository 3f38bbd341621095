//! Snapshot objects: a fixed range of journal entries, folded.
//!
//! A snapshot at `snapshots/<from>-<to>.json` holds the trials of entries
//! `from..=to` folded by id (the latest entry of each trial in that range wins), plus
//! the entries of that range that had to be skipped, so a cold reader that uses the
//! snapshot still reports them. Snapshots are segments, not cumulative copies: the
//! storage they take grows linearly with the journal, and a cold load reads the chain
//! of segments in parallel, then the entries after the last one.
//!
//! ## Invariants
//!
//! - A snapshot is written only after every entry of its range was read, and entries
//!   are Create-only and dense (see the crate docs), so the range's content can never
//!   change afterwards: a snapshot is never stale.
//! - Its content is a pure function of the range, so two writers racing to create the
//!   same snapshot key write the same bytes, and the loser's `AlreadyExists` is
//!   harmless.
//! - Readers choose a chain starting at entry 1, taking at each step the longest
//!   segment that starts where the previous one ended, so processes configured with
//!   different snapshot intervals still agree.

use std::collections::BTreeMap;

use hnswtune_core::{IndexName, SkippedEntry, Trial, TrialId};
use serde::{Deserialize, Serialize};

/// The snapshot format this crate writes and reads.
pub(crate) const SNAPSHOT_FORMAT: u32 = 1;

/// The stored form of a snapshot.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SnapshotDoc {
    pub(crate) format: u32,
    pub(crate) index: IndexName,
    pub(crate) from_seq: u64,
    pub(crate) to_seq: u64,
    /// Entries in the range, skipped ones included (`to_seq - from_seq + 1`).
    pub(crate) entries: u64,
    /// Folded trials, sorted by id.
    pub(crate) trials: Vec<Trial>,
    /// Entries of the range that could not be used.
    pub(crate) skipped: Vec<SkippedEntry>,
}

/// One snapshot object found by a listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SnapshotRef {
    pub(crate) from: u64,
    pub(crate) to: u64,
    pub(crate) size_bytes: u64,
}

/// The chain a cold reader uses: from entry 1, the longest segment that starts right
/// after the previous one, until none does.
pub(crate) fn choose_chain(mut found: Vec<SnapshotRef>) -> Vec<SnapshotRef> {
    found.sort();
    let mut longest: BTreeMap<u64, SnapshotRef> = BTreeMap::new();
    for s in found {
        let slot = longest.entry(s.from).or_insert(s);
        if s.to > slot.to {
            *slot = s;
        }
    }
    let mut chain = Vec::new();
    let mut next = 1;
    while let Some(s) = longest.get(&next) {
        chain.push(*s);
        match s.to.checked_add(1) {
            Some(n) => next = n,
            None => break,
        }
    }
    chain
}

/// Folds `trials` (in entry order) by id: the latest state of each trial wins.
pub(crate) fn fold<'a>(trials: impl IntoIterator<Item = &'a Trial>) -> Vec<Trial> {
    let mut by_id: BTreeMap<TrialId, &Trial> = BTreeMap::new();
    for t in trials {
        by_id.insert(t.id, t);
    }
    by_id.into_values().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(from: u64, to: u64) -> SnapshotRef {
        SnapshotRef {
            from,
            to,
            size_bytes: 0,
        }
    }

    #[test]
    fn chain_starts_at_one_and_prefers_long_segments() {
        assert!(choose_chain(vec![]).is_empty());
        assert!(choose_chain(vec![s(2, 5)]).is_empty(), "must start at 1");
        assert_eq!(
            choose_chain(vec![s(11, 20), s(1, 5), s(1, 10), s(6, 10), s(21, 30)]),
            vec![s(1, 10), s(11, 20), s(21, 30)]
        );
        assert_eq!(
            choose_chain(vec![s(1, 5), s(7, 9)]),
            vec![s(1, 5)],
            "stops at a hole"
        );
    }
}
