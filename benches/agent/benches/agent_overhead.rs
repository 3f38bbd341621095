//! `cargo bench -p hnswtune-bench-agent`: the agent's own time per trial, as a table.
//!
//! A plain timing loop rather than criterion: the figure is compared with builds of
//! 9–45 s, so microsecond-level statistics would not change the conclusion, and the
//! package stays quick to build on a shared machine.

use hnswtune_bench_agent::{Strategy, measure};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let trials = 50;
    println!(
        "| strategy | prior trials | trials | agent µs/trial | share of a 9 s build | share of a 45 s build |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    for strategy in [Strategy::EpsilonGreedy, Strategy::Frontier] {
        for prior in [0, 200, 1000] {
            // One warm-up run, then the best of three (the least disturbed by other load).
            measure(strategy, prior, trials)?;
            let best = (0..3)
                .map(|_| measure(strategy, prior, trials))
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .min_by(|a, b| a.per_trial_us().total_cmp(&b.per_trial_us()))
                .ok_or("no measurement")?;
            println!(
                "| {} | {} | {} | {:.0} | {:.4}% | {:.5}% |",
                strategy.name(),
                prior,
                best.trials,
                best.per_trial_us(),
                best.share_of_build(9.0) * 100.0,
                best.share_of_build(45.0) * 100.0,
            );
        }
    }
    Ok(())
}
