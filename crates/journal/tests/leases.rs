//! The lease rules on the in-memory store and on local disk (S3 runs them in
//! `tests/s3.rs`), and the segment catch-up read that keeps many workers' reads cheap.

mod common;

use common::Backend;
use hnswtune_core::{TrialId, TrialJournal};
use hnswtune_testkit::conformance::{index, running_trial};

mod memory {
    crate::lease_suite!(Some(super::Backend::memory()));
}
mod local {
    crate::lease_suite!(Some(super::Backend::local(false)));
}

/// A reader far behind takes whole segments: its entry fetches stay below one
/// segment's length however many entries other workers wrote.
#[tokio::test]
async fn a_reader_far_behind_takes_whole_segments() {
    let backend = Backend::memory();
    let (writer, reader) = (backend.journal(), backend.journal());
    let idx = index("catchup");
    writer
        .append(&running_trial(&idx, TrialId::new(), 1))
        .await
        .unwrap();
    assert_eq!(reader.refresh(&idx).await.unwrap().fetched, 1);
    for i in 0..40 {
        writer
            .append(&running_trial(&idx, TrialId::new(), i))
            .await
            .unwrap();
    }
    let report = reader.refresh(&idx).await.unwrap();
    assert_eq!(report.entries, 41);
    assert!(
        report.fetched <= 2 * common::SNAPSHOT_EVERY as usize,
        "fetched {} entries one by one",
        report.fetched
    );
    assert!(report.from_snapshot >= 32, "{report:?}");
    assert_eq!(
        reader.trials(&idx).await.unwrap(),
        backend.journal().trials(&idx).await.unwrap()
    );
}
