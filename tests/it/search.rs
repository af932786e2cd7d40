//! Full-text search end to end: OTLP logs in, `/api/v1/logs` out; terms, phrases, fields,
//! severities, time ranges, paging, bad queries, the live tail, `lookout logs`, and search
//! after SIGKILL (every acknowledged record found exactly once).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;

use crate::support::Daemon;

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

fn string_value(text: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(any_value::Value::StringValue(text.into())),
    })
}

/// A log record: (body, severity number, time, attributes, trace id).
struct Record<'a> {
    body: &'a str,
    severity: i32,
    time: u64,
    attributes: &'a [(&'a str, &'a str)],
    trace_id: Option<[u8; 16]>,
}

fn export(service: &str, records: &[Record<'_>]) -> Vec<u8> {
    let log_records = records
        .iter()
        .map(|record| LogRecord {
            time_unix_nano: record.time,
            observed_time_unix_nano: record.time,
            severity_number: record.severity,
            body: string_value(record.body),
            attributes: record
                .attributes
                .iter()
                .map(|(key, value)| KeyValue {
                    key: (*key).into(),
                    value: string_value(value),
                    ..Default::default()
                })
                .collect(),
            trace_id: record.trace_id.map(|id| id.to_vec()).unwrap_or_default(),
            span_id: record.trace_id.map(|_| vec![1u8; 8]).unwrap_or_default(),
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: string_value(service),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn post_logs(client: &reqwest::blocking::Client, daemon: &Daemon, body: Vec<u8>) -> bool {
    client
        .post(format!("{}/v1/logs", daemon.otlp_http_url()))
        .header("content-type", "application/x-protobuf")
        .body(body)
        .timeout(Duration::from_secs(5))
        .send()
        .is_ok_and(|response| response.status().is_success())
}

fn search(daemon: &Daemon, params: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::blocking::Client::new()
        .get(with_params(
            &format!("{}/api/v1/logs", daemon.api_url()),
            params,
        ))
        .send()
        .expect("search request");
    let status = response.status().as_u16();
    (status, response.json().expect("search answer is JSON"))
}

fn with_params(url: &str, params: &[(&str, &str)]) -> reqwest::Url {
    reqwest::Url::parse_with_params(url, params).expect("valid URL")
}

fn bodies(answer: &Value) -> Vec<String> {
    answer["logs"]
        .as_array()
        .expect("logs array")
        .iter()
        .map(|hit| hit["body"].as_str().expect("body").to_owned())
        .collect()
}

/// Every body matching `q`, following cursors with pages of `limit`.
fn all_bodies(daemon: &Daemon, q: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    let limit = limit.to_string();
    loop {
        let (status, answer) = search(daemon, &[("q", q), ("limit", &limit), ("cursor", &cursor)]);
        assert_eq!(status, 200, "{answer}");
        out.extend(bodies(&answer));
        match answer["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return out,
        }
    }
}

#[test]
fn search_language_over_otlp_logs() {
    let daemon = Daemon::start();
    let client = reqwest::blocking::Client::new();
    let base = now_nanos() - 60_000_000_000;
    let trace = [0xab; 16];
    let records = [
        Record {
            body: "payment declined for customer cust-9921",
            severity: 17,
            time: base + 1_000,
            attributes: &[("http.route", "/api/pay")],
            trace_id: Some(trace),
        },
        Record {
            body: "retrying payment gateway",
            severity: 13,
            time: base + 2_000,
            attributes: &[],
            trace_id: None,
        },
        Record {
            body: "health check ok",
            severity: 9,
            time: base + 3_000,
            attributes: &[("http.route", "/health")],
            trace_id: None,
        },
    ];
    assert!(post_logs(&client, &daemon, export("checkout", &records)));
    assert!(post_logs(
        &client,
        &daemon,
        export(
            "billing",
            &[Record {
                body: "invoice payment sent",
                severity: 9,
                time: base + 4_000,
                attributes: &[],
                trace_id: None,
            }]
        )
    ));

    let cases: &[(&str, &[&str])] = &[
        ("declined", &["payment declined for customer cust-9921"]),
        (
            "payment",
            &[
                "invoice payment sent",
                "retrying payment gateway",
                "payment declined for customer cust-9921",
            ],
        ),
        ("\"payment gateway\"", &["retrying payment gateway"]),
        ("\"gateway payment\"", &[]),
        ("cust-9921", &["payment declined for customer cust-9921"]),
        ("pay* AND service:billing", &["invoice payment sent"]),
        (
            "severity>=warn",
            &[
                "retrying payment gateway",
                "payment declined for customer cust-9921",
            ],
        ),
        (
            "severity:error OR health",
            &["health check ok", "payment declined for customer cust-9921"],
        ),
        (
            "attributes.http.route:\"/api/pay\"",
            &["payment declined for customer cust-9921"],
        ),
        ("payment NOT service:checkout", &["invoice payment sent"]),
        (
            "(declined OR retrying) -gateway",
            &["payment declined for customer cust-9921"],
        ),
        ("nomatchatall", &[]),
    ];
    for (q, expected) in cases {
        let (status, answer) = search(&daemon, &[("q", q)]);
        assert_eq!(status, 200, "{q}: {answer}");
        assert_eq!(bodies(&answer), *expected, "query {q}");
    }
    let trace_hex = hex::encode(trace);
    let (_, answer) = search(&daemon, &[("q", &format!("trace_id:{trace_hex}"))]);
    let hit = &answer["logs"][0];
    assert_eq!(hit["trace_link"], format!("/api/v1/traces/{trace_hex}"));
    assert_eq!(hit["severity_number"], 17);
    assert_eq!(hit["service_name"], "checkout");
    assert_eq!(hit["attributes"]["http.route"], "/api/pay");
    let (_, answer) = search(&daemon, &[("q", "declined cust*")]);
    let body = answer["logs"][0]["body"].as_str().unwrap();
    let highlighted: Vec<&str> = answer["logs"][0]["highlights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|range| {
            &body[range[0].as_u64().unwrap() as usize..range[1].as_u64().unwrap() as usize]
        })
        .collect();
    assert_eq!(highlighted, vec!["declined", "customer", "cust"]);

    // Time ranges (Unix nanoseconds or RFC 3339) bound the event time.
    let start = (base + 1_500).to_string();
    let end = (base + 3_500).to_string();
    let (_, answer) = search(
        &daemon,
        &[("q", "payment OR health"), ("start", &start), ("end", &end)],
    );
    assert_eq!(
        bodies(&answer),
        vec!["health check ok", "retrying payment gateway"]
    );
    let (_, answer) = search(&daemon, &[("start", "now-1s")]);
    assert!(bodies(&answer).is_empty(), "{answer}");

    // Paging: newest first, every record once.
    let paged = all_bodies(&daemon, "", 1);
    assert_eq!(paged.len(), 4);
    assert_eq!(paged.iter().collect::<HashSet<_>>().len(), 4);

    // Histogram.
    let response = reqwest::blocking::Client::new()
        .get(with_params(
            &format!("{}/api/v1/logs/histogram", daemon.api_url()),
            &[
                ("q", "payment"),
                ("start", start.as_str()),
                ("end", &(base + 4_999).to_string()),
                ("step", "1ms"),
            ],
        ))
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let histogram: Value = response.json().unwrap();
    let total: u64 = histogram["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|bucket| bucket["count"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 2, "{histogram}");

    // Bad queries: 400 with the position.
    for (q, position) in [("\"open", 0), ("a AND", 5), ("nosuchfield:x", 0), ("(a", 2)] {
        let (status, answer) = search(&daemon, &[("q", q)]);
        assert_eq!(status, 400, "{q}: {answer}");
        assert_eq!(answer["position"], position, "{q}: {answer}");
        assert_eq!(answer["error"], "bad_request");
    }
    let (status, _) = search(&daemon, &[("cursor", "not-a-cursor")]);
    assert_eq!(status, 400);
    let (status, _) = search(&daemon, &[("limit", "0")]);
    assert_eq!(status, 400);
    let (status, _) = search(&daemon, &[("start", "yesterday")]);
    assert_eq!(status, 400);

    // Spans search answers too (no spans sent: empty).
    let response =
        reqwest::blocking::get(format!("{}/api/v1/spans?q=checkout", daemon.api_url())).unwrap();
    assert_eq!(response.status(), 200);
    let spans: Value = response.json().unwrap();
    assert_eq!(spans["spans"], serde_json::json!([]));

    // The command-line client.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["logs", "--url", &daemon.api_url(), "severity>=error"])
        .output()
        .expect("run lookout logs");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("payment declined for customer cust-9921"),
        "{text}"
    );
    assert!(text.contains(&trace_hex), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["logs", "--url", &daemon.api_url(), "a AND"])
        .output()
        .expect("run lookout logs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("position 5"));
}

#[test]
fn live_tail_streams_new_matching_records() {
    let daemon = Daemon::start();
    let response = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
        .get(with_params(
            &format!("{}/api/v1/logs/tail", daemon.api_url()),
            &[("q", "severity>=error")],
        ))
        .send()
        .expect("open the tail");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let client = reqwest::blocking::Client::new();
    let now = now_nanos();
    assert!(post_logs(
        &client,
        &daemon,
        export(
            "tailed",
            &[
                Record {
                    body: "quiet info line",
                    severity: 9,
                    time: now,
                    attributes: &[],
                    trace_id: None,
                },
                Record {
                    body: "disk full on /var",
                    severity: 17,
                    time: now + 1,
                    attributes: &[],
                    trace_id: None,
                },
            ]
        )
    ));
    let mut lines = BufReader::new(response).lines();
    let mut event = String::new();
    let data = loop {
        let line = lines.next().expect("stream open").expect("read line");
        if let Some(name) = line.strip_prefix("event:") {
            event = name.trim().to_owned();
        } else if let Some(data) = line.strip_prefix("data:")
            && event == "log"
        {
            break data.trim().to_owned();
        }
    };
    let hit: Value = serde_json::from_str(&data).unwrap();
    assert_eq!(hit["body"], "disk full on /var");
    assert_eq!(hit["service_name"], "tailed");
}

#[test]
fn acknowledged_logs_are_searchable_exactly_once_after_sigkill() {
    let mut daemon = Daemon::start_with_config(
        "[storage]\nflush_interval_secs = 1\nflush_max_rows = 300\ncompaction_min_files = 2\n",
    );
    let client = reqwest::blocking::Client::new();
    let mut acknowledged = HashSet::new();
    let mut sequence = 0u32;
    for round in 0..4 {
        let batches = 8 + round * 3;
        for _ in 0..batches {
            let now = now_nanos();
            let texts: Vec<String> = (0..50)
                .map(|i| format!("order r{round}s{sequence}i{i} placed"))
                .collect();
            let records: Vec<Record<'_>> = texts
                .iter()
                .enumerate()
                .map(|(i, body)| Record {
                    body,
                    severity: 9,
                    time: now + i as u64,
                    attributes: &[],
                    trace_id: None,
                })
                .collect();
            if post_logs(&client, &daemon, export("orders", &records)) {
                acknowledged.extend(texts);
            }
            sequence += 1;
        }
        // Some rounds die right after acknowledgement, some after a flush has had a chance.
        if round % 2 == 1 {
            std::thread::sleep(Duration::from_millis(1_200));
        }
        daemon.kill9();
        daemon.restart();
    }
    // Searchable at once after the restart (the WAL is replayed into the tail index).
    let found = all_bodies(&daemon, "placed", 1_000);
    let unique: HashSet<String> = found.iter().cloned().collect();
    assert_eq!(unique.len(), found.len(), "a record was found twice");
    assert_eq!(unique, acknowledged);
    let needle = acknowledged.iter().next().unwrap();
    let token = needle.split(' ').nth(1).unwrap();
    let (_, answer) = search(&daemon, &[("q", token)]);
    assert_eq!(bodies(&answer), vec![needle.clone()]);
    // And after a clean stop, which flushes everything to Parquet.
    assert!(daemon.terminate(), "clean shutdown; log:\n{}", daemon.log());
    daemon.restart();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for body in all_bodies(&daemon, "order AND placed", 700) {
        *counts.entry(body).or_default() += 1;
    }
    assert_eq!(counts.len(), acknowledged.len());
    assert!(counts.values().all(|&count| count == 1));
}
