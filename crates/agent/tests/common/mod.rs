//! Helpers shared by the agent's integration tests.
#![allow(dead_code, reason = "each test file uses a different subset")]

use std::sync::Arc;
use std::time::Duration;

use hnswtune_agent::{AgentConfig, AgentEvent, AgentHandle, AgentStatus, Backends, IndexSettings};
use hnswtune_core::SearchSpace;
use hnswtune_core::{EF_CONSTRUCTION, EF_SEARCH, IndexName, Params};
use hnswtune_testkit::fakes::{FakeEvaluator, MemoryJournal, MemoryRegistry, ScriptedProposer};

pub fn name(s: &str) -> IndexName {
    IndexName::new(s).unwrap()
}

pub fn cfg(ef_construction: i64, ef_search: i64) -> Params {
    Params::new()
        .with(EF_CONSTRUCTION, ef_construction)
        .with(EF_SEARCH, ef_search)
}

/// `n` distinct configs of the seed's space, cheapest first.
pub fn sweep(n: usize) -> Vec<Params> {
    [100, 150, 200, 250]
        .into_iter()
        .flat_map(|c| (10..=200).map(move |s| cfg(c, s)))
        .take(n)
        .collect()
}

pub struct Rig {
    pub journal: Arc<MemoryJournal>,
    pub registry: Arc<MemoryRegistry>,
    pub evaluator: Arc<FakeEvaluator>,
    pub backends: Backends,
}

pub fn rig(evaluator: FakeEvaluator) -> Rig {
    let journal = Arc::new(MemoryJournal::new());
    let registry = Arc::new(MemoryRegistry::new());
    let evaluator = Arc::new(evaluator);
    let backends = Backends::new(journal.clone(), registry.clone(), evaluator.clone());
    Rig {
        journal,
        registry,
        evaluator,
        backends,
    }
}

/// Settings over the step-1 HNSW space, so that scripts may name any integer config.
pub fn settings(index: &str, script: Vec<Params>) -> IndexSettings {
    settings_with(name(index), "eval", Arc::new(ScriptedProposer::new(script)))
}

/// [`settings`] for any proposer and eval set.
pub fn settings_with(
    index: IndexName,
    eval_set: &str,
    proposer: Arc<dyn hnswtune_propose::Proposer>,
) -> IndexSettings {
    IndexSettings::new(index, eval_set, proposer)
        .with_space(SearchSpace::hnsw_fine((10, 400), (10, 200)).expect("valid bounds"))
}

/// Enabled, no cooldown, no periodic wake-up within a test's horizon, fast retries.
pub fn config() -> AgentConfig {
    AgentConfig {
        enabled: true,
        cycle_interval_secs: 86_400,
        cooldown_between_trials_secs: 0,
        store_backoff_ms: 10,
        ..AgentConfig::default()
    }
}

pub fn has(events: &[AgentEvent], kind: hnswtune_agent::EventKind) -> bool {
    events.iter().any(|e| e.kind == kind)
}

/// Polls (in tokio's paused time) until `done` holds; fails with the status after
/// `limit` of virtual time.
pub async fn wait_until(
    handle: &AgentHandle,
    limit: Duration,
    done: impl Fn(&AgentStatus, &[AgentEvent]) -> bool,
) {
    wait_until_every(handle, limit, Duration::from_millis(250), done).await
}

/// [`wait_until`] polling every `poll`. While a blocking task runs, tokio cannot
/// auto-advance its paused clock and a timer waits in real time, so tests with real
/// builds poll often.
pub async fn wait_until_every(
    handle: &AgentHandle,
    limit: Duration,
    poll: Duration,
    done: impl Fn(&AgentStatus, &[AgentEvent]) -> bool,
) {
    let start = tokio::time::Instant::now();
    loop {
        let status = handle.status();
        let events = handle.events();
        if done(&status, &events) {
            return;
        }
        assert!(
            start.elapsed() < limit,
            "condition not reached; status: {status:#?}\nevents: {events:#?}"
        );
        tokio::time::sleep(poll).await;
    }
}

/// Keeps every study event, for assertions.
#[derive(Default)]
pub struct Recorder(std::sync::Mutex<Vec<hnswtune_agent::StudyEvent>>);

impl hnswtune_agent::Observer for Recorder {
    fn on_event(&self, event: &hnswtune_agent::StudyEvent) {
        self.0.lock().unwrap().push(event.clone());
    }
}

impl Recorder {
    /// Every event so far.
    pub fn events(&self) -> Vec<hnswtune_agent::StudyEvent> {
        self.0.lock().unwrap().clone()
    }

    /// How many events `pick` accepts.
    pub fn count(&self, pick: impl Fn(&hnswtune_agent::StudyEvent) -> bool) -> usize {
        self.0.lock().unwrap().iter().filter(|e| pick(e)).count()
    }
}
