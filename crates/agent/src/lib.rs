//! The hnswtune agent: keeps HNSW indexes tuned while the service that hosts them runs.
//!
//! - [`spawn`] starts the long-running loop and returns an [`AgentHandle`]:
//!   [`AgentHandle::enqueue`] a [`TriggerEvent`] (data appended, manual, periodic),
//!   read [`AgentHandle::status`] and [`AgentHandle::events`], and
//!   [`AgentHandle::stop`] it gracefully.
//! - [`tune`] is the synchronous study: up to N trials on one index now, with an
//!   [`Observer`] hook, returning a [`StudyReport`] (champion, Pareto front, trials).
//! - [`AgentConfig`] is the host's `[agent]` table; [`IndexSettings`] states each
//!   index's eval set, search space, objective and proposer explicitly;
//!   [`Backends`] holds the journal, registry, evaluator and [`WallClock`].
//! - [`rules`] holds the promotion rules as pure functions; [`AgentError`] is the one
//!   error type.
//!
//! ## Where it sits
//!
//! The agent depends only on the core's seam traits
//! ([`TrialJournal`](hnswtune_core::TrialJournal),
//! [`PromotionRegistry`](hnswtune_core::PromotionRegistry),
//! [`Evaluator`](hnswtune_core::Evaluator)) and on
//! [`Proposer`](hnswtune_propose::Proposer); it never sees object_store or an index
//! library. `hnswtune-journal` and `hnswtune-harness` provide the real implementations,
//! `hnswtune-testkit` the fakes, and the CLI builds on [`tune`].
//!
//! ## Why it is built this way
//!
//! - **Trials are data.** Every cycle reads the index's journal, and the hourly budget
//!   is counted from this agent's own trials in it (by `created_at`), so any cap is
//!   enforced and a restart does not reset it.
//! - **One trial at a time, off the runtime's threads.** Builds run on tokio's blocking
//!   pool, so `status` and `enqueue` answer in microseconds during a one-minute build.
//! - **Fair scheduling.** Triggers coalesce per index; a per-index cooldown holds back
//!   only the index that just ran; periodic wake-ups visit indexes round-robin; an
//!   index whose champion regressed jumps the queue. An index with no trials on its
//!   current data is seeded by the agent (its `initial_params` or the space defaults).
//! - **Honest promotion** ([`rules`]): the recall floor is never waived, comparisons
//!   use only trials measured on the same data fingerprint, and champion and
//!   challenger are re-measured interleaved before a promotion, which needs a gain
//!   outside the measured noise. A lost promotion race is re-read and re-decided.
//! - **Nothing is swallowed.** Store calls are retried with backoff; what still fails
//!   becomes an event and `status().last_error`, and a failed evaluation is recorded as
//!   a failed trial.
//!
//! `tracing` spans: `agent` › `cycle` (index, trigger, fingerprint, history,
//! champion_revision) › `propose`, `trial` (trial id, params, recall, p50_us,
//! build_secs) › `record` / `evaluate`, and `promote` › `compare`.
//!
//! ## Feature flags
//!
//! None.
//!
//! ## Example
//!
//! A study of three configs on the testkit's fakes; the one with a recall above the
//! floor and the lowest latency wins.
//!
//! ```
//! use std::sync::Arc;
//! use hnswtune_agent::{tune, AgentConfig, Backends, IndexSettings, NoObserver, StudyBudget};
//! use hnswtune_core::{IndexName, Params, EF_CONSTRUCTION, EF_SEARCH};
//! use hnswtune_testkit::fakes::{FakeEvaluator, MemoryJournal, MemoryRegistry, ScriptedProposer};
//!
//! let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
//! let report = runtime.block_on(async {
//!     let backends = Backends::new(
//!         Arc::new(MemoryJournal::new()),
//!         Arc::new(MemoryRegistry::new()),
//!         Arc::new(FakeEvaluator::new()),
//!     );
//!     let config = |ef_search| Params::new().with(EF_CONSTRUCTION, 120).with(EF_SEARCH, ef_search);
//!     let proposer = ScriptedProposer::new(vec![config(21), config(121), config(85)]);
//!     let settings = IndexSettings::new(IndexName::new("docs")?, "eval", Arc::new(proposer))
//!         .with_initial_params(config(200));
//!     tune(&AgentConfig::default(), &backends, &settings, StudyBudget::trials(4), &NoObserver).await
//! })?;
//! assert_eq!(report.trials.len(), 4);
//! let champion = report.champion.expect("a feasible config was found");
//! assert_eq!(champion.params.int(EF_SEARCH), Some(85));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod agent;
mod clock;
mod config;
mod engine;
mod error;
mod event;
mod queue;
pub mod rules;
mod study;

/// The guide in `docs/agent.md`, compiled so that its example keeps working.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/agent.md")]
mod guide {}

pub use agent::{AgentDeps, AgentHandle, AgentStatus, CurrentTrial, LastError, spawn};
pub use clock::WallClock;
pub use config::{AgentConfig, IndexSettings};
pub use engine::Backends;
pub use error::AgentError;
pub use event::{AgentEvent, EventKind, NoObserver, Observer, StudyEvent};
pub use queue::{Enqueued, TriggerEvent};
pub use study::{StudyBudget, StudyEnd, StudyReport, tune};
