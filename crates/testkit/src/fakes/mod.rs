//! In-memory fakes of the seam traits, for tests, doctests and benchmarks.
//!
//! - [`MemoryJournal`]: a [`TrialJournal`](hnswtune_core::TrialJournal) in a `Vec`, with
//!   failure injection ([`MemoryJournal::fail_next_appends`]).
//! - [`MemoryRegistry`]: a [`PromotionRegistry`](hnswtune_core::PromotionRegistry) with
//!   revision-checked writes (share it between two agents through an `Arc` to race them),
//!   failure injection, and [`MemoryRegistry::hold_next_write`] to stop a writer at the
//!   moment of writing so that a test can order a race deterministically.
//! - [`FakeEvaluator`]: an [`Evaluator`](hnswtune_core::Evaluator) whose metrics are a
//!   function of the params ([`analytic_metrics`] by default), with a changeable dataset
//!   fingerprint (to simulate appended data), failure injection, an optional real delay
//!   (for benchmarks) and an [`EvalGate`] that blocks evaluations until a test opens it
//!   (to simulate a long build without sleeping).
//! - [`MemoryBlobs`]: a [`BlobStore`](hnswtune_core::BlobStore) in a map, for the
//!   harness's eval sets and ground truth.
//! - [`ScriptedProposer`]: a [`Proposer`](hnswtune_propose::Proposer) that proposes the
//!   first config of a fixed list that is not yet in the history.
//!
//! The fakes follow the traits' contracts (the journal folds by id, the registry refuses
//! a taken revision), so a test that passes against them tests the caller, not the fake.

mod blobs;
mod evaluator;
mod journal;
mod proposer;
mod registry;

pub use blobs::MemoryBlobs;
pub use evaluator::{EvalGate, FakeEvaluator, analytic_metrics, fingerprint};
pub use journal::MemoryJournal;
pub use proposer::ScriptedProposer;
pub use registry::{MemoryRegistry, WriteHold};

/// The error the fakes inject: a transient backend failure, as a real store would give.
pub(crate) fn injected(op: &str) -> hnswtune_core::Error {
    hnswtune_core::Error::Backend {
        op: op.to_owned(),
        source: Box::new(std::io::Error::other("injected failure")),
    }
}
