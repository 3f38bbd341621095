//! Criterion benchmarks of hnswtune-harness live in `benches/`; this library is empty.
