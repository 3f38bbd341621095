//! An in-memory promotion registry.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use hnswtune_core::{Error, IndexName, Promotion, PromotionRegistry};
use tokio::sync::Notify;

/// A [`PromotionRegistry`] held in memory. Writing a revision other than the next one
/// is a [`Error::Conflict`], exactly as a shared store would answer a second writer.
///
/// Share one registry between two agents with an `Arc` to test promotion races.
#[derive(Debug, Default)]
pub struct MemoryRegistry {
    chains: Mutex<BTreeMap<IndexName, Vec<Promotion>>>,
    hold: Mutex<Option<WriteHold>>,
    fail_writes: AtomicU64,
    contend_writes: AtomicU64,
    conflicts: AtomicU64,
}

/// Stops the next [`PromotionRegistry::write_revision`] before it writes, until the
/// test calls [`WriteHold::release`]. Obtained from [`MemoryRegistry::hold_next_write`].
#[derive(Clone, Debug, Default)]
pub struct WriteHold {
    reached: Arc<Notify>,
    released: Arc<Notify>,
}

impl WriteHold {
    /// Waits until a writer has reached the hold.
    pub async fn reached(&self) {
        self.reached.notified().await;
    }

    /// Lets the held writer go on.
    pub fn release(&self) {
        self.released.notify_one();
    }
}

impl MemoryRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` revision writes fail with a transient [`Error::Backend`].
    pub fn fail_next_writes(&self, n: u64) {
        self.fail_writes.store(n, Ordering::SeqCst);
    }

    /// Makes the next `n` revision writes answer [`Error::Conflict`], as if another
    /// writer had just taken each revision, without writing anything.
    pub fn contend_next_writes(&self, n: u64) {
        self.contend_writes.store(n, Ordering::SeqCst);
    }

    /// Holds the next write (whoever makes it) until the returned hold is released.
    pub fn hold_next_write(&self) -> WriteHold {
        let hold = WriteHold::default();
        *self.hold.lock().unwrap_or_else(|e| e.into_inner()) = Some(hold.clone());
        hold
    }

    /// Writes refused because the revision was taken.
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::SeqCst)
    }

    /// The current champion of `index`, without an async context.
    pub fn champion_of(&self, index: &IndexName) -> Option<Promotion> {
        self.chains().get(index).and_then(|c| c.last().cloned())
    }

    /// Every revision of `index`, without an async context.
    pub fn history_of(&self, index: &IndexName) -> Vec<Promotion> {
        self.chains().get(index).cloned().unwrap_or_default()
    }

    fn chains(&self) -> std::sync::MutexGuard<'_, BTreeMap<IndexName, Vec<Promotion>>> {
        self.chains.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl PromotionRegistry for MemoryRegistry {
    async fn history(&self, index: &IndexName) -> Result<Vec<Promotion>, Error> {
        Ok(self.chains().get(index).cloned().unwrap_or_default())
    }

    async fn write_revision(&self, promotion: &Promotion) -> Result<(), Error> {
        let hold = self.hold.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(hold) = hold {
            hold.reached.notify_one();
            hold.released.notified().await;
        }
        if super::journal::take_failure(&self.fail_writes) {
            return Err(super::injected(&format!(
                "write revision {} of {}",
                promotion.revision, promotion.index
            )));
        }
        let contended = super::journal::take_failure(&self.contend_writes);
        let mut chains = self.chains();
        let chain = chains.entry(promotion.index.clone()).or_default();
        let next = chain.len() as u64 + 1;
        if contended || promotion.revision != next {
            self.conflicts.fetch_add(1, Ordering::SeqCst);
            return Err(Error::Conflict {
                what: format!(
                    "revision {} of {} (the next free revision is {next})",
                    promotion.revision, promotion.index
                ),
            });
        }
        chain.push(promotion.clone());
        Ok(())
    }
}
