//! `hnswtune serve` as a user runs it: over a real store on local disk, answering raw
//! HTTP/1.1 requests (so that no client library normalises `../` away). Every bad input
//! gets its 4xx and leaves every byte of the store as it was; a good rollback then does
//! write, as the one change.

#![cfg(unix)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const TOKEN: &str = "serve-test-token-0123456789";

fn landscape() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../landscapes/minilm-20k-default.jsonl")
}

/// Every file under `dir` and its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(at) = pending.pop() {
        for entry in std::fs::read_dir(&at).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

/// The server process, killed when the test ends however it ends.
struct Server {
    child: Child,
    address: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(store: &Path, token_file: Option<&Path>) -> Server {
    serve_at(&store.display().to_string(), &[], token_file)
}

/// `serve` over the `--store` text `store`, with `env` (an S3 endpoint's variables).
fn serve_at(store: &str, env: &[(String, String)], token_file: Option<&Path>) -> Server {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hnswtune"));
    command
        .args([
            "--json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--store",
            store,
        ])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(file) = token_file {
        command.arg("--token-file").arg(file);
    }
    let mut child = command.spawn().expect("start serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line).expect(&line);
    let url = ready["listening"].as_str().unwrap();
    let address = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    Server { child, address }
}

/// Sends `request` (everything before the body) with `body`; the status and the body.
fn raw(server: &Server, head: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(&server.address).unwrap();
    let request = format!(
        "{head}\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        server.address,
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    // A server may answer an oversized body before reading it; the write may then fail.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let (status_line, rest) = response.split_once("\r\n").expect(&response);
    let status = status_line
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let body = rest
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

fn tune(store: &Path) {
    tune_at(&store.display().to_string(), &[]);
}

fn tune_at(store: &str, env: &[(String, String)]) {
    let status = Command::new(env!("CARGO_BIN_EXE_hnswtune"))
        .args(["tune", "--json", "--index", "docs", "--budget", "6"])
        .args([
            "--min-recall",
            "0.95",
            "--time-scale",
            "0",
            "--store",
            store,
        ])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .arg("--landscape")
        .arg(landscape())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
}

/// A request: its head (request line and headers) and its body.
type Request = (String, Vec<u8>);

fn rollback(revision: &str, token: Option<&str>) -> Request {
    let auth = token.map_or(String::new(), |t| format!("\r\nAuthorization: Bearer {t}"));
    (
        format!("POST /indexes/docs/rollback HTTP/1.1{auth}"),
        format!("{{\"revision\": {revision}}}").into_bytes(),
    )
}

#[test]
fn every_bad_input_is_a_4xx_and_leaves_the_store_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("study");
    tune(&store);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let server = serve(&store, Some(&token_file));
    let (status, body) = raw(&server, "GET /indexes/docs/promotions HTTP/1.1", b"");
    assert_eq!(status, 200, "{body}");
    let revisions = serde_json::from_str::<serde_json::Value>(&body).unwrap()["promotions"]
        .as_array()
        .unwrap()
        .len();
    assert!(revisions >= 2, "the study promoted at least twice");

    let before = snapshot(&store);
    let oversized = vec![b' '; 64 * 1024];
    let cases: Vec<(&str, Request, u16)> = vec![
        (
            "unknown route",
            ("GET /nothing/here HTTP/1.1".into(), vec![]),
            404,
        ),
        (
            "unknown route, POST",
            ("POST /indexes/docs/delete HTTP/1.1".into(), vec![]),
            404,
        ),
        (
            "malformed JSON",
            (
                format!("POST /indexes/docs/rollback HTTP/1.1\r\nAuthorization: Bearer {TOKEN}"),
                b"{\"revision\": 1".to_vec(),
            ),
            400,
        ),
        (
            "oversized body",
            (
                format!("POST /indexes/docs/rollback HTTP/1.1\r\nAuthorization: Bearer {TOKEN}"),
                oversized,
            ),
            413,
        ),
        (
            "../x in the path",
            ("GET /indexes/../x/trials HTTP/1.1".into(), vec![]),
            404,
        ),
        (
            "../x in a rollback path",
            (
                format!("POST /indexes/../x/rollback HTTP/1.1\r\nAuthorization: Bearer {TOKEN}"),
                b"{\"revision\": 1}".to_vec(),
            ),
            404,
        ),
        (
            "percent-encoded traversal",
            ("GET /indexes/%2e%2e%2fx/trials HTTP/1.1".into(), vec![]),
            400,
        ),
        (
            "percent-encoded traversal in a rollback",
            (
                format!(
                    "POST /indexes/%2E%2E%2Fx/rollback HTTP/1.1\r\nAuthorization: Bearer {TOKEN}"
                ),
                b"{\"revision\": 1}".to_vec(),
            ),
            400,
        ),
        ("missing token", rollback("1", None), 401),
        (
            "wrong token",
            rollback("1", Some("serve-test-token-0123456780")),
            403,
        ),
        (
            "a revision that does not exist",
            rollback("999", Some(TOKEN)),
            404,
        ),
        ("revision zero", rollback("0", Some(TOKEN)), 404),
        ("a negative revision", rollback("-1", Some(TOKEN)), 400),
    ];
    for (what, (head, body), expected) in cases {
        let (status, answer) = raw(&server, &head, &body);
        assert_eq!(status, expected, "{what}: {answer}");
        let error: serde_json::Value = serde_json::from_str(&answer).expect(&answer);
        assert!(
            error["error"].is_string() && error["what"].is_string(),
            "{what}: {answer}"
        );
        assert_eq!(snapshot(&store), before, "{what} changed the store");
    }

    // The one good write: a new revision, nothing else touched.
    let (status, answer) = raw(&server, &rollback("1", Some(TOKEN)).0, b"{\"revision\": 1}");
    assert_eq!(status, 200, "{answer}");
    let after = snapshot(&store);
    let added: Vec<&PathBuf> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    assert_eq!(added.len(), 1, "{added:?}");
    assert!(added[0].starts_with(store.join("promotions")));
    assert!(before.iter().all(|(k, v)| after.get(k) == Some(v)));
}

#[test]
fn without_a_token_file_serve_is_read_only_and_a_bad_token_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("study");
    tune(&store);
    let server = serve(&store, None);
    let before = snapshot(&store);
    let (status, answer) = raw(&server, &rollback("1", Some(TOKEN)).0, b"{\"revision\": 1}");
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("--token-file"), "{answer}");
    assert_eq!(snapshot(&store), before);
    drop(server);

    let short = dir.path().join("short-token");
    std::fs::write(&short, "abc\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_hnswtune"))
        .args(["serve", "--listen", "127.0.0.1:0", "--store"])
        .arg(&store)
        .arg("--token-file")
        .arg(&short)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--token-file") && stderr.contains("at least 16"),
        "{stderr}"
    );
}

#[test]
fn serve_answers_a_study_on_s3() {
    let Some((store, env)) = common::s3_store("serve", "routes") else {
        return;
    };
    tune_at(&store, &env);
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let server = serve_at(&store, &env, Some(&token_file));
    let json = |(status, body): (u16, String)| {
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let trials = json(raw(&server, "GET /indexes/docs/trials HTTP/1.1", b""));
    assert_eq!(trials["total"], 6);
    let promotions = json(raw(&server, "GET /indexes/docs/promotions HTTP/1.1", b""));
    let revisions = promotions["promotions"].as_array().unwrap().len();
    assert!(revisions >= 2);
    let (status, _) = raw(&server, "GET /indexes/%2e%2e%2fx/trials HTTP/1.1", b"");
    assert_eq!(status, 400);
    let (status, _) = raw(
        &server,
        &rollback("1", Some("serve-test-token-0123456780")).0,
        b"{\"revision\": 1}",
    );
    assert_eq!(status, 403);
    let rolled = json(raw(
        &server,
        &rollback("1", Some(TOKEN)).0,
        b"{\"revision\": 1}",
    ));
    assert_eq!(rolled["promotion"]["revision"], revisions as u64 + 1);
    let champion = json(raw(&server, "GET /indexes/docs/champion HTTP/1.1", b""));
    assert_eq!(champion["champion"]["kind"], "rollback");
}
