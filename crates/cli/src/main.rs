//! `hnswtune`: tune an HNSW index on your own vectors from the command line.
//!
//! Everything lives in the `hnswtune_cli` library so that examples can reuse the
//! report; see its docs and `docs/cli.md`.

fn main() -> std::process::ExitCode {
    hnswtune_cli::main_entry()
}
