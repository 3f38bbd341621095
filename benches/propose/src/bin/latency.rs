//! Proposal latency per strategy at history sizes 10, 1k and 10k, as wall time and as
//! CPU time of this thread (from `/proc/thread-self/schedstat`, Linux only), so that a
//! machine shared with other jobs still gives a usable figure.
//!
//! ```text
//! cargo run --release -p hnswtune-bench-propose --bin latency [-- ROUNDS [STRATEGY [HISTORY_SIZE [cold|incremental]]]]
//! ```
//!
//! Two figures per strategy and size:
//!
//! - **cold**: a fresh proposer per call, on a history of exactly the given size, so
//!   nothing derived from an earlier call can help (Frontier keeps a cache);
//! - **incremental**: one proposer called on a history that grows by one trial per
//!   call (sizes `n`, `n + 1`, ...), which is how the agent calls it.
//!
//! Naming one mode runs only its calls (for `valgrind --tool=callgrind`, whose count of
//! instructions does not depend on the machine's load); the other column reads `-`.
//!
//! The criterion bench (`--bench propose`) measures the cold calls with statistics;
//! this binary exists because criterion only reports wall time.

use std::time::Instant;

use hnswtune_bench_propose::history;
use hnswtune_core::{Objective, SearchSpace, Trial};
use hnswtune_propose::{ProposalContext, Proposer, StrategyKind};

fn cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Wall and CPU µs per call of `calls` calls of `call`.
fn timed(calls: u32, mut call: impl FnMut(u32) -> anyhow::Result<()>) -> anyhow::Result<String> {
    let (wall, cpu) = (Instant::now(), cpu_ns());
    for i in 0..calls {
        call(i)?;
    }
    let wall_us = wall.elapsed().as_secs_f64() * 1e6 / f64::from(calls);
    let cpu_us = match (cpu, cpu_ns()) {
        (Some(a), Some(b)) => format!("{:.1}", (b - a) as f64 / 1e3 / f64::from(calls)),
        _ => "n/a".into(),
    };
    Ok(format!("{wall_us:.1} | {cpu_us}"))
}

fn propose(proposer: &dyn Proposer, ctx: &ProposalContext<'_>) -> anyhow::Result<()> {
    std::hint::black_box(proposer.propose(std::hint::black_box(ctx))?);
    Ok(())
}

fn context<'a>(
    space: &'a SearchSpace,
    objective: &'a Objective,
    history: &'a [Trial],
) -> ProposalContext<'a> {
    ProposalContext {
        space,
        history,
        champion: objective.best(history),
        objective,
    }
}

fn main() -> anyhow::Result<()> {
    let rounds: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(50);
    let only: Option<StrategyKind> = std::env::args().nth(2).map(|a| a.parse()).transpose()?;
    let size: Option<usize> = std::env::args().nth(3).map(|a| a.parse()).transpose()?;
    let mode = std::env::args().nth(4);
    let (run_cold, run_incremental) = match mode.as_deref() {
        None => (true, true),
        Some("cold") => (true, false),
        Some("incremental") => (false, true),
        Some(other) => anyhow::bail!("mode {other:?} is not cold or incremental"),
    };
    let space = SearchSpace::hnsw();
    let objective = Objective::new(0.95)?;
    println!(
        "| strategy | history | cold wall µs | cold CPU µs | incremental wall µs | incremental CPU µs |"
    );
    println!("|---|---|---|---|---|---|");
    for n in [10usize, 1_000, 10_000] {
        if size.is_some_and(|s| s != n) {
            continue;
        }
        let reps = if n >= 10_000 {
            rounds.div_ceil(10).max(3)
        } else {
            rounds
        };
        // Prefixes of one longer history: `n` trials for the cold calls, `n + i` for
        // the i-th incremental call.
        let longer = history(&space, n + reps as usize)?;
        let ctx = |history| context(&space, &objective, history);
        for kind in StrategyKind::ALL {
            if only.is_some_and(|o| o != kind) {
                continue;
            }
            let cold_ctx = ctx(&longer[..n]);
            let skipped = || "- | -".to_string();
            let cold = if run_cold {
                timed(reps, |_| propose(kind.build(1).as_ref(), &cold_ctx))?
            } else {
                skipped()
            };
            let incremental = if run_incremental {
                let proposer = kind.build(1);
                propose(proposer.as_ref(), &ctx(&longer[..n - 1]))?;
                let contexts: Vec<ProposalContext<'_>> =
                    (0..reps as usize).map(|i| ctx(&longer[..n + i])).collect();
                timed(reps, |i| propose(proposer.as_ref(), &contexts[i as usize]))?
            } else {
                skipped()
            };
            println!("| {kind} | {n} | {cold} | {incremental} |");
        }
    }
    Ok(())
}
