//! Trial bookkeeping throughput with several workers on one study: the journal and
//! lease requests of a trial (read the journal and the champion, claim, one renewal,
//! end, and a promotion every fifth trial), with a scripted evaluator that takes no
//! time, so the store is the only cost. Counts every request by kind.
//!
//! ```sh
//! cargo run --release -p hnswtune-bench-journal --bin lease_bookkeeping -- local
//! HNSWTUNE_BENCH_S3_ENDPOINT=http://127.0.0.1:9000 \
//!   cargo run --release -p hnswtune-bench-journal --bin lease_bookkeeping -- s3
//! ```
//!
//! Optional further arguments: trials per worker (default 25), entries per snapshot
//! segment (default 20) and milliseconds each evaluation takes (default 0: the
//! throughput of the bookkeeping alone; a delay shows the request counts of workers
//! that spend their time building, as real ones do). Workers are tokio tasks, each with its own journal and
//! registry handles, as separate processes would have. The S3 target needs a bucket
//! `hnswtune-bench` on the endpoint (`curl -X PUT $ENDPOINT/hnswtune-bench`).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use futures::stream::BoxStream;
use hnswtune_bench_journal::sample_trial;
use hnswtune_core::{
    Claim, EF_CONSTRUCTION, EF_SEARCH, IndexName, Objective, PromotionRegistry, PromotionRules,
    TrialJournal, TrialLeases,
};
use hnswtune_journal::object_store::path::Path;
use hnswtune_journal::object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};
use hnswtune_journal::{JournalOptions, ObjectStoreJournal, ObjectStorePromotions, StoreLocation};

/// Requests by kind.
#[derive(Debug, Default)]
struct Counts {
    put: AtomicU64,
    get: AtomicU64,
    head: AtomicU64,
    list: AtomicU64,
}

/// Counts the requests that reach `inner`.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn ObjectStore>,
    counts: Arc<Counts>,
}

impl fmt::Display for Counting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

#[async_trait]
impl ObjectStore for Counting {
    async fn put_opts(&self, l: &Path, p: PutPayload, o: PutOptions) -> Result<PutResult> {
        bump(&self.counts.put);
        self.inner.put_opts(l, p, o).await
    }
    async fn put_multipart_opts(
        &self,
        l: &Path,
        o: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        bump(&self.counts.put);
        self.inner.put_multipart_opts(l, o).await
    }
    async fn get_opts(&self, l: &Path, o: GetOptions) -> Result<GetResult> {
        bump(if o.head {
            &self.counts.head
        } else {
            &self.counts.get
        });
        self.inner.get_opts(l, o).await
    }
    async fn get_ranges(&self, l: &Path, r: &[Range<u64>]) -> Result<Vec<Bytes>> {
        bump(&self.counts.get);
        self.inner.get_ranges(l, r).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        bump(&self.counts.list);
        self.inner.list(prefix)
    }
    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        bump(&self.counts.list);
        self.inner.list_with_offset(prefix, offset)
    }
    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        bump(&self.counts.list);
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &Path, to: &Path, o: CopyOptions) -> Result<()> {
        bump(&self.counts.put);
        self.inner.copy_opts(from, to, o).await
    }
    async fn rename_opts(&self, from: &Path, to: &Path, o: RenameOptions) -> Result<()> {
        bump(&self.counts.put);
        self.inner.rename_opts(from, to, o).await
    }
}

/// One worker's trials: the requests of the agent's cycle, with no evaluation time.
async fn worker(
    journal: ObjectStoreJournal,
    registry: ObjectStorePromotions,
    w: usize,
    trials: usize,
    eval: std::time::Duration,
) -> std::result::Result<(), hnswtune_core::Error> {
    let index = IndexName::new("bench")?;
    let objective = Objective::new(0.9)?;
    for i in 0..trials {
        journal.read(&index).await?;
        let champion = registry.champion(&index).await?;
        let mut trial = sample_trial(&index, (w * 1000 + i) as u64);
        trial.params = trial
            .params
            .with(EF_CONSTRUCTION, 100 + w as i64)
            .with(EF_SEARCH, 10 + i as i64);
        let metrics = trial.metrics.take().expect("a sample trial has metrics");
        trial.state = hnswtune_core::TrialState::Running;
        trial.finished_at = None;
        let running = trial.leased(
            format!("w{w}"),
            Utc::now() + chrono::Duration::seconds(60),
            20,
        );
        let Claim::Won(running) = journal.claim(&running, Utc::now()).await? else {
            continue;
        };
        tokio::time::sleep(eval / 2).await;
        journal.renew(&running).await?;
        tokio::time::sleep(eval / 2).await;
        let done = running.complete(metrics);
        journal.finish(&done).await?;
        if i % 5 == 4 {
            let expected = champion.map_or(0, |c| c.revision);
            // Losing the race is part of the bookkeeping being measured.
            let _ = registry
                .promote(&done, &objective, expected, &format!("w{w}"), "bench")
                .await;
        }
    }
    Ok(())
}

/// A store to run on, and the directory that holds it (for `local`).
type Target = (Arc<dyn ObjectStore>, Option<tempfile::TempDir>);

fn base_store(target: &str) -> std::result::Result<Target, Box<dyn std::error::Error>> {
    match target {
        "memory" => Ok((StoreLocation::in_memory().store, None)),
        "local" => {
            let dir = tempfile::tempdir()?;
            Ok((StoreLocation::local(dir.path(), false)?.store, Some(dir)))
        }
        "s3" => {
            let endpoint = std::env::var("HNSWTUNE_BENCH_S3_ENDPOINT")
                .map_err(|_| "set HNSWTUNE_BENCH_S3_ENDPOINT for the s3 target")?;
            let store = hnswtune_journal::object_store::aws::AmazonS3Builder::new()
                .with_endpoint(endpoint)
                .with_allow_http(true)
                .with_region("us-east-1")
                .with_bucket_name("hnswtune-bench")
                .with_access_key_id("test")
                .with_secret_access_key("test")
                .build()?;
            Ok((Arc::new(store), None))
        }
        other => Err(format!("unknown target {other:?}: memory, local or s3").into()),
    }
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let target = args.next().unwrap_or_else(|| "local".into());
    let trials: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(25);
    let every: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(20);
    let eval_ms: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(0);
    let eval = std::time::Duration::from_millis(eval_ms);
    println!(
        "target {target}, {trials} trials per worker, snapshot every {every} entries, \
         evaluations of {eval_ms} ms\n"
    );
    println!(
        "| workers | trials | seconds | trials/s | PUT/trial | GET/trial | HEAD/trial | LIST/trial |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for workers in [1usize, 2, 4, 8] {
        let (base, _dir) = base_store(&target)?;
        let counts = Arc::new(Counts::default());
        let store: Arc<dyn ObjectStore> = Arc::new(Counting {
            inner: base,
            counts: counts.clone(),
        });
        let prefix = format!("bench/{}", hnswtune_core::TrialId::new());
        let started = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..workers {
            let location = StoreLocation::new(store.clone(), prefix.clone());
            let journal = ObjectStoreJournal::open(location.clone())?
                .with_options(JournalOptions::default().with_snapshot_every(every))?;
            let registry = ObjectStorePromotions::open(location)?;
            tasks.push(tokio::spawn(worker(journal, registry, w, trials, eval)));
        }
        for task in tasks {
            task.await??;
        }
        let secs = started.elapsed().as_secs_f64();
        let index = IndexName::new("bench")?;
        let check = ObjectStoreJournal::open(StoreLocation::new(store.clone(), prefix))?;
        let recorded = check.read(&index).await?.trials.len();
        let n = (workers * trials) as f64;
        let per = |c: &AtomicU64| c.load(Ordering::Relaxed) as f64 / n;
        println!(
            "| {workers} | {recorded} | {secs:.2} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} |",
            recorded as f64 / secs,
            per(&counts.put),
            per(&counts.get),
            per(&counts.head),
            per(&counts.list),
        );
    }
    Ok(())
}
