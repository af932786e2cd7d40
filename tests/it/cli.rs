//! The `lookout sql`, `lookout trace`, `lookout alerts` and `lookout silence` command-line
//! clients against a running daemon.

use std::process::Command;

use crate::support::Daemon;

fn lookout(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(args)
        .output()
        .expect("run lookout");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn sql_and_trace_clients() {
    let daemon = Daemon::start();
    let url = daemon.api_url();
    let body = serde_json::json!({
        "resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "cli"}}]},
            "scopeSpans": [{"spans": [
                {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174",
                 "name": "root", "kind": 2, "startTimeUnixNano": "1700000000000000000",
                 "endTimeUnixNano": "1700000000500000000"},
                {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175",
                 "parentSpanId": "eee19b7ec3c1b174", "name": "child", "kind": 3,
                 "startTimeUnixNano": "1700000000100000000",
                 "endTimeUnixNano": "1700000000200000000"}
            ]}]
        }]
    });
    let response = reqwest::blocking::Client::new()
        .post(format!("{}/v1/traces", daemon.otlp_http_url()))
        .json(&body)
        .send()
        .expect("send OTLP/JSON");
    assert_eq!(response.status(), 200);

    let (ok, stdout, stderr) = lookout(&[
        "sql",
        "--url",
        &url,
        "--format",
        "json",
        "SELECT name, duration_ns FROM spans ORDER BY start_time",
    ]);
    assert!(ok, "{stderr}");
    let rows: serde_json::Value = serde_json::from_str(&stdout).expect("json output");
    assert_eq!(
        rows,
        serde_json::json!([
            {"name": "root", "duration_ns": 500_000_000},
            {"name": "child", "duration_ns": 100_000_000}
        ])
    );

    let (ok, stdout, stderr) = lookout(&[
        "sql",
        "--url",
        &url,
        "SELECT service_name, count(*) AS spans FROM spans GROUP BY service_name",
    ]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("service_name") && stdout.contains("cli"),
        "{stdout}"
    );
    assert!(stdout.contains("1 row"), "{stdout}");

    let (ok, stdout, stderr) =
        lookout(&["trace", "--url", &url, "5b8efff798038103d269b633813fc60c"]);
    assert!(ok, "{stderr}");
    let trace: serde_json::Value = serde_json::from_str(&stdout).expect("trace json");
    assert_eq!(trace["spans"][0]["name"], "root");
    assert_eq!(trace["spans"][1]["parent_span_id"], "eee19b7ec3c1b174");

    let (ok, _, stderr) = lookout(&["trace", "--url", &url, "00000000000000000000000000000001"]);
    assert!(!ok);
    assert!(stderr.contains("not found"), "{stderr}");

    // Read-only: DDL, DML, COPY and file access are refused with 400.
    for query in [
        "CREATE EXTERNAL TABLE t STORED AS CSV LOCATION '/etc/passwd'",
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO spans SELECT * FROM spans",
        "COPY (SELECT 1) TO '/tmp/lookout-copy-test.csv'",
        "SELECT * FROM '/etc/passwd'",
        "DROP TABLE spans",
        "SET datafusion.execution.batch_size = 1",
        "SELEC nonsense",
    ] {
        let response = reqwest::blocking::Client::new()
            .post(format!("{url}/api/v1/sql"))
            .json(&serde_json::json!({ "query": query }))
            .send()
            .expect("send SQL");
        assert_eq!(response.status(), 400, "{query}");
        let error: serde_json::Value = response.json().expect("error body");
        assert_eq!(error["error"], "bad_request", "{query}");
    }
    assert!(!std::path::Path::new("/tmp/lookout-copy-test.csv").exists());
    let response = reqwest::blocking::Client::new()
        .post(format!("{url}/api/v1/sql"))
        .body("not json")
        .send()
        .expect("send");
    assert_eq!(response.status(), 400);

    // Operational endpoints.
    let metrics = reqwest::blocking::get(format!("{url}/metrics"))
        .expect("scrape")
        .text()
        .expect("metrics text");
    for name in [
        "lookout_otlp_received_records_total",
        "lookout_otlp_accepted_records_total",
        "lookout_wal_sync_duration_seconds",
        "lookout_parquet_flush_duration_seconds",
        "lookout_process_cpu_seconds_total",
    ] {
        assert!(metrics.contains(name), "missing {name} in /metrics");
    }
    assert!(metrics.contains("signal=\"traces\""), "{metrics}");
    let live = reqwest::blocking::get(format!("{url}/health/live")).expect("live");
    assert_eq!(live.status(), 200);
}

#[test]
fn alerts_and_silence_clients() {
    let daemon = Daemon::start();
    let url = daemon.api_url();
    let (ok, stdout, stderr) = lookout(&["alerts", "--url", &url]);
    assert!(ok, "{stderr}");
    assert!(stdout.contains("0 alert(s)"), "{stdout}");

    let (ok, stdout, stderr) = lookout(&[
        "silence",
        "add",
        "--url",
        &url,
        "--duration",
        "2h",
        "--created-by",
        "ops",
        "--comment",
        "deploy",
        "slo=checkout-availability",
        "severity=~\"page|ticket\"",
    ]);
    assert!(ok, "{stderr}");
    let id = stdout.trim().to_owned();
    assert_eq!(id.len(), 32, "{stdout}");

    let (_, silences) = daemon.get("/api/v1/silences");
    let silence = &silences["silences"][0];
    assert_eq!(silence["id"], id.as_str());
    assert_eq!(silence["status"]["state"], "active");
    assert_eq!(silence["createdBy"], "ops");
    assert_eq!(
        silence["matchers"][1],
        serde_json::json!({"name": "severity", "value": "page|ticket", "isRegex": true, "isEqual": true})
    );

    let (ok, stdout, stderr) = lookout(&["silence", "list", "--url", &url]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains(&id) && stdout.contains("active"),
        "{stdout}"
    );

    let (ok, _, stderr) = lookout(&["silence", "expire", "--url", &url, &id]);
    assert!(ok, "{stderr}");
    let (_, silences) = daemon.get("/api/v1/silences");
    assert_eq!(silences["silences"][0]["status"]["state"], "expired");
    let (ok, _, stderr) = lookout(&["silence", "expire", "--url", &url, &id]);
    assert!(!ok);
    assert!(stderr.contains("already expired"), "{stderr}");

    let (status, log) = daemon.get("/api/v1/notifications");
    assert_eq!(status, 200);
    assert_eq!(log["notifications"], serde_json::json!([]));
}
