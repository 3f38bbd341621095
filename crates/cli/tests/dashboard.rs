//! The live dashboard in a real browser: `hnswtune serve` over a store that a rehearsal
//! `tune` has written, opened in headless Chromium by `tests/browser/dashboard_e2e.py`
//! (stdlib Python driving the DevTools protocol). The page must show the study, pick up a
//! trial that a second `tune` adds within 2 s of its finish, and produce no console error.
//!
//! Needs `chromium` and `python3` on PATH; without them the test is skipped, unless
//! `HNSWTUNE_TEST_BROWSER_REQUIRED=1` (as `.ci/run` sets), which makes it fail instead.
//! `HNSWTUNE_DASHBOARD_SHOT=PATH` keeps the final full-page screenshot there (that is how
//! `docs/img/dashboard.png` is made); otherwise it goes to the temporary directory.

#![cfg(unix)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hnswtune_core::{IndexName, Trial, TrialJournal};
use hnswtune_journal::ObjectStoreJournal;

const INDEX: &str = "docs";
const FIRST_BUDGET: usize = 4;
/// From a trial's finish to its row on screen (the dashboard's promise).
const MAX_DELAY_MS: i64 = 2000;

/// The workspace root: `tune` runs there with the landscape's relative path, which is
/// what the dashboard (and so the docs screenshot) shows as the data set.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

const LANDSCAPE: &str = "landscapes/minilm-20k-default.jsonl";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/dashboard_e2e.py")
}

/// An executable called `name` in a directory of PATH.
fn on_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Some(path) = std::env::var_os("PATH") else {
        return false;
    };
    std::env::split_paths(&path).any(|dir| {
        std::fs::metadata(dir.join(name))
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    })
}

/// A child process that is killed and reaped when the test ends, passing or not.
struct Reaped {
    child: Child,
    what: &'static str,
}

impl Reaped {
    fn new(child: Child, what: &'static str) -> Self {
        Reaped { child, what }
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait()
            && self.child.kill().is_err()
        {
            eprintln!("could not kill {}", self.what);
        }
        let _ = self.child.wait();
    }
}

/// Lines of a child's stdout, read on a thread and sent as they come; the channel closes
/// when the child closes its stdout (normally: when it exits).
fn lines_of(stdout: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Everything a child writes to a pipe (its stderr), collected on a thread.
fn collected(pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut buf = String::new();
        while matches!(reader.read_line(&mut buf), Ok(n) if n > 0) {
            sink.lock().unwrap().push_str(&buf);
            buf.clear();
        }
    });
    text
}

/// The browser script: its output so far, to show whenever something goes wrong.
struct Script {
    proc: Reaped,
    lines: Receiver<String>,
    seen: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Script {
    fn transcript(&self) -> String {
        format!(
            "--- dashboard_e2e.py stdout ---\n{}\n--- its stderr ---\n{}",
            self.seen.join("\n"),
            self.stderr.lock().unwrap()
        )
    }

    /// The first line starting with `prefix`, split on whitespace after it.
    fn expect(&mut self, prefix: &str, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.split_whitespace().map(str::to_owned).collect();
                    }
                }
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no {prefix:?} line from the browser script within {within:?}\n{}",
                    self.transcript()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    // Exited: give the stderr thread a moment to catch the traceback, if any.
                    let code = self.wait(Duration::from_secs(5));
                    panic!(
                        "the browser script ended (exit {code:?}) before printing {prefix:?}\n{}",
                        self.transcript()
                    )
                }
            }
        }
    }

    /// Waits for the exit, reading the rest of stdout; `None` if it did not exit in time.
    fn wait(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            while let Ok(line) = self.lines.try_recv() {
                self.seen.push(line);
            }
            if let Some(status) = self.proc.child.try_wait().unwrap() {
                // The pipes close with the process; collect what is still in flight.
                let end = Instant::now() + Duration::from_secs(2);
                while let Ok(line) = self
                    .lines
                    .recv_timeout(end.saturating_duration_since(Instant::now()))
                {
                    self.seen.push(line);
                }
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn tune(store: &Path, budget: usize) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_hnswtune"))
        .args(["tune", "--store"])
        .arg(store)
        .args(["--index", INDEX, "--landscape", LANDSCAPE])
        .current_dir(workspace())
        .args(["--time-scale", "0", "--min-recall", "0.95", "--budget"])
        .arg(budget.to_string())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("run hnswtune tune");
    assert!(
        out.status.success(),
        "tune --budget {budget} failed ({})\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The study's trials as the journal has them.
fn trials(store: &Path) -> Vec<Trial> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let journal = ObjectStoreJournal::local(store, false).unwrap();
        let read = journal.read(&IndexName::new(INDEX).unwrap()).await.unwrap();
        assert!(read.report.skipped.is_empty(), "{:?}", read.report);
        read.trials.into_vec()
    })
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[test]
fn the_dashboard_shows_a_study_and_follows_it_live() {
    let missing: Vec<&str> = ["chromium", "python3"]
        .into_iter()
        .filter(|p| !on_path(p))
        .collect();
    if !missing.is_empty() {
        let what = format!("{} not on PATH", missing.join(" and "));
        assert!(
            std::env::var("HNSWTUNE_TEST_BROWSER_REQUIRED").as_deref() != Ok("1"),
            "HNSWTUNE_TEST_BROWSER_REQUIRED=1 but {what}: the dashboard's browser test cannot run"
        );
        eprintln!(
            "skipped the_dashboard_shows_a_study_and_follows_it_live: {what} \
             (HNSWTUNE_TEST_BROWSER_REQUIRED=1 makes this a failure)"
        );
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");

    // A study with a few trials.
    tune(&store, FIRST_BUDGET);
    let before = trials(&store);
    assert_eq!(before.len(), FIRST_BUDGET, "the first tune's trials");

    // The server, on a free port; its first stdout line says where.
    let mut serve = Command::new(env!("CARGO_BIN_EXE_hnswtune"))
        .args(["serve", "--json", "--listen", "127.0.0.1:0", "--store"])
        .arg(&store)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hnswtune serve");
    let serve_lines = lines_of(serve.stdout.take().unwrap());
    let serve_stderr = collected(serve.stderr.take().unwrap());
    let _serve = Reaped::new(serve, "hnswtune serve");
    let first = serve_lines
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|e| {
            panic!(
                "serve printed no first line ({e})\nstderr:\n{}",
                serve_stderr.lock().unwrap()
            )
        });
    let hello: serde_json::Value = serde_json::from_str(&first)
        .unwrap_or_else(|e| panic!("serve's first line is not JSON ({e}): {first}"));
    let url = hello["listening"]
        .as_str()
        .unwrap_or_else(|| panic!("no \"listening\" in serve's first line: {first}"))
        .to_owned();
    // Keep draining serve's stdout so it can never block on a full pipe.
    std::thread::spawn(move || for _ in serve_lines {});

    // The browser.
    let shot = match std::env::var_os("HNSWTUNE_DASHBOARD_SHOT") {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => dir.path().join("dashboard.png"),
    };
    let _ = std::fs::remove_file(&shot); // so the check below sees this run's picture
    let mut child = Command::new("python3")
        .arg(script())
        .arg(&url)
        .args(["--expect-at-least", &before.len().to_string(), "--shot"])
        .arg(&shot)
        // Chromium's profile and scratch files go to the test's directory, so they are
        // removed even when a failing test has to SIGKILL the script.
        .env("TMPDIR", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python3 tests/browser/dashboard_e2e.py");
    let lines = lines_of(child.stdout.take().unwrap());
    let stderr = collected(child.stderr.take().unwrap());
    let mut script = Script {
        proc: Reaped::new(child, "dashboard_e2e.py"),
        lines,
        seen: Vec::new(),
        stderr,
    };

    // The page shows the study as it is.
    let ready = script.expect("READY ", Duration::from_secs(30));
    let shown: usize = ready[0].parse().unwrap();
    assert_eq!(
        shown,
        before.len(),
        "rows on the page vs trials in the store\n{}",
        script.transcript()
    );
    eprintln!(
        "dashboard ready with {shown} trials after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // A second tune on the same store adds a trial (--budget counts this run's trials).
    let second_started_ms = now_ms();
    tune(&store, 1);
    let after = trials(&store);
    let known: BTreeSet<_> = before.iter().map(|t| t.id).collect();
    let added: Vec<&Trial> = after.iter().filter(|t| !known.contains(&t.id)).collect();
    assert!(!added.is_empty(), "the second tune added no trial");
    let finished_ms = added
        .iter()
        .map(|t| {
            t.finished_at
                .unwrap_or_else(|| panic!("trial {} has no finished_at", t.id))
                .timestamp_millis()
        })
        .max()
        .unwrap();

    // ... and the page follows by itself.
    let updated = script.expect("UPDATED ", Duration::from_secs(40));
    let (rows, seen_ms): (usize, i64) = (updated[0].parse().unwrap(), updated[1].parse().unwrap());
    let delay = seen_ms - finished_ms;
    eprintln!(
        "the new trial was on the page {delay} ms after it finished ({} rows)",
        rows
    );
    assert!(
        seen_ms >= second_started_ms,
        "the page grew before the second tune started\n{}",
        script.transcript()
    );
    assert!(
        delay <= MAX_DELAY_MS,
        "the new trial took {delay} ms to reach the page (at most {MAX_DELAY_MS})\n{}",
        script.transcript()
    );
    assert_eq!(
        rows,
        after.len(),
        "rows on the page vs trials in the store\n{}",
        script.transcript()
    );

    // No console error, exception or failed request on the way.
    let status = script.wait(Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "the browser script ended with {status:?}\n{}",
        script.transcript()
    );
    assert!(
        script.seen.iter().any(|l| l == "OK"),
        "no OK from the browser script\n{}",
        script.transcript()
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot at {shot:?}: {e}"));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{shot:?} is not a PNG"
    );
    eprintln!(
        "screenshot {} ({} KiB); whole test {:.1} s",
        shot.display(),
        png.len() / 1024,
        started.elapsed().as_secs_f64()
    );
}
