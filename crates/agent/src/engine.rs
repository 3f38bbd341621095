//! One trial cycle: read, revalidate, propose, evaluate, record, promote. Shared by the
//! loop ([`crate::spawn`]) and the synchronous study ([`crate::tune`]), so both decide
//! alike.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hnswtune_core::{
    DatasetFingerprint, Error, EvalRequest, Evaluation, Evaluator, IndexName, Objective, Params,
    Promotion, PromotionRegistry, PromotionRules, Trial, TrialJournal, TrialMetrics, TrialState,
    Trials, TriggerReason,
};
use hnswtune_propose::{Convergence, PRIOR_WEIGHT, ProposalContext, StudyNoise};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::rules::{self, KeepReason, Screen, Verdict};
use crate::{AgentConfig, AgentError, IndexSettings, Observer, StudyEvent, WallClock};

/// How many times a promotion is re-decided after losing a race.
const PROMOTION_ATTEMPTS: u32 = 3;

/// The journal, the registry and the evaluator an agent or a study works with, and the
/// clock it reads.
#[derive(Clone, Debug)]
pub struct Backends {
    /// Where trials are recorded.
    pub journal: Arc<dyn TrialJournal>,
    /// Where champions are recorded.
    pub registry: Arc<dyn PromotionRegistry>,
    /// What measures configs.
    pub evaluator: Arc<dyn Evaluator>,
    /// The wall clock used for trial timestamps and the hourly budget.
    pub clock: WallClock,
}

impl Backends {
    /// Backends reading the system clock.
    pub fn new(
        journal: Arc<dyn TrialJournal>,
        registry: Arc<dyn PromotionRegistry>,
        evaluator: Arc<dyn Evaluator>,
    ) -> Self {
        Backends {
            journal,
            registry,
            evaluator,
            clock: WallClock::new(),
        }
    }

    /// The same backends with `clock`.
    pub fn with_clock(mut self, clock: WallClock) -> Self {
        self.clock = clock;
        self
    }
}

/// What one cycle did.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per cycle, moved once; boxing buys nothing"
)]
pub(crate) enum Outcome {
    /// The champion was re-measured; nothing else ran.
    Revalidated { trial: Trial, regressed: bool },
    /// A challenger ran.
    Trial {
        trial: Trial,
        promotion: Option<Promotion>,
    },
    /// Nothing left to propose.
    Exhausted,
    /// The study has converged on this data; no trial ran.
    Converged(Box<Convergence>),
}

/// `objective` with its promotion margin raised to the study's measured noise of a
/// median of `repeats` re-measurements (`p90 spread / √repeats`, at most 0.5), once the
/// study has at least [`PRIOR_WEIGHT`] noise samples; below that the configured margin
/// and the A/B rule's spread test decide alone. The margin is never lowered.
pub(crate) fn with_measured_margin(
    mut objective: Objective,
    history: &[Trial],
    repeats: usize,
) -> Objective {
    let noise = StudyNoise::of_history(history);
    if let Some(measured) = noise.measured
        && noise.samples as f64 >= PRIOR_WEIGHT
    {
        let of_median = measured / (repeats.max(1) as f64).sqrt();
        objective.noise_margin = objective.noise_margin.max(of_median.min(0.5));
    }
    objective
}

/// A cycle's outcome with the bookkeeping the loop needs.
#[derive(Debug)]
pub(crate) struct Cycle {
    pub(crate) outcome: Outcome,
    /// Creation times of this agent's trials of the index, from the journal read plus
    /// the trial this cycle started.
    pub(crate) own_trials: Vec<DateTime<Utc>>,
}

impl Cycle {
    pub(crate) fn built(&self) -> bool {
        !matches!(self.outcome, Outcome::Exhausted | Outcome::Converged(_))
    }
}

/// The champion as it stands for one cycle.
struct ChampionView {
    promotion: Promotion,
    /// Its metrics on the current data, when some were measured there.
    same_data: Option<TrialMetrics>,
    /// Its trial, if the journal has it on the current data (for the proposer).
    trial: Option<Trial>,
    seed: u64,
}

pub(crate) struct Engine<'a> {
    pub(crate) config: &'a AgentConfig,
    pub(crate) backends: &'a Backends,
}

impl Engine<'_> {
    /// Runs one cycle for `settings`.
    pub(crate) async fn cycle(
        &self,
        settings: &IndexSettings,
        trigger: TriggerReason,
        force_revalidation: bool,
        observer: &dyn Observer,
    ) -> Result<Cycle, AgentError> {
        let span = info_span!(
            "cycle",
            index = %settings.index,
            trigger = %trigger,
            fingerprint = tracing::field::Empty,
            history = tracing::field::Empty,
            champion_revision = tracing::field::Empty,
        );
        self.cycle_inner(
            settings,
            trigger,
            force_revalidation,
            observer,
            span.clone(),
        )
        .instrument(span)
        .await
    }

    async fn cycle_inner(
        &self,
        settings: &IndexSettings,
        trigger: TriggerReason,
        force_revalidation: bool,
        observer: &dyn Observer,
        span: tracing::Span,
    ) -> Result<Cycle, AgentError> {
        let index = &settings.index;
        let objective = self.config.effective_objective(&settings.objective);
        let evaluator = self.backends.evaluator.clone();
        let name = index.clone();
        let fingerprint = blocking(move || evaluator.dataset(&name)).await?;
        span.record("fingerprint", tracing::field::display(&fingerprint));

        let history = self.read_history(index, observer).await?;
        let mut own_trials: Vec<DateTime<Utc>> = history
            .iter()
            .filter(|t| t.worker == self.config.agent_id)
            .map(|t| t.created_at)
            .collect();
        let same_data: Vec<Trial> = history
            .into_iter()
            .filter(|t| t.dataset == fingerprint)
            .collect();
        span.record("history", same_data.len());
        let objective = with_measured_margin(objective, &same_data, self.config.ab_repeats);
        let champion = self
            .champion(index, &same_data, &fingerprint, observer)
            .await?;
        if let Some(c) = &champion {
            span.record("champion_revision", c.promotion.revision);
        }

        if let Some(c) = &champion {
            let measured_here = same_data
                .iter()
                .any(|t| t.params == c.promotion.params && t.finished_at.is_some());
            let moved = c.promotion.dataset != fingerprint && !measured_here;
            if force_revalidation || moved {
                info!(
                    revision = c.promotion.revision,
                    forced = force_revalidation,
                    "re-measuring the champion on the current data"
                );
                let trial = self
                    .run_trial(
                        settings,
                        c.promotion.params.clone(),
                        fingerprint,
                        TriggerReason::Revalidation,
                        c.seed,
                        false,
                        observer,
                    )
                    .await;
                let trial = self.note_started(trial, &mut own_trials)?;
                let regressed = trial
                    .completed_metrics()
                    .is_none_or(|m| m.recall < objective.min_recall);
                if regressed {
                    warn!(trial = %trial.id, "the champion no longer meets the recall floor");
                }
                observer.on_event(&StudyEvent::ChampionRevalidated {
                    trial: Box::new(trial.clone()),
                    regressed,
                });
                return Ok(Cycle {
                    outcome: Outcome::Revalidated { trial, regressed },
                    own_trials,
                });
            }
        }

        let (params, seeded) = {
            let _propose = info_span!("propose", proposer = settings.proposer.name()).entered();
            if same_data.is_empty() {
                let params = settings
                    .initial_params
                    .clone()
                    .unwrap_or_else(|| settings.space.default_params());
                info!(%params, "no trials on this data: seeding the index");
                (params, true)
            } else {
                let ctx = ProposalContext {
                    space: &settings.space,
                    history: &same_data,
                    champion: champion.as_ref().and_then(|c| c.trial.as_ref()),
                    objective: &objective,
                };
                // A Manual trigger asks for a trial whatever the study's state.
                let may_stop =
                    settings.stop_when_converged && !matches!(trigger, TriggerReason::Manual);
                if may_stop && let Some(convergence) = settings.proposer.convergence(&ctx) {
                    info!(reason = %convergence.reason, "the study has converged on this data");
                    let convergence = Box::new(convergence);
                    observer.on_event(&StudyEvent::Converged {
                        index: index.clone(),
                        convergence: convergence.clone(),
                    });
                    return Ok(Cycle {
                        outcome: Outcome::Converged(convergence),
                        own_trials,
                    });
                }
                match settings.proposer.propose(&ctx)? {
                    Some(params) => {
                        debug!(%params, "proposed");
                        (params, false)
                    }
                    None => {
                        info!("the proposer is exhausted on this data");
                        observer.on_event(&StudyEvent::Exhausted {
                            index: index.clone(),
                        });
                        return Ok(Cycle {
                            outcome: Outcome::Exhausted,
                            own_trials,
                        });
                    }
                }
            }
        };
        settings.space.validate(&params).map_err(Error::from)?;

        let trial = self
            .run_trial(
                settings,
                params,
                fingerprint.clone(),
                trigger,
                settings.build_seed,
                seeded,
                observer,
            )
            .await;
        let trial = self.note_started(trial, &mut own_trials)?;
        let promotion = match trial.completed_metrics() {
            Some(metrics) => {
                self.promote(settings, &objective, &trial, metrics, champion, observer)
                    .instrument(info_span!("promote", trial = %trial.id))
                    .await?
            }
            None => None,
        };
        Ok(Cycle {
            outcome: Outcome::Trial { trial, promotion },
            own_trials,
        })
    }

    /// Counts a trial whose running state reached the journal in the budget, even when
    /// its final state could not be recorded, then passes the result on.
    fn note_started(
        &self,
        result: Result<Trial, (Option<DateTime<Utc>>, AgentError)>,
        own_trials: &mut Vec<DateTime<Utc>>,
    ) -> Result<Trial, AgentError> {
        match result {
            Ok(trial) => {
                own_trials.push(trial.created_at);
                Ok(trial)
            }
            Err((started, e)) => {
                own_trials.extend(started);
                Err(e)
            }
        }
    }

    /// Records a running trial, evaluates it off the runtime's threads, and records the
    /// result. The error carries the creation time when the running state was recorded.
    #[allow(
        clippy::too_many_arguments,
        reason = "an internal step with named inputs"
    )]
    async fn run_trial(
        &self,
        settings: &IndexSettings,
        params: Params,
        fingerprint: DatasetFingerprint,
        trigger: TriggerReason,
        seed: u64,
        seeded: bool,
        observer: &dyn Observer,
    ) -> Result<Trial, (Option<DateTime<Utc>>, AgentError)> {
        let mut trial = Trial::start_with_id(
            self.backends.clock.trial_id(),
            settings.index.clone(),
            settings.eval_set.clone(),
            params,
            fingerprint,
            trigger,
        );
        trial.seed = seed;
        trial.threads = if settings.deterministic { 1 } else { 0 };
        trial.proposer = settings.proposer.name().to_owned();
        trial.worker = self.config.agent_id.clone();
        if seeded {
            trial.note = "seeded by the agent: no trials on this data".into();
        }
        let span = info_span!(
            "trial",
            trial = %trial.id,
            params = %trial.params,
            trigger = %trial.trigger,
            recall = tracing::field::Empty,
            p50_us = tracing::field::Empty,
            build_secs = tracing::field::Empty,
        );
        async {
            self.record(&trial, observer)
                .instrument(info_span!("record", state = "running"))
                .await
                .map_err(|e| (None, e))?;
            observer.on_event(&StudyEvent::TrialStarted {
                trial: Box::new(trial.clone()),
                seeded,
            });
            let request = EvalRequest {
                index: trial.index.clone(),
                eval_set: trial.eval_set.clone(),
                params: trial.params.clone(),
                seed: trial.seed,
                deterministic: settings.deterministic,
            };
            let evaluator = self.backends.evaluator.clone();
            let result: Result<Evaluation, AgentError> =
                blocking(move || evaluator.evaluate(&request))
                    .instrument(info_span!("evaluate"))
                    .await;
            let created_at = trial.created_at;
            let mut finished = match result.and_then(|e| {
                e.metrics.validate()?;
                Ok(e)
            }) {
                Ok(evaluation) => {
                    let span = tracing::Span::current();
                    span.record("recall", evaluation.metrics.recall);
                    span.record("p50_us", evaluation.metrics.search_p50_us);
                    span.record("build_secs", evaluation.metrics.build_secs);
                    let mut trial = trial.complete(evaluation.metrics);
                    trial.threads = evaluation.threads;
                    // The evaluator reports what it measured; if the data moved during
                    // the build, the trial belongs to the new data.
                    trial.dataset = evaluation.dataset;
                    trial
                }
                Err(e) => {
                    warn!(error = %e, "the evaluation failed; recording a failed trial");
                    trial.fail(e.to_string())
                }
            };
            finished.finished_at = Some(self.backends.clock.now());
            self.record(&finished, observer)
                .instrument(info_span!("record", state = "finished"))
                .await
                .map_err(|e| (Some(created_at), e))?;
            observer.on_event(&StudyEvent::TrialFinished {
                trial: Box::new(finished.clone()),
            });
            Ok(finished)
        }
        .instrument(span)
        .await
    }

    async fn promote(
        &self,
        settings: &IndexSettings,
        objective: &Objective,
        trial: &Trial,
        metrics: &TrialMetrics,
        mut champion: Option<ChampionView>,
        observer: &dyn Observer,
    ) -> Result<Option<Promotion>, AgentError> {
        for attempt in 1..=PROMOTION_ATTEMPTS {
            let same_data = champion.as_ref().and_then(|c| c.same_data.as_ref());
            let mut comparison = None;
            let verdict = match rules::screen(objective, metrics, champion.is_some(), same_data) {
                Screen::Keep(reason) => Verdict::Keep(reason),
                Screen::Promote(rule) => Verdict::Promote(rule),
                Screen::Compare => match champion.as_ref() {
                    None => Verdict::Promote(rules::PromoteRule::FirstChampion),
                    Some(c) => {
                        let champion_request = EvalRequest {
                            index: settings.index.clone(),
                            eval_set: settings.eval_set.clone(),
                            params: c.promotion.params.clone(),
                            seed: c.seed,
                            deterministic: settings.deterministic,
                        };
                        let challenger_request = EvalRequest {
                            params: trial.params.clone(),
                            seed: trial.seed,
                            ..champion_request.clone()
                        };
                        let evaluator = self.backends.evaluator.clone();
                        let repeats = self.config.ab_repeats;
                        let ab = blocking(move || {
                            evaluator.compare(&champion_request, &challenger_request, repeats)
                        })
                        .instrument(info_span!("compare", repeats))
                        .await;
                        match ab {
                            Ok(ab) => {
                                let verdict = rules::judge(objective, metrics, same_data, &ab);
                                debug!(
                                    champion_median_us = ab.champion_median_us(),
                                    challenger_median_us = ab.challenger_median_us(),
                                    ?verdict,
                                    "compared"
                                );
                                comparison = Some(ab);
                                verdict
                            }
                            Err(e) => {
                                warn!(error = %e, "the A/B comparison failed; keeping the champion");
                                Verdict::Keep(KeepReason::ComparisonFailed)
                            }
                        }
                    }
                },
            };
            let rule = match verdict {
                Verdict::Keep(reason) => {
                    info!(?reason, "not promoted");
                    observer.on_event(&StudyEvent::NotPromoted {
                        trial_id: trial.id,
                        index: trial.index.clone(),
                        reason,
                        comparison,
                    });
                    return Ok(None);
                }
                Verdict::Promote(rule) => rule,
            };
            let expected = champion.as_ref().map_or(0, |c| c.promotion.revision);
            let note = format!("{rule:?} ({} trigger)", trial.trigger);
            let written = self
                .with_retries("promote", observer, || {
                    self.backends.registry.promote(
                        trial,
                        objective,
                        expected,
                        &self.config.agent_id,
                        &note,
                    )
                })
                .await;
            match written {
                Ok(promotion) => {
                    info!(revision = promotion.revision, ?rule, "promoted");
                    observer.on_event(&StudyEvent::Promoted {
                        promotion: Box::new(promotion.clone()),
                        rule,
                        comparison,
                    });
                    return Ok(Some(promotion));
                }
                Err(AgentError::Core(Error::Conflict { .. })) => {
                    warn!(
                        revision = expected + 1,
                        attempt, "another writer promoted first; re-reading"
                    );
                    observer.on_event(&StudyEvent::PromotionConflict {
                        index: trial.index.clone(),
                        revision: expected + 1,
                    });
                    let history = self.read_history(&trial.index, observer).await?;
                    let same: Vec<Trial> = history
                        .into_iter()
                        .filter(|t| t.dataset == trial.dataset)
                        .collect();
                    champion = self
                        .champion(&trial.index, &same, &trial.dataset, observer)
                        .await?;
                }
                Err(e) => return Err(e),
            }
        }
        Err(AgentError::Core(Error::Conflict {
            what: format!(
                "the champion of {} changed {PROMOTION_ATTEMPTS} times while trial {} was being promoted",
                trial.index, trial.id
            ),
        }))
    }

    async fn read_history(
        &self,
        index: &IndexName,
        observer: &dyn Observer,
    ) -> Result<Trials, AgentError> {
        let read = self
            .with_retries("read journal", observer, || {
                self.backends.journal.read(index)
            })
            .await?;
        for skipped in &read.report.skipped {
            warn!(key = %skipped.key, why = %skipped.why, "the journal skipped an entry");
        }
        Ok(read.trials)
    }

    async fn champion(
        &self,
        index: &IndexName,
        same_data: &[Trial],
        fingerprint: &DatasetFingerprint,
        observer: &dyn Observer,
    ) -> Result<Option<ChampionView>, AgentError> {
        let Some(promotion) = self
            .with_retries("read champion", observer, || {
                self.backends.registry.champion(index)
            })
            .await?
        else {
            return Ok(None);
        };
        let own = same_data.iter().find(|t| t.id == promotion.trial_id);
        let latest_same_params = same_data
            .iter()
            .rev()
            .find(|t| t.params == promotion.params && t.is_complete());
        let trial = own.filter(|t| t.is_complete()).or(latest_same_params);
        let same_data_metrics = latest_same_params
            .and_then(|t| t.metrics.clone())
            .or_else(|| {
                (&promotion.dataset == fingerprint)
                    .then(|| promotion.metrics.clone())
                    .flatten()
            });
        let seed = own.or(latest_same_params).map_or(0, |t| t.seed);
        Ok(Some(ChampionView {
            same_data: same_data_metrics,
            trial: trial.cloned(),
            seed,
            promotion,
        }))
    }

    async fn record(&self, trial: &Trial, observer: &dyn Observer) -> Result<(), AgentError> {
        self.with_retries("append trial", observer, || {
            self.backends.journal.append(trial)
        })
        .await
    }

    /// Runs `call` until it succeeds, retrying transient errors with a doubling
    /// backoff. A transient error that outlasts the attempts is returned as
    /// [`AgentError::Store`]; any other error at once as [`AgentError::Core`].
    async fn with_retries<T, F, Fut>(
        &self,
        op: &str,
        observer: &dyn Observer,
        mut call: F,
    ) -> Result<T, AgentError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let attempts = self.config.store_attempts.max(1);
        let mut backoff = Duration::from_millis(self.config.store_backoff_ms);
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(value) => return Ok(value),
                Err(e) if e.is_transient() && attempt < attempts => {
                    warn!(op, attempt, error = %e, "store call failed; retrying");
                    observer.on_event(&StudyEvent::StoreRetry {
                        op: op.to_owned(),
                        attempt,
                        error: e.to_string(),
                    });
                    tokio::time::sleep(backoff).await;
                    backoff = backoff.saturating_mul(2);
                    attempt += 1;
                }
                Err(source) if source.is_transient() => {
                    return Err(AgentError::Store {
                        op: op.to_owned(),
                        attempts: attempt,
                        source,
                    });
                }
                // Not worth retrying (a conflict, a rejected record): the caller decides.
                Err(source) => return Err(AgentError::Core(source)),
            }
        }
    }
}

/// Runs a blocking seam call on tokio's blocking pool, so the runtime's workers keep
/// answering `status` and `enqueue` during a long build.
pub(crate) async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, AgentError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| AgentError::EvaluatorLost { why: e.to_string() })?
        .map_err(AgentError::from)
}

/// The trial's state as a short word, for events.
pub(crate) fn state_word(trial: &Trial) -> &'static str {
    match trial.state {
        TrialState::Running => "running",
        TrialState::Complete => "complete",
        TrialState::Failed { .. } => "failed",
        TrialState::Pruned { .. } => "pruned",
    }
}
