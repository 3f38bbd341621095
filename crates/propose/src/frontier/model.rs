//! The model of the landscape: the history read as groups, each with the monotone
//! values it visited and what its configs measured.
//!
//! A config's *group* is every coordinate but the monotone one, so the configs of one
//! group differ only in the value being bisected. [`Groups::read`] sorts the projected
//! history by (group, monotone value, history position) and walks the sorted run of
//! each group once: repeated measurements of a config are averaged, and the mean
//! recall decides whether the config is feasible. [`Picture`] then lays the groups out
//! for the questions the bounds and the ranking ask: which groups share a partition
//! along the build axis, what the cheapest feasible config is, and which values a
//! larger build already proved infeasible.

use std::ops::Range;

use crate::ProposalContext;
use crate::lattice::{HistoryView, Lattice, Point};
use hnswtune_core::{Objective, Trial, TrialMetrics};

/// Which lattice dims play which part: the monotone dim, the group coordinates and
/// the build axis. It depends on the space only.
#[derive(Debug)]
pub(super) struct Layout {
    /// The ordered search-time dim being bisected.
    pub(super) monotone: usize,
    /// Lattice dims of the group coordinates: every dim but the monotone one, with the
    /// build axis (if any) moved last, so that groups differing only along it are
    /// contiguous and ordered by it.
    pub(super) gdims: Vec<usize>,
    /// True when the last group coordinate is the build axis: the first ordered
    /// build-time parameter, along which recall and latency are taken to grow.
    pub(super) axis: bool,
    /// The build-time dims in lattice order, each as its position among the group
    /// coordinates and its cardinality: every build-time dim is a group coordinate,
    /// since the monotone dim is search-time.
    build_dims: Vec<(usize, u128)>,
}

impl Layout {
    pub(super) fn new(lattice: &Lattice<'_>, monotone: usize) -> Self {
        let axis_dim =
            (0..lattice.dims()).find(|&d| d != monotone && lattice.build[d] && lattice.ordered(d));
        let mut gdims: Vec<usize> = (0..lattice.dims())
            .filter(|&d| d != monotone && Some(d) != axis_dim)
            .collect();
        gdims.extend(axis_dim);
        let build_dims = (0..lattice.dims())
            .filter(|&d| lattice.build[d])
            .filter_map(|d| {
                let k = gdims.iter().position(|&x| x == d)?;
                Some((k, u128::from(lattice.cards[d])))
            })
            .collect();
        Layout {
            monotone,
            gdims,
            axis: axis_dim.is_some(),
            build_dims,
        }
    }

    /// The group coordinates of point `p`.
    pub(super) fn group_of(&self, p: &[u64]) -> Point {
        self.gdims.iter().map(|&d| p[d]).collect()
    }

    /// The point of group `g` at monotone value `s`.
    pub(super) fn point_of(&self, g: &[u64], s: u64) -> Point {
        let mut p = vec![0; g.len() + 1];
        for (&d, &i) in self.gdims.iter().zip(g) {
            p[d] = i;
        }
        p[self.monotone] = s;
        p
    }

    /// The mixed-radix rank of group coordinates: rank order is coordinate order (a
    /// space of 2^128 groups or more wraps, as [`Lattice::rank`] does).
    pub(super) fn rank(&self, lattice: &Lattice<'_>, g: &[u64]) -> u128 {
        g.iter().zip(&self.gdims).fold(0u128, |acc, (&i, &d)| {
            acc.wrapping_mul(u128::from(lattice.cards[d]))
                .wrapping_add(u128::from(i))
        })
    }

    /// [`Layout::rank`] of the group of point `p`.
    fn rank_of_point(&self, lattice: &Lattice<'_>, p: &[u64]) -> u128 {
        self.gdims.iter().fold(0u128, |acc, &d| {
            acc.wrapping_mul(u128::from(lattice.cards[d]))
                .wrapping_add(u128::from(p[d]))
        })
    }

    /// The mixed-radix rank of the build-time coordinates of group `g`: two groups
    /// share a build exactly when their build ranks are equal.
    pub(super) fn build_rank(&self, g: &[u64]) -> u128 {
        self.build_dims.iter().fold(0u128, |acc, &(k, card)| {
            acc.wrapping_mul(card).wrapping_add(u128::from(g[k]))
        })
    }
}

/// What one completed trial measured.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Measured {
    recall: f64,
    cost: f64,
    /// True when the trial meets every budget of the objective other than recall.
    within_budgets: bool,
}

impl Measured {
    fn of(trial: &Trial, objective: &Objective) -> Option<Self> {
        trial.completed_metrics().map(|metrics| Measured {
            recall: metrics.recall,
            cost: objective.cost(metrics),
            within_budgets: within_budgets(objective, metrics),
        })
    }
}

/// True when `metrics` meet every budget of `objective` other than the recall floor.
fn within_budgets(objective: &Objective, metrics: &TrialMetrics) -> bool {
    if metrics.recall >= objective.min_recall {
        return objective.feasible(metrics);
    }
    let mut at_floor = metrics.clone();
    at_floor.recall = objective.min_recall;
    objective.feasible(&at_floor)
}

/// One projected history entry.
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The rank of its group ([`Layout::rank`]).
    group: u128,
    /// Its monotone coordinate.
    s: u64,
    measured: Option<Measured>,
}

/// The sort key of an entry, packed into one integer so that a sort of plain integers
/// orders the history by group, then by config, then by history position: the
/// config's rank (group rank × monotone cardinality + monotone value) in the high
/// bits, the entry's index in the low 32. A space of 2^96 configs or more wraps, as
/// [`Lattice::rank`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey(u128);

impl SortKey {
    fn new(entry: &Entry, index: usize, monotone_card: u64) -> Self {
        let rank = entry
            .group
            .wrapping_mul(u128::from(monotone_card))
            .wrapping_add(u128::from(entry.s));
        SortKey((rank << 32) | index as u128)
    }

    /// The index of the entry the key was made for.
    fn entry(self) -> usize {
        (self.0 & 0xFFFF_FFFF) as usize
    }
}

/// One config of a group as the history measured it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) struct Summary {
    /// Its monotone coordinate.
    pub(super) s: u64,
    /// True when its mean recall meets the floor and its latest measurement meets
    /// every other budget.
    pub(super) feasible: bool,
    /// Its mean cost.
    pub(super) cost: f64,
}

/// The recall floors a group is judged against.
#[derive(Clone, Copy, Debug)]
struct Floors {
    min_recall: f64,
    /// `min_recall − recall_margin`: below it a miss is clear.
    clear: f64,
}

/// Where one group's run ends in the flat arrays of [`Groups`], and the largest
/// monotone values at which it missed the floor.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Span {
    visited_end: usize,
    summary_end: usize,
    clearly_infeasible: Option<u64>,
    infeasible: Option<u64>,
}

/// The history grouped: per opened group, in ascending rank, its coordinates, the
/// distinct monotone values it visited and its measured [`Summary`], as runs of flat
/// arrays that [`Picture`] slices into [`Group`]s.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Groups {
    /// Group coordinates, `gdims.len()` per group.
    coords: Vec<u64>,
    /// [`Layout::rank`] of each group, ascending.
    ranks: Vec<u128>,
    visited: Vec<u64>,
    summary: Vec<Summary>,
    spans: Vec<Span>,
    /// The build ranks of the opened groups, ascending, distinct.
    built: Vec<u128>,
}

impl Groups {
    /// Reads the projected history of `view` (each trial once, in history order),
    /// sorts it by (group, monotone value, position) and groups it.
    pub(super) fn read(
        lattice: &Lattice<'_>,
        layout: &Layout,
        view: &HistoryView<'_>,
        ctx: &ProposalContext<'_>,
        recall_margin: f64,
    ) -> Self {
        let monotone_card = lattice.cards[layout.monotone];
        let entries: Vec<Entry> = view
            .entries()
            .map(|(p, trial)| Entry {
                group: layout.rank_of_point(lattice, p),
                s: p[layout.monotone],
                measured: Measured::of(trial, ctx.objective),
            })
            .collect();
        let mut keys: Vec<SortKey> = entries
            .iter()
            .enumerate()
            .map(|(i, e)| SortKey::new(e, i, monotone_card))
            .collect();
        keys.sort_unstable();
        let floors = Floors {
            min_recall: ctx.objective.min_recall,
            clear: ctx.objective.min_recall - recall_margin,
        };
        let mut groups = Groups::default();
        let mut i = 0;
        while i < keys.len() {
            let e = keys[i].entry();
            let p = view.point(e);
            groups.ranks.push(entries[e].group);
            let first = groups.coords.len();
            groups.coords.extend(layout.gdims.iter().map(|&d| p[d]));
            groups
                .built
                .push(layout.build_rank(&groups.coords[first..]));
            i += groups.push_run(&keys[i..], &entries, floors);
        }
        groups.built.sort_unstable();
        groups.built.dedup();
        groups
    }

    /// Appends the run of the group of `keys[0]` (the keys are ascending; the run ends
    /// at the first key of another group) and returns how many keys it spans.
    /// Repeated measurements of a config are averaged, and the latest one's budgets
    /// count.
    fn push_run(&mut self, keys: &[SortKey], entries: &[Entry], floors: Floors) -> usize {
        let (mut clearly_infeasible, mut infeasible) = (None, None);
        let group = entries[keys[0].entry()].group;
        let mut i = 0;
        while i < keys.len() && entries[keys[i].entry()].group == group {
            let s = entries[keys[i].entry()].s;
            self.visited.push(s);
            let (mut n, mut recall_sum, mut cost_sum) = (0u32, 0.0f64, 0.0f64);
            let mut within_budgets = false;
            while let Some(entry) = keys.get(i).map(|k| &entries[k.entry()])
                && entry.group == group
                && entry.s == s
            {
                if let Some(measured) = &entry.measured {
                    n += 1;
                    recall_sum += measured.recall;
                    cost_sum += measured.cost;
                    within_budgets = measured.within_budgets;
                }
                i += 1;
            }
            if n == 0 {
                continue;
            }
            let (recall, cost) = if n == 1 {
                (recall_sum, cost_sum)
            } else {
                (recall_sum / f64::from(n), cost_sum / f64::from(n))
            };
            self.summary.push(Summary {
                s,
                feasible: recall >= floors.min_recall && within_budgets,
                cost,
            });
            if recall < floors.clear {
                clearly_infeasible = Some(s);
            }
            if recall < floors.min_recall {
                infeasible = Some(s);
            }
        }
        self.spans.push(Span {
            visited_end: self.visited.len(),
            summary_end: self.summary.len(),
            clearly_infeasible,
            infeasible,
        });
        i
    }
}

/// What the history says about one group.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Group<'g> {
    /// Its coordinates (empty for a group the history has not opened).
    pub(super) coords: &'g [u64],
    /// Every monotone value visited (any state), ascending, distinct.
    pub(super) visited: &'g [u64],
    /// Its measured configs, ascending in `s`.
    pub(super) summary: &'g [Summary],
    /// The largest `s` whose mean recall misses the floor by more than the margin.
    pub(super) clearly_infeasible: Option<u64>,
    /// The largest `s` whose mean recall misses the floor at all.
    pub(super) infeasible: Option<u64>,
}

impl Group<'_> {
    /// The smallest feasible monotone value measured: the top of the bracket.
    pub(super) fn hi(&self) -> Option<u64> {
        self.summary.iter().find(|c| c.feasible).map(|c| c.s)
    }
}

/// The cheapest feasible config measured.
#[derive(Clone, Debug)]
pub(super) struct Incumbent {
    pub(super) cost: f64,
    pub(super) point: Point,
}

/// The groups of one partition (groups that differ only along the build axis) as a
/// range of [`Picture::groups`], and the position where a group is, or would go, in it.
#[derive(Clone, Debug)]
pub(super) struct Partition {
    pub(super) range: Range<usize>,
    pub(super) pos: usize,
}

/// Everything a call derives from the history, laid out for the bounds and the
/// ranking.
pub(super) struct Picture<'l, 'g> {
    pub(super) lattice: &'l Lattice<'l>,
    pub(super) layout: &'l Layout,
    /// The cardinality of the monotone dim.
    pub(super) n: u64,
    /// The opened groups, in ascending rank (so sorted by coordinates).
    pub(super) groups: Vec<Group<'g>>,
    /// [`Layout::rank`] of each group, aligned with `groups`.
    ranks: &'g [u128],
    /// The build ranks of the opened groups, ascending.
    built: &'g [u128],
    /// Largest clearly infeasible `s` among the groups of the same partition from this
    /// one on (aligned with `groups`).
    pub(super) suffix_infeasible: Vec<Option<u64>>,
    /// As `suffix_infeasible`, for any miss of the floor.
    pub(super) suffix_missed: Vec<Option<u64>>,
    /// The lower bound from the cheapest cost any group measured at each `s`; only
    /// spaces without a build axis use it.
    pub(super) cheapest: super::bounds::Envelope,
    pub(super) incumbent: Option<Incumbent>,
    /// The relative noise that bounds are lowered by.
    pub(super) tolerance: f64,
}

impl<'l, 'g> Picture<'l, 'g> {
    pub(super) fn new(
        lattice: &'l Lattice<'l>,
        layout: &'l Layout,
        grouped: &'g Groups,
        tolerance: f64,
    ) -> Self {
        let width = layout.gdims.len();
        let (mut visited_start, mut summary_start) = (0, 0);
        let groups: Vec<Group<'g>> = grouped
            .spans
            .iter()
            .enumerate()
            .map(|(k, span)| {
                let group = Group {
                    coords: &grouped.coords[k * width..(k + 1) * width],
                    visited: &grouped.visited[visited_start..span.visited_end],
                    summary: &grouped.summary[summary_start..span.summary_end],
                    clearly_infeasible: span.clearly_infeasible,
                    infeasible: span.infeasible,
                };
                (visited_start, summary_start) = (span.visited_end, span.summary_end);
                group
            })
            .collect();
        // The cheapest feasible config, the first one in group order on a tie.
        let mut best: Option<(f64, usize)> = None;
        for (j, c) in grouped.summary.iter().enumerate() {
            if c.feasible && best.is_none_or(|(cost, _)| c.cost < cost) {
                best = Some((c.cost, j));
            }
        }
        let incumbent = best.map(|(cost, j)| {
            let k = grouped.spans.partition_point(|span| span.summary_end <= j);
            Incumbent {
                cost,
                point: layout.point_of(groups[k].coords, grouped.summary[j].s),
            }
        });
        let (suffix_infeasible, suffix_missed) = suffix_misses(&groups, layout.axis);
        let mut picture = Picture {
            lattice,
            layout,
            n: lattice.cards[layout.monotone],
            groups,
            ranks: &grouped.ranks,
            built: &grouped.built,
            suffix_infeasible,
            suffix_missed,
            cheapest: super::bounds::Envelope::default(),
            incumbent,
            tolerance,
        };
        if !layout.axis {
            picture.cheapest = super::bounds::Envelope::cheapest(&picture, &grouped.summary);
        }
        picture
    }

    /// The group the history holds with coordinates `g`, if any.
    pub(super) fn group(&self, g: &[u64]) -> Option<&Group<'g>> {
        self.ranks
            .binary_search(&self.layout.rank(self.lattice, g))
            .ok()
            .map(|i| &self.groups[i])
    }

    /// True when some opened group shares `g`'s build: its configs need no new build.
    pub(super) fn is_built(&self, g: &[u64]) -> bool {
        self.built.binary_search(&self.layout.build_rank(g)).is_ok()
    }

    /// The range of `groups` that shares `g`'s partition (all coordinates but the
    /// axis), and the position where `g` would go in it.
    pub(super) fn partition(&self, g: &[u64]) -> Partition {
        let rank = self.layout.rank(self.lattice, g);
        let pos = self.ranks.partition_point(|&r| r < rank);
        let Some((&a, &d)) = g
            .last()
            .zip(self.layout.gdims.last())
            .filter(|_| self.layout.axis)
        else {
            let end = self.ranks.partition_point(|&r| r <= rank);
            return Partition {
                range: pos..end,
                pos,
            };
        };
        // The axis is the last coordinate, so a partition is one block of ranks.
        let first = rank.wrapping_sub(u128::from(a));
        let card = u128::from(self.lattice.cards[d]);
        let lo = self.ranks.partition_point(|&r| r < first);
        let hi = self
            .ranks
            .partition_point(|&r| r < first.saturating_add(card));
        Partition { range: lo..hi, pos }
    }

    /// The axis coordinate of group `g` (0 without a build axis).
    pub(super) fn axis_of(&self, g: &[u64]) -> u64 {
        if self.layout.axis {
            g.last().copied().unwrap_or(0)
        } else {
            0
        }
    }

    /// The unit position of axis index `a` (0 without a build axis).
    pub(super) fn axis_unit(&self, a: u64) -> f64 {
        match (self.layout.axis, self.layout.gdims.last()) {
            (true, Some(&d)) => self.lattice.unit(d, a),
            _ => 0.0,
        }
    }

    /// The numeric value of monotone index `s`.
    pub(super) fn value(&self, s: u64) -> f64 {
        self.lattice
            .int_value(self.layout.monotone, s)
            .map_or(0.0, |v| v as f64)
    }

    /// The position just past `g`'s own entry in its partition: `pos + 1` when the
    /// group at `pos` has `g`'s axis value, else `pos`.
    pub(super) fn past(&self, g: &[u64], part: &Partition) -> usize {
        let a = self.axis_of(g);
        if self
            .groups
            .get(part.pos)
            .is_some_and(|h| self.axis_of(h.coords) == a)
        {
            part.pos + 1
        } else {
            part.pos
        }
    }
}

/// Per group, the largest clearly infeasible and the largest infeasible `s` among the
/// groups of its partition from it on (larger builds, along the axis).
fn suffix_misses(groups: &[Group<'_>], axis: bool) -> (Vec<Option<u64>>, Vec<Option<u64>>) {
    let len = groups.len();
    let (mut clear, mut missed) = (vec![None; len], vec![None; len]);
    let (mut running_clear, mut running_missed): (Option<u64>, Option<u64>) = (None, None);
    for i in (0..len).rev() {
        let same_partition = i + 1 < len && {
            let (a, b) = (groups[i].coords, groups[i + 1].coords);
            !axis || a[..a.len() - 1] == b[..b.len() - 1]
        };
        if !same_partition {
            running_clear = None;
            running_missed = None;
        }
        running_clear = running_clear.max(groups[i].clearly_infeasible);
        running_missed = running_missed.max(groups[i].infeasible);
        clear[i] = running_clear;
        missed[i] = running_missed;
    }
    (clear, missed)
}

/// A small history over `ef_construction` 10..=20 and `ef_search` 10..=30 (step 1,
/// so a point is the two values minus 10), shared by the tests of the frontier
/// modules.
#[cfg(test)]
pub(super) mod fixture {
    use crate::test_support::{metrics, trial_of};
    use hnswtune_core::{EF_CONSTRUCTION, EF_SEARCH, Params, SearchSpace, Trial, TrialState};

    pub(crate) fn params(ef_construction: i64, ef_search: i64) -> Params {
        Params::new()
            .with(EF_CONSTRUCTION, ef_construction)
            .with(EF_SEARCH, ef_search)
    }

    pub(crate) fn space() -> SearchSpace {
        SearchSpace::hnsw_fine((10, 20), (10, 30)).expect("valid bounds")
    }

    /// At a 0.95 floor: build 15 is feasible at `ef_search` 20 (two measurements,
    /// mean recall 0.955, mean p50 55) and just misses at 12 (by less than the 0.005
    /// margin); build 12 clearly misses at 14; the latest trial, build 15 at 25, is
    /// still running.
    pub(crate) fn history() -> Vec<Trial> {
        let mut running = trial_of(params(15, 25), metrics(0.99, 90.0));
        running.state = TrialState::Running;
        running.metrics = None;
        vec![
            trial_of(params(15, 20), metrics(0.94, 50.0)),
            trial_of(params(12, 14), metrics(0.90, 30.0)),
            trial_of(params(15, 20), metrics(0.97, 60.0)),
            trial_of(params(15, 12), metrics(0.948, 20.0)),
            running,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hnswtune_core::Objective;

    /// Groups come out in coordinate order whatever the history order; repeats are
    /// averaged and the mean recall decides feasibility; a running trial counts as
    /// visited but not measured; misses are told apart by the recall margin, and the
    /// suffix of misses runs from larger builds down the partition.
    #[test]
    fn the_history_is_read_as_groups() {
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
        assert!(layout.axis);
        assert_eq!(layout.gdims, [0]);
        let view = HistoryView::new(&lattice, &history);
        let groups = Groups::read(&lattice, &layout, &view, &ctx, 0.005);
        let picture = Picture::new(&lattice, &layout, &groups, 0.0);
        let coords: Vec<&[u64]> = picture.groups.iter().map(|g| g.coords).collect();
        assert_eq!(coords, [[2], [5]]);
        let (small, large) = (&picture.groups[0], &picture.groups[1]);
        assert_eq!(small.visited, [4]);
        assert_eq!(
            small.summary,
            [Summary {
                s: 4,
                feasible: false,
                cost: 30.0
            }]
        );
        assert_eq!(
            (small.clearly_infeasible, small.infeasible),
            (Some(4), Some(4))
        );
        assert_eq!(large.visited, [2, 10, 15]);
        assert_eq!(
            large.summary,
            [
                Summary {
                    s: 2,
                    feasible: false,
                    cost: 20.0
                },
                Summary {
                    s: 10,
                    feasible: true,
                    cost: 55.0
                }
            ]
        );
        assert_eq!(
            (large.clearly_infeasible, large.infeasible),
            (None, Some(2))
        );
        assert_eq!(large.hi(), Some(10));
        assert_eq!(picture.suffix_infeasible, [Some(4), None]);
        assert_eq!(picture.suffix_missed, [Some(4), Some(2)]);
        let incumbent = picture.incumbent.as_ref().unwrap();
        assert_eq!((incumbent.cost, &incumbent.point[..]), (55.0, &[5, 10][..]));
        assert!(picture.is_built(&[5]) && !picture.is_built(&[6]));
        let part = picture.partition(&[3]);
        assert_eq!((part.range, part.pos), (0..2, 1));
    }
}
