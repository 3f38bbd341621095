//! hnswtune tunes HNSW vector indexes automatically and keeps them tuned.
//!
//! It runs **trials**: each builds an index with a candidate config, measures recall@k
//! against exact ground truth with latency percentiles, build time and size, and
//! records the result in an append-only journal. A proposer picks the next config from
//! that history, a promotion registry names the champion per index, and an agent runs
//! all of it continuously inside a host service.
//!
//! This crate is the facade: it re-exports the layers as modules, each behind a feature
//! of the same name, and offers a [`prelude`].
//!
//! | module | crate | what it holds |
//! |---|---|---|
//! | [`core`] | `hnswtune-core` | `Trial`, `SearchSpace`, `Objective`, the seam traits |
//! | `journal` | `hnswtune-journal` | `ObjectStoreJournal`, `ObjectStorePromotions` |
//! | `propose` | `hnswtune-propose` | `Frontier`, `Grid`, `Annealing`, `EpsilonGreedy`, `Random` |
//! | `harness` | `hnswtune-harness` | `HnswEvaluator`, `IndexBackend`, loaders, ground truth |
//! | `agent` | `hnswtune-agent` | `spawn`, `AgentHandle`, `tune` |
//! | `http` | `hnswtune-http` | `Api`: the HTTP routes and the dashboard as an axum `Router` |
//!
//! ## Where it sits
//!
//! On top of everything; it adds no code of its own beyond the prelude.
//!
//! ## Why it is built this way
//!
//! A host that only wants proposals enables `propose` and pulls in neither tokio nor
//! object_store; a service that runs the agent enables the default set.
//!
//! ## Feature flags
//!
//! - `core` (always on in practice), `journal`, `propose`, `harness`, `agent`:
//!   default.
//! - `s3`: S3 and S3-compatible journals (`s3://bucket/prefix`).
//! - `usearch`: the harness's second backend, `harness::backend::usearch::Usearch`
//!   (tunable `M`, run-time `ef_search`, incremental insert); builds a C++ core with the
//!   system compiler.
//! - `http`: the HTTP routes and the live dashboard, `http::Api` (pulls in axum).
//! - `full`: all of the above.
//!
//! ## Example
//!
//! ```
//! # #[cfg(feature = "propose")]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use hnswtune::prelude::*;
//!
//! let space = SearchSpace::hnsw();
//! let objective = Objective::new(0.95)?;
//! let proposer = hnswtune::propose::Frontier::seeded(42);
//! let ctx = ProposalContext { space: &space, history: &[], champion: None, objective: &objective };
//! let first = proposer.propose(&ctx)?.expect("an empty history leaves the space open");
//! assert!(space.contains(&first));
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "propose"))]
//! # fn main() {}
//! ```

pub use hnswtune_core as core;

#[cfg(feature = "agent")]
pub use hnswtune_agent as agent;
#[cfg(feature = "harness")]
pub use hnswtune_harness as harness;
#[cfg(feature = "http")]
pub use hnswtune_http as http;
#[cfg(feature = "journal")]
pub use hnswtune_journal as journal;
#[cfg(feature = "propose")]
pub use hnswtune_propose as propose;

/// The traits and types most programs use, in one import.
pub mod prelude {
    pub use hnswtune_core::{
        DatasetFingerprint, EF_CONSTRUCTION, EF_SEARCH, EvalRequest, Evaluation, Evaluator,
        IndexName, Objective, Params, PromotionRegistry, PromotionRules, SearchSpace, Trial,
        TrialJournal, TrialMetrics, pareto_front,
    };

    #[cfg(feature = "agent")]
    pub use hnswtune_agent::{AgentConfig, AgentHandle, IndexSettings, TriggerEvent, spawn, tune};
    #[cfg(feature = "harness")]
    pub use hnswtune_harness::{HnswEvaluator, IndexBackend, Metric, Vectors};
    #[cfg(feature = "journal")]
    pub use hnswtune_journal::{ObjectStoreJournal, ObjectStorePromotions, StoreLocation};
    #[cfg(feature = "propose")]
    pub use hnswtune_propose::{ProposalContext, Proposer};
}

/// The README's code blocks, compiled and run as doctests.
#[cfg(all(doctest, feature = "agent", feature = "harness", feature = "journal"))]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// docs/operations.md's code blocks, compiled and run as doctests.
#[cfg(all(doctest, feature = "agent", feature = "harness", feature = "journal"))]
#[doc = include_str!("../../../docs/operations.md")]
pub struct OperationsDoctests;
