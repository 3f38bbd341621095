//! `hnswtune`: tune an HNSW index on your own vectors from the command line.
//!
//! The binary is a thin user surface over the library crates: `hnswtune-harness`
//! loads and measures, `hnswtune-propose` chooses configs, `hnswtune-agent` runs the
//! study and promotes, `hnswtune-journal` keeps every trial and champion in a local
//! directory or an S3 prefix. See `docs/cli.md` for every command with example output.
//!
//! Every user mistake ends in one paragraph on stderr (or a JSON object on stdout with
//! `--json`) and a non-zero exit code: 1 for an error, 2 for a command line clap could
//! not parse, 130 when the run was interrupted with Ctrl-C. A panic is a bug; the panic
//! hook reports it in one paragraph too, without a backtrace.

mod cli;
mod location;
mod render;
mod table;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

/// Exit code of an error the user can fix.
const EXIT_ERROR: u8 = 1;

fn main() -> ExitCode {
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
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => report_error(&e, json),
    }
}

/// Logs go to stderr, quiet unless `RUST_LOG` asks for more.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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
        Command::Tune(_)
        | Command::Report(_)
        | Command::Status(_)
        | Command::Promotions(_)
        | Command::Rollback(_)
        | Command::Replay(_) => {
            anyhow::bail!(
                "this command is not built yet: it waits for the journal and agent crates"
            )
        }
    }
}
