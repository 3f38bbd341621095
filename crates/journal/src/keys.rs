//! The key layout, in one place.
//!
//! ```text
//! <prefix>/trials/<index>/entries/<seq>.json             one journal entry (one trial state)
//! <prefix>/trials/<index>/snapshots/<from>-<to>.json     entries from..=to, folded
//! <prefix>/promotions/<index>/<revision>.json            one champion revision
//! <prefix>/leases/<index>/<config>/<generation>-claim.json  a worker's claim on a config
//! <prefix>/leases/<index>/<config>/<generation>-end.json    the end of that claim
//! ```
//!
//! `<config>` is the 16 hex digits of [`config_digest`] of the config's text; the
//! claim holds the config itself, so a digest collision is detected, never merged.
//!
//! Sequence numbers and revisions are zero-padded to 20 digits (the width of
//! `u64::MAX`), so the text order of keys is their numeric order and a listing sorted
//! on the client is the append order. Index names are validated by
//! [`IndexName`](hnswtune_core::IndexName) and can neither be empty, contain `/`, nor
//! start with `.`, so `<index>` is always exactly one key segment and one index's
//! prefix never contains another's.

use hnswtune_core::{Error, IndexName};
use object_store::path::Path;

/// Digits in a zero-padded sequence number or revision.
pub(crate) const SEQ_WIDTH: usize = 20;

/// Builds keys under an optional root prefix.
#[derive(Clone, Debug, Default)]
pub(crate) struct Layout {
    root: String,
}

impl Layout {
    /// A layout under `prefix` (`""` for the store's root). The prefix is parsed as an
    /// object_store path, so `..`, empty segments and control characters are refused.
    pub(crate) fn new(prefix: &str) -> Result<Self, Error> {
        let trimmed = prefix.trim_matches('/');
        if trimmed.is_empty() {
            return Ok(Layout::default());
        }
        let path = Path::parse(trimmed)
            .map_err(|e| Error::invalid("key prefix", format!("{prefix:?}: {e}")))?;
        Ok(Layout {
            root: path.to_string(),
        })
    }

    /// The root prefix as given (without slashes at the ends).
    pub(crate) fn root(&self) -> &str {
        &self.root
    }

    fn join(&self, rest: &str) -> Path {
        if self.root.is_empty() {
            Path::from(rest)
        } else {
            Path::from(format!("{}/{rest}", self.root))
        }
    }

    pub(crate) fn trials_root(&self) -> Path {
        self.join("trials")
    }

    pub(crate) fn entry(&self, index: &IndexName, seq: u64) -> Path {
        self.join(&format!("trials/{index}/entries/{}.json", pad(seq)))
    }

    pub(crate) fn snapshots_dir(&self, index: &IndexName) -> Path {
        self.join(&format!("trials/{index}/snapshots"))
    }

    pub(crate) fn snapshot(&self, index: &IndexName, from: u64, to: u64) -> Path {
        self.join(&format!(
            "trials/{index}/snapshots/{}-{}.json",
            pad(from),
            pad(to)
        ))
    }

    pub(crate) fn promotions_dir(&self, index: &IndexName) -> Path {
        self.join(&format!("promotions/{index}"))
    }

    pub(crate) fn promotion(&self, index: &IndexName, revision: u64) -> Path {
        self.join(&format!("promotions/{index}/{}.json", pad(revision)))
    }
}

impl Layout {
    pub(crate) fn lease_claim(&self, index: &IndexName, config: &str, generation: u64) -> Path {
        self.join(&format!(
            "leases/{index}/{config}/{}-claim.json",
            pad(generation)
        ))
    }

    pub(crate) fn lease_end(&self, index: &IndexName, config: &str, generation: u64) -> Path {
        self.join(&format!(
            "leases/{index}/{config}/{}-end.json",
            pad(generation)
        ))
    }
}

/// FNV-1a (64 bits) of a config's canonical text (`Params`' display, whose keys are
/// sorted), as 16 hex digits: stable across processes, builds and platforms.
pub(crate) fn config_digest(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// `n` zero-padded to [`SEQ_WIDTH`] digits.
pub(crate) fn pad(n: u64) -> String {
    format!("{n:0SEQ_WIDTH$}")
}

/// Parses a zero-padded number followed by `.json`, as written by [`pad`].
pub(crate) fn parse_numbered(file_name: &str) -> Option<u64> {
    let digits = file_name.strip_suffix(".json")?;
    parse_padded(digits)
}

/// Parses `<from>-<to>.json`.
pub(crate) fn parse_snapshot_name(file_name: &str) -> Option<(u64, u64)> {
    let stem = file_name.strip_suffix(".json")?;
    let (from, to) = stem.split_once('-')?;
    let (from, to) = (parse_padded(from)?, parse_padded(to)?);
    (from >= 1 && from <= to).then_some((from, to))
}

fn parse_padded(digits: &str) -> Option<u64> {
    if digits.len() != SEQ_WIDTH || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_have_the_documented_shape() {
        let index = IndexName::new("docs.v1").unwrap();
        let root = Layout::new("/team/a/").unwrap();
        assert_eq!(
            root.entry(&index, 7).as_ref(),
            "team/a/trials/docs.v1/entries/00000000000000000007.json"
        );
        assert_eq!(
            root.snapshot(&index, 1, 1000).as_ref(),
            "team/a/trials/docs.v1/snapshots/00000000000000000001-00000000000000001000.json"
        );
        assert_eq!(
            Layout::new("").unwrap().promotion(&index, 3).as_ref(),
            "promotions/docs.v1/00000000000000000003.json"
        );
        assert_eq!(
            root.lease_claim(&index, &config_digest("ef_search=64"), 2)
                .as_ref(),
            "team/a/leases/docs.v1/e05ed36ab3a6c804/00000000000000000002-claim.json"
        );
        assert_ne!(config_digest("ef_search=64"), config_digest("ef_search=65"));
        assert!(Layout::new("a/../b").is_err());
        assert!(Layout::new("a//b").is_err());
    }

    #[test]
    fn parsing_refuses_foreign_names() {
        assert_eq!(parse_numbered("00000000000000000042.json"), Some(42));
        for bad in [
            "42.json",
            "0000000000000000004x.json",
            "00000000000000000042.tmp",
        ] {
            assert_eq!(parse_numbered(bad), None, "{bad}");
        }
        assert_eq!(
            parse_snapshot_name("00000000000000000001-00000000000000000010.json"),
            Some((1, 10))
        );
        assert_eq!(
            parse_snapshot_name("00000000000000000010-00000000000000000001.json"),
            None
        );
        assert_eq!(
            parse_snapshot_name("00000000000000000000-00000000000000000001.json"),
            None
        );
    }

    proptest! {
        #[test]
        fn key_text_order_is_numeric_order(a in any::<u64>(), b in any::<u64>()) {
            let layout = Layout::new("p").unwrap();
            let index = IndexName::new("i").unwrap();
            let (ka, kb) = (layout.entry(&index, a), layout.entry(&index, b));
            prop_assert_eq!(ka.as_ref().cmp(kb.as_ref()), a.cmp(&b));
            prop_assert_eq!(ka.filename().and_then(parse_numbered), Some(a));
        }

        #[test]
        fn snapshot_names_round_trip(from in 1u64..u64::MAX, len in 0u64..1_000_000) {
            let to = from.saturating_add(len);
            let layout = Layout::new("").unwrap();
            let index = IndexName::new("i").unwrap();
            let key = layout.snapshot(&index, from, to);
            prop_assert_eq!(key.filename().and_then(parse_snapshot_name), Some((from, to)));
        }
    }
}
