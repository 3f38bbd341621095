//! The long-running loop and its handle.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use hnswtune_core::{IndexName, Params, TrialId, TriggerReason};
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, MissedTickBehavior};
use tracing::{Instrument, info, info_span, warn};

use crate::engine::{Engine, Outcome, state_word};
use crate::event::{AgentEvent, EventKind, StudyEvent};
use crate::queue::{Budget, PendingQueue};
use crate::{AgentConfig, AgentError, Backends, Enqueued, IndexSettings, Observer, TriggerEvent};

/// What [`spawn`] needs besides its config: the backends and the indexes to manage.
#[derive(Clone, Debug)]
pub struct AgentDeps {
    /// The journal, registry, evaluator and clock.
    pub backends: Backends,
    /// The indexes the agent keeps tuned, in round-robin order.
    pub indexes: Vec<IndexSettings>,
}

impl AgentDeps {
    /// Dependencies managing no index yet.
    pub fn new(backends: Backends) -> Self {
        AgentDeps {
            backends,
            indexes: Vec::new(),
        }
    }

    /// The same dependencies also managing `settings`.
    pub fn with_index(mut self, settings: IndexSettings) -> Self {
        self.indexes.push(settings);
        self
    }
}

/// The trial running now.
#[derive(Clone, Debug, Serialize)]
pub struct CurrentTrial {
    /// The index.
    pub index: IndexName,
    /// The trial.
    pub trial: TrialId,
    /// Its config.
    pub params: Params,
    /// Why it runs.
    pub trigger: TriggerReason,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it has run, in milliseconds.
    pub elapsed_ms: u64,
}

/// The last error that abandoned a cycle.
#[derive(Clone, Debug, Serialize)]
pub struct LastError {
    /// When.
    pub at: DateTime<Utc>,
    /// The index whose cycle it ended.
    pub index: Option<IndexName>,
    /// The error, printed.
    pub message: String,
}

/// A snapshot of the agent's state.
#[derive(Clone, Debug, Serialize)]
pub struct AgentStatus {
    /// True while the loop runs.
    pub running: bool,
    /// True once `stop` was called.
    pub stopping: bool,
    /// The config the agent runs with.
    pub config: AgentConfig,
    /// Indexes with a pending trigger.
    pub queue_depth: usize,
    /// Those indexes, in the order they will be considered.
    pub pending: Vec<IndexName>,
    /// Trials this agent finished since it started (revalidations included).
    pub trials_run: u64,
    /// Promotions this agent made since it started.
    pub promotions: u64,
    /// This agent's trials in the last rolling hour, from the journal.
    pub trials_in_last_hour: usize,
    /// The trial running now.
    pub current_trial: Option<CurrentTrial>,
    /// The most recent event.
    pub last_event: Option<AgentEvent>,
    /// The most recent error that abandoned a cycle.
    pub last_error: Option<LastError>,
    /// Indexes whose champion fell below the recall floor on new data and has not been
    /// replaced yet.
    pub regressed: Vec<IndexName>,
    /// Indexes whose study has converged on their current data: their periodic
    /// wake-ups read the journal and build nothing until the data changes or a Manual
    /// trigger arrives.
    pub converged: Vec<IndexName>,
    /// When the loop started.
    pub started_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct Running {
    index: IndexName,
    trial: TrialId,
    params: Params,
    trigger: TriggerReason,
    started_at: DateTime<Utc>,
    started: Instant,
}

#[derive(Debug, Default)]
struct State {
    running: bool,
    trials_run: u64,
    promotions: u64,
    trials_in_last_hour: usize,
    current: Option<Running>,
    last_error: Option<LastError>,
    regressed: BTreeSet<IndexName>,
    converged: BTreeSet<IndexName>,
    started_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct Shared {
    config: AgentConfig,
    managed: BTreeSet<IndexName>,
    clock: crate::WallClock,
    queue: Mutex<PendingQueue>,
    wake: Notify,
    stopping: AtomicBool,
    state: Mutex<State>,
    events: Mutex<VecDeque<AgentEvent>>,
    finished: watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The state stays usable even if an observer panicked while holding it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    fn event(
        &self,
        kind: EventKind,
        index: Option<&IndexName>,
        trial: Option<TrialId>,
        detail: impl Into<String>,
    ) {
        let event = AgentEvent {
            at: self.clock.now(),
            kind,
            index: index.cloned(),
            trial,
            detail: detail.into(),
        };
        let mut events = lock(&self.events);
        while events.len() >= self.config.event_capacity {
            events.pop_front();
        }
        events.push_back(event);
    }

    fn error(&self, kind: EventKind, index: &IndexName, error: &AgentError) {
        warn!(%index, %error, "cycle abandoned");
        self.event(kind, Some(index), None, error.to_string());
        lock(&self.state).last_error = Some(LastError {
            at: self.clock.now(),
            index: Some(index.clone()),
            message: error.to_string(),
        });
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// The handle to a spawned agent. Cheap to clone; every method answers at once, even
/// during a long build.
#[derive(Clone, Debug)]
pub struct AgentHandle {
    shared: Arc<Shared>,
    finished: watch::Receiver<bool>,
}

impl AgentHandle {
    /// Queues a trigger without blocking.
    ///
    /// A trigger for an index that already has one pending is merged into it
    /// ([`Enqueued::Coalesced`]); the merged entry keeps the strongest reason (data
    /// appended, then manual, then periodic). A new index when `queue_capacity` indexes
    /// are pending is refused with [`AgentError::QueueFull`] (and a `trigger_dropped`
    /// event); the periodic wake-up will come back to it.
    pub fn enqueue(&self, trigger: TriggerEvent) -> Result<Enqueued, AgentError> {
        let shared = &self.shared;
        if !shared.config.enabled {
            return Err(AgentError::Disabled);
        }
        if shared.stopping() || *self.finished.borrow() {
            return Err(AgentError::Stopped);
        }
        if !shared.managed.contains(&trigger.index) {
            return Err(AgentError::UnknownIndex {
                index: trigger.index,
            });
        }
        let result = lock(&shared.queue).push(trigger.index.clone(), trigger.reason, false);
        match &result {
            Ok(_) => shared.wake.notify_one(),
            Err(e) => shared.event(
                EventKind::TriggerDropped,
                Some(&trigger.index),
                None,
                e.to_string(),
            ),
        }
        result
    }

    /// A snapshot of the agent's state.
    pub fn status(&self) -> AgentStatus {
        let shared = &self.shared;
        let (queue_depth, pending) = {
            let queue = lock(&shared.queue);
            (queue.len(), queue.indexes())
        };
        let last_event = lock(&shared.events).back().cloned();
        let state = lock(&shared.state);
        AgentStatus {
            running: state.running,
            stopping: shared.stopping(),
            config: shared.config.clone(),
            queue_depth,
            pending,
            trials_run: state.trials_run,
            promotions: state.promotions,
            trials_in_last_hour: state.trials_in_last_hour,
            current_trial: state.current.as_ref().map(|r| CurrentTrial {
                index: r.index.clone(),
                trial: r.trial,
                params: r.params.clone(),
                trigger: r.trigger.clone(),
                started_at: r.started_at,
                elapsed_ms: r.started.elapsed().as_millis() as u64,
            }),
            last_event,
            last_error: state.last_error.clone(),
            regressed: state.regressed.iter().cloned().collect(),
            converged: state.converged.iter().cloned().collect(),
            started_at: state.started_at,
        }
    }

    /// The indexes this agent manages, in name order.
    pub fn indexes(&self) -> Vec<IndexName> {
        self.shared.managed.iter().cloned().collect()
    }

    /// True when this agent manages `index` (so [`AgentHandle::enqueue`] accepts it).
    pub fn manages(&self, index: &IndexName) -> bool {
        self.shared.managed.contains(index)
    }

    /// The recent events, oldest first (at most `event_capacity`).
    pub fn events(&self) -> Vec<AgentEvent> {
        lock(&self.shared.events).iter().cloned().collect()
    }

    /// Asks the loop to end. Returns at once; a trial in progress finishes and is
    /// recorded (and promoted if it wins) before the loop ends. Await
    /// [`AgentHandle::stopped`] to know when it has.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
    }

    /// Waits until the loop has ended (at once for a disabled agent).
    pub async fn stopped(&self) {
        let mut finished = self.finished.clone();
        // An error means the loop's sender is gone, which also means it ended.
        let _ = finished.wait_for(|done| *done).await;
    }
}

/// Starts the agent loop on the current tokio runtime and returns its handle.
///
/// The config and every index's settings are validated first. With `enabled = false`
/// the handle is returned but no loop runs. Must be called from within a tokio
/// runtime; evaluations run on its blocking pool.
pub fn spawn(config: AgentConfig, deps: AgentDeps) -> Result<AgentHandle, AgentError> {
    config.validate()?;
    let mut indexes = BTreeMap::new();
    let mut order = Vec::new();
    for settings in deps.indexes {
        settings.validate()?;
        settings.check_against(deps.backends.evaluator.as_ref())?;
        order.push(settings.index.clone());
        if indexes.insert(settings.index.clone(), settings).is_some() {
            return Err(AgentError::config(
                "indexes",
                format!(
                    "{} is listed twice",
                    order.last().map_or("", |i| i.as_str())
                ),
            ));
        }
    }
    let (finished_tx, finished_rx) = watch::channel(!config.enabled);
    let shared = Arc::new(Shared {
        managed: indexes.keys().cloned().collect(),
        clock: deps.backends.clock.clone(),
        queue: Mutex::new(PendingQueue::new(config.queue_capacity)),
        wake: Notify::new(),
        stopping: AtomicBool::new(false),
        state: Mutex::new(State::default()),
        events: Mutex::new(VecDeque::new()),
        finished: finished_tx,
        config,
    });
    let handle = AgentHandle {
        shared: shared.clone(),
        finished: finished_rx,
    };
    if shared.config.enabled {
        {
            let mut state = lock(&shared.state);
            state.running = true;
            state.started_at = Some(shared.clock.now());
        }
        let span = info_span!("agent", agent = %shared.config.agent_id);
        let backends = deps.backends;
        tokio::spawn(
            async move {
                run(shared.clone(), backends, indexes, order).await;
                lock(&shared.state).running = false;
                shared.event(EventKind::Stopped, None, None, "stopped on request");
                shared.finished.send_replace(true);
            }
            .instrument(span),
        );
    }
    Ok(handle)
}

/// Feeds engine events into the status and the event ring.
struct LoopObserver<'a> {
    shared: &'a Shared,
}

impl Observer for LoopObserver<'_> {
    fn on_event(&self, event: &StudyEvent) {
        let shared = self.shared;
        match event {
            StudyEvent::TrialStarted { trial, seeded } => {
                lock(&shared.state).current = Some(Running {
                    index: trial.index.clone(),
                    trial: trial.id,
                    params: trial.params.clone(),
                    trigger: trial.trigger.clone(),
                    started_at: trial.created_at,
                    started: Instant::now(),
                });
                if *seeded {
                    info!(index = %trial.index, "seeding an index with no trials");
                }
            }
            StudyEvent::TrialFinished { trial } => {
                {
                    let mut state = lock(&shared.state);
                    state.current = None;
                    state.trials_run += 1;
                }
                let (kind, detail) = match (&trial.state, trial.completed_metrics()) {
                    (_, Some(m)) => (
                        EventKind::TrialCompleted,
                        format!(
                            "{} ({}): recall {:.4}, p50 {:.1} µs, build {:.2} s",
                            trial.params, trial.trigger, m.recall, m.search_p50_us, m.build_secs
                        ),
                    ),
                    (hnswtune_core::TrialState::Failed { reason }, None) => (
                        EventKind::TrialError,
                        format!("{} ({}): {reason}", trial.params, trial.trigger),
                    ),
                    _ => (
                        EventKind::TrialError,
                        format!("{} ended {}", trial.params, state_word(trial)),
                    ),
                };
                shared.event(kind, Some(&trial.index), Some(trial.id), detail);
            }
            StudyEvent::ChampionRevalidated { trial, regressed } => {
                let recall = trial
                    .completed_metrics()
                    .map_or("unmeasured".to_owned(), |m| format!("{:.4}", m.recall));
                if *regressed {
                    lock(&shared.state).regressed.insert(trial.index.clone());
                    shared.event(
                        EventKind::ChampionRegressed,
                        Some(&trial.index),
                        Some(trial.id),
                        format!(
                            "champion {} has recall {recall} on {}, below {}",
                            trial.params, trial.dataset, shared.config.min_recall
                        ),
                    );
                } else {
                    shared.event(
                        EventKind::ChampionRevalidated,
                        Some(&trial.index),
                        Some(trial.id),
                        format!(
                            "champion {} has recall {recall} on {}",
                            trial.params, trial.dataset
                        ),
                    );
                }
            }
            StudyEvent::Promoted {
                promotion, rule, ..
            } => {
                {
                    let mut state = lock(&shared.state);
                    state.promotions += 1;
                    state.regressed.remove(&promotion.index);
                }
                shared.event(
                    EventKind::Promoted,
                    Some(&promotion.index),
                    Some(promotion.trial_id),
                    format!(
                        "revision {}: {} ({rule:?})",
                        promotion.revision, promotion.params
                    ),
                );
            }
            StudyEvent::NotPromoted {
                trial_id,
                index,
                reason,
                ..
            } => shared.event(
                EventKind::NotPromoted,
                Some(index),
                Some(*trial_id),
                format!("{reason:?}"),
            ),
            StudyEvent::PromotionConflict { index, revision } => shared.event(
                EventKind::PromotionConflict,
                Some(index),
                None,
                format!("revision {revision} was taken by another writer; re-deciding"),
            ),
            StudyEvent::Exhausted { index } => shared.event(
                EventKind::Exhausted,
                Some(index),
                None,
                "the proposer has nothing left to try on this data",
            ),
            StudyEvent::Converged { index, convergence } => shared.event(
                EventKind::Converged,
                Some(index),
                None,
                convergence.reason.clone(),
            ),
            StudyEvent::LeaseExpired { trial } => shared.event(
                EventKind::LeaseExpired,
                Some(&trial.index),
                Some(trial.id),
                crate::engine::state_reason(trial),
            ),
            StudyEvent::LeaseLost { trial } => shared.event(
                EventKind::LeaseLost,
                Some(&trial.index),
                Some(trial.id),
                "the lease ended before the trial finished; its result was not recorded",
            ),
            StudyEvent::ConfigTaken { .. } | StudyEvent::LeaseResumed { .. } => {}
            StudyEvent::StoreRetry { op, attempt, error } => shared.event(
                EventKind::StoreRetry,
                None,
                None,
                format!("{op} attempt {attempt} failed: {error}"),
            ),
        }
    }
}

/// The loop. Scheduling rules:
///
/// 1. Nothing starts while this agent's trials in the last rolling hour (from the
///    journal) reach `max_trials_per_hour`; pending triggers wait (one
///    `skipped_rate_limit` event per episode) until the oldest leaves the window.
/// 2. Pending triggers run one at a time: indexes whose champion regressed first, then
///    in arrival order, skipping indexes still in their per-index cooldown (one
///    `skipped_cooldown` event per wait); other indexes are not held back.
/// 3. Each periodic wake-up queues the next managed index in round-robin order, so
///    every index gets its turn whatever the others do.
async fn run(
    shared: Arc<Shared>,
    backends: Backends,
    indexes: BTreeMap<IndexName, IndexSettings>,
    order: Vec<IndexName>,
) {
    let config = &shared.config;
    let engine = Engine {
        config,
        backends: &backends,
    };
    let observer = LoopObserver { shared: &shared };
    shared.event(
        EventKind::Started,
        None,
        None,
        format!("managing {} indexes", order.len()),
    );
    let mut budget = Budget::default();
    for index in &order {
        match backends.journal.read(index).await {
            Ok(read) => budget.replace(
                index,
                read.trials
                    .iter()
                    .filter(|t| t.worker == config.agent_id)
                    .map(|t| t.created_at)
                    .collect(),
            ),
            Err(e) => shared.error(EventKind::JournalError, index, &AgentError::from(e)),
        }
    }
    let cycle = config.cycle_interval();
    let mut periodic = tokio::time::interval_at(Instant::now() + cycle, cycle);
    periodic.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut next_periodic = 0usize;
    let mut cooling: HashMap<IndexName, Instant> = HashMap::new();
    let mut cooldown_reported: HashSet<IndexName> = HashSet::new();
    let mut rate_limit_reported = false;

    while !shared.stopping() {
        let now = Instant::now();
        let now_utc = shared.clock.now();
        let used = budget.count(now_utc);
        lock(&shared.state).trials_in_last_hour = used;

        let mut wake_at: Option<Instant> = None;
        let mut picked = None;
        let queue_empty = lock(&shared.queue).len() == 0;
        if !queue_empty && used >= config.max_trials_per_hour as usize {
            if !rate_limit_reported {
                shared.event(
                    EventKind::SkippedRateLimit,
                    None,
                    None,
                    format!(
                        "{used} trials in the last hour (cap {}); waiting",
                        config.max_trials_per_hour
                    ),
                );
                rate_limit_reported = true;
            }
            wake_at = budget.next_release(now_utc).map(|at| {
                now + (at - now_utc)
                    .to_std()
                    .unwrap_or_default()
                    .max(std::time::Duration::from_millis(1))
            });
        } else if !queue_empty {
            rate_limit_reported = false;
            let mut waiting = Vec::new();
            picked = lock(&shared.queue).take_first(|p| match cooling.get(&p.index) {
                Some(until) if *until > now => {
                    waiting.push((p.index.clone(), *until));
                    false
                }
                _ => true,
            });
            for (index, until) in waiting {
                wake_at = Some(wake_at.map_or(until, |w| w.min(until)));
                if picked.is_none() && cooldown_reported.insert(index.clone()) {
                    let left = until.saturating_duration_since(now);
                    shared.event(
                        EventKind::SkippedCooldown,
                        Some(&index),
                        None,
                        format!("cooling down for {:.1} s more", left.as_secs_f64()),
                    );
                }
            }
        }

        let Some(pending) = picked else {
            let sleep = async {
                match wake_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = shared.wake.notified() => {}
                _ = periodic.tick() => {
                    if !order.is_empty() {
                        let index = order[next_periodic % order.len()].clone();
                        next_periodic = next_periodic.wrapping_add(1);
                        if let Err(e) = lock(&shared.queue).push(index.clone(), TriggerReason::Periodic, false) {
                            shared.event(EventKind::TriggerDropped, Some(&index), None, e.to_string());
                        }
                    }
                }
                _ = sleep => {}
            }
            continue;
        };

        cooldown_reported.remove(&pending.index);
        let Some(settings) = indexes.get(&pending.index) else {
            continue;
        };
        let result = engine
            .cycle(
                settings,
                pending.reason.clone(),
                pending.revalidate,
                &observer,
            )
            .await;
        lock(&shared.state).current = None;
        cooling.insert(pending.index.clone(), Instant::now() + config.cooldown());
        match result {
            Ok(done) => {
                let built = done.built();
                budget.replace(&pending.index, done.own_trials);
                match done.outcome {
                    Outcome::Revalidated { regressed, .. } => {
                        // The data changed: the trigger still deserves a tuning trial,
                        // ahead of the others if the champion fell below the floor.
                        let requeued = lock(&shared.queue).push_with(
                            pending.index.clone(),
                            pending.reason,
                            regressed,
                            false,
                        );
                        if let Err(e) = requeued {
                            shared.event(
                                EventKind::TriggerDropped,
                                Some(&pending.index),
                                None,
                                format!("re-tuning after revalidation: {e}"),
                            );
                        }
                    }
                    Outcome::Trial { .. } | Outcome::Exhausted => {}
                    Outcome::Converged(_) => {}
                }
                let mut state = lock(&shared.state);
                if matches!(done.outcome, Outcome::Converged(_)) {
                    state.converged.insert(pending.index.clone());
                } else {
                    state.converged.remove(&pending.index);
                }
                drop(state);
                if !built {
                    cooling.remove(&pending.index);
                }
            }
            Err(error) => {
                let kind = match &error {
                    AgentError::Store { .. } => EventKind::JournalError,
                    _ => EventKind::CycleError,
                };
                shared.error(kind, &pending.index, &error);
            }
        }
    }
}
