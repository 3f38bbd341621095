//! Coarse-to-fine grid search: every point exactly once, good points early.
//!
//! ## Method
//!
//! Each parameter's ladder is refined dyadically in its own unit coordinates (log-spaced
//! for log scales): depth 0 is the value at 1/2, depth 1 adds the values at 1/4 and
//! 3/4, depth `d` adds the values at `(2j + 1) / 2^(d+1)`. A ladder value takes the
//! depth at which it first appears, and every value appears at some depth, so the
//! ladder is covered completely. A point's depth is the largest depth of its
//! coordinates; shell `D` holds the points of depth exactly `D`, and the grid is
//! visited shell by shell. Shells `0..=D` together form a full `(2^(D+1) − 1)`-per-axis
//! grid, so each prefix of the order is a regular grid of the space that gets finer as
//! the study goes on. This is what makes the grid sensible for a huge space such as
//! the default HNSW space (391 × 191 step-1 values): its first 9 proposals are a 3 × 3
//! log-spaced grid, its first 49 a 7 × 7 grid, and it still ends, after 74 681 trials,
//! having visited every config once.
//!
//! Within a shell, points go in lexicographic order with build-time parameters major,
//! so consecutive proposals reuse one build for all its search-time values.
//!
//! The strategy is stateless: it resumes from any history by proposing the first
//! point of the order that the history does not hold.
//!
//! Source: the coarse-to-fine (multi-resolution) grid of sparse-grid and dyadic
//! refinement methods, e.g. Bungartz and Griebel, "Sparse grids", Acta Numerica 13
//! (2004), §3; the van der Corput sequence gives the same order per axis.
//!
//! ## Invariants
//!
//! - Every point of the space is proposed exactly once, then `None`.
//! - The order does not depend on any seed; the same history gives the same proposal.

use std::collections::HashMap;

use crate::lattice::{HistoryView, Lattice, Point};
use crate::{ProposalContext, ProposeError, Proposer};
use hnswtune_core::Params;

/// Deepest dyadic level computed before the remaining values of a ladder are given
/// the next depth in index order (only reachable with ladders of over 2^40 values).
const MAX_DEPTH: u32 = 40;

/// Ladders up to this many values keep their depths in a table rather than a map.
const DENSE_AXIS: u64 = 1 << 16;

/// Coarse-to-fine grid search over the whole space.
///
/// ```
/// use hnswtune_core::{Objective, SearchSpace, EF_CONSTRUCTION, EF_SEARCH};
/// use hnswtune_propose::{Grid, ProposalContext, Proposer};
///
/// let space = SearchSpace::hnsw();
/// let objective = Objective::new(0.9)?;
/// let ctx = ProposalContext { space: &space, history: &[], champion: None, objective: &objective };
/// let first = Grid::new().propose(&ctx)?.unwrap();
/// // The first point is the centre of the log-scaled space.
/// assert_eq!(first.int(EF_CONSTRUCTION), Some(63));
/// assert_eq!(first.int(EF_SEARCH), Some(45));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct Grid {
    _private: (),
}

impl Grid {
    /// A grid proposer (it has no settings: the order is a property of the space).
    pub fn new() -> Self {
        Grid { _private: () }
    }
}

/// The dyadic order of one ladder, computed lazily depth by depth.
#[derive(Debug)]
pub(crate) struct AxisOrder {
    card: u64,
    /// Ladder indices in order of first appearance.
    order: Vec<u64>,
    /// Depth of each index in `order`, as a table for ladders up to `DENSE_AXIS`
    /// values and a map beyond.
    depth_table: Vec<u32>,
    depth_map: HashMap<u64, u32>,
    /// `ends[d]` = number of indices with depth ≤ d.
    ends: Vec<usize>,
}

impl AxisOrder {
    pub(crate) fn new(card: u64) -> Self {
        AxisOrder {
            card,
            order: Vec::new(),
            depth_table: if card <= DENSE_AXIS {
                vec![u32::MAX; card as usize]
            } else {
                Vec::new()
            },
            depth_map: HashMap::new(),
            ends: Vec::new(),
        }
    }

    pub(crate) fn complete(&self) -> bool {
        self.order.len() as u64 >= self.card
    }

    /// True when every ladder value has depth ≤ `depth` (call `extend_to` first).
    pub(crate) fn complete_at(&self, depth: u32) -> bool {
        self.up_to(depth).len() as u64 >= self.card
    }

    /// Computes depths up to `depth` (or until the ladder is covered).
    pub(crate) fn extend_to(&mut self, lattice: &Lattice<'_>, dim: usize, depth: u32) {
        while (self.ends.len() as u32) <= depth {
            let d = self.ends.len() as u32;
            if !self.complete() {
                if d >= MAX_DEPTH {
                    for i in 0..self.card {
                        self.push(i, d);
                    }
                } else {
                    let n = 1u64 << d;
                    let denom = (n * 2) as f64;
                    for j in 0..n {
                        let u = (2 * j + 1) as f64 / denom;
                        self.push(lattice.index_at_unit(dim, u), d);
                    }
                }
            }
            self.ends.push(self.order.len());
        }
    }

    fn push(&mut self, i: u64, d: u32) {
        if self.card <= DENSE_AXIS {
            let slot = &mut self.depth_table[i as usize];
            if *slot == u32::MAX {
                *slot = d;
                self.order.push(i);
            }
        } else if let std::collections::hash_map::Entry::Vacant(e) = self.depth_map.entry(i) {
            e.insert(d);
            self.order.push(i);
        }
    }

    /// Indices of depth ≤ `depth` in order of appearance (call `extend_to` first).
    pub(crate) fn up_to(&self, depth: u32) -> &[u64] {
        &self.order[..self.ends[depth as usize]]
    }

    pub(crate) fn depth(&self, i: u64) -> Option<u32> {
        if self.card <= DENSE_AXIS {
            self.depth_table
                .get(i as usize)
                .copied()
                .filter(|&d| d != u32::MAX)
        } else {
            self.depth_map.get(&i).copied()
        }
    }
}

/// The first point, in the grid's coarse-to-fine order, that `accept` takes.
///
/// Axes are enumerated build-time first. Shells that the history fills completely are
/// skipped by counting (each visited point's depth is computed once), so a call costs
/// one pass over the history plus the part of one shell it scans.
pub(crate) fn first_in_order(
    lattice: &Lattice<'_>,
    view: &HistoryView<'_>,
    mut accept: impl FnMut(&Point) -> bool,
) -> Option<Point> {
    let dims = lattice.dims();
    let axis_order: Vec<usize> = (0..dims)
        .filter(|&d| lattice.build[d])
        .chain((0..dims).filter(|&d| !lattice.build[d]))
        .collect();
    let mut axes: Vec<AxisOrder> = lattice.cards.iter().map(|&c| AxisOrder::new(c)).collect();
    let grid_size = |axes: &[AxisOrder], depth: u32| {
        axes.iter().fold(1u128, |acc, a| {
            acc.saturating_mul(a.up_to(depth).len() as u128)
        })
    };
    // The shallowest depth whose grid is larger than the history cannot be full.
    let mut deepest = 0u32;
    loop {
        for (d, axis) in axes.iter_mut().enumerate() {
            axis.extend_to(lattice, d, deepest);
        }
        if grid_size(&axes, deepest) > view.visited_len() as u128
            || axes.iter().all(AxisOrder::complete)
        {
            break;
        }
        deepest += 1;
    }
    let mut per_shell = vec![0u128; deepest as usize + 1];
    for p in view.visited_points() {
        let depth = p
            .iter()
            .enumerate()
            .try_fold(0u32, |acc, (d, &i)| axes[d].depth(i).map(|x| acc.max(x)));
        if let Some(depth) = depth {
            per_shell[depth as usize] += 1;
        }
    }
    let mut visited_so_far = 0u128;
    let mut depth = 0u32;
    loop {
        for (d, axis) in axes.iter_mut().enumerate() {
            axis.extend_to(lattice, d, depth);
        }
        if let Some(n) = per_shell.get(depth as usize) {
            visited_so_far += n;
        }
        let full = depth <= deepest && visited_so_far >= grid_size(&axes, depth);
        if !full {
            let lists: Vec<&[u64]> = axis_order.iter().map(|&d| axes[d].up_to(depth)).collect();
            let mut pos = vec![0usize; dims];
            let mut point = vec![0u64; dims];
            'points: loop {
                let mut max_depth = 0;
                for (k, &d) in axis_order.iter().enumerate() {
                    let i = lists[k][pos[k]];
                    point[d] = i;
                    max_depth = max_depth.max(axes[d].depth(i).unwrap_or(0));
                }
                if max_depth == depth && accept(&point) {
                    return Some(point);
                }
                for k in (0..dims).rev() {
                    pos[k] += 1;
                    if pos[k] < lists[k].len() {
                        continue 'points;
                    }
                    pos[k] = 0;
                }
                break;
            }
        }
        if axes.iter().all(|a| a.complete_at(depth)) {
            return None;
        }
        depth += 1;
    }
}

impl Proposer for Grid {
    fn name(&self) -> &str {
        "grid"
    }

    fn propose(&self, ctx: &ProposalContext<'_>) -> Result<Option<Params>, ProposeError> {
        let lattice = Lattice::new(ctx.space);
        let view = HistoryView::new(&lattice, ctx.history);
        if view.exhausted(&lattice) {
            return Ok(None);
        }
        Ok(
            first_in_order(&lattice, &view, |p| !view.contains(&lattice, p))
                .map(|p| lattice.decode(&p)),
        )
    }
}
