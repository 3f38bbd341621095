//! The study report: an SVG drawn with plotters, or one self-contained HTML page.
//!
//! The left panel plots recall against p50 for every completed trial, draws the Pareto
//! front over those two axes, marks the champion and the recall floor. The right panel
//! plots each trial's p50 in creation order with the best feasible p50 so far, which is
//! how a person sees whether the study converged or needs more budget.
//!
//! The plotted front is [`hnswtune_core::pareto_front`] over (recall, p50) only: the
//! core's four-axis front also counts index bytes and build seconds, and a cached build
//! (0 build seconds) would otherwise sit on the front whatever its latency.

use std::fmt::Write as _;

use anyhow::{Context, anyhow};
use hnswtune_core::{Objective, Trial, TrialId, pareto_front};
use plotters::prelude::*;

use crate::table::{build_kind_text, state_text};

/// Legend label of the feasible trials.
pub const LABEL_FEASIBLE: &str = "trials meeting the recall floor";
/// Legend label of the infeasible trials.
pub const LABEL_INFEASIBLE: &str = "trials below the recall floor";
/// Legend label of the Pareto front.
pub const LABEL_FRONT: &str = "Pareto front (recall vs p50)";
/// Legend label of the champion.
pub const LABEL_CHAMPION: &str = "champion";
/// Legend label of each trial's p50 on the convergence panel.
pub const LABEL_EACH_P50: &str = "p50 of each trial";
/// Legend label of the best-so-far line.
pub const LABEL_BEST_SO_FAR: &str = "best feasible p50 so far";

/// The text written on the recall floor's line in the left panel.
pub fn floor_label(min_recall: f64) -> String {
    format!("recall floor {min_recall} (below: infeasible)")
}

/// What a report shows.
#[derive(Debug, Clone)]
pub struct Study<'a> {
    /// The index's name, for titles.
    pub index: &'a str,
    /// Every trial, in creation order.
    pub trials: &'a [Trial],
    /// The current champion's trial, if any.
    pub champion: Option<TrialId>,
    /// The recall floor.
    pub objective: &'a Objective,
}

impl Study<'_> {
    /// The completed trials, in creation order.
    pub fn completed(&self) -> Vec<&Trial> {
        self.trials.iter().filter(|t| t.is_complete()).collect()
    }

    /// The trials on the two-axis (recall ↑, p50 ↓) Pareto front, sorted by p50.
    pub fn front_2d(&self) -> Vec<&Trial> {
        let projected: Vec<Trial> = self
            .trials
            .iter()
            .filter(|t| t.is_complete())
            .map(|t| {
                let mut t = t.clone();
                if let Some(m) = t.metrics.as_mut() {
                    m.build_secs = 0.0;
                    m.config_build_secs = None;
                    m.index_bytes = 0;
                }
                t
            })
            .collect();
        let ids: Vec<TrialId> = pareto_front(&projected).iter().map(|t| t.id).collect();
        let mut front: Vec<&Trial> = self
            .trials
            .iter()
            .filter(|t| t.is_complete() && ids.contains(&t.id))
            .collect();
        front.sort_by(|a, b| {
            p50(a)
                .total_cmp(&p50(b))
                .then(recall(a).total_cmp(&recall(b)))
        });
        front
    }

    /// For each completed trial in order, the best feasible p50 up to and including it.
    pub fn best_so_far(&self) -> Vec<Option<f64>> {
        let mut best: Option<f64> = None;
        self.completed()
            .iter()
            .map(|t| {
                let m = t.metrics.as_ref().expect("complete");
                if self.objective.feasible(m) {
                    best = Some(best.map_or(m.search_p50_us, |b| b.min(m.search_p50_us)));
                }
                best
            })
            .collect()
    }
}

fn p50(t: &Trial) -> f64 {
    t.metrics.as_ref().map_or(f64::NAN, |m| m.search_p50_us)
}

fn recall(t: &Trial) -> f64 {
    t.metrics.as_ref().map_or(f64::NAN, |m| m.recall)
}

fn plot_err<E: std::fmt::Display>(e: E) -> anyhow::Error {
    anyhow!("drawing the plot failed: {e}")
}

/// A range around `values` with 8% padding, never empty.
fn padded(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::MAX, f64::MIN), |(l, h), v| (l.min(v), h.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let span = (hi - lo).max(hi.abs() * 0.05).max(1e-6);
    (lo - span * 0.08, hi + span * 0.08)
}

/// Renders the two panels as an SVG document.
pub fn svg(study: &Study<'_>) -> anyhow::Result<String> {
    let completed = study.completed();
    if completed.is_empty() {
        anyhow::bail!(
            "index {} has no completed trial yet, so there is nothing to plot. Run \
             `hnswtune tune` on it first.",
            study.index
        );
    }
    let front = study.front_2d();
    let min_recall = study.objective.min_recall;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1200, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let root = root
            .titled(
                &format!(
                    "hnswtune study of index {} ({} trials, {} complete)",
                    study.index,
                    study.trials.len(),
                    completed.len()
                ),
                ("sans-serif", 20),
            )
            .map_err(plot_err)?;
        let (left, right) = root.split_horizontally(640);

        let (x0, x1) = padded(completed.iter().map(|t| p50(t)));
        let (y0, y1) = padded(completed.iter().map(|t| recall(t)).chain([min_recall]));
        let (y0, y1) = (y0.max(0.0), y1.min(1.005));
        let mut chart = ChartBuilder::on(&left)
            .caption("recall vs p50 latency", ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d(x0.max(0.0)..x1, y0..y1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("search p50 (µs)")
            .y_desc("recall@k")
            .draw()
            .map_err(plot_err)?;

        // The floor: the region below it is shaded, the line is drawn in a strong colour
        // and labelled on the plot itself, not only in the legend.
        let floor = RGBColor(204, 85, 0);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0.max(0.0), y0), (x1, min_recall.max(y0))],
                floor.mix(0.07).filled(),
            )))
            .map_err(plot_err)?;
        chart
            .draw_series(LineSeries::new(
                [(x0.max(0.0), min_recall), (x1, min_recall)],
                floor.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label(format!("recall floor {min_recall}"))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], floor.stroke_width(2)));
        chart
            .draw_series(std::iter::once(Text::new(
                floor_label(min_recall),
                (x0.max(0.0) + (x1 - x0.max(0.0)) * 0.01, min_recall),
                ("sans-serif", 13).into_font().color(&floor),
            )))
            .map_err(plot_err)?;

        let feasible = |t: &&&Trial| {
            study
                .objective
                .feasible(t.metrics.as_ref().expect("complete"))
        };
        let blue = RGBColor(31, 119, 180);
        let grey = RGBColor(170, 170, 170);
        chart
            .draw_series(
                completed
                    .iter()
                    .filter(feasible)
                    .map(|t| Circle::new((p50(t), recall(t)), 4, blue.mix(0.75).filled())),
            )
            .map_err(plot_err)?
            .label(LABEL_FEASIBLE)
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, blue.filled()));
        chart
            .draw_series(
                completed
                    .iter()
                    .filter(|t| !feasible(t))
                    .map(|t| Circle::new((p50(t), recall(t)), 4, grey.stroke_width(1))),
            )
            .map_err(plot_err)?
            .label(LABEL_INFEASIBLE)
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, grey.stroke_width(1)));

        let red = RGBColor(214, 39, 40);
        chart
            .draw_series(LineSeries::new(
                front.iter().map(|t| (p50(t), recall(t))),
                red.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label(LABEL_FRONT)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], red.stroke_width(2)));

        if let Some(champion) = completed.iter().find(|t| Some(t.id) == study.champion) {
            let green = RGBColor(44, 160, 44);
            chart
                .draw_series(std::iter::once(TriangleMarker::new(
                    (p50(champion), recall(champion)),
                    9,
                    green.filled(),
                )))
                .map_err(plot_err)?
                .label(LABEL_CHAMPION)
                .legend(move |(x, y)| TriangleMarker::new((x + 8, y), 6, green.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(plot_err)?;

        let best = study.best_so_far();
        let n = completed.len();
        let (b0, b1) = padded(completed.iter().map(|t| p50(t)));
        let mut conv = ChartBuilder::on(&right)
            .caption("convergence", ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(56)
            .build_cartesian_2d(0.5..(n as f64 + 0.5), b0.max(0.0)..b1)
            .map_err(plot_err)?;
        conv.configure_mesh()
            .x_desc("completed trial")
            .y_desc("search p50 (µs)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .draw()
            .map_err(plot_err)?;
        conv.draw_series(
            completed
                .iter()
                .enumerate()
                .map(|(i, t)| Cross::new(((i + 1) as f64, p50(t)), 4, grey.stroke_width(1))),
        )
        .map_err(plot_err)?
        .label(LABEL_EACH_P50)
        .legend(move |(x, y)| Cross::new((x + 8, y), 4, grey.stroke_width(1)));
        let mut steps: Vec<(f64, f64)> = Vec::new();
        for (i, b) in best.iter().enumerate() {
            if let Some(b) = b {
                let x = (i + 1) as f64;
                if let Some(&(_, prev)) = steps.last() {
                    steps.push((x, prev));
                }
                steps.push((x, *b));
            }
        }
        if let Some(&(_, last)) = steps.last() {
            steps.push((n as f64 + 0.5, last));
        }
        conv.draw_series(LineSeries::new(steps, blue.stroke_width(2)))
            .map_err(plot_err)?
            .label(LABEL_BEST_SO_FAR)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], blue.stroke_width(2)));
        conv.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(out)
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders one self-contained HTML page: a summary, the SVG inline and the trial table.
pub fn html(study: &Study<'_>) -> anyhow::Result<String> {
    let svg = svg(study).context("rendering the plot for the HTML page")?;
    let svg_body = svg.find("<svg").map_or(svg.as_str(), |start| &svg[start..]);
    let front: Vec<TrialId> = study.front_2d().iter().map(|t| t.id).collect();
    let champion = study.trials.iter().find(|t| Some(t.id) == study.champion);
    let mut page = String::new();
    let title = format!("hnswtune study: {}", study.index);
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n\
         <style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:13px}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td.l,th.l{{text-align:left}}\
         tr.champion{{background:#e6f4e6}}tr.front td:first-child{{font-weight:bold}}</style>\n\
         </head>\n<body>\n<h1>{}</h1>\n",
        html_escape(&title),
        html_escape(&title)
    );
    let _ = writeln!(
        page,
        "<p>{} trials, {} complete. Recall floor {}. {}</p>",
        study.trials.len(),
        study.completed().len(),
        study.objective.min_recall,
        match champion {
            Some(t) => format!(
                "Champion: trial <code>{}</code> with <code>{}</code>.",
                t.id,
                html_escape(&t.params.to_string())
            ),
            None => "No champion has been promoted yet.".into(),
        }
    );
    page.push_str(svg_body);
    page.push_str(
        "\n<h2>Trials</h2>\n<table>\n<tr><th>#</th><th class=\"l\">trial</th><th class=\"l\">params</th>\
         <th class=\"l\">state</th><th>recall</th><th>p50 µs</th><th>p95 µs</th><th>build s</th>\
         <th class=\"l\">build</th><th>bytes</th><th class=\"l\">mark</th></tr>\n",
    );
    for (i, t) in study.trials.iter().enumerate() {
        let is_champion = Some(t.id) == study.champion;
        let on_front = front.contains(&t.id);
        let class = match (is_champion, on_front) {
            (true, _) => " class=\"champion\"",
            (false, true) => " class=\"front\"",
            _ => "",
        };
        let mark = match (is_champion, on_front) {
            (true, true) => "champion, Pareto front",
            (true, false) => "champion",
            (false, true) => "Pareto front",
            _ => "",
        };
        let metrics = match t.completed_metrics() {
            Some(m) => format!(
                "<td>{:.4}</td><td>{:.1}</td><td>{:.1}</td><td>{:.2}</td><td class=\"l\">{}</td><td>{}</td>",
                m.recall,
                m.search_p50_us,
                m.search_p95_us,
                m.build_cost_secs(),
                build_kind_text(m.build_kind),
                m.index_bytes
            ),
            None => {
                "<td>-</td><td>-</td><td>-</td><td>-</td><td class=\"l\">-</td><td>-</td>".into()
            }
        };
        let _ = writeln!(
            page,
            "<tr{class}><td>{}</td><td class=\"l\"><code>{}</code></td><td class=\"l\">{}</td>\
             <td class=\"l\">{}</td>{metrics}<td class=\"l\">{mark}</td></tr>",
            i + 1,
            t.id,
            html_escape(&t.params.to_string()),
            html_escape(&state_text(&t.state)),
        );
    }
    page.push_str("</table>\n</body>\n</html>\n");
    Ok(page)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use hnswtune_core::{
        DatasetFingerprint, EF_CONSTRUCTION, EF_SEARCH, IndexName, Params, TriggerReason,
    };

    pub(crate) fn trial(ef_c: i64, ef_s: i64, recall: f64, p50: f64) -> Trial {
        Trial::start(
            IndexName::new("docs").unwrap(),
            "eval",
            Params::new()
                .with(EF_CONSTRUCTION, ef_c)
                .with(EF_SEARCH, ef_s),
            DatasetFingerprint {
                vector_count: 100,
                dimension: 8,
                content_hash: "abc".into(),
            },
            TriggerReason::Study,
        )
        .complete(hnswtune_testkit::conformance::metrics(recall, p50))
    }

    pub(crate) fn sample_trials() -> Vec<Trial> {
        vec![
            trial(40, 20, 0.80, 50.0),
            trial(40, 60, 0.93, 90.0),
            trial(100, 40, 0.96, 80.0),
            trial(100, 80, 0.99, 140.0),
            trial(200, 30, 0.97, 100.0),
            trial(100, 50, 0.95, 95.0),
        ]
    }

    #[test]
    fn front_best_so_far_and_svg_series() {
        let trials = sample_trials();
        let objective = Objective::new(0.95).unwrap();
        let study = Study {
            index: "docs",
            trials: &trials,
            champion: Some(trials[2].id),
            objective: &objective,
        };
        let front: Vec<f64> = study.front_2d().iter().map(|t| p50(t)).collect();
        assert_eq!(front, vec![50.0, 80.0, 100.0, 140.0]);
        assert_eq!(
            study.best_so_far(),
            vec![None, None, Some(80.0), Some(80.0), Some(80.0), Some(80.0)]
        );
        let svg = svg(&study).unwrap();
        let doc = roxmltree::Document::parse(&svg).unwrap();
        let texts: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text().map(|t| t.trim().to_owned()))
            .collect();
        assert!(
            texts.iter().any(|t| *t == floor_label(0.95)),
            "the floor is labelled on the plot: {texts:?}"
        );
        for label in [
            LABEL_FEASIBLE,
            LABEL_INFEASIBLE,
            LABEL_FRONT,
            LABEL_CHAMPION,
            LABEL_EACH_P50,
            LABEL_BEST_SO_FAR,
        ] {
            assert!(
                texts.iter().any(|t| t == label),
                "missing {label}: {texts:?}"
            );
        }
        let circles = doc
            .descendants()
            .filter(|n| n.has_tag_name("circle"))
            .count();
        assert_eq!(
            circles,
            trials.len() + 2,
            "one per trial plus two legend marks"
        );
    }

    #[test]
    fn html_is_one_page_with_the_table() {
        let trials = sample_trials();
        let objective = Objective::new(0.95).unwrap();
        let study = Study {
            index: "docs",
            trials: &trials,
            champion: Some(trials[2].id),
            objective: &objective,
        };
        let page = html(&study).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert_eq!(page.matches("<svg").count(), 1);
        assert_eq!(page.matches("<tr").count(), trials.len() + 1);
        assert!(page.contains("class=\"champion\""));
        assert!(!page.contains("<?xml"));
    }

    #[test]
    fn nothing_to_plot_is_an_error_not_an_empty_picture() {
        let objective = Objective::new(0.95).unwrap();
        let study = Study {
            index: "docs",
            trials: &[],
            champion: None,
            objective: &objective,
        };
        assert!(
            svg(&study)
                .unwrap_err()
                .to_string()
                .contains("no completed trial")
        );
    }
}
