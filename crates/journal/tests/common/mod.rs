//! Backends for the conformance suites: ObjectStoreJournal and ObjectStorePromotions
//! over one store each.

#![allow(dead_code, reason = "each test target uses a different subset")]

use std::sync::Arc;

pub mod leases;

use async_trait::async_trait;
use hnswtune_core::{Error, IndexName, PromotionRegistry, TrialJournal};
use hnswtune_journal::object_store::{ObjectStore, PutMode, PutOptions, PutPayload};
use hnswtune_journal::{JournalOptions, ObjectStoreJournal, ObjectStorePromotions, StoreLocation};
use hnswtune_testkit::conformance::{JournalBackend, PromotionBackend, RawEntryWriter};

/// Entries per snapshot in tests: small, so that a few dozen entries cross several
/// segments.
pub const SNAPSHOT_EVERY: u64 = 4;
/// Entry size limit in tests.
pub const MAX_ENTRY_BYTES: u64 = 16 * 1024;

/// One fresh storage space: a store plus a prefix, and the tempdir that holds it.
pub struct Backend {
    pub store: Arc<dyn ObjectStore>,
    pub prefix: String,
    pub options: JournalOptions,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    pub fn new(location: StoreLocation, options: JournalOptions) -> Self {
        Backend {
            store: location.store,
            prefix: location.prefix,
            options,
            _dir: None,
        }
    }

    pub fn memory() -> Self {
        Backend::new(StoreLocation::in_memory(), test_options())
    }

    pub fn local(fsync: bool) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let location = StoreLocation::local(dir.path().join("journal"), fsync).expect("local");
        Backend {
            _dir: Some(dir),
            ..Backend::new(location, test_options())
        }
    }

    pub fn with_options(mut self, options: JournalOptions) -> Self {
        self.options = options;
        self
    }

    pub fn journal(&self) -> ObjectStoreJournal {
        ObjectStoreJournal::open(StoreLocation::new(self.store.clone(), self.prefix.clone()))
            .expect("valid prefix")
            .with_options(self.options.clone())
            .expect("valid options")
    }

    pub fn promotions(&self) -> ObjectStorePromotions {
        ObjectStorePromotions::open(StoreLocation::new(self.store.clone(), self.prefix.clone()))
            .expect("valid prefix")
    }
}

pub fn test_options() -> JournalOptions {
    JournalOptions::default()
        .with_snapshot_every(SNAPSHOT_EVERY)
        .with_max_entry_bytes(MAX_ENTRY_BYTES)
}

impl JournalBackend for Backend {
    fn open(&self) -> Arc<dyn TrialJournal> {
        Arc::new(self.journal())
    }

    fn raw(&self) -> Option<Arc<dyn RawEntryWriter>> {
        Some(Arc::new(RawWriter(Backend {
            store: self.store.clone(),
            prefix: self.prefix.clone(),
            options: self.options.clone(),
            _dir: None,
        })))
    }

    fn snapshot_every(&self) -> Option<usize> {
        (self.options.snapshot_every > 0).then_some(self.options.snapshot_every as usize)
    }

    fn max_entry_bytes(&self) -> Option<u64> {
        Some(self.options.max_entry_bytes)
    }
}

impl PromotionBackend for Backend {
    fn open(&self) -> Arc<dyn PromotionRegistry> {
        Arc::new(self.promotions())
    }
}

/// Writes raw bytes at the next entry key, as a crashed or foreign writer would.
struct RawWriter(Backend);

#[async_trait]
impl RawEntryWriter for RawWriter {
    async fn append_raw(&self, index: &IndexName, bytes: Vec<u8>) -> Result<(), Error> {
        // Entries are dense, so the number of entries read is the current head.
        let journal = self.0.journal();
        let head = journal.refresh(index).await?.entries as u64;
        let key = journal.entry_key(index, head + 1);
        journal
            .store()
            .put_opts(
                &key,
                PutPayload::from(bytes),
                PutOptions::from(PutMode::Create),
            )
            .await
            .map_err(|e| Error::Backend {
                op: format!("raw put {key}"),
                source: Box::new(e),
            })?;
        Ok(())
    }
}
