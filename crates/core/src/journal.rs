//! The trial journal seam.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Error, IndexName, Trial, TrialId};

/// An entry a reader had to skip, with why. Skips are never silent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedEntry {
    /// The storage key of the entry.
    pub key: String,
    /// Why it could not be used.
    pub why: String,
}

/// What a read did: how much it fetched and what it skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadReport {
    /// Entries (state changes) folded into the result.
    pub entries: usize,
    /// Entries fetched from the store by this read (the rest came from a cache or
    /// snapshot).
    pub fetched: usize,
    /// Entries that came from a snapshot.
    pub from_snapshot: usize,
    /// Entries that could not be decoded or were too large.
    pub skipped: Vec<SkippedEntry>,
}

/// A shared, immutable list of trials: the folded trials of one index, sorted by id.
///
/// Cloning is O(1): journals keep one copy and hand out shared views, so a read of a
/// 100k-trial history does not copy it. It dereferences to `[Trial]`, and compares
/// equal to a `Vec<Trial>` with the same trials.
///
/// ```
/// use hnswtune_core::Trials;
/// let trials = Trials::default();
/// assert!(trials.is_empty());
/// let copy = trials.clone(); // shares, does not copy
/// assert_eq!(copy, Vec::new());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trials(Arc<Vec<Trial>>);

impl Trials {
    /// Wraps `trials` (kept in the given order).
    pub fn new(trials: Vec<Trial>) -> Self {
        Trials(Arc::new(trials))
    }

    /// The trials as a slice.
    pub fn as_slice(&self) -> &[Trial] {
        &self.0
    }

    /// The trials as an owned vector: moved out when this is the only view, copied
    /// otherwise.
    pub fn into_vec(self) -> Vec<Trial> {
        Arc::unwrap_or_clone(self.0)
    }

    /// Mutable access for the journal that owns the list: in place when no reader
    /// holds a view, after one copy otherwise (readers keep what they were given).
    pub fn make_mut(&mut self) -> &mut Vec<Trial> {
        Arc::make_mut(&mut self.0)
    }
}

impl std::ops::Deref for Trials {
    type Target = [Trial];
    fn deref(&self) -> &[Trial] {
        &self.0
    }
}

impl AsRef<[Trial]> for Trials {
    fn as_ref(&self) -> &[Trial] {
        &self.0
    }
}

impl From<Vec<Trial>> for Trials {
    fn from(trials: Vec<Trial>) -> Self {
        Trials::new(trials)
    }
}

impl FromIterator<Trial> for Trials {
    fn from_iter<I: IntoIterator<Item = Trial>>(iter: I) -> Self {
        Trials::new(iter.into_iter().collect())
    }
}

impl PartialEq<Vec<Trial>> for Trials {
    fn eq(&self, other: &Vec<Trial>) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl PartialEq<Trials> for Vec<Trial> {
    fn eq(&self, other: &Trials) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl<'a> IntoIterator for &'a Trials {
    type Item = &'a Trial;
    type IntoIter = std::slice::Iter<'a, Trial>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl IntoIterator for Trials {
    type Item = Trial;
    type IntoIter = std::vec::IntoIter<Trial>;
    fn into_iter(self) -> Self::IntoIter {
        self.into_vec().into_iter()
    }
}

impl Serialize for Trials {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(serializer)
    }
}

/// The trials of one index, folded by id (latest state wins) and sorted by id, that is
/// by creation time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JournalRead {
    /// The trials, shared with the journal's cache (cloning is O(1)).
    pub trials: Trials,
    /// What the read did.
    pub report: ReadReport,
}

/// An append-only, per-index log of trials: the agent's memory.
///
/// Implementations must make `append` durable and never overwrite an earlier entry;
/// appending the same trial id again records a state change. Concurrent appenders on
/// one store must not lose or duplicate entries.
#[async_trait]
pub trait TrialJournal: Send + Sync + Debug {
    /// Appends one state of `trial` (validated first).
    async fn append(&self, trial: &Trial) -> Result<(), Error>;

    /// Reads every trial of `index`, folded and sorted, with a report of skipped
    /// entries.
    async fn read(&self, index: &IndexName) -> Result<JournalRead, Error>;

    /// The indexes that have at least one entry.
    async fn indexes(&self) -> Result<Vec<IndexName>, Error> {
        Err(Error::Unsupported {
            what: "listing indexes".into(),
        })
    }

    /// The trials of `index` (see [`TrialJournal::read`]).
    async fn trials(&self, index: &IndexName) -> Result<Trials, Error> {
        Ok(self.read(index).await?.trials)
    }

    /// One trial by id.
    async fn get(&self, index: &IndexName, id: TrialId) -> Result<Trial, Error> {
        self.trials(index)
            .await?
            .iter()
            .find(|t| t.id == id)
            .cloned()
            .ok_or_else(|| Error::NotFound {
                what: format!("trial {id} of index {index}"),
            })
    }
}

macro_rules! forward_journal {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<T: TrialJournal + ?Sized> TrialJournal for $ty {
            async fn append(&self, trial: &Trial) -> Result<(), Error> {
                (**self).append(trial).await
            }
            async fn read(&self, index: &IndexName) -> Result<JournalRead, Error> {
                (**self).read(index).await
            }
            async fn indexes(&self) -> Result<Vec<IndexName>, Error> {
                (**self).indexes().await
            }
            async fn trials(&self, index: &IndexName) -> Result<Trials, Error> {
                (**self).trials(index).await
            }
            async fn get(&self, index: &IndexName, id: TrialId) -> Result<Trial, Error> {
                (**self).get(index, id).await
            }
        }
    )*};
}
forward_journal!(Arc<T>, &T, Box<T>);
