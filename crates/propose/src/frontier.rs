//! Frontier search: bisect each build for its cheapest feasible `ef_search`, and open
//! only the builds that measured neighbours cannot prove dominated.
//!
//! ## Method
//!
//! Recall and latency never decrease as `ef_search` grows, and the same mostly holds
//! for `ef_construction`. Call the ordered search-time parameter the *monotone* one
//! (`ef_search` by default) and everything else a config's *group* (its build key plus
//! any other search-time parameters). Within a group the best config is then the
//! smallest monotone value that meets the recall floor, so each group needs a
//! bisection, not a sweep.
//!
//! A call derives its picture from the history: the projected entries are sorted by
//! (group, monotone value, history position), so each group is a run of a flat array.
//! The proposer keeps that derivation (see [`Frontier`]); when the next history starts
//! with the same trials, only the trials after them are read and only their groups are
//! re-derived, which is how the agent calls it (one new trial per call). Repeated
//! measurements of a config are averaged; a config is feasible when its mean recall
//! meets the floor:
//!
//! 1. **Bracket per group.** `hi` is the smallest feasible monotone value measured,
//!    `lo` the largest infeasible one below it. The *build axis* is the first ordered
//!    build-time parameter (`ef_construction`); groups that differ only along it form a
//!    partition. Recall grows along the axis, so a value no larger than a *clearly*
//!    infeasible value of a larger build of the partition (mean recall below
//!    `min_recall − recall_margin`) is infeasible too, which adds an inferred `lo`. An
//!    inference that contradicts the group's own measurements (noise) is dropped.
//!    Unmeasured values strictly between `lo` and `hi` form the open range; the group
//!    is resolved when it is empty.
//! 2. **Next probe in a group.** A fresh group starts at the `hi` of the nearest build
//!    of its partition that has one (neighbouring builds need similar `ef_search`), or
//!    mid-ladder. With both ends known it bisects the open range; with one end known it
//!    gallops away from it by 1, 2, 4, ... steps.
//! 3. **Bounds and dominance.** Latency never decreases with the monotone parameter and
//!    is affine in its value with a non-negative intercept, so below a measurement
//!    `(v', cost')` the cost is at least `cost' × v / v'`. A group's optimum, which lies
//!    above `lo`, is bounded below by its own and its next smaller build's
//!    measurements (latency mostly grows along the build axis). Larger builds bound
//!    nothing from below, so a smaller, unmeasured build is never written off because
//!    a larger one is slow; without a build axis the cheapest cost any group measured
//!    at each value serves instead. A group whose bound, lowered by `noise_tolerance`,
//!    reaches the incumbent's cost is dominated. This is FAISS's operating-point
//!    pruning in `ParameterSpace::explore`, which FAISS applies to search-time
//!    parameters only; the inferred brackets and the build-axis bound carry it across
//!    builds.
//! 4. **Expectation.** The margin in step 1 keeps the search correct under noise, but
//!    it also keeps a smaller build's bracket open below values where a larger build
//!    already missed the floor. For ordering only, each group also gets an *expected*
//!    cost: its bracket is raised above every value where a larger build of its
//!    partition missed the floor at all, and the cost there is taken from the nearest
//!    measured build of the partition (what the group costs if latency changes little
//!    between neighbouring builds), or from the bound where that is higher.
//! 5. **Choice.** The group of the latest trial is continued while it is unresolved
//!    and not dominated: its build exists, so its probes are cheap search-time moves.
//!    Otherwise the candidates (the groups of the latest `candidate_limit` trials, the
//!    first `candidate_limit` unopened groups in coarse-to-fine order, and the
//!    neighbours of the incumbent's group at 1, 2, 4, ... steps) are ranked:
//!    non-dominated first, then groups whose build already exists, then expected costs
//!    within one noise tolerance of each other as equal, then the same for bounds,
//!    then coarse-to-fine depth (as in [`crate::Grid`]), then the bound, then the
//!    distance to the nearest opened build (which keeps exploring after the first
//!    optimum and copes with a best `ef_construction` that is not unimodal), then a
//!    seeded tie-break.
//!
//! Monotonicity is an assumption for ordering only. A dominated group is ranked last,
//! never discarded, and when no candidate remains the unvisited config nearest to the
//! incumbent is proposed, so a landscape that violates monotonicity (noise) costs
//! trials but never makes the search skip a config forever. Without an ordered
//! search-time parameter there is nothing to bisect and the strategy visits the space
//! in [`crate::Grid`]'s coarse-to-fine order.
//!
//! Source: the operating-point pruning of FAISS (Johnson, Douze and Jégou,
//! "Billion-scale similarity search with GPUs", 2017; `faiss/AutoTune.cpp`,
//! `ParameterSpace::explore`), combined with bisection and galloping search (Bentley
//! and Yao, "An almost optimal algorithm for unbounded searching", 1976).
//!
//! ## Invariants
//!
//! - `noise_tolerance ∈ [0, 1)` and `candidate_limit ≥ 1`, checked at construction.
//! - Every probe is an unvisited point of the space; `None` only when the space is
//!   exhausted.

use std::sync::Mutex;

use crate::convergence::{Convergence, assess_with};
use crate::grid::{AxisOrder, first_in_order};
use crate::lattice::{Fnv, HistoryIndex, HistoryView, Lattice, Point, nearest_unvisited};
use crate::noise::StudyNoise;
use crate::{ProposalContext, ProposeError, Proposer};
use hnswtune_core::{EF_SEARCH, Objective, Params, SearchSpace, Trial, TrialId, TrialMetrics};

/// Settings of [`Frontier`].
#[derive(Clone, Debug, PartialEq)]
pub struct FrontierConfig {
    /// Seed for tie-breaks between equally ranked groups.
    pub seed: u64,
    /// The ordered search-time parameter to bisect; `None` picks `ef_search` when the
    /// space has it as an ordered search-time parameter, else the first such one.
    pub monotone_param: Option<String>,
    /// Relative noise allowed for in dominance bounds, in `[0, 1)`: a group is
    /// dominated only when its bound × (1 − tolerance) reaches the incumbent's cost.
    ///
    /// `None`, the default, takes it from the study's own measurements:
    /// [`StudyNoise::tolerance`] of the history, `r / (1 + r)` for `r` the study's
    /// 90th-percentile repeat spread, which starts at the prior (0.26 with no
    /// measurements) and moves to what the study measures. `Some(t)` fixes it.
    pub noise_tolerance: Option<f64>,
    /// When true (the default), the study model of [`crate::assess`] checks each new
    /// build the frontier search proposes: it gives way to a promising search-time move
    /// on an existing build, and a build within one step's resolution of a build
    /// already made (ef_construction 374 after 370) gives way to the model's most
    /// promising config. `false` gives the bare frontier search.
    ///
    /// A stricter gate, opening only the builds the model finds promising, was
    /// replayed and cost builds to reach the target (docs/proposers.md, "The study
    /// model").
    pub gate_builds: bool,
    /// How many unopened groups (in coarse-to-fine order) are ranked per call, ≥ 1.
    pub candidate_limit: usize,
    /// Recall noise allowed for in cross-build inference, in `[0, 1)`: a measurement
    /// proves smaller builds infeasible only when its mean recall is below
    /// `min_recall − recall_margin` (repeated builds differ by a few thousandths).
    pub recall_margin: f64,
}

impl Default for FrontierConfig {
    fn default() -> Self {
        FrontierConfig {
            seed: 0,
            monotone_param: None,
            noise_tolerance: None,
            gate_builds: true,
            candidate_limit: 32,
            recall_margin: 0.005,
        }
    }
}

/// Frontier search (see the module docs).
///
/// ```
/// use hnswtune_core::{Objective, SearchSpace, EF_SEARCH};
/// use hnswtune_propose::{Frontier, ProposalContext, Proposer};
///
/// let space = SearchSpace::hnsw();
/// let objective = Objective::new(0.95)?;
/// let ctx = ProposalContext { space: &space, history: &[], champion: None, objective: &objective };
/// let first = Frontier::seeded(1).propose(&ctx)?.unwrap();
/// assert_eq!(first.int(EF_SEARCH), Some(48), "mid-ladder");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A proposal is a pure function of the settings, the space and the history, but a
/// proposer keeps what it derived from the last history it saw (behind a mutex, since
/// [`Proposer::propose`] takes `&self`). When the next history starts with the same
/// trials (same ids, same states and measurements, in the same order) only the trials
/// after them are read; otherwise, or when another thread holds the cache, the
/// history is read afresh. Either way the proposal is the same. The cache relies on a
/// trial id naming one config, as journal ids do: a host that reuses an id for another
/// config, with the same metrics, must use a fresh proposer.
pub struct Frontier {
    config: FrontierConfig,
    cache: Mutex<Option<Derived>>,
}

impl std::fmt::Debug for Frontier {
    /// The settings, and how many trials the cache holds (not its contents, which can
    /// run to megabytes).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cached = match self.cache.try_lock() {
            Ok(cache) => cache.as_ref().map(|d| d.stamps.len()),
            Err(_) => None,
        };
        f.debug_struct("Frontier")
            .field("config", &self.config)
            .field("cached_trials", &cached)
            .finish()
    }
}

impl Clone for Frontier {
    /// The same settings, with an empty cache.
    fn clone(&self) -> Self {
        Frontier::with_config(self.config.clone())
    }
}

impl Frontier {
    /// Checks `config` and builds the proposer.
    pub fn new(config: FrontierConfig) -> Result<Self, ProposeError> {
        if let Some(t) = config.noise_tolerance
            && !(0.0..1.0).contains(&t)
        {
            return Err(ProposeError::invalid(
                "noise_tolerance",
                format!("{t} is outside [0, 1)"),
            ));
        }
        if !(0.0..1.0).contains(&config.recall_margin) {
            return Err(ProposeError::invalid(
                "recall_margin",
                format!("{} is outside [0, 1)", config.recall_margin),
            ));
        }
        if config.candidate_limit == 0 {
            return Err(ProposeError::invalid(
                "candidate_limit",
                "must be at least 1",
            ));
        }
        Ok(Frontier::with_config(config))
    }

    /// The default settings with `seed`.
    pub fn seeded(seed: u64) -> Self {
        Frontier::with_config(FrontierConfig {
            seed,
            ..FrontierConfig::default()
        })
    }

    fn with_config(config: FrontierConfig) -> Self {
        Frontier {
            config,
            cache: Mutex::new(None),
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &FrontierConfig {
        &self.config
    }

    fn monotone_dim(&self, lattice: &Lattice<'_>) -> Option<usize> {
        let usable = |d: usize| !lattice.build[d] && lattice.ordered(d);
        let named =
            |name: &str| (0..lattice.dims()).find(|&d| lattice.spec(d).name == name && usable(d));
        match &self.config.monotone_param {
            Some(name) => named(name),
            None => named(EF_SEARCH).or_else(|| (0..lattice.dims()).find(|&d| usable(d))),
        }
    }
}

/// What the history says about one group. The slices point into flat arrays built
/// once per call (one sort of the history by group), so a call allocates a handful of
/// vectors however many groups the history holds.
#[derive(Debug, Default)]
struct GroupObs<'g> {
    /// Every `s` in the history (any state), ascending, distinct.
    visited: &'g [u64],
    /// Measured `(s, feasible, mean cost)`, ascending in `s`; repeated measurements of
    /// one config are averaged and the mean recall decides feasibility.
    summary: &'g [(u64, bool, f64)],
    /// The largest `s` whose mean recall misses the floor by more than the margin.
    clearly_infeasible: Option<u64>,
    /// The largest `s` whose mean recall misses the floor at all.
    infeasible: Option<u64>,
}

/// One projected history entry, as the sorted pass reads it (its point is in the
/// [`HistoryIndex`]).
#[derive(Clone, Copy, Debug)]
struct Entry {
    /// The rank of its group (every coordinate but the monotone one).
    group: u128,
    /// Its monotone coordinate.
    s: u64,
    measured: Option<Measured>,
}

/// One history trial as the cache remembers it: a later history extends the cached
/// one while each of its first trials has the same id and measured the same.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Stamp {
    id: TrialId,
    measured: Option<Measured>,
}

impl Stamp {
    fn of(trial: &Trial, objective: &Objective) -> Self {
        Stamp {
            id: trial.id,
            measured: trial.completed_metrics().map(|metrics| Measured {
                recall: metrics.recall,
                cost: objective.cost(metrics),
                within_budgets: within_budgets(objective, metrics),
            }),
        }
    }
}

/// The sort key of an entry: the config's rank (group rank, then the monotone
/// coordinate) shifted left 32 bits over the entry's index, so that one sort of plain
/// integers groups the history by group, then by config, then in history order (a
/// space of 2^96 configs or more wraps, as `Lattice::rank` does).
fn key_of(entry: &Entry, index: usize, monotone_card: u64) -> u128 {
    let rank = entry
        .group
        .wrapping_mul(u128::from(monotone_card))
        .wrapping_add(u128::from(entry.s));
    (rank << 32) | index as u128
}

fn entry_of_key(key: u128) -> usize {
    (key & 0xFFFF_FFFF) as usize
}

/// What a call derives from the history before it ranks anything: the projected
/// entries, what each measured, and their order by (group, monotone value, position).
/// [`Frontier`] keeps the last one and, when the next history extends the same trials,
/// reads only the trials appended since (see [`Derived::sync`]).
#[derive(Debug)]
struct Derived {
    space: SearchSpace,
    objective: Objective,
    /// One per history trial read, projected or not.
    stamps: Vec<Stamp>,
    index: HistoryIndex,
    /// One per projected entry of `index`.
    entries: Vec<Entry>,
    /// [`key_of`] every entry, ascending.
    keys: Vec<u128>,
    monotone_card: u64,
    /// How many groups the space has (the product of the group coordinates'
    /// cardinalities), when that fits a `u64`.
    group_count: Option<u64>,
    floors: Floors,
    groups: Groups,
    /// The coarse-to-fine order of each group coordinate, to [`DEPTH_CAP`]: it
    /// depends on the space only.
    axes: Vec<AxisOrder>,
    /// [`Lattice::unit`] of build-axis indices, filled on first use (NaN until then)
    /// when the axis is short enough to tabulate: ranking asks for the same values
    /// many times, call after call.
    axis_units: Vec<std::cell::Cell<f64>>,
}

/// The recall floors a group run is judged against.
#[derive(Clone, Copy, Debug)]
struct Floors {
    min_recall: f64,
    /// `min_recall − recall_margin`: below it a miss is clear.
    clear: f64,
}

/// The history grouped: per opened group, in ascending rank, its coordinates, the
/// distinct monotone values it visited and its measured summary, as runs of flat
/// arrays (a call slices them into [`GroupObs`]). Derived from [`Derived::keys`].
#[derive(Debug, Default, PartialEq)]
struct Groups {
    /// Group coordinates, `gdims.len()` per group.
    coords: Vec<u64>,
    ranks: Vec<u128>,
    visited: Vec<u64>,
    summary: Vec<(u64, bool, f64)>,
    /// Per group: (visited range end, summary range end, clearly infeasible,
    /// infeasible).
    ends: Vec<(usize, usize, Option<u64>, Option<u64>)>,
    /// The build-time ranks of the opened groups, ascending, distinct.
    built: Vec<u128>,
}

/// What [`group_run`] found in one group's run.
struct Run {
    /// How many keys the run spans.
    len: usize,
    clearly_infeasible: Option<u64>,
    infeasible: Option<u64>,
}

/// Appends the run of the group of `keys[0]` (the keys are ascending; the run ends at
/// the first key of another group) to `visited` and `summary`, and returns its length
/// and its largest clearly infeasible and infeasible values. Repeated measurements of
/// a config are averaged; the latest one's budgets count. Within a group the configs
/// are told apart by their monotone value.
#[inline(always)]
fn group_run(
    keys: &[u128],
    entries: &[Entry],
    floors: Floors,
    visited: &mut Vec<u64>,
    summary: &mut Vec<(u64, bool, f64)>,
) -> Run {
    let (mut clearly_infeasible, mut infeasible) = (None, None);
    let Some(&first) = keys.first() else {
        return Run {
            len: 0,
            clearly_infeasible,
            infeasible,
        };
    };
    let mut entry = &entries[entry_of_key(first)];
    let group = entry.group;
    let mut i = 0;
    loop {
        let s = entry.s;
        visited.push(s);
        let (mut n, mut recall_sum, mut cost_sum) = (0u32, 0.0f64, 0.0f64);
        let mut within_budgets = false;
        loop {
            if let Some(measured) = &entry.measured {
                n += 1;
                recall_sum += measured.recall;
                cost_sum += measured.cost;
                within_budgets = measured.within_budgets;
            }
            i += 1;
            let Some(&key) = keys.get(i) else { break };
            entry = &entries[entry_of_key(key)];
            if entry.group != group || entry.s != s {
                break;
            }
        }
        if n > 0 {
            let (recall, cost) = if n == 1 {
                (recall_sum, cost_sum)
            } else {
                (recall_sum / f64::from(n), cost_sum / f64::from(n))
            };
            let feasible = recall >= floors.min_recall && within_budgets;
            summary.push((s, feasible, cost));
            if recall < floors.clear {
                clearly_infeasible = Some(s);
            }
            if recall < floors.min_recall {
                infeasible = Some(s);
            }
        }
        if i == keys.len() || entry.group != group {
            break;
        }
    }
    Run {
        len: i,
        clearly_infeasible,
        infeasible,
    }
}

impl Groups {
    /// Groups every entry (one pass over the sorted keys).
    fn build(derived: &Derived, lattice: &Lattice<'_>, gdims: &[usize]) -> Self {
        let (keys, entries) = (&derived.keys, &derived.entries);
        let capacity = keys.len() + keys.len() / 2 + 64;
        // A group per entry at most: sized once, these never reallocate in the call.
        let mut groups = Groups {
            coords: Vec::with_capacity(capacity * gdims.len()),
            ranks: Vec::with_capacity(capacity),
            visited: Vec::with_capacity(capacity),
            summary: Vec::with_capacity(capacity),
            ends: Vec::with_capacity(capacity),
            built: Vec::with_capacity(capacity),
        };
        let build = BuildDims::of(lattice);
        let mut i = 0;
        while i < keys.len() {
            let e = entry_of_key(keys[i]);
            let (p, rank) = (derived.index.point(e), entries[e].group);
            match gdims {
                // One group coordinate (the HNSW space): a push, not a generic extend.
                &[d] => groups.coords.push(p[d]),
                _ => groups.coords.extend(gdims.iter().map(|&d| p[d])),
            }
            groups.ranks.push(rank);
            groups.built.push(build.rank(p));
            let run = group_run(
                &keys[i..],
                entries,
                derived.floors,
                &mut groups.visited,
                &mut groups.summary,
            );
            groups.ends.push((
                groups.visited.len(),
                groups.summary.len(),
                run.clearly_infeasible,
                run.infeasible,
            ));
            i += run.len;
        }
        // The groups come in rank order, so when the build is the only group
        // coordinate (the HNSW space) their build ranks already ascend, distinct.
        if !groups.built.is_sorted_by(|a, b| a < b) {
            groups.built.sort_unstable();
            groups.built.dedup();
        }
        groups
    }

    /// Re-derives the groups of rank `ranks` (ascending, distinct) after entries were
    /// added to them, splicing their runs into the flat arrays. The result is what
    /// [`Groups::build`] gives: a group's run depends only on its own keys.
    fn update(
        &mut self,
        derived: &Derived,
        lattice: &Lattice<'_>,
        gdims: &[usize],
        ranks: &[u128],
    ) {
        let (keys, entries) = (&derived.keys, &derived.entries);
        let gl = gdims.len();
        let (mut visited, mut summary) = (Vec::new(), Vec::new());
        for &rank in ranks {
            let lo = keys.partition_point(|&k| entries[entry_of_key(k)].group < rank);
            let hi = keys.partition_point(|&k| entries[entry_of_key(k)].group <= rank);
            if lo == hi {
                continue;
            }
            visited.clear();
            summary.clear();
            let Run {
                clearly_infeasible,
                infeasible,
                ..
            } = group_run(
                &keys[lo..hi],
                entries,
                derived.floors,
                &mut visited,
                &mut summary,
            );
            let (g, old) = match self.ranks.binary_search(&rank) {
                Ok(g) => (g, true),
                Err(g) => (g, false),
            };
            let (v0, s0) = g
                .checked_sub(1)
                .map_or((0, 0), |k| (self.ends[k].0, self.ends[k].1));
            let (v1, s1) = if old {
                (self.ends[g].0, self.ends[g].1)
            } else {
                (v0, s0)
            };
            self.visited.splice(v0..v1, visited.iter().copied());
            self.summary.splice(s0..s1, summary.iter().copied());
            let end = (
                v0 + visited.len(),
                s0 + summary.len(),
                clearly_infeasible,
                infeasible,
            );
            if old {
                self.ends[g] = end;
            } else {
                let p = derived.index.point(entry_of_key(keys[lo]));
                let at = g * gl;
                self.coords.splice(at..at, gdims.iter().map(|&d| p[d]));
                self.ranks.insert(g, rank);
                self.ends.insert(g, end);
                let build = BuildDims::of(lattice).rank(p);
                if let Err(at) = self.built.binary_search(&build) {
                    self.built.insert(at, build);
                }
            }
            // Runs only grow when entries are added.
            let (dv, ds) = (visited.len() - (v1 - v0), summary.len() - (s1 - s0));
            if dv > 0 || ds > 0 {
                for later in &mut self.ends[g + 1..] {
                    later.0 += dv;
                    later.1 += ds;
                }
            }
        }
    }
}

/// Up to this many new entries are inserted into the sorted keys one by one; more are
/// appended and the keys sorted again.
const INSERT_LIMIT: usize = 16;

impl Derived {
    /// Reads `ctx.history` from scratch. Each trial is read once, in history order: the
    /// sorted pass visits entries out of order, and trials are large enough that
    /// re-reading them there costs a cache miss each.
    fn new(
        lattice: &Lattice<'_>,
        ctx: &ProposalContext<'_>,
        m: usize,
        gdims: &[usize],
        axis: bool,
        recall_margin: f64,
    ) -> Self {
        // Room for the trials of the calls to come: reallocating a kept array of
        // 64 KiB or more costs more than the call it serves.
        let capacity = ctx.history.len() + ctx.history.len() / 2 + 64;
        let mut derived = Derived {
            space: ctx.space.clone(),
            objective: ctx.objective.clone(),
            stamps: Vec::with_capacity(capacity),
            index: HistoryIndex::with_capacity(lattice, ctx.history, capacity),
            entries: Vec::with_capacity(capacity),
            keys: Vec::with_capacity(capacity),
            monotone_card: lattice.cards[m],
            group_count: gdims
                .iter()
                .try_fold(1u64, |acc, &d| acc.checked_mul(lattice.cards[d])),
            floors: Floors {
                min_recall: ctx.objective.min_recall,
                clear: ctx.objective.min_recall - recall_margin,
            },
            groups: Groups::default(),
            axes: gdims
                .iter()
                .map(|&d| {
                    let mut axis = AxisOrder::new(lattice.cards[d]);
                    axis.extend_to(lattice, d, DEPTH_CAP);
                    axis
                })
                .collect(),
            axis_units: match gdims.last() {
                Some(&d) if axis && lattice.cards[d] <= 4096 => {
                    vec![std::cell::Cell::new(f64::NAN); lattice.cards[d] as usize]
                }
                _ => Vec::new(),
            },
        };
        derived
            .stamps
            .extend(ctx.history.iter().map(|t| Stamp::of(t, &derived.objective)));
        derived.add_entries(lattice, 0, m, gdims);
        derived.groups = Groups::build(&derived, lattice, gdims);
        derived
    }

    /// True when the cache was derived for this space and objective.
    fn reusable(&self, ctx: &ProposalContext<'_>) -> bool {
        self.space == *ctx.space && self.objective == *ctx.objective
    }

    /// Brings the cache to `ctx.history`: keeps the longest prefix of trials whose
    /// [`Stamp`] is unchanged, forgets the rest, and reads the trials after it. The
    /// result is what [`Derived::new`] gives on the same history: the same entries in
    /// the same order, the same keys, the same digest.
    fn sync(
        &mut self,
        lattice: &Lattice<'_>,
        ctx: &ProposalContext<'_>,
        m: usize,
        gdims: &[usize],
    ) {
        let common = self.stamps.len().min(ctx.history.len());
        let keep = (0..common)
            .find(|&i| Stamp::of(&ctx.history[i], &self.objective) != self.stamps[i])
            .unwrap_or(common);
        let truncated = keep < self.stamps.len();
        if truncated {
            self.stamps.truncate(keep);
            self.index.truncate(lattice, ctx.history, keep);
            let entries = self.index.len();
            self.entries.truncate(entries);
            self.keys.retain(|&k| entry_of_key(k) < entries);
        }
        let first = self.index.extend(lattice, ctx.history);
        self.stamps.extend(
            ctx.history[keep..]
                .iter()
                .map(|t| Stamp::of(t, &self.objective)),
        );
        self.add_entries(lattice, first, m, gdims);
        let added = self.entries.len() - first;
        if truncated || added > INSERT_LIMIT || lattice.cardinality() >= 1 << 64 {
            self.groups = Groups::build(self, lattice, gdims);
        } else if added > 0 {
            let mut ranks: Vec<u128> = self.entries[first..].iter().map(|e| e.group).collect();
            ranks.sort_unstable();
            ranks.dedup();
            let mut groups = std::mem::take(&mut self.groups);
            groups.update(self, lattice, gdims, &ranks);
            self.groups = groups;
        }
    }

    /// Derives the entries of `index` from `first` on and merges their keys.
    fn add_entries(&mut self, lattice: &Lattice<'_>, first: usize, m: usize, gdims: &[usize]) {
        let (stamps, entries) = (&self.stamps, &mut self.entries);
        let cards: Vec<u128> = gdims
            .iter()
            .map(|&d| u128::from(lattice.cards[d]))
            .collect();
        for (p, position) in self.index.entries_from(first) {
            let group = match gdims {
                // One group coordinate (the HNSW space): its index is the rank.
                &[d] => u128::from(p[d]),
                _ => gdims.iter().zip(&cards).fold(0u128, |acc, (&d, &card)| {
                    acc.wrapping_mul(card).wrapping_add(u128::from(p[d]))
                }),
            };
            entries.push(Entry {
                group,
                s: p[m],
                measured: stamps[position].measured,
            });
        }
        let added = self.entries.len() - first;
        if added <= INSERT_LIMIT {
            for e in first..self.entries.len() {
                let key = key_of(&self.entries[e], e, self.monotone_card);
                let at = self.keys.partition_point(|&k| k < key);
                self.keys.insert(at, key);
            }
        } else if lattice.cardinality() < 1 << 32 && self.entries.len() < 1 << 32 {
            // Plain u64 keys sort faster; every space under 2^32 configs has them, and
            // they are the same numbers as the u128 keys.
            let n = self.entries.len();
            if let Some(groups) = self
                .group_count
                .filter(|&g| g <= COUNTING_GROUPS_PER_ENTRY * n as u64)
            {
                let keys = counting_sorted_keys(&self.entries, groups as usize, self.monotone_card);
                self.keys.clear();
                self.keys.extend(keys.into_iter().map(u128::from));
                return;
            }
            let mut keys: Vec<u64> = self.keys.iter().map(|&k| k as u64).collect();
            keys.extend(
                (first..self.entries.len())
                    .map(|e| key_of(&self.entries[e], e, self.monotone_card) as u64),
            );
            keys.sort_unstable();
            self.keys.clear();
            self.keys.extend(keys.into_iter().map(u128::from));
        } else {
            for e in first..self.entries.len() {
                self.keys
                    .push(key_of(&self.entries[e], e, self.monotone_card));
            }
            self.keys.sort_unstable();
        }
    }
}

/// The keys are sorted by counting rather than comparison when the space has at most
/// this many groups per entry: a counting pass costs a few steps per group.
const COUNTING_GROUPS_PER_ENTRY: u64 = 8;

/// [`key_of`] every entry as a `u64` (the space has fewer than 2^32 configs and
/// `entries` fewer than 2^32 entries), ascending: one stable counting pass by group,
/// which keeps history order within a group, then a sort of each group's run, which is
/// short. `groups` bounds every entry's group rank.
fn counting_sorted_keys(entries: &[Entry], groups: usize, monotone_card: u64) -> Vec<u64> {
    let mut starts = vec![0u32; groups + 1];
    for e in entries {
        starts[e.group as usize + 1] += 1;
    }
    for g in 0..groups {
        starts[g + 1] += starts[g];
    }
    let mut keys = vec![0u64; entries.len()];
    let mut next = starts.clone();
    for (i, e) in entries.iter().enumerate() {
        let at = &mut next[e.group as usize];
        keys[*at as usize] = key_of(e, i, monotone_card) as u64;
        *at += 1;
    }
    for g in 0..groups {
        let run = &mut keys[starts[g] as usize..starts[g + 1] as usize];
        if run.len() > 1 {
            run.sort_unstable();
        }
    }
    keys
}

/// What one completed trial contributes.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Measured {
    recall: f64,
    cost: f64,
    /// True when the trial meets every budget of the objective other than recall.
    within_budgets: bool,
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

/// A lower bound on cost as a function of the monotone parameter, from measurements
/// `(s', cost)`: cost never decreases with `s`, and cost is affine in the parameter's
/// value `v` with a non-negative intercept, so below a measurement it is at least
/// `cost × v(s) / v(s')`.
#[derive(Debug, Default)]
struct Envelope {
    s: Vec<u64>,
    /// Largest cost among measurements at `s' ≤ s[i]`.
    prefix: Vec<f64>,
    /// Largest `cost / v(s')` among measurements at `s' ≥ s[i]`.
    suffix: Vec<f64>,
}

impl Envelope {
    fn new(points: &[(u64, f64)], value: impl Fn(u64) -> f64) -> Self {
        let s: Vec<u64> = points.iter().map(|p| p.0).collect();
        let mut prefix = Vec::with_capacity(points.len());
        let mut running = 0.0f64;
        for p in points {
            running = running.max(p.1);
            prefix.push(running);
        }
        let mut suffix = vec![0.0; points.len()];
        let mut running = 0.0f64;
        for (i, p) in points.iter().enumerate().rev() {
            let v = value(p.0);
            if v > 0.0 {
                running = running.max(p.1 / v);
            }
            suffix[i] = running;
        }
        Envelope { s, prefix, suffix }
    }

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

impl GroupObs<'_> {
    fn hi(&self) -> Option<u64> {
        self.summary.iter().find(|c| c.1).map(|c| c.0)
    }
}

/// A group's partition as a range of [`Picture::groups`], and the position where the
/// group is, or would go, in it.
type Part = (std::ops::Range<usize>, usize);

/// The next step for one group.
#[derive(Debug)]
struct Plan {
    probe: Option<u64>,
    bound: f64,
    /// The bound where cross-build inference trusts every measured miss, not only the
    /// clear ones: what the group is expected to cost if recall is monotone along the
    /// build axis. It only orders groups that [`Plan::bound`] cannot separate.
    expected: f64,
}

/// Everything a call derives from the history.
struct Picture<'l, 't> {
    lattice: &'l Lattice<'l>,
    m: usize,
    n: u64,
    /// Lattice dims of the group coordinates: every dim but the monotone one, with the
    /// build axis (if any) moved last so that groups differing only along it are
    /// contiguous and ordered in `groups`.
    gdims: Vec<usize>,
    /// Opened groups, sorted by their coordinates.
    groups: Vec<(&'t [u64], GroupObs<'t>)>,
    /// [`Picture::rank`] of each group, aligned with `groups` (ascending).
    ranks: &'t [u128],
    /// Largest clearly infeasible `s` among the groups of the same partition from this
    /// one on (aligned with `groups`).
    suffix_infeasible: Vec<Option<u64>>,
    /// As `suffix_infeasible`, for any miss of the floor.
    suffix_missed: Vec<Option<u64>>,
    /// Bound from the cheapest cost measured at each `s` over all groups.
    global: Envelope,
    /// True when the last group coordinate is the build axis: the first ordered
    /// build-time parameter, along which recall and latency are taken to grow.
    axis: bool,
    /// [`Lattice::unit`] of axis indices, filled on first use (NaN until then) when the
    /// axis is short enough to tabulate: ranking asks for the same values many times.
    axis_units: &'l [std::cell::Cell<f64>],
    tolerance: f64,
}

impl Picture<'_, '_> {
    fn group_of(&self, p: &[u64]) -> Point {
        self.gdims.iter().map(|&d| p[d]).collect()
    }

    fn point_of(&self, g: &[u64], s: u64) -> Point {
        let mut p = vec![0; g.len() + 1];
        for (k, &d) in self.gdims.iter().enumerate() {
            p[d] = g[k];
        }
        p[self.m] = s;
        p
    }

    /// [`BuildDims::rank`] of any point of group `g`
    /// (in lattice order, which `gdims` is not: the axis comes last there), without
    /// building the point. The monotone dim is search-time, so every build-time dim
    /// is a group coordinate.
    fn build_rank(&self, g: &[u64]) -> u128 {
        if let (&[i], &[d]) = (g, &self.gdims[..]) {
            // One group coordinate: the only dim that can be build-time.
            return if self.lattice.build[d] {
                u128::from(i)
            } else {
                0
            };
        }
        (0..self.lattice.dims())
            .filter(|&d| self.lattice.build[d])
            .fold(0u128, |acc, d| {
                let i = self.gdims.iter().position(|&x| x == d).map_or(0, |k| g[k]);
                acc.wrapping_mul(u128::from(self.lattice.cards[d]))
                    .wrapping_add(u128::from(i))
            })
    }

    /// The lattice dim of group coordinate `k`.
    fn dim(&self, k: usize) -> usize {
        self.gdims[k]
    }

    fn obs(&self, g: &[u64]) -> Option<&GroupObs<'_>> {
        self.ranks
            .binary_search(&self.rank(g))
            .ok()
            .map(|i| &self.groups[i].1)
    }

    /// The mixed-radix rank of group coordinates: rank order is coordinate order.
    fn rank(&self, g: &[u64]) -> u128 {
        if let &[i] = g {
            return u128::from(i);
        }
        g.iter().zip(&self.gdims).fold(0u128, |acc, (&i, &d)| {
            acc.wrapping_mul(u128::from(self.lattice.cards[d]))
                .wrapping_add(u128::from(i))
        })
    }

    /// The range of `groups` that shares `g`'s partition (all coordinates but the
    /// axis), and the position where `g`'s axis value would go in it.
    fn partition(&self, g: &[u64]) -> Part {
        let rank = self.rank(g);
        let pos = self.ranks.partition_point(|&r| r < rank);
        if !self.axis || g.is_empty() {
            let j = self.ranks.partition_point(|&r| r <= rank);
            return (pos..j, pos);
        }
        if g.len() == 1 {
            // The axis is the only coordinate: every group is in one partition.
            return (0..self.ranks.len(), pos);
        }
        // The axis is the last coordinate: a partition is one block of ranks.
        let a = g[g.len() - 1];
        let first = rank.wrapping_sub(u128::from(a));
        let card = self
            .gdims
            .last()
            .map_or(1, |&d| u128::from(self.lattice.cards[d]));
        let lo = self.ranks.partition_point(|&r| r < first);
        let hi = self
            .ranks
            .partition_point(|&r| r < first.saturating_add(card));
        (lo..hi, pos)
    }

    /// The unit coordinate of axis index `a`.
    fn axis_unit(&self, a: u64) -> f64 {
        let slot = self.axis_units.get(a as usize);
        if let Some(u) = slot.map(std::cell::Cell::get).filter(|u| !u.is_nan()) {
            return u;
        }
        let u = match (self.axis, self.gdims.last()) {
            (true, Some(&d)) => self.lattice.unit(d, a),
            _ => 0.0,
        };
        if let Some(slot) = slot {
            slot.set(u);
        }
        u
    }

    fn axis_of(&self, g: &[u64]) -> u64 {
        if self.axis {
            g.last().copied().unwrap_or(0)
        } else {
            0
        }
    }

    fn value(&self, s: u64) -> f64 {
        self.lattice.int_value(self.m, s).map_or(0.0, |v| v as f64)
    }

    /// The largest clearly infeasible `s` of a larger build in `g`'s partition: recall
    /// grows along the build axis, so `g` is infeasible there too.
    fn inferred_floor(&self, g: &[u64], part: &Part, strict: bool) -> Option<u64> {
        if !self.axis {
            return None;
        }
        let (range, pos) = (part.0.clone(), part.1);
        let a = self.axis_of(g);
        let after = if self
            .groups
            .get(pos)
            .is_some_and(|(h, _)| self.axis_of(h) == a)
        {
            pos + 1
        } else {
            pos
        };
        if after < range.end {
            if strict {
                self.suffix_missed[after]
            } else {
                self.suffix_infeasible[after]
            }
        } else {
            None
        }
    }

    /// A lower bound on the cost of group `g` at `s`: from the cheapest measurement of
    /// any group, and from `g` and the nearest smaller build of its partition (latency
    /// mostly grows along the build axis).
    fn cost_bound(&self, g: &[u64], s: u64, part: &Part) -> f64 {
        let v = self.value(s);
        // Across builds, only smaller builds bound a group from below (latency grows
        // along the build axis); the cheapest measurement of any group is a bound only
        // where there is no build axis to say which groups are smaller.
        let mut bound = if self.axis { 0.0 } else { self.global.at(s, v) };
        let (range, pos) = (part.0.clone(), part.1);
        let a = self.axis_of(g);
        let end = if self
            .groups
            .get(pos)
            .is_some_and(|(h, _)| self.axis_of(h) == a)
        {
            pos + 1
        } else {
            pos
        };
        let start = end.saturating_sub(2).max(range.start);
        for (_, obs) in &self.groups[start..end] {
            bound = bound.max(self.envelope_at(obs.summary, s, v));
        }
        bound
    }

    /// An estimate of what `g` costs at `s`: the bound of the nearest measured build of
    /// its partition (either side, nearer in axis units; the larger estimate on a tie),
    /// which is what `g` costs if latency changed little between them.
    fn neighbour_estimate(&self, g: &[u64], s: u64, part: &Part) -> f64 {
        let (range, pos) = (part.0.clone(), part.1);
        let here = self.axis_unit(self.axis_of(g));
        let measured = |i: &usize| {
            let (h, obs) = &self.groups[*i];
            !same(h, g) && !obs.summary.is_empty()
        };
        let below = (range.start..pos).rev().find(measured);
        let above = (pos..range.end).find(measured);
        let v = self.value(s);
        let score = |i: usize| {
            let (h, obs) = &self.groups[i];
            (
                (self.axis_unit(self.axis_of(h)) - here).abs(),
                self.envelope_at(obs.summary, s, v),
            )
        };
        match (below.map(score), above.map(score)) {
            (Some(b), Some(a)) if (b.0 - a.0).abs() <= 1e-12 => b.1.max(a.1),
            (Some(b), Some(a)) => {
                if b.0 < a.0 {
                    b.1
                } else {
                    a.1
                }
            }
            (Some(x), None) | (None, Some(x)) => x.1,
            (None, None) => 0.0,
        }
    }

    /// The bound of [`Envelope`] from one group's measurements, without building it.
    fn envelope_at(&self, summary: &[(u64, bool, f64)], s: u64, v: f64) -> f64 {
        summary
            .iter()
            .map(|&(x, _, cost)| {
                if x <= s {
                    cost
                } else {
                    let vx = self.value(x);
                    if v > 0.0 && vx > 0.0 {
                        cost * v / vx
                    } else {
                        0.0
                    }
                }
            })
            .fold(0.0, f64::max)
    }

    /// The `hi` of the nearest build of `g`'s partition that has one, else mid-ladder.
    fn guess(&self, g: &[u64], part: &Part) -> u64 {
        let (range, pos) = (part.0.clone(), part.1);
        let here = self.axis_unit(self.axis_of(g));
        let below = self.groups[range.start..pos]
            .iter()
            .rev()
            .find_map(|(h, o)| o.hi().map(|hi| (self.axis_of(h), hi)));
        let above = self.groups[pos..range.end]
            .iter()
            .find_map(|(h, o)| o.hi().map(|hi| (self.axis_of(h), hi)));
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
            .unwrap_or_else(|| self.lattice.index_at_unit(self.m, 0.5))
    }

    /// Distance along the build axis to the nearest opened group of the partition
    /// (1 when the partition has none): larger gaps are explored first.
    fn gap(&self, g: &[u64], part: &Part) -> f64 {
        let (range, pos) = (part.0.clone(), part.1);
        let here = self.axis_unit(self.axis_of(g));
        [pos.checked_sub(1), Some(pos)]
            .into_iter()
            .flatten()
            .filter(|i| range.contains(i))
            .map(|i| (self.axis_unit(self.axis_of(self.groups[i].0)) - here).abs())
            .fold(1.0, f64::min)
    }

    fn plan(&self, g: &[u64]) -> Plan {
        self.plan_in(g, &self.partition(g))
    }

    /// [`Picture::plan`] with `g`'s partition already found.
    fn plan_in(&self, g: &[u64], part: &Part) -> Plan {
        let empty = GroupObs::default();
        let part = part.clone();
        let obs = self
            .groups
            .get(part.1)
            .filter(|(h, _)| same(h, g))
            .map_or(&empty, |(_, o)| o);
        let hi = obs.hi();
        let own_lo = obs
            .summary
            .iter()
            .rev()
            .find(|c| !c.1 && hi.is_none_or(|h| c.0 < h))
            .map(|c| c.0);
        let inferred = self
            .inferred_floor(g, &part, false)
            .filter(|&f| hi.is_none_or(|h| f < h));
        let lo = own_lo.max(inferred);
        let start = lo.map_or(0, |l| l + 1);
        let end = hi.unwrap_or(self.n);
        let bound = self.cost_bound(g, start, &part) * (1.0 - self.tolerance);
        if start >= end {
            return Plan {
                probe: None,
                bound,
                expected: bound,
            };
        }
        let expected_start = self
            .inferred_floor(g, &part, true)
            .filter(|&f| hi.is_none_or(|h| f < h))
            .map_or(start, |f| start.max(f + 1));
        let expected = (self
            .cost_bound(g, expected_start, &part)
            .max(self.neighbour_estimate(g, expected_start, &part)))
            * (1.0 - self.tolerance);
        let target = match (lo, hi) {
            _ if obs.summary.is_empty() && hi.is_none() => {
                self.guess(g, &part).clamp(start, end - 1)
            }
            (Some(_), Some(_)) => start + (end - 1 - start) / 2,
            (None, Some(h)) => {
                let feasible = obs.summary.iter().filter(|c| c.1).count() as u32;
                h.saturating_sub(1u64 << feasible.saturating_sub(1).min(62))
                    .max(start)
            }
            (_, None) => {
                let infeasible = obs.summary.iter().filter(|c| !c.1).count() as u32;
                let base = lo.unwrap_or(0);
                base.saturating_add(1u64 << infeasible.saturating_sub(1).min(62))
                    .min(end - 1)
            }
        };
        let probe = (0..end - start).find_map(|r| {
            [target.checked_sub(r), target.checked_add(r)]
                .into_iter()
                .flatten()
                .find(|s| (start..end).contains(s) && obs.visited.binary_search(s).is_err())
        });
        Plan {
            probe,
            bound,
            expected,
        }
    }
}

impl Frontier {
    /// The study's noise estimate and the tolerance it gives (or the fixed one).
    fn tolerance(&self, ctx: &ProposalContext<'_>) -> (StudyNoise, f64) {
        let noise = StudyNoise::of_history(ctx.history);
        (
            noise,
            self.config.noise_tolerance.unwrap_or(noise.tolerance()),
        )
    }

    /// The frontier search itself, before the study model's gate.
    fn propose_ungated(
        &self,
        ctx: &ProposalContext<'_>,
        tolerance: f64,
    ) -> Result<Option<Params>, ProposeError> {
        let lattice = Lattice::new(ctx.space);
        let Some(m) = self.monotone_dim(&lattice) else {
            let view = HistoryView::new(&lattice, ctx.history);
            if view.exhausted(&lattice) {
                return Ok(None);
            }
            return Ok(
                first_in_order(&lattice, &view, |p| !view.contains(&lattice, p))
                    .map(|p| lattice.decode(&p)),
            );
        };
        let axis_dim =
            (0..lattice.dims()).find(|&d| d != m && lattice.build[d] && lattice.ordered(d));
        let mut gdims: Vec<usize> = (0..lattice.dims())
            .filter(|&d| d != m && Some(d) != axis_dim)
            .collect();
        gdims.extend(axis_dim);
        // The cache is only an accelerator: when another thread holds it (or a panic
        // poisoned it) this call reads the history afresh, with the same result.
        let (margin, axis) = (self.config.recall_margin, axis_dim.is_some());
        let mut guard = self.cache.try_lock().ok();
        let mut cold = None;
        let derived: &Derived = match guard.as_deref_mut() {
            Some(slot) => {
                let reusable = slot.as_ref().is_some_and(|d| d.reusable(ctx));
                match slot {
                    Some(d) if reusable => d.sync(&lattice, ctx, m, &gdims),
                    _ => *slot = Some(Derived::new(&lattice, ctx, m, &gdims, axis, margin)),
                }
                slot.as_ref()
                    .unwrap_or_else(|| unreachable!("filled above"))
            }
            None => cold.insert(Derived::new(&lattice, ctx, m, &gdims, axis, margin)),
        };
        let view = HistoryView::over(std::borrow::Cow::Borrowed(&derived.index), ctx.history);
        if view.exhausted(&lattice) {
            return Ok(None);
        }
        let mut picture = Picture {
            lattice: &lattice,
            m,
            n: lattice.cards[m],
            global: Envelope::default(),
            gdims,
            groups: Vec::new(),
            ranks: &derived.groups.ranks,
            suffix_infeasible: Vec::new(),
            suffix_missed: Vec::new(),
            axis,
            axis_units: &derived.axis_units,
            tolerance,
        };
        let grouped = &derived.groups;
        let gl = picture.gdims.len();
        let mut starts = (0usize, 0usize);
        picture.groups = grouped
            .ends
            .iter()
            .enumerate()
            .map(|(k, &(v_end, s_end, clearly_infeasible, infeasible))| {
                let obs = GroupObs {
                    visited: &grouped.visited[starts.0..v_end],
                    summary: &grouped.summary[starts.1..s_end],
                    clearly_infeasible,
                    infeasible,
                };
                starts = (v_end, s_end);
                (&grouped.coords[k * gl..(k + 1) * gl], obs)
            })
            .collect();
        let (summary_flat, built) = (&grouped.summary, &grouped.built);
        let cheapest: Vec<(u64, f64)> = if axis {
            // Only spaces without a build axis use the cheapest cost per value.
            Vec::new()
        } else {
            let mut cheapest: Vec<(u64, f64)> = summary_flat.iter().map(|c| (c.0, c.2)).collect();
            cheapest.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            cheapest.dedup_by_key(|c| c.0);
            cheapest
        };
        // The cheapest feasible config, the first one in group order on a tie: one pass
        // over the flat summaries, then the group whose run holds it.
        let mut best_at: Option<(f64, usize)> = None;
        for (j, &(_, feasible, cost)) in summary_flat.iter().enumerate() {
            if feasible && best_at.is_none_or(|(b, _)| cost < b) {
                best_at = Some((cost, j));
            }
        }
        let best: Option<(f64, Point)> = best_at.map(|(cost, j)| {
            let k = grouped.ends.partition_point(|end| end.1 <= j);
            (
                cost,
                picture.point_of(picture.groups[k].0, summary_flat[j].0),
            )
        });
        picture.global = Envelope::new(&cheapest, |s| picture.value(s));
        // Both suffix maxima in one backward pass, pushed in reverse (no zeroed
        // arrays) and turned around.
        let len = picture.groups.len();
        let (mut suffix, mut missed) = (Vec::with_capacity(len), Vec::with_capacity(len));
        let (mut running, mut running_missed): (Option<u64>, Option<u64>) = (None, None);
        for i in (0..len).rev() {
            let same_partition = i + 1 < len && {
                let (a, b) = (&picture.groups[i].0, &picture.groups[i + 1].0);
                !axis || same(&a[..a.len() - 1], &b[..b.len() - 1])
            };
            if !same_partition {
                running = None;
                running_missed = None;
            }
            running = running.max(picture.groups[i].1.clearly_infeasible);
            running_missed = running_missed.max(picture.groups[i].1.infeasible);
            suffix.push(running);
            missed.push(running_missed);
        }
        suffix.reverse();
        missed.reverse();
        picture.suffix_infeasible = suffix;
        picture.suffix_missed = missed;
        let incumbent = best.as_ref().map(|(c, _)| *c);
        let dominated = |bound: f64| incumbent.is_some_and(|c| bound >= c);

        // 1. Keep working on the build of the latest trial while it is worth it.
        if let Some(last) = view.last_point() {
            let g = picture.group_of(last);
            let plan = picture.plan(&g);
            if let Some(s) = plan.probe
                && !dominated(plan.bound)
            {
                let p = picture.point_of(&g, s);
                if fresh(&lattice, &view, &p) {
                    return Ok(Some(lattice.decode(&p)));
                }
            }
        }

        // 2. Rank the candidate groups.
        let mut candidates = GroupSet::new(picture.gdims.len());
        let mut recent = 0usize;
        let mut g: Point = Vec::with_capacity(picture.gdims.len());
        for (p, _) in view.entries().rev() {
            if recent >= self.config.candidate_limit {
                break;
            }
            g.clear();
            g.extend(picture.gdims.iter().map(|&d| p[d]));
            if !candidates.contains(&g) {
                candidates.push(&g);
                recent += 1;
            }
        }
        let axes = &derived.axes;
        unopened_in_order(
            &picture,
            axes,
            self.config.candidate_limit,
            derived.group_count,
            &mut candidates,
        );
        if let Some((_, p)) = &best {
            let g = picture.group_of(p);
            neighbours(&picture, &g, &mut candidates);
        }
        let centre = picture.group_of(&lattice.centre());
        let bucket_width = bucket_width(tolerance);
        let mut choice: Option<(RankKey, Point)> = None;
        for g in candidates.sorted() {
            let part = picture.partition(g);
            let plan = picture.plan_in(g, &part);
            let Some(s) = plan.probe else { continue };
            let (is_dominated, new_build) = (
                dominated(plan.bound),
                built.binary_search(&picture.build_rank(g)).is_err(),
            );
            // The key's first fields already lose to the choice so far: the rest of it
            // cannot change that.
            if choice
                .as_ref()
                .is_some_and(|(k, _)| (k.dominated, k.new_build) < (is_dominated, new_build))
            {
                continue;
            }
            let gap = if picture.groups.is_empty() {
                -centre_distance(&picture, g, &centre)
            } else {
                picture.gap(g, &part)
            };
            let mut tie = Fnv::new();
            tie.write(self.config.seed);
            for &i in g {
                tie.write(i);
            }
            let depth = g
                .iter()
                .zip(axes)
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
                choice = Some((key, picture.point_of(g, s)));
            }
        }
        if let Some((_, p)) = choice
            && fresh(&lattice, &view, &p)
        {
            return Ok(Some(lattice.decode(&p)));
        }

        // 3. Every candidate is resolved: the nearest unvisited config to the incumbent.
        let anchor = best
            .map(|(_, p)| p)
            .or_else(|| view.last_point().map(<[u64]>::to_vec))
            .unwrap_or_else(|| lattice.centre());
        Ok(nearest_unvisited(&lattice, &view, &anchor).map(|p| lattice.decode(&p)))
    }
}

impl Proposer for Frontier {
    fn name(&self) -> &str {
        "frontier"
    }

    fn propose(&self, ctx: &ProposalContext<'_>) -> Result<Option<Params>, ProposeError> {
        let (noise, tolerance) = self.tolerance(ctx);
        let Some(proposal) = self.propose_ungated(ctx, tolerance)? else {
            return Ok(None);
        };
        // The gate only judges new builds, so a config on a build already in the history
        // (most proposals: search-time moves) skips the model. The newest trials are
        // looked at first, since Frontier mostly continues the latest build.
        if !self.config.gate_builds || on_a_built_group(ctx, &proposal) {
            return Ok(Some(proposal));
        }
        let model = assess_with(ctx, noise, tolerance);
        if !model.modelled || !model.opens_new_group(&proposal) {
            return Ok(Some(proposal));
        }
        // A new build: search-time moves on existing builds come first, and a build the
        // model does not expect to gain more than the noise gives way to one it does.
        let search_move = model.promising.iter().find(|c| !c.new_build);
        if let Some(c) = search_move {
            return Ok(Some(c.params.clone()));
        }
        // A build no measurement could tell from one already made gives way to what
        // the model finds promising, when it finds anything.
        if model.indistinguishable_from_touched(&proposal)
            && let Some(c) = model.promising.first()
        {
            return Ok(Some(c.params.clone()));
        }
        Ok(Some(proposal))
    }

    fn convergence(&self, ctx: &ProposalContext<'_>) -> Option<Convergence> {
        let (noise, tolerance) = self.tolerance(ctx);
        assess_with(ctx, noise, tolerance).converged()
    }
}

/// True when a trial of the history, inside the space, has the same parameters as
/// `params` apart from `ef_search`: the config needs no new build.
fn on_a_built_group(ctx: &ProposalContext<'_>, params: &Params) -> bool {
    let same_group = |other: &Params| {
        other.len() == params.len()
            && other
                .iter()
                .zip(params.iter())
                .all(|((a, va), (b, vb))| a == b && (a == EF_SEARCH || va == vb))
    };
    ctx.history
        .iter()
        .rev()
        .any(|t| same_group(&t.params) && ctx.space.contains(&t.params))
}

/// Bounds within one noise tolerance of each other share a bucket, so that the
/// coarse-to-fine order, not noise, decides between them.
/// `width` is [`bucket_width`] of the tolerance.
fn bucket(bound: f64, width: f64) -> i64 {
    if bound <= 0.0 || !bound.is_finite() {
        return i64::MIN;
    }
    (bound.ln() / width).floor() as i64
}

/// The width of a [`bucket`] in log space, computed once per call.
fn bucket_width(tolerance: f64) -> f64 {
    (1.0 + tolerance.max(0.01)).ln()
}

/// Groups are ranked coarse to fine by the dyadic depth of their coordinates (see
/// [`crate::Grid`]) up to this depth; finer ones share the next depth.
const DEPTH_CAP: u32 = 6;

/// Distance in unit coordinates (L∞; a differing label counts 1) from `g` to `centre`.
fn centre_distance(picture: &Picture<'_, '_>, g: &[u64], centre: &[u64]) -> f64 {
    g.iter()
        .zip(centre)
        .enumerate()
        .map(|(k, (&x, &y))| {
            let d = picture.dim(k);
            if picture.lattice.ordered(d) {
                (picture.lattice.unit(d, x) - picture.lattice.unit(d, y)).abs()
            } else if x == y {
                0.0
            } else {
                1.0
            }
        })
        .fold(0.0, f64::max)
}

/// True when `p` lies in the lattice and is not in the history: the last check before a
/// probe is returned, so that a bookkeeping slip degrades to the fallback scan rather
/// than to a repeated config.
fn fresh(lattice: &Lattice<'_>, view: &HistoryView<'_>, p: &[u64]) -> bool {
    p.iter().zip(&lattice.cards).all(|(&i, &c)| i < c) && !view.contains(lattice, p)
}

/// The build-time dims of a lattice with their cardinalities, listed once, to rank the
/// build of many points.
struct BuildDims(Vec<(usize, u128)>);

impl BuildDims {
    fn of(lattice: &Lattice<'_>) -> Self {
        BuildDims(
            (0..lattice.dims())
                .filter(|&d| lattice.build[d])
                .map(|d| (d, u128::from(lattice.cards[d])))
                .collect(),
        )
    }

    /// The mixed-radix rank of the build-time coordinates of point `p`.
    #[inline]
    fn rank(&self, p: &[u64]) -> u128 {
        match self.0[..] {
            [(d, _)] => u128::from(p[d]),
            _ => self.0.iter().fold(0u128, |acc, &(d, card)| {
                acc.wrapping_mul(card).wrapping_add(u128::from(p[d]))
            }),
        }
    }
}

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

/// Adds up to `limit` groups the history has not opened, in coarse-to-fine order over
/// the group coordinates.
/// `axes` are the group coordinates' orders, extended to [`DEPTH_CAP`]; `group_count` is
/// [`Derived`]'s count of groups in the space.
fn unopened_in_order(
    picture: &Picture<'_, '_>,
    axes: &[AxisOrder],
    limit: usize,
    group_count: Option<u64>,
    out: &mut GroupSet,
) {
    let dims = picture.gdims.len();
    if dims == 0 {
        out.push(&[]);
        return;
    }
    // The opened groups as a bitmap of ranks when the space has few groups: the scan
    // asks about many groups, and a bit costs less than a search of the ranks.
    let groups = group_count.filter(|&n| n <= 1 << 16);
    let opened: Option<Vec<u64>> = groups.map(|n| {
        let mut bits = vec![0u64; n.div_ceil(64) as usize];
        for &r in picture.ranks {
            bits[(r / 64) as usize] |= 1 << (r % 64);
        }
        bits
    });
    let is_opened = |g: &[u64]| match &opened {
        Some(bits) => {
            let r = picture.rank(g);
            bits[(r / 64) as usize] & (1 << (r % 64)) != 0
        }
        None => picture.obs(g).is_some(),
    };
    let mut found = 0usize;
    let mut depth = 0u32;
    let mut scanned = 0usize;
    if let [axis] = axes {
        // One coordinate: the values of depth `depth` are the last ones its order
        // added, so each depth reads only those (the general scan below visits the
        // same values in the same order, skipping the shallower ones).
        loop {
            let from = depth.checked_sub(1).map_or(0, |d| axis.up_to(d).len());
            for &i in &axis.up_to(depth)[from..] {
                scanned += 1;
                if !is_opened(&[i]) {
                    out.push(&[i]);
                    found += 1;
                    if found >= limit {
                        return;
                    }
                }
            }
            if axis.complete_at(depth)
                || scanned > picture.groups.len() + 4 * limit
                || depth >= DEPTH_CAP
            {
                return;
            }
            depth += 1;
        }
    }
    let mut g: Point = vec![0; dims];
    loop {
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
                if !is_opened(&g) {
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
        if axes.iter().all(|a| a.complete_at(depth))
            || scanned > picture.groups.len() + 4 * limit
            || depth >= DEPTH_CAP
        {
            return;
        }
        depth += 1;
    }
}

/// `a == b` for the short coordinate tuples of groups, compared in place: the slice
/// `==` calls `memcmp`, which costs more than the few words it compares.
#[inline]
fn same(a: &[u64], b: &[u64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
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
            coords: Vec::with_capacity(128 * width),
            len: 0,
        }
    }

    fn get(&self, i: usize) -> &[u64] {
        &self.coords[i * self.width..(i + 1) * self.width]
    }

    fn contains(&self, g: &[u64]) -> bool {
        if self.width == 1 && g.len() == 1 {
            return self.coords.contains(&g[0]);
        }
        (0..self.len).any(|i| same(self.get(i), g))
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
        if self.width == 1 {
            // Single coordinates: compare the values themselves.
            order.sort_unstable_by_key(|&i| self.coords[i]);
            order.dedup_by_key(|i| self.coords[*i]);
        } else {
            order.sort_unstable_by(|&a, &b| self.get(a).cmp(self.get(b)));
            order.dedup_by(|a, b| same(self.get(*a), self.get(*b)));
        }
        order.into_iter().map(|i| self.get(i))
    }
}

/// Adds the groups 1, 2, 4, ... steps from `g` along each ordered coordinate, and every
/// other label of each categorical one.
fn neighbours(picture: &Picture<'_, '_>, g: &[u64], out: &mut GroupSet) {
    for k in 0..g.len() {
        let d = picture.dim(k);
        let card = picture.lattice.cards[d];
        if picture.lattice.ordered(d) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AnalyticLandscape;
    use hnswtune_core::TrialState;

    /// A history of `len` trials chosen by a fresh Frontier on `landscape`.
    fn run(landscape: &crate::Landscape, seed: u64, min_recall: f64, len: usize) -> Vec<Trial> {
        let objective = Objective::new(min_recall).unwrap();
        let mut replay = landscape.replay(seed);
        let mut history = Vec::new();
        for _ in 0..len {
            let ctx = ProposalContext {
                space: landscape.space(),
                history: &history,
                champion: objective.best(&history),
                objective: &objective,
            };
            let Some(params) = Frontier::seeded(seed).propose(&ctx).unwrap() else {
                break;
            };
            history.push(replay.trial(&params, "frontier").unwrap());
        }
        history
    }

    fn running(trial: &Trial) -> Trial {
        let mut t = trial.clone();
        t.state = TrialState::Running;
        t.metrics = None;
        t
    }

    /// The cache changes nothing: a proposer that saw other histories before (longer,
    /// shorter, from another run, with a trial still running, with another objective)
    /// proposes what a fresh one proposes, call after call.
    #[test]
    fn a_warm_cache_proposes_what_a_fresh_proposer_does() {
        let landscape = AnalyticLandscape::default().build().unwrap();
        let a = run(&landscape, 3, 0.95, 40);
        let b = run(&landscape, 4, 0.90, 30);
        assert!(a.len() >= 30 && b.len() >= 20);
        let mut histories: Vec<(Vec<Trial>, f64)> = Vec::new();
        for k in 0..a.len() {
            // Grows by one, then the latest trial is seen running before it completes.
            if k > 0 {
                let mut h = a[..k - 1].to_vec();
                h.push(running(&a[k - 1]));
                histories.push((h, 0.95));
            }
            histories.push((a[..k].to_vec(), 0.95));
            if k % 7 == 3 {
                // Another run, another objective, then a shorter and a longer prefix.
                histories.push((b[..k.min(b.len())].to_vec(), 0.90));
                histories.push((a[..k / 2].to_vec(), 0.95));
                histories.push((a[..(k + 20).min(a.len())].to_vec(), 0.95));
                histories.push((a[..k].to_vec(), 0.90));
            }
        }
        // A trial in the middle that measured differently.
        let mut changed = a.clone();
        if let Some(m) = changed[10].metrics.as_mut() {
            m.recall = 0.5;
        }
        histories.push((changed, 0.95));
        histories.push((a.clone(), 0.95));
        let warm = Frontier::seeded(3);
        for (i, (history, min_recall)) in histories.iter().enumerate() {
            let objective = Objective::new(*min_recall).unwrap();
            let ctx = ProposalContext {
                space: landscape.space(),
                history,
                champion: objective.best(history),
                objective: &objective,
            };
            let fresh = Frontier::seeded(3).propose(&ctx).unwrap();
            assert_eq!(
                warm.propose(&ctx).unwrap(),
                fresh,
                "call {i}: a history of {} trials at {min_recall}",
                history.len()
            );
        }
    }

    /// The counting sort of the keys gives what a comparison sort gives, with repeated
    /// configs, empty groups and every group in use.
    #[test]
    fn counting_sort_matches_a_comparison_sort() {
        let mut state = 7u64;
        let mut next = |bound: u64| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) % bound
        };
        for (groups, card, len) in [(1, 1, 5), (3, 2, 40), (391, 191, 1000), (50, 7, 300)] {
            let entries: Vec<Entry> = (0..len)
                .map(|_| Entry {
                    group: u128::from(next(groups)),
                    s: next(card),
                    measured: None,
                })
                .collect();
            let mut want: Vec<u64> = (0..entries.len())
                .map(|e| key_of(&entries[e], e, card) as u64)
                .collect();
            want.sort_unstable();
            let got = counting_sorted_keys(&entries, groups as usize, card);
            assert_eq!(got, want, "{groups} groups, {card} values, {len} entries");
        }
    }

    /// The incremental path gives the same derived state as a fresh read: entries,
    /// keys and the digest that seeds tie-breaks.
    #[test]
    fn sync_matches_a_fresh_read() {
        let landscape = AnalyticLandscape::default().build().unwrap();
        let a = run(&landscape, 5, 0.95, 40);
        let objective = Objective::new(0.95).unwrap();
        let lattice = Lattice::new(landscape.space());
        let frontier = Frontier::seeded(5);
        let m = frontier.monotone_dim(&lattice).unwrap();
        let gdims: Vec<usize> = (0..lattice.dims()).filter(|&d| d != m).collect();
        fn ctx_of<'a>(
            landscape: &'a crate::Landscape,
            objective: &'a Objective,
            history: &'a [Trial],
        ) -> ProposalContext<'a> {
            ProposalContext {
                space: landscape.space(),
                history,
                champion: None,
                objective,
            }
        }
        let ctx_of = |history| ctx_of(&landscape, &objective, history);
        let mut derived = Derived::new(&lattice, &ctx_of(&a[..25]), m, &gdims, true, 0.005);
        let grown: Vec<&[Trial]> = (26..32).map(|k| &a[..k]).collect();
        for history in
            grown
                .into_iter()
                .chain([&a[..10], &a[..], &a[..3], &a[..30], &a[..31], &a[..33]])
        {
            derived.sync(&lattice, &ctx_of(history), m, &gdims);
            let fresh = Derived::new(&lattice, &ctx_of(history), m, &gdims, true, 0.005);
            assert_eq!(derived.keys, fresh.keys);
            assert_eq!(derived.groups, fresh.groups);
            assert_eq!(derived.stamps, fresh.stamps);
            let view = |d: &Derived| {
                let v = HistoryView::over(std::borrow::Cow::Owned(d.index.clone()), history);
                (
                    v.digest,
                    v.visited_len(),
                    v.entries().map(|(p, _)| p.to_vec()).collect::<Vec<_>>(),
                    v.visited_points().map(<[u64]>::to_vec).collect::<Vec<_>>(),
                )
            };
            assert_eq!(view(&derived), view(&fresh));
        }
    }
}
