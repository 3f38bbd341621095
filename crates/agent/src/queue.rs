//! The coalescing trigger queue and the hourly budget.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Utc};
use hnswtune_core::{IndexName, TriggerReason};
use serde::Serialize;

use crate::AgentError;

/// What asked the agent to run a trial on an index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TriggerEvent {
    /// The index.
    pub index: IndexName,
    /// Why; recorded in the trial.
    pub reason: TriggerReason,
    /// When the trigger was raised.
    pub enqueued_at: DateTime<Utc>,
}

impl TriggerEvent {
    /// A trigger for `index` with `reason`, raised now.
    pub fn new(index: IndexName, reason: TriggerReason) -> Self {
        TriggerEvent {
            index,
            reason,
            enqueued_at: Utc::now(),
        }
    }

    /// A person or an API call asked for a trial.
    pub fn manual(index: IndexName) -> Self {
        Self::new(index, TriggerReason::Manual)
    }

    /// The periodic wake-up.
    pub fn periodic(index: IndexName) -> Self {
        Self::new(index, TriggerReason::Periodic)
    }

    /// Data was appended to `dataset`, which `index` is built from: the champion is
    /// re-measured before anything else.
    pub fn dataset_appended(index: IndexName, dataset: impl Into<String>) -> Self {
        Self::new(
            index,
            TriggerReason::DatasetAppended {
                dataset: dataset.into(),
            },
        )
    }
}

/// What [`crate::AgentHandle::enqueue`] did with a trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Enqueued {
    /// A new pending entry.
    Queued,
    /// Merged into the entry already pending for the index.
    Coalesced,
}

/// One pending index.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Pending {
    pub(crate) index: IndexName,
    /// The strongest reason among the coalesced triggers.
    pub(crate) reason: TriggerReason,
    /// Some coalesced trigger said data was appended.
    pub(crate) revalidate: bool,
    /// Triggers merged into this entry after the first.
    pub(crate) coalesced: u64,
    /// Jumps the queue (the champion regressed).
    pub(crate) priority: bool,
}

/// Data changes outrank requests, which outrank the periodic wake-up.
fn strength(reason: &TriggerReason) -> u8 {
    match reason {
        TriggerReason::DatasetAppended { .. } => 4,
        TriggerReason::Revalidation => 3,
        TriggerReason::Manual => 2,
        TriggerReason::Study => 1,
        TriggerReason::Periodic => 0,
    }
}

/// A bounded FIFO of indexes with at most one entry per index.
#[derive(Debug)]
pub(crate) struct PendingQueue {
    items: VecDeque<Pending>,
    capacity: usize,
}

impl PendingQueue {
    pub(crate) fn new(capacity: usize) -> Self {
        PendingQueue {
            items: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    pub(crate) fn indexes(&self) -> Vec<IndexName> {
        self.items.iter().map(|p| p.index.clone()).collect()
    }

    /// Adds a trigger, merging it into the index's pending entry if there is one. A
    /// `DatasetAppended` trigger asks for the champion to be re-measured.
    pub(crate) fn push(
        &mut self,
        index: IndexName,
        reason: TriggerReason,
        priority: bool,
    ) -> Result<Enqueued, AgentError> {
        let revalidate = matches!(reason, TriggerReason::DatasetAppended { .. });
        self.push_with(index, reason, priority, revalidate)
    }

    /// [`Self::push`] with the re-measurement request stated explicitly (a re-tune
    /// after a re-measurement keeps its reason without asking for another).
    pub(crate) fn push_with(
        &mut self,
        index: IndexName,
        reason: TriggerReason,
        priority: bool,
        revalidate: bool,
    ) -> Result<Enqueued, AgentError> {
        if let Some(pending) = self.items.iter_mut().find(|p| p.index == index) {
            pending.coalesced += 1;
            pending.revalidate |= revalidate;
            pending.priority |= priority;
            if strength(&reason) > strength(&pending.reason) {
                pending.reason = reason;
            }
            return Ok(Enqueued::Coalesced);
        }
        if self.items.len() >= self.capacity {
            return Err(AgentError::QueueFull {
                capacity: self.capacity,
            });
        }
        self.items.push_back(Pending {
            index,
            reason,
            revalidate,
            coalesced: 0,
            priority,
        });
        Ok(Enqueued::Queued)
    }

    /// Removes and returns the first entry `ready` accepts, priority entries first,
    /// then in arrival order.
    pub(crate) fn take_first(
        &mut self,
        mut ready: impl FnMut(&Pending) -> bool,
    ) -> Option<Pending> {
        let position = self
            .items
            .iter()
            .position(|p| p.priority && ready(p))
            .or_else(|| self.items.iter().position(|p| !p.priority && ready(p)))?;
        self.items.remove(position)
    }
}

/// This agent's trial start times per index, derived from the journal: replaced from
/// each read of an index's journal and extended by each trial started. Never capped,
/// so any `max_trials_per_hour` is enforced, and rebuilt from the journal on start,
/// so a restart does not reset it.
#[derive(Debug, Default)]
pub(crate) struct Budget {
    per_index: BTreeMap<IndexName, Vec<DateTime<Utc>>>,
}

impl Budget {
    const WINDOW: chrono::Duration = chrono::Duration::hours(1);

    pub(crate) fn replace(&mut self, index: &IndexName, times: Vec<DateTime<Utc>>) {
        self.per_index.insert(index.clone(), times);
    }

    /// Trials started in the hour before `now`.
    pub(crate) fn count(&self, now: DateTime<Utc>) -> usize {
        let since = now - Self::WINDOW;
        self.per_index
            .values()
            .flatten()
            .filter(|t| **t > since)
            .count()
    }

    /// When the count will next drop: the oldest start in the window plus an hour.
    pub(crate) fn next_release(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let since = now - Self::WINDOW;
        self.per_index
            .values()
            .flatten()
            .filter(|t| **t > since)
            .min()
            .map(|oldest| *oldest + Self::WINDOW)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> IndexName {
        IndexName::new(s).unwrap()
    }

    #[test]
    fn duplicates_coalesce_and_the_strongest_reason_wins() {
        let mut q = PendingQueue::new(2);
        assert_eq!(
            q.push(name("a"), TriggerReason::Periodic, false).unwrap(),
            Enqueued::Queued
        );
        let appended = TriggerReason::DatasetAppended {
            dataset: "d".into(),
        };
        assert_eq!(
            q.push(name("a"), appended.clone(), false).unwrap(),
            Enqueued::Coalesced
        );
        q.push(name("a"), TriggerReason::Manual, false).unwrap();
        q.push(name("b"), TriggerReason::Manual, false).unwrap();
        assert!(matches!(
            q.push(name("c"), TriggerReason::Manual, false),
            Err(AgentError::QueueFull { capacity: 2 })
        ));
        let first = q.take_first(|_| true).unwrap();
        assert_eq!(first.reason, appended);
        assert!(first.revalidate);
        assert_eq!(first.coalesced, 2);
    }

    #[test]
    fn priority_entries_jump_the_queue() {
        let mut q = PendingQueue::new(4);
        q.push(name("a"), TriggerReason::Manual, false).unwrap();
        q.push(name("b"), TriggerReason::Manual, true).unwrap();
        assert_eq!(q.take_first(|_| true).unwrap().index, name("b"));
        assert_eq!(q.take_first(|p| p.index != name("a")), None);
        assert_eq!(q.len(), 1);
    }

    #[test]
    fn the_budget_counts_a_rolling_hour_without_a_cap() {
        let now = Utc::now();
        let mut b = Budget::default();
        let times: Vec<_> = (0..1000)
            .map(|i| now - chrono::Duration::seconds(i * 5))
            .collect();
        b.replace(&name("a"), times);
        assert_eq!(b.count(now), 720);
        assert_eq!(
            b.next_release(now),
            Some(now - chrono::Duration::seconds(719 * 5) + chrono::Duration::hours(1))
        );
    }
}
