//! Every route, every status code and the token rules, through `tower::ServiceExt::oneshot`
//! on the testkit's in-memory journal, registry and agent.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use hnswtune_agent::{AgentConfig, AgentDeps, AgentHandle, Backends, IndexSettings};
use hnswtune_core::{
    EF_CONSTRUCTION, EF_SEARCH, IndexName, Objective, Params, PromotionRules, SearchSpace, Trial,
    TrialJournal, TriggerReason,
};
use hnswtune_http::{Api, BearerToken};
use hnswtune_testkit::fakes::{
    EvalGate, FakeEvaluator, MemoryJournal, MemoryRegistry, ScriptedProposer, analytic_metrics,
    fingerprint,
};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "test-token-0123456789";

fn name(s: &str) -> IndexName {
    IndexName::new(s).unwrap()
}

fn cfg(ef_construction: i64, ef_search: i64) -> Params {
    Params::new()
        .with(EF_CONSTRUCTION, ef_construction)
        .with(EF_SEARCH, ef_search)
}

/// A store with `n` complete trials of "docs" (ef_search 20, 30, ...) and the first
/// three promoted in turn.
struct Store {
    journal: Arc<MemoryJournal>,
    registry: Arc<MemoryRegistry>,
}

impl Store {
    async fn with_trials(n: i64) -> Store {
        let store = Store {
            journal: Arc::new(MemoryJournal::new()),
            registry: Arc::new(MemoryRegistry::new()),
        };
        for i in 0..n {
            let trial = store.add(cfg(100, 20 + 10 * i)).await;
            if i < 3 {
                let objective = Objective::new(0.5).unwrap();
                store
                    .registry
                    .promote(&trial, &objective, i as u64, "test", "")
                    .await
                    .unwrap();
            }
        }
        store
    }

    async fn add(&self, params: Params) -> Trial {
        let dataset = fingerprint(1000);
        let metrics = analytic_metrics(&params, &dataset);
        let trial = Trial::start(name("docs"), "eval", params, dataset, TriggerReason::Study)
            .complete(metrics);
        self.journal.append(&trial).await.unwrap();
        trial
    }

    /// Routes that read the store on every request.
    fn api(&self) -> Api {
        Api::new(self.journal.clone(), self.registry.clone()).with_refresh(Duration::ZERO)
    }

    /// What a 4xx must leave untouched: every entry and every revision.
    fn contents(&self) -> (Vec<Trial>, Vec<hnswtune_core::Promotion>) {
        (
            self.journal.entries(),
            self.registry.history_of(&name("docs")),
        )
    }
}

async fn call(router: &Router, request: Request<Body>) -> (StatusCode, Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, body)
}

async fn get(router: &Router, uri: &str) -> (StatusCode, Value) {
    call(router, Request::get(uri).body(Body::empty()).unwrap()).await
}

fn post(uri: &str, token: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut request = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(body.into()).unwrap()
}

fn rollback_to(revision: u64, token: Option<&str>) -> Request<Body> {
    post(
        "/indexes/docs/rollback",
        token,
        json!({ "revision": revision }).to_string(),
    )
}

fn token() -> BearerToken {
    BearerToken::new(TOKEN).unwrap()
}

/// Asserts the one error shape and returns its code.
fn error_code(status: StatusCode, body: &Value, expected: StatusCode) -> String {
    assert_eq!(status, expected, "{body}");
    assert!(
        body["what"].as_str().is_some_and(|w| !w.is_empty()),
        "{body}"
    );
    body["error"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_read_routes_answer_the_store() {
    let store = Store::with_trials(5).await;
    let router = store.api().router();

    let (status, server) = get(&router, "/server").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server["writable"], false);
    assert_eq!(server["agent"], false);

    let (status, indexes) = get(&router, "/indexes").await;
    assert_eq!(status, StatusCode::OK);
    let docs = &indexes["indexes"][0];
    assert_eq!(docs["index"], "docs");
    assert_eq!(docs["trials"], 5);
    assert_eq!(docs["complete"], 5);
    assert_eq!(docs["champion"]["revision"], 3);

    let (status, champion) = get(&router, "/indexes/docs/champion").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(champion["champion"]["params"]["ef_search"], 40);

    let (_, promotions) = get(&router, "/indexes/docs/promotions").await;
    let revisions: Vec<u64> = promotions["promotions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["revision"].as_u64().unwrap())
        .collect();
    assert_eq!(revisions, vec![1, 2, 3]);

    // In the analytic model more ef_search buys recall at a higher p50: every trial is
    // on the front, cheapest first.
    let (_, pareto) = get(&router, "/indexes/docs/pareto").await;
    let front: Vec<f64> = pareto["front"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["metrics"]["search_p50_us"].as_f64().unwrap())
        .collect();
    assert_eq!(front.len(), 5);
    assert!(front.windows(2).all(|w| w[0] <= w[1]));
}

#[tokio::test]
async fn the_dashboard_and_its_files_are_served_from_the_binary() {
    let router = Store::with_trials(0).await.api().router();
    let response = router
        .clone()
        .oneshot(Request::get("/").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.into_body().collect().await.unwrap().to_bytes();
    let page = String::from_utf8(page.to_vec()).unwrap();
    assert!(page.contains("assets/dashboard.js"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no CDN"
    );
    for file in [
        "dashboard.js",
        "dashboard.css",
        "uplot.iife.min.js",
        "uplot.min.css",
        "uplot.LICENSE",
    ] {
        let response = router
            .clone()
            .oneshot(
                Request::get(format!("/assets/{file}"))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{file}");
    }
    let (status, body) = get(&router, "/assets/../Cargo.toml").await;
    error_code(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn trials_are_paged_and_since_answers_only_what_changed() {
    let store = Store::with_trials(5).await;
    let router = store.api().router();

    let (_, first) = get(&router, "/indexes/docs/trials?limit=2").await;
    assert_eq!(first["trials"].as_array().unwrap().len(), 2);
    assert_eq!(first["more"], true);
    assert_eq!(first["total"], 5);
    let epoch = first["epoch"].as_str().unwrap().to_owned();

    let next = first["next"].as_u64().unwrap();
    let (_, rest) = get(&router, &format!("/indexes/docs/trials?since={next}")).await;
    assert_eq!(rest["trials"].as_array().unwrap().len(), 3);
    assert_eq!(rest["more"], false);
    assert_eq!(rest["epoch"], epoch.as_str());

    let next = rest["next"].as_u64().unwrap();
    let (_, none) = get(&router, &format!("/indexes/docs/trials?since={next}")).await;
    assert_eq!(none["trials"].as_array().unwrap().len(), 0);
    assert_eq!(none["next"].as_u64().unwrap(), next);

    // A trial lands (a running one, then its completion): each comes once, after next.
    let running = Trial::start(
        name("docs"),
        "eval",
        cfg(200, 50),
        fingerprint(1000),
        TriggerReason::Study,
    );
    store.journal.append(&running).await.unwrap();
    let (_, landed) = get(&router, &format!("/indexes/docs/trials?since={next}")).await;
    assert_eq!(landed["trials"][0]["id"], running.id.to_string());
    assert_eq!(landed["trials"][0]["state"], "running");
    let next = landed["next"].as_u64().unwrap();
    let metrics = analytic_metrics(&running.params, &running.dataset);
    store
        .journal
        .append(&running.clone().complete(metrics))
        .await
        .unwrap();
    let (_, done) = get(&router, &format!("/indexes/docs/trials?since={next}")).await;
    assert_eq!(done["trials"].as_array().unwrap().len(), 1);
    assert_eq!(done["trials"][0]["state"], "complete");

    let (_, running_only) = get(&router, "/indexes/docs/trials?state=running").await;
    assert_eq!(running_only["trials"].as_array().unwrap().len(), 0);
    let (_, complete) = get(&router, "/indexes/docs/trials?state=complete").await;
    assert_eq!(complete["trials"].as_array().unwrap().len(), 6);
}

#[tokio::test]
async fn bad_queries_unknown_indexes_and_bad_names_are_refused() {
    let store = Store::with_trials(2).await;
    let router = store.api().router();
    let before = store.contents();
    for uri in [
        "/indexes/docs/trials?state=done",
        "/indexes/docs/trials?since=-1",
        "/indexes/docs/trials?since=abc",
        "/indexes/docs/trials?limit=0",
        "/indexes/docs/trials?limit=1000000",
        "/indexes/docs/trials?colour=red",
    ] {
        let (status, body) = get(&router, uri).await;
        assert_eq!(
            error_code(status, &body, StatusCode::BAD_REQUEST),
            "bad_request",
            "{uri}"
        );
    }
    for uri in [
        "/indexes/..%2Fx/trials",
        "/indexes/%2e%2e%2fx/champion",
        "/indexes/%2E%2E/pareto",
        "/indexes/a%00b/promotions",
    ] {
        let (status, body) = get(&router, uri).await;
        assert_eq!(
            error_code(status, &body, StatusCode::BAD_REQUEST),
            "invalid_index_name",
            "{uri}"
        );
        assert!(
            body["what"]
                .as_str()
                .unwrap()
                .contains(hnswtune_core::INDEX_NAME_RULE),
            "the CLI's explanation: {body}"
        );
    }
    for uri in [
        "/indexes/other/trials",
        "/indexes/other/champion",
        "/indexes/../x/trials",
        "/nope",
        "/indexes/docs",
    ] {
        let (status, body) = get(&router, uri).await;
        error_code(status, &body, StatusCode::NOT_FOUND);
    }
    let (status, body) = call(
        &router,
        Request::delete("/indexes/docs/trials")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        error_code(status, &body, StatusCode::METHOD_NOT_ALLOWED),
        "method_not_allowed"
    );
    assert_eq!(store.contents(), before);
}

#[tokio::test]
async fn without_a_token_the_mutating_routes_are_off() {
    let store = Store::with_trials(3).await;
    let router = store.api().router();
    let before = store.contents();
    for request in [
        rollback_to(1, None),
        rollback_to(1, Some(TOKEN)),
        post("/agent/enqueue/docs", Some(TOKEN), Body::empty()),
    ] {
        let (status, body) = call(&router, request).await;
        assert_eq!(
            error_code(status, &body, StatusCode::FORBIDDEN),
            "forbidden"
        );
    }
    assert_eq!(store.contents(), before);
}

#[tokio::test]
async fn a_rollback_needs_the_right_token_and_a_real_revision() {
    let store = Store::with_trials(3).await;
    let router = store.api().with_token(token()).router();
    let before = store.contents();

    let (status, body) = call(&router, rollback_to(1, None)).await;
    assert_eq!(
        error_code(status, &body, StatusCode::UNAUTHORIZED),
        "unauthorized"
    );
    let (status, body) = call(&router, rollback_to(1, Some("test-token-0123456780"))).await;
    assert_eq!(
        error_code(status, &body, StatusCode::FORBIDDEN),
        "forbidden"
    );
    let (status, body) = call(&router, rollback_to(9, Some(TOKEN))).await;
    assert_eq!(
        error_code(status, &body, StatusCode::NOT_FOUND),
        "not_found"
    );
    let (status, body) = call(&router, rollback_to(3, Some(TOKEN))).await;
    assert_eq!(
        error_code(status, &body, StatusCode::BAD_REQUEST),
        "bad_request"
    );
    for bad in [
        "{\"revision\": ",
        "[1]",
        "{\"revision\": \"one\"}",
        "{\"revision\": 1, \"extra\": true}",
        "",
    ] {
        let (status, body) = call(&router, post("/indexes/docs/rollback", Some(TOKEN), bad)).await;
        assert_eq!(
            error_code(status, &body, StatusCode::BAD_REQUEST),
            "bad_request",
            "{bad:?}"
        );
    }
    let oversized = format!(
        "{{\"revision\": 1, \"note\": \"{}\"}}",
        "x".repeat(hnswtune_http::DEFAULT_MAX_BODY_BYTES)
    );
    let (status, body) = call(
        &router,
        post("/indexes/docs/rollback", Some(TOKEN), oversized),
    )
    .await;
    assert_eq!(
        error_code(status, &body, StatusCode::PAYLOAD_TOO_LARGE),
        "too_large"
    );
    let (status, body) = call(
        &router,
        post(
            "/indexes/..%2Fx/rollback",
            Some(TOKEN),
            json!({"revision": 1}).to_string(),
        ),
    )
    .await;
    error_code(status, &body, StatusCode::BAD_REQUEST);
    assert_eq!(store.contents(), before, "no 4xx changed the store");

    let (status, body) = call(&router, rollback_to(1, Some(TOKEN))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["promotion"]["revision"], 4);
    assert_eq!(body["promotion"]["kind"], "rollback");
    assert_eq!(body["promotion"]["promoted_by"], "hnswtune-http");
    let (_, champion) = get(&router, "/indexes/docs/champion").await;
    assert_eq!(champion["champion"]["revision"], 4);
    assert_eq!(champion["champion"]["params"]["ef_search"], 20);
}

#[tokio::test]
async fn store_trouble_is_503_with_retry_after_and_a_lost_race_is_409() {
    let store = Store::with_trials(3).await;
    let router = store.api().with_token(token()).router();
    store.journal.fail_next_reads(1);
    let response = router
        .clone()
        .oneshot(
            Request::get("/indexes/docs/trials")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()[header::RETRY_AFTER],
        hnswtune_http::RETRY_AFTER_SECS.to_string()
    );
    // The next request reads again and succeeds.
    let (status, _) = get(&router, "/indexes/docs/trials").await;
    assert_eq!(status, StatusCode::OK);

    store.registry.contend_next_writes(1);
    let (status, body) = call(&router, rollback_to(1, Some(TOKEN))).await;
    assert_eq!(error_code(status, &body, StatusCode::CONFLICT), "conflict");
}

#[tokio::test]
async fn agent_routes_say_when_no_agent_is_attached() {
    let router = Store::with_trials(1)
        .await
        .api()
        .with_token(token())
        .router();
    for request in [
        Request::get("/agent/status").body(Body::empty()).unwrap(),
        Request::get("/agent/events").body(Body::empty()).unwrap(),
        post("/agent/enqueue/docs", Some(TOKEN), Body::empty()),
    ] {
        let (status, body) = call(&router, request).await;
        assert_eq!(error_code(status, &body, StatusCode::NOT_FOUND), "no_agent");
    }
}

/// An agent over three indexes whose evaluations wait at `gate`, with room for one
/// pending trigger.
fn agent(gate: EvalGate) -> (AgentHandle, Store) {
    let store = Store {
        journal: Arc::new(MemoryJournal::new()),
        registry: Arc::new(MemoryRegistry::new()),
    };
    let evaluator = Arc::new(FakeEvaluator::new().with_gate(gate));
    let backends = Backends::new(store.journal.clone(), store.registry.clone(), evaluator);
    let mut deps = AgentDeps::new(backends);
    for index in ["a", "b", "c"] {
        let proposer = Arc::new(ScriptedProposer::new(vec![cfg(100, 30)]));
        deps = deps.with_index(
            IndexSettings::new(name(index), "eval", proposer)
                .with_space(SearchSpace::hnsw_fine((10, 400), (10, 200)).unwrap()),
        );
    }
    let config = AgentConfig {
        enabled: true,
        cycle_interval_secs: 86_400,
        cooldown_between_trials_secs: 0,
        queue_capacity: 1,
        ..AgentConfig::default()
    };
    (hnswtune_agent::spawn(config, deps).unwrap(), store)
}

#[tokio::test]
async fn enqueue_answers_202_404_and_429_and_status_shows_the_agent() {
    let gate = EvalGate::new();
    let (handle, store) = agent(gate.clone());
    let router = store
        .api()
        .with_agent(handle.clone())
        .with_token(token())
        .router();

    let (status, server) = get(&router, "/server").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(server["agent"], true);
    assert_eq!(server["writable"], true);

    let (status, body) = call(
        &router,
        post("/agent/enqueue/a", Some(TOKEN), Body::empty()),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["enqueued"], "queued");
    gate.wait_started().await;
    // a is being evaluated; b takes the one free place in the queue, c finds it full.
    let (status, _) = call(
        &router,
        post("/agent/enqueue/b", Some(TOKEN), Body::empty()),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = call(
        &router,
        post("/agent/enqueue/c", Some(TOKEN), Body::empty()),
    )
    .await;
    assert_eq!(
        error_code(status, &body, StatusCode::TOO_MANY_REQUESTS),
        "too_many_requests"
    );
    let (status, body) = call(
        &router,
        post("/agent/enqueue/zz", Some(TOKEN), Body::empty()),
    )
    .await;
    assert_eq!(
        error_code(status, &body, StatusCode::NOT_FOUND),
        "not_found"
    );
    let (status, body) = call(&router, post("/agent/enqueue/a", None, Body::empty())).await;
    error_code(status, &body, StatusCode::UNAUTHORIZED);

    let (status, agent_status) = get(&router, "/agent/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(agent_status["running"], true);
    assert_eq!(agent_status["current_trial"]["index"], "a");
    assert_eq!(agent_status["pending"], json!(["b"]));
    let (status, events) = get(&router, "/agent/events").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        events["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "trigger_dropped")
    );
    // The agent's indexes are listed before they have trials.
    let (_, indexes) = get(&router, "/indexes").await;
    let listed: Vec<&str> = indexes["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec!["a", "b", "c"]);

    gate.open();
    handle.stop();
    handle.stopped().await;
}
