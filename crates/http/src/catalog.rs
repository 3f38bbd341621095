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
//! requests arrive: requests in between are answered from memory. That bounds both the
//! store traffic a dashboard causes and the latency of the incremental route.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hnswtune_core::{
    IndexName, Promotion, PromotionRegistry, Trial, TrialId, TrialJournal, Trials, pareto_front,
};
use tokio::sync::Mutex as AsyncMutex;

use crate::ApiError;

/// One index as last read.
#[derive(Debug, Default)]
pub(crate) struct Study {
    refreshed: Option<Instant>,
    /// How many journal entries the last read covered: unchanged means nothing new.
    entries: usize,
    pub(crate) trials: Trials,
    /// Version → position in `trials`, for the versions still current.
    changes: BTreeMap<u64, usize>,
    /// Trial id → its current version.
    version_of: HashMap<TrialId, u64>,
    pub(crate) promotions: Vec<Promotion>,
    /// Positions in `trials` of the Pareto front, sorted by p50.
    front: Vec<usize>,
}

/// A page of changed trials.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) trials: Vec<Trial>,
    pub(crate) next: u64,
    pub(crate) more: bool,
}

impl Study {
    /// Takes a new read of the journal: trials that are new or differ get the next
    /// versions.
    fn absorb(&mut self, trials: Trials, next_version: &mut u64) {
        let mut changes = BTreeMap::new();
        let mut version_of = HashMap::with_capacity(trials.len());
        let old: HashMap<TrialId, &Trial> = self.trials.iter().map(|t| (t.id, t)).collect();
        for (position, trial) in trials.iter().enumerate() {
            let kept = self
                .version_of
                .get(&trial.id)
                .filter(|_| old.get(&trial.id).is_some_and(|o| *o == trial));
            let version = match kept {
                Some(&v) => v,
                None => {
                    *next_version += 1;
                    *next_version
                }
            };
            changes.insert(version, position);
            version_of.insert(trial.id, version);
        }
        let mut front: Vec<usize> = {
            let positions: HashMap<TrialId, usize> =
                trials.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
            pareto_front(trials.iter())
                .into_iter()
                .map(|t| positions[&t.id])
                .collect()
        };
        front.sort_by(|&a, &b| p50(&trials[a]).total_cmp(&p50(&trials[b])));
        self.trials = trials;
        self.changes = changes;
        self.version_of = version_of;
        self.front = front;
    }

    /// The trials changed after version `since`, at most `limit`, that pass `keep`.
    pub(crate) fn page(&self, since: u64, limit: usize, keep: impl Fn(&Trial) -> bool) -> Page {
        let mut trials = Vec::new();
        let mut next = since;
        let mut more = false;
        for (&version, &position) in self.changes.range(since.saturating_add(1)..) {
            if trials.len() == limit {
                more = true;
                break;
            }
            next = version;
            let trial = &self.trials[position];
            if keep(trial) {
                trials.push(trial.clone());
            }
        }
        Page { trials, next, more }
    }

    /// The Pareto front, by p50.
    pub(crate) fn front(&self) -> impl Iterator<Item = &Trial> {
        self.front.iter().map(|&i| &self.trials[i])
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

/// Every index's [`Study`], read through on demand.
#[derive(Debug)]
pub(crate) struct Catalog {
    journal: Arc<dyn TrialJournal>,
    registry: Arc<dyn PromotionRegistry>,
    refresh: Duration,
    pub(crate) epoch: String,
    next_version: Mutex<u64>,
    names: AsyncMutex<(Option<Instant>, Vec<IndexName>)>,
    studies: Mutex<HashMap<IndexName, Arc<AsyncMutex<Study>>>>,
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
            next_version: Mutex::new(0),
            names: AsyncMutex::new((None, Vec::new())),
            studies: Mutex::new(HashMap::new()),
        }
    }

    /// The indexes that have trials in the store, listed at most once per interval.
    pub(crate) async fn names(&self) -> Result<Vec<IndexName>, ApiError> {
        let mut names = self.names.lock().await;
        if names.0.is_none_or(|at| at.elapsed() >= self.refresh) {
            names.1 = self.journal.indexes().await?;
            names.0 = Some(Instant::now());
        }
        Ok(names.1.clone())
    }

    /// `index`'s study, read again if the last read is older than the interval. The
    /// caller has checked that the index exists, so that names made up by clients do
    /// not fill the cache.
    pub(crate) async fn study(
        &self,
        index: &IndexName,
    ) -> Result<tokio::sync::OwnedMutexGuard<Study>, ApiError> {
        let cell = {
            let mut studies = self.studies.lock().unwrap_or_else(|e| e.into_inner());
            studies.entry(index.clone()).or_default().clone()
        };
        let mut study = cell.lock_owned().await;
        if study
            .refreshed
            .is_none_or(|at| at.elapsed() >= self.refresh)
        {
            let read = self.journal.read(index).await?;
            let promotions = self.registry.history(index).await?;
            if study.refreshed.is_none() || read.report.entries != study.entries {
                let mut next = self.next_version.lock().unwrap_or_else(|e| e.into_inner());
                study.absorb(read.trials, &mut next);
                study.entries = read.report.entries;
            }
            study.promotions = promotions;
            study.refreshed = Some(Instant::now());
        }
        Ok(study)
    }

    /// Forgets when `index` was last read, so that the next request reads the store
    /// (after this server wrote to it).
    pub(crate) async fn invalidate(&self, index: &IndexName) {
        let cell = {
            let studies = self.studies.lock().unwrap_or_else(|e| e.into_inner());
            studies.get(index).cloned()
        };
        if let Some(cell) = cell {
            cell.lock().await.refreshed = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hnswtune_core::{Params, TrialMetrics, TrialState, TriggerReason};

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
        let mut next = 0;
        let a = trial(1, TrialState::Complete);
        let b = trial(2, TrialState::Running);
        study.absorb(Trials::new(vec![a.clone(), b.clone()]), &mut next);
        let first = study.page(0, 1, |_| true);
        assert_eq!((first.trials.len(), first.next, first.more), (1, 1, true));
        let rest = study.page(first.next, 10, |_| true);
        assert_eq!((rest.trials.len(), rest.next, rest.more), (1, 2, false));
        assert_eq!(study.page(rest.next, 10, |_| true).trials.len(), 0);

        // b completes: only b comes again, with a new version.
        let mut b_done = b.clone();
        b_done.state = TrialState::Complete;
        b_done.metrics = Some(metrics());
        study.absorb(Trials::new(vec![a, b_done.clone()]), &mut next);
        let changed = study.page(rest.next, 10, |_| true);
        assert_eq!(changed.trials, vec![b_done]);
        assert_eq!(changed.next, 3);
        assert_eq!(study.page(changed.next, 10, |_| true).next, 3);
    }

    #[test]
    fn a_filter_skips_trials_but_the_cursor_moves_past_them() {
        let mut study = Study::default();
        let mut next = 0;
        study.absorb(
            Trials::new(vec![
                trial(1, TrialState::Running),
                trial(2, TrialState::Complete),
                trial(3, TrialState::Running),
            ]),
            &mut next,
        );
        let page = study.page(0, 10, |t| t.state == TrialState::Complete);
        assert_eq!(page.trials.len(), 1);
        assert_eq!(page.next, 3);
    }
}
