//! [`ObjectStoreJournal`]: the trial journal on any object store.
//!
//! ## Invariants
//!
//! - Entry `n` of an index is the object `trials/<index>/entries/<n>.json`, written
//!   once with `PutMode::Create` and never rewritten or deleted.
//! - Entries are **dense**: a writer creates entry `n` only after it has seen entry
//!   `n - 1` exist (its own earlier append, an `AlreadyExists` on `n - 1`, or a probe).
//!   So the entries of an index are always exactly `1..=head`, in every backend and
//!   across processes.
//! - A reader consumes entries strictly in sequence and stops at the first missing
//!   one. What it has read is therefore always a prefix of the log, and the next read
//!   continues from where it stopped without listing anything.
//! - A snapshot covers a range that was fully read, so it never changes (see
//!   [`crate::snapshot`] and docs/decisions).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use hnswtune_core::{
    Error, IndexName, JournalRead, ReadReport, SCHEMA_VERSION, SkippedEntry, Trial, TrialJournal,
    Trials,
};
use object_store::path::Path;
use object_store::{GetOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::Deserialize;
use tokio::sync::Mutex as AsyncMutex;

use crate::StoreLocation;
use crate::error::from_store;
use crate::keys::{Layout, parse_snapshot_name};
use crate::snapshot::{SNAPSHOT_FORMAT, SnapshotDoc, SnapshotRef, choose_chain, fold};

/// How many times one append tries to claim a sequence number before it gives up
/// with [`Error::Conflict`]. Each retry jumps to the current head, so this is only
/// reached under pathological contention.
const MAX_CLAIM_ATTEMPTS: usize = 1000;

/// Tuning knobs of an [`ObjectStoreJournal`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct JournalOptions {
    /// Entries per snapshot segment; 0 turns snapshots off. Default 1000.
    pub snapshot_every: u64,
    /// The largest entry accepted on append and read; larger entries are refused
    /// before they are parsed. Default 1 MiB.
    pub max_entry_bytes: u64,
    /// The largest snapshot a reader will fetch; a larger one is skipped (and its
    /// entries read one by one). Default 1 GiB.
    pub max_snapshot_bytes: u64,
    /// Requests a read keeps in flight. Default 32.
    pub fetch_concurrency: usize,
    /// Whether reads and appends write the snapshot segments that are due. Default
    /// true; a read-only viewer such as `hnswtune serve` turns it off so that it never
    /// writes to the store it watches ([`ObjectStoreJournal::compact`] still does).
    pub write_snapshots: bool,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            snapshot_every: 1000,
            max_entry_bytes: 1 << 20,
            max_snapshot_bytes: 1 << 30,
            fetch_concurrency: 32,
            write_snapshots: true,
        }
    }
}

impl JournalOptions {
    /// Sets [`JournalOptions::snapshot_every`].
    pub fn with_snapshot_every(mut self, entries: u64) -> Self {
        self.snapshot_every = entries;
        self
    }

    /// Turns off [`JournalOptions::write_snapshots`]: a handle that reads and never
    /// writes a snapshot.
    pub fn read_only(mut self) -> Self {
        self.write_snapshots = false;
        self
    }

    /// Sets [`JournalOptions::max_entry_bytes`].
    pub fn with_max_entry_bytes(mut self, bytes: u64) -> Self {
        self.max_entry_bytes = bytes;
        self
    }

    /// Sets [`JournalOptions::max_snapshot_bytes`].
    pub fn with_max_snapshot_bytes(mut self, bytes: u64) -> Self {
        self.max_snapshot_bytes = bytes;
        self
    }

    /// Sets [`JournalOptions::fetch_concurrency`].
    pub fn with_fetch_concurrency(mut self, requests: usize) -> Self {
        self.fetch_concurrency = requests;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        if self.max_entry_bytes == 0 {
            return Err(Error::invalid("max_entry_bytes", "must be at least 1"));
        }
        if self.fetch_concurrency == 0 {
            return Err(Error::invalid("fetch_concurrency", "must be at least 1"));
        }
        Ok(())
    }
}

/// One decoded entry: a trial state, or why it was skipped.
#[derive(Clone, Debug)]
enum Decoded {
    Trial(Box<Trial>),
    Skipped(SkippedEntry),
}

/// What one handle knows about one index.
#[derive(Debug, Default)]
struct IndexState {
    /// True once the snapshot chain was read.
    loaded: bool,
    /// The highest entry known to exist.
    head: u64,
    /// Folded trials, sorted by id, shared with readers (copied on write only while a
    /// reader still holds an older view).
    trials: Trials,
    /// Entries folded into `trials`, skipped ones included.
    entries: usize,
    /// Of those, entries that came from snapshots.
    from_snapshot: usize,
    /// Every skipped entry, in sequence order.
    skipped: Vec<SkippedEntry>,
    /// The last entry covered by the snapshot chain (0 when none).
    snapshot_end: u64,
    /// Entries after `snapshot_end`, in order: the material of the next snapshot.
    pending: Vec<Decoded>,
}

impl IndexState {
    /// The next entry to read: everything before it is folded in.
    fn next_seq(&self) -> u64 {
        self.snapshot_end + self.pending.len() as u64 + 1
    }

    fn apply(&mut self, decoded: Decoded) {
        self.entries += 1;
        match &decoded {
            Decoded::Trial(t) => self.upsert(Trial::clone(t)),
            Decoded::Skipped(s) => {
                tracing::warn!(key = %s.key, why = %s.why, "skipping journal entry");
                self.skipped.push(s.clone());
            }
        }
        self.pending.push(decoded);
        self.head = self.head.max(self.next_seq() - 1);
    }

    /// Folds one trial state in: it replaces the trial's earlier state, if any.
    fn upsert(&mut self, trial: Trial) {
        let trials = self.trials.make_mut();
        // Ids sort by creation time, so a new trial almost always goes last.
        match trials.last() {
            Some(last) if last.id < trial.id => trials.push(trial),
            None => trials.push(trial),
            Some(_) => match trials.binary_search_by_key(&trial.id, |t| t.id) {
                Ok(i) => trials[i] = trial,
                Err(i) => trials.insert(i, trial),
            },
        }
    }
}

/// A [`TrialJournal`] over any [`ObjectStore`]: one Create-only object per entry,
/// snapshot segments for fast cold loads, and a per-handle cache for incremental
/// reads.
///
/// Clone-free and cheap to share: wrap it in an `Arc`. Each handle keeps its own
/// cache; handles in other processes see each other's appends on their next read.
pub struct ObjectStoreJournal {
    store: Arc<dyn ObjectStore>,
    layout: Layout,
    options: JournalOptions,
    indexes: Mutex<HashMap<IndexName, Arc<AsyncMutex<IndexState>>>>,
}

impl fmt::Debug for ObjectStoreJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectStoreJournal")
            .field("store", &self.store.to_string())
            .field("prefix", &self.layout.root())
            .field("options", &self.options)
            .finish()
    }
}

impl ObjectStoreJournal {
    /// A journal at the root of `store`, with default options.
    pub fn new(store: Arc<dyn ObjectStore>) -> Self {
        ObjectStoreJournal {
            store,
            layout: Layout::default(),
            options: JournalOptions::default(),
            indexes: Mutex::new(HashMap::new()),
        }
    }

    /// A journal at `location` (store and key prefix), with default options.
    pub fn open(location: StoreLocation) -> Result<Self, Error> {
        Ok(ObjectStoreJournal {
            layout: Layout::new(&location.prefix)?,
            ..ObjectStoreJournal::new(location.store)
        })
    }

    /// A journal in a fresh in-memory store.
    pub fn in_memory() -> Self {
        ObjectStoreJournal::new(StoreLocation::in_memory().store)
    }

    /// The local default: a journal in files under `dir`, created if missing (see
    /// [`StoreLocation::local`] for what `fsync` buys).
    pub fn local(dir: impl AsRef<std::path::Path>, fsync: bool) -> Result<Self, Error> {
        ObjectStoreJournal::open(StoreLocation::local(dir, fsync)?)
    }

    /// A journal at a location URL (see [`StoreLocation::parse`]).
    pub fn from_url(url: &str) -> Result<Self, Error> {
        ObjectStoreJournal::open(StoreLocation::parse(url)?)
    }

    /// This journal with `options`, which are checked first.
    pub fn with_options(mut self, options: JournalOptions) -> Result<Self, Error> {
        options.validate()?;
        self.options = options;
        Ok(self)
    }

    /// The options in force.
    pub fn options(&self) -> &JournalOptions {
        &self.options
    }

    pub(crate) fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    /// The key of entry `seq` (from 1) of `index`: the documented layout, for tools
    /// and fault-injection tests.
    pub fn entry_key(&self, index: &IndexName, seq: u64) -> Path {
        self.layout.entry(index, seq)
    }

    /// The key of the end object of `trial`'s lease (see the `leases` module): the
    /// documented layout, for tools and fault-injection tests. `None` without a lease.
    pub fn lease_end_key(&self, trial: &Trial) -> Option<Path> {
        let (digest, generation) = lease_parts(trial)?;
        Some(self.layout.lease_end(&trial.index, &digest, generation))
    }

    /// The key of the claim object of `trial`'s lease; `None` without a lease.
    pub fn lease_claim_key(&self, trial: &Trial) -> Option<Path> {
        let (digest, generation) = lease_parts(trial)?;
        Some(self.layout.lease_claim(&trial.index, &digest, generation))
    }

    /// Brings this handle's cache of `index` up to date and reports what that took,
    /// without materialising the trials. Its cost is one request per new entry plus
    /// one, whatever the length of the history.
    pub async fn refresh(&self, index: &IndexName) -> Result<ReadReport, Error> {
        let cell = self.state(index);
        let mut st = cell.lock().await;
        let fetched = self.sync(index, &mut st).await?;
        self.write_due_snapshots(index, &mut st).await;
        Ok(report(&st, fetched))
    }

    /// Reads `index` up to date and writes every snapshot segment that is due,
    /// returning how many this call created. A snapshot that another writer created
    /// first counts as done, not as an error.
    pub async fn compact(&self, index: &IndexName) -> Result<usize, Error> {
        let cell = self.state(index);
        let mut st = cell.lock().await;
        self.sync(index, &mut st).await?;
        self.try_write_snapshots(index, &mut st).await
    }

    fn state(&self, index: &IndexName) -> Arc<AsyncMutex<IndexState>> {
        let mut map = self.indexes.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(index.clone()).or_default().clone()
    }

    /// Loads the snapshot chain once, then reads the entries after what is known.
    /// Returns the number of entry objects fetched.
    async fn sync(&self, index: &IndexName, st: &mut IndexState) -> Result<usize, Error> {
        if !st.loaded {
            self.load_snapshots(index, st).await?;
            st.loaded = true;
        }
        self.fetch_tail(index, st).await
    }

    async fn load_snapshots(&self, index: &IndexName, st: &mut IndexState) -> Result<(), Error> {
        if self.options.snapshot_every == 0 {
            return Ok(());
        }
        let dir = self.layout.snapshots_dir(index);
        let listed: Vec<_> = self
            .store
            .list(Some(&dir))
            .try_collect()
            .await
            .map_err(|e| from_store("list", &dir, e))?;
        let mut found = Vec::with_capacity(listed.len());
        for meta in listed {
            match meta.location.filename().and_then(parse_snapshot_name) {
                Some((from, to)) => found.push(SnapshotRef {
                    from,
                    to,
                    size_bytes: meta.size,
                }),
                None => {
                    tracing::warn!(key = %meta.location, "ignoring a foreign object among the snapshots")
                }
            }
        }
        let chain = choose_chain(found);
        // Every fetch must succeed before anything is applied, so that a backend
        // error leaves the handle unloaded rather than half-loaded.
        let docs: Vec<_> = futures::stream::iter(chain)
            .map(|s| self.fetch_snapshot(index, s))
            .buffered(self.options.fetch_concurrency)
            .try_collect()
            .await?;
        let total = docs
            .iter()
            .map(|d| d.as_ref().map_or(0, |d| d.trials.len()))
            .sum();
        let mut folded: Vec<Trial> = Vec::with_capacity(total);
        for doc in docs {
            match doc {
                Ok(doc) => {
                    for skipped in &doc.skipped {
                        tracing::warn!(key = %skipped.key, why = %skipped.why, "skipping journal entry (recorded in a snapshot)");
                    }
                    folded.extend(doc.trials);
                    st.entries += doc.entries as usize;
                    st.from_snapshot += doc.entries as usize;
                    st.skipped.extend(doc.skipped);
                    st.snapshot_end = doc.to_seq;
                    st.head = st.head.max(doc.to_seq);
                }
                Err(skipped) => {
                    // The range is read entry by entry instead; later snapshots of the
                    // chain are not used, as they would leave a hole.
                    tracing::warn!(key = %skipped.key, why = %skipped.why, "skipping snapshot");
                    st.skipped.push(skipped);
                    break;
                }
            }
        }
        // Each segment is sorted and folded; across segments a trial can appear again
        // (started in one, finished in a later one), and the later state wins.
        // Reversed, a stable sort puts the latest state of each id first.
        folded.reverse();
        folded.sort_by_key(|t| t.id);
        folded.dedup_by_key(|t| t.id);
        if st.trials.is_empty() {
            st.trials = Trials::new(folded);
        } else {
            for trial in folded {
                st.upsert(trial);
            }
        }
        Ok(())
    }

    /// Fetches one snapshot; `Ok(Err(_))` when it is unusable.
    async fn fetch_snapshot(
        &self,
        index: &IndexName,
        s: SnapshotRef,
    ) -> Result<Result<SnapshotDoc, SkippedEntry>, Error> {
        let key = self.layout.snapshot(index, s.from, s.to);
        let skip = |why: String| {
            Ok(Err(SkippedEntry {
                key: key.to_string(),
                why,
            }))
        };
        if s.size_bytes > self.options.max_snapshot_bytes {
            return skip(too_large(s.size_bytes, self.options.max_snapshot_bytes));
        }
        let bytes = match self
            .get_limited(&key, self.options.max_snapshot_bytes)
            .await?
        {
            Fetched::Missing => return skip("listed but no longer readable".into()),
            Fetched::TooLarge(size) => {
                return skip(too_large(size, self.options.max_snapshot_bytes));
            }
            Fetched::Bytes(bytes) => bytes,
        };
        let doc = match decode_snapshot(bytes).await {
            Ok(doc) => doc,
            Err(e) => return skip(format!("undecodable snapshot: {e}")),
        };
        if doc.format != SNAPSHOT_FORMAT {
            return skip(format!("unknown snapshot format {}", doc.format));
        }
        if doc.index != *index
            || doc.from_seq != s.from
            || doc.to_seq != s.to
            || doc.entries != s.to - s.from + 1
        {
            return skip("the snapshot's header does not match its key".into());
        }
        if let Some(t) = doc
            .trials
            .iter()
            .find(|t| t.validate().is_err() || t.index != *index)
        {
            return skip(format!("the snapshot holds an invalid trial {}", t.id));
        }
        Ok(Ok(doc))
    }

    /// Reads entries from `next_seq` on, in growing parallel windows, stopping at the
    /// first missing one.
    ///
    /// With snapshots on, a window never crosses a segment boundary. At a boundary the
    /// segment just read is closed (a HEAD finds that its writer made it, or this
    /// reader writes it), and a reader that is further behind takes each following
    /// segment whole, by its computed key, instead of its entries. So a read costs
    /// at most `snapshot_every` entry GETs plus one GET per whole segment, however many
    /// workers wrote meanwhile.
    async fn fetch_tail(&self, index: &IndexName, st: &mut IndexState) -> Result<usize, Error> {
        let mut fetched = 0;
        let mut window = 2usize.min(self.options.fetch_concurrency);
        let every = self.options.snapshot_every;
        loop {
            if every > 0 && st.loaded {
                if st.pending.len() as u64 >= every {
                    self.write_due_snapshots(index, st).await;
                }
                while st.pending.is_empty() && self.catch_up_segment(index, st).await? {}
            }
            let start = st.next_seq();
            let mut window_now = window;
            if every > 0 {
                window_now = window_now.min((every - st.pending.len() as u64 % every) as usize);
            }
            let results: Vec<_> =
                futures::stream::iter(start..start.saturating_add(window_now as u64))
                    .map(|seq| self.fetch_entry(index, seq))
                    .buffered(window_now)
                    .collect()
                    .await;
            for result in results {
                match result? {
                    Some(decoded) => {
                        fetched += 1;
                        st.apply(decoded);
                    }
                    // Anything after a missing entry may be a newer write that raced
                    // this read; it is read next time, in order.
                    None => return Ok(fetched),
                }
            }
            window = (window * 2).min(self.options.fetch_concurrency);
        }
    }

    /// Applies the whole segment that starts at `next_seq`, if its writer made it and
    /// it is usable; `false` otherwise (its entries are then read one by one).
    async fn catch_up_segment(
        &self,
        index: &IndexName,
        st: &mut IndexState,
    ) -> Result<bool, Error> {
        let from = st.next_seq();
        let Some(to) = from.checked_add(self.options.snapshot_every - 1) else {
            return Ok(false);
        };
        let segment = SnapshotRef {
            from,
            to,
            size_bytes: 0,
        };
        let Ok(doc) = self.fetch_snapshot(index, segment).await? else {
            return Ok(false);
        };
        for skipped in &doc.skipped {
            tracing::warn!(key = %skipped.key, why = %skipped.why, "skipping journal entry (recorded in a snapshot)");
        }
        for trial in doc.trials {
            st.upsert(trial);
        }
        st.entries += doc.entries as usize;
        st.from_snapshot += doc.entries as usize;
        st.skipped.extend(doc.skipped);
        st.snapshot_end = doc.to_seq;
        st.head = st.head.max(doc.to_seq);
        Ok(true)
    }

    async fn fetch_entry(&self, index: &IndexName, seq: u64) -> Result<Option<Decoded>, Error> {
        let key = self.layout.entry(index, seq);
        let limit = self.options.max_entry_bytes;
        let skipped = |why: String| {
            Some(Decoded::Skipped(SkippedEntry {
                key: key.to_string(),
                why,
            }))
        };
        Ok(match self.get_limited(&key, limit).await? {
            Fetched::Missing => None,
            Fetched::TooLarge(size) => skipped(too_large(size, limit)),
            Fetched::Bytes(bytes) => match decode_entry(index, &bytes) {
                Ok(trial) => Some(Decoded::Trial(Box::new(trial))),
                Err(why) => skipped(why),
            },
        })
    }

    /// GETs `key`, refusing to read a body larger than `limit` (the size comes from
    /// the object's metadata, before any byte of the body is read).
    async fn get_limited(&self, key: &Path, limit: u64) -> Result<Fetched, Error> {
        let result = match self.store.get_opts(key, GetOptions::default()).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(Fetched::Missing),
            Err(e) => return Err(from_store("get", key, e)),
        };
        if result.meta.size > limit {
            return Ok(Fetched::TooLarge(result.meta.size));
        }
        let bytes = result
            .bytes()
            .await
            .map_err(|e| from_store("get", key, e))?;
        Ok(Fetched::Bytes(bytes))
    }

    /// Writes due snapshots, logging instead of failing: the entries are durable
    /// whatever happens to a snapshot.
    async fn write_due_snapshots(&self, index: &IndexName, st: &mut IndexState) {
        if !self.options.write_snapshots {
            return;
        }
        if let Err(e) = self.try_write_snapshots(index, st).await {
            tracing::warn!(index = %index, error = %e, "could not write a journal snapshot");
        }
    }

    async fn try_write_snapshots(
        &self,
        index: &IndexName,
        st: &mut IndexState,
    ) -> Result<usize, Error> {
        let every = self.options.snapshot_every;
        let mut written = 0;
        while every > 0 && st.pending.len() as u64 >= every {
            let from = st.snapshot_end + 1;
            let to = st.snapshot_end + every;
            let key = self.layout.snapshot(index, from, to);
            // Usually the writer of the segment's last entry made it already: a HEAD
            // is cheaper than encoding and sending it again.
            match self.store.head(&key).await {
                Ok(_) => {
                    st.pending.drain(..every as usize);
                    st.snapshot_end = to;
                    continue;
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(from_store("head", &key, e)),
            }
            let segment = &st.pending[..every as usize];
            let doc = SnapshotDoc {
                format: SNAPSHOT_FORMAT,
                index: index.clone(),
                from_seq: from,
                to_seq: to,
                entries: every,
                trials: fold(segment.iter().filter_map(|d| match d {
                    Decoded::Trial(t) => Some(t.as_ref()),
                    Decoded::Skipped(_) => None,
                })),
                skipped: segment
                    .iter()
                    .filter_map(|d| match d {
                        Decoded::Skipped(s) => Some(s.clone()),
                        Decoded::Trial(_) => None,
                    })
                    .collect(),
            };
            let body = serde_json::to_vec(&doc).map_err(|e| Error::Backend {
                op: format!("encode {key}"),
                source: Box::new(e),
            })?;
            match self
                .store
                .put_opts(
                    &key,
                    PutPayload::from(body),
                    PutOptions::from(PutMode::Create),
                )
                .await
            {
                Ok(_) => written += 1,
                // Same range, same content: the other writer's copy serves.
                Err(object_store::Error::AlreadyExists { .. }) => {}
                Err(e) => return Err(from_store("put", &key, e)),
            }
            st.pending.drain(..every as usize);
            st.snapshot_end = to;
        }
        Ok(written)
    }

    /// The highest entry that exists, knowing that `known` exists (0: nothing is
    /// known). Gallops forward then bisects: O(log n) HEAD requests, correct because
    /// entries are dense.
    async fn find_head(&self, index: &IndexName, known: u64) -> Result<u64, Error> {
        let mut low = known;
        let mut step = 1u64;
        let high = loop {
            let Some(probe) = low.checked_add(step) else {
                break u64::MAX;
            };
            if self.exists(index, probe).await? {
                low = probe;
                step = step.saturating_mul(2);
            } else {
                break probe;
            }
        };
        let mut high = high;
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            if self.exists(index, mid).await? {
                low = mid;
            } else {
                high = mid;
            }
        }
        Ok(low)
    }

    async fn exists(&self, index: &IndexName, seq: u64) -> Result<bool, Error> {
        let key = self.layout.entry(index, seq);
        match self.store.head(&key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(from_store("head", &key, e)),
        }
    }
}

/// The config digest and lease generation that name `trial`'s lease objects.
fn lease_parts(trial: &Trial) -> Option<(String, u64)> {
    let generation = trial.lease.as_ref()?.generation;
    Some((
        crate::keys::config_digest(&trial.params.to_string()),
        generation,
    ))
}

enum Fetched {
    Missing,
    TooLarge(u64),
    Bytes(Bytes),
}

/// Decodes a snapshot on tokio's blocking pool when there is a runtime, so that the
/// segments of a cold load are parsed on all cores (a segment of 1000 trials is about
/// a megabyte of JSON); inline otherwise.
async fn decode_snapshot(bytes: Bytes) -> Result<SnapshotDoc, String> {
    // One UTF-8 check of the whole segment, then `from_str`, which trusts it: cheaper
    // than `from_slice`, which checks every string field on its own.
    let parse = move || {
        let text = std::str::from_utf8(&bytes).map_err(|e| format!("not UTF-8: {e}"))?;
        serde_json::from_str::<SnapshotDoc>(text).map_err(|e| e.to_string())
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle
            .spawn_blocking(parse)
            .await
            .map_err(|e| format!("the decoding task failed: {e}"))?,
        Err(_) => parse(),
    }
}

fn too_large(size: u64, limit: u64) -> String {
    format!("the object is {size} bytes, over the limit of {limit}; refused before parsing")
}

fn report(st: &IndexState, fetched: usize) -> ReadReport {
    ReadReport {
        entries: st.entries,
        fetched,
        from_snapshot: st.from_snapshot,
        skipped: st.skipped.clone(),
    }
}

/// Decodes one entry, or says why it cannot be used.
fn decode_entry(index: &IndexName, bytes: &[u8]) -> Result<Trial, String> {
    #[derive(Deserialize)]
    struct VersionOnly {
        schema_version: u32,
    }
    let trial: Trial = match serde_json::from_slice(bytes) {
        Ok(trial) => trial,
        Err(e) => {
            if let Ok(v) = serde_json::from_slice::<VersionOnly>(bytes)
                && v.schema_version != SCHEMA_VERSION
            {
                return Err(format!(
                    "unknown schema version {} (this build reads {SCHEMA_VERSION})",
                    v.schema_version
                ));
            }
            return Err(if e.is_eof() {
                format!("truncated entry: {e}")
            } else {
                format!("invalid JSON: {e}")
            });
        }
    };
    if trial.schema_version != SCHEMA_VERSION {
        return Err(format!(
            "unknown schema version {} (this build reads {SCHEMA_VERSION})",
            trial.schema_version
        ));
    }
    if trial.index != *index {
        return Err(format!("the entry belongs to index {}", trial.index));
    }
    trial
        .validate()
        .map_err(|e| format!("invalid trial: {e}"))?;
    Ok(trial)
}

#[async_trait]
impl TrialJournal for ObjectStoreJournal {
    async fn append(&self, trial: &Trial) -> Result<(), Error> {
        trial.validate()?;
        let body = serde_json::to_vec(trial).map_err(|e| Error::invalid("trial", e.to_string()))?;
        let limit = self.options.max_entry_bytes;
        if body.len() as u64 > limit {
            return Err(Error::TooLarge {
                what: format!("the journal entry for trial {}", trial.id),
                size_bytes: body.len() as u64,
                limit_bytes: limit,
            });
        }
        let index = &trial.index;
        let payload = PutPayload::from(body);
        let cell = self.state(index);
        let mut st = cell.lock().await;
        let mut seq = st.head + 1;
        let mut attempts = 0;
        loop {
            let key = self.layout.entry(index, seq);
            match self
                .store
                .put_opts(&key, payload.clone(), PutOptions::from(PutMode::Create))
                .await
            {
                Ok(_) => break,
                Err(object_store::Error::AlreadyExists { .. }) => {
                    attempts += 1;
                    if attempts >= MAX_CLAIM_ATTEMPTS {
                        return Err(Error::Conflict {
                            what: format!(
                                "no free journal entry for index {index} after {attempts} attempts"
                            ),
                        });
                    }
                    st.head = self.find_head(index, seq).await?;
                    seq = st.head + 1;
                }
                Err(e) => return Err(from_store("put", &key, e)),
            }
        }
        st.head = seq;
        if st.loaded && seq == st.next_seq() {
            st.apply(Decoded::Trial(Box::new(trial.clone())));
        }
        let every = self.options.snapshot_every;
        if every > 0 && seq % every == 0 {
            // The writer that claims a segment's last entry folds the segment. A
            // failure here leaves the entry durable; the next reader retries.
            if let Err(e) = self.sync(index, &mut st).await {
                tracing::warn!(index = %index, error = %e, "could not catch up to write a snapshot");
            } else {
                self.write_due_snapshots(index, &mut st).await;
            }
        }
        Ok(())
    }

    async fn read(&self, index: &IndexName) -> Result<JournalRead, Error> {
        let cell = self.state(index);
        let mut st = cell.lock().await;
        let fetched = self.sync(index, &mut st).await?;
        self.write_due_snapshots(index, &mut st).await;
        Ok(JournalRead {
            trials: st.trials.clone(),
            report: report(&st, fetched),
        })
    }

    async fn indexes(&self) -> Result<Vec<IndexName>, Error> {
        let root = self.layout.trials_root();
        let listed = self
            .store
            .list_with_delimiter(Some(&root))
            .await
            .map_err(|e| from_store("list", &root, e))?;
        let mut names = Vec::with_capacity(listed.common_prefixes.len());
        for prefix in listed.common_prefixes {
            let Some(segment) = prefix.filename() else {
                continue;
            };
            match IndexName::new(segment) {
                Ok(name) => names.push(name),
                Err(e) => {
                    tracing::warn!(key = %prefix, error = %e, "ignoring a foreign prefix among the indexes")
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_says_why_an_entry_is_unusable() {
        let index = IndexName::new("a").unwrap();
        assert!(
            decode_entry(&index, b"{not json")
                .unwrap_err()
                .contains("invalid JSON")
        );
        assert!(
            decode_entry(&index, b"{\"schema_version\": 1, \"id\"")
                .unwrap_err()
                .contains("truncated")
        );
        let future = br#"{"schema_version": 99, "shape": "different"}"#;
        assert!(
            decode_entry(&index, future)
                .unwrap_err()
                .contains("unknown schema version 99")
        );
    }

    #[test]
    fn options_are_checked() {
        let journal = ObjectStoreJournal::in_memory();
        let err = journal
            .with_options(JournalOptions::default().with_fetch_concurrency(0))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput { .. }));
    }
}
