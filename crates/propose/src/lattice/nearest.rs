//! The deterministic scan for the unvisited config nearest to an anchor: the fallback
//! of every strategy once its own rule has nothing left to propose.

use super::history::HistoryView;
use super::{Lattice, Point};

/// The largest box (in points) the ring scan enumerates before it switches to the
/// linear scan.
const RING_BOX_LIMIT: u128 = 1 << 12;

/// The unvisited point nearest to `anchor`, found deterministically.
///
/// Rings of growing Chebyshev radius around `anchor` are scanned first; within a ring
/// the point that changes the fewest build-time ladder steps wins (a search-time move
/// reuses the build), then the smallest total move, then the lexicographically first.
/// When the rings grow too large the scan continues in lexicographic order from the
/// anchor, which meets an unvisited point within `visited.len() + 1` steps. Returns
/// `None` only when every point is visited.
pub(crate) fn nearest_unvisited(
    lattice: &Lattice<'_>,
    view: &HistoryView<'_>,
    anchor: &[u64],
) -> Option<Point> {
    nearest_where(
        lattice,
        view.visited_len(),
        |p| view.contains(lattice, p),
        anchor,
    )
}

/// [`nearest_unvisited`] over any visited set of `visited_len` points.
fn nearest_where(
    lattice: &Lattice<'_>,
    visited_len: usize,
    visited: impl Fn(&[u64]) -> bool,
    anchor: &[u64],
) -> Option<Point> {
    if visited_len as u128 >= lattice.cardinality() {
        return None;
    }
    let dims = lattice.dims();
    let max_radius = lattice.cards.iter().copied().max().unwrap_or(1);
    let mut radius = 0u64;
    loop {
        let side = 2 * u128::from(radius) + 1;
        if side.saturating_pow(dims as u32) > RING_BOX_LIMIT || radius >= max_radius {
            break;
        }
        let mut best: Option<((u64, u64), Point)> = None;
        let mut offset = vec![0u64; dims];
        'ring: loop {
            let mut point = Vec::with_capacity(dims);
            let mut on_ring = false;
            let mut valid = true;
            let mut key = (0u64, 0u64);
            for d in 0..dims {
                let delta = offset[d] as i128 - radius as i128;
                let v = anchor[d] as i128 + delta;
                if v < 0 || v >= lattice.cards[d] as i128 {
                    valid = false;
                    break;
                }
                if delta.unsigned_abs() == u128::from(radius) {
                    on_ring = true;
                }
                let step = delta.unsigned_abs() as u64;
                if lattice.build[d] {
                    key.0 += step;
                }
                key.1 += step;
                point.push(v as u64);
            }
            if valid
                && on_ring
                && !visited(&point)
                && best.as_ref().is_none_or(|(k, p)| (key, &point) < (*k, p))
            {
                best = Some((key, point));
            }
            for d in (0..dims).rev() {
                offset[d] += 1;
                if offset[d] <= 2 * radius {
                    continue 'ring;
                }
                offset[d] = 0;
            }
            break;
        }
        if let Some((_, p)) = best {
            return Some(p);
        }
        radius += 1;
    }
    let mut point = anchor.to_vec();
    loop {
        if !visited(&point) {
            return Some(point);
        }
        for d in (0..dims).rev() {
            point[d] += 1;
            if point[d] < lattice.cards[d] {
                break;
            }
            point[d] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lattice::PointSet;
    use hnswtune_core::SearchSpace;

    #[test]
    fn nearest_unvisited_prefers_search_moves_and_finds_the_last_point() {
        let space = SearchSpace::hnsw_fine((10, 14), (10, 12)).unwrap();
        let lattice = Lattice::new(&space);
        let mut visited = PointSet::default();
        visited.insert(vec![2, 1]);
        let near = |v: &PointSet, a: &[u64]| nearest_where(&lattice, v.len(), |p| v.contains(p), a);
        let next = near(&visited, &[2, 1]).unwrap();
        assert_eq!(next[0], 2, "a search-time neighbour comes first");
        for a in 0..5 {
            for b in 0..3 {
                if (a, b) != (4, 2) {
                    visited.insert(vec![a, b]);
                }
            }
        }
        assert_eq!(near(&visited, &[0, 0]), Some(vec![4, 2]));
        visited.insert(vec![4, 2]);
        assert_eq!(near(&visited, &[0, 0]), None);
    }
}
