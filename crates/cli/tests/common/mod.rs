//! Helpers shared by the CLI's integration tests: run the real binary, write small
//! vector files.

#![allow(dead_code)] // each test binary uses a different subset of the helpers

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// What one run of the binary printed and returned.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        &self.stdout
    }

    /// Asserts a user-error exit (code 1, one paragraph, no panic or backtrace) whose
    /// message contains every needle; returns the message.
    pub fn user_error(&self, needles: &[&str]) -> String {
        assert_eq!(
            self.code,
            Some(1),
            "expected exit code 1\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        let msg = self.stderr.trim();
        assert!(msg.starts_with("error: "), "not an error paragraph: {msg}");
        assert!(!msg.contains('\n'), "more than one paragraph: {msg}");
        for bad in ["panicked", "backtrace", "RUST_BACKTRACE", "internal error"] {
            assert!(!msg.contains(bad), "{bad} in {msg}");
        }
        for needle in needles {
            assert!(msg.contains(needle), "missing {needle:?} in: {msg}");
        }
        msg.to_owned()
    }
}

/// Runs `hnswtune` with `args`.
pub fn hnswtune(args: &[&str]) -> Run {
    hnswtune_env(args, &[])
}

/// Runs `hnswtune` with `args` and extra environment variables.
pub fn hnswtune_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hnswtune"));
    cmd.args(args).env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    Run::from(cmd.output().expect("the binary runs"))
}

/// Writes rows as a TEXMEX `.fvecs` file.
pub fn write_fvecs(path: &Path, rows: &[Vec<f32>]) {
    let mut bytes = Vec::new();
    for row in rows {
        bytes.extend_from_slice(&(row.len() as i32).to_le_bytes());
        for v in row {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

/// Writes rows as a TEXMEX `.ivecs` file.
pub fn write_ivecs(path: &Path, rows: &[Vec<i32>]) {
    let mut bytes = Vec::new();
    for row in rows {
        bytes.extend_from_slice(&(row.len() as i32).to_le_bytes());
        for v in row {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, bytes).unwrap();
}

/// `n` clustered vectors of dimension `dim` (Gaussian-ish blobs around `clusters`
/// centres), deterministic in `seed`. A tiny xorshift keeps the test free of RNG
/// crates; the data only has to look like embeddings, not be statistically perfect.
pub fn clustered(n: usize, dim: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut gauss = move || {
        let s: f64 = (0..6).map(|_| next()).sum();
        (s - 3.0) as f32
    };
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dim).map(|_| gauss() * 3.0).collect())
        .collect();
    (0..n)
        .map(|i| {
            let c = &centres[i % clusters];
            c.iter().map(|x| x + gauss() * 0.8).collect()
        })
        .collect()
}

/// A small study's files in a temporary directory: base, queries and a store path.
pub struct Fixture {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
    /// Base vectors.
    pub base: PathBuf,
    /// Query vectors.
    pub queries: PathBuf,
    /// The store directory (not created yet).
    pub store: PathBuf,
}

impl Fixture {
    /// `n` base vectors and `q` queries of dimension `dim`.
    pub fn new(n: usize, q: usize, dim: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.fvecs");
        let queries = dir.path().join("queries.fvecs");
        write_fvecs(&base, &clustered(n, dim, 8, 1));
        write_fvecs(&queries, &clustered(q, dim, 8, 2));
        let store = dir.path().join("store");
        Fixture {
            dir,
            base,
            queries,
            store,
        }
    }

    /// A path inside the fixture's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `s` as a `&str`.
    pub fn s(path: &Path) -> &str {
        path.to_str().unwrap()
    }
}

/// A fresh prefix `<tests>/<name>-<id>` in the S3 test bucket and the environment a
/// process needs to reach it, or `None` when no endpoint is configured
/// (`HNSWTUNE_TEST_S3_ENDPOINT`, which `.ci/s3-conformance.sh` sets). With
/// `HNSWTUNE_TEST_S3_REQUIRED` set a missing endpoint is a failure, not a skip.
pub fn s3_store(tests: &str, name: &str) -> Option<(String, Vec<(String, String)>)> {
    let Ok(endpoint) = std::env::var("HNSWTUNE_TEST_S3_ENDPOINT") else {
        assert!(
            std::env::var_os("HNSWTUNE_TEST_S3_REQUIRED").is_none(),
            "HNSWTUNE_TEST_S3_REQUIRED is set but HNSWTUNE_TEST_S3_ENDPOINT is not"
        );
        eprintln!("skipped: set HNSWTUNE_TEST_S3_ENDPOINT to run the {tests} tests on S3");
        return None;
    };
    let bucket =
        std::env::var("HNSWTUNE_TEST_S3_BUCKET").unwrap_or_else(|_| "hnswtune-test".into());
    let prefix = format!("{tests}/{name}-{}", hnswtune_core::TrialId::new());
    let env = [
        ("AWS_ENDPOINT", endpoint.as_str()),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    Some((format!("s3://{bucket}/{prefix}"), env))
}
