//! [`TrialLeases`] on the object store: claims and ends as create-only objects.
//!
//! ```text
//! leases/<index>/<config>/<generation>-claim.json   the running trial that claimed the config
//! leases/<index>/<config>/<generation>-end.json     its final state; the commit point
//! ```
//!
//! ## Invariants
//!
//! - Generation `g + 1` of a config is claimed only after `<g>-end.json` exists, so at
//!   most one lease per config is open at any time, on every backend: the claim and the
//!   end are `PutMode::Create`, never a read-then-write.
//! - The end object is written before the final state reaches the journal. Of the
//!   holder finishing and another worker expiring the lease, exactly one creates it;
//!   the other gets [`Error::Conflict`]. A crash between the end and the journal
//!   append is repaired by the next worker that finds the trial lapsed: it copies the
//!   end's state into the journal, so a measured result is not lost.
//! - Renewals are journal entries (the running trial again, with a later expiry), so
//!   they are create-only too, and a snapshot folds them into one trial.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use hnswtune_core::{
    Claim, Error, LEASE_EXPIRED, Lease, Trial, TrialJournal, TrialLeases, TrialState,
};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::ObjectStoreJournal;
use crate::error::from_store;
use crate::keys::config_digest;

/// How many generations one claim walks through (each ended or lapsed) before it
/// gives up with [`Error::Conflict`].
const MAX_GENERATIONS_PER_CLAIM: u64 = 64;

/// The largest claim or end object read back (a trial is a few kilobytes).
const MAX_LEASE_BYTES: u64 = 1 << 20;

impl ObjectStoreJournal {
    /// Creates `key` with `trial` as its body; `Ok(false)` when it already exists.
    async fn create_trial_object(&self, key: &Path, trial: &Trial) -> Result<bool, Error> {
        let body = serde_json::to_vec(trial).map_err(|e| Error::invalid("trial", e.to_string()))?;
        match self
            .store()
            .put_opts(
                key,
                PutPayload::from(Bytes::from(body)),
                PutOptions::from(PutMode::Create),
            )
            .await
        {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) => Ok(false),
            Err(e) => Err(from_store("put", key, e)),
        }
    }

    /// Reads the trial stored at `key`, `None` when there is none.
    async fn trial_object(&self, key: &Path) -> Result<Option<Trial>, Error> {
        let result = match self.store().get(key).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(from_store("get", key, e)),
        };
        if result.meta.size > MAX_LEASE_BYTES {
            return Err(Error::TooLarge {
                what: format!("the lease object {key}"),
                size_bytes: result.meta.size,
                limit_bytes: MAX_LEASE_BYTES,
            });
        }
        let bytes = result
            .bytes()
            .await
            .map_err(|e| from_store("get", key, e))?;
        let trial: Trial = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid("lease object", format!("{key} is not a trial: {e}")))?;
        Ok(Some(trial))
    }

    async fn exists_at(&self, key: &Path) -> Result<bool, Error> {
        match self.store().head(key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(from_store("head", key, e)),
        }
    }

    /// The latest journal state of trial `of` (by id), if the journal has it.
    async fn journal_state(&self, of: &Trial) -> Result<Option<Trial>, Error> {
        let trials = self.read(&of.index).await?.trials;
        Ok(trials
            .binary_search_by_key(&of.id, |t| t.id)
            .ok()
            .map(|i| trials[i].clone()))
    }

    fn claim_key(&self, trial: &Trial, generation: u64) -> Path {
        self.layout().lease_claim(
            &trial.index,
            &config_digest(&trial.params.to_string()),
            generation,
        )
    }

    fn end_key(&self, trial: &Trial) -> Result<Path, Error> {
        lease(trial)?;
        self.lease_end_key(trial)
            .ok_or_else(|| Error::invalid("trial.lease", "no lease"))
    }

    /// Copies the final state of an ended lease into the journal when the journal
    /// still shows the trial running (its writer crashed between the two writes).
    async fn repair_from_end(&self, end: &Trial) -> Result<(), Error> {
        let recorded = self.journal_state(end).await?;
        if recorded.is_none_or(|t| t.state == TrialState::Running) {
            tracing::warn!(trial = %end.id, "the journal missed the end of a lease; recording it from the end object");
            self.append(end).await?;
        }
        Ok(())
    }
}

/// True when `holder` was still being measured when `claimer` was created: the
/// claimer chose its config from a history that did not show the result yet, so the
/// config counts as taken rather than measured twice in a row. A lapsed lease does not
/// count (its holder stopped measuring when it stopped renewing).
fn ended_after_start_of(holder: &Trial, claimer: &Trial) -> bool {
    holder.id != claimer.id
        && !holder.lost_its_lease()
        && holder.finished_at.is_some_and(|f| f > claimer.created_at)
}

fn lease(trial: &Trial) -> Result<&Lease, Error> {
    trial.lease.as_ref().ok_or_else(|| {
        Error::invalid(
            "trial.lease",
            format!("trial {} has no lease to claim, renew or end", trial.id),
        )
    })
}

#[async_trait]
impl TrialLeases for ObjectStoreJournal {
    async fn claim(&self, trial: &Trial, now: DateTime<Utc>) -> Result<Claim, Error> {
        lease(trial)?;
        if trial.state != TrialState::Running {
            return Err(Error::invalid(
                "trial.state",
                "only a running trial can claim a config",
            ));
        }
        trial.validate()?;
        let history = self.read(&trial.index).await?.trials;
        // Start at the newest generation the journal knows: still running, it is
        // inspected below; ended (its end object comes before its final state), the
        // next one is free unless a claim raced this read.
        let newest = history
            .iter()
            .filter(|t| t.params == trial.params)
            .filter_map(|t| t.lease.as_ref().map(|l| (l.generation, t)))
            .max_by_key(|(g, _)| *g);
        let mut generation = match newest {
            None => 1,
            Some((g, t)) if t.state == TrialState::Running => g,
            Some((_, t)) if ended_after_start_of(t, trial) => {
                return Ok(Claim::Taken(t.clone()));
            }
            Some((g, _)) => g + 1,
        };
        for _ in 0..MAX_GENERATIONS_PER_CLAIM {
            let mut mine = trial.clone();
            if let Some(l) = mine.lease.as_mut() {
                l.generation = generation;
            }
            let key = self.claim_key(trial, generation);
            if self.create_trial_object(&key, &mine).await? {
                self.append(&mine).await?;
                return Ok(Claim::Won(mine));
            }
            let Some(holder) = self.trial_object(&key).await? else {
                // Created, then not readable: a store without read-after-write. Look
                // again at the same generation.
                continue;
            };
            if holder.params != trial.params {
                return Err(Error::Conflict {
                    what: format!(
                        "the lease key {key} of config {} is held by config {} (a digest collision)",
                        trial.params, holder.params
                    ),
                });
            }
            if holder.id == trial.id {
                // This trial's own claim, from an attempt whose journal append failed.
                if self.journal_state(&holder).await?.is_none() {
                    self.append(&holder).await?;
                }
                return Ok(Claim::Won(holder));
            }
            let end = self.end_key(&holder)?;
            let latest = self.journal_state(&holder).await?.unwrap_or(holder);
            if self.exists_at(&end).await? {
                if latest.state == TrialState::Running
                    && let Some(ended) = self.trial_object(&end).await?
                {
                    self.repair_from_end(&ended).await?;
                    if ended_after_start_of(&ended, trial) {
                        return Ok(Claim::Taken(ended));
                    }
                } else if ended_after_start_of(&latest, trial) {
                    return Ok(Claim::Taken(latest));
                }
                generation += 1;
                continue;
            }
            if latest.state != TrialState::Running {
                generation += 1;
                continue;
            }
            if latest.lease_live(now) {
                return Ok(Claim::Taken(latest));
            }
            match self.expire(&latest, LEASE_EXPIRED).await {
                Ok(_) | Err(Error::Conflict { .. }) => generation += 1,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Conflict {
            what: format!(
                "config {} of index {} went through {MAX_GENERATIONS_PER_CLAIM} leases during one claim",
                trial.params, trial.index
            ),
        })
    }

    async fn renew(&self, trial: &Trial) -> Result<(), Error> {
        if self.exists_at(&self.end_key(trial)?).await? {
            return Err(Error::Conflict {
                what: format!(
                    "the lease of trial {} has ended: another worker found it lapsed",
                    trial.id
                ),
            });
        }
        self.append(trial).await
    }

    async fn finish(&self, trial: &Trial) -> Result<(), Error> {
        lease(trial)?;
        if trial.state == TrialState::Running {
            return Err(Error::invalid(
                "trial.state",
                "a lease ends with a final state, not a running one",
            ));
        }
        trial.validate()?;
        let end = self.end_key(trial)?;
        if !self.create_trial_object(&end, trial).await? {
            // A retry of this very call, whose journal append failed the first time.
            if self.trial_object(&end).await?.as_ref() == Some(trial) {
                return self.repair_from_end(trial).await;
            }
            return Err(Error::Conflict {
                what: format!(
                    "the lease of trial {} ended before it finished: another worker found it lapsed",
                    trial.id
                ),
            });
        }
        self.append(trial).await
    }

    async fn expire(&self, running: &Trial, reason: &str) -> Result<Trial, Error> {
        let held = lease(running)?;
        let failed = running.clone().fail(format!(
            "{reason}: worker {} stopped renewing it before {}",
            held.worker,
            held.expires_at.to_rfc3339()
        ));
        let end = self.end_key(running)?;
        if self.create_trial_object(&end, &failed).await? {
            self.append(&failed).await?;
            return Ok(failed);
        }
        if let Some(ended) = self.trial_object(&end).await? {
            self.repair_from_end(&ended).await?;
        }
        Err(Error::Conflict {
            what: format!(
                "the lease of trial {} was ended by another writer",
                running.id
            ),
        })
    }
}
