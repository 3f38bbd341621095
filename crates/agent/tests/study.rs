//! The synchronous study: promotion rules, races between agents, and a property test
//! of the floor and the noise rule.

mod common;

use std::sync::Arc;

use common::*;
use hnswtune_agent::{
    AgentConfig, StudyBudget, StudyEvent, rules::PromoteRule, rules::Relation, rules::Verdict,
    rules::judge, tune,
};
use hnswtune_core::{AbComparison, EF_SEARCH, Objective, RECALL_TIE_EPSILON, TriggerReason};
use hnswtune_testkit::fakes::{FakeEvaluator, analytic_metrics};
use proptest::prelude::*;

#[tokio::test(start_paused = true)]
async fn a_study_reports_its_trials_the_champion_and_the_front() {
    let rig = rig(FakeEvaluator::new());
    let script = vec![cfg(100, 20), cfg(100, 120), cfg(100, 90), cfg(100, 88)];
    let settings = settings("docs", script).with_initial_params(cfg(100, 200));
    let recorder = Recorder::default();
    let report = tune(
        &AgentConfig::default(),
        &rig.backends,
        &settings,
        StudyBudget::trials(10),
        &recorder,
    )
    .await
    .unwrap();
    assert_eq!(report.trials.len(), 5);
    assert!(report.exhausted);
    assert!(
        report
            .trials
            .iter()
            .all(|t| t.trigger == TriggerReason::Study)
    );
    // One clock stamps both: a trial's id time is its created_at, and ids follow the
    // order the trials were made in.
    for t in &report.trials {
        assert_eq!(t.id.created_at(), t.created_at, "trial {}", t.id);
    }
    assert!(report.trials.windows(2).all(|w| w[0].id < w[1].id));
    let champion = report.champion.unwrap();
    // 88 is less than 3% faster than 90, within the noise margin, but it searches 90's
    // own build with a lower ef_search, so a re-measured median no higher promotes it.
    assert_eq!(champion.params.int(EF_SEARCH), Some(88));
    assert_eq!(report.promotions.len(), 4);
    assert!(report.promotions[3].note.starts_with("LowerEfSameBuild"));
    assert!(
        report
            .pareto_front
            .iter()
            .any(|t| t.id == champion.trial_id)
    );
    let events = recorder.events();
    let started = events
        .iter()
        .filter(|e| matches!(e, StudyEvent::TrialStarted { .. }))
        .count();
    assert_eq!(started, 5);
    assert!(events.iter().any(|e| matches!(
        e,
        StudyEvent::NotPromoted {
            reason: hnswtune_agent::rules::KeepReason::Infeasible,
            ..
        }
    )));
}

/// The f6 run of docs/stopping.md: a lower `ef_search` on the champion's own build,
/// 14% faster by the medians of the re-measurement, but with overlapping repeats. The
/// same figures from another build keep the champion; from the champion's build they
/// promote it.
#[tokio::test(start_paused = true)]
async fn a_lower_ef_search_on_the_champions_build_is_promoted_on_its_median() {
    let evaluator = FakeEvaluator::new().with_comparator(|champion, challenger, _repeats| {
        let repeats = |params: &hnswtune_core::Params| match params.int(EF_SEARCH) {
            Some(13) => vec![111.3, 104.0, 120.0, 108.0, 115.0],
            _ => vec![95.8, 90.0, 106.0, 93.0, 99.0],
        };
        Ok(AbComparison {
            champion_p50_us: repeats(&champion.params),
            challenger_p50_us: repeats(&challenger.params),
            champion_recall: 0.99,
            challenger_recall: 0.99,
        })
    });
    let rig = rig(evaluator);
    let script = vec![cfg(120, 11), cfg(100, 11)];
    let settings = settings("lower", script)
        .with_initial_params(cfg(100, 13))
        .with_objective(Objective::new(0.5).unwrap());
    let config = AgentConfig {
        min_recall: 0.5,
        ..AgentConfig::default()
    };
    let recorder = Recorder::default();
    let report = tune(
        &config,
        &rig.backends,
        &settings,
        StudyBudget::trials(3),
        &recorder,
    )
    .await
    .unwrap();
    assert_eq!(report.trials.len(), 3);
    let mut compared_other_build = false;
    let mut rules = Vec::new();
    for event in recorder.events() {
        match event {
            StudyEvent::NotPromoted {
                reason, comparison, ..
            } => {
                assert_eq!(reason, hnswtune_agent::rules::KeepReason::WithinNoise);
                compared_other_build = comparison.is_some();
            }
            StudyEvent::Promoted {
                promotion, rule, ..
            } => {
                rules.push((promotion.params.clone(), rule));
            }
            _ => {}
        }
    }
    assert!(compared_other_build, "120/11 was re-measured and kept out");
    assert_eq!(
        rules,
        vec![
            (cfg(100, 13), PromoteRule::FirstChampion),
            (cfg(100, 11), PromoteRule::LowerEfSameBuild),
        ]
    );
}

/// Two agents tune one index against one registry. Agent A is held at the moment it
/// writes revision 1 while agent B promotes; A must get a conflict, re-read, and decide
/// again against B's champion.
async fn race(
    a_ef_search: i64,
    b_ef_search: i64,
) -> (Recorder, Vec<hnswtune_core::Promotion>, u64) {
    let rig = rig(FakeEvaluator::new());
    let a_settings = settings("shared", vec![]).with_initial_params(cfg(100, a_ef_search));
    let b_settings = settings("shared", vec![cfg(100, b_ef_search)]);
    let a_config = AgentConfig {
        agent_id: "agent-a".into(),
        ..AgentConfig::default()
    };
    let b_config = AgentConfig {
        agent_id: "agent-b".into(),
        ..AgentConfig::default()
    };
    let hold = rig.registry.hold_next_write();
    let a_backends = rig.backends.clone();
    let a_recorder = Arc::new(Recorder::default());
    let a_observer = a_recorder.clone();
    let a = tokio::spawn(async move {
        tune(
            &a_config,
            &a_backends,
            &a_settings,
            StudyBudget::trials(1),
            &*a_observer,
        )
        .await
    });
    hold.reached().await;
    let b = tune(
        &b_config,
        &rig.backends,
        &b_settings,
        StudyBudget::trials(1),
        &hnswtune_agent::NoObserver,
    )
    .await
    .unwrap();
    assert_eq!(b.promotions.len(), 1, "B promotes while A is held");
    hold.release();
    a.await.unwrap().unwrap();
    let events = Arc::try_unwrap(a_recorder).ok().unwrap();
    (
        events,
        rig.registry.history_of(&name("shared")),
        rig.registry.conflicts(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_lost_race_is_re_decided_and_a_better_challenger_wins_next_revision() {
    let (a_events, history, conflicts) = race(90, 120).await;
    assert_eq!(conflicts, 1);
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].promoted_by, "agent-b");
    assert_eq!(history[1].promoted_by, "agent-a");
    assert_eq!(history[1].revision, 2);
    let events = a_events.events();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, StudyEvent::PromotionConflict { revision: 1, .. }))
    );
    assert!(events.iter().any(|e| matches!(
        e,
        StudyEvent::Promoted {
            // 90 searches 120's build (both ef_construction 100).
            rule: PromoteRule::LowerEfSameBuild,
            comparison: Some(_),
            ..
        }
    )));
}

#[tokio::test(start_paused = true)]
async fn a_lost_race_never_overwrites_a_better_champion() {
    let (a_events, history, conflicts) = race(120, 90).await;
    assert_eq!(conflicts, 1);
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].promoted_by, "agent-b");
    assert!(
        a_events
            .events()
            .iter()
            .any(|e| matches!(e, StudyEvent::NotPromoted { .. }))
    );
}

/// A first champion's write that loses `contended` races in a row, as when several
/// workers finish together: the study's report and the events it told.
async fn contended_first_promotion(contended: u64) -> (hnswtune_agent::StudyReport, Recorder) {
    let rig = rig(FakeEvaluator::new());
    rig.registry.contend_next_writes(contended);
    let settings = settings("busy", vec![]).with_initial_params(cfg(100, 90));
    let recorder = Recorder::default();
    let report = tune(
        &AgentConfig::default(),
        &rig.backends,
        &settings,
        StudyBudget::trials(1),
        &recorder,
    )
    .await
    .expect("lost promotion races never fail the study");
    assert_eq!(rig.registry.conflicts(), contended);
    (report, recorder)
}

#[tokio::test(start_paused = true)]
async fn a_promotion_outlasts_several_lost_races_in_a_row() {
    let (report, recorder) = contended_first_promotion(5).await;
    assert_eq!(report.promotions.len(), 1);
    let conflicts = recorder
        .events()
        .iter()
        .filter(|e| matches!(e, StudyEvent::PromotionConflict { .. }))
        .count();
    assert_eq!(conflicts, 5);
}

#[tokio::test(start_paused = true)]
async fn a_trial_that_loses_every_race_gives_way_and_stays_recorded() {
    let (report, recorder) = contended_first_promotion(8).await;
    assert!(report.promotions.is_empty());
    assert_eq!(report.trials.len(), 1);
    assert!(report.trials[0].is_complete());
    assert!(recorder.events().iter().any(|e| matches!(
        e,
        StudyEvent::NotPromoted {
            reason: hnswtune_agent::rules::KeepReason::Contended,
            ..
        }
    )));
}

/// One challenger of the property test: its recorded metrics and the p50 repeats the
/// interleaved comparison reports for champion and challenger.
#[derive(Clone, Debug)]
struct Case {
    recall: f64,
    p50_us: f64,
    remeasured_recall: f64,
    champion_noise: Vec<f64>,
    challenger_noise: Vec<f64>,
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        0.8f64..1.0,
        50.0f64..150.0,
        -0.05f64..0.05,
        proptest::collection::vec(0.9f64..1.1, 3),
        proptest::collection::vec(0.9f64..1.1, 3),
    )
        .prop_map(|(recall, p50_us, drift, a, b)| Case {
            recall,
            p50_us,
            remeasured_recall: (recall + drift).clamp(0.0, 1.0),
            champion_noise: a,
            challenger_noise: b,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_agent_never_promotes_below_the_floor_or_inside_the_noise(
        cases in proptest::collection::vec(arb_case(), 2..8),
        min_recall in 0.85f64..0.95,
    ) {
        // Challenger i is the config with ef_search 10 + i; its metrics come from the case.
        let table = Arc::new(cases.clone());
        let metrics_table = table.clone();
        let compare_table = table.clone();
        let at = move |params: &hnswtune_core::Params| (params.int(EF_SEARCH).unwrap_or(10) - 10) as usize;
        let at2 = at;
        let evaluator = FakeEvaluator::with_model(move |request, dataset| {
            let case = &metrics_table[at(&request.params)];
            let mut m = analytic_metrics(&request.params, dataset);
            m.recall = case.recall;
            m.search_p50_us = case.p50_us;
            Ok(m)
        })
        .with_comparator(move |champion, challenger, _repeats| {
            let a = &compare_table[at2(&champion.params)];
            let b = &compare_table[at2(&challenger.params)];
            Ok(AbComparison {
                champion_p50_us: a.champion_noise.iter().map(|n| a.p50_us * n).collect(),
                challenger_p50_us: b.challenger_noise.iter().map(|n| b.p50_us * n).collect(),
                champion_recall: a.remeasured_recall,
                challenger_recall: b.remeasured_recall,
            })
        });
        let rig = rig(evaluator);
        let script: Vec<_> = (1..cases.len() as i64).map(|i| cfg(100, 10 + i)).collect();
        let settings = settings("p", script)
            .with_initial_params(cfg(100, 10))
            .with_objective(Objective::new(min_recall).unwrap());
        let config = AgentConfig { min_recall: 0.5, ..AgentConfig::default() };
        let recorder = Recorder::default();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let report = runtime
            .block_on(tune(&config, &rig.backends, &settings, StudyBudget::trials(cases.len()), &recorder))
            .unwrap();
        prop_assert_eq!(report.trials.len(), cases.len());

        let objective = Objective::new(min_recall).unwrap();
        let mut champion: Option<usize> = None;
        for event in recorder.events() {
            if let StudyEvent::Promoted { promotion, rule, comparison } = event {
                let i = at(&promotion.params);
                let case = &table[i];
                prop_assert!(case.recall >= min_recall, "promoted below the floor: {:?}", case);
                match (&comparison, champion) {
                    (None, None) => prop_assert_eq!(rule, PromoteRule::FirstChampion),
                    (Some(ab), Some(_)) => {
                        prop_assert!(ab.challenger_recall >= min_recall);
                        let tie = ab.challenger_median_us() <= ab.champion_median_us() * (1.0 + objective.noise_margin)
                            && ab.challenger_recall > ab.champion_recall + RECALL_TIE_EPSILON;
                        prop_assert!(
                            ab.champion_recall < min_recall || ab.challenger_faster(objective.noise_margin) || tie,
                            "the noise rule rejects {:?}", ab
                        );
                        prop_assert_eq!(
                            judge(&objective, promotion.metrics.as_ref().unwrap(), Relation::Other, None, ab),
                            Verdict::Promote(rule)
                        );
                    }
                    other => prop_assert!(false, "promotion without the expected comparison: {:?}", other),
                }
                champion = Some(i);
            }
        }
        if let Some(final_champion) = &report.champion {
            prop_assert!(final_champion.metrics.as_ref().unwrap().recall >= min_recall);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn registry_failures_are_retried_then_returned() {
    let rig = rig(FakeEvaluator::new());
    let config = AgentConfig {
        store_attempts: 3,
        store_backoff_ms: 10,
        ..AgentConfig::default()
    };
    rig.registry.fail_next_writes(2);
    let recorder = Recorder::default();
    let settings = settings("r", vec![cfg(100, 60)]);
    let report = tune(
        &config,
        &rig.backends,
        &settings,
        StudyBudget::trials(1),
        &recorder,
    )
    .await
    .unwrap();
    assert_eq!(report.promotions.len(), 1);
    let retries = recorder
        .events()
        .iter()
        .filter(|e| matches!(e, StudyEvent::StoreRetry { .. }))
        .count();
    assert_eq!(retries, 2);

    rig.registry.fail_next_writes(3);
    let error = tune(
        &config,
        &rig.backends,
        &settings,
        StudyBudget::trials(1),
        &hnswtune_agent::NoObserver,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, hnswtune_agent::AgentError::Store { attempts: 3, .. }),
        "{error}"
    );
    // The trial itself was recorded before the promotion failed.
    assert_eq!(rig.journal.trials_of(&name("r")).len(), 2);
}

#[tokio::test(start_paused = true)]
async fn new_data_without_a_trigger_is_noticed_by_its_fingerprint() {
    let rig = rig(FakeEvaluator::new());
    let settings = settings("f", vec![cfg(100, 150), cfg(100, 120)]);
    let first = tune(
        &AgentConfig::default(),
        &rig.backends,
        &settings,
        StudyBudget::trials(1),
        &hnswtune_agent::NoObserver,
    )
    .await
    .unwrap();
    assert_eq!(first.promotions.len(), 1);
    let grown = rig.evaluator.append_vectors(&name("f"), 500);
    let second = tune(
        &AgentConfig::default(),
        &rig.backends,
        &settings,
        StudyBudget::trials(2),
        &hnswtune_agent::NoObserver,
    )
    .await
    .unwrap();
    assert_eq!(second.trials[0].trigger, TriggerReason::Revalidation);
    assert_eq!(second.trials[0].params, first.trials[0].params);
    assert!(second.trials.iter().all(|t| t.dataset == grown));
    assert!(second.pareto_front.iter().all(|t| t.dataset == grown));
    // The seed config was tried on the old data only; on the new data the proposer's
    // history holds just the re-measurement, so it starts from its script again.
    assert_eq!(second.trials[1].params, cfg(100, 150));
}

/// With Frontier on the default space, a study stops by itself once no untried config
/// is expected to beat the champion by more than the noise, says why, and tells the
/// observer; with `stop_when_converged` off it spends its budget.
#[tokio::test(start_paused = true)]
async fn a_study_stops_when_it_has_converged_and_says_why() {
    let first = rig(FakeEvaluator::new());
    let frontier = Arc::new(hnswtune_propose::Frontier::seeded(3));
    let settings = hnswtune_agent::IndexSettings::new(name("docs"), "eval", frontier.clone())
        .with_objective(Objective::new(0.9).unwrap());
    let recorder = Recorder::default();
    let report = tune(
        &AgentConfig::default(),
        &first.backends,
        &settings,
        StudyBudget::trials(60),
        &recorder,
    )
    .await
    .unwrap();
    assert_eq!(report.ended, hnswtune_agent::StudyEnd::Converged);
    let convergence = report.converged.expect("converged");
    assert!(report.trials.len() < 60, "{} trials", report.trials.len());
    assert!(
        convergence.reason.contains("noise"),
        "{}",
        convergence.reason
    );
    assert!(report.champion.is_some());
    assert!(
        recorder
            .events()
            .iter()
            .any(|e| matches!(e, StudyEvent::Converged { .. }))
    );

    // The same study on a fresh store with the stop switched off runs its budget.
    let fresh = rig(FakeEvaluator::new());
    let mut settings = settings;
    settings.stop_when_converged = false;
    let report = tune(
        &AgentConfig::default(),
        &fresh.backends,
        &settings,
        StudyBudget::trials(30),
        &hnswtune_agent::NoObserver,
    )
    .await
    .unwrap();
    assert_eq!(report.trials.len(), 30);
    assert_eq!(report.ended, hnswtune_agent::StudyEnd::Trials);
}

/// A time budget ends a study between trials: each evaluation takes 20 ms of real time,
/// so a 100 ms budget ends the study long before its 50 scripted configs (the count
/// itself depends on the machine and is not asserted).
#[tokio::test]
async fn a_time_budget_ends_the_study_between_trials() {
    let rig = rig(FakeEvaluator::new().with_delay(std::time::Duration::from_millis(20)));
    let settings = settings("docs", sweep(50));
    let report = tune(
        &AgentConfig::default(),
        &rig.backends,
        &settings,
        StudyBudget::time(std::time::Duration::from_millis(100)),
        &hnswtune_agent::NoObserver,
    )
    .await
    .unwrap();
    assert_eq!(report.ended, hnswtune_agent::StudyEnd::Time);
    assert!(
        (1..50).contains(&report.trials.len()),
        "{} trials",
        report.trials.len()
    );
}
