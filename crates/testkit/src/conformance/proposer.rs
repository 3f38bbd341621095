//! The proposer contract, as plain functions that panic on the first broken rule, and
//! [`proposer_conformance!`](crate::proposer_conformance), which turns them into one
//! `#[test]` each for any strategy, a host's own included:
//!
//! ```ignore
//! mod my_strategy { hnswtune_testkit::proposer_conformance!(MyStrategy::seeded); }
//! ```
//!
//! The argument is a constructor `Fn(u64) -> impl Proposer` (the seed). The suite
//! drives the strategy with a deterministic, roughly HNSW-shaped model of recall and
//! latency on four spaces (the default HNSW space, one with the heuristic and `ml`, a
//! level list, a single build parameter) and one small space of every spec kind.

use std::collections::HashSet;

use hnswtune_core::{
    DatasetFingerprint, EF_CONSTRUCTION, EF_SEARCH, IndexName, Objective, ParamSpec, Params, Phase,
    SearchSpace, Trial, TrialMetrics, TriggerReason,
};
use hnswtune_propose::{Grid, ProposalContext, Proposer};

/// Builds the strategy under test from a seed.
pub type MakeProposer = dyn Fn(u64) -> Box<dyn Proposer>;

fn trial(params: Params) -> Trial {
    Trial::start(
        IndexName::new("conformance").unwrap(),
        "eval",
        params,
        DatasetFingerprint {
            vector_count: 1,
            dimension: 1,
            content_hash: "00".into(),
        },
        TriggerReason::Study,
    )
}

/// A deterministic, roughly HNSW-shaped measurement of any config.
fn measure(space: &SearchSpace, params: &Params) -> TrialMetrics {
    let unit = |name: &str| {
        space
            .spec(name)
            .and_then(|s| s.to_unit(params.get(name)?))
            .unwrap_or(0.5)
    };
    let (c, s) = (unit(EF_CONSTRUCTION), unit(EF_SEARCH));
    let others: f64 = space
        .specs()
        .iter()
        .filter(|sp| sp.name != EF_CONSTRUCTION && sp.name != EF_SEARCH)
        .map(|sp| sp.to_unit(params.get(&sp.name).unwrap()).unwrap())
        .sum();
    let recall = (0.6 + 0.25 * s + 0.12 * c + 0.02 * others).min(1.0);
    let p50 = 20.0 + 100.0 * s + 10.0 * c + 3.0 * others;
    TrialMetrics {
        build_secs: 1.0 + 10.0 * c,
        search_p50_us: p50,
        search_p95_us: p50 * 1.5,
        search_p99_us: p50 * 2.0,
        qps: 1e6 / p50,
        recall,
        recall_tolerant: recall,
        k: 10,
        index_bytes: 1000,
        vector_count: 1000,
        eval_query_count: 100,
        brute_force_us: 500.0,
        search_secs: 0.01,
        build_kind: Default::default(),
        config_build_secs: None,
        p50_pass_spread: None,
    }
}

fn propose(p: &dyn Proposer, space: &SearchSpace, history: &[Trial]) -> Option<Params> {
    let objective = Objective::new(0.9).unwrap();
    let ctx = ProposalContext {
        space,
        history,
        champion: objective.best(history),
        objective: &objective,
    };
    p.propose(&ctx)
        .expect("proposing never errors on a valid space")
}

fn spaces() -> Vec<SearchSpace> {
    vec![
        SearchSpace::hnsw(),
        SearchSpace::hnsw()
            .with_heuristic()
            .unwrap()
            .with_ml()
            .unwrap(),
        SearchSpace::new(vec![
            ParamSpec::levels(EF_CONSTRUCTION, vec![16, 32, 64, 128], Phase::Build),
            ParamSpec::int(EF_SEARCH, 10, 200, 10, Phase::Search),
        ])
        .unwrap(),
        SearchSpace::new(vec![ParamSpec::int("only_build", 1, 50, 7, Phase::Build)]).unwrap(),
    ]
}

/// A small space with every kind of spec, 36 configs.
fn small_space() -> SearchSpace {
    SearchSpace::new(vec![
        ParamSpec::int(EF_CONSTRUCTION, 10, 40, 10, Phase::Build),
        ParamSpec::categorical("heuristic", ["a", "b", "c"], Phase::Build),
        ParamSpec::levels(EF_SEARCH, vec![8, 16, 32], Phase::Search),
    ])
    .unwrap()
}

/// Runs `n` proposals, measuring each; every `fail_every`-th trial fails and every
/// `run_every`-th stays Running.
fn drive(
    make: &MakeProposer,
    seed: u64,
    space: &SearchSpace,
    n: usize,
    fail_every: usize,
    run_every: usize,
) -> Vec<Trial> {
    let p = make(seed);
    let mut history = Vec::new();
    for i in 1..=n {
        let Some(params) = propose(p.as_ref(), space, &history) else {
            break;
        };
        let t = trial(params.clone());
        history.push(if i % fail_every == 0 {
            t.fail("injected")
        } else if i % run_every == 0 {
            t
        } else {
            t.complete(measure(space, &params))
        });
    }
    history
}

/// Every proposal lies in the space: within bounds, on the step, of the right type.
pub fn bounds_and_steps(make: &MakeProposer) {
    for space in spaces() {
        for t in drive(make, 1, &space, 40, usize::MAX, usize::MAX) {
            space.validate(&t.params).unwrap();
        }
    }
}

/// No config is proposed twice.
pub fn dedup(make: &MakeProposer) {
    for space in spaces() {
        let history = drive(make, 2, &space, 60, usize::MAX, usize::MAX);
        let distinct: HashSet<&Params> = history.iter().map(|t| &t.params).collect();
        assert_eq!(distinct.len(), history.len(), "a config was proposed twice");
    }
}

/// The same seed and history give the same proposals, also from a fresh instance.
pub fn determinism(make: &MakeProposer) {
    for space in spaces() {
        let a = drive(make, 3, &space, 25, 7, 11);
        let b = drive(make, 3, &space, 25, 7, 11);
        let pa: Vec<&Params> = a.iter().map(|t| &t.params).collect();
        let pb: Vec<&Params> = b.iter().map(|t| &t.params).collect();
        assert_eq!(pa, pb, "same seed and history, different proposals");
        // A fresh instance given the same history agrees too.
        assert_eq!(
            propose(make(3).as_ref(), &space, &a),
            propose(make(3).as_ref(), &space, &a)
        );
    }
}

/// `None` comes only when every config of the space is in the history.
pub fn none_only_when_exhausted(make: &MakeProposer) {
    let space = small_space();
    let history = drive(make, 4, &space, 1000, usize::MAX, usize::MAX);
    assert_eq!(history.len() as u128, space.cardinality());
    let distinct: HashSet<&Params> = history.iter().map(|t| &t.params).collect();
    assert_eq!(distinct.len(), history.len());
    assert_eq!(propose(make(4).as_ref(), &space, &history), None);
}

/// Failed and Running trials count as tried: their configs never come back.
pub fn tolerates_failed_and_running(make: &MakeProposer) {
    let space = small_space();
    let history = drive(make, 5, &space, 1000, 3, 5);
    assert_eq!(history.len() as u128, space.cardinality());
    assert!(history.iter().any(|t| !t.is_complete()));
    let distinct: HashSet<&Params> = history.iter().map(|t| &t.params).collect();
    assert_eq!(
        distinct.len(),
        history.len(),
        "a Failed or Running config came back"
    );
}

/// Trials of other strategies, extra parameters and entries that do not fit the space
/// are read, not refused: the one config left is proposed, then `None`.
pub fn tolerates_foreign_history(make: &MakeProposer) {
    let space = small_space();
    let all = drive(
        &|_| Box::new(Grid::new()) as Box<dyn Proposer>,
        0,
        &space,
        1000,
        usize::MAX,
        usize::MAX,
    );
    let (kept, left) = all.split_at(all.len() - 1);
    let mut history: Vec<Trial> = Vec::new();
    for (i, t) in kept.iter().enumerate() {
        // Extra names are dropped by the projection rule, so these still count.
        let mut t = t.clone();
        t.params.set("m", i as i64);
        history.push(t);
    }
    // Entries with no projection: a missing name, an off-ladder value, a wrong type.
    history.push(trial(Params::new().with(EF_SEARCH, 8)));
    history.push(trial(left[0].params.clone().with(EF_CONSTRUCTION, 15)));
    history.push(trial(left[0].params.clone().with("heuristic", 3)));
    let p = make(6);
    assert_eq!(
        propose(p.as_ref(), &space, &history),
        Some(left[0].params.clone())
    );
    history.push(left[0].clone());
    assert_eq!(propose(p.as_ref(), &space, &history), None);
}
