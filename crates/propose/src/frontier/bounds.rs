//! Brackets, bounds and dominance: for one group, the range of monotone values its
//! optimum can lie in, the next value to probe there, and a lower bound on what that
//! optimum costs.
//!
//! - **Bracket.** `hi` is the smallest feasible value the group measured and `lo` the
//!   largest infeasible one below it. Recall grows along the build axis, so a value
//!   at which a larger build of the partition missed the floor *clearly* (by more than
//!   the recall margin) is infeasible here too, which can raise `lo`; an inference
//!   above the group's own `hi` contradicts a measurement (noise) and is dropped.
//! - **Probe.** A group with no measurement starts at the `hi` of the nearest build of
//!   its partition that has one, else at that of the nearest opened build of any
//!   partition (another `m`), else mid-ladder. With both ends known it bisects the
//!   open range; with one end known it gallops away from it by 1, 2, 4, ... steps.
//! - **Bound.** Latency never decreases with the monotone parameter and is affine in
//!   its value with a non-negative intercept, so below a measurement `(v', cost')` the
//!   cost is at least `cost' × v / v'`, and above it at least `cost'` ([`Envelope`]).
//!   The optimum lies above `lo`, so the bound at `lo + 1`, from the group's own and
//!   its next smaller build's measurements (latency mostly grows along the build
//!   axis), bounds it. Larger builds bound nothing from below. Without a build axis
//!   the cheapest cost any group measured at each value serves instead.
//! - **Dominance.** A group whose bound, lowered by the noise tolerance, reaches the
//!   incumbent's cost cannot beat it.
//! - **Expectation.** For ordering only, the bracket is also raised above every value
//!   where a larger build missed the floor at all, and the cost there taken from the
//!   nearest measured build of the partition, or from the bound where that is higher.

use super::model::{Group, Partition, Picture, Summary};

/// A lower bound on cost as a function of the monotone index, from measurements
/// [`CostAt`]: below a measurement the cost is at least `cost × v(s) / v(s')`, above
/// it at least `cost`.
#[derive(Debug, Default)]
pub(super) struct Envelope {
    s: Vec<u64>,
    /// Largest cost among measurements at `s' ≤ s[i]`.
    prefix: Vec<f64>,
    /// Largest `cost / v(s')` among measurements at `s' ≥ s[i]`.
    suffix: Vec<f64>,
}

/// One measured cost at monotone index `s`.
#[derive(Clone, Copy, Debug)]
struct CostAt {
    s: u64,
    cost: f64,
}

impl Envelope {
    /// The envelope of the cheapest cost measured at each monotone index by any group.
    pub(super) fn cheapest(picture: &Picture<'_, '_>, summary: &[Summary]) -> Self {
        let mut points: Vec<CostAt> = summary
            .iter()
            .map(|c| CostAt {
                s: c.s,
                cost: c.cost,
            })
            .collect();
        points.sort_unstable_by(|a, b| a.s.cmp(&b.s).then(a.cost.total_cmp(&b.cost)));
        points.dedup_by_key(|c| c.s);
        Envelope::new(&points, |s| picture.value(s))
    }

    /// `points` ascending and distinct in `s`; `value` gives the parameter's value.
    fn new(points: &[CostAt], value: impl Fn(u64) -> f64) -> Self {
        let s = points.iter().map(|p| p.s).collect();
        let mut prefix = Vec::with_capacity(points.len());
        let mut running = 0.0f64;
        for p in points {
            running = running.max(p.cost);
            prefix.push(running);
        }
        let mut suffix = vec![0.0; points.len()];
        let mut running = 0.0f64;
        for (i, p) in points.iter().enumerate().rev() {
            let v = value(p.s);
            if v > 0.0 {
                running = running.max(p.cost / v);
            }
            suffix[i] = running;
        }
        Envelope { s, prefix, suffix }
    }

    /// The bound at index `s`, whose value is `v`.
    fn at(&self, s: u64, v: f64) -> f64 {
        let i = self.s.partition_point(|&x| x <= s);
        let below = if i == 0 { 0.0 } else { self.prefix[i - 1] };
        let above = if i < self.s.len() && v > 0.0 {
            v * self.suffix[i]
        } else {
            0.0
        };
        below.max(above)
    }
}

/// A group's bracket: its optimum lies in `(lo, hi]`.
#[derive(Clone, Copy, Debug)]
struct Bracket {
    /// The largest value known infeasible below `hi`, measured or inferred.
    lo: Option<u64>,
    /// The smallest feasible value measured.
    hi: Option<u64>,
}

/// The next step for one group.
#[derive(Debug)]
pub(super) struct Plan {
    /// The unvisited value to measure next, `None` when the bracket is resolved.
    pub(super) probe: Option<u64>,
    /// The lower bound on the group's optimum, lowered by the noise tolerance.
    pub(super) bound: f64,
    /// What the group is expected to cost if recall is monotone along the build axis
    /// (every measured miss trusted, not only the clear ones): it only orders groups
    /// that [`Plan::bound`] cannot separate.
    pub(super) expected: f64,
}

impl Picture<'_, '_> {
    /// The largest clearly infeasible `s` (any miss when `strict`) of a larger build
    /// in `g`'s partition: recall grows along the build axis, so `g` is infeasible
    /// there too.
    fn inferred_floor(&self, g: &[u64], part: &Partition, strict: bool) -> Option<u64> {
        if !self.layout.axis {
            return None;
        }
        let after = self.past(g, part);
        if after >= part.range.end {
            return None;
        }
        if strict {
            self.suffix_missed[after]
        } else {
            self.suffix_infeasible[after]
        }
    }

    /// A lower bound on the cost of group `g` at `s`: from `g` and the nearest smaller
    /// build of its partition, and without a build axis from the cheapest measurement
    /// of any group.
    fn cost_bound(&self, g: &[u64], s: u64, part: &Partition) -> f64 {
        let v = self.value(s);
        let mut bound = if self.layout.axis {
            0.0
        } else {
            self.cheapest.at(s, v)
        };
        let end = self.past(g, part);
        let start = end.saturating_sub(2).max(part.range.start);
        for group in &self.groups[start..end] {
            bound = bound.max(self.envelope_at(group.summary, s, v));
        }
        bound
    }

    /// An estimate of what `g` costs at `s`: the bound of the nearest measured build of
    /// its partition (either side, nearer in axis units; the larger estimate on a tie),
    /// which is what `g` costs if latency changes little between them.
    fn neighbour_estimate(&self, g: &[u64], s: u64, part: &Partition) -> f64 {
        struct Neighbour {
            distance: f64,
            estimate: f64,
        }
        let here = self.axis_unit(self.axis_of(g));
        let measured = |i: &usize| {
            let h = &self.groups[*i];
            h.coords != g && !h.summary.is_empty()
        };
        let below = (part.range.start..part.pos).rev().find(measured);
        let above = (part.pos..part.range.end).find(measured);
        let v = self.value(s);
        let neighbour = |i: usize| {
            let h = &self.groups[i];
            Neighbour {
                distance: (self.axis_unit(self.axis_of(h.coords)) - here).abs(),
                estimate: self.envelope_at(h.summary, s, v),
            }
        };
        match (below.map(neighbour), above.map(neighbour)) {
            (Some(b), Some(a)) if (b.distance - a.distance).abs() <= 1e-12 => {
                b.estimate.max(a.estimate)
            }
            (Some(b), Some(a)) => {
                if b.distance < a.distance {
                    b.estimate
                } else {
                    a.estimate
                }
            }
            (Some(x), None) | (None, Some(x)) => x.estimate,
            (None, None) => 0.0,
        }
    }

    /// The bound of [`Envelope`] from one group's measurements, without building it.
    fn envelope_at(&self, summary: &[Summary], s: u64, v: f64) -> f64 {
        summary
            .iter()
            .map(|c| {
                if c.s <= s {
                    c.cost
                } else {
                    let vx = self.value(c.s);
                    if v > 0.0 && vx > 0.0 {
                        c.cost * v / vx
                    } else {
                        0.0
                    }
                }
            })
            .fold(0.0, f64::max)
    }

    /// The `hi` of the nearest build of `g`'s partition that has one, else of the nearest
    /// opened build elsewhere, else mid-ladder.
    fn guess(&self, g: &[u64], part: &Partition) -> u64 {
        let here = self.axis_unit(self.axis_of(g));
        let with_hi = |h: &Group<'_>| h.hi().map(|hi| (self.axis_of(h.coords), hi));
        let below = self.groups[part.range.start..part.pos]
            .iter()
            .rev()
            .find_map(with_hi);
        let above = self.groups[part.pos..part.range.end]
            .iter()
            .find_map(with_hi);
        [below, above]
            .into_iter()
            .flatten()
            .min_by(|x, y| {
                (self.axis_unit(x.0) - here)
                    .abs()
                    .total_cmp(&(self.axis_unit(y.0) - here).abs())
                    .then(x.0.cmp(&y.0))
            })
            .map(|(_, hi)| hi)
            .or_else(|| self.nearest_hi_elsewhere(g))
            .unwrap_or_else(|| self.lattice.index_at_unit(self.layout.monotone, 0.5))
    }

    /// The `hi` of the opened group nearest to `g` (summed unit distance over the group
    /// coordinates) in any partition, for a group whose own partition has none: a build
    /// with another `m` needs an `ef_search` nearer the incumbent's than mid-ladder.
    fn nearest_hi_elsewhere(&self, g: &[u64]) -> Option<u64> {
        let distance = |coords: &[u64]| -> f64 {
            self.layout
                .gdims
                .iter()
                .zip(coords.iter().zip(g))
                .map(|(&d, (&a, &b))| (self.lattice.unit(d, a) - self.lattice.unit(d, b)).abs())
                .sum()
        };
        self.groups
            .iter()
            .filter_map(|h| h.hi().map(|hi| (distance(h.coords), hi)))
            .min_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)))
            .map(|(_, hi)| hi)
    }

    /// The bracket, bound and next probe of group `g`.
    pub(super) fn plan(&self, g: &[u64]) -> Plan {
        self.plan_in(g, &self.partition(g))
    }

    /// [`Picture::plan`] with `g`'s partition already found.
    pub(super) fn plan_in(&self, g: &[u64], part: &Partition) -> Plan {
        let unopened = Group::default();
        let group = self
            .groups
            .get(part.pos)
            .filter(|h| h.coords == g)
            .unwrap_or(&unopened);
        let hi = group.hi();
        let own_lo = group
            .summary
            .iter()
            .rev()
            .find(|c| !c.feasible && hi.is_none_or(|h| c.s < h))
            .map(|c| c.s);
        let below_hi = |f: &u64| hi.is_none_or(|h| *f < h);
        let inferred = self.inferred_floor(g, part, false).filter(below_hi);
        let bracket = Bracket {
            lo: own_lo.max(inferred),
            hi,
        };
        let start = bracket.lo.map_or(0, |l| l + 1);
        let end = bracket.hi.unwrap_or(self.n);
        let bound = self.cost_bound(g, start, part) * (1.0 - self.tolerance);
        if start >= end {
            return Plan {
                probe: None,
                bound,
                expected: bound,
            };
        }
        let expected_start = self
            .inferred_floor(g, part, true)
            .filter(below_hi)
            .map_or(start, |f| start.max(f + 1));
        let expected = (self
            .cost_bound(g, expected_start, part)
            .max(self.neighbour_estimate(g, expected_start, part)))
            * (1.0 - self.tolerance);
        let target = match (bracket.lo, bracket.hi) {
            _ if group.summary.is_empty() && bracket.hi.is_none() => {
                self.guess(g, part).clamp(start, end - 1)
            }
            (Some(_), Some(_)) => start + (end - 1 - start) / 2,
            (None, Some(h)) => {
                let feasible = group.summary.iter().filter(|c| c.feasible).count() as u32;
                h.saturating_sub(1u64 << feasible.saturating_sub(1).min(62))
                    .max(start)
            }
            (_, None) => {
                let infeasible = group.summary.iter().filter(|c| !c.feasible).count() as u32;
                let base = bracket.lo.unwrap_or(0);
                base.saturating_add(1u64 << infeasible.saturating_sub(1).min(62))
                    .min(end - 1)
            }
        };
        // The unvisited value in the open range nearest to the target, the smaller one
        // on a tie.
        let probe = (0..end - start).find_map(|r| {
            [target.checked_sub(r), target.checked_add(r)]
                .into_iter()
                .flatten()
                .find(|s| (start..end).contains(s) && group.visited.binary_search(s).is_err())
        });
        Plan {
            probe,
            bound,
            expected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProposalContext;
    use crate::frontier::model::{Groups, Layout, fixture};
    use crate::lattice::{HistoryView, Lattice};
    use hnswtune_core::Objective;

    /// Below a measurement the bound scales with the parameter's value, above it the
    /// measured cost holds.
    #[test]
    fn the_envelope_bounds_cost_from_below() {
        let points = [CostAt { s: 2, cost: 20.0 }, CostAt { s: 10, cost: 55.0 }];
        let envelope = Envelope::new(&points, |s| (s + 10) as f64);
        assert_eq!(envelope.at(5, 15.0), 15.0 * 55.0 / 20.0);
        assert_eq!(envelope.at(12, 22.0), 55.0);
        assert_eq!(envelope.at(0, 10.0), 10.0 * 55.0 / 20.0);
        assert_eq!(Envelope::default().at(3, 13.0), 0.0);
    }

    /// A build with another `m`, whose partition holds no measurement, starts at the
    /// `hi` of the nearest opened build of any partition, not mid-ladder.
    #[test]
    fn a_build_of_another_partition_starts_at_the_nearest_hi() {
        use hnswtune_core::{M, ParamSpec, Phase, SearchSpace};
        let space = SearchSpace::hnsw_fine((10, 20), (10, 30))
            .unwrap()
            .with_param(ParamSpec::levels(M, vec![8, 16, 32], Phase::Build).with_default(16))
            .unwrap();
        let at = |m: i64, ef_search: i64, recall: f64| {
            crate::test_support::trial_of(
                fixture::params(15, ef_search).with(M, m),
                crate::test_support::metrics(recall, ef_search as f64),
            )
        };
        // m = 16: infeasible at 14, feasible at 16; m = 32 has nothing feasible yet.
        let history = vec![at(16, 14, 0.90), at(16, 16, 0.96), at(32, 29, 0.80)];
        let objective = Objective::new(0.95).unwrap();
        let ctx = ProposalContext {
            space: &space,
            history: &history,
            champion: None,
            objective: &objective,
        };
        let lattice = Lattice::new(&space);
        let monotone = space
            .specs()
            .iter()
            .position(|s| s.name == hnswtune_core::EF_SEARCH)
            .unwrap();
        let layout = Layout::new(&lattice, monotone);
        let view = HistoryView::new(&lattice, &history);
        let groups = Groups::read(&lattice, &layout, &view, &ctx, 0.005);
        let picture = Picture::new(&lattice, &layout, &groups, 0.0);
        let coords = |m: i64, ef_construction: i64| -> Vec<u64> {
            let p = fixture::params(ef_construction, 10).with(M, m);
            let point = lattice.encode(&p).unwrap();
            layout.gdims.iter().map(|&d| point[d]).collect()
        };
        let hi_of_m16 = lattice
            .encode(&fixture::params(15, 16).with(M, 16))
            .unwrap()[monotone];
        // m = 8, ef_construction 18: no build of its partition has a hi, and the
        // nearest opened build with one is 15/16 (m = 32 has none).
        assert_eq!(picture.plan(&coords(8, 18)).probe, Some(hi_of_m16));
        assert_ne!(
            hi_of_m16,
            lattice.index_at_unit(monotone, 0.5),
            "the test must tell the two starts apart"
        );
    }

    /// A bracketed group bisects, a group with misses only gallops up from them, and
    /// an unopened build starts at its nearest neighbour's `hi`, above what a larger
    /// build clearly missed; the bound comes from the group and its smaller neighbour.
    #[test]
    fn plans_bisect_gallop_and_guess() {
        let (space, history) = (fixture::space(), fixture::history());
        let objective = Objective::new(0.95).unwrap();
        let ctx = ProposalContext {
            space: &space,
            history: &history,
            champion: None,
            objective: &objective,
        };
        let lattice = Lattice::new(&space);
        let layout = Layout::new(&lattice, 1);
        let view = HistoryView::new(&lattice, &history);
        let groups = Groups::read(&lattice, &layout, &view, &ctx, 0.005);
        let picture = Picture::new(&lattice, &layout, &groups, 0.0);
        // Build 15: infeasible at 2, feasible at 10: the middle of 3..10.
        let bracketed = picture.plan(&[5]);
        assert_eq!(bracketed.probe, Some(6));
        // At 3: build 12's 30 at 4 scaled by 13/14, build 15's 20 at 2, and its 55 at
        // 10 scaled by 13/20; the largest holds.
        assert!((bracketed.bound - 55.0 * 13.0 / 20.0).abs() < 1e-12);
        // Build 12: one miss at 4 and nothing feasible: one step up.
        assert_eq!(picture.plan(&[2]).probe, Some(5));
        // Build 11, unopened: build 15's hi, 10.
        assert_eq!(picture.plan(&[1]).probe, Some(10));
        // Build 10, smaller than every measured one: larger builds bound nothing.
        assert_eq!(picture.plan(&[0]).bound, 0.0);
        // Build 20: its smaller neighbours do, build 15's 55 at 20 scaled to 10.
        assert_eq!(picture.plan(&[10]).bound, 55.0 * 10.0 / 20.0);
        // A resolved bracket has nothing to probe.
        let resolved = fixture::history()
            .into_iter()
            .chain((3..10).map(|s| {
                crate::test_support::trial_of(
                    fixture::params(15, 10 + s),
                    crate::test_support::metrics(0.9, 40.0),
                )
            }))
            .collect::<Vec<_>>();
        let view = HistoryView::new(&lattice, &resolved);
        let ctx = ProposalContext {
            history: &resolved,
            ..ctx
        };
        let groups = Groups::read(&lattice, &layout, &view, &ctx, 0.005);
        let picture = Picture::new(&lattice, &layout, &groups, 0.0);
        assert_eq!(picture.plan(&[5]).probe, None);
    }
}
