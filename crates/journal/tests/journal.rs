//! Behaviour specific to the object_store journal and registry: the key layout,
//! snapshot objects, damaged snapshots, mixed snapshot intervals, foreign objects,
//! corrupt promotions, and a property test of interleaved writers and readers.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::Backend;
use futures::TryStreamExt;
use hnswtune_core::{Error, PromotionRegistry, PromotionRules, Trial, TrialId, TrialJournal};
use hnswtune_journal::object_store::path::Path;
use hnswtune_journal::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use hnswtune_journal::{JournalOptions, ObjectStoreJournal, ObjectStorePromotions, StoreLocation};
use hnswtune_testkit::conformance::{completed_trial, index, metrics, running_trial};
use proptest::prelude::*;

async fn keys(store: &Arc<dyn ObjectStore>, prefix: &str) -> Vec<String> {
    let prefix = Path::from(prefix);
    let mut keys: Vec<String> = store
        .list(Some(&prefix))
        .map_ok(|m| m.location.to_string())
        .try_collect()
        .await
        .unwrap();
    keys.sort();
    keys
}

async fn append_n(
    journal: &ObjectStoreJournal,
    idx: &hnswtune_core::IndexName,
    n: usize,
) -> Vec<Trial> {
    let mut trials = Vec::new();
    for i in 0..n {
        let t = running_trial(idx, TrialId::new(), i as i64);
        journal.append(&t).await.unwrap();
        trials.push(t);
    }
    trials
}

#[tokio::test]
async fn layout_entries_and_snapshot_segments() {
    let backend = Backend::new(
        StoreLocation::parse("memory:///team").unwrap(),
        common::test_options(),
    );
    let journal = backend.journal();
    let idx = index("layout");
    append_n(&journal, &idx, 9).await;
    let keys = keys(&backend.store, "team/trials/layout").await;
    let entries: Vec<_> = keys.iter().filter(|k| k.contains("/entries/")).collect();
    assert_eq!(entries.len(), 9);
    assert_eq!(
        entries[0],
        "team/trials/layout/entries/00000000000000000001.json"
    );
    let snapshots: Vec<_> = keys.iter().filter(|k| k.contains("/snapshots/")).collect();
    assert_eq!(
        snapshots,
        vec![
            "team/trials/layout/snapshots/00000000000000000001-00000000000000000004.json",
            "team/trials/layout/snapshots/00000000000000000005-00000000000000000008.json",
        ],
        "the writer of each segment's last entry folds the segment"
    );

    let cold = backend.journal().read(&idx).await.unwrap();
    assert_eq!(cold.report.from_snapshot, 8);
    assert_eq!(
        cold.report.fetched, 1,
        "only the entry after the last segment"
    );
    assert_eq!(cold.trials.len(), 9);
}

#[tokio::test]
async fn incremental_refresh_costs_do_not_depend_on_history() {
    let backend = Backend::memory();
    let writer = backend.journal();
    let reader = backend.journal();
    let idx = index("refresh");
    append_n(&writer, &idx, 40).await;
    assert_eq!(reader.refresh(&idx).await.unwrap().entries, 40);
    writer
        .append(&running_trial(&idx, TrialId::new(), 1))
        .await
        .unwrap();
    let report = reader.refresh(&idx).await.unwrap();
    assert_eq!((report.entries, report.fetched), (41, 1));
    assert_eq!(reader.refresh(&idx).await.unwrap().fetched, 0);
}

#[tokio::test]
async fn a_damaged_snapshot_is_reported_and_its_entries_are_read_instead() {
    let backend = Backend::memory();
    let journal = backend.journal();
    let idx = index("damaged");
    let trials = append_n(&journal, &idx, 10).await;
    let key = Path::from("trials/damaged/snapshots/00000000000000000001-00000000000000000004.json");
    let original = backend
        .store
        .get(&key)
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    // Snapshots are Create-only for the journal; a damaged one is simulated by
    // overwriting it behind the journal's back.
    backend
        .store
        .put(
            &key,
            PutPayload::from(original[..original.len() / 2].to_vec()),
        )
        .await
        .unwrap();
    let cold = backend.journal().read(&idx).await.unwrap();
    assert_eq!(cold.trials, trials);
    assert_eq!(cold.report.skipped.len(), 1);
    assert_eq!(cold.report.skipped[0].key, key.to_string());
    // Entries 1-4 are read one by one; the sound segment 5-8 after them is used whole.
    assert_eq!(cold.report.from_snapshot, 4);
    assert_eq!(cold.report.entries, 10);

    // An oversized snapshot is refused from its listed size, before it is fetched.
    let tight = backend
        .journal()
        .with_options(common::test_options().with_max_snapshot_bytes(16))
        .unwrap();
    let read = tight.read(&idx).await.unwrap();
    assert_eq!(read.trials, trials);
    assert!(
        read.report.skipped[0].why.contains("over the limit"),
        "{:?}",
        read.report
    );
}

#[tokio::test]
async fn writers_with_different_snapshot_intervals_agree() {
    let backend = Backend::memory();
    let idx = index("mixed");
    let fours = backend.journal();
    let sixes = backend
        .journal()
        .with_options(common::test_options().with_snapshot_every(6))
        .unwrap();
    let mut all = append_n(&fours, &idx, 7).await;
    all.extend(append_n(&sixes, &idx, 11).await);
    all.extend(append_n(&fours, &idx, 9).await);
    all.sort_by_key(|t| t.id);
    for journal in [backend.journal(), fours, sixes] {
        let read = journal.read(&idx).await.unwrap();
        assert_eq!(read.trials, all);
        assert_eq!(read.report.entries, 27);
        assert!(read.report.skipped.is_empty());
    }
    let cold = backend.journal().read(&idx).await.unwrap();
    assert!(cold.report.from_snapshot >= 16, "{:?}", cold.report);
}

#[tokio::test]
async fn foreign_objects_are_ignored_and_indexes_listed() {
    let backend = Backend::local(false);
    let journal = backend.journal();
    for name in ["b", "a", "a.b"] {
        append_n(&journal, &index(name), 1).await;
    }
    for stray in [
        "trials/.git/x",
        "trials/a/snapshots/notes.txt",
        "trials/a/README",
    ] {
        backend
            .store
            .put(&Path::from(stray), PutPayload::from_static(b"x"))
            .await
            .unwrap();
    }
    let names: Vec<String> = backend
        .journal()
        .indexes()
        .await
        .unwrap()
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, vec!["a", "a.b", "b"]);
    let read = backend.journal().read(&index("a")).await.unwrap();
    assert_eq!(read.trials.len(), 1);
    assert!(read.report.skipped.is_empty());
}

#[tokio::test]
async fn corrupt_or_oversized_promotions_are_errors_not_guesses() {
    let backend = Backend::memory();
    let registry = backend.promotions();
    let idx = index("promo");
    let objective = hnswtune_core::Objective::new(0.5).unwrap();
    let t = completed_trial(&idx, 0.9, 10.0);
    registry.promote(&t, &objective, 0, "a", "").await.unwrap();
    backend
        .store
        .put(
            &Path::from("promotions/promo/00000000000000000002.json"),
            PutPayload::from_static(b"{\"index\":"),
        )
        .await
        .unwrap();
    let err = registry.history(&idx).await.unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("00000000000000000002"), "{err}");
}

#[tokio::test]
async fn local_default_creates_its_directory_and_urls_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep/nested/journal");
    let journal = ObjectStoreJournal::local(&path, true).unwrap();
    let idx = index("local");
    let t = completed_trial(&idx, 0.9, 10.0);
    journal.append(&t).await.unwrap();
    assert!(
        path.join("trials/local/entries/00000000000000000001.json")
            .is_file()
    );
    let url = format!("file://{}", path.display());
    assert_eq!(
        ObjectStoreJournal::from_url(&url)
            .unwrap()
            .trials(&idx)
            .await
            .unwrap(),
        vec![t]
    );
    let registry = ObjectStorePromotions::from_url(&url).unwrap();
    assert!(registry.history(&idx).await.unwrap().is_empty());
    for bad in ["gopher://x", "file://relative", "memory:///../up"] {
        assert!(ObjectStoreJournal::from_url(bad).is_err(), "{bad}");
    }
}

#[tokio::test]
async fn entry_size_limit_applies_on_append_and_read() {
    let backend = Backend::memory();
    let idx = index("limits");
    let mut big = completed_trial(&idx, 0.9, 10.0);
    big.note = "n".repeat(common::MAX_ENTRY_BYTES as usize);
    let err = backend.journal().append(&big).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { .. }), "{err}");
    // A journal with a larger limit writes it; one with the small limit skips it.
    let generous = backend
        .journal()
        .with_options(JournalOptions::default())
        .unwrap();
    generous.append(&big).await.unwrap();
    let read = backend.journal().read(&idx).await.unwrap();
    assert!(read.trials.is_empty());
    assert_eq!(read.report.skipped.len(), 1);
    assert!(
        read.report.skipped[0]
            .why
            .contains("refused before parsing")
    );
}

/// One step of an interleaving: which handle acts, and whether it appends a new
/// trial, completes an open one, or reads.
#[derive(Clone, Debug)]
enum Step {
    Append(usize),
    Complete(usize),
    Read(usize),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (0..3usize).prop_map(Step::Append),
        2 => (0..3usize).prop_map(Step::Complete),
        1 => (0..3usize).prop_map(Step::Read),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Whatever the interleaving of three handles appending, completing and reading,
    /// with snapshot intervals of 2, 3 and 4, every handle and a cold reader see
    /// exactly the model: each trial in its last appended state.
    #[test]
    fn interleaved_handles_agree_with_the_model(steps in proptest::collection::vec(step(), 1..60)) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let backend = Backend::memory();
            let idx = index("model");
            let handles: Vec<ObjectStoreJournal> = [2, 3, 4]
                .into_iter()
                .map(|every| {
                    backend
                        .journal()
                        .with_options(common::test_options().with_snapshot_every(every))
                        .unwrap()
                })
                .collect();
            let mut model: BTreeMap<TrialId, Trial> = BTreeMap::new();
            let mut open: Vec<Trial> = Vec::new();
            for step in steps {
                match step {
                    Step::Append(h) => {
                        let t = running_trial(&idx, TrialId::new(), model.len() as i64);
                        handles[h].append(&t).await.unwrap();
                        model.insert(t.id, t.clone());
                        open.push(t);
                    }
                    Step::Complete(h) => {
                        if let Some(t) = open.pop() {
                            let done = t.complete(metrics(0.9, 10.0));
                            handles[h].append(&done).await.unwrap();
                            model.insert(done.id, done);
                        }
                    }
                    Step::Read(h) => {
                        let read = handles[h].read(&idx).await.unwrap();
                        assert_eq!(read.trials, model.values().cloned().collect::<Vec<_>>());
                    }
                }
            }
            let want: Vec<Trial> = model.values().cloned().collect();
            for h in &handles {
                assert_eq!(h.read(&idx).await.unwrap().trials, want);
            }
            let cold = backend.journal().read(&idx).await.unwrap();
            assert_eq!(cold.trials, want);
            assert!(cold.report.skipped.is_empty());
        });
    }
}

/// A log sink for the tracing test.
#[derive(Clone, Default)]
struct LogBuffer(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn skipped_entries_are_logged_with_their_key() {
    let logs = LogBuffer::default();
    let sink = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || sink.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let backend = Backend::memory();
            let journal = backend.journal();
            let idx = index("logged");
            journal
                .store()
                .put(
                    &journal.entry_key(&idx, 1),
                    PutPayload::from_static(b"{oops"),
                )
                .await
                .unwrap();
            let read = journal.read(&idx).await.unwrap();
            assert_eq!(read.report.skipped.len(), 1);
        });
    });
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains("skipping journal entry"), "{text}");
    assert!(
        text.contains("trials/logged/entries/00000000000000000001.json"),
        "{text}"
    );
}

/// A read hands out a shared view: later appends do not change a view a caller holds,
/// and the next read sees them, including a state change of a trial already in the view.
#[tokio::test]
async fn a_held_read_is_a_stable_view() {
    let backend = Backend::new(
        StoreLocation::parse("memory:///views").unwrap(),
        common::test_options(),
    );
    let journal = backend.journal();
    let idx = index("views");
    let first = append_n(&journal, &idx, 3).await;
    let held = journal.read(&idx).await.unwrap().trials;
    assert_eq!(held, first);

    let done = first[1].clone().complete(metrics(0.97, 120.0));
    journal.append(&done).await.unwrap();
    let newer = running_trial(&idx, TrialId::new(), 99);
    journal.append(&newer).await.unwrap();

    assert_eq!(held, first, "the held view did not change");
    let now = journal.read(&idx).await.unwrap().trials;
    assert_eq!(now, vec![first[0].clone(), done, first[2].clone(), newer]);
    let again = journal.read(&idx).await.unwrap().trials;
    assert!(
        std::ptr::eq(now.as_slice(), again.as_slice()),
        "a read without news shares the cached list instead of copying it"
    );
}
