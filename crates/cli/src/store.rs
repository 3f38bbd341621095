//! Opening a study's store: the journal, the promotion registry, and a first round trip
//! that turns "unreachable" into one sentence instead of a long retry loop.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hnswtune_core::{
    IndexName, Promotion, PromotionRegistry, PromotionRules, Trial, TrialJournal, Trials,
};
use hnswtune_journal::{ObjectStoreJournal, ObjectStorePromotions};

use hnswtune_journal::StoreUrl;

use crate::location::parse_store;

/// How long the first request to a store may take before it counts as unreachable.
/// Object stores retry transient failures for minutes; a person at a terminal wants to
/// hear about a wrong endpoint in seconds. `HNSWTUNE_STORE_TIMEOUT_SECS` overrides it.
pub const DEFAULT_PROBE_SECS: u64 = 20;

/// An opened store.
#[derive(Debug, Clone)]
pub struct Store {
    /// What the user gave, checked.
    pub location: StoreUrl,
    /// The journal's location (object store and key prefix).
    pub journal_location: hnswtune_journal::StoreLocation,
    /// The trial journal.
    pub journal: Arc<ObjectStoreJournal>,
    /// The champion chains.
    pub registry: Arc<ObjectStorePromotions>,
    probe: Duration,
}

/// Parses an `--index` value with a message that says what is allowed.
pub fn index_name(text: &str) -> anyhow::Result<IndexName> {
    IndexName::new(text).map_err(|e| {
        anyhow::anyhow!(
            "--index {text:?} cannot be used: {e}. {}",
            hnswtune_core::INDEX_NAME_RULE
        )
    })
}

fn probe_timeout() -> Duration {
    let secs = std::env::var("HNSWTUNE_STORE_TIMEOUT_SECS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|&s| s > 0)
        .unwrap_or(DEFAULT_PROBE_SECS);
    Duration::from_secs(secs)
}

impl Store {
    /// Checks `--store`, then opens the journal and the registry on it. Nothing is read
    /// yet; [`Store::read`] and friends bound the first request by the probe timeout.
    pub fn open(text: &str) -> anyhow::Result<Store> {
        Store::open_with(text, hnswtune_journal::JournalOptions::default())
    }

    /// [`Store::open`] with journal `options`.
    pub fn open_with(
        text: &str,
        options: hnswtune_journal::JournalOptions,
    ) -> anyhow::Result<Store> {
        let location = parse_store(text)?;
        if let StoreUrl::Local(path) = &location
            && path.exists()
            && !path.is_dir()
        {
            anyhow::bail!(
                "--store {} is a file, not a directory. Give a directory (it is created if \
                 missing) or an s3://bucket/prefix URL.",
                path.display()
            );
        }
        let journal_location = hnswtune_journal::StoreLocation::open(&location)
            .with_context(|| format!("cannot open the store {location}"))?;
        let journal = ObjectStoreJournal::open(journal_location.clone())
            .and_then(|j| j.with_options(options))
            .with_context(|| format!("cannot open the journal in {location}"))?;
        let registry = ObjectStorePromotions::open(journal_location.clone())
            .with_context(|| format!("cannot open the promotion registry in {location}"))?;
        Ok(Store {
            location,
            journal_location,
            journal: Arc::new(journal),
            registry: Arc::new(registry),
            probe: probe_timeout(),
        })
    }

    /// Runs one store request, turning a timeout into an "unreachable" message.
    async fn bounded<T>(
        &self,
        what: &str,
        request: impl std::future::Future<Output = Result<T, hnswtune_core::Error>>,
    ) -> anyhow::Result<T> {
        match tokio::time::timeout(self.probe, request).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.explain(what, e)),
            Err(_) => Err(anyhow::anyhow!(
                "the store {} did not answer within {} s while {what}. Check the path or \
                 URL, the network, and for S3 the AWS_ENDPOINT, AWS_REGION and credential \
                 variables (HNSWTUNE_STORE_TIMEOUT_SECS sets this limit).",
                self.location,
                self.probe.as_secs()
            )),
        }
    }

    fn explain(&self, what: &str, e: hnswtune_core::Error) -> anyhow::Error {
        let hint = match (&e, &self.location) {
            (hnswtune_core::Error::Backend { .. }, StoreUrl::S3 { .. }) => {
                " The store could not be reached or refused the request: check AWS_ENDPOINT, \
                 AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, and that the bucket \
                 exists."
            }
            (hnswtune_core::Error::Backend { .. }, StoreUrl::Local(_)) => {
                " Check that the directory exists and is readable and writable."
            }
            _ => "",
        };
        anyhow::anyhow!("{what} in the store {} failed: {e}.{hint}", self.location)
    }

    /// Every trial of `index`, in creation order.
    pub async fn trials(&self, index: &IndexName) -> anyhow::Result<Trials> {
        let read = self
            .bounded(
                &format!("reading the journal of {index}"),
                self.journal.read(index),
            )
            .await?;
        for skipped in &read.report.skipped {
            tracing::warn!(key = %skipped.key, why = %skipped.why, "skipped a journal entry");
        }
        Ok(read.trials)
    }

    /// The promotion history of `index`, oldest first.
    pub async fn history(&self, index: &IndexName) -> anyhow::Result<Vec<Promotion>> {
        self.bounded(
            &format!("reading the promotions of {index}"),
            self.registry.history(index),
        )
        .await
    }

    /// The indexes that have trials.
    pub async fn indexes(&self) -> anyhow::Result<Vec<IndexName>> {
        self.bounded("listing the indexes", self.journal.indexes())
            .await
    }

    /// Appends one trial state.
    pub async fn append(&self, trial: &Trial) -> anyhow::Result<()> {
        self.bounded(
            &format!("recording trial {}", trial.id),
            self.journal.append(trial),
        )
        .await
    }

    /// Records the final state of a trial: through its lease when it has one (ending
    /// the lease, so no other worker marks it lapsed), as a plain entry otherwise.
    pub async fn end(&self, trial: &Trial) -> anyhow::Result<()> {
        if trial.lease.is_none() {
            return self.append(trial).await;
        }
        self.bounded(
            &format!("ending the lease of trial {}", trial.id),
            hnswtune_core::TrialLeases::finish(self.journal.as_ref(), trial),
        )
        .await
    }

    /// Rolls `index` back to `to_revision`.
    pub async fn rollback(
        &self,
        index: &IndexName,
        to_revision: u64,
        note: &str,
    ) -> anyhow::Result<Promotion> {
        let by = whoami();
        self.bounded(
            &format!("rolling {index} back to revision {to_revision}"),
            self.registry.rollback(index, to_revision, &by, note),
        )
        .await
    }
}

/// A worker id unique per process: `<host>-<pid>-<6 random characters>`.
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    // A trial id ends in 80 random bits; six of its characters are plenty here.
    let id = hnswtune_core::TrialId::new().to_string();
    let suffix = &id[id.len() - 6..];
    format!("{host}-{}-{}", std::process::id(), suffix.to_lowercase())
}

/// Who is acting, for `promoted_by`: `$USER@hnswtune-cli`, or `hnswtune-cli`.
pub fn whoami() -> String {
    whoami_as("hnswtune-cli")
}

/// Who is acting through `tool`: `$USER@<tool>`, or `<tool>`.
pub fn whoami_as(tool: &str) -> String {
    match std::env::var("USER") {
        Ok(user) if !user.is_empty() => format!("{user}@{tool}"),
        _ => tool.into(),
    }
}
