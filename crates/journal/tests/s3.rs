//! The conformance suites against a real S3-compatible server (moto in CI).
//!
//! Set `HNSWTUNE_TEST_S3_ENDPOINT` (for example `http://127.0.0.1:9000`) and
//! optionally `HNSWTUNE_TEST_S3_BUCKET` (default `hnswtune-test`, which must exist).
//! `.ci/s3-conformance.sh` does all of that. Without the endpoint every test prints a
//! `skipped:` line and returns, unless `HNSWTUNE_TEST_S3_REQUIRED` is set (the CI
//! script sets it): then a missing endpoint fails the test, so a green S3 step means
//! the suites really ran against the server.

#![cfg(feature = "s3")]

mod common;

use std::io::Write;
use std::sync::Arc;

use common::Backend;
use hnswtune_core::TrialId;
use hnswtune_journal::StoreLocation;
use hnswtune_journal::object_store::aws::AmazonS3Builder;

/// A fresh prefix in the test bucket, or `None` (with a printed reason).
fn s3() -> Option<Backend> {
    let Ok(endpoint) = std::env::var("HNSWTUNE_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var_os("HNSWTUNE_TEST_S3_REQUIRED").is_none(),
            "HNSWTUNE_TEST_S3_REQUIRED is set but HNSWTUNE_TEST_S3_ENDPOINT is not: the S3 \
             server this run expected is missing, so the S3 suites would not run"
        );
        let _ = writeln!(
            std::io::stderr().lock(),
            "skipped: set HNSWTUNE_TEST_S3_ENDPOINT (and HNSWTUNE_TEST_S3_BUCKET) to run the S3 \
             conformance tests against an S3-compatible server; .ci/s3-conformance.sh starts one"
        );
        return None;
    };
    let bucket =
        std::env::var("HNSWTUNE_TEST_S3_BUCKET").unwrap_or_else(|_| "hnswtune-test".into());
    let store = AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(bucket)
        .with_access_key_id("test")
        .with_secret_access_key("test")
        .build()
        .expect("S3 client");
    let prefix = format!("conformance/{}", TrialId::new());
    Some(Backend::new(
        StoreLocation::new(Arc::new(store), prefix),
        common::test_options(),
    ))
}

mod journal {
    hnswtune_testkit::journal_conformance!(super::s3());
}
mod promotions {
    hnswtune_testkit::promotion_conformance!(super::s3());
}
mod leases {
    crate::lease_suite!(super::s3());
}
