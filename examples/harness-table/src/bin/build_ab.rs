//! Build time only, usearch against hnswlib, alternated so that machine drift falls on both.
//!
//! ```text
//! pip install numpy hnswlib
//! cargo run --release -p hnswtune-example-harness --features usearch --bin build_ab -- 3 [THREADS]
//! ```
//!
//! For ef_construction 40 and 100 (M = 32, cosine, `THREADS` threads, default every core),
//! runs `rounds` (default 3)
//! rounds of one usearch build (in this process, through the harness backend) followed by
//! one hnswlib build (`py/side_by_side.py build`, timing `add_items` alone), and prints
//! each side's median and the ratio usearch / hnswlib. Without the `usearch` feature it
//! says so and stops.

#[cfg(feature = "usearch")]
fn main() -> anyhow::Result<()> {
    use std::time::Instant;

    use anyhow::Context;
    use hnswtune_core::{EF_CONSTRUCTION, M, Params};
    use hnswtune_harness::backend::usearch::{Usearch, library_info};
    use hnswtune_harness::latency::median;
    use hnswtune_harness::{BuildOptions, IndexBackend};

    let rounds: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context("rounds must be a positive integer")?,
        None => 3,
    };
    let data = hnswtune_example_harness::load(10)?;
    let dir = hnswtune_example_harness::data_dir();
    let options = match std::env::args().nth(2) {
        Some(n) => BuildOptions {
            seed: 1,
            threads: n.parse().context("threads must be a positive integer")?,
        },
        None => BuildOptions::parallel(1),
    };
    let threads = options.threads.to_string();
    println!(
        "{}; {} build threads; {rounds} alternated rounds",
        library_info(),
        options.threads
    );
    println!(
        "| ef_construction | usearch s (median) | hnswlib s (median) | ratio | usearch runs | hnswlib runs |"
    );
    println!("|---|---|---|---|---|---|");
    for ef_construction in [40i64, 100] {
        let params = Params::new()
            .with(EF_CONSTRUCTION, ef_construction)
            .with(M, 32);
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..rounds.max(1) {
            let started = Instant::now();
            let index = Usearch.build(&data.base, &params, &options)?;
            ours.push(started.elapsed().as_secs_f64());
            drop(index);
            let json = hnswtune_example_harness::python(&[
                "build",
                &dir.to_string_lossy(),
                &ef_construction.to_string(),
                &threads,
            ])?;
            theirs.push(
                json["build_secs"]
                    .as_f64()
                    .context("no build_secs from python")?,
            );
        }
        let runs = |v: &[f64]| {
            v.iter()
                .map(|s| format!("{s:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        let (ours_runs, theirs_runs) = (runs(&ours), runs(&theirs));
        let (a, b) = (median(&mut ours), median(&mut theirs));
        println!(
            "| {ef_construction} | {a:.2} | {b:.2} | {:.2}x | {ours_runs} | {theirs_runs} |",
            a / b
        );
    }
    Ok(())
}

#[cfg(not(feature = "usearch"))]
fn main() -> anyhow::Result<()> {
    anyhow::bail!(
        "build_ab compares usearch with hnswlib; run it with `--features usearch` (needs a C++ compiler)"
    )
}
