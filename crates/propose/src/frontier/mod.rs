//! Frontier search: bisect each build for its cheapest feasible `ef_search`, and open
//! only the builds that measured neighbours cannot prove dominated.
//!
//! ## What it models
//!
//! A study looks for the cheapest config (by the objective's cost, search latency by
//! default) whose recall meets a floor. In an HNSW index recall and latency both grow
//! with `ef_search`, and mostly with `ef_construction` too. Frontier takes that
//! structure as its model of the landscape. The ordered search-time parameter is the
//! *monotone* one (`ef_search` by default), and everything else about a config is its
//! *group*: its build, plus any other search-time parameters. Within a group the best
//! config is the smallest monotone value that meets the floor. The first ordered
//! build-time parameter (`ef_construction`) is the *build axis*, and groups that differ
//! only along it form a *partition*, ordered by it.
//!
//! ## Why bisection
//!
//! Since recall only grows with the monotone value, a group's optimum sits at the
//! boundary between infeasible and feasible values, and each measurement halves the
//! range it can be in. So a group needs a bisection, not a sweep: about `log2(n)`
//! search-time probes on one build instead of `n`. A fresh group has no bracket yet, so
//! it starts where its nearest measured neighbour build found its boundary, and
//! gallops (1, 2, 4, ... steps) until it has one. Recall also grows along the build
//! axis, so a value that a larger build clearly missed the floor at is infeasible for
//! smaller builds as well: one build's measurements narrow the brackets of others.
//!
//! ## Dominance
//!
//! Latency grows with the monotone value and is affine in it with a non-negative
//! intercept, so a group's measurements give a lower bound on what its optimum can
//! cost, and the smaller build next to it gives one too. A group is *dominated* when
//! that bound, lowered by the noise tolerance, already reaches the cost of the
//! incumbent (the cheapest feasible config measured): it cannot beat it, so it is not
//! worth a build. This is the operating-point pruning of FAISS, carried across builds
//! by the inferred brackets and the build-axis bound.
//!
//! ## How candidates are ranked
//!
//! A call first continues the group of the latest trial while it is unresolved and not
//! dominated: its build exists, so its probes are cheap search-time moves. Otherwise it
//! ranks candidate groups: not dominated first, then groups whose build exists, then by
//! expected cost and by bound (costs within one noise tolerance count as equal), then
//! coarse to fine over the space, then by distance to the nearest opened build, then a
//! seeded tie-break. Dominance and monotonicity only order the search: a dominated
//! group is ranked last, never discarded, and when no candidate is left the unvisited
//! config nearest the incumbent is proposed, so noise costs trials but never hides a
//! config forever. Without an ordered search-time parameter there is nothing to bisect,
//! and the strategy visits the space in [`crate::Grid`]'s coarse-to-fine order.
//!
//! When [`FrontierConfig::gate_builds`] is set, the study model of [`crate::assess`]
//! then checks each new build the search proposes (see the field's docs).
//!
//! ## Layout
//!
//! - `model.rs`: the history read as groups (the sorted pass, averaged repeats,
//!   feasibility) and the partitions, incumbent and inferred misses derived from it.
//! - `bounds.rs`: a group's bracket, its next probe, its lower bound and expected cost.
//! - `ranking.rs`: the candidate groups and the order they are tried in.
//! - this file: the settings, the [`Frontier`] type and its [`Proposer`] impl.
//!
//! Source: the operating-point pruning of FAISS (Johnson, Douze and Jégou,
//! "Billion-scale similarity search with GPUs", 2017; `faiss/AutoTune.cpp`,
//! `ParameterSpace::explore`), combined with bisection and galloping search (Bentley
//! and Yao, "An almost optimal algorithm for unbounded searching", 1976).
//!
//! ## Invariants
//!
//! - `noise_tolerance ∈ [0, 1)`, `recall_margin ∈ [0, 1)` and `candidate_limit ≥ 1`,
//!   checked at construction.
//! - A proposal is a pure function of the settings, the space and the history.
//! - Every probe is an unvisited point of the space; `None` only when the space is
//!   exhausted.

mod bounds;
mod model;
mod ranking;

use crate::convergence::{Convergence, assess_with};
use crate::grid::first_in_order;
use crate::lattice::{HistoryView, Lattice, nearest_unvisited};
use crate::noise::StudyNoise;
use crate::{ProposalContext, ProposeError, Proposer};
use hnswtune_core::{EF_SEARCH, Params, SearchSpace};
use model::{Groups, Layout, Picture};

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
    /// promising config. Once the study holds `1 + 2 ×` (its build axes) builds (the
    /// first and one on each side along each axis), a build the model does not find
    /// promising gives way to one it does: the first builds are Frontier's to explore
    /// with, the later ones must be expected to gain more than the noise, so the study
    /// reaches the model's stop instead of wandering past it.
    /// `false` gives the bare frontier search.
    ///
    /// Gating every build from the first (a stricter gate) was replayed and stopped
    /// after 2–3 builds with champions up to 1.45× the optimum (docs/stopping.md,
    /// "Tried and not kept").
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
#[derive(Clone, Debug)]
pub struct Frontier {
    config: FrontierConfig,
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
        Ok(Frontier { config })
    }

    /// The default settings with `seed`.
    pub fn seeded(seed: u64) -> Self {
        Frontier {
            config: FrontierConfig {
                seed,
                ..FrontierConfig::default()
            },
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &FrontierConfig {
        &self.config
    }

    /// The dim to bisect: the configured one, else `ef_search`, else the first ordered
    /// search-time dim.
    fn monotone_dim(&self, lattice: &Lattice<'_>) -> Option<usize> {
        let usable = |d: usize| !lattice.build[d] && lattice.ordered(d);
        let named =
            |name: &str| (0..lattice.dims()).find(|&d| lattice.spec(d).name == name && usable(d));
        match &self.config.monotone_param {
            Some(name) => named(name),
            None => named(EF_SEARCH).or_else(|| (0..lattice.dims()).find(|&d| usable(d))),
        }
    }

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
        let view = HistoryView::new(&lattice, ctx.history);
        if view.exhausted(&lattice) {
            return Ok(None);
        }
        let Some(m) = self.monotone_dim(&lattice) else {
            return Ok(
                first_in_order(&lattice, &view, |p| !view.contains(&lattice, p))
                    .map(|p| lattice.decode(&p)),
            );
        };
        let layout = Layout::new(&lattice, m);
        let groups = Groups::read(&lattice, &layout, &view, ctx, self.config.recall_margin);
        let picture = Picture::new(&lattice, &layout, &groups, tolerance);
        let dominated = |bound: f64| {
            picture
                .incumbent
                .as_ref()
                .is_some_and(|incumbent| bound >= incumbent.cost)
        };
        let fresh = |p: &[u64]| {
            p.iter().zip(&lattice.cards).all(|(&i, &c)| i < c) && !view.contains(&lattice, p)
        };

        // 1. Keep working on the build of the latest trial while it is worth it.
        if let Some(last) = view.last_point() {
            let g = layout.group_of(last);
            let plan = picture.plan(&g);
            if let Some(s) = plan.probe
                && !dominated(plan.bound)
            {
                let p = layout.point_of(&g, s);
                if fresh(&p) {
                    return Ok(Some(lattice.decode(&p)));
                }
            }
        }

        // 2. The best-ranked candidate group. `fresh` is the last check before a probe
        // is returned, so that a bookkeeping slip degrades to the fallback scan rather
        // than to a repeated config.
        if let Some(p) = ranking::best_candidate(
            &picture,
            &view,
            self.config.seed,
            self.config.candidate_limit,
        ) && fresh(&p)
        {
            return Ok(Some(lattice.decode(&p)));
        }

        // 3. Every candidate is resolved: the nearest unvisited config to the incumbent.
        let anchor = picture
            .incumbent
            .map(|incumbent| incumbent.point)
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
        // A build no measurement could tell from one already made, and past the free
        // builds one the model does not find promising, gives way to what the model
        // finds promising, when it finds anything.
        let explored = model.builds >= free_builds(ctx.space);
        if (model.indistinguishable_from_touched(&proposal)
            || (explored && !model.group_is_promising(&proposal)))
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

/// How many builds Frontier opens by its own ranking before every further build must
/// be one the study model finds promising: the first build and one on each side of it
/// along every build axis, the picture the model itself asks for around a first good
/// build (3 for instant-distance's ef_construction, 5 with usearch's `m` as well).
fn free_builds(space: &SearchSpace) -> usize {
    1 + 2 * space.build_specs().count()
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

#[cfg(test)]
mod tests {
    use super::model::fixture;
    use super::*;
    use hnswtune_core::Objective;

    /// The latest trial's build is continued while its bracket is open and it is not
    /// dominated: build 15 bisects between 12 and 20, though its latest trial (at 25)
    /// is still running.
    #[test]
    fn the_latest_build_is_continued() {
        let (space, history) = (fixture::space(), fixture::history());
        let objective = Objective::new(0.95).unwrap();
        let ctx = ProposalContext {
            space: &space,
            history: &history,
            champion: None,
            objective: &objective,
        };
        let frontier = Frontier::new(FrontierConfig {
            noise_tolerance: Some(0.0),
            ..FrontierConfig::default()
        })
        .unwrap();
        assert_eq!(
            frontier.propose(&ctx).unwrap(),
            Some(fixture::params(15, 16))
        );
    }

    /// Past the free builds, every build Frontier opens is one the study model finds
    /// promising, whenever the model finds any: replayed on the recording of the
    /// default space (10 seeds at 0.95, until the stop).
    #[test]
    fn past_the_free_builds_only_promising_builds_are_opened() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../landscapes/minilm-20k-default.jsonl");
        let landscape = crate::Landscape::load(path).unwrap();
        let objective = Objective::new(0.95).unwrap();
        let mut gated = 0;
        for seed in 0..10 {
            let frontier = Frontier::new(FrontierConfig {
                seed,
                ..FrontierConfig::default()
            })
            .unwrap();
            let mut replay = landscape.replay(seed);
            let mut history = Vec::new();
            for _ in 0..40 {
                let ctx = ProposalContext {
                    space: landscape.space(),
                    history: &history,
                    champion: objective.best(&history),
                    objective: &objective,
                };
                if frontier.convergence(&ctx).is_some() {
                    break;
                }
                let Some(params) = frontier.propose(&ctx).unwrap() else {
                    break;
                };
                let model = crate::assess(&ctx);
                if model.opens_new_group(&params)
                    && model.builds >= free_builds(ctx.space)
                    && !model.promising.is_empty()
                {
                    assert!(
                        model.group_is_promising(&params),
                        "seed {seed}: {params} opened past {} builds; the model offered {:?}",
                        model.builds,
                        model.promising
                    );
                    gated += 1;
                }
                history.push(replay.trial(&params, "frontier").unwrap());
            }
        }
        assert!(gated > 0, "no replay opened a build past the free ones");
    }
}
