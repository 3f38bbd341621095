//! Proposer strategies: which config to try next.
//!
//! (Crate docs are completed with the strategies.)

use std::fmt::Debug;
use std::sync::Arc;

use hnswtune_core::{Objective, Params, SearchSpace, SpaceError, Trial};

/// Everything a proposer may look at.
#[derive(Clone, Copy, Debug)]
pub struct ProposalContext<'a> {
    /// The space to propose from; every proposal must validate against it.
    pub space: &'a SearchSpace,
    /// Every trial of the index so far, in creation order, in any state (Running,
    /// Failed and Pruned included). Entries from another space are ignored by the rule
    /// of [`SearchSpace::project`].
    pub history: &'a [Trial],
    /// The current champion, if any.
    pub champion: Option<&'a Trial>,
    /// What "better" means.
    pub objective: &'a Objective,
}

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProposeError {
    /// A strategy was configured with a value it cannot work with.
    #[error("invalid {what}: {why}")]
    InvalidConfig {
        /// The setting.
        what: String,
        /// Why it was rejected.
        why: String,
    },
    /// The space is unusable.
    #[error(transparent)]
    Space(#[from] SpaceError),
}

impl From<ProposeError> for hnswtune_core::Error {
    fn from(e: ProposeError) -> Self {
        match e {
            ProposeError::InvalidConfig { what, why } => hnswtune_core::Error::InvalidInput { what, why },
            ProposeError::Space(s) => hnswtune_core::Error::Space(s),
        }
    }
}

/// Chooses the next config from the history.
///
/// Contract, checked for every strategy by the conformance suite:
/// - deterministic: the same configuration (seed), space and history give the same
///   proposal; no global entropy;
/// - every proposal lies in the space, on its steps;
/// - no config already in the history (whatever its state) is proposed again;
/// - `Ok(None)` only when every config of the space is in the history.
pub trait Proposer: Send + Sync + Debug {
    /// A short, stable name recorded in each trial (`"frontier"`, `"grid"`, ...).
    fn name(&self) -> &str;

    /// The next config to try, or `None` when the space is exhausted.
    fn propose(&self, ctx: &ProposalContext<'_>) -> Result<Option<Params>, ProposeError>;
}

macro_rules! forward_proposer {
    ($($ty:ty),*) => {$(
        impl<T: Proposer + ?Sized> Proposer for $ty {
            fn name(&self) -> &str {
                (**self).name()
            }
            fn propose(&self, ctx: &ProposalContext<'_>) -> Result<Option<Params>, ProposeError> {
                (**self).propose(ctx)
            }
        }
    )*};
}
forward_proposer!(Arc<T>, &T, Box<T>);
