//! Several `hnswtune worker` processes, real OS processes, on one study: first on a
//! local directory, then (when `HNSWTUNE_TEST_S3_ENDPOINT` is set, as `.ci/run` does)
//! on one S3 bucket. They rehearse on a recorded landscape, so a trial takes
//! milliseconds. Then one worker is killed with SIGKILL inside a build, and at random
//! points 20 times.

#![cfg(unix)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hnswtune_core::{IndexName, PromotionKind, PromotionRegistry, Trial, TrialJournal, TrialState};
use hnswtune_journal::object_store::aws::AmazonS3Builder;
use hnswtune_journal::{ObjectStoreJournal, ObjectStorePromotions, StoreLocation};
use rand::{Rng, SeedableRng};

const MIN_RECALL: f64 = 0.95;

fn landscape() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../landscapes/minilm-20k-default.jsonl")
}

/// Where the study lives: the `--store` text, and the environment a process needs.
#[derive(Clone)]
struct Target {
    store: String,
    env: Vec<(String, String)>,
}

impl Target {
    fn local(dir: &Path) -> Self {
        Target {
            store: dir.display().to_string(),
            env: Vec::new(),
        }
    }

    /// A fresh prefix in the test bucket, or `None` when no S3 endpoint is configured.
    fn s3(name: &str) -> Option<Self> {
        let (store, env) = common::s3_store("workers", name)?;
        Some(Target { store, env })
    }

    fn location(&self) -> StoreLocation {
        let Some(rest) = self.store.strip_prefix("s3://") else {
            return StoreLocation::local(&self.store, false).unwrap();
        };
        let (bucket, prefix) = rest.split_once('/').unwrap();
        let var = |k: &str| self.env.iter().find(|(n, _)| n == k).unwrap().1.clone();
        let store = AmazonS3Builder::new()
            .with_endpoint(var("AWS_ENDPOINT"))
            .with_allow_http(true)
            .with_region("us-east-1")
            .with_bucket_name(bucket)
            .with_access_key_id("test")
            .with_secret_access_key("test")
            .build()
            .unwrap();
        StoreLocation::new(std::sync::Arc::new(store), prefix)
    }

    fn worker(&self, id: &str, extra: &[&str]) -> Child {
        self.worker_on(&landscape(), id, extra)
    }

    fn worker_on(&self, landscape: &Path, id: &str, extra: &[&str]) -> Child {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hnswtune"));
        cmd.args([
            "worker",
            "--json",
            "--store",
            &self.store,
            "--index",
            "shared",
        ])
        .arg("--landscape")
        .arg(landscape)
        .args(["--worker-id", id, "--min-recall", "0.95"])
        .args(extra)
        .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        cmd.spawn().expect("start a worker")
    }
}

fn index() -> IndexName {
    IndexName::new("shared").unwrap()
}

async fn journal_of(target: &Target) -> (Vec<Trial>, usize) {
    let journal = ObjectStoreJournal::open(target.location()).unwrap();
    let read = journal.read(&index()).await.unwrap();
    (read.trials.into_vec(), read.report.skipped.len())
}

/// When a trial's evaluation ended at the latest: its finish, or for a trial whose
/// lease lapsed (its worker was killed), the lease's expiry, since a holder that does
/// not renew is not measuring any more (its result would be refused).
fn measured_until(t: &Trial) -> chrono::DateTime<chrono::Utc> {
    let finished = t.finished_at.unwrap();
    match &t.lease {
        Some(lease) if t.lost_its_lease() => finished.min(lease.expires_at),
        _ => finished,
    }
}

/// No two trials of one config overlap in time.
fn assert_no_config_twice_at_once(trials: &[Trial]) {
    let mut by_config: BTreeMap<String, Vec<&Trial>> = BTreeMap::new();
    for t in trials {
        by_config.entry(t.params.to_string()).or_default().push(t);
    }
    for (config, list) in by_config {
        for (i, a) in list.iter().enumerate() {
            for b in &list[i + 1..] {
                let (a_end, b_end) = (measured_until(a), measured_until(b));
                assert!(
                    a_end <= b.created_at || b_end <= a.created_at,
                    "{config} was evaluated by {} and {} at the same time",
                    a.worker,
                    b.worker
                );
            }
        }
    }
}

/// The chain is linear and every promoted champion meets the floor.
async fn assert_champions(target: &Target) {
    let registry = ObjectStorePromotions::open(target.location()).unwrap();
    let history = registry.history(&index()).await.unwrap();
    assert!(!history.is_empty(), "some champion was promoted");
    for (i, p) in history.iter().enumerate() {
        assert_eq!(p.revision, i as u64 + 1, "revisions are 1..=n with no gap");
        if p.kind == PromotionKind::Promote {
            let recall = p.metrics.as_ref().unwrap().recall;
            assert!(
                recall >= MIN_RECALL,
                "revision {} has recall {recall}",
                p.revision
            );
        }
    }
}

/// 4 workers × 10 trials with the Random strategy (which never converges, so each runs
/// its whole budget); all start at once with the same seed, so without leases they
/// would propose the same configs at the same moments.
async fn four_workers(target: Target) {
    let children: Vec<Child> = (0..4)
        .map(|w| {
            target.worker(
                &format!("w{w}"),
                &[
                    "--strategy",
                    "random",
                    "--budget",
                    "10",
                    "--time-scale",
                    "0.002",
                ],
            )
        })
        .collect();
    let mut ran = BTreeSet::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "a worker failed: {stderr}");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for t in report["trials_run"].as_array().unwrap() {
            ran.insert(t["id"].as_str().unwrap().to_owned());
        }
    }
    let (trials, skipped) = journal_of(&target).await;
    assert_eq!(skipped, 0);
    assert_eq!(ran.len(), 40, "the workers ran 40 trials together");
    let recorded: BTreeSet<String> = trials.iter().map(|t| t.id.to_string()).collect();
    assert_eq!(recorded, ran, "no trial is lost and none is invented");
    assert!(
        trials
            .iter()
            .all(|t| matches!(t.state, TrialState::Complete | TrialState::Failed { .. })),
        "every lease ended complete or failed"
    );
    assert!(trials.iter().all(|t| t.lease.is_some()));
    assert_no_config_twice_at_once(&trials);
    assert_champions(&target).await;
}

#[tokio::test]
async fn four_worker_processes_share_one_local_study() {
    let dir = tempfile::tempdir().unwrap();
    four_workers(Target::local(&dir.path().join("study"))).await;
}

#[tokio::test]
async fn four_worker_processes_share_one_s3_study() {
    if let Some(target) = Target::s3("four") {
        four_workers(target).await;
    }
}

/// The usearch landscape (1,040 configs, 40 builds): random search at time scale 0.2
/// does not run out of configs during the crash test, so every victim meets a live
/// study. (On the 182 configs of the instant-distance landscape two workers at scale
/// 0.02 try them all in about 4 s, after which victims only start and stop.)
fn big_landscape() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../landscapes/minilm-20k-usearch.jsonl")
}

/// The time scale of the crash test's workers, and the longest trial it gives: the
/// slowest recorded build (10.1 s) plus a search, scaled.
const KILL_SCALE: &str = "0.2";
const KILL_LONGEST_TRIAL_MS: i64 = 2_200;

/// A worker is killed with SIGKILL 21 times: once for certain inside a trial, then at
/// 20 random moments (during appends, promotions, evaluations and snapshot writes:
/// segments are 4 entries long), restarting under the same id or a new one; two other
/// workers run throughout. Afterwards the journal loads with no partial entry, every
/// trial that was ever seen complete is still complete, no trial is left running once
/// its lease has lapsed, the trial killed mid-build was recovered promptly, and the
/// survivors never ran out of configs (so no kill met a finished study).
#[tokio::test]
async fn sigkill_at_random_points_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(&dir.path().join("study"));
    let landscape = big_landscape();
    let common = [
        "--strategy",
        "random",
        "--lease-secs",
        "3",
        "--snapshot-every",
        "4",
    ];
    let scaled = [&common[..], &["--time-scale", KILL_SCALE]].concat();
    let mut survivors: Vec<Child> = (0..2)
        .map(|w| {
            target.worker_on(
                &landscape,
                &format!("survivor{w}"),
                &[&scaled[..], &["--time", "90s"]].concat(),
            )
        })
        .collect();
    let started = Instant::now();
    // A kill inside a trial for certain (random moments may all fall between trials on
    // a loaded machine): at time scale 10 this victim's first trial, a fresh build in
    // its process, sleeps at least 2.5 s, and the kill comes as soon as the journal
    // shows it running. Its id is never used again, so its lease must be recovered.
    let mut held = target.worker_on(
        &landscape,
        "victim-held",
        &[&common[..], &["--time-scale", "10"]].concat(),
    );
    let held_trial = loop {
        let (trials, _) = journal_of(&target).await;
        if let Some(t) = trials
            .iter()
            .find(|t| t.worker == "victim-held" && t.state == TrialState::Running)
        {
            break t.id;
        }
        assert!(
            held.try_wait().unwrap().is_none(),
            "the held victim ended before it started a trial"
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the held victim started no trial in 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    held.kill().unwrap();
    held.wait().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut seen_complete: BTreeSet<String> = BTreeSet::new();
    for kill in 0..20 {
        // Half the victims restart under one id (they resume their own lease when it is
        // still live), half under a new one (their lease must be recovered).
        let id = if kill % 2 == 0 {
            "victim".to_owned()
        } else {
            format!("victim{kill}")
        };
        let mut victim = target.worker_on(&landscape, &id, &scaled);
        tokio::time::sleep(Duration::from_millis(rng.gen_range(300..1500))).await;
        victim.kill().unwrap();
        victim.wait().unwrap();
        let (trials, skipped) = journal_of(&target).await;
        assert_eq!(skipped, 0, "kill {kill} left a partial entry");
        for t in &trials {
            if t.is_complete() {
                seen_complete.insert(t.id.to_string());
            }
        }
    }
    // Give the survivors the lease expiry, a heartbeat and their longest trial to end
    // the last lease.
    tokio::time::sleep(Duration::from_millis(
        3_000 + 1_000 + KILL_LONGEST_TRIAL_MS as u64 + 500,
    ))
    .await;
    let (trials, skipped) = journal_of(&target).await;
    for child in &mut survivors {
        // SIGTERM: the survivors finish their trial and stop.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
    }
    for child in survivors {
        let out = child.wait_with_output().unwrap();
        let code = out.status.code();
        assert!(
            matches!(code, Some(0) | Some(130)),
            "a survivor ended with {code:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            summary["ending"], "stopped",
            "a survivor ended before it was stopped, so later kills met a finished study"
        );
    }
    assert_eq!(skipped, 0);
    let by_id: BTreeMap<String, &Trial> = trials.iter().map(|t| (t.id.to_string(), t)).collect();
    for id in &seen_complete {
        assert!(
            by_id.get(id).is_some_and(|t| t.is_complete()),
            "completed trial {id} was lost"
        );
    }
    let now = chrono::Utc::now();
    let zombies: Vec<_> = trials
        .iter()
        .filter(|t| t.state == TrialState::Running && !t.lease_live(now))
        .map(|t| (t.id, t.worker.clone()))
        .collect();
    assert!(
        zombies.is_empty(),
        "zombies after {:?}: {zombies:?}",
        started.elapsed()
    );
    let recovered = trials
        .iter()
        .filter(|t| t.lost_its_lease())
        .collect::<Vec<_>>();
    for t in &recovered {
        let lease = t.lease.as_ref().unwrap();
        let late = t.finished_at.unwrap() - lease.expires_at;
        assert!(
            late <= chrono::Duration::milliseconds(1000 + KILL_LONGEST_TRIAL_MS + 500),
            "trial {} was recovered {late} after its lease lapsed",
            t.id
        );
    }
    assert!(
        recovered.iter().any(|t| t.id == held_trial),
        "the trial killed mid-build ({held_trial}) was not recovered: {:?}",
        by_id.get(&held_trial.to_string()).map(|t| &t.state)
    );
    assert_no_config_twice_at_once(
        &trials
            .iter()
            .filter(|t| t.finished_at.is_some())
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_champions(&target).await;
}

/// A TCP proxy in front of the S3 server that can be taken down (new connections are
/// closed at once and open ones are cut) and brought back, on the same port.
struct Proxy {
    port: u16,
    up: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Proxy {
    fn start(upstream: String) -> Proxy {
        use std::io::{Read, Write};
        use std::net::{TcpListener, TcpStream};
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let flag = up.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let flag = flag.clone();
                    from.set_read_timeout(Some(Duration::from_millis(50)))
                        .unwrap();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            if !flag.load(Ordering::SeqCst) {
                                let _ = to.shutdown(std::net::Shutdown::Both);
                                return;
                            }
                            match from.read(&mut buf) {
                                Ok(0) => {
                                    let _ = to.shutdown(std::net::Shutdown::Write);
                                    return;
                                }
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                }
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock
                                            | std::io::ErrorKind::TimedOut
                                    ) => {}
                                Err(_) => return,
                            }
                        }
                    });
                }
            }
        });
        Proxy { port, up }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, std::sync::atomic::Ordering::SeqCst);
    }
}

/// The S3 server becomes unreachable for 12 s in the middle of a run: the workers
/// report it, back off, resume, and finish their budgets; nothing recorded before the
/// outage is lost, and no trial is left running.
#[tokio::test]
async fn workers_ride_out_a_store_outage() {
    let Some(direct) = Target::s3("outage") else {
        return;
    };
    let endpoint = direct
        .env
        .iter()
        .find(|(k, _)| k == "AWS_ENDPOINT")
        .unwrap()
        .1
        .clone();
    let upstream = endpoint.trim_start_matches("http://").to_owned();
    let proxy = Proxy::start(upstream);
    let mut target = direct.clone();
    for (k, v) in &mut target.env {
        if k == "AWS_ENDPOINT" {
            *v = format!("http://127.0.0.1:{}", proxy.port);
        }
    }
    let children: Vec<Child> = (0..2)
        .map(|w| {
            target.worker(
                &format!("o{w}"),
                &[
                    "--strategy",
                    "random",
                    "--budget",
                    "12",
                    "--time-scale",
                    "0.01",
                    "--lease-secs",
                    "3",
                ],
            )
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Read through the direct endpoint: what was recorded before the outage.
    let (before, _) = journal_of(&direct).await;
    proxy.set_up(false);
    tokio::time::sleep(Duration::from_secs(12)).await;
    proxy.set_up(true);
    let mut reported = false;
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "a worker failed: {stdout} {stderr}");
        reported |= stderr.contains("store call failed") || stdout.contains("store unavailable");
    }
    assert!(reported, "the outage was reported");
    let (after, skipped) = journal_of(&direct).await;
    assert_eq!(skipped, 0);
    for t in before.iter().filter(|t| t.is_complete()) {
        assert!(
            after.iter().any(|a| a.id == t.id && a.is_complete()),
            "lost {}",
            t.id
        );
    }
    assert!(after.iter().filter(|t| t.is_complete()).count() >= 24 - 2);
    let now = chrono::Utc::now();
    assert!(
        after
            .iter()
            .all(|t| t.state != TrialState::Running || t.lease_live(now)),
        "no zombie"
    );
}

/// One worker takes turns between two indexes until both studies converge; `tune`
/// refuses a second index with a sentence that says what to do.
#[tokio::test]
async fn one_worker_tunes_two_indexes_in_turn() {
    let dir = tempfile::tempdir().unwrap();
    let target = Target::local(&dir.path().join("study"));
    let out = target
        .worker("solo", &["--also-index", "second", "--time-scale", "0"])
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reports = report["indexes"].as_array().unwrap();
    assert_eq!(reports.len(), 2);
    for r in reports {
        assert_eq!(r["ending"], "converged", "{}", r["index"]);
        assert!(!r["trials_run"].as_array().unwrap().is_empty());
    }
    let refused = Command::new(env!("CARGO_BIN_EXE_hnswtune"))
        .args([
            "tune",
            "--store",
            &target.store,
            "--index",
            "a",
            "--also-index",
            "b",
        ])
        .arg("--landscape")
        .arg(landscape())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("hnswtune worker"));
}
