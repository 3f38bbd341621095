//! One trial cycle: read, revalidate, propose, evaluate, record, promote. Shared by the
//! loop ([`crate::spawn`]) and the synchronous study ([`crate::tune`]), so both decide
//! alike.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use hnswtune_core::{
    Claim, DatasetFingerprint, Error, EvalRequest, Evaluation, Evaluator, IndexName, LEASE_EXPIRED,
    Objective, Params, Promotion, PromotionRegistry, PromotionRules, Trial, TrialJournal,
    TrialLeases, TrialMetrics, TrialState, Trials, TriggerReason,
};
use hnswtune_propose::{Convergence, PRIOR_WEIGHT, ProposalContext, StudyNoise};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::rules::{self, BuiltConfig, KeepReason, Relation, Screen, Verdict};
use crate::{AgentConfig, AgentError, IndexSettings, Observer, StudyEvent, WallClock};

/// How many times a promotion is decided before the trial gives way to the other
/// writers (see [`KeepReason::Contended`]). Each lost race waits a jittered backoff,
/// so that workers that finished together do not collide again in step.
const PROMOTION_ATTEMPTS: u32 = 8;

/// How many proposals one cycle tries when each proposed config turns out to be under
/// another worker's lease.
const CLAIM_ATTEMPTS: usize = 32;

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
    /// Leases, when several workers share the journal: each trial claims its config
    /// first and renews the claim while it runs (see [`TrialLeases`]). `None` runs
    /// trials without leases, as a single worker may.
    pub leases: Option<Arc<dyn TrialLeases>>,
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
            leases: None,
        }
    }

    /// The same backends with `leases` (usually the journal itself:
    /// `ObjectStoreJournal` implements both).
    pub fn with_leases(mut self, leases: Arc<dyn TrialLeases>) -> Self {
        self.leases = Some(leases);
        self
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
        let history = self.end_lapsed_leases(history, index, observer).await?;
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

        // A lease of this worker's that outlived a restart: run that trial again under
        // its id rather than leave it running.
        let now = self.backends.clock.now();
        let resumed = same_data
            .iter()
            .find(|t| {
                t.lease_live(now)
                    && t.lease
                        .as_ref()
                        .is_some_and(|l| l.worker == self.config.agent_id)
            })
            .cloned();
        if let (Some(trial), Some(_)) = (resumed, &self.backends.leases) {
            info!(trial = %trial.id, params = %trial.params, "resuming this worker's own lease");
            observer.on_event(&StudyEvent::LeaseResumed {
                trial: Box::new(trial.clone()),
            });
            let trial = self.run_started(settings, trial, false, observer).await;
            let trial = self.note_started(trial, &mut own_trials)?;
            return self
                .finish_cycle(settings, &objective, trial, champion, own_trials, observer)
                .await;
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
                let trial = self.new_trial(
                    settings,
                    c.promotion.params.clone(),
                    fingerprint.clone(),
                    TriggerReason::Revalidation,
                    c.seed,
                );
                match self.start(trial, observer).await {
                    Err(e) => return Err(e),
                    Ok(Claim::Taken(holder)) => {
                        info!(holder = %holder.worker, "another worker is re-measuring the champion");
                    }
                    Ok(Claim::Won(trial)) => {
                        let trial = self.run_started(settings, trial, false, observer).await;
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
            }
        }

        // A trial that failed because its lease lapsed says nothing about its config:
        // the config may be proposed again.
        let mut proposable: Vec<Trial> = same_data
            .iter()
            .filter(|t| !t.lost_its_lease())
            .cloned()
            .collect();
        let mut claim_attempts = 0;
        let (trial, seeded) = loop {
            let (params, seeded) = {
                let _propose = info_span!("propose", proposer = settings.proposer.name()).entered();
                if proposable.is_empty() {
                    let params = settings
                        .initial_params
                        .clone()
                        .unwrap_or_else(|| settings.space.default_params());
                    info!(%params, "no trials on this data: seeding the index");
                    (params, true)
                } else {
                    let ctx = ProposalContext {
                        space: &settings.space,
                        history: &proposable,
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
                            return Ok(exhausted(index, own_trials, observer));
                        }
                    }
                }
            };
            settings.space.validate(&params).map_err(Error::from)?;
            let trial = self.new_trial(
                settings,
                params,
                fingerprint.clone(),
                trigger.clone(),
                settings.build_seed,
            );
            match self.start(trial, observer).await? {
                Claim::Won(trial) => break (trial, seeded),
                Claim::Taken(holder) => {
                    let holder_name = holder
                        .lease
                        .as_ref()
                        .map_or_else(|| holder.worker.clone(), |l| l.worker.clone());
                    debug!(params = %holder.params, holder = %holder_name, "the config is taken; proposing again");
                    observer.on_event(&StudyEvent::ConfigTaken {
                        index: index.clone(),
                        params: holder.params.clone(),
                        holder: holder_name,
                    });
                    proposable.push(holder);
                    claim_attempts += 1;
                    if claim_attempts >= CLAIM_ATTEMPTS {
                        info!("every config the proposer offers is held by another worker");
                        return Ok(exhausted(index, own_trials, observer));
                    }
                }
            }
        };
        let trial = self.run_started(settings, trial, seeded, observer).await;
        let trial = self.note_started(trial, &mut own_trials)?;
        self.finish_cycle(settings, &objective, trial, champion, own_trials, observer)
            .await
    }

    /// Promotes a finished challenger if the rules say so.
    async fn finish_cycle(
        &self,
        settings: &IndexSettings,
        objective: &Objective,
        trial: Trial,
        champion: Option<ChampionView>,
        own_trials: Vec<DateTime<Utc>>,
        observer: &dyn Observer,
    ) -> Result<Cycle, AgentError> {
        let promotion = match trial.completed_metrics() {
            Some(metrics) => {
                self.promote(settings, objective, &trial, metrics, champion, observer)
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

    /// Ends every lapsed lease in `history` (its holder stopped renewing it) as failed,
    /// and returns the history read again when it ended any. Of several workers doing
    /// this at once, one records each failure; the others see a conflict and move on.
    async fn end_lapsed_leases(
        &self,
        history: Trials,
        index: &IndexName,
        observer: &dyn Observer,
    ) -> Result<Trials, AgentError> {
        let Some(leases) = &self.backends.leases else {
            return Ok(history);
        };
        let now = self.backends.clock.now();
        let lapsed: Vec<&Trial> = history.iter().filter(|t| t.lease_lapsed(now)).collect();
        if lapsed.is_empty() {
            return Ok(history);
        }
        for trial in lapsed {
            match leases.expire(trial, LEASE_EXPIRED).await {
                Ok(failed) => {
                    info!(trial = %failed.id, worker = %trial.worker, "ended a lapsed lease");
                    observer.on_event(&StudyEvent::LeaseExpired {
                        trial: Box::new(failed),
                    });
                }
                Err(Error::Conflict { .. }) => {
                    debug!(trial = %trial.id, "another worker ended the lapsed lease first");
                }
                // The next cycle tries again; nothing is lost meanwhile.
                Err(e) => warn!(trial = %trial.id, error = %e, "could not end a lapsed lease"),
            }
        }
        self.read_history(index, observer).await
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

    /// A new running trial of `params`, under a lease when the backends have leases.
    fn new_trial(
        &self,
        settings: &IndexSettings,
        params: Params,
        fingerprint: DatasetFingerprint,
        trigger: TriggerReason,
        seed: u64,
    ) -> Trial {
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
        if self.backends.leases.is_some() {
            trial = trial.leased(
                self.config.agent_id.clone(),
                self.lease_expiry(),
                u32::try_from(self.config.heartbeat().as_secs()).unwrap_or(u32::MAX),
            );
        }
        trial
    }

    fn lease_expiry(&self) -> DateTime<Utc> {
        let lease =
            chrono::Duration::from_std(self.config.lease()).unwrap_or(chrono::Duration::MAX);
        self.backends.clock.now() + lease
    }

    /// Records `trial` as running: claims its config when the backends have leases
    /// (another worker may hold it: [`Claim::Taken`]), appends it otherwise.
    async fn start(&self, trial: Trial, observer: &dyn Observer) -> Result<Claim, AgentError> {
        match &self.backends.leases {
            Some(leases) => {
                let now = self.backends.clock.now();
                self.with_retries("claim config", observer, || leases.claim(&trial, now))
                    .instrument(info_span!("record", state = "claim"))
                    .await
            }
            None => {
                self.record(&trial, observer)
                    .instrument(info_span!("record", state = "running"))
                    .await?;
                Ok(Claim::Won(trial))
            }
        }
    }

    /// Evaluates a trial whose running state is recorded, off the runtime's threads,
    /// renewing its lease meanwhile, and records the result (ending the lease). The
    /// error carries the creation time, as the running state was recorded.
    async fn run_started(
        &self,
        settings: &IndexSettings,
        mut trial: Trial,
        seeded: bool,
        observer: &dyn Observer,
    ) -> Result<Trial, (Option<DateTime<Utc>>, AgentError)> {
        if seeded {
            trial.note = "seeded: the first config, as no trial had measured this data".into();
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
            let evaluation = blocking(move || evaluator.evaluate(&request))
                .instrument(info_span!("evaluate"));
            tokio::pin!(evaluation);
            let leases = self.backends.leases.as_ref().filter(|_| trial.lease.is_some());
            let mut lost = false;
            let result: Result<Evaluation, AgentError> = loop {
                tokio::select! {
                    result = &mut evaluation => break result,
                    () = tokio::time::sleep(self.config.heartbeat()), if leases.is_some() && !lost => {
                        let Some(leases) = leases else { continue };
                        let mut renewed = trial.clone();
                        if let Some(lease) = renewed.lease.as_mut() {
                            lease.expires_at = self.lease_expiry();
                        }
                        // Each beat also ends other workers' lapsed leases, so a dead
                        // worker's trial is failed within its expiry plus one beat even
                        // while every live worker is in a long build.
                        if let Ok(read) = self.backends.journal.read(&trial.index).await {
                            let lapsed = read.trials.iter().any(|t| t.lease_lapsed(self.backends.clock.now()));
                            if lapsed {
                                let _ = self.end_lapsed_leases(read.trials, &trial.index, observer).await;
                            }
                        }
                        match leases.renew(&renewed).await {
                            Ok(()) => trial = renewed,
                            Err(Error::Conflict { .. }) => {
                                warn!("the lease ended before the trial finished; its result will not be recorded");
                                lost = true;
                            }
                            Err(e) => warn!(error = %e, "could not renew the lease; trying again at the next beat"),
                        }
                    }
                }
            };
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
            let recorded = match (leases, lost) {
                (Some(_), true) => false,
                (Some(leases), false) => {
                    match self
                        .with_retries("end lease", observer, || leases.finish(&finished))
                        .instrument(info_span!("record", state = "finished"))
                        .await
                    {
                        Ok(()) => true,
                        Err(AgentError::Core(Error::Conflict { .. })) => false,
                        Err(e) => return Err((Some(created_at), e)),
                    }
                }
                (None, _) => {
                    self.record(&finished, observer)
                        .instrument(info_span!("record", state = "finished"))
                        .await
                        .map_err(|e| (Some(created_at), e))?;
                    true
                }
            };
            if !recorded {
                observer.on_event(&StudyEvent::LeaseLost {
                    trial: Box::new(finished.clone()),
                });
                let reason = "lease lost: another worker ended this trial's lease before it \
                              finished (it could not renew in time); the result is not recorded";
                return Ok(finished.fail(reason));
            }
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
            let relation = champion.as_ref().map_or(Relation::Other, |c| {
                Relation::of(
                    &settings.space,
                    BuiltConfig {
                        params: &c.promotion.params,
                        seed: c.seed,
                    },
                    BuiltConfig {
                        params: &trial.params,
                        seed: trial.seed,
                    },
                )
            });
            let verdict = match rules::screen(
                objective,
                metrics,
                relation,
                champion.is_some(),
                same_data,
            ) {
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
                                let verdict =
                                    rules::judge(objective, metrics, relation, same_data, &ab);
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
                    if attempt < PROMOTION_ATTEMPTS {
                        tokio::time::sleep(jittered(self.config.store_backoff_ms, attempt)).await;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        // The champion moved at every attempt: other writers are promoting faster than
        // this trial can be judged. Their chain stands and this worker goes on; failing
        // the study here would stop a worker over the others' progress.
        warn!(
            attempts = PROMOTION_ATTEMPTS,
            "the champion kept changing while this trial was judged; giving way"
        );
        observer.on_event(&StudyEvent::NotPromoted {
            trial_id: trial.id,
            index: trial.index.clone(),
            reason: KeepReason::Contended,
            comparison: None,
        });
        Ok(None)
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

/// A wait of up to `base_ms × attempt` milliseconds, drawn at random, before a lost
/// promotion race is decided again.
fn jittered(base_ms: u64, attempt: u32) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let draw = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let ceiling = base_ms.max(1).saturating_mul(u64::from(attempt));
    Duration::from_millis(draw % (ceiling + 1))
}

/// The cycle that found nothing to try, told to the observer.
fn exhausted(index: &IndexName, own_trials: Vec<DateTime<Utc>>, observer: &dyn Observer) -> Cycle {
    observer.on_event(&StudyEvent::Exhausted {
        index: index.clone(),
    });
    Cycle {
        outcome: Outcome::Exhausted,
        own_trials,
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

/// Why a trial failed or was pruned (empty otherwise), for events.
pub(crate) fn state_reason(trial: &Trial) -> String {
    match &trial.state {
        TrialState::Failed { reason } | TrialState::Pruned { reason } => reason.clone(),
        _ => String::new(),
    }
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
