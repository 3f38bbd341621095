//! Studies under leases: several workers on one journal never evaluate a config twice
//! at once, a dead worker's lease is ended by a live one, a restarted worker resumes
//! its own lease, and a worker whose lease was ended does not record its result.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::*;
use hnswtune_agent::{AgentConfig, Backends, StudyBudget, StudyEvent, tune};
use hnswtune_core::{
    Claim, LEASE_EXPIRED, Trial, TrialJournal, TrialLeases, TrialState, TriggerReason,
};
use hnswtune_journal::{ObjectStoreJournal, ObjectStorePromotions, StoreLocation};
use hnswtune_testkit::fakes::{EvalGate, FakeEvaluator, fingerprint};

/// One worker's view of a shared store: its own journal handle (leases included),
/// its own registry handle, its own evaluator.
fn worker(
    location: &StoreLocation,
    evaluator: FakeEvaluator,
) -> (Arc<ObjectStoreJournal>, Backends) {
    let journal = Arc::new(ObjectStoreJournal::open(location.clone()).unwrap());
    let registry = Arc::new(ObjectStorePromotions::open(location.clone()).unwrap());
    let backends =
        Backends::new(journal.clone(), registry, Arc::new(evaluator)).with_leases(journal.clone());
    (journal, backends)
}

fn config_for(id: &str) -> AgentConfig {
    AgentConfig {
        agent_id: id.into(),
        store_backoff_ms: 1,
        ..AgentConfig::default()
    }
}

/// A running trial of `params` under a lease of `holder` that expires in `secs`.
fn held(journal_index: &str, holder: &str, secs: i64) -> Trial {
    let mut t = Trial::start(
        name(journal_index),
        "eval",
        cfg(100, 40),
        fingerprint(1000),
        TriggerReason::Study,
    )
    .leased(holder, Utc::now() + chrono::Duration::seconds(secs), 20);
    t.worker = holder.into();
    t
}

/// `trial` claimed in `journal`, as the first claim of its config.
async fn claimed(journal: &ObjectStoreJournal, trial: Trial) -> Trial {
    match journal.claim(&trial, Utc::now()).await.unwrap() {
        Claim::Won(t) => t,
        Claim::Taken(t) => panic!("the first claim wins, yet {} holds it", t.id),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn workers_on_one_journal_never_evaluate_a_config_twice_at_once() {
    let location = StoreLocation::in_memory();
    let script = sweep(12);
    let mut studies = Vec::new();
    for w in 0..3 {
        let (_, backends) = worker(
            &location,
            FakeEvaluator::new().with_delay(Duration::from_millis(20)),
        );
        let settings = settings("shared", script.clone());
        studies.push(tokio::spawn(async move {
            let config = config_for(&format!("w{w}"));
            let recorder = Recorder::default();
            let report = tune(
                &config,
                &backends,
                &settings,
                StudyBudget::trials(4),
                &recorder,
            )
            .await
            .unwrap();
            let taken = recorder.count(|e| matches!(e, StudyEvent::ConfigTaken { .. }));
            (report.trials, taken)
        }));
    }
    let mut ran = Vec::new();
    for study in studies {
        ran.extend(study.await.unwrap().0);
    }
    let journal = ObjectStoreJournal::open(location).unwrap();
    let trials = journal.trials(&name("shared")).await.unwrap();
    assert_eq!(trials.len(), ran.len(), "every trial run is recorded once");
    assert!(trials.iter().all(Trial::is_complete));
    let mut configs: Vec<_> = trials.iter().map(|t| t.params.to_string()).collect();
    configs.sort();
    configs.dedup();
    assert_eq!(configs.len(), trials.len(), "no config was evaluated twice");
    assert!(trials.iter().all(|t| t.lease.is_some()));
}

#[tokio::test]
async fn a_dead_workers_lease_is_ended_and_its_config_proposed_again() {
    let location = StoreLocation::in_memory();
    let (journal, backends) = worker(&location, FakeEvaluator::new());
    let dead = held("crash", "dead-worker", -5);
    let dead = claimed(&journal, dead).await;
    let settings = settings("crash", vec![cfg(100, 40), cfg(100, 60)]);
    let recorder = Recorder::default();
    let report = tune(
        &config_for("alive"),
        &backends,
        &settings,
        StudyBudget::trials(5),
        &recorder,
    )
    .await
    .unwrap();
    assert_eq!(
        recorder.count(|e| matches!(e, StudyEvent::LeaseExpired { .. })),
        1
    );
    let trials = journal.trials(&name("crash")).await.unwrap();
    let old = trials.iter().find(|t| t.id == dead.id).unwrap();
    assert!(old.lost_its_lease(), "{:?}", old.state);
    assert!(
        report
            .trials
            .iter()
            .any(|t| t.params == dead.params && t.is_complete()),
        "the config of the lapsed lease was proposed again and measured"
    );
    assert!(trials.iter().all(|t| t.state != TrialState::Running));
}

#[tokio::test]
async fn a_restarted_worker_resumes_its_own_live_lease() {
    let location = StoreLocation::in_memory();
    let (journal, backends) = worker(&location, FakeEvaluator::new());
    let mine = held("resume", "me", 50);
    let mine = claimed(&journal, mine).await;
    let settings = settings("resume", vec![cfg(100, 60)]);
    let recorder = Recorder::default();
    let report = tune(
        &config_for("me"),
        &backends,
        &settings,
        StudyBudget::trials(1),
        &recorder,
    )
    .await
    .unwrap();
    assert_eq!(report.trials.len(), 1);
    assert_eq!(
        report.trials[0].id, mine.id,
        "the same trial, not a new one"
    );
    assert!(report.trials[0].is_complete());
    assert_eq!(
        recorder.count(|e| matches!(e, StudyEvent::LeaseResumed { .. })),
        1
    );
    let trials = journal.trials(&name("resume")).await.unwrap();
    assert_eq!(trials.len(), 1);
    assert!(trials[0].is_complete());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_lease_was_ended_does_not_record_its_result() {
    let location = StoreLocation::in_memory();
    let gate = EvalGate::new();
    let (journal, backends) = worker(&location, FakeEvaluator::new().with_gate(gate.clone()));
    let settings = settings("lost", vec![cfg(100, 60)]);
    let study = tokio::spawn(async move {
        let recorder = Recorder::default();
        let report = tune(
            &config_for("slow"),
            &backends,
            &settings,
            StudyBudget::trials(1),
            &recorder,
        )
        .await
        .unwrap();
        let lost = recorder.count(|e| matches!(e, StudyEvent::LeaseLost { .. }));
        (report, lost)
    });
    gate.wait_started().await;
    let running = journal.trials(&name("lost")).await.unwrap()[0].clone();
    assert_eq!(running.state, TrialState::Running);
    // Another worker decides the lease lapsed (as it would after a long pause).
    let other = ObjectStoreJournal::open(location.clone()).unwrap();
    other.expire(&running, LEASE_EXPIRED).await.unwrap();
    gate.open();
    let (report, lost) = study.await.unwrap();
    assert_eq!(lost, 1);
    assert!(!report.trials[0].is_complete());
    assert!(
        report.champion.is_none(),
        "a dropped result is never promoted"
    );
    let trials = journal.trials(&name("lost")).await.unwrap();
    assert!(trials[0].lost_its_lease(), "{:?}", trials[0].state);
}

#[tokio::test(start_paused = true)]
async fn a_long_evaluation_renews_its_lease() {
    let location = StoreLocation::in_memory();
    let gate = EvalGate::new();
    let (journal, backends) = worker(&location, FakeEvaluator::new().with_gate(gate.clone()));
    let settings = settings("renew", vec![cfg(100, 60)]);
    let config = AgentConfig {
        lease_secs: 30,
        ..config_for("w")
    };
    let study = tokio::spawn(async move {
        tune(
            &config,
            &backends,
            &settings,
            StudyBudget::trials(1),
            &hnswtune_agent::NoObserver,
        )
        .await
        .unwrap()
    });
    gate.wait_started().await;
    let first = journal.trials(&name("renew")).await.unwrap()[0].clone();
    // Three heartbeats (every 10 s of the paused clock). The held build inhibits
    // tokio's auto-advance, so the test moves the clock itself.
    for _ in 0..35 {
        tokio::time::advance(Duration::from_secs(1)).await;
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }
    let renewed = journal.trials(&name("renew")).await.unwrap()[0].clone();
    gate.open();
    study.await.unwrap();
    let (a, b) = (first.lease.unwrap(), renewed.lease.unwrap());
    assert_eq!(a.generation, b.generation);
    assert!(
        b.expires_at >= a.expires_at + chrono::Duration::seconds(29),
        "{} then {}",
        a.expires_at,
        b.expires_at
    );
}
