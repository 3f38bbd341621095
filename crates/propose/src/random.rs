//! Uniform random search without replacement: the baseline every other strategy must
//! beat.
//!
//! ## Method
//!
//! Each proposal is drawn uniformly from the configs of the space that are not yet in
//! the history. While unvisited configs are plentiful it draws every ladder index
//! uniformly and rejects visited points (rejection sampling is exactly uniform over
//! the unvisited set); once at least a fifth of a small space is visited it lists the
//! unvisited points and picks one, so a nearly exhausted space costs no retries.
//!
//! Source: Bergstra and Bengio, "Random Search for Hyper-Parameter Optimization", JMLR
//! 13 (2012), the standard baseline for hyper-parameter search.
//!
//! ## Invariants
//!
//! - The distribution is uniform over unvisited points of the lattice (uniform over
//!   ladder positions, not over the log scale).
//! - The RNG is seeded from the configured seed, the history length and a digest of
//!   the projected history, so a replayed history gives the same proposal.
//! - `None` only when every point of the space is in the history.

use rand::Rng;

use crate::lattice::{HistoryView, Lattice, Point};
use crate::{ProposalContext, ProposeError, Proposer};
use hnswtune_core::Params;

/// Uniform sampling without replacement.
///
/// ```
/// use hnswtune_core::{Objective, SearchSpace};
/// use hnswtune_propose::{ProposalContext, Proposer, Random};
///
/// let space = SearchSpace::hnsw();
/// let objective = Objective::new(0.9)?;
/// let ctx = ProposalContext { space: &space, history: &[], champion: None, objective: &objective };
/// let p = Random::seeded(7).propose(&ctx)?.expect("an empty history leaves every config");
/// assert!(space.contains(&p));
/// assert_eq!(Random::seeded(7).propose(&ctx)?, Some(p), "same seed, same proposal");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Random {
    seed: u64,
}

impl Random {
    /// A sampler seeded with `seed` (`::seeded`, like every other strategy).
    pub fn seeded(seed: u64) -> Self {
        Random { seed }
    }
}

/// Rejection sampling gives up after this many draws and lists the unvisited points
/// instead (only reachable in a space small enough to list).
const MAX_REJECTIONS: u32 = 64;

/// Largest space that may be listed point by point.
const LISTABLE: u128 = 1 << 22;

impl Proposer for Random {
    fn name(&self) -> &str {
        "random"
    }

    fn propose(&self, ctx: &ProposalContext<'_>) -> Result<Option<Params>, ProposeError> {
        let lattice = Lattice::new(ctx.space);
        let view = HistoryView::new(&lattice, ctx.history);
        if view.exhausted(&lattice) {
            return Ok(None);
        }
        let mut rng = view.rng(self.seed, ctx.history.len());
        let total = lattice.cardinality();
        let visited = view.visited_len() as u128;
        let dense = total <= LISTABLE && visited * 5 >= total;
        if !dense {
            for _ in 0..MAX_REJECTIONS {
                let p: Point = lattice.cards.iter().map(|&c| rng.gen_range(0..c)).collect();
                if !view.contains(&lattice, &p) {
                    return Ok(Some(lattice.decode(&p)));
                }
            }
        }
        if total <= LISTABLE {
            let unvisited = list_unvisited(&lattice, &view);
            let pick = rng.gen_range(0..unvisited.len());
            return Ok(Some(lattice.decode(&unvisited[pick])));
        }
        // A huge space where 64 uniform draws all hit the history: the history must
        // itself be huge; continue deterministically from one more uniform draw.
        let anchor: Point = lattice.cards.iter().map(|&c| rng.gen_range(0..c)).collect();
        Ok(crate::lattice::nearest_unvisited(&lattice, &view, &anchor).map(|p| lattice.decode(&p)))
    }
}

fn list_unvisited(lattice: &Lattice<'_>, view: &HistoryView<'_>) -> Vec<Point> {
    let dims = lattice.dims();
    let mut out = Vec::new();
    let mut point = vec![0u64; dims];
    loop {
        if !view.contains(lattice, &point) {
            out.push(point.clone());
        }
        let mut d = dims;
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            point[d] += 1;
            if point[d] < lattice.cards[d] {
                break;
            }
            point[d] = 0;
        }
    }
}
