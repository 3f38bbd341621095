//! Candidate ranking: which groups are considered when the latest build is done, and
//! the order they are tried in.
//!
//! The candidates are the groups of the latest `candidate_limit` trials, the first
//! `candidate_limit` unopened groups in coarse-to-fine order (as in [`crate::Grid`]),
//! and the neighbours of the incumbent's group at 1, 2, 4, ... steps along each
//! ordered coordinate. Each gets a [`RankKey`], compared field by field:
//!
//! 1. not dominated before dominated;
//! 2. groups whose build already exists before new builds (a search-time move costs
//!    one query pass, a build costs seconds);
//! 3. expected costs within one noise tolerance of each other as equal ([`bucket`]),
//!    then the same for bounds, so that noise does not decide between them;
//! 4. coarse-to-fine depth, so that the space is covered evenly before it is refined;
//! 5. the bound itself;
//! 6. the larger distance to the nearest opened build of the partition, which keeps
//!    exploring after the first optimum and copes with a best build that is not
//!    unimodal along the axis;
//! 7. a tie-break seeded by the configured seed.

use super::model::{Partition, Picture};
use crate::grid::AxisOrder;
use crate::lattice::{Fnv, HistoryView, Point};

/// Groups are ranked coarse to fine by the dyadic depth of their coordinates (see
/// [`crate::Grid`]) up to this depth; finer ones share the next depth.
const DEPTH_CAP: u32 = 6;

/// The probe of the best-ranked candidate group with something left to probe, if any.
pub(super) fn best_candidate(
    picture: &Picture<'_, '_>,
    view: &HistoryView<'_>,
    seed: u64,
    candidate_limit: usize,
) -> Option<Point> {
    let (lattice, layout) = (picture.lattice, picture.layout);
    let axes: Vec<AxisOrder> = layout
        .gdims
        .iter()
        .map(|&d| {
            let mut axis = AxisOrder::new(lattice.cards[d]);
            axis.extend_to(lattice, d, DEPTH_CAP);
            axis
        })
        .collect();
    let mut candidates = GroupSet::new(layout.gdims.len());
    let mut recent = 0usize;
    for (p, _) in view.entries().rev() {
        if recent >= candidate_limit {
            break;
        }
        let g = layout.group_of(p);
        if !candidates.contains(&g) {
            candidates.push(&g);
            recent += 1;
        }
    }
    unopened_in_order(picture, &axes, candidate_limit, &mut candidates);
    if let Some(incumbent) = &picture.incumbent {
        neighbours(picture, &layout.group_of(&incumbent.point), &mut candidates);
    }
    let centre = layout.group_of(&lattice.centre());
    let bucket_width = bucket_width(picture.tolerance);
    let dominated = |bound: f64| {
        picture
            .incumbent
            .as_ref()
            .is_some_and(|incumbent| bound >= incumbent.cost)
    };
    let mut choice: Option<(RankKey, Point)> = None;
    for g in candidates.sorted() {
        let part = picture.partition(g);
        let plan = picture.plan_in(g, &part);
        let Some(s) = plan.probe else { continue };
        let (is_dominated, new_build) = (dominated(plan.bound), !picture.is_built(g));
        // The key's first fields already lose to the choice so far: the rest of it
        // cannot change that.
        if choice
            .as_ref()
            .is_some_and(|(k, _)| (k.dominated, k.new_build) < (is_dominated, new_build))
        {
            continue;
        }
        let gap = if picture.groups.is_empty() {
            -centre_distance(picture, g, &centre)
        } else {
            gap(picture, g, &part)
        };
        let mut tie = Fnv::new();
        tie.write(seed);
        for &i in g {
            tie.write(i);
        }
        let depth = g
            .iter()
            .zip(&axes)
            .map(|(&i, axis)| axis.depth(i).unwrap_or(DEPTH_CAP + 1))
            .max()
            .unwrap_or(0);
        let key = RankKey {
            dominated: is_dominated,
            new_build,
            bucket: bucket(plan.bound, bucket_width),
            expected_bucket: bucket(plan.expected, bucket_width),
            depth,
            bound: plan.bound,
            gap,
            tie: tie.finish(),
        };
        if choice.as_ref().is_none_or(|(k, _)| key.better_than(k)) {
            choice = Some((key, layout.point_of(g, s)));
        }
    }
    choice.map(|(_, p)| p)
}

/// How a candidate group ranks (see the module docs); smaller is better field by
/// field, except `gap`, where larger is better.
#[derive(Debug)]
struct RankKey {
    dominated: bool,
    new_build: bool,
    bucket: i64,
    expected_bucket: i64,
    depth: u32,
    bound: f64,
    gap: f64,
    tie: u64,
}

impl RankKey {
    fn better_than(&self, other: &RankKey) -> bool {
        (
            self.dominated,
            self.new_build,
            self.expected_bucket,
            self.bucket,
            self.depth,
        )
            .cmp(&(
                other.dominated,
                other.new_build,
                other.expected_bucket,
                other.bucket,
                other.depth,
            ))
            .then(self.bound.total_cmp(&other.bound))
            .then(other.gap.total_cmp(&self.gap))
            .then(self.tie.cmp(&other.tie))
            .is_lt()
    }
}

/// Bounds within one noise tolerance of each other share a bucket, so that the
/// coarse-to-fine order, not noise, decides between them. `width` is
/// [`bucket_width`] of the tolerance.
fn bucket(bound: f64, width: f64) -> i64 {
    if bound <= 0.0 || !bound.is_finite() {
        return i64::MIN;
    }
    (bound.ln() / width).floor() as i64
}

/// The width of a [`bucket`] in log space.
fn bucket_width(tolerance: f64) -> f64 {
    (1.0 + tolerance.max(0.01)).ln()
}

/// Distance along the build axis to the nearest opened group of the partition
/// (1 when the partition has none): larger gaps are explored first.
fn gap(picture: &Picture<'_, '_>, g: &[u64], part: &Partition) -> f64 {
    let here = picture.axis_unit(picture.axis_of(g));
    [part.pos.checked_sub(1), Some(part.pos)]
        .into_iter()
        .flatten()
        .filter(|i| part.range.contains(i))
        .map(|i| (picture.axis_unit(picture.axis_of(picture.groups[i].coords)) - here).abs())
        .fold(1.0, f64::min)
}

/// Distance in unit coordinates (L∞; a differing label counts 1) from `g` to `centre`.
fn centre_distance(picture: &Picture<'_, '_>, g: &[u64], centre: &[u64]) -> f64 {
    let lattice = picture.lattice;
    g.iter()
        .zip(centre)
        .zip(&picture.layout.gdims)
        .map(|((&x, &y), &d)| {
            if lattice.ordered(d) {
                (lattice.unit(d, x) - lattice.unit(d, y)).abs()
            } else if x == y {
                0.0
            } else {
                1.0
            }
        })
        .fold(0.0, f64::max)
}

/// Adds up to `limit` groups the history has not opened, in coarse-to-fine order over
/// the group coordinates (`axes`, extended to [`DEPTH_CAP`]).
fn unopened_in_order(
    picture: &Picture<'_, '_>,
    axes: &[AxisOrder],
    limit: usize,
    out: &mut GroupSet,
) {
    let dims = axes.len();
    if dims == 0 {
        out.push(&[]);
        return;
    }
    let mut found = 0usize;
    let mut scanned = 0usize;
    let mut g: Point = vec![0; dims];
    for depth in 0..=DEPTH_CAP {
        // Every group whose deepest coordinate has depth `depth`, in lexicographic
        // order of the coordinates' positions in their orders.
        let lists: Vec<&[u64]> = axes.iter().map(|a| a.up_to(depth)).collect();
        let mut pos = vec![0usize; dims];
        'points: loop {
            for k in 0..dims {
                g[k] = lists[k][pos[k]];
            }
            let shell = (0..dims)
                .map(|k| axes[k].depth(g[k]).unwrap_or(0))
                .max()
                .unwrap_or(0);
            if shell == depth {
                scanned += 1;
                if picture.group(&g).is_none() {
                    out.push(&g);
                    found += 1;
                    if found >= limit {
                        return;
                    }
                }
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
        // Every group is opened or the scan has gone far past the history.
        if axes.iter().all(|a| a.complete_at(depth)) || scanned > picture.groups.len() + 4 * limit {
            return;
        }
    }
}

/// Adds the groups 1, 2, 4, ... steps from `g` along each ordered coordinate, and every
/// other label (up to 64) of each categorical one.
fn neighbours(picture: &Picture<'_, '_>, g: &[u64], out: &mut GroupSet) {
    let lattice = picture.lattice;
    for (k, &d) in picture.layout.gdims.iter().enumerate() {
        let card = lattice.cards[d];
        if lattice.ordered(d) {
            let mut step = 1u64;
            while step < card {
                for v in [g[k].checked_sub(step), g[k].checked_add(step)]
                    .into_iter()
                    .flatten()
                    .filter(|&v| v < card)
                {
                    out.push_with(g, k, v);
                }
                step = step.saturating_mul(2);
            }
        } else {
            for v in (0..card.min(64)).filter(|&v| v != g[k]) {
                out.push_with(g, k, v);
            }
        }
    }
}

/// A set of groups (coordinate tuples of one width), flat: it visits its groups in
/// the order a `BTreeSet<Point>` would (ascending, lexicographic, each once) without
/// an allocation per group.
struct GroupSet {
    width: usize,
    coords: Vec<u64>,
    /// How many groups were pushed, repeats included.
    len: usize,
}

impl GroupSet {
    fn new(width: usize) -> Self {
        GroupSet {
            width,
            coords: Vec::new(),
            len: 0,
        }
    }

    fn get(&self, i: usize) -> &[u64] {
        &self.coords[i * self.width..(i + 1) * self.width]
    }

    fn contains(&self, g: &[u64]) -> bool {
        (0..self.len).any(|i| self.get(i) == g)
    }

    fn push(&mut self, g: &[u64]) {
        self.coords.extend_from_slice(g);
        self.len += 1;
    }

    /// Pushes `g` with coordinate `k` set to `v`.
    fn push_with(&mut self, g: &[u64], k: usize, v: u64) {
        let at = self.coords.len();
        self.push(g);
        self.coords[at + k] = v;
    }

    /// The distinct groups, ascending.
    fn sorted(&self) -> impl Iterator<Item = &[u64]> {
        let mut order: Vec<usize> = (0..self.len).collect();
        order.sort_unstable_by(|&a, &b| self.get(a).cmp(self.get(b)));
        order.dedup_by(|a, b| self.get(*a) == self.get(*b));
        order.into_iter().map(|i| self.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(dominated: bool, new_build: bool, bound: f64, gap: f64) -> RankKey {
        let width = bucket_width(0.1);
        RankKey {
            dominated,
            new_build,
            bucket: bucket(bound, width),
            expected_bucket: bucket(bound, width),
            depth: 1,
            bound,
            gap,
            tie: 0,
        }
    }

    /// Not dominated beats dominated, an existing build beats a new one, bounds within
    /// one tolerance share a bucket, and at equal bounds the larger gap wins.
    #[test]
    fn rank_keys_order_candidates() {
        assert!(key(false, true, 90.0, 0.0).better_than(&key(true, false, 10.0, 0.0)));
        assert!(key(false, false, 90.0, 0.0).better_than(&key(false, true, 10.0, 0.0)));
        assert!(key(false, false, 10.0, 0.0).better_than(&key(false, false, 12.0, 0.0)));
        assert!(key(false, false, 10.0, 0.5).better_than(&key(false, false, 10.0, 0.1)));
        let width = bucket_width(0.1);
        assert_eq!(bucket(10.0, width), bucket(10.5, width));
        assert_ne!(bucket(10.0, width), bucket(12.0, width));
        assert_eq!(bucket(0.0, width), i64::MIN);
    }

    /// The set lists each group once, in ascending order, whatever the pushes.
    #[test]
    fn group_sets_are_sorted_and_distinct() {
        let mut set = GroupSet::new(2);
        for g in [[3, 1], [0, 2], [3, 1], [0, 1]] {
            set.push(&g);
        }
        set.push_with(&[0, 2], 0, 3);
        assert!(set.contains(&[0, 2]) && !set.contains(&[2, 0]));
        let sorted: Vec<&[u64]> = set.sorted().collect();
        assert_eq!(sorted, [[0, 1], [0, 2], [3, 1], [3, 2]]);
    }
}
