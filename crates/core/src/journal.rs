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

/// The trials of one index, folded by id (latest state wins) and sorted by id, that is
/// by creation time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JournalRead {
    /// The trials.
    pub trials: Vec<Trial>,
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
    async fn trials(&self, index: &IndexName) -> Result<Vec<Trial>, Error> {
        Ok(self.read(index).await?.trials)
    }

    /// One trial by id.
    async fn get(&self, index: &IndexName, id: TrialId) -> Result<Trial, Error> {
        self.trials(index)
            .await?
            .into_iter()
            .find(|t| t.id == id)
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
        }
    )*};
}
forward_journal!(Arc<T>, &T, Box<T>);
