//! Times cold loads of one index outside criterion, phase by phase, for profiling.
//!
//! ```sh
//! cargo run --release -p hnswtune-bench-journal --bin cold_load -- [ENTRIES] [REPEATS] [DIR]
//! ```
//!
//! Fills a LocalFileSystem journal under `DIR` (default: a directory in the system's
//! temporary directory, kept between runs so the fill happens once) to `ENTRIES` trials
//! (default 100 000), then opens a fresh handle `REPEATS` times (default 7) and prints
//! each cold `read()` and the median.

use std::time::{Duration, Instant};

use hnswtune_bench_journal::fill;
use hnswtune_core::{IndexName, TrialJournal};
use hnswtune_journal::{JournalOptions, ObjectStoreJournal, StoreLocation};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let entries: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let repeats: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(7);
    let dir = args
        .next()
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("hnswtune-cold-load"));
    let location = StoreLocation::local(&dir, false)?;
    let index = IndexName::new(format!("load-{entries}"))?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let writer = ObjectStoreJournal::open(location.clone())?;
        let have = writer.read(&index).await?.report.entries as u64;
        if have < entries {
            let started = Instant::now();
            fill(&writer, &index, have, entries).await?;
            eprintln!(
                "filled {} entries in {:.1?}",
                entries - have,
                started.elapsed()
            );
        }
        let mut times: Vec<Duration> = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let journal = ObjectStoreJournal::open(location.clone())?
                .with_options(JournalOptions::default())?;
            let started = Instant::now();
            let read = journal.read(&index).await?;
            let took = started.elapsed();
            println!(
                "cold load of {} trials ({} from snapshots): {took:.1?}",
                read.trials.len(),
                read.report.from_snapshot
            );
            times.push(took);
        }
        times.sort();
        if let Some(median) = times.get(times.len() / 2) {
            println!("median of {repeats}: {median:.1?} under {}", load_average());
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .map(|l| format!("load average {l}"))
        })
        .unwrap_or_else(|| "an unknown load".into())
}
