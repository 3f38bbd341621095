//! The data model and seam traits of hnswtune.
//!
//! hnswtune tunes HNSW indexes by running **trials**: each builds an index with a
//! candidate config, measures it, and records the result. This crate defines what a
//! trial is and the traits every other layer meets at:
//!
//! - [`Trial`], [`TrialMetrics`], [`TrialState`], [`TrialId`], [`DatasetFingerprint`]:
//!   the immutable record of one attempt.
//! - [`Params`] and [`SearchSpace`]: the config tried and the space it came from, each
//!   parameter marked build-time or search-time ([`Phase`]).
//! - [`Objective`]: the recall floor, budgets, the noise-aware
//!   [`Objective::beats`] rule, and [`pareto_front`].
//! - The seams: [`TrialJournal`] (append-only trial log), [`PromotionRegistry`]
//!   (champion chain per index), [`TrialLeases`] (one worker per config at a time)
//!   and [`Evaluator`] (config → metrics).
//! - [`Error`]: the one error type every seam returns.
//!
//! ## Where it sits
//!
//! Everything depends on this crate and it depends on nothing heavy: no tokio, no
//! object_store, no index library. `hnswtune-journal` implements the journal and the
//! registry on object_store, `hnswtune-harness` implements the evaluator on
//! instant-distance, `hnswtune-propose` chooses configs, and `hnswtune-agent` drives
//! them all through these traits.
//!
//! ## Why it is built this way
//!
//! Trials are data: proposals, rate limits and champions are all derived from the
//! journal, so the journal's record type is the contract between layers, and it
//! carries a schema version. The traits are object-safe and small so that a host can
//! swap any layer for its own.
//!
//! ## Feature flags
//!
//! None.
//!
//! ## Example
//!
//! ```
//! use hnswtune_core::{Objective, Params, SearchSpace, EF_CONSTRUCTION, EF_SEARCH};
//!
//! let space = SearchSpace::hnsw().with_heuristic()?;
//! let config = space.default_params().with(EF_SEARCH, 34);
//! space.validate(&config)?;
//! assert_eq!(space.build_key(&config).int(EF_CONSTRUCTION), Some(80));
//!
//! let objective = Objective::new(0.95)?;
//! assert_eq!(objective.min_recall, 0.95);
//! # Ok::<(), hnswtune_core::Error>(())
//! ```

mod blob;
mod error;
mod evaluator;
#[cfg(test)]
mod forwarding_tests;
mod id;
mod journal;
mod lease;
mod metrics;
mod name;
mod objective;
mod params;
mod promotion;
pub mod space;
mod space_error;
mod trial;

pub use blob::{BlobKey, BlobStore};
pub use error::{Error, Result};
pub use evaluator::{EvalRequest, Evaluation, Evaluator, compare_by_alternating};
pub use id::{TrialId, TrialIdMinter};
pub use journal::{JournalRead, ReadReport, SkippedEntry, TrialJournal, Trials};
pub use lease::{Claim, LEASE_EXPIRED, TrialLeases};
pub use metrics::{BuildKind, TrialMetrics};
pub use name::{INDEX_NAME_RULE, IndexName, MAX_INDEX_NAME_BYTES};
pub use objective::{
    AbComparison, Minimize, Objective, RECALL_TIE_EPSILON, dominates, median, pareto_front,
};
pub use params::{
    EF_CONSTRUCTION, EF_SEARCH, M, ML_MILLI, NEIGHBOUR_HEURISTIC, ParamValue, Params,
};
pub use promotion::{Promotion, PromotionKind, PromotionRegistry, PromotionRules};
pub use space::{ParamKind, ParamSpec, Phase, Scale, SearchSpace, SpaceError};
pub use trial::{DatasetFingerprint, Lease, SCHEMA_VERSION, Trial, TrialState, TriggerReason};
