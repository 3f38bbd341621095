//! The promotion rules, as pure functions.
//!
//! A completed trial (the challenger) becomes champion only through these steps, in
//! order:
//!
//! 1. **Floor and budgets** ([`screen`]): the challenger's own metrics must be
//!    [`Objective::feasible`]: recall ≥ the floor (the larger of the agent's and the
//!    objective's `min_recall`) and within the size and build-time budgets. Never
//!    waived.
//! 2. **No champion**: a feasible challenger becomes the first champion.
//! 3. **Pre-filter** ([`screen`]): when the champion has metrics measured on the same
//!    data fingerprint, a challenger that is clearly worse on them is kept out of the
//!    re-measurement. When minimising p50, clearly worse means a recorded p50 above the
//!    champion's by more than the `noise_margin`: anything closer may be a gain that one
//!    noisy measurement hid, and the interleaved re-measurement, which measures p50, is
//!    what tells. For the other costs the challenger must [`Objective::beats`] the
//!    champion's metrics. Metrics from other data are never compared; without same-data
//!    metrics, the step is skipped.
//! 4. **Interleaved re-measurement** ([`judge`]): champion and challenger are measured
//!    again, alternately, in one run ([`hnswtune_core::Evaluator::compare`]). Then:
//!    - the challenger's re-measured recall must still meet the floor;
//!    - if the champion's re-measured recall is below the floor, a feasible challenger
//!      wins (the champion is no longer acceptable);
//!    - when minimising p50 and the challenger searches **the champion's own build with
//!      a lower `ef_search`** ([`Relation::SameBuildLowerEf`]): it wins when its
//!      re-measured median p50 is no higher than the champion's. On one graph a lower
//!      `ef_search` visits fewer nodes, so it cannot be slower except by noise, and the
//!      recall it keeps is exact on that graph; the re-measurement only has to not
//!      contradict that. Step 3 sends such a challenger to the re-measurement whatever
//!      its recorded p50;
//!    - when minimising p50 otherwise: the challenger wins when
//!      [`AbComparison::challenger_faster`] holds with the objective's `noise_margin`
//!      (3% by default): its median p50 is at least that fraction lower **and** its
//!      slowest repeat is faster than the champion's fastest, so the gain lies outside
//!      the spread of the repeats;
//!    - otherwise, when the challenger's median is no higher than the champion's (a
//!      latency tie), a recall higher by more than [`RECALL_TIE_EPSILON`] wins: the
//!      core's tie rule, which never lets a slower challenger win on recall;
//!    - when minimising another cost (p95, build time), which the comparison does not
//!      measure, the challenger wins only if it beats the champion's same-data recorded
//!      metrics and its re-measured median p50 is no worse than the margin allows.
//!    - Anything else keeps the champion.

use hnswtune_core::{
    AbComparison, EF_SEARCH, Minimize, Objective, Params, RECALL_TIE_EPSILON, SearchSpace,
    TrialMetrics,
};
use serde::{Deserialize, Serialize};

/// Why a challenger was promoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PromoteRule {
    /// There was no champion.
    FirstChampion,
    /// The champion's re-measured recall is below the floor.
    ChampionInfeasible,
    /// Faster beyond the noise margin and the spread of the repeats.
    Faster,
    /// The champion's own build with a lower `ef_search`, and not slower when
    /// re-measured.
    LowerEfSameBuild,
    /// Latency within the margin, recall higher by more than the tie epsilon.
    RecallTie,
    /// Lower cost (p95 or build time) on same-data metrics, p50 not worse.
    LowerCost,
}

/// Why the champion was kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeepReason {
    /// The challenger's recall is below the floor, or it breaks a budget.
    Infeasible,
    /// The challenger does not beat the champion's same-data recorded metrics.
    NotBetterThanRecorded,
    /// The challenger's recall fell below the floor when re-measured.
    BelowFloorOnRemeasure,
    /// The difference lies within the measured noise.
    WithinNoise,
    /// The comparison could not be run (the error is reported separately).
    ComparisonFailed,
    /// Other writers promoted first at every attempt: the champion kept moving while
    /// this trial was judged. The trial stays recorded; the champion is theirs.
    Contended,
}

/// The outcome of [`screen`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Keep the champion without re-measuring.
    Keep(KeepReason),
    /// Promote: there is no champion.
    Promote(PromoteRule),
    /// Re-measure both and call [`judge`].
    Compare,
}

/// A promotion decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", content = "rule", rename_all = "snake_case")]
pub enum Verdict {
    /// Promote the challenger.
    Promote(PromoteRule),
    /// Keep the champion.
    Keep(KeepReason),
}

/// How a challenger's config relates to the champion's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relation {
    /// Both search one build (the same build-time values and build seed), every other
    /// search-time value is equal, and the challenger's `ef_search` is lower.
    SameBuildLowerEf,
    /// Anything else: another build, or another search-time move.
    Other,
}

/// A config of a study: its values and the seed of the build it searches.
#[derive(Clone, Copy, Debug)]
pub struct BuiltConfig<'a> {
    /// The config's values.
    pub params: &'a Params,
    /// The seed its build was (or will be) made with.
    pub seed: u64,
}

impl Relation {
    /// How `challenger` relates to `champion` in `space`.
    ///
    /// ```
    /// use hnswtune_agent::rules::{BuiltConfig, Relation};
    /// use hnswtune_core::{SearchSpace, EF_SEARCH};
    ///
    /// let space = SearchSpace::hnsw();
    /// let champion = space.default_params().with(EF_SEARCH, 13);
    /// let lower = champion.clone().with(EF_SEARCH, 11);
    /// let of = |params, seed| BuiltConfig { params, seed };
    /// assert_eq!(Relation::of(&space, of(&champion, 7), of(&lower, 7)), Relation::SameBuildLowerEf);
    /// // Another build seed is another build.
    /// assert_eq!(Relation::of(&space, of(&champion, 7), of(&lower, 8)), Relation::Other);
    /// ```
    pub fn of(space: &SearchSpace, champion: BuiltConfig<'_>, challenger: BuiltConfig<'_>) -> Self {
        let same_build = champion.seed == challenger.seed
            && space.build_key(champion.params) == space.build_key(challenger.params);
        let others_equal = space
            .search_specs()
            .filter(|s| s.name != EF_SEARCH)
            .all(|s| champion.params.get(&s.name) == challenger.params.get(&s.name));
        let lower_ef = match (
            challenger.params.int(EF_SEARCH),
            champion.params.int(EF_SEARCH),
        ) {
            (Some(new), Some(old)) => new < old,
            _ => false,
        };
        if same_build && others_equal && lower_ef {
            Relation::SameBuildLowerEf
        } else {
            Relation::Other
        }
    }
}

/// Steps 1 to 3 of the module's rules, on recorded metrics only.
pub fn screen(
    objective: &Objective,
    challenger: &TrialMetrics,
    relation: Relation,
    has_champion: bool,
    champion_same_data: Option<&TrialMetrics>,
) -> Screen {
    if !objective.feasible(challenger) {
        return Screen::Keep(KeepReason::Infeasible);
    }
    if !has_champion {
        return Screen::Promote(PromoteRule::FirstChampion);
    }
    let Some(champion) = champion_same_data else {
        return Screen::Compare;
    };
    let could_win = match objective.minimize {
        // The re-measurement measures p50, interleaved, which resolves differences a
        // single recorded p50 cannot: everything not clearly slower goes to it.
        Minimize::P50 => {
            relation == Relation::SameBuildLowerEf
                || !objective.feasible(champion)
                || objective.cost(challenger)
                    < objective.cost(champion) * (1.0 + objective.noise_margin)
        }
        Minimize::P95 | Minimize::BuildSecs => objective.beats(challenger, Some(champion)),
    };
    if could_win {
        Screen::Compare
    } else {
        Screen::Keep(KeepReason::NotBetterThanRecorded)
    }
}

/// Step 4 of the module's rules, on an interleaved re-measurement.
pub fn judge(
    objective: &Objective,
    challenger: &TrialMetrics,
    relation: Relation,
    champion_same_data: Option<&TrialMetrics>,
    ab: &AbComparison,
) -> Verdict {
    let floor = objective.min_recall;
    if !objective.feasible(challenger) {
        return Verdict::Keep(KeepReason::Infeasible);
    }
    if ab.challenger_recall.is_nan() || ab.challenger_recall < floor {
        return Verdict::Keep(KeepReason::BelowFloorOnRemeasure);
    }
    if ab.champion_recall < floor {
        return Verdict::Promote(PromoteRule::ChampionInfeasible);
    }
    let margin = objective.noise_margin;
    let latency_tie = ab.challenger_median_us() <= ab.champion_median_us() * (1.0 + margin);
    match objective.minimize {
        Minimize::P50 => {
            if relation == Relation::SameBuildLowerEf
                && ab.challenger_median_us() <= ab.champion_median_us()
            {
                Verdict::Promote(PromoteRule::LowerEfSameBuild)
            } else if ab.challenger_faster(margin) {
                Verdict::Promote(PromoteRule::Faster)
            } else if ab.challenger_median_us() <= ab.champion_median_us()
                && ab.challenger_recall > ab.champion_recall + RECALL_TIE_EPSILON
            {
                Verdict::Promote(PromoteRule::RecallTie)
            } else {
                Verdict::Keep(KeepReason::WithinNoise)
            }
        }
        Minimize::P95 | Minimize::BuildSecs => match champion_same_data {
            Some(champion) if latency_tie && objective.beats(challenger, Some(champion)) => {
                Verdict::Promote(PromoteRule::LowerCost)
            }
            _ => Verdict::Keep(KeepReason::WithinNoise),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(recall: f64, p50: f64) -> TrialMetrics {
        hnswtune_testkit::conformance::metrics(recall, p50)
    }

    fn ab(champion: &[f64], challenger: &[f64], rc: f64, rn: f64) -> AbComparison {
        AbComparison {
            champion_p50_us: champion.to_vec(),
            challenger_p50_us: challenger.to_vec(),
            champion_recall: rc,
            challenger_recall: rn,
        }
    }

    #[test]
    fn screen_applies_the_floor_first_and_the_prefilter_on_same_data_only() {
        let o = Objective::new(0.9).unwrap();
        assert_eq!(
            screen(&o, &m(0.85, 1.0), Relation::Other, false, None),
            Screen::Keep(KeepReason::Infeasible)
        );
        assert_eq!(
            screen(&o, &m(0.95, 100.0), Relation::Other, false, None),
            Screen::Promote(PromoteRule::FirstChampion)
        );
        assert_eq!(
            screen(
                &o,
                &m(0.95, 100.0),
                Relation::Other,
                true,
                Some(&m(0.95, 50.0))
            ),
            Screen::Keep(KeepReason::NotBetterThanRecorded)
        );
        assert_eq!(
            screen(&o, &m(0.95, 100.0), Relation::Other, true, None),
            Screen::Compare
        );
        assert_eq!(
            screen(
                &o,
                &m(0.95, 51.0),
                Relation::Other,
                true,
                Some(&m(0.95, 50.0))
            ),
            Screen::Compare,
            "a p50 within the margin of the champion's may hide a gain: re-measure"
        );
        assert_eq!(
            screen(
                &o,
                &m(0.95, 52.0),
                Relation::Other,
                true,
                Some(&m(0.95, 50.0))
            ),
            Screen::Keep(KeepReason::NotBetterThanRecorded),
            "clearly slower (4% > the 3% margin)"
        );
        let p95 = Objective {
            minimize: Minimize::P95,
            ..Objective::new(0.9).unwrap()
        };
        assert_eq!(
            screen(
                &p95,
                &m(0.95, 51.0),
                Relation::Other,
                true,
                Some(&m(0.95, 50.0))
            ),
            Screen::Keep(KeepReason::NotBetterThanRecorded),
            "costs the re-measurement does not measure must beat the recorded ones"
        );
        assert_eq!(
            screen(
                &o,
                &m(0.95, 40.0),
                Relation::Other,
                true,
                Some(&m(0.95, 50.0))
            ),
            Screen::Compare
        );
    }

    #[test]
    fn judge_requires_a_gain_outside_the_noise() {
        let o = Objective::new(0.9).unwrap();
        let c = m(0.95, 80.0);
        let faster = ab(&[100.0, 101.0, 99.0], &[80.0, 81.0, 82.0], 0.95, 0.95);
        assert_eq!(
            judge(&o, &c, Relation::Other, None, &faster),
            Verdict::Promote(PromoteRule::Faster)
        );
        let overlapping = ab(&[100.0, 70.0, 99.0], &[80.0, 81.0, 82.0], 0.95, 0.95);
        assert_eq!(
            judge(&o, &c, Relation::Other, None, &overlapping),
            Verdict::Keep(KeepReason::WithinNoise)
        );
        let tie_better_recall = ab(&[100.0, 100.0], &[99.0, 101.0], 0.95, 0.97);
        assert_eq!(
            judge(&o, &c, Relation::Other, None, &tie_better_recall),
            Verdict::Promote(PromoteRule::RecallTie)
        );
        let slower_better_recall = ab(&[100.0, 100.0], &[101.0, 102.0], 0.95, 0.99);
        assert_eq!(
            judge(&o, &c, Relation::Other, None, &slower_better_recall),
            Verdict::Keep(KeepReason::WithinNoise),
            "recall never buys latency, even within the margin"
        );
        let remeasured_low = ab(&[100.0], &[50.0], 0.95, 0.89);
        assert_eq!(
            judge(&o, &c, Relation::Other, None, &remeasured_low),
            Verdict::Keep(KeepReason::BelowFloorOnRemeasure)
        );
        let champion_fell = ab(&[50.0], &[100.0], 0.85, 0.92);
        assert_eq!(
            judge(&o, &c, Relation::Other, None, &champion_fell),
            Verdict::Promote(PromoteRule::ChampionInfeasible)
        );
        assert_eq!(
            judge(&o, &c, Relation::Other, None, &AbComparison::default()),
            Verdict::Keep(KeepReason::BelowFloorOnRemeasure)
        );
    }

    #[test]
    fn a_lower_ef_search_on_the_champions_build_needs_only_a_median_not_higher() {
        let o = Objective::new(0.9).unwrap();
        let c = m(0.95, 80.0);
        let same = Relation::SameBuildLowerEf;
        // The f6 run of docs/stopping.md: 14% faster by the medians, but the repeats
        // overlap, so the general rule keeps the champion.
        let overlapping = ab(&[111.3, 104.0, 120.0], &[95.8, 90.0, 106.0], 0.95, 0.95);
        assert_eq!(
            judge(&o, &c, Relation::Other, None, &overlapping),
            Verdict::Keep(KeepReason::WithinNoise)
        );
        assert_eq!(
            judge(&o, &c, same, None, &overlapping),
            Verdict::Promote(PromoteRule::LowerEfSameBuild)
        );
        let level = ab(&[100.0, 101.0], &[100.0, 100.5], 0.95, 0.95);
        assert_eq!(
            judge(&o, &c, same, None, &level),
            Verdict::Promote(PromoteRule::LowerEfSameBuild),
            "level is not slower"
        );
        let slower = ab(&[100.0, 101.0, 99.0], &[102.0, 103.0, 101.0], 0.95, 0.95);
        assert_eq!(
            judge(&o, &c, same, None, &slower),
            Verdict::Keep(KeepReason::WithinNoise),
            "a re-measurement that contradicts the prior keeps the champion"
        );
        let below = ab(&[100.0], &[50.0], 0.95, 0.89);
        assert_eq!(
            judge(&o, &c, same, None, &below),
            Verdict::Keep(KeepReason::BelowFloorOnRemeasure),
            "the floor still comes first"
        );
        // Step 3 sends it to the re-measurement even when one recorded p50 was slow.
        assert_eq!(
            screen(&o, &m(0.95, 60.0), same, true, Some(&m(0.95, 50.0))),
            Screen::Compare
        );
        assert_eq!(
            screen(&o, &m(0.85, 40.0), same, true, Some(&m(0.95, 50.0))),
            Screen::Keep(KeepReason::Infeasible)
        );
    }

    #[test]
    fn only_a_lower_ef_search_on_the_same_build_and_seed_is_related() {
        use hnswtune_core::EF_CONSTRUCTION;
        let space = SearchSpace::hnsw();
        let champion = space.default_params().with(EF_SEARCH, 13);
        let of = |params, seed| BuiltConfig { params, seed };
        let lower = champion.clone().with(EF_SEARCH, 11);
        let higher = champion.clone().with(EF_SEARCH, 15);
        let other_build = lower.clone().with(EF_CONSTRUCTION, 120);
        assert_eq!(
            Relation::of(&space, of(&champion, 1), of(&lower, 1)),
            Relation::SameBuildLowerEf
        );
        for (challenger, seed) in [(&higher, 1), (&champion, 1), (&other_build, 1), (&lower, 2)] {
            assert_eq!(
                Relation::of(&space, of(&champion, 1), of(challenger, seed)),
                Relation::Other,
                "{challenger:?} seed {seed}"
            );
        }
    }
}
