//! Journal append, cold load and incremental load at 1k, 10k and 100k entries, on
//! InMemory and LocalFileSystem (no fsync). See docs/journal.md for the figures.
//!
//! Each backend's journal is filled once, stage by stage (1k, then 10k, then 100k
//! entries), and every measurement of a stage runs on that history. The append
//! benchmark adds its iterations to the history, a few thousand entries at most.

#![allow(missing_docs, reason = "criterion_group! generates an undocumented function")]

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
    entries: u64,
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
            entries: 0,
            _dir: None,
        },
        Backend {
            name: "local",
            writer: ObjectStoreJournal::open(local.clone()).expect("journal"),
            location: local,
            entries: 0,
            _dir: Some(dir),
        },
    ]
}

fn journal_benches(c: &mut Criterion) {
    let rt = Runtime::new().expect("tokio runtime");
    let index = IndexName::new("bench").expect("name");
    let mut backends = backends();
    for size in SIZES {
        let big = size >= 100_000;
        for backend in &mut backends {
            let started = Instant::now();
            backend.entries = rt
                .block_on(fill(&backend.writer, &index, backend.entries, size))
                .expect("fill");
            eprintln!(
                "filled {} to {} entries in {:.1?}",
                backend.name,
                backend.entries,
                started.elapsed()
            );
            let id = |what: &str| BenchmarkId::new(format!("{what}/{}", backend.name), size);

            let mut group = c.benchmark_group("journal");
            group.warm_up_time(Duration::from_millis(500));
            group.measurement_time(Duration::from_secs(if big { 4 } else { 2 }));
            group.sample_size(if big { 10 } else { 20 });

            let mut seq = 0u64;
            group.bench_function(id("append"), |b| {
                b.iter_custom(|iters| {
                    let trials: Vec<_> =
                        (0..iters).map(|i| sample_trial(&index, seq + i)).collect();
                    seq += iters;
                    rt.block_on(async {
                        let start = Instant::now();
                        for t in &trials {
                            backend.writer.append(t).await.expect("append");
                        }
                        start.elapsed()
                    })
                })
            });

            group.bench_function(id("cold_load"), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let journal = backend.handle(JournalOptions::default());
                            let start = Instant::now();
                            let read = journal.read(&index).await.expect("read");
                            total += start.elapsed();
                            assert!(read.trials.len() as u64 >= size);
                        }
                        total
                    })
                })
            });

            if !big {
                group.bench_function(id("cold_load_without_snapshots"), |b| {
                    b.iter_custom(|iters| {
                        rt.block_on(async {
                            let mut total = Duration::ZERO;
                            for _ in 0..iters {
                                let journal = backend
                                    .handle(JournalOptions::default().with_snapshot_every(0));
                                let start = Instant::now();
                                let read = journal.read(&index).await.expect("read");
                                total += start.elapsed();
                                assert!(read.report.from_snapshot == 0);
                            }
                            total
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
                    rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            next += 1;
                            other
                                .append(&sample_trial(&index, next))
                                .await
                                .expect("append");
                            let start = Instant::now();
                            let report = reader.refresh(&index).await.expect("refresh");
                            total += start.elapsed();
                            assert_eq!(report.fetched, 1);
                        }
                        total
                    })
                })
            });
            group.bench_function(id("incremental_read"), |b| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            next += 1;
                            other
                                .append(&sample_trial(&index, next))
                                .await
                                .expect("append");
                            let start = Instant::now();
                            let read = reader.read(&index).await.expect("read");
                            total += start.elapsed();
                            assert_eq!(read.report.fetched, 1);
                        }
                        total
                    })
                })
            });
            group.finish();
            backend.entries = rt.block_on(reader.refresh(&index)).expect("count").entries as u64;
        }
    }
}

criterion_group!(benches, journal_benches);
criterion_main!(benches);
