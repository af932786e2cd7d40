//! The Python OpenTelemetry SDK (from PyPI, in the venv made by `scripts/python-env.sh`) sends
//! a trace, a log inside a span, a counter and a histogram over gRPC, HTTP/protobuf and
//! HTTP/JSON; everything is read back through SQL and the trace API.

use std::path::Path;
use std::process::Command;

use crate::support::Daemon;

fn python() -> String {
    let root = env!("CARGO_MANIFEST_DIR");
    let output = Command::new("bash")
        .arg(Path::new(root).join("scripts/python-env.sh"))
        .output()
        .expect("run scripts/python-env.sh");
    assert!(
        output.status.success(),
        "scripts/python-env.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("utf-8 path")
        .trim()
        .to_owned()
}

#[test]
fn python_sdk_over_every_transport_round_trips() {
    let python = python();
    let daemon = Daemon::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/emit.py");
    for transport in ["grpc", "http-protobuf", "http-json"] {
        let service = format!("py-{transport}");
        let output = Command::new(&python)
            .arg(&script)
            .args(["--transport", transport])
            .args(["--grpc", &daemon.grpc_url()])
            .args(["--http", &daemon.otlp_http_url()])
            .args(["--service", &service])
            .output()
            .expect("run emit.py");
        assert!(
            output.status.success(),
            "{transport}: emit.py failed: {}\ndaemon log:\n{}",
            String::from_utf8_lossy(&output.stderr),
            daemon.log()
        );
        let ids: serde_json::Value =
            serde_json::from_slice(&output.stdout).expect("emit.py prints ids");
        let trace_id = ids["trace_id"].as_str().expect("trace id");
        let span_id = ids["span_id"].as_str().expect("span id");

        let spans = daemon.wait_count(
            &format!("SELECT count(*) FROM spans WHERE service_name = '{service}'"),
            3,
        );
        assert_eq!(spans, 3, "{transport}: spans stored");
        let rows = daemon.sql(&format!(
            "SELECT name, status_code, status_message, kind, \
             resource_attributes['deployment.environment'] AS env \
             FROM spans WHERE span_id = '{span_id}'"
        ));
        assert_eq!(rows.len(), 1, "{transport}: {rows:?}");
        assert_eq!(rows[0]["name"], "price items");
        assert_eq!(rows[0]["status_code"], "error");
        assert_eq!(rows[0]["status_message"], "price service timeout");
        assert_eq!(rows[0]["env"], "test");
        let events = daemon.sql(&format!(
            "SELECT events[1]['name'] AS event FROM spans WHERE span_id = '{span_id}'"
        ));
        assert_eq!(events[0]["event"], "cache miss", "{transport}");

        let (status, trace) = daemon.trace(trace_id);
        assert_eq!(status, 200, "{transport}: {trace}");
        assert_eq!(trace["spans"].as_array().map(Vec::len), Some(3));

        let logs = daemon.wait_count(
            &format!(
                "SELECT count(*) FROM logs WHERE service_name = '{service}' \
                 AND trace_id = '{trace_id}' AND span_id = '{span_id}' \
                 AND body = 'pricing slow for cart 42' AND severity_text = 'WARN'"
            ),
            1,
        );
        assert_eq!(logs, 1, "{transport}: the log carries its span's ids");
        trace_and_logs_link_both_ways(&daemon, transport, &service, trace_id, span_id);

        // The SDK exports cumulative points at flush and again at shutdown: every stored
        // point carries the same cumulative value.
        let counter = daemon.sql(&format!(
            "SELECT count(*) AS points, min(value) AS low, max(value) AS high, \
             max(temporality) AS temporality, bool_and(is_monotonic) AS monotonic FROM metrics \
             WHERE service_name = '{service}' AND metric_name = 'py_orders'"
        ));
        assert!(
            counter[0]["points"].as_i64() >= Some(1),
            "{transport}: {counter:?}"
        );
        assert_eq!(counter[0]["low"], 2.0, "{transport}: {counter:?}");
        assert_eq!(counter[0]["high"], 2.0);
        assert_eq!(counter[0]["temporality"], "cumulative");
        assert_eq!(counter[0]["monotonic"], true);
        let histogram = daemon.sql(&format!(
            "SELECT count, sum, metric_type, temporality, unit FROM metrics \
             WHERE service_name = '{service}' AND metric_name = 'py_latency' \
             ORDER BY timestamp DESC LIMIT 1"
        ));
        assert_eq!(histogram.len(), 1, "{transport}: {histogram:?}");
        assert_eq!(histogram[0]["unit"], "ms");
        assert_eq!(histogram[0]["count"], 1);
        assert_eq!(histogram[0]["sum"], 12.5);
        assert_eq!(histogram[0]["metric_type"], "histogram");
        assert_eq!(histogram[0]["temporality"], "cumulative");
    }
}

/// Trace -> logs (the trace answer lists its logs tied to their span) and log -> trace (a
/// search hit links to its trace, and following the link gives the span that logged).
fn trace_and_logs_link_both_ways(
    daemon: &Daemon,
    transport: &str,
    service: &str,
    trace_id: &str,
    span_id: &str,
) {
    let (status, trace) = daemon.trace(trace_id);
    assert_eq!(status, 200, "{transport}: {trace}");
    let logs = trace["logs"].as_array().expect("trace answer lists logs");
    assert_eq!(logs.len(), 1, "{transport}: {trace}");
    assert_eq!(logs[0]["span_id"], span_id);
    assert_eq!(logs[0]["body"], "pricing slow for cart 42");

    let search: serde_json::Value = reqwest::blocking::Client::new()
        .get(
            reqwest::Url::parse_with_params(
                &format!("{}/api/v1/logs", daemon.api_url()),
                &[(
                    "q",
                    format!("service:{service} AND severity>=warn AND \"pricing slow\""),
                )],
            )
            .expect("valid URL"),
        )
        .send()
        .expect("search logs")
        .json()
        .expect("search answer");
    let hits = search["logs"].as_array().expect("hits");
    assert_eq!(hits.len(), 1, "{transport}: {search}");
    let link = hits[0]["trace_link"].as_str().expect("a trace link");
    assert_eq!(link, format!("/api/v1/traces/{trace_id}"));
    let linked: serde_json::Value = reqwest::blocking::get(format!("{}{link}", daemon.api_url()))
        .expect("follow the link")
        .json()
        .expect("trace answer");
    let spans = linked["spans"].as_array().expect("spans");
    assert!(
        spans.iter().any(|span| span["span_id"] == span_id),
        "{transport}: the linked trace holds the span that logged: {linked}"
    );

    let found: serde_json::Value = reqwest::blocking::Client::new()
        .get(
            reqwest::Url::parse_with_params(
                &format!("{}/api/v1/spans", daemon.api_url()),
                &[("q", format!("service:{service} \"price service timeout\""))],
            )
            .expect("valid URL"),
        )
        .send()
        .expect("search spans")
        .json()
        .expect("span search answer");
    let spans = found["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 1, "{transport}: {found}");
    assert_eq!(spans[0]["span_id"], span_id);
}
