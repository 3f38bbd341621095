//! One conformance suite for every index backend: each test runs against the list in
//! [`backends`], so a new backend is one line there.

use std::sync::Arc;

use hnswtune_core::{EF_CONSTRUCTION, EF_SEARCH, M, Params};
use hnswtune_harness::backend::instant::InstantDistance;
use hnswtune_harness::testdata::clustered;
use hnswtune_harness::{BuildOptions, Error, IndexBackend, Metric, Vectors, ground_truth, recall};

fn backends() -> Vec<Arc<dyn IndexBackend>> {
    vec![
        Arc::new(InstantDistance::default()),
        #[cfg(feature = "usearch")]
        Arc::new(hnswtune_harness::backend::usearch::Usearch),
    ]
}

fn build_params() -> Params {
    Params::new().with(EF_CONSTRUCTION, 40)
}

fn recall_at(backend: &dyn IndexBackend, base: &Vectors, queries: &Vectors, ef: i64) -> f64 {
    let index = backend
        .build(base, &build_params(), &BuildOptions::deterministic(3))
        .unwrap();
    let searcher = index.searcher(&Params::new().with(EF_SEARCH, ef)).unwrap();
    let found: Vec<Vec<u32>> = queries
        .rows()
        .map(|q| {
            let mut out = Vec::new();
            searcher.search(q, 10, &mut out).unwrap();
            out
        })
        .collect();
    let truth = ground_truth::compute(base, queries, 10).unwrap();
    recall::summarise(base, queries, &truth, &found, 10, recall::DEFAULT_EPSILON).recall
}

#[test]
fn every_backend_finds_near_neighbours_of_clustered_data() {
    let base = clustered(1000, 16, 8, 1, Metric::Cosine);
    let queries = clustered(50, 16, 8, 2, Metric::Cosine);
    for backend in backends() {
        let r = recall_at(&*backend, &base, &queries, 64);
        assert!(r > 0.9, "{}: recall {r}", backend.name());
        let l2 = clustered(500, 16, 8, 1, Metric::L2);
        let index = backend
            .build(&l2, &build_params(), &BuildOptions::parallel(4))
            .unwrap();
        assert_eq!(index.len(), 500);
        assert!(index.index_bytes() > 500 * 16 * 4, "{}", backend.name());
        let searcher = index.searcher(&Params::new().with(EF_SEARCH, 32)).unwrap();
        let mut out = Vec::new();
        searcher.search(l2.row(42), 1, &mut out).unwrap();
        assert_eq!(out, [42], "{}", backend.name());
    }
}

#[test]
fn every_backend_rejects_bad_input_with_typed_errors() {
    let base = clustered(100, 8, 4, 3, Metric::L2);
    let opts = BuildOptions::deterministic(1);
    for backend in backends() {
        let name = backend.name().to_owned();
        assert!(
            matches!(
                backend.build(&base, &Params::new(), &opts),
                Err(Error::MissingParam { .. })
            ),
            "{name}"
        );
        assert!(
            matches!(
                backend.build(&base, &build_params().with("mystery", 1), &opts),
                Err(Error::UnknownParam { .. })
            ),
            "{name}"
        );
        let index = backend.build(&base, &build_params(), &opts).unwrap();
        assert!(
            matches!(
                index.searcher(&Params::new()),
                Err(Error::MissingParam { .. })
            ),
            "{name}"
        );
        let searcher = index.searcher(&Params::new().with(EF_SEARCH, 16)).unwrap();
        let mut out = Vec::new();
        assert!(
            matches!(
                searcher.search(&[0.5; 3], 1, &mut out),
                Err(Error::DimensionMismatch { .. })
            ),
            "{name}"
        );
        assert!(
            matches!(
                searcher.search(base.row(0), 0, &mut out),
                Err(Error::InvalidK { .. })
            ),
            "{name}"
        );
        assert!(
            matches!(
                searcher.search(base.row(0), 101, &mut out),
                Err(Error::InvalidK { .. }) | Err(Error::KExceedsEfSearch { .. })
            ),
            "{name}"
        );
    }
}

#[test]
fn every_backend_does_what_its_capabilities_declare() {
    let base = clustered(300, 8, 4, 4, Metric::Cosine);
    let opts = BuildOptions::deterministic(2);
    for backend in backends() {
        let name = backend.name().to_owned();
        let caps = backend.capabilities();
        let space = backend.search_space().unwrap();
        assert_eq!(space.spec(M).is_some(), caps.tunable_m, "{name}");
        if caps.tunable_m {
            backend
                .build(&base, &build_params().with(M, 8), &opts)
                .unwrap();
        }
        let mut index = backend
            .build(&base.prefix(200), &build_params(), &opts)
            .unwrap();
        match index.extend(&base) {
            Ok(()) => {
                assert!(
                    caps.incremental_insert,
                    "{name} extends without declaring it"
                );
                assert_eq!(index.len(), 300, "{name}");
            }
            Err(Error::Unsupported { .. }) => {
                assert!(
                    !caps.incremental_insert,
                    "{name} declares extend but refuses it"
                );
            }
            Err(e) => panic!("{name}: {e}"),
        }
        // Searchers at different ef over one build answer independently.
        let a = index.searcher(&Params::new().with(EF_SEARCH, 10)).unwrap();
        let b = index.searcher(&Params::new().with(EF_SEARCH, 100)).unwrap();
        let (mut out_a, mut out_b) = (Vec::new(), Vec::new());
        for q in base.rows().take(20) {
            a.search(q, 10, &mut out_a).unwrap();
            b.search(q, 10, &mut out_b).unwrap();
            assert_eq!(out_a.len(), 10, "{name}");
            assert_eq!(out_b.len(), 10, "{name}");
        }
    }
}
