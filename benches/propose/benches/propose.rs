//! Proposal latency (cold: a fresh proposer per call) per strategy at history sizes 10,
//! 1k and 10k on the step-1 HNSW space, and one efficiency run per strategy on the
//! analytic landscape.
//!
//! `cargo bench -p hnswtune-bench-propose --bench propose`

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_main};
use hnswtune_bench_propose::history;
use hnswtune_core::{Objective, SearchSpace};
use hnswtune_propose::{AnalyticLandscape, ProposalContext, StrategyKind, run_replay};

fn latency(c: &mut Criterion) {
    // The step-1 space: a 10k history of distinct configs only fits there (the default
    // ladder space holds 260), and it is the worst case for every strategy.
    let space = SearchSpace::hnsw_fine((10, 400), (10, 200)).expect("valid bounds");
    let objective = Objective::new(0.95).expect("a valid floor");
    let mut group = c.benchmark_group("propose");
    for n in [10usize, 1_000, 10_000] {
        let history = history(&space, n).expect("a valid history");
        let champion = objective.best(&history);
        for kind in StrategyKind::ALL {
            let ctx = ProposalContext {
                space: &space,
                history: &history,
                champion,
                objective: &objective,
            };
            // A fresh proposer per call, the cold figure (the `latency` binary also
            // reports calls on a history that grows by one trial).
            group.bench_with_input(BenchmarkId::new(kind.name(), n), &ctx, |b, ctx| {
                b.iter(|| black_box(kind.build(1).propose(black_box(ctx)).expect("proposes")))
            });
        }
    }
    group.finish();
}

fn efficiency(c: &mut Criterion) {
    let landscape = AnalyticLandscape::default()
        .build()
        .expect("the analytic landscape builds");
    let mut group = c.benchmark_group("replay_to_target_0.95");
    group.sample_size(10);
    for kind in StrategyKind::ALL {
        let proposer = kind.build(1);
        group.bench_function(kind.name(), |b| {
            b.iter(|| {
                black_box(
                    run_replay(&landscape, proposer.as_ref(), 0.95, 1, 30, 0.05).expect("replays"),
                )
            })
        });
    }
    group.finish();
}

mod group {
    #![allow(
        missing_docs,
        reason = "criterion_group! generates an undocumented public function"
    )]
    use super::{efficiency, latency};
    criterion::criterion_group!(benches, latency, efficiency);
}
criterion_main!(group::benches);
