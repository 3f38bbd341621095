//! The agent's wall clock.

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// Wall-clock time as the agent sees it: a UTC anchor advanced by tokio's monotonic
/// clock.
///
/// In production this is the system time (sampled once, then advanced monotonically,
/// so a clock step does not reopen or close the hourly budget). Under tokio's paused
/// test clock it advances with `tokio::time::advance`, which is what makes the hourly
/// budget testable without sleeping. Clones share the anchor, so two agents given
/// clones of one clock agree on the time.
#[derive(Clone, Copy, Debug)]
pub struct WallClock {
    anchor_utc: DateTime<Utc>,
    anchor: Instant,
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
}
