//! Journal append, cold load and incremental load at 1k, 10k and 100k entries, on
//! InMemory and LocalFileSystem (no fsync). See docs/journal.md for the figures.
//!
//! For each size and backend, two indexes are filled to that many entries: one for
//! the loads, one for the appends. Benchmarks that append run at most a few dozen real
//! iterations per sample (see `capped`), so the history grows by a few hundred entries
//! at most during a measurement. After criterion's figures, the bench prints the p50,
//! p99 and max of 1000 individually timed appends per case.

#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented function"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hnswtune_bench_journal::{fill, sample_trial};
use hnswtune_core::{IndexName, TrialJournal};
use hnswtune_journal::{JournalOptions, ObjectStoreJournal, StoreLocation};
use tokio::runtime::Runtime;

const SIZES: [u64; 3] = [1_000, 10_000, 100_000];

struct Backend {
    name: &'static str,
    location: StoreLocation,
    /// The handle that fills the journal and runs the append benchmark.
    writer: ObjectStoreJournal,
    _dir: Option<tempfile::TempDir>,
}

impl Backend {
    fn handle(&self, options: JournalOptions) -> ObjectStoreJournal {
        ObjectStoreJournal::open(self.location.clone())
            .and_then(|j| j.with_options(options))
            .expect("journal")
    }
}

fn backends() -> Vec<Backend> {
    let memory = StoreLocation::in_memory();
    let dir = tempfile::tempdir().expect("tempdir");
    let local = StoreLocation::local(dir.path().join("journal"), false).expect("local");
    vec![
        Backend {
            name: "memory",
            writer: ObjectStoreJournal::open(memory.clone()).expect("journal"),
            location: memory,
            _dir: None,
        },
        Backend {
            name: "local",
            writer: ObjectStoreJournal::open(local.clone()).expect("journal"),
            location: local,
            _dir: Some(dir),
        },
    ]
}

/// Runs `one` (which returns the time of the part to measure) `iters` times, at most
/// `cap` of them for real, and scales the mean to `iters`. Benchmarks that append
/// grow the history; the cap keeps that growth small whatever iteration count
/// criterion asks for.
fn capped(rt: &Runtime, iters: u64, cap: u64, mut one: impl AsyncFnMut() -> Duration) -> Duration {
    let runs = iters.clamp(1, cap);
    let total = rt.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..runs {
            total += one().await;
        }
        total
    });
    total.mul_f64(iters as f64 / runs as f64)
}

/// Times `runs` single appends and prints p50, p99 and max: the latency criterion's
/// means hide.
fn append_latency_profile(rt: &Runtime, backend: &Backend, index: &IndexName, size: u64) {
    let runs = 1000;
    let mut times: Vec<Duration> = rt.block_on(async {
        let mut times = Vec::with_capacity(runs);
        for i in 0..runs as u64 {
            let trial = sample_trial(index, 1_000_000 + i);
            let start = Instant::now();
            backend.writer.append(&trial).await.expect("append");
            times.push(start.elapsed());
        }
        times
    });
    times.sort();
    eprintln!(
        "append latency {}/{size}: p50 {:.1?} p99 {:.1?} max {:.1?} over {runs} appends",
        backend.name,
        times[runs / 2],
        times[runs * 99 / 100],
        times[runs - 1]
    );
}

fn journal_benches(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let backends = backends();
    for size in SIZES {
        let big = size >= 100_000;
        for backend in &backends {
            let index = IndexName::new(format!("load-{size}")).expect("name");
            let append_index = IndexName::new(format!("append-{size}")).expect("name");
            let started = Instant::now();
            rt.block_on(async {
                fill(&backend.writer, &index, 0, size).await?;
                fill(&backend.writer, &append_index, 0, size).await
            })
            .expect("fill");
            eprintln!(
                "filled two {size}-entry indexes on {} in {:.1?}",
                backend.name,
                started.elapsed()
            );
            let id = |what: &str| BenchmarkId::new(format!("{what}/{}", backend.name), size);

            let mut group = c.benchmark_group("journal");
            group.warm_up_time(Duration::from_millis(300));
            group.measurement_time(Duration::from_secs(if big { 3 } else { 1 }));
            group.sample_size(10);

            group.bench_function(id("cold_load"), |b| {
                b.iter_custom(|iters| {
                    capped(&rt, iters, 3, async || {
                        let journal = backend.handle(JournalOptions::default());
                        let start = Instant::now();
                        let read = journal.read(&index).await.expect("read");
                        let took = start.elapsed();
                        assert_eq!(read.trials.len() as u64, size);
                        took
                    })
                })
            });

            if !big {
                group.bench_function(id("cold_load_without_snapshots"), |b| {
                    b.iter_custom(|iters| {
                        capped(&rt, iters, 3, async || {
                            let journal =
                                backend.handle(JournalOptions::default().with_snapshot_every(0));
                            let start = Instant::now();
                            let read = journal.read(&index).await.expect("read");
                            let took = start.elapsed();
                            assert_eq!(read.report.from_snapshot, 0);
                            took
                        })
                    })
                });
            }

            // A reader that has loaded the history; each iteration another handle
            // appends one trial (untimed) and the reader catches up (timed).
            let reader = Arc::new(backend.handle(JournalOptions::default()));
            rt.block_on(reader.refresh(&index)).expect("warm up");
            let other = backend.handle(JournalOptions::default());
            let mut next = 0u64;
            group.bench_function(id("incremental_refresh"), |b| {
                b.iter_custom(|iters| {
                    capped(&rt, iters, 20, async || {
                        next += 1;
                        other
                            .append(&sample_trial(&index, next))
                            .await
                            .expect("append");
                        let start = Instant::now();
                        let report = reader.refresh(&index).await.expect("refresh");
                        let took = start.elapsed();
                        assert_eq!(report.fetched, 1);
                        took
                    })
                })
            });
            group.bench_function(id("incremental_read"), |b| {
                b.iter_custom(|iters| {
                    capped(&rt, iters, 5, async || {
                        next += 1;
                        other
                            .append(&sample_trial(&index, next))
                            .await
                            .expect("append");
                        let start = Instant::now();
                        let read = reader.read(&index).await.expect("read");
                        let took = start.elapsed();
                        assert_eq!(read.report.fetched, 1);
                        took
                    })
                })
            });

            let mut seq = 0u64;
            group.bench_function(id("append"), |b| {
                b.iter_custom(|iters| {
                    capped(&rt, iters, 20, async || {
                        seq += 1;
                        let trial = sample_trial(&append_index, seq);
                        let start = Instant::now();
                        backend.writer.append(&trial).await.expect("append");
                        start.elapsed()
                    })
                })
            });
            group.finish();
            append_latency_profile(&rt, backend, &append_index, size);
        }
    }
}

criterion_group!(benches, journal_benches);
criterion_main!(benches);
