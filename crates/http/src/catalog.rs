//! The server's cached view of the store: each index's trials with a change cursor,
//! its champion chain and its Pareto front.
//!
//! A journal entry has no sequence number a reader could page by once trials are
//! updated in place (a running trial completes, a lease is renewed). So the catalog
//! numbers changes itself: every trial gets a *version*, unique and increasing within
//! this process, when it first appears and again whenever it changes. `?since=V`
//! answers the trials whose version is above `V`, in version order, and the last
//! version sent is the next cursor. An *epoch*, drawn when the process starts, tells a
//! client that a cursor from another process means nothing here.
//!
//! The store is read at most once per refresh interval per index, however many
//! requests arrive. A request never waits for a refresh that another request is
//! making: it answers from the last view (each view is immutable and shared), and
//! only the first request for an index waits for its first read. That bounds both the
//! store traffic a dashboard causes and the latency of the incremental route.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use axum::body::Bytes;
use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use hnswtune_core::{
    IndexName, Promotion, PromotionRegistry, Trial, TrialId, TrialJournal, TrialMetrics,
    TrialState, Trials, dominates, pareto_front,
};
use tokio::sync::Mutex as AsyncMutex;

use crate::ApiError;

/// The trials of one index as of one read, numbered by change.
#[derive(Debug, Default)]
struct Numbered {
    /// How many journal entries the read covered: unchanged means nothing new.
    entries: usize,
    /// The trials in the journal's order. Each is shared with the previous view while
    /// it is unchanged, and the journal's own list is not kept: holding it would make
    /// the journal copy all of its trials on its next append (copy on write).
    trials: Vec<Arc<Trial>>,
    /// Each trial's JSON, by position: made once per change of the trial, so that a
    /// page costs copies rather than serialisation.
    json: Vec<Bytes>,
    /// Each trial's current version, by position.
    versions: Vec<u64>,
    /// (version, position) of every trial, by version: the order `?since=` pages in.
    changes: Vec<(u64, usize)>,
    /// Trial id → position.
    position_of: HashMap<TrialId, usize>,
    /// The answer of `GET /indexes/{index}/pareto`, made with the view from the trials'
    /// JSON: a front can hold thousands of trials, and no request should wait while
    /// it is written.
    pareto_body: Bytes,
    /// Positions in `trials` of the Pareto front (of the completed trials).
    front: Vec<usize>,
    summary: Summary,
}

/// Trials per state, and when the index was last active: what `GET /indexes` says of
/// it, worked out once per view.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Summary {
    pub(crate) complete: usize,
    pub(crate) running: usize,
    pub(crate) failed: usize,
    /// The latest finish (or start, for a trial still running).
    pub(crate) last_activity: Option<DateTime<Utc>>,
}

/// One index as last read: what every request for it answers from.
#[derive(Debug, Default)]
pub(crate) struct Study {
    numbered: Arc<Numbered>,
    pub(crate) promotions: Vec<Promotion>,
}

/// A page of changed trials.
#[derive(Debug)]
pub(crate) struct Page {
    /// The trials' JSON objects.
    pub(crate) trials: Vec<Bytes>,
    pub(crate) next: u64,
    pub(crate) more: bool,
}

impl Numbered {
    /// `trials` numbered against `old`: trials that are new or differ get the next
    /// versions, the others keep theirs.
    fn after(
        index: &IndexName,
        old: &Numbered,
        trials: Trials,
        entries: usize,
        next_version: &AtomicU64,
    ) -> Self {
        let mut kept_trials: Vec<Arc<Trial>> = Vec::with_capacity(trials.len());
        let mut versions = Vec::with_capacity(trials.len());
        let mut position_of = HashMap::with_capacity(trials.len());
        let mut json = Vec::with_capacity(trials.len());
        let mut summary = Summary::default();
        // Trials that are new or changed, and whether one of them was complete before
        // (then the old front may hold a stale copy and is computed again).
        let mut changed = Vec::new();
        let mut a_complete_trial_changed = false;
        for (position, trial) in trials.iter().enumerate() {
            let before = old.position_of.get(&trial.id).copied();
            let unchanged = before.filter(|&p| *old.trials[p] == *trial);
            let version = match unchanged {
                Some(p) => {
                    json.push(old.json[p].clone());
                    kept_trials.push(old.trials[p].clone());
                    old.versions[p]
                }
                None => {
                    kept_trials.push(Arc::new(trial.clone()));
                    changed.push(position);
                    a_complete_trial_changed |= before.is_some_and(|p| old.trials[p].is_complete());
                    json.push(Bytes::from(
                        serde_json::to_vec(trial).expect("a trial serializes"),
                    ));
                    next_version.fetch_add(1, Ordering::SeqCst) + 1
                }
            };
            versions.push(version);
            position_of.insert(trial.id, position);
            match trial.state {
                TrialState::Complete => summary.complete += 1,
                TrialState::Running => summary.running += 1,
                TrialState::Failed { .. } => summary.failed += 1,
                TrialState::Pruned { .. } => {}
            }
            let active = trial.finished_at.unwrap_or(trial.created_at);
            summary.last_activity = summary.last_activity.max(Some(active));
        }
        drop(trials);
        let trials = kept_trials;
        let mut changes: Vec<(u64, usize)> = versions.iter().copied().zip(0..).collect();
        changes.sort_unstable();
        let front = if old.trials.is_empty() || a_complete_trial_changed {
            pareto_front(trials.iter().map(|t| &**t))
                .into_iter()
                .map(|t| position_of[&t.id])
                .collect()
        } else {
            // The old front's trials are unchanged: only the newly completed trials
            // can join it, each pushing out the members it dominates.
            let mut front: Vec<usize> = old
                .front
                .iter()
                .map(|&p| position_of[&old.trials[p].id])
                .collect();
            for position in changed {
                if let Some(metrics) = trials[position].completed_metrics() {
                    join_front(&mut front, &trials, position, metrics);
                }
            }
            front
        };
        let mut by_p50 = front.clone();
        by_p50.sort_by(|&a, &b| {
            p50(&trials[a])
                .total_cmp(&p50(&trials[b]))
                .then(trials[a].id.cmp(&trials[b].id))
        });
        let pareto_body = json_object(
            &serde_json::json!({ "index": index }),
            "front",
            by_p50.iter().map(|&p| &json[p]),
        );
        Numbered {
            entries,
            trials,
            json,
            versions,
            changes,
            position_of,
            pareto_body,
            front,
            summary,
        }
    }
}

/// `head` (a JSON object) with one more field, `name`, holding the array of `items`
/// (each a JSON value already serialized). Pages and the front are put together this
/// way from each trial's JSON, made once.
pub(crate) fn json_object<'a>(
    head: &serde_json::Value,
    name: &str,
    items: impl Iterator<Item = &'a Bytes>,
) -> Bytes {
    let head = serde_json::to_vec(head).expect("a JSON value serializes");
    let mut body = Vec::with_capacity(head.len() + 64);
    body.extend_from_slice(&head[..head.len() - 1]);
    if head.len() > 2 {
        body.push(b',');
    }
    body.extend_from_slice(&serde_json::to_vec(name).expect("a string serializes"));
    body.extend_from_slice(b":[");
    for (i, item) in items.enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(item);
    }
    body.extend_from_slice(b"]}");
    Bytes::from(body)
}

/// Adds the completed trial at `position` to `front` unless a member dominates it,
/// removing the members it dominates. A trial dominated by any completed trial is
/// dominated by a member of the front, so checking the members is enough.
fn join_front(
    front: &mut Vec<usize>,
    trials: &[Arc<Trial>],
    position: usize,
    metrics: &TrialMetrics,
) {
    let member = |p: usize| {
        trials[p]
            .completed_metrics()
            .expect("the front is complete")
    };
    if front.iter().any(|&p| dominates(member(p), metrics)) {
        return;
    }
    front.retain(|&p| !dominates(metrics, member(p)));
    front.push(position);
}

impl Study {
    /// The trials, in id order.
    pub(crate) fn trials(&self) -> &[Arc<Trial>] {
        &self.numbered.trials
    }

    /// Trials per state and the last activity.
    pub(crate) fn summary(&self) -> Summary {
        self.numbered.summary
    }

    /// The trials changed after version `since` that pass `keep`, at most `limit`.
    pub(crate) fn page(&self, since: u64, limit: usize, keep: impl Fn(&Trial) -> bool) -> Page {
        let numbered = &self.numbered;
        let mut trials = Vec::new();
        let mut next = since;
        let mut more = false;
        let start = numbered.changes.partition_point(|&(v, _)| v <= since);
        for &(version, position) in &numbered.changes[start..] {
            if trials.len() == limit {
                more = true;
                break;
            }
            next = version;
            if keep(&numbered.trials[position]) {
                trials.push(numbered.json[position].clone());
            }
        }
        Page { trials, next, more }
    }

    /// The JSON answer `{"index", "front"}`: the Pareto front of the completed trials,
    /// by p50.
    pub(crate) fn pareto_body(&self) -> Bytes {
        self.numbered.pareto_body.clone()
    }

    /// The current champion: the last revision.
    pub(crate) fn champion(&self) -> Option<&Promotion> {
        self.promotions.last()
    }
}

fn p50(trial: &Trial) -> f64 {
    trial
        .metrics
        .as_ref()
        .map_or(f64::INFINITY, |m| m.search_p50_us)
}

/// A value read from the store, shared by the requests until it is older than the
/// refresh interval. One request at a time reads it again; the others answer from the
/// value they have instead of waiting, and only the very first read is waited for.
#[derive(Debug)]
struct Cached<T> {
    /// When the value was read (`None` once invalidated), and the value.
    value: RwLock<Option<(Option<Instant>, Arc<T>)>>,
    reading: AsyncMutex<()>,
}

impl<T> Default for Cached<T> {
    fn default() -> Self {
        Cached {
            value: RwLock::new(None),
            reading: AsyncMutex::new(()),
        }
    }
}

impl<T> Cached<T> {
    fn current(&self) -> Option<(Option<Instant>, Arc<T>)> {
        self.value.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The value, read again with `read` (given the previous value) when it is older
    /// than `max_age` and no other request is reading it.
    async fn get<F, Fut>(&self, max_age: Duration, read: F) -> Result<Arc<T>, ApiError>
    where
        F: FnOnce(Option<Arc<T>>) -> Fut,
        Fut: Future<Output = Result<T, ApiError>>,
    {
        let current = self.current();
        if let Some((Some(at), value)) = &current
            && at.elapsed() < max_age
        {
            return Ok(value.clone());
        }
        let _reading = match (self.reading.try_lock(), &current) {
            (Ok(guard), _) => guard,
            (Err(_), Some((_, value))) => return Ok(value.clone()),
            (Err(_), None) => {
                let guard = self.reading.lock().await;
                if let Some((_, value)) = self.current() {
                    return Ok(value);
                }
                guard
            }
        };
        let value = Arc::new(read(current.map(|(_, v)| v)).await?);
        *self.value.write().unwrap_or_else(|e| e.into_inner()) =
            Some((Some(Instant::now()), value.clone()));
        Ok(value)
    }

    /// Makes the next request read the value again (from this one).
    fn invalidate(&self) {
        if let Some((read_at, _)) = self
            .value
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            *read_at = None;
        }
    }
}

/// Every index's [`Study`], read through on demand.
#[derive(Debug)]
pub(crate) struct Catalog {
    journal: Arc<dyn TrialJournal>,
    registry: Arc<dyn PromotionRegistry>,
    refresh: Duration,
    pub(crate) epoch: String,
    next_version: Arc<AtomicU64>,
    names: Cached<Vec<IndexName>>,
    studies: Mutex<HashMap<IndexName, Arc<Cached<Study>>>>,
}

impl Catalog {
    pub(crate) fn new(
        journal: Arc<dyn TrialJournal>,
        registry: Arc<dyn PromotionRegistry>,
        refresh: Duration,
    ) -> Self {
        Catalog {
            journal,
            registry,
            refresh,
            epoch: ulid::Ulid::new().to_string(),
            next_version: Arc::new(AtomicU64::new(0)),
            names: Cached::default(),
            studies: Mutex::new(HashMap::new()),
        }
    }

    /// The indexes that have trials in the store.
    pub(crate) async fn names(&self) -> Result<Arc<Vec<IndexName>>, ApiError> {
        self.names
            .get(self.refresh, |_| async {
                Ok(self.journal.indexes().await?)
            })
            .await
    }

    fn cached(&self, index: &IndexName) -> Arc<Cached<Study>> {
        let mut studies = self.studies.lock().unwrap_or_else(|e| e.into_inner());
        studies.entry(index.clone()).or_default().clone()
    }

    /// `index`'s study. The caller has checked that the index exists, so that names
    /// made up by clients do not fill the cache.
    pub(crate) async fn study(&self, index: &IndexName) -> Result<Arc<Study>, ApiError> {
        let cached = self.cached(index);
        cached
            .get(self.refresh, |previous| self.read_study(index, previous))
            .await
    }

    async fn read_study(
        &self,
        index: &IndexName,
        previous: Option<Arc<Study>>,
    ) -> Result<Study, ApiError> {
        let read = self.journal.read(index).await?;
        let promotions = self.registry.history(index).await?;
        let old = previous.map(|s| s.numbered.clone()).unwrap_or_default();
        let numbered = if read.report.entries == old.entries {
            old
        } else {
            // Numbering is O(trials) of CPU: off the async workers, so that requests
            // keep being answered from the old view meanwhile.
            let next = self.next_version.clone();
            let entries = read.report.entries;
            let name = index.clone();
            let numbered = tokio::task::spawn_blocking(move || {
                Numbered::after(&name, &old, read.trials, entries, &next)
            })
            .await
            .map_err(|e| {
                ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    format!("numbering the trials of {index} failed: {e}"),
                )
            })?;
            Arc::new(numbered)
        };
        Ok(Study {
            numbered,
            promotions,
        })
    }

    /// Makes the next request for `index` read the store (after this server wrote to
    /// it). Its change numbers are kept: only a new view is read.
    pub(crate) fn invalidate(&self, index: &IndexName) {
        self.cached(index).invalidate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hnswtune_core::{Params, TrialMetrics, TriggerReason};

    fn absorb(study: &mut Study, trials: Vec<Trial>, next: &AtomicU64) {
        let entries = study.numbered.entries + 1;
        study.numbered = Arc::new(Numbered::after(
            &IndexName::new("docs").unwrap(),
            &study.numbered,
            trials.into(),
            entries,
            next,
        ));
    }

    fn trial(ef_search: i64, state: TrialState) -> Trial {
        let mut t = Trial::start(
            IndexName::new("docs").unwrap(),
            "queries",
            Params::new().with("ef_search", ef_search),
            hnswtune_testkit::fakes::fingerprint(1000),
            TriggerReason::Study,
        );
        t.state = state;
        t
    }

    fn metrics() -> TrialMetrics {
        hnswtune_testkit::fakes::analytic_metrics(
            &Params::new(),
            &hnswtune_testkit::fakes::fingerprint(1000),
        )
    }

    #[test]
    fn versions_follow_changes_and_pages_resume_where_they_stopped() {
        let mut study = Study::default();
        let next = AtomicU64::new(0);
        let a = trial(1, TrialState::Complete);
        let b = trial(2, TrialState::Running);
        absorb(&mut study, vec![a.clone(), b.clone()], &next);
        let first = study.page(0, 1, |_| true);
        assert_eq!((first.trials.len(), first.next, first.more), (1, 1, true));
        let rest = study.page(first.next, 10, |_| true);
        assert_eq!((rest.trials.len(), rest.next, rest.more), (1, 2, false));
        assert_eq!(study.page(rest.next, 10, |_| true).trials.len(), 0);

        // b completes: only b comes again, with a new version.
        let mut b_done = b.clone();
        b_done.state = TrialState::Complete;
        b_done.metrics = Some(metrics());
        absorb(&mut study, vec![a, b_done.clone()], &next);
        let changed = study.page(rest.next, 10, |_| true);
        let sent: Vec<Trial> = changed
            .trials
            .iter()
            .map(|json| serde_json::from_slice(json).unwrap())
            .collect();
        assert_eq!(sent, vec![b_done]);
        assert_eq!(changed.next, 3);
        assert_eq!(study.page(changed.next, 10, |_| true).next, 3);
    }

    #[test]
    fn a_filter_skips_trials_but_the_cursor_moves_past_them() {
        let mut study = Study::default();
        let next = AtomicU64::new(0);
        absorb(
            &mut study,
            vec![
                trial(1, TrialState::Running),
                trial(2, TrialState::Complete),
                trial(3, TrialState::Running),
            ],
            &next,
        );
        let page = study.page(0, 10, |t| t.state == TrialState::Complete);
        assert_eq!(page.trials.len(), 1);
        assert_eq!(page.next, 3);
    }

    #[test]
    fn the_front_kept_up_across_reads_is_the_front_of_all_trials() {
        // Trials land running and complete two reads later, in batches, with metrics
        // on a coarse grid so that ties are common.
        let mut seed = 7u64;
        let mut draw = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut all: Vec<Trial> = Vec::new();
        let mut study = Study::default();
        let next = AtomicU64::new(0);
        for _ in 0..30 {
            for _ in 0..4 {
                all.push(trial(draw(200) as i64, TrialState::Running));
            }
            let landed = all.len();
            for t in all.iter_mut().take(landed.saturating_sub(8)) {
                if t.state == TrialState::Running {
                    let mut m = metrics();
                    m.recall = draw(6) as f64 / 5.0;
                    m.search_p50_us = draw(6) as f64;
                    m.build_secs = draw(3) as f64;
                    *t = t.clone().complete(m);
                }
            }
            let mut sorted = all.clone();
            sorted.sort_by_key(|t| t.id);
            absorb(&mut study, sorted.clone(), &next);
            let mut kept: Vec<TrialId> = study.front_ids();
            let mut full: Vec<TrialId> = pareto_front(&sorted).iter().map(|t| t.id).collect();
            kept.sort();
            full.sort();
            assert_eq!(kept, full);
        }
    }

    impl Study {
        fn front_ids(&self) -> Vec<TrialId> {
            self.numbered
                .front
                .iter()
                .map(|&p| self.numbered.trials[p].id)
                .collect()
        }
    }

    #[test]
    fn json_objects_put_together_from_parts_parse_back() {
        let items = [Bytes::from_static(b"{\"a\":1}"), Bytes::from_static(b"[2]")];
        let cases = [
            (serde_json::json!({}), 0, serde_json::json!({"x": []})),
            (
                serde_json::json!({"k": "v"}),
                0,
                serde_json::json!({"k": "v", "x": []}),
            ),
            (
                serde_json::json!({"k": "v"}),
                2,
                serde_json::json!({"k": "v", "x": [{"a": 1}, [2]]}),
            ),
        ];
        for (head, n, expected) in cases {
            let body = json_object(&head, "x", items.iter().take(n));
            let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(parsed, expected);
        }
    }
}
