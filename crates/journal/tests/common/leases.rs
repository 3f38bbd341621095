//! The lease rules, for any backend: run on memory and local disk by `tests/leases.rs`
//! and on S3 by `tests/s3.rs`.

use std::sync::Arc;

use chrono::{Duration, Utc};
use hnswtune_core::{Claim, Error, LEASE_EXPIRED, Trial, TrialId, TrialJournal, TrialLeases};
use hnswtune_journal::object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use hnswtune_testkit::conformance::{index, metrics, running_trial};

use super::Backend;

fn leased(name: &str, worker: &str, expires_in_secs: i64) -> Trial {
    running_trial(&index(name), TrialId::new(), 64).leased(
        worker,
        Utc::now() + Duration::seconds(expires_in_secs),
        20,
    )
}

fn won(claim: Claim) -> Trial {
    match claim {
        Claim::Won(t) => t,
        Claim::Taken(t) => panic!("expected to win, the config is held by {}", t.id),
    }
}

/// Of many workers claiming one config at once, exactly one wins; the journal holds
/// one running trial of it.
pub async fn racing_claims_have_one_winner(backend: Backend) {
    let backend = Arc::new(backend);
    let mut tasks = Vec::new();
    for w in 0..12 {
        let backend = backend.clone();
        tasks.push(tokio::spawn(async move {
            let journal = backend.journal();
            journal
                .claim(&leased("race", &format!("w{w}"), 60), Utc::now())
                .await
                .unwrap()
        }));
    }
    let mut winners = 0;
    for task in tasks {
        if let Claim::Won(t) = task.await.unwrap() {
            winners += 1;
            assert_eq!(t.lease.unwrap().generation, 1);
        }
    }
    assert_eq!(winners, 1);
    let trials = backend.journal().trials(&index("race")).await.unwrap();
    assert_eq!(trials.len(), 1, "only the winner recorded a trial");
}

/// A finished lease frees the config for the next generation; ending it twice is a
/// conflict.
pub async fn finishing_frees_the_config(backend: Backend) {
    let journal = backend.journal();
    let first = won(journal
        .claim(&leased("free", "a", 60), Utc::now())
        .await
        .unwrap());
    let other = leased("free", "b", 60);
    assert!(matches!(
        journal.claim(&other, Utc::now()).await.unwrap(),
        Claim::Taken(ref t) if t.id == first.id
    ));
    let done = first.clone().complete(metrics(0.95, 100.0));
    journal.finish(&done).await.unwrap();
    // A retry of the same end is not an error; another end is.
    journal.finish(&done).await.unwrap();
    let failed = first.clone().fail("out of memory");
    assert!(matches!(
        journal.finish(&failed).await,
        Err(Error::Conflict { .. })
    ));
    assert!(matches!(
        journal.renew(&first).await,
        Err(Error::Conflict { .. })
    ));
    // A claimer that chose the config while it was being measured finds it taken (it
    // had not seen the result); one that starts after the result may measure it again.
    assert!(matches!(
        journal.claim(&other, Utc::now()).await.unwrap(),
        Claim::Taken(ref t) if t.id == first.id && t.is_complete()
    ));
    // (Trial ids, hence creation times, have millisecond resolution.)
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    let later = leased("free", "b", 60);
    let second = won(journal.claim(&later, Utc::now()).await.unwrap());
    assert_eq!(second.lease.unwrap().generation, 2);
    let trials = journal.trials(&index("free")).await.unwrap();
    assert_eq!(trials.len(), 2);
    assert!(trials.iter().any(|t| t.id == first.id && t.is_complete()));
}

/// A lapsed lease is ended by exactly one of the workers that notice; the holder then
/// cannot renew or finish it, and a claim takes the config over.
pub async fn a_lapsed_lease_is_expired_once(backend: Backend) {
    let backend = Arc::new(backend);
    let journal = backend.journal();
    let held = won(journal
        .claim(&leased("lapse", "dead", -1), Utc::now())
        .await
        .unwrap());
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (backend, held) = (backend.clone(), held.clone());
        tasks.push(tokio::spawn(async move {
            backend.journal().expire(&held, LEASE_EXPIRED).await
        }));
    }
    let mut marked = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(failed) => {
                marked += 1;
                assert!(failed.lost_its_lease());
            }
            Err(Error::Conflict { .. }) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(marked, 1, "exactly one worker marks it failed");
    assert!(matches!(
        journal.renew(&held).await,
        Err(Error::Conflict { .. })
    ));
    let late = held.clone().complete(metrics(0.9, 90.0));
    assert!(matches!(
        journal.finish(&late).await,
        Err(Error::Conflict { .. })
    ));
    let trials = journal.trials(&index("lapse")).await.unwrap();
    assert!(trials[0].lost_its_lease(), "{:?}", trials[0].state);

    // A claim that finds a lapsed holder expires it and takes the next generation.
    let stale = won(journal
        .claim(&leased("takeover", "dead", -1), Utc::now())
        .await
        .unwrap());
    let fresh = won(journal
        .claim(&leased("takeover", "live", 60), Utc::now())
        .await
        .unwrap());
    assert_eq!(fresh.lease.unwrap().generation, 2);
    let trials = journal.trials(&index("takeover")).await.unwrap();
    let old = trials.iter().find(|t| t.id == stale.id).unwrap();
    assert!(old.lost_its_lease());
}

/// A holder that crashed after writing its end object, before the journal append,
/// loses nothing: the next worker that finds the trial lapsed records the end's state.
pub async fn a_crash_after_the_end_is_repaired(backend: Backend) {
    let journal = backend.journal();
    let held = won(journal
        .claim(&leased("repair", "crashed", -1), Utc::now())
        .await
        .unwrap());
    let done = held.clone().complete(metrics(0.97, 120.0));
    let key = journal.lease_end_key(&done).unwrap();
    journal
        .store()
        .put_opts(
            &key,
            PutPayload::from(serde_json::to_vec(&done).unwrap()),
            PutOptions::from(PutMode::Create),
        )
        .await
        .unwrap();
    let other = backend.journal();
    assert!(matches!(
        other.expire(&held, LEASE_EXPIRED).await,
        Err(Error::Conflict { .. })
    ));
    let trials = other.trials(&index("repair")).await.unwrap();
    assert_eq!(trials.len(), 1);
    assert!(trials[0].is_complete(), "the measured result is kept");
}

/// A claim whose journal append failed after the claim object was made is taken up by
/// the same trial's retry, not left as a claim nobody can see.
pub async fn a_retried_claim_finds_its_own_object(backend: Backend) {
    let journal = backend.journal();
    let mut trial = leased("retry", "w", 60);
    trial.lease.as_mut().unwrap().generation = 1;
    let key = journal.lease_claim_key(&trial).unwrap();
    journal
        .store()
        .put(&key, PutPayload::from(serde_json::to_vec(&trial).unwrap()))
        .await
        .unwrap();
    assert!(journal.trials(&index("retry")).await.unwrap().is_empty());
    let again = won(journal.claim(&trial, Utc::now()).await.unwrap());
    assert_eq!(again.id, trial.id);
    assert_eq!(journal.trials(&index("retry")).await.unwrap().len(), 1);
}

/// A claim or renewal without a lease, or a claim of a finished trial, is refused.
pub async fn malformed_lease_calls_are_refused(backend: Backend) {
    let journal = backend.journal();
    let plain = running_trial(&index("bad"), TrialId::new(), 64);
    assert!(matches!(
        journal.claim(&plain, Utc::now()).await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        journal.renew(&plain).await,
        Err(Error::InvalidInput { .. })
    ));
    let done = leased("bad", "w", 60).complete(metrics(0.9, 1.0));
    assert!(matches!(
        journal.claim(&done, Utc::now()).await,
        Err(Error::InvalidInput { .. })
    ));
    let running = leased("bad", "w", 60);
    assert!(matches!(
        journal.finish(&running).await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(journal.trials(&index("bad")).await.unwrap().is_empty());
}

/// Expands to one test per rule for the backend `$make` builds (an `Option<Backend>`).
#[macro_export]
macro_rules! lease_suite {
    ($make:expr) => {
        $crate::lease_suite!(@each $make;
            racing_claims_have_one_winner,
            finishing_frees_the_config,
            a_lapsed_lease_is_expired_once,
            a_crash_after_the_end_is_repaired,
            a_retried_claim_finds_its_own_object,
            malformed_lease_calls_are_refused);
    };
    (@each $make:expr; $($name:ident),*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            if let Some(backend) = $make {
                $crate::common::leases::$name(backend).await;
            }
        }
    )*};
}
