//! Every user mistake gets one paragraph and a non-zero exit code, never a panic.

mod common;

use common::{Fixture, hnswtune, hnswtune_env, write_fvecs};

fn tune_args<'a>(f: &'a Fixture, base: &'a str, queries: &'a str) -> Vec<&'a str> {
    vec![
        "tune",
        "--base",
        base,
        "--queries",
        queries,
        "--store",
        Fixture::s(&f.store),
        "--index",
        "docs",
        "--budget",
        "1",
    ]
}

#[test]
fn a_command_line_clap_cannot_parse_exits_2() {
    let run = hnswtune(&[]);
    assert_eq!(run.code, Some(2));
    let run = hnswtune(&["tune", "--base", "x.fvecs"]);
    assert_eq!(run.code, Some(2));
    assert!(run.stderr.contains("--queries"), "{}", run.stderr);
    let run = hnswtune(&["tune", "--strategy", "bogus"]);
    assert_eq!(run.code, Some(2));
}

#[test]
fn out_of_range_numbers_are_explained() {
    let f = Fixture::new(50, 5, 8);
    let mut args = tune_args(&f, Fixture::s(&f.base), Fixture::s(&f.queries));
    args.extend(["--min-recall", "1.5"]);
    hnswtune(&args).user_error(&["--min-recall 1.5", "(0, 1]"]);
    let mut args = tune_args(&f, Fixture::s(&f.base), Fixture::s(&f.queries));
    args.extend(["--k", "0"]);
    hnswtune(&args).user_error(&["--k must be at least 1"]);
    let mut args = tune_args(&f, Fixture::s(&f.base), Fixture::s(&f.queries));
    args.extend(["--k", "51"]);
    hnswtune(&args).user_error(&["--k 51 is larger than the 50 base vectors"]);
}

#[test]
fn a_missing_file_is_named() {
    let f = Fixture::new(50, 5, 8);
    let missing = f.path("nope.fvecs");
    let args = tune_args(&f, Fixture::s(&missing), Fixture::s(&f.queries));
    hnswtune(&args).user_error(&["--base", "nope.fvecs", "does not exist"]);
    let args = tune_args(&f, Fixture::s(&f.base), Fixture::s(&missing));
    hnswtune(&args).user_error(&["--queries", "does not exist"]);
    let mut args = tune_args(&f, Fixture::s(&f.base), Fixture::s(&f.queries));
    args.extend(["--groundtruth", Fixture::s(&missing)]);
    hnswtune(&args).user_error(&["--groundtruth", "does not exist"]);
}

#[test]
fn a_malformed_fvecs_names_the_byte_offset() {
    let f = Fixture::new(50, 5, 8);
    let bad = f.path("truncated.fvecs");
    let mut bytes = std::fs::read(&f.base).unwrap();
    // Three whole rows of 4 + 8 × 4 bytes, then a dimension and 14 of the 32 bytes the
    // fourth row needs: the reader stops at the fourth row's components, byte 112.
    bytes.truncate(3 * 36 + 18);
    std::fs::write(&bad, bytes).unwrap();
    let args = tune_args(&f, Fixture::s(&bad), Fixture::s(&f.queries));
    let msg = hnswtune(&args).user_error(&["truncated.fvecs", "byte offset"]);
    assert!(
        msg.contains("byte offset 112"),
        "the offset of the broken row: {msg}"
    );

    let text = f.path("text.fvecs");
    std::fs::write(&text, "this is not a vector file\n").unwrap();
    let args = tune_args(&f, Fixture::s(&text), Fixture::s(&f.queries));
    hnswtune(&args).user_error(&["text.fvecs", "byte offset"]);
}

#[test]
fn an_unknown_extension_is_refused() {
    let f = Fixture::new(50, 5, 8);
    let csv = f.path("base.csv");
    std::fs::write(&csv, "1,2,3\n").unwrap();
    let args = tune_args(&f, Fixture::s(&csv), Fixture::s(&f.queries));
    hnswtune(&args).user_error(&["base.csv", ".fvecs"]);
}

#[test]
fn a_dimension_mismatch_names_both_files() {
    let f = Fixture::new(50, 5, 8);
    let narrow = f.path("narrow.fvecs");
    write_fvecs(&narrow, &common::clustered(5, 4, 2, 3));
    let args = tune_args(&f, Fixture::s(&f.base), Fixture::s(&narrow));
    hnswtune(&args).user_error(&["dimension mismatch", "narrow.fvecs", "base.fvecs", "4", "8"]);
}

#[test]
fn a_ground_truth_that_does_not_fit_is_refused() {
    let f = Fixture::new(50, 5, 8);
    let gt = f.path("gt.ivecs");
    common::write_ivecs(&gt, &vec![vec![0, 1, 2]; 5]);
    let mut args = tune_args(&f, Fixture::s(&f.base), Fixture::s(&f.queries));
    args.extend(["--groundtruth", Fixture::s(&gt)]);
    hnswtune(&args).user_error(&["holds 3 neighbours per query, fewer than --k 10"]);
    common::write_ivecs(&gt, &vec![(0..10).collect::<Vec<i32>>(); 4]);
    hnswtune(&args).user_error(&["4 rows but there are 5 queries"]);
    common::write_ivecs(&gt, &vec![(40..50).chain([999]).collect::<Vec<i32>>(); 5]);
    let mut args = tune_args(&f, Fixture::s(&f.base), Fixture::s(&f.queries));
    args.extend(["--groundtruth", Fixture::s(&gt), "--k", "11"]);
    hnswtune(&args).user_error(&["outside the base's 50 vectors"]);
}

#[test]
fn a_bad_s3_url_names_the_bad_part() {
    for (url, needle) in [
        ("s3://", "no bucket name"),
        ("s3://Bad_Bucket/x", "not a valid S3 bucket name"),
        ("s3://bucket/../x", "'..'"),
        ("gs://bucket/x", "scheme \"gs\""),
    ] {
        hnswtune(&["status", "--store", url]).user_error(&[needle]);
        hnswtune(&["promotions", "--store", url, "--index", "docs"]).user_error(&[needle]);
    }
}

#[test]
fn an_unreachable_store_is_one_paragraph() {
    let env = [
        ("AWS_ENDPOINT", "http://127.0.0.1:9"),
        ("AWS_ALLOW_HTTP", "true"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("HNSWTUNE_STORE_TIMEOUT_SECS", "3"),
    ];
    let started = std::time::Instant::now();
    let run = hnswtune_env(
        &[
            "status",
            "--store",
            "s3://hnswtune-test/prefix",
            "--index",
            "docs",
        ],
        &env,
    );
    run.user_error(&["s3://hnswtune-test/prefix"]);
    assert!(
        started.elapsed().as_secs() < 30,
        "the probe bounds the wait"
    );

    let f = Fixture::new(10, 2, 4);
    let file = f.path("plain-file");
    std::fs::write(&file, "x").unwrap();
    hnswtune(&["status", "--store", Fixture::s(&file)]).user_error(&["is a file, not a directory"]);
}

#[test]
fn a_bad_index_name_is_explained() {
    let f = Fixture::new(10, 2, 4);
    hnswtune(&[
        "promotions",
        "--store",
        Fixture::s(&f.store),
        "--index",
        "../etc",
    ])
    .user_error(&["--index \"../etc\"", "ASCII letters"]);
}

#[test]
fn errors_are_json_with_json() {
    let run = hnswtune(&["--json", "status", "--store", "s3://"]);
    assert_eq!(run.code, Some(1));
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert!(v["error"].as_str().unwrap().contains("no bucket name"));
}

#[test]
fn report_and_rollback_on_an_empty_study_say_what_to_do() {
    let f = Fixture::new(10, 2, 4);
    let store = Fixture::s(&f.store);
    hnswtune(&[
        "report",
        "--store",
        store,
        "--index",
        "docs",
        "--out",
        Fixture::s(&f.path("r.svg")),
    ])
    .user_error(&["has no trials", "hnswtune tune"]);
    hnswtune(&["rollback", "--store", store, "--index", "docs"])
        .user_error(&["no earlier champion"]);
}

#[test]
fn replay_refuses_a_missing_or_broken_landscape() {
    let f = Fixture::new(10, 2, 4);
    hnswtune(&["replay", "--landscape", Fixture::s(&f.path("none.jsonl"))])
        .user_error(&["does not exist"]);
    let broken = f.path("broken.jsonl");
    std::fs::write(&broken, "{\"not\": \"a trial\"}\n").unwrap();
    hnswtune(&["replay", "--landscape", Fixture::s(&broken)]).user_error(&["broken.jsonl"]);
}
