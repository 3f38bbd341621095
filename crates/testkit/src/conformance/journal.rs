//! The journal suite: what every [`TrialJournal`] must do.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use hnswtune_core::{
    Error, IndexName, MAX_INDEX_NAME_BYTES, Trial, TrialId, TrialJournal, TrialState,
};

use super::{JournalBackend, completed_trial, index, metrics, running_trial};

fn ids(trials: &[Trial]) -> Vec<TrialId> {
    trials.iter().map(|t| t.id).collect()
}

/// Appends and reads back: states fold by id (the latest append wins), `get` finds
/// a trial or says `NotFound`, indexes are listed, and a second handle sees the same.
pub async fn append_and_read_round_trip(backend: &dyn JournalBackend) {
    let journal = backend.open();
    let idx = index("round-trip");
    let empty = journal.read(&idx).await.expect("reading an empty index");
    assert!(empty.trials.is_empty() && empty.report.entries == 0);
    assert!(empty.report.skipped.is_empty());

    let first = running_trial(&idx, TrialId::new(), 10);
    let second = running_trial(&idx, TrialId::new(), 20);
    let first_done = first.clone().complete(metrics(0.97, 120.0));
    for t in [&first, &second, &first_done] {
        journal.append(t).await.expect("append");
    }

    let read = journal.read(&idx).await.expect("read");
    assert_eq!(read.trials, vec![first_done.clone(), second.clone()]);
    assert_eq!(read.report.entries, 3);
    assert!(read.report.skipped.is_empty());

    assert_eq!(journal.get(&idx, first.id).await.expect("get"), first_done);
    let missing = journal.get(&idx, TrialId::new()).await.unwrap_err();
    assert!(matches!(missing, Error::NotFound { .. }), "{missing}");

    match journal.indexes().await {
        Ok(names) => assert_eq!(names, vec![idx.clone()]),
        Err(Error::Unsupported { .. }) => {}
        Err(e) => panic!("indexes: {e}"),
    }
    assert!(
        journal
            .read(&index("other"))
            .await
            .unwrap()
            .trials
            .is_empty(),
        "indexes are separate"
    );

    let other_handle = backend.open();
    assert_eq!(other_handle.read(&idx).await.unwrap().trials, read.trials);
}

/// Reads are sorted by trial id (creation time) whatever the append order, and the
/// state appended last wins even when it is "older" than an earlier one.
pub async fn reads_are_sorted_and_folded_in_append_order(backend: &dyn JournalBackend) {
    let journal = backend.open();
    let idx = index("sorting");
    // Timestamps in a scrambled order, spanning years.
    let stamps: Vec<u64> = (0..24u64)
        .map(|i| 1_600_000_000_000 + (i * 7919 % 24) * 86_400_000 * 30)
        .collect();
    let mut expected = Vec::new();
    for (i, ts) in stamps.iter().enumerate() {
        let t = running_trial(&idx, TrialId::from_parts(*ts, i as u128), 10 + i as i64);
        journal.append(&t).await.expect("append");
        expected.push(t);
    }
    // A completed trial later marked failed: the failure is the latest state.
    let done = expected[3].clone().complete(metrics(0.9, 100.0));
    let failed = expected[3].clone().fail("re-measured: crashed");
    journal.append(&done).await.unwrap();
    journal.append(&failed).await.unwrap();
    expected[3] = failed;
    expected.sort_by_key(|t| t.id);

    let read = journal.read(&idx).await.expect("read");
    assert_eq!(ids(&read.trials), ids(&expected), "sorted by id");
    assert_eq!(read.trials, expected);
    let cold = backend.open().read(&idx).await.unwrap();
    assert_eq!(cold.trials, expected, "a fresh handle folds the same way");
}

/// After a first read, a reader fetches only entries it has not seen, including
/// entries written through another handle.
pub async fn incremental_reads_fetch_only_new_entries(backend: &dyn JournalBackend) {
    let reader = backend.open();
    let writer = backend.open();
    let idx = index("incremental");
    assert!(reader.read(&idx).await.unwrap().trials.is_empty());

    for i in 0..5 {
        writer
            .append(&running_trial(&idx, TrialId::new(), 10 + i))
            .await
            .unwrap();
    }
    let read = reader.read(&idx).await.unwrap();
    assert_eq!(read.trials.len(), 5);
    assert_eq!(read.report.entries, 5);

    let newest = completed_trial(&idx, 0.95, 80.0);
    writer.append(&newest).await.unwrap();
    let read = reader.read(&idx).await.unwrap();
    assert_eq!(read.trials.len(), 6);
    assert_eq!(read.report.entries, 6);
    assert_eq!(read.trials.last(), Some(&newest));
    assert!(
        read.report.fetched <= 1,
        "an incremental read fetched {} entries for one new one",
        read.report.fetched
    );

    let again = reader.read(&idx).await.unwrap();
    assert_eq!(again.report.fetched, 0, "nothing new, nothing fetched");
    assert_eq!(again.trials, read.trials);
}

/// With snapshots: a cold read uses them and equals a warm read, including while
/// writers append across snapshot boundaries concurrently with readers.
pub async fn snapshots_fold_history_consistently(backend: &dyn JournalBackend) {
    let Some(every) = backend.snapshot_every() else {
        super::report_skip("snapshots_fold_history_consistently (the backend has no snapshots)");
        return;
    };
    let idx = index("snapshots");
    let writer = backend.open();
    let mut expected: BTreeMap<TrialId, Trial> = BTreeMap::new();
    // 3 segments and a bit, with state changes that cross segment boundaries.
    let mut open_trials = Vec::new();
    let mut entries = 0;
    while entries < 3 * every + 2 {
        let t = running_trial(&idx, TrialId::new(), 10);
        writer.append(&t).await.unwrap();
        expected.insert(t.id, t.clone());
        open_trials.push(t);
        entries += 1;
        if open_trials.len() == 3 {
            let done = open_trials.remove(0).complete(metrics(0.9, 50.0));
            writer.append(&done).await.unwrap();
            expected.insert(done.id, done);
            entries += 1;
        }
    }
    let warm = writer.read(&idx).await.unwrap();
    let cold = backend.open().read(&idx).await.unwrap();
    let want: Vec<Trial> = expected.values().cloned().collect();
    assert_eq!(warm.trials, want);
    assert_eq!(
        cold.trials, want,
        "a cold read through snapshots equals the history"
    );
    assert_eq!(cold.report.entries, warm.report.entries);
    assert!(
        cold.report.from_snapshot >= every,
        "the cold read used no snapshot: {:?}",
        cold.report
    );
    assert!(cold.report.fetched < cold.report.entries);

    // Concurrent writers cross several boundaries while a reader keeps reading.
    let writers = 8;
    let per_writer = every.max(2);
    let reader = backend.open();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let journal = backend.open();
        let idx = idx.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            for i in 0..per_writer {
                let t = running_trial(&idx, TrialId::new(), (w * 1000 + i) as i64);
                journal.append(&t).await.expect("concurrent append");
                mine.push(t);
            }
            mine
        }));
    }
    let reading = {
        let reader = reader.clone();
        let idx = idx.clone();
        tokio::spawn(async move {
            for _ in 0..8 {
                reader.read(&idx).await.expect("read during writes");
                tokio::task::yield_now().await;
            }
        })
    };
    for task in tasks {
        for t in task.await.expect("writer task") {
            expected.insert(t.id, t);
        }
    }
    reading.await.expect("reader task");
    let want: Vec<Trial> = expected.values().cloned().collect();
    let during = reader.read(&idx).await.unwrap();
    assert_eq!(
        during.trials, want,
        "the reader that read during the writes"
    );
    let cold = backend.open().read(&idx).await.unwrap();
    assert_eq!(cold.trials, want, "a cold reader after the writes");
    assert_eq!(cold.report.entries, during.report.entries);
    assert!(cold.report.skipped.is_empty());
}

/// Entries that cannot be decoded are skipped, counted and reported, never fatal:
/// invalid JSON, a truncated object, an unknown schema version, and an entry over the
/// size limit.
pub async fn corrupt_entries_are_skipped_and_reported(backend: &dyn JournalBackend) {
    let Some(raw) = backend.raw() else {
        super::report_skip("corrupt_entries_are_skipped_and_reported (no raw access)");
        return;
    };
    let journal = backend.open();
    let idx = index("corrupt");
    let good = running_trial(&idx, TrialId::new(), 10);
    journal.append(&good).await.unwrap();

    let sample = serde_json::to_vec(&running_trial(&idx, TrialId::new(), 11)).unwrap();
    let mut future: serde_json::Value = serde_json::from_slice(&sample).unwrap();
    future["schema_version"] = 99.into();
    let mut bad: Vec<(&str, Vec<u8>)> = vec![
        ("invalid JSON", b"{ this is not json".to_vec()),
        ("truncated", sample[..sample.len() / 2].to_vec()),
        ("unknown schema", serde_json::to_vec(&future).unwrap()),
    ];
    if let Some(limit) = backend.max_entry_bytes() {
        let mut big = running_trial(&idx, TrialId::new(), 12);
        big.note = "x".repeat(limit as usize + 1);
        bad.push(("too large", serde_json::to_vec(&big).unwrap()));
        let refused = journal.append(&big).await.unwrap_err();
        assert!(matches!(refused, Error::TooLarge { .. }), "{refused}");
    }
    for (_, bytes) in &bad {
        raw.append_raw(&idx, bytes.clone())
            .await
            .expect("raw write");
    }
    let after = completed_trial(&idx, 0.93, 70.0);
    journal
        .append(&after)
        .await
        .expect("appending after corrupt entries");

    let read = journal
        .read(&idx)
        .await
        .expect("corrupt entries are not fatal");
    assert_eq!(read.trials, vec![good.clone(), after.clone()]);
    assert_eq!(read.report.entries, 2 + bad.len());
    assert_eq!(read.report.skipped.len(), bad.len(), "{:?}", read.report);
    let keys: BTreeSet<&str> = read.report.skipped.iter().map(|s| s.key.as_str()).collect();
    assert_eq!(keys.len(), bad.len(), "each skip names its own key");
    for s in &read.report.skipped {
        assert!(!s.why.is_empty());
    }

    let cold = backend.open().read(&idx).await.unwrap();
    assert_eq!(cold.trials, read.trials);
    assert_eq!(
        cold.report.skipped, read.report.skipped,
        "a cold read reports the same"
    );
}

/// Unsafe index names are refused with a typed error; invalid trials are refused
/// before anything is written; neighbouring names stay apart.
pub async fn invalid_input_is_refused(backend: &dyn JournalBackend) {
    let long = "x".repeat(MAX_INDEX_NAME_BYTES + 1);
    for bad in [
        "",
        "../x",
        "a/b",
        "..",
        ".hidden",
        "tab\there",
        "nul\0",
        long.as_str(),
    ] {
        let err = IndexName::new(bad).unwrap_err();
        assert!(matches!(err, Error::InvalidName { .. }), "{bad:?}: {err}");
    }

    let journal = backend.open();
    let idx = index("invalid");
    let mut nan = completed_trial(&idx, 0.9, 10.0);
    if let Some(m) = nan.metrics.as_mut() {
        m.search_p50_us = f64::NAN;
    }
    let mut no_metrics = running_trial(&idx, TrialId::new(), 10);
    no_metrics.state = TrialState::Complete;
    let mut future = running_trial(&idx, TrialId::new(), 10);
    future.schema_version = 99;
    for t in [&nan, &no_metrics, &future] {
        let err = journal.append(t).await.unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    }
    let read = journal.read(&idx).await.unwrap();
    assert!(read.trials.is_empty() && read.report.entries == 0);

    let names = [
        "a",
        "a.b",
        "a-b",
        "ab",
        "A",
        &"n".repeat(MAX_INDEX_NAME_BYTES),
    ];
    for (i, name) in names.iter().enumerate() {
        let t = running_trial(&index(name), TrialId::new(), i as i64);
        journal.append(&t).await.unwrap();
    }
    for name in names {
        let read = backend.open().read(&index(name)).await.unwrap();
        assert_eq!(
            read.trials.len(),
            1,
            "index {name:?} holds only its own trial"
        );
        assert_eq!(read.trials[0].index.as_str(), name);
    }
}

/// 16 appenders with their own handles, and 16 tasks sharing one handle, append at
/// once: no entry is lost or duplicated.
pub async fn concurrent_appenders_lose_and_duplicate_nothing(backend: &dyn JournalBackend) {
    let idx = index("concurrent");
    let per_task = 4;
    let shared = backend.open();
    let mut tasks = Vec::new();
    for task in 0..32 {
        let journal: Arc<dyn TrialJournal> = if task < 16 {
            backend.open()
        } else {
            shared.clone()
        };
        let idx = idx.clone();
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            for i in 0..per_task {
                let t = running_trial(&idx, TrialId::new(), task * 100 + i);
                journal.append(&t).await.expect("append");
                let t = t.complete(metrics(0.9, 100.0));
                journal.append(&t).await.expect("append");
                done.push(t);
            }
            done
        }));
    }
    let mut expected = Vec::new();
    for task in tasks {
        expected.extend(task.await.expect("task"));
    }
    expected.sort_by_key(|t| t.id);
    let read = backend.open().read(&idx).await.unwrap();
    assert_eq!(read.report.entries, expected.len() * 2, "every entry, once");
    assert_eq!(read.trials, expected);
    let warm = shared.read(&idx).await.unwrap();
    assert_eq!(warm.trials, expected);
}
