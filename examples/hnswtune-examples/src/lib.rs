//! Helpers shared by the hnswtune examples: a progress observer for studies and a
//! printer for the champion and the Pareto front.
//!
//! The examples themselves live under `examples/` of this package; run one with
//! `cargo run --release -p hnswtune-examples --example quickstart`.
//!
//! ```
//! use hnswtune_examples::format_secs;
//! assert_eq!(format_secs(75.0), "1 min 15 s");
//! ```

use std::sync::Mutex;
use std::time::Duration;

use hnswtune_agent::{Observer, StudyEvent};
use hnswtune_core::{BuildKind, Promotion, Trial, TrialId};
use indicatif::{ProgressBar, ProgressStyle};

/// Seconds as "12.3 s" or "2 min 5 s".
pub fn format_secs(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.1} s")
    } else {
        format!(
            "{} min {} s",
            (secs / 60.0) as u64,
            (secs % 60.0).round() as u64
        )
    }
}

/// A study observer that draws a progress bar and prints one line per trial.
#[derive(Debug)]
pub struct ProgressObserver {
    bar: ProgressBar,
    done: Mutex<usize>,
}

impl ProgressObserver {
    /// A progress bar over `budget` trials.
    pub fn new(budget: usize) -> Self {
        let bar = ProgressBar::new(budget as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} trials {bar:30.cyan/blue} {pos}/{len} {msg} ({elapsed})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(Duration::from_millis(150));
        ProgressObserver {
            bar,
            done: Mutex::new(0),
        }
    }

    /// Clears the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn say(&self, line: String) {
        self.bar.suspend(|| println!("{line}"));
    }
}

impl Observer for ProgressObserver {
    fn on_event(&self, event: &StudyEvent) {
        match event {
            StudyEvent::TrialStarted { trial, .. } => {
                self.bar.set_message(format!("measuring {}", trial.params));
            }
            StudyEvent::TrialFinished { trial } => {
                let mut done = self.done.lock().unwrap_or_else(|e| e.into_inner());
                *done += 1;
                self.bar.inc(1);
                let line = match trial.completed_metrics() {
                    Some(m) => format!(
                        "trial {:>3}  {:<36}  recall {:.4}  p50 {:>7.1} µs  build {:>6.2} s ({})",
                        *done,
                        trial.params.to_string(),
                        m.recall,
                        m.search_p50_us,
                        m.build_cost_secs(),
                        match m.build_kind {
                            BuildKind::Fresh => "fresh",
                            BuildKind::Cached => "cached",
                            BuildKind::Extended => "extended",
                        }
                    ),
                    None => format!("trial {:>3}  {}  {:?}", *done, trial.params, trial.state),
                };
                self.say(line);
            }
            StudyEvent::Promoted { promotion, .. } => {
                self.say(format!(
                    "           ★ promoted to champion (revision {})",
                    promotion.revision
                ));
            }
            StudyEvent::Converged { convergence, .. } => {
                self.say(format!("           converged: {}", convergence.reason));
            }
            _ => {}
        }
    }
}

/// Prints the champion and the Pareto front as a table.
pub fn print_champion_and_front(champion: Option<&Promotion>, front: &[Trial]) {
    match champion {
        Some(p) => println!(
            "champion: revision {}  {}  {}",
            p.revision,
            p.params,
            p.metrics.as_ref().map_or(String::new(), |m| format!(
                "recall {:.4}  p50 {:.1} µs  build {:.2} s",
                m.recall,
                m.search_p50_us,
                m.build_cost_secs()
            ))
        ),
        None => println!("champion: none (no trial met the recall floor)"),
    }
    let ids: Vec<TrialId> = front.iter().map(|t| t.id).collect();
    let mut sorted: Vec<&Trial> = front.iter().collect();
    sorted.sort_by(|a, b| {
        let p = |t: &Trial| t.metrics.as_ref().map_or(f64::MAX, |m| m.search_p50_us);
        p(a).total_cmp(&p(b))
    });
    println!("Pareto front (recall ↑, p50 ↓, bytes ↓, build ↓):");
    print!(
        "{}",
        hnswtune_cli::table::trial_table(sorted, champion.map(|p| p.trial_id), &ids)
    );
}
