//! The `hnswtune` command-line tool, and the study report it draws, as a library.
//!
//! The binary `hnswtune` is a thin user surface over the library crates:
//! `hnswtune-harness` loads and measures, `hnswtune-propose` chooses configs,
//! `hnswtune-agent` runs the study and promotes, `hnswtune-journal` keeps every trial
//! and champion in a local directory or an S3 prefix. `docs/cli.md` shows every command
//! with example output.
//!
//! The library side exists so that examples and hosts can draw the same report:
//! [`render::svg`] and [`render::html`] turn a [`render::Study`] (trials, champion,
//! objective) into a plotters SVG or a self-contained HTML page, and
//! [`table::trial_table`] prints trials as text.
//!
//! ## Errors and exit codes
//!
//! Every user mistake ends in one paragraph on stderr (or a JSON object on stdout with
//! `--json`) and a non-zero exit code: 1 for an error, 2 for a command line clap could
//! not parse, 130 when the run was interrupted with Ctrl-C. A panic is a bug; the panic
//! hook reports it in one paragraph too, without a backtrace.
//!
//! ## Example
//!
//! ```
//! use hnswtune_cli::render::{Study, svg};
//! use hnswtune_core::Objective;
//!
//! let objective = Objective::new(0.95)?;
//! let study = Study { index: "docs", trials: &[], champion: None, objective: &objective };
//! // No completed trial yet: the report says so instead of drawing an empty plot.
//! assert!(svg(&study).is_err());
//! # Ok::<(), hnswtune_core::Error>(())
//! ```

mod cli;
pub mod data;
mod inspect;
mod location;
pub mod render;
mod replay;
mod serve;
mod store;
mod strategy;
pub mod table;
mod tune;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// Exit code of an error the user can fix.
const EXIT_ERROR: u8 = 1;

/// Parses the command line, runs the command and returns the process exit code.
pub fn main_entry() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    std::panic::set_hook(Box::new(|info| {
        eprintln!(
            "error: hnswtune hit an internal error ({info}). This is a bug in hnswtune, not \
             in your input; please report it with the command you ran."
        );
    }));
    init_tracing();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return report_error(
                &anyhow::anyhow!("cannot start the async runtime: {e}"),
                json,
            );
        }
    };
    let outcome = runtime.block_on(run(cli));
    // An abandoned trial's build may still be running on a blocking thread; its result
    // is no longer wanted, so do not wait for it.
    runtime.shutdown_background();
    match outcome {
        Ok(code) => code,
        Err(e) => report_error(&e, json),
    }
}

/// Logs go to stderr, quiet unless `RUST_LOG` asks for more, coloured only when stderr
/// is a terminal (a pipe or a file gets plain text, no ANSI codes).
fn init_tracing() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Prints `error` as one paragraph: the context chain joined by ": ".
fn report_error(error: &anyhow::Error, json: bool) -> ExitCode {
    let message = error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    if json {
        println!("{}", serde_json::json!({ "error": message }));
    } else {
        eprintln!("error: {message}");
    }
    ExitCode::from(EXIT_ERROR)
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Replay(args) => {
            let json = cli.json;
            tokio::task::spawn_blocking(move || replay::run(args, json)).await??;
            Ok(ExitCode::SUCCESS)
        }
        Command::Tune(args) => tune::run(args, tune::Mode::Tune, cli.json).await,
        Command::Worker(args) => tune::run(args, tune::Mode::Worker, cli.json).await,
        Command::Report(args) => inspect::report(args, cli.json)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Status(args) => inspect::status(args, cli.json)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Promotions(args) => inspect::promotions(args, cli.json)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Rollback(args) => inspect::rollback(args, cli.json)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => serve::run(args, cli.json).await,
    }
}
