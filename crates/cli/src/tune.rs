//! `hnswtune tune`: a study on the user's files, with live progress, that Ctrl-C stops
//! cleanly and a second run resumes.
//!
//! The study is the agent's [`hnswtune_agent::tune`], called one trial at a time so that
//! a first Ctrl-C lets the current trial finish and be recorded (the journal then holds
//! only finished trials), and a second Ctrl-C abandons it: the trial is recorded as
//! failed with the reason "interrupted", so the journal never keeps a trial that looks
//! like it is still running. Either way the exit code is 130 and running the same
//! command again resumes: proposals, the champion and the Pareto front are all derived
//! from the journal.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use hnswtune_agent::rules::KeepReason;
use hnswtune_agent::{AgentConfig, AgentError, Backends, IndexSettings, StudyBudget, StudyEvent};
use hnswtune_core::{
    BuildKind, DatasetFingerprint, EF_CONSTRUCTION, EF_SEARCH, Evaluator, IndexName, Objective,
    ParamKind, ParamSpec, Promotion, SearchSpace, SpaceError, Trial, TrialState, pareto_front,
};
use hnswtune_harness::backend::instant::InstantDistance;
use hnswtune_harness::{
    EvalSet, EvalStore, EvaluatorOptions, HnswEvaluator, InMemorySource, IndexBackend,
};
use hnswtune_journal::{JournalOptions, ObjectStoreBlobs};
use hnswtune_propose::{Convergence, Landscape, LandscapeEvaluator};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::cli::{
    BackendArg, DEFAULT_TUNE_BUDGET, SpaceArg, TuneArgs, check_build_threads, check_min_recall,
    check_positive, parse_time_budget,
};
use crate::data;
use crate::store::{Store, default_worker_id, index_name};
use crate::strategy;
use crate::table::{Table, build_kind_text, trial_table};

/// The index backend `arg` names, or an error that says how to get it.
fn backend(arg: BackendArg) -> anyhow::Result<Arc<dyn IndexBackend>> {
    match arg {
        BackendArg::InstantDistance => Ok(Arc::new(InstantDistance::default())),
        #[cfg(feature = "usearch")]
        BackendArg::Usearch => Ok(Arc::new(hnswtune_harness::backend::usearch::Usearch)),
        #[cfg(not(feature = "usearch"))]
        BackendArg::Usearch => anyhow::bail!(
            "this hnswtune was built without usearch; rebuild with `cargo install hnswtune-cli --features usearch` (needs a C++ compiler)"
        ),
    }
}

/// How long a worker waits after a store outage outlasted the agent's retries; it
/// doubles up to [`MAX_OUTAGE_WAIT`] while the outage lasts.
const FIRST_OUTAGE_WAIT: Duration = Duration::from_secs(1);
const MAX_OUTAGE_WAIT: Duration = Duration::from_secs(60);

/// True when `e` says the store could not be reached (after the agent's retries),
/// rather than that something is wrong with the study.
fn store_outage(e: &AgentError) -> bool {
    match e {
        AgentError::Store { .. } => true,
        AgentError::Core(core) => core.is_transient(),
        _ => false,
    }
}

/// Exit code after Ctrl-C, as a shell reports a process ended by SIGINT.
pub const EXIT_INTERRUPTED: u8 = 130;

/// A storage-safe eval-set name from the queries file and k: the same files give the
/// same name on every run, so a resumed study measures against the same set.
fn eval_set_name(queries: &Path, k: usize) -> String {
    let stem = queries
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("queries");
    let clean: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let clean = if clean.is_empty() {
        "queries".into()
    } else {
        clean
    };
    format!("{clean}-k{k}")
}

/// What the observer tracks between events.
#[derive(Debug, Default)]
struct Live {
    /// The trial being built or measured.
    current: Option<Trial>,
    /// Trials finished in this run.
    finished: usize,
}

/// Draws progress and prints one line per trial.
struct Progress {
    multi: MultiProgress,
    trials: ProgressBar,
    build: ProgressBar,
    lines: bool,
    budget: usize,
    live: Mutex<Live>,
}

impl Progress {
    fn new(budget: usize, lines: bool, bars: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if bars {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let bounded = budget != usize::MAX;
        let trials = multi.add(ProgressBar::new(if bounded { budget as u64 } else { 0 }));
        let template = if bounded {
            "trials {bar:30.cyan/blue} {pos}/{len}  elapsed {elapsed}"
        } else {
            "trials {pos}  elapsed {elapsed}"
        };
        trials.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let build = multi.add(ProgressBar::new_spinner());
        build.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        Progress {
            multi,
            trials,
            build,
            lines,
            budget,
            live: Mutex::new(Live::default()),
        }
    }

    fn say(&self, line: &str) {
        if self.lines {
            self.multi.suspend(|| println!("{line}"));
        }
    }

    fn on_event(&self, event: &StudyEvent) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            StudyEvent::TrialStarted { trial, seeded } => {
                live.current = Some((**trial).clone());
                let what = if *seeded {
                    "seeding with"
                } else {
                    "building and measuring"
                };
                self.build.set_message(format!("{what} {}", trial.params));
                self.build.enable_steady_tick(Duration::from_millis(120));
            }
            StudyEvent::TrialFinished { trial } => {
                live.current = None;
                live.finished += 1;
                self.build.disable_steady_tick();
                self.build.set_message("choosing the next config");
                self.trials.inc(1);
                self.say(&trial_line(live.finished, self.budget, trial));
            }
            StudyEvent::ChampionRevalidated { trial, regressed } => {
                live.current = None;
                let verdict = if *regressed {
                    "its recall is now below the floor; the study will look for a new one"
                } else {
                    "it still meets the floor"
                };
                self.say(&format!(
                    "      champion re-measured on the current data: {}; {verdict}",
                    metrics_text(trial)
                ));
            }
            StudyEvent::Promoted { promotion, .. } => {
                self.say(&format!(
                    "      ★ promoted: revision {} is now the champion ({})",
                    promotion.revision, promotion.params
                ));
            }
            StudyEvent::NotPromoted {
                reason, comparison, ..
            } => {
                let why = match reason {
                    KeepReason::WithinNoise => "the re-measured gain is within the noise",
                    KeepReason::BelowFloorOnRemeasure => {
                        "its recall fell below the floor when re-measured"
                    }
                    KeepReason::ComparisonFailed => "the side-by-side re-measurement failed",
                    KeepReason::Contended => {
                        "other workers promoted first at every attempt; their champion stands"
                    }
                    // Screened out before any re-measurement (infeasible, or not better
                    // than the champion's recorded metrics): the trial line says enough.
                    _ => return,
                };
                let ab = comparison.as_ref().map_or(String::new(), |ab| {
                    format!(
                        " (champion {:.1} µs vs challenger {:.1} µs, medians of the repeats)",
                        ab.champion_median_us(),
                        ab.challenger_median_us()
                    )
                });
                self.say(&format!("      not promoted: {why}{ab}"));
            }
            StudyEvent::PromotionConflict { revision, .. } => {
                self.say(&format!(
                    "      another tuner promoted revision {revision} first; re-deciding"
                ));
            }
            StudyEvent::LeaseExpired { trial } => {
                self.say(&format!(
                    "      recovered a stale lease: trial {} ({}) of worker {} is marked failed",
                    trial.id, trial.params, trial.worker
                ));
            }
            StudyEvent::ConfigTaken { params, holder, .. } => {
                self.say(&format!(
                    "      {params} is being measured by worker {holder}; choosing another config"
                ));
            }
            StudyEvent::LeaseResumed { trial } => {
                self.say(&format!(
                    "      resuming this worker's unfinished trial {} ({})",
                    trial.id, trial.params
                ));
            }
            StudyEvent::LeaseLost { trial } => {
                self.say(&format!(
                    "      lease lost: another worker marked trial {} failed before it finished;                      its result is not recorded",
                    trial.id
                ));
            }
            StudyEvent::StoreRetry { op, attempt, error } => {
                self.say(&format!("      store retry {attempt} of {op}: {error}"));
            }
            StudyEvent::Converged { convergence, .. } => {
                self.say(&format!("      converged: {}", convergence.reason));
            }
            _ => {}
        }
    }

    fn current(&self) -> Option<Trial> {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .current
            .clone()
    }

    fn finish(&self) {
        self.build.finish_and_clear();
        self.trials.finish_and_clear();
    }
}

fn metrics_text(trial: &Trial) -> String {
    match trial.completed_metrics() {
        Some(m) => format!(
            "recall {:.4}  p50 {:.1} µs  build {:.2} s ({})",
            m.recall,
            m.search_p50_us,
            m.build_cost_secs(),
            build_kind_text(m.build_kind)
        ),
        None => crate::table::state_text(&trial.state),
    }
}

fn trial_line(n: usize, budget: usize, trial: &Trial) -> String {
    let of = if budget == usize::MAX {
        String::new()
    } else {
        format!("/{budget}")
    };
    format!(
        "trial {n:>3}{of}  {:<36}  {}",
        trial.params.to_string(),
        metrics_text(trial)
    )
}

/// Listens for Ctrl-C, and on Unix for SIGTERM (what a scheduler sends to stop a
/// worker), on their own tasks so that no signal is missed between trials.
pub(crate) fn ctrl_c_channel() -> tokio::sync::mpsc::UnboundedReceiver<()> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let on_ctrl_c = tx.clone();
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            if on_ctrl_c.send(()).is_err() {
                break;
            }
        }
    });
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::spawn(async move {
            while term.recv().await.is_some() {
                if tx.send(()).is_err() {
                    break;
                }
            }
        });
    }
    #[cfg(not(unix))]
    drop(tx);
    rx
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    /// The trials budget was spent.
    Budget,
    /// The time budget was spent.
    Time,
    /// The study converged: nothing untried is expected to beat the champion by more
    /// than the noise.
    Converged,
    /// The strategy had nothing left to try.
    Exhausted,
    /// Ctrl-C after the current trial was recorded.
    Stopped,
    /// A second Ctrl-C abandoned the current trial.
    Abandoned,
}

/// Which command runs the study.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `hnswtune tune`: progress bars, a trials budget of 20 by default.
    Tune,
    /// `hnswtune worker`: one line per event, no trials limit by default.
    Worker,
}

/// What measures the trials, and how the header line describes it.
struct Measuring {
    evaluator: Arc<dyn Evaluator>,
    space: SearchSpace,
    eval_set: String,
    /// "20000 base vectors × 384 (cosine), 1000 queries, k=10", or the landscape.
    what: String,
    /// "8 threads", "1 thread (deterministic)".
    threads: String,
}

/// `hnswtune tune` and `hnswtune worker`.
pub async fn run(args: TuneArgs, mode: Mode, json_out: bool) -> anyhow::Result<ExitCode> {
    check_min_recall(args.min_recall)?;
    check_positive(
        "--k",
        args.k,
        "It is the number of neighbours recall@k counts, for example 10.",
    )?;
    if let Some(budget) = args.budget {
        check_positive(
            "--budget",
            budget,
            "It is the number of trials (index builds or re-measurements) to run now at most.",
        )?;
    }
    check_build_threads(args.deterministic, args.parallel_builds)?;
    check_lease_flags(&args)?;
    let time_budget = args.time.as_deref().map(parse_time_budget).transpose()?;
    let budget = match (args.budget, time_budget, mode) {
        (Some(n), _, _) => n,
        (None, Some(_), _) | (None, None, Mode::Worker) => usize::MAX,
        (None, None, Mode::Tune) => DEFAULT_TUNE_BUDGET,
    };
    let mut indexes = vec![index_name(&args.target.index)?];
    if !args.also_index.is_empty() && mode == Mode::Tune {
        anyhow::bail!(
            "--also-index is for `hnswtune worker`, which takes turns between several \
             indexes; `tune` studies one index: run it once per index."
        );
    }
    for name in &args.also_index {
        let name = index_name(name)?;
        if !indexes.contains(&name) {
            indexes.push(name);
        }
    }
    let options = JournalOptions::default().with_snapshot_every(args.snapshot_every);
    let store = Store::open_with(&args.target.store, options)?;
    let worker_id = args.worker_id.clone().unwrap_or_else(default_worker_id);

    let measuring = match &args.landscape {
        Some(path) => rehearsal(&args, path)?,
        None => real_data(&args, &store, &indexes).await?,
    };
    let objective = Objective::new(args.min_recall)?;
    let studies: Vec<IndexSettings> = indexes
        .iter()
        .map(|index| {
            let mut settings = IndexSettings::new(
                index.clone(),
                measuring.eval_set.clone(),
                strategy::proposer(args.strategy, args.seed),
            )
            .with_objective(objective.clone())
            .with_space(measuring.space.clone());
            settings.build_seed = args.seed;
            settings.deterministic = args.deterministic;
            settings
        })
        .collect();
    let config = AgentConfig {
        min_recall: args.min_recall,
        agent_id: worker_id.clone(),
        lease_secs: args.lease_secs,
        ..AgentConfig::default()
    };
    let backends = Backends::new(
        store.journal.clone(),
        store.registry.clone(),
        measuring.evaluator.clone(),
    )
    .with_leases(store.journal.clone());

    if !json_out {
        let names: Vec<&str> = indexes.iter().map(IndexName::as_str).collect();
        println!(
            "tuning index {}: {}, min recall {}, strategy {}, backend {}, builds on {}, \
             budget {}",
            names.join(", "),
            measuring.what,
            args.min_recall,
            args.strategy.as_str(),
            if args.landscape.is_some() {
                "landscape (rehearsal)"
            } else {
                args.backend.as_str()
            },
            measuring.threads,
            budget_text(budget, time_budget)
        );
        if mode == Mode::Worker {
            println!(
                "worker {worker_id}: leases of {} s, renewed every {} s",
                config.lease_secs,
                config.heartbeat().as_secs()
            );
        }
        for index in &indexes {
            let earlier = store.trials(index).await?;
            let earlier_champion = store.history(index).await?.pop();
            let of = if indexes.len() > 1 {
                format!(" index {index}:")
            } else {
                String::new()
            };
            let counts = crate::inspect::Counts::of(&earlier);
            if earlier.is_empty() {
                println!("journal:{of} {} (new study)", store.location);
            } else {
                println!(
                    "journal:{of} {} (resuming: {} earlier trials, {} complete{})",
                    store.location,
                    counts.trials,
                    counts.complete,
                    earlier_champion.as_ref().map_or(String::new(), |p| format!(
                        ", champion revision {} {}",
                        p.revision, p.params
                    ))
                );
            }
        }
    }

    let progress = Arc::new(Progress::new(budget, !json_out, mode == Mode::Tune));
    let observer = {
        let progress = Arc::clone(&progress);
        move |event: &StudyEvent| progress.on_event(event)
    };
    let mut interrupts = ctrl_c_channel();
    let mut stop_requested = false;
    let mut ran: Vec<Trial> = Vec::new();
    let mut promotions: Vec<Promotion> = Vec::new();
    let mut datasets: HashMap<IndexName, DatasetFingerprint> = HashMap::new();
    let started = Instant::now();
    let mut ending = Ending::Budget;
    // Per index: why its study ended, when it did (converged or exhausted).
    let mut done: HashMap<IndexName, (Ending, Option<Convergence>)> = HashMap::new();
    let mut outage_wait = FIRST_OUTAGE_WAIT;
    let mut turn = 0usize;
    while ran.len() < budget {
        if stop_requested {
            ending = Ending::Stopped;
            break;
        }
        if time_budget.is_some_and(|t| started.elapsed() >= t) {
            ending = Ending::Time;
            break;
        }
        // Take turns between the indexes whose study has not ended.
        let active: Vec<&IndexSettings> = studies
            .iter()
            .filter(|s| !done.contains_key(&s.index))
            .collect();
        let Some(settings) = active.get(turn % active.len().max(1)).copied() else {
            ending = if done.values().all(|(e, _)| *e == Ending::Exhausted) {
                Ending::Exhausted
            } else {
                Ending::Converged
            };
            break;
        };
        turn += 1;
        let index = &settings.index;
        let study = hnswtune_agent::tune(
            &config,
            &backends,
            settings,
            StudyBudget::trials(1),
            &observer,
        );
        tokio::pin!(study);
        let outcome = loop {
            tokio::select! {
                result = &mut study => break Some(result),
                Some(()) = interrupts.recv() => {
                    if stop_requested {
                        break None;
                    }
                    stop_requested = true;
                    progress.say(
                        "stop requested (Ctrl-C or SIGTERM): finishing and recording the \
                         current trial, then stopping (press Ctrl-C again to abandon it now)",
                    );
                }
            }
        };
        let Some(result) = outcome else {
            ending = Ending::Abandoned;
            break;
        };
        let result = match result {
            // A worker outlives a store outage: it says so, waits and goes on. Nothing
            // recorded is at risk (entries are create-only), and a trial whose end could
            // not be recorded keeps its lease until it lapses and is recovered.
            Err(e) if mode == Mode::Worker && !stop_requested && store_outage(&e) => {
                progress.say(&format!(
                    "      store unavailable ({e}); retrying in {} s",
                    outage_wait.as_secs()
                ));
                tokio::select! {
                    () = tokio::time::sleep(outage_wait) => {}
                    Some(()) = interrupts.recv() => stop_requested = true,
                }
                outage_wait = (outage_wait * 2).min(MAX_OUTAGE_WAIT);
                continue;
            }
            other => other,
        };
        outage_wait = FIRST_OUTAGE_WAIT;
        let report = result
            .map_err(|e| {
                progress.finish();
                anyhow::anyhow!(e)
            })
            .with_context(|| format!("the study of index {index} stopped"))?;
        ran.extend(report.trials.iter().cloned());
        promotions.extend(report.promotions.iter().cloned());
        datasets.insert(index.clone(), report.dataset.clone());
        if report.exhausted {
            done.insert(index.clone(), (Ending::Exhausted, None));
        } else if let Some(c) = report.converged.clone() {
            done.insert(index.clone(), (Ending::Converged, Some(c)));
        }
    }
    if ending == Ending::Budget && stop_requested {
        ending = Ending::Stopped;
    }
    if ending == Ending::Budget && done.len() == studies.len() {
        ending = if done.values().all(|(e, _)| *e == Ending::Exhausted) {
            Ending::Exhausted
        } else {
            Ending::Converged
        };
    }
    progress.finish();

    if ending == Ending::Abandoned
        && let Some(current) = progress.current()
    {
        let abandoned = current.fail(
            "interrupted: hnswtune was stopped (Ctrl-C or SIGTERM twice) before this trial finished",
        );
        store
            .end(&abandoned)
            .await
            .context("recording the abandoned trial as failed")?;
        ran.push(abandoned);
    }

    let elapsed = started.elapsed().as_secs_f64();
    let mut reports = Vec::new();
    for index in &indexes {
        let (all, champion) = closing_reads(&store, index, mode, &progress).await?;
        let ran_here: Vec<Trial> = ran.iter().filter(|t| &t.index == index).cloned().collect();
        let promoted_here: Vec<Promotion> = promotions
            .iter()
            .filter(|p| &p.index == index)
            .cloned()
            .collect();
        let dataset = datasets
            .get(index)
            .cloned()
            .or_else(|| ran_here.last().map(|t| t.dataset.clone()));
        let same_data: Vec<&Trial> = all
            .iter()
            .filter(|t| dataset.as_ref().is_none_or(|d| &t.dataset == d))
            .collect();
        let mut front: Vec<Trial> = pareto_front(same_data).into_iter().cloned().collect();
        front.sort_by(|a, b| {
            let p =
                |m: Option<&hnswtune_core::TrialMetrics>| m.map_or(f64::MAX, |m| m.search_p50_us);
            p(a.metrics.as_ref()).total_cmp(&p(b.metrics.as_ref()))
        });
        let (index_ending, converged) = match done.get(index) {
            Some((e, c)) => (*e, c.clone()),
            None => (ending, None),
        };
        if json_out {
            reports.push(json!({
                "index": index,
                "store": store.location.to_string(),
                "ending": format!("{index_ending:?}").to_lowercase(),
                "converged": converged,
                "budget": {
                    "trials": (budget != usize::MAX).then_some(budget),
                    "time_secs": time_budget.map(|t| t.as_secs_f64()),
                },
                "fresh_builds": fresh_builds(&ran_here),
                "elapsed_secs": elapsed,
                "trials_run": ran_here,
                "promotions": promoted_here,
                "champion": champion,
                "pareto_front": front,
                "total_trials": all.len(),
            }));
        } else {
            print_summary(&SummaryView {
                store: &store,
                index: index.as_str(),
                ran: &ran_here,
                promotions: &promoted_here,
                champion: champion.as_ref(),
                front: &front,
                all: &all,
                ending: index_ending,
                converged: converged.as_ref(),
                elapsed,
            });
        }
    }
    if json_out {
        // One index: its report, as `tune` has always printed. Several: one per index.
        let out = if reports.len() == 1 {
            reports.remove(0)
        } else {
            json!({ "indexes": reports })
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
    }
    Ok(match ending {
        Ending::Budget | Ending::Time | Ending::Converged | Ending::Exhausted => ExitCode::SUCCESS,
        Ending::Stopped | Ending::Abandoned => ExitCode::from(EXIT_INTERRUPTED),
    })
}

/// The trials and the champion of `index` at the end of a run; a worker waits out a
/// store outage here too.
async fn closing_reads(
    store: &Store,
    index: &IndexName,
    mode: Mode,
    progress: &Progress,
) -> anyhow::Result<(hnswtune_core::Trials, Option<Promotion>)> {
    let patience = if mode == Mode::Worker { 8 } else { 1 };
    let mut wait = FIRST_OUTAGE_WAIT;
    let mut attempt = 1;
    loop {
        let read = async {
            let all = store.trials(index).await?;
            let champion = store.history(index).await?.pop();
            anyhow::Ok((all, champion))
        };
        match read.await {
            Ok(read) => return Ok(read),
            Err(e) if attempt < patience => {
                progress.say(&format!(
                    "      store unavailable ({e}); retrying in {} s",
                    wait.as_secs()
                ));
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_OUTAGE_WAIT);
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Checks the lease and snapshot flags, with sentences a person can act on.
fn check_lease_flags(args: &TuneArgs) -> anyhow::Result<()> {
    if args.lease_secs < 3 {
        anyhow::bail!(
            "--lease-secs {} is too short: a lease is renewed every third of it, so it must \
             be at least 3 seconds (60 is the default).",
            args.lease_secs
        );
    }
    if let Some(id) = &args.worker_id
        && (id.trim().is_empty() || id.chars().any(char::is_control))
    {
        anyhow::bail!(
            "--worker-id {id:?} cannot be used: it must be non-empty printable text, such as \
             a pod or unit name."
        );
    }
    if !(args.time_scale.is_finite() && args.time_scale >= 0.0) {
        anyhow::bail!(
            "--time-scale {} must be a number of at least 0: the share of each recorded \
             trial's seconds to sleep (0 for none, 1 for real time).",
            args.time_scale
        );
    }
    Ok(())
}

/// Trials measured on the user's vectors with a real index library.
async fn real_data(
    args: &TuneArgs,
    store: &Store,
    indexes: &[IndexName],
) -> anyhow::Result<Measuring> {
    let metric = data::metric(args.metric);
    let (Some(base_path), Some(queries_path)) = (args.base.clone(), args.queries.clone()) else {
        anyhow::bail!("--base and --queries are required (or --landscape for a rehearsal)");
    };
    let (gt_path, k) = (args.groundtruth.clone(), args.k);
    let eval_set = eval_set_name(&queries_path, args.k);
    let loaded = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let base = data::load_vectors(&base_path, "--base", "base vectors", metric)?;
        let queries = data::load_vectors(&queries_path, "--queries", "query vectors", metric)?;
        data::check_dimensions(&base, &base_path, &queries, &queries_path)?;
        if k > base.len() {
            anyhow::bail!(
                "--k {k} is larger than the {} base vectors in {}: recall@k needs at least k \
                 vectors to find.",
                base.len(),
                base_path.display()
            );
        }
        let truth = gt_path
            .as_deref()
            .map(|p| data::load_ground_truth(p, &base, &queries, k))
            .transpose()?;
        Ok((base, queries, truth))
    })
    .await
    .context("loading the vectors was interrupted")??;
    let (base, queries, truth) = loaded;
    let (base_len, dim, query_len) = (base.len(), base.dim(), queries.len());

    let eval_store = EvalStore::new(Arc::new(ObjectStoreBlobs::new(
        store.journal_location.clone(),
    )));
    let base = Arc::new(base);
    if let Some(truth) = truth {
        // The blob seam blocks until the store answers: off the async threads.
        let (blobs, name, on) = (eval_store.clone(), eval_set.clone(), Arc::clone(&base));
        tokio::task::spawn_blocking(move || blobs.put_ground_truth(&name, &on, &truth))
            .await
            .context("saving the ground truth was interrupted")?
            .with_context(|| {
                format!(
                    "cannot save the ground truth in the store {}",
                    store.location
                )
            })?;
    }
    let source = Arc::new(InMemorySource::new());
    for index in indexes {
        source.insert(index, Arc::clone(&base));
    }
    let options = EvaluatorOptions {
        threads: if args.deterministic {
            1
        } else {
            EvaluatorOptions::default().threads
        },
        ..EvaluatorOptions::default()
    };
    let index_backend = backend(args.backend)?;
    let space = index_backend
        .search_space()
        .context("the backend's search space is invalid")?;
    let space = match args.space {
        SpaceArg::Ladder => space,
        SpaceArg::Fine => fine(&space).context("the fine search space is invalid")?,
    };
    let evaluator =
        HnswEvaluator::with_options(index_backend, source, options).with_store(eval_store);
    evaluator.add_eval_set(
        EvalSet::new(eval_set.clone(), queries, args.k, None)
            .context("the eval set cannot be built")?,
    );
    Ok(Measuring {
        evaluator: Arc::new(evaluator),
        space,
        eval_set,
        what: format!(
            "{base_len} base vectors × {dim} ({}), {query_len} queries, k={}",
            metric.as_str(),
            args.k
        ),
        threads: if args.deterministic {
            "1 thread (deterministic)".to_string()
        } else {
            format!("{} threads", options.threads)
        },
    })
}

/// Trials answered from a recorded landscape (`--landscape`): no data, no builds.
fn rehearsal(args: &TuneArgs, path: &Path) -> anyhow::Result<Measuring> {
    if !path.exists() {
        anyhow::bail!(
            "--landscape {} does not exist. A landscape is a JSON-lines file of recorded \
             trials, such as the ones under landscapes/.",
            path.display()
        );
    }
    let landscape = Landscape::load(path)
        .with_context(|| format!("cannot use the landscape {}", path.display()))?;
    let space = landscape.space().clone();
    let what = format!(
        "rehearsal on the landscape {} ({} configs, {} builds, time scale {})",
        path.display(),
        landscape.configs().count(),
        landscape.build_count(),
        args.time_scale
    );
    Ok(Measuring {
        evaluator: Arc::new(LandscapeEvaluator::new(
            Arc::new(landscape),
            args.time_scale,
            args.seed ^ std::process::id() as u64,
        )),
        space,
        eval_set: "landscape".into(),
        what,
        threads: "no threads (recorded)".into(),
    })
}

struct SummaryView<'a> {
    store: &'a Store,
    index: &'a str,
    ran: &'a [Trial],
    promotions: &'a [Promotion],
    champion: Option<&'a Promotion>,
    front: &'a [Trial],
    all: &'a [Trial],
    ending: Ending,
    converged: Option<&'a Convergence>,
    elapsed: f64,
}

/// `space` with its `ef_construction` and `ef_search` ladders replaced by every integer
/// between the same bounds (log scale), the other parameters unchanged.
fn fine(space: &SearchSpace) -> Result<SearchSpace, SpaceError> {
    let specs = space
        .specs()
        .iter()
        .map(|spec| match &spec.kind {
            ParamKind::Levels { values }
                if [EF_CONSTRUCTION, EF_SEARCH].contains(&spec.name.as_str()) =>
            {
                let (low, high) = (values[0], values[values.len() - 1]);
                ParamSpec::int(spec.name.clone(), low, high, 1, spec.phase)
                    .log_scale()
                    .with_default(spec.default.clone())
            }
            _ => spec.clone(),
        })
        .collect();
    SearchSpace::new(specs)
}

/// How the budget reads in the header line.
fn budget_text(trials: usize, time: Option<Duration>) -> String {
    let time = time.map(|t| humantime::format_duration(t).to_string());
    match (trials != usize::MAX, time) {
        (true, Some(t)) => format!("{trials} trials or {t}"),
        (true, None) => format!("{trials} trials"),
        (false, Some(t)) => t,
        (false, None) => "unbounded".into(),
    }
}

/// Trials of `ran` that built an index from scratch.
fn fresh_builds(ran: &[Trial]) -> usize {
    ran.iter()
        .filter_map(|t| t.completed_metrics())
        .filter(|m| m.build_kind == BuildKind::Fresh)
        .count()
}

fn print_summary(v: &SummaryView<'_>) {
    let failed = v
        .ran
        .iter()
        .filter(|t| matches!(t.state, TrialState::Failed { .. }))
        .count();
    println!();
    let converged_why;
    let why = match v.ending {
        Ending::Budget => "the trials budget is spent",
        Ending::Time => "the time budget is spent",
        Ending::Converged => {
            converged_why = match v.converged {
                Some(c) => format!(
                    "the study has converged (measured noise {:.0}%)",
                    c.tolerance * 100.0
                ),
                None => "the study has converged".to_owned(),
            };
            converged_why.as_str()
        }
        Ending::Exhausted => "the strategy has tried every config of the space",
        Ending::Stopped => "stopped by Ctrl-C after the current trial",
        Ending::Abandoned => "stopped by Ctrl-C; the unfinished trial is recorded as failed",
    };
    println!(
        "ran {} trials in {:.1} s ({} fresh builds, {failed} failed, {} promotions): {why}",
        v.ran.len(),
        v.elapsed,
        fresh_builds(v.ran),
        v.promotions.len()
    );
    match v.champion {
        Some(p) => {
            let m = p.metrics.as_ref();
            println!(
                "champion: revision {}, trial {}, {}{}",
                p.revision,
                p.trial_id,
                p.params,
                m.map_or(String::new(), |m| format!(
                    "  recall {:.4}  p50 {:.1} µs  p95 {:.1} µs  build {:.2} s  {:.1} MiB",
                    m.recall,
                    m.search_p50_us,
                    m.search_p95_us,
                    m.build_cost_secs(),
                    m.index_bytes as f64 / (1024.0 * 1024.0)
                ))
            );
        }
        None => println!(
            "champion: none yet. No trial met the recall floor; raise --budget, or lower \
             --min-recall if the floor cannot be met."
        ),
    }
    if !v.front.is_empty() {
        let ids: Vec<_> = v.front.iter().map(|t| t.id).collect();
        println!(
            "Pareto front (recall ↑, p50 ↓, bytes ↓, build ↓) over the {} trials on this data:",
            v.all.iter().filter(|t| t.is_complete()).count()
        );
        print!(
            "{}",
            trial_table(v.front, v.champion.map(|p| p.trial_id), &ids)
        );
    }
    let mut journal = Table::new(["journal", "trials", "index"]);
    journal.row([
        v.store.location.to_string(),
        v.all.len().to_string(),
        v.index.to_string(),
    ]);
    print!("{journal}");
    println!(
        "plot it: hnswtune report --store {} --index {} --out report.svg",
        v.store.location, v.index
    );
}
