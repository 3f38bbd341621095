//! The command line: every command, flag and default, parsed with clap's derive API.
//!
//! Parsing only checks shapes (numbers are numbers, enums are known values); the
//! ranges that need a sentence of explanation (`--min-recall` in (0, 1], `--k` ≥ 1,
//! `--budget` ≥ 1) are checked here too so that a mistake is reported before any file
//! is read or any store is touched.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Tunes HNSW vector indexes and keeps them tuned.
///
/// Every trial is appended to a journal in a store (a local directory or an
/// s3://bucket/prefix URL); the journal is the study's memory, so running `tune` again
/// resumes where the last run stopped.
#[derive(Debug, Parser)]
#[command(name = "hnswtune", version, about, long_about = None)]
pub struct Cli {
    /// Print machine-readable JSON on stdout instead of tables (errors too).
    #[arg(long, global = true)]
    pub json: bool,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a tuning study on your vectors: propose, build, measure, promote.
    Tune(TuneArgs),
    /// Run as one of several workers on a shared study until it converges or is
    /// stopped (SIGTERM or Ctrl-C: the current trial finishes and its lease is
    /// released). Takes the flags of `tune`; without --budget or --time it has no trial
    /// limit, and it prints one line per event instead of progress bars.
    Worker(TuneArgs),
    /// Draw the study: recall vs p50 for every trial, the Pareto front, the champion
    /// and the best p50 so far (SVG, or one self-contained HTML page).
    Report(ReportArgs),
    /// Summarise the indexes of a store: trials, champion, last activity.
    Status(StatusArgs),
    /// List the champion history (promotions and rollbacks) of an index.
    Promotions(IndexArgs),
    /// Make an earlier champion the champion again, as a new revision.
    Rollback(RollbackArgs),
    /// Replay strategies on a recorded landscape and print their efficiency table.
    Replay(ReplayArgs),
    /// Serve the HTTP routes and a live dashboard over a store (read-only unless
    /// --token-file is given); run it beside `tune` to watch a study move.
    Serve(ServeArgs),
}

/// Where the journal and the promotions live, and which index.
#[derive(Debug, Clone, Args)]
pub struct IndexArgs {
    /// A local directory (created if missing) or an s3://bucket/prefix URL.
    #[arg(long, value_name = "DIR|s3://bucket/prefix")]
    pub store: String,

    /// The index name: ASCII letters, digits, '-', '_' and '.', at most 200 bytes.
    #[arg(long, value_name = "NAME")]
    pub index: String,
}

/// Distance metric of the vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    /// Cosine distance (vectors are normalised).
    Cosine,
    /// Euclidean distance.
    L2,
}

/// Index library the trials build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendArg {
    /// instant-distance 0.6 (the default; M fixed at 32, ef_search patched per trial).
    InstantDistance,
    /// usearch 2.26: tunable M, run-time ef_search, incremental insert. Needs a binary
    /// built with the `usearch` feature.
    Usearch,
}

impl BackendArg {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendArg::InstantDistance => "instant-distance",
            BackendArg::Usearch => "usearch",
        }
    }
}

/// The resolution of the search space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SpaceArg {
    /// Geometric ladders at the resolution a measurement shows (ef_construction steps
    /// of 1.5×, ef_search of 1.12×).
    Ladder,
    /// Every integer between the same bounds (step 1), as the seed declared it.
    Fine,
}

/// Proposal strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrategyArg {
    /// Bisects ef_search per build and skips dominated builds (the fastest to converge).
    Frontier,
    /// Simulated annealing with a shrinking neighbourhood.
    Annealing,
    /// The seed's ε-greedy perturbation of the champion.
    EpsilonGreedy,
    /// Every grid point once, coarse to fine.
    Grid,
    /// Uniform without replacement (the baseline).
    Random,
    /// Tree-structured Parzen Estimator, the sampler of Optuna (independent, 10 random
    /// startup trials).
    Tpe,
}

impl StrategyArg {
    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            StrategyArg::Frontier => "frontier",
            StrategyArg::Annealing => "annealing",
            StrategyArg::EpsilonGreedy => "epsilon-greedy",
            StrategyArg::Grid => "grid",
            StrategyArg::Random => "random",
            StrategyArg::Tpe => "tpe",
        }
    }
}

/// `hnswtune tune`.
#[derive(Debug, Clone, Args)]
pub struct TuneArgs {
    /// Base vectors: .fvecs, .bvecs or .npy (float32, C order).
    #[arg(long, value_name = "FILE", required_unless_present = "landscape")]
    pub base: Option<PathBuf>,

    /// Query vectors, same formats and dimension as the base.
    #[arg(long, value_name = "FILE", required_unless_present = "landscape")]
    pub queries: Option<PathBuf>,

    /// Exact neighbours of the queries (.ivecs). Computed by brute force when absent.
    #[arg(long, value_name = "FILE")]
    pub groundtruth: Option<PathBuf>,

    /// Rehearse instead of building: answer every trial from this recorded landscape
    /// (JSON lines of trials, such as landscapes/*.jsonl), sleeping its recorded
    /// seconds times --time-scale. For trying out several workers, leases and crashes
    /// on a store without the data or the build time.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["base", "queries", "groundtruth"])]
    pub landscape: Option<PathBuf>,

    /// With --landscape: how much of each trial's recorded time to sleep (0 for none).
    #[arg(long, default_value_t = 1.0, requires = "landscape")]
    pub time_scale: f64,

    /// Who this process is, recorded on its trials, leases and promotions. Default:
    /// host, process id and a random suffix, unique per process. Pin it (a pod or unit
    /// name) so that a restarted worker resumes its own unfinished trial.
    #[arg(long, value_name = "ID")]
    pub worker_id: Option<String>,

    /// How long a trial's lease lasts unless renewed, in seconds; it is renewed every
    /// third of that. A killed worker's trial is marked failed this long after its
    /// last renewal.
    #[arg(long, default_value_t = 60)]
    pub lease_secs: u64,

    /// Journal entries per snapshot segment. Many workers on one study read fewer
    /// objects with smaller segments: about sqrt(4 × workers) (see deploy/README.md).
    #[arg(long, default_value_t = 1000)]
    pub snapshot_every: u64,

    /// Distance metric.
    #[arg(long, value_enum, default_value = "cosine")]
    pub metric: MetricArg,

    /// The k of recall@k.
    #[arg(long, default_value_t = 10)]
    pub k: usize,

    /// The recall floor a champion must meet, in (0, 1].
    #[arg(long, default_value_t = 0.95)]
    pub min_recall: f64,

    /// How the next config is chosen.
    #[arg(long, value_enum, default_value = "frontier")]
    pub strategy: StrategyArg,

    /// The index library trials build; its capabilities shape the search space (usearch
    /// adds `m`).
    #[arg(long, value_enum, default_value = "instant-distance")]
    pub backend: BackendArg,

    /// The search space's resolution; the backend sets its bounds.
    #[arg(long, value_enum, default_value = "ladder")]
    pub space: SpaceArg,

    /// Trials to run in this invocation at most (earlier trials of the study are kept
    /// and used). Default 20, or no limit when only --time is given. The study also
    /// ends by itself when it has converged.
    #[arg(long)]
    pub budget: Option<usize>,

    /// Wall time this invocation may spend, for example 90s, 15m or 1h30m: no trial
    /// starts after it has passed (the one running finishes). With --budget, whichever
    /// ends first.
    #[arg(long, value_name = "DURATION")]
    pub time: Option<String>,

    /// Seed of the strategy and of the builds.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Build each index on one thread, so that a build is reproducible bit for bit
    /// (instant-distance). Slower: by default builds use every core.
    #[arg(long)]
    pub deterministic: bool,

    /// Build each index on every core. This is the default; the flag is kept for
    /// scripts written when it was not, and cannot be combined with --deterministic.
    #[arg(long)]
    pub parallel_builds: bool,

    /// Where the journal and the promotions live, and which index.
    #[command(flatten)]
    pub target: IndexArgs,

    /// `worker` only: another index of the store to take turns with (repeat the flag).
    /// Every index is tuned on the same --base and --queries (or --landscape); the
    /// worker runs one trial at a time, index after index, until each has converged.
    #[arg(long, value_name = "NAME")]
    pub also_index: Vec<String>,
}

/// Output format of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A standalone SVG image.
    Svg,
    /// One self-contained HTML page: the plot inline and the trial table.
    Html,
}

/// `hnswtune report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Where the journal lives, and which index.
    #[command(flatten)]
    pub target: IndexArgs,

    /// The file to write.
    #[arg(long, value_name = "FILE", default_value = "report.svg")]
    pub out: PathBuf,

    /// SVG or HTML.
    #[arg(long, value_enum, default_value = "svg")]
    pub format: ReportFormat,

    /// The recall floor that decides which trials count for "best so far".
    #[arg(long, default_value_t = 0.95)]
    pub min_recall: f64,
}

/// `hnswtune status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// A local directory or an s3://bucket/prefix URL.
    #[arg(long, value_name = "DIR|s3://bucket/prefix")]
    pub store: String,

    /// Only this index (all indexes of the store otherwise).
    #[arg(long, value_name = "NAME")]
    pub index: Option<String>,
}

/// `hnswtune rollback`.
#[derive(Debug, Clone, Args)]
pub struct RollbackArgs {
    /// Where the promotions live, and which index.
    #[command(flatten)]
    pub target: IndexArgs,

    /// The revision whose champion becomes champion again (default: the one before
    /// the current champion).
    #[arg(long, value_name = "REVISION")]
    pub to: Option<u64>,

    /// Why, kept in the promotion history.
    #[arg(long, default_value = "rollback from the hnswtune CLI")]
    pub note: String,
}

/// `hnswtune serve`.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// A local directory or an s3://bucket/prefix URL.
    #[arg(long, value_name = "DIR|s3://bucket/prefix")]
    pub store: String,

    /// The address to listen on. Loopback by default; port 0 picks a free port.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,

    /// A file holding the bearer token that enables rollback (at least 16 printable
    /// ASCII characters; a trailing newline is ignored). Without it the server is
    /// read-only.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// The recall floor the dashboard draws.
    #[arg(long, default_value_t = 0.95)]
    pub min_recall: f64,

    /// How old the server's cached read of an index may be before a request reads the
    /// store again, in milliseconds. Larger values cost fewer store requests on S3;
    /// the dashboard polls at this period too (within 250..=1000 ms), so a new trial
    /// reaches it within about twice this.
    #[arg(long, value_name = "MS", default_value_t = 250)]
    pub refresh_ms: u64,
}

/// `hnswtune replay`.
#[derive(Debug, Clone, Args)]
pub struct ReplayArgs {
    /// A recorded landscape (JSON lines of trials, as written by the journal).
    #[arg(long, value_name = "FILE")]
    pub landscape: PathBuf,

    /// The strategies to compare (repeat the flag or separate with commas).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "frontier,random"
    )]
    pub strategy: Vec<StrategyArg>,

    /// Seeds per strategy.
    #[arg(long, default_value_t = 20)]
    pub seeds: usize,

    /// Trials per replay.
    #[arg(long, default_value_t = 30)]
    pub budget: usize,

    /// Recall targets (repeat the flag or separate with commas).
    #[arg(long, value_delimiter = ',', default_value = "0.9,0.95,0.99")]
    pub min_recall: Vec<f64>,
}

/// Checks a recall floor, with a sentence a person can act on.
pub fn check_min_recall(value: f64) -> anyhow::Result<()> {
    if !(value > 0.0 && value <= 1.0) {
        anyhow::bail!(
            "--min-recall {value} is outside (0, 1]. It is the fraction of the true top-k \
             neighbours a champion must return, for example 0.95."
        );
    }
    Ok(())
}

/// The trials budget of `tune`: `--budget`, else 20 unless `--time` alone bounds the
/// run.
pub const DEFAULT_TUNE_BUDGET: usize = 20;

/// Parses `--time`, with a sentence a person can act on.
pub fn parse_time_budget(value: &str) -> anyhow::Result<std::time::Duration> {
    let hint = "It is the wall time the study may spend, written like 90s, 15m or 1h30m.";
    let parsed = humantime::parse_duration(value.trim()).map_err(|e| {
        anyhow::anyhow!("--time {value:?} cannot be read as a duration ({e}). {hint}")
    })?;
    if parsed.is_zero() {
        anyhow::bail!("--time {value:?} is zero, so no trial could start. {hint}");
    }
    Ok(parsed)
}

/// Checks that `--deterministic` and `--parallel-builds` are not both given.
pub fn check_build_threads(deterministic: bool, parallel_builds: bool) -> anyhow::Result<()> {
    if deterministic && parallel_builds {
        anyhow::bail!(
            "--deterministic and --parallel-builds contradict each other: --deterministic \
             builds on one thread so that every build is reproducible, --parallel-builds on \
             every core (the default). Give one of them."
        );
    }
    Ok(())
}

/// Checks a count that must be at least one.
pub fn check_positive(flag: &str, value: usize, hint: &str) -> anyhow::Result<()> {
    if value == 0 {
        anyhow::bail!("{flag} must be at least 1. {hint}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn tune_defaults_match_the_docs() {
        let cli = Cli::try_parse_from([
            "hnswtune",
            "tune",
            "--base",
            "b.fvecs",
            "--queries",
            "q.fvecs",
            "--store",
            "dir",
            "--index",
            "docs",
        ])
        .unwrap();
        let Command::Tune(t) = cli.command else {
            panic!("not tune")
        };
        assert_eq!((t.lease_secs, t.snapshot_every), (60, 1000));
        assert!(t.worker_id.is_none() && t.landscape.is_none() && t.also_index.is_empty());
        assert_eq!(t.k, 10);
        assert_eq!(t.min_recall, 0.95);
        assert_eq!(t.strategy, StrategyArg::Frontier);
        assert_eq!(t.metric, MetricArg::Cosine);
        assert_eq!(t.backend, BackendArg::InstantDistance);
        assert_eq!((t.budget, t.time.as_deref()), (None, None));
        assert!(
            !t.deterministic,
            "a tuning job builds on every core by default"
        );
        assert!(!cli.json);
    }

    #[test]
    fn range_checks_explain_themselves() {
        assert!(check_min_recall(0.95).is_ok());
        assert!(check_min_recall(1.0).is_ok());
        for bad in [0.0, -0.1, 1.5, f64::NAN] {
            let msg = check_min_recall(bad).unwrap_err().to_string();
            assert!(msg.contains("(0, 1]"), "{msg}");
        }
        assert!(check_positive("--k", 0, "").is_err());
        assert!(check_positive("--k", 1, "").is_ok());
    }

    #[test]
    fn time_budgets_and_thread_flags_explain_themselves() {
        assert_eq!(
            parse_time_budget("15m").unwrap(),
            std::time::Duration::from_secs(900)
        );
        assert_eq!(
            parse_time_budget("1h30m").unwrap(),
            std::time::Duration::from_secs(5400)
        );
        for bad in ["0", "0s", "soon", "", "-5m"] {
            let msg = parse_time_budget(bad).unwrap_err().to_string();
            assert!(msg.contains("--time") && msg.contains("15m"), "{msg}");
        }
        assert!(check_build_threads(true, false).is_ok());
        assert!(check_build_threads(false, true).is_ok());
        let msg = check_build_threads(true, true).unwrap_err().to_string();
        assert!(msg.contains("--deterministic") && msg.contains("--parallel-builds"));
    }
}
