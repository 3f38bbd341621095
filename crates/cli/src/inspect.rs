//! The commands that read a store: `status`, `promotions`, `report`, and the one that
//! writes a revision without running a trial: `rollback`.

use anyhow::Context;
use chrono::{DateTime, Utc};
use hnswtune_core::{
    IndexName, LEASE_EXPIRED, Objective, Promotion, PromotionKind, Trial, TrialState,
};
use serde::Serialize;
use serde_json::json;

use crate::cli::{IndexArgs, ReportArgs, ReportFormat, RollbackArgs, StatusArgs, check_min_recall};
use crate::render::{self, Study};
use crate::store::{Store, index_name};
use crate::table::Table;

/// Counts of a history by state.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct Counts {
    /// Every trial.
    pub trials: usize,
    /// Completed with metrics.
    pub complete: usize,
    /// Failed.
    pub failed: usize,
    /// Pruned.
    pub pruned: usize,
    /// Still running (or abandoned by a worker that died).
    pub running: usize,
}

impl Counts {
    /// Counts `trials` by state.
    pub fn of(trials: &[Trial]) -> Self {
        let mut c = Counts {
            trials: trials.len(),
            ..Counts::default()
        };
        for t in trials {
            match t.state {
                TrialState::Complete => c.complete += 1,
                TrialState::Failed { .. } => c.failed += 1,
                TrialState::Pruned { .. } => c.pruned += 1,
                TrialState::Running => c.running += 1,
            }
        }
        c
    }
}

/// One line of promotion history.
pub fn promotion_kind(p: &Promotion) -> String {
    match &p.kind {
        PromotionKind::Promote => "promote".into(),
        PromotionKind::Rollback { to_revision } => format!("rollback to r{to_revision}"),
    }
}

fn promotion_table(history: &[Promotion]) -> Table {
    let mut table = Table::new([
        "rev", "kind", "trial", "params", "recall", "p50 µs", "by", "at", "note",
    ]);
    for p in history {
        let (recall, p50) = p.metrics.as_ref().map_or(("-".into(), "-".into()), |m| {
            (
                format!("{:.4}", m.recall),
                format!("{:.1}", m.search_p50_us),
            )
        });
        table.row([
            p.revision.to_string(),
            promotion_kind(p),
            p.trial_id.to_string(),
            p.params.to_string(),
            recall,
            p50,
            p.promoted_by.clone(),
            p.promoted_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            p.note.clone(),
        ]);
    }
    table
}

/// `hnswtune status`.
pub async fn status(args: StatusArgs, json_out: bool) -> anyhow::Result<()> {
    let store = Store::open(&args.store)?;
    let indexes: Vec<IndexName> = match &args.index {
        Some(name) => vec![index_name(name)?],
        None => store.indexes().await?,
    };
    let mut rows = Vec::new();
    for index in &indexes {
        let trials = store.trials(index).await?;
        let history = store.history(index).await?;
        rows.push((index.clone(), trials, history));
    }
    if json_out {
        let list: Vec<_> = rows
            .iter()
            .map(|(index, trials, history)| {
                let last = trials.last();
                json!({
                    "index": index,
                    "counts": Counts::of(trials),
                    "champion": history.last(),
                    "revisions": history.len(),
                    "last_trial": last,
                    "leases": Leases::of(trials, Utc::now()),
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "store": store.location.to_string(),
                "indexes": list,
            }))?
        );
        return Ok(());
    }
    println!("store: {}", store.location);
    if rows.is_empty() {
        println!("no index has any trial yet; run `hnswtune tune` to start a study");
        return Ok(());
    }
    let mut table = Table::new([
        "index",
        "trials",
        "complete",
        "failed",
        "running",
        "revision",
        "champion",
        "recall",
        "p50 µs",
        "last trial",
    ]);
    for (index, trials, history) in &rows {
        let c = Counts::of(trials);
        let champion = history.last();
        let (recall, p50) =
            champion
                .and_then(|p| p.metrics.as_ref())
                .map_or(("-".into(), "-".into()), |m| {
                    (
                        format!("{:.4}", m.recall),
                        format!("{:.1}", m.search_p50_us),
                    )
                });
        table.row([
            index.to_string(),
            c.trials.to_string(),
            c.complete.to_string(),
            c.failed.to_string(),
            c.running.to_string(),
            champion.map_or("-".into(), |p| p.revision.to_string()),
            champion.map_or("none".into(), |p| p.params.to_string()),
            recall,
            p50,
            trials.last().map_or("-".into(), |t| {
                t.created_at.format("%Y-%m-%d %H:%M:%S").to_string()
            }),
        ]);
    }
    print!("{table}");
    let now = Utc::now();
    let mut leases = Table::new([
        "index",
        "trial",
        "worker",
        "params",
        "age s",
        "expires in s",
    ]);
    let mut lapsed = 0;
    let mut recovered = 0;
    for (index, trials, _) in &rows {
        let l = Leases::of(trials, now);
        lapsed += l.lapsed.len();
        recovered += l.recovered;
        for t in &l.live {
            leases.row([
                index.to_string(),
                t.trial.clone(),
                t.worker.clone(),
                t.params.clone(),
                format!("{:.0}", t.age_secs),
                format!("{:.0}", t.expires_in_secs),
            ]);
        }
    }
    if leases.is_empty() {
        println!("live leases: none");
    } else {
        println!("live leases:");
        print!("{leases}");
    }
    println!(
        "stale leases recovered (trials failed with \"{LEASE_EXPIRED}\"): {recovered}; \
         lapsed and not yet recovered: {lapsed} (the next worker to read the journal ends them)"
    );
    Ok(())
}

/// A live lease, for `status`.
#[derive(Debug, Serialize)]
struct LiveLease {
    trial: String,
    worker: String,
    params: String,
    age_secs: f64,
    expires_in_secs: f64,
}

/// The leases of one index as `status` shows them.
#[derive(Debug, Serialize)]
struct Leases {
    /// Running trials under a lease that has not lapsed.
    live: Vec<LiveLease>,
    /// Running trials whose lease lapsed (their worker stopped renewing).
    lapsed: Vec<String>,
    /// Trials that failed because their lease lapsed.
    recovered: usize,
}

impl Leases {
    fn of(trials: &[Trial], now: DateTime<Utc>) -> Self {
        let secs = |d: chrono::TimeDelta| d.num_milliseconds() as f64 / 1000.0;
        Leases {
            live: trials
                .iter()
                .filter(|t| t.lease_live(now))
                .filter_map(|t| {
                    let lease = t.lease.as_ref()?;
                    Some(LiveLease {
                        trial: t.id.to_string(),
                        worker: lease.worker.clone(),
                        params: t.params.to_string(),
                        age_secs: secs(now - t.created_at),
                        expires_in_secs: secs(lease.expires_at - now),
                    })
                })
                .collect(),
            lapsed: trials
                .iter()
                .filter(|t| t.lease_lapsed(now))
                .map(|t| t.id.to_string())
                .collect(),
            recovered: trials.iter().filter(|t| t.lost_its_lease()).count(),
        }
    }
}

/// `hnswtune promotions`.
pub async fn promotions(args: IndexArgs, json_out: bool) -> anyhow::Result<()> {
    let index = index_name(&args.index)?;
    let store = Store::open(&args.store)?;
    let history = store.history(&index).await?;
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "store": store.location.to_string(),
                "index": index,
                "history": history,
            }))?
        );
        return Ok(());
    }
    if history.is_empty() {
        println!("index {index} in {} has no champion yet", store.location);
        return Ok(());
    }
    println!(
        "index {index} in {}: {} revisions, champion is revision {}",
        store.location,
        history.len(),
        history.last().map_or(0, |p| p.revision)
    );
    print!("{}", promotion_table(&history));
    Ok(())
}

/// `hnswtune rollback`.
pub async fn rollback(args: RollbackArgs, json_out: bool) -> anyhow::Result<()> {
    let index = index_name(&args.target.index)?;
    let store = Store::open(&args.target.store)?;
    let history = store.history(&index).await?;
    let current = history.last().map_or(0, |p| p.revision);
    let to = match args.to {
        Some(to) => to,
        None if current >= 2 => current - 1,
        None => anyhow::bail!(
            "index {index} in {} has {} revision(s), so there is no earlier champion to roll \
             back to.",
            store.location,
            current
        ),
    };
    if to == 0 || to > current {
        anyhow::bail!(
            "--to {to} is not a revision of index {index}: its revisions are 1 to {current}. \
             `hnswtune promotions` lists them."
        );
    }
    let promotion = store.rollback(&index, to, &args.note).await?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&promotion)?);
    } else {
        println!(
            "index {index}: revision {} makes the champion of revision {to} current again \
             (trial {}, {})",
            promotion.revision, promotion.trial_id, promotion.params
        );
    }
    Ok(())
}

/// `hnswtune report`.
pub async fn report(args: ReportArgs, json_out: bool) -> anyhow::Result<()> {
    check_min_recall(args.min_recall)?;
    let index = index_name(&args.target.index)?;
    let store = Store::open(&args.target.store)?;
    let trials = store.trials(&index).await?;
    if trials.is_empty() {
        anyhow::bail!(
            "index {index} has no trials in {}. Check --store and --index (`hnswtune status \
             --store {}` lists the indexes), or run `hnswtune tune` first.",
            store.location,
            store.location
        );
    }
    let history = store.history(&index).await?;
    let champion = history.last().map(|p| p.trial_id);
    let objective = Objective::new(args.min_recall)?;
    let study = Study {
        index: index.as_str(),
        trials: &trials,
        champion,
        objective: &objective,
    };
    let body = match args.format {
        ReportFormat::Svg => render::svg(&study)?,
        ReportFormat::Html => render::html(&study)?,
    };
    if let Some(parent) = args.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create the directory {}", parent.display()))?;
    }
    std::fs::write(&args.out, body)
        .with_context(|| format!("cannot write the report to {}", args.out.display()))?;
    let front: Vec<_> = study.front_2d().iter().map(|t| t.id).collect();
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "out": args.out,
                "format": match args.format { ReportFormat::Svg => "svg", ReportFormat::Html => "html" },
                "trials": trials.len(),
                "complete": study.completed().len(),
                "champion": champion,
                "pareto_front": front,
            }))?
        );
    } else {
        println!(
            "wrote {} ({} trials, {} complete, {} on the recall/p50 Pareto front{})",
            args.out.display(),
            trials.len(),
            study.completed().len(),
            front.len(),
            champion.map_or(String::from(", no champion yet"), |c| format!(
                ", champion {c}"
            ))
        );
    }
    Ok(())
}
