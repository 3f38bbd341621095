//! The lease seam: one config, one worker at a time, across processes and machines.
//!
//! A worker claims a config before it evaluates it, renews the claim while the
//! evaluation runs, and ends it with the trial's final state. A claim whose holder
//! stopped renewing lapses, and the first worker to notice ends it as failed. Every
//! step is a create-if-absent write, so the rules hold on any store that has one
//! (see docs/decisions/0008-trial-leases.md).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::{Error, Lease, Trial, TrialState};

/// The reason recorded on a trial whose lease lapsed; proposers may try its config
/// again.
pub const LEASE_EXPIRED: &str = "lease expired";

/// What [`TrialLeases::claim`] found.
#[derive(Clone, Debug, PartialEq)]
pub enum Claim {
    /// The config is this worker's: the running trial, with the generation it got, is
    /// recorded in the journal.
    Won(Trial),
    /// Another worker holds a live lease on the config: its running trial.
    Taken(Trial),
}

/// Claims, renewals and ends of leases, recorded through the journal.
///
/// Implementations must make `claim`, `finish` and `expire` atomic per config and
/// generation: of two workers racing, exactly one wins and the other gets
/// [`Claim::Taken`] or [`Error::Conflict`].
#[async_trait]
pub trait TrialLeases: Send + Sync + Debug {
    /// Claims `trial.params` for `trial`, a running trial whose [`Lease`] names the
    /// worker and the expiry (its generation is chosen here), and records it. `now`
    /// is the caller's clock, which decides whether another holder's lease lapsed.
    async fn claim(&self, trial: &Trial, now: DateTime<Utc>) -> Result<Claim, Error>;

    /// Renews the lease of `trial` (running, same generation, a later `expires_at`)
    /// by recording it again. [`Error::Conflict`] when the lease has ended: another
    /// worker found it lapsed.
    async fn renew(&self, trial: &Trial) -> Result<(), Error>;

    /// Ends the lease of `trial` with its final state and records that state.
    /// [`Error::Conflict`] when the lease had already ended: nothing is recorded.
    async fn finish(&self, trial: &Trial) -> Result<(), Error>;

    /// Ends the lapsed lease of `running` as failed with `reason` and records it,
    /// returning the failed trial. [`Error::Conflict`] when another worker ended it
    /// first (its final state is then made sure to be in the journal).
    async fn expire(&self, running: &Trial, reason: &str) -> Result<Trial, Error>;
}

macro_rules! forward_leases {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<T: TrialLeases + ?Sized> TrialLeases for $ty {
            async fn claim(&self, trial: &Trial, now: DateTime<Utc>) -> Result<Claim, Error> {
                (**self).claim(trial, now).await
            }
            async fn renew(&self, trial: &Trial) -> Result<(), Error> {
                (**self).renew(trial).await
            }
            async fn finish(&self, trial: &Trial) -> Result<(), Error> {
                (**self).finish(trial).await
            }
            async fn expire(&self, running: &Trial, reason: &str) -> Result<Trial, Error> {
                (**self).expire(running, reason).await
            }
        }
    )*};
}
forward_leases!(Arc<T>, &T, Box<T>);

impl Trial {
    /// This trial running under a lease held by `worker` until `expires_at`
    /// (generation 0 until a claim assigns one).
    pub fn leased(
        mut self,
        worker: impl Into<String>,
        expires_at: DateTime<Utc>,
        heartbeat_secs: u32,
    ) -> Self {
        self.lease = Some(Lease {
            worker: worker.into(),
            generation: 0,
            expires_at,
            heartbeat_secs,
        });
        self
    }

    /// True when the trial is running under a lease that lapsed before `now`.
    pub fn lease_lapsed(&self, now: DateTime<Utc>) -> bool {
        self.state == TrialState::Running && self.lease.as_ref().is_some_and(|l| l.expired_at(now))
    }

    /// True when the trial is running under a lease still live at `now`.
    pub fn lease_live(&self, now: DateTime<Utc>) -> bool {
        self.state == TrialState::Running && self.lease.as_ref().is_some_and(|l| !l.expired_at(now))
    }

    /// True when the trial failed because its lease lapsed.
    pub fn lost_its_lease(&self) -> bool {
        matches!(&self.state, TrialState::Failed { reason } if reason.starts_with(LEASE_EXPIRED))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trial::tests::fingerprint;
    use crate::{IndexName, Params, TriggerReason};

    #[test]
    fn lease_states() {
        let now = Utc::now();
        let t = Trial::start(
            IndexName::new("a").unwrap(),
            "e",
            Params::new(),
            fingerprint(),
            TriggerReason::Study,
        )
        .leased("w1", now, 20);
        assert!(t.lease_live(now));
        assert!(t.lease_lapsed(now + chrono::Duration::milliseconds(1)));
        let failed = t
            .clone()
            .fail(format!("{LEASE_EXPIRED}: w1 stopped renewing"));
        assert!(failed.lost_its_lease());
        assert!(!failed.lease_lapsed(now + chrono::Duration::seconds(9)));
        assert!(!t.clone().fail("out of memory").lost_its_lease());
        let json = serde_json::to_string(&t).unwrap();
        let back: Trial = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
        let mut plain = t.clone();
        plain.lease = None;
        assert!(!serde_json::to_string(&plain).unwrap().contains("lease"));
    }
}
