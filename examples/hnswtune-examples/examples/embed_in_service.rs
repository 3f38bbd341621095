//! embed_in_service: a small tokio service that keeps its vector index tuned.
//!
//! The service holds its vectors in an [`InMemorySource`] that the agent reads. An
//! ingest task appends batches of documents; after each append it replaces the
//! source's vectors and enqueues [`TriggerEvent::dataset_appended`], so the agent
//! re-measures the champion on the grown data and tunes again. A status task prints
//! what the agent is doing. After a few seconds the service shuts down gracefully:
//! `stop()` returns at once and the loop ends after its current trial.
//!
//! The service also serves hnswtune's HTTP routes and dashboard next to its own
//! routes: [`hnswtune_http::Api`] builds a router over the same journal, registry and
//! agent, and the service nests it under `/tuning`. Its status task reads the agent
//! through `GET /tuning/agent/status` as an operator's tool would, and it queues a
//! Manual trigger with `POST /tuning/agent/enqueue/products` and the bearer token.
//!
//! ```text
//! cargo run --release -p hnswtune-examples --example embed_in_service
//! ```
//!
//! It finishes by itself in a few seconds and leaves nothing behind (the journal is in
//! a temporary directory). Set `EMBED_LISTEN=127.0.0.1:8080` and `EMBED_LINGER_SECS=60`
//! to open the dashboard at <http://127.0.0.1:8080/tuning/> while it runs.

use std::sync::Arc;
use std::time::Duration;

use hnswtune_agent::{AgentConfig, AgentDeps, Backends, IndexSettings, TriggerEvent, spawn};
use hnswtune_core::{IndexName, Objective, SearchSpace, TrialJournal};
use hnswtune_harness::backend::instant::InstantDistance;
use hnswtune_harness::testdata::clustered;
use hnswtune_harness::{EvalSet, HnswEvaluator, InMemorySource, Metric, Vectors};
use hnswtune_http::{Api, BearerToken};
use hnswtune_journal::{ObjectStoreJournal, ObjectStorePromotions};
use hnswtune_propose::Frontier;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    let backends = Backends::new(journal.clone(), registry.clone(), Arc::new(evaluator));
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

    // The service's own routes, with hnswtune's nested under /tuning. A real service
    // reads the token from its secret store.
    let token = "embed-example-token-0123456789";
    let tuning = Api::new(journal.clone(), registry)
        .with_agent(agent.clone())
        .with_token(BearerToken::new(token)?)
        .with_min_recall(0.9)?
        .router();
    let app = axum::Router::new()
        .route("/healthz", axum::routing::get(|| async { "ok" }))
        .nest("/tuning", tuning);
    let listen = std::env::var("EMBED_LISTEN").unwrap_or_else(|_| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    let address = listener.local_addr()?;
    let (shutdown, on_shutdown) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = on_shutdown.await;
            })
            .await
    });
    println!("[http] dashboard and routes on http://{address}/tuning/");

    let (status, body) = http(
        address,
        "POST",
        "/tuning/agent/enqueue/products",
        Some(token),
    )
    .await?;
    println!("[http] POST /tuning/agent/enqueue/products -> {status} {body}");

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

    // Status, read over HTTP as an operator's tool would.
    for _ in 0..16 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (_, body) = http(address, "GET", "/tuning/agent/status", None).await?;
        let s: serde_json::Value = serde_json::from_str(&body)?;
        let current = match &s["current_trial"] {
            serde_json::Value::Null => "idle".to_owned(),
            c => format!("running {} ({} ms)", c["params"], c["elapsed_ms"]),
        };
        println!(
            "[status] trials {}  promotions {}  queue {}  {}",
            s["trials_run"], s["promotions"], s["queue_depth"], current
        );
    }
    ingest.await?;
    let linger: u64 = std::env::var("EMBED_LINGER_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(linger)).await;
    let (_, champion) = http(address, "GET", "/tuning/indexes/products/champion", None).await?;
    let champion: serde_json::Value = serde_json::from_str(&champion)?;
    println!(
        "[http] champion: revision {} {}",
        champion["champion"]["revision"], champion["champion"]["params"]
    );

    agent.stop();
    tokio::time::timeout(Duration::from_secs(30), agent.stopped()).await?;
    let _ = shutdown.send(());
    server.await??;
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

/// One HTTP/1.1 request over a fresh connection; the status code and the body. (A
/// service would use its HTTP client; this keeps the example's dependencies small.)
async fn http(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let (head, body) = response
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("no HTTP response from {address}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no status line in {head:?}"))?;
    Ok((status, body.to_owned()))
}
