//! Proposal latency per strategy at history sizes 10, 1k and 10k, as wall time and as
//! CPU time of this thread (from `/proc/thread-self/schedstat`, Linux only), so that a
//! machine shared with other jobs still gives a usable figure.
//!
//! ```text
//! cargo run --release -p hnswtune-bench-propose --bin latency [-- ROUNDS [STRATEGY [HISTORY_SIZE]]]
//! ```
//!
//! The criterion bench (`--bench propose`) measures the same calls with statistics;
//! this binary exists because criterion only reports wall time.

use std::time::Instant;

use hnswtune_bench_propose::history;
use hnswtune_core::{Objective, SearchSpace};
use hnswtune_propose::{ProposalContext, StrategyKind};

fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

fn main() -> anyhow::Result<()> {
    let rounds: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50);
    let only: Option<StrategyKind> = std::env::args().nth(2).map(|a| a.parse()).transpose()?;
    let size: Option<usize> = std::env::args().nth(3).map(|a| a.parse()).transpose()?;
    let space = SearchSpace::hnsw();
    let objective = Objective::new(0.95)?;
    println!("| strategy | history | wall µs/proposal | CPU µs/proposal |");
    println!("|---|---|---|---|");
    for n in [10usize, 1_000, 10_000] {
        if size.is_some_and(|s| s != n) {
            continue;
        }
        let history = history(&space, n)?;
        let ctx = ProposalContext {
            space: &space,
            history: &history,
            champion: objective.best(&history),
            objective: &objective,
        };
        for kind in StrategyKind::ALL {
            if only.is_some_and(|o| o != kind) {
                continue;
            }
            let proposer = kind.build(1);
            proposer.propose(&ctx)?;
            let reps = if n >= 10_000 {
                rounds.div_ceil(10).max(3)
            } else {
                rounds
            };
            let (wall, cpu) = (Instant::now(), cpu_ns());
            for _ in 0..reps {
                std::hint::black_box(proposer.propose(std::hint::black_box(&ctx))?);
            }
            let wall_us = wall.elapsed().as_secs_f64() * 1e6 / f64::from(reps);
            let cpu_us = match (cpu, cpu_ns()) {
                (Some(a), Some(b)) => format!("{:.1}", (b - a) as f64 / 1e3 / f64::from(reps)),
                _ => "n/a".into(),
            };
            println!("| {kind} | {n} | {wall_us:.1} | {cpu_us} |");
        }
    }
    Ok(())
}
