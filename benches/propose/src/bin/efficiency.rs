//! Prints the efficiency table of every strategy on one or more landscapes.
//!
//! ```text
//! cargo run --release -p hnswtune-bench-propose --bin efficiency -- \
//!     [--seeds 20] [--budget 30] [--strategy NAME]... LANDSCAPE...
//! ```
//!
//! A LANDSCAPE is a JSON-lines file of trials, or `analytic` / `analytic-variant` for
//! the synthetic landscapes of `hnswtune_propose::AnalyticLandscape`.

use anyhow::{Context, bail};
use hnswtune_propose::{
    AnalyticLandscape, EfficiencySettings, Landscape, StrategyKind, measure_efficiency,
};

fn main() -> anyhow::Result<()> {
    let mut settings = EfficiencySettings::default();
    let mut strategies = Vec::new();
    let mut landscapes = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().with_context(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--seeds" => settings.seeds = value("--seeds")?.parse()?,
            "--budget" => settings.budget = value("--budget")?.parse()?,
            "--strategy" => strategies.push(value("--strategy")?.parse::<StrategyKind>()?),
            "--min-recall" => {
                settings.min_recalls = value("--min-recall")?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()?
            }
            "-h" | "--help" => {
                println!(
                    "efficiency [--seeds N] [--budget N] [--strategy S]... [--min-recall 0.9,0.95] LANDSCAPE..."
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
    for name in landscapes {
        let landscape = match name.as_str() {
            "analytic" => AnalyticLandscape::default().build()?,
            "analytic-variant" => AnalyticLandscape::variant().build()?,
            path => Landscape::load(path)?,
        };
        let table = measure_efficiency(&landscape, &settings)?;
        println!("{table}");
    }
    Ok(())
}
