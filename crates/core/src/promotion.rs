//! The promotion registry seam: which config is the champion of each index.
//!
//! A registry is a linear chain of revisions per index, starting at 1. The champion is
//! the highest revision. Writing revision `r` succeeds for exactly one writer; every
//! other writer of `r` gets [`Error::Conflict`] and must re-read and decide again. A
//! rollback is a new revision that points back at an earlier trial, so history is
//! never rewritten.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    DatasetFingerprint, Error, IndexName, Objective, Params, Trial, TrialId, TrialMetrics,
};

/// Why a revision was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PromotionKind {
    /// A trial won.
    Promote,
    /// An operator went back to the champion of an earlier revision.
    Rollback {
        /// The revision whose trial is champion again.
        to_revision: u64,
    },
}

/// One revision of an index's champion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    /// The index.
    pub index: IndexName,
    /// 1 for the first champion, then +1 per change.
    pub revision: u64,
    /// The trial that is champion from this revision on.
    pub trial_id: TrialId,
    /// That trial's config.
    pub params: Params,
    /// That trial's metrics when it was promoted.
    pub metrics: Option<TrialMetrics>,
    /// The data those metrics were measured on.
    pub dataset: DatasetFingerprint,
    /// Who promoted it (agent id, user name).
    pub promoted_by: String,
    /// When.
    pub promoted_at: DateTime<Utc>,
    /// Free text.
    #[serde(default)]
    pub note: String,
    /// Promotion or rollback.
    #[serde(flatten)]
    pub kind: PromotionKind,
}

/// Stores the champion chain of each index.
///
/// Backends implement [`PromotionRegistry::history`] and
/// [`PromotionRegistry::write_revision`]; the rules (recall floor, next revision,
/// rollback) live in [`PromotionRules`], which every registry gets and none can
/// override.
#[async_trait]
pub trait PromotionRegistry: Send + Sync + Debug {
    /// Every revision of `index`, ascending. Empty when nothing was promoted.
    async fn history(&self, index: &IndexName) -> Result<Vec<Promotion>, Error>;

    /// Writes `promotion` at its revision if that revision is still free, else
    /// [`Error::Conflict`]. Must be atomic across processes.
    async fn write_revision(&self, promotion: &Promotion) -> Result<(), Error>;

    /// The current champion: the highest revision.
    async fn champion(&self, index: &IndexName) -> Result<Option<Promotion>, Error> {
        Ok(self.history(index).await?.pop())
    }
}

/// The promotion rules, over the two methods every registry implements: the recall
/// floor, the next revision, and rollback as a new revision.
///
/// This trait has one implementation, for every [`PromotionRegistry`], and cannot be
/// implemented again, so no backend can skip or change a rule. Bring it into scope
/// (`use hnswtune_core::PromotionRules`) to call `promote` and `rollback`.
///
/// ```
/// use hnswtune_core::{PromotionRegistry, PromotionRules};
///
/// fn obeys_the_rules<R: PromotionRegistry>(registry: &R) -> &dyn PromotionRules {
///     registry
/// }
/// ```
#[async_trait]
pub trait PromotionRules: PromotionRegistry {
    /// Promotes `trial` as the next revision after `expected_revision` (0 when there is
    /// no champion yet). Refuses a trial that is not complete or whose recall is below
    /// `objective.min_recall`; returns [`Error::Conflict`] when someone else wrote that
    /// revision first.
    async fn promote(
        &self,
        trial: &Trial,
        objective: &Objective,
        expected_revision: u64,
        promoted_by: &str,
        note: &str,
    ) -> Result<Promotion, Error> {
        let Some(metrics) = trial.completed_metrics() else {
            return Err(Error::Rejected {
                why: format!("trial {} is not complete", trial.id),
            });
        };
        if metrics.recall < objective.min_recall {
            return Err(Error::Rejected {
                why: format!(
                    "trial {} has recall {:.4}, below the minimum {:.4}",
                    trial.id, metrics.recall, objective.min_recall
                ),
            });
        }
        let promotion = Promotion {
            index: trial.index.clone(),
            revision: expected_revision + 1,
            trial_id: trial.id,
            params: trial.params.clone(),
            metrics: Some(metrics.clone()),
            dataset: trial.dataset.clone(),
            promoted_by: promoted_by.to_owned(),
            promoted_at: Utc::now(),
            note: note.to_owned(),
            kind: PromotionKind::Promote,
        };
        self.write_revision(&promotion).await?;
        Ok(promotion)
    }

    /// Makes the champion of `to_revision` champion again, as a new revision.
    async fn rollback(
        &self,
        index: &IndexName,
        to_revision: u64,
        promoted_by: &str,
        note: &str,
    ) -> Result<Promotion, Error> {
        let history = self.history(index).await?;
        let current = history.last().map_or(0, |p| p.revision);
        let target = history
            .iter()
            .find(|p| p.revision == to_revision)
            .ok_or_else(|| Error::NotFound {
                what: format!("revision {to_revision} of index {index}"),
            })?;
        if to_revision == current {
            return Err(Error::invalid(
                "rollback target",
                format!("revision {to_revision} is already the champion of {index}"),
            ));
        }
        let promotion = Promotion {
            revision: current + 1,
            promoted_by: promoted_by.to_owned(),
            promoted_at: Utc::now(),
            note: note.to_owned(),
            kind: PromotionKind::Rollback { to_revision },
            ..target.clone()
        };
        self.write_revision(&promotion).await?;
        Ok(promotion)
    }
}

impl<R: PromotionRegistry + ?Sized> PromotionRules for R {}

macro_rules! forward_registry {
    ($($ty:ty),*) => {$(
        #[async_trait]
        impl<T: PromotionRegistry + ?Sized> PromotionRegistry for $ty {
            async fn history(&self, index: &IndexName) -> Result<Vec<Promotion>, Error> {
                (**self).history(index).await
            }
            async fn write_revision(&self, promotion: &Promotion) -> Result<(), Error> {
                (**self).write_revision(promotion).await
            }
            async fn champion(&self, index: &IndexName) -> Result<Option<Promotion>, Error> {
                (**self).champion(index).await
            }
        }
    )*};
}
forward_registry!(Arc<T>, &T, Box<T>);
