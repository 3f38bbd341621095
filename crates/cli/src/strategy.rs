//! From `--strategy` to a proposer of `hnswtune-propose`.

use std::sync::Arc;

use hnswtune_propose::{Proposer, StrategyKind};

use crate::cli::StrategyArg;

/// The proposer crate's kind for a `--strategy` value.
pub fn kind(arg: StrategyArg) -> StrategyKind {
    match arg {
        StrategyArg::Frontier => StrategyKind::Frontier,
        StrategyArg::Annealing => StrategyKind::Annealing,
        StrategyArg::EpsilonGreedy => StrategyKind::EpsilonGreedy,
        StrategyArg::Grid => StrategyKind::Grid,
        StrategyArg::Random => StrategyKind::Random,
        StrategyArg::Tpe => StrategyKind::Tpe,
    }
}

/// The strategy with its default settings, seeded with `seed`.
pub fn proposer(arg: StrategyArg, seed: u64) -> Arc<dyn Proposer> {
    Arc::from(kind(arg).build(seed))
}
