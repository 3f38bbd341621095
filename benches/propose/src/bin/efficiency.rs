//! Prints the efficiency table of every strategy on one or more landscapes.
//!
//! ```text
//! cargo run --release -p hnswtune-bench-propose --bin efficiency -- \
//!     [--seeds 20] [--budget 30] [--strategy NAME]... LANDSCAPE...
//! ```
//!
//! A LANDSCAPE is a JSON-lines file of trials, or `analytic` / `analytic-variant` for
//! the synthetic landscapes of `hnswtune_propose::AnalyticLandscape`.
//!
//! `--trace SEED` prints, instead of the table, every proposal of each strategy's run
//! with that seed (params, measured recall and p50, builds and simulated seconds so
//! far), which shows where a strategy spends its budget, and a `--- converged here`
//! line where the strategy says the study is done.
//!
//! `--noise` prints, instead of the table, how much the p50 of one config differs
//! between its recorded builds (`max / min − 1` per config with two or more), per
//! landscape and pooled over all given: the figures behind Frontier's default
//! `noise_tolerance` (docs/proposers.md, "Noise tolerance").

use anyhow::{Context, bail};
use hnswtune_core::{Objective, Trial};
use hnswtune_propose::{
    AnalyticLandscape, EfficiencySettings, Landscape, ProposalContext, StrategyKind,
    measure_efficiency,
};

/// Prints one run per strategy and floor, proposal by proposal, up to the budget or
/// the target, whichever comes later.
fn trace(landscape: &Landscape, settings: &EfficiencySettings, seed: u64) -> anyhow::Result<()> {
    for &min_recall in &settings.min_recalls {
        let objective = Objective::new(min_recall)?;
        let optimum = landscape.best_feasible(min_recall);
        println!(
            "## {} min_recall {min_recall}: optimum {:?}",
            landscape.name(),
            optimum.as_ref().map(|(p, c)| format!("{p} {c:.1}"))
        );
        for &kind in &settings.strategies {
            let proposer = kind.build(seed);
            let mut replay = landscape.replay(seed);
            let mut history: Vec<Trial> = Vec::new();
            let mut reached = false;
            let mut stopped = false;
            println!("### {kind} seed {seed}");
            while !(reached && history.len() >= settings.budget as usize) {
                let ctx = ProposalContext {
                    space: landscape.space(),
                    history: &history,
                    champion: objective.best(&history),
                    objective: &objective,
                };
                if !stopped && let Some(done) = proposer.convergence(&ctx) {
                    println!("--- converged here: {}", done.reason);
                    stopped = true;
                }
                let Some(params) = proposer.propose(&ctx)? else {
                    break;
                };
                let trial = replay.trial(&params, proposer.name())?;
                let truth = landscape.truth(&params);
                let target = match (&optimum, &truth) {
                    (Some((_, opt)), Some(t)) => {
                        t.recall >= min_recall && t.p50_us <= opt * (1.0 + settings.within)
                    }
                    _ => false,
                };
                let m = trial
                    .completed_metrics()
                    .context("replayed trials complete")?;
                println!(
                    "{:>3} {params}: recall {:.4} p50 {:7.1} | builds {} sim {:7.1}s{}",
                    history.len() + 1,
                    m.recall,
                    m.search_p50_us,
                    replay.builds(),
                    replay.simulated_secs(),
                    if target && !reached {
                        "  <- target"
                    } else {
                        ""
                    }
                );
                reached |= target;
                history.push(trial);
            }
        }
    }
    Ok(())
}

/// `max / min − 1` of the recorded p50 per config measured on two or more builds.
fn repeat_spreads(landscape: &Landscape) -> Vec<f64> {
    let mut p50s: std::collections::BTreeMap<&hnswtune_core::Params, Vec<f64>> =
        std::collections::BTreeMap::new();
    for trial in landscape.trials() {
        if let Some(m) = trial.completed_metrics() {
            p50s.entry(&trial.params).or_default().push(m.search_p50_us);
        }
    }
    p50s.values()
        .filter(|v| v.len() >= 2)
        .map(|v| {
            let max = v.iter().copied().fold(f64::MIN, f64::max);
            let min = v.iter().copied().fold(f64::MAX, f64::min);
            max / min - 1.0
        })
        .collect()
}

/// The `q` quantile of `xs`, interpolated linearly between order statistics.
fn quantile(xs: &mut [f64], q: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    let at = q * (xs.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    xs[lo] + (xs[hi] - xs[lo]) * (at - lo as f64)
}

/// One row of the `--noise` table.
fn noise_row(name: &str, spreads: &mut [f64]) {
    if spreads.is_empty() {
        println!("| {name} | 0 | | | | | |");
        return;
    }
    let p90 = quantile(spreads, 0.9);
    println!(
        "| {name} | {} | {:.1}% | {:.1}% | {:.1}% | {:.0}% | {:.3} |",
        spreads.len(),
        quantile(spreads, 0.5) * 100.0,
        quantile(spreads, 0.75) * 100.0,
        p90 * 100.0,
        quantile(spreads, 1.0) * 100.0,
        p90 / (1.0 + p90),
    );
}

fn main() -> anyhow::Result<()> {
    let mut settings = EfficiencySettings::default();
    let mut strategies = Vec::new();
    let mut landscapes = Vec::new();
    let mut trace_seed: Option<u64> = None;
    let mut noise = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().with_context(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--seeds" => settings.seeds = value("--seeds")?.parse()?,
            "--budget" => settings.budget = value("--budget")?.parse()?,
            "--trace" => trace_seed = Some(value("--trace")?.parse()?),
            "--noise" => noise = true,
            "--strategy" => strategies.push(value("--strategy")?.parse::<StrategyKind>()?),
            "--min-recall" => {
                settings.min_recalls = value("--min-recall")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "-h" | "--help" => {
                println!(
                    "efficiency [--seeds N] [--budget N] [--strategy S]... [--min-recall 0.9,0.95] [--trace SEED] [--noise] LANDSCAPE..."
                );
                return Ok(());
            }
            flag if flag.starts_with("--") => bail!("unknown flag {flag}"),
            path => landscapes.push(path.to_owned()),
        }
    }
    if !strategies.is_empty() {
        settings.strategies = strategies;
    }
    if landscapes.is_empty() {
        landscapes = vec!["analytic".into(), "analytic-variant".into()];
    }
    let mut pooled = Vec::new();
    if noise {
        println!("| landscape | configs | median | 75th pct. | 90th pct. | max | r/(1+r) at p90 |");
        println!("|---|---|---|---|---|---|---|");
    }
    for name in landscapes {
        let landscape = match name.as_str() {
            "analytic" => AnalyticLandscape::default().build()?,
            "analytic-variant" => AnalyticLandscape::variant().build()?,
            path => Landscape::load(path)?,
        };
        if noise {
            let mut spreads = repeat_spreads(&landscape);
            noise_row(&name, &mut spreads);
            pooled.extend(spreads);
            continue;
        }
        if let Some(seed) = trace_seed {
            trace(&landscape, &settings, seed)?;
            continue;
        }
        let table = measure_efficiency(&landscape, &settings)?;
        println!("{table}");
    }
    if noise {
        noise_row("pooled", &mut pooled);
    }
    Ok(())
}
