//! The synchronous study: tune one index now, without the loop.

use std::time::Duration;

use hnswtune_core::{DatasetFingerprint, IndexName, Promotion, Trial, TriggerReason, pareto_front};
use hnswtune_propose::Convergence;
use serde::Serialize;
use tracing::{Instrument, info_span};

use crate::engine::{Engine, Outcome, blocking};
use crate::{AgentConfig, AgentError, Backends, IndexSettings, Observer};

/// How much a study may do: trials, wall time, or both (whichever ends first).
///
/// ```
/// use std::time::Duration;
/// use hnswtune_agent::StudyBudget;
/// let both = StudyBudget::trials(30).with_time(Duration::from_secs(900));
/// assert_eq!(both.max_trials, 30);
/// assert_eq!(StudyBudget::time(Duration::from_secs(60)).max_trials, usize::MAX);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StudyBudget {
    /// The most trials to run, including a champion re-measurement when the data
    /// changed since the champion was measured.
    pub max_trials: usize,
    /// No trial starts once this much wall time has passed since the study began; the
    /// trial running then finishes and is recorded.
    pub max_time: Option<Duration>,
}

impl StudyBudget {
    /// At most `max_trials` trials.
    pub fn trials(max_trials: usize) -> Self {
        StudyBudget {
            max_trials,
            max_time: None,
        }
    }

    /// As many trials as start within `max_time`.
    pub fn time(max_time: Duration) -> Self {
        StudyBudget {
            max_trials: usize::MAX,
            max_time: Some(max_time),
        }
    }

    /// The same budget, also bounded by `max_time`.
    pub fn with_time(mut self, max_time: Duration) -> Self {
        self.max_time = Some(max_time);
        self
    }
}

/// Why a study ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum StudyEnd {
    /// `max_trials` trials ran.
    Trials,
    /// `max_time` passed.
    Time,
    /// The study converged ([`StudyReport::converged`] says why).
    Converged,
    /// The proposer had nothing left to try.
    Exhausted,
}

/// What a study did and where the index stands afterwards.
#[derive(Clone, Debug, Serialize)]
pub struct StudyReport {
    /// The index.
    pub index: IndexName,
    /// The data the study measured.
    pub dataset: DatasetFingerprint,
    /// The trials this study ran, in order (failed ones included).
    pub trials: Vec<Trial>,
    /// The promotions this study made.
    pub promotions: Vec<Promotion>,
    /// The champion after the study.
    pub champion: Option<Promotion>,
    /// The Pareto front (recall ↑, p50 ↓, bytes ↓, build ↓) of every completed trial
    /// on the current data, this study's and earlier ones.
    pub pareto_front: Vec<Trial>,
    /// True when the proposer ran out of configs before the budget did.
    pub exhausted: bool,
    /// Set when the study ended because it converged: no untried config is expected
    /// to beat the champion by more than the measured noise.
    pub converged: Option<Convergence>,
    /// Why the study ended.
    pub ended: StudyEnd,
}

/// Runs trials on one index now, until the budget (trials or wall time) is spent, the
/// study converges ([`IndexSettings::stop_when_converged`]) or the proposer is exhausted, promoting exactly as the
/// agent loop would (same floor, same interleaved re-measurement, same noise rule,
/// same race handling), and reports the champion and the Pareto front.
///
/// Each trial is recorded with trigger [`TriggerReason::Study`]. The agent's hourly
/// cap and cooldown do not apply: a study is asked for explicitly and bounded by its
/// own budget. `config.enabled` is ignored. `observer` sees every step (trial started
/// with its params, finished with its metrics, promoted or not, and why): a CLI draws
/// its progress from it. Must run inside a tokio runtime; builds run on its blocking
/// pool.
///
/// Failed evaluations are recorded as failed trials and the study goes on; a journal or
/// registry that stays unavailable after retries ends it with [`AgentError::Store`].
pub async fn tune(
    config: &AgentConfig,
    backends: &Backends,
    settings: &IndexSettings,
    budget: StudyBudget,
    observer: &dyn Observer,
) -> Result<StudyReport, AgentError> {
    config.validate()?;
    settings.validate()?;
    settings.check_against(backends.evaluator.as_ref())?;
    let engine = Engine { config, backends };
    let span = info_span!("study", index = %settings.index, max_trials = budget.max_trials);
    async {
        let started = tokio::time::Instant::now();
        let mut trials = Vec::new();
        let mut promotions = Vec::new();
        let mut exhausted = false;
        let mut converged = None;
        let mut ended = StudyEnd::Trials;
        while trials.len() < budget.max_trials {
            if budget.max_time.is_some_and(|t| started.elapsed() >= t) {
                ended = StudyEnd::Time;
                break;
            }
            let cycle = engine
                .cycle(settings, TriggerReason::Study, false, observer)
                .await?;
            match cycle.outcome {
                Outcome::Exhausted => {
                    exhausted = true;
                    ended = StudyEnd::Exhausted;
                    break;
                }
                Outcome::Converged(c) => {
                    converged = Some(*c);
                    ended = StudyEnd::Converged;
                    break;
                }
                Outcome::Revalidated { trial, .. } => trials.push(trial),
                Outcome::Trial { trial, promotion } => {
                    trials.push(trial);
                    promotions.extend(promotion);
                }
            }
        }
        let evaluator = backends.evaluator.clone();
        let index = settings.index.clone();
        let dataset = blocking(move || evaluator.dataset(&index)).await?;
        let history = backends.journal.trials(&settings.index).await?;
        let same_data: Vec<&Trial> = history.iter().filter(|t| t.dataset == dataset).collect();
        let front = pareto_front(same_data).into_iter().cloned().collect();
        let champion = backends.registry.champion(&settings.index).await?;
        Ok(StudyReport {
            index: settings.index.clone(),
            dataset,
            trials,
            promotions,
            champion,
            pareto_front: front,
            exhausted,
            converged,
            ended,
        })
    }
    .instrument(span)
    .await
}
