//! The route handlers. Each answers JSON; every failure is an [`ApiError`].

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use hnswtune_agent::{AgentHandle, TriggerEvent};
use hnswtune_core::{IndexName, Promotion, PromotionRules, TrialState};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::authorize;
use crate::catalog::Study;
use crate::{ApiError, Shared};

type Api = State<Arc<Shared>>;

/// The index named in the path, checked with the rule the CLI states.
fn index_of(path: Result<Path<String>, PathRejection>) -> Result<IndexName, ApiError> {
    let Path(raw) = path.map_err(|e| ApiError::bad_request(e.body_text()))?;
    Ok(IndexName::new(raw)?)
}

impl Shared {
    /// 404 unless the store has trials of `index` or the agent manages it.
    async fn known(&self, index: &IndexName) -> Result<(), ApiError> {
        let managed = self.agent.as_ref().is_some_and(|a| a.manages(index));
        if managed || self.catalog.names().await?.contains(index) {
            return Ok(());
        }
        Err(ApiError::not_found(format!(
            "index {index} has no trials in this store"
        )))
    }

    /// The index named in the path, if it exists, and its study.
    async fn study_of(
        &self,
        path: Result<Path<String>, PathRejection>,
    ) -> Result<(IndexName, Arc<Study>), ApiError> {
        let index = index_of(path)?;
        self.known(&index).await?;
        let study = self.catalog.study(&index).await?;
        Ok((index, study))
    }

    fn agent(&self) -> Result<&AgentHandle, ApiError> {
        self.agent.as_ref().ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "no_agent",
                "no agent is attached to this server (hnswtune serve watches a store; an \
                 embedding service attaches its agent with Api::with_agent)",
            )
        })
    }
}

/// `GET /server`: what the dashboard needs to know about this server.
pub(crate) async fn server(State(api): Api) -> Json<serde_json::Value> {
    Json(json!({
        "name": "hnswtune",
        "version": env!("CARGO_PKG_VERSION"),
        "writable": api.token.is_some(),
        "agent": api.agent.is_some(),
        "min_recall": api.min_recall,
        "refresh_ms": api.refresh.as_millis() as u64,
    }))
}

#[derive(Serialize)]
struct IndexSummary {
    index: IndexName,
    trials: usize,
    complete: usize,
    running: usize,
    failed: usize,
    champion: Option<Promotion>,
    last_activity: Option<DateTime<Utc>>,
    managed: bool,
}

/// `GET /indexes`: every index of the store and of the agent, with counts.
pub(crate) async fn indexes(State(api): Api) -> Result<Json<serde_json::Value>, ApiError> {
    let mut names = (*api.catalog.names().await?).clone();
    if let Some(agent) = &api.agent {
        names.extend(agent.indexes());
        names.sort();
        names.dedup();
    }
    let mut summaries = Vec::with_capacity(names.len());
    for index in names {
        let study = api.catalog.study(&index).await?;
        let summary = study.summary();
        summaries.push(IndexSummary {
            trials: study.trials().len(),
            complete: summary.complete,
            running: summary.running,
            failed: summary.failed,
            champion: study.champion().cloned(),
            last_activity: summary.last_activity,
            managed: api.agent.as_ref().is_some_and(|a| a.manages(&index)),
            index,
        });
    }
    Ok(Json(json!({ "indexes": summaries })))
}

/// The query of `GET /indexes/{index}/trials`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrialsQuery {
    /// The cursor: answer the trials changed after it (0, the default, is all).
    since: Option<u64>,
    /// Only trials in this state.
    state: Option<String>,
    /// At most this many trials.
    limit: Option<usize>,
}

/// The states `?state=` accepts.
const STATES: [&str; 4] = ["running", "complete", "failed", "pruned"];

fn state_name(state: &TrialState) -> &'static str {
    match state {
        TrialState::Running => "running",
        TrialState::Complete => "complete",
        TrialState::Failed { .. } => "failed",
        TrialState::Pruned { .. } => "pruned",
    }
}

/// `GET /indexes/{index}/trials?since=&state=&limit=`: trials in change order, paged.
pub(crate) async fn trials(
    State(api): Api,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<TrialsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if let Some(state) = &query.state
        && !STATES.contains(&state.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "state {state:?} is not one of {}",
            STATES.join(", ")
        )));
    }
    let limit = query.limit.unwrap_or(api.page_limit);
    if limit == 0 || limit > api.page_limit {
        return Err(ApiError::bad_request(format!(
            "limit {limit} is outside 1..={}",
            api.page_limit
        )));
    }
    let (index, study) = api.study_of(path).await?;
    let wanted = query.state.as_deref();
    let page = study.page(query.since.unwrap_or(0), limit, |t| {
        wanted.is_none_or(|s| state_name(&t.state) == s)
    });
    // Put together from each trial's JSON, made once when the trial changed.
    let head = json!({
        "epoch": api.catalog.epoch,
        "index": index,
        "more": page.more,
        "next": page.next,
        "total": study.trials().len(),
    });
    let body = crate::catalog::json_object(&head, "trials", page.trials.iter());
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `GET /indexes/{index}/champion`.
pub(crate) async fn champion(
    State(api): Api,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (index, study) = api.study_of(path).await?;
    Ok(Json(
        json!({ "index": index, "champion": study.champion() }),
    ))
}

/// `GET /indexes/{index}/promotions`: the champion chain, oldest first.
pub(crate) async fn promotions(
    State(api): Api,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let (index, study) = api.study_of(path).await?;
    Ok(Json(
        json!({ "index": index, "promotions": study.promotions }),
    ))
}

/// `GET /indexes/{index}/pareto`: the completed trials no other dominates, by p50.
pub(crate) async fn pareto(
    State(api): Api,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let (_, study) = api.study_of(path).await?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        study.pareto_body(),
    )
        .into_response())
}

/// The body of `POST /indexes/{index}/rollback`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackRequest {
    /// The revision whose champion becomes champion again.
    revision: u64,
    /// Why, for the chain's record.
    #[serde(default)]
    note: Option<String>,
}

/// The longest rollback note accepted, in bytes.
const MAX_NOTE_BYTES: usize = 1024;

fn json_body<T: for<'de> Deserialize<'de>>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_request"
        };
        ApiError::new(status, code, e.body_text())
    })?;
    let bad = |e: serde_json::Error| {
        ApiError::bad_request(format!("the body is not the JSON expected: {e}"))
    };
    // serde reads a struct from an array too; a body must be an object.
    match serde_json::from_slice(&bytes).map_err(bad)? {
        object @ serde_json::Value::Object(_) => serde_json::from_value(object).map_err(bad),
        _ => Err(ApiError::bad_request("the body must be a JSON object")),
    }
}

/// `POST /indexes/{index}/rollback` with `{"revision": N}`: needs the token.
pub(crate) async fn rollback(
    State(api): Api,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(api.token.as_ref(), &headers)?;
    let index = index_of(path)?;
    let request: RollbackRequest = json_body(body)?;
    let note = request.note.unwrap_or_default();
    if note.len() > MAX_NOTE_BYTES {
        return Err(ApiError::bad_request(format!(
            "the note is {} bytes, over the limit of {MAX_NOTE_BYTES}",
            note.len()
        )));
    }
    api.known(&index).await?;
    let promotion = api
        .registry
        .rollback(&index, request.revision, &api.actor, &note)
        .await?;
    api.catalog.invalidate(&index);
    Ok(Json(json!({ "index": index, "promotion": promotion })))
}

/// `GET /agent/status`.
pub(crate) async fn agent_status(State(api): Api) -> Result<Response, ApiError> {
    Ok(Json(api.agent()?.status()).into_response())
}

/// `GET /agent/events`: the agent's recent events, oldest first.
pub(crate) async fn agent_events(State(api): Api) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({ "events": api.agent()?.events() })))
}

/// `POST /agent/enqueue/{index}`: queues a Manual trigger; needs the token.
pub(crate) async fn enqueue(
    State(api): Api,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    authorize(api.token.as_ref(), &headers)?;
    let agent = api.agent()?;
    let index = index_of(path)?;
    let enqueued = agent.enqueue(TriggerEvent::manual(index.clone()))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "index": index, "enqueued": enqueued })),
    )
        .into_response())
}

/// Any route that does not exist.
pub(crate) async fn unknown_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("there is no route {}", uri.path()))
}

/// A route asked with a method it does not take.
pub(crate) async fn wrong_method(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not take {method}", uri.path()),
    )
}
