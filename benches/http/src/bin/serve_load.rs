//! serve_load: drives `hnswtune serve` with mixed requests over a store of many trials.
//!
//! ```text
//! cargo build --release -p hnswtune-cli
//! cargo run --release -p hnswtune-bench-http --bin serve_load -- [TRIALS] [REQUESTS] [CONCURRENCY] [APPEND_MS]
//! ```
//!
//! Defaults: 10,000 trials, 20,000 requests, 64 connections, a trial appended every
//! 1000 ms (faster than any study whose trials build an index; 100 is a stress run). It writes the trials into
//! a temporary local store, starts the release `hnswtune serve` on a free loopback port
//! as a separate process, and sends the requests over 64 keep-alive connections, each
//! request drawn in turn from a fixed mix of the read routes. While it runs, a writer
//! appends a trial every APPEND_MS, so the incremental route (`?since=` with the cursor
//! the connection last saw) has something to answer and the server re-reads the store
//! under load. It prints the p50 and p99 latency per route and overall, the errors
//! (any status other than 200, or an I/O failure), and the server's peak RSS (VmHWM).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hnswtune_core::{
    EF_CONSTRUCTION, EF_SEARCH, IndexName, Params, Trial, TrialJournal, TriggerReason,
};
use hnswtune_journal::ObjectStoreJournal;
use hnswtune_testkit::fakes::{analytic_metrics, fingerprint};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The request mix: a route name and its share (out of 20).
const MIX: [(&str, usize); 6] = [
    ("trials?since=cursor", 8),
    ("indexes", 3),
    ("champion", 3),
    ("promotions", 2),
    ("pareto", 2),
    ("trials?limit=100", 2),
];

/// The label of the pages a connection reads when it opens.
const CATCH_UP: &str = "trials catch-up page";

fn trial(i: usize) -> Trial {
    let params = Params::new()
        .with(EF_CONSTRUCTION, 40 + (i % 50) as i64 * 8)
        .with(EF_SEARCH, 10 + (i / 50 % 200) as i64);
    let dataset = fingerprint(100_000);
    let metrics = analytic_metrics(&params, &dataset);
    let mut t = Trial::start(
        IndexName::new("docs").expect("valid"),
        "queries",
        params,
        dataset,
        TriggerReason::Study,
    )
    .complete(metrics);
    t.worker = format!("load-{}", i % 8);
    t
}

/// The cursor fields of a trials page; the trials themselves are skipped unparsed, so
/// that the load generator, which shares the machine's cores with the server, spends
/// little of them.
#[derive(serde::Deserialize)]
struct PageHead {
    next: u64,
    more: bool,
}

/// A keep-alive HTTP/1.1 connection that reads `Content-Length` bodies.
struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    async fn open(port: u16) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        Ok(Connection {
            reader: BufReader::new(stream),
        })
    }

    async fn get(&mut self, path: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        self.reader.get_mut().write_all(request.as_bytes()).await?;
        let mut line = String::new();
        self.reader.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {line:?}"))?;
        let mut length = None;
        loop {
            line.clear();
            self.reader.read_line(&mut line).await?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = Some(value.trim().parse::<usize>()?);
            }
        }
        let Some(length) = length else {
            bail!("no content-length in the answer to {path}");
        };
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).await?;
        Ok((status, body))
    }
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn peak_rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().context("arguments are numbers"))
        .collect::<anyhow::Result<_>>()?;
    let trials = args.first().copied().unwrap_or(10_000);
    let requests = args.get(1).copied().unwrap_or(20_000);
    let concurrency = args.get(2).copied().unwrap_or(64);
    let append_every = Duration::from_millis(args.get(3).copied().unwrap_or(1000) as u64);

    let dir = tempfile::tempdir()?;
    let journal = Arc::new(ObjectStoreJournal::local(dir.path(), false)?);
    let started = Instant::now();
    for i in 0..trials {
        journal.append(&trial(i)).await?;
    }
    println!(
        "wrote {trials} trials in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let binary = std::env::var("HNSWTUNE_BIN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/release/hnswtune").into()
    });
    let mut server = tokio::process::Command::new(&binary)
        .args(["--json", "serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!("cannot start {binary} (build it with cargo build --release -p hnswtune-cli)")
        })?;
    let pid = server.id().context("the server has a pid")?;
    let mut first = String::new();
    BufReader::new(server.stdout.take().context("stdout")?)
        .read_line(&mut first)
        .await?;
    let ready: serde_json::Value =
        serde_json::from_str(&first).with_context(|| format!("serve printed {first:?}"))?;
    let url = ready["listening"].as_str().context("listening")?;
    let port: u16 = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .context("a port")?;
    println!(
        "serve (pid {pid}) on {url}; RSS after start {:.1} MiB",
        peak_rss_mib(pid).unwrap_or(0.0)
    );

    // The first read loads the store; it is not part of the measurement.
    let mut warm = Connection::open(port).await?;
    let cold = Instant::now();
    let (status, _) = warm.get("/indexes/docs/trials?limit=1").await?;
    println!(
        "first read {status} in {:.0} ms",
        cold.elapsed().as_secs_f64() * 1e3
    );
    let (_, front) = warm.get("/indexes/docs/pareto").await?;
    let front: serde_json::Value = serde_json::from_slice(&front)?;
    println!(
        "pareto front: {} trials",
        front["front"].as_array().map_or(0, Vec::len)
    );

    let stop_writer = Arc::new(AtomicBool::new(false));
    // The writer has a thread and a runtime of its own, so that its appends (which
    // update its own journal handle's cache of all the trials) never stall the
    // connections' tasks and show up as server latency.
    let writer = {
        let (journal, stop) = (journal.clone(), stop_writer.clone());
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the writer");
            runtime.block_on(async move {
                let mut appended = 0usize;
                while !stop.load(Ordering::SeqCst) {
                    tokio::time::sleep(append_every).await;
                    if journal.append(&trial(trials + appended)).await.is_ok() {
                        appended += 1;
                    }
                }
                appended
            })
        })
    };

    let routes: Vec<&str> = MIX
        .iter()
        .flat_map(|(route, share)| std::iter::repeat_n(*route, *share))
        .collect();
    let issued = Arc::new(AtomicUsize::new(0));
    let opened = Arc::new(tokio::sync::Barrier::new(concurrency));
    let load = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let (issued, routes, opened) = (issued.clone(), routes.clone(), opened.clone());
        workers.push(tokio::spawn(async move {
            let mut samples: Vec<(&str, Duration, bool)> = Vec::new();
            let mut connection = Connection::open(port).await?;
            // Each connection first pages through the whole history, as a dashboard
            // does once when it opens; these pages are reported on their own line and
            // are not among the measured requests.
            let mut cursor = 0u64;
            let mut caught_up = false;
            while !caught_up {
                let sent = Instant::now();
                let (status, body) = connection
                    .get(&format!("/indexes/docs/trials?since={cursor}"))
                    .await?;
                let ok = status == 200;
                samples.push((CATCH_UP, sent.elapsed(), ok));
                if !ok {
                    bail!("a catch-up page answered {status}");
                }
                let page: PageHead = serde_json::from_slice(&body)?;
                cursor = page.next;
                caught_up = !page.more;
            }
            opened.wait().await;
            loop {
                let n = issued.fetch_add(1, Ordering::SeqCst);
                if n >= requests {
                    break;
                }
                let route = routes[n % routes.len()];
                let path = match route {
                    "trials?since=cursor" => format!("/indexes/docs/trials?since={cursor}"),
                    "trials?limit=100" => "/indexes/docs/trials?limit=100".into(),
                    "indexes" => "/indexes".into(),
                    other => format!("/indexes/docs/{other}"),
                };
                let sent = Instant::now();
                let answer = connection.get(&path).await;
                let took = sent.elapsed();
                let ok = match &answer {
                    Ok((200, body)) => {
                        if route == "trials?since=cursor" {
                            let page: PageHead = serde_json::from_slice(body)?;
                            cursor = page.next;
                        }
                        true
                    }
                    _ => false,
                };
                samples.push((route, took, ok));
                if answer.is_err() {
                    connection = Connection::open(port).await?;
                }
            }
            anyhow::Ok(samples)
        }));
    }
    let mut samples = Vec::new();
    for worker in workers {
        samples.extend(worker.await??);
    }
    let wall = load.elapsed();
    stop_writer.store(true, Ordering::SeqCst);
    let appended = writer.join().expect("the writer thread");
    let rss = peak_rss_mib(pid);
    server.kill().await?;

    let errors = samples.iter().filter(|s| !s.2).count();
    let measured = samples.iter().filter(|s| s.0 != CATCH_UP).count();
    println!(
        "{measured} requests at concurrency {concurrency} after {} catch-up pages, all in {:.2} s; {appended} trials appended meanwhile",
        samples.len() - measured,
        wall.as_secs_f64(),
    );
    println!(
        "{:<22} {:>7} {:>9} {:>9} {:>7}",
        "route", "count", "p50 ms", "p99 ms", "errors"
    );
    let mut names: Vec<&str> = MIX.iter().map(|m| m.0).collect();
    names.insert(1, CATCH_UP);
    names.push("all");
    for name in names {
        let mut times: Vec<Duration> = samples
            .iter()
            .filter(|s| (name == "all" && s.0 != CATCH_UP) || s.0 == name)
            .map(|s| s.1)
            .collect();
        times.sort();
        let route_errors = samples
            .iter()
            .filter(|s| ((name == "all" && s.0 != CATCH_UP) || s.0 == name) && !s.2)
            .count();
        println!(
            "{name:<22} {:>7} {:>9.2} {:>9.2} {route_errors:>7}",
            times.len(),
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3,
        );
    }
    println!(
        "errors {errors}; server peak RSS {:.1} MiB",
        rss.unwrap_or(f64::NAN)
    );
    Ok(())
}
