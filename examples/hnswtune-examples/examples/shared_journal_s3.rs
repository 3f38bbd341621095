//! shared_journal_s3: several tuners share one study through an S3 prefix.
//!
//! Each tuner opens its own journal and registry handles on the URL in
//! `HNSWTUNE_S3_URL` (for example `s3://my-bucket/hnswtune/team-a`), as separate
//! machines would, and runs the agent's `tune` on the same index at the same time.
//! Because every journal entry and every promotion revision is a new object written
//! with `PutMode::Create`, no trial is lost or duplicated and the champion chain stays
//! linear. Each tuner reads the others' trials before proposing, so once a config is
//! recorded nobody proposes it again; two tuners that propose at the same moment can
//! still pick the same config (all three start by seeding the default one), which
//! costs a duplicate trial, never a lost or corrupted one.
//!
//! Without `HNSWTUNE_S3_URL` it prints how to run it and exits successfully.
//!
//! ```text
//! HNSWTUNE_S3_URL=s3://my-bucket/hnswtune/demo AWS_REGION=eu-west-1 \
//!     cargo run --release -p hnswtune-examples --example shared_journal_s3
//! # against a local S3-compatible server:
//! HNSWTUNE_S3_URL=s3://hnswtune-test/demo AWS_ENDPOINT=http://127.0.0.1:5000 \
//!     AWS_ALLOW_HTTP=true AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
//!     AWS_REGION=us-east-1 cargo run --release -p hnswtune-examples --example shared_journal_s3
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use hnswtune_agent::{AgentConfig, Backends, IndexSettings, NoObserver, StudyBudget, tune};
use hnswtune_core::{IndexName, Objective, PromotionRegistry, SearchSpace, TrialJournal};
use hnswtune_harness::backend::instant::InstantDistance;
use hnswtune_harness::testdata::clustered;
use hnswtune_harness::{EvalSet, HnswEvaluator, InMemorySource, Metric};
use hnswtune_journal::{ObjectStoreJournal, ObjectStorePromotions};
use hnswtune_propose::Frontier;

/// Tuners sharing the study.
const TUNERS: usize = 3;
/// Trials per tuner.
const TRIALS_EACH: usize = 4;

fn print_usage() {
    println!(
        "shared_journal_s3: set HNSWTUNE_S3_URL to an s3://bucket/prefix URL to run it.\n\n\
         Credentials, region and endpoint come from the usual AWS_* variables, for example:\n\n  \
         HNSWTUNE_S3_URL=s3://my-bucket/hnswtune/demo AWS_REGION=eu-west-1 \\\n    \
         cargo run --release -p hnswtune-examples --example shared_journal_s3\n\n\
         Against a local S3-compatible server (moto, MinIO) also set AWS_ENDPOINT=http://127.0.0.1:PORT\n\
         and AWS_ALLOW_HTTP=true. {TUNERS} tuners then run {TRIALS_EACH} trials each on one index and\n\
         the example prints who ran what and the champion history."
    );
}

async fn tuner(url: String, worker: usize, index: IndexName) -> anyhow::Result<usize> {
    let source = Arc::new(InMemorySource::new());
    source.insert(
        &index,
        Arc::new(clustered(2_000, 32, 20, 1, Metric::Cosine)),
    );
    let evaluator = HnswEvaluator::new(Arc::new(InstantDistance::default()), source);
    evaluator.add_eval_set(EvalSet::new(
        "queries",
        clustered(100, 32, 20, 2, Metric::Cosine),
        10,
        None,
    )?);
    let backends = Backends::new(
        Arc::new(ObjectStoreJournal::from_url(&url)?),
        Arc::new(ObjectStorePromotions::from_url(&url)?),
        Arc::new(evaluator),
    );
    // Different seeds: each tuner explores differently, and all of them read the whole
    // shared history before each proposal.
    let settings = IndexSettings::new(index, "queries", Arc::new(Frontier::seeded(worker as u64)))
        .with_space(SearchSpace::hnsw_with_bounds((10, 100), (10, 100))?)
        .with_objective(Objective::new(0.9)?);
    let config = AgentConfig {
        min_recall: 0.9,
        agent_id: format!("tuner-{worker}"),
        ..AgentConfig::default()
    };
    let report = tune(
        &config,
        &backends,
        &settings,
        StudyBudget::trials(TRIALS_EACH),
        &NoObserver,
    )
    .await?;
    println!(
        "tuner-{worker}: ran {} trials, made {} promotions",
        report.trials.len(),
        report.promotions.len()
    );
    Ok(report.trials.len())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Ok(url) = std::env::var("HNSWTUNE_S3_URL") else {
        print_usage();
        return Ok(());
    };
    // A fresh index name per run keeps runs apart in a long-lived bucket.
    let index = IndexName::new(format!("shared-{}", chrono_free_stamp()))?;
    println!("{TUNERS} tuners share index {index} in {url}");
    let mut tasks = Vec::new();
    for worker in 0..TUNERS {
        tasks.push(tokio::spawn(tuner(url.clone(), worker, index.clone())));
    }
    let mut ran = 0;
    for task in tasks {
        ran += task.await??;
    }

    let journal = ObjectStoreJournal::from_url(&url)?;
    let registry = ObjectStorePromotions::from_url(&url)?;
    let trials = journal.trials(&index).await?;
    let mut by_worker: BTreeMap<&str, usize> = BTreeMap::new();
    for t in &trials {
        *by_worker.entry(t.worker.as_str()).or_default() += 1;
    }
    let distinct: std::collections::HashSet<_> = trials.iter().map(|t| &t.params).collect();
    println!(
        "\njournal: {} trials ({ran} reported by the tuners), {} distinct configs, by worker {by_worker:?}",
        trials.len(),
        distinct.len()
    );
    println!("champion history:");
    for p in registry.history(&index).await? {
        println!(
            "  revision {}  {}  by {}  {}",
            p.revision,
            p.params,
            p.promoted_by,
            p.metrics.as_ref().map_or(String::new(), |m| format!(
                "recall {:.4} p50 {:.1} µs",
                m.recall, m.search_p50_us
            ))
        );
    }
    Ok(())
}

/// Seconds since the Unix epoch, as a name suffix.
fn chrono_free_stamp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
