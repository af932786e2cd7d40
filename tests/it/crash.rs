//! Crash safety: concurrent senders, SIGKILL at random moments, restart; every acknowledged
//! span is present exactly once.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use rand::Rng;

use crate::support::Daemon;

/// A request of `count` spans whose span ids encode (worker, sequence, index).
fn request(worker: u16, sequence: u32, count: u16) -> (Vec<u8>, Vec<String>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64;
    let mut trace_id = [0u8; 16];
    trace_id[0] = 0x7e;
    trace_id[1..3].copy_from_slice(&worker.to_be_bytes());
    trace_id[3..7].copy_from_slice(&sequence.to_be_bytes());
    let mut ids = Vec::new();
    let spans = (0..count)
        .map(|index| {
            let mut span_id = [0u8; 8];
            span_id[0..2].copy_from_slice(&(worker + 1).to_be_bytes());
            span_id[2..6].copy_from_slice(&sequence.to_be_bytes());
            span_id[6..8].copy_from_slice(&index.to_be_bytes());
            ids.push(hex::encode(span_id));
            Span {
                trace_id: trace_id.to_vec(),
                span_id: span_id.to_vec(),
                name: format!("op-{}", index % 7),
                kind: 2,
                start_time_unix_nano: now,
                end_time_unix_nano: now + 1_000_000,
                ..Default::default()
            }
        })
        .collect();
    let body = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("crash-test".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    (body, ids)
}

#[test]
fn acknowledged_spans_survive_sigkill_exactly_once() {
    let mut daemon = Daemon::start_with_config(
        "[storage]\nflush_interval_secs = 1\nflush_max_rows = 500\ncompaction_min_files = 2\n\n[query]\nmax_rows = 10000000\n",
    );
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let mut rng = rand::rng();
    for round in 0..5u32 {
        let url = format!("{}/v1/traces", daemon.otlp_http_url());
        let senders: Vec<_> = (0..4u16)
            .map(|worker| {
                let url = url.clone();
                let acknowledged = acknowledged.clone();
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::new();
                    for sequence in 0.. {
                        let (body, ids) = request(worker, round * 100_000 + sequence, 50);
                        let sent = client
                            .post(&url)
                            .header("content-type", "application/x-protobuf")
                            .body(body)
                            .timeout(Duration::from_secs(5))
                            .send();
                        match sent {
                            Ok(response) if response.status().is_success() => {
                                acknowledged.lock().expect("lock").extend(ids);
                            }
                            // The daemon died mid-request: nothing was acknowledged.
                            _ => return,
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(rng.random_range(300..2500)));
        daemon.kill9();
        for sender in senders {
            sender.join().expect("sender thread");
        }
        daemon.restart();
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() > 1000,
        "too little traffic: {}",
        acknowledged.len()
    );

    let duplicates = daemon.sql(
        "SELECT span_id, count(*) AS copies FROM spans GROUP BY span_id HAVING count(*) > 1 LIMIT 5",
    );
    assert!(duplicates.is_empty(), "duplicated spans: {duplicates:?}");
    let stored: HashSet<String> = daemon
        .sql_all("SELECT span_id FROM spans WHERE service_name = 'crash-test'")
        .into_iter()
        .map(|row| row["span_id"].as_str().expect("span id").to_owned())
        .collect();
    let missing: Vec<_> = acknowledged.difference(&stored).take(5).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged spans lost, e.g. {missing:?}",
        acknowledged.difference(&stored).count()
    );
    assert_rollups_count_every_span_once(&daemon);

    // A clean stop flushes; the data is still all there, once, after another start.
    assert!(daemon.terminate(), "clean shutdown; log:\n{}", daemon.log());
    daemon.restart();
    let count = daemon.sql_count("SELECT count(DISTINCT span_id) - count(*) FROM spans");
    assert_eq!(count, 0);
    let total = daemon.sql_count("SELECT count(*) FROM spans WHERE service_name = 'crash-test'");
    assert!(total as usize >= acknowledged.len());
    assert_rollups_count_every_span_once(&daemon);
}

/// The RED rollups (SQL table and `/api/v1/services`) count each stored span exactly once.
fn assert_rollups_count_every_span_once(daemon: &Daemon) {
    let spans = daemon.sql_count("SELECT count(*) FROM spans WHERE service_name = 'crash-test'");
    let rolled_up = daemon.sql_count(
        "SELECT CAST(sum(calls) AS BIGINT) FROM span_rollups WHERE service_name = 'crash-test'",
    );
    assert_eq!(rolled_up, spans, "rollup calls vs stored spans");
    let body: serde_json::Value = reqwest::blocking::get(format!(
        "{}/api/v1/services?service=crash-test&start=0",
        daemon.api_url()
    ))
    .expect("get services")
    .json()
    .expect("services JSON");
    let calls: i64 = body["operations"]
        .as_array()
        .expect("operations")
        .iter()
        .map(|operation| operation["calls"].as_i64().expect("calls"))
        .sum();
    assert_eq!(calls, spans, "{body}");
}
