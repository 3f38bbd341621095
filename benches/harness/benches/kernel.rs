//! ns per 384-d distance (naive one-accumulator loop, the portable unrolled kernel, and
//! the run-time dispatched kernel) and the time of exact ground truth on generated data.
//!
//! ```text
//! cargo bench -p hnswtune-bench-harness
//! ```

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hnswtune_harness::testdata::clustered;
use hnswtune_harness::{Metric, distance, ground_truth};

fn kernels(c: &mut Criterion) {
    let v = clustered(2, 384, 1, 1, Metric::L2);
    let (a, b) = (v.row(0).to_vec(), v.row(1).to_vec());
    let mut group = c.benchmark_group("distance_384d");
    group.throughput(Throughput::Elements(1));
    group.bench_function("naive_zip_sum", |bench| {
        bench.iter(|| distance::l2_squared_naive(black_box(&a), black_box(&b)))
    });
    group.bench_function("unrolled_portable", |bench| {
        bench.iter(|| distance::l2_squared_portable(black_box(&a), black_box(&b)))
    });
    group.bench_function("unrolled_dispatched", |bench| {
        bench.iter(|| distance::l2_squared(black_box(&a), black_box(&b)))
    });
    group.bench_function("dot_dispatched", |bench| {
        bench.iter(|| distance::dot(black_box(&a), black_box(&b)))
    });
    group.finish();
}

fn truth(c: &mut Criterion) {
    let base = clustered(5000, 384, 32, 1, Metric::Cosine);
    let queries = clustered(200, 384, 32, 2, Metric::Cosine);
    let mut group = c.benchmark_group("ground_truth");
    group.sample_size(10);
    group.bench_function("5000x384_200q_k10", |bench| {
        bench.iter(|| ground_truth::compute(black_box(&base), black_box(&queries), 10))
    });
    group.finish();
}

criterion_group!(benches, kernels, truth);
criterion_main!(benches);
