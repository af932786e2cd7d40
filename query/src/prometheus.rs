//! The Prometheus-compatible HTTP API under `/prometheus/api/v1/`: query, query_range,
//! series, labels, label values, metadata, query_exemplars and status/buildinfo, with
//! Prometheus' JSON shapes, error format and parameter parsing, so Grafana's Prometheus data
//! source works against `http://HOST:8700/prometheus`.

mod params;
mod render;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use lookout_storage::Reader;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::api::tenant_for_request;
use crate::promql::fetch::{fetch_series, selector_matchers};
use crate::promql::{Engine, PromqlConfig, PromqlError, naming};
use crate::telemetry::{EndpointLabels, RequestLabels};
use params::Params;

/// What the Prometheus API handlers share.
#[derive(Clone)]
pub struct PrometheusApi {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    requests: Family<RequestLabels, Counter>,
    duration: Family<EndpointLabels, Histogram>,
}

impl PrometheusApi {
    /// Builds the API over `reader` and registers its metrics.
    pub fn new(reader: Reader, config: PromqlConfig, registry: &mut Registry) -> Self {
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<EndpointLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 18))
        });
        registry.register(
            "lookout_promql_requests",
            "Prometheus API requests by endpoint and outcome",
            requests.clone(),
        );
        registry.register(
            "lookout_promql_duration_seconds",
            "Time to answer a Prometheus API request",
            duration.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                engine: Engine::new(reader, config),
                requests,
                duration,
            }),
        }
    }

    /// The PromQL engine (the SLO engine evaluates metric SLIs with it).
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }
}

/// Routes under `/prometheus`, to be merged into the daemon's HTTP router.
pub fn prometheus_router(api: PrometheusApi) -> Router {
    Router::new()
        .route("/prometheus/api/v1/query", get(query).post(query))
        .route(
            "/prometheus/api/v1/query_range",
            get(query_range).post(query_range),
        )
        .route("/prometheus/api/v1/series", get(series).post(series))
        .route("/prometheus/api/v1/labels", get(labels).post(labels))
        .route("/prometheus/api/v1/label/{name}/values", get(label_values))
        .route("/prometheus/api/v1/metadata", get(metadata))
        .route(
            "/prometheus/api/v1/query_exemplars",
            get(query_exemplars).post(query_exemplars),
        )
        .route("/prometheus/api/v1/status/buildinfo", get(buildinfo))
        .with_state(api)
}

/// An API error in Prometheus' shape.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error_type: &'static str,
    message: String,
}

impl ApiError {
    fn bad_data(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error_type: "bad_data",
            message: message.into(),
        }
    }
}

impl From<PromqlError> for ApiError {
    fn from(error: PromqlError) -> Self {
        let (status, error_type) = match &error {
            PromqlError::BadData(_) => (StatusCode::BAD_REQUEST, "bad_data"),
            PromqlError::Execution(_) => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
            PromqlError::Timeout { .. } => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            PromqlError::Storage(storage) => match storage.kind() {
                lookout_storage::ErrorKind::Unavailable => {
                    (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
                }
                lookout_storage::ErrorKind::BadRequest => (StatusCode::BAD_REQUEST, "bad_data"),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            },
            PromqlError::Read(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        Self {
            status,
            error_type,
            message: error.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(error = %self.message, "prometheus api request failed");
        }
        let body = serde_json::json!({
            "status": "error",
            "errorType": self.error_type,
            "error": self.message,
        });
        (self.status, axum::Json(body)).into_response()
    }
}

fn success(data: String) -> Response {
    let body = format!("{{\"status\":\"success\",\"data\":{data}}}");
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn finish(
    api: &PrometheusApi,
    endpoint: &'static str,
    started: Instant,
    result: Result<String, ApiError>,
) -> Response {
    let outcome = match &result {
        Ok(_) => "ok",
        Err(error) => error.error_type,
    };
    api.inner
        .requests
        .get_or_create(&RequestLabels { endpoint, outcome })
        .inc();
    api.inner
        .duration
        .get_or_create(&EndpointLabels { endpoint })
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok(data) => success(data),
        Err(error) => error.into_response(),
    }
}

async fn query(
    State(api): State<PrometheusApi>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let result = async {
        let params = Params::parse(raw.as_deref(), &headers, &body)?;
        let query = params.required("query")?;
        let time = params.time_or_now("time")?;
        let tenant = tenant_for_request(&headers);
        let value = api.inner.engine.instant(&tenant, query, time).await?;
        Ok(render::query_value(&value))
    }
    .await;
    finish(&api, "query", started, result)
}

async fn query_range(
    State(api): State<PrometheusApi>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let result = async {
        let params = Params::parse(raw.as_deref(), &headers, &body)?;
        let query = params.required("query")?;
        let start = params.required_time("start")?;
        let end = params.required_time("end")?;
        if end < start {
            return Err(ApiError::bad_data(
                "invalid parameter \"end\": end timestamp must not be before start time",
            ));
        }
        let step = params.required_duration("step")?;
        if step <= 0 {
            return Err(ApiError::bad_data(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        let tenant = tenant_for_request(&headers);
        let value = api
            .inner
            .engine
            .range(&tenant, query, start, end, step)
            .await?;
        Ok(render::query_value(&value))
    }
    .await;
    finish(&api, "query_range", started, result)
}

/// The label sets of every series matching one of `match[]` in `[start, end]`.
async fn matching_series(
    api: &PrometheusApi,
    headers: &HeaderMap,
    params: &Params,
    required: bool,
) -> Result<Vec<crate::promql::Labels>, ApiError> {
    let selectors = params.all("match[]");
    if selectors.is_empty() && required {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = params.time_or("start", i64::MIN / 4)?;
    let end = params.time_or("end", i64::MAX / 4)?;
    let tenant = tenant_for_request(headers);
    let mut sets = Vec::new();
    if selectors.is_empty() {
        sets.push(Vec::new());
    }
    for selector in selectors {
        let expr = crate::promql::parse(selector)?;
        let promql_parser::parser::Expr::VectorSelector(vs) = expr else {
            return Err(ApiError::bad_data(format!(
                "invalid parameter \"match[]\": {selector} is not a series selector"
            )));
        };
        sets.extend(selector_matchers(vs.name.as_deref(), &vs.matchers));
    }
    let found = fetch_series(
        api.inner.engine.reader(),
        &tenant,
        &sets,
        start - 1,
        end,
        false,
    )
    .await?;
    Ok(found.into_iter().map(|s| s.labels).collect())
}

async fn series(
    State(api): State<PrometheusApi>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let result = async {
        let params = Params::parse(raw.as_deref(), &headers, &body)?;
        let found = matching_series(&api, &headers, &params, true).await?;
        let items: Vec<serde_json::Value> = found
            .iter()
            .map(|labels| serde_json::Value::Object(labels.to_json()))
            .collect();
        Ok(serde_json::Value::Array(items).to_string())
    }
    .await;
    finish(&api, "series", started, result)
}

async fn labels(
    State(api): State<PrometheusApi>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let result = async {
        let params = Params::parse(raw.as_deref(), &headers, &body)?;
        let found = matching_series(&api, &headers, &params, false).await?;
        let names: BTreeSet<&str> = found
            .iter()
            .flat_map(|labels| labels.iter().map(|(name, _)| name))
            .collect();
        Ok(serde_json::to_string(&names).unwrap_or_else(|_| "[]".into()))
    }
    .await;
    finish(&api, "labels", started, result)
}

async fn label_values(
    State(api): State<PrometheusApi>,
    headers: HeaderMap,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let started = Instant::now();
    let result = async {
        let params = Params::parse(raw.as_deref(), &headers, &[])?;
        let found = matching_series(&api, &headers, &params, false).await?;
        let values: BTreeSet<&str> = found
            .iter()
            .map(|labels| labels.get(&name))
            .filter(|value| !value.is_empty())
            .collect();
        Ok(serde_json::to_string(&values).unwrap_or_else(|_| "[]".into()))
    }
    .await;
    finish(&api, "label_values", started, result)
}

async fn metadata(
    State(api): State<PrometheusApi>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    let started = Instant::now();
    let result = async {
        let params = Params::parse(raw.as_deref(), &headers, &[])?;
        let wanted = params.first("metric").map(str::to_owned);
        let limit = match params.first("limit") {
            Some(text) => Some(text.parse::<usize>().map_err(|_| {
                ApiError::bad_data(format!("invalid parameter \"limit\": {text:?}"))
            })?),
            None => None,
        };
        let tenant = tenant_for_request(&headers);
        let context = api
            .inner
            .engine
            .reader()
            .session_context(&tenant)
            .map_err(PromqlError::from)?;
        let frame = context
            .sql(
                "SELECT metric_name, metric_type, unit, description, is_monotonic, scope_name \
                 FROM metrics GROUP BY metric_name, metric_type, unit, description, is_monotonic, scope_name",
            )
            .await
            .map_err(|e| PromqlError::Read(e.to_string()))?;
        let batches = frame
            .collect()
            .await
            .map_err(|e| PromqlError::Read(e.to_string()))?;
        let rows = crate::json_rows::batches_to_json_rows(&batches)
            .map_err(|e| PromqlError::Read(e.to_string()))?;
        let mut out: BTreeMap<String, Vec<serde_json::Value>> = BTreeMap::new();
        for row in rows {
            let text = |key: &str| row.get(key).and_then(|v| v.as_str()).unwrap_or("").to_owned();
            let (name, kind) = if text("scope_name") == naming::REMOTE_WRITE_SCOPE {
                (text("metric_name"), "unknown")
            } else {
                let kind = naming::PromKind::of(
                    &text("metric_type"),
                    row.get("is_monotonic").and_then(|v| v.as_bool()),
                );
                (
                    naming::prometheus_name(&text("metric_name"), &text("unit"), kind),
                    kind.type_name(),
                )
            };
            if wanted.as_ref().is_some_and(|w| *w != name) {
                continue;
            }
            let entry = serde_json::json!({
                "type": kind,
                "help": text("description"),
                "unit": naming::unit_suffix(&text("unit")),
            });
            let list = out.entry(name).or_default();
            if !list.contains(&entry) {
                list.push(entry);
            }
        }
        if let Some(limit) = limit {
            out = out.into_iter().take(limit).collect();
        }
        Ok(serde_json::to_string(&out).unwrap_or_else(|_| "{}".into()))
    }
    .await;
    finish(&api, "metadata", started, result)
}

async fn query_exemplars(
    State(api): State<PrometheusApi>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let result = async {
        let params = Params::parse(raw.as_deref(), &headers, &body)?;
        let query = params.required("query")?;
        let now = params::now_ms();
        let start = params.time_or("start", now - 3_600_000)?;
        let end = params.time_or("end", now)?;
        if end < start {
            return Err(ApiError::bad_data(
                "invalid parameter \"end\": end timestamp must not be before start time",
            ));
        }
        let tenant = tenant_for_request(&headers);
        let found = crate::promql::exemplars::query_exemplars(
            api.inner.engine.reader(),
            &tenant,
            query,
            start,
            end,
        )
        .await?;
        Ok(render::exemplars(&found))
    }
    .await;
    finish(&api, "query_exemplars", started, result)
}

async fn buildinfo(State(api): State<PrometheusApi>) -> Response {
    let started = Instant::now();
    let data = serde_json::json!({
        "version": "3.0.0",
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
        "application": "lookout",
        "applicationVersion": env!("CARGO_PKG_VERSION"),
    });
    finish(&api, "buildinfo", started, Ok(data.to_string()))
}
