//! Trace search, RED per service and the service graph on spans sent by the Rust
//! OpenTelemetry SDK from four services, checked against what was sent; the RED numbers
//! are checked again after `kill -9` (rebuilt from the WAL) and after a clean restart (read
//! from the flushed rollup files).

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Link, Span as _, SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;

use crate::support::Daemon;

const TRACES: u64 = 20;

fn provider(daemon: &Daemon, service: &str) -> SdkTracerProvider {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(daemon.grpc_url())
        .build()
        .expect("span exporter");
    SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            Resource::builder()
                .with_service_name(service.to_owned())
                .build(),
        )
        .build()
}

fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Trace `i` (0-based) starts at `base + i s`: a `frontend` server root of `100 + i` ms, its
/// client span, a `checkout` server span of `50 + i` ms (error when `i % 5 == 0`, attribute
/// `customer.tier` gold for even `i`) and a `checkout` producer span; a `worker` consumer
/// span in a trace of its own links to the producer.
fn emit(daemon: &Daemon, base: SystemTime) {
    let providers: Vec<SdkTracerProvider> = ["frontend", "checkout", "worker"]
        .iter()
        .map(|service| provider(daemon, service))
        .collect();
    let (frontend, checkout, worker) = (
        providers[0].tracer("e2e"),
        providers[1].tracer("e2e"),
        providers[2].tracer("e2e"),
    );
    for i in 0..TRACES {
        let start = base + Duration::from_secs(i);
        let root = frontend
            .span_builder("GET /checkout")
            .with_kind(SpanKind::Server)
            .with_start_time(start)
            .start(&frontend);
        let root_cx = Context::current_with_span(root);
        let client = frontend
            .span_builder("POST /pay")
            .with_kind(SpanKind::Client)
            .with_start_time(start + millis(1))
            .start_with_context(&frontend, &root_cx);
        let client_cx = root_cx.with_span(client);
        let mut server = checkout
            .span_builder("POST /pay")
            .with_kind(SpanKind::Server)
            .with_start_time(start + millis(2))
            .with_attributes([KeyValue::new(
                "customer.tier",
                if i % 2 == 0 { "gold" } else { "silver" },
            )])
            .start_with_context(&checkout, &client_cx);
        if i % 5 == 0 {
            server.set_status(Status::error("card declined"));
        }
        let server_cx = client_cx.with_span(server);
        let mut producer = checkout
            .span_builder("publish order")
            .with_kind(SpanKind::Producer)
            .with_start_time(start + millis(3))
            .start_with_context(&checkout, &server_cx);
        let producer_context = producer.span_context().clone();
        producer.end_with_timestamp(start + millis(4));
        let mut consumer = worker
            .span_builder("process order")
            .with_kind(SpanKind::Consumer)
            .with_start_time(start + millis(200))
            .with_links(vec![Link::with_context(producer_context)])
            .start_with_context(&worker, &Context::new());
        consumer.end_with_timestamp(start + millis(230));
        server_cx
            .span()
            .end_with_timestamp(start + millis(2 + 50 + i));
        client_cx
            .span()
            .end_with_timestamp(start + millis(3 + 50 + i));
        root_cx.span().end_with_timestamp(start + millis(100 + i));
    }
    for provider in providers {
        provider.force_flush().expect("flush spans");
        provider.shutdown().expect("shut down tracer");
    }
}

fn get(daemon: &Daemon, path_and_query: &str) -> (u16, Value) {
    let response = reqwest::blocking::get(format!("{}{path_and_query}", daemon.api_url()))
        .expect("send request");
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn ok(daemon: &Daemon, path_and_query: &str) -> Value {
    let (status, body) = get(daemon, path_and_query);
    assert_eq!(status, 200, "{path_and_query}: {body}");
    body
}

fn unix_secs(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

fn search(daemon: &Daemon, range: &str, filters: &str) -> Vec<Value> {
    ok(daemon, &format!("/api/v1/traces?{range}&{filters}"))["traces"]
        .as_array()
        .expect("traces")
        .clone()
}

fn check_search(daemon: &Daemon, range: &str, base_secs: u64) {
    let errors = search(daemon, range, "service=checkout&status=error");
    assert_eq!(errors.len(), 4, "{errors:?}");
    let starts: Vec<u64> = errors
        .iter()
        .map(|trace| trace["start_unix_nanos"].as_u64().expect("start") / 1_000_000_000)
        .collect();
    assert_eq!(
        starts,
        vec![base_secs + 15, base_secs + 10, base_secs + 5, base_secs],
        "newest first"
    );
    for trace in &errors {
        assert_eq!(trace["root_service"], "frontend");
        assert_eq!(trace["root_operation"], "GET /checkout");
        assert_eq!(trace["span_count"], 4);
        assert_eq!(trace["error_count"], 1);
        assert_eq!(
            trace["services"],
            serde_json::json!(["checkout", "frontend"])
        );
    }
    assert_eq!(
        errors[3]["duration_nanos"], 100_000_000,
        "trace 0 lasts 100 ms"
    );

    let gold = search(daemon, range, "service=checkout&attr.customer.tier=gold");
    assert_eq!(gold.len(), 10);
    let resource = search(daemon, range, "attr.service.name=worker&limit=100");
    assert_eq!(resource.len(), 20, "resource attributes match too");
    assert!(
        resource
            .iter()
            .all(|trace| trace["root_operation"] == "process order")
    );

    let slow = search(
        daemon,
        range,
        "service=frontend&operation=GET%20/checkout&min_duration=105ms",
    );
    assert_eq!(slow.len(), 15);
    let band = search(
        daemon,
        range,
        "operation=GET%20/checkout&min_duration=0.105s&max_duration=110ms",
    );
    assert_eq!(band.len(), 6);

    let answer = ok(
        daemon,
        &format!("/api/v1/traces?{range}&service=frontend&limit=3"),
    );
    let newest: Vec<u64> = answer["traces"]
        .as_array()
        .expect("traces")
        .iter()
        .map(|trace| trace["start_unix_nanos"].as_u64().expect("start") / 1_000_000_000)
        .collect();
    assert_eq!(newest, vec![base_secs + 19, base_secs + 18, base_secs + 17]);
    assert_eq!(answer["truncated"], true);
    assert!(search(daemon, range, "service=nobody").is_empty());

    for bad in [
        "min_duration=fast",
        "status=failed",
        "start=tomorrow",
        "limit=0",
        "min_duration=2s&max_duration=1s",
        "colour=blue",
        "start=20&end=10",
    ] {
        let (status, body) = get(daemon, &format!("/api/v1/traces?{bad}"));
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"], "bad_request", "{bad}: {body}");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (status, _) = get(daemon, "/api/v1/services?start=never");
    assert_eq!(status, 400);
    let (status, _) = get(daemon, "/api/v1/service-graph?end=never");
    assert_eq!(status, 400);
}

fn operation<'a>(answer: &'a Value, service: &str, name: &str) -> &'a Value {
    answer["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .find(|operation| operation["service"] == service && operation["operation"] == name)
        .unwrap_or_else(|| panic!("{service} {name} missing: {answer}"))
}

fn within_sketch_accuracy(value: &Value, low_ms: f64, high_ms: f64) {
    let seconds = value.as_f64().expect("a quantile");
    assert!(
        (low_ms / 1e3 * 0.99..=high_ms / 1e3 * 1.01).contains(&seconds),
        "{seconds} s is not within 1 % of [{low_ms}, {high_ms}] ms"
    );
}

fn check_red(daemon: &Daemon, range: &str) {
    let answer = ok(daemon, &format!("/api/v1/services?{range}"));
    let window_secs = (answer["end_unix_nanos"].as_i64().expect("end")
        - answer["start_unix_nanos"].as_i64().expect("start")) as f64
        / 1e9;
    assert_eq!(answer["operations"].as_array().expect("ops").len(), 5);

    let pay = operation(&answer, "checkout", "POST /pay");
    assert_eq!(pay["calls"], 20);
    assert_eq!(pay["errors"], 4);
    assert_eq!(pay["error_ratio"], 0.2);
    assert_eq!(pay["span_kinds"], serde_json::json!(["server"]));
    let rate = pay["rate_per_second"].as_f64().expect("rate");
    assert!((rate - 20.0 / window_secs).abs() < 1e-9, "{rate}");
    // Durations 50..=69 ms: the median is the 10th or 11th value, p90 the 18th or 19th.
    within_sketch_accuracy(&pay["p50_seconds"], 59.0, 60.0);
    within_sketch_accuracy(&pay["p90_seconds"], 67.0, 68.0);
    within_sketch_accuracy(&pay["p99_seconds"], 68.0, 69.0);

    let root = operation(&answer, "frontend", "GET /checkout");
    assert_eq!(
        (root["calls"].as_u64(), root["errors"].as_u64()),
        (Some(20), Some(0))
    );
    within_sketch_accuracy(&root["p50_seconds"], 109.0, 110.0);
    let client = operation(&answer, "frontend", "POST /pay");
    assert_eq!(client["span_kinds"], serde_json::json!(["client"]));
    let consumer = operation(&answer, "worker", "process order");
    assert_eq!(consumer["calls"], 20);
    within_sketch_accuracy(&consumer["p99_seconds"], 30.0, 30.0);

    let only = ok(daemon, &format!("/api/v1/services?{range}&service=worker"));
    assert_eq!(only["operations"].as_array().expect("ops").len(), 1);

    let sql = daemon.sql(
        "SELECT CAST(sum(calls) AS BIGINT) AS calls, CAST(sum(errors) AS BIGINT) AS errors \
         FROM span_rollups WHERE service_name = 'checkout' AND operation = 'POST /pay'",
    );
    assert_eq!(sql[0]["calls"], 20);
    assert_eq!(sql[0]["errors"], 4);
}

fn check_graph(daemon: &Daemon, range: &str) {
    let graph = ok(daemon, &format!("/api/v1/service-graph?{range}"));
    let edges = graph["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 2, "{graph}");
    let request = &edges[0];
    assert_eq!(
        (
            &request["client"],
            &request["server"],
            &request["connection"]
        ),
        (
            &Value::from("checkout"),
            &Value::from("worker"),
            &Value::from("messaging")
        )
    );
    assert_eq!(request["calls"], 20);
    assert_eq!(request["errors"], 0);
    within_sketch_accuracy(&request["p95_seconds"], 30.0, 30.0);
    let pay = &edges[1];
    assert_eq!(
        (&pay["client"], &pay["server"], &pay["connection"]),
        (
            &Value::from("frontend"),
            &Value::from("checkout"),
            &Value::from("request")
        )
    );
    assert_eq!(pay["calls"], 20);
    assert_eq!(pay["errors"], 4);
    within_sketch_accuracy(&pay["p95_seconds"], 68.0, 69.0);

    let nodes: Vec<(String, u64, u64)> = graph["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|node| {
            (
                node["service"].as_str().expect("service").to_owned(),
                node["calls"].as_u64().expect("calls"),
                node["errors"].as_u64().expect("errors"),
            )
        })
        .collect();
    assert_eq!(
        nodes,
        vec![
            ("checkout".to_owned(), 40, 4),
            ("frontend".to_owned(), 40, 0),
            ("worker".to_owned(), 20, 0),
        ]
    );
}

#[test]
fn search_red_and_service_graph_from_the_rust_sdk() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let _guard = runtime.enter();
    let mut daemon = Daemon::start_with_config("[storage]\nflush_interval_secs = 3600\n");
    let now = SystemTime::now();
    let base = now - Duration::from_secs(600);
    emit(&daemon, base);
    assert_eq!(daemon.wait_count("SELECT count(*) FROM spans", 100), 100);

    let range = format!(
        "start={}&end={}",
        unix_secs(now) - 1800,
        unix_secs(now) + 60
    );
    check_search(&daemon, &range, unix_secs(base));
    check_red(&daemon, &range);
    check_graph(&daemon, &range);

    // kill -9 before any flush: rows and rollups come back from the WAL, once.
    daemon.kill9();
    daemon.restart();
    check_red(&daemon, &range);
    check_graph(&daemon, &range);
    check_search(&daemon, &range, unix_secs(base));

    // A clean stop flushes: rollups are now read from the files, still once.
    assert!(daemon.terminate(), "clean shutdown; log:\n{}", daemon.log());
    daemon.restart();
    check_red(&daemon, &range);
    check_graph(&daemon, &range);
    check_search(&daemon, &range, unix_secs(base));
}
