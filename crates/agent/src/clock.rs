//! The agent's wall clock.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use hnswtune_core::{TrialId, TrialIdMinter};
use tokio::time::Instant;

/// Wall-clock time as the agent sees it: a UTC anchor advanced by tokio's monotonic
/// clock.
///
/// In production this is the system time (sampled once, then advanced monotonically,
/// so a clock step does not reopen or close the hourly budget). Under tokio's paused
/// test clock it advances with `tokio::time::advance`, which is what makes the hourly
/// budget testable without sleeping. Clones share the anchor, so two agents given
/// clones of one clock agree on the time.
#[derive(Clone, Debug)]
pub struct WallClock {
    anchor_utc: DateTime<Utc>,
    anchor: Instant,
    /// Trial ids stamped with this clock's readings (shared by clones).
    ids: Arc<TrialIdMinter>,
}

impl Default for WallClock {
    fn default() -> Self {
        Self::new()
    }
}

impl WallClock {
    /// A clock reading the system time now.
    pub fn new() -> Self {
        Self::anchored_at(Utc::now())
    }

    /// A clock that reads `at` now.
    pub fn anchored_at(at: DateTime<Utc>) -> Self {
        WallClock {
            anchor_utc: at,
            anchor: Instant::now(),
            ids: Arc::new(TrialIdMinter::new()),
        }
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = Instant::now().saturating_duration_since(self.anchor);
        chrono::Duration::from_std(elapsed)
            .ok()
            .and_then(|d| self.anchor_utc.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// A new trial id stamped with [`WallClock::now`]: this clock decides both the id's
    /// time and the trial's `created_at`, which the hourly budget counts by. Ids from one
    /// clock (and its clones) strictly increase.
    pub fn trial_id(&self) -> TrialId {
        self.ids.mint_at(self.now())
    }
}
