//! The Rust `opentelemetry-otlp` exporter sends traces, logs and metrics over gRPC,
//! HTTP/protobuf and HTTP/JSON; everything is read back through SQL and the trace API.

use opentelemetry::KeyValue;
use opentelemetry::logs::{LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_otlp::{Protocol, WithExportConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::support::Daemon;

#[derive(Clone, Copy, Debug)]
enum Transport {
    Grpc,
    HttpProtobuf,
    HttpJson,
}

struct Providers {
    tracer: SdkTracerProvider,
    logger: SdkLoggerProvider,
    meter: SdkMeterProvider,
}

fn providers(daemon: &Daemon, transport: Transport, service: &str) -> Providers {
    let resource = Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    let http = |signal: &str| format!("{}/v1/{signal}", daemon.otlp_http_url());
    let protocol = match transport {
        Transport::HttpJson => Protocol::HttpJson,
        _ => Protocol::HttpBinary,
    };
    let (spans, logs, metrics) = match transport {
        Transport::Grpc => (
            opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(daemon.grpc_url())
                .build(),
            opentelemetry_otlp::LogExporter::builder()
                .with_tonic()
                .with_endpoint(daemon.grpc_url())
                .build(),
            opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .with_endpoint(daemon.grpc_url())
                .build(),
        ),
        Transport::HttpProtobuf | Transport::HttpJson => (
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .with_endpoint(http("traces"))
                .build(),
            opentelemetry_otlp::LogExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .with_endpoint(http("logs"))
                .build(),
            opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(protocol)
                .with_endpoint(http("metrics"))
                .build(),
        ),
    };
    Providers {
        tracer: SdkTracerProvider::builder()
            .with_batch_exporter(spans.expect("span exporter"))
            .with_resource(resource.clone())
            .build(),
        logger: SdkLoggerProvider::builder()
            .with_batch_exporter(logs.expect("log exporter"))
            .with_resource(resource.clone())
            .build(),
        meter: SdkMeterProvider::builder()
            .with_periodic_exporter(metrics.expect("metric exporter"))
            .with_resource(resource)
            .build(),
    }
}

/// Emits one trace (a root and two children), a log inside the second child, a counter and a
/// histogram; returns the trace id and the span id the log belongs to.
fn emit(providers: &Providers) -> (String, String) {
    let tracer = providers.tracer.tracer("e2e");
    let logger = providers.logger.logger("e2e");
    let meter = providers.meter.meter("e2e");
    let counter = meter.u64_counter("e2e_orders").build();
    let histogram = meter.f64_histogram("e2e_latency").with_unit("s").build();
    let mut ids = (String::new(), String::new());
    tracer.in_span("POST /checkout", |cx| {
        cx.span()
            .set_attribute(KeyValue::new("http.route", "/checkout"));
        tracer.in_span("reserve stock", |_| {});
        tracer.in_span("charge card", |cx| {
            let context = cx.span().span_context().clone();
            cx.span()
                .set_attribute(KeyValue::new("payment.amount", 42_i64));
            let mut record = logger.create_log_record();
            record.set_body("card declined once, retrying".into());
            record.set_severity_number(Severity::Warn);
            record.set_severity_text("WARN");
            record.set_trace_context(context.trace_id(), context.span_id(), None);
            logger.emit(record);
            ids = (
                context.trace_id().to_string(),
                context.span_id().to_string(),
            );
        });
        counter.add(3, &[KeyValue::new("outcome", "ok")]);
        histogram.record(0.25, &[KeyValue::new("route", "/checkout")]);
    });
    ids
}

fn shutdown(providers: Providers) {
    providers.tracer.force_flush().expect("flush spans");
    providers.logger.force_flush().expect("flush logs");
    providers.meter.force_flush().expect("flush metrics");
    providers.tracer.shutdown().expect("shut down tracer");
    providers.logger.shutdown().expect("shut down logger");
    providers.meter.shutdown().expect("shut down meter");
}

#[test]
fn rust_exporter_over_every_transport_round_trips() {
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let _guard = runtime.enter();
    let daemon = Daemon::start();
    for transport in [
        Transport::Grpc,
        Transport::HttpProtobuf,
        Transport::HttpJson,
    ] {
        let service = format!("rust-{transport:?}").to_lowercase();
        let providers = providers(&daemon, transport, &service);
        let (trace_id, span_id) = emit(&providers);
        shutdown(providers);

        let spans = daemon.wait_count(
            &format!("SELECT count(*) FROM spans WHERE service_name = '{service}'"),
            3,
        );
        assert_eq!(spans, 3, "{transport:?}: spans stored");
        let rows = daemon.sql(&format!(
            "SELECT name, kind, parent_span_id, attributes['payment.amount'] AS amount \
             FROM spans WHERE trace_id = '{trace_id}' AND span_id = '{span_id}'"
        ));
        assert_eq!(rows.len(), 1, "{transport:?}: {rows:?}");
        assert_eq!(rows[0]["name"], "charge card");
        assert_eq!(rows[0]["kind"], "internal");
        assert_eq!(rows[0]["amount"], "42");
        assert!(rows[0]["parent_span_id"].is_string());

        let (status, trace) = daemon.trace(&trace_id);
        assert_eq!(status, 200, "{transport:?}: {trace}");
        let trace_spans = trace["spans"].as_array().expect("spans array");
        assert_eq!(trace_spans.len(), 3);
        let roots: Vec<_> = trace_spans
            .iter()
            .filter(|span| span["parent_span_id"].is_null())
            .collect();
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0]["name"], "POST /checkout");

        let logs = daemon.wait_count(
            &format!(
                "SELECT count(*) FROM logs WHERE service_name = '{service}' \
                 AND trace_id = '{trace_id}' AND span_id = '{span_id}' \
                 AND severity_number = 13 AND body = 'card declined once, retrying'"
            ),
            1,
        );
        assert_eq!(logs, 1, "{transport:?}: log with its span's ids");

        let counter = daemon.sql(&format!(
            "SELECT max(value) AS value, max(metric_type) AS kind FROM metrics \
             WHERE service_name = '{service}' AND metric_name = 'e2e_orders'"
        ));
        assert_eq!(counter[0]["value"], 3.0, "{transport:?}: {counter:?}");
        assert_eq!(counter[0]["kind"], "sum");
        let histogram = daemon.sql(&format!(
            "SELECT count, sum, unit, bucket_counts FROM metrics \
             WHERE service_name = '{service}' AND metric_name = 'e2e_latency' LIMIT 1"
        ));
        assert_eq!(histogram[0]["count"], 1, "{transport:?}: {histogram:?}");
        assert_eq!(histogram[0]["sum"], 0.25);
        assert_eq!(histogram[0]["unit"], "s");
        let buckets: u64 = histogram[0]["bucket_counts"]
            .as_array()
            .expect("bucket counts")
            .iter()
            .map(|count| count.as_u64().expect("count"))
            .sum();
        assert_eq!(buckets, 1);
    }
    let (status, _) = daemon.trace("0123456789abcdef0123456789abcdef");
    assert_eq!(status, 404);
    let (status, _) = daemon.trace("not-hex");
    assert_eq!(status, 400);
}
