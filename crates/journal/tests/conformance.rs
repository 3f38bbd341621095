//! The conformance suites on InMemory and LocalFileSystem: one line per backend.

mod common;

use common::Backend;

mod memory {
    hnswtune_testkit::journal_conformance!(Some(super::Backend::memory()));
}
mod memory_without_snapshots {
    hnswtune_testkit::journal_conformance!(Some(
        super::Backend::memory().with_options(super::common::test_options().with_snapshot_every(0))
    ));
}
mod local {
    hnswtune_testkit::journal_conformance!(Some(super::Backend::local(false)));
}
mod local_fsync {
    hnswtune_testkit::journal_conformance!(Some(super::Backend::local(true)));
}

mod memory_promotions {
    hnswtune_testkit::promotion_conformance!(Some(super::Backend::memory()));
}
mod local_promotions {
    hnswtune_testkit::promotion_conformance!(Some(super::Backend::local(false)));
}
