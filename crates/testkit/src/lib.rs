//! Test support for hnswtune: fakes of the seam traits, fixtures, and the conformance
//! suites that every backend (including a host's own) runs.
//!
//! - [`fakes`]: [`fakes::MemoryJournal`] and [`fakes::MemoryRegistry`] with failure
//!   injection, [`fakes::FakeEvaluator`] (an analytic model of recall and latency, with
//!   a changeable dataset fingerprint and an optional gate to hold a build open), and
//!   [`fakes::ScriptedProposer`].
//! - [`conformance`]: the async test functions and the `journal_conformance!` /
//!   `promotion_conformance!` macros that every `TrialJournal` and
//!   `PromotionRegistry` backend runs, one line per backend, and
//!   `proposer_conformance!`, the contract every `Proposer` strategy runs.
//!
//! ## Where it sits
//!
//! Beside the layers, as a dev-dependency only; it is not published. It depends on
//! `hnswtune-core` and tokio, never on object_store or an index library, so a host can
//! run the conformance suites against its own backend.
//!
//! ## Why it is built this way
//!
//! The agent's rules (rate limits, cooldowns, promotion under noise, races) must be
//! tested with paused time and scripted failures, which real stores and real builds
//! cannot give deterministically.
//!
//! ## Feature flags
//!
//! None.
//!
//! ## Example
//!
//! ```
//! use hnswtune_core::{EvalRequest, Evaluator, IndexName, SearchSpace};
//! use hnswtune_testkit::fakes::FakeEvaluator;
//!
//! let evaluator = FakeEvaluator::new();
//! let index = IndexName::new("docs")?;
//! let request = EvalRequest {
//!     index: index.clone(),
//!     eval_set: "eval".into(),
//!     params: SearchSpace::hnsw().default_params(),
//!     seed: 1,
//!     deterministic: true,
//! };
//! let first = evaluator.evaluate(&request)?;
//! assert!((0.0..=1.0).contains(&first.metrics.recall));
//! assert_eq!(evaluator.evaluations(), 1);
//!
//! // Appending vectors changes the fingerprint the agent compares against.
//! let grown = evaluator.append_vectors(&index, 500);
//! assert_ne!(grown, first.dataset);
//! # Ok::<(), hnswtune_core::Error>(())
//! ```

pub mod conformance;
pub mod fakes;

/// Items the macros name, so that a caller does not need the crates in scope.
#[doc(hidden)]
pub mod __reexport {
    pub use hnswtune_propose::Proposer;
}
