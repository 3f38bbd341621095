//! What the agent is told: the `[agent]` table and the settings of each index.

use std::sync::Arc;
use std::time::Duration;

use hnswtune_core::{Evaluator, IndexName, Objective, Params, SearchSpace};
use hnswtune_propose::Proposer;
use serde::{Deserialize, Serialize};

use crate::AgentError;

/// The agent's runtime configuration, meant to be embedded by a host as an `[agent]`
/// table. Every field has a default (the seed's), so an empty table is valid.
///
/// ```
/// let config: hnswtune_agent::AgentConfig = serde_json::from_str(r#"{"enabled": true}"#)?;
/// assert_eq!(config.max_trials_per_hour, 30);
/// config.validate()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    /// Master switch. When false, [`crate::spawn`] returns a handle whose loop does not
    /// run and whose `enqueue` answers [`AgentError::Disabled`].
    pub enabled: bool,
    /// Seconds between periodic wake-ups; each wake-up queues the next index in
    /// round-robin order. Must be at least 1.
    pub cycle_interval_secs: u64,
    /// Minimum seconds between the end of one trial and the start of the next **on the
    /// same index**. Other indexes are not held back. 0 disables the cooldown.
    pub cooldown_between_trials_secs: u64,
    /// The agent-wide recall floor, in (0, 1]. Each index's objective floor is raised to
    /// it if lower; a trial below it is never promoted.
    pub min_recall: f64,
    /// Hard ceiling on trials (builds) this agent starts per rolling hour, across all
    /// its indexes, counted from the journal. Must be at least 1.
    pub max_trials_per_hour: u32,
    /// How many indexes may have a trigger pending. Triggers for an index already
    /// pending coalesce, so this bounds distinct indexes, not calls.
    pub queue_capacity: usize,
    /// How many recent events [`crate::AgentHandle::events`] keeps.
    pub event_capacity: usize,
    /// Repeats of each side in the champion/challenger A/B comparison.
    pub ab_repeats: usize,
    /// Attempts at each journal or registry call before the error is surfaced.
    pub store_attempts: u32,
    /// Backoff before the second attempt, in milliseconds; it doubles each attempt.
    pub store_backoff_ms: u64,
    /// Who this agent is: recorded as each trial's `worker` and each promotion's
    /// `promoted_by`, and used to count its own trials for the hourly budget.
    pub agent_id: String,
    /// How long a lease lasts unless renewed, in seconds, when the backends have
    /// [`TrialLeases`](hnswtune_core::TrialLeases); the holder renews it every third
    /// of that. A worker killed mid-trial holds its config this long at most.
    pub lease_secs: u64,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            enabled: false,
            cycle_interval_secs: 60,
            cooldown_between_trials_secs: 30,
            min_recall: 0.9,
            max_trials_per_hour: 30,
            queue_capacity: 256,
            event_capacity: 128,
            ab_repeats: 5,
            store_attempts: 4,
            store_backoff_ms: 250,
            agent_id: "hnswtune-agent".into(),
            lease_secs: 60,
        }
    }
}

impl AgentConfig {
    /// Checks every field's range; the error names the field.
    pub fn validate(&self) -> Result<(), AgentError> {
        if self.cycle_interval_secs == 0 {
            return Err(AgentError::config(
                "cycle_interval_secs",
                "must be at least 1 second",
            ));
        }
        if !(self.min_recall > 0.0 && self.min_recall <= 1.0) {
            return Err(AgentError::config(
                "min_recall",
                format!("{} is outside (0, 1]", self.min_recall),
            ));
        }
        if self.max_trials_per_hour == 0 {
            return Err(AgentError::config(
                "max_trials_per_hour",
                "must be at least 1 (disable the agent with enabled = false instead)",
            ));
        }
        for (what, value) in [
            ("queue_capacity", self.queue_capacity),
            ("event_capacity", self.event_capacity),
            ("ab_repeats", self.ab_repeats),
            ("store_attempts", self.store_attempts as usize),
        ] {
            if value == 0 {
                return Err(AgentError::config(what, "must be at least 1"));
            }
        }
        if self.lease_secs < 3 {
            return Err(AgentError::config(
                "lease_secs",
                "must be at least 3 seconds (the holder renews every third of it)",
            ));
        }
        if self.agent_id.trim().is_empty() {
            return Err(AgentError::config("agent_id", "must not be empty"));
        }
        Ok(())
    }

    /// [`Self::cycle_interval_secs`] as a duration.
    pub fn cycle_interval(&self) -> Duration {
        Duration::from_secs(self.cycle_interval_secs)
    }

    /// How long a lease lasts ([`Self::lease_secs`]).
    pub fn lease(&self) -> Duration {
        Duration::from_secs(self.lease_secs)
    }

    /// How often a holder renews its lease: a third of [`Self::lease_secs`].
    pub fn heartbeat(&self) -> Duration {
        Duration::from_secs(self.lease_secs / 3)
    }

    /// [`Self::cooldown_between_trials_secs`] as a duration.
    pub fn cooldown(&self) -> Duration {
        Duration::from_secs(self.cooldown_between_trials_secs)
    }

    /// `objective` with its recall floor raised to [`Self::min_recall`].
    pub fn effective_objective(&self, objective: &Objective) -> Objective {
        Objective {
            min_recall: objective.min_recall.max(self.min_recall),
            ..objective.clone()
        }
    }
}

/// Everything the agent needs to tune one index, stated explicitly: nothing is taken
/// from "whichever the latest trial used".
#[derive(Clone, Debug)]
pub struct IndexSettings {
    /// The index.
    pub index: IndexName,
    /// The eval set every trial of this index measures against.
    pub eval_set: String,
    /// The space proposals come from.
    pub space: SearchSpace,
    /// What "better" means (its floor is raised to the agent's `min_recall`).
    pub objective: Objective,
    /// Chooses the next config.
    pub proposer: Arc<dyn Proposer>,
    /// The first config of an index with no trials on its current data; `None` means
    /// the space's defaults.
    pub initial_params: Option<Params>,
    /// The build seed recorded in each trial.
    pub build_seed: u64,
    /// Build single-threaded so that results are reproducible. The default (true)
    /// suits an embedded agent, which shares the host's cores; the CLI's `tune` builds
    /// on every core unless `--deterministic` is given.
    pub deterministic: bool,
    /// Stop when the proposer says the study has converged
    /// ([`Proposer::convergence`](hnswtune_propose::Proposer::convergence)): a study
    /// ends, and the agent leaves the index alone until its data changes or a Manual
    /// trigger arrives. Default true.
    pub stop_when_converged: bool,
}

impl IndexSettings {
    /// Settings with the seed's HNSW space, the default objective, seed 0 and
    /// deterministic builds.
    pub fn new(index: IndexName, eval_set: impl Into<String>, proposer: Arc<dyn Proposer>) -> Self {
        IndexSettings {
            index,
            eval_set: eval_set.into(),
            space: SearchSpace::hnsw(),
            objective: Objective::default(),
            proposer,
            initial_params: None,
            build_seed: 0,
            deterministic: true,
            stop_when_converged: true,
        }
    }

    /// The same settings with `space`.
    pub fn with_space(mut self, space: SearchSpace) -> Self {
        self.space = space;
        self
    }

    /// The same settings with the space `evaluator` reads, when it states one (the
    /// harness's evaluator derives it from its backend: usearch adds `m`); otherwise
    /// unchanged.
    pub fn with_space_of(mut self, evaluator: &dyn Evaluator) -> Self {
        if let Some(space) = evaluator.search_space() {
            self.space = space;
        }
        self
    }

    /// Checks that every parameter of this index's space is one `evaluator` reads, so
    /// that a space the backend cannot build is refused before the first trial rather
    /// than failing every trial. Evaluators that state no space are not checked.
    pub fn check_against(&self, evaluator: &dyn Evaluator) -> Result<(), AgentError> {
        let Some(names) = evaluator.parameter_names() else {
            return Ok(());
        };
        for spec in self.space.specs() {
            if !names.contains(&spec.name) {
                return Err(AgentError::config(
                    format!("{}.space", self.index),
                    format!(
                        "the evaluator does not read `{}` (it reads {}); build the space with `with_space_of`",
                        spec.name,
                        names.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The same settings with `objective`.
    pub fn with_objective(mut self, objective: Objective) -> Self {
        self.objective = objective;
        self
    }

    /// The same settings with an explicit first config.
    pub fn with_initial_params(mut self, params: Params) -> Self {
        self.initial_params = Some(params);
        self
    }

    /// Checks the objective and that the first config lies in the space.
    pub fn validate(&self) -> Result<(), AgentError> {
        self.objective.validate()?;
        let first = self
            .initial_params
            .clone()
            .unwrap_or_else(|| self.space.default_params());
        self.space.validate(&first).map_err(|e| {
            AgentError::config(format!("{}.initial_params", self.index), e.to_string())
        })?;
        if self.eval_set.is_empty() {
            return Err(AgentError::config(
                format!("{}.eval_set", self.index),
                "must not be empty",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hnswtune_core::{DatasetFingerprint, Error, EvalRequest, Evaluation, M, ParamSpec, Phase};

    /// An evaluator that states a space and measures nothing.
    #[derive(Debug)]
    struct Stated(Option<SearchSpace>);

    impl Evaluator for Stated {
        fn dataset(&self, index: &IndexName) -> Result<DatasetFingerprint, Error> {
            Err(Error::NotFound {
                what: format!("data of {index}"),
            })
        }
        fn evaluate(&self, request: &EvalRequest) -> Result<Evaluation, Error> {
            Err(Error::NotFound {
                what: format!("data of {}", request.index),
            })
        }
        fn search_space(&self) -> Option<SearchSpace> {
            self.0.clone()
        }
    }

    fn settings() -> IndexSettings {
        IndexSettings::new(
            IndexName::new("docs").unwrap(),
            "eval",
            Arc::new(hnswtune_propose::Random::seeded(1)),
        )
    }

    #[test]
    fn the_space_is_checked_against_what_the_evaluator_reads() {
        let with_m = SearchSpace::hnsw()
            .with_param(ParamSpec::levels(M, vec![8, 16, 32, 64], Phase::Build).with_default(32))
            .unwrap();
        // A backend that tunes M (usearch) accepts the plain HNSW space and offers its own.
        let usearch_like = Stated(Some(with_m.clone()));
        settings().check_against(&usearch_like).unwrap();
        let adopted = settings().with_space_of(&usearch_like);
        assert_eq!(adopted.space, with_m);
        adopted.check_against(&usearch_like).unwrap();

        // A backend without M (instant-distance) refuses a space that tunes it.
        let instant_like = Stated(Some(SearchSpace::hnsw()));
        let err = adopted
            .check_against(&instant_like)
            .unwrap_err()
            .to_string();
        assert!(err.contains("docs.space") && err.contains("`m`"), "{err}");

        // An evaluator that states no space is not checked and changes nothing.
        adopted.check_against(&Stated(None)).unwrap();
        assert_eq!(
            settings().with_space_of(&Stated(None)).space,
            SearchSpace::hnsw()
        );
    }

    #[test]
    fn defaults_are_the_seeds_and_validate() {
        let c = AgentConfig::default();
        assert!(!c.enabled);
        assert_eq!(c.cycle_interval_secs, 60);
        assert_eq!(c.cooldown_between_trials_secs, 30);
        assert_eq!(c.min_recall, 0.9);
        assert_eq!(c.max_trials_per_hour, 30);
        c.validate().unwrap();
        let parsed: AgentConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, c);
    }

    #[test]
    fn bad_values_are_typed_errors() {
        let bad = [
            AgentConfig {
                cycle_interval_secs: 0,
                ..AgentConfig::default()
            },
            AgentConfig {
                min_recall: 0.0,
                ..AgentConfig::default()
            },
            AgentConfig {
                min_recall: 1.5,
                ..AgentConfig::default()
            },
            AgentConfig {
                min_recall: f64::NAN,
                ..AgentConfig::default()
            },
            AgentConfig {
                max_trials_per_hour: 0,
                ..AgentConfig::default()
            },
            AgentConfig {
                queue_capacity: 0,
                ..AgentConfig::default()
            },
        ];
        for config in bad {
            assert!(matches!(
                config.validate(),
                Err(AgentError::InvalidConfig { .. })
            ));
        }
        assert!(serde_json::from_str::<AgentConfig>(r#"{"cycle_secs": 5}"#).is_err());
    }

    #[test]
    fn the_agent_floor_raises_a_lower_objective_floor() {
        let c = AgentConfig::default();
        let raised = c.effective_objective(&Objective::new(0.5).unwrap());
        assert_eq!(raised.min_recall, 0.9);
        let kept = c.effective_objective(&Objective::new(0.97).unwrap());
        assert_eq!(kept.min_recall, 0.97);
    }
}
