//! Conformance suites: one set of async test functions that every
//! [`TrialJournal`](hnswtune_core::TrialJournal) and
//! [`PromotionRegistry`](hnswtune_core::PromotionRegistry) backend runs, a host's own
//! included.
//!
//! A backend describes itself with [`JournalBackend`] or [`PromotionBackend`]: a fresh,
//! empty storage space per test, from which any number of independent handles can be
//! opened (each handle stands for another process). The suite functions panic with a
//! message on the first broken rule, so they read as ordinary test bodies.
//!
//! The macros [`journal_conformance!`](crate::journal_conformance) and
//! [`promotion_conformance!`](crate::promotion_conformance) expand to one
//! `#[tokio::test]` per suite function, so adding a backend is one line:
//!
//! ```ignore
//! mod in_memory { hnswtune_testkit::journal_conformance!(crate::memory_backend()); }
//! ```
//!
//! The argument is an expression of type `Option<B>`: `None` means the backend is not
//! available here (for example no S3 endpoint is configured). The macro then prints a
//! `skipped: ...` line, which the backend's constructor should make explicit, and the
//! test returns.

pub mod journal;
pub mod promotions;
pub mod proposer;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::Utc;
use hnswtune_core::{
    BuildKind, DatasetFingerprint, EF_CONSTRUCTION, EF_SEARCH, Error, IndexName, Params,
    PromotionRegistry, Trial, TrialId, TrialJournal, TrialMetrics, TriggerReason,
};

pub use journal::*;
pub use promotions::*;

/// A journal backend under test: one fresh storage space.
pub trait JournalBackend: Send + Sync {
    /// A new, independent handle (its own caches) on this backend's storage.
    fn open(&self) -> Arc<dyn TrialJournal>;

    /// Raw write access for the corrupt-entry test; `None` when the backend cannot
    /// inject bytes (that test is then skipped with a printed line).
    fn raw(&self) -> Option<Arc<dyn RawEntryWriter>> {
        None
    }

    /// Entries per snapshot, when the backend snapshots (small values make the
    /// snapshot test fast).
    fn snapshot_every(&self) -> Option<usize> {
        None
    }

    /// The backend's limit on one entry's size, if it has one.
    fn max_entry_bytes(&self) -> Option<u64> {
        None
    }
}

/// Writes bytes where the next journal entry of an index goes, bypassing every check
/// the journal makes on append: a stand-in for a crashed, buggy or future writer.
#[async_trait]
pub trait RawEntryWriter: Send + Sync {
    /// Stores `bytes` as the next entry of `index`, exactly as given.
    async fn append_raw(&self, index: &IndexName, bytes: Vec<u8>) -> Result<(), Error>;
}

/// A promotion registry backend under test: one fresh storage space.
pub trait PromotionBackend: Send + Sync {
    /// A new, independent handle on this backend's storage.
    fn open(&self) -> Arc<dyn PromotionRegistry>;
}

/// Reports a skipped test on the real stderr, past the test harness's output
/// capture, so that a skip is always visible in `cargo test` output.
pub fn report_skip(what: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "skipped: {what}");
}

/// An index name for tests; panics on an invalid literal (a bug in the test).
pub fn index(name: &str) -> IndexName {
    IndexName::new(name).expect("test index names are valid")
}

/// A dataset fingerprint for tests.
pub fn dataset() -> DatasetFingerprint {
    DatasetFingerprint {
        vector_count: 1000,
        dimension: 16,
        content_hash: "0123456789abcdef".into(),
    }
}

/// Plausible metrics with the given recall and p50.
pub fn metrics(recall: f64, p50_us: f64) -> TrialMetrics {
    TrialMetrics {
        build_secs: 0.5,
        search_p50_us: p50_us,
        search_p95_us: p50_us * 1.5,
        search_p99_us: p50_us * 2.0,
        qps: 1e6 / p50_us.max(1.0),
        recall,
        recall_tolerant: recall,
        k: 10,
        index_bytes: 1 << 20,
        vector_count: 1000,
        eval_query_count: 100,
        brute_force_us: 900.0,
        search_secs: 0.1,
        build_kind: BuildKind::Fresh,
        config_build_secs: None,
        p50_pass_spread: None,
    }
}

/// A `Running` trial of `index` with id `id` and `ef_search = ef_search`.
pub fn running_trial(index: &IndexName, id: TrialId, ef_search: i64) -> Trial {
    let mut trial = Trial::start(
        index.clone(),
        "eval",
        Params::new()
            .with(EF_CONSTRUCTION, 100)
            .with(EF_SEARCH, ef_search),
        dataset(),
        TriggerReason::Manual,
    );
    trial.id = id;
    trial.created_at = id.created_at();
    trial.worker = "conformance".into();
    trial
}

/// A `Complete` trial of `index` with a fresh id and the given recall and p50.
pub fn completed_trial(index: &IndexName, recall: f64, p50_us: f64) -> Trial {
    let mut trial = running_trial(index, TrialId::new(), 40).complete(metrics(recall, p50_us));
    trial.finished_at = Some(Utc::now());
    trial
}

/// Expands to one `#[tokio::test]` per journal suite function, for the backend the
/// expression (an `Option<impl JournalBackend>`) builds. Use it inside a module per
/// backend; the calling crate needs `tokio` with the `macros` and `rt-multi-thread`
/// features.
#[macro_export]
macro_rules! journal_conformance {
    ($backend:expr) => {
        $crate::__conformance_tests!(
            $backend;
            journal;
            append_and_read_round_trip,
            reads_are_sorted_and_folded_in_append_order,
            incremental_reads_fetch_only_new_entries,
            snapshots_fold_history_consistently,
            corrupt_entries_are_skipped_and_reported,
            invalid_input_is_refused,
            concurrent_appenders_lose_and_duplicate_nothing,
        );
    };
}

/// Expands to one `#[tokio::test]` per promotion suite function, for the backend the
/// expression (an `Option<impl PromotionBackend>`) builds.
#[macro_export]
macro_rules! promotion_conformance {
    ($backend:expr) => {
        $crate::__conformance_tests!(
            $backend;
            promotions;
            promotion_chain_round_trip,
            promotion_rules_are_enforced,
            the_chain_stays_linear,
            concurrent_promoters_have_one_winner_per_revision,
        );
    };
}

/// Expands to one `#[test]` per proposer suite function
/// ([`conformance::proposer`](crate::conformance::proposer)) for the strategy that the
/// constructor (`Fn(u64) -> impl Proposer`, given the seed) builds. Use it inside a
/// module per strategy.
///
/// ```ignore
/// mod frontier { hnswtune_testkit::proposer_conformance!(hnswtune_propose::Frontier::seeded); }
/// ```
#[macro_export]
macro_rules! proposer_conformance {
    ($make:expr) => {
        fn __make(seed: u64) -> ::std::boxed::Box<dyn $crate::__reexport::Proposer> {
            #[allow(
                clippy::redundant_closure_call,
                reason = "the argument is a constructor"
            )]
            ::std::boxed::Box::new(($make)(seed))
        }
        $crate::__proposer_tests!(
            bounds_and_steps,
            dedup,
            determinism,
            none_only_when_exhausted,
            tolerates_failed_and_running,
            tolerates_foreign_history,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __proposer_tests {
    ($($name:ident),+ $(,)?) => {$(
        #[test]
        fn $name() {
            $crate::conformance::proposer::$name(&__make);
        }
    )+};
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_tests {
    ($backend:expr; $module:ident; $($name:ident),+ $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(backend) = $backend else {
                $crate::conformance::report_skip(stringify!($name));
                return;
            };
            $crate::conformance::$module::$name(&backend).await;
        }
    )+};
}
