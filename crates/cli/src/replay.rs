//! `hnswtune replay`: the proposer crate's efficiency table on a recorded landscape.

use anyhow::Context;
use hnswtune_propose::{EfficiencySettings, Landscape, Spread, measure_efficiency};
use serde_json::json;

use crate::cli::{ReplayArgs, check_min_recall, check_positive};
use crate::strategy;

fn spread(s: &Spread) -> serde_json::Value {
    let num = |v: f64| if v.is_finite() { json!(v) } else { json!(null) };
    json!({
        "median": num(s.median),
        "p25": num(s.p25),
        "p75": num(s.p75),
        "min": num(s.min),
        "max": num(s.max),
        "n": s.n,
    })
}

/// `hnswtune replay`.
pub fn run(args: ReplayArgs, json_out: bool) -> anyhow::Result<()> {
    check_positive(
        "--seeds",
        args.seeds,
        "It is how many seeds each strategy is replayed with; 20 gives a stable median.",
    )?;
    check_positive(
        "--budget",
        args.budget,
        "It is the number of trials after which the best config found is scored.",
    )?;
    for &r in &args.min_recall {
        check_min_recall(r)?;
    }
    if !args.landscape.exists() {
        anyhow::bail!(
            "--landscape {} does not exist. A landscape is a JSON-lines file of recorded \
             trials, such as the ones committed under crates/propose/.",
            args.landscape.display()
        );
    }
    let landscape = Landscape::load(&args.landscape)
        .with_context(|| format!("cannot use the landscape {}", args.landscape.display()))?;
    let mut strategies = Vec::new();
    for s in &args.strategy {
        let kind = strategy::kind(*s);
        if !strategies.contains(&kind) {
            strategies.push(kind);
        }
    }
    let settings = EfficiencySettings {
        seeds: u32::try_from(args.seeds).context("--seeds is too large")?,
        budget: u32::try_from(args.budget).context("--budget is too large")?,
        min_recalls: args.min_recall.clone(),
        strategies,
        ..EfficiencySettings::default()
    };
    let table = measure_efficiency(&landscape, &settings)
        .with_context(|| format!("replaying on {} failed", args.landscape.display()))?;
    if json_out {
        let rows: Vec<_> = table
            .rows
            .iter()
            .map(|r| {
                json!({
                    "strategy": r.strategy.name(),
                    "min_recall": r.min_recall,
                    "optimum_p50_us": r.optimum_p50_us,
                    "reached_within_budget": r.reached_within_budget,
                    "seeds": r.seeds,
                    "builds_to_target": spread(&r.builds),
                    "trials_to_target": spread(&r.trials),
                    "secs_to_target": spread(&r.secs),
                    "secs_fraction_of_grid": spread(&r.secs_fraction),
                    "best_ratio_at_budget": spread(&r.best_ratio_at_budget),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "landscape": table.landscape,
                "configs": table.configs.to_string(),
                "builds": table.builds,
                "exhaustive_secs": table.exhaustive_secs,
                "seeds": settings.seeds,
                "budget": settings.budget,
                "rows": rows,
            }))?
        );
    } else {
        print!("{table}");
    }
    Ok(())
}
