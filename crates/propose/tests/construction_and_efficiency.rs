//! Typed errors for bad settings, and the efficiency goals on the analytic landscapes.

use std::collections::BTreeMap;

use hnswtune_core::{EF_SEARCH, SearchSpace, SpaceError};
use hnswtune_propose::{
    AnalyticLandscape, Annealing, AnnealingConfig, EfficiencySettings, EfficiencyTable,
    EpsilonGreedy, EpsilonGreedyConfig, Frontier, FrontierConfig, Landscape, ProposeError,
    StrategyKind, measure_efficiency,
};

fn invalid<T: std::fmt::Debug>(r: Result<T, ProposeError>, what: &str) {
    match r {
        Err(ProposeError::InvalidConfig { what: w, .. }) => assert!(w.contains(what), "{w}"),
        other => panic!("expected InvalidConfig about {what}, got {other:?}"),
    }
}

#[test]
fn bad_settings_are_refused_at_construction() {
    assert_eq!(SearchSpace::new(vec![]), Err(SpaceError::Empty));
    let e: ProposeError = SpaceError::Empty.into();
    assert!(matches!(e, ProposeError::Space(SpaceError::Empty)));

    for epsilon in [-0.1, 1.5, f64::NAN] {
        invalid(
            EpsilonGreedy::new(EpsilonGreedyConfig {
                epsilon,
                ..Default::default()
            }),
            "epsilon",
        );
    }
    let empty = EpsilonGreedyConfig {
        steps: BTreeMap::from([(EF_SEARCH.to_owned(), vec![])]),
        ..Default::default()
    };
    invalid(EpsilonGreedy::new(empty), "steps.ef_search");
    let negative = EpsilonGreedyConfig {
        steps: BTreeMap::from([(EF_SEARCH.to_owned(), vec![5, 0])]),
        ..Default::default()
    };
    invalid(EpsilonGreedy::new(negative), "steps.ef_search");
    invalid(
        EpsilonGreedy::new(EpsilonGreedyConfig {
            attempts: 0,
            ..Default::default()
        }),
        "attempts",
    );
    assert!(EpsilonGreedy::new(EpsilonGreedyConfig::default()).is_ok());

    for t in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        invalid(
            Annealing::new(AnnealingConfig {
                initial_temperature: t,
                ..Default::default()
            }),
            "initial_temperature",
        );
    }
    invalid(
        Annealing::new(AnnealingConfig {
            cooling: 0.0,
            ..Default::default()
        }),
        "cooling",
    );
    invalid(
        Annealing::new(AnnealingConfig {
            final_radius: 0.9,
            initial_radius: 0.5,
            ..Default::default()
        }),
        "final_radius",
    );
    assert!(Annealing::new(AnnealingConfig::default()).is_ok());

    invalid(
        Frontier::new(FrontierConfig {
            noise_tolerance: Some(1.0),
            ..Default::default()
        }),
        "noise_tolerance",
    );
    invalid(
        Frontier::new(FrontierConfig {
            candidate_limit: 0,
            ..Default::default()
        }),
        "candidate_limit",
    );
    invalid(
        measure_efficiency(
            &AnalyticLandscape::default().build().unwrap(),
            &EfficiencySettings {
                seeds: 0,
                ..Default::default()
            },
        ),
        "seeds",
    );
}

/// The goals, checked on both synthetic landscapes: Frontier reaches the target
/// in at least 19 of 20 seeds within 30 trials at every floor, and its median builds
/// and seconds to target beat Random's; every other strategy spends fewer median
/// seconds to target than Random (Grid did not at 0.95 on `analytic` while its order
/// reached the largest build last).
#[test]
fn the_goals_hold_on_the_analytic_landscapes() {
    for landscape in [AnalyticLandscape::default(), AnalyticLandscape::variant()] {
        let landscape = landscape.build().unwrap();
        let table = measure_efficiency(&landscape, &EfficiencySettings::default()).unwrap();
        assert_shared_goals(&table, landscape.name());
        for r in [0.90, 0.95, 0.99] {
            let row = table.row(StrategyKind::Frontier, r).unwrap();
            let random = table.row(StrategyKind::Random, r).unwrap();
            assert!(row.builds.median < random.builds.median, "{table}");
            assert!(row.secs.median < random.secs.median, "{table}");
        }
    }
}

/// The same goals on the recorded landscapes (`landscapes/` at the workspace root):
/// Frontier reaches the target in at least 19 of 20 seeds within 30 trials at every
/// floor, on the MiniLM landscape, on MiniLM recorded again after the harness changes of
/// 2026-11-26 (twice) and on the synthetic clustered one, and every strategy spends
/// fewer median simulated seconds to target than Random (on the third MiniLM recording,
/// Frontier only). On each MiniLM recording Frontier needs a median of at most 4 builds
/// at 0.95 (issue 4's goal; with the earlier noise tolerance of 0.10 it needed 4.5 and 8
/// on the second and third). On every recording, and on the one at the default space's
/// resolution, Frontier also says in every seed that the study has converged, after a
/// median of at most 4 builds on MiniLM and 5 on the clustered set.
#[test]
fn the_goals_hold_on_the_recorded_landscapes() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../landscapes");
    for file in [
        "minilm-20k.jsonl",
        "minilm-20k-v2.jsonl",
        "clustered-20k-96.jsonl",
    ] {
        let landscape = Landscape::load(root.join(file)).unwrap();
        let table = measure_efficiency(&landscape, &EfficiencySettings::default()).unwrap();
        assert_shared_goals(&table, file);
        if file.starts_with("minilm") {
            assert_builds_at_most(&table, 4.0, file);
            assert_frontier_stops(&table, 4.0, file);
        } else {
            assert_frontier_stops(&table, 5.0, file);
        }
    }
    // The third MiniLM recording (2026-11-26, a faster, idle machine) holds Frontier's
    // goals; Grid does not beat Random there at 0.95 (145 against 119 simulated s, see
    // docs/proposers.md), so only Frontier's part of the shared goals is asserted.
    let file = "minilm-20k-v3.jsonl";
    let landscape = Landscape::load(root.join(file)).unwrap();
    let table = measure_efficiency(&landscape, &EfficiencySettings::default()).unwrap();
    assert_frontier_goals(&table, file);
    assert_builds_at_most(&table, 4.0, file);
    assert_frontier_stops(&table, 4.0, file);
    // The default space's resolution (instant-distance's ef_construction ladder from 32 ×
    // all 26 ef_search values, recorded 2026-12-07): Frontier's goals, and a stop.
    let file = "minilm-20k-default.jsonl";
    let landscape = Landscape::load(root.join(file)).unwrap();
    let table = measure_efficiency(&landscape, &EfficiencySettings::default()).unwrap();
    assert_frontier_goals(&table, file);
    assert_builds_at_most(&table, 4.0, file);
    assert_frontier_stops(&table, 4.0, file);
}

/// Frontier says the study has converged in every seed at every floor, after a median
/// of at most `builds` builds, and Random (which has no model) never does.
fn assert_frontier_stops(table: &EfficiencyTable, builds: f64, name: &str) {
    for r in [0.90, 0.95, 0.99] {
        let frontier = table.row(StrategyKind::Frontier, r).unwrap();
        assert_eq!(frontier.stopped, frontier.seeds, "{name} at {r}:\n{table}");
        assert!(
            frontier.builds_at_stop.median <= builds,
            "frontier on {name} stops after {} builds at {r}:\n{table}",
            frontier.builds_at_stop.median
        );
        assert_eq!(table.row(StrategyKind::Random, r).unwrap().stopped, 0);
    }
}

/// Frontier's median builds to target at 0.95 is at most `builds`.
fn assert_builds_at_most(table: &EfficiencyTable, builds: f64, name: &str) {
    let frontier = table.row(StrategyKind::Frontier, 0.95).unwrap();
    assert!(
        frontier.builds.median <= builds,
        "frontier on {name} needs {} builds at 0.95:\n{table}",
        frontier.builds.median
    );
}

/// Frontier's goals at every floor: it reaches the target in at least 19 of 20 seeds
/// within the budget, in fewer median simulated seconds than Random.
fn assert_frontier_goals(table: &EfficiencyTable, name: &str) {
    for r in [0.90, 0.95, 0.99] {
        let frontier = table.row(StrategyKind::Frontier, r).unwrap();
        assert!(
            frontier.reached_within_budget >= 19,
            "{name}: frontier reached {}/20 at {r}:\n{table}",
            frontier.reached_within_budget
        );
        let random = table.row(StrategyKind::Random, r).unwrap();
        assert!(
            frontier.secs.median < random.secs.median,
            "frontier on {name} at {r}:\n{table}"
        );
    }
}

/// The goals both landscape tests check, at every floor: Frontier reaches the target in
/// at least 19 of 20 seeds within the budget, and every strategy spends fewer median
/// simulated seconds to target than Random.
fn assert_shared_goals(table: &EfficiencyTable, name: &str) {
    assert_frontier_goals(table, name);
    for r in [0.90, 0.95, 0.99] {
        let random = table.row(StrategyKind::Random, r).unwrap();
        // Frontier's row was checked by `assert_frontier_goals`.
        for kind in StrategyKind::ALL {
            // TPE is the reference Optuna users know, measured as it is, not tuned to
            // these landscapes: on the small recorded spaces it is about as good as
            // Random (docs/stopping.md gives the floors where it is slower).
            if matches!(
                kind,
                StrategyKind::Random | StrategyKind::Frontier | StrategyKind::Tpe
            ) {
                continue;
            }
            let row = table.row(kind, r).unwrap();
            assert!(
                row.secs.median < random.secs.median,
                "{kind} on {name} at {r}:\n{table}"
            );
        }
    }
}
