//! The success paths, run through the real binary on small generated files: a study,
//! its resumption, every inspection command, the report's structure, Ctrl-C, replay.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Fixture, hnswtune};
use serde_json::Value;

fn json(run: &common::Run) -> Value {
    serde_json::from_str(run.ok()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", run.stdout))
}

fn tune<'a>(f: &'a Fixture, budget: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "tune",
        "--base",
        Fixture::s(&f.base),
        "--queries",
        Fixture::s(&f.queries),
        "--store",
        Fixture::s(&f.store),
        "--index",
        "docs",
        "--min-recall",
        "0.8",
        "--budget",
        budget,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn a_study_runs_resumes_and_is_inspected() {
    let f = Fixture::new(300, 20, 16);
    let first = json(&hnswtune(&{
        let mut a = vec!["--json"];
        a.extend(tune(&f, "4", &[]));
        a
    }));
    assert_eq!(first["ending"], "budget");
    assert_eq!(first["trials_run"].as_array().unwrap().len(), 4);
    assert_eq!(first["total_trials"], 4);
    let champion = &first["champion"];
    assert!(champion["revision"].as_u64().unwrap() >= 1, "{first:#}");
    assert!(champion["metrics"]["recall"].as_f64().unwrap() >= 0.8);
    assert!(!first["pareto_front"].as_array().unwrap().is_empty());

    // The same command again resumes: the journal is the memory.
    let second = hnswtune(&tune(&f, "2", &[]));
    let out = second.ok();
    assert!(out.contains("resuming: 4 earlier trials"), "{out}");
    assert!(out.contains("trial   1/2"), "a live line per trial: {out}");
    assert!(out.contains("champion: revision"), "{out}");
    assert!(out.contains("Pareto front"), "{out}");
    assert!(
        out.contains(Fixture::s(&f.store)),
        "where the journal lies: {out}"
    );

    let store = Fixture::s(&f.store);
    let status = json(&hnswtune(&["--json", "status", "--store", store]));
    let docs = &status["indexes"][0];
    assert_eq!(docs["index"], "docs");
    assert_eq!(docs["counts"]["trials"], 6);
    assert_eq!(docs["counts"]["running"], 0);
    let text = hnswtune(&["status", "--store", store, "--index", "docs"]);
    assert!(text.ok().contains("docs"));

    let history = json(&hnswtune(&[
        "--json",
        "promotions",
        "--store",
        store,
        "--index",
        "docs",
    ]));
    let revisions = history["history"].as_array().unwrap().len() as u64;
    assert!(revisions >= 1);
    let text = hnswtune(&["promotions", "--store", store, "--index", "docs"]);
    assert!(text.ok().contains("promote"));

    // Rollback to the current revision or to one that does not exist is refused.
    let current = revisions.to_string();
    hnswtune(&[
        "rollback", "--store", store, "--index", "docs", "--to", &current,
    ])
    .user_error(&["already the champion"]);
    hnswtune(&[
        "rollback", "--store", store, "--index", "docs", "--to", "99",
    ])
    .user_error(&["--to 99 is not a revision"]);
    if revisions >= 2 {
        let back = json(&hnswtune(&[
            "--json", "rollback", "--store", store, "--index", "docs",
        ]));
        assert_eq!(back["revision"].as_u64(), Some(revisions + 1));
        assert_eq!(back["kind"], "rollback");
    }

    // The SVG is well-formed XML and holds every series.
    let svg_path = f.path("out/report.svg");
    let report = json(&hnswtune(&[
        "--json",
        "report",
        "--store",
        store,
        "--index",
        "docs",
        "--out",
        Fixture::s(&svg_path),
        "--min-recall",
        "0.8",
    ]));
    assert_eq!(report["trials"], 6);
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_owned()))
        .collect();
    for label in [
        "trials meeting the recall floor",
        "trials below the recall floor",
        "Pareto front (recall vs p50)",
        "champion",
        "p50 of each trial",
        "best feasible p50 so far",
        "recall floor 0.8",
    ] {
        assert!(texts.iter().any(|t| t == label), "missing series {label:?}");
    }
    let complete = report["complete"].as_u64().unwrap() as usize;
    let circles = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .count();
    assert_eq!(
        circles,
        complete + 2,
        "one marker per trial plus two legend marks"
    );
    let polylines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .count();
    assert!(
        polylines >= 3,
        "floor, front and best-so-far lines: {polylines}"
    );

    let html_path = f.path("report.html");
    hnswtune(&[
        "report",
        "--store",
        store,
        "--index",
        "docs",
        "--out",
        Fixture::s(&html_path),
        "--format",
        "html",
    ])
    .ok();
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(html.matches("<svg").count(), 1, "the plot is inline");
    assert_eq!(
        html.matches("<tr").count(),
        6 + 1,
        "one row per trial and a header"
    );
}

#[test]
fn a_ground_truth_file_is_used() {
    let f = Fixture::new(200, 10, 8);
    // Exact cosine neighbours, computed here independently of the harness.
    let norm = |v: &Vec<f32>| {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect::<Vec<f32>>()
    };
    let base: Vec<Vec<f32>> = common::clustered(200, 8, 8, 1).iter().map(norm).collect();
    let queries: Vec<Vec<f32>> = common::clustered(10, 8, 8, 2).iter().map(norm).collect();
    let truth: Vec<Vec<i32>> = queries
        .iter()
        .map(|q| {
            let mut ids: Vec<(f32, i32)> = base
                .iter()
                .enumerate()
                .map(|(i, b)| (-q.iter().zip(b).map(|(x, y)| x * y).sum::<f32>(), i as i32))
                .collect();
            ids.sort_by(|a, b| a.0.total_cmp(&b.0));
            ids.iter().take(10).map(|&(_, i)| i).collect()
        })
        .collect();
    let gt = f.path("gt.ivecs");
    common::write_ivecs(&gt, &truth);
    let run = json(&hnswtune(&{
        let mut a = vec!["--json"];
        a.extend(tune(&f, "1", &["--groundtruth", Fixture::s(&gt)]));
        a
    }));
    let recall = run["trials_run"][0]["metrics"]["recall"].as_f64().unwrap();
    assert!(
        recall > 0.9,
        "recall against the given ground truth: {recall}"
    );
}

#[test]
fn ctrl_c_leaves_the_journal_consistent_and_the_study_resumes() {
    let f = Fixture::new(400, 10, 8);
    let args = tune(&f, "200", &["--strategy", "grid"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_hnswtune"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = Instant::now();
    let mut seen = Vec::new();
    loop {
        let line = lines.next().expect("a trial line").unwrap();
        seen.push(line.clone());
        if line.starts_with("trial ") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{seen:?}");
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{seen:?} {rest:?}");
    let out = rest.join("\n");
    assert!(out.contains("stopped by Ctrl-C"), "{out}");

    let store = Fixture::s(&f.store);
    let status = json(&hnswtune(&[
        "--json", "status", "--store", store, "--index", "docs",
    ]));
    let counts = &status["indexes"][0]["counts"];
    assert_eq!(
        counts["running"], 0,
        "no trial is left looking like it runs"
    );
    let recorded = counts["trials"].as_u64().unwrap();
    assert!(recorded >= 1);

    let resumed = hnswtune(&tune(&f, "1", &["--strategy", "grid"]));
    assert!(
        resumed
            .ok()
            .contains(&format!("resuming: {recorded} earlier trials")),
        "{}",
        resumed.stdout
    );
}

#[test]
fn replay_prints_the_efficiency_table() {
    let f = Fixture::new(10, 2, 4);
    let landscape = hnswtune_propose::AnalyticLandscape::default()
        .build()
        .unwrap();
    let path = f.path("analytic.jsonl");
    landscape
        .write_jsonl(std::fs::File::create(&path).unwrap())
        .unwrap();
    let args = [
        "replay",
        "--landscape",
        Fixture::s(&path),
        "--strategy",
        "frontier,random",
        "--seeds",
        "3",
        "--budget",
        "10",
        "--min-recall",
        "0.95",
    ];
    let text = hnswtune(&args);
    let out = text.ok();
    assert!(out.contains("frontier") && out.contains("random"), "{out}");
    let mut json_args = vec!["--json"];
    json_args.extend(args);
    let table = json(&hnswtune(&json_args));
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["seeds"], 3);
}
