//! Test support for hnswtune: fakes of the seam traits, fixtures, and the conformance
//! suites that every backend (including a host's own) runs.
//!
//! Not published; used as a dev-dependency by the workspace's crates.

pub mod conformance;
pub mod fakes;
