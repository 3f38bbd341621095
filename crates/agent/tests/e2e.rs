//! End to end: the real harness (instant-distance) on a small generated data set, the
//! object_store journal and registry in a temporary directory, and three triggers
//! (manual, manual, data appended) through the agent loop.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{cfg, name, wait_until_every};
use hnswtune_agent::{AgentConfig, AgentDeps, Backends, TriggerEvent, spawn};
use hnswtune_core::{Evaluator, PromotionRegistry, TrialJournal, TrialState, TriggerReason};
use hnswtune_harness::backend::instant::InstantDistance;
use hnswtune_harness::{EvalSet, HnswEvaluator, InMemorySource, Metric, testdata};
use hnswtune_journal::{ObjectStoreJournal, ObjectStorePromotions};
use hnswtune_testkit::fakes::ScriptedProposer;

const DIM: usize = 8;
const CLUSTERS: usize = 12;
const POLL: Duration = Duration::from_millis(5);

#[tokio::test(start_paused = true)]
async fn three_triggers_reach_a_promotion_on_the_real_harness_and_journal() {
    let dir = tempfile::tempdir().unwrap();
    let index = name("e2e");
    let source = Arc::new(InMemorySource::new());
    source.insert(
        &index,
        Arc::new(testdata::clustered(400, DIM, CLUSTERS, 1, Metric::L2)),
    );
    let evaluator = Arc::new(HnswEvaluator::new(
        Arc::new(InstantDistance::default()),
        source.clone(),
    ));
    let queries = testdata::clustered(20, DIM, CLUSTERS, 2, Metric::L2);
    evaluator.add_eval_set(EvalSet::new("queries", queries, 10, None).unwrap());
    let backends = Backends::new(
        Arc::new(ObjectStoreJournal::local(dir.path(), false).unwrap()),
        Arc::new(ObjectStorePromotions::local(dir.path(), false).unwrap()),
        evaluator.clone(),
    );
    let proposer = ScriptedProposer::new(vec![cfg(40, 90), cfg(30, 40), cfg(50, 120)]);
    let settings = common::settings_with(index.clone(), "queries", Arc::new(proposer));
    let config = AgentConfig {
        enabled: true,
        cycle_interval_secs: 86_400,
        cooldown_between_trials_secs: 0,
        ab_repeats: 2,
        agent_id: "e2e-agent".into(),
        ..AgentConfig::default()
    };
    let agent = spawn(config, AgentDeps::new(backends).with_index(settings)).unwrap();
    let limit = Duration::from_secs(3600);

    agent.enqueue(TriggerEvent::manual(index.clone())).unwrap();
    wait_until_every(&agent, limit, POLL, |s, _| s.trials_run == 1).await;
    agent.enqueue(TriggerEvent::manual(index.clone())).unwrap();
    wait_until_every(&agent, limit, POLL, |s, _| s.trials_run == 2).await;

    // Data is appended: the fingerprint changes and the trigger says so.
    source.insert(
        &index,
        Arc::new(testdata::clustered(460, DIM, CLUSTERS, 1, Metric::L2)),
    );
    let grown = evaluator.dataset(&index).unwrap();
    agent
        .enqueue(TriggerEvent::dataset_appended(index.clone(), "docs"))
        .unwrap();
    // The champion is re-measured, then a re-tune runs on the new data.
    wait_until_every(&agent, limit, POLL, |s, _| {
        s.trials_run == 4 && s.queue_depth == 0 && s.current_trial.is_none()
    })
    .await;
    agent.stop();
    agent.stopped().await;
    let status = agent.status();
    assert!(status.last_error.is_none(), "{:?}", status.last_error);
    assert!(status.promotions >= 1);

    // Read back through fresh handles on the same directory: everything is durable.
    let journal = ObjectStoreJournal::local(dir.path(), false).unwrap();
    let registry = ObjectStorePromotions::local(dir.path(), false).unwrap();
    let trials = journal.trials(&index).await.unwrap();
    assert_eq!(trials.len(), 4);
    assert!(trials.iter().all(|t| t.state == TrialState::Complete));
    assert!(trials.iter().all(|t| t.worker == "e2e-agent"));
    let triggers: Vec<&TriggerReason> = trials.iter().map(|t| &t.trigger).collect();
    assert_eq!(triggers[0], &TriggerReason::Manual);
    assert_eq!(triggers[1], &TriggerReason::Manual);
    assert_eq!(triggers[2], &TriggerReason::Revalidation);
    assert_eq!(
        triggers[3],
        &TriggerReason::DatasetAppended {
            dataset: "docs".into()
        }
    );
    assert_eq!(
        trials[0].params,
        cfg(100, 64),
        "seeded with the space defaults"
    );
    assert!(trials[2..].iter().all(|t| t.dataset == grown));
    assert!(trials[..2].iter().all(|t| t.dataset != grown));

    let history = registry.history(&index).await.unwrap();
    assert!(!history.is_empty());
    let champion_before_append = history
        .iter()
        .rfind(|p| p.dataset != grown)
        .expect("a champion on the first data");
    assert_eq!(
        trials[2].params, champion_before_append.params,
        "the champion was re-measured"
    );
    for (i, promotion) in history.iter().enumerate() {
        assert_eq!(promotion.revision, i as u64 + 1);
        assert_eq!(promotion.promoted_by, "e2e-agent");
        assert!(promotion.metrics.as_ref().unwrap().recall >= 0.9);
        assert!(trials.iter().any(|t| t.id == promotion.trial_id));
    }
}
