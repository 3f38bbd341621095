//! The hnswtune trial journal and promotion registry, on any `object_store` backend.
//!
//! - [`ObjectStoreJournal`] implements [`TrialJournal`](hnswtune_core::TrialJournal):
//!   the append-only log of trials, the agent's memory.
//! - [`ObjectStorePromotions`] implements
//!   [`PromotionRegistry`](hnswtune_core::PromotionRegistry): the champion chain of
//!   each index.
//! - It also implements [`TrialLeases`](hnswtune_core::TrialLeases): a worker's
//!   claim on a config is a create-only object, so several workers share one study
//!   without evaluating a config twice at once (the `leases` module).
//! - [`StoreLocation`] says where both live: in memory, in a local directory (the
//!   default, with optional fsync), or on S3 and S3-compatible servers.
//! - [`JournalOptions`] tunes snapshots, size limits and read concurrency.
//!
//! ## Where it sits
//!
//! This crate owns the `object_store` dependency; nothing else in the workspace
//! touches storage. It depends only on `hnswtune-core`, whose seam traits it
//! implements, and every error it returns is a [`hnswtune_core::Error`]: a lost race
//! is `Conflict`, a missing object `NotFound`, an unreachable store `Backend`. The
//! agent and the CLI hold it as `Arc<dyn TrialJournal>` and never see a key.
//!
//! ## Why it is built this way
//!
//! Trials are data, so the journal must never lose or tear one, on one machine or on
//! shared storage, without locks or a database. object_store offers one primitive that
//! works alike on every backend: create a key only if it does not exist
//! (`PutMode::Create`; compare-and-swap is missing on local disk). So nothing is ever
//! rewritten:
//!
//! - each journal entry (one state of one trial) is its own object, at a **dense
//!   sequence number** claimed with `Create`; two writers racing for a number get one
//!   winner, and the loser moves on to the next. The zero-padded numbers sort in
//!   append order, and because they are dense a reader goes on from where it stopped
//!   by asking for the next numbers, without listing: an incremental read costs one
//!   request per new entry plus one, whatever the length of the history;
//! - every N entries (1000 by default) a **snapshot segment** folds those entries; a
//!   cold load reads the chain of segments in parallel and then the few entries after
//!   it. A segment covers a range that was complete when it was written and entries
//!   are immutable, so no concurrent writer can make it stale;
//! - a promotion is a **revision** created with `Create`; revision `r` needs `r - 1`,
//!   so the chain stays linear and losing a race is a typed conflict.
//!
//! An entry that cannot be decoded (invalid JSON, an unknown schema version, a
//! truncated object) or that is over [`JournalOptions::max_entry_bytes`] (checked from
//! the object's metadata, before its body is read) is skipped, logged through
//! `tracing` with its key, and listed in the read's
//! [`ReadReport`](hnswtune_core::ReadReport). It is never fatal.
//!
//! The key layout is documented in one place, the `keys` module:
//! `trials/<index>/entries/<seq>.json`,
//! `trials/<index>/snapshots/<from>-<to>.json` and `promotions/<index>/<revision>.json`.
//! docs/journal.md and docs/decisions/ give the reasoning and the measurements.
//!
//! ## Feature flags
//!
//! - `s3` (default): `s3://bucket/prefix` locations through object_store's `aws`
//!   backend. Without it, the local and in-memory stores remain, and any other
//!   `Arc<dyn ObjectStore>` can still be passed in.
//!
//! ## Example
//!
//! ```
//! use hnswtune_core::{DatasetFingerprint, IndexName, Params, Trial, TrialJournal, TriggerReason};
//! use hnswtune_journal::ObjectStoreJournal;
//!
//! # fn main() -> Result<(), hnswtune_core::Error> {
//! let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
//! runtime.block_on(async {
//!     let journal = ObjectStoreJournal::in_memory();
//!     let index = IndexName::new("products")?;
//!     let dataset = DatasetFingerprint { vector_count: 1000, dimension: 64, content_hash: "ab12".into() };
//!     let trial = Trial::start(index.clone(), "eval", Params::new(), dataset, TriggerReason::Manual);
//!     journal.append(&trial).await?;
//!     journal.append(&trial.clone().fail("out of memory")).await?;
//!
//!     let read = journal.read(&index).await?;
//!     assert_eq!(read.trials.len(), 1, "two states of one trial fold into one");
//!     assert!(!read.trials[0].is_complete());
//!     assert_eq!(read.report.entries, 2);
//!     assert_eq!(journal.indexes().await?, vec![index]);
//!     Ok(())
//! })
//! # }
//! ```

mod blobs;
mod error;
mod journal;
mod keys;
mod leases;
mod location;
mod promotions;
mod snapshot;

pub use blobs::ObjectStoreBlobs;
pub use journal::{JournalOptions, ObjectStoreJournal};
pub use location::{LocationError, StoreLocation, StoreUrl};
pub use promotions::{MAX_PROMOTION_BYTES, ObjectStorePromotions};

/// The object_store crate this crate is built on, re-exported so that hosts can name
/// `ObjectStore` and build their own stores without a version mismatch.
pub use object_store;
