//! custom_proposer: write your own strategy by implementing `Proposer`, then judge it
//! on a replayed landscape against the built-in ones.
//!
//! `LadderBisect` walks a coarse ladder of build configs (every third value of each
//! build-time parameter) and, for each build, bisects the search-time ladder for the
//! smallest value that meets the recall floor, using only the trials already in the
//! history. When the ladder is spent it falls back to the first untried point of the
//! space, so it honours the `Proposer` contract: deterministic, always inside the
//! space, never repeats a config, `None` only when everything was tried.
//!
//! ```text
//! cargo run --release -p hnswtune-examples --example custom_proposer
//! ```

use std::collections::HashSet;

use hnswtune_core::{ParamValue, Params, Phase, SearchSpace, Trial};
use hnswtune_propose::{
    AnalyticLandscape, ProposalContext, ProposeError, Proposer, StrategyKind, run_replay,
};

/// Coarse build ladder + per-build bisection of the search-time parameter.
#[derive(Debug, Default)]
struct LadderBisect;

/// The space's values of each parameter, in ladder order.
fn ladders(space: &SearchSpace, phase: Phase) -> Vec<(String, Vec<ParamValue>)> {
    space
        .specs()
        .iter()
        .filter(|s| s.phase == phase)
        .map(|s| (s.name.clone(), s.values()))
        .collect()
}

/// Every combination of the given ladders (a small cartesian product).
fn combinations(ladders: &[(String, Vec<ParamValue>)]) -> Vec<Params> {
    let mut out = vec![Params::new()];
    for (name, values) in ladders {
        out = out
            .iter()
            .flat_map(|p| {
                values
                    .iter()
                    .map(move |v| p.clone().with(name.clone(), v.clone()))
            })
            .collect();
    }
    out
}

impl LadderBisect {
    fn next_on_build(
        &self,
        ctx: &ProposalContext<'_>,
        build: &Params,
        search: &[(String, Vec<ParamValue>)],
        seen: &HashSet<Params>,
    ) -> Option<Params> {
        // One search-time parameter is bisected; others (if any) stay at their default.
        let (name, ladder) = search.first()?;
        let defaults = ctx.space.default_params();
        let with = |v: &ParamValue| {
            let mut p = defaults.clone();
            for (k, value) in build.iter() {
                p.set(k, value.clone());
            }
            p.with(name.clone(), v.clone())
        };
        // lo: highest index measured infeasible; hi: lowest measured feasible.
        let (mut lo, mut hi): (Option<usize>, Option<usize>) = (None, None);
        for (i, v) in ladder.iter().enumerate() {
            let params = with(v);
            let measured = ctx
                .history
                .iter()
                .filter(|t| ctx.space.project(&t.params).as_ref() == Some(&params))
                .find_map(Trial::completed_metrics);
            if let Some(m) = measured {
                if ctx.objective.feasible(m) {
                    hi = Some(hi.map_or(i, |h: usize| h.min(i)));
                } else {
                    lo = Some(lo.map_or(i, |l: usize| l.max(i)));
                }
            }
        }
        let start = lo.map_or(0, |l| l + 1);
        let end = hi.unwrap_or(ladder.len());
        if start >= end {
            return None;
        }
        // Bisect the open interval, skipping points already tried (failed ones too).
        let mid = start + (end - start) / 2;
        (mid..end)
            .chain(start..mid)
            .map(|i| with(&ladder[i]))
            .find(|p| !seen.contains(p))
    }
}

impl Proposer for LadderBisect {
    fn name(&self) -> &str {
        "ladder_bisect"
    }

    fn propose(&self, ctx: &ProposalContext<'_>) -> Result<Option<Params>, ProposeError> {
        let seen: HashSet<Params> = ctx
            .history
            .iter()
            .filter_map(|t| ctx.space.project(&t.params))
            .collect();
        let search = ladders(ctx.space, Phase::Search);
        let coarse: Vec<(String, Vec<ParamValue>)> = ladders(ctx.space, Phase::Build)
            .into_iter()
            .map(|(name, values)| (name, values.into_iter().step_by(3).collect()))
            .collect();
        for build in combinations(&coarse) {
            if let Some(p) = self.next_on_build(ctx, &build, &search, &seen) {
                return Ok(Some(p));
            }
        }
        // The ladder is spent: the first untried point of the whole space.
        let all: Vec<(String, Vec<ParamValue>)> = ctx
            .space
            .specs()
            .iter()
            .map(|s| (s.name.clone(), s.values()))
            .collect();
        Ok(combinations(&all).into_iter().find(|p| !seen.contains(p)))
    }
}

/// Makes a contender's proposer for one seed.
type MakeProposer = Box<dyn Fn(u64) -> Box<dyn Proposer>>;

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), ProposeError> {
    let landscape = AnalyticLandscape::default().build()?;
    println!(
        "landscape {:?}: {} configs, {} builds; target: a config within 5% of the best \
         feasible p50 at recall ≥ 0.95\n",
        landscape.name(),
        landscape.space().cardinality(),
        landscape.build_count()
    );
    println!(
        "{:<16} {:>14} {:>14} {:>18}",
        "strategy", "median builds", "median trials", "median sim. secs"
    );
    let seeds = 20u64;
    let mut contenders: Vec<(String, MakeProposer)> = vec![(
        "ladder_bisect".into(),
        Box::new(|_| Box::new(LadderBisect) as Box<dyn Proposer>),
    )];
    for kind in [StrategyKind::Frontier, StrategyKind::Random] {
        contenders.push((kind.name().into(), Box::new(move |seed| kind.build(seed))));
    }
    for (name, make) in &contenders {
        let (mut builds, mut trials, mut secs) = (vec![], vec![], vec![]);
        for seed in 0..seeds {
            let proposer = make(seed);
            let out = run_replay(&landscape, proposer.as_ref(), 0.95, seed, 30, 0.05)?;
            if let Some((b, t, s)) = out.to_target {
                builds.push(b as f64);
                trials.push(t as f64);
                secs.push(s);
            }
        }
        println!(
            "{name:<16} {:>14.1} {:>14.1} {:>18.1}",
            median(builds),
            median(trials),
            median(secs)
        );
    }
    Ok(())
}

/// The proposer contract that every built-in strategy runs, run on this one too
/// (`cargo test -p hnswtune-examples --example custom_proposer`, and in
/// `cargo test --workspace`, since the example is built with `test = true`).
#[cfg(test)]
mod conformance {
    hnswtune_testkit::proposer_conformance!(|_seed: u64| super::LadderBisect);
}
