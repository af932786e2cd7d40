//! The `/prometheus/api/v1/*` answers, snapshot-tested: JSON shapes, value formatting, GET and
//! POST forms, parameter parsing and the error format.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use lookout_model::{
    Exemplar, HistogramPoint, KeyValue, Metric, MetricBatch, MetricData, NumberPoint, NumberValue,
    PointCommon, Resource, ResourceGroup, Scope, ScopeGroup, Temporality, TenantId, TraceId,
};
use lookout_query::promql::PromqlConfig;
use lookout_query::{PrometheusApi, prometheus_router};
use lookout_storage::{Payload, StorageConfig, Store};
use tower::ServiceExt;

const T0_MS: u64 = 1_700_000_040_000;

fn point(seconds: u64, value: f64, attributes: &[(&str, &str)]) -> NumberPoint {
    NumberPoint {
        common: PointCommon {
            attributes: attributes
                .iter()
                .map(|(k, v)| KeyValue::string(*k, *v))
                .collect(),
            start_time_unix_nano: 0,
            time_unix_nano: (T0_MS + seconds * 1000) * 1_000_000,
            flags: 0,
            exemplars: vec![],
        },
        value: NumberValue::Double(value),
    }
}

async fn app() -> (tempfile::TempDir, Store, axum::Router) {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = prometheus_client::registry::Registry::default();
    let store = Store::open(StorageConfig::new(dir.path()), &mut registry)
        .await
        .unwrap();
    let requests = Metric {
        name: "http.server.requests".into(),
        description: "Requests served".into(),
        unit: "{request}".into(),
        metadata: vec![],
        data: MetricData::Sum {
            points: (0..5)
                .map(|i| point(i * 15, (i * 10) as f64, &[("http.route", "/pay")]))
                .collect(),
            temporality: Temporality::Cumulative,
            is_monotonic: true,
        },
    };
    let duration = Metric {
        name: "http.server.request.duration".into(),
        description: "Request latency".into(),
        unit: "s".into(),
        metadata: vec![],
        data: MetricData::Histogram {
            points: vec![HistogramPoint {
                common: PointCommon {
                    exemplars: vec![Exemplar {
                        filtered_attributes: vec![KeyValue::string("user", "u1")],
                        time_unix_nano: (T0_MS + 30_000) * 1_000_000,
                        value: NumberValue::Double(0.25),
                        span_id: None,
                        trace_id: Some(TraceId([0xab; 16])),
                    }],
                    ..point(60, 0.0, &[("http.route", "/pay")]).common
                },
                count: 4,
                sum: Some(1.5),
                bucket_counts: vec![1, 2, 1],
                explicit_bounds: vec![0.1, 0.5],
                min: None,
                max: None,
            }],
            temporality: Temporality::Cumulative,
        },
    };
    let batch = MetricBatch {
        resources: vec![ResourceGroup {
            resource: Resource {
                attributes: vec![
                    KeyValue::string("service.name", "checkout"),
                    KeyValue::string("service.namespace", "shop"),
                    KeyValue::string("service.instance.id", "pod-1"),
                ],
                ..Resource::default()
            },
            scopes: vec![ScopeGroup {
                scope: Scope::default(),
                records: vec![requests, duration],
            }],
        }],
    };
    store
        .writer()
        .append(&TenantId::default_tenant(), Payload::Metrics(batch))
        .await
        .unwrap();
    let api = PrometheusApi::new(store.reader(), PromqlConfig::default(), &mut registry);
    (dir, store, prometheus_router(api))
}

async fn call(app: &axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

async fn get(app: &axum::Router, uri: &str) -> (StatusCode, String) {
    call(app, Request::get(uri).body(Body::empty()).unwrap()).await
}

fn pretty(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).expect("JSON body");
    serde_json::to_string_pretty(&value).unwrap()
}

#[tokio::test]
async fn query_answers_in_prometheus_shapes() {
    let (_dir, _store, app) = app().await;
    let t = "1700000100";
    let (status, body) = get(
        &app,
        &format!("/prometheus/api/v1/query?query=http_server_requests_total&time={t}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    insta::assert_snapshot!("instant_vector", pretty(&body));

    let (_, body) = get(
        &app,
        &format!("/prometheus/api/v1/query?query=1%2B1&time={t}.5"),
    )
    .await;
    insta::assert_snapshot!("scalar", pretty(&body));

    let (_, body) = get(
        &app,
        "/prometheus/api/v1/query?query=http_server_requests_total%5B30s%5D&time=2023-11-14T22:14:59.999Z",
    )
    .await;
    insta::assert_snapshot!("instant_matrix", pretty(&body));

    // POST with a form body, as Grafana sends it.
    let request = Request::post("/prometheus/api/v1/query_range")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(
            "query=rate(http_server_requests_total%5B30s%5D)&start=1700000070&end=1700000100&step=15s",
        ))
        .unwrap();
    let (status, body) = call(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    insta::assert_snapshot!("range_matrix", pretty(&body));

    let (status, body) = get(
        &app,
        &format!(
            "/prometheus/api/v1/query?query=histogram_quantile(0.5,http_server_request_duration_seconds_bucket)&time={t}"
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    insta::assert_snapshot!("histogram_quantile", pretty(&body));
}

#[tokio::test]
async fn errors_use_prometheus_format_and_statuses() {
    let (_dir, _store, app) = app().await;
    let (status, body) = get(&app, "/prometheus/api/v1/query?query=rate(").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value["status"], "error");
    assert_eq!(value["errorType"], "bad_data");
    assert!(value["error"].as_str().unwrap().contains("parse error"));

    let (status, body) = get(&app, "/prometheus/api/v1/query").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    insta::assert_snapshot!("missing_query", pretty(&body));

    let (status, body) = get(&app, "/prometheus/api/v1/query?query=up&time=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    insta::assert_snapshot!("bad_time", pretty(&body));

    let (status, _) = get(
        &app,
        "/prometheus/api/v1/query_range?query=up&start=10&end=5&step=1",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Many-to-many matching is an execution error: 422.
    let (status, body) = get(
        &app,
        "/prometheus/api/v1/query?query=http_server_request_duration_seconds_bucket%20%2B%20on(job)%20http_server_request_duration_seconds_bucket&time=1700000100",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value["errorType"], "execution");

    let (status, body) = get(&app, "/prometheus/api/v1/series").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("no match[] parameter provided"));
}

#[tokio::test]
async fn series_labels_metadata_exemplars_buildinfo() {
    let (_dir, _store, app) = app().await;
    let (status, body) = get(
        &app,
        "/prometheus/api/v1/series?match[]=http_server_requests_total&match[]=%7B__name__%3D~%22.*_count%22%7D&start=1700000000&end=1700000200",
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    insta::assert_snapshot!("series", pretty(&body));

    let (_, body) = get(&app, "/prometheus/api/v1/labels").await;
    insta::assert_snapshot!("labels", pretty(&body));

    let (_, body) = get(&app, "/prometheus/api/v1/label/__name__/values").await;
    insta::assert_snapshot!("names", pretty(&body));

    let (_, body) = get(&app, "/prometheus/api/v1/label/job/values").await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["data"],
        serde_json::json!(["shop/checkout"])
    );

    let (_, body) = get(&app, "/prometheus/api/v1/metadata").await;
    insta::assert_snapshot!("metadata", pretty(&body));

    let (_, body) = get(
        &app,
        "/prometheus/api/v1/query_exemplars?query=http_server_request_duration_seconds_bucket&start=1700000000&end=1700000200",
    )
    .await;
    insta::assert_snapshot!("exemplars", pretty(&body));

    let (status, body) = get(&app, "/prometheus/api/v1/status/buildinfo").await;
    assert_eq!(status, StatusCode::OK);
    let value: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(value["status"], "success");
    assert!(value["data"]["version"].is_string());
}
