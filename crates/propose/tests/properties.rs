//! Property tests: random spaces and histories keep every invariant; Grid visits every
//! point exactly once; Annealing's acceptance probability falls with the temperature.

use std::collections::HashSet;

use hnswtune_core::{
    DatasetFingerprint, IndexName, Objective, ParamSpec, Params, Phase, SearchSpace, Trial,
    TrialMetrics, TriggerReason,
};
use hnswtune_propose::{Grid, ProposalContext, Proposer, StrategyKind, acceptance_probability};
use proptest::prelude::*;

fn trial(params: Params, state: u8, score: f64) -> Trial {
    let t = Trial::start(
        IndexName::new("prop").unwrap(),
        "eval",
        params,
        DatasetFingerprint {
            vector_count: 1,
            dimension: 1,
            content_hash: "00".into(),
        },
        TriggerReason::Study,
    );
    match state {
        0 => t,
        1 => t.fail("injected"),
        _ => t.complete(TrialMetrics {
            build_secs: 1.0,
            search_p50_us: 10.0 + 100.0 * score,
            search_p95_us: 20.0,
            search_p99_us: 30.0,
            qps: 100.0,
            recall: score,
            recall_tolerant: score,
            k: 10,
            index_bytes: 1,
            vector_count: 1,
            eval_query_count: 1,
            brute_force_us: 1.0,
            search_secs: 0.01,
            build_kind: Default::default(),
            config_build_secs: None,
            p50_pass_spread: None,
        }),
    }
}

fn arb_spec(name: &'static str) -> impl Strategy<Value = ParamSpec> {
    let phase = prop_oneof![Just(Phase::Build), Just(Phase::Search)];
    prop_oneof![
        (1i64..30, 0i64..12, 1i64..5, any::<bool>(), phase.clone()).prop_map(
            move |(low, span, step, log, phase)| {
                let spec = ParamSpec::int(name, low, low + span, step, phase);
                if log { spec.log_scale() } else { spec }
            }
        ),
        (
            proptest::collection::btree_set(-20i64..60, 1..6),
            phase.clone()
        )
            .prop_map(move |(values, phase)| ParamSpec::levels(
                name,
                values.into_iter().collect(),
                phase
            )),
        (1usize..4, phase).prop_map(move |(n, phase)| ParamSpec::categorical(
            name,
            ["a", "b", "c", "d"][..n].to_vec(),
            phase
        )),
    ]
}

fn arb_space() -> impl Strategy<Value = SearchSpace> {
    (
        1usize..4,
        arb_spec("ef_search"),
        arb_spec("ef_construction"),
        arb_spec("x"),
    )
        .prop_map(|(n, a, b, c)| SearchSpace::new([a, b, c].into_iter().take(n).collect()).unwrap())
}

/// A random history over `space`: picks of its points in random states, plus entries
/// from another space.
fn history_for(space: &SearchSpace, picks: &[(u64, u8, f64)], foreign: usize) -> Vec<Trial> {
    let mut out = Vec::new();
    for &(code, state, score) in picks {
        let mut code = code;
        let params: Params = space
            .specs()
            .iter()
            .map(|s| {
                let i = code % s.cardinality();
                code /= s.cardinality().max(1);
                (s.name.clone(), s.value_at(i))
            })
            .collect();
        out.push(trial(params, state, score));
    }
    for i in 0..foreign {
        out.push(trial(Params::new().with("unknown", i as i64), 2, 0.5));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_strategy_keeps_the_contract(
        space in arb_space(),
        picks in proptest::collection::vec((any::<u64>(), 0u8..3, 0.0f64..1.0), 0..40),
        foreign in 0usize..3,
        seed in any::<u64>(),
        min_recall in 0.1f64..1.0,
    ) {
        let history = history_for(&space, &picks, foreign);
        let visited: HashSet<Params> = history.iter().filter_map(|t| space.project(&t.params)).collect();
        let exhausted = visited.len() as u128 == space.cardinality();
        let objective = Objective::new(min_recall).unwrap();
        let ctx = ProposalContext { space: &space, history: &history, champion: objective.best(&history), objective: &objective };
        for kind in StrategyKind::ALL {
            let p = kind.build(seed);
            let proposal = p.propose(&ctx).unwrap();
            prop_assert_eq!(proposal.is_none(), exhausted, "{} returned None early or Some late", kind);
            if let Some(params) = proposal {
                prop_assert!(space.contains(&params), "{} left the space: {}", kind, params);
                prop_assert!(!visited.contains(&params), "{} repeated {}", kind, params);
                prop_assert_eq!(kind.build(seed).propose(&ctx).unwrap(), Some(params));
            }
        }
    }

    #[test]
    fn grid_visits_every_point_exactly_once(space in arb_space()) {
        let objective = Objective::default();
        let mut history = Vec::new();
        let mut seen = HashSet::new();
        while let Some(p) = Grid::new().propose(&ProposalContext { space: &space, history: &history, champion: None, objective: &objective }).unwrap() {
            prop_assert!(seen.insert(p.clone()), "{} came twice", p);
            history.push(trial(p, 2, 0.5));
            prop_assert!(history.len() as u128 <= space.cardinality());
        }
        prop_assert_eq!(seen.len() as u128, space.cardinality());
    }

    #[test]
    fn acceptance_falls_with_the_temperature(delta in 1e-6f64..50.0, t in 1e-3f64..100.0, factor in 0.01f64..0.999) {
        let hot = acceptance_probability(delta, t);
        let cold = acceptance_probability(delta, t * factor);
        prop_assert!((0.0..=1.0).contains(&hot) && (0.0..=1.0).contains(&cold));
        prop_assert!(cold <= hot);
        if hot > 1e-300 {
            prop_assert!(cold < hot);
        }
        prop_assert_eq!(acceptance_probability(-delta, t * factor), 1.0);
    }
}
