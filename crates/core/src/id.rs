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

/// Mints trial ids whose time is a given clock's, so that an id's time and its trial's
/// `created_at` are one reading of one clock.
///
/// Ids from one minter strictly increase: a reading at or before the previous id's
/// millisecond gives the previous id plus one (its time is then that earlier
/// millisecond). An agent keeps one minter with its clock.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use hnswtune_core::TrialIdMinter;
/// let minter = TrialIdMinter::default();
/// let at = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
/// let (a, b) = (minter.mint_at(at), minter.mint_at(at));
/// assert!(b > a);
/// assert_eq!((a.created_at(), b.created_at()), (at, at));
/// ```
#[derive(Default)]
pub struct TrialIdMinter(Mutex<Option<ulid::Generator>>);

impl fmt::Debug for TrialIdMinter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrialIdMinter").finish_non_exhaustive()
    }
}

impl TrialIdMinter {
    /// A minter with no ids yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The next id, stamped with `at`.
    pub fn mint_at(&self, at: DateTime<Utc>) -> TrialId {
        let mut guard = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let generator = guard.get_or_insert_with(ulid::Generator::new);
        let time = std::time::SystemTime::from(at);
        // Only 2^80 ids in one millisecond exhaust the generator; a fresh random id at
        // that time is then unique with overwhelming probability.
        TrialId(
            generator
                .generate_from_datetime(time)
                .unwrap_or_else(|_| ulid::Ulid::from_datetime(time)),
        )
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
