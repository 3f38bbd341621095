//! Incremental extension in the evaluator, on the usearch backend (the one that declares
//! `incremental_insert`): appended data extends the cached build, changed data rebuilds.
#![cfg(feature = "usearch")]

use std::sync::Arc;

use hnswtune_core::{BuildKind, EF_CONSTRUCTION, EF_SEARCH, EvalRequest, IndexName, M, Params};
use hnswtune_harness::backend::usearch::Usearch;
use hnswtune_harness::latency::LatencyOptions;
use hnswtune_harness::testdata::clustered;
use hnswtune_harness::{
    EvalSet, EvaluatorOptions, HnswEvaluator, InMemorySource, Measurement, Metric, Vectors,
};

const DIM: usize = 32;

fn setup(base: Vectors) -> (HnswEvaluator, Arc<InMemorySource>, IndexName) {
    let index = IndexName::new("docs").unwrap();
    let source = Arc::new(InMemorySource::new());
    source.insert(&index, Arc::new(base));
    let options = EvaluatorOptions {
        latency: LatencyOptions {
            warmup_queries: 10,
            repeats: 1,
        },
        ..EvaluatorOptions::default()
    };
    let evaluator = HnswEvaluator::with_options(Arc::new(Usearch), source.clone(), options);
    evaluator.add_eval_set(
        EvalSet::new(
            "eval",
            clustered(100, DIM, 16, 99, Metric::Cosine),
            10,
            None,
        )
        .unwrap(),
    );
    (evaluator, source, index)
}

fn measure(evaluator: &HnswEvaluator, index: &IndexName, ef_search: i64) -> Measurement {
    let request = EvalRequest {
        index: index.clone(),
        eval_set: "eval".into(),
        params: Params::new()
            .with(EF_CONSTRUCTION, 40)
            .with(M, 8)
            .with(EF_SEARCH, ef_search),
        seed: 5,
        deterministic: true,
    };
    evaluator.measure(&request).unwrap()
}

#[test]
fn appended_rows_extend_the_cached_build() {
    let full = clustered(3000, DIM, 16, 1, Metric::Cosine);
    let (evaluator, source, index) = setup(full.prefix(2000));
    let first = measure(&evaluator, &index, 40);
    assert_eq!(first.metrics.build_kind, BuildKind::Fresh);
    assert_eq!(
        measure(&evaluator, &index, 80).metrics.build_kind,
        BuildKind::Cached
    );

    source.insert(&index, Arc::new(full.clone()));
    let extended = measure(&evaluator, &index, 40);
    assert_eq!(extended.metrics.build_kind, BuildKind::Extended);
    assert_eq!(extended.metrics.vector_count, 3000);
    assert!(extended.metrics.build_secs > 0.0);
    assert!(extended.metrics.index_bytes > first.metrics.index_bytes);
    // The extended build replaced the prefix build, and later trials reuse it.
    assert_eq!(evaluator.cache().len(), 1);
    assert_eq!(
        measure(&evaluator, &index, 80).metrics.build_kind,
        BuildKind::Cached
    );

    let (fresh_evaluator, _, fresh_index) = setup(full);
    let fresh = measure(&fresh_evaluator, &fresh_index, 40);
    assert_eq!(fresh.metrics.build_kind, BuildKind::Fresh);
    assert!(
        (extended.metrics.recall - fresh.metrics.recall).abs() < 0.03,
        "extended {} vs fresh {}",
        extended.metrics.recall,
        fresh.metrics.recall
    );
}

#[test]
fn changed_rows_rebuild_instead_of_extending() {
    let full = clustered(1500, DIM, 16, 2, Metric::Cosine);
    let (evaluator, source, index) = setup(full.prefix(1000));
    assert_eq!(
        measure(&evaluator, &index, 40).metrics.build_kind,
        BuildKind::Fresh
    );

    // Same row count as an append would have, but row 7 of the prefix changed.
    let mut data = full.as_slice().to_vec();
    data[7 * DIM] += 0.5;
    let changed = Vectors::new("changed", DIM, data, Metric::Cosine).unwrap();
    source.insert(&index, Arc::new(changed));
    let m = measure(&evaluator, &index, 40);
    assert_eq!(m.metrics.build_kind, BuildKind::Fresh);
    assert_eq!(m.metrics.vector_count, 1500);
    // The prefix build was not consumed by a wrong extension.
    assert_eq!(evaluator.cache().len(), 2);

    // Fewer rows than the cached build: nothing to extend.
    source.insert(&index, Arc::new(full.prefix(900)));
    assert_eq!(
        measure(&evaluator, &index, 40).metrics.build_kind,
        BuildKind::Fresh
    );
}
