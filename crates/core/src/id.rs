//! Trial identifiers.
//!
//! A [`TrialId`] is a ULID: 48 bits of milliseconds since the Unix epoch followed by 80
//! bits of randomness, printed as 26 Crockford base-32 characters. Its text form sorts
//! by creation time, which is what lets the journal keep one object per entry under
//! keys that list in time order, and two machines minting ids at once collide with
//! negligible probability. Within one process ids are strictly increasing (the random
//! part is incremented when the millisecond repeats).

use std::fmt;
use std::sync::Mutex;

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The id of one trial: time-sortable and unique across processes and machines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrialId(ulid::Ulid);

static GENERATOR: Mutex<Option<ulid::Generator>> = Mutex::new(None);

impl TrialId {
    /// Mints a new id for the current time, strictly greater than any earlier id from
    /// this process.
    pub fn new() -> Self {
        let mut guard = GENERATOR.lock().unwrap_or_else(|e| e.into_inner());
        let generator = guard.get_or_insert_with(ulid::Generator::new);
        // The generator only fails when 2^80 ids are minted in one millisecond; falling
        // back to a fresh random id keeps uniqueness with overwhelming probability.
        TrialId(generator.generate().unwrap_or_else(|_| ulid::Ulid::new()))
    }

    /// Builds an id from a timestamp in milliseconds and 80 bits of randomness.
    pub fn from_parts(timestamp_ms: u64, random: u128) -> Self {
        TrialId(ulid::Ulid::from_parts(timestamp_ms, random))
    }

    /// Milliseconds since the Unix epoch at which the id was minted.
    pub fn timestamp_ms(&self) -> u64 {
        self.0.timestamp_ms()
    }

    /// The creation time encoded in the id.
    pub fn created_at(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.timestamp_ms() as i64)
            .single()
            .unwrap_or_default()
    }
}

impl Default for TrialId {
    fn default() -> Self {
        TrialId::new()
    }
}

impl fmt::Display for TrialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::str::FromStr for TrialId {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        ulid::Ulid::from_string(s)
            .map(TrialId)
            .map_err(|e| Error::invalid("trial id", format!("{s:?} is not a ULID: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_increasing_in_text_order() {
        let ids: Vec<TrialId> = (0..10_000).map(|_| TrialId::new()).collect();
        for pair in ids.windows(2) {
            assert!(pair[0] < pair[1]);
            assert!(pair[0].to_string() < pair[1].to_string());
        }
    }

    #[test]
    fn parses_its_own_text_and_rejects_garbage() {
        let id = TrialId::new();
        assert_eq!(id.to_string().parse::<TrialId>().unwrap(), id);
        assert!("not-a-ulid".parse::<TrialId>().is_err());
        let old = TrialId::from_parts(1_000, 7);
        assert!(old < id);
        assert_eq!(old.timestamp_ms(), 1_000);
    }
}
