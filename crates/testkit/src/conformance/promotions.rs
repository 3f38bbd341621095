//! The promotion registry suite: what every [`PromotionRegistry`] must do.

use std::collections::BTreeSet;
use std::sync::Arc;

use hnswtune_core::{Error, Objective, PromotionKind, PromotionRegistry, PromotionRules, TrialId};

use super::{PromotionBackend, completed_trial, index, running_trial};

/// Promotes, reads the history and the champion back, refuses a stale promotion with
/// `Conflict`, and rolls back as a new revision.
pub async fn promotion_chain_round_trip(backend: &dyn PromotionBackend) {
    let registry = backend.open();
    let idx = index("chain");
    let objective = Objective::new(0.9).unwrap();
    assert!(registry.history(&idx).await.unwrap().is_empty());
    assert_eq!(registry.champion(&idx).await.unwrap(), None);

    let first = completed_trial(&idx, 0.95, 100.0);
    let second = completed_trial(&idx, 0.96, 80.0);
    let rev1 = registry
        .promote(&first, &objective, 0, "agent-1", "first champion")
        .await
        .expect("first promotion");
    assert_eq!(rev1.revision, 1);
    let rev2 = registry
        .promote(&second, &objective, 1, "alice", "faster")
        .await
        .expect("second promotion");
    assert_eq!(rev2.revision, 2);

    let stale = registry
        .promote(&completed_trial(&idx, 0.97, 70.0), &objective, 1, "bob", "")
        .await
        .unwrap_err();
    assert!(matches!(stale, Error::Conflict { .. }), "{stale}");

    let other = backend.open();
    let history = other.history(&idx).await.unwrap();
    assert_eq!(history, vec![rev1.clone(), rev2.clone()]);
    assert_eq!(history[1].promoted_by, "alice");
    assert_eq!(history[1].note, "faster");
    assert_eq!(history[1].trial_id, second.id);
    assert_eq!(other.champion(&idx).await.unwrap(), Some(rev2.clone()));

    let back = other
        .rollback(&idx, 1, "alice", "regression")
        .await
        .unwrap();
    assert_eq!(back.revision, 3);
    assert_eq!(back.trial_id, first.id);
    assert_eq!(back.params, first.params);
    assert_eq!(back.kind, PromotionKind::Rollback { to_revision: 1 });
    let champion = registry.champion(&idx).await.unwrap().unwrap();
    assert_eq!(champion, back);
    assert_eq!(
        registry.history(&idx).await.unwrap().len(),
        3,
        "history keeps all"
    );

    let err = registry.rollback(&idx, 3, "x", "").await.unwrap_err();
    assert!(matches!(err, Error::InvalidInput { .. }), "{err}");
    let err = registry.rollback(&idx, 42, "x", "").await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(
        registry
            .history(&index("elsewhere"))
            .await
            .unwrap()
            .is_empty()
    );
}

/// A trial below the objective's `min_recall`, or not complete, is refused and
/// nothing is written.
pub async fn promotion_rules_are_enforced(backend: &dyn PromotionBackend) {
    let registry = backend.open();
    let idx = index("rules");
    let objective = Objective::new(0.9).unwrap();
    let low = completed_trial(&idx, 0.85, 10.0);
    let err = registry
        .promote(&low, &objective, 0, "agent", "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Rejected { .. }), "{err}");
    let running = running_trial(&idx, TrialId::new(), 10);
    let err = registry
        .promote(&running, &objective, 0, "agent", "")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Rejected { .. }), "{err}");
    let failed = running.clone().fail("boom");
    assert!(
        registry
            .promote(&failed, &objective, 0, "a", "")
            .await
            .is_err()
    );
    assert!(registry.history(&idx).await.unwrap().is_empty());

    let exactly = completed_trial(&idx, 0.9, 10.0);
    registry
        .promote(&exactly, &objective, 0, "agent", "at the floor")
        .await
        .expect("recall equal to min_recall is accepted");
}

/// Revisions cannot skip ahead or start at 0: the chain is always `1..=n`.
pub async fn the_chain_stays_linear(backend: &dyn PromotionBackend) {
    let registry = backend.open();
    let idx = index("linear");
    let objective = Objective::new(0.5).unwrap();
    let t = completed_trial(&idx, 0.9, 10.0);
    let rev1 = registry.promote(&t, &objective, 0, "a", "").await.unwrap();

    let mut skip_ahead = rev1.clone();
    skip_ahead.revision = 5;
    assert!(registry.write_revision(&skip_ahead).await.is_err());
    let mut zero = rev1.clone();
    zero.revision = 0;
    assert!(registry.write_revision(&zero).await.is_err());
    let again = registry.write_revision(&rev1).await.unwrap_err();
    assert!(matches!(again, Error::Conflict { .. }), "{again}");

    let revisions: Vec<u64> = registry
        .history(&idx)
        .await
        .unwrap()
        .iter()
        .map(|p| p.revision)
        .collect();
    assert_eq!(revisions, vec![1]);
}

/// 16 promoters with their own handles race for each revision (all start on revision
/// 1 at once): exactly one wins each,
/// losers get `Conflict` and retry after re-reading, and the final chain is `1..=16`
/// with every trial promoted once.
pub async fn concurrent_promoters_have_one_winner_per_revision(backend: &dyn PromotionBackend) {
    let idx = index("race");
    let promoters = 16;
    let objective = Objective::new(0.5).unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(promoters));
    let mut tasks = Vec::new();
    for p in 0..promoters {
        let registry: Arc<dyn PromotionRegistry> = backend.open();
        let idx = idx.clone();
        let objective = objective.clone();
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let trial = completed_trial(&idx, 0.9, 100.0 + p as f64);
            let mut conflicts = 0;
            // Everyone first races for revision 1, believing there is no champion.
            start.wait().await;
            let mut current = 0;
            loop {
                match registry
                    .promote(&trial, &objective, current, &format!("promoter-{p}"), "")
                    .await
                {
                    Ok(won) => return (won, conflicts),
                    Err(Error::Conflict { .. }) => {
                        conflicts += 1;
                        current = registry
                            .champion(&idx)
                            .await
                            .expect("champion")
                            .map_or(0, |c| c.revision);
                    }
                    Err(e) => panic!("promoter {p}: {e}"),
                }
            }
        }));
    }
    let mut wins = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let (won, lost) = task.await.expect("promoter task");
        conflicts += lost;
        wins.push(won);
    }
    let won_revisions: BTreeSet<u64> = wins.iter().map(|w| w.revision).collect();
    assert_eq!(won_revisions.len(), promoters, "one winner per revision");
    assert_eq!(won_revisions, (1..=promoters as u64).collect());
    assert!(
        conflicts >= promoters - 1,
        "all but one lose the race for revision 1"
    );

    let history = backend.open().history(&idx).await.unwrap();
    let revisions: Vec<u64> = history.iter().map(|p| p.revision).collect();
    assert_eq!(
        revisions,
        (1..=promoters as u64).collect::<Vec<_>>(),
        "linear"
    );
    let trials: BTreeSet<TrialId> = history.iter().map(|p| p.trial_id).collect();
    assert_eq!(trials.len(), promoters, "every trial promoted exactly once");
    for won in &wins {
        assert_eq!(
            &history[won.revision as usize - 1],
            won,
            "the winner's record stands"
        );
    }
}
