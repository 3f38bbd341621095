//! The agent's error type.

use hnswtune_core::IndexName;

/// Everything the agent and [`crate::tune`] can report.
///
/// Match on the variant: `QueueFull` means "drop or retry later", `UnknownIndex` and
/// `InvalidConfig` mean "fix the call", `Store` and `Core` carry the seam's own error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// A configuration value was rejected before anything ran.
    #[error("invalid agent config {what}: {why}")]
    InvalidConfig {
        /// The setting.
        what: String,
        /// Why it was rejected.
        why: String,
    },
    /// A trigger named an index the agent does not manage.
    #[error("index {index} is not managed by this agent")]
    UnknownIndex {
        /// The index named.
        index: IndexName,
    },
    /// The trigger queue is full (the trigger was dropped, not queued).
    #[error("the trigger queue is full ({capacity} pending indexes)")]
    QueueFull {
        /// The queue's capacity.
        capacity: usize,
    },
    /// The agent is disabled by its config (`enabled = false`); nothing runs.
    #[error("the agent is disabled (agent.enabled = false)")]
    Disabled,
    /// The agent was stopped.
    #[error("the agent is stopped")]
    Stopped,
    /// The journal or the registry stayed unavailable (a transient error) through
    /// every attempt (for the journal: the trial state was not recorded).
    #[error("{op} failed after {attempts} attempts: {source}")]
    Store {
        /// What was attempted.
        op: String,
        /// How many times.
        attempts: u32,
        /// The last error.
        #[source]
        source: hnswtune_core::Error,
    },
    /// The evaluator thread panicked or was cancelled.
    #[error("the evaluator did not return: {why}")]
    EvaluatorLost {
        /// What happened to it.
        why: String,
    },
    /// A proposer failed.
    #[error(transparent)]
    Propose(#[from] hnswtune_propose::ProposeError),
    /// A seam (journal, registry, evaluator) returned an error.
    #[error(transparent)]
    Core(#[from] hnswtune_core::Error),
}

impl AgentError {
    pub(crate) fn config(what: impl Into<String>, why: impl Into<String>) -> Self {
        AgentError::InvalidConfig {
            what: what.into(),
            why: why.into(),
        }
    }
}
