//! The JSON HTTP API: `POST /api/v1/sql` and `GET /api/v1/traces/{trace_id}`, plus trace
//! search, RED per service and the service graph (`api/span_analytics.rs`).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lookout_model::TenantId;
use lookout_model::api::SqlRequest;
use lookout_storage::Reader;

mod span_analytics;

use crate::QueryError;
use crate::search::{self, SearchError};
use crate::sql::{QueryConfig, run_sql};
use crate::telemetry::QueryTelemetry;
use crate::trace::get_trace;

/// What the API handlers share.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<ApiStateInner>,
}

struct ApiStateInner {
    reader: Reader,
    config: QueryConfig,
    telemetry: QueryTelemetry,
}

impl ApiState {
    /// Builds the state and registers the API's metrics.
    pub fn new(
        reader: Reader,
        config: QueryConfig,
        registry: &mut prometheus_client::registry::Registry,
    ) -> Self {
        Self {
            inner: Arc::new(ApiStateInner {
                reader,
                config,
                telemetry: QueryTelemetry::register(registry),
            }),
        }
    }
}

/// Authentication is not configured yet: every request reads the default tenant. The security
/// work replaces this one function.
pub(crate) fn tenant_for_request(_headers: &HeaderMap) -> TenantId {
    TenantId::default_tenant()
}

/// Routes of the JSON API, to be merged into the daemon's HTTP router.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .route("/api/v1/sql", post(sql_handler))
        .route("/api/v1/traces/{trace_id}", get(trace_handler))
        .route("/api/v1/traces", get(span_analytics::search_handler))
        .route("/api/v1/services", get(span_analytics::services_handler))
        .route("/api/v1/service-graph", get(span_analytics::graph_handler))
        .route("/api/v1/logs", get(logs_handler))
        .route("/api/v1/logs/histogram", get(logs_histogram_handler))
        .route("/api/v1/logs/tail", get(logs_tail_handler))
        .route("/api/v1/spans", get(spans_handler))
        .with_state(state)
}

pub(crate) fn finish<T: IntoResponse>(
    state: &ApiState,
    endpoint: &'static str,
    started: Instant,
    result: Result<T, QueryError>,
) -> Response {
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => error.status().1,
    };
    state
        .inner
        .telemetry
        .observe(endpoint, outcome, started.elapsed().as_secs_f64());
    match result {
        Ok(body) => body.into_response(),
        Err(error) => error.into_response(),
    }
}

async fn sql_handler(State(state): State<ApiState>, headers: HeaderMap, body: Bytes) -> Response {
    let started = Instant::now();
    let result = async {
        let request: SqlRequest = serde_json::from_slice(&body).map_err(|error| {
            QueryError::BadRequest(format!(
                "body must be JSON like {{\"query\": \"SELECT ...\"}}: {error}"
            ))
        })?;
        let tenant = tenant_for_request(&headers);
        run_sql(
            &state.inner.reader,
            &tenant,
            &request.query,
            &state.inner.config,
        )
        .await
        .map(axum::Json)
    }
    .await;
    finish(&state, "sql", started, result)
}

async fn trace_handler(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(trace_id): Path<String>,
) -> Response {
    let started = Instant::now();
    let tenant = tenant_for_request(&headers);
    let result = get_trace(&state.inner.reader, &tenant, &trace_id)
        .await
        .map(axum::Json);
    finish(&state, "trace", started, result)
}

fn finish_search<T: IntoResponse>(
    state: &ApiState,
    endpoint: &'static str,
    started: Instant,
    result: Result<T, SearchError>,
) -> Response {
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => error.outcome(),
    };
    state
        .inner
        .telemetry
        .observe(endpoint, outcome, started.elapsed().as_secs_f64());
    match result {
        Ok(body) => body.into_response(),
        Err(error) => error.into_response(),
    }
}

async fn logs_handler(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(params): Query<search::Params>,
) -> Response {
    let started = Instant::now();
    let tenant = tenant_for_request(&headers);
    let result = search::search_logs(&state.inner.reader, &tenant, &params)
        .await
        .map(axum::Json);
    finish_search(&state, "logs", started, result)
}

async fn spans_handler(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(params): Query<search::Params>,
) -> Response {
    let started = Instant::now();
    let tenant = tenant_for_request(&headers);
    let result = search::search_spans(&state.inner.reader, &tenant, &params)
        .await
        .map(axum::Json);
    finish_search(&state, "spans", started, result)
}

async fn logs_histogram_handler(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(params): Query<search::Params>,
) -> Response {
    let started = Instant::now();
    let tenant = tenant_for_request(&headers);
    let result = search::logs_histogram(&state.inner.reader, &tenant, &params)
        .await
        .map(axum::Json);
    finish_search(&state, "logs_histogram", started, result)
}

async fn logs_tail_handler(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Query(params): Query<search::Params>,
) -> Response {
    let query = match search::tail_query(&params) {
        Ok(query) => query,
        Err(error) => return error.into_response(),
    };
    let tenant = tenant_for_request(&headers);
    crate::search_tail::live_tail(state.inner.reader.clone(), tenant, query).into_response()
}
