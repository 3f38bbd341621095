//! embed_in_service: a small tokio service that keeps its vector index tuned.
//!
//! The service holds its vectors in an [`InMemorySource`] that the agent reads. An
//! ingest task appends batches of documents; after each append it replaces the
//! source's vectors and enqueues [`TriggerEvent::dataset_appended`], so the agent
//! re-measures the champion on the grown data and tunes again. A status task prints
//! what the agent is doing. After a few seconds the service shuts down gracefully:
//! `stop()` returns at once and the loop ends after its current trial.
//!
//! ```text
//! cargo run --release -p hnswtune-examples --example embed_in_service
//! ```
//!
//! It finishes by itself in a few seconds and leaves nothing behind (the journal is in
//! a temporary directory).

use std::sync::Arc;
use std::time::Duration;

use hnswtune_agent::{AgentConfig, AgentDeps, Backends, IndexSettings, TriggerEvent, spawn};
use hnswtune_core::{IndexName, Objective, SearchSpace, TrialJournal};
use hnswtune_harness::backend::instant::InstantDistance;
use hnswtune_harness::testdata::clustered;
use hnswtune_harness::{EvalSet, HnswEvaluator, InMemorySource, Metric, Vectors};
use hnswtune_journal::{ObjectStoreJournal, ObjectStorePromotions};
use hnswtune_propose::Frontier;

/// Documents per ingest batch.
const BATCH: usize = 1_000;
/// Dimension of the service's embeddings.
const DIM: usize = 32;
/// Ingest batches after the initial load.
const APPENDS: usize = 2;

/// The first `n` documents of the service's (deterministic) corpus.
fn corpus(n: usize) -> Vectors {
    clustered(n, DIM, 20, 11, Metric::Cosine)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let index = IndexName::new("products")?;

    // The service's own state: its vectors, shared with the agent through the source.
    let source = Arc::new(InMemorySource::new());
    source.insert(&index, Arc::new(corpus(BATCH)));
    let evaluator = HnswEvaluator::new(Arc::new(InstantDistance::default()), source.clone());
    evaluator.add_eval_set(EvalSet::new(
        "product-queries",
        clustered(100, DIM, 20, 12, Metric::Cosine),
        10,
        None,
    )?);

    let journal = Arc::new(ObjectStoreJournal::local(dir.path(), false)?);
    let registry = Arc::new(ObjectStorePromotions::local(dir.path(), false)?);
    let backends = Backends::new(journal.clone(), registry, Arc::new(evaluator));
    let settings = IndexSettings::new(
        index.clone(),
        "product-queries",
        Arc::new(Frontier::seeded(3)),
    )
    .with_space(SearchSpace::hnsw_with_bounds((10, 100), (10, 100))?)
    .with_objective(Objective::new(0.9)?);
    // A host would read this from the `[agent]` table of its own config file.
    let config: AgentConfig = serde_json::from_value(serde_json::json!({
        "enabled": true,
        "cycle_interval_secs": 3600,
        "cooldown_between_trials_secs": 0,
        "min_recall": 0.9,
        "max_trials_per_hour": 120,
        "agent_id": "embed-in-service-example",
    }))?;
    let agent = spawn(config, AgentDeps::new(backends).with_index(settings))?;
    agent.enqueue(TriggerEvent::manual(index.clone()))?;

    // Ingest: append batches; each append is a new Arc, which the evaluator sees as new
    // data (a new fingerprint), and a trigger tells the agent to look at it.
    let ingest = {
        let (agent, source, index) = (agent.clone(), source.clone(), index.clone());
        tokio::spawn(async move {
            for batch in 1..=APPENDS {
                tokio::time::sleep(Duration::from_millis(1500)).await;
                let grown = corpus(BATCH * (batch + 1));
                println!(
                    "[ingest] appended {BATCH} documents, {} in total",
                    grown.len()
                );
                source.insert(&index, Arc::new(grown));
                match agent.enqueue(TriggerEvent::dataset_appended(index.clone(), "catalogue")) {
                    Ok(outcome) => println!("[ingest] trigger: {outcome:?}"),
                    Err(e) => println!("[ingest] trigger refused: {e}"),
                }
            }
        })
    };

    // Status: what an operator endpoint would return.
    for _ in 0..16 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let s = agent.status();
        let current = s.current_trial.as_ref().map_or("idle".to_owned(), |c| {
            format!("running {} ({} ms)", c.params, c.elapsed_ms)
        });
        println!(
            "[status] trials {}  promotions {}  queue {}  {}",
            s.trials_run, s.promotions, s.queue_depth, current
        );
    }
    ingest.await?;

    agent.stop();
    tokio::time::timeout(Duration::from_secs(30), agent.stopped()).await?;
    println!("\nrecent agent events:");
    for e in agent.events() {
        println!("  {:?}  {}", e.kind, e.detail);
    }
    let trials = journal.trials(&index).await?;
    let mut by_trigger: std::collections::BTreeMap<String, usize> = Default::default();
    for t in &trials {
        *by_trigger.entry(t.trigger.to_string()).or_default() += 1;
    }
    let mut sizes: Vec<u64> = trials.iter().map(|t| t.dataset.vector_count).collect();
    sizes.dedup();
    println!(
        "\njournal: {} trials by trigger {by_trigger:?}; data sizes measured: {sizes:?}",
        trials.len()
    );
    Ok(())
}
