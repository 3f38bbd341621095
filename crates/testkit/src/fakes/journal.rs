//! An in-memory trial journal.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use hnswtune_core::{Error, IndexName, JournalRead, ReadReport, Trial, TrialJournal};

/// A [`TrialJournal`] held in memory: every appended state is kept, reads fold by id
/// (latest state wins) and sort by id, as the trait requires.
#[derive(Debug, Default)]
pub struct MemoryJournal {
    entries: Mutex<Vec<Trial>>,
    fail_appends: AtomicU64,
    fail_reads: AtomicU64,
    appends: AtomicU64,
    failed_appends: AtomicU64,
    /// Entries of each index that earlier reads returned: a read reports only the
    /// entries after them as `fetched`, as a store-backed journal's incremental read
    /// does.
    read_upto: Mutex<HashMap<IndexName, usize>>,
}

impl MemoryJournal {
    /// An empty journal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` appends fail with a transient [`Error::Backend`].
    pub fn fail_next_appends(&self, n: u64) {
        self.fail_appends.store(n, Ordering::SeqCst);
    }

    /// Makes the next `n` reads fail with a transient [`Error::Backend`].
    pub fn fail_next_reads(&self, n: u64) {
        self.fail_reads.store(n, Ordering::SeqCst);
    }

    /// Appends that succeeded so far.
    pub fn appends(&self) -> u64 {
        self.appends.load(Ordering::SeqCst)
    }

    /// Appends refused by failure injection so far.
    pub fn failed_appends(&self) -> u64 {
        self.failed_appends.load(Ordering::SeqCst)
    }

    /// Every stored entry (each state change), in append order.
    pub fn entries(&self) -> Vec<Trial> {
        self.lock().clone()
    }

    /// The trials of `index` as [`TrialJournal::read`] returns them (folded by id,
    /// latest state wins, sorted by id), without an async context.
    pub fn trials_of(&self, index: &IndexName) -> Vec<Trial> {
        let mut folded = BTreeMap::new();
        for trial in self.lock().iter().filter(|t| &t.index == index) {
            folded.insert(trial.id, trial.clone());
        }
        folded.into_values().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Trial>> {
        // A panicking test thread must not hide the journal from the others.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Decrements `counter` if it is positive; true when a failure should be injected.
pub(crate) fn take_failure(counter: &AtomicU64) -> bool {
    counter
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

#[async_trait]
impl TrialJournal for MemoryJournal {
    async fn append(&self, trial: &Trial) -> Result<(), Error> {
        if take_failure(&self.fail_appends) {
            self.failed_appends.fetch_add(1, Ordering::SeqCst);
            return Err(super::injected(&format!("append trial {}", trial.id)));
        }
        trial.validate()?;
        self.lock().push(trial.clone());
        self.appends.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn read(&self, index: &IndexName) -> Result<JournalRead, Error> {
        if take_failure(&self.fail_reads) {
            return Err(super::injected(&format!("read trials of {index}")));
        }
        let count = self.lock().iter().filter(|t| &t.index == index).count();
        let seen = {
            let mut upto = self.read_upto.lock().unwrap_or_else(|e| e.into_inner());
            std::mem::replace(upto.entry(index.clone()).or_default(), count)
        };
        Ok(JournalRead {
            trials: self.trials_of(index).into(),
            report: ReadReport {
                entries: count,
                fetched: count.saturating_sub(seen),
                ..ReadReport::default()
            },
        })
    }

    async fn indexes(&self) -> Result<Vec<IndexName>, Error> {
        let mut names: Vec<IndexName> = self.lock().iter().map(|t| t.index.clone()).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
}
