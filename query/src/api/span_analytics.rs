//! Handlers of `GET /api/v1/traces` (search), `GET /api/v1/services` (RED) and
//! `GET /api/v1/service-graph`.

use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::{ApiState, finish, tenant_for_request};
use crate::QueryError;
use crate::params::now_unix_nanos;
use crate::span_analytics::graph::{GraphQuery, service_graph};
use crate::span_analytics::red::{ServicesQuery, services};
use crate::span_analytics::search::{TraceQuery, search_traces};

type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn pairs(query: Pairs) -> Result<Vec<(String, String)>, QueryError> {
    query
        .map(|Query(pairs)| pairs)
        .map_err(|rejection| QueryError::BadRequest(format!("invalid query string: {rejection}")))
}

/// Runs `work` under the configured query time limit.
async fn limited<T>(
    state: &ApiState,
    work: impl Future<Output = Result<T, QueryError>>,
) -> Result<T, QueryError> {
    let timeout = state.inner.config.timeout;
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| QueryError::Timeout {
            timeout_secs: timeout.as_secs(),
        })?
}

pub(super) async fn search_handler(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: Pairs,
) -> Response {
    let started = Instant::now();
    let tenant = tenant_for_request(&headers);
    let result = async {
        let query = TraceQuery::from_pairs(pairs(query)?, now_unix_nanos())?;
        limited(&state, search_traces(&state.inner.reader, &tenant, &query)).await
    }
    .await
    .map(axum::Json);
    finish(&state, "trace_search", started, result)
}

pub(super) async fn services_handler(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: Pairs,
) -> Response {
    let started = Instant::now();
    let tenant = tenant_for_request(&headers);
    let result = async {
        let query = ServicesQuery::from_pairs(pairs(query)?, now_unix_nanos())?;
        limited(&state, services(&state.inner.reader, &tenant, &query)).await
    }
    .await
    .map(axum::Json);
    finish(&state, "services", started, result)
}

pub(super) async fn graph_handler(
    State(state): State<ApiState>,
    headers: HeaderMap,
    query: Pairs,
) -> Response {
    let started = Instant::now();
    let tenant = tenant_for_request(&headers);
    let result = async {
        let query = GraphQuery::from_pairs(pairs(query)?, now_unix_nanos())?;
        limited(&state, service_graph(&state.inner.reader, &tenant, &query)).await
    }
    .await
    .map(axum::Json);
    finish(&state, "service_graph", started, result)
}
