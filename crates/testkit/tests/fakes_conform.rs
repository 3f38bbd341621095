//! The fakes obey the contracts they stand in for: the journal and promotion suites run
//! on `MemoryJournal` and `MemoryRegistry`, as on every real backend.

use std::sync::Arc;

use hnswtune_core::{PromotionRegistry, TrialJournal};
use hnswtune_testkit::conformance::{JournalBackend, PromotionBackend};
use hnswtune_testkit::fakes::{MemoryJournal, MemoryRegistry};

/// One in-memory journal; every handle is the same journal, as two processes on one
/// store see the same entries.
#[derive(Default)]
struct Journal(Arc<MemoryJournal>);

impl JournalBackend for Journal {
    fn open(&self) -> Arc<dyn TrialJournal> {
        self.0.clone()
    }
}

#[derive(Default)]
struct Registry(Arc<MemoryRegistry>);

impl PromotionBackend for Registry {
    fn open(&self) -> Arc<dyn PromotionRegistry> {
        self.0.clone()
    }
}

mod memory_journal {
    hnswtune_testkit::journal_conformance!(Some(super::Journal::default()));
}
mod memory_registry {
    hnswtune_testkit::promotion_conformance!(Some(super::Registry::default()));
}
