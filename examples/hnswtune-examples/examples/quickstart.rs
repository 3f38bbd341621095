//! quickstart: tune an HNSW index end to end in about two minutes.
//!
//! With no arguments it generates a clustered data set shaped like sentence embeddings
//! (topics with points spread around them), tunes it with the agent's `tune` using the
//! Frontier strategy and a journal on the local disk, shows progress, prints the
//! champion and the Pareto front, and writes a plot. Given `--base` and `--queries`
//! (.fvecs, .bvecs or .npy), it tunes those files instead.
//!
//! ```text
//! cargo run --release -p hnswtune-examples --example quickstart
//! cargo run --release -p hnswtune-examples --example quickstart -- \
//!     --base base.fvecs --queries query.fvecs --metric cosine
//! ```
//!
//! Running it again resumes the study from its journal (`./hnswtune-quickstart` by
//! default): the trials already run are not repeated.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use hnswtune_agent::{AgentConfig, Backends, IndexSettings, StudyBudget, StudyEnd, tune};
use hnswtune_cli::render::{Study, svg};
use hnswtune_core::{IndexName, Objective, SearchSpace, TrialJournal};
use hnswtune_examples::{ProgressObserver, format_secs, print_champion_and_front};
use hnswtune_harness::backend::instant::InstantDistance;
use hnswtune_harness::testdata::clustered;
use hnswtune_harness::{EvalSet, EvaluatorOptions, HnswEvaluator, InMemorySource, Metric};
use hnswtune_journal::{ObjectStoreJournal, ObjectStorePromotions};
use hnswtune_propose::Frontier;

/// Synthetic base size: with instant-distance on 2 cores the default build
/// (ef_construction 100) takes about 20 s, and the whole study (a handful of builds
/// between ef_construction 10 and 200, plus search-only trials on cached builds) stays
/// within about two minutes in release mode.
const SYNTHETIC_BASE: usize = 10_000;
/// Synthetic dimension (MiniLM-sized embeddings are 384; 128 keeps builds quick while
/// leaving the graph as hard to search as real text embeddings).
const SYNTHETIC_DIM: usize = 128;
/// Topics in the synthetic set: 500 points per topic, so the true neighbours of a
/// query sit among many near-equidistant points of its topic, which is what makes
/// real embeddings hard for HNSW (with 100 points per topic every config reaches
/// recall 1.0).
const SYNTHETIC_TOPICS: usize = 20;
/// Synthetic queries.
const SYNTHETIC_QUERIES: usize = 300;

/// Tune an HNSW index on generated data or on your own vector files.
#[derive(Debug, Parser)]
struct Args {
    /// Base vectors (.fvecs, .bvecs, .npy); generated when absent.
    #[arg(long, requires = "queries")]
    base: Option<PathBuf>,
    /// Query vectors, with --base.
    #[arg(long, requires = "base")]
    queries: Option<PathBuf>,
    /// Distance: cosine or l2.
    #[arg(long, default_value = "cosine")]
    metric: String,
    /// The recall floor.
    #[arg(long, default_value_t = 0.95)]
    min_recall: f64,
    /// Trials to run.
    #[arg(long, default_value_t = 24)]
    budget: usize,
    /// The journal's directory.
    #[arg(long, default_value = "hnswtune-quickstart")]
    store: PathBuf,
    /// Where to write the plot.
    #[arg(long, default_value = "quickstart-report.svg")]
    out: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let started = Instant::now();
    let metric = match args.metric.as_str() {
        "cosine" => Metric::Cosine,
        "l2" => Metric::L2,
        other => anyhow::bail!("--metric {other:?}: use cosine or l2"),
    };
    let (base, queries, what) = match (&args.base, &args.queries) {
        (Some(base), Some(queries)) => (
            hnswtune_cli::data::load_vectors(base, "--base", "base vectors", metric)?,
            hnswtune_cli::data::load_vectors(queries, "--queries", "query vectors", metric)?,
            format!("{} and {}", base.display(), queries.display()),
        ),
        _ => (
            clustered(SYNTHETIC_BASE, SYNTHETIC_DIM, SYNTHETIC_TOPICS, 1, metric),
            clustered(
                SYNTHETIC_QUERIES,
                SYNTHETIC_DIM,
                SYNTHETIC_TOPICS,
                2,
                metric,
            ),
            format!(
                "a generated set of {SYNTHETIC_BASE} vectors × {SYNTHETIC_DIM} around \
                 {SYNTHETIC_TOPICS} topics"
            ),
        ),
    };
    println!(
        "quickstart: tuning {what} ({} base, {} queries, {}), recall floor {}",
        base.len(),
        queries.len(),
        metric.as_str(),
        args.min_recall
    );

    let index = IndexName::new("quickstart")?;
    let source = Arc::new(InMemorySource::new());
    source.insert(&index, Arc::new(base));
    let evaluator = HnswEvaluator::with_options(
        Arc::new(InstantDistance::default()),
        source,
        EvaluatorOptions::default(),
    );
    evaluator.add_eval_set(EvalSet::new("queries", queries, 10, None)?);

    let journal = Arc::new(ObjectStoreJournal::local(&args.store, false)?);
    let registry = Arc::new(ObjectStorePromotions::local(&args.store, false)?);
    let backends = Backends::new(journal.clone(), registry, Arc::new(evaluator));
    let mut settings = IndexSettings::new(index.clone(), "queries", Arc::new(Frontier::seeded(7)))
        .with_space(SearchSpace::hnsw_with_bounds((10, 200), (10, 200))?)
        .with_objective(Objective::new(args.min_recall)?);
    // Parallel builds: two cores build twice as fast; trials record the thread count.
    settings.deterministic = false;
    let config = AgentConfig {
        min_recall: args.min_recall,
        agent_id: "quickstart".into(),
        ..AgentConfig::default()
    };

    let observer = ProgressObserver::new(args.budget);
    let report = tune(
        &config,
        &backends,
        &settings,
        StudyBudget::trials(args.budget),
        &observer,
    )
    .await
    .context("the study stopped")?;
    observer.finish();

    println!();
    print_champion_and_front(report.champion.as_ref(), &report.pareto_front);

    let trials = journal.trials(&index).await?;
    let objective = Objective::new(args.min_recall)?;
    let plot = svg(&Study {
        index: index.as_str(),
        trials: &trials,
        champion: report.champion.as_ref().map(|p| p.trial_id),
        objective: &objective,
    })?;
    std::fs::write(&args.out, plot).with_context(|| format!("writing {}", args.out.display()))?;
    let ended = match report.ended {
        StudyEnd::Converged => "the study converged",
        StudyEnd::Trials => "the budget is spent",
        StudyEnd::Time => "the time is up",
        StudyEnd::Exhausted => "every config was tried",
        _ => "the study ended",
    };
    println!(
        "\n{} trials this run ({ended}), {} in the journal at {}/ (run again to resume); \
         plot: {}; took {}",
        report.trials.len(),
        trials.len(),
        args.store.display(),
        args.out.display(),
        format_secs(started.elapsed().as_secs_f64())
    );
    Ok(())
}
