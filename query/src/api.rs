//! The JSON HTTP API: `POST /api/v1/sql` and `GET /api/v1/traces/{trace_id}`, plus trace
//! search, RED per service and the service graph (`api/span_analytics.rs`).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use lookout_model::TenantId;
use lookout_model::api::SqlRequest;
use lookout_storage::Reader;

mod span_analytics;

use crate::QueryError;
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
fn tenant_for_request(_headers: &HeaderMap) -> TenantId {
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
        .with_state(state)
}

fn finish<T: IntoResponse>(
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
