//! Deterministic hashing and seeding: [`FxHasher`] for the maps and sets that live for
//! one call, [`Fnv`] for digests that must not change between releases, and
//! [`seeded_rng`] for the RNG of one proposal.
//!
//! std's `HashMap` is keyed randomly per process, so nothing whose order or value a
//! proposal depends on may come from it; these are stable across runs and platforms.

use std::hash::{BuildHasherDefault, Hasher};

use hnswtune_core::Params;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// A set of points hashed with [`FxHasher`].
#[cfg(test)]
pub(crate) type PointSet = std::collections::HashSet<super::Point, BuildHasherDefault<FxHasher>>;

/// The multiply-rotate hash of rustc (FxHash): fast on short integer keys, and
/// deterministic, which std's randomly keyed SipHash is not.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FxHasher(u64);

/// A `HashMap` keyed with [`FxHasher`]: for maps that live for one call and whose
/// iteration order is never observed.
pub(crate) type FxHashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// A config as a map key that hashes only its values: the trials of one study share
/// their parameter names, so hashing the names too would only cost time. Equality is
/// still the whole config's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ByValues<'a>(pub(crate) &'a Params);

impl std::hash::Hash for ByValues<'_> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for (_, value) in self.0.iter() {
            value.hash(state);
        }
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A ChaCha RNG seeded from `parts` (mixed with SplitMix64, stable across platforms).
pub(crate) fn seeded_rng(parts: &[u64]) -> ChaCha8Rng {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    for &p in parts {
        state = splitmix(state ^ splitmix(p));
    }
    ChaCha8Rng::seed_from_u64(state)
}

pub(crate) fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// FNV-1a over 64-bit words: a stable digest (std's hasher may change between releases).
#[derive(Debug)]
pub(crate) struct Fnv(u64);

impl Fnv {
    pub(crate) fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    pub(crate) fn write(&mut self, word: u64) {
        for b in word.to_le_bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub(crate) fn write_str(&mut self, s: &str) {
        for b in s.bytes() {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.write(s.len() as u64);
    }
    pub(crate) fn finish(&self) -> u64 {
        splitmix(self.0)
    }
}
