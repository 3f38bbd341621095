//! What the agent reports: per-trial study events for observers, and the ring of
//! recent agent events.

use chrono::{DateTime, Utc};
use hnswtune_core::{AbComparison, IndexName, Params, Promotion, Trial, TrialId};
use hnswtune_propose::Convergence;
use serde::Serialize;

use crate::rules::{KeepReason, PromoteRule};

/// One step of a trial cycle, as seen by an [`Observer`] (a CLI progress bar, the
/// agent's own status, a test).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StudyEvent {
    /// A trial was recorded as running and its build is starting.
    TrialStarted {
        /// The trial (state `Running`): index, params, trigger, proposer.
        trial: Box<Trial>,
        /// True when the agent chose the config itself because the index had no
        /// trials on its current data.
        seeded: bool,
    },
    /// A trial finished (complete with metrics, or failed) and was recorded.
    TrialFinished {
        /// The finished trial.
        trial: Box<Trial>,
    },
    /// The champion was measured again on the current data.
    ChampionRevalidated {
        /// The re-measurement, recorded as a trial with trigger `revalidation`.
        trial: Box<Trial>,
        /// True when its recall fell below the floor (or it could not be measured).
        regressed: bool,
    },
    /// A challenger became champion.
    Promoted {
        /// The new revision.
        promotion: Box<Promotion>,
        /// The rule that promoted it.
        rule: PromoteRule,
        /// The interleaved re-measurement it won, if one was needed.
        comparison: Option<AbComparison>,
    },
    /// A completed challenger was not promoted.
    NotPromoted {
        /// The challenger.
        trial_id: TrialId,
        /// The index.
        index: IndexName,
        /// Why.
        reason: KeepReason,
        /// The re-measurement, if one was run.
        comparison: Option<AbComparison>,
    },
    /// Another writer took the revision first; the agent re-reads and decides again.
    PromotionConflict {
        /// The index.
        index: IndexName,
        /// The revision that was taken.
        revision: u64,
    },
    /// The proposer has nothing left to try on the current data.
    Exhausted {
        /// The index.
        index: IndexName,
    },
    /// The study has converged: no untried config is expected to beat the champion by
    /// more than the measured noise. No trial ran; the index waits for new data or a
    /// Manual trigger.
    Converged {
        /// The index.
        index: IndexName,
        /// Why, with the figures.
        convergence: Box<Convergence>,
    },
    /// Another worker's lease lapsed (it stopped renewing: killed, or cut off) and this
    /// worker ended it: the trial is recorded as failed and its config is free again.
    LeaseExpired {
        /// The trial, now failed with reason "lease expired: ...".
        trial: Box<Trial>,
    },
    /// The proposed config is under another worker's live lease; the worker proposes
    /// again with that config counted as taken.
    ConfigTaken {
        /// The index.
        index: IndexName,
        /// The config.
        params: Params,
        /// The worker that holds it.
        holder: String,
    },
    /// This worker found its own live lease from before a restart and is running that
    /// trial again under the same id, instead of leaving it running forever.
    LeaseResumed {
        /// The trial (state `Running`).
        trial: Box<Trial>,
    },
    /// This worker's lease ended while it measured (it could not renew it in time and
    /// another worker expired it): its result is not recorded.
    LeaseLost {
        /// The result that was measured and dropped.
        trial: Box<Trial>,
    },
    /// A store call failed and will be retried after a backoff.
    StoreRetry {
        /// What was attempted.
        op: String,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// The error.
        error: String,
    },
}

/// Receives [`StudyEvent`]s as they happen. Implemented for closures.
///
/// Called on the runtime's thread between phases, never during a build; keep it
/// quick.
pub trait Observer: Send + Sync {
    /// Called once per event.
    fn on_event(&self, event: &StudyEvent);
}

impl<F: Fn(&StudyEvent) + Send + Sync> Observer for F {
    fn on_event(&self, event: &StudyEvent) {
        self(event)
    }
}

/// An observer that ignores everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {
    fn on_event(&self, _event: &StudyEvent) {}
}

/// The kinds of [`AgentEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// The loop started.
    Started,
    /// The loop ended after `stop`.
    Stopped,
    /// A trial completed with metrics.
    TrialCompleted,
    /// A trial failed (the evaluator returned an error); it is recorded as failed.
    TrialError,
    /// A challenger was promoted.
    Promoted,
    /// A completed challenger was not promoted (the detail says why).
    NotPromoted,
    /// Another writer promoted first; the agent re-decided.
    PromotionConflict,
    /// A trigger waits: the hourly budget is spent.
    SkippedRateLimit,
    /// A trigger waits: its index is cooling down.
    SkippedCooldown,
    /// The champion was re-measured on new data and still meets the floor.
    ChampionRevalidated,
    /// The champion's recall on new data is below the floor; the index is prioritised.
    ChampionRegressed,
    /// The proposer has nothing left to try for an index on its current data.
    Exhausted,
    /// An index's study converged; it waits for new data or a Manual trigger.
    Converged,
    /// Another worker's lapsed lease was ended by this agent.
    LeaseExpired,
    /// This agent's own lease ended before its trial finished; the result was dropped.
    LeaseLost,
    /// A journal or registry call failed and is being retried.
    StoreRetry,
    /// A journal or registry call failed for good; the cycle was abandoned.
    JournalError,
    /// Any other error that abandoned a cycle (dataset, proposer, registry).
    CycleError,
    /// A trigger was refused (queue full).
    TriggerDropped,
}

/// One entry of the agent's event ring: the "why did (or didn't) it do anything?"
/// record.
#[derive(Clone, Debug, Serialize)]
pub struct AgentEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub kind: EventKind,
    /// The index concerned, if any.
    pub index: Option<IndexName>,
    /// The trial concerned, if any.
    pub trial: Option<TrialId>,
    /// Human-readable details.
    pub detail: String,
}
