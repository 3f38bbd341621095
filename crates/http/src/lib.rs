//! HTTP routes and a live study dashboard for hnswtune.
//!
//! [`Api`] builds an axum [`Router`] over a [`TrialJournal`], a [`PromotionRegistry`]
//! and, optionally, a running agent's [`AgentHandle`]. A host nests the router in its
//! own axum app; `hnswtune serve` serves it over a store. The routes (all JSON, each
//! documented with an example answer in docs/http.md):
//!
//! | route | answers |
//! |---|---|
//! | `GET /server` | version, whether the mutating routes are on, the recall floor |
//! | `GET /indexes` | every index with trial counts and its champion |
//! | `GET /indexes/{index}/trials?since=&state=&limit=` | trials in change order, paged |
//! | `GET /indexes/{index}/champion`, `/promotions`, `/pareto` | the chain and the front |
//! | `POST /indexes/{index}/rollback` `{"revision": N}` | a rollback revision (token) |
//! | `GET /agent/status`, `GET /agent/events` | the attached agent |
//! | `POST /agent/enqueue/{index}` | a Manual trigger: 202, 404, 429 (token) |
//! | `GET /` and `/assets/{file}` | the dashboard |
//!
//! Every error is `{"error": code, "what": sentence}` with its status ([`ApiError`]):
//! the journal's `NotFound` is 404, `Conflict` 409, a transient store error 503 with
//! `Retry-After`. An index name that breaks the rule is a 400 that states the rule.
//!
//! ## Where it sits
//!
//! Beside the CLI, on top of the agent and the core's seam traits. It never names
//! object_store: any journal and registry a host implements work. No other crate
//! knows about HTTP.
//!
//! ## Why it is built this way
//!
//! - **Reads come from a cache.** The store is read at most once per refresh interval
//!   per index, and `?since=` pages by a change cursor the server keeps
//!   (see the `catalog` module), so a dashboard's polling costs the store almost
//!   nothing and the incremental route answers from memory.
//! - **Writes need a token** ([`BearerToken`], compared in constant time). Without one
//!   the mutating routes answer 403, so a server is read-only unless its host says
//!   otherwise. Every 4xx is decided before anything is written.
//! - **The dashboard ships in the binary**, charting library included, because users
//!   run it where there is no internet.
//!
//! ## Feature flags
//!
//! None. The facade's `http` feature re-exports this crate as `hnswtune::http`.
//!
//! ## Example
//!
//! ```
//! use std::sync::Arc;
//! use axum::body::Body;
//! use axum::http::{Request, StatusCode};
//! use hnswtune_http::Api;
//! use hnswtune_testkit::fakes::{MemoryJournal, MemoryRegistry};
//! use tower::ServiceExt;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let router = Api::new(Arc::new(MemoryJournal::new()), Arc::new(MemoryRegistry::new())).router();
//! let answer = router
//!     .oneshot(Request::get("/indexes/docs/champion").body(Body::empty()).unwrap())
//!     .await
//!     .unwrap();
//! // The store has no trials of "docs".
//! assert_eq!(answer.status(), StatusCode::NOT_FOUND);
//! # }
//! ```

mod auth;
mod catalog;
mod dashboard;
mod error;
mod routes;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use hnswtune_agent::AgentHandle;
use hnswtune_core::{Error, PromotionRegistry, TrialJournal};

pub use auth::{BearerToken, MIN_TOKEN_BYTES};
pub use error::{ApiError, RETRY_AFTER_SECS};

/// The default bound on a request body, in bytes.
pub const DEFAULT_MAX_BODY_BYTES: usize = 16 * 1024;

/// The default refresh interval: how old a cached read of the store may be.
pub const DEFAULT_REFRESH: Duration = Duration::from_millis(250);

/// The default and largest page of `GET /indexes/{index}/trials`.
pub const DEFAULT_PAGE_LIMIT: usize = 1000;

/// The routes' configuration; [`Api::router`] turns it into a [`Router`].
#[derive(Debug)]
pub struct Api {
    journal: Arc<dyn TrialJournal>,
    registry: Arc<dyn PromotionRegistry>,
    agent: Option<AgentHandle>,
    token: Option<BearerToken>,
    min_recall: f64,
    refresh: Duration,
    max_body_bytes: usize,
    page_limit: usize,
    actor: String,
}

/// What the handlers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) catalog: catalog::Catalog,
    pub(crate) registry: Arc<dyn PromotionRegistry>,
    pub(crate) agent: Option<AgentHandle>,
    pub(crate) token: Option<BearerToken>,
    pub(crate) min_recall: f64,
    pub(crate) refresh: Duration,
    pub(crate) page_limit: usize,
    pub(crate) actor: String,
}

impl Api {
    /// Read-only routes over `journal` and `registry`, without an agent.
    pub fn new(journal: Arc<dyn TrialJournal>, registry: Arc<dyn PromotionRegistry>) -> Self {
        Api {
            journal,
            registry,
            agent: None,
            token: None,
            min_recall: 0.95,
            refresh: DEFAULT_REFRESH,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            page_limit: DEFAULT_PAGE_LIMIT,
            actor: "hnswtune-http".into(),
        }
    }

    /// Attaches a running agent: `/agent/*` answer, and its indexes are listed.
    pub fn with_agent(mut self, agent: AgentHandle) -> Self {
        self.agent = Some(agent);
        self
    }

    /// Turns on the mutating routes (enqueue, rollback) for requests that carry `token`.
    pub fn with_token(mut self, token: BearerToken) -> Self {
        self.token = Some(token);
        self
    }

    /// The recall floor the dashboard draws (default 0.95). It must lie in (0, 1].
    pub fn with_min_recall(mut self, min_recall: f64) -> Result<Self, Error> {
        hnswtune_core::Objective::new(min_recall)?;
        self.min_recall = min_recall;
        Ok(self)
    }

    /// How old a cached read of the store may be (default [`DEFAULT_REFRESH`]). A new
    /// trial reaches clients within this interval plus their polling period.
    pub fn with_refresh(mut self, refresh: Duration) -> Self {
        self.refresh = refresh;
        self
    }

    /// The bound on request bodies (default [`DEFAULT_MAX_BODY_BYTES`]); a larger body
    /// is answered 413.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }

    /// The name written as `promoted_by` on a rollback made through the routes
    /// (default `hnswtune-http`).
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    /// The routes and the dashboard, ready to nest or serve.
    pub fn router(self) -> Router {
        let shared = Arc::new(Shared {
            catalog: catalog::Catalog::new(self.journal, self.registry.clone(), self.refresh),
            registry: self.registry,
            agent: self.agent,
            token: self.token,
            min_recall: self.min_recall,
            refresh: self.refresh,
            page_limit: self.page_limit,
            actor: self.actor,
        });
        Router::new()
            .route("/", get(dashboard::page))
            .route("/assets/{file}", get(dashboard::asset))
            .route("/server", get(routes::server))
            .route("/indexes", get(routes::indexes))
            .route("/indexes/{index}/trials", get(routes::trials))
            .route("/indexes/{index}/champion", get(routes::champion))
            .route("/indexes/{index}/promotions", get(routes::promotions))
            .route("/indexes/{index}/pareto", get(routes::pareto))
            .route("/indexes/{index}/rollback", post(routes::rollback))
            .route("/agent/status", get(routes::agent_status))
            .route("/agent/events", get(routes::agent_events))
            .route("/agent/enqueue/{index}", post(routes::enqueue))
            .fallback(routes::unknown_route)
            .method_not_allowed_fallback(routes::wrong_method)
            .layer(DefaultBodyLimit::max(self.max_body_bytes))
            .with_state(shared)
    }
}
