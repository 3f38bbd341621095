//! The trial record: what was tried, on what data, why, and what it measured.
//!
//! Trials are data. A trial is never edited in place: a journal stores each state
//! change as a new entry with the same [`TrialId`], and readers fold entries by id,
//! keeping the latest. A trial therefore appears first as [`TrialState::Running`] and
//! then as `Complete`, `Failed` or `Pruned`.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Error, IndexName, Params, TrialId, TrialMetrics};

/// The journal schema version this crate writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// Identity of the data a trial measured: trials on different data are never compared
/// as if they were the same.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DatasetFingerprint {
    /// Number of base vectors.
    pub vector_count: u64,
    /// Dimension of each vector.
    pub dimension: u32,
    /// Hex digest of the vectors' bytes (the harness documents the hash).
    pub content_hash: String,
}

impl fmt::Display for DatasetFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let short = self.content_hash.get(..12).unwrap_or(&self.content_hash);
        write!(f, "{}x{}:{short}", self.vector_count, self.dimension)
    }
}

/// Where a trial is in its life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TrialState {
    /// Started; no result yet (or the worker died).
    Running,
    /// Finished with metrics.
    Complete,
    /// Could not be measured.
    Failed {
        /// Why it failed.
        reason: String,
    },
    /// Stopped early on purpose (for example a bound proved it dominated).
    Pruned {
        /// Why it was pruned.
        reason: String,
    },
}

/// Why a trial ran.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "trigger", rename_all = "snake_case")]
pub enum TriggerReason {
    /// Asked for by a person or an API call.
    Manual,
    /// The agent's periodic wake-up.
    Periodic,
    /// Data was appended to a dataset.
    DatasetAppended {
        /// The dataset that grew.
        dataset: String,
    },
    /// A synchronous study (`tune`).
    Study,
    /// Re-measuring the champion after its data changed.
    Revalidation,
}

impl fmt::Display for TriggerReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TriggerReason::Manual => f.write_str("manual"),
            TriggerReason::Periodic => f.write_str("periodic"),
            TriggerReason::DatasetAppended { dataset } => write!(f, "dataset_appended({dataset})"),
            TriggerReason::Study => f.write_str("study"),
            TriggerReason::Revalidation => f.write_str("revalidation"),
        }
    }
}

/// One attempt at one config on one index.
///
/// The state is stored flat beside the other fields (`"state": "failed", "reason":
/// "..."`). Decoding goes through a private mirror with plain fields instead of
/// `#[serde(flatten)]`, which would make serde buffer every record before decoding it;
/// the JSON is the same either way.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TrialWire")]
pub struct Trial {
    /// Schema version of this record; readers refuse versions they do not know.
    pub schema_version: u32,
    /// Unique, time-sortable id.
    pub id: TrialId,
    /// The index tuned.
    pub index: IndexName,
    /// The eval set measured against.
    pub eval_set: String,
    /// The config tried.
    pub params: Params,
    /// The seed the build used.
    pub seed: u64,
    /// Threads the build used: 1 means a reproducible build; 0 means the count is not
    /// known (the writer of the trial did not record it).
    pub threads: u32,
    /// Where the trial is in its life.
    #[serde(flatten)]
    pub state: TrialState,
    /// Measurements, present when the state is `Complete`.
    pub metrics: Option<TrialMetrics>,
    /// The data measured.
    pub dataset: DatasetFingerprint,
    /// The proposer that chose the config.
    pub proposer: String,
    /// Why the trial ran.
    pub trigger: TriggerReason,
    /// The worker (host, process, agent) that ran it.
    pub worker: String,
    /// When it started.
    pub created_at: DateTime<Utc>,
    /// When it finished, if it has.
    pub finished_at: Option<DateTime<Utc>>,
    /// Free text.
    #[serde(default)]
    pub note: String,
    /// The lease under which a worker evaluates this trial, when it runs under one
    /// (see [`TrialLeases`](crate::TrialLeases)). Absent in trials written before
    /// leases existed, and omitted from the JSON when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Lease>,
}

/// A worker's claim on one config: while it is live, no other worker evaluates that
/// config. Heartbeats move `expires_at` forward by appending the trial again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The worker that holds it.
    pub worker: String,
    /// Which claim of this config it is, from 1: claim `g + 1` can be made only once
    /// claim `g` has ended.
    pub generation: u64,
    /// When it lapses unless renewed, by the holder's clock.
    pub expires_at: DateTime<Utc>,
    /// How often the holder renews it, in seconds.
    pub heartbeat_secs: u32,
}

impl Lease {
    /// True when the lease has lapsed at `now` (by the reader's clock).
    pub fn expired_at(&self, now: DateTime<Utc>) -> bool {
        self.expires_at < now
    }
}

/// The tag of [`TrialState`] as stored.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum StateTag {
    Running,
    Complete,
    Failed,
    Pruned,
}

/// The stored shape of a [`Trial`], decoded without `flatten`.
#[derive(Deserialize)]
struct TrialWire {
    schema_version: u32,
    id: TrialId,
    index: IndexName,
    eval_set: String,
    params: Params,
    seed: u64,
    threads: u32,
    state: StateTag,
    #[serde(default)]
    reason: Option<String>,
    metrics: Option<TrialMetrics>,
    dataset: DatasetFingerprint,
    proposer: String,
    trigger: TriggerReason,
    worker: String,
    created_at: DateTime<Utc>,
    finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    note: String,
    #[serde(default)]
    lease: Option<Lease>,
}

impl TryFrom<TrialWire> for Trial {
    type Error = String;

    fn try_from(w: TrialWire) -> Result<Self, String> {
        let reason = |state: &str| {
            w.reason
                .clone()
                .ok_or_else(|| format!("a {state} trial needs a `reason`"))
        };
        let state = match w.state {
            StateTag::Running => TrialState::Running,
            StateTag::Complete => TrialState::Complete,
            StateTag::Failed => TrialState::Failed {
                reason: reason("failed")?,
            },
            StateTag::Pruned => TrialState::Pruned {
                reason: reason("pruned")?,
            },
        };
        Ok(Trial {
            schema_version: w.schema_version,
            id: w.id,
            index: w.index,
            eval_set: w.eval_set,
            params: w.params,
            seed: w.seed,
            threads: w.threads,
            state,
            metrics: w.metrics,
            dataset: w.dataset,
            proposer: w.proposer,
            trigger: w.trigger,
            worker: w.worker,
            created_at: w.created_at,
            finished_at: w.finished_at,
            note: w.note,
            lease: w.lease,
        })
    }
}

impl Trial {
    /// A new `Running` trial with a fresh id, created now.
    pub fn start(
        index: IndexName,
        eval_set: impl Into<String>,
        params: Params,
        dataset: DatasetFingerprint,
        trigger: TriggerReason,
    ) -> Self {
        Self::start_with_id(TrialId::new(), index, eval_set, params, dataset, trigger)
    }

    /// As [`Trial::start`] with a given id; `created_at` is the id's time, so the two
    /// never disagree. The agent mints the id from its clock
    /// ([`TrialIdMinter`](crate::TrialIdMinter)).
    pub fn start_with_id(
        id: TrialId,
        index: IndexName,
        eval_set: impl Into<String>,
        params: Params,
        dataset: DatasetFingerprint,
        trigger: TriggerReason,
    ) -> Self {
        Trial {
            schema_version: SCHEMA_VERSION,
            created_at: id.created_at(),
            id,
            index,
            eval_set: eval_set.into(),
            params,
            seed: 0,
            threads: 1,
            state: TrialState::Running,
            metrics: None,
            dataset,
            proposer: String::new(),
            trigger,
            worker: String::new(),
            finished_at: None,
            note: String::new(),
            lease: None,
        }
    }

    /// This trial, completed now with `metrics`.
    pub fn complete(mut self, metrics: TrialMetrics) -> Self {
        self.state = TrialState::Complete;
        self.metrics = Some(metrics);
        self.finished_at = Some(Utc::now());
        self
    }

    /// This trial, failed now for `reason`.
    pub fn fail(mut self, reason: impl Into<String>) -> Self {
        self.state = TrialState::Failed {
            reason: reason.into(),
        };
        self.metrics = None;
        self.finished_at = Some(Utc::now());
        self
    }

    /// The metrics of a completed trial.
    pub fn completed_metrics(&self) -> Option<&TrialMetrics> {
        match self.state {
            TrialState::Complete => self.metrics.as_ref(),
            _ => None,
        }
    }

    /// True when the trial finished with metrics.
    pub fn is_complete(&self) -> bool {
        self.completed_metrics().is_some()
    }

    /// Checks the record before it is written: known schema version, finite metrics,
    /// metrics present exactly when complete.
    pub fn validate(&self) -> Result<(), Error> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(Error::invalid(
                "trial.schema_version",
                format!(
                    "{} is not the supported version {SCHEMA_VERSION}",
                    self.schema_version
                ),
            ));
        }
        match (&self.state, &self.metrics) {
            (TrialState::Complete, None) => {
                return Err(Error::invalid(
                    "trial.metrics",
                    "a complete trial needs metrics",
                ));
            }
            (_, Some(m)) => m.validate()?,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::metrics::tests::sample;
    use crate::{EF_CONSTRUCTION, EF_SEARCH, ParamValue};
    use proptest::prelude::*;

    pub(crate) fn fingerprint() -> DatasetFingerprint {
        DatasetFingerprint {
            vector_count: 1000,
            dimension: 32,
            content_hash: "00ff00ff00ff00ff".into(),
        }
    }

    #[test]
    fn lifecycle_and_validation() {
        let t = Trial::start(
            IndexName::new("a").unwrap(),
            "eval",
            Params::new().with(EF_CONSTRUCTION, 40).with(EF_SEARCH, 20),
            fingerprint(),
            TriggerReason::Manual,
        );
        assert_eq!(t.state, TrialState::Running);
        t.validate().unwrap();
        let done = t.clone().complete(sample());
        assert!(done.is_complete());
        done.validate().unwrap();
        let failed = t.clone().fail("boom");
        assert!(!failed.is_complete());
        let mut broken = t.clone();
        broken.state = TrialState::Complete;
        assert!(broken.validate().is_err());
        let mut future = t;
        future.schema_version = 99;
        assert!(future.validate().is_err());
    }

    fn arb_state() -> impl Strategy<Value = TrialState> {
        prop_oneof![
            Just(TrialState::Running),
            Just(TrialState::Complete),
            ".{0,20}".prop_map(|reason| TrialState::Failed { reason }),
            ".{0,20}".prop_map(|reason| TrialState::Pruned { reason }),
        ]
    }

    fn arb_trigger() -> impl Strategy<Value = TriggerReason> {
        prop_oneof![
            Just(TriggerReason::Manual),
            Just(TriggerReason::Periodic),
            Just(TriggerReason::Study),
            Just(TriggerReason::Revalidation),
            "[a-z]{1,8}".prop_map(|dataset| TriggerReason::DatasetAppended { dataset }),
        ]
    }

    prop_compose! {
        fn arb_metrics()(
            floats in proptest::array::uniform9(0.0f64..1e9),
            recall in 0.0f64..=1.0,
            tolerant in 0.0f64..=1.0,
            k in 1u32..1000,
            ints in proptest::array::uniform3(any::<u64>()),
            kind in 0u8..3,
        ) -> TrialMetrics {
            TrialMetrics {
                build_secs: floats[0],
                search_p50_us: floats[1],
                search_p95_us: floats[2],
                search_p99_us: floats[3],
                qps: floats[4],
                recall,
                recall_tolerant: tolerant,
                k,
                index_bytes: ints[0],
                vector_count: ints[1],
                eval_query_count: ints[2],
                brute_force_us: floats[5],
                search_secs: floats[6],
                build_kind: [crate::BuildKind::Fresh, crate::BuildKind::Cached, crate::BuildKind::Extended][kind as usize],
                config_build_secs: None,
                p50_pass_spread: None,
            }
        }
    }

    prop_compose! {
        pub(crate) fn arb_trial()(
            ts in 0u64..(1u64 << 47),
            rand in any::<u128>(),
            name in "[a-z][a-z0-9_.-]{0,30}",
            eval in ".{0,12}",
            ef_c in 10i64..400,
            ef_s in 10i64..200,
            heuristic in proptest::option::of("[a-z_]{1,10}"),
            seed in any::<u64>(),
            threads in 1u32..64,
            state in arb_state(),
            metrics in proptest::option::of(arb_metrics()),
            trigger in arb_trigger(),
            note in ".{0,40}",
            finished in proptest::option::of(0i64..4_000_000_000),
        ) -> Trial {
            let mut params = Params::new().with(EF_CONSTRUCTION, ef_c).with(EF_SEARCH, ef_s);
            if let Some(h) = heuristic {
                params.set(crate::NEIGHBOUR_HEURISTIC, h);
            }
            let id = TrialId::from_parts(ts, rand);
            Trial {
                schema_version: SCHEMA_VERSION,
                created_at: id.created_at(),
                id,
                index: IndexName::new(name).unwrap(),
                eval_set: eval,
                params,
                seed,
                threads,
                state,
                metrics,
                dataset: fingerprint(),
                proposer: "random".into(),
                trigger,
                worker: "w1".into(),
                finished_at: finished.map(|s| chrono::TimeZone::timestamp_opt(&Utc, s, 0).unwrap()),
                note,
                lease: None,
            }
        }
    }

    proptest! {
        #[test]
        fn serde_round_trip(trial in arb_trial()) {
            let json = serde_json::to_string(&trial).unwrap();
            let back: Trial = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, trial);
        }

        /// The hand-written decoder reads exactly what the derived `flatten` decoder
        /// read, so journals written before it stay readable.
        #[test]
        fn decodes_like_the_flattened_derive(trial in arb_trial()) {
            let json = serde_json::to_string(&trial).unwrap();
            let legacy: LegacyTrial = serde_json::from_str(&json).unwrap();
            let back: Trial = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.state, legacy.state);
            prop_assert_eq!(serde_json::to_value(&back.params).unwrap(), legacy.params);
            prop_assert_eq!(back.id, legacy.id);
            prop_assert_eq!(back.note, legacy.note);
        }
    }

    /// The decoder `Trial` derived before the mirror replaced it (only the fields the
    /// mirror changes the handling of).
    #[derive(Deserialize)]
    struct LegacyTrial {
        id: TrialId,
        params: serde_json::Value,
        #[serde(flatten)]
        state: TrialState,
        #[serde(default)]
        note: String,
    }

    #[test]
    fn a_failed_trial_without_a_reason_is_refused() {
        let trial = Trial::start(
            IndexName::new("a").unwrap(),
            "e",
            Params::new(),
            fingerprint(),
            TriggerReason::Manual,
        )
        .fail("boom");
        let mut value = serde_json::to_value(&trial).unwrap();
        assert_eq!(value["state"], "failed");
        assert_eq!(value["reason"], "boom");
        value.as_object_mut().unwrap().remove("reason");
        let err = serde_json::from_value::<Trial>(value).unwrap_err();
        assert!(err.to_string().contains("needs a `reason`"), "{err}");
    }

    #[test]
    fn params_decode_integers_and_labels_only() {
        let p: Params = serde_json::from_str(r#"{"a": 3, "b": "simple"}"#).unwrap();
        assert_eq!(p.int("a"), Some(3));
        assert_eq!(p.get("b"), Some(&ParamValue::Cat("simple".into())));
        assert!(serde_json::from_str::<Params>(r#"{"a": 1.5}"#).is_err());
        assert!(serde_json::from_str::<Params>(r#"{"a": 18446744073709551615}"#).is_err());
        assert!(serde_json::from_str::<Params>(r#"{"a": null}"#).is_err());
    }
}
