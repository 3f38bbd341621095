//! The agent loop, on the testkit's fakes and tokio's paused clock.

mod common;

use std::time::Duration;

use common::*;
use hnswtune_agent::{
    AgentConfig, AgentDeps, AgentError, Enqueued, EventKind, TriggerEvent, WallClock, spawn,
};
use hnswtune_core::{TrialState, TriggerReason};
use hnswtune_testkit::fakes::{EvalGate, FakeEvaluator};

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test(start_paused = true)]
async fn a_cap_above_256_is_enforced_and_a_restart_keeps_the_budget() {
    let rig = rig(FakeEvaluator::new());
    let clock = WallClock::new();
    let backends = rig.backends.clone().with_clock(clock);
    let config = AgentConfig {
        cycle_interval_secs: 1,
        max_trials_per_hour: 300,
        agent_id: "agent-1".into(),
        ..config()
    };
    let deps = AgentDeps::new(backends.clone()).with_index(settings("a", sweep(400)));
    let first = spawn(config.clone(), deps.clone()).unwrap();
    wait_until(&first, HOUR, |_, events| {
        has(events, EventKind::SkippedRateLimit)
    })
    .await;
    let status = first.status();
    assert_eq!(status.trials_run, 300);
    assert_eq!(status.trials_in_last_hour, 300);
    first.stop();
    first.stopped().await;
    let trials = rig.journal.trials_of(&name("a"));
    assert_eq!(trials.len(), 300);
    assert!(trials.iter().all(|t| t.worker == "agent-1"));
    let oldest = trials.iter().map(|t| t.created_at).min().unwrap();

    // A new process with the same journal and identity starts with the budget spent.
    let second = spawn(config, deps).unwrap();
    second.enqueue(TriggerEvent::manual(name("a"))).unwrap();
    wait_until(&second, HOUR, |_, events| {
        has(events, EventKind::SkippedRateLimit)
    })
    .await;
    assert_eq!(second.status().trials_run, 0);
    assert_eq!(second.status().trials_in_last_hour, 300);

    // It resumes only once the first trials leave the rolling hour.
    wait_until(&second, 2 * HOUR, |s, _| s.trials_run >= 1).await;
    let trials = rig.journal.trials_of(&name("a"));
    let resumed = trials.iter().map(|t| t.created_at).max().unwrap();
    assert!(resumed >= oldest + chrono::Duration::hours(1));
    second.stop();
    second.stopped().await;
}

#[tokio::test(start_paused = true)]
async fn the_cooldown_holds_back_only_the_index_that_just_ran() {
    let rig = rig(FakeEvaluator::new());
    let config = AgentConfig {
        cooldown_between_trials_secs: 30,
        ..config()
    };
    let deps = AgentDeps::new(rig.backends.clone())
        .with_index(settings("a", sweep(10)))
        .with_index(settings("b", sweep(10)));
    let agent = spawn(config, deps).unwrap();
    agent.enqueue(TriggerEvent::manual(name("a"))).unwrap();
    wait_until(&agent, HOUR, |s, _| s.trials_run == 1).await;
    agent.enqueue(TriggerEvent::manual(name("a"))).unwrap();
    agent.enqueue(TriggerEvent::manual(name("b"))).unwrap();
    wait_until(&agent, HOUR, |s, _| s.trials_run == 3).await;

    let a = rig.journal.trials_of(&name("a"));
    let b = rig.journal.trials_of(&name("b"));
    assert_eq!((a.len(), b.len()), (2, 1));
    assert!(b[0].created_at < a[1].created_at, "b was not held back");
    // created_at is the trial id's time, which has millisecond resolution.
    let gap = a[1].created_at - a[0].finished_at.unwrap();
    assert!(
        gap >= chrono::Duration::seconds(30) - chrono::Duration::milliseconds(1),
        "gap {gap}"
    );
    let events = agent.events();
    let skipped = events
        .iter()
        .find(|e| e.kind == EventKind::SkippedCooldown)
        .expect("a skipped_cooldown event");
    assert_eq!(skipped.index, Some(name("a")));
}

#[tokio::test(start_paused = true)]
async fn periodic_wake_ups_visit_every_index_in_turn() {
    let rig = rig(FakeEvaluator::new());
    let config = AgentConfig {
        cycle_interval_secs: 10,
        ..config()
    };
    let mut deps = AgentDeps::new(rig.backends.clone());
    for index in ["a", "b", "c"] {
        deps = deps.with_index(settings(index, sweep(50)));
    }
    let agent = spawn(config, deps).unwrap();
    // A hot index: manual triggers for "a" between wake-ups must not starve the others.
    for _ in 0..6 {
        agent.enqueue(TriggerEvent::manual(name("a"))).unwrap();
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    wait_until(&agent, HOUR, |s, _| s.trials_run >= 15).await;
    agent.stop();
    agent.stopped().await;
    let count = |index| {
        rig.journal
            .trials_of(&name(index))
            .iter()
            .filter(|t| t.trigger == TriggerReason::Periodic)
            .count()
    };
    let (a, b, c) = (count("a"), count("b"), count("c"));
    // Periodic turns of "a" coalesce into its pending manual triggers; "b" and "c" get
    // theirs in turn.
    assert!(
        b >= 2 && c >= 2 && b.abs_diff(c) <= 1,
        "periodic turns: a {a}, b {b}, c {c}"
    );
    assert!(rig.journal.trials_of(&name("a")).len() >= 6);
}

#[tokio::test(start_paused = true)]
async fn a_thousand_duplicate_triggers_coalesce_into_one_trial() {
    let rig = rig(FakeEvaluator::new());
    let deps = AgentDeps::new(rig.backends.clone()).with_index(settings("a", sweep(10)));
    let agent = spawn(config(), deps).unwrap();
    let mut outcomes = Vec::new();
    for i in 0..1000 {
        let trigger = if i % 2 == 0 {
            TriggerEvent::manual(name("a"))
        } else {
            TriggerEvent::periodic(name("a"))
        };
        outcomes.push(agent.enqueue(trigger).unwrap());
    }
    assert_eq!(outcomes[0], Enqueued::Queued);
    assert!(outcomes[1..].iter().all(|o| *o == Enqueued::Coalesced));
    assert_eq!(agent.status().queue_depth, 1);
    wait_until(&agent, HOUR, |s, _| s.trials_run == 1 && s.queue_depth == 0).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(agent.status().trials_run, 1);
    let trials = rig.journal.trials_of(&name("a"));
    assert_eq!(trials.len(), 1);
    assert_eq!(
        trials[0].trigger,
        TriggerReason::Manual,
        "the strongest reason"
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_queue_refuses_new_indexes_without_blocking() {
    let rig = rig(FakeEvaluator::new());
    let config = AgentConfig {
        queue_capacity: 2,
        ..config()
    };
    let mut deps = AgentDeps::new(rig.backends.clone());
    for index in ["a", "b", "c"] {
        deps = deps.with_index(settings(index, sweep(10)));
    }
    let agent = spawn(config, deps).unwrap();
    agent.enqueue(TriggerEvent::manual(name("a"))).unwrap();
    agent.enqueue(TriggerEvent::manual(name("b"))).unwrap();
    assert!(matches!(
        agent.enqueue(TriggerEvent::manual(name("c"))),
        Err(AgentError::QueueFull { capacity: 2 })
    ));
    assert_eq!(
        agent.enqueue(TriggerEvent::manual(name("a"))).unwrap(),
        Enqueued::Coalesced,
        "a pending index still coalesces when the queue is full"
    );
    assert!(matches!(
        agent.enqueue(TriggerEvent::manual(name("zzz"))),
        Err(AgentError::UnknownIndex { .. })
    ));
    assert!(has(&agent.events(), EventKind::TriggerDropped));
    wait_until(&agent, HOUR, |s, _| s.trials_run == 2).await;
    assert_eq!(
        agent.enqueue(TriggerEvent::manual(name("c"))).unwrap(),
        Enqueued::Queued
    );
}

#[tokio::test(start_paused = true)]
async fn stop_during_a_long_trial_finishes_and_records_it() {
    let gate = EvalGate::new();
    let rig = rig(FakeEvaluator::new().with_gate(gate.clone()));
    let deps = AgentDeps::new(rig.backends.clone())
        .with_index(settings("a", sweep(10)))
        .with_index(settings("b", sweep(10)));
    let agent = spawn(config(), deps).unwrap();
    agent.enqueue(TriggerEvent::manual(name("a"))).unwrap();
    gate.wait_started().await;

    // The build blocks a pool thread; the handle still answers, in well under a
    // millisecond of real time.
    let real = std::time::Instant::now();
    let status = agent.status();
    assert!(real.elapsed() < Duration::from_millis(50));
    let current = status.current_trial.expect("a trial is running");
    assert_eq!(current.index, name("a"));
    assert_eq!(current.params, cfg(100, 64));
    assert_eq!(current.trigger, TriggerReason::Manual);
    assert_eq!(
        agent.enqueue(TriggerEvent::manual(name("b"))).unwrap(),
        Enqueued::Queued
    );
    agent.stop();
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    let status = agent.status();
    assert!(status.running && status.stopping);
    assert!(matches!(
        agent.enqueue(TriggerEvent::manual(name("b"))),
        Err(AgentError::Stopped)
    ));

    gate.open();
    agent.stopped().await;
    let status = agent.status();
    assert!(!status.running);
    assert_eq!(status.trials_run, 1, "b did not start after stop");
    let trials = rig.journal.trials_of(&name("a"));
    assert_eq!(trials.len(), 1);
    assert_eq!(trials[0].state, TrialState::Complete);
    assert!(rig.journal.trials_of(&name("b")).is_empty());
    assert_eq!(agent.events().last().unwrap().kind, EventKind::Stopped);
}

#[tokio::test(start_paused = true)]
async fn an_index_without_trials_is_seeded_and_a_failed_build_is_recorded() {
    let rig = rig(FakeEvaluator::new());
    let deps = AgentDeps::new(rig.backends.clone()).with_index(settings("fresh", sweep(10)));
    let agent = spawn(config(), deps).unwrap();
    agent.enqueue(TriggerEvent::manual(name("fresh"))).unwrap();
    wait_until(&agent, HOUR, |s, _| s.promotions == 1).await;
    let trials = rig.journal.trials_of(&name("fresh"));
    assert_eq!(trials.len(), 1);
    assert_eq!(trials[0].params, cfg(100, 64), "the space defaults");
    assert!(trials[0].note.contains("seeded"));
    let events = agent.events();
    assert!(!has(&events, EventKind::CycleError) && !has(&events, EventKind::JournalError));

    rig.evaluator.fail_next_evaluations(1);
    agent.enqueue(TriggerEvent::manual(name("fresh"))).unwrap();
    wait_until(&agent, HOUR, |s, _| s.trials_run == 2).await;
    let trials = rig.journal.trials_of(&name("fresh"));
    assert!(matches!(trials[1].state, TrialState::Failed { .. }));
    assert!(has(&agent.events(), EventKind::TrialError));
}

#[tokio::test(start_paused = true)]
async fn journal_failures_are_retried_then_surfaced() {
    let rig = rig(FakeEvaluator::new());
    let config = AgentConfig {
        store_attempts: 3,
        ..config()
    };
    let deps = AgentDeps::new(rig.backends.clone()).with_index(settings("a", sweep(10)));
    let agent = spawn(config, deps).unwrap();

    // Two failures: retried, the trial is recorded.
    rig.journal.fail_next_appends(2);
    agent.enqueue(TriggerEvent::manual(name("a"))).unwrap();
    wait_until(&agent, HOUR, |s, _| s.trials_run == 1).await;
    assert!(has(&agent.events(), EventKind::StoreRetry));
    assert!(!has(&agent.events(), EventKind::JournalError));
    assert_eq!(rig.journal.trials_of(&name("a")).len(), 1);

    // Three failures: surfaced, and nothing was built for an unrecordable trial.
    let built = rig.evaluator.evaluations();
    rig.journal.fail_next_appends(3);
    agent.enqueue(TriggerEvent::manual(name("a"))).unwrap();
    wait_until(&agent, HOUR, |_, e| has(e, EventKind::JournalError)).await;
    let status = agent.status();
    let error = status.last_error.expect("the error is in the status");
    assert_eq!(error.index, Some(name("a")));
    assert!(error.message.contains("append trial"), "{}", error.message);
    assert_eq!(rig.evaluator.evaluations(), built);
    assert_eq!(status.trials_run, 1);

    // The store recovers; the next trigger goes through.
    agent.enqueue(TriggerEvent::manual(name("a"))).unwrap();
    wait_until(&agent, HOUR, |s, _| s.trials_run == 2).await;
    assert_eq!(rig.journal.trials_of(&name("a")).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_champion_that_regresses_after_an_append_is_replaced_first() {
    let rig = rig(FakeEvaluator::new());
    let deps = AgentDeps::new(rig.backends.clone())
        .with_index(settings("a", vec![cfg(100, 150), cfg(100, 180)]))
        .with_index(settings("b", sweep(10)));
    let agent = spawn(config(), deps).unwrap();
    // ef_search 64 gives recall ≈ 0.92 on 1,000 vectors, ≈ 0.84 on 4,000.
    agent.enqueue(TriggerEvent::manual(name("a"))).unwrap();
    wait_until(&agent, HOUR, |s, _| s.promotions == 1).await;
    let before = rig.registry.champion_of(&name("a")).unwrap();
    assert_eq!(before.params, cfg(100, 64));

    let grown = rig.evaluator.append_vectors(&name("a"), 3000);
    agent
        .enqueue(TriggerEvent::dataset_appended(name("a"), "docs"))
        .unwrap();
    agent.enqueue(TriggerEvent::manual(name("b"))).unwrap();
    wait_until(&agent, HOUR, |s, _| s.promotions == 3).await;
    let kinds: Vec<EventKind> = agent
        .events()
        .iter()
        .filter(|e| e.index == Some(name("a")))
        .map(|e| e.kind)
        .collect();
    let regressed_at = kinds
        .iter()
        .position(|k| *k == EventKind::ChampionRegressed)
        .expect("a champion_regressed event");
    assert!(kinds[regressed_at..].contains(&EventKind::Promoted));

    let after = rig.registry.champion_of(&name("a")).unwrap();
    assert_eq!(after.params, cfg(100, 150));
    assert_eq!(after.dataset, grown);
    assert!(agent.status().regressed.is_empty());
    let trials = rig.journal.trials_of(&name("a"));
    let revalidation = trials
        .iter()
        .find(|t| t.trigger == TriggerReason::Revalidation)
        .expect("the champion was re-measured");
    assert_eq!(revalidation.params, cfg(100, 64));
    assert_eq!(revalidation.dataset, grown);
    assert!(revalidation.metrics.as_ref().unwrap().recall < 0.9);
    // The re-tune of the regressed index went ahead of "b", pending since before it.
    let b = rig.journal.trials_of(&name("b"));
    let retune = trials.iter().find(|t| t.params == cfg(100, 150)).unwrap();
    assert_eq!(
        retune.trigger,
        TriggerReason::DatasetAppended {
            dataset: "docs".into()
        },
        "the re-tune keeps the trigger's reason"
    );
    assert!(retune.id < b[0].id, "ids are minted in order");
}

#[tokio::test(start_paused = true)]
async fn a_disabled_agent_runs_nothing_and_bad_configs_are_refused() {
    let rig = rig(FakeEvaluator::new());
    let deps = AgentDeps::new(rig.backends.clone()).with_index(settings("a", sweep(10)));
    let agent = spawn(AgentConfig::default(), deps.clone()).unwrap();
    assert!(matches!(
        agent.enqueue(TriggerEvent::manual(name("a"))),
        Err(AgentError::Disabled)
    ));
    agent.stopped().await;
    assert!(!agent.status().running);
    let zero = AgentConfig {
        cycle_interval_secs: 0,
        ..config()
    };
    assert!(matches!(
        spawn(zero, deps.clone()),
        Err(AgentError::InvalidConfig { .. })
    ));
    let twice = deps.with_index(settings("a", sweep(10)));
    assert!(matches!(
        spawn(config(), twice),
        Err(AgentError::InvalidConfig { .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn a_regressed_champion_is_marked_in_the_status_until_replaced() {
    let rig = rig(FakeEvaluator::new());
    let config = AgentConfig {
        cooldown_between_trials_secs: 30,
        ..config()
    };
    let deps = AgentDeps::new(rig.backends.clone()).with_index(settings("a", vec![cfg(100, 150)]));
    let agent = spawn(config, deps).unwrap();
    agent.enqueue(TriggerEvent::manual(name("a"))).unwrap();
    wait_until(&agent, HOUR, |s, _| s.promotions == 1).await;
    rig.evaluator.append_vectors(&name("a"), 3000);
    agent
        .enqueue(TriggerEvent::dataset_appended(name("a"), "docs"))
        .unwrap();
    wait_until(&agent, HOUR, |_, e| has(e, EventKind::ChampionRegressed)).await;
    let status = agent.status();
    assert_eq!(status.regressed, vec![name("a")]);
    assert_eq!(status.pending, vec![name("a")], "the re-tune is queued");
    wait_until(&agent, HOUR, |s, _| s.promotions == 2).await;
    assert!(agent.status().regressed.is_empty());
}

/// A converged index costs its periodic wake-ups a journal read and no build; the
/// status lists it; a Manual trigger still runs a trial.
#[tokio::test(start_paused = true)]
async fn a_converged_index_waits_for_new_data_or_a_manual_trigger() {
    let rig = rig(FakeEvaluator::new());
    let config = AgentConfig {
        cycle_interval_secs: 10,
        max_trials_per_hour: 300,
        ..config()
    };
    let frontier = std::sync::Arc::new(hnswtune_propose::Frontier::seeded(5));
    let settings = hnswtune_agent::IndexSettings::new(name("a"), "eval", frontier)
        .with_objective(hnswtune_core::Objective::new(0.9).unwrap());
    let agent = spawn(
        config,
        AgentDeps::new(rig.backends.clone()).with_index(settings),
    )
    .unwrap();
    wait_until(&agent, HOUR * 4, |s, _| s.converged == vec![name("a")]).await;
    let trials = rig.journal.trials_of(&name("a")).len();
    let evaluations = rig.evaluator.evaluations();
    tokio::time::sleep(Duration::from_secs(200)).await;
    assert_eq!(rig.journal.trials_of(&name("a")).len(), trials);
    assert_eq!(
        rig.evaluator.evaluations(),
        evaluations,
        "no build after convergence"
    );
    assert!(has(&agent.events(), EventKind::Converged));

    agent.enqueue(TriggerEvent::manual(name("a"))).unwrap();
    wait_until(&agent, HOUR, |_, _| {
        rig.journal.trials_of(&name("a")).len() == trials + 1
    })
    .await;
    agent.stop();
    agent.stopped().await;
}
