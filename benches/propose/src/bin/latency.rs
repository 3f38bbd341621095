//! Proposal latency per strategy at history sizes 10, 1k and 10k: the median and mean
//! wall time per call, and for cold calls the CPU time of this thread (from
//! `/proc/thread-self/schedstat`, Linux only), so that a machine shared with other
//! jobs still gives a usable figure.
//!
//! ```text
//! cargo run --release -p hnswtune-bench-propose --bin latency [-- ROUNDS [STRATEGY [HISTORY_SIZE [cold|incremental]]]]
//! ```
//!
//! Two figures per strategy and size:
//!
//! - **cold**: a fresh proposer per call, so nothing derived from an earlier call can
//!   help;
//! - **incremental**: a fresh proposer that has already proposed from the history
//!   without its last trial, which is how the agent calls it (one new trial between
//!   two proposals).
//!
//! Both time only the measured call, with [`Instant`]: the median wall time per call
//! (which preemption by other jobs rarely reaches) and the mean. The cold calls also get
//! CPU time, as the difference between a loop of (fresh proposer + call) and a loop of
//! fresh proposers alone, because the thread's CPU clock in `schedstat` only advances
//! at scheduler ticks and cannot time one call; for the incremental calls that
//! difference would subtract two loops of cold calls and is too noisy to print.
//!
//! Naming one mode runs only its calls; the other column reads `-`. Instructions per
//! call, which do not depend on the machine's load, come from callgrind counting only
//! the measured calls:
//!
//! ```text
//! valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*measured_call*' \
//!     $CARGO_TARGET_DIR/release/latency 20 frontier 1000 incremental
//! ```
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

/// Median and mean wall µs per call of `call`, over `calls` calls, each on a proposer
/// that `prepare` returns, and the CPU µs per call when `cpu` is set; the preparation
/// is not counted.
fn timed(
    calls: u32,
    cpu: bool,
    mut prepare: impl FnMut() -> anyhow::Result<Box<dyn Proposer>>,
    mut call: impl FnMut(&dyn Proposer) -> anyhow::Result<()>,
) -> anyhow::Result<String> {
    let before = cpu_ns();
    if cpu {
        for _ in 0..calls {
            drop(std::hint::black_box(prepare()?));
        }
    }
    let (prepared, start) = (cpu_ns(), cpu_ns());
    let mut walls_us = Vec::with_capacity(calls as usize);
    for _ in 0..calls {
        let proposer = prepare()?;
        let t = Instant::now();
        measured_call(&mut call, proposer.as_ref())?;
        walls_us.push(t.elapsed().as_secs_f64() * 1e6);
        drop(proposer);
    }
    let cpu_end = cpu_ns();
    walls_us.sort_by(f64::total_cmp);
    let median = walls_us[walls_us.len() / 2];
    let mean = walls_us.iter().sum::<f64>() / walls_us.len() as f64;
    let cpu_us = match (cpu, before, prepared, start, cpu_end) {
        (true, Some(a), Some(b), Some(c), Some(d)) => {
            let ns = (d - c) as f64 - (b - a) as f64;
            format!(" | {:.1}", ns / 1e3 / f64::from(calls))
        }
        (true, ..) => " | n/a".into(),
        (false, ..) => String::new(),
    };
    Ok(format!("{median:.1} | {mean:.1}{cpu_us}"))
}

/// The measured call, kept out of line so that callgrind can count it alone
/// (`--collect-atstart=no --toggle-collect='*measured_call*'`).
#[inline(never)]
fn measured_call(
    call: &mut impl FnMut(&dyn Proposer) -> anyhow::Result<()>,
    proposer: &dyn Proposer,
) -> anyhow::Result<()> {
    call(proposer)
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
    // The step-1 space: a 10k history of distinct configs only fits there (the default
    // ladder space holds 260), and it is the worst case for every strategy.
    let space = SearchSpace::hnsw_fine((10, 400), (10, 200)).expect("valid bounds");
    let objective = Objective::new(0.95)?;
    println!(
        "| strategy | history | cold median µs | cold mean µs | cold CPU µs | incremental median µs | incremental mean µs |"
    );
    println!("|---|---|---|---|---|---|---|");
    for n in [10usize, 1_000, 10_000] {
        if size.is_some_and(|s| s != n) {
            continue;
        }
        let reps = if n >= 10_000 {
            rounds.div_ceil(10).max(3)
        } else {
            rounds
        };
        let history = history(&space, n)?;
        let (last, before_last) = (
            context(&space, &objective, &history),
            context(&space, &objective, &history[..n - 1]),
        );
        for kind in StrategyKind::ALL {
            if only.is_some_and(|o| o != kind) {
                continue;
            }
            let skipped = |columns: usize| vec!["-"; columns].join(" | ");
            let cold = if run_cold {
                timed(reps, true, || Ok(kind.build(1)), |p| propose(p, &last))?
            } else {
                skipped(3)
            };
            let incremental = if run_incremental {
                let prepare = || {
                    let proposer = kind.build(1);
                    propose(proposer.as_ref(), &before_last)?;
                    Ok(proposer)
                };
                timed(reps, false, prepare, |p| propose(p, &last))?
            } else {
                skipped(2)
            };
            println!("| {kind} | {n} | {cold} | {incremental} |");
        }
    }
    Ok(())
}
