//! The SLO endpoints of the JSON API: `GET /api/v1/slos`, `GET /api/v1/slos/{id}`,
//! `GET /api/v1/slos/{id}/backtest` and `GET /api/v1/slos/{id}/bad-events`.
//!
//! Times are RFC 3339 or Unix seconds; steps are durations (`60s`, `5m`, `1h`) or seconds,
//! as in Prometheus' HTTP API: both parsed by [`crate::params`], as for every endpoint.

use std::collections::HashMap;
use std::time::Instant;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use lookout_model::slo::SloId;

use super::SloEngine;
use super::evidence::bad_events;
use crate::QueryError;
use crate::api::{ApiState, finish, tenant_for_request};
use crate::params;

/// Default history range of `GET /api/v1/slos/{id}` and of backtests.
const DEFAULT_RANGE_SECS: i64 = 86_400;

const NANOS_PER_SEC: i64 = 1_000_000_000;

#[derive(Clone)]
struct SloState {
    api: ApiState,
    engine: SloEngine,
}

/// Routes of the SLO API.
pub fn router(api: ApiState, engine: SloEngine) -> Router {
    Router::new()
        .route("/api/v1/slos", get(list_handler))
        .route("/api/v1/slos/{id}", get(detail_handler))
        .route("/api/v1/slos/{id}/backtest", get(backtest_handler))
        .route("/api/v1/slos/{id}/bad-events", get(bad_events_handler))
        .with_state(SloState { api, engine })
}

/// Parses a time into Unix seconds (fractions truncated towards the past), by the one time
/// rule of the JSON API ([`crate::params::parse_time`]).
pub fn parse_time(name: &str, text: &str) -> Result<i64, QueryError> {
    Ok(params::parse_time(name, text)?.div_euclid(NANOS_PER_SEC))
}

/// Parses a step into whole seconds, by the one duration rule of the JSON API
/// ([`crate::params::parse_duration`]): `60s`, `5m`, `1h`, `1m30s` or bare seconds.
pub fn parse_step(text: &str) -> Result<u64, QueryError> {
    let nanos = params::parse_duration("step", text)?;
    if nanos % NANOS_PER_SEC != 0 {
        return Err(QueryError::BadRequest(format!(
            "invalid `step` {text:?}: must be whole seconds"
        )));
    }
    u64::try_from(nanos / NANOS_PER_SEC)
        .map_err(|_| QueryError::BadRequest(format!("invalid `step` {text:?}: out of range")))
}

struct Range {
    start: i64,
    end: i64,
    step_secs: u64,
}

fn range(
    params: &HashMap<String, String>,
    default_end: i64,
    default_step: Option<u64>,
) -> Result<Range, QueryError> {
    let end = match params.get("end") {
        Some(text) => parse_time("end", text)?,
        None => default_end,
    };
    let start = match params.get("start") {
        Some(text) => parse_time("start", text)?,
        None => end - DEFAULT_RANGE_SECS,
    };
    let step_secs = match params.get("step") {
        Some(text) => parse_step(text)?,
        // About 300 points, whole minutes.
        None => default_step.unwrap_or_else(|| {
            let span = (end - start).max(60) as u64;
            (span / 300).div_ceil(60).max(1) * 60
        }),
    };
    Ok(Range {
        start,
        end,
        step_secs,
    })
}

fn slo_id(text: &str) -> Result<SloId, QueryError> {
    SloId::new(text).map_err(|error| QueryError::NotFound(error.to_string()))
}

fn check_tenant(state: &SloState, headers: &HeaderMap) -> bool {
    &tenant_for_request(headers) == state.engine.tenant()
}

async fn list_handler(State(state): State<SloState>, headers: HeaderMap) -> Response {
    let started = Instant::now();
    let mut list = state.engine.list();
    if !check_tenant(&state, &headers) {
        list.slos.clear();
    }
    finish(&state.api, "slos", started, Ok(axum::Json(list)))
}

async fn detail_handler(
    State(state): State<SloState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let started = Instant::now();
    let result = async {
        let id = slo_id(&id)?;
        if !check_tenant(&state, &headers) {
            return Err(QueryError::NotFound(format!("no SLO named `{id}`")));
        }
        let range = range(&params, state.engine.evaluation_time(), None)?;
        state
            .engine
            .detail(&id, range.start, range.end, range.step_secs)
            .await
            .map(axum::Json)
    }
    .await;
    finish(&state.api, "slo", started, result)
}

async fn backtest_handler(
    State(state): State<SloState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let started = Instant::now();
    let result = async {
        let id = slo_id(&id)?;
        if !check_tenant(&state, &headers) {
            return Err(QueryError::NotFound(format!("no SLO named `{id}`")));
        }
        let range = range(&params, state.engine.evaluation_time(), Some(60))?;
        state
            .engine
            .backtest(&id, range.start, range.end, range.step_secs)
            .await
            .map(axum::Json)
    }
    .await;
    finish(&state.api, "slo_backtest", started, result)
}

async fn bad_events_handler(
    State(state): State<SloState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let started = Instant::now();
    let result = async {
        let id = slo_id(&id)?;
        if !check_tenant(&state, &headers) {
            return Err(QueryError::NotFound(format!("no SLO named `{id}`")));
        }
        let spec = state
            .engine
            .spec(&id)
            .ok_or_else(|| QueryError::NotFound(format!("no SLO named `{id}`")))?;
        let range = range(&params, state.engine.evaluation_time(), Some(60))?;
        let limit = match params.get("limit") {
            Some(text) => text
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=1000).contains(l))
                .ok_or_else(|| QueryError::BadRequest("`limit` must be 1 to 1000".into()))?,
            None => 20,
        };
        bad_events(
            state.engine.reader(),
            state.engine.tenant(),
            &spec,
            range.start,
            range.end,
            limit,
        )
        .await
        .map(axum::Json)
    }
    .await;
    finish(&state.api, "slo_bad_events", started, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_steps() {
        assert_eq!(parse_time("t", "1764324000").unwrap(), 1_764_324_000);
        assert_eq!(parse_time("t", "1764324000.9").unwrap(), 1_764_324_000);
        assert_eq!(
            parse_time("t", "2026-11-28T10:00:00Z").unwrap(),
            parse_time("t", "2026-11-28T11:00:00+01:00").unwrap()
        );
        assert!(parse_time("t", "yesterday").is_err());
        assert_eq!(parse_step("60").unwrap(), 60);
        assert_eq!(parse_step("5m").unwrap(), 300);
        assert_eq!(parse_step("1m30s").unwrap(), 90);
        assert!(parse_step("soon").is_err());
        assert!(parse_step("1.5s").is_err());
        assert_eq!(parse_time("t", "-1.5").unwrap(), -2);
    }
}
