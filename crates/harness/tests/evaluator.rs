//! The evaluator end to end on small clustered data: caching, persistence, A/B, bad input.

use std::sync::Arc;

use hnswtune_core::{
    BuildKind, EF_CONSTRUCTION, EF_SEARCH, EvalRequest, Evaluator, IndexName, NEIGHBOUR_HEURISTIC,
    Params, SpaceError,
};
use hnswtune_harness::backend::instant::InstantDistance;
use hnswtune_harness::latency::LatencyOptions;
use hnswtune_harness::testdata::clustered;
use hnswtune_harness::{
    EvalSet, EvalStore, EvaluatorOptions, HnswEvaluator, InMemorySource, Metric, Vectors,
};

fn options() -> EvaluatorOptions {
    EvaluatorOptions {
        latency: LatencyOptions {
            warmup_queries: 10,
            repeats: 3,
        },
        ..EvaluatorOptions::default()
    }
}

fn setup(store: Option<EvalStore>) -> (HnswEvaluator, Arc<InMemorySource>, IndexName) {
    let index = IndexName::new("docs").unwrap();
    let source = Arc::new(InMemorySource::new());
    source.insert(&index, Arc::new(clustered(300, 16, 8, 1, Metric::Cosine)));
    let mut evaluator = HnswEvaluator::with_options(
        Arc::new(InstantDistance::default()),
        source.clone(),
        options(),
    );
    if let Some(store) = store {
        evaluator = evaluator.with_store(store);
    }
    evaluator.add_eval_set(
        EvalSet::new("eval", clustered(25, 16, 8, 2, Metric::Cosine), 10, None).unwrap(),
    );
    (evaluator, source, index)
}

fn request(index: &IndexName, ef_construction: i64, ef_search: i64) -> EvalRequest {
    EvalRequest {
        index: index.clone(),
        eval_set: "eval".into(),
        // Tests run unoptimised; the simple neighbour selection keeps builds fast there.
        params: Params::new()
            .with(EF_CONSTRUCTION, ef_construction)
            .with(EF_SEARCH, ef_search)
            .with(NEIGHBOUR_HEURISTIC, "simple"),
        seed: 11,
        deterministic: true,
    }
}

#[test]
fn search_only_trials_reuse_the_build_and_record_it() {
    let (evaluator, source, index) = setup(None);
    let first = evaluator.measure(&request(&index, 40, 20)).unwrap();
    assert_eq!(first.metrics.build_kind, BuildKind::Fresh);
    assert!(first.metrics.build_secs > 0.0);
    assert!(first.ground_truth_computed);
    assert_eq!(first.threads, 1);
    first.metrics.validate().unwrap();
    assert_eq!(first.metrics.vector_count, 300);
    assert_eq!(first.metrics.eval_query_count, 25);
    assert!(first.metrics.index_bytes > 300 * 16 * 4);
    assert!(first.metrics.brute_force_us > 0.0);
    assert_eq!(first.latency.runs.len(), 3);

    let second = evaluator.measure(&request(&index, 40, 80)).unwrap();
    assert_eq!(second.metrics.build_kind, BuildKind::Cached);
    assert_eq!(second.metrics.build_secs, 0.0);
    assert_eq!(second.original_build_secs, first.metrics.build_secs);
    assert!(!second.ground_truth_computed);
    assert!(second.metrics.recall >= first.metrics.recall);
    assert!(
        second.metrics.recall > 0.9,
        "recall {}",
        second.metrics.recall
    );
    assert!(second.metrics.recall_tolerant >= second.metrics.recall);
    assert_eq!(evaluator.cache().stats(), (1, 1));

    // A repeat of the same config measures the same recall (deterministic build, same ef).
    let again = evaluator.measure(&request(&index, 40, 20)).unwrap();
    assert_eq!(again.metrics.recall, first.metrics.recall);

    // New data (an append) is a new fingerprint: a fresh build and fresh ground truth.
    let before = evaluator.dataset(&index).unwrap();
    source.insert(&index, Arc::new(clustered(310, 16, 8, 1, Metric::Cosine)));
    let after = evaluator.dataset(&index).unwrap();
    assert_ne!(before, after);
    let grown = evaluator.measure(&request(&index, 40, 20)).unwrap();
    assert_eq!(grown.metrics.build_kind, BuildKind::Fresh);
    assert!(grown.ground_truth_computed);
    assert_eq!(grown.dataset, after);
}

#[test]
fn ef_construction_below_m_shares_the_build_at_m() {
    // instant-distance raises ef_construction below M = 32 to 32, as hnswlib does; the cache
    // key uses the raised value, so 10, 20 and 32 are one build.
    let (evaluator, _, index) = setup(None);
    let at_10 = evaluator.measure(&request(&index, 10, 20)).unwrap();
    assert_eq!(at_10.metrics.build_kind, BuildKind::Fresh);
    let at_20 = evaluator.measure(&request(&index, 20, 20)).unwrap();
    assert_eq!(at_20.metrics.build_kind, BuildKind::Cached);
    let at_32 = evaluator.measure(&request(&index, 32, 20)).unwrap();
    assert_eq!(at_32.metrics.build_kind, BuildKind::Cached);
    assert_eq!(at_32.metrics.recall, at_10.metrics.recall);
    let at_33 = evaluator.measure(&request(&index, 33, 20)).unwrap();
    assert_eq!(at_33.metrics.build_kind, BuildKind::Fresh);
    assert_eq!(evaluator.cache().stats().0, 2);
}

#[test]
fn ground_truth_persists_through_the_journals_blob_store() {
    let dir = tempfile::tempdir().unwrap();
    let mut location = hnswtune_journal::StoreLocation::local(dir.path(), false).unwrap();
    location.prefix = "journal".into();
    let store = EvalStore::new(Arc::new(hnswtune_journal::ObjectStoreBlobs::new(location)));
    let (first, _, index) = setup(Some(store.clone()));
    assert!(
        first
            .measure(&request(&index, 20, 20))
            .unwrap()
            .ground_truth_computed
    );
    let (second, _, _) = setup(Some(store));
    let m = second.measure(&request(&index, 20, 20)).unwrap();
    assert!(
        !m.ground_truth_computed,
        "a new evaluator loads the stored ground truth"
    );
}

#[test]
fn eval_sets_load_from_the_store() {
    let store = EvalStore::new(Arc::new(hnswtune_testkit::fakes::MemoryBlobs::new()));
    let set = EvalSet::new("stored", clustered(10, 16, 8, 3, Metric::Cosine), 5, None).unwrap();
    store.put_eval_set(&set).unwrap();
    let (evaluator, _, index) = setup(Some(store));
    let mut r = request(&index, 20, 20);
    r.eval_set = "stored".into();
    assert_eq!(evaluator.evaluate(&r).unwrap().metrics.k, 5);
}

#[test]
fn interleaved_compare_reports_every_repeat() {
    let (evaluator, _, index) = setup(None);
    let ab = evaluator
        .compare(&request(&index, 40, 10), &request(&index, 40, 120), 4)
        .unwrap();
    assert_eq!(ab.champion_p50_us.len(), 4);
    assert_eq!(ab.challenger_p50_us.len(), 4);
    assert!(ab.challenger_recall >= ab.champion_recall);
    // Both sides share one build.
    assert_eq!(evaluator.cache().len(), 1);
    let mut other = request(&index, 40, 10);
    other.eval_set = "elsewhere".into();
    assert!(
        evaluator
            .compare(&request(&index, 40, 10), &other, 2)
            .is_err()
    );
}

#[test]
fn bad_input_gives_typed_errors_not_panics() {
    use hnswtune_core::Error as E;
    let (evaluator, source, index) = setup(None);
    // Unknown and missing parameters.
    let mut r = request(&index, 40, 20);
    r.params.set("mystery", 3);
    assert!(matches!(
        evaluator.evaluate(&r),
        Err(E::Space(SpaceError::Unknown { .. }))
    ));
    let mut r = request(&index, 40, 20);
    r.params.remove(EF_SEARCH);
    assert!(matches!(
        evaluator.evaluate(&r),
        Err(E::Space(SpaceError::Missing { .. }))
    ));
    let mut r = request(&index, 40, 20);
    r.params.remove(EF_CONSTRUCTION);
    assert!(matches!(
        evaluator.evaluate(&r),
        Err(E::Space(SpaceError::Missing { .. }))
    ));
    // k (10) above ef_search (5).
    assert!(matches!(
        evaluator.evaluate(&request(&index, 40, 5)),
        Err(E::InvalidInput { .. })
    ));
    // Unknown index and eval set.
    let ghost = IndexName::new("ghost").unwrap();
    assert!(matches!(
        evaluator.evaluate(&request(&ghost, 40, 20)),
        Err(E::NotFound { .. })
    ));
    let mut r = request(&index, 40, 20);
    r.eval_set = "nope".into();
    assert!(matches!(evaluator.evaluate(&r), Err(E::NotFound { .. })));
    // Query dimension differs from the base.
    evaluator.add_eval_set(
        EvalSet::new("narrow", clustered(5, 8, 2, 3, Metric::Cosine), 3, None).unwrap(),
    );
    let mut r = request(&index, 40, 20);
    r.eval_set = "narrow".into();
    assert!(matches!(
        evaluator.evaluate(&r),
        Err(E::InvalidInput { .. })
    ));
    // k larger than the base.
    let tiny = IndexName::new("tiny").unwrap();
    source.insert(&tiny, Arc::new(clustered(8, 16, 2, 4, Metric::Cosine)));
    assert!(matches!(
        evaluator.evaluate(&request(&tiny, 40, 20)),
        Err(E::InvalidInput { .. })
    ));
    // Metric mismatch between base and queries.
    let l2 = IndexName::new("l2").unwrap();
    source.insert(&l2, Arc::new(clustered(100, 16, 2, 4, Metric::L2)));
    assert!(matches!(
        evaluator.evaluate(&request(&l2, 40, 20)),
        Err(E::InvalidInput { .. })
    ));
    // NaN, empty and zero vectors never reach the evaluator: Vectors rejects them.
    assert!(Vectors::new("b", 2, vec![f32::NAN, 1.0], Metric::L2).is_err());
    assert!(Vectors::new("b", 2, vec![], Metric::L2).is_err());
    assert!(Vectors::new("b", 2, vec![0.0, 0.0], Metric::Cosine).is_err());
}

#[test]
fn duplicate_vectors_are_indexed_and_ties_cost_no_tolerant_recall() {
    let index = IndexName::new("dups").unwrap();
    let base = clustered(120, 16, 4, 5, Metric::L2);
    // Every row twice: each query's exact top-k is full of ties.
    let mut data = base.as_slice().to_vec();
    data.extend_from_slice(base.as_slice());
    let doubled = Vectors::new("base", 16, data, Metric::L2).unwrap();
    let source = Arc::new(InMemorySource::new());
    source.insert(&index, Arc::new(doubled));
    let evaluator =
        HnswEvaluator::with_options(Arc::new(InstantDistance::default()), source, options());
    evaluator.add_eval_set(EvalSet::new("eval", base.prefix(30), 2, None).unwrap());
    let m = evaluator.measure(&request_for(&index)).unwrap();
    assert!(
        m.metrics.recall_tolerant > 0.95,
        "tolerant {}",
        m.metrics.recall_tolerant
    );
    assert!(m.metrics.recall_tolerant >= m.metrics.recall);
}

fn request_for(index: &IndexName) -> EvalRequest {
    let mut r = request(index, 40, 40);
    r.seed = 3;
    r
}

/// `measure` takes recall from the answers of its timed passes; a separate answers pass
/// (the one `compare_detailed` runs) must find exactly the same recall.
#[test]
fn recall_from_the_timed_passes_matches_a_separate_pass() {
    let (evaluator, _source, index) = setup(None);
    for ef_search in [10, 20, 80] {
        let req = request(&index, 10, ef_search);
        let measured = evaluator.measure(&req).unwrap();
        let (_, separate, _) = evaluator.compare_detailed(&req, &req, 1).unwrap();
        assert_eq!(measured.recall, separate, "ef_search {ef_search}");
    }
}

/// The evaluator states the space its backend reads, so the agent can check an index's
/// space and adopt the backend's (`m` only where the backend tunes it).
#[test]
fn the_evaluator_states_its_backends_space() {
    let names = |backend: Arc<dyn hnswtune_harness::IndexBackend>| -> Vec<String> {
        let evaluator = HnswEvaluator::new(backend, Arc::new(InMemorySource::new()));
        hnswtune_core::Evaluator::search_space(&evaluator)
            .expect("the harness states a space")
            .specs()
            .iter()
            .map(|s| s.name.clone())
            .collect()
    };
    let instant = names(Arc::new(InstantDistance::default()));
    assert!(instant.iter().any(|n| n == EF_CONSTRUCTION));
    assert!(instant.iter().any(|n| n == EF_SEARCH));
    assert!(!instant.iter().any(|n| n == hnswtune_core::M));
    // What the backend reads is wider than its default space: the agent's check uses it,
    // so a space with instant-distance's ml and heuristic is accepted.
    let evaluator = HnswEvaluator::new(
        Arc::new(InstantDistance::default()),
        Arc::new(InMemorySource::new()),
    );
    let reads = hnswtune_core::Evaluator::parameter_names(&evaluator).unwrap();
    for name in [hnswtune_core::ML_MILLI, hnswtune_core::NEIGHBOUR_HEURISTIC] {
        assert!(reads.iter().any(|n| n == name), "{name}");
    }
    #[cfg(feature = "usearch")]
    {
        let usearch = names(Arc::new(hnswtune_harness::backend::usearch::Usearch));
        assert!(usearch.iter().any(|n| n == hnswtune_core::M));
    }
}
