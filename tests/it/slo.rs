//! The SLO engine end to end: rules loaded from a folder, spans with past timestamps sent by
//! the Rust OpenTelemetry SDK, then the SLO list, backtest, bad events, rule reloads (file
//! change and SIGHUP, an invalid file keeping the previous rules) and `lookout slo check`.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, Status, Tracer as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use serde_json::Value;

use crate::support::Daemon;

pub(crate) const SERVICE: &str = "slo-e2e";

pub(crate) fn availability_slo(name: &str) -> String {
    format!(
        r#"apiVersion: openslo/v1
kind: SLO
metadata:
  name: {name}
spec:
  service: {SERVICE}
  indicator:
    metadata:
      name: {name}-sli
    spec:
      ratioMetric:
        counter: true
        good:
          metricSource:
            type: otel-traces
            spec:
              filter: {{service: {SERVICE}, kinds: [server], statusNot: [error]}}
        total:
          metricSource:
            type: otel-traces
            spec:
              filter: {{service: {SERVICE}, kinds: [server]}}
  timeWindow:
    - duration: 30d
      isRolling: true
  budgetingMethod: Occurrences
  objectives:
    - target: 0.99
"#
    )
}

/// 60 minutes of 20 server spans a minute, starting at `base` (a whole minute, two hours
/// ago); minutes 30 to 39 fail. Each span ends 30 s into its minute.
pub(crate) fn send_traffic(daemon: &Daemon, base: i64) -> Vec<String> {
    // HTTP/protobuf with the blocking client: this test runs outside any async runtime.
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(format!("{}/v1/traces", daemon.otlp_http_url()))
        .build()
        .expect("span exporter");
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(SERVICE).build())
        .build();
    let tracer = provider.tracer("slo-test");
    let mut failing_traces = Vec::new();
    for minute in 0..60i64 {
        for request in 0..20 {
            let start = SystemTime::UNIX_EPOCH
                + Duration::from_secs((base + minute * 60 + 25) as u64)
                + Duration::from_millis(request * 10);
            let end = start + Duration::from_secs(5);
            let mut span = tracer
                .span_builder("POST /pay")
                .with_kind(SpanKind::Server)
                .with_start_time(start)
                .with_attributes([KeyValue::new("http.route", "/pay")])
                .start(&tracer);
            if (30..40).contains(&minute) {
                span.set_status(Status::error("payment backend down"));
                failing_traces.push(span.span_context().trace_id().to_string());
            }
            span.end_with_timestamp(end);
        }
    }
    provider.shutdown().expect("flush spans");
    failing_traces
}

fn wait_for(what: &str, mut check: impl FnMut() -> Option<Value>) -> Value {
    // The engine evaluates once a minute (plus its one-minute delay): allow two steps.
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn slo_summary(daemon: &Daemon, id: &str) -> Option<Value> {
    let (status, body) = daemon.get("/api/v1/slos");
    assert_eq!(status, 200, "{body}");
    body["slos"]
        .as_array()?
        .iter()
        .find(|s| s["id"] == id && !s["evaluation"].is_null() && s["error"].is_null())
        .cloned()
}

#[test]
fn slos_are_evaluated_backtested_explained_and_reloaded() {
    let rules = tempfile::tempdir().expect("rules dir");
    std::fs::write(rules.path().join("live.yaml"), availability_slo("live")).unwrap();
    let config = format!(
        "[slo]\nrules_dir = {:?}\n",
        rules.path().display().to_string()
    );
    let daemon = Daemon::start_with_config(&config);

    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let base = (now / 60) * 60 - 2 * 3600;
    let failing = send_traffic(&daemon, base);
    assert_eq!(failing.len(), 200);
    assert_eq!(
        daemon.wait_count(
            &format!("SELECT count(*) FROM spans WHERE service_name = '{SERVICE}'"),
            1200
        ),
        1200
    );

    // The "live" SLO was loaded on an empty store and counted every span as it arrived; its
    // next evaluation step shows them.
    let live = wait_for("the live SLO", || {
        slo_summary(&daemon, "live").filter(|s| s["evaluation"]["budget"]["total"] != 0.0)
    });
    let budget = &live["evaluation"]["budget"];
    assert_eq!(budget["total"], 1200.0, "{live}");
    assert_eq!(budget["good"], 1000.0, "{live}");
    // C = e / B = (200 / 1200) / 0.01.
    let consumed = budget["consumed"].as_f64().unwrap();
    assert!((consumed - (200.0 / 1200.0) / 0.01).abs() < 1e-9, "{live}");

    // A second, identical SLO added by a file change is backfilled from stored data and
    // must agree exactly with the one counted live.
    std::fs::write(
        rules.path().join("backfilled.yaml"),
        availability_slo("backfilled"),
    )
    .unwrap();
    let backfilled = wait_for("the backfilled SLO", || slo_summary(&daemon, "backfilled"));
    assert_eq!(
        backfilled["evaluation"]["budget"],
        live["evaluation"]["budget"]
    );

    // Backtest: t0 is the start of the first failing minute (minute 30).
    let t0 = base + 30 * 60;
    let (status, backtest) = daemon.get(&format!(
        "/api/v1/slos/live/backtest?start={}&end={}&step=60s",
        base,
        base + 3 * 3600
    ));
    assert_eq!(status, 200, "{backtest}");
    let alerts = backtest["alerts"].as_array().expect("alerts");
    let start_of = |severity: &str| {
        alerts
            .iter()
            .find(|a| a["severity"] == severity)
            .unwrap_or_else(|| panic!("no {severity} in {backtest}"))
    };
    // With 20 spans a minute since `base` and every span failing from t0 (B = 1 %):
    // ticket, 1d pair: e(1d) = m / (30 + m) > 3 % from the first failing minute (1/31);
    // page, 6h pair: e(6h) > 6 % needs m = 2 (2/32), and the 30m window 2/30 as well.
    assert_eq!(start_of("ticket")["start"], t0 + 60, "{backtest}");
    assert_eq!(start_of("page")["start"], t0 + 120, "{backtest}");
    let page_pairs = start_of("page")["pairs"].as_array().unwrap();
    assert!(page_pairs.contains(&Value::from("page-6h")), "{backtest}");
    // The 1h pair (14.4 %) joins at m = 6: 6/36 = 16.7 % (5/35 = 14.3 % is not above).
    let step_at = |t: i64| {
        backtest["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["t"] == t)
            .cloned()
            .unwrap()
    };
    assert!(
        !step_at(t0 + 300)["activePairs"]
            .as_array()
            .unwrap()
            .contains(&Value::from("page-1h"))
    );
    assert!(
        step_at(t0 + 360)["activePairs"]
            .as_array()
            .unwrap()
            .contains(&Value::from("page-1h"))
    );

    // Bad events: one group, 200 events, example traces that resolve.
    let (status, bad) = daemon.get(&format!(
        "/api/v1/slos/live/bad-events?start={}&end={}",
        base,
        base + 3 * 3600
    ));
    assert_eq!(status, 200, "{bad}");
    assert_eq!(bad["totalBad"], 200, "{bad}");
    let group = &bad["groups"][0];
    assert_eq!(group["bad"], 200, "{bad}");
    assert_eq!(group["labels"]["operation"], "POST /pay", "{bad}");
    assert_eq!(group["labels"]["route"], "/pay", "{bad}");
    let example = group["exampleTraceIds"][0]
        .as_str()
        .expect("an example trace");
    assert!(failing.iter().any(|t| t == example));
    assert_eq!(daemon.trace(example).0, 200);

    // Errors: unknown SLO, bad parameters.
    assert_eq!(daemon.get("/api/v1/slos/nope").0, 404);
    assert_eq!(
        daemon.get("/api/v1/slos/live/backtest?start=yesterday").0,
        400
    );
    assert_eq!(daemon.get("/api/v1/slos/live/backtest?step=7s").0, 400);

    // An invalid file leaves the previous rules in force and is reported with its line.
    std::fs::write(
        rules.path().join("broken.yaml"),
        "apiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: broken\nspec:\n  service: x\n  budgetingMethod: Sometimes\n",
    )
    .unwrap();
    let list = wait_for("the reload error", || {
        let (_, body) = daemon.get("/api/v1/slos");
        (!body["reloadError"].is_null()).then_some(body)
    });
    assert_eq!(list["slos"].as_array().unwrap().len(), 2, "{list}");
    let errors = list["ruleErrors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap().contains("broken.yaml:")),
        "{list}"
    );

    // Fixing it and sending SIGHUP applies the new set.
    std::fs::remove_file(rules.path().join("broken.yaml")).unwrap();
    std::fs::remove_file(rules.path().join("backfilled.yaml")).unwrap();
    daemon.hangup();
    let list = wait_for("the reloaded rules", || {
        let (_, body) = daemon.get("/api/v1/slos");
        (body["reloadError"].is_null() && body["slos"].as_array()?.len() == 1).then_some(body)
    });
    assert_eq!(list["slos"][0]["id"], "live");
    // The kept SLO kept its buckets.
    assert_eq!(list["slos"][0]["evaluation"]["budget"]["total"], 1200.0);
}

#[test]
fn slo_check_reports_errors_with_file_and_line() {
    let lookout = env!("CARGO_BIN_EXE_lookout");
    let repository_rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("slo-rules");
    let output = std::process::Command::new(lookout)
        .args(["slo", "check"])
        .arg(&repository_rules)
        .output()
        .expect("run lookout slo check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("4 SLO(s), 0 error(s)"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.yaml"),
        format!(
            "{}---\n# second document\napiVersion: openslo/v1\nkind: SLO\nmetadata:\n  name: wrong\nspec:\n  service: x\n  indicatorRef: missing\n  timeWindow: [{{duration: 30d, isRolling: true}}]\n  budgetingMethod: Occurrences\n  objectives: [{{target: 1.5}}]\n",
            availability_slo("fine")
        ),
    )
    .unwrap();
    let output = std::process::Command::new(lookout)
        .args(["slo", "check"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    // After the first document and the `---` and comment lines, `target` is on the tenth
    // line of the second document.
    let line = availability_slo("fine").lines().count() + 12;
    let file = dir.path().join("bad.yaml").display().to_string();
    assert!(
        stdout.contains(&format!("{file}:{line}: error: objective target 1.5")),
        "{stdout}"
    );
}

#[test]
fn sloth_files_import_as_openslo() {
    let dir = tempfile::tempdir().unwrap();
    let sloth = dir.path().join("sloth.yaml");
    std::fs::write(
        &sloth,
        r#"version: "prometheus/v1"
service: "myservice"
labels:
  owner: "myteam"
slos:
  - name: "requests-availability"
    objective: 99.9
    description: "Common SLO based on availability for HTTP request responses."
    sli:
      events:
        error_query: sum(rate(http_request_duration_seconds_count{job="myservice",code=~"(5..|429)"}[{{.window}}]))
        total_query: sum(rate(http_request_duration_seconds_count{job="myservice"}[{{.window}}]))
    alerting:
      name: MyServiceHighErrorRate
      page_alert:
        labels:
          severity: pageteam
      ticket_alert:
        disable: true
"#,
    )
    .unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["slo", "import-sloth"])
        .arg(&sloth)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("name: myservice-requests-availability"),
        "{stdout}"
    );
    assert!(stdout.contains("target: 0.999"), "{stdout}");
    assert!(stdout.contains("{{.window}}"), "{stdout}");
    // Ticket pairs are disabled: the policies list only the two page pairs.
    assert_eq!(
        stdout.matches("kind: AlertCondition").count(),
        2,
        "{stdout}"
    );
    assert!(!stdout.contains("severity: ticket"), "{stdout}");

    // The printed OpenSLO reads back as the same SLO.
    let openslo = dir.path().join("openslo");
    std::fs::create_dir(&openslo).unwrap();
    std::fs::write(openslo.join("imported.yaml"), stdout.as_bytes()).unwrap();
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["slo", "check"])
        .arg(&openslo)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}
